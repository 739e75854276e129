"""A library on a model's beat grid, streamed: each file's tempo found once, each clip put on the
grid once, both kept beside the decoded-audio cache (:mod:`.cache`).

::

    CACHE/
      tempo.jsonl               one JSON line per analysed clip: name, size, mtime, analysis version,
                                kind, bpm, bars, downbeat, confidence, start, tail, source
                                (appended; the last line wins; another analysis version is redone)
      grid-KEY/                 the clips of one library on one grid, one after another
        shard-00000.i16         int16, every clip ``n_samples`` long
        grid.json               names and scales; written last, so a folder without it is unfinished

Why a second store, not a stretch per item
    Putting a loop on the grid (WSOLA) costs about 0.17 s of CPU; done per item it would cost that
    every epoch (a 160-loop library trained for 80 epochs: over half an hour), done once it costs it
    once. Stored as int16 like the cache, a grid is as large as the audio it holds, and memory holds
    one batch of it at a time whatever the library's size.
Keys
    A grid folder is named by a hash of the grid (mode, tempo, bars, stretch), the clip length and
    every clip's name, size, mtime and tempo (corrections included): any change builds a new one.
    Only the :data:`KEEP_GRIDS` most recently used grids of a cache are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundmorph import files, parallel
from soundmorph.audio import riff
from soundmorph.audio import tempo as tempo_analysis
from soundmorph.audio.tempo import Tempo
from soundmorph.config import TempoConfig
from soundmorph.data.cache import AudioCache, locked, read_entry, to_int16
from soundmorph.data.dataset import CachedClips
from soundmorph.data.library import fit_to_grid
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAX_CLIP_SECONDS, READ_MARGIN_SECONDS

TEMPO_FILE = "tempo.jsonl"
GRID_INFO = "grid.json"
GRID_VERSION = 2  # bump when fit_to_grid changes what it makes of a clip
KEEP_GRIDS = 3  # grid folders kept per cache (the most recently used)
FLUSH_EVERY = 64  # clips between flushes while writing
READ_SECONDS = MAX_CLIP_SECONDS + READ_MARGIN_SECONDS  # s of a file the cache holds at most


# --- tempo -----------------------------------------------------------------------------------------


def _analyse(job: tuple[str, str, str, int, int, int, float, int]) -> dict[str, Any]:
    """Worker: the tempo of one cached clip as a dict (its file's name and acid/smpl chunks read as
    evidence)."""
    folder, root, name, shard, offset, samples, scale, sample_rate = job
    clip = read_entry(Path(folder), shard, offset, samples, scale)
    chunks = riff.read_loop_chunks(Path(root) / name)
    cut = samples >= round(READ_SECONDS * sample_rate) - 1  # read up to the limit: a longer file's start
    found = tempo_analysis.analyse(clip, sample_rate=sample_rate, name=name, chunks=chunks, cut=cut)
    return dataclasses.asdict(found)


def cached_tempos(
    cache: AudioCache, names: Sequence[str], *, workers: int | None = None, progress: bool = True
) -> list[Tempo]:
    """Kind, tempo and bars of each clip ``names`` of ``cache`` (see :func:`soundmorph.audio.tempo.analyse`),
    rounded as a model keeps them (:meth:`~soundmorph.audio.tempo.Tempo.rounded`).

    Clips analysed before (same file size and mtime, same analysis version) are read from
    ``tempo.jsonl``; the others are analysed in ``workers`` processes and appended to it.
    """
    path = cache.folder / TEMPO_FILE
    version = tempo_analysis.ANALYSIS_VERSION
    with locked(cache.folder):
        known: dict[str, dict[str, Any]] = {}
        if path.is_file():
            with path.open("rb") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        known[record["name"]] = record
                    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                        continue  # a line torn by a kill: analysed again

        def fresh(name: str) -> bool:
            record, entry = known.get(name), cache.entries[name]
            return record is not None and (
                record.get("size"),
                record.get("mtime_ns"),
                record.get("version"),
            ) == (
                entry.size,
                entry.mtime_ns,
                version,
            )

        missing = [name for name in names if not fresh(name)]
        if missing:
            jobs = [
                (
                    str(cache.folder),
                    str(cache.root),
                    name,
                    e.shard,
                    e.offset,
                    e.samples,
                    e.scale,
                    cache.sample_rate,
                )
                for name in missing
                for e in [cache.entries[name]]
            ]
            analyses = parallel.imap(_analyse, jobs, workers=workers, desc="tempo", progress=progress)
            with analyses as bar, path.open("ab") as log:
                for done, (name, found) in enumerate(zip(missing, bar, strict=True), 1):
                    entry = cache.entries[name]
                    record = {
                        "name": name,
                        "size": entry.size,
                        "mtime_ns": entry.mtime_ns,
                        "version": version,
                    }
                    known[name] = record | found
                    log.write((json.dumps(known[name]) + "\n").encode())
                    if done % FLUSH_EVERY == 0:
                        log.flush()
    fields = [f.name for f in dataclasses.fields(Tempo)]
    return [Tempo(**{k: known[name][k] for k in fields if k in known[name]}).rounded() for name in names]


# --- the grid --------------------------------------------------------------------------------------


def _grid_key(
    cache: AudioCache, names: Sequence[str], tempos: Sequence[Tempo], config: TempoConfig, n_samples: int
) -> str:
    parts = [
        GRID_VERSION,
        cache.sample_rate,
        n_samples,
        dataclasses.asdict(config),
        [
            [name, cache.entries[name].size, cache.entries[name].mtime_ns, dataclasses.asdict(found)]
            for name, found in zip(names, tempos, strict=True)
        ],
    ]
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _place(job: tuple[str, int, int, int, float, Tempo, TempoConfig, int, int]) -> tuple[float, bytes]:
    """Worker: one cached clip on the grid as (scale, int16 bytes of ``n_samples``)."""
    folder, shard, offset, samples, scale, found, config, n_samples, sample_rate = job
    clip = read_entry(Path(folder), shard, offset, samples, scale)
    return to_int16(fit_to_grid(clip, found, config, n_samples, sample_rate=sample_rate))


def grid_clips(
    cache: AudioCache,
    names: Sequence[str],
    tempos: Sequence[Tempo],
    config: TempoConfig,
    n_samples: int,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> CachedClips:
    """The clips ``names`` of ``cache`` on the grid of a resolved ``config``, ``n_samples`` each, as a
    dataset read from disk per item (built in ``workers`` processes the first time).

    Each clip becomes what :func:`~soundmorph.data.library.fit_to_grid` makes of it with its
    ``tempos`` entry, stored as int16 with its own scale (the cache's precision).
    """
    if len(names) != len(tempos):
        raise SoundmorphError(f"{len(names)} clips but {len(tempos)} tempi")
    folder = cache.folder / f"grid-{_grid_key(cache, names, tempos, config, n_samples)}"
    info = folder / GRID_INFO
    try:
        with locked(cache.folder):
            if not info.is_file():
                _build(cache, folder, names, tempos, config, n_samples, workers=workers, progress=progress)
            os.utime(info)  # most recently used
            _prune(cache.folder)
            stored = json.loads(info.read_text())
    except OSError as error:
        raise SoundmorphError(f"{folder}: cannot write the grid ({error.strerror or error})") from None
    if stored.get("names") != list(names) or stored.get("samples") != n_samples:
        raise SoundmorphError(f"{folder}: grid does not match its key; delete it to rebuild")
    count = len(names)
    return CachedClips(
        folder,
        names,
        n_samples,
        shard=np.zeros(count, dtype=np.int64),
        offset=np.arange(count, dtype=np.int64) * 2 * n_samples,
        samples=np.full(count, n_samples, dtype=np.int64),
        scale=np.asarray(stored["scales"], dtype=np.float64),
    )


def _build(
    cache: AudioCache,
    folder: Path,
    names: Sequence[str],
    tempos: Sequence[Tempo],
    config: TempoConfig,
    n_samples: int,
    *,
    workers: int | None,
    progress: bool,
) -> None:
    if folder.exists():
        shutil.rmtree(folder)  # an unfinished build (no grid.json): start again
    folder.mkdir(parents=True)
    jobs = [
        (
            str(cache.folder),
            e.shard,
            e.offset,
            e.samples,
            e.scale,
            found,
            config,
            n_samples,
            cache.sample_rate,
        )
        for name, found in zip(names, tempos, strict=True)
        for e in [cache.entries[name]]
    ]
    scales: list[float] = []
    placed = parallel.imap(_place, jobs, workers=workers, desc="beat grid", unit="clip", progress=progress)
    with placed as bar, (folder / "shard-00000.i16").open("wb") as shard:
        for scale, data in bar:
            shard.write(data)
            scales.append(scale)
        shard.flush()
        os.fsync(shard.fileno())
    files.atomic_write_json(
        folder / GRID_INFO, {"names": list(names), "samples": n_samples, "scales": scales}
    )


def _prune(cache_folder: Path) -> None:
    """Delete all but the :data:`KEEP_GRIDS` most recently used grid folders of a cache."""
    grids = [p for p in cache_folder.glob("grid-*") if p.is_dir()]
    unfinished = [p for p in grids if not (p / GRID_INFO).is_file()]  # a killed build (we hold the lock)
    done = sorted(
        set(grids) - set(unfinished), key=lambda p: (p / GRID_INFO).stat().st_mtime_ns, reverse=True
    )
    for old in unfinished + done[KEEP_GRIDS:]:
        shutil.rmtree(old, ignore_errors=True)
