"""The web server's API: every endpoint with good and bad requests, on the tiny model of conftest.

The server names sounds by library index or upload id only; bad requests get a 4xx with a one-line
``detail`` and never stop the server.
"""

from __future__ import annotations

import asyncio
import collections
import io
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from soundmorph import audio, session
from soundmorph.audio import synth
from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError
from soundmorph.web import server as web

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model(tiny_model) -> session.SoundModel:
    return session.load(tiny_model.folder, device="cpu")


@pytest.fixture(scope="module")
def client(model: session.SoundModel) -> TestClient:
    # raise_server_exceptions=False: a bug must come back as a 500, as it would to a browser
    return TestClient(web.create_app(model), raise_server_exceptions=False)


@pytest.fixture
def fresh(model: session.SoundModel) -> TestClient:
    """A client of a new app: its own uploads and cache."""
    return TestClient(web.create_app(model), raise_server_exceptions=False)


def wav_file(seconds: float = 1.2, *, seed: int = 3, rate: int = SAMPLE_RATE) -> bytes:
    spec = synth.library_specs(seed + 1, seed=seed)[-1]
    clip = audio.fit_length(synth.render(spec, sample_rate=rate), round(seconds * rate))
    return audio.to_wav_bytes(clip, sample_rate=rate)


def decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return samples, rate


def upload(client: TestClient, name: str, data: bytes, kind: str = "audio/wav"):
    return client.post("/api/upload", files={"file": (name, data, kind)})


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    for word in words:
        assert word in detail, detail


# -- the page --------------------------------------------------------------------------------------
def test_page_is_self_contained(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in [("app.js", "javascript"), ("style.css", "css")]:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    for name in ["index.html", "app.js", "style.css"]:  # no CDN, no fonts, nothing from the network
        text = (web.STATIC / name).read_text()
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
    assert_error(client.get("/static/server.py"), 404, "no page file")
    assert client.get("/static/..%2Fserver.py").status_code == 404
    assert client.get("/docs").status_code == 404


def test_library_lists_every_sound_with_a_map_position(client: TestClient, model) -> None:
    body = client.get("/api/library").json()
    assert body["model"]["sample_rate"] == model.sample_rate
    assert body["limits"]["upload_mb"] == 20
    sounds = [s for s in body["sounds"] if s["split"] != "upload"]
    assert [s["index"] for s in sounds] == list(range(len(model.names)))
    assert [s["name"] for s in sounds] == model.names
    assert {s["split"] for s in sounds} <= {"train", "holdout"}
    assert np.allclose([[s["x"], s["y"]] for s in sounds], model.latent_map.points, atol=1e-5)


# -- originals -------------------------------------------------------------------------------------
def test_original_is_the_library_file(client: TestClient, model, tiny_model) -> None:
    response = client.get("/api/sounds/1/original.wav")
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    assert Path(model.names[1]).stem in response.headers["content-disposition"]
    samples, rate = decode(response.content)
    expected = audio.read(tiny_model.library / model.names[1], sample_rate=model.sample_rate)
    assert rate == model.sample_rate and np.allclose(samples, expected, atol=1e-4)


@pytest.mark.parametrize(
    ("sound_id", "status", "word"),
    [
        ("99", 404, "no sound 99"),
        ("u7", 404, "no upload u7"),
        ("-1", 400, "not a sound id"),
        ("abc", 400, "not a sound id"),
        ("..", 404, ""),  # the URL is normalised: no route
        ("...", 400, "not a sound id"),
        ("%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", 404, ""),  # decoded into extra path segments: no route
        ("..%2F..%2Fetc%2Fpasswd", 404, ""),
        ("%2Fetc%2Fpasswd", 404, ""),
    ],
)
def test_original_refuses_anything_but_an_id(
    client: TestClient, sound_id: str, status: int, word: str
) -> None:
    response = client.get(f"/api/sounds/{sound_id}/original.wav")
    assert response.status_code == status
    assert word in response.json()["detail"]
    assert b"root:" not in response.content


# -- morph -----------------------------------------------------------------------------------------
def test_morph_renders_through_the_cli_api_and_caches(fresh: TestClient, model) -> None:
    first = fresh.get("/api/morph", params={"a": 0, "b": 2, "alpha": 0.3})
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["cached"] is False and result["render_ms"] > 0
    stem_a, stem_b = (Path(model.names[i]).stem for i in (0, 2))
    assert result["name"] == f"morph_{stem_a}__{stem_b}_a0.30"
    assert result["download"] == result["name"] + ".wav"
    wav = fresh.get(result["wav"])
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.content == model.morph(0, 2, 0.3).wav_bytes()  # the CLI's own render, byte for byte
    download = fresh.get(result["wav"], params={"download": 1})
    assert download.headers["content-disposition"].startswith(f'attachment; filename="{result["download"]}"')
    png = fresh.get(result["png"])
    assert png.status_code == 200 and png.content.startswith(PNG_MAGIC)
    z = 0.7 * model.latents[0] + 0.3 * model.latents[2]
    expected_xy = model.latent_map.project(z)
    assert np.allclose([result["x"], result["y"]], expected_xy, atol=1e-5)
    again = fresh.get("/api/morph", params={"a": 0, "b": 2, "alpha": 0.3004}).json()  # rounds to 0.300
    assert again["key"] == result["key"] and again["cached"] is True


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"a": 0, "b": 1, "alpha": 1.5}, 400, "alpha must be in [0, 1]"),
        ({"a": 0, "b": 1, "alpha": -0.1}, 400, "alpha must be in [0, 1]"),
        ({"a": 0, "b": 1, "alpha": "nan"}, 400, "alpha must be"),
        ({"a": 0, "b": 1, "alpha": "abc"}, 422, "alpha"),
        ({"a": 0}, 422, "b: Field required"),
        ({"a": 0, "b": 99}, 404, "no sound 99"),
        ({"a": "../../etc/passwd", "b": 1}, 400, "not a sound id"),
        ({"a": "/etc/passwd", "b": 1}, 400, "not a sound id"),
        ({"a": "loop_000.wav", "b": 1}, 400, "not a sound id"),
        ({"a": "u1", "b": 1}, 404, "no upload u1"),
    ],
)
def test_morph_refuses_bad_requests(client: TestClient, params: dict, status: int, word: str) -> None:
    assert_error(client.get("/api/morph", params=params), status, word)


def test_a_library_file_name_is_not_a_sound_id(client: TestClient, model) -> None:
    assert_error(client.get("/api/morph", params={"a": model.names[0], "b": 1}), 400, "not a sound id")


# -- blend and pad ---------------------------------------------------------------------------------
def test_blend_with_weights(client: TestClient, model) -> None:
    result = client.get("/api/blend", params={"ids": "0,1,2", "weights": "1,1,2"}).json()
    assert result["kind"] == "blend" and result["weights"] == pytest.approx([0.25, 0.25, 0.5], abs=1e-3)
    expected = model.blend([(0, 1.0), (1, 1.0), (2, 2.0)])
    assert client.get(result["wav"]).content == expected.wav_bytes()


def test_pad_uses_bilinear_weights(client: TestClient) -> None:
    result = client.get("/api/blend", params={"ids": "0,1,2,3", "x": 0.25, "y": 0.5}).json()
    assert result["weights"] == pytest.approx([0.375, 0.125, 0.375, 0.125], abs=1e-3)
    corner = client.get("/api/blend", params={"ids": "0,1,2,3", "x": 1, "y": 1}).json()
    assert corner["weights"] == pytest.approx([0, 0, 0, 1], abs=1e-6)
    assert corner["name"].startswith("blend_") and corner["name"].count("-1.00") == 1


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"ids": "0,1,2", "x": 0.5, "y": 0.5}, 400, "the pad takes 4 sounds"),
        ({"ids": "0,1,2,3", "x": 1.5, "y": 0.5}, 400, "must be in [0, 1]"),
        ({"ids": "0,1,2,3"}, 400, "give weights"),
        ({"ids": "0,1", "weights": "1"}, 400, "2 sounds but 1 weights"),
        ({"ids": "0,1", "weights": "1,-1"}, 400, "non-negative"),
        ({"ids": "0,1", "weights": "0,0"}, 400, "not all zero"),
        ({"ids": "0,1", "weights": "a,b"}, 400, "numbers"),
        ({"ids": ",".join(["0"] * 9), "weights": ",".join(["1"] * 9)}, 400, "1 to 8 sounds"),
        ({"ids": "0,../x,2,3", "x": 0.5, "y": 0.5}, 400, "not a sound id"),
        ({"ids": "0,1,2,42", "x": 0.5, "y": 0.5}, 404, "no sound 42"),
    ],
)
def test_blend_refuses_bad_requests(client: TestClient, params: dict, status: int, word: str) -> None:
    assert_error(client.get("/api/blend", params=params), status, word)


# -- sweep -----------------------------------------------------------------------------------------
def test_sweep_renders_every_step_with_quality_figures(fresh: TestClient, model) -> None:
    body = fresh.get("/api/sweep", params={"a": 1, "b": 3, "steps": 4}).json()
    steps = body["steps"]
    rendered = model.sweep(1, 3, 4)  # evenly spaced, as the page's
    assert [s["name"] for s in steps] == [s.name for s in rendered]
    ratios = [float(s.name.rsplit("_a", 1)[1]) for s in rendered]  # each name carries its ratio
    assert [s["alpha"] for s in steps] == pytest.approx(ratios, abs=0.005)
    assert steps[0]["alpha"] == 0 and steps[-1]["alpha"] == 1
    assert len({s["key"] for s in steps}) == 4
    for step in steps:
        assert fresh.get(step["wav"]).status_code == 200
    assert "error" not in body["quality"], body["quality"]
    assert {"endpoint_distance", "intermediateness", "smoothness_cv"} <= set(body["quality"])
    again = fresh.get("/api/sweep", params={"a": 1, "b": 3, "steps": 4}).json()
    assert all(s["cached"] for s in again["steps"])


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"a": 0, "b": 1, "steps": 1}, 400, "steps must be in 2..100"),
        ({"a": 0, "b": 1, "steps": 101}, 400, "steps must be in 2..100"),
        ({"a": 0, "b": 1, "steps": "x"}, 422, "steps"),
        ({"a": 0, "b": "..", "steps": 3}, 400, "not a sound id"),
    ],
)
def test_sweep_refuses_bad_requests(client: TestClient, params: dict, status: int, word: str) -> None:
    assert_error(client.get("/api/sweep", params=params), status, word)


# -- surprise --------------------------------------------------------------------------------------
def test_surprise_is_seeded(fresh: TestClient, model) -> None:
    first = fresh.get("/api/surprise", params={"seed": 5}).json()
    assert first["seed"] == 5 and first["name"] == "generated_s5_00"
    assert fresh.get(first["wav"]).content == model.generate(1, seed=5)[0].wav_bytes()
    assert fresh.get("/api/surprise", params={"seed": 5}).json()["cached"] is True
    random = fresh.get("/api/surprise").json()
    assert isinstance(random["seed"], int) and fresh.get(random["png"]).content.startswith(PNG_MAGIC)
    assert_error(fresh.get("/api/surprise", params={"seed": -1}), 422, "seed")


def test_the_phase_method_is_chosen_per_request(fresh: TestClient, model) -> None:
    library = fresh.get("/api/library").json()
    assert set(library["phase_methods"]) >= {"gl", "fgla", "pghi", "source", "agla"}
    assert library["phase_methods"]["source"]["needs_source"] is True
    assert library["model"]["phase"] == model.render_options.method
    own = fresh.get("/api/morph", params={"a": 0, "b": 1, "alpha": 0.4}).json()
    gl = fresh.get("/api/morph", params={"a": 0, "b": 1, "alpha": 0.4, "phase": "gl"}).json()
    assert gl["key"] != own["key"] and gl["cached"] is False
    expected = model.morph(0, 1, 0.4, options=model.render_options.override(method="gl"))
    assert fresh.get(gl["wav"]).content == expected.wav_bytes()
    sweep = fresh.get("/api/sweep", params={"a": 0, "b": 1, "steps": 2, "phase": "source"})
    assert sweep.status_code == 200, sweep.text
    blend = fresh.get("/api/blend", params={"ids": "0,1", "weights": "1,1", "phase": "pghi"})
    assert blend.status_code == 200, blend.text
    assert_error(fresh.get("/api/morph", params={"a": 0, "b": 1, "phase": "magic"}), 400, "magic")
    assert_error(fresh.get("/api/surprise", params={"seed": 1, "phase": "source"}), 400, "source")


# -- renders by key --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/render/0123456789abcdef.wav",
        "/api/render/0123456789abcdef.png",
        "/api/render/zz.wav",
        "/api/render/..%2F..%2Fetc%2Fpasswd.wav",
        "/api/render/%2E%2E.png",
    ],
)
def test_unknown_render_is_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


# -- uploads ---------------------------------------------------------------------------------------
def test_upload_joins_the_session_and_morphs(fresh: TestClient, model, tmp_path: Path) -> None:
    data = wav_file(1.2, rate=44_100)
    (tmp_path / "mine.wav").write_bytes(data)
    response = upload(fresh, "../../My Loop.wav", data)
    assert response.status_code == 200, response.text
    sound = response.json()
    assert sound["id"] == "u1" and sound["name"] == "My Loop.wav" and sound["split"] == "upload"
    assert sound["seconds"] == pytest.approx(1.2, abs=1e-3)
    assert "u1" in [s["id"] for s in fresh.get("/api/library").json()["sounds"]]
    morphed = fresh.get("/api/morph", params={"a": 0, "b": "u1", "alpha": 0.5}).json()
    assert morphed["name"] == f"morph_{Path(model.names[0]).stem}__My Loop_a0.50"
    assert fresh.get(morphed["wav"]).status_code == 200
    original, rate = decode(fresh.get("/api/sounds/u1/original.wav").content)
    assert rate == model.sample_rate and len(original) == round(1.2 * model.sample_rate)
    latent = model.encode_audio(audio.read(tmp_path / "mine.wav", sample_rate=model.sample_rate))
    assert np.allclose([sound["x"], sound["y"]], model.latent_map.project(latent), atol=1e-5)
    assert fresh.get("/api/blend", params={"ids": "u1,0,1,2", "x": 0.1, "y": 0.1}).status_code == 200
    assert fresh.get("/api/sweep", params={"a": "u1", "b": 0, "steps": 2}).status_code == 200


def silent_wav() -> bytes:
    return audio.to_wav_bytes(np.zeros(22_050, np.float32), sample_rate=SAMPLE_RATE)


def empty_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((0, 1), np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "status", "word"),
    [
        ("notes.txt", b"hello, not audio", 415, "not an audio file type"),
        ("passwd", b"root:x:0:0", 415, "not an audio file type"),
        ("fake.wav", b"this is text pretending to be a WAV", 415, "fake.wav: unreadable"),
        ("silence.wav", silent_wav(), 400, "silence.wav: silent"),
        ("empty.wav", empty_wav(), 400, "empty.wav: empty"),
        (
            "long.wav",
            audio.to_wav_bytes(np.full(31 * 8000, 0.1, np.float32), sample_rate=8000),
            413,
            "too long",
        ),
    ],
)
def test_bad_uploads_get_a_clear_4xx(
    fresh: TestClient, name: str, data: bytes, status: int, word: str
) -> None:
    assert_error(upload(fresh, name, data), status, word)
    assert fresh.get("/api/library").status_code == 200


def test_upload_too_big_is_413_before_it_is_read(fresh: TestClient) -> None:
    big = b"\0" * (web.MAX_UPLOAD_BYTES + web.MULTIPART_SLACK + 1)
    assert_error(upload(fresh, "big.wav", big), 413, "too large")


def test_upload_limit_holds_without_content_length(model) -> None:
    """A chunked body (no Content-Length) is cut off at the limit too, not stored whole."""
    app = web.create_app(model)
    head = b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    chunks = collections.deque([head] + [b"x" * (1 << 20)] * 40)  # 40 MB in 1 MB chunks
    sent: list[dict] = []

    async def receive() -> dict:
        body = chunks.popleft() if chunks else b""
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/upload", "raw_path": b"/api/upload", "query_string": b"",
        "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"content-type", b"multipart/form-data; boundary=XYZ"), (b"host", b"127.0.0.1")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert b"too large" in sent[-1]["body"]
    assert len(chunks) >= 40 - web.MAX_UPLOAD_BYTES // (1 << 20) - 2  # stopped reading at the limit


def test_upload_without_a_file_is_422(fresh: TestClient) -> None:
    assert_error(fresh.post("/api/upload", data={"x": "1"}), 422, "file")


# -- robustness ------------------------------------------------------------------------------------
def test_a_bug_is_a_500_and_the_server_goes_on(model, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(web.create_app(model), raise_server_exceptions=False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(model.renderer, "render", broken)
    assert_error(client.get("/api/morph", params={"a": 0, "b": 1, "alpha": 0.9}), 500, "internal error")
    monkeypatch.undo()
    assert client.get("/api/morph", params={"a": 0, "b": 1, "alpha": 0.9}).status_code == 200


def test_concurrent_renders_all_succeed(fresh: TestClient) -> None:
    results: list[int] = []

    def one(k: int) -> None:
        alpha = 0.05 * (k % 5)  # repeats: several threads ask for the same render at once
        results.append(fresh.get("/api/morph", params={"a": 1, "b": 2, "alpha": alpha}).status_code)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 12


def test_create_app_refuses_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(SoundmorphError):
        web.create_app(tmp_path / "no-model")


# -- serve and the CLI -----------------------------------------------------------------------------
def test_serve_prints_the_url_and_answers(tiny_model) -> None:
    import httpx

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "soundmorph",
            "serve",
            str(tiny_model.folder),
            "--port",
            "0",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(
            rf"soundmorph: serving {re.escape(str(tiny_model.folder))} "
            r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)\n",
            line,
        )
        assert match, line
        url = match.group(1)
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/api/library").status_code == 200
            assert http.get("/api/morph", params={"a": 0, "b": 1}).status_code == 200
            # against DNS rebinding: another host name is refused
            assert http.get("/api/library", headers={"Host": "evil.example"}).status_code == 400
            port = int(url.rsplit(":", 1)[1].strip("/"))
            busy = subprocess.run(
                [sys.executable, "-m", "soundmorph", "serve", str(tiny_model.folder), "--port", str(port)],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert busy.returncode == 1
            assert (
                busy.stderr.startswith("soundmorph: error: cannot serve on 127.0.0.1:")
                and busy.stderr.count("\n") == 1
            )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0


def test_serve_a_missing_model_is_one_line_exit_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "soundmorph", "serve", str(tmp_path / "nothing"), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("soundmorph: error: ") and result.stderr.count("\n") == 1


# -- reliability: decoded size and cross-origin requests --------------------------------------------
def wide_flac(seconds: float, *, rate: int = 655_000, channels: int = 8) -> bytes:
    """A FLAC of mostly silence that is small on disk and huge when decoded (rate x channels)."""
    frames = round(seconds * rate)
    data = np.zeros((frames, channels), np.float32)
    data[:: rate // 100] = 0.5  # 100 clicks a second: compresses to almost nothing
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format="FLAC")
    return buffer.getvalue()


def test_an_upload_is_limited_by_its_decoded_size(fresh: TestClient) -> None:
    data = wide_flac(3.0)  # 3 s x 655 kHz x 8 channels: 15.7 M samples
    assert len(data) < web.MAX_UPLOAD_BYTES
    assert_error(upload(fresh, "wide.flac", data, "audio/flac"), 413, "decoded")
    small = wide_flac(0.2)  # 1 M samples: within the limit, decoded to mono at the model's rate
    response = upload(fresh, "small.flac", small, "audio/flac")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},
    ],
)
def test_cross_origin_writes_are_refused(fresh: TestClient, headers: dict[str, str]) -> None:
    response = fresh.post("/api/upload", files={"file": ("a.wav", wav_file(), "audio/wav")}, headers=headers)
    assert_error(response, 403, "cross-origin")


def test_cross_site_api_reads_are_refused_but_the_page_itself_works(fresh: TestClient) -> None:
    assert_error(
        fresh.get("/api/morph?a=0&b=1", headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-origin"
    )
    assert fresh.get("/api/library", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert fresh.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # a link to the page
    own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = fresh.post("/api/upload", files={"file": ("a.wav", wav_file(), "audio/wav")}, headers=own)
    assert response.status_code == 200, response.text


def test_serve_refuses_a_port_out_of_range() -> None:
    for port in (70_000, -1, True):
        with pytest.raises(SoundmorphError, match="port"):
            web._bind("127.0.0.1", port)  # type: ignore[arg-type]
