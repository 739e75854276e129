"""Data: a library of sounds scanned from a folder (:mod:`.library`)."""

from soundmorph.data.library import (
    SPECTROGRAM_BATCH,
    Library,
    describe,
    fit_to_grid,
    holdout_mask,
    iter_spectrograms,
    override_tempo,
    read_tempo_file,
    require_clips,
    resolve_grid,
    scan,
    spectrograms,
)

__all__ = [
    "SPECTROGRAM_BATCH",
    "Library",
    "describe",
    "fit_to_grid",
    "holdout_mask",
    "iter_spectrograms",
    "override_tempo",
    "read_tempo_file",
    "require_clips",
    "resolve_grid",
    "scan",
    "spectrograms",
]
