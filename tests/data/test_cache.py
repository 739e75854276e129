"""The decoded-audio cache: read once, int16 shards, incremental updates, a log that survives kills."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from soundmorph import audio
from soundmorph.config import SAMPLE_RATE
from soundmorph.data import cache as cache_module
from soundmorph.data.cache import open_cache
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAX_CLIP_SECONDS


@pytest.fixture
def library(tmp_path: Path, loops_dir: Path) -> Path:
    shutil.copytree(loops_dir, tmp_path / "lib")
    return tmp_path / "lib"


def build(root: Path, base: Path, **options):
    return open_cache(root, sample_rate=SAMPLE_RATE, base=base, progress=False, **options)


def test_cache_holds_every_clip_within_int16_precision(library: Path, tmp_path: Path, scan) -> None:
    cache, report = build(library, tmp_path / "c", workers=2)
    scanned = scan(library, sample_rate=SAMPLE_RATE)
    assert cache.names == scanned.names and report.decoded == len(scanned)
    for name, clip in zip(scanned.names, scanned.clips, strict=True):
        cached = cache.read(name)
        assert cached.shape == clip.shape and cached.dtype == np.float32
        assert np.max(np.abs(cached - clip)) <= np.max(np.abs(clip)) / cache_module.FULL_SCALE
        assert np.array_equal(cache.memmap(name) * np.float32(cache.entries[name].scale), cached)


def test_a_long_file_is_cached_up_to_the_longest_clip_a_model_may_have(tmp_path: Path, sine, scan) -> None:
    (tmp_path / "lib").mkdir()
    audio.write(tmp_path / "lib" / "long.wav", sine(110, MAX_CLIP_SECONDS + 8), sample_rate=SAMPLE_RATE)
    cache, _ = build(tmp_path / "lib", tmp_path / "c")
    scanned = scan(tmp_path / "lib", sample_rate=SAMPLE_RATE)
    assert cache.entries["long.wav"].samples == len(scanned.clips[0])
    assert MAX_CLIP_SECONDS * SAMPLE_RATE <= len(scanned.clips[0]) < (MAX_CLIP_SECONDS + 1) * SAMPLE_RATE


def test_a_second_open_decodes_nothing(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(library, tmp_path / "c")
    monkeypatch.setattr(cache_module, "_decode", lambda job: pytest.fail("decoded again"))
    cache, report = build(library, tmp_path / "c", workers=1)
    assert (report.decoded, report.unchanged) == (0, 6) and len(cache) == 6


def test_added_changed_and_removed_files_update_incrementally(library: Path, tmp_path: Path) -> None:
    first, _ = build(library, tmp_path / "c")
    names = first.names
    (library / names[0]).unlink()
    changed = audio.read(library / names[1]) * 0.5
    audio.write(library / names[1], changed, sample_rate=SAMPLE_RATE, force=True)
    os.utime(library / names[1], ns=(1, 1))  # a new mtime whatever the clock's resolution
    audio.write(library / "new" / "extra.wav", changed[: SAMPLE_RATE // 2], sample_rate=SAMPLE_RATE)
    lines_before = (first.folder / cache_module.INDEX_FILE).read_text().count("\n")

    cache, report = build(library, tmp_path / "c", workers=1)
    assert (report.decoded, report.removed, report.unchanged) == (2, 1, 4)
    assert cache.names == sorted([*names[1:], "new/extra.wav"])
    assert np.allclose(cache.read(names[1]), changed, atol=1e-4)
    lines_after = (cache.folder / cache_module.INDEX_FILE).read_text().count("\n")
    assert lines_after - lines_before == 3  # appended, not rewritten


def test_unusable_files_are_remembered_with_their_reason(library: Path, tmp_path: Path) -> None:
    (library / "broken.wav").write_text("not audio")
    cache, report = build(library, tmp_path / "c")
    assert report.skipped == 1 and [s.path.name for s in cache.skipped] == ["broken.wav"]
    assert "unreadable" in cache.skipped[0].reason
    _, again = build(library, tmp_path / "c")
    assert again.skipped == 0 and again.unchanged == 7


def test_a_torn_last_index_line_is_ignored_and_that_clip_decoded_again(library: Path, tmp_path: Path) -> None:
    cache, _ = build(library, tmp_path / "c")
    index = cache.folder / cache_module.INDEX_FILE
    text = index.read_text()
    index.write_text(text[: len(text) - 25])  # a kill in the middle of the last line
    reopened, report = build(library, tmp_path / "c")
    assert report.decoded == 1 and reopened.names == cache.names
    for name in cache.names:
        assert np.array_equal(reopened.read(name), cache.read(name))


def test_the_log_is_compacted_when_mostly_dead(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, _ = build(library, tmp_path / "c")
    index = cache.folder / cache_module.INDEX_FILE
    line = index.read_text().splitlines()[0]
    with index.open("a") as handle:  # many stale records of one file
        handle.write((line + "\n") * 3000)
    cache, _ = build(library, tmp_path / "c")
    assert index.read_text().count("\n") == len(cache) and len(cache) == 6
    assert [json.loads(x)["name"] for x in index.read_text().splitlines()]  # valid JSON lines


def test_settings_select_another_cache(library: Path, tmp_path: Path) -> None:
    a = cache_module.cache_folder(library, sample_rate=22_050, base=tmp_path)
    assert a != cache_module.cache_folder(library, sample_rate=16_000, base=tmp_path)
    assert a == cache_module.cache_folder(library / ".." / library.name, sample_rate=22_050, base=tmp_path)


def test_a_foreign_header_is_refused_with_one_line(library: Path, tmp_path: Path) -> None:
    cache, _ = build(library, tmp_path / "c")
    (cache.folder / cache_module.HEADER_FILE).write_text('{"format_version": 99}')
    with pytest.raises(SoundmorphError, match="not a soundmorph cache"):
        build(library, tmp_path / "c")


def test_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SoundmorphError, match="no such folder"):
        build(tmp_path / "nope", tmp_path / "c")
