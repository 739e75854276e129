"""``soundmorph export``: ONNX and TorchScript packages that reproduce the decode without soundmorph,
and the numpy example that renders a morph from one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from soundmorph import api, cli
from soundmorph.audio import spectral

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "export_numpy.py"
FILES = {
    "onnx": ["decoder.onnx", "encoder.onnx", "latents.npy", "export.json"],
    "torchscript": ["decoder.pt", "encoder.pt", "latents.npy", "export.json"],
}
RTOL = 1e-4  # relative to the largest magnitude of the decode

# Runs in a fresh interpreter: decode and encode with the exported files only, never soundmorph.
RUNNER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    folder, fmt = Path(sys.argv[1]), sys.argv[2]
    settings = json.loads((folder / "export.json").read_text())
    z = np.load(folder / "z.npy")
    mag = np.load(folder / "mag.npy")
    if fmt == "onnx":
        import onnxruntime
        run = lambda name, x: onnxruntime.InferenceSession(
            str(folder / settings["files"][name]), providers=["CPUExecutionProvider"]
        ).run(None, {settings["inputs"][name]: x})[0]
    else:
        import torch
        load = lambda name: torch.jit.load(str(folder / settings["files"][name]))
        run = lambda name, x: load(name)(torch.from_numpy(x)).numpy()
    np.save(folder / "decoded.npy", run("decoder", z))
    np.save(folder / "encoded.npy", run("encoder", mag))
    assert "soundmorph" not in sys.modules, "the runner imported soundmorph"
    """
)


def run_cli(*args: object) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "soundmorph", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def model(tiny_model) -> api.SoundModel:
    return api.load(tiny_model.folder, device="cpu")


@pytest.fixture(scope="module")
def packages(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model exported in both formats by the CLI."""
    pytest.importorskip("onnx")
    out = tmp_path_factory.mktemp("export")
    made = {}
    for fmt in FILES:
        code = cli.main(["export", str(tiny_model.folder), str(out / fmt), "--format", fmt])
        assert code == 0
        made[fmt] = out / fmt
    return made


@pytest.mark.parametrize("fmt", list(FILES))
def test_export_writes_the_package(packages: dict[str, Path], model: api.SoundModel, fmt: str) -> None:
    folder = packages[fmt]
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES[fmt])
    settings = json.loads((folder / "export.json").read_text())
    assert settings["format"] == fmt and settings["names"] == model.names
    assert settings["latent_size"] == model.latent_size
    a = model.preset.audio
    assert settings["stft"]["n_fft"] == a.n_fft and settings["stft"]["hop_length"] == a.hop_length
    assert settings["stft"]["sample_rate"] == model.sample_rate
    assert settings["clip"] == {"samples": model.clip_samples, "frames": model.info.n_frames}
    assert settings["grid"]["mode"] == model.preset.tempo.mode
    np.testing.assert_array_equal(np.load(folder / "latents.npy"), model.latents.numpy())


@pytest.mark.parametrize("fmt", list(FILES))
def test_the_package_reproduces_the_decode_without_soundmorph(
    packages: dict[str, Path], model: api.SoundModel, fmt: str, tmp_path: Path
) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    folder = tmp_path / fmt
    folder.mkdir()
    for path in packages[fmt].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    latents = model.latents
    z = np.stack([latents[0].numpy(), (0.3 * latents[1] + 0.7 * latents[2]).numpy(), latents[3].numpy()])
    clip = model.original(4).clip
    mag = model.magnitudes([clip]).numpy()
    np.save(folder / "z.npy", z.astype(np.float32))
    np.save(folder / "mag.npy", mag.astype(np.float32))
    (folder / "runner.py").write_text(RUNNER)
    proc = subprocess.run(
        [sys.executable, str(folder / "runner.py"), str(folder), fmt],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    expected = model.decode(torch.from_numpy(z)).numpy()
    decoded = np.load(folder / "decoded.npy")
    assert decoded.shape == expected.shape
    assert np.abs(decoded - expected).max() <= RTOL * np.abs(expected).max()
    encoded = np.load(folder / "encoded.npy")[0]
    wanted = model.encode_audio(clip).numpy()
    assert np.abs(encoded - wanted).max() <= RTOL * np.abs(wanted).max()


@pytest.mark.parametrize("fmt", list(FILES))
def test_the_numpy_example_renders_a_morph(
    packages: dict[str, Path], model: api.SoundModel, fmt: str, tmp_path: Path
) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out = tmp_path / "between.wav"
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            str(packages[fmt]),
            "0",
            "2",
            "--alpha",
            "0.3",
            "--out",
            str(out),
            "--iterations",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(out, dtype="float32")
    assert rate == model.sample_rate and audio.shape == (model.clip_samples,)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3
    # it is the morph: its magnitude is near the decoded one (Griffin-Lim is not exact)
    a = model.preset.audio
    z = 0.7 * model.latents[0] + 0.3 * model.latents[2]
    wanted = model.decode(z[None])[0]
    got = spectral.stft(
        torch.from_numpy(audio), n_fft=a.n_fft, hop_length=a.hop_length, win_length=a.win_length
    ).abs()

    def distance(mag: torch.Tensor) -> float:
        """Spectral convergence at the best gain (the WAV is scaled down when it would clip)."""
        fitted = mag * (got * mag).sum() / mag.square().sum()
        return float((got - fitted).norm() / fitted.norm())

    error = distance(wanted)
    others = [distance(model.decode(z[None])[0]) for z in model.latents[3:]]
    # near the morph (a demo model gives 0.07-0.1), nearer than to any other sound of the library
    assert error < 0.5 and error < min(others), (error, others)


def test_export_refuses_to_overwrite_and_names_bad_formats(tiny_model, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    assert cli.main(["export", str(tiny_model.folder), str(out), "--format", "torchscript"]) == 0
    code, _, err = run_cli("export", tiny_model.folder, out, "--format", "torchscript")
    assert code == 1 and err.count("\n") == 1 and "not empty" in err and "--force" in err
    code, _, err = run_cli("export", tiny_model.folder, out, "--format", "torchscript", "--force")
    assert code == 0, err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, _, err = run_cli("export", tiny_model.folder, mine, "--force")
    assert code == 1 and "not a soundmorph export folder" in err and (mine / "notes.txt").exists()
    code, _, err = run_cli("export", tiny_model.folder, tmp_path / "x", "--format", "tflite")
    assert code == 1 and err.count("\n") == 1 and "tflite" in err
    with pytest.raises(api.SoundmorphError, match="unknown export format"):
        api.export(tiny_model.folder, tmp_path / "y", format="tflite")
