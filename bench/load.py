"""Load check of the web server: render latency one at a time (cold and cached), then 50 concurrent
render requests over loopback, with p50/p99/max latency, errors and whether the server still answers.

    python bench/load.py                 # trains a model on synthesized 3.4-s loops first (~20 s)
    python bench/load.py MODEL_FOLDER    # or uses this model
    python bench/load.py --torch-threads default 1   # one server per setting, compared

The server runs as ``python -m soundmorph serve MODEL --port 0`` in its own process, exactly as a
user starts it. Writes ``bench/results/load.json`` and ``bench/results/load.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results"
CONCURRENT = 50  # requests fired at once
REPEATS = 5  # of the concurrent requests ask for the same render (the cache must not break)
SEQUENTIAL = 20  # one-at-a-time renders for the cold latency
TARGET_MS = 150.0  # server time of one render, 3.4-s clip, 2 CPU cores
SYNTH_LOOPS = 16
TRAIN_EPOCHS = 2  # speed does not depend on how well the model is trained


def train_model(folder: Path) -> Path:
    """A default-preset model on synthesized loops of the reference length (3.43 s, 148 frames)."""
    from soundmorph import api, audio
    from soundmorph.audio import synth
    from soundmorph.config import PAPER_CLIP_SAMPLES, SAMPLE_RATE

    loops = folder / "loops"
    for spec in synth.library_specs(SYNTH_LOOPS, seed=0):
        audio.write(loops / f"{spec.name}.wav", synth.render(spec), sample_rate=SAMPLE_RATE)
    out = folder / "model"
    api.train(
        loops,
        out,
        preset="default",
        epochs=TRAIN_EPOCHS,
        clip_seconds=PAPER_CLIP_SAMPLES / SAMPLE_RATE,
        device="cpu",
        progress=False,
    )
    return out


def render_cpu(model: Path) -> dict[str, Any]:
    """One render in this process on one torch thread: wall time and the thread's CPU time.

    On a shared machine the wall time includes waiting for a core; the CPU time does not, so it
    estimates the wall time on an idle core.
    """
    import torch

    from soundmorph import api, latent

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sound_model = api.load(model, device="cpu")
        z_a, z_b = sound_model.latents[0], sound_model.latents[1]
        walls, cpus = [], []
        for k in range(SEQUENTIAL + 3):
            z = latent.lerp(z_a, z_b, k / (SEQUENTIAL + 3))
            wall, cpu = time.perf_counter(), time.thread_time()
            sound_model.render(z[None], ["x"])[0].wav_bytes()
            if k >= 3:  # warm-up
                walls.append(1e3 * (time.perf_counter() - wall))
                cpus.append(1e3 * (time.thread_time() - cpu))
    finally:
        torch.set_num_threads(previous)
    return {"wall_ms": summary(walls), "cpu_ms": summary(cpus)}


def start_server(model: Path, threads: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ)
    if threads != "default":
        env["OMP_NUM_THREADS"] = threads  # torch's intra-op threads in the server process
    command = [sys.executable, "-m", "soundmorph", "serve", str(model), "--port", "0", "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"at (http://\S+/) ", line)
    if not match:
        process.kill()
        raise SystemExit(
            f"the server did not start: {line!r} {process.stderr.read() if process.stderr else ''}"
        )
    return process, match.group(1).rstrip("/")


def stop_server(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return -9


def percentile(values: list[float], q: float) -> float:
    """``q``-th percentile (0..100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": round(percentile(values, 50), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


def morph(
    client: httpx.Client, alpha: float, a: int = 0, b: int = 1
) -> tuple[float, dict[str, Any] | None, str]:
    """(client ms, JSON or None, error) of one render request."""
    tic = time.perf_counter()
    try:
        response = client.get("/api/morph", params={"a": a, "b": b, "alpha": f"{alpha:.3f}"})
        elapsed = 1e3 * (time.perf_counter() - tic)
        if response.status_code != 200:
            return elapsed, None, f"{response.status_code}: {response.text[:120]}"
        return elapsed, response.json(), ""
    except httpx.HTTPError as error:
        return 1e3 * (time.perf_counter() - tic), None, f"{type(error).__name__}: {error}"


def sequential(client: httpx.Client) -> dict[str, Any]:
    """Renders one at a time: cold (distinct ratios), cached (the same again), the lazy PNG."""
    for alpha in (0.001, 0.002, 0.003):  # warm-up
        morph(client, alpha)
    alphas = [0.01 + 0.9 * k / SEQUENTIAL for k in range(SEQUENTIAL)]
    cold = [morph(client, alpha, 2, 3) for alpha in alphas]
    cached = [morph(client, alpha, 2, 3) for alpha in alphas]
    pngs = []
    for _, result, _ in cold[:5]:
        if result:
            tic = time.perf_counter()
            client.get(result["png"]).raise_for_status()
            pngs.append(1e3 * (time.perf_counter() - tic))
    return {
        "cold_client_ms": summary([ms for ms, _, _ in cold]),
        "cold_server_render_ms": summary([r["render_ms"] for _, r, _ in cold if r]),
        "cached_client_ms": summary([ms for ms, _, _ in cached]),
        "all_cached": all(r and r["cached"] for _, r, _ in cached),
        "png_first_request_ms": summary(pngs),
        "errors": sum(bool(e) for _, _, e in cold + cached),
    }


def concurrent(client: httpx.Client) -> dict[str, Any]:
    """``CONCURRENT`` render requests released at once: distinct ratios plus a few repeats."""
    alphas = [0.1 + 0.8 * k / (CONCURRENT - REPEATS) for k in range(CONCURRENT - REPEATS)] + [0.5] * REPEATS
    alphas = [round(a, 3) for a in alphas]
    start = threading.Barrier(CONCURRENT)
    results: list[tuple[float, dict[str, Any] | None, str]] = [(0.0, None, "")] * CONCURRENT

    def one(k: int) -> None:
        start.wait()
        results[k] = morph(client, alphas[k], 4, 5)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(CONCURRENT)]
    tic = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - tic
    errors = [e for _, _, e in results if e]
    wav_errors = 0
    for _, result, _ in results:  # every answer names audio that can be fetched
        if result and client.get(result["wav"]).status_code != 200:
            wav_errors += 1
    rendered = [r["render_ms"] for _, r, _ in results if r and not r["cached"]]
    return {
        "requests": CONCURRENT,
        "distinct": len(set(alphas)),
        "client_ms": summary([ms for ms, _, _ in results]),
        "server_render_ms": summary(rendered),
        "renders": len(rendered),
        "errors": len(errors),
        "error_samples": errors[:3],
        "wav_fetch_errors": wav_errors,
        "wall_s": round(wall, 2),
        "requests_per_s": round(CONCURRENT / wall, 1),
    }


def run(model: Path, threads: str) -> dict[str, Any]:
    process, url = start_server(model, threads)
    try:
        with httpx.Client(
            base_url=url, timeout=120, limits=httpx.Limits(max_connections=CONCURRENT + 4)
        ) as client:
            for _ in range(100):
                try:
                    library = client.get("/api/library").json()
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            one = sequential(client)
            many = concurrent(client)
            after = client.get("/api/library").status_code == 200 and morph(client, 0.987)[1] is not None
    finally:
        exit_status = stop_server(process)
    return {
        "torch_threads": threads,
        "model": library["model"],
        "sequential": one,
        "concurrent": many,
        "still_answers": after,
        "clean_exit": exit_status == 0,
    }


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    alone = report["render_in_process_1_thread"]
    lines = [
        "# Web server load check",
        "",
        f"`python bench/load.py` on {m['cpu_count']} CPU cores ({m['cpu']}), torch {m['torch']}; "
        f"load average before: {m['load_average']}, after: {report['load_average_after']} "
        "(other jobs shared the machine when the load average exceeds the core count).",
        f"Model: {report['model_source']}; clip {report['runs'][0]['model']['clip_seconds']} s, "
        f"{report['runs'][0]['model']['frames']} frames, Griffin-Lim 32. Target: one render well under "
        f"{TARGET_MS:.0f} ms of server time; {CONCURRENT} concurrent requests with 0 errors.",
        "",
        "## One render at a time (ms)",
        "",
        f"In-process, one torch thread: wall p50 {alone['wall_ms']['p50']} ms, "
        f"CPU time p50 {alone['cpu_ms']['p50']} ms (p99 {alone['cpu_ms']['p99']}) "
        "(the CPU time is what the wall time would be on an idle core).",
        "",
        "Through the server (`render_ms` is the server's own time for decode + Griffin-Lim + WAV):",
        "",
        "| torch threads | server render p50 | p99 | client p50 (cold) | client p50 (cached) "
        "| PNG on first ask p50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["runs"]:
        s = r["sequential"]
        lines.append(
            f"| {r['torch_threads']} | {s['cold_server_render_ms']['p50']} "
            f"| {s['cold_server_render_ms']['p99']} | {s['cold_client_ms']['p50']} "
            f"| {s['cached_client_ms']['p50']} | {s['png_first_request_ms']['p50']} |"
        )
    lines += [
        "",
        f"## {CONCURRENT} concurrent render requests ({CONCURRENT - REPEATS} distinct + {REPEATS} repeats)",
        "",
        "| torch threads | client p50 ms | p99 ms | max ms | server render p50 ms | errors | req/s "
        "| still answers |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["runs"]:
        c = r["concurrent"]
        lines.append(
            f"| {r['torch_threads']} | {c['client_ms']['p50']} | {c['client_ms']['p99']} "
            f"| {c['client_ms']['max']} "
            f"| {c['server_render_ms'].get('p50', '-')} | {c['errors'] + c['wav_fetch_errors']} "
            f"| {c['requests_per_s']} | {'yes' if r['still_answers'] else 'NO'} |"
        )
    lines += [
        "",
        "Renders are serialised on one torch thread (they share the CPU cores), so a burst queues:",
        "the client's p99 is about the number of distinct requests times one render. Repeats wait for the",
        "first and are then served from the cache.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "model", nargs="?", type=Path, help="model folder (default: train one on synthesized loops)"
    )
    parser.add_argument(
        "--torch-threads", nargs="+", default=["default"], help="'default' or a count, per run"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    before = machine()
    with tempfile.TemporaryDirectory(prefix="soundmorph-load-") as scratch:
        if args.model is None:
            print("training a model on synthesized loops...", flush=True)
            model = train_model(Path(scratch))
            source = f"default preset, {TRAIN_EPOCHS} epochs on {SYNTH_LOOPS} synthesized loops"
        else:
            model, source = args.model, str(args.model)
        print("one render in-process, one thread...", flush=True)
        in_process = render_cpu(model)
        runs = []
        for threads in args.torch_threads:
            print(f"server with torch threads: {threads}", flush=True)
            runs.append(run(model, threads))
            print(json.dumps(runs[-1]["sequential"]), json.dumps(runs[-1]["concurrent"]), flush=True)
    report = {
        "machine": before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "model_source": source,
        "render_in_process_1_thread": in_process,
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "load.md").write_text(markdown(report))
    print(markdown(report))
    ok = all(
        r["still_answers"] and r["concurrent"]["errors"] == 0 and r["concurrent"]["wav_fetch_errors"] == 0
        for r in runs
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
