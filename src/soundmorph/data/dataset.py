"""Streaming training data: clips as a torch ``Dataset``, and a seeded, resumable batch order.

A dataset yields *audio* (one prepared clip per item, float32 ``[n_samples]``); the training loop
turns each batch into magnitudes on the training device. So memory holds one batch of audio per
worker, whatever the library's size, and the STFT runs where the model runs (the GPU when there is
one). A library whose magnitudes fit a memory budget has them computed once per run
(:func:`magnitudes_once`) instead of once per epoch.

The order of an epoch is a function of ``(seed, epoch)`` only (:func:`epoch_order`), and every
random draw of a clip of :func:`clip_seeds` a function of ``(seed, epoch, clip)``: nothing is carried
from one epoch to the next, so a run stopped after any epoch resumes exactly, and resumes on another
number of processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from soundmorph import audio
from soundmorph.data.cache import AudioCache, read_entry

SPECTROGRAM_BATCH = 64  # clips per STFT outside a training step (initialisation, latents, evaluation)
_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)  # splitmix64 constants
_MASK = (1 << 64) - 1


def mix_seed(*values: int) -> int:
    """A 63-bit seed mixed from ``values`` (splitmix64), so nearby inputs give unrelated seeds."""
    state = 0
    for value in values:
        state = (state + _MIX[0] + (value & _MASK)) & _MASK
        state = ((state ^ (state >> 30)) * _MIX[1]) & _MASK
        state = ((state ^ (state >> 27)) * _MIX[2]) & _MASK
        state ^= state >> 31
    return state >> 1


def prepare_clip(clip: np.ndarray, n_samples: int) -> np.ndarray:
    """The one place a decoded clip becomes a training item: float32 ``[n_samples]``.

    Crop or zero-pad at the end: clips on a beat grid are put there once, when their store is built
    (:mod:`soundmorph.data.gridded`), and arrive here at their length already.
    """
    return audio.fit_length(clip, n_samples)


def size(data: Dataset) -> int:
    """Items in a map-style dataset (``Dataset`` does not declare ``__len__``)."""
    return len(data)  # type: ignore[arg-type]


class ArrayClips(Dataset[tuple[np.ndarray, int]]):
    """Clips held in memory: ``audio`` [clips, samples] float32, already prepared (tests, small sets)."""

    def __init__(self, clips: np.ndarray) -> None:
        self.clips = np.asarray(clips, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.clips[index], index


class CachedClips(Dataset[tuple[np.ndarray, int]]):
    """Clips stored as int16 shards (the decoded-audio cache, or a library on a beat grid), read
    from disk per item: clip ``i`` is ``samples[i]`` int16 samples at byte ``offset[i]`` of shard
    ``shard[i]`` of ``folder``, times ``scale[i]``.

    Holds only four small arrays, so it pickles to DataLoader workers in microseconds and each
    worker opens the shards itself. :meth:`of` reads an :class:`~soundmorph.data.cache.AudioCache`.
    """

    def __init__(
        self,
        folder: Path,
        names: Sequence[str],
        n_samples: int,
        *,
        shard: np.ndarray,
        offset: np.ndarray,
        samples: np.ndarray,
        scale: np.ndarray,
    ) -> None:
        self.folder = Path(folder)
        self.names = list(names)
        self.n_samples = n_samples
        self.shard, self.offset, self.samples, self.scale = shard, offset, samples, scale

    @classmethod
    def of(cls, cache: AudioCache, names: Sequence[str], n_samples: int) -> CachedClips:
        """The clips ``names`` of ``cache``, each cropped or zero-padded to ``n_samples``."""
        entries = [cache.entries[name] for name in names]
        return cls(
            cache.folder,
            names,
            n_samples,
            shard=np.array([e.shard for e in entries], dtype=np.int64),
            offset=np.array([e.offset for e in entries], dtype=np.int64),
            samples=np.array([e.samples for e in entries], dtype=np.int64),
            scale=np.array([e.scale for e in entries], dtype=np.float64),
        )

    def select(self, rows: Sequence[int] | np.ndarray) -> CachedClips:
        """The clips at positions ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return CachedClips(
            self.folder,
            [self.names[i] for i in rows],
            self.n_samples,
            shard=self.shard[rows],
            offset=self.offset[rows],
            samples=self.samples[rows],
            scale=self.scale[rows],
        )

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        clip = read_entry(
            self.folder,
            int(self.shard[index]),
            int(self.offset[index]),
            int(self.samples[index]),
            float(self.scale[index]),
        )
        return prepare_clip(clip, self.n_samples), index


def epoch_order(count: int, *, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled positions [count] of epoch ``epoch`` (0-based): a function of (seed, epoch)."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(mix_seed(seed, epoch)))


def clip_seeds(seed: int, epoch: int, positions: torch.Tensor) -> list[int]:
    """One seed per clip of a batch: its draws (gain, posterior sample) depend on nothing else."""
    return [mix_seed(seed, epoch, int(p), 1) for p in positions]


def per_clip_uniform(seeds: Sequence[int], *, device: torch.device) -> torch.Tensor:
    """One U(0, 1) draw [batch] per clip seed (the gain augmentation)."""
    draws = [torch.rand(1, generator=torch.Generator().manual_seed(mix_seed(s, 2))) for s in seeds]
    return torch.cat(draws).to(device)


def per_clip_normal(seeds: Sequence[int], shape: tuple[int, ...], *, device: torch.device) -> torch.Tensor:
    """N(0, 1) draws [batch, *shape] per clip seed (the posterior sample), the same on every device
    and whatever the batch a clip lands in."""
    draws = [torch.randn(shape, generator=torch.Generator().manual_seed(mix_seed(s, 3))) for s in seeds]
    return torch.stack(draws).to(device)


@dataclass(frozen=True)
class Step:
    """One optimizer step as one process sees it."""

    positions: list[int]  # dataset positions this process loads (never empty)
    weights: list[float]  # 1.0 for a clip of the step, 0.0 for a filler that keeps a rank busy
    size: int  # clips in the whole (global) batch


def epoch_steps(
    count: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> list[Step]:
    """The steps of training epoch ``epoch`` for process ``rank`` of ``world`` (shuffled order)."""
    return steps_of(epoch_order(count, seed=seed, epoch=epoch).tolist(), batch_size, rank=rank, world=world)


def steps_of(order: list[int], batch_size: int, *, rank: int = 0, world: int = 1) -> list[Step]:
    """The steps over ``order`` (dataset positions) for process ``rank`` of ``world``.

    ``batch_size`` is the global batch: step ``j`` covers ``order[j*B:(j+1)*B]`` and process ``r``
    takes every ``world``-th clip of it from ``r``. When a batch has fewer clips than processes, the
    missing ones get a repeated clip with weight 0, so no rank is ever empty (an empty rank would
    hang the gradient all-reduce) and every rank takes the same number of steps. One process
    (``world=1``) sees exactly the same global batches, so the gradients are the same up to the
    order of the floating-point sums.
    """
    steps = []
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        mine = batch[rank::world]
        if mine:
            steps.append(Step(mine, [1.0] * len(mine), len(batch)))
        else:
            steps.append(Step([batch[rank % len(batch)]], [0.0], len(batch)))
    return steps


class StepSampler(Sampler[list[int]]):
    """A batch sampler over :class:`Step` lists (set with :meth:`set_steps` before each epoch)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def set_steps(self, steps: list[Step]) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[list[int]]:
        return iter([step.positions for step in self.steps])

    def __len__(self) -> int:
        return len(self.steps)


def make_loader(dataset: Dataset, sampler: Sampler[list[int]], *, workers: int) -> DataLoader:
    """A DataLoader of (audio [batch, samples], positions [batch]) over ``dataset``.

    Workers read and prepare clips in parallel; they open their files lazily, so nothing large is
    pickled to them, and they stay alive between epochs.
    """
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
    )


def magnitudes_once(
    data: Dataset,
    to_magnitudes: Callable[[torch.Tensor], torch.Tensor],
    *,
    budget_bytes: int,
    batch_size: int,
    workers: int = 0,
) -> torch.Tensor | None:
    """Every clip's magnitudes [clips, freq, frames], computed once for a whole run, or None when
    they would take more than ``budget_bytes`` (the run then streams audio and computes them per
    batch, so memory still does not grow with the library).

    A dataset's items do not change from one epoch to the next (every augmentation acts on the
    magnitudes, drawn per step), so the STFT of each clip is the same at every epoch: a small
    library computes it once instead of ``epochs`` times.

    Parameters
    ----------
    data : Dataset
        Items ``(audio [samples] float32, position)``.
    to_magnitudes : callable
        Audio [batch, samples] -> magnitudes [batch, freq, frames] on the training device.
    budget_bytes : int
        The most memory the magnitudes may take (on the training device).
    """
    count = size(data)
    if count == 0 or budget_bytes <= 0:
        return None
    sampler = StepSampler()
    sampler.set_steps(steps_of(list(range(count)), batch_size))
    store: torch.Tensor | None = None
    first = 0
    for audio_batch, _ in make_loader(data, sampler, workers=workers):
        mags = to_magnitudes(audio_batch)
        if store is None:
            if count * mags[0].numel() * mags.element_size() > budget_bytes:
                return None
            store = torch.empty((count, *mags.shape[1:]), dtype=mags.dtype, device=mags.device)
        store[first : first + len(mags)] = mags
        first += len(mags)
    return store
