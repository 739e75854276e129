"""RIFF/WAVE chunks a DAW or sampler reads: ``smpl`` (loop points) and ``acid`` (tempo, beats).

Writing: :func:`smpl_chunk` and :func:`acid_chunk` build a chunk's bytes (id, size, payload, pad
byte), :func:`add_chunks` appends chunks to a WAV file's bytes and fixes its RIFF size. A loop
render carries both, so a DAW loops and warps it by itself. Pure byte functions, no file access.
"""

from __future__ import annotations

import struct

from soundmorph.errors import SoundmorphError

MIDI_UNITY_NOTE = 60  # middle C: the loop plays at its own pitch
ACID_ONE_SHOT = 0x01  # acid flags: a one-shot, not a loop
ACID_ROOT_SET = 0x02  # ... the root note is set
ACID_STRETCH = 0x04  # ... the host may time-stretch it to the song's tempo
BEAT_UNIT = 4  # meter 4/4
BEATS_PER_BAR = 4


def chunk(kind: bytes, payload: bytes) -> bytes:
    """One RIFF chunk: 4-byte id, little-endian u32 size, payload and a pad byte when odd."""
    if len(kind) != 4:
        raise SoundmorphError(f"a RIFF chunk id has 4 bytes, got {kind!r}")
    return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def smpl_chunk(*, sample_rate: int, loop_start: int, loop_end: int) -> bytes:
    """A ``smpl`` chunk with one forward loop over samples ``[loop_start, loop_end]`` (inclusive,
    as the format counts: the whole file is ``0, n - 1``), played forever, at MIDI note 60."""
    if sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be positive, got {sample_rate}")
    if not 0 <= loop_start <= loop_end < 2**32:
        raise SoundmorphError(f"loop points must satisfy 0 <= start <= end, got {loop_start}, {loop_end}")
    period_ns = round(1e9 / sample_rate)
    header = struct.pack("<9I", 0, 0, period_ns, MIDI_UNITY_NOTE, 0, 0, 0, 1, 0)
    loop = struct.pack("<6I", 0, 0, loop_start, loop_end, 0, 0)  # cue 0, forward, points, fraction, forever
    return chunk(b"smpl", header + loop)


def acid_chunk(*, bpm: float, beats: int, loop: bool = True) -> bytes:
    """An ``acid`` chunk: tempo ``bpm``, length in ``beats`` (4/4), loop or one-shot, root note 60,
    stretch on."""
    if not 0 < bpm < 10_000:
        raise SoundmorphError(f"bpm must be positive, got {bpm}")
    if not 0 <= beats < 2**32:
        raise SoundmorphError(f"beats must be >= 0, got {beats}")
    flags = ACID_ROOT_SET | ACID_STRETCH | (0 if loop else ACID_ONE_SHOT)
    payload = struct.pack(
        "<IHHfIHHf", flags, MIDI_UNITY_NOTE, 0x8000, 0.0, beats, BEAT_UNIT, BEATS_PER_BAR, bpm
    )
    return chunk(b"acid", payload)


def add_chunks(wav: bytes, chunks: list[bytes]) -> bytes:
    """``wav`` (a whole RIFF/WAVE file's bytes) with ``chunks`` appended after its last chunk and
    its RIFF size fixed."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise SoundmorphError("not a RIFF/WAVE file")
    body = wav[: 8 + struct.unpack("<I", wav[4:8])[0]]  # drop anything after the declared end
    if len(body) & 1:
        body += b"\0"
    body += b"".join(chunks)
    if len(body) - 8 >= 2**32:
        raise SoundmorphError("a WAV file over 4 GiB cannot carry RIFF chunks")
    return b"RIFF" + struct.pack("<I", len(body) - 8) + body[8:]
