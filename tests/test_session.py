"""Rendering with a trained tiny model: morphs, sweeps, blends, glides, samples, files written."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from soundmorph import audio, session
from soundmorph.audio import spectral, synth
from soundmorph.config import RenderOptions
from soundmorph.errors import SoundmorphError, UnknownSourceError
from soundmorph.sound import Sound

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = RenderOptions(n_iter=4)  # the tiny model's own settings, fewer iterations: only magnitudes matter


@pytest.fixture(scope="module")
def model(tiny_model) -> session.SoundModel:
    return session.load(tiny_model.folder, device="cpu")


@pytest.fixture(scope="module")
def unseen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A drum loop that is not in the library, in a folder of its own."""
    path = tmp_path_factory.mktemp("unseen") / "stranger.wav"
    audio.write(
        path, synth.drum_loop(seed=12345, style="break")[: synth.SAMPLE_RATE], sample_rate=synth.SAMPLE_RATE
    )
    return path


def reconstruction(model: session.SoundModel, source: int, options: RenderOptions = FAST) -> Sound:
    """``source`` through the model and back: its latent decoded and rendered."""
    return model.render(model.encode(source)[None], ["reconstruction"], options=options)[0]


# --- loading ------------------------------------------------------------------------------------


def test_load_gives_the_library_with_its_split_and_latents(model: session.SoundModel, tiny_model) -> None:
    assert model.names == tiny_model.result.library.names
    assert model.splits.count("holdout") == int(tiny_model.result.holdout.sum()) == 1
    assert model.latents.shape == (len(model.names), model.latent_size)
    assert model.root == tiny_model.library.resolve()
    assert not model.model.training


def test_load_refuses_a_broken_library_index(model_copy: Path) -> None:
    folder = model_copy
    (folder / "library.json").write_text('{"root": null, "files": [{"split": "train"}]}')
    with pytest.raises(SoundmorphError, match=r"library\.json"):
        session.load(folder, device="cpu")


def test_unknown_device_is_a_one_line_error() -> None:
    with pytest.raises(SoundmorphError, match="device"):
        session.pick_device("toaster")


# --- sources ------------------------------------------------------------------------------------


def test_a_sound_is_named_by_index_digits_or_file_name(model: session.SoundModel) -> None:
    assert torch.equal(model.encode(2), model.latents[2])
    assert torch.equal(model.encode("2"), model.latents[2])
    assert torch.equal(model.encode(model.names[2]), model.latents[2])
    assert torch.equal(model.encode(Path(model.names[2]).stem), model.latents[2])  # without its suffix


def test_a_name_without_suffix_must_be_unambiguous(model: session.SoundModel) -> None:
    stem = Path(model.names[2]).stem
    twin = copy.copy(model)
    twin.names = [*model.names, f"{stem}.flac"]
    with pytest.raises(SoundmorphError, match="more than one library file"):
        twin.index_of(stem)
    assert twin.index_of(f"{stem}.flac") == len(model.names)


@pytest.mark.parametrize("index", [6, 99, "42"])
def test_unknown_index_names_the_range(model: session.SoundModel, index: int | str) -> None:
    with pytest.raises(SoundmorphError, match=f"no sound {index}"):
        model.encode(index)


def test_a_missing_path_is_a_one_line_error(model: session.SoundModel, tmp_path: Path) -> None:
    with pytest.raises(SoundmorphError, match=r"nowhere\.wav"):
        model.encode(tmp_path / "nowhere.wav")


def test_stored_latents_are_the_posterior_means_of_the_library(
    model: session.SoundModel, tmp_path: Path
) -> None:
    outside = tmp_path / "copy.wav"
    shutil.copy(model.root / model.names[1], outside)  # the same audio, as a file outside the library
    # training read the clip from the decoded-audio cache (int16 at the clip's peak): the same latent
    # up to that quantization, a small fraction of the spread between the library's latents
    spread = float(model.latents.std(dim=0).mean())
    torch.testing.assert_close(model.encode(outside), model.latents[1], atol=0.02 * spread, rtol=0)
    distances = (model.latents - model.encode(outside)).norm(dim=1)
    assert int(distances.argmin()) == 1 and float(distances[1]) < 0.01 * float(distances.sort().values[1])


def test_an_unseen_file_is_encoded_on_the_fly(model: session.SoundModel, unseen: Path) -> None:
    z = model.encode(unseen)
    assert z.shape == (model.latent_size,)
    torch.testing.assert_close(z, model.encode_audio(audio.read(unseen, sample_rate=model.sample_rate)))
    assert not any(torch.allclose(z, stored) for stored in model.latents)
    sound = model.morph(unseen, 0, 0.5, options=FAST)
    assert "stranger" in sound.name and len(sound.audio) == model.clip_samples


def test_sampled_latents_are_seeded(model: session.SoundModel) -> None:
    first = model.encode(0, sample=True, seed=1)
    assert torch.equal(first, model.encode(0, sample=True, seed=1))
    assert not torch.equal(first, model.encode(0, sample=True, seed=2))
    assert not torch.equal(first, model.encode(0))


# --- morphs and sweeps --------------------------------------------------------------------------


RAW = FAST.override(faithful=False)


def test_raw_morph_at_alpha_zero_and_one_reconstructs_the_sources(model: session.SoundModel) -> None:
    np.testing.assert_array_equal(
        model.morph(0, 3, 0.0, options=RAW).magnitude, reconstruction(model, 0).magnitude
    )
    np.testing.assert_array_equal(
        model.morph(0, 3, 1.0, options=RAW).magnitude, reconstruction(model, 3).magnitude
    )


def test_faithful_morph_ends_are_the_sources(model: session.SoundModel, unseen: Path) -> None:
    for a, b in ((0, 3), (unseen, 1)):
        start, end = model.morph(a, b, 0.0, options=FAST), model.morph(a, b, 1.0, options=FAST)
        np.testing.assert_allclose(start.magnitude, model.original(a).magnitude.numpy(), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(end.magnitude, model.original(b).magnitude.numpy(), rtol=1e-3, atol=1e-5)
    middle = model.morph(0, 3, 0.5, options=FAST).magnitude
    assert not np.allclose(middle, model.morph(0, 3, 0.5, options=RAW).magnitude)


def test_even_sweep_has_even_steps(model: session.SoundModel) -> None:
    plain = model.sweep(0, 3, 7, options=FAST, spacing="linear")
    even = model.sweep(0, 3, 7, options=FAST)  # the default
    assert model.sweep_quality(0, 3, even).smoothness_cv < min(
        0.05, model.sweep_quality(0, 3, plain).smoothness_cv
    )
    assert even[0].name.endswith("a0.00") and even[-1].name.endswith("a1.00")
    assert [s.name[-5:] for s in plain] == [f"a{a:.2f}" for a in np.linspace(0, 1, 7)]
    with pytest.raises(SoundmorphError, match="spacing"):
        model.sweep(0, 3, 7, options=FAST, spacing="log")  # type: ignore[arg-type]


def test_morph_is_between_its_sources_in_the_latent_space(model: session.SoundModel) -> None:
    sound = model.morph(0, 3, 0.25, options=FAST)
    expected = 0.75 * model.latents[0] + 0.25 * model.latents[3]
    np.testing.assert_allclose(sound.latent, expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_morph_refuses_alpha_outside_the_unit_interval(model: session.SoundModel, alpha: float) -> None:
    with pytest.raises(SoundmorphError, match="alpha"):
        model.morph(0, 1, alpha)


def test_morph_is_deterministic(model: session.SoundModel) -> None:
    np.testing.assert_array_equal(model.morph(0, 1, 0.5).audio, model.morph(0, 1, 0.5).audio)


def test_sweep_endpoints_are_the_sources_reconstructions(model: session.SoundModel) -> None:
    sounds = model.sweep(0, 4, steps=3, options=RAW)
    assert len(sounds) == 3
    assert len({sound.name for sound in sounds}) == 3
    np.testing.assert_allclose(sounds[0].magnitude, reconstruction(model, 0).magnitude, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sounds[-1].magnitude, reconstruction(model, 4).magnitude, rtol=1e-5, atol=1e-6)


def test_sweep_needs_two_steps(model: session.SoundModel) -> None:
    with pytest.raises(SoundmorphError, match="2 steps"):
        model.sweep(0, 1, steps=1)


@pytest.mark.parametrize(
    ("option", "value"), [("momentum", 1.5), ("momentum", -0.1), ("n_iter", -1), ("method", "magic")]
)
def test_invalid_render_options_are_one_line_errors(
    model: session.SoundModel, option: str, value: float
) -> None:
    with pytest.raises(SoundmorphError, match=str(value)):
        model.render_options.override(**{option: value})


def test_render_options_change_the_audio_not_the_magnitude(model: session.SoundModel) -> None:
    few = reconstruction(model, 0, model.render_options.override(n_iter=1))
    many = reconstruction(model, 0, model.render_options.override(n_iter=8))
    np.testing.assert_array_equal(few.magnitude, many.magnitude)
    assert not np.array_equal(few.audio, many.audio)


# --- blends, glides, generated sounds -----------------------------------------------------------


def test_blend_of_one_sound_is_its_reconstruction(model: session.SoundModel) -> None:
    np.testing.assert_array_equal(
        model.blend([(2, 0.7)], options=RAW).magnitude, reconstruction(model, 2).magnitude
    )


def test_blend_weights_are_normalised(model: session.SoundModel) -> None:
    sound = model.blend([(0, 3.0), (1, 1.0)], options=FAST)
    expected = 0.75 * model.latents[0] + 0.25 * model.latents[1]
    np.testing.assert_allclose(sound.latent, expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("items", [[], [(0, 0.0)], [(0, -1.0), (1, 2.0)]])
def test_invalid_blends_are_refused(model: session.SoundModel, items: list) -> None:
    with pytest.raises(SoundmorphError):
        model.blend(items)


@pytest.mark.parametrize("repeats", [1, 3])
def test_glide_is_the_clip_repeated(model: session.SoundModel, repeats: int) -> None:
    sound = model.glide(0, 2, repeats=repeats, options=FAST)
    assert len(sound.audio) == repeats * model.clip_samples
    assert sound.magnitude.shape == (model.info.n_freq, repeats * model.info.n_frames)
    assert sound.latent is None


def test_glide_moves_from_the_first_source_to_the_second(model: session.SoundModel) -> None:
    sound = model.glide(0, 2, repeats=2, curve="smooth", options=RAW)
    frames = model.info.n_frames
    np.testing.assert_allclose(
        sound.magnitude[:, 0], reconstruction(model, 0).magnitude[:, 0], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        sound.magnitude[:, -1], reconstruction(model, 2).magnitude[:, frames - 1], rtol=1e-5, atol=1e-5
    )


def test_glide_between_a_sound_and_itself_repeats_its_reconstruction(model: session.SoundModel) -> None:
    sound = model.glide(1, 1, repeats=2, options=RAW)
    once = reconstruction(model, 1).magnitude
    np.testing.assert_allclose(sound.magnitude, np.concatenate([once, once], axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("repeats", "curve"), [(0, "linear"), (2, "bounce")])
def test_glide_refuses_bad_options(model: session.SoundModel, repeats: int, curve: str) -> None:
    with pytest.raises(SoundmorphError):
        model.glide(0, 1, repeats=repeats, curve=curve)


def test_generate_is_deterministic_for_a_seed(model: session.SoundModel) -> None:
    first = model.generate(2, seed=5, options=FAST)
    again = model.generate(2, seed=5, options=FAST)
    other = model.generate(2, seed=6, options=FAST)
    assert len(first) == 2 and len({s.name for s in first}) == 2
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.audio, b.audio)
    assert not np.array_equal(first[0].latent, other[0].latent)


# --- the latent map -----------------------------------------------------------------------------


def test_latent_map_places_every_sound_in_2d(model: session.SoundModel) -> None:
    points = model.latent_map.points
    assert points.shape == (len(model.names), 2)
    np.testing.assert_allclose(model.latent_map.project(model.latents[3]), points[3], atol=1e-5)
    assert model.latent_map_png().startswith(PNG_SIGNATURE)


def test_phase_from_the_source_changes_only_the_phase(tiny_model) -> None:
    model = session.load(tiny_model.folder, device="cpu")
    random = model.morph(0, 1, 0.25, options=RenderOptions(n_iter=2))
    informed = model.morph(0, 1, 0.25, options=RenderOptions(n_iter=2, init="source"))
    assert np.array_equal(random.magnitude, informed.magnitude)
    assert np.isfinite(informed.audio).all() and not np.allclose(random.audio, informed.audio)
    # with no iterations the audio is the decoded magnitude on the nearer source's (0's) phase
    plain = model.morph(0, 1, 0.25, options=RenderOptions(n_iter=0, init="source"))
    source_phase = model.original(0).stft.angle()
    rebuilt = spectral.stft(torch.from_numpy(plain.audio)).angle()
    loud = torch.from_numpy(plain.magnitude) > plain.magnitude.max() * 0.1
    error = torch.remainder(rebuilt - source_phase + torch.pi, 2 * torch.pi) - torch.pi
    assert float(error[loud].abs().median()) < 0.5


def test_sweep_quality_reports_directional_figures(tiny_model) -> None:
    model = session.load(tiny_model.folder, device="cpu")
    sounds = model.sweep(0, 1, steps=5, options=RenderOptions(n_iter=0))
    figures = model.sweep_quality(0, 1, sounds)
    assert 0.0 <= figures.intermediateness <= 1.0
    assert -1.0 <= figures.rho_b <= figures.rho_a <= 1.0


# --- sources as records, names, phase methods --------------------------------------------------


def test_every_kind_of_source_resolves_to_one_record(model: session.SoundModel, unseen: Path) -> None:
    by_index, by_name = model.resolve(2), model.resolve(model.names[2])
    assert by_index.index == by_name.index == 2 and by_index.label == Path(model.names[2]).stem
    assert torch.equal(by_index.latent, model.latents[2]) and model.resolve(by_index) is by_index
    from_file = model.resolve(unseen)
    clip = audio.read(unseen, sample_rate=model.sample_rate)
    in_memory = model.from_audio("stranger.wav", clip)
    assert from_file.index is None and from_file.label == in_memory.label == "stranger"
    torch.testing.assert_close(from_file.latent, in_memory.latent)
    torch.testing.assert_close(from_file.magnitude, in_memory.magnitude)
    assert in_memory.magnitude.shape == (model.info.n_freq, model.info.n_frames)
    assert model.morph(in_memory, 0, 0.5, options=FAST).name == model.morph(unseen, 0, 0.5, options=FAST).name


def test_an_unknown_index_is_its_own_error_class(model: session.SoundModel) -> None:
    with pytest.raises(UnknownSourceError, match="no sound 6"):
        model.resolve(6)


def test_result_names_come_from_one_helper(model: session.SoundModel) -> None:
    assert session.result_name("morph", ["a", "b"], "a0.30") == "morph_a__b_a0.30"
    assert session.result_name("generated", [], "s5", "00") == "generated_s5_00"
    stems = [Path(name).stem for name in model.names[:2]]
    assert model.blend([(0, 1.0), (1, 0.0)], options=FAST).name == f"blend_{stems[0]}-1.00"
    assert [s.name for s in model.sweep(0, 1, 2, options=FAST)] == [
        f"sweep_{stems[0]}__{stems[1]}_00_a0.00",
        f"sweep_{stems[0]}__{stems[1]}_01_a1.00",
    ]


def test_phase_methods_share_the_magnitude_not_the_audio(model: session.SoundModel) -> None:
    gl = model.morph(0, 1, 0.5, options=FAST.override(method="gl"))
    fgla = model.morph(0, 1, 0.5, options=FAST.override(method="fgla"))
    assert np.array_equal(gl.magnitude, fgla.magnitude) and not np.array_equal(gl.audio, fgla.audio)
    # gl is fgla without momentum
    np.testing.assert_array_equal(gl.audio, model.morph(0, 1, 0.5, options=FAST.override(momentum=0.0)).audio)


def test_a_source_phase_needs_a_source(model: session.SoundModel) -> None:
    with pytest.raises(SoundmorphError, match="source"):
        model.generate(1, options=FAST.override(init="source"))
    blended = model.blend([(0, 0.2), (1, 0.8)], options=FAST.override(init="source", n_iter=0))
    assert np.isfinite(blended.audio).all()


def test_faithful_sweep_blend_and_glide_end_at_the_originals(model: session.SoundModel) -> None:
    first, last = model.original(0).magnitude.numpy(), model.original(4).magnitude.numpy()
    sounds = model.sweep(0, 4, steps=3, options=FAST)
    np.testing.assert_allclose(sounds[0].magnitude, first, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(sounds[-1].magnitude, last, rtol=1e-3, atol=1e-5)
    blend = model.blend([(4, 0.7)], options=FAST).magnitude
    np.testing.assert_allclose(blend, last, rtol=1e-3, atol=1e-5)
    glide = model.glide(0, 4, repeats=2, options=FAST).magnitude
    np.testing.assert_allclose(glide[:, 0], first[:, 0], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(glide[:, -1], last[:, -1], rtol=1e-3, atol=1e-5)


def test_library_reconstructions_are_decoded_once(
    model: session.SoundModel, unseen: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = [model.resolve(0), model.resolve(unseen), model.resolve(1)]
    expected = model.decode(torch.stack([s.latent for s in sources]))
    torch.testing.assert_close(model.renderer.reconstructions(sources), expected)
    batches: list[int] = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda z: batches.append(len(z)) or decode(z))
    torch.testing.assert_close(model.renderer.reconstructions(sources), expected)
    assert batches == [1]  # only the file that is not in the library, whose latent may change
