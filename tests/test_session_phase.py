"""Every phase method through a loaded model: the registry, the blended source phase, loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soundmorph import session
from soundmorph.audio import phase, spectral
from soundmorph.config import RenderOptions, get_preset
from soundmorph.errors import SoundmorphError


@pytest.fixture(scope="module")
def model(tiny_model) -> session.SoundModel:
    return session.load(tiny_model.folder, device="cpu")


@pytest.mark.parametrize("method", sorted(phase.PHASE_METHODS))
def test_every_method_renders_morph_sweep_blend_and_glide(model: session.SoundModel, method: str) -> None:
    options = RenderOptions(method=method, n_iter=2)
    morph = model.morph(0, 1, 0.3, options=options)
    assert morph.audio.shape == (model.clip_samples,) and np.isfinite(morph.audio).all()
    assert len(model.sweep(0, 1, 3, options=options)) == 3
    assert np.isfinite(model.blend([(0, 1.0), (1, 2.0)], options=options).audio).all()
    if phase.PHASE_METHODS[method].needs_source:
        with pytest.raises(SoundmorphError, match="source"):
            model.generate(1, options=options)
    else:
        assert np.isfinite(model.glide(0, 1, repeats=2, options=options).audio).all()
        assert np.isfinite(model.generate(1, options=options)[0].audio).all()


def test_the_source_method_starts_from_both_sources_blended(model: session.SoundModel) -> None:
    alpha = 0.3
    sound = model.morph(0, 1, alpha, options=RenderOptions(method="source", n_iter=0))
    specs = torch.stack([model.original(0).stft, model.original(1).stft])
    expected = phase.blend_phase(specs, torch.tensor([1 - alpha, alpha]))
    rebuilt = spectral.stft(torch.from_numpy(sound.audio)).angle()
    loud = torch.from_numpy(sound.magnitude) > sound.magnitude.max() * 0.1
    error = torch.remainder(rebuilt - expected + torch.pi, 2 * torch.pi) - torch.pi
    assert float(error[loud].abs().median()) < 0.5


def test_a_periodic_render_wraps_around(model: session.SoundModel) -> None:
    options = RenderOptions(method="fgla", n_iter=16)
    plain = model.morph(0, 1, 0.5, options=options)
    loop = model.morph(0, 1, 0.5, options=options.override(periodic=True))
    assert np.array_equal(plain.magnitude, loop.magnitude) and loop.audio.shape == plain.audio.shape
    settings = model.info.preset.audio
    target = phase.circular_magnitude(torch.from_numpy(loop.magnitude))

    def seam_error(audio: np.ndarray) -> float:  # the frame across the end and the start
        rebuilt = spectral.magnitude(
            torch.from_numpy(audio),
            n_fft=settings.n_fft,
            hop_length=settings.hop_length,
            win_length=settings.win_length,
            periodic=True,
        )
        return float((rebuilt[:, 0] - target[:, 0]).norm() / target[:, 0].norm())

    assert seam_error(loop.audio) < seam_error(plain.audio)


def test_the_default_preset_uses_the_measured_method() -> None:
    options = get_preset("default").phase
    assert (options.method, options.n_iter) == ("pghi", 24)
    assert get_preset("paper").phase.method == "fgla"
