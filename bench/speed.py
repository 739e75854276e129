"""Speed: training throughput against the machine's matmul ceiling, one morph end to end, a batched
sweep, Griffin-Lim against librosa, and peak memory of training on the library."""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import LOOPS, SEED, Dataset, header, machine, table, with_length, write_results
from soundmorph import latent
from soundmorph.audio import phase, spectral
from soundmorph.config import Preset, get_preset
from soundmorph.data.dataset import ArrayClips
from soundmorph.models import SpectrogramVAE
from soundmorph.training import fit
from soundmorph.training.checkpoint import ModelInfo
from soundmorph.training.loop import loss_terms, resolve_precision

PRESETS = ("paper", "default")
MATMUL_SIZE = 2048  # square fp32 matmul whose FLOP/s is the machine's ceiling


def median_ms(fn: Callable[[], Any], *, repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn`` in ms after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return 1000 * statistics.median(times)


def matmul_flops(*, repeats: int = 10) -> float:
    """FLOP/s of a large fp32 matmul: the ceiling any training step is measured against."""
    n = MATMUL_SIZE
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / (median_ms(lambda: a @ b, repeats=repeats) / 1000)


def build(preset: Preset) -> SpectrogramVAE:
    a = preset.audio
    return ModelInfo(preset, a.n_freq, a.clip_frames).build()


def training_flops_per_clip(preset: Preset, mags: torch.Tensor) -> float:
    """FLOPs of one training step (the training loop's loss terms, backward) per clip, counted by torch."""
    model = build(preset)
    model.init_from_data(mags)
    batch = mags[: preset.train.batch_size]
    generator = torch.Generator().manual_seed(0)

    def noise(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(len(batch), *shape, generator=generator)

    with FlopCounterMode(display=False) as counter:
        recon, kl = loss_terms(model, batch, noise)
        (recon + preset.train.kl_weight * kl).mean().backward()
    return counter.get_total_flops() / len(batch)


def training_throughput(preset: Preset, clips: np.ndarray, *, epochs: int) -> dict[str, float]:
    """Clips/s of :func:`soundmorph.training.loop.fit` over the library, steady state: the median epoch after
    the first two (warm-up), checkpoint writing excluded (``EpochStats.seconds``), the STFT of each
    batch included (training reads audio)."""
    model = build(preset)
    with tempfile.TemporaryDirectory() as folder:
        history = fit(
            model,
            preset.replace(train={"epochs": epochs}),
            Path(folder),
            ArrayClips(clips),
            None,
            progress=False,
        )
    steady = history[2:] if len(history) > 2 else history
    seconds = statistics.median(h.seconds for h in steady)
    precision = resolve_precision("auto", model.device, model)  # what fit ran in
    return {"clips_per_second": len(clips) / seconds, "seconds_per_epoch": seconds, "precision": precision}


def morph_latency(preset: Preset, clips: np.ndarray, *, repeats: int) -> dict[str, float]:
    """One morph end to end: STFT of two clips, encode both, lerp, decode, phase reconstruction (the
    preset's method and settings), audio out; and an 11-step sweep, decoded and reconstructed as one batch."""
    a, p = preset.audio, preset.phase
    model = build(preset).eval()
    settings = {"n_fft": a.n_fft, "hop_length": a.hop_length, "win_length": a.win_length}
    pair = torch.from_numpy(np.stack([np.resize(clip, a.clip_samples) for clip in clips[:2]]))

    def to_audio(mags: torch.Tensor) -> torch.Tensor:  # the preset's phase method and settings
        return phase.reconstruct(mags, p, a, length=a.clip_samples)

    @torch.no_grad()
    def one() -> torch.Tensor:
        z = model.encode(spectral.magnitude(pair, **settings)).mode()
        return to_audio(model.decode(latent.lerp(z[0], z[1], 0.5)[None]))

    @torch.no_grad()
    def sweep() -> torch.Tensor:
        z = model.encode(spectral.magnitude(pair, **settings)).mode()
        return to_audio(model.decode(latent.lerp(z[0], z[1], latent.sweep_alphas(11))))

    seconds = a.clip_samples / a.sample_rate
    one_ms = median_ms(one, repeats=repeats)
    sweep_ms = median_ms(sweep, repeats=max(3, repeats // 4))
    return {
        "clip_seconds": seconds,
        "morph_ms": one_ms,
        "morph_rtf": one_ms / 1000 / seconds,
        "sweep11_ms": sweep_ms,
        "sweep11_ms_per_step": sweep_ms / 11,
        "sweep11_rtf": sweep_ms / 1000 / (11 * seconds),
    }


def griffin_lim_vs_librosa(mag: torch.Tensor, *, repeats: int) -> dict[str, float]:
    """GL32 (momentum 0.99, random init) on one magnitude [freq, frames]: soundmorph vs librosa."""
    length = (mag.shape[-1] - 1) * 512
    ours = median_ms(
        lambda: phase.griffin_lim(mag, n_iter=32, generator=torch.Generator().manual_seed(0), length=length),
        repeats=repeats,
    )
    out: dict[str, float] = {"frames": mag.shape[-1], "soundmorph_ms": ours}
    try:
        import librosa
    except ImportError:
        return out
    m = mag.numpy()
    theirs = median_ms(
        lambda: librosa.griffinlim(
            m,
            n_iter=32,
            hop_length=512,
            win_length=2048,
            n_fft=2048,
            momentum=0.99,
            random_state=0,
            length=length,
            pad_mode="constant",
        ),
        repeats=max(3, repeats // 2),
    )
    return out | {"librosa_ms": theirs, "speedup": theirs / ours}


_RSS_SCRIPT = """
import sys, tempfile, resource, torch
torch.set_num_threads(int(sys.argv[3]))
from soundmorph import workflow
with tempfile.TemporaryDirectory() as out:
    workflow.train(sys.argv[1], out + "/model", preset=sys.argv[2], epochs=2, holdout=0.2, progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def training_peak_rss(preset: str, folder: Path, threads: int) -> float:
    """Peak resident memory (MiB) of ``workflow.train`` on ``folder`` for 2 epochs, in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(folder), preset, str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip().splitlines()[-1]) / 1024  # Linux reports KiB


def run(dataset: Dataset, *, quick: bool = False, loops: Path = LOOPS) -> dict[str, Any]:
    torch.manual_seed(SEED)
    threads = torch.get_num_threads()
    record: dict[str, Any] = {"machine": machine(), "data": dataset.describe(), "seed": SEED, "quick": quick}
    epochs = 3 if quick else 8
    repeats = 3 if quick else 20
    record["settings"] = {"train_epochs_timed": epochs, "repeats": repeats, "matmul_size": MATMUL_SIZE}
    ceiling = matmul_flops()
    record["matmul_gflops"] = ceiling / 1e9
    rows = []
    for name in PRESETS:
        preset = with_length(get_preset(name), dataset)
        mags = dataset.magnitudes(preset.audio)[torch.from_numpy(~dataset.holdout)]
        flops = training_flops_per_clip(preset, mags)
        speed = training_throughput(preset, dataset.fitted(preset.audio)[~dataset.holdout], epochs=epochs)
        row = {
            "preset": name,
            "frames": mags.shape[-1],
            "train_clips": len(mags),
            **speed,
            "gflops_per_clip": flops / 1e9,
            "ceiling_share": speed["clips_per_second"] * flops / ceiling,
            **morph_latency(preset, dataset.clips, repeats=repeats),
        }
        rows.append(row)
    record["presets"] = rows
    paper = with_length(get_preset("paper"), dataset)
    mag = dataset.magnitudes(paper.audio)[0]
    record["griffin_lim"] = griffin_lim_vs_librosa(mag, repeats=repeats)
    if loops.is_dir() and not quick:
        record["peak_rss_mib"] = {name: training_peak_rss(name, loops, threads) for name in PRESETS}
        record["peak_rss_data"] = str(loops)
    record["self_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record


def markdown(record: dict[str, Any]) -> str:
    md = header("soundmorph speed benchmark", record)
    md += f"Matmul ceiling ({MATMUL_SIZE}² fp32): {record['matmul_gflops']:.1f} GFLOP/s.\n\n## Training\n\n"
    rows = [
        [
            r["preset"],
            r.get("precision", "fp32"),
            r["frames"],
            r["train_clips"],
            r["clips_per_second"],
            r["seconds_per_epoch"],
            r["gflops_per_clip"],
            100 * r["ceiling_share"],
        ]
        for r in record["presets"]
    ]
    md += table(
        ["preset", "precision", "frames", "clips", "clips/s", "s/epoch", "GFLOP/clip", "% of ceiling"],
        rows,
        digits=2,
    )
    md += (
        "\n## Morph latency\n\nOne morph: STFT of 2 clips + encode 2 + decode + Griffin-Lim (preset "
        "settings) -> audio. RTF = compute time / audio duration (lower better).\n\n"
    )
    rows = [
        [
            r["preset"],
            r["clip_seconds"],
            r["morph_ms"],
            r["morph_rtf"],
            r["sweep11_ms"],
            r["sweep11_ms_per_step"],
            r["sweep11_rtf"],
        ]
        for r in record["presets"]
    ]
    md += table(
        ["preset", "clip s", "morph ms", "morph RTF", "sweep-11 ms", "ms / step", "sweep RTF"], rows, digits=3
    )
    g = record["griffin_lim"]
    md += f"\n## Griffin-Lim 32 iterations, 1025 x {g['frames']} (same process)\n\n"
    rows = [["soundmorph.audio.phase.griffin_lim", g["soundmorph_ms"], 1.0]]
    if "librosa_ms" in g:
        rows.append(["librosa.griffinlim", g["librosa_ms"], 1 / g["speedup"]])
    md += table(["implementation", "ms", "relative time"], rows, digits=2)
    if "peak_rss_mib" in record:
        md += f"\n## Peak memory of training (2 epochs on {record['peak_rss_data']}, fresh process)\n\n"
        md += table(["preset", "peak RSS MiB"], [[k, v] for k, v in record["peak_rss_mib"].items()], digits=0)
    return md


def main(dataset: Dataset, *, quick: bool = False, out: Path | None = None) -> list[Path]:
    record = run(dataset, quick=quick)
    kwargs = {} if out is None else {"out": out}
    return write_results("speed", record, markdown(record), **kwargs)
