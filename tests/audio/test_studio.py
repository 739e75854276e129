"""The studio chain's DSP: exact at a source's own weight, a loop without a seam, sizzle between."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundmorph import quality
from soundmorph.audio import io, studio, synth, tempo
from soundmorph.audio.tempo import Tempo, grid_samples
from soundmorph.errors import SoundmorphError

RATE = 44_100


def stereo_loop(seed: int, bpm: float, bars: int) -> np.ndarray:
    main = synth.drum_loop(seed=seed, bpm=bpm, bars=bars, sample_rate=RATE)
    other = synth.drum_loop(seed=seed + 1, bpm=bpm, bars=bars, kit=seed, sample_rate=RATE)
    return np.stack([main, 0.7 * main + 0.3 * other])


def test_frame_settings_keep_the_models_bins() -> None:
    assert studio.frame_settings(22_050) == (2048, 512)
    assert studio.frame_settings(44_100) == (4096, 1024)
    n_fft, _ = studio.frame_settings(48_000)
    assert abs(48_000 / n_fft - 22_050 / 2048) < 0.01  # Hz per bin


def test_rate_and_channels_follow_the_sources_with_weight() -> None:
    assert studio.render_rate([22_050, 44_100], [0.5, 0.5]) == 44_100
    assert studio.render_rate([22_050, 44_100], [1.0, 0.0]) == 22_050  # A alone keeps its rate
    assert studio.render_rate([96_000, 44_100], [0.5, 0.5]) == 48_000
    assert studio.render_rate([44_100], [1.0], rate=48_000) == 48_000
    with pytest.raises(SoundmorphError):
        studio.render_rate([44_100], [1.0], rate=100)
    assert studio.render_channels([1, 2], [1.0, 0.0]) == 1
    assert studio.render_channels([1, 2], [0.9, 0.1]) == 2


def test_wsola_matches_the_tempo_modules_and_keeps_channels_aligned() -> None:
    x = np.random.default_rng(0).standard_normal(20_000)
    ours = studio.wsola(np.stack([x, x]), 23_456, sample_rate=22_050)
    np.testing.assert_allclose(ours[0], tempo.stretch(x, 23_456, anchored=True), atol=1e-4)
    np.testing.assert_array_equal(ours[0], ours[1])  # one set of splice points
    np.testing.assert_array_equal(studio.wsola(x[None], 20_000)[0], x.astype(np.float32))


def test_periodic_stft_round_trip() -> None:
    x = torch.randn(2, 10_001, dtype=torch.float64)
    spec = studio.stft(x, 1024, 256, periodic=True)
    back = studio.istft(spec, 1024, 256, 10_001, periodic=True)
    assert float((back - x).abs().max()) < 1e-10


def render_pair(
    alpha: float, *, weights: tuple[float, float] | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    a, b = stereo_loop(11, 97.0, 1), stereo_loop(23, 131.0, 2)
    tempi = [Tempo("loop", 97.0, 1, 0.0, 1.0), Tempo("loop", 131.0, 2, 0.0, 1.0)]
    bpm = (1 - alpha) * 97.0 + alpha * 131.0
    bars = 1 if alpha <= 0.5 else 2
    n = grid_samples(bpm, bars, RATE)
    fitted = [
        studio.fit_source(x, RATE, t, n_samples=n, bpm=bpm, bars=bars)
        for x, t in zip((a, b), tempi, strict=True)
    ]
    gain = torch.zeros(1025, 100, dtype=torch.float64)  # the model agrees with the mix
    out, _ = studio.render(
        fitted,
        list(weights or (1 - alpha, alpha)),
        sample_rate=RATE,
        log_gain=gain,
        bpm=bpm,
        grid_bpm=120.0,
        period_frames=99.0,
    )
    return out, [a, b]


def test_the_ends_are_the_sources_and_the_middle_keeps_its_hits() -> None:
    out, (a, b) = render_pair(0.0)
    assert out.shape == a.shape
    assert float(np.abs(out - a).max()) < 1e-5  # A itself, to float precision
    near, _ = render_pair(0.01)  # a hair off A's tempo, 1 % of B's share
    a_there, _ = render_pair(0.01, weights=(1.0, 0.0))  # A alone, stretched to that tempo
    assert quality.audio_lsd(near, a_there) < 1.0  # no jump from "the file" to "the model"
    mid, (a, b) = render_pair(0.5)
    sharp = [quality.hit_sharpness(io.resample(x.mean(0), RATE, 22_050)) for x in (a, b, mid)]
    assert sharp[2] >= 0.85 * (sharp[0] + sharp[1]) / 2
    hf = [quality.band_energy_db(x, RATE) for x in (a, b, mid)]
    assert min(hf[:2]) - 3 <= hf[2] <= max(hf[:2]) + 3


def test_grid_gain_is_one_where_the_model_agrees() -> None:
    mix = torch.randn(5, 7, dtype=torch.complex64)
    assert float(studio.grid_gain(mix.abs(), mix).abs().max()) < 1e-5
    assert float(studio.grid_gain(mix.abs() * 1e6, mix).max()) == pytest.approx(24 * np.log(10) / 20)


def test_an_untrimmed_loop_is_taken_as_the_grid_takes_it() -> None:
    loop = stereo_loop(31, 112.0, 2)
    lead, tail = round(0.02 * RATE), round(0.3 * RATE)
    ring = np.take(loop, np.arange(tail), axis=-1, mode="wrap") * np.linspace(1.0, 0.0, tail) ** 2
    bounce = np.concatenate([np.zeros((2, lead), np.float32), loop, ring], axis=-1)
    found = Tempo("loop", 112.0, 2, 0.02, 1.0, start=0.02, tail="wrap")
    n = grid_samples(112.0, 2, RATE)
    fitted = studio.fit_source(bounce, RATE, found, n_samples=n, bpm=112.0, bars=2)
    for channel in range(2):  # the lead-in trimmed, the ring-out wrapped round: the loop that plays
        np.testing.assert_allclose(
            fitted[channel], tempo.loop_cycle(bounce[channel], found, sample_rate=RATE), atol=1e-6
        )
    np.testing.assert_allclose(fitted[:, tail:], loop[:, tail:], atol=1e-6)  # past the wrapped ring


def test_hits_kept_by_the_caller_give_the_same_stretch() -> None:
    loop = synth.drum_loop(seed=77, style="house", bpm=124.0, bars=1, kit=77)
    period = np.stack([loop, 0.5 * loop])
    hits = studio.period_hits(period, sample_rate=22_050)
    assert len(hits) >= 4  # a bar of house: at least its four kicks
    for n in (len(loop) * 9 // 10, len(loop) * 6 // 5):
        np.testing.assert_array_equal(
            studio.wsola(period, n, sample_rate=22_050, hits=hits),
            studio.wsola(period, n, sample_rate=22_050),
        )
