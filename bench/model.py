"""Models: reconstruction on training, held-out and never-seen loops; morph figures against
non-neural morphs; what ``generate`` makes; training and morph time.

Three test sets, none of them tuned on:

- ``holdout``: the 20 % split of the library the models train on (the shared loops by default);
- ``synth``: loops of the package's synthesizer with other kits, styles and tempos (90-170 BPM), cut
  or padded to the library's clip length: kits and rhythms no model has seen;
- ``tempo``: the loops of a second folder (``../shared/data/loops_tempo``: 80-175 BPM, 1-4 bars)
  when present.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import (
    SEED,
    Dataset,
    header,
    machine,
    read_folder,
    spectrograms,
    table,
    with_length,
    write_results,
)
from bench.quality import STEPS, held_out_pairs, morph_figures, train_model
from soundmorph import audio, latent, quality
from soundmorph import evaluate as metrics
from soundmorph.audio import phase, spectral, synth
from soundmorph.config import AudioConfig, Preset, get_preset
from soundmorph.detail import detail_transfer, pair_weights
from soundmorph.models import SpectrogramVAE

PRESETS = ("linear", "default")  # the global linear VAE (the default before) and the default
TEMPO_FOLDER = "loops_tempo"  # beside the library's folder, when present
SYNTH_LOOPS = 40
SYNTH_SEED = 777  # not the test-suite's or the demo's seed: other kits
SYNTH_BPM = (90, 170)
PAIRS = 20  # held-out pairs
UNSEEN_PAIRS = 10  # pairs of synthesized loops (files no model has seen)
GENERATED = 8
MORPH_REPEATS = 5

# (X_A, X_B, audio A, audio B) -> sweep magnitudes [STEPS, freq, frames]; audio None where unknown
SweepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None], torch.Tensor]


def synth_set(config: AudioConfig, *, count: int = SYNTH_LOOPS) -> torch.Tensor:
    """Magnitudes [count, freq, frames] of synthesized loops at other kits and tempos."""
    rng = np.random.default_rng(SYNTH_SEED)
    clips = [
        audio.fit_length(
            synth.drum_loop(seed=s.seed, style=s.style, bpm=float(rng.integers(*SYNTH_BPM, endpoint=True))),
            config.clip_samples,
        )
        for s in synth.library_specs(count, seed=SYNTH_SEED)
    ]
    return spectrograms(np.stack(clips), config)


def folder_set(folder: Path, config: AudioConfig) -> torch.Tensor | None:
    if not folder.is_dir():
        return None
    _, clips, _ = read_folder(folder, sample_rate=config.sample_rate)
    fitted = [audio.fit_length(clip, config.clip_samples) for clip in clips]
    return spectrograms(np.stack(fitted), config) if fitted else None


@torch.no_grad()
def reconstruct(model: SpectrogramVAE, mags: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.decode(model.encode(batch).mode()) for batch in mags.split(16)])


def model_sweep(model: SpectrogramVAE, *, faithful: bool, even: bool, sample_rate: int) -> SweepFn:
    """The sweep of ``model`` (see :data:`SweepFn`)."""

    @torch.no_grad()
    def sweep(x_a: torch.Tensor, x_b: torch.Tensor, *_: torch.Tensor | None) -> torch.Tensor:
        z = model.encode(torch.stack([x_a, x_b])).mode()
        ends = model.decode(z)
        sources = torch.stack([x_a, x_b])

        def at(alphas: torch.Tensor) -> torch.Tensor:
            decoded = model.decode(latent.lerp(z[0], z[1], alphas))
            return detail_transfer(decoded, sources, ends, pair_weights(alphas)) if faithful else decoded

        alphas = latent.sweep_alphas(STEPS)
        if even:
            alphas = latent.even_alphas(at, x_a, x_b, STEPS, sample_rate=sample_rate)
        return at(alphas)

    return sweep


def frame_pca_sweep(train: torch.Tensor) -> SweepFn:
    def sweep(x_a: torch.Tensor, x_b: torch.Tensor, *_: torch.Tensor | None) -> torch.Tensor:
        ends = metrics.frame_pca_baseline(
            train, torch.stack([x_a, x_b])
        )  # linear: lerp of latents = of these
        alphas = torch.linspace(0, 1, STEPS)[:, None, None]
        return (1 - alphas) * ends[0] + alphas * ends[1]

    return sweep


def lerp_sweep(x_a: torch.Tensor, x_b: torch.Tensor, *_: torch.Tensor | None) -> torch.Tensor:
    alphas = torch.linspace(0, 1, STEPS)[:, None, None]
    return (1 - alphas) * x_a + alphas * x_b


def generated_figures(
    mags: torch.Tensor, library: torch.Tensor, filterbank: torch.Tensor
) -> dict[str, float]:
    """How loop-like are generated magnitudes [n, freq, frames]? Log-mel distance (dB) to the nearest
    library clip, and the frame-to-frame log-mel flux relative to the library's (1: as lively as
    the library; far above: per-frame noise; far below: a smear)."""
    feats = quality.features(mags, filterbank, "log_mel")
    lib = quality.features(library, filterbank, "log_mel")
    nearest = torch.stack([quality.feature_distance(f[None], lib, "log_mel").min() for f in feats])
    flux = (feats.diff(dim=-1).abs().mean()) / lib.diff(dim=-1).abs().mean()
    return {"nearest_library_db": float(nearest.mean()), "flux_ratio": float(flux)}


def morph_time(model: SpectrogramVAE, preset: Preset, clips: torch.Tensor, *, faithful: bool) -> float:
    """Milliseconds of one morph: encode 2 + decode (+ detail transfer) + Griffin-Lim, best of a few."""
    a = preset.audio
    settings = {"n_fft": a.n_fft, "hop_length": a.hop_length, "win_length": a.win_length}
    best = float("inf")
    for _ in range(MORPH_REPEATS):
        tic = time.perf_counter()
        with torch.no_grad():
            z = model.encode(clips[:2]).mode()
            decoded = model.decode(latent.lerp(z[0], z[1], 0.3)[None])
            if faithful:
                ends = model.decode(z)
                decoded = detail_transfer(decoded, clips[:2], ends, pair_weights(torch.tensor([0.3])))
            phase.griffin_lim(
                decoded,
                n_iter=preset.phase.n_iter,
                momentum=preset.phase.momentum,
                generator=torch.Generator().manual_seed(SEED),
                length=a.clip_samples,
                **settings,
            )
        best = min(best, time.perf_counter() - tic)
    return 1000 * best


def run(dataset: Dataset, *, quick: bool = False, progress: bool = False) -> dict[str, Any]:
    torch.manual_seed(SEED)
    presets = {name: with_length(get_preset(name), dataset) for name in PRESETS}
    if quick:
        presets = {n: p.replace(train={"epochs": min(p.train.epochs, 2)}) for n, p in presets.items()}
    config = next(iter(presets.values())).audio
    assert all(p.audio == config for p in presets.values())  # every system sees the same clips
    mags = dataset.magnitudes(config)
    mask = torch.from_numpy(dataset.holdout)
    train, held = mags[~mask], mags[mask]
    sets = {"train": train, "holdout": held, "synth": synth_set(config, count=8 if quick else SYNTH_LOOPS)}
    tempo = None if quick else folder_set(Path(dataset.source).parent / TEMPO_FOLDER, config)
    if tempo is not None:
        sets["tempo"] = tempo
    record: dict[str, Any] = {
        "machine": machine(),
        "data": dataset.describe() | {"sets": {k: len(v) for k, v in sets.items()}},
        "seed": SEED,
        "quick": quick,
        "settings": {name: p.to_dict() for name, p in presets.items()}
        | {"pairs": PAIRS, "unseen_pairs": UNSEEN_PAIRS, "steps": STEPS, "synth_seed": SYNTH_SEED},
    }
    models: dict[str, SpectrogramVAE] = {}
    training: dict[str, float] = {}
    fitted = [audio.fit_length(c, config.clip_samples) for c in dataset.clips[~dataset.holdout]]
    train_audio = np.stack(fitted)
    for name, preset in presets.items():  # trained on audio, as the CLI is (not on the magnitudes)
        models[name], training[name] = train_model(preset, train_audio, progress=progress)
    tic = time.perf_counter()
    metrics.frame_pca_baseline(train, train[:1])
    training["per-frame PCA-8"] = time.perf_counter() - tic
    systems: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        name: (lambda x, m=model: reconstruct(m, x)) for name, model in models.items()
    }
    systems |= metrics.fit_baselines(train)
    recon = []
    for system, predict in systems.items():
        for split, clips in sets.items():
            means = {
                k: float(v.mean()) for k, v in metrics.reconstruction_metrics(clips, predict(clips)).items()
            }
            recon.append({"system": system, "split": split, **means})
    record["reconstruction"] = recon
    record["training_seconds"] = training

    sr = config.sample_rate
    held_audio = torch.from_numpy(
        np.stack([audio.fit_length(c, config.clip_samples) for c in dataset.clips[dataset.holdout]])
    )
    settings = {"n_fft": config.n_fft, "hop_length": config.hop_length, "win_length": config.win_length}

    def crossfade(
        x_a: torch.Tensor, x_b: torch.Tensor, clip_a: torch.Tensor | None, clip_b: torch.Tensor | None
    ) -> torch.Tensor:
        assert clip_a is not None and clip_b is not None
        alphas = torch.linspace(0, 1, STEPS)[:, None]
        return spectral.magnitude((1 - alphas) * clip_a + alphas * clip_b, **settings)

    morph_systems: dict[str, SweepFn] = {
        "crossfade (audio)": crossfade,
        "magnitude lerp": lerp_sweep,
        "per-frame PCA-8, latents lerped": frame_pca_sweep(train),
    }
    for name, model in models.items():
        morph_systems[f"{name}, raw"] = model_sweep(model, faithful=False, even=False, sample_rate=sr)
        morph_systems[f"{name}, faithful"] = model_sweep(model, faithful=True, even=False, sample_rate=sr)
        morph_systems[f"{name}, faithful, even"] = model_sweep(
            model, faithful=True, even=True, sample_rate=sr
        )
    morphs = []
    pairs = held_out_pairs(len(held), 4 if quick else PAIRS)
    for system, sweep in morph_systems.items():
        tic = time.perf_counter()
        sweeps = [sweep(held[i], held[j], held_audio[i], held_audio[j]) for i, j in pairs]
        seconds = (time.perf_counter() - tic) / len(pairs)
        sources = [(held[i], held[j]) for i, j in pairs]
        morphs.append(
            {
                "system": system,
                "set": "holdout",
                "ms_per_sweep": 1000 * seconds,
                **morph_figures(sweeps, sources, sr),
            }
        )
    unseen = sets["synth"]
    unseen_pairs = held_out_pairs(len(unseen), 3 if quick else UNSEEN_PAIRS, seed=SEED + 1)
    for system, sweep in morph_systems.items():
        if system.startswith("crossfade"):
            continue
        sweeps = [sweep(unseen[i], unseen[j], None, None) for i, j in unseen_pairs]
        sources = [(unseen[i], unseen[j]) for i, j in unseen_pairs]
        morphs.append({"system": system, "set": "synth", **morph_figures(sweeps, sources, sr)})
    record["morph"] = morphs

    bank = quality.mel_filterbank(sample_rate=sr, n_fft=config.n_fft)
    generated = []
    for name, model in models.items():
        with torch.no_grad():
            library_z = model.encode(train).mode()
            draws = {
                "N(0, I)": latent.sample_prior(GENERATED, library_z.shape[1], seed=SEED),
                "around the library": latent.sample_around(library_z, GENERATED, seed=SEED),
            }
            for prior, z in draws.items():
                figures = generated_figures(model.decode(z), train, bank)
                generated.append({"system": name, "prior": prior, **figures})
    generated.append({"system": "library itself", "prior": "-", **generated_figures(held, train, bank)})
    record["generate"] = generated
    record["morph_ms"] = {
        f"{name}{', faithful' if faithful else ''}": morph_time(model, presets[name], held, faithful=faithful)
        for name, model in models.items()
        for faithful in (False, True)
    }
    return record


def markdown(record: dict[str, Any]) -> str:
    md = header("soundmorph model benchmark", record)
    sets = record["data"]["sets"]
    md += (
        "Sets: " + ", ".join(f"{k} {v} clips" for k, v in sets.items()) + ". Models and baselines are "
        "fitted on `train` only; `synth` are synthesized loops of other kits and tempos, `tempo` a second "
        "folder of loops at 80-175 BPM.\n\n"
    )
    md += "## Reconstruction\n\nCosine (higher better) / log-spectral distance dB (lower better).\n\n"
    order = list(sets)
    systems = list(dict.fromkeys(r["system"] for r in record["reconstruction"]))
    rows = []
    for system in systems:
        cells = {r["split"]: r for r in record["reconstruction"] if r["system"] == system}
        rows.append([system, *(f"{cells[s]['cosine']:.3f} / {cells[s]['lsd_db']:.2f}" for s in order)])
    md += table(["system", *order], rows)
    md += "\nMSE (linear magnitude, lower better):\n\n"
    rows = []
    for system in systems:
        cells = {r["split"]: r for r in record["reconstruction"] if r["system"] == system}
        rows.append([system, *(f"{cells[s]['mse']:.3g}" for s in order)])
    md += table(["system", *order], rows)
    md += (
        "\nTraining seconds: "
        + ", ".join(f"{k} {v:.1f}" for k, v in record["training_seconds"].items())
        + "\n\n"
    )
    cols = [
        "endpoint_distance",
        "intermediateness",
        "smoothness_cv",
        "max_step_ratio",
        "rho_a",
        "rho_b",
        "mfcc_intermediateness",
    ]
    for set_name, title in (("holdout", "held-out pairs"), ("synth", "pairs of unseen synthesized loops")):
        rows = [[r["system"], *(r[c] for c in cols)] for r in record["morph"] if r["set"] == set_name]
        md += f"## Morphs: {title}, {record['settings']['steps']} steps (log-mel dB)\n\n"
        md += table(
            [
                "system",
                "ends dB",
                "intermediateness",
                "smoothness CV",
                "max/mean step",
                "rho_A",
                "rho_B",
                "interm. MFCC",
            ],
            rows,
        )
        md += "\n"
    md += (
        "## Generate\n\nLog-mel distance (dB) of generated loops to the nearest training clip, and their "
        "frame-to-frame log-mel flux over the library's (1 = as lively; far above = per-frame noise). "
        "The last row: held-out clips.\n\n"
    )
    md += table(
        ["system", "prior", "nearest library dB", "flux ratio"],
        [[r["system"], r["prior"], r["nearest_library_db"], r["flux_ratio"]] for r in record["generate"]],
    )
    md += "\n## Morph time\n\nOne morph (encode 2 + decode (+ detail) + Griffin-Lim 32), ms, best of 5:\n\n"
    md += table(["system", "ms"], [[k, v] for k, v in record["morph_ms"].items()], digits=1)
    return md


def main(
    dataset: Dataset, *, quick: bool = False, progress: bool = False, out: Path | None = None
) -> list[Path]:
    record = run(dataset, quick=quick, progress=progress)
    return write_results("model", record, markdown(record), out)
