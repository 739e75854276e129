"""Library-level jobs: list a folder, train a model on it, evaluate a model (the demo and the
generated libraries that build on these: :mod:`soundmorph.demo`).

Orchestration only: each is one call behind :mod:`soundmorph.api` that reads, runs and writes what
the modules that do the work compute (the metrics and baselines: :mod:`soundmorph.evaluate`); the
CLI prints what they return.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from soundmorph import data, files, grid, plot, session
from soundmorph import evaluate as metrics
from soundmorph.audio.tempo import Tempo
from soundmorph.config import Preset, get_preset
from soundmorph.data.dataset import CachedClips, StepSampler, epoch_order, make_loader, steps_of
from soundmorph.errors import SoundmorphError
from soundmorph.session import SoundModel
from soundmorph.training import EpochStats, checkpoint, distributed, fit
from soundmorph.training.checkpoint import LibraryEntry, LibraryIndex
from soundmorph.training.loop import batch_magnitudes

BASELINE_PCA_CLIPS = 256  # training clips the PCA baseline is fitted on (bounded memory)
LOADER_WORKERS_FROM = 512  # clips from which training reads with DataLoader worker processes
# Every file a model folder consists of: the only files `train --force` removes. Keep in step with
# training/checkpoint.py and training/loop.py.
MODEL_FOLDER_FILES: dict[str, files.Kind] = {
    checkpoint.CONFIG_FILE: "json",
    checkpoint.WEIGHTS_FILE: "safetensors",
    checkpoint.LIBRARY_FILE: "json",
    checkpoint.LATENTS_FILE: "safetensors",
    "history.csv": "csv",
    "loss.png": "png",
    "latent_map.png": "png",
    f"{checkpoint.TRAIN_DIR}/last.safetensors": "safetensors",
    f"{checkpoint.TRAIN_DIR}/optimizer.safetensors": "safetensors",
    f"{checkpoint.TRAIN_DIR}/state.json": "json",
    f"{checkpoint.TRAIN_DIR}/state.safetensors": "safetensors",  # the one-file state of branch "scale"
}


def is_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a ``config.json`` that soundmorph wrote (readable or not as a model)."""
    try:
        config = json.loads((folder / checkpoint.CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "format_version" in config


def list_sounds(folder: str | Path) -> data.Listing:
    """The audio files of ``folder`` in index order with what their headers say (nothing is
    decoded), and the files whose header cannot be read, with the reason."""
    return data.list_headers(folder)


def describe_sounds(
    folder: str | Path, *, tempo_file: str | Path | None = None, sample_rate: int = 22_050
) -> dict[str, list[dict[str, Any]]]:
    """Every usable sound of ``folder`` decoded and analysed: ``{"sounds": [{"index", "name",
    "seconds", "sample_rate", "channels", "kind", "bpm", "bars"}], "skipped": [{"name", "reason"}]}``
    (``sample_rate`` and ``channels`` are the file's; ``tempo_file``: per-file corrections)."""
    overrides = data.read_tempo_file(tempo_file) if tempo_file is not None else None
    return data.describe(folder, sample_rate=sample_rate, overrides=overrides)


@dataclass(frozen=True)
class TrainResult:
    folder: Path
    history: list[EpochStats]
    library: data.AudioCache  # the library's decoded clips (names, skipped files)
    tempos: list[Tempo | None]  # each clip's tempo as the model was trained with it (None: no grid)
    holdout: np.ndarray  # bool [clips]
    seconds: float
    model: SoundModel  # the best weights with the library, ready to render


def resolve_preset(
    preset: str | Preset, overrides: dict[str, Any] | None = None, *, clip_seconds: float | None = None
) -> Preset:
    """A preset by name (or as given) with training overrides (``None`` values ignored)."""
    chosen = get_preset(preset) if isinstance(preset, str) else preset
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    chosen = chosen.replace(train=changes) if changes else chosen
    if clip_seconds is not None:
        chosen = chosen.replace(audio={"clip_seconds": clip_seconds})
    return chosen


def train(
    folder: str | Path,
    out: str | Path,
    *,
    preset: str | Preset | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    holdout: float | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    clip_seconds: float | None = None,
    bpm: float | None = None,
    bars: int | None = None,
    tempo_file: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    save_every: int = 1,
) -> TrainResult:
    """Train a model on the sounds of ``folder`` and write the model folder ``out``.

    A preset with a grid (``default``: ``auto``) analyses every sound's kind and tempo and puts the
    clips on a beat grid (see :func:`soundmorph.grid.prepare`); ``bpm`` / ``bars`` fix the grid, and
    ``tempo_file`` holds per-file corrections (see :func:`soundmorph.data.read_tempo_file`).

    The resumable state is written every ``save_every`` epochs (1: a kill loses at most the epoch in
    progress; more: fewer bytes written, up to that many epochs lost).

    ``preset`` defaults to ``"default"``. With ``resume`` the settings (the preset's too) come
    from ``out/config.json``: only ``epochs`` may be raised, and any other training setting given
    is refused (it would be ignored). Without it, an existing model folder is only replaced with ``force``.
    """
    tic = time.perf_counter()
    out = Path(out)
    overrides = {
        "epochs": epochs,
        "batch_size": batch_size,
        "holdout": holdout,
        "learning_rate": learning_rate,
        "seed": seed,
    }
    world = distributed.init_from_env(device)

    def check() -> Preset:  # rank 0 only: nothing written before every setting is checked
        if resume:
            given = {
                **overrides,
                "clip_seconds": clip_seconds,
                "bpm": bpm,
                "bars": bars,
                "tempo_file": tempo_file,
            }
            ignored = [name for name, value in given.items() if value is not None and name != "epochs"]
            if ignored:
                changed = ", ".join(ignored)
                raise SoundmorphError(
                    f"resume continues with the settings saved in {out}; it cannot change {changed}"
                )
            if not checkpoint.has_train_state(out):
                raise SoundmorphError(
                    f"{out}: nothing to resume (no {checkpoint.TRAIN_DIR}/{checkpoint.TRAIN_STATE_FILE})"
                )
            return resolve_preset(checkpoint.read_info(out).preset, {"epochs": epochs})
        chosen = resolve_preset("default" if preset is None else preset, overrides, clip_seconds=clip_seconds)
        files.prepare_folder(out, MODEL_FOLDER_FILES, force=force, replaceable=is_model_folder(out))
        return chosen

    chosen = distributed.on_main(world, check)
    rate = chosen.audio.sample_rate
    target = distributed.device_for(world, session.pick_device(device))
    grid_on = _has_grid(chosen, bpm, bars)
    if tempo_file is not None and not grid_on:
        raise SoundmorphError("per-file tempo overrides need a grid (a preset with one, or --bpm/--bars)")
    # streamed from the decoded-audio cache (memory does not grow with the library); rank 0 decodes
    # what is new, the others then only read the index
    distributed.on_main(world, lambda: data.open_cache(folder, sample_rate=rate, progress=progress)[1])
    cache, _ = data.open_cache(folder, sample_rate=rate, progress=False)
    data.require_clips(cache, minimum=2 if chosen.train.holdout > 0 else 1)
    names = cache.names
    tempos: list[Tempo | None] = [None] * len(names)
    if grid_on:
        # the beat grid: every file's tempo found (once per file, kept in the cache), every clip put
        # on the grid once and stored beside the cache (see soundmorph.data.gridded)
        if resume:  # the tempi the model was trained with, corrections included
            stored = checkpoint.load_library(out).entries
            edits = {
                e.name: {"kind": e.tempo.kind, "bpm": e.tempo.bpm, "bars": e.tempo.bars}
                for e in stored
                if e.tempo is not None and e.name in cache.entries
            }
        else:
            edits = data.read_tempo_file(tempo_file) if tempo_file is not None else {}
        # rank 0 analyses and builds what is new; every rank gets its result
        analysed = distributed.on_main(world, lambda: data.cached_tempos(cache, names, progress=progress))
        seconds = [cache.entries[name].samples / rate for name in names]
        found = [t.rounded() for t in data.apply_overrides(names, analysed, seconds, edits, root=cache.root)]
        chosen = grid.prepare(chosen, found, median_seconds=cache.median_seconds(), bpm=bpm, bars=bars)
        config, n_samples = chosen.tempo, chosen.audio.clip_samples
        all_clips = distributed.on_main(
            world, lambda: data.grid_clips(cache, names, found, config, n_samples, progress=progress)
        )
        tempos = list(found)
    else:
        if chosen.audio.clip_seconds is None:
            chosen = chosen.replace(audio={"clip_seconds": cache.median_seconds()})
        all_clips = CachedClips.of(cache, names, chosen.audio.clip_samples)
    mask = data.holdout_mask(names, chosen.train.holdout, seed=chosen.train.seed)
    train_set: Dataset = all_clips.select(np.flatnonzero(~mask))
    holdout_set: Dataset | None = all_clips.select(np.flatnonzero(mask)) if mask.any() else None
    workers = loader_workers(len(names))
    a = chosen.audio
    with torch.random.fork_rng(devices=[]):  # the model is built on the CPU: seed its initialisation
        torch.random.default_generator.manual_seed(chosen.train.seed)
        model = checkpoint.ModelInfo(chosen, a.n_freq, a.clip_frames).build().to(target)
    history = fit(
        model,
        chosen,
        out,
        train_set,
        holdout_set,
        resume=resume,
        progress=progress,
        workers=workers,
        world=world,
        save_every=save_every,
    )
    if world.is_main:
        best, info = checkpoint.load_model(out, device=target)
        latents = _latents(best, all_clips, chosen, workers)
        index = LibraryIndex(
            Path(folder).resolve(),
            tuple(
                LibraryEntry(name, "holdout" if h else "train", tempo)
                for name, h, tempo in zip(names, mask, tempos, strict=True)
            ),
            latents,
        )
        checkpoint.save_library(out, index)
        loaded = SoundModel(best, info, index, out)
        _write_pictures(out, history, loaded)
    distributed.barrier(world)
    if not world.is_main:
        loaded = session.load(out, device=target)
    return TrainResult(out, history, cache, tempos, mask, time.perf_counter() - tic, loaded)


def _has_grid(preset: Preset, bpm: float | None, bars: int | None) -> bool:
    """Whether training puts the clips on a beat grid (the preset's, or one ``bpm`` / ``bars`` fix)."""
    return preset.tempo.mode != "off" or bpm is not None or bars is not None


def loader_workers(clips: int) -> int:
    """DataLoader workers for a library of ``clips``: none for a small one (starting workers costs
    more than reading a few clips), else up to 4, leaving a core for the training process."""
    if clips < LOADER_WORKERS_FROM:
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


@torch.no_grad()
def _latents(model: torch.nn.Module, clips: Dataset, preset: Preset, workers: int) -> torch.Tensor:
    """Posterior means [clips, latent] of every clip, streamed in batches."""
    device = next(model.parameters()).device
    sampler = StepSampler()
    sampler.set_steps(steps_of(list(range(len(clips))), data.SPECTROGRAM_BATCH))  # type: ignore[arg-type]
    means = []
    for audio_batch, _ in make_loader(clips, sampler, workers=workers):
        mags = batch_magnitudes(audio_batch, preset.audio, device)
        means.append(model.encode(mags).mode().cpu())  # type: ignore[operator]
    return torch.cat(means)


def _write_pictures(out: Path, history: list[EpochStats], model: SoundModel) -> None:
    if history:
        losses = {"train": [h.loss for h in history]}
        if any(math.isfinite(h.holdout_loss) for h in history):
            losses["held out"] = [h.holdout_loss for h in history]
        png = plot.loss_curve([h.epoch for h in history], losses)
        files.atomic_write_bytes(out / "loss.png", png)
    files.atomic_write_bytes(out / "latent_map.png", model.latent_map_png())


def evaluate(
    model: SoundModel | str | Path,
    folder: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Reconstruction metrics of a model (loaded, or its folder), per clip and per split, with the
    baselines.

    ``folder`` defaults to the training library. Clips of the training library keep their split
    ("train" / "holdout"); clips of another folder are "other". The baselines
    (:data:`soundmorph.evaluate.BASELINES`) are fitted on the training clips: those evaluated, or
    for another folder the training library's, re-read when its folder is still there.

    The clips are streamed in batches from the decoded-audio cache, on the model's beat grid when it
    has one (memory does not grow with the library; the PCA baselines are fitted on at most
    :data:`BASELINE_PCA_CLIPS` training clips, a seeded choice).
    """
    if not isinstance(model, SoundModel):
        model = session.load(model, device=device)
    root = Path(folder) if folder is not None else model.root
    if root is None:
        raise SoundmorphError(f"{model.folder}: no library recorded; name a folder to evaluate on")
    library, clips = _model_clips(model, root)
    names = clips.names
    same = model.root is not None and root.resolve() == model.root.resolve()
    split_of = dict(zip(model.names, model.splits, strict=True)) if same else {}
    splits = [split_of.get(name, "other") for name in names]
    preset = model.info.preset
    train_rows = [i for i, split in enumerate(splits) if split == "train"]
    baselines = (
        _fit_baselines(clips, train_rows, preset, model.device) if train_rows else _other_baselines(model)
    )
    scores = metrics.Scores()
    for _, mags in _batches(clips, list(range(len(clips))), preset, model.device):
        estimates = {"model": model.reconstruction(mags)}
        estimates |= {name: predict(mags) for name, predict in (baselines or {}).items()}
        scores.add(mags, estimates)
    model_rows = scores.per_clip["model"]
    report: dict[str, Any] = {
        "model": str(model.folder),
        "folder": str(root),
        "clips": [
            {"index": i, "name": name, "split": split, **{k: v[i] for k, v in model_rows.items()}}
            for i, (name, split) in enumerate(zip(names, splits, strict=True))
        ],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in library.skipped],
        "summary": scores.summary(splits),
    }
    return report


def _model_clips(
    model: SoundModel, root: Path, names: Sequence[str] | None = None
) -> tuple[data.AudioCache, CachedClips]:
    """The sounds ``names`` (default: all) of the folder ``root`` as ``model`` sees them, streamed
    from the decoded-audio cache: on its beat grid (the tempi of its training sounds as it was
    trained with them, those of other sounds found now), or cropped/padded for a model without one."""
    cache, _ = data.open_cache(root, sample_rate=model.sample_rate, progress=False)
    data.require_clips(cache)
    names = cache.names if names is None else list(names)
    if model.preset.tempo.mode == "off":
        return cache, CachedClips.of(cache, names, model.clip_samples)
    same = model.root is not None and root.resolve() == model.root.resolve()
    stored = dict(zip(model.names, model.tempos, strict=True)) if same else {}
    new = [name for name in names if stored.get(name) is None]
    found = dict(zip(new, data.cached_tempos(cache, new, progress=False), strict=True))
    tempos = [stored.get(name) or found[name] for name in names]
    return cache, data.grid_clips(
        cache, names, tempos, model.preset.tempo, model.clip_samples, progress=False
    )


def _batches(
    clips: CachedClips, positions: list[int], preset: Preset, device: torch.device
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(positions, magnitudes [batch, freq, frames] on ``device``) of ``clips``, a batch at a time."""
    sampler = StepSampler()
    sampler.set_steps(steps_of(positions, data.SPECTROGRAM_BATCH))
    for (audio_batch, _), step in zip(make_loader(clips, sampler, workers=0), sampler.steps, strict=True):
        yield step.positions, batch_magnitudes(audio_batch, preset.audio, device)


def _fit_baselines(
    clips: CachedClips, train_rows: list[int], preset: Preset, device: torch.device
) -> dict[str, metrics.Predict]:
    """Every baseline of :data:`soundmorph.evaluate.BASELINES` fitted on the training clips: the
    mean over every training clip (streamed), the rest on at most :data:`BASELINE_PCA_CLIPS` of them."""
    total: torch.Tensor | None = None
    for _, mags in _batches(clips, train_rows, preset, device):
        total = mags.sum(dim=0, keepdim=True) if total is None else total + mags.sum(dim=0, keepdim=True)
    assert total is not None
    order = epoch_order(len(train_rows), seed=preset.train.seed, epoch=-2)[:BASELINE_PCA_CLIPS].tolist()
    sample = torch.cat([m for _, m in _batches(clips, sorted(train_rows[i] for i in order), preset, device)])
    return metrics.fit_baselines(sample, mean=total[0] / len(train_rows))


def _other_baselines(model: SoundModel) -> dict[str, metrics.Predict] | None:
    """The baselines of :func:`_fit_baselines` on the model's training library, for another folder;
    None when that folder or every training file is gone."""
    if model.root is None or not model.root.is_dir():
        return None
    cache, _ = data.open_cache(model.root, sample_rate=model.sample_rate, progress=False)
    present = set(cache.names)
    train = [
        n for n, split in zip(model.names, model.splits, strict=True) if split == "train" and n in present
    ]
    if not train:
        return None
    _, clips = _model_clips(model, model.root, train)
    return _fit_baselines(clips, list(range(len(train))), model.info.preset, model.device)
