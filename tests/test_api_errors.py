"""The Python API refuses bad values with SoundmorphError (one line), never TypeError,
RuntimeError or OverflowError, and checks every size against the limits before allocating."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from soundmorph import api
from soundmorph.limits import MAX_CLIP_SECONDS, MAX_COUNT, MAX_REPEATS, MAX_STEPS


@pytest.fixture(scope="module")
def model(tiny_model) -> api.SoundModel:
    return api.load(tiny_model.folder, device="cpu")


def refused(call, *words: str) -> None:
    with pytest.raises(api.SoundmorphError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("alpha", ["abc", None, math.nan, math.inf, -0.5, 2, True, [0.5]])
def test_morph_refuses_a_bad_alpha(model: api.SoundModel, alpha: object) -> None:
    refused(lambda: model.morph(0, 1, alpha), "alpha")  # type: ignore[arg-type]


@pytest.mark.parametrize("source", [True, False, "²", "٣", "1" * 5000, -1, 10**30])
def test_a_bool_or_an_odd_digit_is_no_index(model: api.SoundModel, source: object) -> None:
    refused(lambda: model.morph(source, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [0, MAX_COUNT + 1, 10**7, 10**30, 2.5, "4", None])
def test_generate_refuses_a_bad_count(model: api.SoundModel, count: object) -> None:
    refused(lambda: model.generate(count), "count")  # type: ignore[arg-type]


@pytest.mark.parametrize("steps", [1, MAX_STEPS + 1, 10**9, "9"])
def test_sweep_refuses_a_bad_step_count(model: api.SoundModel, steps: object) -> None:
    refused(lambda: model.sweep(0, 1, steps), "steps")  # type: ignore[arg-type]


@pytest.mark.parametrize("repeats", [0, MAX_REPEATS + 1, 100_000, 1.5])
def test_glide_refuses_bad_repeats(model: api.SoundModel, repeats: object) -> None:
    refused(lambda: model.glide(0, 1, repeats=repeats), "repeats")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 2**70, 1.5, "7"])
def test_seeds_are_checked(model: api.SoundModel, seed: object) -> None:
    refused(lambda: model.generate(2, seed=seed), "seed")  # type: ignore[arg-type]
    refused(lambda: model.render_options.override(seed=seed), "seed")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "value", "word"),
    [
        ("clip_seconds", math.inf, "clip length"),
        ("clip_seconds", math.nan, "clip length"),
        ("clip_seconds", MAX_CLIP_SECONDS + 1, "clip length"),
        ("clip_seconds", 1e9, "clip length"),
        ("learning_rate", math.inf, "learning rate"),
        ("learning_rate", math.nan, "learning rate"),
        ("epochs", "abc", "epochs"),
        ("epochs", 10**12, "epochs"),
        ("batch_size", 10**9, "batch"),
        ("seed", 2**70, "seed"),
        ("holdout", math.nan, "holdout"),
    ],
)
def test_train_refuses_bad_settings_before_writing(
    loops_dir: Path, tmp_path: Path, option: str, value: object, word: str
) -> None:
    refused(lambda: api.train(loops_dir, tmp_path / "m", **{option: value}), word)  # type: ignore[arg-type]
    assert not (tmp_path / "m").exists()


def test_a_missing_cuda_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    refused(lambda: api.pick_device("cuda"), "CUDA is not available")
    refused(lambda: api.pick_device("cuda:1"), "CUDA")
    refused(lambda: api.pick_device("toaster"), "toaster")
    refused(lambda: api.pick_device("meta"), "meta")
    assert api.pick_device("cpu") == torch.device("cpu")
