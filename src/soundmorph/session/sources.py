"""Sources of a render: a library sound (by index or file name), any audio file (encoded on the fly)
or audio in memory (e.g. an upload). Every one resolves to one record, :class:`SourceSound`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from soundmorph import audio, grid, studio
from soundmorph.audio import riff
from soundmorph.audio.tempo import Tempo
from soundmorph.config import Preset
from soundmorph.errors import SoundmorphError, UnknownSourceError
from soundmorph.limits import MAX_CLIP_SECONDS, READ_MARGIN_SECONDS


class Library(Protocol):
    """What resolving sources needs of a loaded model (:class:`~soundmorph.session.loaded.LoadedModel`)."""

    names: list[str]  # library file names, relative to root
    root: Path | None  # the library folder, None when unknown
    tempos: list[Tempo | None]  # stored tempi
    latents: torch.Tensor  # [n, latent] stored latents
    folder: Path  # the model folder

    @property
    def preset(self) -> Preset: ...

    def stft(self, clips: Sequence[np.ndarray], tempos: Sequence[Tempo | None] | None = None) -> torch.Tensor:
        """Complex STFT [n, freq, frames] of clips as the model sees them."""
        ...

    def encode_audio(self, clip: np.ndarray, *, tempo: Tempo | None = None) -> torch.Tensor:
        """The latent [latent] (posterior mean) of a clip [samples] with its tempo."""
        ...


class SourceSound:
    """A source resolved: its label, its latent and, read when first needed, its audio.

    Attributes
    ----------
    label : str
        Short name for result names: the file stem.
    latent : torch.Tensor [shape=(latent,)]
        The posterior mean (the stored one for a library sound).
    index : int or None
        Its library index, None for a file outside the library or audio in memory.
    path : Path or None
        Its file, None for audio in memory.
    """

    def __init__(
        self,
        sources: Sources,
        label: str,
        latent: torch.Tensor,
        *,
        index: int | None = None,
        path: Path | None = None,
        clip: np.ndarray | None = None,
        tempo: Tempo | None = None,
    ) -> None:
        self.label, self.latent, self.index, self.path = label, latent, index, path
        self._sources = sources
        self._clip = clip
        self._tempo = tempo

    @property
    def clip(self) -> np.ndarray:
        """Mono float32 audio [samples] at the model's rate, as read (not fitted)."""
        if self._clip is None:
            assert self.path is not None, "a source without a file carries its audio"
            self._clip = self._sources.read_source(self.path)
        return self._clip

    @property
    def tempo(self) -> Tempo | None:
        """Kind, tempo and bars: as stored for a library sound, else found in :attr:`clip`; None for a
        model without a grid."""
        if self._tempo is None and self._sources.preset.tempo.mode != "off":
            chunks = riff.read_loop_chunks(self.path) if self.path is not None else None
            self._tempo = grid.analyse(self.clip, self._sources.preset, chunks=chunks)
        return self._tempo

    @property
    def bpm(self) -> float | None:
        """The tempo of a loop source (None for a one-shot or a model without a grid)."""
        found = self.tempo
        return found.bpm if found is not None and found.kind == "loop" else None

    @cached_property
    def stft(self) -> torch.Tensor:
        """Complex STFT [freq, frames] of :attr:`clip` on the model's grid (or fitted to its length)."""
        return self._sources.stft([self.clip], [self.tempo])[0]

    @property
    def magnitude(self) -> torch.Tensor:
        """Magnitude [freq, frames] of :attr:`clip` fitted to the model's clip length."""
        return self.stft.abs()

    @cached_property
    def native(self) -> tuple[np.ndarray, int]:
        """Its audio at its own rate and channels ([channels, samples], Hz), for a studio render
        (:mod:`soundmorph.studio`): its file's, or :attr:`clip` for audio in memory."""
        if self.path is None:
            return studio.read_native(None, self.clip, self._sources.preset.audio.sample_rate)
        return studio.read_native(self.path, self.clip[:0], self._sources.preset.audio.sample_rate)


Source = int | str | Path | SourceSound  # a library index or file name, an audio file, or resolved


class Sources:
    """Resolves what a user names as a source against a model's ``library`` (its names, folder,
    stored latents and tempi) and puts new audio on the model's grid to encode it."""

    def __init__(self, library: Library) -> None:
        self.library = library

    @property
    def preset(self) -> Preset:
        return self.library.preset

    @property
    def names(self) -> list[str]:
        return self.library.names

    @property
    def root(self) -> Path | None:
        return self.library.root

    def stft(self, clips: Sequence[np.ndarray], tempos: Sequence[Tempo | None]) -> torch.Tensor:
        """Complex STFT [n, freq, frames] of clips as the model sees them."""
        return self.library.stft(clips, tempos)

    def index_of(self, source: Source) -> int | None:
        """Library index of ``source`` (an index, or a library file name, with or without its suffix
        when that is unambiguous), None for other sources."""
        if isinstance(source, SourceSound):
            return source.index
        if isinstance(source, bool):  # True == 1 in Python, but not a sound
            raise SoundmorphError(f"{source!r}: a bool is not a library index")
        if isinstance(source, str) and source.isdecimal() and (not source.isascii() or len(source) > 18):
            # "²" or "٣" is no index a user typed on purpose, and int() of 5,000 digits raises
            raise UnknownSourceError(
                f"no sound {source[:20]!r}: the library has indices 0..{len(self.names) - 1}"
            )
        if isinstance(source, int | np.integer) or (isinstance(source, str) and source.isdecimal()):
            index = int(source)
            if not 0 <= index < len(self.names):
                raise UnknownSourceError(
                    f"no sound {index}: the library has indices 0..{len(self.names) - 1}"
                )
            return index
        name = Path(str(source)).as_posix()
        if name in self.names:
            return self.names.index(name)
        if Path(str(source)).exists():
            return None  # a file outside the library
        matches = [i for i, known in enumerate(self.names) if known.rsplit(".", 1)[0] == name]
        if len(matches) > 1:
            names = ", ".join(self.names[i] for i in matches[:4])
            raise UnknownSourceError(
                f"{source}: more than one library file has that name ({names}); add the suffix"
            )
        return matches[0] if matches else None  # the name without its suffix

    def resolve(self, source: Source) -> SourceSound:
        """The record of ``source``: a library sound (stored latent), or an audio file (read and
        encoded now); a record passes through."""
        if isinstance(source, SourceSound):
            return source
        index = self.index_of(source)
        if index is not None:
            name = self.names[index]
            path = self.root / name if self.root is not None else None
            stored = self.library.tempos[index]
            return SourceSound(
                self, Path(name).stem, self.library.latents[index], index=index, path=path, tempo=stored
            )
        path = Path(str(source))
        if path.is_symlink() and not path.exists():
            raise SoundmorphError(f"{source}: a broken link (its target is missing)")
        if not path.exists():
            raise SoundmorphError(f"{source}: not a library index, a library file name or an audio file")
        clip = self.read_source(path)
        return self.from_audio(path.name, clip, path=path)

    def read_source(self, path: Path) -> np.ndarray:
        """The start of an audio file a render uses: the clip length (and a margin), mono at the
        model's rate; a longer file is not decoded further. A model with a grid reads up to the
        longest clip a model may have: a loop's length tells its tempo."""
        rate = self.preset.audio.sample_rate
        seconds = self.preset.audio.clip_samples / rate + READ_MARGIN_SECONDS
        if self.preset.tempo.mode != "off":
            seconds = MAX_CLIP_SECONDS + READ_MARGIN_SECONDS
        return audio.read(path, sample_rate=rate, max_seconds=seconds)

    def from_audio(self, name: str, clip: np.ndarray, *, path: Path | None = None) -> SourceSound:
        """The record of audio in memory, e.g. an upload: ``clip`` [samples] mono at the model's rate
        (its tempo is found now when the model has a grid, and the clip is put on it to encode)."""
        found = None
        if self.preset.tempo.mode != "off":
            chunks = riff.read_loop_chunks(path) if path is not None else None
            found = grid.analyse(clip, self.preset, name=name, chunks=chunks)
        latent = self.library.encode_audio(clip, tempo=found)
        return SourceSound(self, Path(name).stem, latent, path=path, clip=clip, tempo=found)

    def original(self, source: Source) -> SourceSound:
        """:meth:`resolve`, for a source whose audio will be read: refuses a library sound whose
        folder is unknown, or whose index entry names a file outside that folder."""
        record = self.resolve(source)
        if record.index is None:
            return record
        if self.root is None:
            raise SoundmorphError(
                f"{self.library.folder}: library folder unknown; cannot re-read sound {record.index}"
            )
        assert record.path is not None
        if not record.path.resolve().is_relative_to(self.root.resolve()):
            raise SoundmorphError(f"{self.names[record.index]}: outside the library folder {self.root}")
        return record

    def readable(self, sources: Sequence[SourceSound]) -> bool:
        """True when every source's original can be read (a library sound needs its folder)."""
        return not any(s.index is not None and self.root is None for s in sources)
