"""What a user does with a loaded model: morph, sweep, blend, glide and generate.

:func:`load` gives a :class:`SoundModel`; every operation resolves its sources
(:mod:`~soundmorph.session.sources`), moves in the latent space (:mod:`soundmorph.latent`) and
renders (:mod:`~soundmorph.session.rendering`), returning :class:`~soundmorph.sound.Sound` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from soundmorph import detail, grid, latent, quality
from soundmorph.config import RenderOptions
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAX_COUNT, MAX_REPEATS, check_int, check_seed
from soundmorph.models import SpectrogramVAE
from soundmorph.session.loaded import LoadedModel, pick_device
from soundmorph.session.rendering import Detail, Renderer, check_render_size, result_name
from soundmorph.session.sources import Source, SourceSound
from soundmorph.sound import Sound, SoundRow
from soundmorph.training import checkpoint
from soundmorph.training.checkpoint import LibraryIndex, ModelInfo

GLIDE_GRID = 8  # decoded ratios per repeat of a glide; the frames between are interpolated


class SoundModel(LoadedModel):
    """A trained model with its library, ready to render morphs, sweeps, blends, glides and new
    sounds. Use :func:`load`."""

    def __init__(self, model: SpectrogramVAE, info: ModelInfo, library: LibraryIndex, folder: Path) -> None:
        super().__init__(model, info, library, folder)
        self.renderer = Renderer(self)

    @property
    def clip_seconds(self) -> float:
        return self.clip_samples / self.sample_rate

    def render(
        self, latents: torch.Tensor, names: list[str], *, options: RenderOptions | None = None
    ) -> list[Sound]:
        """Decode latents [n, latent] and render them as they are (no sources): one sound each."""
        return self.renderer.render(latents, names, options=options)

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
        render = self.renderer
        sources = [self.resolve(a), self.resolve(b)]
        seed = render.options(options).seed
        z_a, z_b = (self.encode(s, sample=sample, seed=seed) for s in sources)
        shares = [1.0 - alpha, alpha]
        return render.render(
            latent.lerp(z_a, z_b, alpha)[None],
            [result_name("morph", [s.label for s in sources], f"a{alpha:.2f}")],
            options=options,
            source_phase=render.source_phase(options, sources, shares),
            details=render.details(options, sources),
            weights=torch.tensor([shares]),
            bpms=[render.mix_bpm(sources, shares, bpm)],
            sources=sources,
        )[0]

    def sweep(
        self,
        a: Source,
        b: Source,
        steps: int = 9,
        *,
        options: RenderOptions | None = None,
        spacing: latent.Spacing = "even",
        bpm: float | None = None,
    ) -> SoundRow:
        """``steps`` sounds from ``a`` to ``b``, rendered as one batch: at ratios that make every
        step an equal log-mel distance (``spacing="even"``, the default:
        :func:`soundmorph.latent.even_alphas`) or at evenly spaced ratios (``"linear"``: equal steps
        in the latent, which the ear hears as uneven where one sound masks the other). A loop model
        plays each step at its own interpolated tempo, or all at ``bpm``."""
        if spacing not in latent.SPACINGS:
            raise SoundmorphError(f"unknown spacing {spacing!r}; choose one of: {', '.join(latent.SPACINGS)}")
        alphas = latent.sweep_alphas(steps)
        check_render_size(len(alphas), self.clip_seconds, "a sweep of")
        render = self.renderer
        sources = [self.resolve(a), self.resolve(b)]
        details = render.details(options, sources)
        if spacing == "even":
            alphas = self._even_alphas(sources, details, steps)
        labels = [s.label for s in sources]
        names = [
            result_name("sweep", labels, f"{k:02d}", f"a{float(alpha):.2f}") for k, alpha in enumerate(alphas)
        ]
        weights = detail.pair_weights(alphas)
        rendered = render.render(
            latent.lerp(sources[0].latent, sources[1].latent, alphas),
            names,
            options=options,
            source_phase=render.source_phase(options, sources, weights),
            details=details,
            weights=weights,
            bpms=[render.mix_bpm(sources, [1 - float(x), float(x)], bpm) for x in alphas],
            sources=sources,
        )
        return SoundRow(rendered)

    def _even_alphas(self, sources: list[SourceSound], details: Detail | None, steps: int) -> torch.Tensor:
        """Sweep ratios with equal log-mel steps between the sources (their originals when known,
        else the model's reconstructions), for the sweep as it will be rendered."""
        z_a, z_b = sources[0].latent, sources[1].latent

        def at(alphas: torch.Tensor) -> torch.Tensor:
            mags = self.decode(latent.lerp(z_a, z_b, alphas))
            return self.renderer.faithful(mags, details, detail.pair_weights(alphas)).cpu()

        ends = details[0] if details is not None else self.decode(torch.stack([z_a, z_b]))
        return latent.even_alphas(at, ends[0].cpu(), ends[1].cpu(), steps, sample_rate=self.sample_rate)

    def sweep_quality(self, a: Source, b: Source, sounds: list[Sound]) -> quality.SweepQuality:
        """Morph-quality figures (:mod:`soundmorph.quality`) of a sweep from ``a`` to ``b``, measured
        against the two originals."""
        mags = torch.from_numpy(np.stack([sound.grid_magnitude for sound in sounds]))
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
        render = self.renderer
        sources = [self.resolve(source) for source, _ in items]
        parts = [f"{s.label}-{float(w):.2f}" for s, w in zip(sources, weights, strict=True) if float(w) > 0]
        return render.render(
            latent.blend(torch.stack([s.latent for s in sources]), weights)[None],
            [result_name("blend", parts)],
            options=options,
            source_phase=render.source_phase(options, sources, weights),
            details=render.details(options, sources),
            weights=weights[None],
            bpms=[render.mix_bpm(sources, [float(w) for w in weights], bpm)],
            sources=sources,
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
        check_render_size(repeats, self.clip_seconds, "a glide of")
        render = self.renderer
        frames = self.info.n_frames
        alphas = latent.glide_alphas(repeats * frames, curve=curve)  # [repeats * frames]
        ratios = torch.linspace(0.0, 1.0, GLIDE_GRID * repeats + 1)
        sources = [self.resolve(a), self.resolve(b)]
        mags = self.decode(latent.lerp(sources[0].latent, sources[1].latent, ratios))  # [grid, freq, frames]
        mags = render.faithful(mags, render.details(options, sources), detail.pair_weights(ratios))
        position = alphas * (len(ratios) - 1)
        low = position.floor().long().clamp(max=len(ratios) - 2)
        weight = (position - low).to(mags)
        local = torch.arange(repeats * frames) % frames
        joined = mags[low, :, local] * (1 - weight[:, None]) + mags[low + 1, :, local] * weight[:, None]
        joined = joined.T.contiguous()  # [freq, repeats * frames]
        length = repeats * self.clip_samples
        tempo = render.mix_bpm(sources, [0.5, 0.5], bpm)
        name = result_name("glide", [s.label for s in sources], f"x{repeats}", curve)
        made = render.studio_glide(
            sources, alphas, joined, bpm=tempo, repeats=repeats, name=name, options=options
        )
        if made is not None:  # the studio chain: the sources' own sound, rate and channels
            return made
        if tempo is not None:
            length = repeats * grid.loop_samples(self.preset, tempo)
            joined = grid.stretch_joined(joined, length, self.preset.audio.hop_length)
            if render.options(options).init == "source":
                options = render.options(options).override(init="random")
        clip = render.phase(joined[None], options, length=length)[0]
        return render.sound(clip, joined.cpu().numpy(), name, None)

    def generate(
        self, count: int = 4, *, seed: int = 0, options: RenderOptions | None = None, bpm: float | None = None
    ) -> SoundRow:
        """``count`` new sounds (seeded by ``seed``), drawn as the model's family draws new latents
        (:meth:`~soundmorph.models.SpectrogramVAE.sample_latents`: the prior N(0, I) for a global
        latent, around the library for a latent that keeps time); a loop model plays them at ``bpm``
        (default: its grid tempo)."""
        count = check_int("count", count, low=1, high=MAX_COUNT)
        check_render_size(count, self.clip_seconds, "generating")
        seed = check_seed(seed)
        z = self.model.sample_latents(self.latents, count, seed=seed)
        names = [result_name("generated", [], f"s{seed}", f"{k:02d}") for k in range(count)]
        tempo = self.renderer.mix_bpm([], [], bpm)
        return SoundRow(self.renderer.render(z, names, options=options, bpms=[tempo] * count))


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
