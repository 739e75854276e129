"""Quality: reconstruction (train and held out) against baselines, morph quality against non-neural
morphs, and phase reconstruction (Griffin-Lim variants against librosa)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import SEED, Dataset, header, machine, table, with_length, write_results
from soundmorph import evaluate as metrics
from soundmorph import quality
from soundmorph.audio import phase, spectral
from soundmorph.config import Preset, get_preset
from soundmorph.data.dataset import ArrayClips
from soundmorph.models import SpectrogramVAE
from soundmorph.training import fit
from soundmorph.training.checkpoint import ModelInfo

PRESETS = ("paper", "default")
PAIRS = 20  # fixed held-out pairs for the morph figures
STEPS = 11  # steps per sweep
PHASE_CLIPS = 8  # morph magnitudes the phase study reconstructs
PHASE_ALPHA = 0.3  # ratio of those morphs (A is the nearer source)
BATCH = 32  # clips per encode/decode call


def train_model(
    preset: Preset, train_clips: np.ndarray, *, progress: bool = False
) -> tuple[SpectrogramVAE, float]:
    """Train ``preset`` on ``train_clips`` (audio [clips, samples]) for its epochs (the held-out
    clips are never seen, not even to pick a checkpoint: the last epoch's weights are used).
    Returns (model in eval mode, seconds)."""
    a = preset.audio
    model = ModelInfo(preset, a.n_freq, a.clip_frames).build()
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        fit(model, preset, Path(folder), ArrayClips(train_clips), None, progress=progress)
    model.eval()
    return model, time.perf_counter() - tic


@torch.no_grad()
def reconstruct(model: SpectrogramVAE, mags: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.decode(model.encode(batch).mode()) for batch in mags.split(BATCH)])


def pca_log_baseline(train: torch.Tensor, clips: torch.Tensor, *, components: int = 16) -> torch.Tensor:
    """PCA-16 in the log1p domain (an extra row: a linear model on the scale the ear uses)."""
    floor = metrics.LSD_FLOOR
    restored = metrics.pca_baseline(
        torch.log1p(train / floor), torch.log1p(clips / floor), components=components
    )
    return torch.expm1(restored).clamp_min(0.0) * floor


def _means(reference: torch.Tensor, estimate: torch.Tensor) -> dict[str, float]:
    return {k: float(v.mean()) for k, v in metrics.reconstruction_metrics(reference, estimate).items()}


def held_out_pairs(n_holdout: int, count: int, *, seed: int = SEED) -> list[tuple[int, int]]:
    """``count`` fixed pairs (i, j), i != j, of held-out positions, drawn by a seeded RNG."""
    all_pairs = [(i, j) for i in range(n_holdout) for j in range(i + 1, n_holdout)]
    order = np.random.default_rng(seed).permutation(len(all_pairs))
    return [all_pairs[k] for k in order[: min(count, len(all_pairs))]]


def morph_figures(
    sweeps: list[torch.Tensor], sources: list[tuple[torch.Tensor, torch.Tensor]], sample_rate: int
) -> dict[str, float]:
    """Mean log-mel figures over sweeps, plus MFCC intermediateness and smoothness."""
    alphas = torch.linspace(0, 1, STEPS)
    mel = [
        quality.sweep_quality(s, a, b, alphas, sample_rate=sample_rate)
        for s, (a, b) in zip(sweeps, sources, strict=True)
    ]
    mfcc = [
        quality.sweep_quality(s, a, b, alphas, distance="mfcc", sample_rate=sample_rate)
        for s, (a, b) in zip(sweeps, sources, strict=True)
    ]
    out = quality.mean_quality(mel)
    mf = quality.mean_quality(mfcc)
    out["mfcc_intermediateness"] = mf["intermediateness"]
    out["mfcc_smoothness_cv"] = mf["smoothness_cv"]
    return out


def run(dataset: Dataset, *, quick: bool = False, progress: bool = False) -> dict[str, Any]:
    torch.manual_seed(SEED)
    record: dict[str, Any] = {"machine": machine(), "data": dataset.describe(), "seed": SEED, "quick": quick}
    presets = {name: with_length(get_preset(name), dataset) for name in PRESETS}
    if quick:
        presets = {n: p.replace(train={"epochs": 3}) for n, p in presets.items()}
    record["settings"] = {name: p.to_dict() for name, p in presets.items()} | {
        "pairs": PAIRS,
        "steps": STEPS,
        "phase_clips": PHASE_CLIPS,
    }
    mask = torch.from_numpy(dataset.holdout)
    recon: list[dict[str, Any]] = []
    morphs: list[dict[str, Any]] = []
    training: dict[str, float] = {}
    pairs = held_out_pairs(int(mask.sum()), 4 if quick else PAIRS)
    baselines_done: set[int] = set()
    for name, preset in presets.items():
        mags = dataset.magnitudes(preset.audio)
        train, held = mags[~mask], mags[mask]
        frames = mags.shape[-1]
        model, seconds = train_model(
            preset, dataset.fitted(preset.audio)[~dataset.holdout], progress=progress
        )
        training[name] = seconds
        systems: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {name: partial(reconstruct, model)}
        if frames not in baselines_done:
            systems |= metrics.fit_baselines(train)
            systems["PCA-16 (log, extra)"] = partial(pca_log_baseline, train)
        for system, predict in systems.items():
            for split, clips in (("train", train), ("holdout", held)):
                recon.append(
                    {"system": system, "split": split, "frames": frames, **_means(clips, predict(clips))}
                )
        sr = preset.audio.sample_rate
        sources = [(held[i], held[j]) for i, j in pairs]
        alphas = torch.linspace(0, 1, STEPS)
        with torch.no_grad():
            z = model.encode(held).mode()
            sweeps = [model.decode(z[i] + alphas[:, None] * (z[j] - z[i])) for i, j in pairs]
        morphs.append({"system": name, "frames": frames, **morph_figures(sweeps, sources, sr)})
        if frames not in baselines_done:
            a_ = preset.audio
            held_audio = torch.from_numpy(
                np.stack(
                    [
                        np.pad(c, (0, max(0, a_.clip_samples - len(c))))[: a_.clip_samples]
                        for c in dataset.clips[dataset.holdout]
                    ]
                )
            )
            settings = {"n_fft": a_.n_fft, "hop_length": a_.hop_length, "win_length": a_.win_length}
            fades = [
                spectral.magnitude(
                    (1 - alphas[:, None]) * held_audio[i] + alphas[:, None] * held_audio[j], **settings
                )
                for i, j in pairs
            ]
            lerps = [
                (1 - alphas[:, None, None]) * held[i] + alphas[:, None, None] * held[j] for i, j in pairs
            ]
            morphs.append(
                {"system": "crossfade (audio)", "frames": frames, **morph_figures(fades, sources, sr)}
            )
            morphs.append({"system": "magnitude lerp", "frames": frames, **morph_figures(lerps, sources, sr)})
            baselines_done.add(frames)
            if name == "default":
                record["phase"] = phase_study(held_audio, pairs[:PHASE_CLIPS], preset, quick=quick)
    record["reconstruction"] = recon
    record["morph"] = morphs
    record["training_seconds"] = training
    return record


def phase_study(
    held_audio: torch.Tensor, pairs: list[tuple[int, int]], preset: Preset, *, quick: bool
) -> list[dict[str, Any]]:
    """Spectral convergence and time of Griffin-Lim variants on morph magnitudes at ``PHASE_ALPHA``
    (magnitude lerp of held-out pairs), batched; librosa.griffinlim on the same magnitudes."""
    a = preset.audio
    settings = {"n_fft": a.n_fft, "hop_length": a.hop_length, "win_length": a.win_length}
    spec = spectral.stft(held_audio, **settings)
    held = spec.abs()
    mags = torch.stack([(1 - PHASE_ALPHA) * held[i] + PHASE_ALPHA * held[j] for i, j in pairs])
    source_phase = torch.stack([spec[i].angle() for i, _ in pairs])  # the nearer source: A
    length = a.clip_samples
    rows: list[dict[str, Any]] = []
    iters = (8, 32) if quick else (8, 32, 100)
    for n_iter in iters:
        for momentum in (0.0, 0.99):
            for init_name in ("random", "advance", "nearer source"):
                init: str | torch.Tensor = source_phase if init_name == "nearer source" else init_name
                gen = torch.Generator().manual_seed(SEED)
                tic = time.perf_counter()
                out = phase.griffin_lim(
                    mags,
                    n_iter=n_iter,
                    momentum=momentum,
                    init=init,
                    generator=gen,
                    length=length,
                    **settings,
                )
                seconds = time.perf_counter() - tic
                sc = spectral.spectral_convergence(mags, spectral.magnitude(out, **settings))
                rows.append(
                    {
                        "implementation": "soundmorph",
                        "n_iter": n_iter,
                        "momentum": momentum,
                        "init": init_name,
                        "sc_db": float(sc.mean()),
                        "ms_per_clip": 1000 * seconds / len(mags),
                    }
                )
    try:
        import librosa
    except ImportError:
        return rows
    for n_iter in iters:
        for momentum in (0.0, 0.99):
            tic = time.perf_counter()
            outs = [
                librosa.griffinlim(
                    m.numpy(),
                    n_iter=n_iter,
                    momentum=momentum,
                    init="random",
                    random_state=SEED,
                    length=length,
                    pad_mode="constant",
                    **settings,
                )
                for m in mags
            ]
            seconds = time.perf_counter() - tic
            sc = spectral.spectral_convergence(
                mags, spectral.magnitude(torch.from_numpy(np.stack(outs)).float(), **settings)
            )
            rows.append(
                {
                    "implementation": "librosa",
                    "n_iter": n_iter,
                    "momentum": momentum,
                    "init": "random",
                    "sc_db": float(sc.mean()),
                    "ms_per_clip": 1000 * seconds / len(mags),
                }
            )
    return rows


def markdown(record: dict[str, Any]) -> str:
    md = header("soundmorph quality benchmark", record)
    cols = ["mse", "cosine", "sc_db", "lsd_db"]
    for split, title in (
        ("holdout", "Reconstruction, held-out clips"),
        ("train", "Reconstruction, training clips"),
    ):
        rows = [
            [r["system"], r["frames"], *(r[c] for c in cols)]
            for r in record["reconstruction"]
            if r["split"] == split
        ]
        md += f"## {title}\n\n" + (
            "MSE on linear magnitudes (lower better), cosine (higher better), spectral convergence dB "
            "(lower better), log-spectral distance dB (lower better).\n\n"
        )
        md += table(["system", "frames", "MSE", "cosine", "SC dB", "LSD dB"], rows)
        md += "\n"
    mcols = [
        "endpoint_distance",
        "endpoint_relative",
        "intermediateness",
        "mfcc_intermediateness",
        "step_mean",
        "smoothness_cv",
        "mfcc_smoothness_cv",
        "max_step_ratio",
        "rho_a",
        "rho_b",
        "centroid_r2",
        "centroid_error",
    ]
    md += (
        f"## Morphs: {record['settings']['pairs']} held-out pairs x {record['settings']['steps']} steps\n\n"
        "Log-mel distance (dB) unless marked MFCC. Endpoint distance and its ratio to d(A, B): lower better; "
        "intermediateness |d_A/(d_A+d_B) - a|: lower better; smoothness CV and max/mean step: lower better; "
        "rho_A -> +1, rho_B -> -1; centroid R^2 higher, centroid error lower.\n\n"
    )
    rows = [[r["system"], *(r[c] for c in mcols)] for r in record["morph"]]
    md += table(
        [
            "system",
            "end d",
            "end rel",
            "interm.",
            "interm. MFCC",
            "step",
            "CV",
            "CV MFCC",
            "max/mean",
            "rho_A",
            "rho_B",
            "centroid R2",
            "centroid err",
        ],
        rows,
    )
    if "phase" in record:
        md += (
            f"\n## Phase reconstruction: Griffin-Lim on {record['settings']['phase_clips']} morphs "
            f"(magnitude lerp, a = {PHASE_ALPHA})\n\nSpectral convergence of the result's STFT against the "
            "target magnitude (dB, lower better) and time per clip (soundmorph batched; librosa one clip "
            "at a time, same process).\n\n"
        )
        rows = [
            [r["implementation"], r["n_iter"], r["momentum"], r["init"], r["sc_db"], r["ms_per_clip"]]
            for r in record["phase"]
        ]
        md += table(
            ["implementation", "iterations", "momentum", "init", "SC dB", "ms / clip"], rows, digits=2
        )
    return md


def main(
    dataset: Dataset, *, quick: bool = False, progress: bool = False, out: Path | None = None
) -> list[Path]:
    record = run(dataset, quick=quick, progress=progress)
    return write_results("quality", record, markdown(record), out)
