"""RIFF chunks a DAW reads: built, appended to a WAV, read back by hand and by libsndfile."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from soundmorph.audio import riff, to_wav_bytes
from soundmorph.errors import SoundmorphError


def read_chunks(wav: bytes) -> dict[bytes, bytes]:
    """A small independent reader: the payload of every top-level chunk by id."""
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert struct.unpack("<I", wav[4:8])[0] == len(wav) - 8, "RIFF size covers the whole file"
    found, offset = {}, 12
    while offset + 8 <= len(wav):
        kind, size = wav[offset : offset + 4], struct.unpack("<I", wav[offset + 4 : offset + 8])[0]
        found[kind] = wav[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)
    assert offset == len(wav)
    return found


def test_chunks_read_back() -> None:
    audio = np.sin(np.linspace(0, 300, 44_101)).astype(np.float32)
    chunks = [
        riff.smpl_chunk(sample_rate=44_100, loop_start=0, loop_end=44_100),
        riff.acid_chunk(bpm=128.0, beats=8),
    ]
    wav = to_wav_bytes(np.stack([audio, -audio]), sample_rate=44_100, subtype="PCM_24", chunks=chunks)
    found = read_chunks(wav)
    assert {b"fmt ", b"data", b"smpl", b"acid"} <= set(found)
    smpl = struct.unpack("<9I6I", found[b"smpl"])
    assert smpl[2] == round(1e9 / 44_100) and smpl[3] == 60 and smpl[7] == 1  # period, unity note, 1 loop
    assert smpl[10:13] == (0, 0, 44_100)  # forward loop over the whole file
    flags, root, _, _, beats, denominator, numerator, bpm = struct.unpack("<IHHfIHHf", found[b"acid"])
    assert not flags & riff.ACID_ONE_SHOT and flags & riff.ACID_STRETCH
    assert (root, beats, numerator, denominator) == (60, 8, 4, 4)
    assert bpm == pytest.approx(128.0)
    decoded, rate = sf.read(io.BytesIO(wav), dtype="float32")  # libsndfile still reads the samples
    assert rate == 44_100 and decoded.shape == (44_101, 2)
    np.testing.assert_allclose(decoded[:, 0], audio, atol=1e-6)


def test_one_shot_flag_and_odd_sizes() -> None:
    assert struct.unpack("<I", riff.acid_chunk(bpm=90.5, beats=4, loop=False)[8:12])[0] & riff.ACID_ONE_SHOT
    odd = riff.chunk(b"test", b"abc")
    assert len(odd) == 12 and odd[-1:] == b"\0"  # padded to an even size
    wav = to_wav_bytes(np.zeros(3, np.float32), sample_rate=8_000, subtype="PCM_16")  # 6 data bytes
    assert read_chunks(riff.add_chunks(wav, [odd]))[b"test"] == b"abc"


def test_bad_input_is_refused() -> None:
    with pytest.raises(SoundmorphError):
        riff.add_chunks(b"not a wav file", [])
    with pytest.raises(SoundmorphError):
        riff.smpl_chunk(sample_rate=44_100, loop_start=10, loop_end=5)
    with pytest.raises(SoundmorphError):
        riff.acid_chunk(bpm=0.0, beats=4)


def test_what_a_render_writes_the_reader_reads(tmp_path) -> None:
    clip = np.zeros(22_050, dtype=np.float32)
    wav = riff.add_chunks(
        to_wav_bytes(clip, sample_rate=22_050),
        [
            riff.acid_chunk(bpm=126.5, beats=8),
            riff.smpl_chunk(sample_rate=22_050, loop_start=0, loop_end=22_049),
        ],
    )
    path = tmp_path / "render.wav"
    path.write_bytes(wav)
    found = riff.read_loop_chunks(path)
    assert (found.acid_bpm, found.acid_beats, found.acid_oneshot) == (126.5, 8, False)
    assert found.smpl_seconds == (0.0, 1.0) and found.sample_rate == 22_050
