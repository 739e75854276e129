"""Data: a library of sounds scanned from a folder (:mod:`.library`), its decoded-audio cache
(:mod:`.cache`) and the streaming datasets over it (:mod:`.dataset`)."""

from soundmorph.data.cache import AudioCache, open_cache
from soundmorph.data.library import (
    SPECTROGRAM_BATCH,
    Library,
    Listing,
    holdout_mask,
    iter_spectrograms,
    list_headers,
    require_clips,
    scan,
    spectrograms,
)

__all__ = [
    "SPECTROGRAM_BATCH",
    "AudioCache",
    "Library",
    "Listing",
    "holdout_mask",
    "iter_spectrograms",
    "list_headers",
    "open_cache",
    "require_clips",
    "scan",
    "spectrograms",
]
