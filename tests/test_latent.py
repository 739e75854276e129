"""Latent paths: interpolation, sweeps, blends, the pad, glides and prior samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soundmorph import latent
from soundmorph.errors import SoundmorphError


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, generator=generator), torch.randn(16, generator=generator)


def test_lerp_endpoints_are_the_sources(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    a, b = pair
    assert torch.equal(latent.lerp(a, b, 0.0), a)
    assert torch.equal(latent.lerp(a, b, 1.0), b)


def test_lerp_midpoint_is_the_mean(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    a, b = pair
    torch.testing.assert_close(latent.lerp(a, b, 0.5), (a + b) / 2)


def test_lerp_over_many_ratios_is_one_row_each(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    a, b = pair
    alphas = torch.tensor([0.0, 0.25, 1.0])
    path = latent.lerp(a, b, alphas)
    assert path.shape == (3, 16)
    for row, alpha in zip(path, alphas, strict=True):
        torch.testing.assert_close(row, latent.lerp(a, b, float(alpha)))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_check_alpha_accepts_the_unit_interval(alpha: float) -> None:
    assert latent.check_alpha(alpha) == alpha


@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan, math.inf])
def test_check_alpha_refuses_the_rest_and_names_it(alpha: float) -> None:
    with pytest.raises(SoundmorphError, match="alpha"):
        latent.check_alpha(alpha)


@pytest.mark.parametrize("steps", [2, 3, 9])
def test_sweep_alphas_span_zero_to_one_evenly(steps: int) -> None:
    alphas = latent.sweep_alphas(steps)
    assert alphas.shape == (steps,)
    assert (float(alphas[0]), float(alphas[-1])) == (0.0, 1.0)
    torch.testing.assert_close(alphas.diff(), torch.full((steps - 1,), 1 / (steps - 1)))


@pytest.mark.parametrize("steps", [1, 0, -3])
def test_sweep_needs_two_steps(steps: int) -> None:
    with pytest.raises(SoundmorphError, match="2 steps"):
        latent.sweep_alphas(steps)


# --- blends -------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [[1.0], [1.0, 1.0], [3.0, 1.0, 0.0], [0.2, 0.5, 0.3, 7.0]])
def test_blend_weights_are_normalised(weights: list[float]) -> None:
    w = latent.blend_weights(weights)
    assert w.shape == (len(weights),)
    assert float(w.sum()) == pytest.approx(1.0)
    assert bool((w >= 0).all())
    torch.testing.assert_close(w * sum(weights), torch.tensor(weights))  # proportions kept


@pytest.mark.parametrize("weights", [[], [0.0, 0.0], [1.0, -0.5], [math.nan, 1.0], [math.inf, 1.0]])
def test_invalid_blend_weights_are_refused(weights: list[float]) -> None:
    with pytest.raises(SoundmorphError, match="weights"):
        latent.blend_weights(weights)


def test_blend_of_one_latent_is_that_latent(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    a, _ = pair
    assert torch.equal(latent.blend(a[None], latent.blend_weights([2.0])), a)


def test_blend_of_two_is_a_lerp(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    a, b = pair
    blended = latent.blend(torch.stack([a, b]), latent.blend_weights([3.0, 1.0]))
    torch.testing.assert_close(blended, latent.lerp(a, b, 0.25))


# --- the pad ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "y", "corner"), [(0.0, 0.0, 0), (1.0, 0.0, 1), (0.0, 1.0, 2), (1.0, 1.0, 3)])
def test_pad_corners_are_one_source_each(x: float, y: float, corner: int) -> None:
    assert torch.equal(latent.pad_weights(x, y), torch.eye(4)[corner])


@pytest.mark.parametrize(("x", "y"), [(0.5, 0.5), (0.1, 0.9), (0.3, 0.0), (0.77, 0.31)])
def test_pad_weights_are_non_negative_and_sum_to_one(x: float, y: float) -> None:
    w = latent.pad_weights(x, y)
    assert bool((w >= 0).all())
    assert float(w.sum()) == pytest.approx(1.0)


def test_pad_centre_weighs_all_corners_equally() -> None:
    torch.testing.assert_close(latent.pad_weights(0.5, 0.5), torch.full((4,), 0.25))


@pytest.mark.parametrize(("x", "y"), [(-0.1, 0.5), (0.5, 1.5)])
def test_pad_refuses_points_off_the_square(x: float, y: float) -> None:
    with pytest.raises(SoundmorphError):
        latent.pad_weights(x, y)


# --- glides and the prior -----------------------------------------------------------------------


@pytest.mark.parametrize("curve", sorted(latent.CURVES))
def test_glide_alphas_rise_from_zero_to_one(curve: str) -> None:
    alphas = latent.glide_alphas(100, curve=curve)
    assert alphas.shape == (100,)
    assert float(alphas[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(alphas[-1]) == pytest.approx(1.0, abs=1e-6)
    assert bool((alphas.diff() >= 0).all())
    assert bool(((alphas >= 0) & (alphas <= 1)).all())


def test_unknown_glide_curve_names_the_choices() -> None:
    with pytest.raises(SoundmorphError) as caught:
        latent.glide_alphas(10, curve="bounce")
    assert "bounce" in str(caught.value)
    for curve in latent.CURVES:
        assert curve in str(caught.value)


def test_prior_samples_are_seeded() -> None:
    first = latent.sample_prior(4, 16, seed=3)
    assert first.shape == (4, 16)
    assert torch.equal(first, latent.sample_prior(4, 16, seed=3))
    assert not torch.equal(first, latent.sample_prior(4, 16, seed=4))


def test_prior_samples_do_not_touch_the_global_random_state() -> None:
    before = torch.get_rng_state()
    latent.sample_prior(2, 8, seed=0)
    assert torch.equal(torch.get_rng_state(), before)


def test_prior_samples_look_standard_normal() -> None:
    z = latent.sample_prior(20_000, 4, seed=0)
    torch.testing.assert_close(z.mean(0), torch.zeros(4), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(4), atol=0.03, rtol=0)


@pytest.mark.parametrize("count", [0, -1])
def test_prior_needs_a_positive_count(count: int) -> None:
    with pytest.raises(SoundmorphError, match="count"):
        latent.sample_prior(count, 16, seed=0)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_latent_map_handles_tiny_libraries(count: int) -> None:
    latents = torch.randn(count, 16, generator=torch.Generator().manual_seed(0))
    mapped = latent.LatentMap.fit(latents)
    points, mean, axes = mapped.points, mapped.mean, mapped.axes
    assert points.shape == (count, 2) and mean.shape == (16,) and axes.shape == (2, 16)
    assert np.isfinite(points).all()
    np.testing.assert_allclose(mapped.project(latents[0]), points[0], atol=1e-5)


# --- even spacing and sampling around the library ---------------------------------------------


def _straight_sweep(source_a: torch.Tensor, source_b: torch.Tensor, warp: float):
    """Magnitudes along a warped geometric path from A to B: alpha -> alpha ** warp of the way."""

    def at(alphas: torch.Tensor) -> torch.Tensor:
        t = alphas.clamp(0, 1).pow(warp)[:, None, None]
        return source_a.pow(1 - t) * source_b.pow(t)

    return at


def test_even_alphas_evens_a_warped_sweep() -> None:
    from soundmorph import quality
    from soundmorph.latent import even_alphas

    generator = torch.Generator().manual_seed(0)
    a = torch.rand(1025, 20, generator=generator) * 0.1 + 1e-3
    b = torch.rand(1025, 20, generator=generator) * 2.0 + 1e-3
    at = _straight_sweep(a, b, warp=3.0)
    plain = torch.linspace(0, 1, 9)
    even = even_alphas(at, a, b, 9, sample_rate=22_050)
    assert even[0] == 0 and even[-1] == 1 and bool((even.diff() >= 0).all())
    before = quality.sweep_quality(at(plain), a, b, plain)
    after = quality.sweep_quality(at(even), a, b, even)
    assert after.smoothness_cv < 0.05 < before.smoothness_cv


def test_even_alphas_of_two_steps_are_the_ends() -> None:
    from soundmorph.latent import even_alphas

    a, b = torch.ones(1025, 4), torch.full((1025, 4), 2.0)
    alphas = even_alphas(_straight_sweep(a, b, 1.0), a, b, 2, sample_rate=22_050)
    assert torch.equal(alphas, torch.tensor([0.0, 1.0]))


def test_even_alphas_of_one_sound_twice_are_linear() -> None:
    from soundmorph.latent import even_alphas

    a = torch.rand(1025, 4, generator=torch.Generator().manual_seed(1)) + 0.1
    alphas = even_alphas(_straight_sweep(a, a.clone(), 1.0), a, a.clone(), 5, sample_rate=22_050)
    assert torch.equal(alphas, torch.linspace(0, 1, 5))


def test_ratios_along_recover_a_sweeps_ratios() -> None:
    from soundmorph.latent import lerp, ratios_along

    z_a, z_b = torch.randn(50, generator=torch.Generator().manual_seed(2)), torch.zeros(50)
    alphas = torch.tensor([0.0, 0.07, 0.31, 0.5, 0.93, 1.0])
    torch.testing.assert_close(ratios_along(lerp(z_a, z_b, alphas)), alphas, atol=1e-6, rtol=0)
    torch.testing.assert_close(ratios_along(torch.ones(3, 4)), torch.tensor([0.0, 0.5, 1.0]))  # one point
    with pytest.raises(SoundmorphError, match="path"):
        ratios_along(torch.ones(1, 4))


def test_sample_around_is_seeded_and_near_the_library() -> None:
    from soundmorph.latent import sample_around

    library = torch.randn(10, 30, generator=torch.Generator().manual_seed(0)) + 5.0
    one = sample_around(library, 4, seed=1)
    assert torch.equal(one, sample_around(library, 4, seed=1)) and one.shape == (4, 30)
    assert float(one.mean()) == pytest.approx(5.0, abs=0.5)
    with pytest.raises(SoundmorphError):
        sample_around(library, 0, seed=1)
