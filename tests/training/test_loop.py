"""The training loop: history, determinism, resume, the best checkpoint, the KL warm-up."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from soundmorph import training
from soundmorph.config import Preset, get_preset, paper
from soundmorph.data.dataset import ArrayClips
from soundmorph.errors import SoundmorphError
from soundmorph.models import SpectrogramVAE, build_model
from soundmorph.training import checkpoint, loop

EPOCHS = 4


@pytest.fixture(scope="module")
def mags(loops_dir: Path, tiny_preset: Callable[..., Preset], scan) -> np.ndarray:
    """The 6 1-s test loops, fitted: audio [6, 22050] float32 (the loop computes the magnitudes)."""
    config = tiny_preset().audio
    return scan(loops_dir, sample_rate=config.sample_rate).fitted(config.clip_samples)


def conv_preset(**train: object) -> Preset:
    """The reference architecture shrunk (8 channels, 1-s clips) with dropout, gain augmentation and
    a KL warm-up on: every source of randomness in play, whatever the default preset is."""
    return paper().replace(
        audio={"clip_seconds": 1.0},
        model={"channels": 8, "dropout": 0.1, "input_scale": "log", "normalize": True},
        train={"epochs": EPOCHS, "batch_size": 4, "kl_warmup_epochs": 2, "augment_gain_db": 6.0, **train},
    )


@pytest.fixture
def preset() -> Preset:
    return conv_preset()


@pytest.fixture(params=["conv", "default"])
def any_preset(request: pytest.FixtureRequest, tiny_preset: Callable[..., Preset]) -> Preset:
    """The shrunk reference architecture, and the shrunk default preset (whatever it is now)."""
    if request.param == "conv":
        return conv_preset()
    return tiny_preset(epochs=EPOCHS, batch_size=4)


def build(preset: Preset, seed: int = 0) -> SpectrogramVAE:
    torch.manual_seed(seed)
    return build_model(preset.model, n_freq=preset.audio.n_freq, n_frames=preset.audio.clip_frames)


def fit(
    preset: Preset, out: Path, clips: np.ndarray, holdout: np.ndarray | None = None, **options
) -> list[training.EpochStats]:
    held = ArrayClips(holdout) if holdout is not None else None
    return training.fit(build(preset), preset, out, ArrayClips(clips), held, progress=False, **options)


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def weights(folder: Path, name: str = checkpoint.WEIGHTS_FILE) -> dict[str, torch.Tensor]:
    return load_file(folder / name)


def last_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The last weights, from the resumable state."""
    tensors = load_file(folder / checkpoint.TRAIN_DIR / checkpoint.TRAIN_STATE_FILE)
    return {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}


def losses(history: list[training.EpochStats]) -> list[tuple[int, float, float, float]]:
    return [(row.epoch, row.loss, row.reconstruction, row.kl) for row in history]


# --- history ------------------------------------------------------------------------------------


def test_history_has_one_row_per_epoch(tmp_path: Path, preset: Preset, mags: np.ndarray) -> None:
    history = fit(preset, tmp_path, mags)
    assert [row.epoch for row in history] == list(range(1, EPOCHS + 1))
    assert all(math.isfinite(row.loss) and row.loss > 0 and row.seconds > 0 for row in history)
    assert all(math.isnan(row.holdout_loss) for row in history)  # no held-out clips given


def test_history_csv_round_trips(tmp_path: Path, preset: Preset, mags: np.ndarray) -> None:
    history = fit(preset, tmp_path, mags[:4], holdout=mags[4:])
    assert (tmp_path / training.HISTORY_FILE).read_text().count("\n") == EPOCHS + 1  # header + rows
    assert training.read_history(tmp_path) == history


def test_training_lowers_the_loss(tmp_path: Path, mags: np.ndarray) -> None:
    history = fit(conv_preset(epochs=15, learning_rate=3e-3), tmp_path, mags)
    assert history[-1].reconstruction < history[0].reconstruction


def test_training_leaves_a_loadable_model_and_train_state(
    tmp_path: Path, preset: Preset, mags: np.ndarray
) -> None:
    fit(preset, tmp_path, mags)
    _, info = checkpoint.load_model(tmp_path)
    assert info.preset == preset
    assert checkpoint.has_train_state(tmp_path)


def test_zero_epochs_still_leave_a_loadable_model(
    tmp_path: Path, tiny_preset: Callable[..., Preset], mags: np.ndarray
) -> None:
    assert fit(tiny_preset(epochs=0), tmp_path, mags) == []
    checkpoint.load_model(tmp_path)


def test_divergence_is_a_one_line_error(tmp_path: Path, preset: Preset, mags: np.ndarray) -> None:
    broken = mags.copy()
    broken[0, 100] = math.nan
    with pytest.raises(SoundmorphError, match="diverged at epoch 1"):
        fit(preset, tmp_path, broken)


# --- determinism and resume ---------------------------------------------------------------------


def test_same_seed_gives_the_same_weights(tmp_path: Path, any_preset: Preset, mags: np.ndarray) -> None:
    fit(any_preset, tmp_path / "a", mags)
    fit(any_preset, tmp_path / "b", mags)
    assert_same_tensors(weights(tmp_path / "a"), weights(tmp_path / "b"))


def test_another_seed_gives_other_weights(tmp_path: Path, preset: Preset, mags: np.ndarray) -> None:
    fit(preset, tmp_path / "a", mags)
    fit(preset.replace(train={"seed": 1}), tmp_path / "b", mags)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert any(not torch.equal(a[name], b[name]) for name in a)


def test_training_leaves_the_callers_random_state_alone(
    tmp_path: Path, preset: Preset, mags: np.ndarray
) -> None:
    model = build(preset)
    before = torch.get_rng_state()
    training.fit(model, preset, tmp_path, ArrayClips(mags), progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_resume_ends_where_one_run_ends(tmp_path: Path, any_preset: Preset, mags: np.ndarray) -> None:
    one_go = fit(any_preset, tmp_path / "one", mags[:5], holdout=mags[5:])

    fit(any_preset.replace(train={"epochs": 2}), tmp_path / "two", mags[:5], holdout=mags[5:])
    resumed = fit(any_preset, tmp_path / "two", mags[:5], holdout=mags[5:], resume=True)

    assert losses(resumed) == losses(one_go)
    assert_same_tensors(
        last_weights(tmp_path / "two"),
        last_weights(tmp_path / "one"),
    )
    assert_same_tensors(weights(tmp_path / "two"), weights(tmp_path / "one"))


def test_an_interrupted_run_resumes_where_it_stopped(
    tmp_path: Path, any_preset: Preset, mags: np.ndarray
) -> None:
    one_go = fit(any_preset, tmp_path / "one", mags)

    def stop_after_epoch_2(row: training.EpochStats) -> None:
        if row.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(any_preset, tmp_path / "stopped", mags, on_epoch=stop_after_epoch_2)
    assert [row.epoch for row in training.read_history(tmp_path / "stopped")] == [1, 2]
    resumed = fit(any_preset, tmp_path / "stopped", mags, resume=True)

    assert losses(resumed) == losses(one_go)
    assert_same_tensors(
        last_weights(tmp_path / "stopped"),
        last_weights(tmp_path / "one"),
    )


def test_resuming_a_finished_run_changes_nothing(tmp_path: Path, preset: Preset, mags: np.ndarray) -> None:
    history = fit(preset, tmp_path, mags)
    before = last_weights(tmp_path)
    assert losses(fit(preset, tmp_path, mags, resume=True)) == losses(history)
    assert_same_tensors(last_weights(tmp_path), before)


# --- the best checkpoint ------------------------------------------------------------------------


def snapshots(model: SpectrogramVAE, into: dict[int, dict[str, torch.Tensor]]):
    """An ``on_epoch`` callback that keeps a copy of ``model``'s weights after every epoch."""

    def keep(row: training.EpochStats) -> None:
        into[row.epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    return keep


def test_best_checkpoint_is_chosen_by_held_out_loss(
    tmp_path: Path, preset: Preset, mags: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = iter([3.0, 1.0, 2.0, 5.0])  # best at epoch 2, whatever the training loss does
    monkeypatch.setattr(loop, "holdout_loss", lambda *args, **kwargs: next(scripted))
    model = build(preset)
    kept: dict[int, dict[str, torch.Tensor]] = {}
    history = training.fit(
        model,
        preset,
        tmp_path,
        ArrayClips(mags[:5]),
        ArrayClips(mags[5:]),
        progress=False,
        on_epoch=snapshots(model, kept),
    )
    assert [row.holdout_loss for row in history] == [3.0, 1.0, 2.0, 5.0]
    assert_same_tensors(weights(tmp_path), kept[2])
    assert_same_tensors(last_weights(tmp_path), kept[EPOCHS])


def test_without_a_holdout_the_best_checkpoint_has_the_lowest_training_loss(
    tmp_path: Path, preset: Preset, mags: np.ndarray
) -> None:
    model = build(preset)
    kept: dict[int, dict[str, torch.Tensor]] = {}
    history = training.fit(
        model, preset, tmp_path, ArrayClips(mags), progress=False, on_epoch=snapshots(model, kept)
    )
    best = min(history, key=lambda row: row.loss).epoch
    assert_same_tensors(weights(tmp_path), kept[best])


def test_holdout_loss_is_deterministic_and_keeps_the_mode(preset: Preset, mags: np.ndarray) -> None:
    model = build(preset).train()
    clips = ArrayClips(mags)
    first = training.holdout_loss(model, clips, preset, 1e-3, batch_size=4)
    assert training.holdout_loss(model, clips, preset, 1e-3, batch_size=4) == first  # the mean, not a sample
    assert training.holdout_loss(model, clips, preset, 1e-3, batch_size=2) == pytest.approx(first, rel=1e-5)
    assert model.training


# --- the KL warm-up -----------------------------------------------------------------------------


def test_kl_weight_ramps_up_linearly(tiny_preset: Callable[..., Preset]) -> None:
    preset = tiny_preset(kl_weight=0.01, kl_warmup_epochs=4)
    weights_ = [training.kl_weight_at(preset, epoch) for epoch in range(6)]
    assert weights_ == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])


def test_kl_weight_without_warmup_is_constant(tiny_preset: Callable[..., Preset]) -> None:
    preset = tiny_preset(kl_weight=0.01, kl_warmup_epochs=0)
    assert {training.kl_weight_at(preset, epoch) for epoch in range(5)} == {0.01}


# --- magnitudes computed once -------------------------------------------------------------------


def test_magnitudes_computed_once_train_as_streamed_ones(
    tmp_path: Path, tiny_preset: Callable[..., Preset], mags: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library within the budget has each clip's STFT taken once per run, not once per epoch; the
    run matches one that streams audio and takes the STFT of every batch (a library over it)."""
    preset = tiny_preset(epochs=EPOCHS, batch_size=4)
    calls = {"stft": 0}
    real = loop.batch_magnitudes

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["stft"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "batch_magnitudes", counted)
    once = fit(preset, tmp_path / "once", mags[:4], holdout=mags[4:])
    assert calls["stft"] == 2  # the training clips and the held-out clips, one batch each
    monkeypatch.setattr(loop, "MAGNITUDE_BUDGET_BYTES", 0)  # the name loop reads
    streamed = fit(preset, tmp_path / "streamed", mags[:4], holdout=mags[4:])
    assert calls["stft"] > 2 * EPOCHS
    for a, b in zip(once, streamed, strict=True):
        assert a.epoch == b.epoch
        assert a.loss == pytest.approx(b.loss, rel=1e-4) and a.holdout_loss == pytest.approx(
            b.holdout_loss, rel=1e-4
        )


# --- precision ----------------------------------------------------------------------------------


def test_auto_precision_is_bf16_only_on_a_cpu_with_native_bf16() -> None:
    cpu = torch.device("cpu")
    assert loop.resolve_precision("fp32", cpu) == "fp32"
    assert loop.resolve_precision("bf16", cpu) == "bf16"
    assert loop.resolve_precision("auto", cpu) == ("bf16" if loop.native_bf16(cpu) else "fp32")
    assert loop.resolve_precision("auto", torch.device("meta")) == "fp32"


def test_auto_precision_keeps_the_reference_in_fp32() -> None:
    cpu = torch.device("cpu")
    reference = build_model(paper().model, n_freq=65, n_frames=8)
    sequence = build_model(get_preset("default").model, n_freq=65, n_frames=8)
    assert loop.resolve_precision("auto", cpu, reference) == "fp32"
    assert loop.resolve_precision("bf16", cpu, reference) == "bf16"  # opt-in
    assert loop.resolve_precision("auto", cpu, sequence) == ("bf16" if loop.native_bf16(cpu) else "fp32")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_each_precision_trains_and_resumes_bit_for_bit(
    tmp_path: Path, tiny_preset: Callable[..., Preset], mags: np.ndarray, precision: str
) -> None:
    preset = tiny_preset(epochs=EPOCHS, batch_size=4)
    one_go = fit(preset, tmp_path / "one", mags[:5], holdout=mags[5:], precision=precision)
    assert all(math.isfinite(row.loss) for row in one_go)
    fit(
        preset.replace(train={"epochs": 2}), tmp_path / "two", mags[:5], holdout=mags[5:], precision=precision
    )
    resumed = fit(preset, tmp_path / "two", mags[:5], holdout=mags[5:], resume=True, precision=precision)
    assert losses(resumed) == losses(one_go)
    assert_same_tensors(last_weights(tmp_path / "two"), last_weights(tmp_path / "one"))
