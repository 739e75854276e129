"""The web API of a loop model: the library with kind/bpm/bars, renders at a chosen tempo."""

from __future__ import annotations

import dataclasses
import io

import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from soundmorph import audio, session, workflow
from soundmorph.audio import synth
from soundmorph.config import SAMPLE_RATE
from soundmorph.web import server as web


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    folder = tmp_path_factory.mktemp("loops")
    for index, bpm in enumerate([110.0, 140.0]):
        clip = synth.drum_loop(seed=90 + index, style="house", bpm=bpm, bars=2)
        audio.write(folder / f"l{index}.wav", clip, sample_rate=SAMPLE_RATE)
    out = tmp_path_factory.mktemp("model") / "m"
    workflow.train(folder, out, preset="linear", progress=False, device="cpu")
    model = session.load(out, device="cpu")
    fast = model.preset.replace(phase={"n_iter": 4})  # fast renders: only lengths matter here
    model.info = dataclasses.replace(model.info, preset=fast)
    return TestClient(web.create_app(model), raise_server_exceptions=False)


def _wav_seconds(client: TestClient, result: dict) -> float:
    data = client.get(f"/api/render/{result['key']}.wav").content
    clip, rate = sf.read(io.BytesIO(data))
    return len(clip) / rate


def test_library_shows_kind_tempo_and_bars(client: TestClient) -> None:
    library = client.get("/api/library").json()
    assert library["model"]["grid"]["mode"] == "loop" and library["model"]["grid"]["bars"] == 2
    sounds = library["sounds"]
    assert [s["kind"] for s in sounds] == ["loop", "loop"]
    assert abs(sounds[0]["bpm"] - 110) <= 1 and sounds[1]["bars"] == 2


def test_morph_at_a_chosen_tempo(client: TestClient) -> None:
    fixed = client.get("/api/morph", params={"a": "0", "b": "1", "alpha": 0.5, "bpm": 100}).json()
    assert fixed["bpm"] == 100.0
    assert _wav_seconds(client, fixed) == pytest.approx(4.8, abs=1 / SAMPLE_RATE)
    mixed = client.get("/api/morph", params={"a": "0", "b": "1", "alpha": 0.5}).json()
    assert mixed["key"] != fixed["key"]
    assert abs(_wav_seconds(client, mixed) - 2 * 240 / 125) < 0.05
    bad = client.get("/api/morph", params={"a": "0", "b": "1", "bpm": 1000})
    assert bad.status_code == 400 and "bpm" in bad.json()["detail"]


def test_sweep_and_blend_take_a_tempo(client: TestClient) -> None:
    sweep = client.get("/api/sweep", params={"a": "0", "b": "1", "steps": 2, "bpm": 120}).json()
    assert all(_wav_seconds(client, step) == pytest.approx(4.0, abs=1e-4) for step in sweep["steps"])
    blend = client.get("/api/blend", params={"ids": "0,1", "weights": "1,1", "bpm": 150}).json()
    assert _wav_seconds(client, blend) == pytest.approx(2 * 240 / 150, abs=1e-4)
