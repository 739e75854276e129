"""Library-level jobs: list a folder, train a model on it, evaluate a model, run the demo.

Each is one call; the CLI is a thin layer over these and :mod:`soundmorph.api`.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soundmorph import audio, data, files, latent, plot, session, sound
from soundmorph import evaluate as metrics
from soundmorph.audio import synth
from soundmorph.config import Preset, get_preset
from soundmorph.errors import SoundmorphError
from soundmorph.training import EpochStats, checkpoint, fit

BASELINES = tuple(metrics.BASELINES)  # rows every evaluation compares the model with


def list_sounds(folder: str | Path, *, sample_rate: int = 22_050) -> data.Library:
    """Scan ``folder``: the usable sounds in index order and the skipped files with reasons."""
    return data.scan(folder, sample_rate=sample_rate)


@dataclass(frozen=True)
class TrainResult:
    folder: Path
    history: list[EpochStats]
    library: data.Library
    holdout: np.ndarray  # bool [clips]
    seconds: float


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
    preset: str | Preset = "default",
    epochs: int | None = None,
    batch_size: int | None = None,
    holdout: float | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    clip_seconds: float | None = None,
    resume: bool = False,
    force: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a model on the sounds of ``folder`` and write the model folder ``out``.

    With ``resume`` the settings come from ``out/config.json`` (only ``epochs`` may be raised) and
    training continues from ``out/train``. Without it, an existing model folder is only replaced
    with ``force``.
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
        if not checkpoint.has_train_state(out):
            raise SoundmorphError(f"{out}: nothing to resume (no {checkpoint.TRAIN_DIR}/state.json)")
        chosen = resolve_preset(checkpoint.read_info(out).preset, {"epochs": epochs})
    else:
        if out.exists() and any(out.iterdir()) and not force:
            raise SoundmorphError(
                f"{out}: exists and is not empty (use --force to replace, --resume to continue)"
            )
        if out.exists() and force:
            shutil.rmtree(out / checkpoint.TRAIN_DIR, ignore_errors=True)
            (out / checkpoint.WEIGHTS_FILE).unlink(missing_ok=True)
        chosen = resolve_preset(preset, overrides, clip_seconds=clip_seconds)
    library = data.scan(folder, sample_rate=chosen.audio.sample_rate)
    data.require_clips(library, minimum=2 if chosen.train.holdout > 0 else 1)
    if chosen.audio.clip_seconds is None:
        chosen = chosen.replace(audio={"clip_seconds": library.median_seconds()})
    a = chosen.audio
    mask = data.holdout_mask(library.names, chosen.train.holdout, seed=chosen.train.seed)
    target = session.pick_device(device)
    mags = data.spectrograms(library.fitted(a.clip_samples), a, device=target)
    with torch.random.fork_rng(devices=[]):  # the model is built on the CPU: seed its initialisation
        torch.random.default_generator.manual_seed(chosen.train.seed)
        model = checkpoint.ModelInfo(chosen, a.n_freq, a.clip_frames).build().to(target)
    history = fit(
        model, chosen, out, mags[~mask], mags[mask] if mask.any() else None, resume=resume, progress=progress
    )
    best, _ = checkpoint.load_model(out, device=target)
    with torch.no_grad():
        latents = torch.cat([best.encode(batch).mode() for batch in mags.split(64)]).cpu()
    checkpoint.save_library(
        out,
        {
            "root": str(Path(folder).resolve()),
            "files": [
                {"name": name, "split": "holdout" if held else "train", "latent": z.tolist()}
                for name, held, z in zip(library.names, mask, latents, strict=True)
            ],
        },
    )
    _write_pictures(out, history, library.names, latents, mask)
    return TrainResult(out, history, library, mask, time.perf_counter() - tic)


def _write_pictures(
    out: Path, history: list[EpochStats], names: list[str], latents: torch.Tensor, mask: np.ndarray
) -> None:
    if history:
        losses = {"train": [h.loss for h in history]}
        if any(math.isfinite(h.holdout_loss) for h in history):
            losses["held out"] = [h.holdout_loss for h in history]
        png = plot.loss_curve([h.epoch for h in history], losses)
        files.atomic_write_bytes(out / "loss.png", png)
    points = latent.latent_pca(latents)[0]
    labels = [Path(name).stem for name in names]
    files.atomic_write_bytes(out / "latent_map.png", plot.latent_map(points, labels, held_out=mask))


def evaluate(
    model_folder: str | Path,
    folder: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
    baselines: bool = True,
) -> dict[str, Any]:
    """Reconstruction metrics of a model, per clip and per split, with the baselines.

    ``folder`` defaults to the training library. Clips of the training library keep their split
    ("train" / "holdout"); clips of another folder are "other". The baselines (mean spectrogram and
    PCA-16 of the training clips) are computed when the training clips are among those evaluated.
    """
    model = session.load(model_folder, device=device)
    root = Path(folder) if folder is not None else model.root
    if root is None:
        raise SoundmorphError(f"{model_folder}: no library recorded; name a folder to evaluate on")
    library = data.scan(root, sample_rate=model.sample_rate)
    data.require_clips(library)
    same = model.root is not None and root.resolve() == model.root.resolve()
    split_of = dict(zip(model.names, model.splits, strict=True)) if same else {}
    splits = [split_of.get(name, "other") for name in library.names]
    a = model.preset.audio
    mags = data.spectrograms(library.fitted(a.clip_samples), a, device=model.device)
    with torch.no_grad():
        recon = torch.cat([model.model.decode(model.model.encode(b).mode()) for b in mags.split(64)])
    per_clip = metrics.reconstruction_metrics(mags, recon)
    report: dict[str, Any] = {
        "model": str(model_folder),
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
    if baselines and train_mask.any():
        train = mags[train_mask.to(mags.device)]
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


def demo(
    out: str | Path,
    *,
    clips: int = 16,
    epochs: int | None = None,
    preset: str = "default",
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Synthesize a small drum-loop library into ``out/sounds``, train on it, evaluate, and render a
    sweep between two loops into ``out/sweep``. Returns what it wrote."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise SoundmorphError(f"{out}: exists and is not empty (use --force to overwrite)")
    if clips < 2:  # one to train on, one to hold out
        raise SoundmorphError(f"the demo needs at least 2 clips, got {clips}")
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
        holdout=0.125,
        seed=seed,
        force=force,
        progress=progress,
    )
    report = evaluate(out / "model")
    files.atomic_write_json(out / "evaluation.json", report)
    model = session.load(out / "model")
    held = [i for i, split in enumerate(model.splits) if split == "holdout"]
    a, b = 0, (held[0] if held else len(model.names) - 1)
    sweep = model.sweep(a, b, steps=9)
    written += sound.save_sweep(sweep, out / "sweep", force=force, figures=model.sweep_quality(a, b, sweep))
    written += model.glide(a, b, repeats=4).save(out / "glide.wav", force=force)
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
    return [*written, *models, out / "evaluation.json"]


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """(split, system, metrics) rows of an evaluation report's summary, for printing."""
    return [
        (split, system, values)
        for split, systems in report["summary"].items()
        for system, values in systems.items()
    ]
