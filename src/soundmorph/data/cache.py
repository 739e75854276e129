"""The decoded-audio cache: every file of a library decoded once, at the model's rate, as int16
(up to :data:`~soundmorph.limits.MAX_CLIP_SECONDS`, the longest clip a model may have).

::

    CACHE/                      one per (library folder, sample rate), see :func:`cache_folder`
      cache.json                format version, library root, sample rate, decoder settings
      index.jsonl               one JSON line per change: a clip (name, size, mtime, shard, offset,
                                samples, scale), a skipped file (name, size, mtime, reason) or a removal
      shard-00000.i16 ...       raw little-endian int16 samples, clips one after another

Why flat int16 shards and a JSON-lines log, not lmdb or zarr
    A shard is a plain array file that ``numpy.memmap`` opens (:meth:`AudioCache.memmap`) and any
    tool can read; no new dependency, nothing to configure. lmdb needs a map size fixed in advance
    (RAVE's issues show Windows failures when it is too small) and its environments cannot be
    pickled into DataLoader workers; zarr would add a dependency and a chunk-per-file layout (100k
    small files) for data that is only ever read whole, clip by clip. Training reads a clip with one
    ``os.pread`` (no shared file position, so workers and threads can share descriptors) into a
    fresh buffer: pages of a memmap count in the process's RSS once touched, a read does not.
Why a log
    Adding, changing or removing files appends a few lines; nothing rewrites an index of 100k
    entries per change. The log is compacted (rewritten atomically) only when it holds more than
    twice as many lines as live entries. A clip's samples are written before its line, so a kill
    leaves at worst unreferenced bytes at the end of a shard and a torn last line, which loading
    ignores.
Keys
    A file is decoded again when its size or modification time changes; settings that change the
    decoded samples (sample rate, resampler, format) select another cache folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundmorph import audio, files, parallel
from soundmorph.audio.io import RESAMPLE_QUALITY, Skipped
from soundmorph.config import clip_seconds_from_lengths
from soundmorph.errors import AudioError, SoundmorphError
from soundmorph.limits import MAX_CLIP_SECONDS, READ_MARGIN_SECONDS

FORMAT_VERSION = 3  # 2: files decoded up to the longest clip a model may have;
# 3: files over full scale scaled to a peak of 1.0 (audio.read)
HEADER_FILE = "cache.json"
INDEX_FILE = "index.jsonl"
SHARD_BYTES = 1 << 30  # a new shard starts past 1 GiB (about 6.8 h of audio at 22,050 Hz)
FULL_SCALE = 32_767  # int16 peak: each clip is scaled so that its peak lands here
WRITE_EVERY = 64  # clips between index flushes while building
ENV_FOLDER = "SOUNDMORPH_CACHE"  # where caches live (default: $XDG_CACHE_HOME/soundmorph)


def default_base() -> Path:
    """The folder that holds every library's cache."""
    if ENV_FOLDER in os.environ:
        return Path(os.environ[ENV_FOLDER])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "soundmorph"


def cache_folder(root: str | Path, *, sample_rate: int, base: str | Path | None = None) -> Path:
    """The cache of the library ``root`` at ``sample_rate``: ``BASE/NAME-KEY``, where the key is a
    hash of the resolved root and every setting that changes the decoded samples."""
    resolved = Path(root).resolve()
    settings = f"{resolved}|{sample_rate}|{RESAMPLE_QUALITY}|{FORMAT_VERSION}"
    key = hashlib.sha1(settings.encode()).hexdigest()[:16]
    return Path(base if base is not None else default_base()) / f"{resolved.name or 'root'}-{key}"


@dataclass(frozen=True)
class Entry:
    """One decoded clip: where its samples are and how to scale them back to [-1, 1]."""

    name: str  # path relative to the library root, POSIX
    size: int  # bytes of the source file
    mtime_ns: int  # modification time of the source file
    shard: int
    offset: int  # bytes into the shard
    samples: int
    scale: float  # float sample = int16 sample * scale


@dataclass(frozen=True)
class Skip:
    """A file that could not be used (kept so that it is not decoded again until it changes)."""

    name: str
    size: int
    mtime_ns: int
    reason: str


@dataclass
class UpdateReport:
    decoded: int = 0  # clips decoded and added (new or changed files)
    skipped: int = 0  # newly unusable files
    removed: int = 0  # files gone from the folder
    unchanged: int = 0
    seconds: float = 0.0


@dataclass
class AudioCache:
    """A library's decoded clips: the index in memory, the samples on disk.

    Open (and bring up to date) with :func:`open_cache`.
    """

    folder: Path
    root: Path
    sample_rate: int
    entries: dict[str, Entry] = field(default_factory=dict)
    skips: dict[str, Skip] = field(default_factory=dict)
    log_lines: int = 0

    # --- reading ---------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Usable clips in index order (sorted relative paths, as :func:`audio.find_audio_files`)."""
        return sorted(self.entries)

    @property
    def skipped(self) -> list[Skipped]:
        return [
            Skipped(self.root / s.name, s.reason) for s in sorted(self.skips.values(), key=lambda s: s.name)
        ]

    def __len__(self) -> int:
        return len(self.entries)

    def median_seconds(self) -> float:
        """The median clip length in seconds, from the index (no audio is read)."""
        return clip_seconds_from_lengths([e.samples for e in self.entries.values()], self.sample_rate)

    def shard_path(self, shard: int) -> Path:
        return self.folder / f"shard-{shard:05d}.i16"

    def read(self, name: str, max_samples: int | None = None) -> np.ndarray:
        """The clip ``name`` as float32 [samples] (only the first ``max_samples`` are read)."""
        entry = self.entries[name]
        return read_entry(self.folder, entry.shard, entry.offset, entry.samples, entry.scale, max_samples)

    def memmap(self, name: str) -> np.memmap:
        """The int16 samples of ``name`` as a read-only memory map (multiply by its ``scale``)."""
        entry = self.entries[name]
        return np.memmap(
            self.shard_path(entry.shard), dtype="<i2", mode="r", offset=entry.offset, shape=(entry.samples,)
        )

    # --- the log ---------------------------------------------------------------------------------

    def _apply(self, record: dict[str, Any]) -> None:
        name = record["name"]
        self.entries.pop(name, None)
        self.skips.pop(name, None)
        if "reason" in record:
            self.skips[name] = Skip(**record)
        elif "shard" in record:
            self.entries[name] = Entry(**record)
        self.log_lines += 1


_descriptors: dict[tuple[int, str], int] = {}  # (pid, shard path) -> open descriptor


def read_entry(
    folder: Path, shard: int, offset: int, samples: int, scale: float, max_samples: int | None = None
) -> np.ndarray:
    """Samples of one cached clip as float32, read with ``os.pread`` (see the module notes)."""
    count = samples if max_samples is None else min(samples, max_samples)
    path = str(folder / f"shard-{shard:05d}.i16")
    key = (os.getpid(), path)  # a forked worker opens its own descriptors
    if key not in _descriptors:
        _descriptors[key] = os.open(path, os.O_RDONLY)
    data = os.pread(_descriptors[key], 2 * count, offset)
    if len(data) != 2 * count:
        raise SoundmorphError(f"{path}: cache shard is shorter than its index says; delete {folder}")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) * np.float32(scale)


def to_int16(clip: np.ndarray) -> tuple[float, bytes]:
    """(scale, little-endian int16 bytes) of a float clip, its peak at :data:`FULL_SCALE`: the
    inverse of :func:`read_entry`."""
    peak = float(np.max(np.abs(clip))) if len(clip) else 0.0
    scale = (peak if peak > 0 else 1.0) / FULL_SCALE
    ints = np.clip(np.round(clip / scale), -FULL_SCALE, FULL_SCALE).astype("<i2")
    return scale, ints.tobytes()


def _decode(job: tuple[str, str, int, int, int]) -> tuple[dict[str, Any], bytes]:
    """Worker: decode one file; (index record without its place, int16 bytes)."""
    path, name, size, mtime_ns, sample_rate = job
    try:
        clip = audio.read(path, sample_rate=sample_rate, max_seconds=MAX_CLIP_SECONDS + READ_MARGIN_SECONDS)
    except AudioError as error:
        reason = Skipped.from_error(path, error).reason
        return {"name": name, "size": size, "mtime_ns": mtime_ns, "reason": reason}, b""
    scale, data = to_int16(clip)
    record = {"name": name, "size": size, "mtime_ns": mtime_ns, "samples": len(clip), "scale": scale}
    return record, data


def _load(folder: Path, root: Path, sample_rate: int) -> AudioCache:
    cache = AudioCache(folder=folder, root=root, sample_rate=sample_rate)
    header = folder / HEADER_FILE
    if header.is_file():
        try:
            meta = json.loads(header.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            meta = None
        expected = {
            "format_version": FORMAT_VERSION,
            "sample_rate": sample_rate,
            "resample": RESAMPLE_QUALITY,
        }
        if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in expected.items()):
            raise SoundmorphError(f"{folder}: not a soundmorph cache of these settings; delete it to rebuild")
    index = folder / INDEX_FILE
    if index.is_file():
        with index.open("rb") as handle:
            for line in handle:
                try:
                    cache._apply(json.loads(line))
                except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                    continue  # a line torn by a kill: its clip is decoded again
    return cache


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One writer per cache (POSIX advisory lock); other processes wait."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def open_cache(
    root: str | Path,
    *,
    sample_rate: int,
    base: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> tuple[AudioCache, UpdateReport]:
    """The cache of the library ``root``, brought up to date with the folder.

    New and changed files are decoded in ``workers`` processes (default: the CPU count, at most 8)
    with a progress bar; removed files leave the index. Unusable files are remembered with their
    reason and not decoded again until they change.

    Raises
    ------
    SoundmorphError
        If ``root`` is not a folder or the cache cannot be written.
    """
    import time

    tic = time.perf_counter()
    root = Path(root)
    paths = audio.find_audio_files(root)
    folder = cache_folder(root, sample_rate=sample_rate, base=base)
    report = UpdateReport()
    try:
        with locked(folder):
            cache = _load(folder, root, sample_rate)
            cache.root = root
            jobs = []
            seen = set()
            for path in paths:
                name = path.relative_to(root).as_posix()
                seen.add(name)
                stat = path.stat()
                known = cache.entries.get(name) or cache.skips.get(name)
                if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                    report.unchanged += 1
                    continue
                jobs.append((str(path), name, stat.st_size, stat.st_mtime_ns, sample_rate))
            gone = [name for name in [*cache.entries, *cache.skips] if name not in seen]
            if not (folder / HEADER_FILE).is_file():
                files.atomic_write_json(
                    folder / HEADER_FILE,
                    {
                        "format_version": FORMAT_VERSION,
                        "root": str(root.resolve()),
                        "sample_rate": sample_rate,
                        "resample": RESAMPLE_QUALITY,
                    },
                )
            _write(cache, jobs, gone, report, workers=workers, progress=progress)
            if cache.log_lines > 2 * (len(cache.entries) + len(cache.skips)) + 1000:
                _compact(cache)
    except OSError as error:
        raise SoundmorphError(f"{folder}: cannot write the cache ({error.strerror or error})") from None
    report.seconds = time.perf_counter() - tic
    return cache, report


class _Shards:
    """Appends clips to the current shard, starting a new one past :data:`SHARD_BYTES`."""

    def __init__(self, cache: AudioCache) -> None:
        self.cache = cache
        self.shard = max((e.shard for e in cache.entries.values()), default=0)
        self.handle = cache.shard_path(self.shard).open("ab")

    def append(self, data: bytes) -> tuple[int, int]:
        """Write ``data``; (shard, byte offset) where it starts."""
        if self.handle.tell() > 0 and self.handle.tell() + len(data) > SHARD_BYTES:
            self.handle.close()
            self.shard += 1
            self.handle = self.cache.shard_path(self.shard).open("ab")
        place = (self.shard, self.handle.tell())
        self.handle.write(data)
        return place

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def _write(
    cache: AudioCache,
    jobs: list[tuple[str, str, int, int, int]],
    gone: list[str],
    report: UpdateReport,
    *,
    workers: int | None,
    progress: bool,
) -> None:
    """Append removals and newly decoded clips to the shards and the log.

    Samples are flushed before the lines that point at them, every :data:`WRITE_EVERY` clips.
    """
    lines = [json.dumps({"name": name, "removed": True}) + "\n" for name in gone]
    for name in gone:
        cache._apply({"name": name, "removed": True})
    report.removed = len(gone)
    with (cache.folder / INDEX_FILE).open("ab") as index:

        def flush_lines() -> None:
            index.write("".join(lines).encode())
            index.flush()
            lines.clear()

        flush_lines()
        if not jobs:
            return
        shards = _Shards(cache)
        try:
            with parallel.imap(_decode, jobs, workers=workers, desc="decoding", progress=progress) as bar:
                for done, (record, data) in enumerate(bar, 1):
                    if data:
                        shard, offset = shards.append(data)
                        record |= {"shard": shard, "offset": offset}
                        report.decoded += 1
                    else:
                        report.skipped += 1
                    lines.append(json.dumps(record) + "\n")
                    cache._apply(record)
                    if done % WRITE_EVERY == 0:
                        shards.flush()
                        flush_lines()
            shards.flush()
            flush_lines()
        finally:
            shards.close()


def _compact(cache: AudioCache) -> None:
    """Rewrite the log with one line per live entry (atomically)."""
    records = [asdict(e) for e in cache.entries.values()] + [asdict(s) for s in cache.skips.values()]
    text = "".join(json.dumps(r) + "\n" for r in records)
    files.atomic_write_bytes(cache.folder / INDEX_FILE, text.encode())
    cache.log_lines = len(records)
