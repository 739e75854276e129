"""Rendering: decoded magnitudes (with the sources' detail for a faithful render) become audio, as
whole bars at a tempo for a loop model, and one :class:`~soundmorph.sound.Sound` each.

Every render is phase-reconstructed with typed :class:`~soundmorph.config.RenderOptions` (the
model's own unless others are given) and named by :func:`result_name`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from soundmorph import detail, grid, studio
from soundmorph.audio import phase
from soundmorph.audio.studio import loop_tags
from soundmorph.config import RenderOptions
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAX_RENDER_SECONDS
from soundmorph.session.loaded import LoadedModel
from soundmorph.session.sources import SourceSound
from soundmorph.sound import Sound

Detail = tuple[torch.Tensor, torch.Tensor]  # sources' magnitudes and their reconstructions [k, freq, frames]


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


class Renderer:
    """Turns latents of one :class:`~soundmorph.session.loaded.LoadedModel` into sounds."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self._originals: dict[int, torch.Tensor] = {}  # library originals' magnitudes, read once
        self._decoded: dict[int, torch.Tensor] = {}  # the model's reconstructions of library sounds
        self._studio: dict[int, studio.StudioSource] = {}  # library sounds as the studio chain takes them

    def original_magnitude(self, source: SourceSound) -> torch.Tensor:
        """Magnitude [freq, frames] of ``source``'s original; a library sound's is read once and kept
        (a page re-renders the same sounds on every move)."""
        if source.index is None:
            return self.loaded.original(source).magnitude
        if source.index not in self._originals:
            self._originals[source.index] = self.loaded.original(source).magnitude
        return self._originals[source.index]

    def studio_source(self, source: SourceSound) -> studio.StudioSource:
        """``source`` as the studio chain takes it (its own audio, its grid STFT); a library sound's
        is read once and kept."""
        if source.index is not None and source.index in self._studio:
            return self._studio[source.index]
        original = self.loaded.original(source)
        made = studio.StudioSource(*original.native, original.tempo, original.stft.cpu())
        if source.index is not None:
            self._studio[source.index] = made
        return made

    def options(self, options: RenderOptions | None) -> RenderOptions:
        """``options``, or the model's own."""
        return options or self.loaded.render_options

    def details(self, options: RenderOptions | None, sources: list[SourceSound]) -> Detail | None:
        """What a faithful render adds to decoded magnitudes: (the sources' magnitudes, the model's
        reconstructions of them), both [sources, freq, frames]; None for a raw render, or when a
        library sound cannot be re-read (its folder is unknown)."""
        if not self.options(options).faithful or not self.loaded.sources.readable(sources):
            return None
        originals = [self.original_magnitude(s) for s in sources]
        return torch.stack(originals).to(self.loaded.device), self.reconstructions(sources)

    def reconstructions(self, sources: list[SourceSound]) -> torch.Tensor:
        """The model's decode of each source's latent [sources, freq, frames]; a library sound's is
        decoded once and kept (a page re-renders the same pair on every move)."""
        missing = [s for s in sources if s.index is None or s.index not in self._decoded]
        decoded: dict[int, torch.Tensor] = {}
        if missing:
            mags = self.loaded.decode(torch.stack([s.latent for s in missing]))
            decoded = {id(s): mag for s, mag in zip(missing, mags, strict=True)}
        for s in missing:
            if s.index is not None:
                self._decoded[s.index] = decoded[id(s)]
        return torch.stack([decoded[id(s)] if s.index is None else self._decoded[s.index] for s in sources])

    @staticmethod
    def faithful(mags: torch.Tensor, details: Detail | None, weights: torch.Tensor) -> torch.Tensor:
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
            self.options(options),
            self.loaded.preset.audio,
            length=length or self.loaded.clip_samples,
            source_phase=source_phase,
        )
        return out.cpu().numpy().astype(np.float32)

    def source_phase(
        self,
        options: RenderOptions | None,
        sources: list[SourceSound],
        weights: Sequence[float] | torch.Tensor,
    ) -> torch.Tensor | None:
        """Phase [n, freq, frames] of ``sources``' originals when ``options`` need it. ``weights``
        [n, sources] are each render's shares of the sources: the ``source`` method starts from
        their blend (:func:`phase.blend_phase`), ``init="source"`` from the heaviest (nearer) one's."""
        options = self.options(options)
        if not phase.needs_source_phase(options):
            return None
        specs = torch.stack([self.loaded.original(source).stft for source in sources])  # [k, freq, frames]
        shares = torch.as_tensor(weights, dtype=torch.float32).reshape(-1, len(sources))
        if options.method == "source":
            return torch.stack([phase.blend_phase(specs, share) for share in shares])
        return specs.angle()[shares.argmax(-1).to(specs.device)]

    def mix_bpm(
        self, sources: Sequence[SourceSound], weights: Sequence[float], bpm: float | None
    ) -> float | None:
        """The tempo of a render from ``sources`` with ``weights`` (None: not a loop model)."""
        preset = self.loaded.preset
        if not grid.is_loop(preset):
            return None
        if bpm is not None:
            return grid.mix_bpm([], [], preset=preset, fixed=bpm)
        return grid.mix_bpm([s.bpm for s in sources], [float(w) for w in weights], preset=preset)

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
        sources: Sequence[SourceSound] | None = None,
    ) -> list[Sound]:
        """Decode latents [n, latent] and reconstruct audio: one :class:`Sound` each
        (``source_phase``: angles [n, freq, frames] for a method that uses a source's phase;
        ``details`` from :meth:`details` with each render's source ``weights`` [n, sources]).

        With the ``sources`` of a faithful render of a loop model, the studio chain (the default:
        ``options.chain``) renders each at the sources' own rate and channels, the model shaping
        their stretched mix (:func:`soundmorph.studio.render_sounds`); a loop's name ends with its
        tempo and bars.

        A loop model renders each as whole bars at its tempo in ``bpms`` (default: the grid's),
        looping without a click (:func:`soundmorph.grid.render_bars`); its :attr:`Sound.magnitude`
        is the decoded one, on the grid.
        """
        mags = self.loaded.decode(latents)
        if details is not None and weights is not None:
            mags = self.faithful(mags, details, weights)
        chosen = self.options(options)
        tempi = list(bpms) if bpms is not None else [None] * len(mags)
        preset = self.loaded.preset
        if (
            chosen.chain == "studio"
            and sources is not None
            and details is not None
            and weights is not None
            and grid.is_loop(preset)
        ):
            inputs = [self.studio_source(s) for s in sources]
            return studio.render_sounds(
                mags, latents, names, inputs, weights, tempi, preset, rate=chosen.rate
            )
        if not grid.is_loop(preset):
            clips = self.phase(mags, options, source_phase=source_phase)
            return [
                self.sound(clip, mag, name, z)
                for clip, mag, name, z in zip(
                    clips, mags.cpu().numpy(), names, latents.cpu().numpy(), strict=True
                )
            ]
        loops = grid.render_bars(mags, preset, tempi, chosen)
        bars = preset.tempo.bars
        out = []
        for clip, mag, name, z, tempo in zip(
            loops, mags.cpu().numpy(), names, latents.cpu().numpy(), tempi, strict=True
        ):
            bpm = tempo if tempo is not None else preset.tempo.bpm
            sound = self.sound(clip, mag, "_".join([name, *loop_tags(bpm, bars)]), z)
            sound.bpm, sound.bars = bpm, bars  # whole bars at its tempo: its WAV carries acid/smpl
            out.append(sound)
        return out

    def studio_glide(
        self,
        sources: list[SourceSound],
        alphas: torch.Tensor,
        joined: torch.Tensor,
        *,
        bpm: float | None,
        repeats: int,
        name: str,
        options: RenderOptions | None = None,
    ) -> Sound | None:
        """A glide (B's share ``alphas`` [repeats * frames] of the joined faithful magnitudes
        ``joined`` [freq, repeats * frames] on the grid) through the studio chain, at the sources'
        rate and channels (:func:`soundmorph.studio.studio_glide`); None where the chain does not
        apply (the model chain asked for, a raw render, a model without a loop grid, a library
        sound that cannot be re-read): the caller renders it the model's way."""
        chosen = self.options(options)
        if (
            chosen.chain != "studio"
            or not chosen.faithful
            or bpm is None
            or not grid.is_loop(self.loaded.preset)
            or not self.loaded.sources.readable(sources)
        ):
            return None
        inputs = [self.studio_source(s) for s in sources]
        clip = studio.studio_glide(
            inputs, alphas, joined, self.loaded.preset, bpm=bpm, repeats=repeats, rate=chosen.rate
        )
        return Sound(
            clip.audio,
            clip.sample_rate,
            clip.magnitude,
            name,
            clip.hop_length,
            None,
            model_magnitude=joined.cpu().numpy(),
        )

    def sound(self, clip: np.ndarray, mag: np.ndarray, name: str, z: np.ndarray | None) -> Sound:
        """A :class:`Sound` of audio ``clip`` [samples] at the model's rate and magnitude [freq, frames]."""
        hop = self.loaded.preset.audio.hop_length
        return Sound(clip, self.loaded.sample_rate, mag, name, hop, None if z is None else z.copy())
