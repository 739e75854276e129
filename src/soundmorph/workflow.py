"""Library-level jobs: list a folder, train a model on it, evaluate a model, run the demo.

Each is one call behind :mod:`soundmorph.api`; the CLI prints what they return.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soundmorph import audio, data, files, grid, plot, session, sound
from soundmorph import evaluate as metrics
from soundmorph.audio import synth
from soundmorph.config import MAX_DEMO_CLIPS, Preset, check_int, get_preset
from soundmorph.errors import SoundmorphError
from soundmorph.quality import SweepQuality
from soundmorph.session import SoundModel
from soundmorph.training import EpochStats, checkpoint, fit
from soundmorph.training.checkpoint import LibraryEntry, LibraryIndex

PCA_COMPONENTS = 16  # of the PCA baseline
BASELINES = tuple(metrics.BASELINES)  # rows every evaluation compares the model with
DEMO_HOLDOUT = 0.125  # of the demo's clips: 2 of 16
DEMO_SWEEP_STEPS = 9
DEMO_GLIDE_REPEATS = 4
# Every file a model folder consists of: the only files `train --force` removes. Keep in step with
# training/checkpoint.py and training/loop.py.
MODEL_FOLDER_FILES: dict[str, files.Kind] = {
    checkpoint.CONFIG_FILE: "json",
    checkpoint.WEIGHTS_FILE: "safetensors",
    checkpoint.LIBRARY_FILE: "json",
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
    library = data.scan(folder, sample_rate=sample_rate)
    library.analyse_tempo(data.read_tempo_file(tempo_file) if tempo_file is not None else None)
    return data.describe(library)


@dataclass(frozen=True)
class TrainResult:
    folder: Path
    history: list[EpochStats]
    library: data.Library
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
) -> TrainResult:
    """Train a model on the sounds of ``folder`` and write the model folder ``out``.

    A preset with a grid (``default``: ``auto``) analyses every sound's kind and tempo and puts the
    clips on a beat grid (see :func:`soundmorph.grid.prepare`); ``bpm`` / ``bars`` fix the grid, and
    ``tempo_file`` holds per-file corrections (see :func:`soundmorph.data.read_tempo_file`).

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
            raise SoundmorphError(
                f"resume continues with the settings saved in {out}; it cannot change {', '.join(ignored)}"
            )
        if not checkpoint.has_train_state(out):
            raise SoundmorphError(f"{out}: nothing to resume (no {checkpoint.TRAIN_DIR}/state.json)")
        chosen = resolve_preset(checkpoint.read_info(out).preset, {"epochs": epochs})
    else:
        chosen = resolve_preset("default" if preset is None else preset, overrides, clip_seconds=clip_seconds)
        files.prepare_folder(out, MODEL_FOLDER_FILES, force=force, replaceable=is_model_folder(out))
    library = data.scan(folder, sample_rate=chosen.audio.sample_rate, clip_seconds=_read_seconds(chosen))
    data.require_clips(library, minimum=2 if chosen.train.holdout > 0 else 1)
    edits: dict[str, dict[str, Any]] | None = None
    if resume:  # the tempi the model was trained with, corrections included
        stored = checkpoint.load_library(out).entries
        edits = {
            e.name: {"kind": e.tempo.kind, "bpm": e.tempo.bpm, "bars": e.tempo.bars}
            for e in stored
            if e.tempo is not None and e.name in library.names
        }
    else:
        edits = data.read_tempo_file(tempo_file) if tempo_file is not None else None
    chosen = grid.prepare(library, chosen, bpm=bpm, bars=bars, overrides=edits)
    a = chosen.audio
    mask = data.holdout_mask(library.names, chosen.train.holdout, seed=chosen.train.seed)
    target = session.pick_device(device)
    mags = data.spectrograms(library.on_grid(chosen.tempo, a.clip_samples), a, device=target)
    with torch.random.fork_rng(devices=[]):  # the model is built on the CPU: seed its initialisation
        torch.random.default_generator.manual_seed(chosen.train.seed)
        model = checkpoint.ModelInfo(chosen, a.n_freq, a.clip_frames).build().to(target)
    history = fit(
        model, chosen, out, mags[~mask], mags[mask] if mask.any() else None, resume=resume, progress=progress
    )
    best, info = checkpoint.load_model(out, device=target)
    with torch.no_grad():
        batches = mags.split(data.SPECTROGRAM_BATCH)
        latents = torch.cat([best.encode(batch).mode() for batch in batches]).cpu()
    index = LibraryIndex(
        Path(folder).resolve(),
        tuple(
            LibraryEntry(name, "holdout" if held else "train", tuple(z.tolist()), tempo)
            for name, held, z, tempo in zip(
                library.names, mask, latents, library.tempos or _nones(library), strict=True
            )
        ),
    )
    checkpoint.save_library(out, index)
    loaded = SoundModel(best, info, index, out)
    _write_pictures(out, history, loaded)
    return TrainResult(out, history, library, mask, time.perf_counter() - tic, loaded)


def _read_seconds(preset: Preset) -> float | None:
    """How much of each file to decode: the clip length, or all of it (up to the longest clip a
    model may have) for a grid, whose analysis needs a loop's whole length."""
    return preset.audio.clip_seconds if preset.tempo.mode == "off" else None


def _nones(library: data.Library) -> list[None]:
    return [None] * len(library)


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
    """
    if not isinstance(model, SoundModel):
        model = session.load(model, device=device)
    root = Path(folder) if folder is not None else model.root
    if root is None:
        raise SoundmorphError(f"{model.folder}: no library recorded; name a folder to evaluate on")
    library = data.scan(root, sample_rate=model.sample_rate, clip_seconds=_read_seconds(model.preset))
    data.require_clips(library)
    same = model.root is not None and root.resolve() == model.root.resolve()
    split_of = dict(zip(model.names, model.splits, strict=True)) if same else {}
    splits = [split_of.get(name, "other") for name in library.names]
    mags = model.magnitudes(library.clips)
    recon = model.reconstruction(mags)
    per_clip = metrics.reconstruction_metrics(mags, recon)
    report: dict[str, Any] = {
        "model": str(model.folder),
        "folder": str(root),
        "clips": [
            {"index": i, "name": name, "split": split, **{k: float(v[i]) for k, v in per_clip.items()}}
            for i, (name, split) in enumerate(zip(library.names, splits, strict=True))
        ],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in library.skipped],
        "summary": {},
    }
    train_mask = torch.tensor([s == "train" for s in splits])
    estimates = {"model": recon}
    train = mags[train_mask.to(mags.device)] if train_mask.any() else _training_magnitudes(model)
    if train is not None:
        estimates |= {name: predict(train, mags) for name, predict in metrics.BASELINES.items()}
    for split in sorted(set(splits)):
        rows = torch.tensor([s == split for s in splits]).to(mags.device)
        report["summary"][split] = {
            system: {
                k: float(v.mean()) for k, v in metrics.reconstruction_metrics(mags[rows], est[rows]).items()
            }
            | {"clips": int(rows.sum())}
            for system, est in estimates.items()
        }
    return report


def _training_magnitudes(model: SoundModel) -> torch.Tensor | None:
    """Magnitudes [clips, freq, frames] of the model's training clips, re-read from its library
    folder; None when the folder or every training file is gone."""
    if model.root is None or not model.root.is_dir():
        return None
    seconds = model.preset.audio.clip_seconds
    library = data.scan(model.root, sample_rate=model.sample_rate, clip_seconds=seconds)
    train = {name for name, split in zip(model.names, model.splits, strict=True) if split == "train"}
    clips = [clip for name, clip in zip(library.names, library.clips, strict=True) if name in train]
    return model.magnitudes(clips) if clips else None


@dataclass(frozen=True)
class DemoResult:
    folder: Path
    written: list[Path]  # every file the demo wrote
    report: dict[str, Any]  # the evaluation (also in evaluation.json)
    sweep_quality: SweepQuality  # of the sweep (also in sweep/quality.json)
    train: TrainResult


def demo(
    out: str | Path,
    *,
    clips: int = 16,
    epochs: int | None = None,
    preset: str = "default",
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> DemoResult:
    """Synthesize a small drum-loop library into ``out/sounds``, train on it, evaluate, and render a
    sweep between two loops into ``out/sweep`` and a glide; the model is loaded once."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise SoundmorphError(f"{out}: exists and is not empty (use --force to overwrite)")
    if isinstance(clips, int) and clips < 2:  # one to train on, one to hold out
        raise SoundmorphError(f"the demo needs at least 2 clips, got {clips}")
    check_int("clips", clips, low=2, high=MAX_DEMO_CLIPS)
    chosen = resolve_preset(preset, {"epochs": epochs})  # check the settings before writing anything
    sounds = out / "sounds"
    written = [
        audio.write(
            sounds / f"{spec.name}.wav", synth.render(spec), sample_rate=synth.SAMPLE_RATE, force=force
        )
        for spec in synth.library_specs(clips, seed=seed)
    ]
    result = train(
        sounds,
        out / "model",
        preset=chosen,
        holdout=DEMO_HOLDOUT,
        seed=seed,
        force=force,
        progress=progress,
    )
    model = result.model
    report = evaluate(model)
    files.atomic_write_json(out / "evaluation.json", report)
    held = [i for i, split in enumerate(model.splits) if split == "holdout"]
    a, b = 0, (held[0] if held else len(model.names) - 1)
    sweep = model.sweep(a, b, steps=DEMO_SWEEP_STEPS)
    figures = model.sweep_quality(a, b, sweep)
    written += sound.save_sweep(sweep, out / "sweep", force=force, figures=figures)
    written += model.glide(a, b, repeats=DEMO_GLIDE_REPEATS).save(out / "glide.wav", force=force)
    model_files = [
        checkpoint.CONFIG_FILE,
        checkpoint.WEIGHTS_FILE,
        checkpoint.LIBRARY_FILE,
        "loss.png",
        "latent_map.png",
    ]
    models = [
        result.folder / name for name in model_files if (result.folder / name).exists()
    ]  # no loss.png at 0 epochs
    return DemoResult(out, [*written, *models, out / "evaluation.json"], report, figures, result)


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """(split, system, metrics) rows of an evaluation report's summary, for printing."""
    return [
        (split, system, values)
        for split, systems in report["summary"].items()
        for system, values in systems.items()
    ]
