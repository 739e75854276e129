"""A loaded model with its library: the network, the settings it was trained with, the library's
latents, and how audio is put on the model's grid, encoded and decoded."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from soundmorph import grid, latent, plot
from soundmorph.audio import spectral
from soundmorph.audio.tempo import Tempo
from soundmorph.config import Preset, RenderOptions
from soundmorph.data import SPECTROGRAM_BATCH
from soundmorph.errors import SoundmorphError
from soundmorph.models import SpectrogramVAE
from soundmorph.session.sources import Source, Sources, SourceSound
from soundmorph.training.checkpoint import LibraryIndex, ModelInfo


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given and present on this machine, else CUDA when present, else the CPU.

    Raises
    ------
    SoundmorphError
        One line for an unknown device, or a CUDA / MPS device this machine does not have.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise SoundmorphError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SoundmorphError(
                f"device {device!r}: CUDA is not available on this machine (use --device cpu)"
            )
        if chosen.index is not None and chosen.index >= count:
            raise SoundmorphError(
                f"device {device!r}: this machine has {count} CUDA device(s), 0..{count - 1}"
            )
    elif chosen.type == "mps":
        if not torch.backends.mps.is_available():
            raise SoundmorphError(
                f"device {device!r}: MPS is not available on this machine (use --device cpu)"
            )
    elif chosen.type != "cpu":
        raise SoundmorphError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps")
    return chosen


class LoadedModel:
    """A trained model with its library, ready to encode and decode.

    Latents are the posterior means unless ``sample=True`` is asked for. Sources are resolved by
    :attr:`sources` (:class:`~soundmorph.session.sources.Sources`).
    """

    def __init__(self, model: SpectrogramVAE, info: ModelInfo, library: LibraryIndex, folder: Path) -> None:
        self.model = model
        self.info = info
        self.folder = folder
        self.root = library.root
        self.names: list[str] = library.names
        self.splits: list[str] = library.splits
        self.latent_size = model.latent_size  # numbers per latent
        self.latents = library.latents(self.latent_size)  # [n, latent]
        self.tempos: list[Tempo | None] = [entry.tempo for entry in library.entries]

    @property
    def preset(self) -> Preset:
        """Every setting the model was trained and renders with."""
        return self.info.preset

    @property
    def render_options(self) -> RenderOptions:
        """The model's own render settings (its preset's); :meth:`RenderOptions.override` changes some."""
        return self.info.preset.phase

    @property
    def sample_rate(self) -> int:
        return self.info.preset.audio.sample_rate

    @property
    def clip_samples(self) -> int:
        return self.info.preset.audio.clip_samples

    @property
    def device(self) -> torch.device:
        return self.model.device

    # -- sources (see Sources) ---------------------------------------------------------------
    @property
    def sources(self) -> Sources:
        """Resolves sources against this model's library."""
        return Sources(self)

    def index_of(self, source: Source) -> int | None:
        """Library index of ``source``, None for a source outside the library."""
        return self.sources.index_of(source)

    def resolve(self, source: Source) -> SourceSound:
        """The record of ``source`` (see :meth:`Sources.resolve`)."""
        return self.sources.resolve(source)

    def original(self, source: Source) -> SourceSound:
        """The record of ``source`` whose audio will be read (see :meth:`Sources.original`)."""
        return self.sources.original(source)

    def from_audio(self, name: str, clip: np.ndarray, *, path: Path | None = None) -> SourceSound:
        """The record of audio in memory ``clip`` [samples], mono at the model's rate."""
        return self.sources.from_audio(name, clip, path=path)

    # -- encoding and decoding ---------------------------------------------------------------
    def stft(self, clips: Sequence[np.ndarray], tempos: Sequence[Tempo | None] | None = None) -> torch.Tensor:
        """Complex STFT [n, freq, frames] of clips (each [samples]) as the model sees them: on its
        beat grid (with their ``tempos``, found now where None), or cropped/padded to its length."""
        a = self.info.preset.audio
        found = list(tempos) if tempos is not None else [None] * len(clips)
        out = []
        for start in range(0, len(clips), SPECTROGRAM_BATCH):
            stop = start + SPECTROGRAM_BATCH
            fitted = [
                grid.on_grid(clip, self.preset, tempo)
                for clip, tempo in zip(clips[start:stop], found[start:stop], strict=True)
            ]
            batch = torch.from_numpy(np.stack(fitted)).to(self.device)
            out.append(spectral.stft(batch, n_fft=a.n_fft, hop_length=a.hop_length, win_length=a.win_length))
        return torch.cat(out)

    def magnitudes(
        self, clips: Sequence[np.ndarray], tempos: Sequence[Tempo | None] | None = None
    ) -> torch.Tensor:
        """Magnitudes [n, freq, frames] of clips (each [samples]) as :meth:`stft` places them."""
        return self.stft(clips, tempos).abs()

    @torch.no_grad()
    def encode_audio(
        self, clip: np.ndarray, *, sample: bool = False, seed: int = 0, tempo: Tempo | None = None
    ) -> torch.Tensor:
        """Latent [latent] of mono audio [samples] at the model's rate (posterior mean or a sample);
        ``tempo``: its kind and tempo when known (else found now, for a model with a grid)."""
        posterior = self.model.encode(self.magnitudes([clip], [tempo]))
        if sample:
            return posterior.sample(torch.Generator(device=self.device).manual_seed(seed))[0].cpu()
        return posterior.mode()[0].cpu()

    def encode(self, source: Source, *, sample: bool = False, seed: int = 0) -> torch.Tensor:
        """Latent [latent] of a source: its stored or encoded mean, or a sample of its posterior."""
        if not sample:
            return self.resolve(source).latent
        record = self.original(source)
        return self.encode_audio(record.clip, sample=True, seed=seed, tempo=record.tempo)

    @torch.no_grad()
    def reconstruction(self, mags: torch.Tensor) -> torch.Tensor:
        """Magnitudes [n, freq, frames] through the model (posterior mean) and back."""
        batches = mags.to(self.device).split(SPECTROGRAM_BATCH)
        return torch.cat([self.model.decode(self.model.encode(batch).mode()) for batch in batches])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Magnitudes [n, freq, frames] of latents [n, latent]."""
        return self.model.decode(latents.to(self.device).reshape(-1, self.latent_size))

    # -- the latent map ----------------------------------------------------------------------
    @cached_property
    def latent_map(self) -> latent.LatentMap:
        """The library in the plane of the first two principal components of its latents."""
        return latent.LatentMap.fit(self.latents)

    def latent_map_png(self) -> bytes:
        """A picture of :attr:`latent_map` with every sound's label (held-out sounds marked)."""
        held_out = np.array([split == "holdout" for split in self.splits], dtype=bool)
        labels = [Path(name).stem for name in self.names]
        return plot.latent_map(self.latent_map.points, labels, held_out=held_out)
