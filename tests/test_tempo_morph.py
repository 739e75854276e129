"""A morph of two loops as they come (lead-in, tail) through the API: whole bars at the mixed
tempo, its hits on both sources' beats."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from soundmorph import api, audio
from soundmorph.audio import looping, synth
from soundmorph.config import SAMPLE_RATE

SLOW, FAST = 108.0, 136.0


def test_a_morph_of_two_untrimmed_loops_is_whole_bars_on_both_beats(tmp_path: Path) -> None:
    folder = tmp_path / "loops"
    folder.mkdir()
    loops = {
        "a.wav": synth.drum_loop(seed=31, style="techno", bpm=SLOW, bars=2, kit=131),
        "b.wav": synth.drum_loop(seed=32, style="house", bpm=FAST, bars=2, kit=132),
        "c.wav": synth.drum_loop(seed=33, style="trance", bpm=122.0, bars=2, kit=133),
    }
    bounces = {
        "a.wav": synth.untrimmed(loops["a.wav"], lead_in=0.02, tail=0.3, kind="ring"),
        "b.wav": synth.untrimmed(loops["b.wav"], lead_in=0.012, tail=0.25, kind="reverb", seed=5),
        "c.wav": synth.untrimmed(loops["c.wav"], lead_in=0.0, tail=0.1, kind="ring"),
    }
    for name, clip in bounces.items():
        audio.write(folder / name, clip, sample_rate=SAMPLE_RATE)
    api.train(folder, tmp_path / "m", preset="linear", device="cpu", progress=False)
    model = api.load(tmp_path / "m", device="cpu")
    found = {name: model.resolve(name).tempo for name in loops}
    assert all(t is not None and t.kind == "loop" and t.bars == 2 for t in found.values()), found
    assert abs(found["a.wav"].bpm - SLOW) <= 1.0 and abs(found["b.wav"].bpm - FAST) <= 1.0  # type: ignore[union-attr]
    assert found["a.wav"].tail == "drop" and found["b.wav"].tail == "wrap"  # type: ignore[union-attr]

    morph = model.morph("a.wav", "b.wav", 0.5, options=model.render_options.override(n_iter=8))
    mixed = (found["a.wav"].bpm + found["b.wav"].bpm) / 2  # type: ignore[operator]
    assert len(morph.audio) == round(2 * 240 / mixed * SAMPLE_RATE)  # whole bars, to the sample
    for name in ("a.wav", "b.wav"):
        alignment = looping.onset_alignment(np.asarray(morph.audio), loops[name])
        assert alignment["lag0"] >= 0.5, (name, alignment)
