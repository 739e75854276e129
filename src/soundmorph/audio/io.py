"""Audio files in and out: find, inspect, read (mono, resampled), fit to a length, write.

This is the only module that touches :mod:`soundfile` (libsndfile) and :mod:`soxr`. Everything it
returns is a float32 numpy array; every problem a file can cause becomes an :class:`AudioError`
whose message is one line, ``"{path}: {reason}"``.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from soundmorph.audio import riff
from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import AudioError, SoundmorphError, SoundmorphWarning
from soundmorph.files import atomic_write_bytes, check_target
from soundmorph.limits import MAX_CHANNELS, MAX_FILE_RATE, MAX_READ_SECONDS, MIN_FILE_RATE

# Suffixes of the containers libsndfile decodes (lowercase); anything else in a folder is ignored.
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".wav",
        ".wave",
        ".rf64",
        ".w64",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".aif",
        ".aiff",
        ".aifc",
        ".mp3",
        ".au",
        ".snd",
        ".caf",
    }
)
SILENCE_PEAK = 1e-5  # linear amplitude; a decoded file whose peak is below this is "silent"
MIN_SECONDS = (
    0.01  # default shortest readable file: 10 ms (a closed hat can be 50 ms; a click is not a sound)
)
SAFE_PEAK = 0.99  # linear amplitude a clipping signal is scaled down to before writing
WRITE_SUBTYPES = frozenset({"PCM_16", "PCM_24", "FLOAT"})
BITS_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}  # --bits: 32 is float
RENDER_BITS = 24  # bit depth of a render unless asked otherwise
READ_BLOCK_FRAMES = 1 << 16  # frames decoded at a time: 16 MB at the most channels allowed
RESAMPLE_QUALITY = "HQ"  # soxr: 20-bit precision, enough for 16/24-bit sources at a fraction of VHQ's cost


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says."""

    path: Path
    duration: float  # seconds
    sample_rate: int  # Hz, of the file
    channels: int
    frames: int  # samples per channel in the file


@dataclass(frozen=True)
class Skipped:
    """A file left out of a library, and why (e.g. ``"silent"``, ``"too short (0.005 s < 0.01 s)"``)."""

    path: Path
    reason: str

    @classmethod
    def from_error(cls, path: str | Path, error: AudioError) -> Skipped:
        """The skip an :class:`AudioError` from :func:`read` or :func:`info` describes."""
        path = Path(path)
        return cls(path, str(error).removeprefix(f"{path}: "))


def walk_audio(folder: str | Path) -> tuple[list[Path], list[Skipped]]:
    """Audio files under ``folder`` (see :func:`find_audio_files`), and the entries with an audio
    suffix that are not files (a broken link, a folder named ``x.wav``, a FIFO) as skipped."""
    root = Path(folder)
    if not root.exists():
        raise SoundmorphError(f"{folder}: no such folder")
    if not root.is_dir():
        raise SoundmorphError(f"{folder}: not a folder")
    relative: list[str] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]  # prune hidden folders
        base = Path(dirpath).relative_to(root)
        for name in sorted(filenames + [d for d in dirnames if Path(d).suffix.lower() in AUDIO_EXTENSIONS]):
            if name.startswith(".") or Path(name).suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            path = Path(dirpath) / name
            if path.is_file():
                relative.append((base / name).as_posix())
            elif path.is_symlink() and not path.exists():
                skipped.append(Skipped(path, "broken link"))
            elif path.is_dir():
                skipped.append(Skipped(path, "a folder, not a file"))
            else:
                skipped.append(Skipped(path, "not a regular file"))
    return [root / name for name in sorted(relative)], skipped


def find_audio_files(folder: str | Path) -> list[Path]:
    """Audio files under ``folder``, recursively, as ``folder / relative``, sorted by ``relative``.

    Sorting by the relative path as a POSIX string makes a file's index depend only on the
    folder's contents. Names starting with ``"."`` (files and folders) are ignored, as are files
    whose suffix (case-insensitive) is not in :data:`AUDIO_EXTENSIONS`; :func:`walk_audio` also
    says which entries were not files.

    Raises
    ------
    SoundmorphError
        If ``folder`` does not exist or is not a folder.
    """
    return walk_audio(folder)[0]


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (libsndfile's may span several), never empty."""
    message = getattr(error, "error_string", None) or str(error) or type(error).__name__
    return " ".join(message.split())


def _open(path: Path) -> sf.SoundFile:
    """Open ``path`` for reading and check its header against the limits; every failure is an
    :class:`AudioError`. Nothing but the header has been read when this returns."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a file")
    try:
        handle = sf.SoundFile(path)
    except (RuntimeError, OSError, ValueError, TypeError) as error:  # LibsndfileError is a RuntimeError
        reason = _one_line(error)
        if "does not exist" in reason:  # libsndfile's words for a file its MP3 decoder cannot parse
            reason = "not a recognised audio format"
        raise AudioError(f"{path}: unreadable ({reason})") from None
    rate, channels = int(handle.samplerate), int(handle.channels)
    problem = None
    if rate <= 0 or channels <= 0:
        problem = "unreadable (invalid header)"
    elif not MIN_FILE_RATE <= rate <= MAX_FILE_RATE:
        problem = f"sample rate {rate} Hz in its header is outside [{MIN_FILE_RATE}, {MAX_FILE_RATE}] Hz"
    elif channels > MAX_CHANNELS:
        problem = f"{channels} channels in its header; at most {MAX_CHANNELS} are read"
    if problem is not None:
        handle.close()
        raise AudioError(f"{path}: {problem}")
    return handle


def _declared_data_bytes(path: Path) -> tuple[int, int] | None:
    """(bytes the data chunk of a RIFF/WAVE file declares, bytes it holds), or None when the file
    is no WAV or declares no usable size (0 or 0xFFFFFFFF: written by a stream)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            offset = 12
            for _ in range(64):  # a WAV has a handful of chunks; a corrupt one may loop
                handle.seek(offset)
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                declared = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    if declared in (0, 0xFFFFFFFF):
                        return None
                    return declared, size - offset - 8
                offset += 8 + declared + (declared & 1)
    except OSError:
        return None
    return None


def _warn(path: Path, message: str) -> None:
    warnings.warn(f"{path}: {message}", SoundmorphWarning, stacklevel=3)


def info(path: str | Path) -> AudioInfo:
    """Duration, sample rate, channels and length of an audio file, from its header only.

    An empty file (0 frames) is reported, not refused; :func:`read` refuses it.

    Raises
    ------
    AudioError
        If the file is missing, libsndfile cannot open it, or its header declares a sample rate
        or channel count outside the limits (see :mod:`soundmorph.config`).
    """
    path = Path(path)
    with _open(path) as handle:
        rate, channels, frames = int(handle.samplerate), int(handle.channels), int(handle.frames)
    return AudioInfo(path=path, duration=frames / rate, sample_rate=rate, channels=channels, frames=frames)


def read(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_READ_SECONDS,
) -> np.ndarray:
    """Decode the first ``max_seconds`` of an audio file to mono float32 at ``sample_rate``.

    Any bit depth libsndfile decodes (8/16/24/32-bit integer, float) is scaled to [-1, 1];
    channels are mixed to mono by their mean; the rate is converted with soxr when it differs.
    The file is decoded block by block and each block mixed and resampled at once, so memory
    grows with the mono result only, never with the file's rate, channels or declared length.
    A WAV whose data chunk is shorter than its header says is read up to where the data ends,
    with a :class:`SoundmorphWarning`; so is a file that holds only a constant (DC) offset. A
    floating-point file whose samples pass full scale (1.0) is scaled to a peak of 1.0, with a
    warning: a library is on one scale, and a render never clips.

    Parameters
    ----------
    path : str or Path
    sample_rate : int, > 0
        Rate of the returned signal in Hz.
    min_seconds : float, >= 0
        Files shorter than this (as decoded) are refused.
    max_seconds : float, > 0
        Read at most this much of the file (pass the clip length plus a margin when only the
        start is used); at most :data:`~soundmorph.limits.MAX_READ_SECONDS`.

    Returns
    -------
    np.ndarray [shape=(n_samples,), dtype=float32]
        ``n_samples`` is ``round(frames * sample_rate / file_rate)`` (soxr may differ by one),
        where ``frames`` is the number of frames read.

    Raises
    ------
    AudioError
        ``"{path}: {reason}"`` for a missing, unreadable, empty, non-finite, silent or too-short file,
        or one whose header declares a sample rate or channel count outside the limits.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be a positive whole number, got {sample_rate!r}")
    if not min_seconds >= 0:
        raise SoundmorphError(f"min_seconds must be >= 0, got {min_seconds}")
    if not 0 < max_seconds <= MAX_READ_SECONDS:
        raise SoundmorphError(f"max_seconds must be in (0, {MAX_READ_SECONDS:g}], got {max_seconds}")
    path = Path(path)
    with _open(path) as handle:
        file_rate, declared = int(handle.samplerate), int(handle.frames)
        limit = math.ceil(max_seconds * file_rate)
        try:
            mono, frames, low, high = _decode(handle, limit, sample_rate)
        except (RuntimeError, OSError, ValueError, MemoryError) as error:
            raise AudioError(f"{path}: unreadable ({_one_line(error)})") from None
    if frames == 0:
        raise AudioError(f"{path}: empty (0 samples)")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise AudioError(f"{path}: not finite (NaN or Inf samples)")
    if max(abs(low), abs(high)) < SILENCE_PEAK:
        raise AudioError(f"{path}: silent")
    duration = frames / file_rate
    if duration < min_seconds:
        raise AudioError(f"{path}: too short ({duration:.3g} s < {min_seconds:g} s)")
    if high - low < SILENCE_PEAK:
        _warn(path, f"only a constant (DC) offset of {(high + low) / 2:.3g}, no sound")
    peak = max(abs(low), abs(high))
    if peak > 1.0:
        _warn(path, f"peaks at {peak:.3g}, over full scale (1.0); scaled to a peak of 1.0")
        mono *= np.float32(1.0 / peak)
    shortfall = _declared_data_bytes(path)
    if frames < min(declared, limit) or (
        shortfall is not None and shortfall[0] > shortfall[1] and frames < limit
    ):
        _warn(path, f"truncated: its data ends after {duration:.3g} s; read as far as it goes")
    return mono


def _decode(handle: sf.SoundFile, limit: int, sample_rate: int) -> tuple[np.ndarray, int, float, float]:
    """Up to ``limit`` frames of ``handle``, mixed to mono and resampled block by block:
    (float32 [n_samples] at ``sample_rate``, frames read, lowest sample, highest sample).

    Reads until the data ends, not to the length in the header: a corrupt header can claim
    terabytes (or more frames than the file holds, as a truncated WAV does). A non-finite sample
    makes the extremes NaN/Inf.
    """
    file_rate = int(handle.samplerate)
    stream = (
        None
        if file_rate == sample_rate
        else soxr.ResampleStream(file_rate, sample_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    )
    parts: list[np.ndarray] = []
    frames, low, high = 0, math.inf, -math.inf
    while frames < limit:
        block = handle.read(min(READ_BLOCK_FRAMES, limit - frames), dtype="float32", always_2d=True)
        if not len(block):
            break
        frames += len(block)
        if not np.isfinite(block).all():
            return np.zeros(0, np.float32), frames, math.nan, math.nan
        mono = block.mean(axis=1, dtype=np.float32)
        # the extremes of the channels, not of their mean: a file whose channels cancel is not silent
        low, high = min(low, float(block.min())), max(high, float(block.max()))
        parts.append(mono if stream is None else stream.resample_chunk(mono, last=False))
    if stream is not None:
        parts.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    if frames == 0:
        return np.zeros(0, np.float32), 0, 0.0, 0.0
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32), frames, low, high


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop the end or zero-pad at the end: ``[..., n]`` -> new float32 ``[..., n_samples]``."""
    if n_samples < 0:
        raise SoundmorphError(f"n_samples must be >= 0, got {n_samples}")
    audio = np.asarray(audio, dtype=np.float32)
    length = audio.shape[-1]
    if length >= n_samples:
        return audio[..., :n_samples].copy()
    padding = [(0, 0)] * (audio.ndim - 1) + [(0, n_samples - length)]
    return np.pad(audio, padding)


def peak_safe(audio: np.ndarray) -> np.ndarray:
    """A float32 copy of ``audio`` (any shape, full scale 1.0) that cannot clip.

    A signal whose peak exceeds 1.0 is scaled down to a peak of :data:`SAFE_PEAK`; any other
    keeps its level. Raises :class:`AudioError` ``"not finite ..."`` for NaN or Inf samples.
    """
    audio = np.array(audio, dtype=np.float32)  # a copy: the caller's array is never scaled in place
    if not np.isfinite(audio).all():
        raise AudioError("not finite (NaN or Inf samples)")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 1.0:
        audio *= np.float32(SAFE_PEAK / peak)
    return audio


def _frames_first(audio: np.ndarray, sample_rate: int, subtype: str) -> np.ndarray:
    """Check the write options and turn ``[n]`` / ``[channels, n]`` into soundfile's ``[n, channels]``."""
    if sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be positive, got {sample_rate}")
    if subtype not in WRITE_SUBTYPES:
        raise SoundmorphError(
            f"unknown WAV subtype {subtype!r}; choose one of: {', '.join(sorted(WRITE_SUBTYPES))}"
        )
    audio = peak_safe(audio)
    if audio.ndim == 1:
        return audio
    if audio.ndim == 2:
        return audio.T
    raise SoundmorphError(f"audio must be [n_samples] or [channels, n_samples], got shape {audio.shape}")


def write(
    path: str | Path,
    audio: np.ndarray,
    *,
    sample_rate: int,
    subtype: str = "PCM_16",
    force: bool = False,
    chunks: list[bytes] | None = None,
) -> Path:
    """Write a WAV file atomically, scaled down first if it would clip (see :func:`peak_safe`).

    The samples go to a temporary file beside ``path`` that replaces ``path`` only once complete,
    so a crash never leaves a half-written file; missing parent folders are created.

    Parameters
    ----------
    path : str or Path
        Destination, returned; always WAV, whatever its suffix.
    audio : np.ndarray [shape=(n_samples,) or (channels, n_samples)]
        Linear amplitude, full scale 1.0.
    sample_rate : int, > 0
        Hz.
    subtype : {"PCM_16", "PCM_24", "FLOAT"}
    force : bool
        Overwrite an existing file.
    chunks : list of bytes, optional
        RIFF chunks appended after the samples (:mod:`soundmorph.audio.riff`: ``smpl``, ``acid``).

    Raises
    ------
    AudioError
        If ``audio`` has NaN or Inf samples.
    SoundmorphError
        If ``path`` exists and ``force`` is false, is not a WAV file, is not a regular file, or
        cannot be written (see :func:`soundmorph.files.check_target`).
    """
    path = check_target(path, "wav", force=force)  # before the work of encoding
    try:
        data = to_wav_bytes(audio, sample_rate=sample_rate, subtype=subtype, chunks=chunks)
    except AudioError as error:
        raise AudioError(f"{path}: {error}") from None
    except RuntimeError as error:  # libsndfile could not encode
        raise SoundmorphError(f"{path}: cannot write ({_one_line(error)})") from None
    return atomic_write_bytes(path, data)


def to_wav_bytes(
    audio: np.ndarray, *, sample_rate: int, subtype: str = "PCM_16", chunks: list[bytes] | None = None
) -> bytes:
    """The bytes :func:`write` would write: ``audio`` [n_samples] or [channels, n_samples] as WAV,
    with ``chunks`` (whole RIFF chunks) after the samples."""
    frames = _frames_first(audio, sample_rate, subtype)
    buffer = io.BytesIO()
    sf.write(buffer, frames, sample_rate, format="WAV", subtype=subtype)
    return riff.add_chunks(buffer.getvalue(), chunks) if chunks else buffer.getvalue()


def subtype_of_bits(bits: int) -> str:
    """The WAV subtype of a bit depth: 16, 24 (integer PCM) or 32 (float)."""
    if isinstance(bits, bool) or bits not in BITS_SUBTYPES:
        raise SoundmorphError(f"bits must be 16, 24 or 32 (float), got {bits!r}")
    return BITS_SUBTYPES[bits]


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """``audio`` [..., samples] from ``rate_in`` to ``rate_out`` Hz (soxr), float32; a copy when
    the rates are equal."""
    x = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out:
        return x.copy()
    flat = x.reshape(-1, x.shape[-1])
    out = soxr.resample(np.ascontiguousarray(flat.T), rate_in, rate_out, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T).reshape(*x.shape[:-1], -1)


def read_native(path: str | Path, *, max_seconds: float = MAX_READ_SECONDS) -> tuple[np.ndarray, int]:
    """The first ``max_seconds`` of an audio file at its own rate and channels, for a render that
    keeps them: (float32 [channels, n_samples], Hz).

    Checked as :func:`read` checks (the same one-line :class:`AudioError` messages); a float
    file over full scale is scaled to a peak of 1.0.
    """
    path = Path(path)
    mono = read(path, sample_rate=SAMPLE_RATE, max_seconds=max_seconds)  # every check, once
    del mono
    with _open(path) as handle:
        rate = int(handle.samplerate)
        try:
            block = handle.read(math.ceil(max_seconds * rate), dtype="float32", always_2d=True)
        except (RuntimeError, OSError, ValueError, MemoryError) as error:
            raise AudioError(f"{path}: unreadable ({_one_line(error)})") from None
    out = np.ascontiguousarray(block.T, dtype=np.float32)
    peak = float(np.abs(out).max()) if out.size else 0.0
    if peak > 1.0:
        out *= np.float32(1.0 / peak)
    return out, rate
