"""Library-level jobs: train a model folder, resume it, refuse to overwrite it, evaluate it."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from soundmorph import audio, data, demo, training, workflow
from soundmorph.config import SAMPLE_RATE, Preset
from soundmorph.errors import SoundmorphError
from soundmorph.evaluate import BASELINES
from soundmorph.training import checkpoint

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fingerprint(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def same_weights(a: Path, b: Path, name: str = checkpoint.WEIGHTS_FILE) -> bool:
    wa, wb = load_file(a / name), load_file(b / name)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def run(folder: Path, out: Path, preset: Preset, **options) -> workflow.TrainResult:
    return workflow.train(folder, out, preset=preset, device="cpu", progress=False, **options)


# --- the trained model folder -------------------------------------------------------------------


def test_model_folder_holds_everything(tiny_model) -> None:
    files = {p.relative_to(tiny_model.folder).as_posix() for p in tiny_model.folder.rglob("*") if p.is_file()}
    expected = {
        "config.json",
        "model.safetensors",
        "library.json",
        "latents.safetensors",
        "history.csv",
        "loss.png",
        "latent_map.png",
    }
    assert expected <= files
    assert {"train/state.safetensors"} <= files
    assert not [name for name in files if Path(name).name.startswith(".")]  # no temporary files left


def test_history_has_one_row_per_epoch(tiny_model) -> None:
    history = training.read_history(tiny_model.folder)
    assert [row.epoch for row in history] == list(range(1, tiny_model.preset.train.epochs + 1))
    assert history == tiny_model.result.history
    assert all(math.isfinite(row.holdout_loss) for row in history)  # a held-out split was asked for


@pytest.mark.parametrize("name", ["loss.png", "latent_map.png"])
def test_pictures_are_pngs(tiny_model, name: str) -> None:
    assert (tiny_model.folder / name).read_bytes().startswith(PNG_SIGNATURE)


def test_library_index_lists_every_sound_with_split_and_latent(tiny_model) -> None:
    library = checkpoint.load_library(tiny_model.folder)
    assert library.root == tiny_model.library.resolve()
    names = library.names
    assert names == tiny_model.result.library.names
    mask = data.holdout_mask(names, tiny_model.preset.train.holdout, seed=tiny_model.preset.train.seed)
    assert library.splits == ["holdout" if h else "train" for h in mask]
    assert np.array_equal(tiny_model.result.holdout, mask)
    size = tiny_model.result.model.latent_size  # the sequence model's: global + steps * latent_dim
    assert size >= tiny_model.preset.model.latent_dim
    assert library.latents(size).shape == (len(names), size)


def test_every_sound_encodes_to_a_latent_of_the_priors_scale(tiny_model) -> None:
    library = checkpoint.load_library(tiny_model.folder)
    latents = library.latents(tiny_model.result.model.latent_size)
    assert torch.isfinite(latents).all() and float(latents.abs().max()) < 50


def test_clip_length_defaults_to_the_librarys_median(
    loops_dir: Path, tmp_path: Path, tiny_preset: Callable[..., Preset], scan
) -> None:
    preset = tiny_preset(epochs=1).replace(audio={"clip_seconds": None})
    run(loops_dir, tmp_path / "model", preset)
    seconds = checkpoint.read_info(tmp_path / "model").preset.audio.clip_seconds
    assert seconds == scan(loops_dir, sample_rate=SAMPLE_RATE).median_seconds()


def test_training_skips_broken_files_and_reports_them(
    loops_dir: Path, tmp_path: Path, tiny_preset: Callable[..., Preset]
) -> None:
    folder = tmp_path / "sounds"
    shutil.copytree(loops_dir, folder)
    (folder / "broken.wav").write_text("not a wav")
    result = run(folder, tmp_path / "model", tiny_preset(epochs=1))
    assert [s.path.name for s in result.library.skipped] == ["broken.wav"]
    assert "broken.wav" not in checkpoint.load_library(tmp_path / "model").names


def test_a_holdout_needs_two_sounds(tmp_path: Path, tiny_preset: Callable[..., Preset], sine) -> None:
    audio.write(tmp_path / "sounds" / "one.wav", sine(220, 1.0), sample_rate=SAMPLE_RATE)
    with pytest.raises(SoundmorphError, match="at least 2"):
        run(tmp_path / "sounds", tmp_path / "model", tiny_preset(holdout=0.5))


# --- determinism, resume, overwrite -------------------------------------------------------------


def test_same_settings_give_the_same_model(loops_dir: Path, tmp_path: Path, tiny_preset) -> None:
    run(loops_dir, tmp_path / "a", tiny_preset())
    run(loops_dir, tmp_path / "b", tiny_preset())
    assert same_weights(tmp_path / "a", tmp_path / "b")


def test_the_seed_changes_the_model(loops_dir: Path, tmp_path: Path, tiny_preset) -> None:
    run(loops_dir, tmp_path / "a", tiny_preset())
    run(loops_dir, tmp_path / "b", tiny_preset(), seed=1)
    assert not same_weights(tmp_path / "a", tmp_path / "b")


def test_resume_reaches_the_same_weights_as_one_run(loops_dir: Path, tmp_path: Path, tiny_preset) -> None:
    preset = tiny_preset(epochs=4, holdout=0.2)
    one_go = run(loops_dir, tmp_path / "one", preset)
    run(loops_dir, tmp_path / "two", preset, epochs=2)
    resumed = run(
        loops_dir, tmp_path / "two", "paper", epochs=4, resume=True
    )  # settings come from the folder

    assert [row.loss for row in resumed.history] == [row.loss for row in one_go.history]
    assert same_weights(tmp_path / "one", tmp_path / "two", "train/state.safetensors")
    assert same_weights(tmp_path / "one", tmp_path / "two")
    # config.json is written with the best weights, so its epoch count may be the first run's; its
    # grid is resolved ("auto" -> "oneshot": 1-s cuts of loops are no whole bars; the default has none)
    saved = checkpoint.read_info(tmp_path / "two").preset
    expected = preset if preset.tempo.mode == "off" else preset.replace(tempo={"mode": "oneshot"})
    assert saved.replace(train={"epochs": 4}) == expected
    assert len(training.read_history(tmp_path / "two")) == 4


def test_resume_without_train_state_is_refused(tiny_model, tmp_path: Path) -> None:
    with pytest.raises(SoundmorphError, match="nothing to resume"):
        run(tiny_model.library, tmp_path / "empty", tiny_model.preset, resume=True)


def test_an_existing_model_folder_is_not_overwritten(tiny_model, model_copy: Path) -> None:
    folder = model_copy
    before = fingerprint(folder)
    with pytest.raises(SoundmorphError) as caught:
        run(tiny_model.library, folder, tiny_model.preset)
    assert "exists" in str(caught.value) and "--force" in str(caught.value)
    assert fingerprint(folder) == before


def test_force_replaces_a_model_folder(tiny_model, model_copy: Path, tiny_preset) -> None:
    folder = model_copy
    result = run(tiny_model.library, folder, tiny_preset(epochs=3), force=True)
    assert len(training.read_history(folder)) == len(result.history) == 3
    assert checkpoint.read_info(folder).preset.train.epochs == 3


def test_force_keeps_the_users_own_files_and_subfolders(tiny_model, model_copy: Path, tiny_preset) -> None:
    folder = model_copy
    (folder / "train").mkdir(exist_ok=True)
    (folder / "train" / "my_takes.txt").write_text("keep me")
    (folder / "notes").mkdir()
    (folder / "notes" / "a.txt").write_text("keep me too")
    (folder / "readme.md").write_text("mine")
    run(tiny_model.library, folder, tiny_preset(epochs=1), force=True)
    assert (folder / "train" / "my_takes.txt").read_text() == "keep me"
    assert (folder / "notes" / "a.txt").read_text() == "keep me too"
    assert (folder / "readme.md").read_text() == "mine"
    checkpoint.load_model(folder)


def test_force_refuses_a_folder_that_is_not_a_model_folder(tiny_model, tmp_path: Path, tiny_preset) -> None:
    folder = tmp_path / "music"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "take1.wav").write_bytes(b"RIFF")
    before = fingerprint(folder)
    with pytest.raises(SoundmorphError, match="not a soundmorph model folder"):
        run(tiny_model.library, folder, tiny_preset(epochs=1), force=True)
    assert fingerprint(folder) == before


def test_an_empty_existing_folder_is_fine(loops_dir: Path, tmp_path: Path, tiny_preset) -> None:
    (tmp_path / "model").mkdir()
    run(loops_dir, tmp_path / "model", tiny_preset(epochs=1))
    checkpoint.load_model(tmp_path / "model")


@pytest.mark.parametrize("case", ["missing", "empty", "broken"])
def test_unusable_folders_are_one_line_errors(tmp_path: Path, tiny_preset, case: str) -> None:
    folder = tmp_path / "sounds"
    if case != "missing":
        folder.mkdir()
    if case == "broken":
        (folder / "a.wav").write_bytes(b"RIFF....WAVE")
        (folder / "b.wav").write_bytes(b"")
    with pytest.raises(SoundmorphError) as caught:
        run(folder, tmp_path / "model", tiny_preset())
    assert str(folder) in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "model").exists()


# --- evaluate -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tiny_model) -> dict:
    return workflow.evaluate(tiny_model.folder, device="cpu")


def test_evaluate_reports_every_clip_with_its_split(report: dict, tiny_model) -> None:
    assert [clip["name"] for clip in report["clips"]] == tiny_model.result.library.names
    assert [clip["index"] for clip in report["clips"]] == list(range(len(report["clips"])))
    assert sorted(clip["split"] for clip in report["clips"]).count("holdout") == 1
    for clip in report["clips"]:
        assert math.isfinite(clip["mse"]) and -1.0 <= clip["cosine"] <= 1.0
        assert math.isfinite(clip["lsd_db"]) and clip["lsd_db"] >= 0


def test_evaluate_summarises_each_split_against_the_baselines(report: dict) -> None:
    assert set(report["summary"]) == {"train", "holdout"}
    for systems in report["summary"].values():
        assert set(systems) == {"model", *BASELINES}
    assert report["summary"]["train"]["model"]["clips"] == 5
    assert report["summary"]["holdout"]["model"]["clips"] == 1


def test_pca_baseline_reconstructs_a_small_training_set(report: dict) -> None:
    pca = report["summary"]["train"]["PCA-16"]  # 5 training clips: 16 components span them all
    assert pca["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert pca["mse"] == pytest.approx(0.0, abs=1e-6)


def test_evaluate_report_is_json(report: dict) -> None:
    assert json.loads(json.dumps(report)) == report


def test_evaluate_on_another_folder_fits_the_baselines_on_the_training_library(
    tiny_model, tmp_path: Path, sine
) -> None:
    for k, freq in enumerate((220, 330)):
        audio.write(tmp_path / f"tone{k}.wav", sine(freq, 1.0), sample_rate=SAMPLE_RATE)
    report = workflow.evaluate(tiny_model.folder, tmp_path, device="cpu")
    assert [clip["split"] for clip in report["clips"]] == ["other", "other"]
    assert set(report["summary"]) == {"other"}
    assert set(report["summary"]["other"]) == {"model", *BASELINES}


def test_evaluate_on_another_folder_without_the_library_has_no_baselines(
    model_copy: Path, tmp_path: Path, sine
) -> None:
    library = json.loads((model_copy / "library.json").read_text())
    library["root"] = str(tmp_path / "gone")
    (model_copy / "library.json").write_text(json.dumps(library))
    other = tmp_path / "other"
    other.mkdir()
    audio.write(other / "tone.wav", sine(220, 1.0), sample_rate=SAMPLE_RATE)
    report = workflow.evaluate(model_copy, other, device="cpu")
    assert set(report["summary"]["other"]) == {"model"}


def test_evaluate_needs_a_folder_when_the_library_is_unknown(model_copy: Path) -> None:
    folder = model_copy
    (folder / "library.json").unlink()
    with pytest.raises(SoundmorphError, match="name a folder"):
        workflow.evaluate(folder, device="cpu")


def test_list_sounds_reports_usable_and_skipped_files(loops_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(loops_dir, tmp_path / "sounds")
    (tmp_path / "sounds" / "zzz.wav").write_text("text")
    library = workflow.list_sounds(tmp_path / "sounds")
    assert len(library) == 6 and [s.path.name for s in library.skipped] == ["zzz.wav"]


def test_a_run_of_zero_epochs_resumes(
    loops_dir: Path, tmp_path: Path, tiny_preset: Callable[..., Preset]
) -> None:
    # The default preset fits in closed form (0 epochs): its state has no best loss yet.
    run(loops_dir, tmp_path / "model", tiny_preset(epochs=0))
    model, info = checkpoint.load_model(tmp_path / "model")
    state = checkpoint.load_train_state(tmp_path / "model", model, info.preset)
    assert state.epoch == 0 and state.best == math.inf
    result = workflow.train(
        loops_dir, tmp_path / "model", epochs=2, resume=True, device="cpu", progress=False
    )
    assert [row.epoch for row in result.history] == [1, 2]


def test_demo_evaluation_is_standard_json(tmp_path: Path) -> None:
    result = demo.demo(tmp_path / "demo", clips=4, progress=False)
    written = result.written
    text = (tmp_path / "demo" / "evaluation.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text)
    figures = json.loads((tmp_path / "demo" / "sweep" / "quality.json").read_text())
    assert "intermediateness" in figures
    assert all(path.exists() for path in written)


def test_synth_library_writes_varied_loops_with_their_truth(tmp_path: Path) -> None:
    written = demo.synth_library(tmp_path / "lib", count=8, seed=3, progress=False)
    wavs, truth = written[:-1], written[-1]
    assert len(wavs) == 8 and truth.name == "synth.jsonl"
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    assert [row["file"] for row in rows] == [p.name for p in wavs]
    for row, path in zip(rows, wavs, strict=True):
        clip = audio.read(path)
        assert len(clip) == round(row["bars"] * 4 * 60 / row["bpm"] * SAMPLE_RATE)
    assert len({row["bars"] for row in rows}) > 1 and len({row["bpm"] for row in rows}) > 4
    again = demo.synth_library(tmp_path / "again", count=8, seed=3, progress=False)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]  # seeded


@pytest.mark.parametrize("count", [0, -1, 10**7, 2.5, True])
def test_synth_library_refuses_a_bad_count(tmp_path: Path, count: object) -> None:
    with pytest.raises(SoundmorphError, match="count must be"):
        demo.synth_library(tmp_path / "lib", count=count, progress=False)  # type: ignore[arg-type]
    assert not (tmp_path / "lib").exists()


def test_streamed_evaluation_equals_the_in_memory_figures(tiny_model, scan) -> None:
    """Batches from the cache give the numbers of all spectrograms at once (small library: the PCA
    baseline is fitted on every training clip), within the int16 storage of the cache (2e-3: the
    model's measured colour reads the quietest bins, where the storage's rounding is largest)."""
    from soundmorph import evaluate as metrics
    from soundmorph import session

    report = workflow.evaluate(tiny_model.folder, device="cpu")
    model = session.load(tiny_model.folder, device="cpu")
    library = scan(tiny_model.library, sample_rate=model.sample_rate)
    mags = model.magnitudes(library.clips)
    recon = model.reconstruction(mags)
    train = mags[torch.tensor([s == "train" for s in model.splits])]
    expected = {
        "model": recon,
        "mean spectrogram": metrics.mean_spectrogram_baseline(train, mags),
        "PCA-16": metrics.pca_baseline(train, mags, components=min(16, len(train))),
    }
    for system, estimate in expected.items():
        values = metrics.reconstruction_metrics(mags, estimate)
        rows = [i for i, s in enumerate(model.splits) if s == "train"]
        got = report["summary"]["train"][system]
        for key, value in values.items():
            assert got[key] == pytest.approx(float(value[rows].mean()), rel=2e-3, abs=1e-4), (system, key)
