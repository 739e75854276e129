"""A hostile-but-fair campaign against the CLI: bad files, bad arguments, bad output paths and bad
model folders, each run in-process through :func:`soundmorph.cli.main`.

Every case asserts the same contract:

* the exit status is 1 for a refused input (0 where the input is valid, or usable with a warning);
* stderr holds exactly one line when the status is not 0 (``soundmorph: error: ...``) and at most one
  (``soundmorph: warning: ...``) when it is 0; never a traceback;
* nothing the user had is changed or deleted (every entry of the case's folder is compared, by kind
  and content, before and after), and a refused command writes nothing at all.

The bad files are generated here; the model is the session's tiny model (see ``conftest.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundmorph import cli
from soundmorph.audio import synth
from soundmorph.config import SAMPLE_RATE

RATE = SAMPLE_RATE
FAST = ("--iterations", "2", "--device", "cpu")


# --- the contract -------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (not following links) -> its kind and, for files, a hash."""
    entries: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            mode = os.lstat(path).st_mode
            key = path.relative_to(root).as_posix()
            if stat.S_ISLNK(mode):
                entries[key] = f"link -> {os.readlink(path)}"
            elif stat.S_ISREG(mode):
                entries[key] = "file " + hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISDIR(mode):
                entries[key] = "folder"
            else:
                entries[key] = f"special {stat.S_IFMT(mode)}"
    return entries


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> Run:
    capsys.readouterr()
    code = cli.main(args)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def check_contract(result: Run, *, codes: frozenset[int], word: str | None) -> None:
    assert "Traceback" not in result.err + result.out, result
    assert result.code in codes, result
    lines = result.err.splitlines()
    if result.code != 0:
        assert len(lines) == 1, result.err
        assert lines[0].startswith("soundmorph: error: "), lines[0]
    else:  # training also draws a progress bar on stderr; what soundmorph says is at most one warning
        said = [line for line in lines if "epoch/s" not in line and line.strip()]
        assert len(said) <= 1, result.err
        assert all(line.startswith("soundmorph: warning: ") for line in said), said
    if word is not None:
        assert word.lower() in result.err.lower(), (word, result.err)


# --- bad files ----------------------------------------------------------------------------------


def loop(seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    return synth.drum_loop(seed=3, sample_rate=rate)[: round(seconds * rate)]


def wav_bytes(samples: np.ndarray, rate: int = RATE, subtype: str = "PCM_16") -> bytes:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"campaign_{os.getpid()}.wav"
    sf.write(path, samples, rate, subtype=subtype)
    data = path.read_bytes()
    path.unlink()
    return data


def with_header(data: bytes, *, rate: int | None = None, channels: int | None = None) -> bytes:
    """A PCM WAV whose header declares another rate or channel count than its data has."""
    out = bytearray(data)
    if channels is not None:
        out[22:24] = struct.pack("<H", channels)
    if rate is not None:
        out[24:28] = struct.pack("<I", rate)
    return bytes(out)


def with_data_size(data: bytes, size: int) -> bytes:
    out = bytearray(data)
    at = out.index(b"data")
    out[at + 4 : at + 8] = struct.pack("<I", size)
    return bytes(out)


def write_flac(path: Path, rate: int, channels: int, seconds: float) -> None:
    frames = round(rate * seconds)
    sf.write(path, np.tile(loop(frames / RATE)[:, None], (1, channels))[:frames], rate, format="FLAC")


@dataclass(frozen=True)
class BadFile:
    """A generated file a user might hand over, and what becomes of it as a morph source."""

    name: str
    suffix: str
    make: Callable[[Path], None]
    usable: bool = False  # True: read (maybe with a warning); False: refused with one line
    word: str | None = None  # a word of the error (or warning) line
    header_ok: bool = False  # its header reads (api.list_sounds shows it), decoding refuses it


def _bytes(data: Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data())


BAD_FILES = [
    BadFile("random bytes", ".wav", _bytes(lambda: np.random.default_rng(0).bytes(5000)), word="unreadable"),
    BadFile("text", ".wav", _bytes(lambda: b"not audio at all\n" * 40), word="unreadable"),
    BadFile("zero bytes", ".wav", _bytes(lambda: b""), word="unreadable"),
    BadFile(
        "header only",
        ".wav",
        _bytes(lambda: wav_bytes(np.zeros(0, np.float32))),
        word="empty",
        header_ok=True,
    ),
    BadFile("30-byte header", ".wav", _bytes(lambda: wav_bytes(loop())[:30]), word="unreadable"),
    BadFile("1 Hz header", ".wav", _bytes(lambda: with_header(wav_bytes(loop(4.0)), rate=1)), word="1 Hz"),
    BadFile("999 Hz header", ".wav", _bytes(lambda: with_header(wav_bytes(loop()), rate=999)), word="999 Hz"),
    BadFile("800 kHz header", ".wav", _bytes(lambda: with_header(wav_bytes(loop()), rate=800_000))),
    BadFile("4 GHz header", ".wav", _bytes(lambda: with_header(wav_bytes(loop()), rate=4_000_000_000))),
    BadFile("0 channels header", ".wav", _bytes(lambda: with_header(wav_bytes(loop()), channels=0))),
    BadFile("65535 channels header", ".wav", _bytes(lambda: with_header(wav_bytes(loop()), channels=65535))),
    BadFile(
        "65 channels",
        ".wav",
        lambda p: sf.write(p, np.full((64, 65), 0.1, np.float32), RATE, subtype="FLOAT"),
    ),
    BadFile("8 ch 655 kHz FLAC", ".flac", lambda p: write_flac(p, 655_000, 8, 0.3), usable=True),
    BadFile(
        "truncated data", ".wav", _bytes(lambda: wav_bytes(loop())[:RATE]), usable=True, word="truncated"
    ),
    BadFile(
        "huge declared data",
        ".wav",
        _bytes(lambda: with_data_size(wav_bytes(loop()), 0xFFFFFFF0)),
        usable=True,
        word="truncated",
    ),
    BadFile(
        "DC only", ".wav", _bytes(lambda: wav_bytes(np.full(RATE, 0.3, np.float32))), usable=True, word="DC"
    ),
    BadFile(
        "silent", ".wav", _bytes(lambda: wav_bytes(np.zeros(RATE, np.float32))), word="silent", header_ok=True
    ),
    BadFile(
        "NaN samples",
        ".wav",
        _bytes(
            lambda: wav_bytes(
                np.where(np.arange(RATE) % 7 == 0, np.nan, 0.1).astype(np.float32), subtype="FLOAT"
            )
        ),
        word="not finite",
        header_ok=True,
    ),
    BadFile(
        "Inf samples",
        ".wav",
        _bytes(lambda: wav_bytes(np.full(RATE, np.inf, np.float32), subtype="FLOAT")),
        word="not finite",
        header_ok=True,
    ),
    BadFile("5 ms", ".wav", _bytes(lambda: wav_bytes(loop(0.005))), word="too short", header_ok=True),
    BadFile("fake FLAC", ".flac", _bytes(lambda: b"fLaC" + b"\0" * 200), word="unreadable"),
    BadFile("fake MP3", ".mp3", _bytes(lambda: b"ID3\x04\0\0\0\0\0\x10" + b"\xff" * 300), word="unreadable"),
    BadFile("fake OGG", ".ogg", _bytes(lambda: b"OggS" + b"\0" * 300), word="unreadable"),
    BadFile(
        "fake AIFF", ".aiff", _bytes(lambda: b"FORM\0\0\0\x10AIFFCOMM" + b"\xff" * 40), word="unreadable"
    ),
    BadFile("8-bit", ".wav", _bytes(lambda: wav_bytes(loop(), subtype="PCM_U8")), usable=True),
    BadFile(
        "96 kHz stereo float",
        ".wav",
        lambda p: sf.write(p, np.stack([loop(1, 96_000)] * 2, 1), 96_000),
        usable=True,
    ),
    BadFile("a folder", ".wav", lambda p: p.mkdir(), word="not a file"),
    BadFile("broken link", ".wav", lambda p: p.symlink_to(p.parent / "gone.wav"), word="broken link"),
    BadFile("FIFO", ".wav", lambda p: os.mkfifo(p), word="not a file"),
    BadFile("link to a device", ".wav", lambda p: p.symlink_to("/dev/zero"), word="not a file"),
]


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """The case's folder: everything in it belongs to the "user"."""
    (tmp_path / "user").mkdir()
    return tmp_path / "user"


def run_case(
    capsys: pytest.CaptureFixture[str],
    root: Path,
    args: list[str],
    *,
    codes: frozenset[int] = frozenset({1}),
    word: str | None = None,
    replaced: str | None = None,
) -> Run:
    """Run ``args`` and check the contract; ``replaced`` names the one user file that ``--force``
    was asked to replace (and may, if soundmorph wrote it)."""
    before = snapshot(root)
    result = run_cli(capsys, args)
    check_contract(result, codes=codes, word=word)
    after = snapshot(root)
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v and k != replaced}
    assert not changed, f"user files changed: {changed}"
    if result.code != 0:
        assert after == before, f"a refused command wrote {sorted(set(after) - set(before))}"
    return result


def bad_file(case: Path, bad: BadFile) -> Path:
    folder = case / "sounds"
    folder.mkdir()
    path = folder / f"bad{bad.suffix}"
    bad.make(path)
    return path


IDS = [bad.name for bad in BAD_FILES]


@pytest.mark.parametrize("bad", BAD_FILES, ids=IDS)
def test_bad_file_as_a_morph_source(capsys, case: Path, tiny_model, bad: BadFile) -> None:
    path = bad_file(case, bad)
    args = ["morph", str(tiny_model.folder), str(path), "0", "--out", str(case / "out.wav"), *FAST]
    codes = frozenset({0}) if bad.usable else frozenset({1})
    result = run_case(capsys, case, args, codes=codes, word=bad.word)
    assert (case / "out.wav").exists() == (result.code == 0)


@pytest.mark.parametrize("bad", BAD_FILES, ids=IDS)
def test_bad_file_in_a_listed_folder(capsys, case: Path, bad: BadFile) -> None:
    path = bad_file(case, bad)
    result = run_case(capsys, case, ["list", str(path.parent)], codes=frozenset({0}))
    listed = "1 usable, 0 skipped" in result.out
    assert listed == bad.usable, result.out  # list decodes every file (its kind and tempo need the audio)
    if not listed:
        assert f"skipped {path}" in result.out


@pytest.mark.parametrize("bad", BAD_FILES, ids=IDS)
def test_bad_file_as_the_only_training_sound(capsys, case: Path, bad: BadFile) -> None:
    path = bad_file(case, bad)
    out = case.parent / "model"  # outside the user's folder: a refused run must not create it
    args = [
        "train",
        str(path.parent),
        "--out",
        str(out),
        "--epochs",
        "0",
        "--clip-seconds",
        "1",
        "--device",
        "cpu",
    ]
    result = run_case(capsys, case, args, codes=frozenset({0}) if bad.usable else frozenset({1}))
    assert out.exists() == (result.code == 0)


# --- bad arguments ------------------------------------------------------------------------------

MODEL, OUT, LIB = "{model}", "{out}", "{lib}"


@dataclass(frozen=True)
class ArgCase:
    args: tuple[str, ...]
    word: str | None = None
    codes: frozenset[int] = field(default=frozenset({1}))


def morph(*extra: str) -> tuple[str, ...]:
    return ("morph", MODEL, "0", "1", "--out", OUT, *FAST, *extra)


ARG_CASES = [
    ArgCase(()),
    ArgCase(("fly",)),
    ArgCase(("morph",)),
    ArgCase(("morph", MODEL, "0")),
    ArgCase(morph("--bogus")),
    ArgCase(morph("--alpha", "abc"), "abc"),
    ArgCase(morph("--alpha", "nan"), "alpha"),
    ArgCase(morph("--alpha", "inf"), "alpha"),
    ArgCase(morph("--alpha", "-0.1"), "alpha"),
    ArgCase(morph("--alpha", "1.5"), "alpha"),
    ArgCase(morph("--alpha", "1e999"), "alpha"),
    ArgCase(morph("--seed", str(2**70)), "seed"),
    ArgCase(morph("--seed", "-1"), "seed"),
    ArgCase(morph("--seed", "1.5"), "seed"),
    ArgCase(morph("--iterations", "-1"), "iterations"),
    ArgCase(morph("--iterations", "1000000000"), "iterations"),
    ArgCase(morph("--momentum", "1"), "momentum"),
    ArgCase(morph("--momentum", "nan"), "momentum"),
    ArgCase(morph("--device", "toaster"), "toaster"),
    ArgCase(morph("--device", "cuda:99"), "cuda"),
    ArgCase(("morph", MODEL, "²", "1", "--out", OUT, *FAST), "²"),
    ArgCase(("morph", MODEL, "٣", "1", "--out", OUT, *FAST), "٣"),
    ArgCase(("morph", MODEL, "-1", "1", "--out", OUT, *FAST)),
    ArgCase(("morph", MODEL, "99", "1", "--out", OUT, *FAST), "99"),
    ArgCase(("morph", MODEL, "1e3", "1", "--out", OUT, *FAST), "1e3"),
    ArgCase(("morph", MODEL, str(10**30), "1", "--out", OUT, *FAST)),
    ArgCase(("morph", MODEL, "", "1", "--out", OUT, *FAST)),
    ArgCase(("morph", MODEL, "no_such_sound.wav", "1", "--out", OUT, *FAST), "no_such_sound"),
    ArgCase(("sweep", MODEL, "0", "1", "--out", OUT, "--steps", "1", *FAST), "steps"),
    ArgCase(("sweep", MODEL, "0", "1", "--out", OUT, "--steps", "0", *FAST), "steps"),
    ArgCase(("sweep", MODEL, "0", "1", "--out", OUT, "--steps", "100000", *FAST), "steps"),
    ArgCase(("sweep", MODEL, "0", "1", "--out", OUT, "--steps", "2.5", *FAST), "steps"),
    ArgCase(("generate", MODEL, "--out", OUT, "--count", "0", *FAST), "count"),
    ArgCase(("generate", MODEL, "--out", OUT, "--count", "10000000", *FAST), "count"),
    ArgCase(("generate", MODEL, "--out", OUT, "--count", "-3", *FAST), "count"),
    ArgCase(("generate", MODEL, "--out", OUT, "--seed", str(2**70), *FAST), "seed"),
    ArgCase(("glide", MODEL, "0", "1", "--out", OUT, "--repeats", "0", *FAST), "repeats"),
    ArgCase(("glide", MODEL, "0", "1", "--out", OUT, "--repeats", "100000", *FAST), "repeats"),
    ArgCase(("glide", MODEL, "0", "1", "--out", OUT, "--curve", "wobbly", *FAST), "wobbly"),
    ArgCase(("blend", MODEL, "0", "--out", OUT, *FAST), "SOURCE:WEIGHT"),
    ArgCase(("blend", MODEL, "0:abc", "1:1", "--out", OUT, *FAST), "abc"),
    ArgCase(("blend", MODEL, "0:nan", "1:1", "--out", OUT, *FAST), "weight"),
    ArgCase(("blend", MODEL, "0:-1", "1:1", "--out", OUT, *FAST), "weight"),
    ArgCase(("blend", MODEL, "0:0", "1:0", "--out", OUT, *FAST), "weight"),
    ArgCase(("train", LIB, "--out", OUT, "--epochs", "-1"), "epochs"),
    ArgCase(("train", LIB, "--out", OUT, "--epochs", "1000000000"), "epochs"),
    ArgCase(("train", LIB, "--out", OUT, "--lr", "inf"), "--lr"),
    ArgCase(("train", LIB, "--out", OUT, "--lr", "nan"), "--lr"),
    ArgCase(("train", LIB, "--out", OUT, "--lr", "1e400"), "--lr"),
    ArgCase(("train", LIB, "--out", OUT, "--lr", "0"), "learning rate"),
    ArgCase(("train", LIB, "--out", OUT, "--seed", str(2**70)), "seed"),
    ArgCase(("train", LIB, "--out", OUT, "--clip-seconds", "inf"), "clip"),
    ArgCase(("train", LIB, "--out", OUT, "--clip-seconds", "nan"), "clip"),
    ArgCase(("train", LIB, "--out", OUT, "--clip-seconds", "1e9"), "clip"),
    ArgCase(("train", LIB, "--out", OUT, "--clip-seconds", "600"), "clip"),
    ArgCase(("train", LIB, "--out", OUT, "--clip-seconds", "-1"), "clip"),
    ArgCase(("train", LIB, "--out", OUT, "--batch-size", "0"), "batch"),
    ArgCase(("train", LIB, "--out", OUT, "--batch-size", "1000000000"), "batch"),
    ArgCase(("train", LIB, "--out", OUT, "--holdout", "nan"), "holdout"),
    ArgCase(("train", LIB, "--out", OUT, "--holdout", "1"), "holdout"),
    ArgCase(("train", LIB, "--out", OUT, "--preset", "fancy"), "fancy"),
    ArgCase(("train", LIB, "--out", OUT, "--device", "cuda:7"), "cuda"),
    ArgCase(("train", LIB, "--out", OUT, "--resume"), "resume"),
    ArgCase(("demo", "--out", OUT, "--clips", "1"), "clips"),
    ArgCase(("demo", "--out", OUT, "--clips", "100000000"), "clips"),
    ArgCase(("serve", MODEL, "--port", "70000"), "port"),
    ArgCase(("serve", MODEL, "--port", "-1"), "port"),
    ArgCase(("serve", MODEL, "--port", "http"), "http"),
    ArgCase(("evaluate", MODEL, "{lib}/nowhere"), "nowhere"),
    ArgCase(("list", "{lib}/nowhere"), "nowhere"),
    ArgCase(("list", "{lib}/0.wav"), "not a folder"),
]


def fill(args: tuple[str, ...], **values: Path) -> list[str]:
    return [arg.format(**{k: str(v) for k, v in values.items()}) for arg in args]


@pytest.mark.parametrize("arg_case", ARG_CASES, ids=[" ".join(c.args)[:60] or "nothing" for c in ARG_CASES])
def test_bad_arguments(capsys, case: Path, tiny_model, arg_case: ArgCase) -> None:
    lib = case / "lib"
    shutil.copytree(tiny_model.library, lib)
    (lib / "0.wav").write_bytes((lib / sorted(os.listdir(lib))[0]).read_bytes())
    args = fill(arg_case.args, model=tiny_model.folder, out=case / "out", lib=lib)
    run_case(capsys, case, args, codes=arg_case.codes, word=arg_case.word)


def test_cuda_without_cuda_is_one_line(capsys, case: Path, tiny_model, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = fill(morph("--device", "cuda"), model=tiny_model.folder, out=case / "out.wav")
    run_case(capsys, case, args, word="cuda")


# --- output paths -------------------------------------------------------------------------------


def existing_wav(path: Path) -> None:
    path.write_bytes(wav_bytes(loop(0.1)))


@dataclass(frozen=True)
class OutCase:
    name: str
    setup: Callable[[Path], None]
    out: str  # relative to the case folder ("" stays empty)
    force: bool = False
    word: str | None = None
    codes: frozenset[int] = frozenset({1})
    plot: str | None = None


OUT_CASES = [
    OutCase("empty path", lambda c: None, "", word="empty"),
    OutCase("empty path forced", lambda c: None, "", force=True, word="empty"),
    OutCase("existing folder", lambda c: (c / "dir").mkdir(), "dir", word="folder"),
    OutCase("existing folder forced", lambda c: (c / "dir").mkdir(), "dir", force=True, word="folder"),
    OutCase(
        "parent is a file", lambda c: (c / "notes").write_text("x"), "notes/out.wav", word="not a folder"
    ),
    OutCase("grandparent is a file", lambda c: (c / "n").write_text("x"), "n/a/out.wav", word="not a folder"),
    OutCase("existing WAV", lambda c: existing_wav(c / "x.wav"), "x.wav", word="--force"),
    OutCase(
        "existing WAV forced", lambda c: existing_wav(c / "x.wav"), "x.wav", force=True, codes=frozenset({0})
    ),
    OutCase(
        "user's text forced", lambda c: (c / "x.wav").write_text("mine"), "x.wav", force=True, word="WAV"
    ),
    OutCase(
        "user's FLAC forced", lambda c: write_flac(c / "song.flac", RATE, 1, 0.1), "song.flac", force=True
    ),
    OutCase("FIFO forced", lambda c: os.mkfifo(c / "p.wav"), "p.wav", force=True, word="FIFO"),
    OutCase("link forced", lambda c: (c / "l.wav").symlink_to(c.parent / "t.wav"), "l.wav", force=True),
    OutCase(
        "device forced", lambda c: (c / "d.wav").symlink_to("/dev/null"), "d.wav", force=True, word="link"
    ),
    OutCase("plot equal to out", lambda c: None, "x.wav", plot="x.wav", word="twice"),
    OutCase(
        "plot equal to out forced", lambda c: existing_wav(c / "x.wav"), "x.wav", plot="x.wav", force=True
    ),
    OutCase("plot is a folder", lambda c: (c / "p").mkdir(), "x.wav", plot="p", word="folder"),
    OutCase("plot exists", lambda c: (c / "p.png").write_bytes(b"\x89PNG\r\n\x1a\n"), "x.wav", plot="p.png"),
]


@pytest.mark.parametrize("out_case", OUT_CASES, ids=[c.name for c in OUT_CASES])
def test_morph_output_paths(capsys, case: Path, tiny_model, out_case: OutCase) -> None:
    out_case.setup(case)
    out = "" if out_case.out == "" else str(case / out_case.out)
    args = ["morph", str(tiny_model.folder), "0", "1", "--out", out, *FAST]
    args += ["--force"] if out_case.force else []
    args += ["--plot", str(case / out_case.plot)] if out_case.plot else []
    replaced = out_case.out if out_case.codes == frozenset({0}) else None
    run_case(capsys, case, args, codes=out_case.codes, word=out_case.word, replaced=replaced)


def test_dev_null_is_never_replaced(capsys, case: Path, tiny_model) -> None:
    before = os.stat("/dev/null")
    args = ["morph", str(tiny_model.folder), "0", "1", "--out", "/dev/null", "--force", *FAST]
    run_case(capsys, case, args, word="device")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_a_read_only_place_is_named(capsys, case: Path, tiny_model) -> None:
    args = ["morph", str(tiny_model.folder), "0", "1", "--out", "/proc/soundmorph.wav", *FAST]
    run_case(capsys, case, args, word="cannot write")


@pytest.mark.parametrize("command", ["sweep", "generate"])
def test_a_later_existing_file_stops_the_batch_before_it_starts(
    capsys, case: Path, tiny_model, command: str
) -> None:
    out = case / "batch"
    if command == "sweep":
        args = ["sweep", str(tiny_model.folder), "0", "1", "--steps", "3", "--out", str(out), *FAST]
    else:
        args = ["generate", str(tiny_model.folder), "--count", "3", "--out", str(out), *FAST]
    assert run_cli(capsys, args).code == 0
    last = sorted(out.glob("*.wav"))[-1]
    keep = {p.name for p in out.iterdir() if p != last}
    for name in keep:
        (out / name).unlink()
    last.write_bytes(b"user's own")
    run_case(capsys, case, args, word=last.name)
    assert {p.name for p in out.iterdir()} == {last.name}


# --- model folders ------------------------------------------------------------------------------


def test_train_force_never_deletes_the_users_files(capsys, case: Path, tiny_model) -> None:
    model = case / "model"
    shutil.copytree(tiny_model.folder, model)
    (model / "train").mkdir(exist_ok=True)
    (model / "train" / "mine.txt").write_text("keep")
    (model / "takes").mkdir()
    (model / "takes" / "a.wav").write_bytes(wav_bytes(loop(0.1)))
    keep = {k: v for k, v in snapshot(case).items() if "mine" in k or "takes" in k}
    args = [
        "train",
        str(tiny_model.library),
        "--out",
        str(model),
        "--force",
        "--epochs",
        "0",
        "--clip-seconds",
        "1",
    ]
    result = run_cli(capsys, [*args, "--device", "cpu"])
    check_contract(result, codes=frozenset({0}), word=None)
    after = snapshot(case)
    assert {k: after.get(k) for k in keep} == keep


@pytest.mark.parametrize(
    "setup",
    [
        lambda m: (m / "config.json").write_text("{broken"),
        lambda m: (m / "config.json").write_text('{"format_version": 99}'),
        lambda m: (m / "config.json").unlink(),
        lambda m: (m / "model.safetensors").write_bytes(b"\x80\x04pickle"),
        lambda m: (m / "model.safetensors").unlink(),
        lambda m: (m / "library.json").write_text("[1, 2]"),
        lambda m: (m / "library.json").write_text('{"root": 5, "files": "x"}'),
    ],
    ids=[
        "config broken",
        "unknown format",
        "no config",
        "pickle weights",
        "no weights",
        "library list",
        "library types",
    ],
)
def test_a_broken_model_folder(capsys, case: Path, tiny_model, setup) -> None:
    model = case / "model"
    shutil.copytree(tiny_model.folder, model, ignore=shutil.ignore_patterns("train"))
    setup(model)
    args = ["morph", str(model), "0", "1", "--out", str(case.parent / "out.wav"), *FAST]
    run_case(capsys, case, args)


@pytest.mark.parametrize("name", ["../outside.wav", "/etc/passwd", "sub/../../outside.wav"])
def test_library_files_outside_the_root_are_refused(capsys, case: Path, tiny_model, name: str) -> None:
    model = case / "model"
    shutil.copytree(tiny_model.folder, model, ignore=shutil.ignore_patterns("train"))
    library = json.loads((model / "library.json").read_text())
    library["root"] = str(case / "lib")
    (case / "lib").mkdir()
    existing_wav(case / "outside.wav")
    library["files"][0]["name"] = name
    (model / "library.json").write_text(json.dumps(library))
    args = [
        "morph",
        str(model),
        "0",
        "1",
        "--out",
        str(case.parent / "out.wav"),
        "--phase-from-source",
        *FAST,
    ]
    run_case(capsys, case, args, word="outside")
