"""The cached tempi and the beat-grid store: analysed and placed once, read per item, rebuilt on change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from soundmorph import audio, data
from soundmorph.audio import synth
from soundmorph.audio import tempo as tempo_analysis
from soundmorph.config import SAMPLE_RATE, TempoConfig
from soundmorph.data import gridded
from soundmorph.data.cache import open_cache
from soundmorph.errors import SoundmorphError


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "lib"
    folder.mkdir()
    for index, bpm in enumerate([100, 128, 150]):
        clip = synth.drum_loop(seed=70 + index, style="house", bpm=bpm, bars=1)
        audio.write(folder / f"loop{index}.wav", clip, sample_rate=SAMPLE_RATE)
    audio.write(folder / "hit.wav", synth.one_shot("snare", seed=1), sample_rate=SAMPLE_RATE)
    return folder


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(module, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_tempi_are_analysed_once_per_file(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scan
) -> None:
    cache, _ = open_cache(library, sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    expected = [t.rounded() for t in scan(library, sample_rate=SAMPLE_RATE).analyse_tempo()]
    calls = _count_calls(monkeypatch, tempo_analysis, "analyse")
    found = data.cached_tempos(cache, cache.names, workers=1, progress=False)
    assert len(calls) == 4
    assert [(t.kind, t.bars) for t in found] == [(t.kind, t.bars) for t in expected]
    for got, want in zip(found, expected, strict=True):
        assert got.bpm == pytest.approx(want.bpm, abs=0.01) if want.bpm else got.bpm is None
    assert data.cached_tempos(cache, cache.names, workers=1, progress=False) == found
    assert len(calls) == 4  # read back, not analysed again
    changed = library / "loop1.wav"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    cache, _ = open_cache(library, sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    assert data.cached_tempos(cache, cache.names, workers=1, progress=False) == found
    assert len(calls) == 5  # only the changed file


def test_a_torn_tempo_line_is_analysed_again(library: Path, tmp_path: Path) -> None:
    cache, _ = open_cache(library, sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    found = data.cached_tempos(cache, cache.names, workers=1, progress=False)
    log = cache.folder / gridded.TEMPO_FILE
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]) + lines[-1][:10])  # a kill mid-line
    assert data.cached_tempos(cache, cache.names, workers=1, progress=False) == found


def test_grid_clips_are_the_clips_put_on_the_grid(library: Path, tmp_path: Path) -> None:
    cache, _ = open_cache(library, sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    tempos = data.cached_tempos(cache, cache.names, workers=1, progress=False)
    config = data.resolve_grid(TempoConfig(mode="auto"), tempos)
    n = round(4 * 60 / config.bpm * SAMPLE_RATE)  # type: ignore[operator]
    clips = data.grid_clips(cache, cache.names, tempos, config, n, workers=2, progress=False)
    assert len(clips) == 4
    for index, (name, found) in enumerate(zip(cache.names, tempos, strict=True)):
        item, position = clips[index]
        expected = data.fit_to_grid(cache.read(name), found, config, n, sample_rate=SAMPLE_RATE)
        assert position == index and item.shape == (n,)
        assert np.max(np.abs(item - expected)) <= np.max(np.abs(expected)) / 32_000
    picked = clips.select([2, 0])
    assert picked.names == [cache.names[2], cache.names[0]]
    assert np.array_equal(picked[0][0], clips[2][0])


def test_a_grid_is_built_once_and_again_when_anything_changes(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, _ = open_cache(library, sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    tempos = data.cached_tempos(cache, cache.names, workers=1, progress=False)
    config = data.resolve_grid(TempoConfig(mode="auto"), tempos)
    calls = _count_calls(monkeypatch, gridded, "_place")
    first = data.grid_clips(cache, cache.names, tempos, config, 20_000, workers=1, progress=False)
    data.grid_clips(cache, cache.names, tempos, config, 20_000, workers=1, progress=False)
    assert len(calls) == 4  # the second call read the store
    grids = sorted(cache.folder.glob("grid-*"))
    assert len(grids) == 1 and (grids[0] / gridded.GRID_INFO).is_file()
    # a killed build leaves no grid.json: the next call builds it again
    (grids[0] / gridded.GRID_INFO).unlink()
    again = data.grid_clips(cache, cache.names, tempos, config, 20_000, workers=1, progress=False)
    assert len(calls) == 8 and np.array_equal(again[1][0], first[1][0])
    # another grid tempo, another store; the oldest beyond KEEP_GRIDS are deleted
    for step in range(gridded.KEEP_GRIDS + 1):
        other = TempoConfig(mode="loop", bpm=90.0 + step, bars=1, stretch=config.stretch)
        data.grid_clips(cache, cache.names, tempos, other, 20_000, workers=1, progress=False)
    kept = list(cache.folder.glob("grid-*"))
    assert len(kept) == gridded.KEEP_GRIDS
    assert all(json.loads((p / gridded.GRID_INFO).read_text())["samples"] == 20_000 for p in kept)


def test_grid_clips_need_one_tempo_per_clip(library: Path, tmp_path: Path) -> None:
    cache, _ = open_cache(library, sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    with pytest.raises(SoundmorphError, match="tempi"):
        data.grid_clips(cache, cache.names, [], TempoConfig(mode="oneshot"), 100, progress=False)


def test_tempi_of_another_analysis_version_are_analysed_again(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, _ = open_cache(library, sample_rate=SAMPLE_RATE, base=tmp_path / "c", progress=False)
    found = data.cached_tempos(cache, cache.names, workers=1, progress=False)
    log = cache.folder / gridded.TEMPO_FILE
    old = [json.loads(line) | {"version": 1} for line in log.read_text().splitlines()]
    for record in old:  # as version 1 wrote them: no start, tail or source
        for key in ("start", "tail", "source"):
            record.pop(key)
    log.write_text("".join(json.dumps(record) + "\n" for record in old))
    calls = _count_calls(monkeypatch, tempo_analysis, "analyse")
    assert data.cached_tempos(cache, cache.names, workers=1, progress=False) == found
    assert len(calls) == len(found)
