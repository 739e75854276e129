"""The library: the held-out split, each sound's tempo with corrections, clips on the beat grid."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from soundmorph import audio, data
from soundmorph.audio import synth
from soundmorph.config import SAMPLE_RATE, TempoConfig
from soundmorph.data import library
from soundmorph.errors import SoundmorphError

# --- require_clips ------------------------------------------------------------------------------


def test_require_clips_names_the_folder_and_the_first_skipped_file(tmp_path: Path, scan) -> None:
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00")
    library = scan(tmp_path, sample_rate=SAMPLE_RATE)
    with pytest.raises(SoundmorphError) as caught:
        data.require_clips(library)
    message = str(caught.value)
    assert str(tmp_path) in message and "broken.wav" in message and "0 usable" in message
    assert "\n" not in message


def test_require_clips_counts(loops_dir: Path, scan) -> None:
    library = scan(loops_dir, sample_rate=SAMPLE_RATE)
    data.require_clips(library, minimum=6)
    with pytest.raises(SoundmorphError, match="at least 7"):
        data.require_clips(library, minimum=7)


# --- the held-out split -------------------------------------------------------------------------


def names(count: int, prefix: str = "clip") -> list[str]:
    return [f"{prefix}_{i:03d}.wav" for i in range(count)]


@pytest.mark.parametrize(
    ("count", "fraction", "held"),
    [(10, 0.0, 0), (10, 0.2, 2), (10, 0.25, 2), (100, 0.125, 12), (2, 0.01, 1), (2, 0.99, 1), (1, 0.5, 0)],
)
def test_holdout_count(count: int, fraction: float, held: int) -> None:
    mask = data.holdout_mask(names(count), fraction, seed=0)
    assert mask.dtype == bool and mask.shape == (count,)
    assert int(mask.sum()) == held


@pytest.mark.parametrize("count", [2, 3, 7, 50])
def test_a_holdout_always_leaves_clips_on_both_sides(count: int) -> None:
    for fraction in (0.01, 0.5, 0.99):
        held = int(data.holdout_mask(names(count), fraction, seed=1).sum())
        assert 1 <= held <= count - 1


def test_holdout_is_the_same_for_the_same_names_and_seed() -> None:
    first = data.holdout_mask(names(40), 0.25, seed=3)
    assert np.array_equal(first, data.holdout_mask(names(40), 0.25, seed=3))


def test_holdout_depends_on_the_names_not_their_order() -> None:
    ordered = names(40)
    shuffled = list(np.random.default_rng(0).permutation(ordered))
    held = {n for n, h in zip(ordered, data.holdout_mask(ordered, 0.25, seed=3), strict=True) if h}
    held_shuffled = {n for n, h in zip(shuffled, data.holdout_mask(shuffled, 0.25, seed=3), strict=True) if h}
    assert held == held_shuffled


def test_holdout_changes_with_the_seed() -> None:
    masks = {tuple(data.holdout_mask(names(40), 0.25, seed=seed)) for seed in range(5)}
    assert len(masks) > 1


def test_adding_files_moves_at_most_one_held_out_file_each() -> None:
    existing = names(30)
    held = {n for n, h in zip(existing, data.holdout_mask(existing, 0.2, seed=0), strict=True) if h}
    for new in names(20, prefix="new"):
        existing = [*existing, new]
        now = {n for n, h in zip(existing, data.holdout_mask(existing, 0.2, seed=0), strict=True) if h}
        assert len(held - now) <= 1  # an old file leaves the split only to make room for the new one
        held = now


# --- tempo and the beat grid -----------------------------------------------------------------------


def _tempo_folder(tmp_path: Path) -> Path:
    """Three whole-bar loops at 110, 125 and 150 BPM and a one-shot, under names that hide the tempo."""
    for index, (bpm, bars) in enumerate([(110, 2), (125, 2), (150, 4)]):
        clip = synth.drum_loop(seed=40 + index, style="techno", bpm=bpm, bars=bars)
        audio.write(tmp_path / f"sound_{index}.wav", clip, sample_rate=SAMPLE_RATE)
    audio.write(tmp_path / "sound_3.wav", synth.one_shot("snare", seed=1), sample_rate=SAMPLE_RATE)
    return tmp_path


def test_analyse_tempo_and_describe(tmp_path: Path, scan) -> None:
    folder = _tempo_folder(tmp_path)
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVEnope")
    described = data.describe(folder, sample_rate=SAMPLE_RATE)
    sounds = described["sounds"]
    assert [s["kind"] for s in sounds] == ["loop", "loop", "loop", "oneshot"]
    assert [s["bars"] for s in sounds] == [2, 2, 4, None]
    assert [round(s["bpm"]) if s["bpm"] else None for s in sounds] == [110, 125, 150, None]
    keys = {"index", "name", "seconds", "sample_rate", "channels", "kind", "bpm", "bars"}
    keys |= {"source", "confidence", "start", "tail", "warnings"}
    assert set(sounds[0]) == keys
    assert sounds[0]["sample_rate"] == SAMPLE_RATE and sounds[0]["channels"] == 1
    assert [s["index"] for s in sounds] == [0, 1, 2, 3] and sounds[3]["name"] == "sound_3.wav"
    assert [s["name"] for s in described["skipped"]] == ["broken.wav"]
    found = scan(folder, sample_rate=SAMPLE_RATE).analyse_tempo()
    assert [s["bpm"] for s in sounds] == [None if t.bpm is None else round(t.bpm, 2) for t in found]
    edited = data.describe(folder, sample_rate=SAMPLE_RATE, overrides={"sound_1.wav": {"bars": 4}})
    assert edited["sounds"][1]["bars"] == 4 and edited["sounds"][1]["bpm"] == pytest.approx(250, abs=0.5)
    with pytest.raises(SoundmorphError, match=r"nope\.wav"):
        data.describe(folder, sample_rate=SAMPLE_RATE, overrides={"nope.wav": {"bpm": 120}})


def test_resolve_grid_by_majority_and_overrides() -> None:
    loop = library.Tempo("loop", 120.0, 2, 0.0, 1.0)
    hit = library.Tempo("oneshot", None, None, 0.0, 1.0)
    auto = TempoConfig(mode="auto")
    resolved = data.resolve_grid(auto, [loop, dataclasses.replace(loop, bpm=130.0, bars=4), loop, hit])
    assert (resolved.mode, resolved.bpm, resolved.bars) == ("loop", 120.0, 2)
    assert data.resolve_grid(auto, [loop, hit, hit]).mode == "oneshot"
    fixed = data.resolve_grid(TempoConfig(mode="auto", bpm=100.0, bars=1), [loop])
    assert (fixed.bpm, fixed.bars) == (100.0, 1)
    with pytest.raises(SoundmorphError, match="--bpm"):
        data.resolve_grid(TempoConfig(mode="loop"), [hit])


def test_on_grid_stretches_loops_and_aligns_one_shots(tmp_path: Path, scan) -> None:
    lib = scan(_tempo_folder(tmp_path), sample_rate=SAMPLE_RATE)
    config = data.resolve_grid(TempoConfig(mode="auto"), lib.analyse_tempo())
    assert config.mode == "loop" and config.bars == 2 and config.bpm == 125.0
    n = round(2 * 240 / 125 * SAMPLE_RATE)
    clips = lib.on_grid(config, n)
    assert clips.shape == (4, n) and clips.dtype == np.float32
    assert np.array_equal(clips[1], lib.clips[1])  # already on the grid: untouched
    assert np.abs(clips[3, :64]).max() < np.abs(clips[3]).max()  # the one-shot starts at its onset
    off = lib.on_grid(TempoConfig(mode="off"), n)
    assert np.array_equal(off, lib.fitted(n))


def test_tempo_overrides_from_a_file(tmp_path: Path, scan) -> None:
    lib = scan(_tempo_folder(tmp_path / "lib"), sample_rate=SAMPLE_RATE)
    edits = tmp_path / "tempo.json"
    edits.write_text(json.dumps({"sound_0.wav": {"bpm": 50}, "sound_3.wav": {"kind": "loop", "bars": 1}}))
    found = lib.analyse_tempo(data.read_tempo_file(edits))
    assert (found[0].bpm, found[0].bars) == (50.0, 1)  # 1 bar fits the clip at 50 BPM
    assert found[3].kind == "loop" and found[3].bars == 1
    listed = tmp_path / "listed.json"
    described = data.describe(tmp_path / "lib", sample_rate=SAMPLE_RATE)
    described["sounds"][1]["bars"] = 4
    listed.write_text(json.dumps(described))
    assert data.read_tempo_file(listed)["sound_1.wav"]["bars"] == 4  # 'list --json' output, edited
    edits.write_text(json.dumps({"nope.wav": {"bpm": 120}}))
    with pytest.raises(SoundmorphError, match=r"nope\.wav"):
        lib.analyse_tempo(data.read_tempo_file(edits))
    edits.write_text("[1, 2]")
    with pytest.raises(SoundmorphError, match="tempo file"):
        data.read_tempo_file(edits)
    edits.write_text(json.dumps({"sound_0.wav": {"kind": "drone"}}))
    with pytest.raises(SoundmorphError, match="kind"):
        data.read_tempo_file(edits)


def test_scan_reports_links_and_folders_named_like_audio(
    tmp_path: Path, sine: Callable[..., np.ndarray], scan
) -> None:
    audio.write(tmp_path / "good.wav", sine(220, 1.0), sample_rate=SAMPLE_RATE)
    (tmp_path / "x.wav").mkdir()
    (tmp_path / "gone.wav").symlink_to(tmp_path / "missing.wav")
    scanned = scan(tmp_path, sample_rate=SAMPLE_RATE)
    assert scanned.names == ["good.wav"]
    assert {s.path.name: s.reason for s in scanned.skipped} == {
        "x.wav": "a folder, not a file",
        "gone.wav": "broken link",
    }


def test_describe_says_where_each_tempo_came_from_and_warns_when_the_hits_disagree(tmp_path: Path) -> None:
    folder = tmp_path / "asis"
    folder.mkdir()
    loop = synth.drum_loop(seed=21, style="house", bpm=124, bars=2, kit=71)
    bounce = synth.untrimmed(loop, lead_in=0.015, tail=0.3, kind="ring")
    for name in ("Break_124bpm.wav", "loop_93bpm.wav", "plain.wav"):
        audio.write(folder / name, bounce, sample_rate=SAMPLE_RATE)
    sounds = {s["name"]: s for s in data.describe(folder, sample_rate=SAMPLE_RATE)["sounds"]}
    named, misnamed, plain = sounds["Break_124bpm.wav"], sounds["loop_93bpm.wav"], sounds["plain.wav"]
    assert (named["source"], named["bpm"], named["bars"], named["warnings"]) == ("name", 124.0, 2, [])
    assert named["start"] == pytest.approx(0.015, abs=0.002) and named["tail"] == "drop"
    assert misnamed["source"] == "audio" and misnamed["bpm"] == pytest.approx(124, abs=1)
    assert misnamed["warnings"] == [f"name says 93 BPM; the hits say {misnamed['bpm']:.1f} BPM"]
    assert misnamed["confidence"] < plain["confidence"]
    assert plain["source"] == "audio" and plain["warnings"] == []
    edited = data.describe(folder, sample_rate=SAMPLE_RATE, overrides={"plain.wav": {"bpm": 62}})
    user = {s["name"]: s for s in edited["sounds"]}["plain.wav"]
    assert (user["source"], user["bpm"], user["bars"], user["tail"]) == ("user", 62.0, 1, "drop")
    same = data.describe(folder, sample_rate=SAMPLE_RATE, overrides={"plain.wav": {"bars": 2}})
    assert {s["name"]: s for s in same["sounds"]}["plain.wav"]["source"] == "audio"  # restated
