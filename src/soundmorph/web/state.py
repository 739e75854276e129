"""What the web page works on: one :class:`AppState` per server, shared by every browser that opens
the page: the loaded model, the uploads and a cache of renders.

The page names a sound by its library index (``"3"``) or by an upload id (``"u1"``), never by a
path, so nothing outside the model's library can be read. This module only caches and stores:
every source lookup, render, result name, map position and sweep figure comes from
:class:`soundmorph.api.SoundModel` (what the CLI uses), called on one torch thread (see
:class:`TorchThread`). Renders are kept in a bounded LRU cache keyed by the request, so a slider
position heard before is served at once.
Spectrogram pictures are drawn only when asked for (numpy, no matplotlib), so the audio never
waits for them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from soundmorph import api
from soundmorph.api import RenderOptions, Sound, SoundModel, SoundmorphError, SourceSound, SweepQuality
from soundmorph.limits import MAX_COUNT, MAX_REPEATS, MAX_STEPS

log = logging.getLogger("soundmorph.web")

MAX_RENDERS = 128  # cached results; one is ~1 MB (audio, magnitude, WAV), so at most ~128 MB
MAX_ORIGINALS = 32  # cached WAVs of library originals
MAX_UPLOADS = 16  # uploads kept by the server; the oldest is dropped first
ALPHA_DECIMALS = 3  # ratios and pad positions are rounded to this, so nearby requests share a render
SOUND_ID = re.compile(r"(?:0|[1-9]\d{0,8}|u[1-9]\d{0,8})")
RENDER_KEY = re.compile(r"[0-9a-f]{16}")


class RequestError(SoundmorphError):
    """A request the page cannot serve; ``status`` is its HTTP status code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """A sound dropped on the page (not part of the model): its id, file name and source record
    (its audio as uploaded, at the model's rate, and its latent)."""

    id: str
    name: str  # the uploaded file's name, without folders
    source: SourceSound


@dataclass
class Entry:
    """A cached render."""

    key: str
    kind: str  # morph, blend, sweep, surprise, glide, generate
    sound: Sound
    xy: tuple[float, float]
    render_ms: float  # server time of the render (its share, for a batch)
    wav: bytes
    png: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self, *, cached: bool) -> dict[str, Any]:
        """The JSON the page gets for this render."""
        return {
            "key": self.key,
            "kind": self.kind,
            "name": self.sound.name,
            "wav": f"/api/render/{self.key}.wav",
            "png": f"/api/render/{self.key}.png",
            "download": f"{self.sound.name}.wav",
            "x": self.xy[0],
            "y": self.xy[1],
            "seconds": round(self.sound.duration, 3),
            "render_ms": round(self.render_ms, 1),
            "cached": cached,
            **self.extra,
        }


def _key(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16]


_R = TypeVar("_R")


class TorchThread:
    """Runs every torch call of the server on one long-lived thread, one call at a time.

    Measured (2 cores): once torch's intra-op thread pool has been used from two different
    threads, every later op in either thread runs about 2x slower (GL32: 40 -> 95 ms). FastAPI runs
    plain endpoints on a pool of worker threads, so without this each worker thread would add one.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soundmorph-torch")

    def run(self, fn: Callable[..., _R], *args: Any, **kwargs: Any) -> _R:
        """``fn(*args, **kwargs)`` on the torch thread; waits for it and returns its result."""
        return self._executor.submit(fn, *args, **kwargs).result()


def limits() -> dict[str, Any]:
    """The bounds the page needs (one source of truth: :mod:`soundmorph.config`)."""
    return {
        "sweep_steps": MAX_STEPS,
        "count": MAX_COUNT,
        "repeats": MAX_REPEATS,
        "curves": list(api.GLIDE_CURVES),
        "uploads": MAX_UPLOADS,
    }


class AppState:
    """The server's one shared state: the model served to the page, the uploads (of every browser
    that opened it) and the render cache."""

    def __init__(self, model: SoundModel, worker: TorchThread | None = None) -> None:
        self.model = model
        self.worker = worker or TorchThread()
        self.uploads: OrderedDict[str, Upload] = OrderedDict()
        self._renders: OrderedDict[str, Entry] = OrderedDict()
        self._originals: OrderedDict[str, bytes] = OrderedDict()
        self._next_upload = 1
        self._plot = threading.Lock()  # matplotlib figures are not meant to be drawn concurrently
        self._state = threading.Lock()  # the dictionaries above

    # -- naming sounds ------------------------------------------------------------------------
    def check_id(self, sound_id: str) -> str:
        """``sound_id`` if it has the form of a library index or an upload id, else a 400."""
        if not isinstance(sound_id, str) or not SOUND_ID.fullmatch(sound_id):
            raise RequestError(
                f"{str(sound_id)[:40]!r} is not a sound id: use a library index "
                f"(0..{len(self.model.names) - 1}) or an upload id (u1, u2, ...)"
            )
        return sound_id

    def source(self, sound_id: str) -> SourceSound:
        """The source record of a library index or an upload id (an unknown index raises
        :class:`soundmorph.api.UnknownSourceError`, which the server answers with a 404)."""
        sound_id = self.check_id(sound_id)
        if sound_id.startswith("u"):
            return self._upload(sound_id).source
        return self.model.resolve(int(sound_id))

    def _upload(self, sound_id: str) -> Upload:
        with self._state:
            upload = self.uploads.get(sound_id)
        if upload is None:
            raise RequestError(f"no upload {sound_id} on this server (uploads are kept in memory only)", 404)
        return upload

    def library(self) -> list[dict[str, Any]]:
        """Every library sound and upload: id, name, split, map position, kind, tempo and bars."""
        sounds = [
            {"id": str(i), "index": i, "name": name, "split": split, "x": float(x), "y": float(y)}
            | _tempo_fields(found)
            for i, (name, split, (x, y), found) in enumerate(
                zip(
                    self.model.names,
                    self.model.splits,
                    self.model.latent_map.points,
                    self.model.tempos,
                    strict=True,
                )
            )
        ]
        with self._state:
            uploads = list(self.uploads.values())
        return sounds + [self.describe_upload(u) for u in uploads]

    def describe_upload(self, upload: Upload) -> dict[str, Any]:
        x, y = self.model.latent_map.project(upload.source.latent)
        seconds = round(len(upload.source.clip) / self.model.sample_rate, 3)
        return {
            "id": upload.id,
            "index": None,
            "name": upload.name,
            "split": "upload",
            "x": x,
            "y": y,
            "seconds": seconds,
        } | _tempo_fields(upload.source.tempo)

    # -- renders --------------------------------------------------------------------------------
    def _cached(self, key: str) -> Entry | None:
        with self._state:
            entry = self._renders.get(key)
            if entry is not None:
                self._renders.move_to_end(key)
            return entry

    def _store(self, entry: Entry) -> None:
        with self._state:
            self._renders[entry.key] = entry
            while len(self._renders) > MAX_RENDERS:
                self._renders.popitem(last=False)

    def _entry(
        self,
        key: str,
        kind: str,
        sound: Sound,
        wav: bytes,
        ms: float,
        extra: dict[str, Any],
        xy: tuple[float, float] | None = None,
    ) -> Entry:
        if xy is None:
            assert sound.latent is not None  # a glide (no single latent) passes its place
            xy = self.model.latent_map.project(torch.from_numpy(sound.latent))
        entry = Entry(key, kind, sound, xy, ms, wav, extra=extra)
        self._store(entry)
        return entry

    def _render(
        self,
        kind: str,
        key: str,
        render: Callable[[], Sound],
        *,
        xy: tuple[float, float] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """One cached render: ``render()`` on the torch thread unless ``key`` is cached."""
        entry = self._cached(key)
        if entry is not None:
            return entry.describe(cached=True)
        entry = self.worker.run(self._cached, key)  # rendered by a request queued before us
        if entry is not None:
            return entry.describe(cached=True)
        sounds, wavs, elapsed = self.worker.run(_timed, lambda: [render()])
        return self._entry(key, kind, sounds[0], wavs[0], elapsed, extra, xy).describe(cached=False)

    def _options(self, phase: str | None) -> tuple[RenderOptions | None, tuple[str, ...]]:
        """Render options with the phase method ``phase`` (None: the model's own) and the parts it
        adds to a cache key (none for the model's own, so those keys stay as they were)."""
        if phase is None or phase == "":
            return None, ()
        return self.model.render_options.override(method=phase), (f"phase={phase}",)

    def morph(
        self, a: str, b: str, alpha: float, *, phase: str | None = None, bpm: float | None = None
    ) -> dict[str, Any]:
        """The sound at ``(1 - alpha) z_a + alpha z_b`` (alpha rounded to 3 decimals); a loop model
        plays it at ``bpm`` (default: the sources' tempi mixed)."""
        alpha = round(api.check_alpha(alpha), ALPHA_DECIMALS)
        options, tag = self._options(phase)
        bpm = _bpm(bpm)
        source_a, source_b = self.source(a), self.source(b)
        key = _key("morph", a, b, alpha, *tag, *_bpm_tag(bpm))
        return self._render(
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
        options, tag = self._options(phase)
        items = [(self.source(i), v) for i, v in zip(ids, rounded, strict=True)]
        bpm = _bpm(bpm)
        key = _key("blend", *ids, *(f"{v:.3f}" for v in rounded), *tag, *_bpm_tag(bpm))
        return self._render(
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
        options, tag = self._options(phase)
        return self._render(
            "surprise",
            _key("surprise", seed, *tag),
            lambda: self.model.generate(1, seed=seed, options=options)[0],
            seed=seed,
        )

    def sweep(
        self, a: str, b: str, steps: int, *, phase: str | None = None, bpm: float | None = None
    ) -> list[dict[str, Any]]:
        """``steps`` sounds from ``a`` to ``b``, rendered as one batch unless all are cached."""
        if not 2 <= steps <= MAX_STEPS:
            raise RequestError(f"steps must be in 2..{MAX_STEPS}, got {steps}")
        options, tag = self._options(phase)
        source_a, source_b = self.source(a), self.source(b)
        bpm = _bpm(bpm)
        keys = [_key("sweep", a, b, steps, k, *tag, *_bpm_tag(bpm)) for k in range(steps)]
        entries = [self._cached(key) for key in keys]
        missing = [k for k, entry in enumerate(entries) if entry is None]
        if missing:
            sounds, wavs, elapsed = self.worker.run(
                _timed, lambda: self.model.sweep(source_a, source_b, steps, options=options, bpm=bpm)
            )
            # evenly spaced (the default): each step's ratio is where its latent lies on the path
            latents = [sound.latent for sound in sounds if sound.latent is not None]
            assert len(latents) == steps  # a sweep's sounds are decoded latents
            alphas = api.ratios_along(torch.from_numpy(np.stack(latents)))
            for k in missing:
                extra = {"a": a, "b": b, "alpha": round(float(alphas[k]), 4), "step": k}
                entries[k] = self._entry(keys[k], "sweep", sounds[k], wavs[k], elapsed / steps, extra)
        return [
            entry.describe(cached=k not in missing) for k, entry in enumerate(entries) if entry is not None
        ]

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
        with self._plot:
            grid = api.SoundRow(sounds).grid_png()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for entry in entries:
                archive.writestr(f"{entry.sound.name}.wav", entry.wav, compress_type=zipfile.ZIP_STORED)
            archive.writestr("grid.png", grid, compress_type=zipfile.ZIP_STORED)
            archive.writestr(
                "quality.json", json.dumps(figures, indent=2), compress_type=zipfile.ZIP_DEFLATED
            )
        labels = [self.source(a).label, self.source(b).label]
        return buffer.getvalue(), api.result_name("sweep", labels, f"x{steps}") + ".zip"

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
        options, tag = self._options(phase)
        source_a, source_b = self.source(a), self.source(b)
        bpm = _bpm(bpm)
        middle = self.model.latent_map.project((source_a.latent + source_b.latent) / 2)
        return self._render(
            "glide",
            _key("glide", a, b, repeats, curve, *tag, *_bpm_tag(bpm)),
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
        options, tag = self._options(phase)
        bpm = _bpm(bpm)
        keys = [_key("generate", count, seed, k, *tag, *_bpm_tag(bpm)) for k in range(count)]
        entries = [self._cached(key) for key in keys]
        missing = [k for k, entry in enumerate(entries) if entry is None]
        if missing:
            sounds, wavs, elapsed = self.worker.run(
                _timed, lambda: self.model.generate(count, seed=seed, options=options, bpm=bpm)
            )
            for k in missing:
                extra = {"seed": seed, "step": k}
                entries[k] = self._entry(keys[k], "generate", sounds[k], wavs[k], elapsed / count, extra)
        return [
            entry.describe(cached=k not in missing) for k, entry in enumerate(entries) if entry is not None
        ]

    def entry(self, key: str) -> Entry:
        """A cached render, or a 404 (never rendered, or dropped from the cache)."""
        if not RENDER_KEY.fullmatch(key):
            raise RequestError(f"{key[:40]!r} is not a render key", 404)
        entry = self._cached(key)
        if entry is None:
            raise RequestError(f"render {key} is not in the cache (ask for it again)", 404)
        return entry

    def png(self, key: str) -> bytes:
        """The spectrogram picture of a cached render (:meth:`soundmorph.api.Sound.spectrogram_image`),
        drawn the first time it is asked for."""
        entry = self.entry(key)
        if entry.png is None:
            with self._plot:
                if entry.png is None:
                    entry.png = entry.sound.spectrogram_image()
        return entry.png

    # -- originals and uploads ------------------------------------------------------------------
    def original_wav(self, sound_id: str) -> tuple[bytes, str]:
        """(WAV bytes, file name) of a library sound as read from the library, or of an upload."""
        source = self.source(sound_id)
        with self._state:
            cached = self._originals.get(sound_id)
        if cached is None:
            try:
                clip = self.model.original(source).clip
            except SoundmorphError as error:
                raise RequestError(f"original of {source.label} cannot be read: {error}", 404) from None
            cached = api.to_wav_bytes(clip, sample_rate=self.model.sample_rate)
            if source.index is not None:  # uploads are in memory already
                with self._state:
                    self._originals[sound_id] = cached
                    while len(self._originals) > MAX_ORIGINALS:
                        self._originals.popitem(last=False)
        return cached, f"{source.label}.wav"

    def add_upload(self, name: str, clip: np.ndarray) -> dict[str, Any]:
        """Encode ``clip`` [samples] (mono, at the model's rate) and add it to the uploads every page sees."""
        source = self.worker.run(self.model.from_audio, name, clip)
        with self._state:
            upload = Upload(f"u{self._next_upload}", name, source)
            self._next_upload += 1
            self.uploads[upload.id] = upload
            while len(self.uploads) > MAX_UPLOADS:
                dropped, _ = self.uploads.popitem(last=False)
                log.info("dropped upload %s (at most %d are kept)", dropped, MAX_UPLOADS)
        return self.describe_upload(upload)


def _timed(render: Callable[[], list[Sound]]) -> tuple[list[Sound], list[bytes], float]:
    """(sounds, their WAV bytes, milliseconds) of ``render()``."""
    tic = time.perf_counter()
    sounds = render()
    wavs = [sound.wav_bytes() for sound in sounds]
    return sounds, wavs, 1e3 * (time.perf_counter() - tic)


def _tempo_fields(found: Any) -> dict[str, Any]:
    """A sound's kind, tempo and bars for the page (nulls for a model without a grid)."""
    if found is None:
        return {"kind": None, "bpm": None, "bars": None}
    bpm = None if found.bpm is None else round(float(found.bpm), 2)
    return {"kind": found.kind, "bpm": bpm, "bars": found.bars}


def _bpm(bpm: float | None) -> float | None:
    """A tempo from the page, checked and rounded to 0.01 BPM (a 400 when out of range)."""
    try:
        checked = api.check_bpm(bpm)
    except api.SoundmorphError as error:
        raise RequestError(str(error)) from None
    return None if checked is None else round(checked, 2)


def _bpm_tag(bpm: float | None) -> tuple[str, ...]:
    """The part a tempo adds to a cache key (none when the sources' tempi are mixed)."""
    return () if bpm is None else (f"bpm={bpm}",)
