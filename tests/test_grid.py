"""The beat grid at training and render time: preparing a preset for a library, morph tempi, whole bars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from soundmorph import audio, grid, limits, workflow
from soundmorph.audio import spectral, synth
from soundmorph.config import SAMPLE_RATE, Preset, RenderOptions, get_preset
from soundmorph.errors import SoundmorphError
from soundmorph.training import checkpoint


@pytest.fixture(scope="module")
def tempo_library(tmp_path_factory: pytest.TempPathFactory, scan) -> Any:
    folder = tmp_path_factory.mktemp("tempo_lib")
    for index, bpm in enumerate([110, 125, 140]):
        clip = synth.drum_loop(seed=60 + index, style="house", bpm=bpm, bars=2)
        audio.write(folder / f"s{index}.wav", clip, sample_rate=SAMPLE_RATE)
    audio.write(folder / "s3.wav", synth.one_shot("kick", seed=2), sample_rate=SAMPLE_RATE)
    return scan(folder, sample_rate=SAMPLE_RATE)


def _prepare(library: Any, preset: Preset, **fixed: Any) -> Preset:
    return grid.prepare(preset, library.analyse_tempo(), median_seconds=library.median_seconds(), **fixed)


def test_prepare_resolves_a_loop_grid(tempo_library: Any) -> None:
    preset = _prepare(tempo_library, get_preset("default"))
    assert preset.tempo.mode == "loop" and preset.tempo.bars == 2 and preset.tempo.bpm == 125.0
    assert preset.audio.clip_samples == round(2 * 240 / 125 * SAMPLE_RATE)
    fixed = _prepare(tempo_library, get_preset("default"), bpm=100, bars=1)
    assert (fixed.tempo.bpm, fixed.tempo.bars) == (100.0, 1)
    assert fixed.audio.clip_samples == round(2.4 * SAMPLE_RATE)


def test_paper_keeps_its_reference_geometry(tempo_library: Any) -> None:
    paper = get_preset("paper")
    assert _prepare(tempo_library, paper) == paper  # crop/pad, 148 frames
    assert paper.audio.clip_frames == 148
    switched = _prepare(tempo_library, paper, bpm=140)  # asked for: a grid
    assert switched.tempo.mode == "loop" and switched.tempo.bpm == 140.0


def test_tempo_overrides_need_a_grid(tempo_library: Any, tmp_path: Path) -> None:
    edits = tmp_path / "tempo.json"
    edits.write_text(json.dumps({"s0.wav": {"bpm": 100}}))
    with pytest.raises(SoundmorphError, match="overrides need a grid"):
        workflow.train(tempo_library.root, tmp_path / "m", preset="paper", tempo_file=edits, progress=False)
    assert not (tmp_path / "m" / "config.json").exists()


def test_mix_bpm_is_linear_in_bpm_and_can_be_fixed(tempo_library: Any) -> None:
    preset = _prepare(tempo_library, get_preset("default"))
    assert grid.mix_bpm([124.0, 146.0], [0.5, 0.5], preset=preset) == 135.0
    assert grid.mix_bpm([100.0, None], [0.25, 0.75], preset=preset) == pytest.approx(0.25 * 100 + 0.75 * 125)
    assert grid.mix_bpm([124.0, 146.0], [0.5, 0.5], preset=preset, fixed=100) == 100.0
    assert grid.mix_bpm([124.0], [1.0], preset=get_preset("paper")) is None
    with pytest.raises(SoundmorphError, match="bpm"):
        grid.check_bpm(1000)


def test_render_bars_gives_exact_whole_bars(tempo_library: Any) -> None:
    preset = _prepare(tempo_library, get_preset("default"))
    clips = tempo_library.on_grid(preset.tempo, preset.audio.clip_samples)
    mags = spectral.magnitude(torch.from_numpy(clips[:2]))
    out = grid.render_bars(mags, preset, [100.0, 135.0], RenderOptions(n_iter=4))
    assert [len(clip) for clip in out] == [round(4.8 * SAMPLE_RATE), round(2 * 240 / 135 * SAMPLE_RATE)]
    assert grid.loop_samples(preset, 100.0) == round(4.8 * SAMPLE_RATE)


def test_on_grid(tempo_library: Any) -> None:
    preset = _prepare(tempo_library, get_preset("default"))
    placed = grid.on_grid(tempo_library.clips[0], preset)
    assert placed.shape == (preset.audio.clip_samples,)
    paper = get_preset("paper")
    assert np.array_equal(
        grid.on_grid(tempo_library.clips[0], paper),
        audio.fit_length(tempo_library.clips[0], paper.audio.clip_samples),
    )


def test_training_on_loops_uses_the_grid(tempo_library: Any, tmp_path: Path) -> None:
    result = workflow.train(tempo_library.root, tmp_path / "m", preset="linear", progress=False)
    info = checkpoint.read_info(tmp_path / "m")
    assert info.preset.tempo.mode == "loop" and info.preset.tempo.bpm == 125.0
    assert info.preset.audio.clip_samples == round(2 * 240 / 125 * SAMPLE_RATE)
    entries = checkpoint.load_library(tmp_path / "m").entries
    assert [e.tempo.kind for e in entries if e.tempo] == ["loop", "loop", "loop", "oneshot"]
    assert [round(e.tempo.bpm or 0) for e in entries[:3] if e.tempo] == [110, 125, 140]
    assert result.tempos[3] is not None and result.tempos[3].kind == "oneshot"

    edits = tmp_path / "tempo.json"
    edits.write_text(json.dumps({"s0.wav": {"bpm": 55, "bars": 1}}))
    workflow.train(
        tempo_library.root,
        tmp_path / "n",
        preset="linear",
        bpm=120,
        bars=1,
        tempo_file=edits,
        progress=False,
    )
    fixed = checkpoint.read_info(tmp_path / "n").preset
    assert (fixed.tempo.bpm, fixed.tempo.bars, fixed.audio.clip_samples) == (120.0, 1, 44_100)
    first = checkpoint.load_library(tmp_path / "n").entries[0].tempo
    assert first is not None and first.bpm == 55.0


def test_resume_keeps_the_grid_and_the_corrections(tempo_library: Any, tmp_path: Path) -> None:
    edits = tmp_path / "tempo.json"
    edits.write_text(json.dumps({"s3.wav": {"kind": "loop", "bars": 1}}))
    out = tmp_path / "r"
    workflow.train(tempo_library.root, out, preset="linear", epochs=1, tempo_file=edits, progress=False)
    first = checkpoint.read_info(out).preset
    workflow.train(tempo_library.root, out, epochs=2, resume=True, progress=False)
    assert checkpoint.read_info(out).preset.tempo == first.tempo
    kept = checkpoint.load_library(out).entries[3].tempo
    assert kept is not None and kept.kind == "loop" and kept.bars == 1
    with pytest.raises(SoundmorphError, match="bpm"):
        workflow.train(tempo_library.root, out, epochs=3, resume=True, bpm=100, progress=False)


def test_a_source_read_up_to_the_limit_is_the_start_of_a_longer_file() -> None:
    preset = get_preset("default")
    loop = synth.drum_loop(seed=911, style="house", bpm=124.0, bars=2, kit=911)
    read = round((limits.MAX_CLIP_SECONDS + limits.READ_MARGIN_SECONDS) * SAMPLE_RATE)
    start = np.tile(loop, read // len(loop) + 1)[:read]  # what a 40-s file gives when read as a source
    found = grid.analyse(start, preset)
    assert found.kind == "loop" and found.bpm is not None and abs(found.bpm - 124.0) <= 1.0, found
    assert found.bars is not None and found.bars <= 8
