"""The web page's shared state: a thin cache and upload store over the model; every render, name, map
position and figure comes from :class:`soundmorph.api.SoundModel`."""

from __future__ import annotations

import numpy as np
import pytest

from soundmorph import api
from soundmorph.audio import synth
from soundmorph.web import state as web_state
from soundmorph.web.state import AppState, RequestError


@pytest.fixture(scope="module")
def model(tiny_model) -> api.SoundModel:
    return api.load(tiny_model.folder, device="cpu")


@pytest.fixture
def web(model: api.SoundModel) -> AppState:
    return AppState(model)


def upload_clip(seed: int = 3) -> np.ndarray:
    return synth.drum_loop(seed=seed)[: synth.SAMPLE_RATE // 2]


def test_sound_ids_resolve_through_the_model(web: AppState, model: api.SoundModel) -> None:
    assert web.source("2").index == 2 and web.source("2").label == model.resolve(2).label
    with pytest.raises(api.UnknownSourceError, match="no sound 99"):
        web.source("99")
    for bad in ("-1", "abc", model.names[0], "../x"):
        with pytest.raises(RequestError, match="not a sound id"):
            web.source(bad)
    with pytest.raises(RequestError, match="no upload u1") as caught:
        web.source("u1")
    assert caught.value.status == 404


def test_a_morph_is_the_models_render_cached_by_rounded_alpha(web: AppState, model: api.SoundModel) -> None:
    first = web.morph("0", "2", 0.3)
    expected = model.morph(0, 2, 0.3)
    assert first["name"] == expected.name and not first["cached"]
    assert web.entry(first["key"]).wav == expected.wav_bytes()
    assert (first["x"], first["y"]) == pytest.approx(
        model.latent_map.project(model.encode(0) * 0.7 + model.encode(2) * 0.3), abs=1e-5
    )
    again = web.morph("0", "2", 0.3004)
    assert again["key"] == first["key"] and again["cached"]


def test_the_render_cache_is_bounded(model: api.SoundModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_state, "MAX_RENDERS", 3)
    web = AppState(model)
    keys = [web.morph("0", "1", alpha)["key"] for alpha in (0, 0.5, 0.7, 1)]
    with pytest.raises(RequestError, match="not in the cache"):
        web.entry(keys[0])  # dropped: the oldest
    assert web.entry(keys[-1]).sound.name.endswith("a1.00")


def test_uploads_are_sources_and_bounded(web: AppState, model: api.SoundModel) -> None:
    clip = upload_clip()
    described = [web.add_upload(f"take{k}.wav", clip) for k in range(web_state.MAX_UPLOADS + 1)]
    assert described[-1]["id"] == f"u{web_state.MAX_UPLOADS + 1}"
    assert described[0]["seconds"] == pytest.approx(len(clip) / model.sample_rate, abs=1e-3)
    with pytest.raises(RequestError, match="no upload u1"):
        web.source("u1")
    latest = web.source(described[-1]["id"])
    np.testing.assert_allclose(latest.latent, model.from_audio("take.wav", clip).latent, atol=1e-6)
    assert web.morph(described[-1]["id"], "0", 0.5)["name"].startswith(f"morph_take{web_state.MAX_UPLOADS}__")
    data, name = web.original_wav(described[-1]["id"])
    assert name == f"take{web_state.MAX_UPLOADS}.wav" and data.startswith(b"RIFF")


def test_a_sweep_renders_once_and_measures_itself(web: AppState, model: api.SoundModel) -> None:
    steps = web.sweep("1", "3", 3)
    assert [s["name"] for s in steps] == [s.name for s in model.sweep(1, 3, 3)]
    assert not any(s["cached"] for s in steps)
    assert all(s["cached"] for s in web.sweep("1", "3", 3))
    figures = web.sweep_quality("1", "3", [s["key"] for s in steps])
    assert isinstance(figures, api.SweepQuality) and 0.0 <= figures.intermediateness <= 1.0


def test_blend_and_pad_name_their_weights(web: AppState) -> None:
    corner = web.pad(["0", "1", "2", "3"], 1.0, 1.0)
    assert corner["weights"] == [0.0, 0.0, 0.0, 1.0] and corner["name"].count("-1.00") == 1
    with pytest.raises(RequestError, match="1 to 8 sounds"):
        web.blend(["0"] * 9, [1.0] * 9)
