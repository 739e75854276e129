"""The lean Griffin-Lim loop matches spectral.stft/istft and librosa; phase initialisations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soundmorph.audio import griffinlim, phase, spectral
from soundmorph.config import AudioConfig, RenderOptions
from soundmorph.errors import SoundmorphError


def _noise_burst(n_samples: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    envelope = torch.exp(-torch.arange(n_samples) / 2000.0).repeat(1)
    return torch.randn(n_samples, generator=g) * envelope


@pytest.mark.parametrize(("n_fft", "hop", "win"), [(2048, 512, 2048), (512, 128, 400), (256, 64, 256)])
def test_frame_ops_match_stft_and_istft(n_fft: int, hop: int, win: int) -> None:
    length = 20 * hop + 37
    frames = 1 + length // hop
    audio = torch.stack([_noise_burst(length, 1), _noise_burst(length, 2)])
    spec = spectral.stft(audio, n_fft=n_fft, hop_length=hop, win_length=win)  # [2, freq, frames]
    ops = griffinlim._FrameOps(
        n_fft=n_fft, hop_length=hop, win_length=win, frames=frames, length=length, device=audio.device
    )
    signal = ops.synthesis(spec.transpose(1, 2))
    expected = spectral.istft(spec, n_fft=n_fft, hop_length=hop, win_length=win, length=length)
    torch.testing.assert_close(ops.audio(signal), expected, atol=1e-5, rtol=1e-4)
    restft = spectral.stft(expected, n_fft=n_fft, hop_length=hop, win_length=win).transpose(1, 2)
    torch.testing.assert_close(ops.analysis(signal), restft, atol=1e-4, rtol=1e-4)


def _reference_griffin_lim(
    mag: torch.Tensor, angles: torch.Tensor, n_iter: int, momentum: float, length: int
):
    """The textbook loop over spectral.stft / spectral.istft (the implementation the lean loop replaced)."""
    rebuilt = torch.zeros_like(angles)
    weight = momentum / (1 + momentum)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = spectral.stft(spectral.istft(mag * angles, length=length))
        angles = rebuilt - weight * previous
        angles = angles / (angles.abs() + spectral.EPS)
    return spectral.istft(mag * angles, length=length)


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_griffin_lim_matches_textbook_loop(momentum: float) -> None:
    length = 40 * 512
    mag = spectral.magnitude(_noise_burst(length)[None])
    angles = phase.initial_phase(mag, "random", generator=torch.Generator().manual_seed(3))
    ours = phase.griffin_lim(mag, n_iter=8, momentum=momentum, init=angles, length=length)
    ref = _reference_griffin_lim(mag, torch.polar(torch.ones_like(mag), angles), 8, momentum, length)
    torch.testing.assert_close(ours, ref, atol=2e-4, rtol=1e-3)


def test_griffin_lim_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    length = 30 * 512
    mag = spectral.magnitude(_noise_burst(length)[None])[0]
    ours = phase.griffin_lim(mag, n_iter=4, momentum=0.99, init="zeros", length=length).numpy()
    theirs = librosa.griffinlim(
        mag.double().numpy(),
        n_iter=4,
        hop_length=512,
        win_length=2048,
        n_fft=2048,
        init=None,
        momentum=0.99,
        length=length,
        pad_mode="constant",
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-3 * np.abs(theirs).max())


def test_griffin_lim_batched_and_shapes() -> None:
    length = 16 * 512
    audio = torch.stack([_noise_burst(length, s) for s in range(3)])
    mag = spectral.magnitude(audio)
    angles = phase.initial_phase(mag, "advance")
    batched = phase.griffin_lim(mag, n_iter=3, init=angles, length=length)
    single = phase.griffin_lim(mag[1], n_iter=3, init=angles[1], length=length)
    assert batched.shape == (3, length)
    torch.testing.assert_close(batched[1], single, atol=1e-5, rtol=1e-4)
    assert phase.griffin_lim(mag[:, None], n_iter=1, init="zeros").shape == (3, 1, 16 * 512)


def test_griffin_lim_improves_spectral_convergence() -> None:
    length = 40 * 512
    mag = spectral.magnitude(_noise_burst(length)[None])
    sc = []
    for n_iter in (0, 32):
        out = phase.griffin_lim(mag, n_iter=n_iter, generator=torch.Generator().manual_seed(0), length=length)
        sc.append(float(spectral.spectral_convergence(mag, spectral.magnitude(out))))
    assert sc[1] < sc[0] - 3.0


def test_source_phase_init_beats_random_on_its_own_magnitude() -> None:
    length = 40 * 512
    audio = _noise_burst(length)[None]
    spec = spectral.stft(audio)
    mag = spec.abs()
    source = phase.griffin_lim(mag, n_iter=2, init=spec.angle(), length=length)
    noisy = phase.griffin_lim(mag, n_iter=2, generator=torch.Generator().manual_seed(0), length=length)
    assert spectral.spectral_convergence(mag, spectral.magnitude(source)) < spectral.spectral_convergence(
        mag, spectral.magnitude(noisy)
    )


def test_initial_phase_options() -> None:
    mag = torch.ones(2, 1025, 5)
    gen = torch.Generator().manual_seed(0)
    random = phase.initial_phase(mag, "random", generator=gen)
    assert random.shape == mag.shape and float(random.min()) >= 0 and float(random.max()) < 2 * math.pi
    assert float(phase.initial_phase(mag, "zeros").abs().max()) == 0.0
    advance = phase.initial_phase(mag, "advance", hop_length=512, n_fft=2048)
    assert math.isclose(float(advance[0, 1, 1]), 2 * math.pi * 512 / 2048, rel_tol=1e-6)
    with pytest.raises(ValueError, match="unknown init"):
        phase.initial_phase(mag, "bogus")
    with pytest.raises(ValueError, match="shape"):
        phase.initial_phase(mag, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="momentum"):
        phase.griffin_lim(mag, momentum=1.0)


# --- the method registry ------------------------------------------------------------------------

SMALL = {"n_fft": 512, "hop_length": 128, "win_length": 512}  # fast settings for the method tests
LOOP_SAMPLES = 64 * 128  # a whole number of hops


@pytest.fixture(scope="module")
def small_loop() -> torch.Tensor:
    """A synthesized drum loop cut to 64 hops, [2, samples] (two kits)."""
    from soundmorph.audio import synth

    return torch.stack([torch.from_numpy(synth.drum_loop(seed=s)[:LOOP_SAMPLES]).float() for s in (1, 2)])


def _sc(mag: torch.Tensor, audio: torch.Tensor, *, periodic: bool = False) -> torch.Tensor:
    return spectral.spectral_convergence(mag, spectral.magnitude(audio, periodic=periodic, **SMALL))


def _run(
    method: str,
    mag: torch.Tensor,
    n_iter: int,
    *,
    periodic: bool = False,
    source_phase: torch.Tensor | None = None,
    direct: bool = False,
) -> torch.Tensor:
    """``phase.reconstruct`` on the small settings (``direct``: the registry entry itself, which
    takes a periodic magnitude as it is)."""
    options = RenderOptions(method=method, n_iter=n_iter, periodic=periodic)
    call = phase.PHASE_METHODS[method].reconstruct if direct else phase.reconstruct
    return call(mag, options, AudioConfig(**SMALL), length=LOOP_SAMPLES, source_phase=source_phase)


def test_registry_names() -> None:
    assert set(phase.PHASE_METHODS) >= {"gl", "fgla", "pghi", "source", "agla"}


@pytest.mark.parametrize("method", ["gl", "fgla", "pghi", "agla"])
def test_every_method_improves_with_iterations(small_loop: torch.Tensor, method: str) -> None:
    mag = spectral.magnitude(small_loop, **SMALL)
    few, many = (_sc(mag, _run(method, mag, n)) for n in (0, 24))
    assert few.shape == (2,) and bool((many < few - 1.0).all()), (method, few, many)


def test_accelerated_and_pghi_beat_plain_griffin_lim(small_loop: torch.Tensor) -> None:
    mag = spectral.magnitude(small_loop, **SMALL)
    plain = _sc(mag, _run("gl", mag, 16))
    assert bool((_sc(mag, _run("fgla", mag, 16)) < plain).all())
    assert bool((_sc(mag, _run("agla", mag, 16)) < plain).all())
    assert bool((_sc(mag, _run("pghi", mag, 16)) < plain - 3.0).all())


def test_gl_matches_librosa_without_momentum() -> None:
    librosa = pytest.importorskip("librosa")
    length = 30 * 512
    mag = spectral.magnitude(_noise_burst(length)[None])[0]
    options = RenderOptions(method="gl", n_iter=5, init="zeros")
    ours = phase.reconstruct(mag, options, AudioConfig(), length=length).numpy()
    theirs = librosa.griffinlim(
        mag.double().numpy(), n_iter=5, hop_length=512, n_fft=2048, init=None, momentum=0.0,
        length=length, pad_mode="constant",
    )  # fmt: skip
    np.testing.assert_allclose(ours, theirs, atol=1e-3 * np.abs(theirs).max())


def test_pghi_recovers_a_tone_and_a_chirp() -> None:
    t = torch.arange(LOOP_SAMPLES) / 22_050
    tone = torch.sin(2 * math.pi * 440.0 * t)
    chirp = torch.sin(2 * math.pi * (300.0 * t + 2000.0 * t**2))
    mag = spectral.magnitude(torch.stack([tone, 0.5 * tone + chirp]), **SMALL)
    alone = _sc(mag, _run("pghi", mag, 0))  # the heap integration only, no iterations
    random = _sc(mag, _run("fgla", mag, 0))
    assert bool((alone < -20.0).all()) and bool((alone < random - 10.0).all()), (alone, random)


def test_pghi_phase_of_silence_and_negative_input_is_finite() -> None:
    from soundmorph.audio.pghi import pghi_phase

    silent = pghi_phase(torch.zeros(257, 9), generator=torch.Generator().manual_seed(0), **SMALL)
    negative = pghi_phase(-torch.rand(2, 257, 9), **SMALL)
    assert bool(torch.isfinite(silent).all()) and bool(torch.isfinite(negative).all())
    assert negative.shape == (2, 257, 9)


def test_source_method_from_the_true_phase_is_nearly_exact(small_loop: torch.Tensor) -> None:
    spec = spectral.stft(small_loop, **SMALL)
    mag = spec.abs()
    exact = _sc(mag, _run("source", mag, 0, source_phase=spec.angle()))
    assert bool((exact < -50.0).all()), exact
    with pytest.raises(SoundmorphError, match="source"):
        _run("source", mag, 4)


def test_blend_phase_follows_the_weights(small_loop: torch.Tensor) -> None:
    specs = spectral.stft(small_loop, **SMALL)  # [2, freq, frames]: two sources
    torch.testing.assert_close(phase.blend_phase(specs, torch.tensor([1.0, 0.0])), specs[0].angle())
    torch.testing.assert_close(phase.blend_phase(specs, torch.tensor([0.0, 2.0])), specs[1].angle())
    with pytest.raises(SoundmorphError, match="weights"):
        phase.blend_phase(specs, torch.ones(3))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"method": "bogus"}, "unknown phase method"),
        ({"n_iter": -1}, "iterations"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_options_are_soundmorph_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(SoundmorphError, match=match):
        RenderOptions(**options)  # type: ignore[arg-type]


def test_a_magnitude_that_does_not_fit_the_settings_is_refused() -> None:
    with pytest.raises(SoundmorphError, match="bins"):
        phase.reconstruct(torch.ones(100, 8), RenderOptions(), AudioConfig(**SMALL), length=1024)


def test_methods_run_batched_with_leading_dimensions(small_loop: torch.Tensor) -> None:
    mag = spectral.magnitude(small_loop, **SMALL)[:, None]  # [2, 1, freq, frames]
    for method in ("gl", "fgla", "pghi", "agla"):
        assert _run(method, mag, 1).shape == (2, 1, LOOP_SAMPLES)


# --- periodic mode ------------------------------------------------------------------------------


def test_periodic_stft_is_the_stft_of_the_tiled_loop(small_loop: torch.Tensor) -> None:
    loop = small_loop[0]
    circular = spectral.stft(loop, periodic=True, **SMALL)
    tiled = spectral.stft(loop.repeat(3), **SMALL)  # the middle copy's frames see real neighbours
    frames = circular.shape[-1] - 1  # the last frame is the first one again (a whole number of hops)
    torch.testing.assert_close(circular[:, :frames], tiled[:, frames : 2 * frames], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(circular[:, -1], circular[:, 0], atol=1e-3, rtol=1e-3)


def _frame_errors(mag: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """Relative error of each frame [..., frames] of the audio's circular STFT against ``mag``."""
    rebuilt = spectral.magnitude(audio, periodic=True, **SMALL)
    return (rebuilt - mag).norm(dim=-2) / mag.norm(dim=-2).clamp_min(1e-8)


@pytest.mark.parametrize("method", ["fgla", "pghi"])
def test_periodic_mode_makes_the_seam_as_good_as_the_inside(small_loop: torch.Tensor, method: str) -> None:
    mag = spectral.magnitude(small_loop, periodic=True, **SMALL)
    loop = _run(method, mag, 32, periodic=True, direct=True)
    plain = _run(method, mag, 32, periodic=False, direct=True)
    errors, plain_errors = _frame_errors(mag, loop), _frame_errors(mag, plain)
    seam = errors[..., [0, 1, -2, -1]].amax(-1)  # the frames that straddle the end and the start
    inside = errors[..., 4:-4].median(-1).values
    assert bool((seam < 3.0 * inside).all()), (seam, inside)
    assert bool((plain_errors[..., [0, -1]].amax(-1) > 2.0 * seam).all()), (plain_errors, seam)


def test_circular_magnitude_estimates_the_loops_edge_frames(small_loop: torch.Tensor) -> None:
    small_loop = small_loop.roll(LOOP_SAMPLES // 2 + 37, dims=-1)  # a seam with sound on both sides
    centred = spectral.magnitude(small_loop, **SMALL)
    circular = spectral.magnitude(small_loop, periodic=True, **SMALL)
    estimate = phase.circular_magnitude(centred)
    # frames whose window stays inside the loop are the same; 0 and -1 get the estimate (frames 1
    # and -2 miss only the window's quiet tail at n_fft = 4 hops)
    edge = SMALL["n_fft"] // (2 * SMALL["hop_length"])
    torch.testing.assert_close(estimate[..., edge:-edge], circular[..., edge:-edge])
    # the seam frame's energy: the centred STFT saw only half the window filled
    energy = circular[..., 0].norm(dim=-1)
    before = (centred[..., 0].norm(dim=-1) / energy - 1).abs()
    after = (estimate[..., 0].norm(dim=-1) / energy - 1).abs()
    assert bool((after <= before + 1e-6).all()) and float(after.mean()) < 0.5 * float(before.mean()), (
        before,
        after,
    )


def test_reconstruct_periodic_renders_a_seamless_loop_from_a_centred_magnitude(
    small_loop: torch.Tensor,
) -> None:
    small_loop = small_loop.roll(LOOP_SAMPLES // 2 + 37, dims=-1)  # a seam with sound on both sides
    mag = spectral.magnitude(small_loop, **SMALL)  # centred, as a model's output
    loop = _run("fgla", mag, 32, periodic=True)
    plain = _run("fgla", mag, 32)
    circular = spectral.magnitude(small_loop, periodic=True, **SMALL)
    seam, plain_seam = (_frame_errors(circular, y)[..., 0] for y in (loop, plain))
    assert bool((seam < plain_seam).all()), (seam, plain_seam)


def test_presets_name_registered_methods() -> None:
    from soundmorph.config import PRESETS

    for make in PRESETS.values():
        assert make().phase.method in phase.PHASE_METHODS
    paper = PRESETS["paper"]().phase  # the reference: librosa's fast Griffin-Lim, 32 iterations
    assert (paper.method, paper.n_iter, paper.momentum) == ("fgla", 32, 0.99)
