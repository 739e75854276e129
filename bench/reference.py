"""The reference measured, not quoted: the seed notebook's model in TensorFlow beside soundmorph's
``paper``, on the same loops, in the same run.

``python -m bench.reference [--tf-python PATH] [--data DIR] [--epochs 8] [--rounds 2]``

TensorFlow is never a dependency of soundmorph: the reference runs as a child process of a Python
that has it (``--tf-python``, else ``$SOUNDMORPH_TF_PYTHON``, else this Python when it can import
tensorflow; without one the bench says so and stops), e.g.::

    python -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow==2.21.0 soundfile soxr numpy librosa

Each round runs, one after the other: the reference in its two forms (``conv``: the notebook's
Conv2D layers; ``dense``: the same function as Dense layers, see :mod:`bench.reference_tf`), then
``paper`` through soundmorph's own :func:`soundmorph.training.fit`, each in a fresh process: in fp32
(the reference's numerics), in bf16 autocast (opt-in), and in fp32 with torch's threads spinning
(``OMP_WAIT_POLICY=ACTIVE``, torch's default, which soundmorph keeps; the branch that measured
this set ``PASSIVE`` for a while), on every
loop of the folder (no held-out split: the notebook trains on all), batch 16, the resumable state
written every epoch as the CLI does. An
epoch's time is the median epoch after the first two of each run (warm-up: tracing, caches) over
every round; a morph is encode 2 + lerp 0.5 + decode + Griffin-Lim 32 -> audio (librosa's, as the
notebook, for the reference), the median of ``--morphs`` after two warm-up calls.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import LOOPS, RESULTS, ROOT, THREADS, machine, read_folder, table, write_results
from soundmorph import audio, latent
from soundmorph.audio import phase
from soundmorph.config import get_preset
from soundmorph.data.dataset import ArrayClips
from soundmorph.training import fit
from soundmorph.training.checkpoint import ModelInfo

WORKER = Path(__file__).with_name("reference_tf.py")
WARMUP_EPOCHS = 2  # dropped from every run's epochs: tracing, primitive caches, first allocations
FORMS = ("conv", "dense")
# soundmorph's runs: (name, precision, OMP_WAIT_POLICY); "ACTIVE" is torch's default (spinning
# threads), which soundmorph keeps; "PASSIVE" is what a user may set on a shared CPU
OURS = (
    ("paper fp32", "fp32", "PASSIVE"),
    ("paper bf16", "bf16", "PASSIVE"),
    ("paper fp32, threads spinning", "fp32", "ACTIVE"),
)


def tf_python(given: str | None) -> str | None:
    """The Python that runs the reference: ``given``, ``$SOUNDMORPH_TF_PYTHON``, or this one when it
    has tensorflow; None when there is none."""
    if given:
        return given
    if os.environ.get("SOUNDMORPH_TF_PYTHON"):
        return os.environ["SOUNDMORPH_TF_PYTHON"]
    return sys.executable if importlib.util.find_spec("tensorflow") is not None else None


def reference_run(
    python: str, folder: Path, *, form: str, epochs: int, morphs: int, threads: int, samples: int
) -> dict[str, Any]:
    """One run of :mod:`bench.reference_tf` in a child process: its JSON record.

    The notebook's Conv2D over the whole frequency axis aborts TensorFlow 2.21's oneDNN kernels on
    this machine (``Check failed: dtype() == expected_dtype``, a kernel 256 bins tall or more), so
    the ``conv`` form runs with ``TF_ENABLE_ONEDNN_OPTS=0`` (Eigen's kernels), as a user of the
    notebook here would have to; the ``dense`` form runs with oneDNN (TensorFlow's default).
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if form == "conv":
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    command = [python, str(WORKER), str(folder), f"--samples={samples}", f"--epochs={epochs}"]
    command += [f"--morphs={morphs}", f"--threads={threads}", f"--form={form}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"form": form, "error": f"exit {result.returncode}: {tail[:300]}"}
    record: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return record


def paper_run(
    clips: np.ndarray, *, precision: str, epochs: int, morphs: int, save_every: int = 1
) -> dict[str, Any]:
    """``paper`` trained by :func:`soundmorph.training.fit` on ``clips`` [clips, samples] (no split),
    its state written every ``save_every`` epochs; then its morph timed as the reference's."""
    preset = get_preset("paper").replace(train={"epochs": epochs})
    a = preset.audio
    torch.manual_seed(0)
    model = ModelInfo(preset, a.n_freq, a.clip_frames).build()
    ends: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        tic = time.perf_counter()
        history = fit(
            model,
            preset,
            Path(folder),
            ArrayClips(clips),
            None,
            progress=False,
            precision=precision,  # type: ignore[arg-type]
            save_every=save_every,
            on_epoch=lambda _: ends.append(time.perf_counter()),
        )
        wall = time.perf_counter() - tic
    model.eval()
    pair = torch.from_numpy(clips[:2])
    mags = model_magnitudes(pair, preset)

    @torch.no_grad()
    def morph() -> torch.Tensor:
        z = model.encode(mags).mode()
        decoded = model.decode(latent.lerp(z[0], z[1], 0.5)[None])
        return phase.reconstruct(decoded, preset.phase, a, length=a.clip_samples)

    @torch.no_grad()
    def decode_only() -> torch.Tensor:
        z = model.encode(mags).mode()
        return model.decode(latent.lerp(z[0], z[1], 0.5)[None])

    return {
        "precision": precision,
        "save_every": save_every,
        "clips": len(clips),
        "wall_seconds": wall,
        "epoch_seconds": [h.seconds for h in history],
        # between the ends of successive epochs: what the state's snapshot and write add
        "epoch_interval_seconds": [b - a for a, b in itertools.pairwise(ends)],
        "morph_ms": timed(morph, morphs),
        "encode_decode_ms": timed(decode_only, morphs),
    }


def paper_child(folder: Path, *, precision: str, policy: str, epochs: int, morphs: int) -> dict[str, Any]:
    """:func:`paper_run` in a fresh process (as the reference runs) with ``OMP_WAIT_POLICY=policy``."""
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    command = [sys.executable, "-m", "bench.reference", "--child", precision, f"--data={folder}"]
    command += [f"--epochs={epochs}", f"--morphs={morphs}", f"--threads={torch.get_num_threads()}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=ROOT)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {result.returncode}: {tail[:300]}"}
    record: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return record | {"omp_wait_policy": policy}


def library(folder: Path) -> tuple[np.ndarray, int]:
    """(clips [clips, samples] float32 fitted to ``paper``'s length, files skipped) of ``folder``."""
    a = get_preset("paper").audio
    _, raw, skipped = read_folder(folder, sample_rate=a.sample_rate)
    return np.stack([audio.fit_length(clip, a.clip_samples) for clip in raw]).astype(np.float32), len(skipped)


def model_magnitudes(pair: torch.Tensor, preset: Any) -> torch.Tensor:
    """Magnitudes [2, freq, frames] of two clips with the preset's STFT settings."""
    from soundmorph.audio import spectral

    a = preset.audio
    return spectral.magnitude(pair, n_fft=a.n_fft, hop_length=a.hop_length, win_length=a.win_length)


def timed(fn: Any, repeats: int) -> list[float]:
    """ms of ``repeats`` calls of ``fn`` after two warm-up calls."""
    fn()
    fn()
    out = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - tic))
    return out


def steady(epochs: list[float]) -> list[float]:
    """The epochs after :data:`WARMUP_EPOCHS` (all of them when there are no more)."""
    return epochs[WARMUP_EPOCHS:] or epochs


def run(python: str, folder: Path, *, epochs: int, rounds: int, morphs: int, threads: int) -> dict[str, Any]:
    samples = get_preset("paper").audio.clip_samples
    clips, skipped = library(folder)
    record: dict[str, Any] = {
        "machine": machine(),
        "data": {"source": str(folder), "clips": len(clips), "skipped": skipped},
        "settings": {"epochs": epochs, "rounds": rounds, "morphs": morphs, "threads": threads},
        "runs": [],
    }
    for index in range(rounds):
        for form in FORMS:
            load = os.getloadavg()[0]
            row = reference_run(
                python, folder, form=form, epochs=epochs, morphs=morphs, threads=threads, samples=samples
            )
            record["runs"].append({"system": f"reference {form}", "round": index, "load": load, **row})
            print(f"round {index}: reference {form}: {summary(row)}", flush=True)
        for name, precision, policy in OURS:
            load = os.getloadavg()[0]
            row = paper_child(folder, precision=precision, policy=policy, epochs=epochs, morphs=morphs)
            record["runs"].append({"system": name, "round": index, "load": load, **row})
            print(f"round {index}: {name}: {summary(row)}", flush=True)
    record["summary"] = summarise(record["runs"])
    return record


def summary(row: dict[str, Any]) -> str:
    if "error" in row:
        return row["error"]
    epoch = statistics.median(steady(row["epoch_seconds"]))
    return f"epoch {epoch:.3f} s, morph {statistics.median(row['morph_ms']):.1f} ms"


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per system: median steady epoch over every round, median morph, and the reference's times
    over paper fp32's (how many times faster ``paper`` is)."""
    systems: dict[str, dict[str, list[float]]] = {}
    for row in runs:
        if "error" in row:
            continue
        slot = systems.setdefault(row["system"], {"epoch": [], "interval": [], "morph": [], "decode": []})
        slot["epoch"] += steady(row["epoch_seconds"])
        slot["interval"] += steady(row.get("epoch_interval_seconds", row["epoch_seconds"]))
        slot["morph"] += row["morph_ms"]
        slot["decode"] += row["encode_decode_ms"]
    out = []
    for name, slot in systems.items():
        out.append(
            {
                "system": name,
                "epoch_s": statistics.median(slot["epoch"]),
                "epoch_interval_s": statistics.median(slot["interval"]),
                "morph_ms": statistics.median(slot["morph"]),
                "encode_decode_ms": statistics.median(slot["decode"]),
            }
        )
    return out


def markdown(record: dict[str, Any]) -> str:
    m, s = record["machine"], record["settings"]
    tf = next((r for r in record["runs"] if "tensorflow" in r), {})
    md = (
        "# soundmorph `paper` beside the reference (TensorFlow), same run\n\n"
        f"Machine: {m['cpu']} ({m['cpu_count']} CPUs), {m['platform']}, {m['date']}, "
        f"commit {m['commit']}.  \n"
        f"ISA: {', '.join(m.get('cpu_flags', [])) or 'unknown'}; torch {m['torch']} "
        f"(BLAS {m['torch_blas']}, {m['torch_onednn']}, capability {m['torch_cpu_capability']}); "
        f"TensorFlow {tf.get('tensorflow', '?')} "
        f"(Keras {tf.get('keras', '?')}), librosa {tf.get('librosa', '?')}; {s['threads']} threads each; "
        f"load average {m['load_average']:.2f} at the start.  \n"
        f"Data: {record['data']['source']}, {record['data']['clips']} clips, all trained on (no split), "
        f"batch 16, {s['epochs']} epochs a run, {s['rounds']} round(s); epoch = median after the first "
        f"{WARMUP_EPOCHS} of each run.\n\n"
    )
    rows = []
    by_name = {row["system"]: row for row in record["summary"]}
    for row in record["summary"]:
        rows.append(
            [row["system"], row["epoch_s"], row["epoch_interval_s"], row["morph_ms"], row["encode_decode_ms"]]
        )
    md += table(["system", "epoch s", "epoch-to-epoch s", "morph ms", "encode+decode ms"], rows, digits=3)
    md += "\nSpeed-up of `paper` (reference time / paper time, same run):\n\n"
    rows = []
    for ours in (name for name, _, _ in OURS):
        for ref in (f"reference {f}" for f in FORMS):
            if ours in by_name and ref in by_name:
                o, r = by_name[ours], by_name[ref]
                rows.append(
                    [
                        ours,
                        ref,
                        r["epoch_s"] / o["epoch_s"],
                        r["epoch_interval_s"] / o["epoch_interval_s"],
                        r["morph_ms"] / o["morph_ms"],
                    ]
                )
    md += table(["ours", "against", "per epoch", "epoch-to-epoch", "per morph"], rows, digits=2)
    errors = [f"- {r['system']} (round {r['round']}): {r['error']}" for r in record["runs"] if "error" in r]
    if errors:
        md += "\nRuns that failed:\n\n" + "\n".join(errors) + "\n"
    return md


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.split("\n")[0])
    parser.add_argument("--tf-python", help="a Python with tensorflow (default: $SOUNDMORPH_TF_PYTHON)")
    parser.add_argument("--data", type=Path, default=LOOPS, help="folder of loops (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs a run (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every system (default %(default)s)")
    parser.add_argument("--morphs", type=int, default=10, help="timed morphs a run (default %(default)s)")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads (default %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default %(default)s)")
    parser.add_argument("--child", choices=["fp32", "bf16"], help=argparse.SUPPRESS)  # one paper run
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        clips, _ = library(args.data)
        row = paper_run(clips, precision=args.child, epochs=args.epochs, morphs=args.morphs)
        print(json.dumps(row))
        return 0
    python = tf_python(args.tf_python)
    if python is None:
        print("bench.reference: no Python with tensorflow (--tf-python or $SOUNDMORPH_TF_PYTHON); skipped")
        return 0
    if not args.data.is_dir():
        print(f"bench.reference: {args.data}: not a folder of loops")
        return 1
    record = run(
        python, args.data, epochs=args.epochs, rounds=args.rounds, morphs=args.morphs, threads=args.threads
    )
    for path in write_results("reference", record, markdown(record), out=args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
