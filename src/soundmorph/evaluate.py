"""Reconstruction metrics and the baselines every model must beat.

All metrics compare magnitudes [clips, freq, frames] and return one value per clip.
"""

from __future__ import annotations

from collections.abc import Callable

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


FRAME_PCA_POWER = 0.6  # compression of the per-frame PCA: the default preset's |D| ** 0.6
FRAME_PCA_ROWS = 32_768  # training frames the per-frame PCA is fitted on at most (evenly strided)


def frame_pca_baseline(
    train: torch.Tensor, clips: torch.Tensor, *, components: int = 8, power: float = FRAME_PCA_POWER
) -> torch.Tensor:
    """Per-frame PCA: every STFT frame of ``clips`` projected onto the first ``components`` principal
    axes of the training frames in the compressed scale ``|D| ** power`` and back.

    A latent that keeps time: ``components`` numbers per frame. Fitted on at most
    :data:`FRAME_PCA_ROWS` training frames.

    Parameters
    ----------
    train, clips : torch.Tensor [shape=(clips, freq, frames), non-negative]
        Linear magnitudes; the frame counts may differ.

    Returns
    -------
    torch.Tensor [shape=clips.shape], non-negative.
    """
    rows = train.transpose(1, 2).reshape(-1, train.shape[-2]).clamp_min(0.0).pow(power)
    rows = rows[:: max(1, len(rows) // FRAME_PCA_ROWS)].double()
    mean = rows.mean(0)
    centred = rows - mean
    _, eigvecs = torch.linalg.eigh(centred.T @ centred)
    axes = eigvecs[:, -min(components, len(rows)) :]  # [freq, k]
    frames = clips.transpose(1, 2).clamp_min(0.0).pow(power).double() - mean
    restored = (frames @ axes) @ axes.T + mean
    return restored.clamp_min(0.0).pow(1.0 / power).float().transpose(1, 2).contiguous()


def _pca16(train: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    return pca_baseline(train, clips, components=min(16, len(train)))


def _frame_pca12(train: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    return frame_pca_baseline(train, clips, components=12)


# What every evaluation compares a model with: name -> (training magnitudes, clips) -> estimate.
BASELINES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mean spectrogram": mean_spectrogram_baseline,
    "PCA-16": _pca16,
    "per-frame PCA-8": frame_pca_baseline,
    "per-frame PCA-12": _frame_pca12,  # as many numbers per frame as the default model's latent
}
