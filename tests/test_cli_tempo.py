"""The tempo side of the ``soundmorph`` command: list with kind/bpm/bars, training on a beat grid,
renders of whole bars at the mixed or a given tempo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from soundmorph import api, audio, cli
from soundmorph.audio import looping, riff, synth
from soundmorph.config import SAMPLE_RATE

SLOW, FAST = 110.0, 140.0
FAST_RENDER = ("--iterations", "4", "--device", "cpu")


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def hidden_loops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2-bar loops at 110 and 140 BPM and a one-shot, named so that nothing says their tempo."""
    folder = tmp_path_factory.mktemp("hidden")
    for name, bpm, seed in [("a.wav", SLOW, 80), ("b.wav", FAST, 81), ("c.wav", 125.0, 82)]:
        audio.write(
            folder / name, synth.drum_loop(seed=seed, style="house", bpm=bpm, bars=2), sample_rate=SAMPLE_RATE
        )
    audio.write(folder / "hit.wav", synth.one_shot("snare", seed=3), sample_rate=SAMPLE_RATE)
    (folder / "notes.wav").write_bytes(b"not audio")
    return folder


@pytest.fixture(scope="module")
def loop_model(hidden_loops: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "m"
    assert (
        cli.main(["train", str(hidden_loops), "--out", str(out), "--preset", "linear", "--device", "cpu"])
        == 0
    )
    return out


def test_list_json_has_kind_bpm_and_bars(hidden_loops: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list", hidden_loops, "--json")
    assert code == 0
    listing = json.loads(out)
    sounds = {s["name"]: s for s in listing["sounds"]}
    keys = {"index", "name", "seconds", "sample_rate", "channels", "kind", "bpm", "bars"}
    keys |= {"source", "confidence", "start", "tail", "warnings"}
    assert all(set(s) == keys for s in listing["sounds"])
    assert abs(sounds["a.wav"]["bpm"] - SLOW) <= 1 and sounds["a.wav"]["bars"] == 2
    assert abs(sounds["b.wav"]["bpm"] - FAST) <= 1 and sounds["b.wav"]["bars"] == 2
    assert sounds["hit.wav"]["kind"] == "oneshot" and sounds["hit.wav"]["bpm"] is None
    assert [s["name"] for s in listing["skipped"]] == ["notes.wav"]

    code, out, _ = run(capsys, "list", hidden_loops)
    assert code == 0 and "kind" in out and "bpm" in out and "oneshot" in out and "110.00" in out


def test_list_with_a_tempo_file(
    hidden_loops: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edits = tmp_path / "t.json"
    edits.write_text(json.dumps({"a.wav": {"bpm": 55}}))
    code, out, _ = run(capsys, "list", hidden_loops, "--json", "--tempo", edits)
    assert code == 0
    first = json.loads(out)["sounds"][0]
    assert first["bpm"] == 55 and first["bars"] == 1
    code, _, err = run(capsys, "list", hidden_loops, "--tempo", tmp_path / "missing.json")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "no such tempo file" in err


def test_morph_renders_whole_bars_at_the_mixed_or_given_tempo(
    loop_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "morph",
        loop_model,
        "a.wav",
        "b.wav",
        "--alpha",
        "0.5",
        "--out",
        tmp_path / "m.wav",
        *FAST_RENDER,
    )
    assert code == 0, err
    mean = (SLOW + FAST) / 2  # the analysis finds each within 1 BPM; the model stores what it found
    clip, rate = sf.read(tmp_path / "m.wav")
    assert rate == SAMPLE_RATE
    assert abs(len(clip) - 2 * 240 / mean * SAMPLE_RATE) <= 2 * 240 / mean * SAMPLE_RATE * 0.01
    code, _, err = run(
        capsys, "morph", loop_model, "0", "1", "--bpm", "100", "--out", tmp_path / "f.wav", *FAST_RENDER
    )
    assert code == 0, err
    fixed, _ = sf.read(tmp_path / "f.wav")
    assert len(fixed) == round(4.8 * SAMPLE_RATE)  # 2 bars at 100 BPM, to the sample
    assert looping.seam_figures(fixed)["hf_rank"] < 0.99


def test_glide_sweep_blend_generate_take_a_tempo(
    loop_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars_100 = round(4.8 * SAMPLE_RATE)
    code, _, err = run(
        capsys,
        "glide",
        loop_model,
        "0",
        "1",
        "--repeats",
        "2",
        "--bpm",
        "100",
        "--out",
        tmp_path / "g.wav",
        *FAST_RENDER,
    )
    assert code == 0, err
    assert len(sf.read(tmp_path / "g.wav")[0]) == 2 * bars_100
    code, _, err = run(
        capsys, "blend", loop_model, "0:1", "1:1", "--bpm", "100", "--out", tmp_path / "b.wav", *FAST_RENDER
    )
    assert code == 0, err
    assert len(sf.read(tmp_path / "b.wav")[0]) == bars_100
    code, _, err = run(
        capsys, "sweep", loop_model, "0", "1", "--steps", "3", "--out", tmp_path / "s", *FAST_RENDER
    )
    assert code == 0, err
    lengths = [len(sf.read(path)[0]) for path in sorted((tmp_path / "s").glob("*.wav"))]
    assert lengths[0] > lengths[1] > lengths[2]  # 110 -> 125 -> 140 BPM: shorter and shorter
    code, _, err = run(
        capsys, "generate", loop_model, "--count", "1", "--bpm", "120", "--out", tmp_path / "n", *FAST_RENDER
    )
    assert code == 0, err
    assert [len(sf.read(p)[0]) for p in (tmp_path / "n").glob("*.wav")] == [4 * SAMPLE_RATE]


def test_bad_tempo_arguments_are_one_line(
    loop_model: Path, hidden_loops: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "morph", loop_model, "0", "1", "--bpm", "1000", "--out", tmp_path / "x.wav", *FAST_RENDER
    )
    assert code == 1 and len(err.strip().splitlines()) == 1 and "bpm" in err
    code, _, err = run(capsys, "train", hidden_loops, "--out", tmp_path / "y", "--bars", "0")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "bars" in err


def test_list_warns_where_a_name_is_contradicted_by_the_hits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = synth.drum_loop(seed=84, style="techno", bpm=124, bars=2)
    audio.write(
        tmp_path / "loop_93bpm.wav", synth.untrimmed(loop, lead_in=0.01, tail=0.2), sample_rate=SAMPLE_RATE
    )
    code, out, _ = run(capsys, "list", tmp_path)
    assert code == 0 and "warning: loop_93bpm.wav: name says 93 BPM; the hits say 124" in out
    code, out, _ = run(capsys, "list", tmp_path, "--json")
    (sound,) = json.loads(out)["sounds"]
    assert sound["source"] == "audio" and sound["warnings"] and sound["confidence"] < 0.5


def test_a_model_chain_loop_carries_its_tempo_in_chunks_and_name(
    loop_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mc.wav"
    code, _, err = run(
        capsys, "morph", loop_model, "0", "1", "--bpm", "100", "--chain", "model", "--out", out, *FAST_RENDER
    )
    assert code == 0, err
    found = riff.read_loop_chunks(out)
    assert found.acid_bpm == pytest.approx(100.0) and found.acid_beats == 8 and found.acid_oneshot is False
    assert found.smpl_seconds == pytest.approx((0.0, 4.8), abs=1e-4)  # the whole file, one loop
    model = api.load(loop_model, device="cpu")
    sound = model.morph(0, 1, 0.5, bpm=100, options=model.render_options.override(chain="model", n_iter=4))
    assert sound.name.endswith("_100bpm_2bars") and (sound.bpm, sound.bars) == (100.0, 2)
