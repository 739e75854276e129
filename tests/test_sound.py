"""A rendered Sound: WAV and PNG files, WAV bytes, and a sweep written to a folder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundmorph import audio, session
from soundmorph.config import RenderOptions
from soundmorph.errors import SoundmorphError
from soundmorph.sound import save_sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = RenderOptions(n_iter=4)  # only the files matter


@pytest.fixture(scope="module")
def model(tiny_model) -> session.SoundModel:
    return session.load(tiny_model.folder, device="cpu")


def assert_valid_wav(path: Path, *, sample_rate: int, samples: int) -> None:
    data, rate = sf.read(path, dtype="float32")
    assert rate == sample_rate
    assert data.shape == (samples,)
    assert np.isfinite(data).all()
    assert float(np.abs(data).max()) <= 1.0


def test_sound_save_writes_a_readable_wav_and_png(model: session.SoundModel, tmp_path: Path) -> None:
    sound = model.morph(0, 1, 0.5)
    written = sound.save(tmp_path / "out.wav", plot=tmp_path / "out.png")
    assert written == [tmp_path / "out.wav", tmp_path / "out.png"]
    assert_valid_wav(tmp_path / "out.wav", sample_rate=model.sample_rate, samples=model.clip_samples)
    assert (tmp_path / "out.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("existing", ["out.wav", "out.png"])
def test_sound_save_refuses_to_overwrite(model: session.SoundModel, tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_bytes(b"keep me")
    sound = model.morph(0, 1, 0.5, options=FAST)
    with pytest.raises(SoundmorphError, match="exists"):
        sound.save(tmp_path / "out.wav", plot=tmp_path / "out.png")
    assert (tmp_path / existing).read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # nothing else written either


def test_sound_save_overwrites_with_force(model: session.SoundModel, tmp_path: Path) -> None:
    sound = model.morph(0, 1, 0.5, options=FAST)
    sound.save(tmp_path / "out.wav", subtype="FLOAT")  # an earlier render
    sound.save(tmp_path / "out.wav", force=True)
    assert_valid_wav(tmp_path / "out.wav", sample_rate=model.sample_rate, samples=model.clip_samples)


def test_sound_save_with_force_replaces_only_what_soundmorph_writes(
    model: session.SoundModel, tmp_path: Path
) -> None:
    (tmp_path / "notes.wav").write_bytes(b"my notes")
    with pytest.raises(SoundmorphError, match="not a WAV"):
        model.morph(0, 1, 0.5, options=FAST).save(tmp_path / "notes.wav", force=True)
    assert (tmp_path / "notes.wav").read_bytes() == b"my notes"


def test_loud_sounds_are_written_without_clipping(model: session.SoundModel, tmp_path: Path) -> None:
    sound = model.morph(0, 1, 0.5, options=FAST)
    sound.audio = 10 * sound.audio / np.abs(sound.audio).max()
    sound.save(tmp_path / "loud.wav", subtype="FLOAT")
    assert_valid_wav(tmp_path / "loud.wav", sample_rate=model.sample_rate, samples=model.clip_samples)


def test_wav_bytes_decode_to_the_audio(model: session.SoundModel) -> None:
    sound = model.morph(0, 1, 0.5, options=FAST)
    data, rate = sf.read(io.BytesIO(sound.wav_bytes(subtype="FLOAT")), dtype="float32")
    assert rate == sound.sample_rate
    np.testing.assert_array_equal(data, audio.peak_safe(sound.audio))


def test_save_sweep_writes_every_step_and_a_grid(model: session.SoundModel, tmp_path: Path) -> None:
    sounds = model.sweep(0, 1, steps=2, options=FAST)
    written = save_sweep(sounds, tmp_path / "sweep")
    names = {p.name for p in written}
    assert names == {f"{s.name}.wav" for s in sounds} | {f"{s.name}.png" for s in sounds} | {"grid.png"}
    assert all(p.exists() for p in written)
    for sound in sounds:
        assert_valid_wav(
            tmp_path / "sweep" / f"{sound.name}.wav",
            sample_rate=model.sample_rate,
            samples=model.clip_samples,
        )
    grid = (tmp_path / "sweep" / "grid.png").read_bytes()
    assert grid.startswith(PNG_SIGNATURE)
    with pytest.raises(SoundmorphError, match=r"grid\.png"):
        save_sweep(sounds, tmp_path / "sweep")
    assert (tmp_path / "sweep" / "grid.png").read_bytes() == grid


def test_a_loop_render_is_24_bit_stereo_with_smpl_and_acid_chunks(tmp_path: Path) -> None:
    from soundmorph.sound import Sound

    stereo = (0.5 * np.sin(np.linspace(0, 900, 2 * 44_100))).reshape(2, -1).astype(np.float32)
    loop = Sound(
        stereo, 44_100, np.ones((3, 4), np.float32), "morph_a__b_a0.30_128bpm_2bars", 1024, bpm=128.0, bars=2
    )
    assert loop.channels == 2 and loop.duration == pytest.approx(1.0)
    path = loop.save(tmp_path / "loop.wav")[0]
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (44_100, 2, "PCM_24")
    raw = path.read_bytes()
    assert b"smpl" in raw and b"acid" in raw
    acid = raw[raw.index(b"acid") + 8 :]
    assert np.frombuffer(acid[12:16], "<u4")[0] == 8  # beats: 2 bars of 4/4
    assert np.frombuffer(acid[20:24], "<f4")[0] == pytest.approx(128.0)
    assert raw == loop.wav_bytes()  # the page's download carries them too
    one_shot = Sound(stereo[0], 44_100, np.ones((3, 4), np.float32), "generated_s0_00", 1024)
    assert b"acid" not in one_shot.wav_bytes() and one_shot.channels == 1
    assert sf.info(io.BytesIO(one_shot.wav_bytes(subtype="FLOAT"))).subtype == "FLOAT"
