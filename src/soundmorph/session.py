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

from soundmorph import audio, detail, grid, latent, plot, quality
from soundmorph.audio import phase, spectral
from soundmorph.audio.tempo import Tempo
from soundmorph.config import (
    MAX_CLIP_SECONDS,
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
from soundmorph.models import SpectrogramVAE, latent_size
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
        tempo: Tempo | None = None,
    ) -> None:
        self.label, self.latent, self.index, self.path = label, latent, index, path
        self._model = model
        self._clip = clip
        self._tempo = tempo

    @property
    def clip(self) -> np.ndarray:
        """Mono float32 audio [samples] at the model's rate, as read (not fitted)."""
        if self._clip is None:
            assert self.path is not None, "a source without a file carries its audio"
            self._clip = self._model.read_source(self.path)
        return self._clip

    @property
    def tempo(self) -> Tempo | None:
        """Kind, tempo and bars: as stored for a library sound, else found in :attr:`clip`; None for a
        model without a grid."""
        if self._tempo is None and self._model.preset.tempo.mode != "off":
            self._tempo = grid.analyse(self.clip, self._model.preset)
        return self._tempo

    @property
    def bpm(self) -> float | None:
        """The tempo of a loop source (None for a one-shot or a model without a grid)."""
        found = self.tempo
        return found.bpm if found is not None and found.kind == "loop" else None

    @cached_property
    def stft(self) -> torch.Tensor:
        """Complex STFT [freq, frames] of :attr:`clip` on the model's grid (or fitted to its length)."""
        return self._model.stft([self.clip], [self.tempo])[0]

    @property
    def magnitude(self) -> torch.Tensor:
        """Magnitude [freq, frames] of :attr:`clip` fitted to the model's clip length."""
        return self.stft.abs()


Source = int | str | Path | SourceSound  # a library index or file name, an audio file, or resolved
Detail = tuple[torch.Tensor, torch.Tensor]  # sources' magnitudes and their reconstructions [k, freq, frames]


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
        self.latent_size = latent_size(info.preset.model, info.n_frames)  # numbers per latent
        self.latents = library.latents(self.latent_size)  # [n, latent]
        self.tempos: list[Tempo | None] = [entry.tempo for entry in library.entries]
        self._library_magnitudes: dict[int, torch.Tensor] = {}  # originals read for faithful renders

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
            stored = self.tempos[index]
            return SourceSound(
                self, Path(name).stem, self.latents[index], index=index, path=path, tempo=stored
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
        seconds = self.clip_samples / self.sample_rate + READ_MARGIN_SECONDS
        if self.preset.tempo.mode != "off":
            seconds = MAX_CLIP_SECONDS + READ_MARGIN_SECONDS
        return audio.read(path, sample_rate=self.sample_rate, max_seconds=seconds)

    def from_audio(self, name: str, clip: np.ndarray, *, path: Path | None = None) -> SourceSound:
        """The record of audio in memory, e.g. an upload: ``clip`` [samples] mono at the model's rate
        (its tempo is found now when the model has a grid, and the clip is put on it to encode)."""
        found = grid.analyse(clip, self.preset, name=name) if self.preset.tempo.mode != "off" else None
        latent = self.encode_audio(clip, tempo=found)
        return SourceSound(self, Path(name).stem, latent, path=path, clip=clip, tempo=found)

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

    # -- decoding and rendering -------------------------------------------------------------
    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Magnitudes [n, freq, frames] of latents [n, latent]."""
        return self.model.decode(latents.to(self.device).reshape(-1, self.latent_size))

    def _details(self, options: RenderOptions | None, sources: list[SourceSound]) -> Detail | None:
        """What a faithful render adds to decoded magnitudes: (the sources' magnitudes, the model's
        reconstructions of them), both [sources, freq, frames]; None for a raw render, or when a
        library sound cannot be re-read (its folder is unknown)."""
        if not (options or self.render_options).faithful:
            return None
        if any(s.index is not None and self.root is None for s in sources):
            return None
        originals = torch.stack([self._original_magnitude(s) for s in sources]).to(self.device)
        return originals, self.decode(torch.stack([s.latent for s in sources]))

    def _original_magnitude(self, source: SourceSound) -> torch.Tensor:
        """Magnitude [freq, frames] of ``source``'s original; a library sound's is read once and kept
        (a page re-renders the same sounds on every move)."""
        if source.index is None:
            return self.original(source).magnitude
        if source.index not in self._library_magnitudes:
            self._library_magnitudes[source.index] = self.original(source).magnitude
        return self._library_magnitudes[source.index]

    @staticmethod
    def _faithful(mags: torch.Tensor, details: Detail | None, weights: torch.Tensor) -> torch.Tensor:
        """``mags`` [n, freq, frames] with the sources' detail at ``weights`` [n, sources(, frames)]."""
        if details is None:
            return mags
        return detail.detail_transfer(mags, *details, weights.to(mags))

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
        details: Detail | None = None,
        weights: torch.Tensor | None = None,
        bpms: Sequence[float | None] | None = None,
    ) -> list[Sound]:
        """Decode latents [n, latent] and reconstruct audio: one :class:`Sound` each
        (``source_phase``: angles [n, freq, frames] for a method that uses a source's phase;
        ``details`` from :meth:`_details` with each render's source ``weights`` [n, sources]).

        A loop model renders each as whole bars at its tempo in ``bpms`` (default: the grid's),
        looping without a click (:func:`soundmorph.grid.render_bars`); its :attr:`Sound.magnitude`
        is the decoded one, on the grid.
        """
        mags = self.decode(latents)
        if details is not None and weights is not None:
            mags = self._faithful(mags, details, weights)
        clips: Sequence[np.ndarray]
        if grid.is_loop(self.preset):
            tempi = list(bpms) if bpms is not None else [None] * len(mags)
            clips = grid.render_bars(mags, self.preset, tempi, options or self.render_options)
        else:
            clips = list(self.phase(mags, options, source_phase=source_phase))
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
        bpm: float | None = None,
    ) -> Sound:
        """The sound at ``(1 - alpha) z_a + alpha z_b``; alpha 0 reconstructs ``a``.

        A loop model plays it at ``bpm``, by default at the sources' tempi interpolated linearly
        with the same ratio (:func:`soundmorph.grid.mix_bpm`), as whole bars.

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
        z = latent.lerp(z_a, z_b, alpha)[None]
        details = self._details(options, sources)
        shares = torch.tensor([[1.0 - alpha, alpha]])
        tempo = self._mix_bpm(sources, [1 - alpha, alpha], bpm)
        sounds = self.render(
            z, [name], options=options, source_phase=angles, details=details, weights=shares, bpms=[tempo]
        )
        return sounds[0]

    def _mix_bpm(
        self, sources: Sequence[SourceSound], weights: Sequence[float], bpm: float | None
    ) -> float | None:
        """The tempo of a render from ``sources`` with ``weights`` (None: not a loop model)."""
        if not grid.is_loop(self.preset):
            return None
        if bpm is not None:
            return grid.mix_bpm([], [], preset=self.preset, fixed=bpm)
        return grid.mix_bpm([s.bpm for s in sources], [float(w) for w in weights], preset=self.preset)

    def sweep(
        self,
        a: Source,
        b: Source,
        steps: int = 9,
        *,
        options: RenderOptions | None = None,
        spacing: latent.Spacing = "even",
        bpm: float | None = None,
    ) -> list[Sound]:
        """``steps`` sounds from ``a`` to ``b``, rendered as one batch: at ratios that make every
        step an equal log-mel distance (``spacing="even"``, the default:
        :func:`soundmorph.latent.even_alphas`) or at evenly spaced ratios (``"linear"``: equal steps
        in the latent, which the ear hears as uneven where one sound masks the other). A loop model
        plays each step at its own interpolated tempo, or all at ``bpm``."""
        if spacing not in latent.SPACINGS:
            raise SoundmorphError(f"unknown spacing {spacing!r}; choose one of: {', '.join(latent.SPACINGS)}")
        alphas = latent.sweep_alphas(steps)
        check_render_size(len(alphas), self.clip_samples / self.sample_rate, "a sweep of")
        sources = [self.resolve(a), self.resolve(b)]
        details = self._details(options, sources)
        if spacing == "even":
            alphas = self._even_alphas(sources, details, steps)
        z = latent.lerp(sources[0].latent, sources[1].latent, alphas)
        labels = [s.label for s in sources]
        names = [
            result_name("sweep", labels, f"{k:02d}", f"a{float(alpha):.2f}") for k, alpha in enumerate(alphas)
        ]
        weights = detail.pair_weights(alphas)
        angles = self._source_phase(options, sources, weights)
        tempi = [self._mix_bpm(sources, [1 - float(alpha), float(alpha)], bpm) for alpha in alphas]
        return self.render(
            z, names, options=options, source_phase=angles, details=details, weights=weights, bpms=tempi
        )

    def _even_alphas(self, sources: list[SourceSound], details: Detail | None, steps: int) -> torch.Tensor:
        """Sweep ratios with equal log-mel steps between the sources (their originals when known,
        else the model's reconstructions), for the sweep as it will be rendered."""
        z_a, z_b = sources[0].latent, sources[1].latent

        def at(alphas: torch.Tensor) -> torch.Tensor:
            mags = self.decode(latent.lerp(z_a, z_b, alphas))
            return self._faithful(mags, details, detail.pair_weights(alphas)).cpu()

        ends = details[0] if details is not None else self.decode(torch.stack([z_a, z_b]))
        return latent.even_alphas(at, ends[0].cpu(), ends[1].cpu(), steps, sample_rate=self.sample_rate)

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

    def blend(
        self,
        items: Sequence[tuple[Source, float]],
        *,
        options: RenderOptions | None = None,
        bpm: float | None = None,
    ) -> Sound:
        """The weighted mean of several sounds' latents (weights are normalised to sum to 1); a
        source phase blends the sounds' at the same weights (``init="source"``: the heaviest's); a loop
        model plays it at the sources' tempi averaged with the weights (or ``bpm``)."""
        if len(items) < 1:
            raise SoundmorphError("a blend needs at least one sound")
        weights = latent.blend_weights([w for _, w in items])
        sources = [self.resolve(source) for source, _ in items]
        z = latent.blend(torch.stack([s.latent for s in sources]), weights)
        parts = [f"{s.label}-{float(w):.2f}" for s, w in zip(sources, weights, strict=True) if float(w) > 0]
        angles = self._source_phase(options, sources, weights)
        details = self._details(options, sources)
        tempo = self._mix_bpm(sources, [float(w) for w in weights], bpm)
        return self.render(
            z[None],
            [result_name("blend", parts)],
            options=options,
            source_phase=angles,
            details=details,
            weights=weights[None],
            bpms=[tempo],
        )[0]

    def glide(
        self,
        a: Source,
        b: Source,
        *,
        repeats: int = 8,
        curve: str = "linear",
        options: RenderOptions | None = None,
        bpm: float | None = None,
    ) -> Sound:
        """The clip repeated ``repeats`` times in one file while alpha moves from 0 to 1 along ``curve``.

        The magnitudes are decoded on a grid of ratios and interpolated per frame, joined into one
        long spectrogram and phase-reconstructed as a whole, so the repeats join without clicks.
        A loop model keeps one tempo: ``bpm``, else the mean of the two sources' tempi; the file is
        ``repeats`` times its bars at that tempo, to the sample.
        """
        repeats = check_int("repeats", repeats, low=1, high=MAX_REPEATS)
        check_render_size(repeats, self.clip_samples / self.sample_rate, "a glide of")
        frames = self.info.n_frames
        alphas = latent.glide_alphas(repeats * frames, curve=curve)  # [repeats * frames]
        ratios = torch.linspace(0.0, 1.0, GLIDE_GRID * repeats + 1)
        sources = [self.resolve(a), self.resolve(b)]
        mags = self.decode(latent.lerp(sources[0].latent, sources[1].latent, ratios))  # [grid, freq, frames]
        mags = self._faithful(mags, self._details(options, sources), detail.pair_weights(ratios))
        position = alphas * (len(ratios) - 1)
        low = position.floor().long().clamp(max=len(ratios) - 2)
        weight = (position - low).to(mags)
        local = torch.arange(repeats * frames) % frames
        joined = mags[low, :, local] * (1 - weight[:, None]) + mags[low + 1, :, local] * weight[:, None]
        joined = joined.T.contiguous()  # [freq, repeats * frames]
        length = repeats * self.clip_samples
        tempo = self._mix_bpm(sources, [0.5, 0.5], bpm)
        if tempo is not None:
            length = repeats * grid.loop_samples(self.preset, tempo)
            joined = grid.stretch_joined(joined, length, self.preset.audio.hop_length)
            if (options or self.render_options).init == "source":
                options = (options or self.render_options).override(init="random")
        clip = self.phase(joined[None], options, length=length)[0]
        name = result_name("glide", [s.label for s in sources], f"x{repeats}", curve)
        return self._sound(clip, joined.cpu().numpy(), name, None)

    def generate(
        self, count: int = 4, *, seed: int = 0, options: RenderOptions | None = None, bpm: float | None = None
    ) -> list[Sound]:
        """``count`` new sounds (seeded by ``seed``): latents drawn from the prior N(0, I), or for a
        latent that keeps time, around the library (:func:`soundmorph.latent.sample_around`: a
        draw from N(0, I) there decodes to per-frame noise, not a loop); a loop model plays them at
        ``bpm`` (default: its grid tempo)."""
        count = check_int("count", count, low=1, high=MAX_COUNT)
        check_render_size(count, self.clip_samples / self.sample_rate, "generating")
        seed = check_seed(seed)
        if self.info.preset.model.latent == "sequence" and len(self.latents):
            z = latent.sample_around(self.latents, count, seed=seed)
        else:
            z = latent.sample_prior(count, self.latent_size, seed=seed)
        names = [result_name("generated", [], f"s{seed}", f"{k:02d}") for k in range(count)]
        tempo = self._mix_bpm([], [], bpm)
        return self.render(z, names, options=options, bpms=[tempo] * count)

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
