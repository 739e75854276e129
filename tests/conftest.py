"""Shared fixtures: generated drum loops and a tiny model trained on them, built once per session.

Session fixtures are shared by many tests, so no test may write into them: a test that changes a
model folder or a library copies it into its own ``tmp_path`` first (``shutil.copytree``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from soundmorph import audio, data, workflow
from soundmorph.audio import synth
from soundmorph.audio import tempo as tempo_analysis
from soundmorph.audio.io import Skipped
from soundmorph.audio.tempo import Tempo
from soundmorph.config import SAMPLE_RATE, Preset, TempoConfig, clip_seconds_from_lengths, get_preset
from soundmorph.data import cache
from soundmorph.errors import AudioError
from soundmorph.limits import MAX_CLIP_SECONDS, READ_MARGIN_SECONDS

CLIP_SECONDS = 1.0  # every test clip; the model's clip length
N_LOOPS = 6
HOLDOUT = 0.2  # of 6 loops: 1 held out


def make_tiny_preset(**train: object) -> Preset:
    """The default preset shrunk for tests: 8 channels, 1-s clips, 2 epochs (``train`` overrides)."""
    return get_preset("default").replace(
        audio={"clip_seconds": CLIP_SECONDS},
        model={"channels": 8},
        train={"epochs": 2, **train},
    )


@dataclass
class Scanned:
    """The usable sounds of a folder decoded in float at one rate, in index order: the tests' own
    reading of a library, a reference for what the package makes of it through its int16 cache."""

    root: Path
    sample_rate: int
    names: list[str]
    clips: list[np.ndarray]  # mono float32, up to the longest clip a model may have
    skipped: list[Skipped]

    def __len__(self) -> int:
        return len(self.names)

    def fitted(self, n_samples: int) -> np.ndarray:
        """Every clip cropped or zero-padded to ``n_samples``: [clips, n_samples] float32."""
        return np.stack([audio.fit_length(clip, n_samples) for clip in self.clips])

    def median_seconds(self) -> float:
        return clip_seconds_from_lengths([len(clip) for clip in self.clips], self.sample_rate)

    def analyse_tempo(self, overrides: dict[str, dict] | None = None) -> list[Tempo]:
        """Every clip's kind, tempo and bars, with per-file ``overrides``."""
        found = [
            tempo_analysis.analyse(clip, sample_rate=self.sample_rate, name=name)
            for name, clip in zip(self.names, self.clips, strict=True)
        ]
        seconds = [len(clip) / self.sample_rate for clip in self.clips]
        return data.apply_overrides(self.names, found, seconds, overrides, root=self.root)

    def on_grid(self, config: TempoConfig, n_samples: int) -> np.ndarray:
        """Every clip on the grid of a resolved ``config``: [clips, n_samples] float32."""
        rate = self.sample_rate
        placed = zip(self.clips, self.analyse_tempo(), strict=True)
        return np.stack([data.fit_to_grid(c, t, config, n_samples, sample_rate=rate) for c, t in placed])


def scan_folder(folder: Path, *, sample_rate: int) -> Scanned:
    """:class:`Scanned` of ``folder``: unusable files skipped with their reason."""
    scanned = Scanned(Path(folder), sample_rate, [], [], [])
    paths, scanned.skipped = audio.walk_audio(folder)
    for path in paths:
        try:
            clip = audio.read(
                path, sample_rate=sample_rate, max_seconds=MAX_CLIP_SECONDS + READ_MARGIN_SECONDS
            )
        except AudioError as error:
            scanned.skipped.append(Skipped.from_error(path, error))
        else:
            scanned.names.append(path.relative_to(folder).as_posix())
            scanned.clips.append(clip)
    return scanned


@pytest.fixture(scope="session")
def scan() -> Callable[..., Scanned]:
    """``scan(folder, sample_rate=...)`` -> :class:`Scanned`, the tests' reference reading of a folder."""
    return scan_folder


@pytest.fixture(scope="session", autouse=True)
def cache_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Decoded-audio caches of the whole session go to a temporary folder, never to ~/.cache."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cache.ENV_FOLDER, str(folder))
        yield folder


@pytest.fixture(scope="session")
def tiny_preset() -> Callable[..., Preset]:
    """``tiny_preset(**train_overrides)`` -> a small, fast preset."""
    return make_tiny_preset


def fingerprint(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def assert_untouched(folder: Path, before: dict[str, bytes]) -> None:
    """Shared fixtures are read-only: a test that changed ``folder`` fails the session's teardown."""
    assert fingerprint(folder) == before, f"a test changed the shared fixture {folder}; copy it first"


@pytest.fixture(scope="session")
def loops_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder of 6 generated 1-s drum loops (16-bit WAV at 22,050 Hz), one style after another."""
    folder = tmp_path_factory.mktemp("loops")
    for spec in synth.library_specs(N_LOOPS, seed=0):
        clip = audio.fit_length(synth.render(spec), round(CLIP_SECONDS * SAMPLE_RATE))
        audio.write(folder / f"{spec.name}.wav", clip, sample_rate=SAMPLE_RATE)
    before = fingerprint(folder)
    yield folder
    assert_untouched(folder, before)


@dataclass(frozen=True)
class TrainedModel:
    folder: Path  # the model folder
    library: Path  # the folder it was trained on
    preset: Preset
    result: workflow.TrainResult


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, loops_dir: Path) -> Iterator[TrainedModel]:
    """A tiny model trained on :func:`loops_dir` for 2 epochs on the CPU, with one clip held out."""
    preset = make_tiny_preset(holdout=HOLDOUT)
    out = tmp_path_factory.mktemp("models") / "tiny"
    result = workflow.train(loops_dir, out, preset=preset, device="cpu", progress=False)
    before = fingerprint(out)
    yield TrainedModel(out, loops_dir, preset, result)
    assert_untouched(out, before)


@pytest.fixture
def model_copy(tiny_model: TrainedModel, tmp_path: Path) -> Path:
    """A private copy of the tiny model folder that a test may change (without ``train/``: a model
    folder loads without its training state, and the copy is a third of the size)."""
    folder = tmp_path / "model_copy"
    shutil.copytree(tiny_model.folder, folder, ignore=shutil.ignore_patterns("train"))
    return folder


@pytest.fixture
def sine() -> Callable[..., np.ndarray]:
    """``sine(freq, seconds, amplitude=0.5, rate=22_050)`` -> float32 audio."""

    def make(freq: float, seconds: float, amplitude: float = 0.5, rate: int = SAMPLE_RATE) -> np.ndarray:
        t = np.arange(round(seconds * rate)) / rate
        return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)

    return make
