"""What the web page works on: a loaded model, the uploads of this session and a cache of renders.

The page names a sound by its library index (``"3"``) or by an upload id (``"u1"``), never by a
path, so nothing outside the model's library can be read. Every render goes through
:meth:`soundmorph.session.SoundModel.render` (the API the CLI uses) on one torch thread (see
:class:`TorchThread`), and is kept in a bounded LRU cache keyed by the request, so a slider
position heard before is served at once.
Spectrogram pictures are drawn only when asked for, so the audio does not wait for matplotlib.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from soundmorph import audio, latent
from soundmorph.api import Sound, SoundModel, SoundmorphError, latent_pca

log = logging.getLogger("soundmorph.web")

MAX_RENDERS = 128  # cached results; one is ~1 MB (audio, magnitude, WAV), so at most ~128 MB
MAX_ORIGINALS = 32  # cached WAVs of library originals
MAX_UPLOADS = 16  # uploads kept per session; the oldest is dropped first
MAX_STEPS = 16  # longest sweep
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
    """A sound dropped on the page: its decoded audio and its latent (not part of the model)."""

    id: str
    name: str  # the uploaded file's name, without folders
    audio: np.ndarray  # float32 [samples] at the model's rate, as uploaded (not fitted)
    latent: torch.Tensor  # [latent]

    @property
    def label(self) -> str:
        return Path(self.name).stem


@dataclass
class Entry:
    """A cached render."""

    key: str
    kind: str  # morph, blend, sweep, surprise
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


def _safe_label(name: str) -> str:
    """A file-name-safe label: letters, digits, ``-``, ``_`` and ``.`` only, at most 60 characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "upload"


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


class Session:
    """A model served to the page, with this session's uploads and the render cache."""

    def __init__(self, model: SoundModel, worker: TorchThread | None = None) -> None:
        self.model = model
        self.worker = worker or TorchThread()
        points, self._pca_mean, self._pca_axes = latent_pca(model.latents)
        self.points = points  # [n, 2], the library on the latent map
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

    def latent(self, sound_id: str) -> tuple[torch.Tensor, str]:
        """(latent [latent], label for file names) of a library index or an upload id."""
        sound_id = self.check_id(sound_id)
        if sound_id.startswith("u"):
            upload = self._upload(sound_id)
            return upload.latent, upload.label
        index = int(sound_id)
        if index >= len(self.model.names):
            raise RequestError(
                f"no sound {index}: the library has indices 0..{len(self.model.names) - 1}", 404
            )
        return self.model.latents[index], Path(self.model.names[index]).stem

    def _upload(self, sound_id: str) -> Upload:
        with self._state:
            upload = self.uploads.get(sound_id)
        if upload is None:
            raise RequestError(f"no upload {sound_id} in this session (uploads are kept in memory only)", 404)
        return upload

    def project(self, latent: torch.Tensor) -> tuple[float, float]:
        """Where a latent [latent] lies on the latent map (the library's 2-D PCA)."""
        x, y = ((latent.float().cpu() - self._pca_mean) @ self._pca_axes.T).tolist()
        return float(x), float(y)

    def library(self) -> list[dict[str, Any]]:
        """Every library sound and upload: id, name, split and map position."""
        sounds = [
            {"id": str(i), "index": i, "name": name, "split": split, "x": float(x), "y": float(y)}
            for i, (name, split, (x, y)) in enumerate(
                zip(self.model.names, self.model.splits, self.points, strict=True)
            )
        ]
        with self._state:
            uploads = list(self.uploads.values())
        return sounds + [self.describe_upload(u) for u in uploads]

    def describe_upload(self, upload: Upload) -> dict[str, Any]:
        x, y = self.project(upload.latent)
        seconds = round(len(upload.audio) / self.model.sample_rate, 3)
        return {
            "id": upload.id,
            "index": None,
            "name": upload.name,
            "split": "upload",
            "x": x,
            "y": y,
            "seconds": seconds,
        }

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

    def _render(self, kind: str, key: str, latents: torch.Tensor, name: str, **extra: Any) -> dict[str, Any]:
        """One cached render of latents [latent] named ``name``."""
        entry = self._cached(key)
        if entry is not None:
            return entry.describe(cached=True)
        entry = self.worker.run(self._cached, key)  # rendered by a request queued before us
        if entry is not None:
            return entry.describe(cached=True)
        sounds, wavs, elapsed = self.worker.run(_timed, lambda: self.model.render(latents[None], [name]))
        sound, wav = sounds[0], wavs[0]
        entry = Entry(key, kind, sound, self.project(latents), elapsed, wav, extra=extra)
        self._store(entry)
        return entry.describe(cached=False)

    def morph(self, a: str, b: str, alpha: float) -> dict[str, Any]:
        """The sound at ``(1 - alpha) z_a + alpha z_b`` (alpha rounded to 3 decimals)."""
        alpha = round(latent.check_alpha(alpha), ALPHA_DECIMALS)
        (z_a, label_a), (z_b, label_b) = self.latent(a), self.latent(b)
        z = latent.lerp(z_a, z_b, alpha)
        name = f"morph_{label_a}__{label_b}_a{alpha:.2f}"
        return self._render("morph", _key("morph", a, b, alpha), z, name, a=a, b=b, alpha=alpha)

    def blend(self, ids: list[str], weights: list[float]) -> dict[str, Any]:
        """The weighted mean of the sounds' latents (weights normalised to sum to 1)."""
        if not 1 <= len(ids) <= 8:
            raise RequestError(f"a blend takes 1 to 8 sounds, got {len(ids)}")
        if len(weights) != len(ids):
            raise RequestError(f"{len(ids)} sounds but {len(weights)} weights")
        w = latent.blend_weights([round(float(v), ALPHA_DECIMALS) for v in weights])
        w = torch.round(w * 10**ALPHA_DECIMALS) / 10**ALPHA_DECIMALS
        sources = [self.latent(i) for i in ids]
        z = latent.blend(torch.stack([s[0] for s in sources]), w)
        parts = [f"{label}-{float(v):.2f}" for (_, label), v in zip(sources, w, strict=True) if float(v) > 0]
        name = "blend_" + "__".join(parts)
        key = _key("blend", *ids, *(f"{float(v):.3f}" for v in w))
        return self._render("blend", key, z, name, ids=ids, weights=[float(v) for v in w])

    def pad(self, ids: list[str], x: float, y: float) -> dict[str, Any]:
        """The blend of four corner sounds (top-left, top-right, bottom-left, bottom-right) at a
        point (x rightwards, y downwards, in [0, 1]) of the pad, by bilinear weights."""
        if len(ids) != 4:
            raise RequestError(f"the pad takes 4 sounds (its corners), got {len(ids)}")
        weights = latent.pad_weights(round(x, ALPHA_DECIMALS), round(y, ALPHA_DECIMALS))
        return self.blend(ids, weights.tolist())

    def surprise(self, seed: int) -> dict[str, Any]:
        """A new sound decoded from a latent drawn from the prior (seeded)."""
        key = _key("surprise", seed)
        entry = self._cached(key)
        if entry is not None:
            return entry.describe(cached=True)
        sounds, wavs, elapsed = self.worker.run(_timed, lambda: self.model.generate(1, seed=seed))
        sound, wav = sounds[0], wavs[0]
        assert sound.latent is not None
        xy = self.project(torch.from_numpy(sound.latent))
        entry = Entry(key, "surprise", sound, xy, elapsed, wav, extra={"seed": seed})
        self._store(entry)
        return entry.describe(cached=False)

    def sweep(self, a: str, b: str, steps: int) -> list[dict[str, Any]]:
        """``steps`` sounds from ``a`` to ``b``, the ones not cached rendered as one batch."""
        if not 2 <= steps <= MAX_STEPS:
            raise RequestError(f"steps must be in 2..{MAX_STEPS}, got {steps}")
        (z_a, label_a), (z_b, label_b) = self.latent(a), self.latent(b)
        alphas = latent.sweep_alphas(steps)
        stem = f"sweep_{label_a}__{label_b}"
        names = [f"{stem}_{k:02d}_a{float(alpha):.2f}" for k, alpha in enumerate(alphas)]
        keys = [_key("sweep", a, b, steps, k) for k in range(steps)]
        extras = [
            {"a": a, "b": b, "alpha": round(float(alpha), 4), "step": k} for k, alpha in enumerate(alphas)
        ]
        missing = [k for k, key in enumerate(keys) if self._cached(key) is None]
        if missing:
            z = latent.lerp(z_a, z_b, alphas[missing])
            sounds, wavs, elapsed = self.worker.run(
                _timed, lambda: self.model.render(z, [names[k] for k in missing])
            )
            share = elapsed / len(missing)
            for k, sound, wav in zip(missing, sounds, wavs, strict=True):
                xy = self.project(latent.lerp(z_a, z_b, float(alphas[k])))
                self._store(Entry(keys[k], "sweep", sound, xy, share, wav, extra=extras[k]))
        out = []
        for k, key in enumerate(keys):
            entry = self._cached(key)
            if entry is None:  # evicted at once by a flood of other renders: render it alone
                z = latent.lerp(z_a, z_b, float(alphas[k]))
                out.append(self._render("sweep", key, z, names[k], **extras[k]))
            else:
                out.append(entry.describe(cached=k not in missing))
        return out

    def magnitudes(self, keys: list[str]) -> np.ndarray:
        """Magnitudes [n, freq, frames] of cached renders."""
        return np.stack([self.entry(key).sound.magnitude for key in keys])

    def entry(self, key: str) -> Entry:
        """A cached render, or a 404 (never rendered, or dropped from the cache)."""
        if not RENDER_KEY.fullmatch(key):
            raise RequestError(f"{key[:40]!r} is not a render key", 404)
        entry = self._cached(key)
        if entry is None:
            raise RequestError(f"render {key} is not in the cache (ask for it again)", 404)
        return entry

    def png(self, key: str) -> bytes:
        """The spectrogram picture of a cached render, drawn the first time it is asked for."""
        entry = self.entry(key)
        if entry.png is None:
            with self._plot:
                if entry.png is None:
                    entry.png = entry.sound.spectrogram_png()
        return entry.png

    # -- originals and uploads ------------------------------------------------------------------
    def original_wav(self, sound_id: str) -> tuple[bytes, str]:
        """(WAV bytes, file name) of a library sound as read from the library, or of an upload."""
        sound_id = self.check_id(sound_id)
        if sound_id.startswith("u"):
            upload = self._upload(sound_id)
            data = audio.to_wav_bytes(upload.audio, sample_rate=self.model.sample_rate)
            return data, f"{upload.label}.wav"
        self.latent(sound_id)  # 404 for an unknown index
        name = self.model.names[int(sound_id)]
        with self._state:
            cached = self._originals.get(sound_id)
        if cached is None:
            cached = audio.to_wav_bytes(self._read_original(name), sample_rate=self.model.sample_rate)
            with self._state:
                self._originals[sound_id] = cached
                while len(self._originals) > MAX_ORIGINALS:
                    self._originals.popitem(last=False)
        return cached, f"{Path(name).stem}.wav"

    def _read_original(self, name: str) -> np.ndarray:
        root = self.model.root
        if root is None:
            raise RequestError(
                f"{self.model.folder}: the library folder is unknown; originals cannot be played", 404
            )
        path = (root / name).resolve()
        if not path.is_relative_to(root.resolve()):  # a library index naming a file outside its root
            raise RequestError(f"{name}: outside the library folder", 403)
        try:
            return audio.read(path, sample_rate=self.model.sample_rate)
        except SoundmorphError as error:
            raise RequestError(f"original of {name} cannot be read: {error}", 404) from None

    def source_magnitude(self, sound_id: str) -> torch.Tensor:
        """Magnitude [freq, frames] of a sound as read (library original or upload), fitted to the
        model's clip length: what a sweep's ends are compared with."""
        sound_id = self.check_id(sound_id)
        if sound_id.startswith("u"):
            clip = self._upload(sound_id).audio
        else:
            self.latent(sound_id)
            clip = self._read_original(self.model.names[int(sound_id)])
        return self.worker.run(lambda: self.model.magnitudes(clip[None])[0].cpu())

    def add_upload(self, name: str, clip: np.ndarray) -> dict[str, Any]:
        """Encode ``clip`` [samples] (mono, at the model's rate) and add it to this session."""
        latent = self.worker.run(self.model.encode_audio, clip)
        with self._state:
            upload = Upload(f"u{self._next_upload}", name, clip, latent)
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
