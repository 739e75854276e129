"""Morph-quality figures on generated spectrograms: invariants and librosa agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soundmorph import quality


def _sources(freq: int = 257, frames: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(freq, frames, generator=g) + 0.1
    b = torch.rand(freq, frames, generator=g) + 0.1
    a[: freq // 4] *= 20.0  # A is dark, B is bright: different centroids
    b[freq // 2 :] *= 20.0
    return a, b


def _geometric_sweep(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Interpolation in the log domain: the ideal morph for a log-domain distance."""
    alphas = torch.linspace(0, 1, steps)[:, None, None]
    return torch.exp((1 - alphas) * a.log() + alphas * b.log())


def test_mel_filterbank_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    ours = quality.mel_filterbank(sample_rate=22_050, n_fft=2048, n_mels=64).numpy()
    theirs = librosa.filters.mel(sr=22_050, n_fft=2048, n_mels=64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_mfcc_matches_librosa_dct() -> None:
    scipy_fft = pytest.importorskip("scipy.fft")
    db = torch.randn(64, 7, generator=torch.Generator().manual_seed(1))
    ours = quality.mfcc(db).numpy()
    theirs = scipy_fft.dct(db.double().numpy(), type=2, norm="ortho", axis=0)[1:14]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("distance", ["log_mel", "mfcc"])
def test_ideal_sweep_scores_well(distance: quality.Distance) -> None:
    a, b = _sources()
    q = quality.sweep_quality(_geometric_sweep(a, b, 11), a, b, distance=distance, sample_rate=8000)
    assert q.endpoint_distance == pytest.approx(0.0, abs=1e-3)
    assert q.rho_a == pytest.approx(1.0) and q.rho_b == pytest.approx(-1.0)
    assert q.intermediateness < 0.1
    assert q.smoothness_cv < 0.5 and q.max_step_ratio < 2.0
    assert set(q.to_dict()) >= {"intermediateness", "smoothness_cv", "centroid_r2"}


def test_a_jump_scores_worse_than_a_smooth_sweep() -> None:
    a, b = _sources()
    smooth = quality.sweep_quality(_geometric_sweep(a, b, 11), a, b)
    jump = torch.stack([a] * 5 + [b] * 6)  # a hard cut: all change in one step
    cut = quality.sweep_quality(jump, a, b)
    assert cut.smoothness_cv > smooth.smoothness_cv
    assert cut.max_step_ratio > smooth.max_step_ratio
    assert cut.intermediateness > smooth.intermediateness


def test_constant_sweep_has_no_direction() -> None:
    a, b = _sources()
    q = quality.sweep_quality(torch.stack([a] * 4), a, b)
    assert math.isnan(q.rho_a) and math.isnan(q.smoothness_cv)
    assert q.endpoint_relative == pytest.approx(0.5, rel=1e-6)  # d(x0, A) = 0, d(x3, B) = d(A, B)


def test_centroid_linear_for_a_linear_mix() -> None:
    a, b = _sources()
    alphas = torch.linspace(0, 1, 6)
    mix = (1 - alphas)[:, None, None] * a + alphas[:, None, None] * b
    centroid = quality.spectral_centroid(mix, sample_rate=8000)
    assert bool((centroid.diff() > 0).all())  # B is brighter
    q = quality.sweep_quality(mix, a, b, alphas, sample_rate=8000)
    assert 0.9 < q.centroid_r2 <= 1.0 + 1e-9


def test_spectral_centroid_of_a_single_bin() -> None:
    mag = torch.zeros(5, 3)
    mag[2] = 1.0
    assert float(quality.spectral_centroid(mag, sample_rate=8000)) == pytest.approx(2000.0)


def test_bad_sweeps_are_refused() -> None:
    with pytest.raises(ValueError, match="steps"):
        quality.sweep_quality(torch.ones(1, 3, 4), torch.ones(3, 4), torch.ones(3, 4))
    with pytest.raises(ValueError, match="match"):
        quality.sweep_quality(torch.ones(2, 3, 4), torch.ones(3, 5), torch.ones(3, 4))
    with pytest.raises(ValueError, match="distance"):
        quality.sweep_quality(torch.ones(2, 3, 4), torch.ones(3, 4), torch.ones(3, 4), distance="x")  # type: ignore[arg-type]


def test_spearman_and_mean_quality() -> None:
    assert quality.spearman(np.arange(5), np.arange(5) ** 2) == pytest.approx(1.0)
    assert quality.spearman(np.arange(4), np.array([1, 1, 0, 0])) < 0
    a, b = _sources()
    runs = [quality.sweep_quality(_geometric_sweep(a, b, n), a, b) for n in (3, 5)]
    mean = quality.mean_quality(runs)
    assert mean["intermediateness"] == pytest.approx(
        (runs[0].intermediateness + runs[1].intermediateness) / 2
    )
    assert "distance" not in mean


# -- the default preset's model options (decoder kinds, power scale, PCA start) ----------------------


@pytest.mark.parametrize("decoder", ["conv", "linear", "hybrid"])
@pytest.mark.parametrize("scale", ["linear", "log", "power"])
def test_decoder_kinds_and_scales_shapes(decoder: str, scale: str) -> None:
    from soundmorph.config import ModelConfig
    from soundmorph.models import SpectrogramVAE

    config = ModelConfig(latent_dim=3, channels=8, decoder=decoder, input_scale=scale)  # type: ignore[arg-type]
    model = SpectrogramVAE(config, n_freq=17, n_frames=10)
    mags = torch.rand(4, 17, 10, generator=torch.Generator().manual_seed(0))
    model.init_from_data(mags)
    target = model.to_input(mags)
    posterior = model.encoder(target)
    recon = model.output(posterior.sample(torch.Generator().manual_seed(1)))
    assert target.shape == recon.shape == (4, 17, 10)
    assert bool((model.decode(posterior.mode()) >= 0).all())


def test_power_scale_round_trip() -> None:
    from soundmorph.config import ModelConfig
    from soundmorph.models import SpectrogramVAE

    model = SpectrogramVAE(ModelConfig(input_scale="power", power=0.6), n_freq=9, n_frames=4)
    mags = torch.rand(2, 9, 4) * 10
    torch.testing.assert_close(model.to_magnitude(model.to_input(mags)), mags, rtol=1e-4, atol=1e-5)


def test_linear_decoder_starts_at_the_training_pca() -> None:
    from soundmorph import evaluate
    from soundmorph.config import ModelConfig
    from soundmorph.models import SpectrogramVAE

    g = torch.Generator().manual_seed(0)
    mags = torch.rand(12, 9, 6, generator=g) * torch.rand(12, 1, 1, generator=g) * 5
    model = SpectrogramVAE(ModelConfig(latent_dim=4, decoder="linear"), n_freq=9, n_frames=6)
    model.init_from_data(mags)
    weight = model.decoder.map.weight.double()  # type: ignore[union-attr]
    flat = mags.flatten(1).double()
    z = torch.linalg.lstsq(weight, (flat - flat.mean(0)).T).solution.T  # the optimal "encoder"
    restored = model.decode(z.float())
    expected = evaluate.pca_baseline(mags, mags, components=4)
    torch.testing.assert_close(restored, expected, rtol=1e-3, atol=1e-4)


def test_paper_geometry_is_unchanged() -> None:
    from soundmorph.config import paper
    from soundmorph.models import SpectrogramVAE, count_parameters

    model = SpectrogramVAE(paper().model, n_freq=1025, n_frames=148)
    assert count_parameters(model.encoder) == 2_989_208
    assert count_parameters(model.decoder) == 2_954_241


# --- figures of rendered audio (issue 18) ---


def _clicks(n: int, every: int, *, smear: int = 0) -> np.ndarray:
    """Decaying noise bursts every ``every`` samples; ``smear`` samples of linear fade-in."""
    rng = np.random.default_rng(3)
    out = np.zeros(n)
    for start in range(0, n - 2000, every):
        burst = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
        if smear:
            burst[:smear] *= np.linspace(0, 1, smear)
        out[start : start + 2000] += burst
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def test_hit_sharpness_falls_when_attacks_smear() -> None:
    sharp, soft = (
        quality.hit_sharpness(_clicks(44_100, 5_512)),
        quality.hit_sharpness(_clicks(44_100, 5_512, smear=1500)),
    )
    assert 0 < soft < sharp <= 1
    # it does not depend on how many hits there are
    assert quality.hit_sharpness(_clicks(88_200, 2_756)) == pytest.approx(sharp, abs=0.05)
    assert quality.hit_sharpness(np.zeros(10_000, np.float32)) == 0.0


def test_audio_lsd_is_zero_at_any_circular_lag_and_counts_a_noise_floor() -> None:
    x = _clicks(44_100, 5_512)
    assert quality.audio_lsd(np.roll(x, 777), x) < 1e-6
    noisy = x + 1e-3 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    assert quality.audio_lsd(noisy, x) > 3.0
    stereo = np.stack([x, x])
    assert quality.audio_lsd(stereo, stereo) == 0.0


def test_band_energy_and_side_mid() -> None:
    t = np.arange(44_100) / 44_100
    low, high = np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 15_000 * t)
    assert quality.band_energy_db(low + high, 44_100) == pytest.approx(-20.0, abs=0.2)
    assert quality.band_energy_db(low, 44_100) < -100
    assert quality.side_mid_db(np.stack([low, low])) == -np.inf
    assert quality.side_mid_db(np.stack([low, 0.9 * low])) == pytest.approx(
        20 * np.log10(0.1 / 1.9), abs=0.01
    )
