"""Latent paths: interpolation, sweeps, weighted blends, glides and samples from the prior.

Pure tensor functions on latents [..., latent]; decoding and audio live in :mod:`soundmorph.session`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from soundmorph import quality
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAX_STEPS, check_int, check_real, check_seed

Spacing = Literal["linear", "even"]
SPACINGS = ("linear", "even")
BISECTION_STEPS = 12  # halvings of [0, 1] per ratio: 1/4096 resolution
EVEN_PASSES = 6  # arc-length equalisation rounds after the bisection
EVEN_TOLERANCE = 0.01  # stop once the step distances' coefficient of variation is below this
SAME_SOUND_DB = 1e-3  # sources closer than this (log-mel dB) are one sound: even spacing is linear


def check_alpha(alpha: float) -> float:
    """``alpha`` if it is a number in [0, 1], else a one-line error."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise SoundmorphError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not math.isfinite(float(alpha)):
        raise SoundmorphError(f"alpha must be finite, got {alpha}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise SoundmorphError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)


def lerp(z_a: torch.Tensor, z_b: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """``(1 - alpha) z_a + alpha z_b``; ``alpha`` a number or [steps] (then the result is [steps, latent])."""
    alpha = torch.as_tensor(alpha, dtype=z_a.dtype, device=z_a.device)
    if alpha.ndim == 1:
        alpha = alpha[:, None]
    return (1.0 - alpha) * z_a + alpha * z_b


def ratios_along(latents: torch.Tensor) -> torch.Tensor:
    """Where each latent of a path [n, latent] lies between the path's first and last: the ratio
    ``<z_k - z_0, z_last - z_0> / |z_last - z_0|^2`` [n] (exact for a sweep's lerps, whatever their
    spacing); evenly spaced ratios when the ends coincide."""
    if latents.ndim != 2 or len(latents) < 2:
        raise SoundmorphError(f"a path is [n >= 2, latent], got shape {tuple(latents.shape)}")
    path = latents.double()
    direction = path[-1] - path[0]
    length = float(direction.square().sum())
    if length == 0.0:
        return torch.linspace(0.0, 1.0, len(latents))
    return (((path - path[0]) @ direction) / length).float()


def sweep_alphas(steps: int) -> torch.Tensor:
    """``steps`` evenly spaced ratios from 0 to 1, both included: [steps]."""
    if isinstance(steps, int) and not isinstance(steps, bool) and steps < 2:
        raise SoundmorphError(f"a sweep needs at least 2 steps, got {steps}")
    steps = check_int("steps", steps, low=2, high=MAX_STEPS)
    return torch.linspace(0.0, 1.0, steps)


def even_alphas(
    magnitudes_at: Callable[[torch.Tensor], torch.Tensor],
    source_a: torch.Tensor,
    source_b: torch.Tensor,
    steps: int,
    *,
    sample_rate: int,
    iterations: int = BISECTION_STEPS,
    passes: int = EVEN_PASSES,
) -> torch.Tensor:
    """Ratios [steps] from 0 to 1 at which a sweep's steps are perceptually even.

    First SoundMorpher's rule: step ``k`` sits where its position ``p = d_A / (d_A + d_B)``
    (log-mel distances to the two sources) equals ``k / (steps - 1)``, found by bisection on
    [0, 1] for all steps at once (one decoded batch per halving). A path that bulges away from
    both sources (a mix is far from either) still has uneven steps there, so ``passes`` rounds of
    arc-length equalisation follow: measure the step distances ``d(x_k, x_{k+1})``, place the
    ratios at evenly spaced cumulative distance (piecewise linear), repeat; the round with the
    most even steps is kept.

    Parameters
    ----------
    magnitudes_at : callable
        Ratios [m] -> the sweep's magnitudes there [m, freq, frames] (what will be rendered,
        detail transfer included).
    source_a, source_b : torch.Tensor [shape=(freq, frames), non-negative]
        The sources' magnitudes.
    sample_rate : int
        Hz, for the mel scale.
    """
    base = sweep_alphas(steps)
    if steps == 2:
        return base
    n_fft = 2 * (source_a.shape[-2] - 1)
    bank = quality.mel_filterbank(sample_rate=sample_rate, n_fft=n_fft).to(source_a.device)

    def feats(alphas: torch.Tensor) -> torch.Tensor:
        return quality.features(magnitudes_at(alphas), bank, "log_mel")

    ends = quality.features(torch.stack([source_a, source_b]), bank, "log_mel")
    if float(quality.feature_distance(ends[0], ends[1], "log_mel")) < SAME_SOUND_DB:
        return base  # one sound twice: no distance to share out
    targets = base[1:-1]
    low, high = torch.zeros_like(targets), torch.ones_like(targets)
    for _ in range(iterations):
        middle = (low + high) / 2
        f = feats(middle)
        d_a = quality.feature_distance(f, ends[0:1], "log_mel").cpu()
        d_b = quality.feature_distance(f, ends[1:2], "log_mel").cpu()
        behind = d_a / (d_a + d_b).clamp_min(1e-12) < targets
        low = torch.where(behind, middle, low)
        high = torch.where(behind, high, middle)
    alphas = torch.cat([base[:1], torch.cummax((low + high) / 2, dim=0).values, base[-1:]])
    best, best_cv = alphas, math.inf
    for _ in range(passes + 1):
        f = feats(alphas)
        step = quality.feature_distance(f[1:], f[:-1], "log_mel").cpu().double()
        cv = float(step.std() / step.mean()) if float(step.mean()) > 0 else 0.0
        if cv < best_cv:
            best, best_cv = alphas, cv
        if cv < EVEN_TOLERANCE:
            break
        covered = torch.cat([torch.zeros(1, dtype=step.dtype), step.cumsum(0)])
        alphas = _interp(base.double() * covered[-1], covered, alphas.double()).float()
    return best


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of (xp, fp) at x (xp increasing), as ``numpy.interp``."""
    return torch.from_numpy(np.interp(x.numpy(), xp.numpy(), fp.numpy()))


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


def sample_around(latents: torch.Tensor, count: int, *, seed: int, spread: float = 0.25) -> torch.Tensor:
    """``count`` new latents near a library's [n, latent]: a random point between two random
    library latents plus Gaussian noise of ``spread`` times the library's per-dimension standard
    deviation. For latents that keep time a draw from N(0, I) decodes to per-step noise; a point
    near the library decodes to a loop. Reproducible: [count, latent]."""
    count = check_int("count", count, low=1, high=2**31 - 1)
    if len(latents) == 0:
        raise SoundmorphError("cannot sample around an empty library")
    generator = torch.Generator().manual_seed(check_seed(seed))
    first = torch.randint(len(latents), (count,), generator=generator)
    second = torch.randint(len(latents), (count,), generator=generator)
    alpha = torch.rand(count, 1, generator=generator)
    centre = (1 - alpha) * latents[first] + alpha * latents[second]
    std = latents.std(0) if len(latents) > 1 else torch.ones(latents.shape[1])
    return centre + spread * std * torch.randn(centre.shape, generator=generator)


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
