"""Pure signal processing in torch: STFT and ISTFT, magnitude, log scaling, spectral convergence.

Tensors in, tensors out, on whatever device the input lives on; leading dimensions are batch
dimensions. The STFT matches ``librosa.stft(y, n_fft, hop_length, win_length, window="hann",
center=True, pad_mode="constant")``; all settings are passed explicitly because torch's own
defaults differ from librosa's.
"""

from __future__ import annotations

import torch

from soundmorph.config import HOP_LENGTH, N_FFT, WIN_LENGTH

EPS = 1e-8  # keeps phase normalisation finite where the magnitude is zero


def hann_window(win_length: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Periodic Hann window [win_length], as ``scipy.signal.get_window("hann", N)`` (librosa's)."""
    return torch.hann_window(win_length, periodic=True, device=device, dtype=torch.float32)


def stft(
    audio: torch.Tensor,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    periodic: bool = False,
) -> torch.Tensor:
    """Complex centred STFT.

    Parameters
    ----------
    audio : torch.Tensor [shape=(..., n_samples), real]
    n_fft, hop_length, win_length : int
        Samples; the window is a periodic Hann of ``win_length``, zero-padded to ``n_fft``.
    periodic : bool
        Treat the audio as a loop: frames that run past either end wrap around to the other
        (circular padding) instead of seeing zeros. Same frames and frame count.

    Returns
    -------
    torch.Tensor [shape=(..., n_fft // 2 + 1, 1 + n_samples // hop_length), complex]
    """
    batch_shape = audio.shape[:-1]
    spec = torch.stft(
        audio.reshape(-1, audio.shape[-1]).float(),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=hann_window(win_length, device=audio.device),
        center=True,
        pad_mode="circular" if periodic else "constant",
        return_complex=True,
    )
    return spec.reshape(*batch_shape, *spec.shape[-2:])


def istft(
    spec: torch.Tensor,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    length: int | None = None,
) -> torch.Tensor:
    """Inverse of :func:`stft` (weighted overlap-add).

    Parameters
    ----------
    spec : torch.Tensor [shape=(..., n_fft // 2 + 1, frames), complex]
    length : int, optional
        Samples of the output; default ``(frames - 1) * hop_length``.

    Returns
    -------
    torch.Tensor [shape=(..., length), float32]
    """
    batch_shape = spec.shape[:-2]
    audio = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=hann_window(win_length, device=spec.device),
        center=True,
        length=length,
    )
    return audio.reshape(*batch_shape, audio.shape[-1])


def magnitude(
    audio: torch.Tensor,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    win_length: int = WIN_LENGTH,
    periodic: bool = False,
) -> torch.Tensor:
    """STFT magnitude ``|D|`` [..., n_fft // 2 + 1, frames], non-negative, of audio [..., n_samples]
    (``periodic``: of the audio as a loop, see :func:`stft`)."""
    return stft(audio, n_fft=n_fft, hop_length=hop_length, win_length=win_length, periodic=periodic).abs()


def log_scale(mag: torch.Tensor, *, floor: float) -> torch.Tensor:
    """``log(1 + mag / floor)``: linear below ``floor``, logarithmic above; 0 stays 0."""
    return torch.log1p(mag / floor)


def inverse_log_scale(scaled: torch.Tensor, *, floor: float) -> torch.Tensor:
    """Inverse of :func:`log_scale`, clamped to a non-negative magnitude."""
    return torch.expm1(scaled).clamp_min(0.0) * floor


def spectral_convergence(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Spectral convergence in dB, per item: ``20 log10(||S - S'||_F / ||S||_F)`` over the last two axes.

    Parameters
    ----------
    reference, estimate : torch.Tensor [shape=(..., freq, frames), non-negative]

    Returns
    -------
    torch.Tensor [shape=(...)]; lower is better, ``-inf`` for a perfect match.
    """
    error = torch.linalg.matrix_norm(reference - estimate)
    return 20.0 * torch.log10(error / torch.linalg.matrix_norm(reference).clamp_min(EPS))
