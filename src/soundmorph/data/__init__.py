"""Data: a library of sounds listed from a folder, each sound's tempo, the beat grid (:mod:`.library`),
its decoded-audio cache (:mod:`.cache`), the cached tempi and beat-grid store beside it
(:mod:`.gridded`) and the streaming datasets over them (:mod:`.dataset`)."""

from soundmorph.data.cache import AudioCache, open_cache
from soundmorph.data.dataset import SPECTROGRAM_BATCH
from soundmorph.data.gridded import cached_tempos, grid_clips
from soundmorph.data.library import (
    Listing,
    apply_overrides,
    describe,
    fit_to_grid,
    holdout_mask,
    list_headers,
    override_tempo,
    read_tempo_file,
    require_clips,
    resolve_grid,
)

__all__ = [
    "SPECTROGRAM_BATCH",
    "AudioCache",
    "Listing",
    "apply_overrides",
    "cached_tempos",
    "describe",
    "fit_to_grid",
    "grid_clips",
    "holdout_mask",
    "list_headers",
    "open_cache",
    "override_tempo",
    "read_tempo_file",
    "require_clips",
    "resolve_grid",
]
