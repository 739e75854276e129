"""Tests for soundmorph.audio on generated signals, in tmp_path only."""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundmorph import audio
from soundmorph.errors import AudioError, SoundmorphError, SoundmorphWarning

RATE = 22_050  # Hz


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(n: int, amplitude: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.uniform(-1, 1, n)).astype(np.float32)


def peak_frequency(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


def assert_audio_error(path: Path, reason: str, **options: float) -> None:
    with pytest.raises(AudioError) as caught:
        audio.read(path, **options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert path.name in message
    assert reason in message
    assert "\n" not in message


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtype", "tolerance"),
    [
        ("PCM_U8", 1 / 64),
        ("PCM_16", 1e-4),
        ("PCM_24", 1e-6),
        ("PCM_32", 1e-6),
        ("FLOAT", 0.0),
        ("DOUBLE", 0.0),
    ],
)
def test_read_wav_bit_depths(tmp_path: Path, subtype: str, tolerance: float) -> None:
    signal = noise(RATE // 2)
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, signal, RATE, subtype=subtype)
    result = audio.read(path)
    assert result.dtype == np.float32 and result.shape == signal.shape
    np.testing.assert_allclose(result, signal, atol=tolerance)


def test_read_mixes_stereo_and_resamples(tmp_path: Path) -> None:
    rate, seconds = 96_000, 0.5
    left, right = sine(440, seconds, rate, 0.6), sine(440, seconds, rate, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), rate, subtype="PCM_24")

    result = audio.read(path, sample_rate=RATE)

    assert result.dtype == np.float32
    assert abs(len(result) - seconds * RATE) <= 1
    assert abs(peak_frequency(result, RATE) - 440) <= RATE / len(result)  # within one FFT bin
    middle = result[RATE // 10 : -RATE // 10]  # away from the resampler's edges
    np.testing.assert_allclose(np.sqrt(np.mean(middle**2)), 0.4 / np.sqrt(2), rtol=0.02)  # mean of channels


def test_read_keeps_rate_when_equal(tmp_path: Path) -> None:
    signal = noise(1000, seed=1)
    path = tmp_path / "x.wav"
    sf.write(path, signal, 8000, subtype="FLOAT")
    np.testing.assert_array_equal(audio.read(path, sample_rate=8000), signal)
    assert len(audio.read(path, sample_rate=16_000)) == 2000


@pytest.mark.parametrize(
    ("suffix", "file_format", "subtype", "lossy"),
    [
        (".flac", "FLAC", "PCM_16", False),
        (".flac", "FLAC", "PCM_24", False),
        (".ogg", "OGG", "VORBIS", True),
        (".opus", "OGG", "OPUS", True),
        (".aiff", "AIFF", "PCM_16", False),
    ],
)
def test_read_other_formats(tmp_path: Path, suffix: str, file_format: str, subtype: str, lossy: bool) -> None:
    if subtype not in sf.available_subtypes(file_format):
        pytest.skip(f"libsndfile here cannot write {file_format}/{subtype}")
    rate = 48_000 if subtype == "OPUS" else RATE  # Opus only runs at 8/12/16/24/48 kHz
    signal = sine(440, 0.5, rate)
    path = tmp_path / f"x{suffix}"
    sf.write(path, signal, rate, format=file_format, subtype=subtype)
    result = audio.read(path)
    assert abs(len(result) - 0.5 * RATE) <= 1
    if lossy:
        assert abs(peak_frequency(result, RATE) - 440) <= 2 * RATE / len(result)
    else:
        np.testing.assert_allclose(result, signal, atol=1e-4)


def test_read_mp3(tmp_path: Path) -> None:
    if "MPEG_LAYER_III" not in sf.available_subtypes("MP3"):
        pytest.skip("libsndfile here has no MP3 support (optional)")
    path = tmp_path / "x.mp3"
    sf.write(path, sine(440, 0.5, RATE), RATE, format="MP3", subtype="MPEG_LAYER_III")
    result = audio.read(path)
    assert abs(len(result) - 0.5 * RATE) < 0.1 * RATE  # the encoder adds a little padding
    assert abs(peak_frequency(result, RATE) - 440) <= 2 * RATE / len(result)


def test_info(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros((4410, 2), np.float32), 44_100)
    assert audio.info(path) == audio.AudioInfo(
        path, duration=0.1, sample_rate=44_100, channels=2, frames=4410
    )
    assert audio.info(str(path)).path == path


def test_info_refuses_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("not audio at all")
    with pytest.raises(AudioError, match=r"notes\.wav: unreadable"):
        audio.info(path)


# --- bad files ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert_audio_error(tmp_path / "gone.wav", "no such file")
    with pytest.raises(AudioError, match="no such file"):
        audio.info(tmp_path / "gone.wav")


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    assert_audio_error(folder, "not a file")


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "text.wav"
    path.write_text("hello\nworld\n")
    assert_audio_error(path, "unreadable")


def test_header_only_30_bytes(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, noise(RATE), RATE)
    path.write_bytes(path.read_bytes()[:30])
    assert_audio_error(path, "unreadable")


@pytest.mark.parametrize("extra", [0, 1])  # cut on a sample boundary and inside a sample
def test_truncated_wav_reads_what_is_there(tmp_path: Path, extra: int) -> None:
    signal = noise(RATE, seed=2)
    path = tmp_path / "half.wav"
    sf.write(path, signal, RATE, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + extra])
    with pytest.warns(SoundmorphWarning, match="truncated"):
        result = audio.read(path)
    assert 0.4 * RATE < len(result) < 0.6 * RATE
    np.testing.assert_allclose(result, signal[: len(result)], atol=1e-4)


def test_empty_wav(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), RATE)
    assert audio.info(path).frames == 0
    assert_audio_error(path, "empty (0 samples)")


@pytest.mark.parametrize("level", [0.0, 1e-6])
def test_silent(tmp_path: Path, level: float) -> None:
    path = tmp_path / "quiet.wav"
    sf.write(path, np.full(RATE, level, np.float32), RATE, subtype="FLOAT")
    assert_audio_error(path, "silent")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_not_finite(tmp_path: Path, bad: float) -> None:
    signal = noise(RATE)
    signal[100] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, signal, RATE, subtype="FLOAT")
    assert_audio_error(path, "not finite")


def test_too_short(tmp_path: Path) -> None:
    path = tmp_path / "blip.wav"
    sf.write(path, noise(40), 8000)  # 0.005 s
    assert_audio_error(path, "too short (0.005 s < 0.01 s)")
    assert len(audio.read(path, sample_rate=8000, min_seconds=0.0)) == 40


def test_a_short_one_shot_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "closed_hat.wav"
    sf.write(path, noise(2205), 44100)  # 50 ms, a typical closed hat
    assert abs(len(audio.read(path)) - 1102) <= 1  # resampled to 22,050 Hz


# --- fit_length --------------------------------------------------------------------------------


def test_fit_length_crops_and_pads() -> None:
    signal = noise(100).astype(np.float64)
    cropped, padded = audio.fit_length(signal, 60), audio.fit_length(signal, 150)
    assert cropped.dtype == padded.dtype == np.float32
    np.testing.assert_allclose(cropped, signal[:60], rtol=1e-6)
    np.testing.assert_allclose(padded[:100], signal, rtol=1e-6)
    assert padded.shape == (150,) and not padded[100:].any()
    assert audio.fit_length(signal, 100).shape == (100,)


def test_fit_length_batched() -> None:
    batch = noise(2 * 3 * 10).reshape(2, 3, 10)
    assert audio.fit_length(batch, 4).shape == (2, 3, 4)
    padded = audio.fit_length(batch, 12)
    np.testing.assert_array_equal(padded[..., :10], batch)
    with pytest.raises(SoundmorphError):
        audio.fit_length(batch, -1)


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("subtype", "tolerance"), [("PCM_16", 1e-4), ("PCM_24", 1e-6), ("FLOAT", 0.0)])
def test_write_round_trip(tmp_path: Path, subtype: str, tolerance: float) -> None:
    signal = noise(RATE, seed=3)
    path = audio.write(tmp_path / "out.wav", signal, sample_rate=RATE, subtype=subtype)
    assert path == tmp_path / "out.wav"
    assert sf.info(path).subtype == subtype
    np.testing.assert_allclose(audio.read(path), signal, atol=tolerance)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temporary file left behind


def test_write_stereo_channels_first(tmp_path: Path) -> None:
    stereo = np.stack([noise(1000, seed=4), noise(1000, seed=5)])
    path = audio.write(tmp_path / "stereo.wav", stereo, sample_rate=RATE, subtype="FLOAT")
    data, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(data.T, stereo)


def test_write_scales_only_clipping_signals(tmp_path: Path) -> None:
    loud, quiet = noise(RATE, seed=6), noise(RATE, seed=7)
    loud *= 2.0 / np.abs(loud).max()
    quiet *= 0.5 / np.abs(quiet).max()
    original = loud.copy()
    audio.write(tmp_path / "loud.wav", loud, sample_rate=RATE)
    audio.write(tmp_path / "quiet.wav", quiet, sample_rate=RATE)
    loud_peak = np.abs(sf.read(tmp_path / "loud.wav")[0]).max()
    assert loud_peak <= 1.0 and loud_peak == pytest.approx(audio.SAFE_PEAK, abs=1e-4)
    assert np.abs(sf.read(tmp_path / "quiet.wav")[0]).max() == pytest.approx(0.5, abs=1e-4)
    np.testing.assert_array_equal(loud, original)  # the caller's array is left alone


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    path = audio.write(tmp_path / "x.wav", noise(100, seed=8), sample_rate=RATE)
    before = path.read_bytes()
    with pytest.raises(SoundmorphError, match=r"x\.wav: exists \(use --force to overwrite\)"):
        audio.write(path, noise(200, seed=9), sample_rate=RATE)
    assert path.read_bytes() == before
    audio.write(path, noise(200, seed=9), sample_rate=RATE, force=True)
    assert sf.info(path).frames == 200
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_write_creates_parents(tmp_path: Path) -> None:
    path = audio.write(tmp_path / "a" / "b" / "x.wav", noise(100), sample_rate=RATE)
    assert path.is_file()


def test_write_refuses_nan_and_leaves_nothing(tmp_path: Path) -> None:
    signal = noise(100)
    signal[3] = np.nan
    with pytest.raises(AudioError, match=r"x\.wav: not finite"):
        audio.write(tmp_path / "x.wav", signal, sample_rate=RATE)
    assert list(tmp_path.iterdir()) == []


def test_write_failure_removes_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = audio.write(tmp_path / "x.wav", noise(100), sample_rate=RATE)
    before = path.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise sf.LibsndfileError(0, "disk on fire")

    monkeypatch.setattr(audio.sf, "write", broken)
    with pytest.raises(SoundmorphError, match="cannot write"):
        audio.write(path, noise(200), sample_rate=RATE, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]
    assert path.read_bytes() == before


def test_write_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(SoundmorphError, match="subtype"):
        audio.write(tmp_path / "x.wav", noise(10), sample_rate=RATE, subtype="PCM_8")
    with pytest.raises(SoundmorphError, match="shape"):
        audio.write(tmp_path / "x.wav", np.zeros((1, 2, 3), np.float32), sample_rate=RATE)


def test_to_wav_bytes(tmp_path: Path) -> None:
    signal = noise(RATE, seed=10) * 3.0
    data = audio.to_wav_bytes(signal, sample_rate=RATE, subtype="FLOAT")
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == RATE
    np.testing.assert_allclose(decoded, audio.peak_safe(signal))
    assert np.abs(decoded).max() == pytest.approx(audio.SAFE_PEAK)
    assert data == audio.write(tmp_path / "x.wav", signal, sample_rate=RATE, subtype="FLOAT").read_bytes()


def test_peak_safe() -> None:
    assert audio.peak_safe(np.zeros(0)).shape == (0,)
    np.testing.assert_array_equal(audio.peak_safe(np.array([0.5, -1.0])), [0.5, -1.0])
    np.testing.assert_allclose(audio.peak_safe(np.array([2.0, -4.0])), [0.495, -0.99], rtol=1e-6)


# --- finding files -----------------------------------------------------------------------------


def test_find_audio_files(tmp_path: Path) -> None:
    for name in [
        "b.wav", "A.WAV", "sub/c.flac", "sub/deep/d.Ogg", "z.mp3",
        "notes.txt", "wav", ".hidden.wav", ".hidden/e.wav", "sub/.cache/f.wav",
    ]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()

    found = audio.find_audio_files(tmp_path)

    expected = ["A.WAV", "b.wav", "sub/c.flac", "sub/deep/d.Ogg", "z.mp3"]
    assert [p.relative_to(tmp_path).as_posix() for p in found] == expected
    assert audio.find_audio_files(str(tmp_path)) == found


def test_find_audio_files_errors(tmp_path: Path) -> None:
    with pytest.raises(SoundmorphError, match="no such folder"):
        audio.find_audio_files(tmp_path / "missing")
    (tmp_path / "file.wav").write_bytes(b"")
    with pytest.raises(SoundmorphError, match="not a folder"):
        audio.find_audio_files(tmp_path / "file.wav")


def test_skipped_from_error(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    sf.write(path, np.zeros(RATE, np.float32), RATE)
    with pytest.raises(AudioError) as caught:
        audio.read(path)
    assert audio.Skipped.from_error(path, caught.value) == audio.Skipped(path, "silent")


# --- limits and warnings ----------------------------------------------------------------------


def set_wav_header(path: Path, *, rate: int | None = None, channels: int | None = None) -> None:
    """Change the rate / channel count a PCM WAV's header declares, leaving the data alone."""
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"fmt "
    if channels is not None:
        data[22:24] = channels.to_bytes(2, "little")
    if rate is not None:
        data[24:28] = rate.to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("rate", [1, 999, 768_001, 4_000_000_000])
def test_a_header_rate_outside_the_limits_is_refused_before_decoding(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "odd.wav"
    sf.write(path, noise(RATE), RATE, subtype="PCM_16")
    set_wav_header(path, rate=rate)
    for function in (audio.read, audio.info):
        with pytest.raises(AudioError, match=r"sample rate|unreadable") as caught:
            function(path)
        assert "\n" not in str(caught.value)


def test_a_flac_of_8_channels_at_655_khz_is_read_as_mono_within_bounds(tmp_path: Path) -> None:
    path = tmp_path / "wide.flac"
    sf.write(path, np.tile(noise(655_000 // 4)[:, None], (1, 8)), 655_000, format="FLAC")
    result = audio.read(path, max_seconds=0.1)
    assert abs(len(result) - 0.1 * RATE) <= 2


def test_too_many_channels_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.wav"
    sf.write(path, np.zeros((10, 65), np.float32) + 0.1, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="65 channels"):
        audio.read(path)


def test_read_stops_at_max_seconds(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    signal = noise(3 * 44_100)
    sf.write(path, signal, 44_100, subtype="FLOAT")
    whole = audio.read(path)
    start = audio.read(path, max_seconds=1.0)
    assert len(start) == RATE
    np.testing.assert_allclose(start[: RATE - 200], whole[: RATE - 200], atol=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 601, math.inf, math.nan])
def test_read_refuses_a_bad_max_seconds(tmp_path: Path, bad: float) -> None:
    with pytest.raises(SoundmorphError, match="max_seconds"):
        audio.read(tmp_path / "x.wav", max_seconds=bad)


def test_dc_only_audio_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "dc.wav"
    sf.write(path, np.full(RATE, 0.25, np.float32), RATE, subtype="FLOAT")
    with pytest.warns(SoundmorphWarning, match="DC") as record:
        audio.read(path)
    assert len(record) == 1 and "\n" not in str(record[0].message)


@pytest.mark.parametrize("peak", [1.5, 1e6])
def test_a_float_file_over_full_scale_is_scaled_to_full_scale_with_a_warning(
    tmp_path: Path, peak: float
) -> None:
    path = tmp_path / "hot.wav"
    signal = noise(RATE)
    signal = signal / np.abs(signal).max() * 0.5
    sf.write(path, signal * (2 * peak), RATE, subtype="FLOAT")  # peak: 2 * peak * 0.5
    with pytest.warns(SoundmorphWarning, match="over full scale") as record:
        read = audio.read(path)
    assert len(record) == 1 and path.name in str(record[0].message)
    np.testing.assert_allclose(read, signal * 2, rtol=1e-5, atol=1e-6)  # the shape kept, at a peak of 1
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, signal, RATE, subtype="FLOAT")
    np.testing.assert_array_equal(audio.read(quiet), signal.astype(np.float32))  # at or under 1.0: as is


def test_a_garbage_mp3_is_unreadable_not_missing(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match=r"noise\.mp3: unreadable") as caught:
        audio.read(path)
    assert "does not exist" not in str(caught.value)


def test_a_truncated_wav_warns_once(tmp_path: Path) -> None:
    path = tmp_path / "half.wav"
    sf.write(path, noise(RATE), RATE, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:RATE])
    with pytest.warns(SoundmorphWarning, match="truncated") as record:
        audio.read(path)
    assert len(record) == 1


def test_a_whole_wav_does_not_warn(tmp_path: Path) -> None:
    path = tmp_path / "whole.wav"
    sf.write(path, noise(RATE), RATE, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        audio.read(path)
        audio.read(path, max_seconds=0.5)


def test_walk_audio_reports_entries_that_are_not_files(tmp_path: Path) -> None:
    sf.write(tmp_path / "good.wav", noise(RATE), RATE)
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "broken.wav").symlink_to(tmp_path / "gone.wav")
    os.mkfifo(tmp_path / "pipe.wav")
    found, skipped = audio.walk_audio(tmp_path)
    assert found == [tmp_path / "good.wav"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert reasons == {
        "broken.wav": "broken link",
        "folder.wav": "a folder, not a file",
        "pipe.wav": "not a regular file",
    }


def test_write_refuses_a_fifo_even_with_force(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(SoundmorphError, match="FIFO"):
        audio.write(tmp_path / "pipe.wav", noise(100), sample_rate=RATE, force=True)
