"""The routes a producer uses beyond the morph: limits from the server, a sweep as one zip, glide
and generate, and a picture drawn without matplotlib."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient

from soundmorph import api, limits
from soundmorph.web import server as web

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model(tiny_model) -> api.SoundModel:
    return api.load(tiny_model.folder, device="cpu")


@pytest.fixture
def fresh(model: api.SoundModel) -> TestClient:
    return TestClient(web.create_app(model), raise_server_exceptions=False)


def test_the_page_takes_its_limits_from_the_package(fresh: TestClient) -> None:
    page = fresh.get("/api/limits").json()
    assert page["sweep_steps"] == limits.MAX_STEPS
    assert page["count"] == limits.MAX_COUNT and page["repeats"] == limits.MAX_REPEATS
    assert set(page["curves"]) == set(api.GLIDE_CURVES)
    assert fresh.get("/api/library").json()["limits"] == page
    page = fresh.get("/static/app.js").text
    assert "16" not in page.split("function sweep", 1)[1].split("\n}", 1)[0]  # no constant of its own


def test_the_sweep_zip_holds_its_steps_grid_and_figures(fresh: TestClient, model) -> None:
    params = {"a": 0, "b": 2, "steps": 3}
    steps = fresh.get("/api/sweep", params=params).json()["steps"]
    response = fresh.get("/api/sweep.zip", params=params)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert ".zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert names == [item["download"] for item in steps] + ["grid.png", "quality.json"]
    for item in steps:  # the same bytes as the download route
        assert archive.read(item["download"]) == fresh.get(item["wav"], params={"download": 1}).content
    assert archive.read("grid.png").startswith(PNG_MAGIC)
    assert "smoothness_cv" in json.loads(archive.read("quality.json"))
    assert fresh.get("/api/sweep.zip", params={"a": 0, "b": 2, "steps": 1}).status_code == 400


def test_glide_renders_the_models_glide(fresh: TestClient, model) -> None:
    result = fresh.get("/api/glide", params={"a": 0, "b": 1, "repeats": 2, "curve": "smooth"}).json()
    expected = model.glide(0, 1, repeats=2, curve="smooth")
    assert result["kind"] == "glide" and result["name"] == expected.name
    assert fresh.get(result["wav"]).content == expected.wav_bytes()
    assert fresh.get(result["png"]).content.startswith(PNG_MAGIC)
    assert result["seconds"] == pytest.approx(expected.duration, abs=1e-3)
    for params, word in [
        ({"repeats": 0}, "repeats must be in 1..64"),
        ({"repeats": limits.MAX_REPEATS + 1}, "repeats must be in"),
        ({"curve": "wobble"}, "unknown curve"),
    ]:
        response = fresh.get("/api/glide", params={"a": 0, "b": 1, **params})
        assert response.status_code == 400 and word in response.json()["detail"]


def test_generate_is_seeded_and_counted(fresh: TestClient, model) -> None:
    body = fresh.get("/api/generate", params={"count": 3, "seed": 7}).json()
    assert body["seed"] == 7 and [s["name"] for s in body["sounds"]] == [
        s.name for s in model.generate(3, seed=7)
    ]
    assert fresh.get(body["sounds"][1]["wav"]).content == model.generate(3, seed=7)[1].wav_bytes()
    again = fresh.get("/api/generate", params={"count": 3, "seed": 7}).json()
    assert all(s["cached"] for s in again["sounds"])
    assert isinstance(fresh.get("/api/generate", params={"count": 1}).json()["seed"], int)
    bad = fresh.get("/api/generate", params={"count": limits.MAX_COUNT + 1})
    assert bad.status_code == 400 and "count must be in" in bad.json()["detail"]


def test_the_picture_is_a_png_of_the_magnitude(model) -> None:
    sound = model.morph(0, 1, 0.5)
    data = sound.spectrogram_image()
    assert data.startswith(PNG_MAGIC)
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == sound.magnitude.shape[1] and height <= 256
