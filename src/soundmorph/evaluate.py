"""Evaluation: reconstruction metrics, the registry of baselines every model must beat, and the
per-split summary of an evaluation.

All metrics compare magnitudes [clips, freq, frames] and return one value per clip. Pure tensor
functions: reading the clips and running the model is :func:`soundmorph.workflow.evaluate`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from soundmorph import pca
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


Predict = Callable[[torch.Tensor], torch.Tensor]  # clips [n, freq, frames] -> estimate of the same shape


def fit_pca(train: torch.Tensor, *, components: int = 16) -> Predict:
    """PCA of the training spectrograms ``train`` [clips, freq, frames] (linear magnitudes,
    flattened): a function that projects clips onto the first ``components`` principal axes and
    back, clamped to non-negative."""
    axes, _, mean = pca.principal_axes(train.flatten(1), components)

    def predict(clips: torch.Tensor) -> torch.Tensor:
        return pca.project(clips.flatten(1), axes, mean).clamp_min(0.0).float().reshape(clips.shape)

    return predict


FRAME_PCA_POWER = 0.6  # per-frame PCA on |D| ** 0.6, as preset `linear` (the default model sees 0.45)
FRAME_PCA_ROWS = 32_768  # training frames the per-frame PCA is fitted on at most (evenly strided)


def _frames(mags: torch.Tensor, power: float) -> torch.Tensor:
    """Magnitudes [clips, freq, frames] -> compressed frames [clips * frames, freq]."""
    return mags.transpose(1, 2).reshape(-1, mags.shape[-2]).clamp_min(0.0).pow(power)


def fit_frame_pca(train: torch.Tensor, *, components: int = 8, power: float = FRAME_PCA_POWER) -> Predict:
    """Per-frame PCA: a function that projects every STFT frame of clips onto the first
    ``components`` principal axes of the training frames in the compressed scale ``|D| ** power``
    and back.

    A latent that keeps time: ``components`` numbers per frame. Fitted on at most
    :data:`FRAME_PCA_ROWS` training frames.

    Parameters
    ----------
    train : torch.Tensor [shape=(clips, freq, frames), non-negative]
        Linear magnitudes; the clips it predicts may have another frame count.
    """
    rows = _frames(train, power)
    axes, _, mean = pca.principal_axes(rows[:: max(1, len(rows) // FRAME_PCA_ROWS)], components)

    def predict(clips: torch.Tensor) -> torch.Tensor:
        restored = pca.project(_frames(clips, power), axes, mean).clamp_min(0.0).pow(1.0 / power)
        return restored.float().reshape(len(clips), clips.shape[2], -1).transpose(1, 2).contiguous()

    return predict


def mean_spectrogram_baseline(train: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """Predict every clip as the mean training spectrogram: [clips, freq, frames]."""
    return train.mean(dim=0, keepdim=True).expand_as(clips)


def pca_baseline(train: torch.Tensor, clips: torch.Tensor, *, components: int = 16) -> torch.Tensor:
    """``clips`` [clips, freq, frames] through :func:`fit_pca` of ``train``."""
    return fit_pca(train, components=components)(clips)


def frame_pca_baseline(
    train: torch.Tensor, clips: torch.Tensor, *, components: int = 8, power: float = FRAME_PCA_POWER
) -> torch.Tensor:
    """``clips`` [clips, freq, frames] through :func:`fit_frame_pca` of ``train``."""
    return fit_frame_pca(train, components=components, power=power)(clips)


@dataclass(frozen=True)
class Baseline:
    """A model-free reconstruction: fitted once on training magnitudes, then predicts any clips.

    ``fit(train, mean)`` takes training magnitudes [n, freq, frames] and the mean training
    spectrogram [freq, frames] (that of every training clip when ``train`` is a sample of them).
    """

    fit: Callable[[torch.Tensor, torch.Tensor], Predict]

    def __call__(self, train: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
        """Fit on ``train`` and predict ``clips`` [clips, freq, frames]."""
        return self.fit(train, train.mean(dim=0))(clips)


def _mean_of(mean: torch.Tensor) -> Predict:
    return lambda clips: mean.expand_as(clips)


# What every evaluation compares a model with; a new baseline is one entry here.
BASELINES: dict[str, Baseline] = {
    "mean spectrogram": Baseline(lambda train, mean: _mean_of(mean)),
    "PCA-16": Baseline(lambda train, mean: fit_pca(train, components=16)),
    "per-frame PCA-8": Baseline(lambda train, mean: fit_frame_pca(train, components=8)),
    # as many numbers per frame as the default model's latent
    "per-frame PCA-12": Baseline(lambda train, mean: fit_frame_pca(train, components=12)),
}


def fit_baselines(train: torch.Tensor, *, mean: torch.Tensor | None = None) -> dict[str, Predict]:
    """Every baseline of :data:`BASELINES` fitted on training magnitudes ``train`` [n, freq, frames];
    ``mean`` [freq, frames]: the mean of every training clip when ``train`` is a sample of them."""
    centre = train.mean(dim=0) if mean is None else mean
    return {name: baseline.fit(train, centre) for name, baseline in BASELINES.items()}


class Scores:
    """Per-clip metrics of several systems (the model, each baseline), added a batch at a time."""

    def __init__(self) -> None:
        self.per_clip: dict[str, dict[str, list[float]]] = {}  # system -> metric -> [clips]

    def add(self, reference: torch.Tensor, estimates: dict[str, torch.Tensor]) -> None:
        """Score each system's ``estimates`` [batch, freq, frames] of ``reference`` (the same shape)."""
        for system, estimate in estimates.items():
            measured = reconstruction_metrics(reference, estimate)
            rows = self.per_clip.setdefault(system, {k: [] for k in measured})
            for k, v in measured.items():
                rows[k] += v.tolist()

    def summary(self, splits: Sequence[str]) -> dict[str, dict[str, dict[str, float | int]]]:
        """split -> system -> the mean of each metric over the split's clips, and their count
        (``splits``: each scored clip's split, in order)."""
        report: dict[str, dict[str, dict[str, float | int]]] = {}
        for split in sorted(set(splits)):
            members = [i for i, s in enumerate(splits) if s == split]
            systems: dict[str, dict[str, float | int]] = {}
            for system, values in self.per_clip.items():
                systems[system] = {
                    k: float(sum(v[i] for i in members) / len(members)) for k, v in values.items()
                }
                systems[system]["clips"] = len(members)
            report[split] = systems
        return report


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """(split, system, metrics) rows of an evaluation report's summary, for printing."""
    return [
        (split, system, values)
        for split, systems in report["summary"].items()
        for system, values in systems.items()
    ]
