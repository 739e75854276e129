"""WSOLA keeps a loop's hits on their time: each strong onset lands where varispeed puts it."""

from __future__ import annotations

import numpy as np
import pytest

from soundmorph.audio import looping, synth, tempo

CASES = [(100.0, 131.0), (140.0, 97.0), (124.0, 118.0), (90.0, 150.0)]  # (source BPM, target BPM)


@pytest.mark.parametrize(("seed", "case"), list(enumerate(CASES)))
def test_wsola_puts_the_hits_where_varispeed_does(seed: int, case: tuple[float, float]) -> None:
    bpm, target = case
    loop = synth.drum_loop(seed=seed + 40, bpm=bpm, bars=2, kit=seed + 40)
    n = tempo.grid_samples(target, 2)
    stretched = tempo.stretch(loop, n, method="wsola", anchored=True)
    exact = tempo.stretch(loop, n, method="resample")  # every sample on its time, pitch moved
    alignment = looping.onset_alignment(stretched, exact)
    assert alignment["lag0"] >= 0.75, alignment
    assert abs(alignment["best_lag_ms"]) <= 6.0
    plain = looping.onset_alignment(tempo.stretch(loop, n, method="wsola"), exact)
    assert plain["lag0"] < alignment["lag0"]  # 0.38-0.75 on these: hits drift up to 11.6 ms


def test_the_grid_stretches_with_anchored_hits() -> None:
    loop = synth.drum_loop(seed=45, bpm=100.0, bars=2, kit=45)
    found = tempo.Tempo("loop", 100.0, 2, 0.0, 1.0)
    grid = tempo.Grid(131.0, 2)
    on_grid = tempo.to_grid(loop, found, grid)
    anchored = tempo.stretch(loop, grid.samples(), method="wsola", anchored=True)
    np.testing.assert_allclose(on_grid, anchored, atol=1e-6)


def test_anchors_put_each_hit_on_its_output_time() -> None:
    loop = synth.drum_loop(seed=44, bpm=120.0, bars=1, kit=44)
    n = tempo.grid_samples(133.0, 1)
    hop = tempo.WSOLA_FRAME // 2
    anchors = tempo.wsola_anchors(loop, n, hop=hop)
    assert anchors, "a drum loop has hits"
    for k, position in anchors.items():
        assert 0 <= k <= int(np.ceil(n / hop))
        nominal = (k * hop - hop) * len(loop) / n
        assert abs(position - nominal) <= hop  # near where the plain search would look
