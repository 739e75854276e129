"""Loop metadata in WAV files: the ``acid`` and ``smpl`` chunks of a RIFF/WAVE file, read and written.

Reading (:func:`read_loop_chunks`) is a small pure parser (no audio is decoded, no dependency): it
walks the file's chunks and reads

- ``acid`` (Sony/Magix ACID, 24 bytes): flags (bit 0: one-shot), root note, the loop's length in
  beats, the meter and the tempo in BPM (float32);
- ``smpl`` (the sampler chunk): the sample period (ns per sample) and the first loop's start and end
  (sample frames, the end inclusive);
- ``fmt `` only for its sample rate, so that ``smpl`` points can be turned into seconds.

Anything that is not a RIFF/WAVE file, or a chunk too short for its fields, gives empty fields: the
metadata is evidence, never a reason to refuse a file (its audio is read by :mod:`.io`).

Writing: :func:`smpl_chunk` and :func:`acid_chunk` build a chunk's bytes (id, size, payload, pad
byte), :func:`add_chunks` appends chunks to a WAV file's bytes and fixes its RIFF size. A loop
render carries both, so a DAW loops and warps it by itself. Pure byte functions, no file access.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from soundmorph.errors import SoundmorphError

ACID_ONE_SHOT = 0x01  # acid flag bit: the file is a one-shot, not a loop
ACID_SIZE = 24  # bytes of an acid chunk
SMPL_HEADER = 36  # bytes of a smpl chunk before its loops
SMPL_LOOP = 24  # bytes per smpl loop
ACID_ROOT_SET = 0x02  # ... the root note is set
ACID_STRETCH = 0x04  # ... the host may time-stretch it to the song's tempo
MIDI_UNITY_NOTE = 60  # middle C: the loop plays at its own pitch
BEAT_UNIT = 4  # meter 4/4
BEATS_PER_BAR = 4
MAX_CHUNKS = 4096  # chunks walked at most (a corrupt size field cannot make the walk endless)


@dataclass(frozen=True)
class LoopChunks:
    """What a WAV file says about itself as a loop; each field None where it says nothing.

    Attributes
    ----------
    acid_bpm : float or None
        The ``acid`` chunk's tempo (BPM).
    acid_beats : int or None
        The ``acid`` chunk's loop length in beats (None when 0).
    acid_oneshot : bool or None
        The ``acid`` chunk's one-shot flag.
    smpl_start, smpl_end : int or None
        The first ``smpl`` loop's start and end, in sample frames of the file; ``end`` is the last
        frame of the loop (inclusive, as the chunk stores it).
    sample_rate : int or None
        The file's rate (``fmt `` chunk), in Hz.
    """

    acid_bpm: float | None = None
    acid_beats: int | None = None
    acid_oneshot: bool | None = None
    smpl_start: int | None = None
    smpl_end: int | None = None
    sample_rate: int | None = None

    @property
    def smpl_seconds(self) -> tuple[float, float] | None:
        """The ``smpl`` loop as (start, length) in seconds, None without a loop or a rate."""
        if self.smpl_start is None or self.smpl_end is None or not self.sample_rate:
            return None
        if self.smpl_end < self.smpl_start:
            return None
        rate = float(self.sample_rate)
        return self.smpl_start / rate, (self.smpl_end - self.smpl_start + 1) / rate


def read_loop_chunks(path: str | Path) -> LoopChunks:
    """The ``acid`` and ``smpl`` loop metadata of a WAV file (empty for other files).

    Parameters
    ----------
    path : str or Path
        Any file; only a RIFF/WAVE file can say anything.

    Returns
    -------
    LoopChunks
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return LoopChunks()
            chunks = _walk(handle)
    except OSError:
        return LoopChunks()
    return parse_chunks(chunks)


def _walk(handle: BinaryIO) -> dict[bytes, bytes]:
    """The first chunk of each id among ``fmt ``, ``acid`` and ``smpl`` after the RIFF header."""
    wanted = {b"fmt ", b"acid", b"smpl"}
    found: dict[bytes, bytes] = {}
    read, seek = handle.read, handle.seek
    for _ in range(MAX_CHUNKS):
        header = read(8)
        if len(header) < 8:
            break
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id in wanted and chunk_id not in found:
            found[chunk_id] = read(min(size, 1 << 16))
            seek(size + (size & 1) - len(found[chunk_id]), 1)
        else:
            seek(size + (size & 1), 1)  # chunks are padded to an even size
        if len(found) == len(wanted):
            break
    return found


def parse_chunks(chunks: dict[bytes, bytes]) -> LoopChunks:
    """:class:`LoopChunks` from the raw bodies of a file's ``fmt ``, ``acid`` and ``smpl`` chunks
    (keyed by their 4-byte ids); a body too short for its fields is ignored."""
    fields: dict[str, object] = {}
    fmt = chunks.get(b"fmt ", b"")
    if len(fmt) >= 8:
        rate = struct.unpack("<I", fmt[4:8])[0]
        fields["sample_rate"] = int(rate) if rate > 0 else None
    acid = chunks.get(b"acid", b"")
    if len(acid) >= ACID_SIZE:
        flags, _root, _unknown, _unknown_f, beats, _denominator, _numerator, bpm = struct.unpack(
            "<IHHfIHHf", acid[:ACID_SIZE]
        )
        fields["acid_oneshot"] = bool(flags & ACID_ONE_SHOT)
        fields["acid_beats"] = int(beats) if beats > 0 else None
        fields["acid_bpm"] = float(bpm) if 0 < bpm < 10_000 else None  # NaN and garbage fail both
    smpl = chunks.get(b"smpl", b"")
    if len(smpl) >= SMPL_HEADER + SMPL_LOOP:
        period_ns = struct.unpack("<I", smpl[8:12])[0]
        loops = struct.unpack("<I", smpl[28:32])[0]
        if loops >= 1:
            _cue, _type, start, end = struct.unpack("<IIII", smpl[SMPL_HEADER : SMPL_HEADER + 16])
            fields["smpl_start"], fields["smpl_end"] = int(start), int(end)
        if "sample_rate" not in fields and period_ns > 0:
            fields["sample_rate"] = round(1e9 / period_ns)
    return LoopChunks(**fields)  # type: ignore[arg-type]


# -- writing --------------------------------------------------------------------------------------
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
