"""A loaded model and what it renders, one job a module: :mod:`.sources` resolves what a user
names, :mod:`.core` encodes and decodes, :mod:`.rendering` turns latents into sounds, and
:mod:`.operations` is what a user does (morph, sweep, blend, glide, generate)."""

from soundmorph.session.loaded import LoadedModel, pick_device
from soundmorph.session.operations import SoundModel, load
from soundmorph.session.rendering import Renderer, check_render_size, result_name
from soundmorph.session.sources import Source, Sources, SourceSound

__all__ = [
    "LoadedModel",
    "Renderer",
    "SoundModel",
    "Source",
    "SourceSound",
    "Sources",
    "check_render_size",
    "load",
    "pick_device",
    "result_name",
]
