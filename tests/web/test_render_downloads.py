"""What the page hands a producer: a morph's download and a sweep's zip are DAW-ready files, in
stereo at the sources' rate when the sources are stereo, with the tempo and bars in their names and
the ``acid``/``smpl`` chunks inside (read back by hand and with :mod:`soundmorph.audio.riff`)."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from soundmorph import api, audio, workflow
from soundmorph.audio import riff, synth
from soundmorph.web import server as web

RATE = 44_100
TEMPI = (112, 120, 128)  # BPM of the library's stereo loops, 2 bars each
TEMPO_NAME = re.compile(r"_(\d+)bpm_(\d+)bars?\.wav$")


def _stereo(seed: int, bpm: float) -> np.ndarray:
    main = synth.drum_loop(seed=seed, bpm=bpm, bars=2, sample_rate=RATE)
    other = synth.drum_loop(seed=seed + 1, bpm=bpm, bars=2, kit=seed, sample_rate=RATE)
    return np.stack([main, 0.7 * main + 0.3 * other])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, tiny_preset) -> Iterator[tuple[TestClient, Path]]:
    """The page of a tiny loop model whose library is three 44.1-kHz stereo loops, and the library."""
    library = tmp_path_factory.mktemp("stereo_library")
    for k, bpm in enumerate(TEMPI):
        audio.write(library / f"loop_{k}.wav", _stereo(900 + k, bpm), sample_rate=RATE, subtype="PCM_24")
    folder = tmp_path_factory.mktemp("stereo_model") / "m"
    workflow.train(library, folder, preset=tiny_preset(), bpm=120, bars=2, device="cpu", progress=False)
    client = TestClient(web.create_app(api.load(folder, device="cpu")), raise_server_exceptions=False)
    yield client, library


def _chunks_by_hand(wav: bytes) -> dict[bytes, bytes]:
    """Every chunk of a RIFF/WAVE file: id -> payload."""
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    chunks, at = {}, 12
    while at + 8 <= len(wav):
        kind, size = wav[at : at + 4], struct.unpack("<I", wav[at + 4 : at + 8])[0]
        chunks[kind] = wav[at + 8 : at + 8 + size]
        at += 8 + size + (size & 1)
    return chunks


def _check_daw_ready(wav: bytes, name: str) -> None:
    """A stereo 44.1-kHz, 24-bit loop named with its tempo and bars, its chunks saying the same."""
    found = TEMPO_NAME.search(name)
    assert found is not None, name
    bpm, bars = int(found.group(1)), int(found.group(2))
    info = sf.info(io.BytesIO(wav))
    assert (info.samplerate, info.channels, info.subtype) == (RATE, 2, "PCM_24")
    chunks = _chunks_by_hand(wav)
    assert {b"fmt ", b"data", b"smpl", b"acid"} <= set(chunks)
    flags, _, _, _, beats, _, _, acid_bpm = struct.unpack("<IHHfIHHf", chunks[b"acid"][:24])
    assert not flags & riff.ACID_ONE_SHOT and beats == 4 * bars
    assert round(acid_bpm) == bpm
    # the smpl chunk: the whole file as one forward loop
    start, end = struct.unpack("<II", chunks[b"smpl"][44:52])
    assert (start, end) == (0, info.frames - 1)
    parsed = riff.parse_chunks(chunks)  # and the package's own reader agrees
    assert parsed.acid_bpm == pytest.approx(acid_bpm) and parsed.acid_beats == beats
    assert (parsed.smpl_start, parsed.smpl_end) == (0, info.frames - 1)
    assert parsed.sample_rate == RATE


def test_a_morph_download_is_a_stereo_loop_with_its_tempo(page: tuple[TestClient, Path]) -> None:
    client, library = page
    result = client.get("/api/morph", params={"a": 0, "b": 2, "alpha": 0.25}).json()
    response = client.get(result["wav"], params={"download": 1})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment") and result["download"] in disposition
    assert result["download"].endswith("_116bpm_2bars.wav")  # 0.75 x 112 + 0.25 x 128 BPM
    _check_daw_ready(response.content, result["download"])
    # alpha 0 is the source itself, as the page plays and downloads it
    start = client.get("/api/morph", params={"a": 0, "b": 2, "alpha": 0.0}).json()
    wav = client.get(start["wav"], params={"download": 1}).content
    _check_daw_ready(wav, start["download"])
    data, rate = sf.read(io.BytesIO(wav), dtype="float32")
    name = client.get("/api/library").json()["sounds"][0]["name"]
    source, _ = sf.read(library / (Path(name).stem + ".wav"), dtype="float32")
    assert rate == RATE and data.shape == source.shape
    np.testing.assert_allclose(data, source, atol=1e-4)


def test_the_sweep_zip_holds_daw_ready_loops(page: tuple[TestClient, Path]) -> None:
    client, _ = page
    response = client.get("/api/sweep.zip", params={"a": 0, "b": 1, "steps": 3})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    wavs = [name for name in archive.namelist() if name.endswith(".wav")]
    assert len(wavs) == 3
    for name in wavs:
        _check_daw_ready(archive.read(name), name)
    tempi = [int(TEMPO_NAME.search(name).group(1)) for name in wavs]  # type: ignore[union-attr]
    assert tempi[0] == TEMPI[0] and tempi[-1] == TEMPI[1]  # the ends at the sources' own tempi
