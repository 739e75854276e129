"""The studio render through the API and the CLI: the ends are the sources (own rate, channels,
tempo and bars), the middle is stereo at the higher rate, files carry tempo, bars and chunks."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundmorph import audio, cli, quality, session, workflow
from soundmorph.audio import synth

RATE = 44_100


def _stereo(seed: int, bpm: float, bars: int) -> np.ndarray:
    main = synth.drum_loop(seed=seed, bpm=bpm, bars=bars, sample_rate=RATE)
    other = synth.drum_loop(seed=seed + 1, bpm=bpm, bars=bars, kit=seed, sample_rate=RATE)
    return np.stack([main, 0.7 * main + 0.3 * other])


@pytest.fixture(scope="module")
def studio_model(
    tmp_path_factory: pytest.TempPathFactory, tiny_preset
) -> Iterator[tuple[session.SoundModel, Path]]:
    """A tiny default model on a grid of 2 bars at 120 BPM, trained on 22.05-kHz mono loops, and a
    folder of unseen sources: 44.1-kHz stereo loops at 100 and 140 BPM and a 22.05-kHz mono one."""
    library = tmp_path_factory.mktemp("studio_library")
    for k, bpm in enumerate((116, 120, 124, 128)):
        clip = synth.drum_loop(seed=700 + k, bpm=bpm, bars=2)
        audio.write(library / f"loop_{k}.wav", clip, sample_rate=22_050)
    folder = tmp_path_factory.mktemp("studio_model")
    workflow.train(library, folder / "m", preset=tiny_preset(), bpm=120, bars=2, device="cpu", progress=False)
    unseen = tmp_path_factory.mktemp("unseen")
    audio.write(unseen / "a.wav", _stereo(801, 100.0, 1), sample_rate=RATE, subtype="PCM_24")
    audio.write(unseen / "b.wav", _stereo(802, 140.0, 2), sample_rate=RATE, subtype="PCM_24")
    mono = synth.drum_loop(seed=803, bpm=110.0, bars=2)
    audio.write(unseen / "m.wav", mono, sample_rate=22_050, subtype="PCM_24")
    yield session.load(folder / "m", device="cpu"), unseen


def test_alpha_0_and_1_are_the_sources_themselves(studio_model: tuple[session.SoundModel, Path]) -> None:
    model, unseen = studio_model
    a, _ = sf.read(unseen / "a.wav", dtype="float32", always_2d=True)
    b, _ = sf.read(unseen / "b.wav", dtype="float32", always_2d=True)
    start = model.morph(unseen / "a.wav", unseen / "b.wav", 0.0)
    end = model.morph(unseen / "a.wav", unseen / "b.wav", 1.0)
    assert (start.sample_rate, start.channels, start.bars) == (RATE, 2, 1)
    assert start.name.endswith("_100bpm_1bar") and end.name.endswith("_140bpm_2bars")
    np.testing.assert_allclose(start.audio, a.T, atol=1e-4)  # A, to 24-bit precision
    np.testing.assert_allclose(end.audio, b.T, atol=1e-4)
    blend = model.blend([(unseen / "b.wav", 1.0)])
    np.testing.assert_allclose(blend.audio, b.T, atol=1e-4)


def test_the_middle_is_stereo_full_band_and_keeps_its_hits(
    studio_model: tuple[session.SoundModel, Path],
) -> None:
    model, unseen = studio_model
    mid = model.morph(unseen / "a.wav", unseen / "b.wav", 0.5)
    assert mid.sample_rate == RATE and mid.channels == 2 and mid.bpm == pytest.approx(120.0)
    assert mid.magnitude.shape[0] == 2049  # the full band: 4096-point frames at 44.1 kHz
    assert mid.grid_magnitude.shape[0] == 1025  # what the model decoded, on its grid
    sources = [sf.read(unseen / n, dtype="float32")[0].mean(axis=1) for n in ("a.wav", "b.wav")]
    sharp = [quality.hit_sharpness(audio.io.resample(x, RATE, 22_050)) for x in sources]
    got = quality.hit_sharpness(audio.io.resample(mid.audio.mean(axis=0), RATE, 22_050))
    assert got >= 0.8 * float(np.mean(sharp))


def test_mono_stays_mono_and_the_rate_is_the_higher(studio_model: tuple[session.SoundModel, Path]) -> None:
    model, unseen = studio_model
    alone = model.morph(unseen / "m.wav", unseen / "b.wav", 0.0)
    assert (alone.sample_rate, alone.channels) == (22_050, 1)
    mixed = model.morph(unseen / "m.wav", unseen / "b.wav", 0.3)
    assert (mixed.sample_rate, mixed.channels) == (RATE, 2)
    asked = model.morph(
        unseen / "m.wav", unseen / "b.wav", 0.3, options=model.render_options.override(rate=48_000)
    )
    assert asked.sample_rate == 48_000
    old = model.morph(
        unseen / "a.wav", unseen / "b.wav", 0.5, options=model.render_options.override(chain="model")
    )
    assert (old.sample_rate, old.channels) == (22_050, 1)


def test_cli_writes_a_daw_ready_file(studio_model: tuple[session.SoundModel, Path], tmp_path: Path) -> None:
    model, unseen = studio_model
    out = tmp_path / "out.wav"
    code = cli.main(
        [
            "morph",
            str(model.folder),
            str(unseen / "a.wav"),
            str(unseen / "b.wav"),
            "--alpha",
            "0.3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (RATE, 2, "PCM_24")
    raw = out.read_bytes()
    acid = raw[raw.index(b"acid") + 8 :]
    assert struct.unpack("<f", acid[20:24])[0] == pytest.approx(0.7 * 100 + 0.3 * 140, abs=0.01)
    smpl = raw[raw.index(b"smpl") + 8 :]
    assert struct.unpack("<I", smpl[48:52])[0] == info.frames - 1  # the loop ends at the last sample
    code = cli.main(
        [
            "morph",
            str(model.folder),
            str(unseen / "a.wav"),
            str(unseen / "b.wav"),
            "--out",
            str(out),
            "--bits",
            "16",
        ]
    )
    assert code == 1  # exists: no overwrite without --force


def test_a_one_shot_end_is_the_one_shot_not_bars_of_it(
    studio_model: tuple[session.SoundModel, Path], tmp_path: Path
) -> None:
    model, unseen = studio_model
    hit = synth.one_shot("snare", seed=5, sample_rate=RATE)
    hit = np.stack([hit, 0.8 * hit])  # stereo
    audio.write(tmp_path / "hit.wav", hit, sample_rate=RATE, subtype="PCM_24")
    assert model.resolve(tmp_path / "hit.wav").tempo.kind == "oneshot"
    end = model.morph(unseen / "a.wav", tmp_path / "hit.wav", 1.0)
    source, _ = sf.read(tmp_path / "hit.wav", dtype="float32", always_2d=True)
    assert end.bpm is None and end.bars is None and "bpm" not in end.name
    assert np.shape(end.audio)[-1] <= source.shape[0]  # not padded with bars of silence
    assert quality.audio_lsd(end.audio, source.T) < 0.1
    near = model.morph(unseen / "a.wav", tmp_path / "hit.wav", 0.95)
    assert np.shape(near.audio) == np.shape(end.audio)  # approached continuously: the same clip
    assert float(np.abs(near.audio - end.audio).max()) < 0.2 * float(np.abs(source).max())


def test_a_glide_runs_through_the_studio_chain(studio_model: tuple[session.SoundModel, Path]) -> None:
    model, unseen = studio_model
    glide = model.glide(unseen / "a.wav", unseen / "b.wav", repeats=2)
    assert (glide.sample_rate, glide.channels) == (RATE, 2)  # the sources' rate and channels
    bpm = 0.5 * (100 + 140)
    assert glide.audio.shape[-1] == 2 * audio.tempo.grid_samples(bpm, 2, RATE)
    assert glide.magnitude.shape[0] == 2049 and glide.latent is None
    sources = [sf.read(unseen / n, dtype="float32")[0].mean(axis=1) for n in ("a.wav", "b.wav")]
    sharp = [quality.hit_sharpness(audio.io.resample(x, RATE, 22_050)) for x in sources]
    got = quality.hit_sharpness(audio.io.resample(glide.audio.mean(axis=0), RATE, 22_050))
    assert got >= 0.8 * float(np.mean(sharp))  # hits kept, not rebuilt from magnitudes
    old = model.glide(
        unseen / "a.wav", unseen / "b.wav", repeats=2, options=model.render_options.override(chain="model")
    )
    assert (old.sample_rate, old.channels) == (22_050, 1)


def test_a_library_source_is_stretched_from_what_was_kept(
    studio_model: tuple[session.SoundModel, Path],
) -> None:
    model, _ = studio_model
    first = model.morph(0, 1, 0.4)
    kept = model.renderer.studio_source(model.resolve(0))
    assert list(kept.periods) == [(22_050, 2)]  # its period and hits at the render's rate and bars
    again = model.morph(0, 1, 0.4)
    np.testing.assert_array_equal(again.audio, first.audio)
    assert model.renderer.studio_source(model.resolve(0)) is kept and len(kept.periods) == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--bits", "12"], "--bits"),
        (["--rate", "100"], "render rate must be in"),
        (["--rate", "48k"], "--rate"),
        (["--chain", "studi0"], "--chain"),
    ],
)
def test_bad_render_arguments_are_one_line(
    studio_model: tuple[session.SoundModel, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    said: str,
) -> None:
    model, unseen = studio_model
    out = tmp_path / "x.wav"
    try:
        code = cli.main(["morph", str(model.folder), str(unseen / "a.wav"), "0", "--out", str(out), *args])
    except SystemExit as stop:  # argparse's own refusals
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    assert code != 0 and said in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if "error" in line]) == 1
    assert not out.exists()
