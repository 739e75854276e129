"""Tests of rendering whole bars that loop, and of the seam and onset-alignment figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundmorph.audio import looping, spectral, synth
from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError


def _loop(bpm: float = 125.0) -> np.ndarray:
    clip = synth.drum_loop(seed=3, style="techno", bpm=bpm, bars=2)
    return np.roll(clip, -round(0.06 * SAMPLE_RATE))  # the seam between hits, not on a kick


@pytest.mark.parametrize("bpm", [100.0, 125.0, 150.0])
def test_render_loop_has_the_exact_length_and_no_click(bpm: float) -> None:
    source = _loop()
    mag = spectral.magnitude(torch.from_numpy(source))
    n = round(2 * 240 / bpm * SAMPLE_RATE)
    out = looping.render_loop(mag, n, period_samples=len(source), generator=torch.Generator().manual_seed(0))
    assert out.shape == (n,) and out.dtype == np.float32 and np.isfinite(out).all()
    seam = looping.seam_figures(out)
    assert seam["jump_rank"] < 0.99 and seam["hf_rank"] < 0.9  # the seam is like the inside


def test_render_loop_batches_and_refuses_a_tiny_loop() -> None:
    mag = spectral.magnitude(torch.from_numpy(np.stack([_loop(), _loop()])))
    out = looping.render_loop(mag, 40_000, period_samples=len(_loop()))
    assert out.shape == (2, 40_000)
    with pytest.raises(SoundmorphError, match="at least"):
        looping.render_loop(mag, 100, period_samples=len(_loop()))


def test_seam_figures_see_a_click() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    smooth = np.sin(2 * np.pi * 110 * t)  # a whole number of periods: seamless
    clicky = np.sin(2 * np.pi * 113.5 * t)  # half a period short: a jump at the seam
    assert looping.seam_figures(smooth)["jump_rank"] < 0.9
    assert looping.seam_figures(clicky)["jump_rank"] > 0.99
    assert looping.seam_figures(clicky)["hf_ratio"] > 3 * looping.seam_figures(smooth)["hf_ratio"]
    assert looping.seam_figures(clicky)["hf_rank"] == 1.0


def test_onset_alignment_finds_the_lag() -> None:
    loop = _loop()
    same = looping.onset_alignment(loop, loop)
    assert same["lag0"] > 0.99 and same["best_lag_ms"] == 0.0
    late = looping.onset_alignment(np.roll(loop, round(0.02 * SAMPLE_RATE)), loop)
    assert 14 <= late["best_lag_ms"] <= 26 and late["lag0"] < late["best"]
    slower = synth.drum_loop(seed=3, style="techno", bpm=100, bars=2)
    stretched = looping.onset_alignment(synth.drum_loop(seed=3, style="techno", bpm=125, bars=2), slower)
    assert stretched["lag0"] > 0.5  # the source is compared stretched to the morph's length
