"""A loaded model: it resolves sources and renders morphs, sweeps, blends, glides and new sounds.

A source is named by library index, by library file name, by any audio file path (encoded on the
fly) or given as audio in memory (:meth:`SoundModel.from_audio`, e.g. an upload); every one
resolves to one record, :class:`SourceSound`. :func:`load` gives a :class:`SoundModel`; every
render returns :class:`~soundmorph.sound.Sound` objects (numpy audio + sample rate + spectrogram)
named by :func:`result_name`, and is phase-reconstructed with typed
:class:`~soundmorph.config.RenderOptions` (the model's own unless others are given).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from soundmorph import audio, latent, plot, quality
from soundmorph.audio import phase, spectral
from soundmorph.config import (
    MAX_COUNT,
    MAX_RENDER_SECONDS,
    MAX_REPEATS,
    READ_MARGIN_SECONDS,
    Preset,
    RenderOptions,
    check_int,
    check_seed,
)
from soundmorph.data import SPECTROGRAM_BATCH
from soundmorph.errors import SoundmorphError, UnknownSourceError
from soundmorph.models import SpectrogramVAE
from soundmorph.sound import Sound
from soundmorph.training import checkpoint
from soundmorph.training.checkpoint import LibraryIndex, ModelInfo

GLIDE_GRID = 8  # decoded ratios per repeat of a glide; the frames between are interpolated


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


def check_render_size(count: int, clip_seconds: float, what: str) -> None:
    """Refuse a render of ``count`` clips whose audio would exceed :data:`MAX_RENDER_SECONDS`."""
    if count * clip_seconds > MAX_RENDER_SECONDS:
        most = max(1, int(MAX_RENDER_SECONDS // clip_seconds))
        raise SoundmorphError(
            f"{what} {count} x {clip_seconds:.3g} s clips is over {MAX_RENDER_SECONDS:g} s of audio; "
            f"at most {most} for this model"
        )


def result_name(kind: str, labels: Sequence[str], *tags: str) -> str:
    """The name of a render, used for its files: ``kind_labelA__labelB_tag_tag``.

    e.g. ``morph_kick__snare_a0.30``, ``sweep_kick__snare_03_a0.38``, ``blend_kick-0.50__snare-0.50``,
    ``glide_kick__snare_x8_smooth``, ``generated_s7_00``.
    """
    return "_".join(part for part in (kind, "__".join(labels), *tags) if part)


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
        model: SoundModel,
        label: str,
        latent: torch.Tensor,
        *,
        index: int | None = None,
        path: Path | None = None,
        clip: np.ndarray | None = None,
    ) -> None:
        self.label, self.latent, self.index, self.path = label, latent, index, path
        self._model = model
        self._clip = clip

    @property
    def clip(self) -> np.ndarray:
        """Mono float32 audio [samples] at the model's rate, as read (not fitted)."""
        if self._clip is None:
            assert self.path is not None, "a source without a file carries its audio"
            self._clip = self._model.read_source(self.path)
        return self._clip

    @cached_property
    def stft(self) -> torch.Tensor:
        """Complex STFT [freq, frames] of :attr:`clip` fitted to the model's clip length."""
        return self._model.stft([self.clip])[0]

    @property
    def magnitude(self) -> torch.Tensor:
        """Magnitude [freq, frames] of :attr:`clip` fitted to the model's clip length."""
        return self.stft.abs()


Source = int | str | Path | SourceSound  # a library index or file name, an audio file, or resolved


class SoundModel:
    """A trained model with its library, ready to encode, decode and render.

    Use :func:`load`. Latents are the posterior means unless ``sample=True`` is asked for.
    """

    def __init__(self, model: SpectrogramVAE, info: ModelInfo, library: LibraryIndex, folder: Path) -> None:
        self.model = model
        self.info = info
        self.folder = folder
        self.root = library.root
        self.names: list[str] = library.names
        self.splits: list[str] = library.splits
        self.latents = library.latents(info.preset.model.latent_dim)  # [n, latent]

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

    # -- sources ----------------------------------------------------------------------------
    def index_of(self, source: Source) -> int | None:
        """Library index of ``source`` (an index, or a library file name), None for other sources."""
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
        return None

    def resolve(self, source: Source) -> SourceSound:
        """The record of ``source``: a library sound (stored latent), or an audio file (read and
        encoded now); a record passes through."""
        if isinstance(source, SourceSound):
            return source
        index = self.index_of(source)
        if index is not None:
            name = self.names[index]
            path = self.root / name if self.root is not None else None
            return SourceSound(self, Path(name).stem, self.latents[index], index=index, path=path)
        path = Path(str(source))
        if path.is_symlink() and not path.exists():
            raise SoundmorphError(f"{source}: a broken link (its target is missing)")
        if not path.exists():
            raise SoundmorphError(f"{source}: not a library index, a library file name or an audio file")
        clip = self.read_source(path)
        return SourceSound(self, path.stem, self.encode_audio(clip), path=path, clip=clip)

    def read_source(self, path: Path) -> np.ndarray:
        """The start of an audio file a render uses: the clip length (and a margin), mono at the
        model's rate; a longer file is not decoded further."""
        seconds = self.clip_samples / self.sample_rate + READ_MARGIN_SECONDS
        return audio.read(path, sample_rate=self.sample_rate, max_seconds=seconds)

    def from_audio(self, name: str, clip: np.ndarray) -> SourceSound:
        """The record of audio in memory, e.g. an upload: ``clip`` [samples] mono at the model's rate."""
        return SourceSound(self, Path(name).stem, self.encode_audio(clip), clip=clip)

    def original(self, source: Source) -> SourceSound:
        """:meth:`resolve`, for a source whose audio will be read: refuses a library sound whose
        folder is unknown, or whose index entry names a file outside that folder."""
        record = self.resolve(source)
        if record.index is None:
            return record
        if self.root is None:
            raise SoundmorphError(
                f"{self.folder}: library folder unknown; cannot re-read sound {record.index}"
            )
        assert record.path is not None
        if not record.path.resolve().is_relative_to(self.root.resolve()):
            raise SoundmorphError(f"{self.names[record.index]}: outside the library folder {self.root}")
        return record

    # -- encoding ---------------------------------------------------------------------------
    def stft(self, clips: Sequence[np.ndarray]) -> torch.Tensor:
        """Complex STFT [n, freq, frames] of clips (each [samples]) fitted to the model's length."""
        a = self.info.preset.audio
        out = []
        for start in range(0, len(clips), SPECTROGRAM_BATCH):
            fitted = [
                audio.fit_length(clip, self.clip_samples) for clip in clips[start : start + SPECTROGRAM_BATCH]
            ]
            batch = torch.from_numpy(np.stack(fitted)).to(self.device)
            out.append(spectral.stft(batch, n_fft=a.n_fft, hop_length=a.hop_length, win_length=a.win_length))
        return torch.cat(out)

    def magnitudes(self, clips: Sequence[np.ndarray]) -> torch.Tensor:
        """Magnitudes [n, freq, frames] of clips (each [samples]) fitted to the model's length."""
        return self.stft(clips).abs()

    @torch.no_grad()
    def encode_audio(self, clip: np.ndarray, *, sample: bool = False, seed: int = 0) -> torch.Tensor:
        """Latent [latent] of mono audio [samples] at the model's rate (posterior mean or a sample)."""
        posterior = self.model.encode(self.magnitudes([clip]))
        if sample:
            return posterior.sample(torch.Generator(device=self.device).manual_seed(seed))[0].cpu()
        return posterior.mode()[0].cpu()

    def encode(self, source: Source, *, sample: bool = False, seed: int = 0) -> torch.Tensor:
        """Latent [latent] of a source: its stored or encoded mean, or a sample of its posterior."""
        if not sample:
            return self.resolve(source).latent
        return self.encode_audio(self.original(source).clip, sample=True, seed=seed)

    @torch.no_grad()
    def reconstruction(self, mags: torch.Tensor) -> torch.Tensor:
        """Magnitudes [n, freq, frames] through the model (posterior mean) and back."""
        batches = mags.to(self.device).split(SPECTROGRAM_BATCH)
        return torch.cat([self.model.decode(self.model.encode(batch).mode()) for batch in batches])

    # -- decoding and rendering -------------------------------------------------------------
    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Magnitudes [n, freq, frames] of latents [n, latent]."""
        return self.model.decode(latents.to(self.device).reshape(-1, self.info.preset.model.latent_dim))

    def phase(
        self,
        mags: torch.Tensor,
        options: RenderOptions | None = None,
        *,
        length: int | None = None,
        source_phase: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Audio [n, samples] of magnitudes [n, freq, frames] by ``options``' phase method (the
        model's own by default), batched on the model's device."""
        out = phase.reconstruct(
            mags,
            options or self.render_options,
            self.info.preset.audio,
            length=length or self.clip_samples,
            source_phase=source_phase,
        )
        return out.cpu().numpy().astype(np.float32)

    def render(
        self,
        latents: torch.Tensor,
        names: list[str],
        *,
        options: RenderOptions | None = None,
        source_phase: torch.Tensor | None = None,
    ) -> list[Sound]:
        """Decode latents [n, latent] and reconstruct audio: one :class:`Sound` each
        (``source_phase``: angles [n, freq, frames] for a method that uses a source's phase)."""
        mags = self.decode(latents)
        clips = self.phase(mags, options, source_phase=source_phase)
        return [
            self._sound(clip, mag, name, z)
            for clip, mag, name, z in zip(
                clips, mags.cpu().numpy(), names, latents.cpu().numpy(), strict=True
            )
        ]

    def _sound(self, clip: np.ndarray, mag: np.ndarray, name: str, z: np.ndarray | None) -> Sound:
        hop = self.info.preset.audio.hop_length
        return Sound(clip, self.sample_rate, mag, name, hop, None if z is None else z.copy())

    def _source_phase(
        self,
        options: RenderOptions | None,
        sources: list[SourceSound],
        weights: Sequence[float] | torch.Tensor,
    ) -> torch.Tensor | None:
        """Phase [n, freq, frames] of ``sources``' originals when ``options`` need it. ``weights``
        [n, sources] are each render's shares of the sources: the ``source`` method starts from
        their blend (:func:`phase.blend_phase`), ``init="source"`` from the heaviest (nearer) one's."""
        options = options or self.render_options
        if not phase.needs_source_phase(options):
            return None
        specs = torch.stack([self.original(source).stft for source in sources])  # [sources, freq, frames]
        shares = torch.as_tensor(weights, dtype=torch.float32).reshape(-1, len(sources))
        if options.method == "source":
            return torch.stack([phase.blend_phase(specs, share) for share in shares])
        return specs.angle()[shares.argmax(-1).to(specs.device)]

    # -- morphing ---------------------------------------------------------------------------
    def morph(
        self,
        a: Source,
        b: Source,
        alpha: float = 0.5,
        *,
        sample: bool = False,
        options: RenderOptions | None = None,
    ) -> Sound:
        """The sound at ``(1 - alpha) z_a + alpha z_b``; alpha 0 reconstructs ``a``.

        ``sample`` draws each latent from its posterior (seeded by ``options.seed``) instead of
        taking the mean. With ``options.init == "source"`` the phase starts from the nearer
        source's original, with ``options.method == "source"`` from both originals' STFTs blended
        at ``(1 - alpha, alpha)``: fewer iterations for the same spectral convergence
        (``python -m bench phase``).
        """
        alpha = latent.check_alpha(alpha)
        seed = (options or self.render_options).seed
        sources = [self.resolve(a), self.resolve(b)]
        z_a, z_b = (self.encode(s, sample=sample, seed=seed) for s in sources)
        name = result_name("morph", [s.label for s in sources], f"a{alpha:.2f}")
        angles = self._source_phase(options, sources, [1.0 - alpha, alpha])
        return self.render(latent.lerp(z_a, z_b, alpha)[None], [name], options=options, source_phase=angles)[
            0
        ]

    def sweep(
        self, a: Source, b: Source, steps: int = 9, *, options: RenderOptions | None = None
    ) -> list[Sound]:
        """``steps`` sounds from ``a`` to ``b`` at evenly spaced ratios, rendered as one batch."""
        alphas = latent.sweep_alphas(steps)
        check_render_size(len(alphas), self.clip_samples / self.sample_rate, "a sweep of")
        sources = [self.resolve(a), self.resolve(b)]
        z = latent.lerp(sources[0].latent, sources[1].latent, alphas)
        labels = [s.label for s in sources]
        names = [
            result_name("sweep", labels, f"{k:02d}", f"a{float(alpha):.2f}") for k, alpha in enumerate(alphas)
        ]
        angles = self._source_phase(options, sources, torch.stack([1 - alphas, alphas], dim=-1))
        return self.render(z, names, options=options, source_phase=angles)

    def sweep_quality(self, a: Source, b: Source, sounds: list[Sound]) -> quality.SweepQuality:
        """Morph-quality figures (:mod:`soundmorph.quality`) of a sweep from ``a`` to ``b``, measured
        against the two originals."""
        mags = torch.from_numpy(np.stack([sound.magnitude for sound in sounds]))
        return quality.sweep_quality(
            mags,
            self.original(a).magnitude.cpu(),
            self.original(b).magnitude.cpu(),
            latent.sweep_alphas(len(sounds)),
            sample_rate=self.sample_rate,
        )

    def blend(self, items: Sequence[tuple[Source, float]], *, options: RenderOptions | None = None) -> Sound:
        """The weighted mean of several sounds' latents (weights are normalised to sum to 1); a
        source phase blends the sounds' at the same weights (``init="source"``: the heaviest's)."""
        if len(items) < 1:
            raise SoundmorphError("a blend needs at least one sound")
        weights = latent.blend_weights([w for _, w in items])
        sources = [self.resolve(source) for source, _ in items]
        z = latent.blend(torch.stack([s.latent for s in sources]), weights)
        parts = [f"{s.label}-{float(w):.2f}" for s, w in zip(sources, weights, strict=True) if float(w) > 0]
        angles = self._source_phase(options, sources, weights)
        return self.render(z[None], [result_name("blend", parts)], options=options, source_phase=angles)[0]

    def glide(
        self,
        a: Source,
        b: Source,
        *,
        repeats: int = 8,
        curve: str = "linear",
        options: RenderOptions | None = None,
    ) -> Sound:
        """The clip repeated ``repeats`` times in one file while alpha moves from 0 to 1 along ``curve``.

        The magnitudes are decoded on a grid of ratios and interpolated per frame, joined into one
        long spectrogram and phase-reconstructed as a whole, so the repeats join without clicks.
        """
        repeats = check_int("repeats", repeats, low=1, high=MAX_REPEATS)
        check_render_size(repeats, self.clip_samples / self.sample_rate, "a glide of")
        frames = self.info.n_frames
        alphas = latent.glide_alphas(repeats * frames, curve=curve)  # [repeats * frames]
        grid = torch.linspace(0.0, 1.0, GLIDE_GRID * repeats + 1)
        sources = [self.resolve(a), self.resolve(b)]
        mags = self.decode(latent.lerp(sources[0].latent, sources[1].latent, grid))  # [grid, freq, frames]
        position = alphas * (len(grid) - 1)
        low = position.floor().long().clamp(max=len(grid) - 2)
        weight = (position - low).to(mags)
        local = torch.arange(repeats * frames) % frames
        joined = mags[low, :, local] * (1 - weight[:, None]) + mags[low + 1, :, local] * weight[:, None]
        joined = joined.T.contiguous()  # [freq, repeats * frames]
        clip = self.phase(joined[None], options, length=repeats * self.clip_samples)[0]
        name = result_name("glide", [s.label for s in sources], f"x{repeats}", curve)
        return self._sound(clip, joined.cpu().numpy(), name, None)

    def generate(self, count: int = 4, *, seed: int = 0, options: RenderOptions | None = None) -> list[Sound]:
        """``count`` new sounds decoded from latents drawn from the prior N(0, I) (seeded by ``seed``)."""
        count = check_int("count", count, low=1, high=MAX_COUNT)
        check_render_size(count, self.clip_samples / self.sample_rate, "generating")
        z = latent.sample_prior(count, self.info.preset.model.latent_dim, seed=check_seed(seed))
        names = [result_name("generated", [], f"s{seed}", f"{k:02d}") for k in range(count)]
        return self.render(z, names, options=options)

    # -- the latent map ---------------------------------------------------------------------
    @cached_property
    def latent_map(self) -> latent.LatentMap:
        """The library in the plane of the first two principal components of its latents."""
        return latent.LatentMap.fit(self.latents)

    def latent_map_png(self) -> bytes:
        """A picture of :attr:`latent_map` with every sound's label (held-out sounds marked)."""
        held_out = np.array([split == "holdout" for split in self.splits], dtype=bool)
        labels = [Path(name).stem for name in self.names]
        return plot.latent_map(self.latent_map.points, labels, held_out=held_out)


def load(folder: str | Path, *, device: str | torch.device | None = None) -> SoundModel:
    """The model in ``folder`` with its library index."""
    folder = Path(folder)
    model, info = checkpoint.load_model(folder, device=pick_device(device))
    library = checkpoint.load_library(folder)
    try:
        return SoundModel(model, info, library, folder)
    except (TypeError, ValueError, RuntimeError) as error:
        raise SoundmorphError(
            f"{folder / checkpoint.LIBRARY_FILE}: invalid library index ({error})"
        ) from None
