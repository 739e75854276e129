"""``list`` (``data.describe``) on files that are bad around tempo: a file longer than what is read,
silence, one click, a name stating 9999 BPM, a corrupt acid chunk. Each is listed or skipped with a
one-line reason; none raises."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from soundmorph import audio, data
from soundmorph.audio import io, synth
from soundmorph.config import SAMPLE_RATE

BPM = 124.0


def _with_acid(path: Path, bpm: float, beats: int) -> None:
    """Insert an acid chunk (flags, root, two unknowns, beats, 4/4, tempo) after ``fmt ``."""
    raw = path.read_bytes()
    body = struct.pack("<IHHfIHHf", 0x02, 60, 0x8000, 0.0, beats, 4, 4, bpm)
    at = raw.index(b"data")
    raw = raw[:at] + b"acid" + struct.pack("<I", len(body)) + body + raw[at:]
    path.write_bytes(raw[:4] + struct.pack("<I", len(raw) - 8) + raw[8:])


def test_bad_tempo_files_are_listed_or_skipped_in_one_line(tmp_path: Path) -> None:
    loop = synth.drum_loop(seed=907, style="house", bpm=BPM, bars=2, kit=907)
    rate = 8_000  # the long file at a low rate: small on disk, read and resampled like any
    long = io.resample(np.tile(loop, 12), SAMPLE_RATE, rate)  # ~46 s, past the 30.25 s read
    audio.write(tmp_path / "long.wav", long, sample_rate=rate)
    audio.write(tmp_path / "silence.wav", np.zeros(2 * SAMPLE_RATE, np.float32), sample_rate=SAMPLE_RATE)
    click = np.zeros(2 * SAMPLE_RATE, np.float32)
    click[SAMPLE_RATE // 2] = 1.0
    audio.write(tmp_path / "click.wav", click, sample_rate=SAMPLE_RATE)
    bounce = synth.untrimmed(loop, lead_in=0.01, tail=0.2, kind="ring")
    audio.write(tmp_path / "loop_9999bpm.wav", bounce, sample_rate=SAMPLE_RATE)
    audio.write(tmp_path / "acid.wav", bounce, sample_rate=SAMPLE_RATE)
    _with_acid(tmp_path / "acid.wav", float("nan"), 8)

    listing = data.describe(tmp_path, sample_rate=SAMPLE_RATE)
    sounds = {s["name"]: s for s in listing["sounds"]}
    skipped = {s["name"]: s["reason"] for s in listing["skipped"]}
    assert skipped == {"silence.wav": "silent"}
    assert sounds["click.wav"]["kind"] == "oneshot"
    assert sounds["long.wav"]["kind"] == "loop" and abs(sounds["long.wav"]["bpm"] - BPM) <= 1.0
    assert sounds["long.wav"]["tail"] == "drop"
    for name in ("loop_9999bpm.wav", "acid.wav"):
        assert sounds[name]["bpm"] is not None and abs(sounds[name]["bpm"] - BPM) <= 1.0, sounds[name]
        assert sounds[name]["bars"] == 2 and sounds[name]["source"] == "audio"
        assert sounds[name]["warnings"] == []
