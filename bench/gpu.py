"""``python -m bench.gpu [--dry-run]``: GPU figures (run by ``bench/gpu.sh``, at most 8 minutes).

1. Training throughput of ``paper`` and ``default`` on in-memory synthesized clips (the real loop:
   per-batch STFT on the device, state saved every epoch), in fp32 and bf16 autocast, with the
   loss difference bf16 makes (the "is it safe" figure) and the peak GPU memory.
2. A synthesized library end to end: ``synth_library`` -> cache -> ``workflow.train`` (DataLoader
   workers, on-device STFT): clips/s and peak memory.
3. Morph latency on the trained model: one morph, and a sweep of 11 rendered as one batch (batched
   Griffin-Lim on the device).

``--dry-run`` runs everything tiny on the CPU in well under a minute, to check the script.
Each part records its error instead of stopping the others.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _part(record: dict[str, Any], name: str, job: Callable[[], dict[str, Any]]) -> None:
    tic = time.perf_counter()
    try:
        record[name] = job()
    except Exception as error:  # a benchmark part failing must not lose the others' figures
        record[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()[-1500:]}
    record[name]["part_seconds"] = time.perf_counter() - tic
    print(f"gpu bench: {name}: {json.dumps(record[name], default=str)[:400]}", flush=True)


def train_throughput(device: torch.device, *, clips: int, epochs: int) -> dict[str, Any]:
    from soundmorph.audio import synth
    from soundmorph.config import get_preset
    from soundmorph.data.dataset import ArrayClips
    from soundmorph.models import SpectrogramVAE
    from soundmorph.training import fit

    out: dict[str, Any] = {"clips": clips, "epochs": epochs}
    specs = synth.varied_specs(clips, seed=0)
    for name in ("paper", "default"):
        preset = get_preset(name)
        if preset.audio.clip_seconds is None:
            preset = preset.replace(audio={"clip_seconds": 3.5})
        preset = preset.replace(train={"epochs": epochs, "learning_rate": 1e-4, "batch_size": 32})
        n = preset.audio.clip_samples
        audio = np.stack([np.resize(synth.render(spec), n) for spec in specs]).astype(np.float32)
        losses = {}
        for precision in ("fp32", "bf16"):
            if precision == "bf16" and device.type != "cuda":
                continue
            torch.manual_seed(0)
            a = preset.audio
            model = SpectrogramVAE(preset.model, n_freq=a.n_freq, n_frames=a.clip_frames).to(device)
            _reset_peak(device)
            with tempfile.TemporaryDirectory() as folder:
                history = fit(
                    model, preset, Path(folder), ArrayClips(audio), progress=False, precision=precision
                )
            _sync(device)
            rates = [row.clips_per_second for row in history[1:]] or [history[0].clips_per_second]
            losses[precision] = history[-1].loss
            out[f"{name}_{precision}"] = {
                "clips_per_second": statistics.median(rates),
                "final_loss": history[-1].loss,
                "peak_gpu_mb": _peak_mb(device),
            }
        if "bf16" in losses:
            out[f"{name}_bf16_loss_change"] = losses["bf16"] / losses["fp32"] - 1
    return out


def library_and_morph(
    device: torch.device, *, clips: int, epochs: int, record: dict[str, Any]
) -> dict[str, Any]:
    from soundmorph import demo, session, workflow

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tic = time.perf_counter()
        demo.synth_library(root / "lib", count=clips, seed=0, progress=False)
        synth_seconds = time.perf_counter() - tic
        _reset_peak(device)
        tic = time.perf_counter()
        result = workflow.train(
            root / "lib", root / "model", epochs=epochs, learning_rate=1e-5, device=device, progress=False
        )
        wall = time.perf_counter() - tic
        rates = [row.clips_per_second for row in result.history[1:]] or [result.history[0].clips_per_second]
        library = {
            "clips": clips,
            "epochs": epochs,
            "synth_seconds": synth_seconds,
            "train_wall_seconds": wall,
            "clips_per_second": statistics.median(rates),
            "peak_gpu_mb": _peak_mb(device),
            "median_clip_seconds": result.model.info.preset.audio.clip_seconds,
        }
        record["synth_library"] = library
        model = session.load(root / "model", device=device)
        return morph_latency(model, device)


def morph_latency(model: Any, device: torch.device, repeats: int = 5) -> dict[str, Any]:
    def timed(job: Callable[[], object]) -> float:
        job()  # warm-up
        _sync(device)
        times = []
        for _ in range(repeats):
            tic = time.perf_counter()
            job()
            _sync(device)
            times.append(time.perf_counter() - tic)
        return statistics.median(times) * 1000

    from soundmorph.audio import phase
    from soundmorph.config import RenderOptions

    _reset_peak(device)
    morph_ms = timed(lambda: model.morph(0, 1, 0.5))
    gl32 = RenderOptions(method="gl", n_iter=32)
    morph_gl_ms = timed(lambda: model.morph(0, 1, 0.5, options=gl32))
    sweep_ms = timed(lambda: model.sweep(0, 1, steps=11))
    sweep_gl_ms = timed(lambda: model.sweep(0, 1, steps=11, options=gl32))
    a = model.info.preset.audio
    mags = torch.rand(64, a.n_freq, a.clip_frames, device=device)
    batch_gl_ms = timed(lambda: phase.reconstruct(mags, gl32, a, length=a.clip_samples))
    return {
        "morph_ms": morph_ms,
        "morph_gl32_ms": morph_gl_ms,
        "sweep11_ms": sweep_ms,
        "sweep11_ms_per_step": sweep_ms / 11,
        "sweep11_gl32_ms": sweep_gl_ms,
        "griffin_lim32_batch64_ms": batch_gl_ms,
        "render_default": f"{model.render_options.method}-{model.render_options.n_iter}",
        "clip_seconds": model.info.preset.audio.clip_seconds,
        "peak_gpu_mb": _peak_mb(device),
    }


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# soundmorph GPU benchmark\n",
        f"Device: {record['device_name']} (torch {record['torch']}, CUDA {record['cuda']}), "
        f"{record['date']}.{' **Dry run on the CPU: not GPU figures.**' if record['dry_run'] else ''}\n",
        "## Training (in-memory synthesized clips, per-batch STFT on the device, state saved every epoch)\n",
        "| preset | precision | clips/s | final loss | peak GPU MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    t = record.get("training", {})
    for key, value in t.items():
        if isinstance(value, dict) and "clips_per_second" in value:
            preset, precision = key.rsplit("_", 1)
            lines.append(
                f"| {preset} | {precision} | {value['clips_per_second']:.0f} | {value['final_loss']:.5g} | "
                f"{value['peak_gpu_mb'] if value['peak_gpu_mb'] is None else round(value['peak_gpu_mb'])} |"
            )
    for key, value in t.items():
        if key.endswith("loss_change"):
            lines.append(f"\n{key}: {value:+.2%} (bf16 final loss relative to fp32)")
    if "error" in t:
        lines.append(f"\nerror: {t['error']}")
    s = record.get("synth_library", {})
    lines += ["\n## Synthesized library end to end (cache + DataLoader + on-device STFT)\n"]
    lines.append("\n".join(f"- {k}: {v}" for k, v in s.items() if k != "trace"))
    m = record.get("morph", {})
    lines += ["\n## Morph latency (default preset, batched Griffin-Lim on the device)\n"]
    lines.append("\n".join(f"- {k}: {v}" for k, v in m.items() if k != "trace"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: checks the script")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    dry = args.dry_run or not torch.cuda.is_available()
    device = torch.device("cpu" if dry else "cuda")
    cuda = device.type == "cuda"
    record: dict[str, Any] = {
        "dry_run": dry,
        "requested_dry_run": args.dry_run,
        "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "gpu_total_mb": torch.cuda.get_device_properties(0).total_memory / 2**20 if cuda else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    sizes = (
        {"clips": 8, "epochs": 2, "lib": 12, "lib_epochs": 1}
        if dry
        else {"clips": 512, "epochs": 6, "lib": 1024, "lib_epochs": 3}
    )
    _part(record, "training", lambda: train_throughput(device, clips=sizes["clips"], epochs=sizes["epochs"]))
    _part(
        record,
        "morph",
        lambda: library_and_morph(device, clips=sizes["lib"], epochs=sizes["lib_epochs"], record=record),
    )
    record.setdefault("synth_library", {"error": "not reached"})
    args.out.mkdir(parents=True, exist_ok=True)
    name = "gpu-dry-run" if dry else "gpu"
    text = json.dumps(record, indent=2, default=str)
    (args.out / f"{name}.json").write_text(text + "\n")
    (args.out / f"{name}.md").write_text(markdown(record))
    print(f"wrote {args.out / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
