"""A library of sounds: a folder scanned into a stable index, fitted clips, a held-out split and
their magnitude spectrograms."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from soundmorph import audio
from soundmorph.audio.io import AudioInfo, Skipped
from soundmorph.audio.spectral import magnitude
from soundmorph.config import (
    MAX_CLIP_SECONDS,
    READ_MARGIN_SECONDS,
    AudioConfig,
    clip_seconds_from_lengths,
)
from soundmorph.errors import AudioError, SoundmorphError

SPECTROGRAM_BATCH = 64  # clips per STFT call when computing a library's magnitudes


@dataclass
class Library:
    """The usable sounds of a folder, decoded at the model's rate.

    Attributes
    ----------
    root : Path
        The folder scanned.
    files : list[Path]
        Usable files in index order (sorted by path relative to ``root``).
    clips : list[np.ndarray]
        Mono float32 audio of each file at ``sample_rate``, before fitting to one length.
    skipped : list[Skipped]
        Files that could not be used, with the reason.
    """

    root: Path
    sample_rate: int
    files: list[Path] = field(default_factory=list)
    clips: list[np.ndarray] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def names(self) -> list[str]:
        """File names relative to the root, as POSIX paths: the library's stable keys."""
        return [path.relative_to(self.root).as_posix() for path in self.files]

    def median_seconds(self) -> float:
        """The median clip length in seconds (at least the shortest trainable length)."""
        return clip_seconds_from_lengths([len(clip) for clip in self.clips], self.sample_rate)

    def fitted(self, n_samples: int) -> np.ndarray:
        """Every clip cropped or zero-padded to ``n_samples``: [clips, n_samples] float32."""
        return np.stack([audio.fit_length(clip, n_samples) for clip in self.clips])


def scan(folder: str | Path, *, sample_rate: int, clip_seconds: float | None = None) -> Library:
    """Read every audio file under ``folder``; unusable files are skipped with their reason.

    Only the part a model uses is decoded: ``clip_seconds`` (default: the longest clip a model
    may have, :data:`~soundmorph.config.MAX_CLIP_SECONDS`) plus a short margin. Entries with an
    audio suffix that are no files (a broken link, a folder named ``x.wav``) are skipped too.

    Raises
    ------
    SoundmorphError
        If ``folder`` is missing or not a folder.
    """
    root = Path(folder)
    library = Library(root=root, sample_rate=sample_rate)
    found, library.skipped = audio.walk_audio(root)
    seconds = min(clip_seconds if clip_seconds is not None else MAX_CLIP_SECONDS, MAX_CLIP_SECONDS)
    for path in found:
        try:
            clip = audio.read(path, sample_rate=sample_rate, max_seconds=seconds + READ_MARGIN_SECONDS)
        except AudioError as error:
            library.skipped.append(Skipped.from_error(path, error))
            continue
        library.files.append(path)
        library.clips.append(clip)
    return library


@dataclass
class Listing:
    """What the headers of a folder's audio files say, in index order, without decoding them.

    A file whose header cannot be read is in ``skipped``; one that reads but cannot be used (e.g.
    silent) is only found by :func:`scan`, which decodes.
    """

    root: Path
    infos: list[AudioInfo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.infos)

    @property
    def names(self) -> list[str]:
        """File names relative to the root, as POSIX paths (as :attr:`Library.names`)."""
        return [info.path.relative_to(self.root).as_posix() for info in self.infos]


def list_headers(folder: str | Path) -> Listing:
    """The header of every audio file under ``folder`` (index order, as :func:`scan`)."""
    root = Path(folder)
    listing = Listing(root=root)
    found, listing.skipped = audio.walk_audio(root)  # a broken link or a folder named x.wav: reported
    for path in found:
        try:
            listing.infos.append(audio.info(path))
        except AudioError as error:
            listing.skipped.append(Skipped.from_error(path, error))
    return listing


def require_clips(library: Library, *, minimum: int = 1) -> None:
    """Raise a one-line error when ``library`` has fewer than ``minimum`` usable clips."""
    if len(library) >= minimum:
        return
    found = f"{len(library)} usable sound(s)"
    if library.skipped:
        first = library.skipped[0]
        found += f", {len(library.skipped)} skipped (first: {first.path.name}: {first.reason})"
    raise SoundmorphError(f"{library.root}: {found}; need at least {minimum}")


def holdout_mask(names: list[str], fraction: float, *, seed: int) -> np.ndarray:
    """Which clips are held out: boolean [clips], ``round(fraction * clips)`` of them.

    Each name is ranked by a hash of ``(seed, name)``; the lowest ranks are held out. The split
    depends only on the names and the seed, so it is the same on every machine and barely moves
    when files are added.
    """
    count = round(fraction * len(names))
    if fraction > 0 and len(names) > 1:
        count = min(max(count, 1), len(names) - 1)  # a holdout asked for always has a clip to train on
    ranks = sorted(range(len(names)), key=lambda i: hashlib.sha1(f"{seed}:{names[i]}".encode()).hexdigest())
    mask = np.zeros(len(names), dtype=bool)
    mask[ranks[:count]] = True
    return mask


def spectrograms(
    clips: np.ndarray, config: AudioConfig, *, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Magnitudes [clips, freq, frames] (float32, on ``device``) of fitted clips [clips, samples]."""
    return torch.cat(list(iter_spectrograms(clips, config, device=device)))


def iter_spectrograms(
    clips: np.ndarray, config: AudioConfig, *, device: torch.device | str = "cpu"
) -> Iterator[torch.Tensor]:
    """:func:`spectrograms` in batches of :data:`SPECTROGRAM_BATCH` clips."""
    for start in range(0, len(clips), SPECTROGRAM_BATCH):
        batch = torch.from_numpy(np.ascontiguousarray(clips[start : start + SPECTROGRAM_BATCH])).to(device)
        yield magnitude(batch, n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length)
