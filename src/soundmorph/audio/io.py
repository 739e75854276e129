"""Audio files in and out: find, inspect, read (mono, resampled), fit to a length, write.

This is the only module that touches :mod:`soundfile` (libsndfile) and :mod:`soxr`. Everything it
returns is a float32 numpy array; every problem a file can cause becomes an :class:`AudioError`
whose message is one line, ``"{path}: {reason}"``.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import AudioError, SoundmorphError
from soundmorph.files import atomic_write_bytes

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


def find_audio_files(folder: str | Path) -> list[Path]:
    """Audio files under ``folder``, recursively, as ``folder / relative``, sorted by ``relative``.

    Sorting by the relative path as a POSIX string makes a file's index depend only on the
    folder's contents. Names starting with ``"."`` (files and folders) are ignored, as are files
    whose suffix (case-insensitive) is not in :data:`AUDIO_EXTENSIONS`.

    Raises
    ------
    SoundmorphError
        If ``folder`` does not exist or is not a folder.
    """
    root = Path(folder)
    if not root.exists():
        raise SoundmorphError(f"{folder}: no such folder")
    if not root.is_dir():
        raise SoundmorphError(f"{folder}: not a folder")
    relative: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]  # prune hidden folders
        base = Path(dirpath).relative_to(root)
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            if (Path(dirpath) / name).is_file():  # skips broken links and other non-files
                relative.append((base / name).as_posix())
    return [root / name for name in sorted(relative)]


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (libsndfile's may span several), never empty."""
    message = getattr(error, "error_string", None) or str(error) or type(error).__name__
    return " ".join(message.split())


def _open(path: Path) -> sf.SoundFile:
    """Open ``path`` for reading, turning every failure into an :class:`AudioError`."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a file")
    try:
        handle = sf.SoundFile(path)
    except (RuntimeError, OSError, ValueError, TypeError) as error:  # LibsndfileError is a RuntimeError
        raise AudioError(f"{path}: unreadable ({_one_line(error)})") from None
    if handle.samplerate <= 0 or handle.channels <= 0:
        handle.close()
        raise AudioError(f"{path}: unreadable (invalid header)")
    return handle


def _read_blocks(handle: sf.SoundFile, block: int = 1 << 16) -> np.ndarray:
    """All the frames there are, float32 ``[frames, channels]``.

    Read block by block until the data ends, not in one array sized by the header: a corrupt
    header can claim terabytes (or more frames than the file holds, as a truncated WAV does).
    """
    blocks = []
    while len(chunk := handle.read(block, dtype="float32", always_2d=True)):
        blocks.append(chunk)
    return np.concatenate(blocks) if blocks else np.zeros((0, handle.channels), np.float32)


def info(path: str | Path) -> AudioInfo:
    """Duration, sample rate, channels and length of an audio file, from its header.

    An empty file (0 frames) is reported, not refused; :func:`read` refuses it.

    Raises
    ------
    AudioError
        If the file is missing or libsndfile cannot open it.
    """
    path = Path(path)
    with _open(path) as handle:
        rate, channels, frames = int(handle.samplerate), int(handle.channels), int(handle.frames)
    return AudioInfo(path=path, duration=frames / rate, sample_rate=rate, channels=channels, frames=frames)


def read(path: str | Path, *, sample_rate: int = SAMPLE_RATE, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sample_rate``.

    Any bit depth libsndfile decodes (8/16/24/32-bit integer, float) is scaled to [-1, 1];
    channels are mixed to mono by their mean; the rate is converted with soxr when it differs.
    A WAV whose data chunk is shorter than its header says is read up to where the data ends.

    Parameters
    ----------
    path : str or Path
    sample_rate : int, > 0
        Rate of the returned signal in Hz.
    min_seconds : float, >= 0
        Files shorter than this (as decoded) are refused.

    Returns
    -------
    np.ndarray [shape=(n_samples,), dtype=float32]
        ``n_samples`` is ``round(frames * sample_rate / file_rate)`` (soxr may differ by one).

    Raises
    ------
    AudioError
        ``"{path}: {reason}"`` for a missing, unreadable, empty, non-finite, silent or too-short file.
    """
    if sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be positive, got {sample_rate}")
    if min_seconds < 0:
        raise SoundmorphError(f"min_seconds must be >= 0, got {min_seconds}")
    path = Path(path)
    with _open(path) as handle:
        file_rate = int(handle.samplerate)
        try:
            data = _read_blocks(handle)
        except (RuntimeError, OSError, ValueError, MemoryError) as error:
            raise AudioError(f"{path}: unreadable ({_one_line(error)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: empty (0 samples)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: not finite (NaN or Inf samples)")
    if float(np.abs(data).max()) < SILENCE_PEAK:
        raise AudioError(f"{path}: silent")
    duration = data.shape[0] / file_rate
    if duration < min_seconds:
        raise AudioError(f"{path}: too short ({duration:.3g} s < {min_seconds:g} s)")
    mono = data.mean(axis=1, dtype=np.float32)
    if file_rate != sample_rate:
        mono = soxr.resample(mono, file_rate, sample_rate, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(mono, dtype=np.float32)


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

    Raises
    ------
    AudioError
        If ``audio`` has NaN or Inf samples.
    SoundmorphError
        If ``path`` exists and ``force`` is false, or cannot be written.
    """
    path = Path(path)
    try:
        data = to_wav_bytes(audio, sample_rate=sample_rate, subtype=subtype)
    except AudioError as error:
        raise AudioError(f"{path}: {error}") from None
    except RuntimeError as error:  # libsndfile could not encode
        raise SoundmorphError(f"{path}: cannot write ({_one_line(error)})") from None
    if path.exists() and not path.is_dir() and not force:
        raise SoundmorphError(f"{path}: exists (use --force to overwrite)")
    return atomic_write_bytes(path, data)


def to_wav_bytes(audio: np.ndarray, *, sample_rate: int, subtype: str = "PCM_16") -> bytes:
    """The bytes :func:`write` would write: ``audio`` [n_samples] or [channels, n_samples] as WAV."""
    frames = _frames_first(audio, sample_rate, subtype)
    buffer = io.BytesIO()
    sf.write(buffer, frames, sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()
