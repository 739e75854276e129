"""Tests of the procedural drum-loop synthesiser."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from soundmorph.audio import synth
from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError


def _centroid(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Energy-weighted spectral centroid in Hz."""
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(np.sum(power * np.fft.rfftfreq(len(x), 1 / sample_rate)) / np.sum(power))


def _mean_spectrum(x: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    return np.abs(np.fft.rfft(frames, axis=1)).mean(axis=0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_same_arguments_give_identical_loops_and_seeds_differ() -> None:
    a = synth.drum_loop(seed=3, style="house", bpm=124)
    assert np.array_equal(a, synth.drum_loop(seed=3, style="house", bpm=124))
    assert np.array_equal(synth.drum_loop(seed=3), synth.drum_loop(seed=3))
    assert not np.array_equal(a, synth.drum_loop(seed=4, style="house", bpm=124))
    assert np.all(np.isfinite(synth.drum_loop(seed=-1)))  # any Python int is a seed


@pytest.mark.parametrize(("bpm", "bars"), [(120, 2), (133.3, 2), (150, 2), (97.5, 1), (140, 3), (400, 1)])
def test_length_follows_tempo_and_bars(bpm: float, bars: int) -> None:
    loop = synth.drum_loop(seed=1, bpm=bpm, bars=bars)
    assert loop.shape == (round(bars * 4 * 60 / bpm * SAMPLE_RATE),)


def test_tempo_from_the_seed_is_in_range() -> None:
    shortest, longest = (round(8 * 60 / bpm * SAMPLE_RATE) for bpm in (150, 120))
    lengths = {len(synth.drum_loop(seed=seed)) for seed in range(8)}
    assert all(shortest <= n <= longest for n in lengths)
    assert len(lengths) > 1


@pytest.mark.parametrize("style", synth.STYLES)
def test_output_is_finite_float32_and_normalised(style: str) -> None:
    for seed in range(3):
        loop = synth.drum_loop(seed=seed, style=style, sample_rate=16_000)
        assert loop.dtype == np.float32
        assert np.all(np.isfinite(loop))
        assert 0.1 < np.max(np.abs(loop)) <= 1.0
        assert np.max(np.abs(loop)) == pytest.approx(synth.PEAK, abs=1e-6)


def test_every_voice_is_finite_and_not_silent() -> None:
    voices = synth._voices(0, sample_rate=SAMPLE_RATE)
    assert set(voices) == set(synth.VOICES)
    for name, sound in voices.items():
        assert np.all(np.isfinite(sound)), name
        assert np.max(np.abs(sound)) > 0.1, name


def test_kick_is_low_and_hats_are_high() -> None:
    for seed in range(20):
        voices = synth._voices(seed, sample_rate=SAMPLE_RATE)
        assert _centroid(voices["kick"]) < 500.0
        assert _centroid(voices["low_tom"]) < _centroid(voices["high_tom"]) < 1000.0
        assert _centroid(voices["closed_hat"]) > 5000.0
        assert _centroid(voices["open_hat"]) > 5000.0
        assert len(voices["open_hat"]) > len(voices["closed_hat"])


@pytest.mark.parametrize("bpm", [120.0, 150.0])
def test_techno_kicks_on_every_quarter_note(bpm: float) -> None:
    window = round(0.020 * SAMPLE_RATE)
    for seed in range(10):
        loop = synth.drum_loop(seed=seed, style="techno", bpm=bpm).astype(np.float64)
        median = np.median(np.add.reduceat(loop**2, np.arange(0, len(loop), window)))
        for beat in range(8):  # 2 bars of 4/4
            start = round(beat * 60 / bpm * SAMPLE_RATE)
            assert np.sum(loop[start : start + window] ** 2) > 2 * median, (seed, beat)


def test_kits_and_styles_sound_different() -> None:
    spectra = [_mean_spectrum(synth.drum_loop(seed=seed, style="techno", bpm=130)) for seed in range(6)]
    for a, b in itertools.combinations(spectra, 2):
        assert _cosine(a, b) < 0.999
    techno, broken = (_mean_spectrum(synth.drum_loop(seed=0, style=s, bpm=130)) for s in ("techno", "break"))
    assert _cosine(techno, broken) < 0.999


@pytest.mark.parametrize(
    "kwargs",
    [
        {"style": "dubstep"},
        {"bpm": 0},
        {"bpm": -120},
        {"bpm": 401},
        {"bpm": math.nan},
        {"bars": 0},
        {"bars": 1.5},
        {"sample_rate": 0},
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(SoundmorphError):
        synth.drum_loop(seed=0, **kwargs)  # type: ignore[arg-type]


def test_library_specs_cover_every_style_and_are_deterministic() -> None:
    specs = synth.library_specs(10, seed=7)
    assert specs == synth.library_specs(10, seed=7)
    assert specs != synth.library_specs(10, seed=8)
    assert specs[:4] == synth.library_specs(4, seed=7)
    assert {spec.style for spec in specs[:4]} == set(synth.STYLES)
    assert [spec.style for spec in specs] == [synth.STYLES[i % 4] for i in range(10)]
    assert len({spec.seed for spec in specs}) == len(specs)
    assert len({spec.name for spec in specs}) == len(specs)
    for index, spec in enumerate(specs):
        assert spec.bpm == int(spec.bpm) and 120 <= spec.bpm <= 150
        assert re.fullmatch(rf"loop_{index:03d}_{spec.style}_{int(spec.bpm)}bpm", spec.name)
    assert synth.library_specs(0) == []
    with pytest.raises(SoundmorphError):
        synth.library_specs(-1)


def test_render_is_drum_loop_of_the_spec() -> None:
    spec = synth.library_specs(4, seed=1)[3]
    loop = synth.render(spec, sample_rate=16_000)
    expected = synth.drum_loop(seed=spec.seed, style=spec.style, bpm=spec.bpm, sample_rate=16_000)
    assert np.array_equal(loop, expected)
    assert len(loop) == round(2 * 4 * 60 / spec.bpm * 16_000)
