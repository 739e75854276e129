"""Latent paths: interpolation, sweeps, weighted blends, glides and samples from the prior.

Pure tensor functions on latents [..., latent]; decoding and audio live in :mod:`soundmorph.session`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch

from soundmorph.config import MAX_STEPS, check_int, check_real, check_seed
from soundmorph.errors import SoundmorphError


def check_alpha(alpha: float) -> float:
    """``alpha`` if it is a number in [0, 1], else a one-line error."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise SoundmorphError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not 0.0 <= float(alpha) <= 1.0:  # NaN fails this too
        raise SoundmorphError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)


def lerp(z_a: torch.Tensor, z_b: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """``(1 - alpha) z_a + alpha z_b``; ``alpha`` a number or [steps] (then the result is [steps, latent])."""
    alpha = torch.as_tensor(alpha, dtype=z_a.dtype, device=z_a.device)
    if alpha.ndim == 1:
        alpha = alpha[:, None]
    return (1.0 - alpha) * z_a + alpha * z_b


def sweep_alphas(steps: int) -> torch.Tensor:
    """``steps`` evenly spaced ratios from 0 to 1, both included: [steps]."""
    if isinstance(steps, int) and not isinstance(steps, bool) and steps < 2:
        raise SoundmorphError(f"a sweep needs at least 2 steps, got {steps}")
    steps = check_int("steps", steps, low=2, high=MAX_STEPS)
    return torch.linspace(0.0, 1.0, steps)


def blend_weights(weights: list[float]) -> torch.Tensor:
    """Non-negative weights normalised to sum to 1: [k]."""
    weights = [check_real("blend weights", w) for w in weights]
    w = torch.tensor(weights, dtype=torch.float32)
    if len(weights) == 0 or bool((w < 0).any()) or not bool(torch.isfinite(w).all()) or float(w.sum()) <= 0:
        raise SoundmorphError(f"blend weights must be finite, non-negative and not all zero, got {weights}")
    return w / w.sum()


def blend(latents: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean of latents [k, latent] with weights [k] (see :func:`blend_weights`): [latent]."""
    return (weights.to(latents)[:, None] * latents).sum(0)


def pad_weights(x: float, y: float) -> torch.Tensor:
    """Bilinear weights of the four corners (top-left, top-right, bottom-left, bottom-right) of a
    unit square at point ``(x, y)`` (x rightwards, y downwards, both in [0, 1]): [4]."""
    x, y = check_alpha(x), check_alpha(y)
    return torch.tensor([(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y])


CURVES = {
    "linear": lambda t: t,
    "smooth": lambda t: t * t * (3 - 2 * t),  # smoothstep: eases in and out
    "exp": lambda t: (torch.exp(3 * t) - 1) / (torch.exp(torch.tensor(3.0)) - 1),
}


def glide_alphas(frames: int, *, curve: str = "linear") -> torch.Tensor:
    """Per-frame ratio of a glide over ``frames`` frames: ``curve(t)`` for t from 0 to 1: [frames]."""
    if curve not in CURVES:
        raise SoundmorphError(f"unknown curve {curve!r}; choose one of: {', '.join(CURVES)}")
    return CURVES[curve](torch.linspace(0.0, 1.0, frames)).clamp(0.0, 1.0)


def sample_prior(count: int, latent_dim: int, *, seed: int) -> torch.Tensor:
    """``count`` latents drawn from the prior N(0, I), reproducibly: [count, latent_dim]."""
    count = check_int("count", count, low=1, high=2**31 - 1)  # generate bounds it by MAX_COUNT
    return torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(check_seed(seed)))


@dataclass(frozen=True)
class LatentMap:
    """The plane of the first two principal components of a library's latents.

    Attributes
    ----------
    points : np.ndarray [shape=(n, 2)]
        The library's latents in that plane.
    mean : torch.Tensor [shape=(latent,)]
    axes : torch.Tensor [shape=(2, latent)]
    """

    points: np.ndarray
    mean: torch.Tensor
    axes: torch.Tensor

    @classmethod
    def fit(cls, latents: torch.Tensor) -> LatentMap:
        """The 2-D PCA of latents [n, latent]; fewer than 2 latents give the first two axes."""
        latents = latents.float().cpu()
        mean = latents.mean(0) if len(latents) else torch.zeros(latents.shape[1])
        centred = latents - mean
        if len(latents) < 2:
            axes = torch.eye(2, latents.shape[1])
        else:
            axes = torch.linalg.svd(centred, full_matrices=False)[2][:2]
            if axes.shape[0] < 2:
                axes = torch.cat([axes, torch.zeros(2 - axes.shape[0], latents.shape[1])])
        return cls((centred @ axes.T).numpy(), mean, axes)

    def project(self, latent: torch.Tensor) -> tuple[float, float]:
        """Where one latent [latent] lies on the map."""
        x, y = ((latent.float().cpu() - self.mean) @ self.axes.T).tolist()
        return float(x), float(y)
