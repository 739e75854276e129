"""A Sound in a notebook: IPython's display formatter shows a player and a picture; a row of sounds
(a sweep) shows as one row; the quick picture is a PNG without matplotlib."""

from __future__ import annotations

import base64
import io
import re
import struct
import sys
import zlib

import numpy as np
import pytest
import soundfile as sf

from soundmorph import api, plot
from soundmorph import sound as sound_module
from soundmorph.config import RenderOptions
from soundmorph.sound import Sound, SoundRow

FAST = RenderOptions(n_iter=4)
DATA_URL = re.compile(r'src="data:(audio/wav|image/png);base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def model(tiny_model) -> api.SoundModel:
    return api.load(tiny_model.folder, device="cpu")


def html_of(obj: object) -> str:
    """What Jupyter shows: IPython's display formatter's text/html."""
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(obj)
    assert "text/html" in data, data.keys()
    return data["text/html"]


def embedded(html: str) -> list[tuple[str, bytes]]:
    return [(media, base64.b64decode(payload)) for media, payload in DATA_URL.findall(html)]


def test_a_sound_shows_as_a_player_and_a_picture(model: api.SoundModel) -> None:
    sound = model.morph(0, 1, 0.25, options=FAST)
    html = html_of(sound)
    assert "<audio controls" in html and "<img" in html and sound.name in html
    (wav_type, wav), (png_type, png) = embedded(html)
    assert wav_type == "audio/wav" and wav == sound.wav_bytes()  # the bytes a download gives
    assert png_type == "image/png" and png == sound.spectrogram_image()
    assert len(html) < 1.4 * (len(wav) + len(png)) + 2000  # base64 and a little markup


def test_a_sweep_and_a_generate_show_as_rows(model: api.SoundModel) -> None:
    sounds = model.sweep(0, 1, steps=3, options=FAST)
    assert isinstance(sounds, SoundRow) and isinstance(sounds, list)  # a list a notebook shows as a row
    html = html_of(sounds)
    assert "display:flex" in html and html.count("<audio") == 3 and html.count("<img") == 3
    assert [s.name for s in sounds] == [name for name in re.findall(r">([^<>]+?) · ", html)]
    generated = model.generate(2, seed=1, options=FAST)
    assert isinstance(generated, SoundRow) and html_of(generated).count("<audio") == 2


def test_a_long_sound_embeds_only_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sound_module, "MAX_HTML_SECONDS", 1.0)
    rate = 8000
    long = Sound(np.zeros(3 * rate, np.float32), rate, np.ones((33, 100), np.float32), "long", 240)
    html = long._repr_html_()
    assert "first 1 s of 3.0 s" in html
    (_, wav), _ = embedded(html)
    assert sf.info(io.BytesIO(wav)).frames == rate


def decode_png(data: bytes) -> np.ndarray:
    """RGB pixels [rows, columns, 3] of a palette PNG written by :func:`plot.spectrogram_image`."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 3)

    def chunk(kind: bytes) -> bytes:
        at = data.index(kind)
        return data[at + 4 : at + 4 + struct.unpack(">I", data[at - 4 : at])[0]]

    palette = np.frombuffer(chunk(b"PLTE"), np.uint8).reshape(-1, 3)
    rows = np.frombuffer(zlib.decompress(chunk(b"IDAT")), np.uint8).reshape(height, 1 + width)
    assert (rows[:, 0] == 0).all()  # no filter
    return palette[rows[:, 1:]]


def test_the_quick_picture_is_the_magnitude_in_db_low_frequencies_at_the_bottom() -> None:
    mag = np.full((1025, 40), 1e-6, np.float32)
    mag[10, :] = 1.0  # a loud low bin
    pixels = decode_png(plot.spectrogram_image(mag))
    assert 128 < pixels.shape[0] <= plot.IMAGE_ROWS and pixels.shape[1:] == (40, 3)
    brightness = pixels.astype(int).sum(-1).mean(1)
    assert brightness.argmax() == pixels.shape[0] - 1 - 10 // 5  # bins pooled by 5, the top row is high
    long = decode_png(plot.spectrogram_image(np.ones((64, 10_000), np.float32)))
    assert long.shape[0] == 64 and plot.IMAGE_COLUMNS // 2 < long.shape[1] <= plot.IMAGE_COLUMNS
    with pytest.raises(ValueError, match="freq, frames"):
        plot.spectrogram_image(np.ones(5))


def test_the_quick_picture_needs_no_figure() -> None:
    before = {name for name in sys.modules if name.startswith("matplotlib.figure")}
    plot.spectrogram_image(np.ones((64, 10), np.float32))
    after = {name for name in sys.modules if name.startswith("matplotlib.figure")}
    assert after == before  # only the colour table is read from matplotlib
