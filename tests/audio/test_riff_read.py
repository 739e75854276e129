"""Reading acid and smpl chunks: from WAV files written here with real chunks (the chunk layouts of
the ACID and sampler specifications, built with struct), and from files that have none."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from soundmorph import audio
from soundmorph.audio import riff, synth, tempo
from soundmorph.config import SAMPLE_RATE


def acid_body(*, bpm: float, beats: int, oneshot: bool = False) -> bytes:
    """An acid chunk body: flags, root note, two unknowns, beats, meter (4/4), tempo."""
    flags = (riff.ACID_ONE_SHOT if oneshot else 0) | 0x02
    return struct.pack("<IHHfIHHf", flags, 60, 0x8000, 0.0, beats, 4, 4, bpm)


def smpl_body(*, start: int, end: int, sample_rate: int) -> bytes:
    """A smpl chunk body with one forward loop from ``start`` to ``end`` (inclusive)."""
    header = struct.pack("<IIIIIIIII", 0, 0, round(1e9 / sample_rate), 60, 0, 0, 0, 1, 0)
    return header + struct.pack("<IIIIII", 0, 0, start, end, 0, 0)


def with_chunks(path: Path, chunks: dict[bytes, bytes]) -> Path:
    """Add ``chunks`` (id -> body) to the WAV file ``path`` before its data, RIFF size fixed."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    position, body = 12, b""
    while position < len(raw):
        chunk_id, size = (
            raw[position : position + 4],
            struct.unpack("<I", raw[position + 4 : position + 8])[0],
        )
        chunk = raw[position : position + 8 + size + (size & 1)]
        if chunk_id == b"data":
            for new_id, new_body in chunks.items():
                body += new_id + struct.pack("<I", len(new_body)) + new_body + b"\0" * (len(new_body) & 1)
        body += chunk
        position += len(chunk)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return path


def test_acid_and_smpl_chunks_are_read(tmp_path: Path) -> None:
    loop = synth.drum_loop(seed=3, bpm=124, bars=2)
    path = audio.write(tmp_path / "a.wav", loop, sample_rate=SAMPLE_RATE)
    with_chunks(
        path,
        {
            b"acid": acid_body(bpm=124.0, beats=8),
            b"smpl": smpl_body(start=10, end=10 + len(loop) - 1, sample_rate=SAMPLE_RATE),
        },
    )
    chunks = riff.read_loop_chunks(path)
    assert chunks.acid_bpm == 124.0 and chunks.acid_beats == 8 and chunks.acid_oneshot is False
    assert (chunks.smpl_start, chunks.smpl_end, chunks.sample_rate) == (10, 10 + len(loop) - 1, SAMPLE_RATE)
    assert chunks.smpl_seconds == pytest.approx((10 / SAMPLE_RATE, len(loop) / SAMPLE_RATE))
    assert np.allclose(audio.read(path), audio.read(tmp_path / "a.wav"))  # the audio reads alike


def test_files_without_chunks_say_nothing(tmp_path: Path) -> None:
    path = audio.write(tmp_path / "plain.wav", synth.one_shot("kick", seed=1), sample_rate=SAMPLE_RATE)
    assert riff.read_loop_chunks(path) == riff.LoopChunks(sample_rate=SAMPLE_RATE)
    (tmp_path / "junk.wav").write_bytes(b"RIFF\xff\xff\xff\xffWAVEacid\x04\x00\x00\x00ab")
    assert riff.read_loop_chunks(tmp_path / "junk.wav") == riff.LoopChunks()  # too short: ignored
    (tmp_path / "text.wav").write_text("not audio")
    assert riff.read_loop_chunks(tmp_path / "text.wav") == riff.LoopChunks()
    assert riff.read_loop_chunks(tmp_path / "missing.wav") == riff.LoopChunks()


def test_a_one_shot_flag_is_read(tmp_path: Path) -> None:
    path = audio.write(tmp_path / "hit.wav", synth.one_shot("snare", seed=1), sample_rate=SAMPLE_RATE)
    with_chunks(path, {b"acid": acid_body(bpm=0.0, beats=0, oneshot=True)})
    chunks = riff.read_loop_chunks(path)
    assert chunks.acid_oneshot is True and chunks.acid_bpm is None and chunks.acid_beats is None


def test_chunks_are_evidence_the_hits_weigh(tmp_path: Path) -> None:
    """An acid tempo the hits agree with is used (octaves apart too); one they contradict is
    ignored with a dispute; smpl loop points give the loop's start and length."""
    loop = synth.drum_loop(seed=5, style="break", bpm=131, bars=2)
    bounce = synth.untrimmed(loop, lead_in=0.02, tail=0.3, kind="reverb", seed=2)
    path = audio.write(tmp_path / "b.wav", bounce, sample_rate=SAMPLE_RATE)
    with_chunks(path, {b"acid": acid_body(bpm=131.0, beats=8)})
    found = tempo.analyse(audio.read(path), chunks=riff.read_loop_chunks(path))
    assert (found.source, found.bpm, found.bars) == ("acid", 131.0, 2)
    assert abs(found.start - 0.02) < 0.002 and found.tail == "wrap"

    wrong = riff.LoopChunks(acid_bpm=97.0, acid_beats=8, acid_oneshot=False)
    found = tempo.analyse(bounce, chunks=wrong)
    assert found.source == "audio" and abs(float(found.bpm or 0) - 131) <= 1 and found.bars == 2
    assert tempo.disputes(found, chunks=wrong) == ["acid chunk says 97 BPM"]

    first = round(0.02 * SAMPLE_RATE)
    points = riff.LoopChunks(smpl_start=first, smpl_end=first + len(loop) - 1, sample_rate=SAMPLE_RATE)
    found = tempo.analyse(bounce, chunks=points)
    assert found.source == "smpl" and abs(float(found.bpm or 0) - 131) <= 0.1 and found.bars == 2
