"""Metrics and baselines, on closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from soundmorph import evaluate


def spectrograms(clips: int = 5, freq: int = 33, frames: int = 12, seed: int = 0) -> torch.Tensor:
    """Random magnitudes [clips, freq, frames], all above the log-spectral distance's floor."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(clips, freq, frames, generator=generator) + 10 * evaluate.LSD_FLOOR


def test_identical_spectrograms_score_perfectly() -> None:
    mags = spectrograms()
    metrics = evaluate.reconstruction_metrics(mags, mags.clone())
    assert set(metrics) == set(evaluate.METRICS)
    assert all(value.shape == (len(mags),) for value in metrics.values())
    assert bool((metrics["mse"] == 0).all())
    torch.testing.assert_close(metrics["cosine"], torch.ones(len(mags)))
    assert bool((metrics["lsd_db"] == 0).all())
    assert bool((metrics["sc_db"] == -math.inf).all())


@pytest.mark.parametrize("scale", [0.5, 2.0, 10.0])
def test_a_scaled_copy_has_cosine_one_and_the_closed_form_distances(scale: float) -> None:
    mags = spectrograms()
    metrics = evaluate.reconstruction_metrics(mags, scale * mags)
    torch.testing.assert_close(metrics["cosine"], torch.ones(len(mags)))
    expected_mse = (scale - 1) ** 2 * mags.pow(2).mean(dim=(1, 2))
    torch.testing.assert_close(metrics["mse"], expected_mse)
    expected_db = 20 * math.log10(abs(scale - 1))  # ||S - cS|| / ||S|| = |1 - c|
    torch.testing.assert_close(metrics["sc_db"], torch.full((len(mags),), expected_db), atol=1e-4, rtol=0)
    expected_lsd = abs(20 * math.log10(scale))  # every bin is off by the same number of dB
    torch.testing.assert_close(metrics["lsd_db"], torch.full((len(mags),), expected_lsd), atol=1e-4, rtol=0)


def test_cosine_of_disjoint_spectrograms_is_zero() -> None:
    a, b = torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)
    a[0, :2], b[0, 2:] = 1.0, 1.0
    assert float(evaluate.cosine_similarity(a, b)[0]) == 0.0


def test_cosine_of_silence_is_finite() -> None:
    assert bool(torch.isfinite(evaluate.cosine_similarity(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3))).all())


def test_log_spectral_distance_ignores_differences_below_the_floor() -> None:
    quiet = torch.full((1, 4, 4), evaluate.LSD_FLOOR / 10)
    assert float(evaluate.log_spectral_distance(quiet, quiet / 100)[0]) == 0.0


def test_metrics_are_per_clip() -> None:
    reference, estimate = spectrograms(seed=1), spectrograms(seed=2)
    together = evaluate.reconstruction_metrics(reference, estimate)
    for k in range(len(reference)):
        alone = evaluate.reconstruction_metrics(reference[k : k + 1], estimate[k : k + 1])
        for name in evaluate.METRICS:
            torch.testing.assert_close(together[name][k : k + 1], alone[name])


def test_better_estimates_score_better_on_every_metric() -> None:
    reference = spectrograms()
    noise = torch.rand(reference.shape, generator=torch.Generator().manual_seed(9))
    close = evaluate.reconstruction_metrics(reference, reference + 0.05 * noise)
    far = evaluate.reconstruction_metrics(reference, reference + 0.5 * noise)
    assert bool((close["mse"] < far["mse"]).all())
    assert bool((close["cosine"] > far["cosine"]).all())
    assert bool((close["sc_db"] < far["sc_db"]).all())
    assert bool((close["lsd_db"] < far["lsd_db"]).all())


# --- baselines ----------------------------------------------------------------------------------


def test_mean_baseline_predicts_the_mean_training_spectrogram() -> None:
    train, clips = spectrograms(6, seed=1), spectrograms(3, seed=2)
    predicted = evaluate.mean_spectrogram_baseline(train, clips)
    assert predicted.shape == clips.shape
    for prediction in predicted:
        torch.testing.assert_close(prediction, train.mean(0))


def test_pca_baseline_shape_and_sign() -> None:
    train, clips = spectrograms(6, seed=1), spectrograms(3, seed=2)
    predicted = evaluate.pca_baseline(train, clips, components=2)
    assert predicted.shape == clips.shape and predicted.dtype == torch.float32
    assert bool((predicted >= 0).all())


@pytest.mark.parametrize("components", [5, 6, 16])  # 6 clips span 5 directions around their mean
def test_pca_with_enough_components_reconstructs_the_training_set(components: int) -> None:
    train = spectrograms(6, seed=1)
    torch.testing.assert_close(evaluate.pca_baseline(train, train, components=components), train)


def test_pca_without_components_is_the_mean_baseline() -> None:
    train, clips = spectrograms(6, seed=1), spectrograms(3, seed=2)
    torch.testing.assert_close(
        evaluate.pca_baseline(train, clips, components=0), evaluate.mean_spectrogram_baseline(train, clips)
    )


def test_pca_error_on_the_training_set_falls_with_more_components() -> None:
    train = spectrograms(8, seed=3)
    errors = [
        float(
            evaluate.reconstruction_metrics(train, evaluate.pca_baseline(train, train, components=k))[
                "mse"
            ].mean()
        )
        for k in (1, 3, 5)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_frame_pca_with_every_component_is_exact() -> None:
    train = torch.rand(3, 6, 10, generator=torch.Generator().manual_seed(0))
    clips = torch.rand(2, 6, 7, generator=torch.Generator().manual_seed(1))  # another frame count
    out = evaluate.frame_pca_baseline(train, clips, components=6)
    assert out.shape == clips.shape and bool((out >= 0).all())
    torch.testing.assert_close(out, clips, rtol=1e-4, atol=1e-5)


def test_frame_pca_error_falls_with_more_components() -> None:
    train = torch.rand(4, 20, 12, generator=torch.Generator().manual_seed(0))
    errors = [
        float((evaluate.frame_pca_baseline(train, train, components=k) - train).pow(2).mean())
        for k in (1, 4, 12)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_every_baseline_is_registered_with_its_shape() -> None:
    train = torch.rand(4, 20, 12, generator=torch.Generator().manual_seed(0))
    assert list(evaluate.BASELINES) == [
        "mean spectrogram",
        "PCA-16",
        "per-frame PCA-8",
        "per-frame PCA-12",
    ]
    for predict in evaluate.BASELINES.values():
        assert predict(train, train[:2]).shape == (2, 20, 12)
