"""Two processes with torchrun (gloo on the CPU): the same model as one process, resumable on one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from soundmorph import workflow
from soundmorph.training import checkpoint, distributed

SRC = Path(__file__).resolve().parents[2] / "src"
SETTINGS = ("--epochs", "2", "--batch-size", "3", "--lr", "1e-3", "--clip-seconds", "1", "--seed", "5")
CLOSE = 1e-4  # largest weight difference allowed between 1 and 2 processes, relative to the largest weight


def relative_difference(a: Path, b: Path, name: str = checkpoint.WEIGHTS_FILE) -> float:
    wa, wb = load_file(a / name), load_file(b / name)
    assert wa.keys() == wb.keys()
    scale = max(float(v.abs().max()) for v in wa.values())
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa) / scale


def test_one_process_is_a_world_of_one() -> None:
    world = distributed.current()
    assert (world.rank, world.size, world.is_main) == (0, 1, True)
    assert distributed.on_main(world, lambda: 42) == 42
    values = torch.ones(3)
    assert torch.equal(distributed.all_sum(values, world), torch.ones(3))


def test_two_gloo_processes_train_the_one_process_model(loops_dir: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "OMP_NUM_THREADS": "1",
        "SOUNDMORPH_CACHE": str(tmp_path / "cache"),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [
        "-m",
        "soundmorph",
        "train",
        str(loops_dir),
        "--out",
        str(tmp_path / "two"),
        "--device",
        "cpu",
        "--preset",
        "linear",  # no batch-level augmentation (the sequence preset mixes clips within a rank's batch)
    ]
    done = subprocess.run([*command, *SETTINGS], env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]

    same = {"epochs": 2, "batch_size": 3, "learning_rate": 1e-3, "clip_seconds": 1.0, "seed": 5}  # SETTINGS
    workflow.train(loops_dir, tmp_path / "one", preset="linear", device="cpu", progress=False, **same)  # type: ignore[arg-type]
    assert relative_difference(tmp_path / "one", tmp_path / "two") < CLOSE
    report = workflow.evaluate(tmp_path / "two", device="cpu")
    assert report["summary"]["train"]["model"]["clips"] == 6

    # resume on one process what two processes started: the same as one process all along
    workflow.train(loops_dir, tmp_path / "two", epochs=3, resume=True, device="cpu", progress=False)
    workflow.train(loops_dir, tmp_path / "one", epochs=3, resume=True, device="cpu", progress=False)
    assert relative_difference(tmp_path / "one", tmp_path / "two") < CLOSE
