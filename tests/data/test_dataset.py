"""Streaming datasets and the batch order: seeded, resumable, never an empty rank."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from soundmorph.config import SAMPLE_RATE
from soundmorph.data import dataset
from soundmorph.data.cache import open_cache


def test_cached_clips_equal_the_prepared_clips_of_a_scan(loops_dir: Path, tmp_path: Path, scan) -> None:
    cache, _ = open_cache(loops_dir, sample_rate=SAMPLE_RATE, base=tmp_path, progress=False)
    n = SAMPLE_RATE // 2
    clips = dataset.CachedClips.of(cache, cache.names, n)
    scanned = scan(loops_dir, sample_rate=SAMPLE_RATE).fitted(n)
    assert len(clips) == len(scanned)
    for index in range(len(clips)):
        item, position = clips[index]
        assert position == index and item.shape == (n,)
        assert np.max(np.abs(item - scanned[index])) < 1e-4


def test_a_loader_with_workers_gives_the_same_batches(loops_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(loops_dir, tmp_path / "lib")
    cache, _ = open_cache(tmp_path / "lib", sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    clips = dataset.CachedClips.of(cache, cache.names, 4096)
    sampler = dataset.StepSampler()
    sampler.set_steps(dataset.epoch_steps(len(clips), 4, seed=0, epoch=3))
    plain = [(a.clone(), p.clone()) for a, p in dataset.make_loader(clips, sampler, workers=0)]
    workers = list(dataset.make_loader(clips, sampler, workers=2))
    assert len(plain) == len(workers) == 2
    for (a, p), (b, q) in zip(plain, workers, strict=True):
        assert torch.equal(a, b) and torch.equal(p, q)


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    a = dataset.epoch_order(50, seed=1, epoch=2)
    assert torch.equal(a, dataset.epoch_order(50, seed=1, epoch=2))
    assert sorted(a.tolist()) == list(range(50))
    assert not torch.equal(a, dataset.epoch_order(50, seed=1, epoch=3))
    assert not torch.equal(a, dataset.epoch_order(50, seed=2, epoch=2))


@pytest.mark.parametrize(
    ("count", "batch", "world"), [(10, 4, 1), (10, 4, 2), (10, 4, 3), (5, 2, 4), (1, 16, 2)]
)
def test_ranks_share_each_global_batch_and_none_is_empty(count: int, batch: int, world: int) -> None:
    one = dataset.epoch_steps(count, batch, seed=0, epoch=0)
    ranks = [dataset.epoch_steps(count, batch, seed=0, epoch=0, rank=r, world=world) for r in range(world)]
    assert all(len(steps) == len(one) for steps in ranks)  # the same number of steps: no hang
    for j, step in enumerate(one):
        real = sorted(
            p for steps in ranks for p, w in zip(steps[j].positions, steps[j].weights, strict=True) if w
        )
        assert real == sorted(step.positions)  # together, exactly the one-process batch
        assert all(steps[j].positions and steps[j].size == step.size for steps in ranks)


def test_clip_noise_does_not_depend_on_the_batch_a_clip_is_in() -> None:
    seeds = dataset.clip_seeds(0, 1, torch.tensor([3, 7, 9]))
    together = dataset.per_clip_normal(seeds, (16,), device=torch.device("cpu"))
    alone = dataset.per_clip_normal(seeds[1:2], (16,), device=torch.device("cpu"))
    assert torch.equal(together[1], alone[0])
    assert not torch.equal(together[0], together[1])


def _stft(audio: torch.Tensor) -> torch.Tensor:
    return torch.stft(audio, 256, hop_length=64, window=torch.hann_window(256), return_complex=True).abs()


def test_magnitudes_once_are_every_clips_in_order() -> None:
    rng = np.random.default_rng(0)
    clips = dataset.ArrayClips(rng.standard_normal((7, 2048)).astype(np.float32))
    stored = dataset.magnitudes_once(clips, _stft, budget_bytes=1 << 20, batch_size=3)
    assert stored is not None and stored.shape == (7, 129, 33)
    for index in range(7):
        alone = _stft(torch.from_numpy(clips[index][0])[None])[0]
        torch.testing.assert_close(stored[index], alone, rtol=1e-5, atol=1e-5)


def test_magnitudes_over_the_budget_are_not_kept() -> None:
    clips = dataset.ArrayClips(np.zeros((7, 2048), dtype=np.float32))
    one_clip = 129 * 33 * 4  # bytes
    assert dataset.magnitudes_once(clips, _stft, budget_bytes=7 * one_clip - 1, batch_size=3) is None
    assert dataset.magnitudes_once(clips, _stft, budget_bytes=7 * one_clip, batch_size=3) is not None
