"""The model folder: what a trained model is on disk.

::

    MODEL/
      config.json          format version, class, soundmorph version, every setting, the geometry
      model.safetensors    the best weights (and the normalisation statistics)
      library.json         the training library: index -> file, split, kind and tempo
      latents.safetensors  the posterior mean of each library sound, [sounds, latent] in index order
      history.csv          loss per epoch; loss.png, its curve
      train/state.safetensors
                           the resumable training state, ONE file: last weights, best weights
                           (when older than the last), optimizer moments, and in its metadata the
                           epoch, the best score, the history and the settings

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so a
kill leaves the old file or the new one. The training state being one file, it is always one
consistent set. Nothing is unpickled: tensors are safetensors, everything else is JSON.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import nn

from soundmorph import __version__
from soundmorph.audio.tempo import Tempo
from soundmorph.config import Preset
from soundmorph.errors import ModelFolderError, SoundmorphError
from soundmorph.files import atomic_write_bytes, atomic_write_json, json_safe
from soundmorph.models import MODELS, SpectrogramVAE, build_model

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LIBRARY_FILE = "library.json"
LATENTS_FILE = "latents.safetensors"
TRAIN_DIR = "train"
TRAIN_STATE_FILE = "state.safetensors"
TRAIN_FORMAT_VERSION = 2  # 1: three files (last.safetensors, optimizer.safetensors, state.json)


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
    """One training sound in ``library.json``: its file (relative to the root) and split, and its
    kind and tempo as the model was trained with them (a model with a grid)."""

    name: str  # POSIX path relative to the library root
    split: str  # one of SPLITS
    tempo: Tempo | None = None  # kind, bpm, bars, downbeat; None: a model without a grid

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"entry name {self.name!r} is not a file name")
        if self.split not in SPLITS:
            raise ValueError(f"{self.name}: unknown split {self.split!r}")


@dataclass(frozen=True, eq=False)
class LibraryIndex:
    """The library a model was trained on: ``library.json`` (the folder and, per sound, its entry)
    and ``latents.safetensors`` (the sounds' posterior means, one row per entry).

    The latents are a tensor file, not JSON: a latent that keeps time is over a thousand numbers per
    sound, and a library of 100k sounds would make a JSON of gigabytes. The schema is written and
    read only here (:func:`save_library`, :func:`load_library`).
    """

    root: Path | None  # None: unknown (a model saved without its library)
    entries: tuple[LibraryEntry, ...] = ()
    latent_rows: torch.Tensor | None = None  # [entries, latent] float32; None only when empty

    def __post_init__(self) -> None:
        rows = 0 if self.latent_rows is None else len(self.latent_rows)
        if rows != len(self.entries):
            raise ValueError(f"{len(self.entries)} library entries but {rows} latents")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LibraryIndex):
            return NotImplemented
        mine, theirs = self.latent_rows, other.latent_rows
        same_latents = (mine is None or len(mine) == 0) and (theirs is None or len(theirs) == 0)
        if mine is not None and theirs is not None and len(mine) and len(theirs):
            same_latents = mine.shape == theirs.shape and torch.equal(mine.float(), theirs.float())
        return (self.root, self.entries) == (other.root, other.entries) and same_latents

    __hash__ = None  # type: ignore[assignment]  # mutable tensor inside

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    @property
    def splits(self) -> list[str]:
        return [entry.split for entry in self.entries]

    def latents(self, latent_dim: int) -> torch.Tensor:
        """The entries' latents [n, latent_dim]; a ValueError when they have another size."""
        if self.latent_rows is None or len(self.latent_rows) == 0:
            return torch.zeros(0, latent_dim)
        if self.latent_rows.ndim != 2 or self.latent_rows.shape[1] != latent_dim:
            raise ValueError(f"latents of shape {tuple(self.latent_rows.shape)}, the model has {latent_dim}")
        return self.latent_rows.float()

    def to_dict(self) -> dict[str, Any]:
        """``library.json`` (the latents go to their own file)."""
        return {
            "root": None if self.root is None else str(self.root),
            "files": [{"name": e.name, "split": e.split} | _tempo_fields(e.tempo) for e in self.entries],
        }

    @classmethod
    def from_dict(cls, data: Any, latents: torch.Tensor | None = None) -> LibraryIndex:
        """Parse the JSON object of ``library.json`` with the ``latents`` of ``latents.safetensors``
        (an index of an earlier version keeps each latent in its JSON entry). A ValueError (or
        KeyError, TypeError) names what is wrong."""
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise ValueError("not a soundmorph library index")
        root = data.get("root")
        items = data["files"]
        entries = tuple(
            LibraryEntry(name=item["name"], split=item.get("split", "train"), tempo=_tempo_of(item))
            for item in items
        )
        if latents is None and items and all("latent" in item for item in items):
            rows = [[float(x) for x in item["latent"]] for item in items]
            if len({len(row) for row in rows}) != 1:
                raise ValueError("library entries have latents of different sizes")
            latents = torch.tensor(rows, dtype=torch.float32)
        return cls(Path(root) if root else None, entries, latents)


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
        float(item.get("start", 0.0)),  # absent in models saved before loops had a start and a tail
        item.get("tail", "none"),
        item.get("source", "audio"),
    )


def save_library(folder: Path, library: LibraryIndex) -> None:
    """Write ``latents.safetensors``, then ``library.json`` (each atomically)."""
    rows = library.latent_rows if library.latent_rows is not None else torch.zeros(0, 0)
    _save_tensors(folder / LATENTS_FILE, {"latents": rows.float()})
    atomic_write_json(folder / LIBRARY_FILE, library.to_dict())


def load_library(folder: Path) -> LibraryIndex:
    """Read ``library.json`` and ``latents.safetensors``; an empty library when a model was saved
    without one."""
    path = folder / LIBRARY_FILE
    if not path.exists():
        return LibraryIndex(None)
    stored = folder / LATENTS_FILE
    latents = _load_tensors(stored).get("latents") if stored.exists() else None
    try:
        return LibraryIndex.from_dict(_read_json(path), latents)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFolderError(f"{path}: not a valid soundmorph library index ({error})") from None


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped, saved as one file.

    ``weights`` are the last weights, ``best_weights`` the best (None when they are the last),
    ``optimizer`` Adam's ``state_dict()``; ``history`` the rows of every finished epoch (plain
    dictionaries). Randomness is not saved: every draw is a function of (seed, epoch, clip), so the
    epoch is the whole random state (see :mod:`soundmorph.training.loop`).
    """

    epoch: int  # epochs finished
    best: float  # best score so far (inf before any)
    best_epoch: int  # the epoch the best weights are from (0: the initial weights)
    weights: dict[str, torch.Tensor]
    best_weights: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    history: list[dict[str, float]]
    preset: dict[str, Any]  # the settings it was trained with, epochs excepted


def _settings(preset: dict[str, Any]) -> dict[str, Any]:
    """``preset`` without what a resume may change (the number of epochs)."""
    return {**preset, "train": {k: v for k, v in preset.get("train", {}).items() if k != "epochs"}}


def save_train_state(folder: Path, state: TrainState) -> None:
    """Write ``state`` to ``folder/train/state.safetensors`` in one atomic replace.

    One file holds the weights, the best weights, the optimizer and the counters, so a kill at any
    moment leaves either the previous complete state or the new one, never a mix.
    """
    tensors = {f"model.{k}": v for k, v in state.weights.items()}
    if state.best_weights is not None:
        tensors |= {f"best.{k}": v for k, v in state.best_weights.items()}
    for index, slots in state.optimizer["state"].items():
        for slot, value in slots.items():
            tensors[f"opt.{index}.{slot}"] = torch.as_tensor(value)
    meta = {
        "format_version": TRAIN_FORMAT_VERSION,
        "epoch": state.epoch,
        "best": state.best,
        "best_epoch": state.best_epoch,
        "param_groups": state.optimizer["param_groups"],
        "history": state.history,
        "preset": _settings(state.preset),
    }
    text = json.dumps(json_safe(meta), allow_nan=False)
    atomic_write_bytes(folder / TRAIN_DIR / TRAIN_STATE_FILE, _safetensors_parts(tensors, {"state": text}))


class StateWriter:
    """Writes training states to ``folder`` in a background thread, one at a time, so that
    serialising and writing them (~70 MB for ``paper``: weights and Adam's two moments) overlaps
    the next epoch instead of stopping it.

    The caller hands over tensors that nothing changes afterwards (copies of the live ones, see
    :func:`copy_optimizer_state`). :meth:`submit` first waits for the write before, so at most one
    is in flight: at any moment the disk holds the state of the last epoch handed over or of the
    one before it, each file whole (:func:`save_train_state`). An error of a write (a full disk, a
    Ctrl-C inside it) is raised by the next :meth:`submit` or :meth:`wait`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written = -1  # the epoch of the last state on disk, written by this writer
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, state: TrainState, then: Callable[[], None] | None = None) -> None:
        """Write ``state`` (then call ``then``, in the writer's thread) once the previous write is done."""
        self.wait()
        self._thread = threading.Thread(
            target=self._write, args=(state, then), name="soundmorph-train-state", daemon=True
        )
        self._thread.start()

    def wait(self) -> None:
        """Block until the write in flight (if any) is done; raise its error, if it had one."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _write(self, state: TrainState, then: Callable[[], None] | None) -> None:
        try:
            save_train_state(self.folder, state)
            self.written = state.epoch
            if then is not None:
                then()
        except BaseException as error:  # handed to the training thread by wait()
            self._error = error


def copy_optimizer_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer's ``state_dict()`` with every tensor copied (its moments change in place at
    every step): what :class:`StateWriter` may write while training goes on."""
    slots = {
        index: {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in values.items()}
        for index, values in state["state"].items()
    }
    return {"state": slots, "param_groups": state["param_groups"]}


_DTYPES = {  # torch dtype -> safetensors dtype name
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _safetensors_parts(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> list[Any]:
    """The safetensors file of ``tensors`` with ``metadata`` as parts to write one after the other
    (:func:`~soundmorph.files.atomic_write_bytes`), the tensors' own memory: no copy of the data.

    ``safetensors.torch.save`` copies every tensor several times on its way to ``bytes`` (~0.3 s
    for ``paper``'s 73 MB state on a 2-core machine): the format is an 8-byte header length, a JSON
    header of names, dtypes, shapes and byte ranges, then the raw data.
    """
    header: dict[str, Any] = {"__metadata__": metadata}
    chunks: list[Any] = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        chunks.append(tensor.reshape(-1).view(torch.uint8).numpy())
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return [len(text).to_bytes(8, "little"), text, *chunks]


def has_train_state(folder: Path) -> bool:
    """Whether ``folder`` holds a resumable state (checked fully by :func:`load_train_state`)."""
    return (folder / TRAIN_DIR / TRAIN_STATE_FILE).is_file()


def load_train_state(folder: Path, model: nn.Module, preset: Preset) -> TrainState:
    """Read and check ``folder/train/state.safetensors`` against ``model`` and ``preset``.

    Raises
    ------
    ModelFolderError
        When the state is missing, unreadable, of another format, another model or other settings.
    """
    path = folder / TRAIN_DIR / TRAIN_STATE_FILE
    tensors = _load_tensors(path)
    try:
        with safe_open(path, "pt") as handle:
            meta = json.loads((handle.metadata() or {})["state"])
        version = meta["format_version"]
        epoch, best_epoch = int(meta["epoch"]), int(meta["best_epoch"])
        best = math.inf if meta["best"] is None else float(meta["best"])
        history, param_groups, settings = list(meta["history"]), meta["param_groups"], meta["preset"]
    except (KeyError, TypeError, ValueError, SafetensorError, OSError) as error:
        raise ModelFolderError(f"{path}: not a soundmorph training state ({error})") from None
    if version != TRAIN_FORMAT_VERSION:
        raise ModelFolderError(f"{path}: unknown format version {version!r}")
    if len(history) != epoch or not 0 <= best_epoch <= epoch:
        raise ModelFolderError(f"{path}: inconsistent state (epoch {epoch}, {len(history)} history rows)")
    if settings != json_safe(_settings(preset.to_dict())):
        raise ModelFolderError(f"{path}: trained with other settings than {folder / CONFIG_FILE}")
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "best": {}}
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        kind, _, rest = key.partition(".")
        if kind == "opt":
            index, _, slot = rest.partition(".")
            slots.setdefault(int(index), {})[slot] = value
        elif kind in groups:
            groups[kind][rest] = value
    expected = model.state_dict()
    for kind in ("model", "best") if groups["best"] else ("model",):
        if set(groups[kind]) != set(expected) or any(
            groups[kind][k].shape != expected[k].shape for k in expected
        ):
            raise ModelFolderError(f"{path}: {kind} weights do not match the model")
    return TrainState(
        epoch=epoch,
        best=best,
        best_epoch=best_epoch,
        weights=groups["model"],
        best_weights=groups["best"] or None,
        optimizer={"state": slots, "param_groups": param_groups},
        history=history,
        preset=settings,
    )


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files (``.NAME.*.tmp``) that a killed atomic write left in ``folder``
    and ``folder/train``; returns what was removed."""
    removed = []
    for place in (folder, folder / TRAIN_DIR):
        if not place.is_dir():
            continue
        for path in place.glob(".*.tmp"):
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    return removed
