"""Audio: files in and out (:mod:`.io`), the STFT (:mod:`.spectral`), phase reconstruction
(:mod:`.phase`) and the built-in drum-loop synthesizer (:mod:`.synth`).

The file functions are re-exported here: ``from soundmorph import audio; audio.read(path)``.
"""

from soundmorph.audio.io import (
    AUDIO_EXTENSIONS,
    SAFE_PEAK,
    AudioInfo,
    Skipped,
    find_audio_files,
    fit_length,
    info,
    peak_safe,
    read,
    sf,
    to_wav_bytes,
    walk_audio,
    write,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "SAFE_PEAK",
    "AudioInfo",
    "Skipped",
    "find_audio_files",
    "fit_length",
    "info",
    "peak_safe",
    "read",
    "sf",
    "to_wav_bytes",
    "walk_audio",
    "write",
]
