"""The CNN-VAE: the reference geometry and size, other clip lengths, the posterior, input scaling."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from soundmorph.config import ModelConfig, paper, time_strides
from soundmorph.models import Posterior, SpectrogramVAE, count_parameters, posterior_size

TINY = ModelConfig(channels=8)
N_FREQ = 129  # a small spectrum (n_fft 256) keeps the tiny models fast


def random_mags(batch: int, n_freq: int, frames: int, seed: int = 0) -> torch.Tensor:
    """Non-negative magnitudes with a loud low end, like a drum loop's."""
    generator = torch.Generator().manual_seed(seed)
    tilt = torch.linspace(3.0, 0.01, n_freq)[:, None]
    return torch.rand(batch, n_freq, frames, generator=generator) * tilt


def random_scale_tril(batch: int, k: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tril = torch.randn(batch, k, k, generator=generator).tril(-1) * 0.5
    return tril + torch.diag_embed(torch.rand(batch, k, generator=generator) + 0.2)


# --- the reference (preset paper) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def paper_model() -> SpectrogramVAE:
    preset = paper()
    torch.manual_seed(0)
    return SpectrogramVAE(preset.model, n_freq=preset.audio.n_freq, n_frames=preset.audio.clip_frames).eval()


def test_paper_parameter_counts(paper_model: SpectrogramVAE) -> None:
    assert count_parameters(paper_model.encoder) == 2_989_208
    assert count_parameters(paper_model.decoder) == 2_954_241
    assert count_parameters(paper_model) == 5_943_449


def test_paper_strides_are_the_references(paper_model: SpectrogramVAE) -> None:
    assert paper_model.encoder.strides == paper_model.decoder.strides == (37, 4)


def test_paper_shapes_and_non_negative_output(paper_model: SpectrogramVAE) -> None:
    mags = random_mags(2, 1025, 148)
    with torch.no_grad():
        posterior = paper_model.encode(mags)
        out = paper_model.decode(posterior.mode())
    assert posterior.mean.shape == (2, 16)
    assert posterior.scale_tril.shape == (2, 16, 16)
    assert out.shape == (2, 1025, 148)
    assert bool((out >= 0).all())


def test_paper_head_outputs_a_full_covariance() -> None:
    assert posterior_size(16, "full") == 16 + 136 == 152
    assert posterior_size(16, "diagonal") == 32


# --- any clip length ----------------------------------------------------------------------------


@pytest.mark.parametrize("frames", [31, 100, 148, 201])
@pytest.mark.parametrize("last_stride", [2, 4])
def test_any_frame_count_round_trips(frames: int, last_stride: int) -> None:
    config = ModelConfig(channels=8, last_stride=last_stride)
    model = SpectrogramVAE(config, n_freq=N_FREQ, n_frames=frames).eval()
    assert model.encoder.strides == model.decoder.strides == time_strides(frames, last_stride)
    mags = random_mags(3, N_FREQ, frames)
    with torch.no_grad():
        target = model.to_input(mags)
        posterior = model.encoder(target)
        recon = model.output(posterior.sample(torch.Generator().manual_seed(0)))
        decoded = model.decode(model.encode(mags).mode())
    assert target.shape == recon.shape == decoded.shape == mags.shape
    assert posterior.mean.shape == (3, config.latent_dim)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(channels=8),
        ModelConfig(channels=8, input_scale="log", normalize=True, dropout=0.2),
        ModelConfig(channels=8, covariance="diagonal", input_scale="log"),
    ],
    ids=["linear", "log-normalized", "diagonal"],
)
def test_decoded_magnitudes_are_finite_and_non_negative(config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = SpectrogramVAE(config, n_freq=N_FREQ, n_frames=20).eval()
    with torch.no_grad():
        out = model.decode(3 * torch.randn(8, config.latent_dim, generator=torch.Generator().manual_seed(1)))
    assert bool(torch.isfinite(out).all())
    assert bool((out >= 0).all())


def test_eval_mode_is_deterministic_and_dropout_only_acts_in_training() -> None:
    model = SpectrogramVAE(ModelConfig(channels=8, dropout=0.5), n_freq=N_FREQ, n_frames=20)
    mags = random_mags(2, N_FREQ, 20)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model.encode(mags).mean, model.encode(mags).mean)
        model.train()
        assert not torch.equal(model.encode(mags).mean, model.encode(mags).mean)


# --- input scaling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        TINY,
        ModelConfig(channels=8, input_scale="log", normalize=True),
        ModelConfig(channels=8, input_scale="log"),
    ],
    ids=["linear", "log-normalized", "log"],
)
def test_to_magnitude_inverts_to_input(config: ModelConfig) -> None:
    model = SpectrogramVAE(config, n_freq=N_FREQ, n_frames=20)
    mags = random_mags(4, N_FREQ, 20)
    model.init_from_data(mags)
    torch.testing.assert_close(model.to_magnitude(model.to_input(mags)), mags, rtol=1e-4, atol=1e-5)


def test_normalization_standardises_each_bin_of_the_training_set() -> None:
    model = SpectrogramVAE(
        ModelConfig(channels=8, input_scale="log", normalize=True), n_freq=N_FREQ, n_frames=20
    )
    mags = random_mags(6, N_FREQ, 20)
    model.init_from_data(mags)
    x = model.to_input(mags)
    torch.testing.assert_close(x.mean(dim=(0, 2)), torch.zeros(N_FREQ), atol=1e-4, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2)), torch.ones(N_FREQ), atol=1e-3, rtol=0)


def test_normalization_is_a_no_op_when_off() -> None:
    model = SpectrogramVAE(TINY, n_freq=N_FREQ, n_frames=20)
    model.init_from_data(random_mags(3, N_FREQ, 20))
    assert bool((model.freq_mean == 0).all()) and bool((model.freq_std == 1).all())


# --- the posterior ------------------------------------------------------------------------------


def test_kl_matches_torch_distributions() -> None:
    k = 5
    mean = torch.randn(4, k, generator=torch.Generator().manual_seed(0))
    scale_tril = random_scale_tril(4, k)
    prior = MultivariateNormal(torch.zeros(k), scale_tril=torch.eye(k))
    expected = kl_divergence(MultivariateNormal(mean, scale_tril=scale_tril), prior)
    torch.testing.assert_close(Posterior(mean, scale_tril).kl(), expected, rtol=1e-5, atol=1e-5)


def test_kl_of_the_prior_itself_is_zero() -> None:
    posterior = Posterior(torch.zeros(2, 3), torch.eye(3).expand(2, 3, 3))
    torch.testing.assert_close(posterior.kl(), torch.zeros(2))


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_encoder_scale_is_lower_triangular_with_a_positive_diagonal(covariance: str) -> None:
    model = SpectrogramVAE(ModelConfig(channels=8, covariance=covariance), n_freq=N_FREQ, n_frames=20)
    with torch.no_grad():
        # large inputs push the raw diagonal far negative: softplus must still keep it positive
        scale = model.encode(1e3 * random_mags(5, N_FREQ, 20)).scale_tril
    assert torch.equal(scale, scale.tril())
    assert bool((torch.diagonal(scale, dim1=-2, dim2=-1) > 0).all())
    if covariance == "diagonal":
        assert torch.equal(scale, torch.diag_embed(torch.diagonal(scale, dim1=-2, dim2=-1)))


def test_encoder_kl_is_finite_and_non_negative() -> None:
    model = SpectrogramVAE(TINY, n_freq=N_FREQ, n_frames=20)
    with torch.no_grad():
        kl = model.encode(random_mags(5, N_FREQ, 20)).kl()
    assert bool(torch.isfinite(kl).all()) and bool((kl >= -1e-4).all())


def test_sample_is_reproducible_for_a_seeded_generator() -> None:
    posterior = Posterior(torch.randn(3, 4), random_scale_tril(3, 4))

    def draw(seed: int) -> torch.Tensor:
        return posterior.sample(torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


def test_samples_have_the_posterior_mean_and_covariance() -> None:
    k, n = 4, 200_000
    mean = torch.tensor([1.0, -2.0, 0.5, 0.0])
    scale_tril = random_scale_tril(1, k, seed=3)[0]
    posterior = Posterior(mean.expand(n, k), scale_tril.expand(n, k, k))
    z = posterior.sample(torch.Generator().manual_seed(0)).double()
    covariance = (scale_tril @ scale_tril.T).double()
    torch.testing.assert_close(z.mean(0), mean.double(), atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), covariance, atol=0.03 * float(covariance.abs().max()), rtol=0)


def test_mode_is_the_mean() -> None:
    mean = torch.randn(2, 3)
    assert torch.equal(Posterior(mean, torch.eye(3).expand(2, 3, 3)).mode(), mean)


def test_sample_is_differentiable_in_mean_and_scale() -> None:
    mean = torch.zeros(2, 3, requires_grad=True)
    scale_tril = torch.eye(3).repeat(2, 1, 1).requires_grad_()
    Posterior(mean, scale_tril).sample(torch.Generator().manual_seed(0)).pow(2).sum().backward()
    assert mean.grad is not None and scale_tril.grad is not None
    assert float(scale_tril.grad.abs().sum()) > 0
