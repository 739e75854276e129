"""DSP: STFT parity with librosa, log scaling, Griffin-Lim, spectral convergence."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from soundmorph.audio import phase, spectral, synth
from soundmorph.config import HOP_LENGTH, N_FFT, SAMPLE_RATE, n_frames

SECOND = SAMPLE_RATE  # samples


def reference_magnitude(y: np.ndarray, *, n_fft: int = N_FFT, hop: int = HOP_LENGTH, win: int = N_FFT):
    """|librosa.stft| with the reference's settings (any leading batch axes)."""
    spec = librosa.stft(
        y, n_fft=n_fft, hop_length=hop, win_length=win, window="hann", center=True, pad_mode="constant"
    )
    return np.abs(spec)


def assert_close_to_reference(ours: torch.Tensor, ref: np.ndarray) -> None:
    assert tuple(ours.shape) == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-4, atol=1e-4 * float(ref.max()))


@pytest.fixture(scope="module")
def loop() -> np.ndarray:
    """One second of a generated drum loop, float32."""
    return synth.drum_loop(seed=3)[:SECOND]


@pytest.fixture(scope="module")
def loop_mag(loop: np.ndarray) -> torch.Tensor:
    return spectral.magnitude(torch.from_numpy(loop))


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, shape).astype(np.float32)


# --- STFT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_samples", [2048, SECOND, SECOND + 100, 5 * HOP_LENGTH + 1])
def test_magnitude_matches_librosa(n_samples: int) -> None:
    y = noise((n_samples,)) + 0.3 * np.sin(np.arange(n_samples) * 0.05).astype(np.float32)
    assert_close_to_reference(spectral.magnitude(torch.from_numpy(y)), reference_magnitude(y))


def test_magnitude_of_a_drum_loop_matches_librosa(loop: np.ndarray, loop_mag: torch.Tensor) -> None:
    assert_close_to_reference(loop_mag, reference_magnitude(loop))


def test_batched_magnitude_matches_librosa_item_by_item() -> None:
    y = noise((2, 3, 5000), seed=1)
    ours = spectral.magnitude(torch.from_numpy(y))
    assert ours.shape[:2] == (2, 3)
    for i in range(2):
        for j in range(3):
            assert_close_to_reference(ours[i, j], reference_magnitude(y[i, j]))


def test_magnitude_with_other_settings_matches_librosa() -> None:
    y = noise((4000,), seed=2)
    ours = spectral.magnitude(torch.from_numpy(y), n_fft=1024, hop_length=256, win_length=800)
    assert_close_to_reference(ours, reference_magnitude(y, n_fft=1024, hop=256, win=800))


def test_stft_shape_follows_the_frame_count() -> None:
    spec = spectral.stft(torch.zeros(3, SECOND))
    assert spec.shape == (3, N_FFT // 2 + 1, n_frames(SECOND))
    assert spec.is_complex()


def test_istft_inverts_stft(loop: np.ndarray) -> None:
    x = torch.from_numpy(loop)
    back = spectral.istft(spectral.stft(x), length=len(loop))
    torch.testing.assert_close(back, x, atol=1e-5, rtol=0)


def test_hann_window_is_periodic_like_librosa() -> None:
    np.testing.assert_allclose(
        spectral.hann_window(2048).numpy(), librosa.filters.get_window("hann", 2048), atol=1e-6
    )


# --- log scaling --------------------------------------------------------------------------------


def test_log_scale_round_trips_and_keeps_zero(loop_mag: torch.Tensor) -> None:
    scaled = spectral.log_scale(loop_mag, floor=1e-3)
    assert float(spectral.log_scale(torch.zeros(1), floor=1e-3)) == 0.0
    torch.testing.assert_close(spectral.inverse_log_scale(scaled, floor=1e-3), loop_mag, rtol=1e-4, atol=1e-6)


def test_log_scale_is_monotone() -> None:
    mags = torch.logspace(-6, 3, 50)
    assert bool((spectral.log_scale(mags, floor=1e-3).diff() > 0).all())


def test_inverse_log_scale_is_never_negative() -> None:
    assert bool((spectral.inverse_log_scale(torch.linspace(-5, 5, 21), floor=1e-3) >= 0).all())


# --- spectral convergence -----------------------------------------------------------------------


def test_spectral_convergence_of_closed_forms(loop_mag: torch.Tensor) -> None:
    assert float(spectral.spectral_convergence(loop_mag, loop_mag)) == -math.inf
    half = spectral.spectral_convergence(loop_mag, 0.5 * loop_mag)  # ||S - S/2|| / ||S|| = 1/2
    assert float(half) == pytest.approx(20 * math.log10(0.5), abs=1e-4)


def test_spectral_convergence_is_per_item(loop_mag: torch.Tensor) -> None:
    batch = torch.stack([loop_mag, loop_mag])
    assert spectral.spectral_convergence(batch, torch.stack([loop_mag, 0.5 * loop_mag])).shape == (2,)


# --- Griffin-Lim --------------------------------------------------------------------------------


def rebuilt_sc(mag: torch.Tensor, **options: object) -> float:
    """Spectral convergence (dB) of the magnitude of Griffin-Lim's audio against ``mag``."""
    generator = torch.Generator().manual_seed(0)
    audio = phase.griffin_lim(mag, generator=generator, length=SECOND, **options)  # type: ignore[arg-type]
    return float(spectral.spectral_convergence(mag, spectral.magnitude(audio)))


def test_griffin_lim_improves_with_iterations(loop_mag: torch.Tensor) -> None:
    sc = [rebuilt_sc(loop_mag, n_iter=n) for n in (0, 8, 32)]
    assert sc[0] > sc[1] > sc[2]


def test_griffin_lim_without_momentum_improves_too(loop_mag: torch.Tensor) -> None:
    assert rebuilt_sc(loop_mag, n_iter=0, momentum=0.0) > rebuilt_sc(loop_mag, n_iter=16, momentum=0.0)


def test_griffin_lim_momentum_converges_faster(loop_mag: torch.Tensor) -> None:
    assert rebuilt_sc(loop_mag, n_iter=16, momentum=0.99) < rebuilt_sc(loop_mag, n_iter=16, momentum=0.0)


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5])
def test_griffin_lim_refuses_momentum_outside_the_unit_interval(
    loop_mag: torch.Tensor, momentum: float
) -> None:
    with pytest.raises(ValueError, match="momentum"):
        phase.griffin_lim(loop_mag, n_iter=1, momentum=momentum)


def test_griffin_lim_is_deterministic_for_a_seeded_generator(loop_mag: torch.Tensor) -> None:
    def run(seed: int) -> torch.Tensor:
        return phase.griffin_lim(loop_mag, n_iter=4, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_griffin_lim_zero_init_needs_no_generator(loop_mag: torch.Tensor) -> None:
    assert torch.equal(
        phase.griffin_lim(loop_mag, n_iter=3, init="zeros"),
        phase.griffin_lim(loop_mag, n_iter=3, init="zeros"),
    )


def test_griffin_lim_batched_equals_item_by_item(loop_mag: torch.Tensor) -> None:
    mags = torch.stack([loop_mag, 0.5 * loop_mag.flip(-1), loop_mag.roll(3, dims=-1)])
    angles = torch.rand(mags.shape, generator=torch.Generator().manual_seed(1)) * 2 * math.pi
    batched = phase.griffin_lim(mags, n_iter=4, init=angles)
    for k in range(len(mags)):
        single = phase.griffin_lim(mags[k], n_iter=4, init=angles[k])
        torch.testing.assert_close(batched[k], single, atol=1e-5, rtol=1e-4)


def test_griffin_lim_output_length(loop_mag: torch.Tensor) -> None:
    frames = loop_mag.shape[-1]
    assert phase.griffin_lim(loop_mag, n_iter=1).shape == ((frames - 1) * HOP_LENGTH,)
    assert phase.griffin_lim(loop_mag[None], n_iter=1, length=SECOND).shape == (1, SECOND)


def test_griffin_lim_of_silence_is_silent() -> None:
    out = phase.griffin_lim(
        torch.zeros(N_FFT // 2 + 1, 10), n_iter=4, generator=torch.Generator().manual_seed(0)
    )
    assert bool(torch.isfinite(out).all())
    assert float(out.abs().max()) == 0.0


def test_griffin_lim_refuses_an_unknown_init(loop_mag: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="init"):
        phase.griffin_lim(loop_mag, n_iter=1, init="noise")
