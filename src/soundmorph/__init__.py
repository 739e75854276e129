"""soundmorph: learn a latent space of your sounds and render the sounds between them."""

from __future__ import annotations

import os

# torch's CPU threads (libgomp, read when torch loads: hence here, before anything imports it) spin
# at every barrier by default. On a CPU shared with other work (a DAW, a browser, another job) a
# spinning thread waits for one that is not running: measured on 2 cores at load ~10, a paper
# training step took 3-5x longer and a morph 5x (bench/README.md, "Threads"). Passive threads sleep
# instead; OMP_WAIT_POLICY=ACTIVE in the environment keeps the spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from soundmorph.errors import AudioError, ModelFolderError, SoundmorphError

__all__ = ["AudioError", "ModelFolderError", "SoundmorphError", "__version__"]
