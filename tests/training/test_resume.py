"""Crash safety: Ctrl-C, a double Ctrl-C, kill -9 at random moments, stale temporaries, disk writes.

Every stop must cost at most the epoch in progress, leave a folder that either loads as what it is
or is refused with one line, and resume to exactly the weights of a run that never stopped.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from soundmorph import training, workflow
from soundmorph.config import Preset, get_preset
from soundmorph.data.dataset import ArrayClips
from soundmorph.errors import SoundmorphError
from soundmorph.models import SpectrogramVAE
from soundmorph.training import checkpoint, loop


def noise_clips(count: int = 6, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """Decaying noise bursts [count, samples]: enough structure to train on, no files needed."""
    rng = np.random.default_rng(seed)
    n = round(seconds * 22_050)
    envelope = np.exp(-(np.arange(n) % 5513) / 800.0)
    return (rng.standard_normal((count, n)) * envelope * rng.uniform(0.1, 0.5, (count, 1))).astype(np.float32)


def preset_for(tiny_preset: Callable[..., Preset], epochs: int) -> Preset:
    preset = tiny_preset(epochs=epochs, batch_size=4, learning_rate=1e-3, augment_gain_db=3.0)
    return preset.replace(audio={"clip_seconds": 0.5})


def build(preset: Preset) -> SpectrogramVAE:
    torch.manual_seed(0)
    return checkpoint.ModelInfo(preset, preset.audio.n_freq, preset.audio.clip_frames).build()


def run(preset: Preset, out: Path, clips: np.ndarray, **options) -> list[training.EpochStats]:
    holdout = ArrayClips(clips[-2:])
    return training.fit(
        build(preset), preset, out, ArrayClips(clips[:-2]), holdout, progress=False, **options
    )


def everything(folder: Path) -> dict[str, torch.Tensor]:
    """The best weights and every tensor of the resumable state (last weights, optimizer moments)."""
    state = load_file(folder / checkpoint.TRAIN_DIR / checkpoint.TRAIN_STATE_FILE)
    return {f"best.{k}": v for k, v in load_file(folder / checkpoint.WEIGHTS_FILE).items()} | state


def assert_same_run(a: Path, b: Path) -> None:
    ta, tb = everything(a), everything(b)
    assert ta.keys() == tb.keys()
    for name in ta:
        assert torch.equal(ta[name], tb[name]), name
    rows = [(r.epoch, r.loss, r.reconstruction, r.kl, r.holdout_loss) for r in training.read_history(a)]
    assert rows == [
        (r.epoch, r.loss, r.reconstruction, r.kl, r.holdout_loss) for r in training.read_history(b)
    ]


class Interrupting:
    """A Ctrl-C (KeyboardInterrupt) at the ``at``-th loss computed (a training step or a held-out batch)."""

    def __init__(self, at: int) -> None:
        self.calls, self.at = 0, at
        self.real = loop.loss_terms

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.real(*args, **kwargs)


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    return noise_clips()


def test_ctrl_c_mid_epoch_resumes_bit_for_bit(
    tmp_path: Path, tiny_preset: Callable[..., Preset], clips: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    preset = preset_for(tiny_preset, 5)
    run(preset, tmp_path / "one", clips)
    # an epoch is one training step (4 clips) and one held-out batch: stop in the middle of epoch 3
    monkeypatch.setattr(loop, "loss_terms", Interrupting(at=2 * 2 + 1))
    with pytest.raises(KeyboardInterrupt):
        run(preset, tmp_path / "cut", clips)
    monkeypatch.undo()
    assert checkpoint.load_train_state(tmp_path / "cut", build(preset), preset).epoch == 2
    run(preset, tmp_path / "cut", clips, resume=True)
    assert_same_run(tmp_path / "one", tmp_path / "cut")


def test_double_ctrl_c_during_the_state_write_keeps_the_previous_state(
    tmp_path: Path, tiny_preset: Callable[..., Preset], clips: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    preset = preset_for(tiny_preset, 4)
    run(preset, tmp_path / "one", clips)
    real_write = checkpoint.atomic_write_bytes
    calls = {"state": 0}

    def write(path: Path, data: bytes | list) -> Path:
        if path.name == checkpoint.TRAIN_STATE_FILE:
            calls["state"] += 1
            if calls["state"] == 3:  # the state after epoch 2: half written, then Ctrl-C
                whole = data if isinstance(data, bytes) else b"".join(bytes(part) for part in data)
                (path.parent / f".{path.name}.killed.tmp").write_bytes(whole[: len(whole) // 2])
                raise KeyboardInterrupt
        return real_write(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", write)
    with pytest.raises(KeyboardInterrupt):
        run(preset, tmp_path / "cut", clips)
    monkeypatch.undo()
    assert checkpoint.load_train_state(tmp_path / "cut", build(preset), preset).epoch == 1
    checkpoint.load_model(tmp_path / "cut")  # what it holds is a loadable model of these settings
    run(preset, tmp_path / "cut", clips, resume=True)
    assert not list((tmp_path / "cut").rglob("*.tmp"))  # the stale temporary is gone
    assert_same_run(tmp_path / "one", tmp_path / "cut")


def _train_and_report(preset: Preset, out: Path, clips: np.ndarray, resume: bool, pipe: int) -> None:
    """The child: train, writing each finished epoch's number to ``pipe`` (one small atomic write)."""
    run(preset, out, clips, resume=resume, on_epoch=lambda row: os.write(pipe, f"{row.epoch}\n".encode()))
    os.write(pipe, b"done\n")


def _read_epochs(pipe: int) -> list[str]:
    data = b""
    while chunk := os.read(pipe, 4096):
        data += chunk
    return data.decode().split()


def test_kill_9_at_random_moments_loses_at_most_one_epoch(
    tmp_path: Path, tiny_preset: Callable[..., Preset], clips: np.ndarray
) -> None:
    """A forked child (torch already imported: fast) trains and is killed with SIGKILL three times at
    random moments (inside epochs and inside state writes alike); each time the folder holds every
    finished epoch the child reported but the last (whose state is written in the background while
    the next epoch runs), and the last resume ends bit for bit where one run ends."""
    epochs = 24
    preset = preset_for(tiny_preset, epochs)
    tic = time.perf_counter()
    run(preset, tmp_path / "one", clips)
    whole = time.perf_counter() - tic  # the kills fall within the first 90 % of a run, however fast
    out = tmp_path / "killed"
    chooser = random.Random(os.getpid())
    context = multiprocessing.get_context("fork")
    for attempt in range(3):
        read, write = os.pipe()
        child = context.Process(target=_train_and_report, args=(preset, out, clips, attempt > 0, write))
        child.start()
        os.close(write)
        time.sleep(chooser.uniform(0.02, 0.3) * whole)
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join()
        reported = _read_epochs(read)
        os.close(read)
        assert "done" not in reported, "the child finished before it was killed: slow the test down"
        if not checkpoint.has_train_state(out):
            assert not reported  # killed before the first state: nothing was claimed
            continue
        state = checkpoint.load_train_state(out, build(preset), preset)
        # the state of an epoch is written while the next one runs: at most one finished epoch is lost
        assert state.epoch >= max(map(int, reported), default=0) - 1
        checkpoint.load_model(out)  # a model of these settings, not a mix of two epochs
    run(preset, out, clips, resume=checkpoint.has_train_state(out))
    assert_same_run(tmp_path / "one", out)


def test_best_weights_are_written_every_few_epochs_not_at_every_improvement(
    tmp_path: Path, tiny_preset: Callable[..., Preset], clips: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []
    real = checkpoint.save_model
    monkeypatch.setattr(checkpoint, "save_model", lambda *a: (written.append(1), real(*a)))
    # the linear model improves at nearly every epoch (the sequence preset's augmentation does not)
    preset = dataclasses.replace(
        preset_for(tiny_preset, 2 * loop.BEST_FLUSH_EPOCHS + 3), model=get_preset("linear").model
    )
    history = run(preset, tmp_path, clips)
    scores = [row.holdout_loss for row in history]
    improved = sum(1 for i, score in enumerate(scores) if score < min(scores[:i], default=float("inf")))
    assert len(written) <= 4 < improved  # the start, every BEST_FLUSH_EPOCHS, the end


def test_plain_run_and_resume_agree_on_what_there_is_to_resume(
    tmp_path: Path, loops_dir: Path, tiny_preset: Callable[..., Preset]
) -> None:
    preset = tiny_preset(epochs=1)
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SoundmorphError, match="not empty"):
        workflow.train(loops_dir, out, preset=preset, progress=False)
    with pytest.raises(SoundmorphError, match="nothing to resume"):
        workflow.train(loops_dir, out, preset=preset, resume=True, progress=False)

    workflow.train(loops_dir, tmp_path / "trained", preset=preset, progress=False)
    with pytest.raises(SoundmorphError, match="--resume to continue"):
        workflow.train(loops_dir, tmp_path / "trained", preset=preset, progress=False)
    workflow.train(loops_dir, tmp_path / "trained", epochs=2, resume=True, progress=False)
