"""Reconstruction metrics and the baselines every model must beat.

All metrics compare magnitudes [clips, freq, frames] and return one value per clip.
"""

from __future__ import annotations

import torch

from soundmorph.audio.spectral import EPS, spectral_convergence

METRICS = ("mse", "cosine", "sc_db", "lsd_db")
LSD_FLOOR = 1e-3  # magnitude floor of the log-spectral distance (~114 dB below a full-scale sine's peak bin)


def log_spectral_distance(
    reference: torch.Tensor, estimate: torch.Tensor, *, floor: float = LSD_FLOOR
) -> torch.Tensor:
    """Log-spectral distance in dB per clip [clips]: the RMS over frequency of the dB difference,
    averaged over frames; magnitudes below ``floor`` count as ``floor``."""
    ref_db = 20.0 * torch.log10(reference.clamp_min(floor))
    est_db = 20.0 * torch.log10(estimate.clamp_min(floor))
    return (ref_db - est_db).pow(2).mean(dim=-2).sqrt().mean(dim=-1)


def cosine_similarity(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of the flattened spectrograms, per clip [clips] (the reference's metric)."""
    a, b = reference.flatten(1), estimate.flatten(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(EPS)


def reconstruction_metrics(reference: torch.Tensor, estimate: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric of :data:`METRICS` per clip.

    Parameters
    ----------
    reference, estimate : torch.Tensor [shape=(clips, freq, frames), non-negative]
        Linear magnitudes.

    Returns
    -------
    dict[str, torch.Tensor [shape=(clips,)]]
        ``mse`` (linear magnitude, lower is better), ``cosine`` (higher is better), ``sc_db``
        (spectral convergence, lower is better), ``lsd_db`` (log-spectral distance, lower is better).
    """
    reference, estimate = reference.float(), estimate.float()
    return {
        "mse": (reference - estimate).pow(2).mean(dim=(1, 2)),
        "cosine": cosine_similarity(reference, estimate),
        "sc_db": spectral_convergence(reference, estimate),
        "lsd_db": log_spectral_distance(reference, estimate),
    }


def mean_spectrogram_baseline(train: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """Predict every clip as the mean training spectrogram: [clips, freq, frames]."""
    return train.mean(dim=0, keepdim=True).expand_as(clips)


def fit_pca(train: torch.Tensor, *, components: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [1, n], axes [components, n]) of the training spectrograms flattened to n values, float64."""
    flat = train.flatten(1).double()
    mean = flat.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    return mean, vh[:components]


def pca_project(clips: torch.Tensor, mean: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """``clips`` [clips, freq, frames] projected onto ``axes`` and back, clamped to non-negative."""
    centred = clips.flatten(1).double() - mean
    restored = (centred @ axes.T) @ axes + mean
    return restored.clamp_min(0.0).float().reshape(clips.shape)


def pca_baseline(train: torch.Tensor, clips: torch.Tensor, *, components: int = 16) -> torch.Tensor:
    """Project ``clips`` onto the first ``components`` principal axes of the training spectrograms
    (linear magnitudes, flattened) and back, clamped to non-negative: [clips, freq, frames]."""
    return pca_project(clips, *fit_pca(train, components=components))
