"""Principal component analysis: the one fit behind the models' PCA start (:mod:`soundmorph.models`),
the PCA baselines (:mod:`soundmorph.evaluate`) and the latent map (:mod:`soundmorph.latent`).

Pure tensor functions on rows ``[n, width]``, computed in float64.
"""

from __future__ import annotations

import torch

RELATIVE_FLOOR = 1e-6  # directions whose std is below this fraction of the largest hold no variance


def principal_axes(rows: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``k <= count`` principal directions of ``rows``.

    Only directions whose standard deviation is clearly above zero (above :data:`RELATIVE_FLOOR`
    times the largest) are kept: more directions than the rows span carry no variance, are
    arbitrary, and would divide by zero when whitening. The decomposition is the cheaper one for the
    shape: the SVD of the centred rows when there are fewer rows than columns (a library's clips
    flattened), else the eigendecomposition of the ``width x width`` covariance (a library's frames).

    Parameters
    ----------
    rows : torch.Tensor [shape=(n, width)]
    count : int >= 0
        Directions wanted at most.

    Returns
    -------
    axes : torch.Tensor [shape=(k, width)], float64
        Orthonormal rows, by decreasing variance.
    std : torch.Tensor [shape=(k,)], float64
        Standard deviation along each axis (divisor ``n - 1``).
    mean : torch.Tensor [shape=(width,)], float64
    """
    data = rows.double()
    mean = data.mean(dim=0)
    centred = data - mean
    dof = max(len(data) - 1, 1)
    if len(data) < data.shape[1]:
        _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
        axes, std = vh[:count], singular[:count] / dof**0.5
    else:
        eigvals, eigvecs = torch.linalg.eigh(centred.T @ centred / dof)
        axes, std = eigvecs.flip(1)[:, :count].T, eigvals.flip(0)[:count].clamp_min(0.0).sqrt()
    keep = int((std > std[:1].clamp_min(1e-30) * RELATIVE_FLOOR).sum()) if len(std) else 0
    return axes[:keep], std[:keep], mean


def project(rows: torch.Tensor, axes: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """``rows`` [n, width] projected onto ``axes`` [k, width] around ``mean`` [width] and back:
    [n, width] float64 (``mean`` alone without axes)."""
    centred = rows.double() - mean
    return (centred @ axes.T) @ axes + mean
