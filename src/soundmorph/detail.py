"""Faithful ends: carry the detail a model misses from the sources into what it decodes.

A model reconstructs a source ``X`` as ``D(z)``, never exactly. The *log residual*
``log X - log D(z)`` is what it missed (a hit's exact shape, a tail, the noise floor). A morph at
ratio ``a`` adds the sources' residuals, weighted as the latents are::

    log out = log D(z_a) + (1 - a) (log X_A - log D(z_A)) + a (log X_B - log D(z_B))

At ``a = 0`` this is exactly ``X_A`` (and ``X_B`` at 1), for library sounds and unseen files alike;
in between the model's morph moves the sound and the residuals move from A's to B's. A blend of
several sources uses their weights. Pure tensor functions; rendering lives in :mod:`soundmorph.session`.
"""

from __future__ import annotations

import torch

from soundmorph.errors import SoundmorphError

DETAIL_FLOOR = 1e-5  # magnitude added before every log: silence stays silence, no log(0)


def detail_transfer(
    decoded: torch.Tensor,
    sources: torch.Tensor,
    reconstructions: torch.Tensor,
    weights: torch.Tensor,
    *,
    floor: float = DETAIL_FLOOR,
) -> torch.Tensor:
    """Magnitudes with the sources' log residuals added in proportion to ``weights``.

    Parameters
    ----------
    decoded : torch.Tensor [shape=(n, freq, frames), non-negative]
        The model's magnitudes at the morphed latents ``D(z)``.
    sources : torch.Tensor [shape=(k, freq, frames), non-negative]
        The sources' own magnitudes ``X_i``.
    reconstructions : torch.Tensor [shape=(k, freq, frames), non-negative]
        The model's reconstructions of the sources ``D(z_i)``.
    weights : torch.Tensor [shape=(n, k) or (n, k, frames)]
        Each output's weight of each source (per frame for a glide); rows usually sum to 1.
    floor : float
        Magnitude added before taking logs.

    Returns
    -------
    torch.Tensor [shape=(n, freq, frames), non-negative]
        ``exp(log(D + f) + sum_i w_i (log(X_i + f) - log(D_i + f))) - f``; equals ``X_i`` where
        ``decoded`` is ``D_i`` and the weights pick source ``i`` alone.
    """
    if sources.shape != reconstructions.shape or sources.shape[1:] != decoded.shape[1:]:
        raise SoundmorphError(
            f"detail transfer: shapes differ (decoded {tuple(decoded.shape)}, sources "
            f"{tuple(sources.shape)}, reconstructions {tuple(reconstructions.shape)})"
        )
    if weights.shape[:2] != (decoded.shape[0], sources.shape[0]):
        raise SoundmorphError(
            f"detail transfer: weights {tuple(weights.shape)} do not match {decoded.shape[0]} outputs "
            f"x {sources.shape[0]} sources"
        )
    residual = torch.log(sources + floor) - torch.log(reconstructions + floor)  # [k, freq, frames]
    w = weights.to(residual)
    if w.ndim == 2:
        carried = torch.einsum("nk,kft->nft", w, residual)
    else:
        carried = torch.einsum("nkt,kft->nft", w, residual)
    return (torch.log(decoded + floor) + carried).exp().sub(floor).clamp_min(0.0)


def pair_weights(alphas: torch.Tensor) -> torch.Tensor:
    """Source weights [n, 2] (or [n, 2, frames]) of morphs at ratios ``alphas`` [n] (or [n, frames]):
    ``(1 - a, a)``."""
    return torch.stack([1.0 - alphas, alphas], dim=1)
