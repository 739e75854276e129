"""Decode time of an exported model (ONNX in onnxruntime, frozen TorchScript) against the package's
own decode, and the page's spectrogram picture (numpy) against the matplotlib figure.

The model is the default preset trained for one epoch on synthesized loops on a grid of 2 bars at
128 BPM (a decode's time depends on the architecture and the clip length, not on the training).
Every path is timed in the same process, warmed up, in turn within each repeat (a busy machine slows
them alike), as the median of repeats, on ``THREADS`` CPU threads.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import THREADS, machine, machine_line, table, write_results

CLIPS = 12  # synthesized loops the timing model is trained on
BATCHES = (1, 8)
BPM, BARS = 128.0, 2  # the model's grid


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    return _interleaved({"": fn}, repeats, warmup)[""]


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median milliseconds of each function, run in turn within every repeat, so that a busy
    machine slows all of them alike and their ratios hold."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            tic = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - tic))
    return {name: statistics.median(values) for name, values in times.items()}


def main(*, quick: bool = False, out: Path | None = None) -> list[Path]:
    import onnxruntime

    from soundmorph import api

    repeats = 5 if quick else 30
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        folder = Path(tmp)
        api.synth_library(folder / "loops", count=CLIPS, seed=0, progress=False)
        api.train(  # 2 bars at 128 BPM: 3.75-s clips, like the shared loops
            folder / "loops", folder / "model", epochs=1, bpm=BPM, bars=BARS, device="cpu", progress=False
        )
        model = api.load(folder / "model", device="cpu")
        api.export(model, folder / "onnx", format="onnx")
        api.export(model, folder / "ts", format="torchscript")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(folder / "onnx" / "decoder.onnx"), options, providers=["CPUExecutionProvider"]
        )
        scripted = torch.jit.load(str(folder / "ts" / "decoder.pt"))
        rows: list[list[Any]] = []
        record: dict[str, Any] = {
            "machine": machine(),
            "quick": quick,
            "clip_seconds": round(model.clip_samples / model.sample_rate, 3),
            "frames": model.info.n_frames,
            "latent_size": model.latent_size,
            "decode_ms": {},
        }
        generator = torch.Generator().manual_seed(0)
        for batch in BATCHES:
            index = torch.randint(len(model.latents), (batch,), generator=generator)
            z = model.latents[index].float()
            reference = model.decode(z).numpy()
            z_np = z.numpy()
            paths = {
                "soundmorph (torch, eager)": lambda z=z: model.decode(z),
                "TorchScript (frozen)": lambda z=z: scripted(z),
                "ONNX (onnxruntime)": lambda z_np=z_np: session.run(None, {"z": z_np}),
            }
            outputs = {
                "soundmorph (torch, eager)": reference,
                "TorchScript (frozen)": scripted(z).numpy(),
                "ONNX (onnxruntime)": session.run(None, {"z": z_np})[0],
            }
            timed = _interleaved(paths, repeats)
            base = timed["soundmorph (torch, eager)"]
            for name, ms in timed.items():
                error = float(np.abs(outputs[name] - reference).max() / np.abs(reference).max())
                record["decode_ms"][f"{name}, batch {batch}"] = {"ms": ms, "relative_error": error}
                rows.append([name, batch, ms, ms / batch, base / ms, f"{error:.1e}"])
        render_ms = _median_ms(lambda: model.morph(0, 1, 0.5), max(3, repeats // 5), warmup=1)
        record["morph_render_ms"] = render_ms
        sound = model.morph(0, 1, 0.5)
        picture = _interleaved(
            {
                "matplotlib figure (Sound.spectrogram_png)": sound.spectrogram_png,
                "numpy (Sound.spectrogram_image)": sound.spectrogram_image,
            },
            max(5, repeats // 2),
        )
        record["picture_ms"] = picture
        record["picture_shape"] = list(sound.magnitude.shape)
    speedups = list(picture.values())
    markdown = (
        "# Export: decode time against the package's\n\n"
        + machine_line(record)
        + f"\nModel: preset default, {record['clip_seconds']} s clips ({record['frames']} frames), "
        f"latent {record['latent_size']} numbers; {THREADS} CPU threads for torch and onnxruntime; "
        f"median of {repeats} runs after warm-up. Speed-up is the package's time over the path's.\n\n"
        + table(["path", "batch", "ms", "ms per clip", "speed-up", "max rel. error"], rows, digits=2)
        + f"\nA whole morph through the package (decode, the sources' detail, PGHI + 24 iterations, "
        f"whole bars) takes {render_ms:.0f} ms: the decode is a small part of a render.\n\n"
        "## The page's spectrogram picture\n\n"
        + table(["drawn by", "ms"], [[k, v] for k, v in picture.items()], digits=1)
        + f"\nnumpy is {speedups[0] / speedups[1]:.0f}x faster on a {record['picture_shape']} magnitude.\n"
    )
    return write_results("export", record, markdown, out)
