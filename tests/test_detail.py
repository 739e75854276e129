"""Detail transfer: exact ends, the weighted log residual in between, shapes and errors."""

from __future__ import annotations

import pytest
import torch

from soundmorph.detail import detail_transfer, pair_weights
from soundmorph.errors import SoundmorphError


def mags(seed: int, shape: tuple[int, ...] = (2, 17, 9)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) + 0.01


def test_ends_are_the_sources() -> None:
    sources, recon = mags(0), mags(1)
    out = detail_transfer(recon, sources, recon, pair_weights(torch.tensor([0.0, 1.0])))
    torch.testing.assert_close(out, sources, rtol=1e-5, atol=1e-6)


def test_silent_sources_stay_silent() -> None:
    sources = torch.zeros(2, 17, 9)
    out = detail_transfer(mags(1), sources, mags(1), pair_weights(torch.tensor([0.0, 1.0])))
    assert float(out.abs().max()) < 1e-6


def test_middle_is_the_weighted_log_residual() -> None:
    sources, recon, decoded = mags(0), mags(1), mags(2, (1, 17, 9))
    out = detail_transfer(decoded, sources, recon, pair_weights(torch.tensor([0.25])), floor=0.0)
    expected = decoded * (sources[0] / recon[0]) ** 0.75 * (sources[1] / recon[1]) ** 0.25
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_per_frame_weights() -> None:
    sources, recon = mags(0), mags(1)
    alphas = torch.linspace(0, 1, 9)[None].expand(2, 9)  # [n, frames]
    out = detail_transfer(recon[:1].expand(2, -1, -1), sources, recon, pair_weights(alphas))
    assert out.shape == (2, 17, 9)
    for k in range(2):  # the first frame has alpha 0: source A where the model decodes A
        torch.testing.assert_close(out[k, :, 0], sources[0, :, 0], rtol=1e-5, atol=1e-6)


def test_mismatched_shapes_are_one_line_errors() -> None:
    with pytest.raises(SoundmorphError, match="shapes differ"):
        detail_transfer(mags(0), mags(1), mags(2, (2, 17, 8)), pair_weights(torch.tensor([0.5, 0.5])))
    with pytest.raises(SoundmorphError, match="weights"):
        detail_transfer(mags(0), mags(1), mags(2), torch.ones(3, 2))
