"""The model folder: what a trained model is on disk.

::

    MODEL/
      config.json          format version, class, soundmorph version, every setting, the geometry
      model.safetensors    the best weights (and the normalisation statistics)
      library.json         the training library: index -> file, split, posterior mean
      history.csv          loss per epoch; loss.png, its curve
      train/               training state, kept apart: last.safetensors (last weights),
                           optimizer.safetensors, state.json (epoch, best loss, RNG)

Every file is written atomically (a temporary file in the same folder, then ``os.replace``).
Nothing is unpickled: tensors are safetensors, everything else is JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from soundmorph import __version__
from soundmorph.audio.tempo import Tempo
from soundmorph.config import Preset
from soundmorph.errors import ModelFolderError, SoundmorphError
from soundmorph.files import atomic_write_bytes, atomic_write_json
from soundmorph.models import MODELS, SpectrogramVAE, build_model

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LIBRARY_FILE = "library.json"
TRAIN_DIR = "train"


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    atomic_write_bytes(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFolderError(f"{path}: not a readable safetensors file ({error})") from None


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFolderError(f"{path}: not valid JSON ({error})") from None


@dataclass(frozen=True)
class ModelInfo:
    """What ``config.json`` says: the settings and the clip geometry."""

    preset: Preset
    n_freq: int
    n_frames: int

    def build(self) -> SpectrogramVAE:
        """A freshly initialised model of this geometry."""
        return build_model(self.preset.model, n_freq=self.n_freq, n_frames=self.n_frames)


def save_model(folder: Path, model: SpectrogramVAE, preset: Preset) -> None:
    """Write ``config.json`` and ``model.safetensors`` for ``model`` into ``folder``."""
    config = {
        "format_version": FORMAT_VERSION,
        "class": type(model).__name__,
        "soundmorph_version": __version__,
        "n_freq": model.n_freq,
        "n_frames": model.n_frames,
        "preset": preset.to_dict(),
    }
    _save_tensors(folder / WEIGHTS_FILE, model.state_dict())
    atomic_write_json(folder / CONFIG_FILE, config)


def read_info(folder: Path) -> ModelInfo:
    """Parse and check ``config.json`` of a model folder."""
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: no such model folder")
    config = _read_json(folder / CONFIG_FILE)
    path = folder / CONFIG_FILE
    if not isinstance(config, dict):
        raise ModelFolderError(f"{path}: not a soundmorph model config")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFolderError(
            f"{path}: unknown format version {version!r} (this soundmorph reads {FORMAT_VERSION})"
        )
    if config.get("class") not in {cls.__name__ for cls in MODELS.values()}:
        raise ModelFolderError(f"{path}: unknown model class {config.get('class')!r}")
    try:
        preset = Preset.from_dict(config["preset"])
        info = ModelInfo(preset=preset, n_freq=int(config["n_freq"]), n_frames=int(config["n_frames"]))
    except (KeyError, TypeError, ValueError, SoundmorphError) as error:
        raise ModelFolderError(f"{path}: invalid config ({error})") from None
    if MODELS[preset.model.latent].__name__ != config.get("class"):
        latent = preset.model.latent
        raise ModelFolderError(f"{path}: class {config.get('class')!r} does not match latent {latent!r}")
    if info.n_freq != preset.audio.n_freq or info.n_frames != preset.audio.clip_frames:
        raise ModelFolderError(f"{path}: geometry does not match the audio settings")
    return info


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``model``, refusing missing, extra or mis-shaped tensors."""
    tensors = _load_tensors(path)
    expected = model.state_dict()
    if set(tensors) != set(expected):
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        raise ModelFolderError(
            f"{path}: tensors do not match the config (missing {missing}, unexpected {extra})"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise ModelFolderError(
                f"{path}: {name} has shape {tuple(tensor.shape)}, "
                f"the config needs {tuple(expected[name].shape)}"
            )
    model.load_state_dict(tensors)


def load_model(folder: Path, *, device: torch.device | str = "cpu") -> tuple[SpectrogramVAE, ModelInfo]:
    """The model in ``folder`` (best weights), in eval mode on ``device``, and its info."""
    info = read_info(folder)
    model = info.build()
    load_weights(model, folder / WEIGHTS_FILE)
    return model.to(device).eval(), info


SPLITS = ("train", "holdout")  # the split a library entry was in


@dataclass(frozen=True)
class LibraryEntry:
    """One training sound in ``library.json``: its file (relative to the root), split and latent,
    and its kind and tempo as the model was trained with them (a model with a grid)."""

    name: str  # POSIX path relative to the library root
    split: str  # one of SPLITS
    latent: tuple[float, ...]  # posterior mean
    tempo: Tempo | None = None  # kind, bpm, bars, downbeat; None: a model without a grid

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"entry name {self.name!r} is not a file name")
        if self.split not in SPLITS:
            raise ValueError(f"{self.name}: unknown split {self.split!r}")


@dataclass(frozen=True)
class LibraryIndex:
    """``library.json``: the folder a model was trained on and, per sound, its entry.

    Its schema is written and read only here (:func:`save_library`, :func:`load_library`).
    """

    root: Path | None  # None: unknown (a model saved without its library)
    entries: tuple[LibraryEntry, ...] = ()

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    @property
    def splits(self) -> list[str]:
        return [entry.split for entry in self.entries]

    def latents(self, latent_dim: int) -> torch.Tensor:
        """The entries' latents [n, latent_dim]; a ValueError when an entry has another size."""
        for entry in self.entries:
            if len(entry.latent) != latent_dim:
                raise ValueError(
                    f"{entry.name}: latent of size {len(entry.latent)}, the model has {latent_dim}"
                )
        return torch.tensor([entry.latent for entry in self.entries], dtype=torch.float32).reshape(
            -1, latent_dim
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": None if self.root is None else str(self.root),
            "files": [
                {"name": e.name, "split": e.split, "latent": list(e.latent)} | _tempo_fields(e.tempo)
                for e in self.entries
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> LibraryIndex:
        """Parse the JSON object; a ValueError (or KeyError, TypeError) names what is wrong."""
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise ValueError("not a soundmorph library index")
        root = data.get("root")
        entries = tuple(
            LibraryEntry(
                name=item["name"],
                split=item.get("split", "train"),
                latent=tuple(float(x) for x in item["latent"]),
                tempo=_tempo_of(item),
            )
            for item in data["files"]
        )
        return cls(Path(root) if root else None, entries)


def _tempo_fields(found: Tempo | None) -> dict[str, Any]:
    """An entry's tempo as ``library.json`` keeps it: kind, bpm, bars, downbeat (editable by hand)."""
    if found is None:
        return {}
    return {k: v for k, v in found.to_dict().items() if k != "confidence"}


def _tempo_of(item: dict[str, Any]) -> Tempo | None:
    if "kind" not in item:
        return None
    bpm, bars = item.get("bpm"), item.get("bars")
    return Tempo(
        item["kind"],
        None if bpm is None else float(bpm),
        None if bars is None else int(bars),
        float(item.get("downbeat", 0.0)),
        1.0,
    )


def save_library(folder: Path, library: LibraryIndex) -> None:
    """Write ``library.json``."""
    atomic_write_json(folder / LIBRARY_FILE, library.to_dict())


def load_library(folder: Path) -> LibraryIndex:
    """Read ``library.json``; an empty library when a model was saved without one."""
    path = folder / LIBRARY_FILE
    if not path.exists():
        return LibraryIndex(None)
    try:
        return LibraryIndex.from_dict(_read_json(path))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFolderError(f"{path}: not a valid soundmorph library index ({error})") from None


def save_train_state(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    rng: dict[str, torch.Tensor],
) -> None:
    """Write the last weights, the optimizer and ``state`` (JSON) + ``rng`` (tensors) to ``folder/train``.

    ``state.json`` is written last, so an interruption leaves the previous complete state.
    """
    train = folder / TRAIN_DIR
    _save_tensors(train / "last.safetensors", model.state_dict())
    opt = optimizer.state_dict()
    tensors = {f"rng.{k}": v for k, v in rng.items()}
    for index, slots in opt["state"].items():
        for slot, value in slots.items():
            tensors[f"state.{index}.{slot}"] = torch.as_tensor(value)
    _save_tensors(train / "optimizer.safetensors", tensors)
    atomic_write_json(train / "state.json", {**state, "param_groups": opt["param_groups"]})


def has_train_state(folder: Path) -> bool:
    return (folder / TRAIN_DIR / "state.json").is_file()


def load_train_state(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore the last weights and the optimizer from ``folder/train``; return (state, rng)."""
    train = folder / TRAIN_DIR
    state = _read_json(train / "state.json")
    load_weights(model, train / "last.safetensors")
    tensors = _load_tensors(train / "optimizer.safetensors")
    slots: dict[int, dict[str, torch.Tensor]] = {}
    rng = {}
    for key, value in tensors.items():
        kind, _, rest = key.partition(".")
        if kind == "rng":
            rng[rest] = value
        else:
            index, _, slot = rest.partition(".")
            slots.setdefault(int(index), {})[slot] = value
    try:
        optimizer.load_state_dict({"state": slots, "param_groups": state.pop("param_groups")})
    except (KeyError, ValueError) as error:
        raise ModelFolderError(f"{train}: optimizer state does not match the model ({error})") from None
    return state, rng
