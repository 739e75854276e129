"""soundmorph: learn a latent space of your sounds and render the sounds between them."""

from __future__ import annotations

__version__ = "0.1.0"

from soundmorph.errors import AudioError, ModelFolderError, SoundmorphError

__all__ = ["AudioError", "ModelFolderError", "SoundmorphError", "__version__"]
