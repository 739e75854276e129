"""What every benchmark shares: the data set and its split, the machine record, result files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soundmorph import audio, data
from soundmorph.audio import synth
from soundmorph.audio.io import Skipped
from soundmorph.config import AudioConfig, Preset
from soundmorph.errors import AudioError
from soundmorph.limits import MAX_CLIP_SECONDS, READ_MARGIN_SECONDS
from soundmorph.training.loop import batch_magnitudes

ROOT = Path(__file__).resolve().parent.parent
LOOPS = ROOT.parent / "shared" / "data" / "loops"  # real drum loops, read in place, never copied
RESULTS = Path(__file__).resolve().parent / "results"
HOLDOUT = 0.2  # 80/20 split, seeded and stable per file name (soundmorph.data.holdout_mask)
SEED = 0
SYNTH_CLIPS = 40  # size of the built-in synthesizer's library when the loops are absent
THREADS = 2  # the benchmark machine: 2 CPU cores


@dataclass
class Dataset:
    """A library fitted to one length with its split; ``source`` says where it came from."""

    source: str
    names: list[str]
    clips: np.ndarray  # [clips, samples] float32 at sample_rate, fitted to one length
    holdout: np.ndarray  # bool [clips]
    sample_rate: int
    median_seconds: float

    def fitted(self, config: AudioConfig) -> np.ndarray:
        """The clips fitted to ``config``'s clip length: [clips, samples] float32 (what training reads)."""
        return np.stack([audio.fit_length(clip, config.clip_samples) for clip in self.clips])

    def magnitudes(self, config: AudioConfig) -> torch.Tensor:
        """Magnitudes [clips, freq, frames] of the clips fitted to ``config``'s clip length."""
        return spectrograms(self.fitted(config), config)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "clips": len(self.names),
            "train": int((~self.holdout).sum()),
            "holdout": int(self.holdout.sum()),
            "holdout_fraction": HOLDOUT,
            "split_seed": SEED,
            "sample_rate": self.sample_rate,
            "median_seconds": round(self.median_seconds, 4),
        }


def load_dataset(folder: Path | None = None, *, sample_rate: int = 22_050, quick: bool = False) -> Dataset:
    """The real loops when present (else the built-in synthesizer's library), with the 80/20 split."""
    folder = folder if folder is not None else LOOPS
    if folder.is_dir() and any(folder.iterdir()):
        names, clips, _ = read_folder(folder, sample_rate=sample_rate)
        source = str(folder)
    else:
        specs = synth.library_specs(12 if quick else SYNTH_CLIPS, seed=SEED)
        names = [f"{spec.name}.wav" for spec in specs]
        clips = [synth.render(spec, sample_rate=sample_rate) for spec in specs]
        source = f"soundmorph.audio.synth ({len(specs)} loops, seed {SEED})"
    lengths = [len(clip) for clip in clips]
    from soundmorph.config import clip_seconds_from_lengths

    median = clip_seconds_from_lengths(lengths, sample_rate)
    longest = max(lengths)
    padded = np.stack([audio.fit_length(clip, longest) for clip in clips]).astype(np.float32)
    mask = data.holdout_mask(names, HOLDOUT, seed=SEED)
    return Dataset(source, names, padded, mask, sample_rate, median)


def read_folder(folder: Path, *, sample_rate: int) -> tuple[list[str], list[np.ndarray], list[Skipped]]:
    """(names, mono float32 clips at ``sample_rate``, skipped files) of the audio under ``folder``, in
    index order: the files as they are, not the package's int16 cache (up to the longest clip a
    model may have)."""
    found, skipped = audio.walk_audio(folder)
    names: list[str] = []
    clips: list[np.ndarray] = []
    for path in found:
        try:
            clips.append(
                audio.read(path, sample_rate=sample_rate, max_seconds=MAX_CLIP_SECONDS + READ_MARGIN_SECONDS)
            )
        except AudioError as error:
            skipped.append(Skipped.from_error(path, error))
            continue
        names.append(path.relative_to(folder).as_posix())
    return names, clips, skipped


def spectrograms(clips: np.ndarray, config: AudioConfig) -> torch.Tensor:
    """Magnitudes [clips, freq, frames] (float32, CPU) of fitted clips [clips, samples], a batch at a
    time."""
    batch = data.SPECTROGRAM_BATCH
    return torch.cat(
        [
            batch_magnitudes(torch.from_numpy(clips[start : start + batch]), config, torch.device("cpu"))
            for start in range(0, len(clips), batch)
        ]
    )


def with_length(preset: Preset, dataset: Dataset) -> Preset:
    """``preset`` with its clip length set (the library's median unless the preset fixes one)."""
    if preset.audio.clip_seconds is not None:
        return preset
    return preset.replace(audio={"clip_seconds": dataset.median_seconds})


ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_tile",
)  # what kernels use


def cpu_flags() -> list[str]:
    """The ISA flags of :data:`ISA_FLAGS` that ``/proc/cpuinfo`` lists (empty where it cannot be read)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return [flag for flag in ISA_FLAGS if flag in flags]


def math_libraries() -> dict[str, Any]:
    """torch's BLAS, oneDNN and capability, and numpy's BLAS: what the same model runs on."""
    config = torch.__config__.show()
    blas = next(
        (p.split("=", 1)[1] for p in config.replace(",", " ").split() if p.startswith("BLAS_INFO=")), ""
    )
    onednn = next(
        (line.strip(" -") for line in config.splitlines() if "MKL-DNN" in line or "oneDNN" in line), ""
    )
    try:
        numpy_blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]  # type: ignore[func-returns-value,index]
    except (TypeError, KeyError):
        numpy_blas = ""
    return {
        "torch_blas": blas,
        "torch_onednn": onednn,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy_blas": numpy_blas,
    }


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    try:
        import librosa

        librosa_version = librosa.__version__
    except ImportError:
        librosa_version = None
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        **math_libraries(),
        "load_average": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "librosa": librosa_version,
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell."""
    if isinstance(value, float):
        if value != value:  # nan
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]], digits: int = 3) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(fmt(cell, digits) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_results(name: str, record: dict[str, Any], markdown: str, out: Path | None = None) -> list[Path]:
    """Write ``out/<name>.json`` and ``out/<name>.md`` (``out`` defaults to ``bench/results``)."""
    out = RESULTS if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(record, indent=2, default=_jsonable) + "\n")
    md_path.write_text(markdown)
    return [json_path, md_path]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic | torch.Tensor):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def machine_line(record: dict[str, Any]) -> str:
    """``Machine: ...`` of a results page without a data split (its commit, a quick run marked)."""
    m = record["machine"]
    quick = " **Quick run: not representative.**" if record.get("quick") else ""
    return (
        f"Machine: {m['cpu']} ({m['cpu_count']} CPUs, torch {m['torch']}), {m['platform']}, {m['date']}, "
        f"commit {m['commit']}.{quick}\n"
    )


def header(title: str, record: dict[str, Any]) -> str:
    """The top of a results page: what ran where."""
    m, d = record["machine"], record["data"]
    return (
        f"# {title}\n\n"
        f"Machine: {m['cpu']} ({m['cpu_count']} CPUs, torch {m['torch']} with {m['torch_threads']} threads), "
        f"{m['platform']}, {m['date']}.  \n"
        f"ISA: {', '.join(m.get('cpu_flags', [])) or 'unknown'}; torch BLAS {m.get('torch_blas', '?')}, "
        f"{m.get('torch_onednn', '?')}, capability {m.get('torch_cpu_capability', '?')}; numpy BLAS "
        f"{m.get('numpy_blas', '?')}; load average {m.get('load_average', float('nan')):.2f} "
        "at the start.  \n"
        f"Data: {d['source']} — {d['clips']} clips, {d['train']} train / {d['holdout']} held out "
        f"(seed {d['split_seed']}).{' **Quick run: not representative.**' if record.get('quick') else ''}\n\n"
    )
