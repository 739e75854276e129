"""The lean Griffin-Lim loop matches spectral.stft/istft and librosa; phase initialisations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soundmorph.audio import phase, spectral


def _noise_burst(n_samples: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    envelope = torch.exp(-torch.arange(n_samples) / 2000.0).repeat(1)
    return torch.randn(n_samples, generator=g) * envelope


@pytest.mark.parametrize(("n_fft", "hop", "win"), [(2048, 512, 2048), (512, 128, 400), (256, 64, 256)])
def test_frame_ops_match_stft_and_istft(n_fft: int, hop: int, win: int) -> None:
    length = 20 * hop + 37
    frames = 1 + length // hop
    audio = torch.stack([_noise_burst(length, 1), _noise_burst(length, 2)])
    spec = spectral.stft(audio, n_fft=n_fft, hop_length=hop, win_length=win)  # [2, freq, frames]
    ops = phase._FrameOps(
        n_fft=n_fft, hop_length=hop, win_length=win, frames=frames, length=length, device=audio.device
    )
    signal = ops.synthesis(spec.transpose(1, 2))
    expected = spectral.istft(spec, n_fft=n_fft, hop_length=hop, win_length=win, length=length)
    torch.testing.assert_close(ops.audio(signal), expected, atol=1e-5, rtol=1e-4)
    restft = spectral.stft(expected, n_fft=n_fft, hop_length=hop, win_length=win).transpose(1, 2)
    torch.testing.assert_close(ops.analysis(signal), restft, atol=1e-4, rtol=1e-4)


def _reference_griffin_lim(
    mag: torch.Tensor, angles: torch.Tensor, n_iter: int, momentum: float, length: int
):
    """The textbook loop over spectral.stft / spectral.istft (the implementation the lean loop replaced)."""
    rebuilt = torch.zeros_like(angles)
    weight = momentum / (1 + momentum)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = spectral.stft(spectral.istft(mag * angles, length=length))
        angles = rebuilt - weight * previous
        angles = angles / (angles.abs() + spectral.EPS)
    return spectral.istft(mag * angles, length=length)


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_griffin_lim_matches_textbook_loop(momentum: float) -> None:
    length = 40 * 512
    mag = spectral.magnitude(_noise_burst(length)[None])
    angles = phase.initial_phase(mag, "random", generator=torch.Generator().manual_seed(3))
    ours = phase.griffin_lim(mag, n_iter=8, momentum=momentum, init=angles, length=length)
    ref = _reference_griffin_lim(mag, torch.polar(torch.ones_like(mag), angles), 8, momentum, length)
    torch.testing.assert_close(ours, ref, atol=2e-4, rtol=1e-3)


def test_griffin_lim_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    length = 30 * 512
    mag = spectral.magnitude(_noise_burst(length)[None])[0]
    ours = phase.griffin_lim(mag, n_iter=4, momentum=0.99, init="zeros", length=length).numpy()
    theirs = librosa.griffinlim(
        mag.double().numpy(),
        n_iter=4,
        hop_length=512,
        win_length=2048,
        n_fft=2048,
        init=None,
        momentum=0.99,
        length=length,
        pad_mode="constant",
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-3 * np.abs(theirs).max())


def test_griffin_lim_batched_and_shapes() -> None:
    length = 16 * 512
    audio = torch.stack([_noise_burst(length, s) for s in range(3)])
    mag = spectral.magnitude(audio)
    angles = phase.initial_phase(mag, "advance")
    batched = phase.griffin_lim(mag, n_iter=3, init=angles, length=length)
    single = phase.griffin_lim(mag[1], n_iter=3, init=angles[1], length=length)
    assert batched.shape == (3, length)
    torch.testing.assert_close(batched[1], single, atol=1e-5, rtol=1e-4)
    assert phase.griffin_lim(mag[:, None], n_iter=1, init="zeros").shape == (3, 1, 16 * 512)


def test_griffin_lim_improves_spectral_convergence() -> None:
    length = 40 * 512
    mag = spectral.magnitude(_noise_burst(length)[None])
    sc = []
    for n_iter in (0, 32):
        out = phase.griffin_lim(mag, n_iter=n_iter, generator=torch.Generator().manual_seed(0), length=length)
        sc.append(float(spectral.spectral_convergence(mag, spectral.magnitude(out))))
    assert sc[1] < sc[0] - 3.0


def test_source_phase_init_beats_random_on_its_own_magnitude() -> None:
    length = 40 * 512
    audio = _noise_burst(length)[None]
    spec = spectral.stft(audio)
    mag = spec.abs()
    source = phase.griffin_lim(mag, n_iter=2, init=spec.angle(), length=length)
    noisy = phase.griffin_lim(mag, n_iter=2, generator=torch.Generator().manual_seed(0), length=length)
    assert spectral.spectral_convergence(mag, spectral.magnitude(source)) < spectral.spectral_convergence(
        mag, spectral.magnitude(noisy)
    )


def test_initial_phase_options() -> None:
    mag = torch.ones(2, 1025, 5)
    gen = torch.Generator().manual_seed(0)
    random = phase.initial_phase(mag, "random", generator=gen)
    assert random.shape == mag.shape and float(random.min()) >= 0 and float(random.max()) < 2 * math.pi
    assert float(phase.initial_phase(mag, "zeros").abs().max()) == 0.0
    advance = phase.initial_phase(mag, "advance", hop_length=512, n_fft=2048)
    assert math.isclose(float(advance[0, 1, 1]), 2 * math.pi * 512 / 2048, rel_tol=1e-6)
    with pytest.raises(ValueError, match="unknown init"):
        phase.initial_phase(mag, "bogus")
    with pytest.raises(ValueError, match="shape"):
        phase.initial_phase(mag, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="momentum"):
        phase.griffin_lim(mag, momentum=1.0)
