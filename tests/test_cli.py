"""The ``soundmorph`` command: every command round-trips in tmp_path, every bad input is one line.

Commands run in-process through :func:`soundmorph.cli.main`, which returns the exit status; a
traceback would escape ``main`` and fail the test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundmorph import audio, cli, training
from soundmorph.audio import synth
from soundmorph.config import SAMPLE_RATE
from soundmorph.training import checkpoint

COMMANDS = ["demo", "list", "train", "evaluate", "morph", "sweep", "blend", "glide", "generate", "serve"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CPU = ("--device", "cpu")
FAST = ("--iterations", "4", *CPU)  # Griffin-Lim iterations where only the files matter


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def soundmorph(capsys: pytest.CaptureFixture[str]):
    """``soundmorph(*args)`` -> Result: run the CLI in-process and capture what it printed."""

    def run(*args: object) -> Result:
        capsys.readouterr()  # drop anything printed before
        code = cli.main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def assert_error(result: Result, *words: str) -> None:
    """Exit status 1 and exactly one line on stderr, ``soundmorph: error: ...``, with ``words``."""
    assert result.code == 1, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("soundmorph: error:")
    for word in words:
        assert word in lines[0], lines[0]


def fingerprint(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def wav_info(path: Path) -> tuple[int, int, int]:
    """(sample rate, channels, frames) of a WAV, after checking its samples are finite and <= 1."""
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    assert np.isfinite(data).all() and float(np.abs(data).max()) <= 1.0
    return rate, data.shape[1], data.shape[0]


# --- bad audio files ----------------------------------------------------------------------------


def write_bad(path: Path, kind: str) -> str:
    """Write a broken file of ``kind`` to ``path``; return a word its error message must contain."""
    path.parent.mkdir(parents=True, exist_ok=True)
    one_second = synth.drum_loop(seed=1)[:SAMPLE_RATE]
    if kind == "truncated header":
        audio.write(path, one_second, sample_rate=SAMPLE_RATE)
        path.write_bytes(path.read_bytes()[:30])
        return "unreadable"
    if kind == "text named .wav":
        path.write_text("these are not the samples you are looking for\n")
        return "unreadable"
    if kind == "zero bytes":
        path.write_bytes(b"")
        return "unreadable"
    if kind == "zero-length WAV":
        sf.write(path, np.zeros(0, np.float32), SAMPLE_RATE, subtype="PCM_16")
        return "empty"
    if kind == "silent WAV":
        sf.write(path, np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE, subtype="PCM_16")
        return "silent"
    if kind == "NaN samples":
        samples = one_second.copy()
        samples[100:200] = np.nan
        sf.write(path, samples, SAMPLE_RATE, subtype="FLOAT")
        return "not finite"
    raise AssertionError(kind)


BAD_KINDS = [
    "truncated header",
    "text named .wav",
    "zero bytes",
    "zero-length WAV",
    "silent WAV",
    "NaN samples",
]


def write_hires_stereo(path: Path, seed: int) -> None:
    """A stereo 96 kHz 24-bit WAV of a second of drum loop: valid input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    loop = synth.drum_loop(seed=seed, sample_rate=96_000)[:96_000]
    sf.write(path, np.stack([loop, 0.5 * loop], axis=1), 96_000, subtype="PCM_24")


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])
    assert exited.value.code == 0
    assert f"usage: soundmorph {command}" in capsys.readouterr().out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from soundmorph import __version__

    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_help_does_not_import_torch() -> None:
    script = (
        "import sys\nfrom soundmorph import cli\n"
        "try:\n    cli.main(['morph', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported for --help'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize(
    "args",
    [[], ["fly"], ["morph"], ["morph", "m", "0", "1", "--out", "x.wav", "--bogus"], ["list", "a", "b"]],
)
def test_usage_errors_are_one_line_with_status_1(soundmorph, args: list[str]) -> None:
    result = soundmorph(*args)
    assert_error(result, "--help")


@pytest.mark.parametrize(
    "command", [["morph", "m", "0", "1", "--out", "x.wav"], ["train", "lib", "--out", "m"]]
)
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_bpm_must_be_a_finite_number(soundmorph, command: list[str], value: str) -> None:
    assert_error(soundmorph(*command, "--bpm", value), "not a finite number")


# --- demo ---------------------------------------------------------------------------------------


def test_demo_round_trip(soundmorph, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = soundmorph("demo", "--out", out, "--clips", 4, "--epochs", 1)
    assert result.code == 0, result.err
    assert len(list((out / "sounds").glob("*.wav"))) == 4
    for name in [
        "model/config.json",
        "model/model.safetensors",
        "sweep/grid.png",
        "glide.wav",
        "evaluation.json",
    ]:
        assert (out / name).is_file(), name
    checkpoint.load_model(out / "model")
    report = json.loads((out / "evaluation.json").read_text())
    assert len(report["clips"]) == 4
    assert "wrote" in result.out and "PCA-16" in result.out

    before = fingerprint(out)
    again = soundmorph("demo", "--out", out, "--clips", 4, "--epochs", 1)
    assert_error(again, str(out), "--force")
    assert fingerprint(out) == before


@pytest.mark.parametrize(("args", "word"), [(("--preset", "fancy"), "fancy"), (("--clips", "1"), "2 clips")])
def test_demo_checks_its_settings_before_writing(soundmorph, tmp_path: Path, args: tuple, word: str) -> None:
    assert_error(soundmorph("demo", "--out", tmp_path / "demo", *args), word)
    assert not (tmp_path / "demo").exists()


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_every_sound_with_its_index(soundmorph, loops_dir: Path) -> None:
    result = soundmorph("list", loops_dir)
    assert result.code == 0
    names = sorted(p.name for p in loops_dir.glob("*.wav"))
    for index, name in enumerate(names):
        assert any(line.split()[0] == str(index) and line.endswith(name) for line in result.out.splitlines())
    assert "6 usable, 0 skipped" in result.out


def test_list_reports_skipped_files(soundmorph, tmp_path: Path) -> None:
    write_bad(tmp_path / "bad.wav", "text named .wav")
    audio.write(tmp_path / "good.wav", synth.drum_loop(seed=2)[:SAMPLE_RATE], sample_rate=SAMPLE_RATE)
    result = soundmorph("list", tmp_path)
    assert result.code == 0
    assert "skipped" in result.out and "bad.wav" in result.out
    assert "1 usable, 1 skipped" in result.out


def test_list_of_an_empty_folder_says_so(soundmorph, tmp_path: Path) -> None:
    result = soundmorph("list", tmp_path)
    assert result.code == 0 and "0 usable, 0 skipped" in result.out


def test_list_of_a_missing_folder(soundmorph, tmp_path: Path) -> None:
    assert_error(soundmorph("list", tmp_path / "nowhere"), "nowhere", "no such folder")


# --- train --------------------------------------------------------------------------------------

TRAIN = ("--epochs", "1", "--clip-seconds", "1", "--holdout", "0.2", *CPU)


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory: pytest.TempPathFactory, loops_dir: Path) -> Path:
    """A model folder trained by ``soundmorph train`` with the default preset for one epoch."""
    out = tmp_path_factory.mktemp("cli") / "model"
    assert cli.main(["train", str(loops_dir), "--out", str(out), *TRAIN]) == 0
    return out


def test_train_writes_a_model_folder(cli_model: Path) -> None:
    _, info = checkpoint.load_model(cli_model)
    assert info.preset.name == "default"
    assert info.preset.audio.clip_seconds == 1.0
    assert len(training.read_history(cli_model)) == 1
    assert (cli_model / "loss.png").read_bytes().startswith(PNG_SIGNATURE)


def test_train_prints_a_summary(soundmorph, loops_dir: Path, tmp_path: Path) -> None:
    result = soundmorph("train", loops_dir, "--out", tmp_path / "model", *TRAIN, "--preset", "paper")
    assert result.code == 0, result.err
    assert "trained on 5 clips (1 held out)" in result.out
    assert f"model folder: {tmp_path / 'model'}" in result.out
    assert checkpoint.read_info(tmp_path / "model").preset.name == "paper"


def test_train_resume_continues(soundmorph, cli_model: Path, loops_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(cli_model, folder)
    result = soundmorph("train", loops_dir, "--out", folder, "--resume", "--epochs", 2, *CPU)
    assert result.code == 0, result.err
    assert [row.epoch for row in training.read_history(folder)] == [1, 2]


def test_train_does_not_overwrite_without_force(
    soundmorph, cli_model: Path, loops_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(cli_model, folder)
    before = fingerprint(folder)
    assert_error(soundmorph("train", loops_dir, "--out", folder, *TRAIN), str(folder), "--force")
    assert fingerprint(folder) == before


def test_train_force_replaces(soundmorph, cli_model: Path, loops_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(cli_model, folder)
    result = soundmorph("train", loops_dir, "--out", folder, *TRAIN, "--seed", 3, "--force")
    assert result.code == 0, result.err
    assert checkpoint.read_info(folder).preset.train.seed == 3


def test_an_unknown_preset_is_one_line_listing_the_presets(
    soundmorph, loops_dir: Path, tmp_path: Path
) -> None:
    assert_error(
        soundmorph("train", loops_dir, "--out", tmp_path / "m", "--preset", "nope"), "nope", "paper, default"
    )
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("option", "value", "word"), [("--lr", "0.1", "learning_rate"), ("--batch-size", "4", "batch_size")]
)
def test_resume_refuses_settings_it_would_ignore(
    soundmorph, cli_model: Path, loops_dir: Path, tmp_path: Path, option: str, value: str, word: str
) -> None:
    model = tmp_path / "model"
    shutil.copytree(cli_model, model)
    before = fingerprint(model)
    result = soundmorph("train", loops_dir, "--out", model, "--resume", "--epochs", 2, option, value, *CPU)
    assert_error(result, "resume", word)
    assert fingerprint(model) == before


def test_list_reads_only_headers(soundmorph, loops_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args, **kwargs):
        raise AssertionError("list decoded a file")

    monkeypatch.setattr(audio.io, "read", no_decoding)
    result = soundmorph("list", loops_dir)
    assert result.code == 0 and "6 usable, 0 skipped" in result.out


def test_train_resume_without_state(soundmorph, loops_dir: Path, tmp_path: Path) -> None:
    assert_error(
        soundmorph("train", loops_dir, "--out", tmp_path / "new", "--resume", *CPU), "nothing to resume"
    )


def test_train_on_hires_stereo(soundmorph, tmp_path: Path) -> None:
    for seed in (1, 2):
        write_hires_stereo(tmp_path / "sounds" / f"hires{seed}.wav", seed)
    listed = soundmorph("list", tmp_path / "sounds")
    assert "96000" in listed.out and "2 usable" in listed.out
    result = soundmorph("train", tmp_path / "sounds", "--out", tmp_path / "model", "--epochs", 1, *CPU)
    assert result.code == 0, result.err
    assert checkpoint.read_info(tmp_path / "model").preset.audio.sample_rate == SAMPLE_RATE


@pytest.mark.parametrize("case", ["missing", "empty", "only broken files"])
def test_train_on_an_unusable_folder(soundmorph, tmp_path: Path, case: str) -> None:
    folder = tmp_path / "sounds"
    if case != "missing":
        folder.mkdir()
    if case == "only broken files":
        for kind in BAD_KINDS:
            write_bad(folder / f"{kind.replace(' ', '_')}.wav", kind)
    word = {
        "missing": "no such folder",
        "empty": "0 usable",
        "only broken files": f"{len(BAD_KINDS)} skipped",
    }
    assert_error(soundmorph("train", folder, "--out", tmp_path / "model", *CPU), str(folder), word[case])
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_train_on_a_single_broken_file_names_the_reason(soundmorph, tmp_path: Path, kind: str) -> None:
    reason = write_bad(tmp_path / "sounds" / "clip.wav", kind)
    assert_error(
        soundmorph("train", tmp_path / "sounds", "--out", tmp_path / "model", *CPU), "clip.wav", reason
    )


@pytest.mark.parametrize(
    ("option", "value", "word"),
    [
        ("--preset", "fancy", "fancy"),
        ("--epochs", "-1", "epochs"),
        ("--holdout", "1.5", "holdout"),
        ("--clip-seconds", "0.1", "clip length"),
        ("--batch-size", "0", "batch"),
        ("--device", "toaster", "toaster"),
    ],
)
def test_train_refuses_bad_settings(
    soundmorph, loops_dir: Path, tmp_path: Path, option: str, value: str, word: str
) -> None:
    assert_error(soundmorph("train", loops_dir, "--out", tmp_path / "model", option, value), word)


# --- evaluate -----------------------------------------------------------------------------------


def test_evaluate_prints_a_table(soundmorph, tiny_model) -> None:
    result = soundmorph("evaluate", tiny_model.folder, *CPU)
    assert result.code == 0, result.err
    for name in tiny_model.result.library.names:
        assert name in result.out
    for system in ("model", "mean spectrogram", "PCA-16"):
        assert system in result.out
    assert "holdout" in result.out


def test_evaluate_json_is_standard_json(soundmorph, tiny_model) -> None:
    result = soundmorph("evaluate", tiny_model.folder, "--json", *CPU)
    assert result.code == 0, result.err

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    report = json.loads(result.out, parse_constant=refuse)
    assert [clip["name"] for clip in report["clips"]] == tiny_model.result.library.names
    assert set(report["summary"]) == {"train", "holdout"}


def test_evaluate_on_another_folder(soundmorph, tiny_model, tmp_path: Path) -> None:
    write_hires_stereo(tmp_path / "hires.wav", seed=4)
    result = soundmorph("evaluate", tiny_model.folder, tmp_path, "--json", *CPU)
    assert result.code == 0, result.err
    assert [clip["split"] for clip in json.loads(result.out)["clips"]] == ["other"]


def test_evaluate_on_an_empty_folder(soundmorph, tiny_model, tmp_path: Path) -> None:
    assert_error(soundmorph("evaluate", tiny_model.folder, tmp_path, *CPU), "0 usable")


# --- morph --------------------------------------------------------------------------------------


def test_morph_writes_a_wav_and_a_plot(soundmorph, tiny_model, tmp_path: Path) -> None:
    wav, png = tmp_path / "m.wav", tmp_path / "m.png"
    result = soundmorph("morph", tiny_model.folder, 0, 1, "--alpha", 0.3, "--out", wav, "--plot", png, *CPU)
    assert result.code == 0, result.err
    assert f"wrote {wav}" in result.out and f"wrote {png}" in result.out
    assert wav_info(wav) == (SAMPLE_RATE, 1, SAMPLE_RATE)
    assert png.read_bytes().startswith(PNG_SIGNATURE)


def test_morph_by_file_name_and_unseen_path(soundmorph, tiny_model, tmp_path: Path) -> None:
    write_hires_stereo(tmp_path / "hires.wav", seed=5)  # valid input from outside the library
    name = tiny_model.result.library.names[2]
    result = soundmorph(
        "morph", tiny_model.folder, name, tmp_path / "hires.wav", "--out", tmp_path / "m.wav", *FAST
    )
    assert result.code == 0, result.err
    assert wav_info(tmp_path / "m.wav") == (SAMPLE_RATE, 1, SAMPLE_RATE)


def test_morph_with_sampled_latents(soundmorph, tiny_model, tmp_path: Path) -> None:
    result = soundmorph(
        "morph", tiny_model.folder, 0, 1, "--sample", "--seed", 2, "--out", tmp_path / "m.wav", *FAST
    )
    assert result.code == 0, result.err


def test_morph_does_not_overwrite_without_force(soundmorph, tiny_model, tmp_path: Path) -> None:
    wav = tmp_path / "m.wav"
    assert soundmorph("morph", tiny_model.folder, 0, 1, "--out", wav, *FAST).code == 0
    before = wav.read_bytes()
    assert_error(soundmorph("morph", tiny_model.folder, 2, 3, "--out", wav, *FAST), str(wav), "exists")
    assert wav.read_bytes() == before
    assert soundmorph("morph", tiny_model.folder, 2, 3, "--out", wav, "--force", *FAST).code == 0
    assert wav.read_bytes() != before


@pytest.mark.parametrize("alpha", ["-0.1", "1.5"])
def test_morph_refuses_alpha_outside_the_unit_interval(
    soundmorph, tiny_model, tmp_path: Path, alpha: str
) -> None:
    out = tmp_path / "m.wav"
    assert_error(
        soundmorph("morph", tiny_model.folder, 0, 1, "--alpha", alpha, "--out", out, *CPU), "alpha", alpha
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("source", "words"), [("99", ("no sound 99", "0..5")), ("-1", ("-1", "not a library index"))]
)
def test_morph_refuses_an_unknown_index(
    soundmorph, tiny_model, tmp_path: Path, source: str, words: tuple[str, ...]
) -> None:
    assert_error(soundmorph("morph", tiny_model.folder, 0, source, "--out", tmp_path / "m.wav", *CPU), *words)


def test_morph_refuses_a_missing_source(soundmorph, tiny_model, tmp_path: Path) -> None:
    assert_error(
        soundmorph("morph", tiny_model.folder, 0, tmp_path / "ghost.wav", "--out", tmp_path / "m.wav", *CPU),
        "ghost.wav",
    )


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_morph_refuses_a_broken_source_file(soundmorph, tiny_model, tmp_path: Path, kind: str) -> None:
    reason = write_bad(tmp_path / "bad.wav", kind)
    result = soundmorph(
        "morph", tiny_model.folder, 0, tmp_path / "bad.wav", "--out", tmp_path / "m.wav", *CPU
    )
    assert_error(result, "bad.wav", reason)
    assert not (tmp_path / "m.wav").exists()


def test_a_wav_cut_short_in_its_data_is_read_as_far_as_it_goes(
    soundmorph, tiny_model, tmp_path: Path
) -> None:
    path = tmp_path / "cut.wav"
    audio.write(path, synth.drum_loop(seed=6)[:SAMPLE_RATE], sample_rate=SAMPLE_RATE)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert soundmorph("morph", tiny_model.folder, 0, path, "--out", tmp_path / "m.wav", *FAST).code == 0


@pytest.mark.parametrize(
    ("option", "value"), [("--momentum", "1.5"), ("--momentum", "-0.5"), ("--iterations", "-1")]
)
def test_morph_refuses_bad_griffin_lim_options(
    soundmorph, tiny_model, tmp_path: Path, option: str, value: str
) -> None:
    result = soundmorph("morph", tiny_model.folder, 0, 1, option, value, "--out", tmp_path / "m.wav", *CPU)
    assert_error(result, value)


# --- model folders ------------------------------------------------------------------------------


def test_a_folder_that_is_not_a_model(soundmorph, loops_dir: Path, tmp_path: Path) -> None:
    assert_error(
        soundmorph("morph", loops_dir, 0, 1, "--out", tmp_path / "m.wav", *CPU), "config.json", "missing"
    )


def test_a_missing_model_folder(soundmorph, tmp_path: Path) -> None:
    assert_error(soundmorph("generate", tmp_path / "nomodel", "--out", tmp_path / "g", *CPU), "nomodel")


@pytest.mark.parametrize(
    ("file", "content"),
    [
        ("model.safetensors", np.random.default_rng(0).bytes(2048)),
        ("config.json", b"{ not json"),
        ("library.json", b"[]"),
    ],
)
def test_a_corrupted_model_folder(
    soundmorph, model_copy: Path, tmp_path: Path, file: str, content: bytes
) -> None:
    folder = model_copy
    (folder / file).write_bytes(content)
    assert_error(soundmorph("morph", folder, 0, 1, "--out", tmp_path / "m.wav", *CPU), file)


def test_a_model_folder_of_an_unknown_format(soundmorph, model_copy: Path) -> None:
    folder = model_copy
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(config))
    assert_error(soundmorph("evaluate", folder, *CPU), "config.json", "format version 99")


# --- sweep, blend, glide, generate --------------------------------------------------------------


def test_sweep_writes_each_step_and_a_grid(soundmorph, tiny_model, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = soundmorph("sweep", tiny_model.folder, 0, 1, "--steps", 3, "--out", out, *FAST)
    assert result.code == 0, result.err
    assert len(list(out.glob("*.wav"))) == 3 and len(list(out.glob("*.png"))) == 4
    assert (out / "grid.png").read_bytes().startswith(PNG_SIGNATURE)
    for wav in out.glob("*.wav"):
        assert wav_info(wav) == (SAMPLE_RATE, 1, SAMPLE_RATE)
    assert result.out.count("wrote") == 8
    figures = json.loads((out / "quality.json").read_text())
    assert {"intermediateness", "smoothness_cv", "rho_a", "rho_b"} <= set(figures)
    assert "morph quality:" in result.out

    before = fingerprint(out)
    assert_error(soundmorph("sweep", tiny_model.folder, 0, 1, "--steps", 3, "--out", out, *FAST), "exists")
    assert fingerprint(out) == before


@pytest.mark.parametrize("steps", ["1", "0"])
def test_sweep_needs_two_steps(soundmorph, tiny_model, tmp_path: Path, steps: str) -> None:
    result = soundmorph("sweep", tiny_model.folder, 0, 1, "--steps", steps, "--out", tmp_path / "s", *CPU)
    assert_error(result, "2 steps")
    assert not (tmp_path / "s").exists()


def test_blend_writes_a_wav(soundmorph, tiny_model, tmp_path: Path) -> None:
    wav = tmp_path / "b.wav"
    result = soundmorph(
        "blend", tiny_model.folder, "0:1", "1:2", "3:0.5", "--out", wav, "--plot", tmp_path / "b.png", *FAST
    )
    assert result.code == 0, result.err
    assert wav_info(wav) == (SAMPLE_RATE, 1, SAMPLE_RATE)
    before = wav.read_bytes()
    assert_error(soundmorph("blend", tiny_model.folder, "0:1", "--out", wav, *FAST), "exists")
    assert wav.read_bytes() == before


@pytest.mark.parametrize(
    ("items", "word"),
    [
        (["3"], "SOURCE:WEIGHT"),
        (["a:b"], "'b'"),
        (["0:1", ":2"], "SOURCE:WEIGHT"),
        (["0:-1"], "weights"),
        (["0:0", "1:0"], "weights"),
        (["0:1", "99:1"], "no sound 99"),
    ],
)
def test_blend_refuses_bad_items(soundmorph, tiny_model, tmp_path: Path, items: list[str], word: str) -> None:
    result = soundmorph("blend", tiny_model.folder, *items, "--out", tmp_path / "b.wav", *CPU)
    assert_error(result, word)
    assert not (tmp_path / "b.wav").exists()


def test_glide_writes_the_repeated_clip(soundmorph, tiny_model, tmp_path: Path) -> None:
    wav = tmp_path / "g.wav"
    result = soundmorph(
        "glide", tiny_model.folder, 0, 1, "--repeats", 2, "--curve", "smooth", "--out", wav, *FAST
    )
    assert result.code == 0, result.err
    assert wav_info(wav) == (SAMPLE_RATE, 1, 2 * SAMPLE_RATE)
    before = wav.read_bytes()
    assert_error(soundmorph("glide", tiny_model.folder, 0, 1, "--repeats", 2, "--out", wav, *FAST), "exists")
    assert wav.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value", "word"), [("--repeats", "0", "repeats"), ("--curve", "bounce", "bounce")]
)
def test_glide_refuses_bad_options(
    soundmorph, tiny_model, tmp_path: Path, option: str, value: str, word: str
) -> None:
    assert_error(
        soundmorph("glide", tiny_model.folder, 0, 1, option, value, "--out", tmp_path / "g.wav", *CPU), word
    )


def test_generate_writes_count_sounds_deterministically(soundmorph, tiny_model, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        result = soundmorph(
            "generate", tiny_model.folder, "--count", 2, "--seed", 3, "--out", tmp_path / folder, *FAST
        )
        assert result.code == 0, result.err
    assert len(list((tmp_path / "a").glob("*.wav"))) == 2 and len(list((tmp_path / "a").glob("*.png"))) == 2
    for wav in (tmp_path / "a").glob("*.wav"):
        assert wav_info(wav) == (SAMPLE_RATE, 1, SAMPLE_RATE)
        assert wav.read_bytes() == (tmp_path / "b" / wav.name).read_bytes()

    before = fingerprint(tmp_path / "a")
    result = soundmorph(
        "generate", tiny_model.folder, "--count", 2, "--seed", 3, "--out", tmp_path / "a", *FAST
    )
    assert_error(result, "exists")
    assert fingerprint(tmp_path / "a") == before


def test_generate_needs_a_positive_count(soundmorph, tiny_model, tmp_path: Path) -> None:
    assert_error(
        soundmorph("generate", tiny_model.folder, "--count", 0, "--out", tmp_path / "g", *CPU), "count"
    )


def test_morph_and_sweep_can_start_from_the_sources_phase(soundmorph, tiny_model, tmp_path: Path) -> None:
    wav = tmp_path / "m.wav"
    result = soundmorph("morph", tiny_model.folder, 0, 1, "--phase-from-source", "--out", wav, *FAST)
    assert result.code == 0, result.err
    assert wav_info(wav) == (SAMPLE_RATE, 1, SAMPLE_RATE)
    out = tmp_path / "sweep"
    result = soundmorph(
        "sweep", tiny_model.folder, 0, 1, "--steps", 3, "--phase-from-source", "--out", out, *FAST
    )
    assert result.code == 0, result.err
    assert len(list(out.glob("*.wav"))) == 3


def test_phase_method_is_chosen_by_name(soundmorph, tiny_model, tmp_path: Path) -> None:
    for method in ("gl", "fgla"):
        result = soundmorph(
            "morph", tiny_model.folder, 0, 1, "--phase", method, "--out", tmp_path / f"{method}.wav", *FAST
        )
        assert result.code == 0, result.err
    assert sf.read(tmp_path / "gl.wav")[0].tolist() != sf.read(tmp_path / "fgla.wav")[0].tolist()
    bad = soundmorph("morph", tiny_model.folder, 0, 1, "--phase", "magic", "--out", tmp_path / "x.wav", *FAST)
    assert_error(bad, "magic", "gl", "fgla")


def test_every_render_command_takes_phase_and_periodic(soundmorph, tiny_model, tmp_path: Path) -> None:
    options = ("--phase", "pghi", "--periodic", *FAST)
    commands = [
        ("morph", tiny_model.folder, 0, 1, "--out", tmp_path / "m.wav"),
        ("sweep", tiny_model.folder, 0, 1, "--steps", 2, "--out", tmp_path / "sweep"),
        ("blend", tiny_model.folder, "0:1", "1:1", "--out", tmp_path / "b.wav"),
        ("glide", tiny_model.folder, 0, 1, "--repeats", 2, "--out", tmp_path / "g.wav"),
        ("generate", tiny_model.folder, "--count", 1, "--out", tmp_path / "gen"),
    ]
    for command in commands:
        result = soundmorph(*command, *options)
        assert result.code == 0, (command[0], result.err)
    source = soundmorph("generate", tiny_model.folder, "--out", tmp_path / "s", "--phase", "source", *FAST)
    assert_error(source, "source")


def test_demo_prints_a_summary_with_perfect_baselines(soundmorph, tmp_path: Path) -> None:
    # PCA-16 reconstructs 3 training clips exactly: its spectral convergence is -inf (null in JSON)
    result = soundmorph("demo", "--out", tmp_path / "demo", "--clips", 4)
    assert result.code == 0, result.err
    assert "PCA-16" in result.out and "-inf" in result.out


def test_float_writes_32_bit_float_wav(soundmorph, tiny_model, tmp_path: Path) -> None:
    wav = tmp_path / "f.wav"
    result = soundmorph("morph", tiny_model.folder, 0, 1, "--float", "--out", wav, *FAST)
    assert result.code == 0, result.err
    assert sf.info(str(wav)).subtype == "FLOAT"
    out = tmp_path / "sweep"
    assert (
        soundmorph("sweep", tiny_model.folder, 0, 1, "--steps", 2, "--float", "--out", out, *FAST).code == 0
    )
    assert {sf.info(str(p)).subtype for p in out.glob("*.wav")} == {"FLOAT"}


def test_synth_writes_a_library_that_trains(soundmorph, tmp_path: Path) -> None:
    result = soundmorph("synth", tmp_path / "lib", "--count", 4, "--seed", 2)
    assert result.code == 0 and "wrote 4 loops" in result.out
    assert len(list((tmp_path / "lib").glob("*.wav"))) == 4
    assert_error(soundmorph("synth", tmp_path / "lib", "--count", 4), "not empty")
    assert_error(soundmorph("synth", tmp_path / "other", "--count", 0), "count must be")


def test_sweep_ends_at_the_sources_and_can_be_even_or_raw(soundmorph, tiny_model, tmp_path: Path) -> None:
    result = soundmorph("sweep", tiny_model.folder, 0, 1, "--steps", 5, "--out", tmp_path / "f", *FAST)
    assert result.code == 0, result.err
    even = json.loads((tmp_path / "f" / "quality.json").read_text())  # even spacing: the default
    assert even["endpoint_distance"] < 0.5 and even["smoothness_cv"] < 0.05
    linear = tmp_path / "linear"
    result = soundmorph(
        "sweep", tiny_model.folder, 0, 1, "--steps", 5, "--spacing", "linear", "--out", linear, *FAST
    )
    assert result.code == 0, result.err
    assert sorted(p.name for p in linear.glob("*.wav"))[1].endswith("_a0.25.wav")
    assert json.loads((linear / "quality.json").read_text())["endpoint_distance"] < 0.5
    raw = tmp_path / "raw"
    result = soundmorph("sweep", tiny_model.folder, 0, 1, "--steps", 5, "--raw", "--out", raw, *FAST)
    assert result.code == 0, result.err
    assert json.loads((raw / "quality.json").read_text())["endpoint_distance"] > 0.5
