"""The sequence VAE: any clip length, the per-frame PCA start, augmentation, the posterior, saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from soundmorph import evaluate
from soundmorph.audio import synth
from soundmorph.config import AudioConfig, ModelConfig, Preset, TrainConfig, get_preset
from soundmorph.data.dataset import ArrayClips
from soundmorph.models import DiagonalPosterior, SequenceVAE, build_model, latent_size
from soundmorph.models.sequence import (
    from_steps,
    random_eq,
    stretch_frequency,
    to_steps,
)
from soundmorph.training import checkpoint, fit
from soundmorph.training.loop import batch_magnitudes

N_FREQ = 129
TINY = ModelConfig(latent="sequence", latent_dim=4, global_dim=3, channels=8, input_scale="power", power=0.6)


def random_mags(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tilt = torch.linspace(3.0, 0.01, N_FREQ)[:, None]
    return torch.rand(batch, N_FREQ, frames, generator=generator) * tilt


@pytest.mark.parametrize(("frames", "step"), [(37, 1), (50, 1), (50, 4), (7, 3)])
def test_any_length_and_step(frames: int, step: int) -> None:
    config = ModelConfig(**{**TINY.__dict__, "step_frames": step})
    model = build_model(config, n_freq=N_FREQ, n_frames=frames).eval()
    assert isinstance(model, SequenceVAE)
    mags = random_mags(2, frames)
    z = model.encode(mags).mode()
    assert z.shape == (2, latent_size(config, frames)) == (2, 3 + -(-frames // step) * 4)
    out = model.decode(z)
    assert out.shape == mags.shape and bool((out >= 0).all())


def test_steps_round_trip() -> None:
    x = random_mags(2, 10)
    assert torch.equal(from_steps(to_steps(x, 3), N_FREQ, 10), x)


def test_starts_as_the_per_frame_pca() -> None:
    model = build_model(TINY, n_freq=N_FREQ, n_frames=20).eval()
    train, clips = random_mags(6, 20), random_mags(3, 20, seed=1)
    model.init_from_data(train)
    with torch.no_grad():
        recon = model.decode(model.encode(clips).mode())
    expected = evaluate.frame_pca_baseline(train, clips, components=4, power=0.6)
    torch.testing.assert_close(recon, expected, rtol=1e-3, atol=1e-4)


def test_latents_are_whitened_at_the_start() -> None:
    model = build_model(TINY, n_freq=N_FREQ, n_frames=20).eval()
    train = random_mags(8, 20)
    model.init_from_data(train)
    with torch.no_grad():
        local = model.encode(train).mode()[:, 3:].reshape(-1, 4)
    torch.testing.assert_close(local.std(0), torch.ones(4), rtol=0.05, atol=0.05)


def test_augmentation_is_seeded_and_only_in_training() -> None:
    config = ModelConfig(**{**TINY.__dict__, "augment_shift": True, "augment_mix": 1.0})
    model = build_model(config, n_freq=N_FREQ, n_frames=12)
    assert isinstance(model, SequenceVAE)
    mags = random_mags(4, 12)
    one = model.augment(mags, torch.Generator().manual_seed(3))
    two = model.augment(mags, torch.Generator().manual_seed(3))
    assert torch.equal(one, two) and not torch.equal(one, mags)
    shift_only = ModelConfig(**{**TINY.__dict__, "augment_shift": True})
    shifted = build_model(shift_only, n_freq=N_FREQ, n_frames=12)
    assert isinstance(shifted, SequenceVAE)
    out = shifted.augment(mags, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.sum(-1), mags.sum(-1))  # a circular shift keeps every bin's energy

    def zeros(shape: tuple[int, ...]) -> torch.Tensor:  # a training step's noise, drawn as zeros
        return torch.zeros(len(mags), *shape)

    with torch.no_grad():
        plain = model.loss_terms(mags, None)[0]
        assert not torch.equal(model.loss_terms(mags, zeros)[0], plain)  # a training step: augmented
        model.eval()
        assert torch.equal(model.loss_terms(mags, zeros)[0], plain)


def test_random_eq_is_smooth_seeded_and_within_its_peak() -> None:
    cpu = torch.device("cpu")
    gains = random_eq(16, N_FREQ, 6.0, torch.Generator().manual_seed(0), cpu)
    again = random_eq(16, N_FREQ, 6.0, torch.Generator().manual_seed(0), cpu)
    db = 20 * gains.log10()
    assert torch.equal(gains, again) and gains.shape == (16, N_FREQ)
    assert float(db.abs().max()) <= 6.0 + 1e-4 and float(db.abs().max()) > 1.0
    # smooth: neighbouring bins above the lowest few differ by a small part of the range
    assert float(db[:, 8:].diff(dim=1).abs().max()) < 0.1 * float(db.abs().max())


def test_stretch_frequency_moves_a_partial_and_keeps_factor_one() -> None:
    mags = torch.zeros(2, N_FREQ, 3)
    mags[:, 40] = 1.0
    out = stretch_frequency(mags, torch.tensor([1.0, 1.1]))
    assert torch.equal(out[0], mags[0])
    assert int(out[1, :, 0].argmax()) == 44
    ramp = torch.arange(N_FREQ, dtype=torch.float32)[None, :, None].expand(1, N_FREQ, 2)
    torch.testing.assert_close(stretch_frequency(ramp, torch.tensor([1.25])), ramp / 1.25)  # exact: linear


def test_timbre_augmentation_colours_each_clip_by_one_curve() -> None:
    config = ModelConfig(**{**TINY.__dict__, "augment_eq_db": 6.0})
    model = build_model(config, n_freq=N_FREQ, n_frames=12)
    assert isinstance(model, SequenceVAE)
    mags = random_mags(4, 12) + 0.1
    out = model.augment(mags, torch.Generator().manual_seed(1))
    ratio = out / mags  # one gain per (clip, bin), the same in every frame
    torch.testing.assert_close(ratio, ratio[..., :1].expand_as(ratio))
    assert not torch.allclose(ratio[0], ratio[1])
    stretched = ModelConfig(**{**TINY.__dict__, "augment_stretch": 0.05})
    model = build_model(stretched, n_freq=N_FREQ, n_frames=12)
    assert isinstance(model, SequenceVAE)
    assert not torch.equal(model.augment(mags, torch.Generator().manual_seed(1)), mags)
    assert torch.equal(build_model(TINY, n_freq=N_FREQ, n_frames=12).augment(mags, None), mags)  # type: ignore[operator]


def test_colour_leads_the_latent_and_another_machines_colour_is_exact() -> None:
    config = ModelConfig(**{**TINY.__dict__, "colour_terms": 8})
    model = build_model(config, n_freq=N_FREQ, n_frames=20).eval()
    assert isinstance(model, SequenceVAE)
    mags = random_mags(4, 20) + 0.01
    model.init_from_data(mags)
    assert model.latent_size == latent_size(config, 20) == 8 + 3 + 20 * 4
    torch.testing.assert_close(model.colour(mags).mean(0), torch.zeros(8), atol=1e-4, rtol=0)
    eq = random_eq(4, N_FREQ, 9.0, torch.Generator().manual_seed(5), torch.device("cpu"))[:, :, None]
    with torch.no_grad():
        z, z_eq = model.encode(mags).mode(), model.encode(mags * eq).mode()
        # the network sees the same sound: only the colour numbers move, by the EQ's power curve
        torch.testing.assert_close(z_eq[:, 8:], z[:, 8:], atol=1e-4, rtol=1e-4)
        assert float((z_eq[:, :8] - z[:, :8]).abs().max()) > 0.1
        torch.testing.assert_close(model.decode(z_eq), model.decode(z) * eq, rtol=1e-3, atol=1e-6)
        # a latent's colour half-way is the geometric mean of the two colours
        mid = model.decode((z + z_eq) / 2)
        torch.testing.assert_close(mid, model.decode(z) * eq.sqrt(), rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="latents must be"):
        model.decode(z[:, 1:])


@pytest.mark.parametrize("terms", [16, 64, 200])
def test_a_fine_colour_stays_finite_where_the_low_bins_cannot_resolve_it(terms: int) -> None:
    config = ModelConfig(**{**TINY.__dict__, "colour_terms": terms})
    model = build_model(config, n_freq=1025, n_frames=8).eval()
    assert isinstance(model, SequenceVAE)
    generator = torch.Generator().manual_seed(4)
    mags = torch.rand(3, 1025, 8, generator=generator) * torch.logspace(1, -3, 1025)[:, None]
    model.init_from_data(mags)
    with torch.no_grad():
        z = model.encode(mags).mode()
        out = model.decode(z)
    assert bool(torch.isfinite(z).all()) and bool(torch.isfinite(out).all())
    # the fitted colour stays within the clips' own log power (no aliased wiggles between bins)
    log_power = mags.square().mean(2).clamp_min(config.log_floor**2).log()
    curve = (z[:, :terms] + model.colour_mean) @ model.colour_basis
    assert float(curve.max()) < float(log_power.max()) + 1.0
    assert float(curve.min()) > float(log_power.min()) - 1.0


def test_the_loss_of_a_coloured_model_is_that_of_the_sound_with_its_colour() -> None:
    config = ModelConfig(**{**TINY.__dict__, "colour_terms": 8})
    model = build_model(config, n_freq=N_FREQ, n_frames=12).eval()
    assert isinstance(model, SequenceVAE)
    mags = random_mags(3, 12) + 1.0
    model.init_from_data(mags)
    loss, _ = model.loss_terms(mags, None)
    with torch.no_grad():
        recon = model.decode(model.encode(mags).mode())
    assert bool((recon > 0).all())  # no clamped bins: the network scale is exactly |D| ** power
    expected = (model.to_input(recon) - model.to_input(mags)).pow(2).mean(dim=(1, 2))
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-7)


def test_log_weight_adds_the_log_magnitude_error_to_the_loss() -> None:
    config = ModelConfig(**{**TINY.__dict__, "log_weight": 0.5})
    model = build_model(config, n_freq=N_FREQ, n_frames=12).eval()
    assert isinstance(model, SequenceVAE)
    mags = random_mags(3, 12)
    model.init_from_data(mags)
    loss, _ = model.loss_terms(mags, None)
    plain = build_model(TINY, n_freq=N_FREQ, n_frames=12).eval()
    plain.load_state_dict(model.state_dict())
    assert isinstance(plain, SequenceVAE)
    mse, _ = plain.loss_terms(mags, None)
    with torch.no_grad():
        recon = model.decode(model.encode(mags).mode())
    floor = config.log_floor
    log_error = (recon.clamp_min(floor).log() - mags.clamp_min(floor).log()).pow(2).mean(dim=(1, 2))
    torch.testing.assert_close(loss, mse + 0.5 * log_error)
    assert bool((log_error > 0).all())


def test_diagonal_posterior_matches_torch() -> None:
    generator = torch.Generator().manual_seed(0)
    mean, std = torch.randn(3, 5, generator=generator), torch.rand(3, 5, generator=generator) + 0.1
    posterior = DiagonalPosterior(mean, std)
    expected = kl_divergence(Normal(mean, std), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(posterior.kl(), expected)
    sample = posterior.sample(torch.Generator().manual_seed(1))
    assert sample.shape == mean.shape and torch.equal(posterior.mode(), mean)
    assert torch.equal(posterior.scale_tril, torch.diag_embed(std))


@pytest.mark.parametrize("colour_terms", [0, 6])
def test_training_improves_on_the_pca_start_and_saves(tmp_path: Path, colour_terms: int) -> None:
    audio = AudioConfig(n_fft=256, win_length=256, hop_length=64, clip_seconds=0.5)
    preset = Preset(
        name="sequence",
        audio=audio,
        model=ModelConfig(**{**TINY.__dict__, "colour_terms": colour_terms}),
        train=TrainConfig(epochs=15, batch_size=4, learning_rate=3e-3, kl_weight=1e-5),
    )
    clips = np.random.default_rng(0).standard_normal((8, audio.clip_samples)).astype(np.float32) * 0.1
    mags = batch_magnitudes(torch.from_numpy(clips), audio, torch.device("cpu"))
    torch.manual_seed(0)
    model = checkpoint.ModelInfo(preset, N_FREQ, audio.clip_frames).build()
    history = fit(model, preset, tmp_path, ArrayClips(clips), None, progress=False)
    assert history[-1].reconstruction < history[0].reconstruction
    loaded, info = checkpoint.load_model(tmp_path)
    assert isinstance(loaded, SequenceVAE) and info.preset == preset
    with torch.no_grad():
        again = loaded.decode(loaded.encode(mags).mode())
        torch.testing.assert_close(again, model.decode(model.encode(mags).mode()))


def test_sequence_preset_builds_a_sequence_model() -> None:
    preset = get_preset("sequence").replace(audio={"clip_seconds": 1.0})
    model = checkpoint.ModelInfo(preset, preset.audio.n_freq, preset.audio.clip_frames).build()
    assert isinstance(model, SequenceVAE)


def _trained_lsd(tmp_path: Path, log_weight: float) -> float:
    """LSD (dB) on its training clips of a tiny sequence model trained on generated drum loops."""
    audio = AudioConfig(n_fft=256, win_length=256, hop_length=64, clip_seconds=0.5)
    config = ModelConfig(**{**TINY.__dict__, "log_weight": log_weight, "augment_eq_db": 3.0})
    preset = Preset(
        name="sequence",
        audio=audio,
        model=config,
        train=TrainConfig(epochs=20, batch_size=4, learning_rate=3e-3, kl_weight=1e-5),
    )
    loops = [synth.drum_loop(seed=i, bpm=240.0, bars=1)[: audio.clip_samples] for i in range(8)]
    clips = np.stack(loops).astype(np.float32)
    torch.manual_seed(0)
    model = checkpoint.ModelInfo(preset, N_FREQ, audio.clip_frames).build()
    fit(model, preset, tmp_path / str(log_weight), ArrayClips(clips), None, progress=False)
    mags = batch_magnitudes(torch.from_numpy(clips), audio, torch.device("cpu"))
    with torch.no_grad():
        recon = model.decode(model.encode(mags).mode())
    return float(evaluate.log_spectral_distance(mags, recon).mean())


def test_log_weight_lowers_the_log_spectral_distance(tmp_path: Path) -> None:
    assert _trained_lsd(tmp_path, 0.5) < _trained_lsd(tmp_path, 0.0)
