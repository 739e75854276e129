"""Settings: validation, presets, JSON round trips and the derived clip geometry."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from soundmorph.config import (
    PRESETS,
    AudioConfig,
    ModelConfig,
    Preset,
    RenderOptions,
    TrainConfig,
    clip_seconds_from_lengths,
    get_preset,
    n_frames,
    paper,
    time_strides,
)
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MIN_CLIP_SECONDS


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (AudioConfig, "sample_rate", 0),
        (AudioConfig, "hop_length", 0),
        (AudioConfig, "win_length", 4096),  # longer than n_fft
        (AudioConfig, "clip_seconds", MIN_CLIP_SECONDS / 2),
        (ModelConfig, "latent_dim", 0),
        (ModelConfig, "channels", 0),
        (ModelConfig, "last_stride", 0),
        (ModelConfig, "covariance", "banded"),
        (ModelConfig, "input_scale", "sqrt"),
        (ModelConfig, "log_floor", 0.0),
        (ModelConfig, "dropout", 1.0),
        (ModelConfig, "augment_eq_db", -1.0),
        (ModelConfig, "augment_stretch", 1.0),
        (ModelConfig, "log_weight", -0.1),
        (ModelConfig, "colour_terms", -1),
        (TrainConfig, "epochs", -1),
        (TrainConfig, "batch_size", 0),
        (TrainConfig, "learning_rate", 0.0),
        (TrainConfig, "weight_decay", -0.1),
        (TrainConfig, "kl_weight", -1.0),
        (TrainConfig, "kl_warmup_epochs", -1),
        (TrainConfig, "holdout", 1.0),
        (TrainConfig, "augment_gain_db", -1.0),
        (RenderOptions, "n_iter", -1),
        (RenderOptions, "momentum", 1.0),
        (RenderOptions, "init", "noise"),
        (RenderOptions, "method", "magic"),
    ],
)
def test_invalid_setting_is_refused_with_one_line(cls: type, field: str, value: object) -> None:
    with pytest.raises(SoundmorphError) as caught:
        cls(**{field: value})
    assert "\n" not in str(caught.value)


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().channels = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_dict_round_trip_through_json(name: str) -> None:
    preset = get_preset(name)
    assert Preset.from_dict(json.loads(json.dumps(preset.to_dict()))) == preset


def test_from_dict_fills_missing_sections_with_defaults() -> None:
    assert Preset.from_dict({"name": "bare"}) == Preset(name="bare")


@pytest.mark.parametrize("section", ["audio", "model", "train", "phase"])
def test_from_dict_refuses_unknown_keys_and_names_them(section: str) -> None:
    data = get_preset("paper").to_dict()
    data[section]["colour"] = "blue"
    with pytest.raises(SoundmorphError, match="colour"):
        Preset.from_dict(data)


def test_from_dict_refuses_missing_name_and_invalid_values() -> None:
    with pytest.raises(SoundmorphError):
        Preset.from_dict({"audio": {}})
    with pytest.raises(SoundmorphError, match="latent_dim"):
        Preset.from_dict({"name": "x", "model": {"latent_dim": 0}})


def test_replace_changes_only_the_named_fields() -> None:
    base = get_preset("default")
    changed = base.replace(train={"epochs": 3}, model={"channels": 8})
    assert (changed.train.epochs, changed.model.channels) == (3, 8)
    assert changed.train.batch_size == base.train.batch_size
    assert changed.audio == base.audio and changed.phase == base.phase
    assert base == get_preset("default")  # the original is untouched


def test_replace_validates_the_new_values() -> None:
    with pytest.raises(SoundmorphError):
        get_preset("default").replace(train={"batch_size": 0})


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(SoundmorphError) as caught:
        get_preset("fancy")
    assert "fancy" in str(caught.value)
    for name in PRESETS:
        assert name in str(caught.value)


def test_every_preset_is_valid_and_named_after_itself() -> None:
    for name in PRESETS:
        assert get_preset(name).name == name


def test_paper_preset_is_the_reference() -> None:
    preset = paper()
    a, m, t, p = preset.audio, preset.model, preset.train, preset.phase
    assert (a.sample_rate, a.n_fft, a.win_length, a.hop_length) == (22_050, 2048, 2048, 512)
    assert (a.n_freq, a.clip_frames) == (1025, 148)
    assert (m.latent_dim, m.channels, m.covariance, m.input_scale, m.normalize) == (
        16,
        256,
        "full",
        "linear",
        False,
    )
    assert (t.epochs, t.batch_size, t.learning_rate, t.kl_weight, t.holdout) == (500, 16, 1e-3, 1e-3, 0.0)
    assert p.n_iter == 32
    assert time_strides(a.clip_frames, m.last_stride) == (37, 4)


def test_time_strides_of_the_reference() -> None:
    assert time_strides(148, 4) == (37, 4)


@pytest.mark.parametrize("frames", [1, 2, 31, 44, 100, 147, 148, 149, 201, 1000])
@pytest.mark.parametrize("last", [1, 2, 4, 7])
def test_time_strides_cover_the_frames_with_the_least_padding(frames: int, last: int) -> None:
    first, second = time_strides(frames, last)
    assert second == last
    assert first * second >= frames  # every frame is seen
    assert (first - 1) * second < frames  # no stride step is only padding


@pytest.mark.parametrize(("samples", "hop"), [(0, 512), (511, 512), (512, 512), (75_600, 512), (22_050, 256)])
def test_n_frames_is_that_of_a_centred_stft(samples: int, hop: int) -> None:
    assert n_frames(samples, hop) == 1 + samples // hop


def test_clip_geometry_is_derived_from_the_clip_length() -> None:
    audio = AudioConfig(clip_seconds=1.0)
    assert audio.clip_samples == audio.sample_rate
    assert audio.clip_frames == n_frames(audio.clip_samples, audio.hop_length)
    assert audio.n_freq == audio.n_fft // 2 + 1


def test_clip_samples_need_a_clip_length() -> None:
    with pytest.raises(SoundmorphError, match="clip length"):
        _ = AudioConfig(clip_seconds=None).clip_samples


def test_clip_seconds_is_the_lower_median_of_the_lengths() -> None:
    rate = 1000
    assert clip_seconds_from_lengths([3000, 1000, 2000], rate) == 2.0
    assert clip_seconds_from_lengths([1000, 2000, 3000, 4000], rate) == 2.0  # an actual clip's length
    assert clip_seconds_from_lengths([10], rate) == MIN_CLIP_SECONDS  # never below the minimum
    with pytest.raises(SoundmorphError):
        clip_seconds_from_lengths([], rate)


def test_default_preset_has_an_unset_or_valid_clip_length() -> None:
    seconds = get_preset("default").audio.clip_seconds
    assert seconds is None or (math.isfinite(seconds) and seconds >= MIN_CLIP_SECONDS)


def test_render_options_override_changes_only_what_is_given() -> None:
    base = RenderOptions()
    assert base.override() == base
    changed = base.override(method="gl", n_iter=4, seed=None)
    assert (changed.method, changed.n_iter, changed.momentum, changed.seed) == ("gl", 4, base.momentum, 0)
    with pytest.raises(SoundmorphError, match="fgla"):  # an unknown method lists the registry
        base.override(method="nope")


@pytest.mark.parametrize(
    ("field", "registry"), [("encoder", "ENCODERS"), ("decoder", "DECODERS"), ("input_scale", "INPUT_SCALES")]
)
def test_model_choices_are_the_registries_keys(field: str, registry: str) -> None:
    from soundmorph import models

    keys = list(getattr(models, registry))
    for key in keys:
        assert getattr(ModelConfig(**{field: key}), field) == key
    with pytest.raises(SoundmorphError, match=", ".join(keys)):
        ModelConfig(**{field: "nope"})
