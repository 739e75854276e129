"""Data: a library of sounds scanned from a folder (:mod:`.library`)."""

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
    "Library",
    "Listing",
    "holdout_mask",
    "iter_spectrograms",
    "list_headers",
    "require_clips",
    "scan",
    "spectrograms",
]
