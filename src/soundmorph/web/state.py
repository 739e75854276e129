"""What the web page works on: one :class:`AppState` per server, shared by every browser that opens
the page: the model, the sounds it can name (:mod:`soundmorph.web.sounds`) and the render cache
(:mod:`soundmorph.web.renders`).

This module only caches and stores: every source lookup, render, result name, map position and
sweep figure comes from :class:`soundmorph.api.SoundModel` (what the CLI uses), called on one torch
thread (see :class:`TorchThread`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from soundmorph import api
from soundmorph.api import RenderOptions, Sound, SoundModel, SourceSound, SweepQuality
from soundmorph.limits import MAX_COUNT, MAX_REPEATS, MAX_STEPS
from soundmorph.web.renders import Entry, RenderCache, TorchThread, sweep_archive
from soundmorph.web.requests import ALPHA_DECIMALS, RequestError, bpm_tag, page_bpm, render_key
from soundmorph.web.sounds import MAX_UPLOADS, PageSounds

MAX_RENDERS = 128  # cached results; one is ~1 MB (audio, magnitude, WAV), so at most ~128 MB

__all__ = ["MAX_UPLOADS", "AppState", "RequestError", "TorchThread", "limits"]


def limits() -> dict[str, Any]:
    """The bounds the page needs (one source of truth: :mod:`soundmorph.limits`)."""
    return {
        "sweep_steps": MAX_STEPS,
        "count": MAX_COUNT,
        "repeats": MAX_REPEATS,
        "curves": list(api.GLIDE_CURVES),
        "uploads": MAX_UPLOADS,
    }


class AppState:
    """The server's one shared state: the model served to the page, the sounds it can name (the
    library and the uploads of every browser that opened it) and the render cache."""

    def __init__(self, model: SoundModel, worker: TorchThread | None = None) -> None:
        self.model = model
        self.worker = worker or TorchThread()
        self.sounds = PageSounds(model)
        self.renders = RenderCache(self.worker, self._place, MAX_RENDERS)

    # -- sounds and cached renders (see PageSounds and RenderCache) ------------------------------
    def source(self, sound_id: str) -> SourceSound:
        """The source record of a library index or an upload id (:meth:`PageSounds.source`)."""
        return self.sounds.source(sound_id)

    def library(self) -> list[dict[str, Any]]:
        """Every library sound and upload (:meth:`PageSounds.library`)."""
        return self.sounds.library()

    def original_wav(self, sound_id: str) -> tuple[bytes, str]:
        """(WAV bytes, file name) of a library sound as read, or of an upload."""
        return self.sounds.original_wav(sound_id)

    def add_upload(self, name: str, clip: np.ndarray) -> dict[str, Any]:
        """Encode ``clip`` [samples] (mono, at the model's rate) and add it to the uploads every page sees."""
        source = self.worker.run(self.model.from_audio, name, clip)
        return self.sounds.describe_upload(self.sounds.add(name, source))

    def entry(self, key: str) -> Entry:
        """A cached render, or a 404 (never rendered, or dropped from the cache)."""
        return self.renders.entry(key)

    def png(self, key: str) -> bytes:
        """The spectrogram picture of a cached render, drawn the first time it is asked for."""
        return self.renders.png(key)

    def _place(self, sound: Sound) -> tuple[float, float]:
        """A render's position on the latent map."""
        assert sound.latent is not None  # a glide (no single latent) passes its place
        return self.model.latent_map.project(torch.from_numpy(sound.latent))

    # -- renders --------------------------------------------------------------------------------
    def _options(
        self, phase: str | None, bpm: float | None = None
    ) -> tuple[RenderOptions | None, float | None, tuple[str, ...]]:
        """Render options with the phase method ``phase`` (None: the model's own), the tempo checked
        (:func:`page_bpm`) and the parts both add to a cache key (none for the model's own method
        and the sources' tempi, so those keys stay as they were)."""
        bpm = page_bpm(bpm)
        if phase is None or phase == "":
            return None, bpm, bpm_tag(bpm)
        return self.model.render_options.override(method=phase), bpm, (f"phase={phase}", *bpm_tag(bpm))

    def morph(
        self, a: str, b: str, alpha: float, *, phase: str | None = None, bpm: float | None = None
    ) -> dict[str, Any]:
        """The sound at ``(1 - alpha) z_a + alpha z_b`` (alpha rounded to 3 decimals); a loop model
        plays it at ``bpm`` (default: the sources' tempi mixed)."""
        alpha = round(api.check_alpha(alpha), ALPHA_DECIMALS)
        options, bpm, tag = self._options(phase, bpm)
        source_a, source_b = self.source(a), self.source(b)
        key = render_key("morph", a, b, alpha, *tag)
        return self.renders.render(
            "morph",
            key,
            lambda: self.model.morph(source_a, source_b, alpha, options=options, bpm=bpm),
            a=a,
            b=b,
            alpha=alpha,
            bpm=bpm,
        )

    def blend(
        self, ids: list[str], weights: list[float], *, phase: str | None = None, bpm: float | None = None
    ) -> dict[str, Any]:
        """The weighted mean of the sounds' latents (weights normalised to sum to 1, then rounded)."""
        if not 1 <= len(ids) <= 8:
            raise RequestError(f"a blend takes 1 to 8 sounds, got {len(ids)}")
        if len(weights) != len(ids):
            raise RequestError(f"{len(ids)} sounds but {len(weights)} weights")
        w = api.blend_weights([round(float(v), ALPHA_DECIMALS) for v in weights])
        rounded = [round(float(v), ALPHA_DECIMALS) for v in w]
        options, bpm, tag = self._options(phase, bpm)
        items = [(self.source(i), v) for i, v in zip(ids, rounded, strict=True)]
        key = render_key("blend", *ids, *(f"{v:.3f}" for v in rounded), *tag)
        return self.renders.render(
            "blend",
            key,
            lambda: self.model.blend(items, options=options, bpm=bpm),
            ids=ids,
            weights=rounded,
            bpm=bpm,
        )

    def pad(
        self, ids: list[str], x: float, y: float, *, phase: str | None = None, bpm: float | None = None
    ) -> dict[str, Any]:
        """The blend of four corner sounds (top-left, top-right, bottom-left, bottom-right) at a
        point (x rightwards, y downwards, in [0, 1]) of the pad, by bilinear weights."""
        if len(ids) != 4:
            raise RequestError(f"the pad takes 4 sounds (its corners), got {len(ids)}")
        weights = api.pad_weights(round(x, ALPHA_DECIMALS), round(y, ALPHA_DECIMALS))
        return self.blend(ids, weights.tolist(), phase=phase, bpm=bpm)

    def surprise(self, seed: int, *, phase: str | None = None) -> dict[str, Any]:
        """One new sound (seeded), as :meth:`soundmorph.api.SoundModel.generate` draws it: around
        the library for a latent that keeps time (the default), from the prior N(0, I) otherwise."""
        options, _, tag = self._options(phase)
        return self.renders.render(
            "surprise",
            render_key("surprise", seed, *tag),
            lambda: self.model.generate(1, seed=seed, options=options)[0],
            seed=seed,
        )

    def sweep(
        self, a: str, b: str, steps: int, *, phase: str | None = None, bpm: float | None = None
    ) -> list[dict[str, Any]]:
        """``steps`` sounds from ``a`` to ``b``, rendered as one batch unless all are cached."""
        if not 2 <= steps <= MAX_STEPS:
            raise RequestError(f"steps must be in 2..{MAX_STEPS}, got {steps}")
        options, bpm, tag = self._options(phase, bpm)
        source_a, source_b = self.source(a), self.source(b)
        keys = [render_key("sweep", a, b, steps, k, *tag) for k in range(steps)]

        def extras(sounds: list[Sound]) -> list[dict[str, Any]]:
            # evenly spaced (the default): each step's ratio is where its latent lies on the path
            latents = [sound.latent for sound in sounds if sound.latent is not None]
            assert len(latents) == steps  # a sweep's sounds are decoded latents
            alphas = api.ratios_along(torch.from_numpy(np.stack(latents)))
            return [{"a": a, "b": b, "alpha": round(float(x), 4), "step": k} for k, x in enumerate(alphas)]

        return self.renders.render_batch(
            "sweep",
            keys,
            lambda: self.model.sweep(source_a, source_b, steps, options=options, bpm=bpm),
            extras,
        )

    def sweep_quality(self, a: str, b: str, keys: list[str]) -> SweepQuality:
        """Morph-quality figures of the cached sweep ``keys`` from ``a`` to ``b``, against the two
        sounds as read (library originals or uploads)."""
        sounds = [self.entry(key).sound for key in keys]
        source_a, source_b = self.source(a), self.source(b)
        return self.worker.run(self.model.sweep_quality, source_a, source_b, sounds)

    def sweep_zip(
        self, a: str, b: str, steps: int, *, phase: str | None = None, bpm: float | None = None
    ) -> tuple[bytes, str]:
        """(zip bytes, file name) of the sweep from ``a`` to ``b``: every step's WAV (the bytes the
        download route serves), ``grid.png`` of all steps and ``quality.json`` (its figures, or the
        reason they are missing). Renders the sweep unless it is cached."""
        items = self.sweep(a, b, steps, phase=phase, bpm=bpm)
        entries = [self.entry(item["key"]) for item in items]
        sounds = [entry.sound for entry in entries]
        try:
            figures: dict[str, Any] = api.json_safe(
                self.sweep_quality(a, b, [e.key for e in entries]).to_dict()
            )
        except Exception as error:  # the sweep is good without its figures
            figures = {"error": " ".join(str(error).split()) or type(error).__name__}
        with self.renders.drawing:
            grid = api.SoundRow(sounds).grid_png()
        archive = sweep_archive(entries, grid, figures)
        labels = [self.source(a).label, self.source(b).label]
        return archive, api.result_name("sweep", labels, f"x{steps}") + ".zip"

    def glide(
        self,
        a: str,
        b: str,
        *,
        repeats: int,
        curve: str,
        phase: str | None = None,
        bpm: float | None = None,
    ) -> dict[str, Any]:
        """The clip repeated ``repeats`` times while it moves from ``a`` to ``b`` along ``curve``
        (:meth:`soundmorph.api.SoundModel.glide`); its map place is the pair's midpoint."""
        if not 1 <= repeats <= MAX_REPEATS:
            raise RequestError(f"repeats must be in 1..{MAX_REPEATS}, got {repeats}")
        if curve not in api.GLIDE_CURVES:
            raise RequestError(f"unknown curve {curve[:20]!r}; choose one of: {', '.join(api.GLIDE_CURVES)}")
        options, bpm, tag = self._options(phase, bpm)
        source_a, source_b = self.source(a), self.source(b)
        middle = self.model.latent_map.project((source_a.latent + source_b.latent) / 2)
        return self.renders.render(
            "glide",
            render_key("glide", a, b, repeats, curve, *tag),
            lambda: self.model.glide(
                source_a, source_b, repeats=repeats, curve=curve, options=options, bpm=bpm
            ),
            xy=middle,
            a=a,
            b=b,
            repeats=repeats,
            curve=curve,
            bpm=bpm,
        )

    def generate(
        self, count: int, seed: int, *, phase: str | None = None, bpm: float | None = None
    ) -> list[dict[str, Any]]:
        """``count`` new sounds (seeded), rendered as one batch unless all are cached."""
        if not 1 <= count <= MAX_COUNT:
            raise RequestError(f"count must be in 1..{MAX_COUNT}, got {count}")
        options, bpm, tag = self._options(phase, bpm)
        keys = [render_key("generate", count, seed, k, *tag) for k in range(count)]
        return self.renders.render_batch(
            "generate",
            keys,
            lambda: self.model.generate(count, seed=seed, options=options, bpm=bpm),
            lambda sounds: [{"seed": seed, "step": k} for k in range(count)],
        )
