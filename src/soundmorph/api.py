"""The Python API: everything the CLI and the web page do, one call each, usable from a notebook.

>>> import soundmorph.api as sm
>>> sm.train("loops/", "model/", preset="default", epochs=200)   # doctest: +SKIP
>>> model = sm.load("model/")                                     # doctest: +SKIP
>>> sound = model.morph(0, "kick_b.wav", alpha=0.3)               # doctest: +SKIP
>>> sound.audio, sound.sample_rate                                # doctest: +SKIP
>>> sound.save("between.wav", plot="between.png")                 # doctest: +SKIP
>>> fast = model.render_options.override(method="gl", n_iter=8)   # doctest: +SKIP
>>> model.sweep(0, 3, steps=5, options=fast)                      # doctest: +SKIP

The faces (:mod:`soundmorph.cli`, :mod:`soundmorph.web`) import only this module (and the error
and config types). Every function returns plain data: numpy audio with its sample rate,
dictionaries of metrics, small result objects.
"""

from __future__ import annotations

from soundmorph.audio.io import AUDIO_EXTENSIONS, AudioInfo, subtype_of_bits, to_wav_bytes
from soundmorph.audio.io import info as audio_info
from soundmorph.audio.io import read as read_audio
from soundmorph.audio.phase import PHASE_METHODS
from soundmorph.config import PRESETS, Preset, RenderOptions, get_preset
from soundmorph.demo import DemoResult, demo, synth_library
from soundmorph.errors import AudioError, ModelFolderError, SoundmorphError, UnknownSourceError
from soundmorph.evaluate import summary_rows
from soundmorph.export import FORMATS as EXPORT_FORMATS
from soundmorph.export import ExportResult, export
from soundmorph.files import json_safe
from soundmorph.grid import check_bpm
from soundmorph.latent import CURVES as GLIDE_CURVES
from soundmorph.latent import LatentMap, blend_weights, check_alpha, pad_weights, ratios_along, sweep_alphas
from soundmorph.limits import MAX_UPLOAD_SAMPLES
from soundmorph.quality import SweepQuality
from soundmorph.session import SoundModel, Source, SourceSound, load, pick_device, result_name
from soundmorph.sound import Sound, SoundRow, save_sounds, save_sweep
from soundmorph.workflow import TrainResult, describe_sounds, evaluate, list_sounds, train

__all__ = [
    "AUDIO_EXTENSIONS",
    "EXPORT_FORMATS",
    "GLIDE_CURVES",
    "MAX_UPLOAD_SAMPLES",
    "PHASE_METHODS",
    "PRESETS",
    "AudioError",
    "AudioInfo",
    "DemoResult",
    "ExportResult",
    "LatentMap",
    "ModelFolderError",
    "Preset",
    "RenderOptions",
    "Sound",
    "SoundModel",
    "SoundRow",
    "SoundmorphError",
    "Source",
    "SourceSound",
    "SweepQuality",
    "TrainResult",
    "UnknownSourceError",
    "audio_info",
    "blend_weights",
    "check_alpha",
    "check_bpm",
    "demo",
    "describe_sounds",
    "evaluate",
    "export",
    "get_preset",
    "json_safe",
    "list_sounds",
    "load",
    "pad_weights",
    "pick_device",
    "ratios_along",
    "read_audio",
    "result_name",
    "save_sounds",
    "save_sweep",
    "subtype_of_bits",
    "summary_rows",
    "sweep_alphas",
    "synth_library",
    "to_wav_bytes",
    "train",
]
