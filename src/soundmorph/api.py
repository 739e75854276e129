"""The Python API: everything the CLI and the web page do, one call each, usable from a notebook.

>>> import soundmorph.api as sm
>>> sm.train("loops/", "model/", preset="default", epochs=200)   # doctest: +SKIP
>>> model = sm.load("model/")                                     # doctest: +SKIP
>>> sound = model.morph(0, "kick_b.wav", alpha=0.3)               # doctest: +SKIP
>>> sound.audio, sound.sample_rate                                # doctest: +SKIP
>>> sound.save("between.wav", plot="between.png")                 # doctest: +SKIP

Every function returns plain data: numpy audio with its sample rate, dictionaries of metrics.
"""

from __future__ import annotations

from soundmorph.config import PRESETS, Preset, get_preset
from soundmorph.errors import AudioError, ModelFolderError, SoundmorphError
from soundmorph.latent import latent_pca
from soundmorph.session import SoundModel, load, pick_device
from soundmorph.sound import Sound, save_sweep
from soundmorph.workflow import TrainResult, demo, evaluate, list_sounds, summary_rows, train

__all__ = [
    "PRESETS",
    "AudioError",
    "ModelFolderError",
    "Preset",
    "Sound",
    "SoundModel",
    "SoundmorphError",
    "TrainResult",
    "demo",
    "evaluate",
    "get_preset",
    "latent_pca",
    "list_sounds",
    "load",
    "pick_device",
    "save_sweep",
    "summary_rows",
    "train",
]
