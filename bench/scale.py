"""``python -m bench scale``: peak memory and throughput against library size, and a 100k projection.

For each size it synthesizes a library (``soundmorph synth``; the smaller libraries are the first
files of the largest, so they are the same clips), then runs two commands as child processes while
sampling the memory of their whole process tree every 50 ms:

1. the cache build (``soundmorph.data.open_cache``, cold): seconds per clip, disk bytes per clip;
2. ``soundmorph train LIB --out M --epochs 1`` on the warm cache: peak memory, clips/s.

Memory is the sum of PSS (proportional set size: a page shared by a process and its forked workers
counts once) over the process and its children, and the RSS of the main process. Projections to
100k clips are linear fits through the measured sizes.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, fmt, machine, machine_line, table, write_results

SIZES = (300, 3_000)  # clips; 30,000 is projected (synthesizing it takes ~25 min on 2 cores)
QUICK_SIZES = (30, 120)
PROJECT_TO = (30_000, 100_000)
TARGET_DELTA_MB = 400.0  # the target: peak within 400 MB from 300 to 3,000 clips
TARGET_100K_GB = 4.0
# The same grid for every size, so that sizes compare like for like (a library's own grid depends on
# its median tempo and most common bar count: 2 bars for the first 300 files, 1 for all 3,000)
FIXED_GRID = ("--bpm", "125", "--bars", "2")
SAMPLE_SECONDS = 0.05
WORK = ROOT / "bench" / ".work" / "scale"  # git-ignored scratch space


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [grand for kid in kids for grand in _children(kid)]


def _kib(path: str, field: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run_measured(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``; wall time, peak tree PSS and peak main RSS (MB), exit status, stderr tail."""
    tic = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks = {"pss": 0, "rss": 0, "processes": 1}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = [child.pid, *_children(child.pid)]
            pss = sum(_kib(f"/proc/{p}/smaps_rollup", "Pss") for p in tree)
            peaks["pss"] = max(peaks["pss"], pss)
            peaks["rss"] = max(peaks["rss"], _kib(f"/proc/{child.pid}/status", "VmRSS"))
            peaks["processes"] = max(peaks["processes"], len(tree))
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    return {
        "seconds": time.perf_counter() - tic,
        "peak_pss_mb": peaks["pss"] / 1024,
        "peak_main_rss_mb": peaks["rss"] / 1024,
        "processes": peaks["processes"],
        "returncode": child.returncode,
        "stdout": out[-2000:],
        "stderr": err[-2000:],
    }


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def measure_size(library: Path, work: Path, env: dict[str, str]) -> dict[str, Any]:
    clips = len(list(library.glob("*.wav")))
    cache_env = {**env, "SOUNDMORPH_CACHE": str(work / "cache")}
    build = run_measured(
        _python(
            "from soundmorph.data import open_cache; "
            f"c, r = open_cache({str(library)!r}, sample_rate=22050, progress=False); "
            "print(len(c), r.decoded, r.skipped, c.median_seconds(), "
            "sum(p.stat().st_size for p in c.folder.glob('shard-*')))"
        ),
        cache_env,
    )
    assert build["returncode"] == 0, build["stderr"]
    _, decoded, skipped, median, disk = build["stdout"].split()
    auto = _train(library, work / "model", cache_env, ())
    grid_bytes = sum(p.stat().st_size for p in (work / "cache").glob("*/grid-*/shard-*"))
    fixed = _train(library, work / "model-fixed", cache_env, FIXED_GRID)
    return {
        "clips": clips,
        "decoded": int(decoded),
        "skipped": int(skipped),
        "median_seconds": float(median),
        "cache_bytes": int(disk),
        "cache_seconds": build["seconds"],
        "cache_seconds_per_clip": build["seconds"] / clips,
        "cache_peak_pss_mb": build["peak_pss_mb"],
        **auto,
        "grid_bytes": grid_bytes,  # the library's own grid
        **{f"fixed_{key}": value for key, value in fixed.items()},
    }


def _train(library: Path, out: Path, env: dict[str, str], grid: tuple[str, ...]) -> dict[str, Any]:
    """``soundmorph train LIBRARY --out OUT --epochs 1`` (with the ``grid`` options), measured."""
    command = [sys.executable, "-m", "soundmorph", "train", str(library), "--out", str(out), *grid]
    train = run_measured([*command, "--epochs", "1", "--device", "cpu", "--force"], env)
    assert train["returncode"] == 0, train["stderr"]
    with (out / "history.csv").open() as handle:
        history = list(csv.DictReader(handle))
    tempo = json.loads((out / "config.json").read_text())["preset"]["tempo"]
    latents = out / "latents.safetensors"
    clips = len(list(library.glob("*.wav")))
    return {
        "train_seconds": train["seconds"],
        "train_peak_pss_mb": train["peak_pss_mb"],
        "train_peak_main_rss_mb": train["peak_main_rss_mb"],
        "train_processes": train["processes"],
        "epoch_seconds": float(history[-1]["seconds"]),
        "grid": f"{tempo['bars']} bars at {tempo['bpm']} BPM" if tempo["mode"] == "loop" else tempo["mode"],
        "latent_bytes_per_clip": latents.stat().st_size / clips if latents.exists() else 0.0,
        "clips_per_second": float(history[-1]["clips_per_second"]),
    }


def _line(x: list[float], y: list[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through (x, y)."""
    mx, my = sum(x) / len(x), sum(y) / len(y)
    var = sum((a - mx) ** 2 for a in x)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / var if var else 0.0
    return my - slope * mx, slope


def project(rows: list[dict[str, Any]], gpu: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Linear in the clip count, from the largest measurement. A memory slope is at least what the
    main process must hold per clip (the library's latents, counted three times: the tensor, its
    pieces before concatenation and the index), never negative: between two noisy points a flat
    curve can fit a falling line, and memory does not fall with the library."""
    largest = rows[-1]
    floor = 3 * max(float(r.get("fixed_latent_bytes_per_clip", 0.0)) for r in rows) / 2**20
    x = [float(r["clips"]) for r in rows]
    fits = {}
    for key in ("fixed_train_peak_main_rss_mb", "fixed_train_peak_pss_mb", "cache_peak_pss_mb"):
        slope = max(_line(x, [float(r[key]) for r in rows])[1], floor if "train" in key else 0.0)
        fits[key.removeprefix("fixed_")] = (largest[key] - slope * largest["clips"], slope)
    per_clip_cache = max(r["cache_seconds_per_clip"] for r in rows)
    per_clip_bytes = sum(r["cache_bytes"] / r["clips"] for r in rows) / len(rows)
    cpu_rate = min(r["fixed_clips_per_second"] for r in rows)
    gpu_rate = float(gpu["synth_library"]["clips_per_second"]) if gpu and "synth_library" in gpu else None
    out = []
    for n in PROJECT_TO:
        row: dict[str, Any] = {"clips": n}
        for key, (a, b) in fits.items():
            row[key] = a + b * n
        row["cache_hours"] = per_clip_cache * n / 3600
        row["cache_gb"] = per_clip_bytes * n / 1e9
        row["grid_gb"] = largest.get("grid_bytes", 0) / largest["clips"] * n / 1e9
        row["cpu_epoch_hours"] = n / cpu_rate / 3600
        row["gpu_epoch_minutes"] = n / gpu_rate / 60 if gpu_rate else None
        out.append(row)
    return out


def main(*, quick: bool = False, out: Path, keep: bool = False) -> list[Path]:
    sizes = QUICK_SIZES if quick else SIZES
    WORK.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "2"}
    largest = WORK / f"synth-{max(sizes)}"
    tic = time.perf_counter()
    if not (largest / "synth.jsonl").exists():
        shutil.rmtree(largest, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "soundmorph",
                "synth",
                str(largest),
                "--count",
                str(max(sizes)),
                "--seed",
                "0",
            ],
            env=env,
            check=True,
        )
    synth_seconds = time.perf_counter() - tic
    rows = []
    for size in sizes:
        library = largest if size == max(sizes) else WORK / f"synth-{size}"
        if size != max(sizes) and not library.exists():
            library.mkdir()
            for path in sorted(largest.glob("*.wav"))[:size]:
                os.link(path, library / path.name)
        work = WORK / f"run-{size}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        print(f"scale: {size} clips ...", flush=True)
        rows.append(measure_size(library, work, env))
        print(json.dumps(rows[-1]), flush=True)
    gpu_path = out / "gpu.json"
    gpu = json.loads(gpu_path.read_text()) if gpu_path.exists() else None
    projected = project(rows, gpu)
    delta = rows[-1]["train_peak_pss_mb"] - rows[0]["train_peak_pss_mb"]
    fixed_delta = rows[-1]["fixed_train_peak_pss_mb"] - rows[0]["fixed_train_peak_pss_mb"]
    record = {
        "machine": machine()
        | ({"commit": os.environ["BENCH_COMMIT"]} if "BENCH_COMMIT" in os.environ else {}),
        "quick": quick,
        "synth_seconds": synth_seconds,
        "measured": rows,
        "projected": projected,
        "peak_delta_mb": delta,
        "fixed_peak_delta_mb": fixed_delta,
        "fixed_grid": " ".join(FIXED_GRID),
        "target_delta_mb": TARGET_DELTA_MB,
        "target_100k_gb": TARGET_100K_GB,
        "gpu_source": str(gpu_path) if gpu else None,
    }
    if not keep:
        shutil.rmtree(WORK / "run-300", ignore_errors=True)
    return write_results("scale", record, _markdown(record), out)


TRAIN_HEADERS = [
    "grid",
    "train wall s",
    "train peak PSS MB",
    "main RSS MB",
    "processes",
    "clips/s",
    "epoch s",
]


def _train_cells(row: dict[str, Any], prefix: str = "") -> list[Any]:
    """A measured row's training figures (``prefix``: ``"fixed_"`` for the fixed-grid run)."""
    keys = ["grid", "train_seconds", "train_peak_pss_mb", "train_peak_main_rss_mb", "train_processes"]
    return [row.get(prefix + key, "?") for key in [*keys, "clips_per_second", "epoch_seconds"]]


def _markdown(record: dict[str, Any]) -> str:
    lines = [
        "# soundmorph scale benchmark\n",
        machine_line(record),
        "Libraries from `soundmorph synth --seed 0` (80-175 BPM, 1/2/4 bars; the smaller library is the "
        "first files of the larger). Each size: a cold cache build, then "
        "`soundmorph train LIB --out M --epochs 1` (default preset, CPU) on the warm cache; its wall time "
        "includes finding every file's tempo and building the beat-grid store (once per library and "
        "grid; `grid MB` on disk). Each library gets the grid its loops resolve to (the median tempo, "
        "the most common bar count), so clips/s compare only between rows of the same grid. "
        "Memory: peak PSS summed over the process and its worker processes, "
        "sampled every 50 ms, and the main process's peak RSS.\n",
        "## Measured\n",
        table(
            ["clips", "median s", "cache ms/clip", "cache MB", "cache peak MB", "grid MB", *TRAIN_HEADERS],
            [
                [
                    r["clips"],
                    r["median_seconds"],
                    r["cache_seconds_per_clip"] * 1000,
                    r["cache_bytes"] / 1e6,
                    r["cache_peak_pss_mb"],
                    r.get("grid_bytes", 0) / 1e6,
                    *_train_cells(r),
                ]
                for r in record["measured"]
            ],
            digits=1,
        ),
        f"\nPeak training memory from the smallest to the largest library: {record['peak_delta_mb']:+.0f} MB "
        f"(target: within {record['target_delta_mb']:.0f} MB).\n",
        f"\n### The same grid for every size (`train LIB --epochs 1 {record['fixed_grid']}`)\n",
        table(
            ["clips", *TRAIN_HEADERS],
            [[r["clips"], *_train_cells(r, "fixed_")] for r in record["measured"]],
            digits=1,
        ),
        f"\nPeak training memory on the same grid: {record['fixed_peak_delta_mb']:+.0f} MB from the smallest "
        "to the largest library.\n",
        "## Projected (from the same-grid runs, the largest library; memory slopes: at least the "
        "per-clip latents, never negative)\n",
        table(
            [
                "clips",
                "train peak PSS MB",
                "cache build h (this CPU)",
                "cache GB",
                "grid GB",
                "epoch h (this CPU)",
                "epoch min (1 GPU)",
            ],
            [
                [
                    p["clips"],
                    p["train_peak_pss_mb"],
                    p["cache_hours"],
                    p["cache_gb"],
                    p.get("grid_gb", 0.0),
                    p["cpu_epoch_hours"],
                    fmt(p["gpu_epoch_minutes"]) if p["gpu_epoch_minutes"] is not None else "not measured",
                ]
                for p in record["projected"]
            ],
            digits=2,
        ),
        "\nThe GPU column divides by the synthesized-library training throughput of bench/results/gpu.json "
        "when it exists (`bench/gpu.sh` on a GPU).\n",
    ]
    return "\n".join(lines)
