"""The page's render cache: rendered sounds with their WAV bytes, kept by request key in a bounded
LRU, so a slider position heard before is served at once; spectrogram pictures drawn only when
asked for (numpy, no matplotlib), so the audio never waits for them."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from soundmorph.api import Sound
from soundmorph.web.requests import RequestError

RENDER_KEY = re.compile(r"[0-9a-f]{16}")
_R = TypeVar("_R")


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


class RenderCache:
    """Renders by key, the least recently used dropped first past ``size``; safe across threads.
    What is not cached is rendered on ``worker``'s torch thread and placed on the map by ``place``."""

    def __init__(
        self,
        worker: TorchThread,
        place: Callable[[Sound], tuple[float, float]],
        size: int,
    ) -> None:
        self.worker, self.place, self.size = worker, place, size
        self.drawing = threading.Lock()  # pictures are drawn one at a time
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        """The render under ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, entry: Entry) -> None:
        with self._lock:
            self._entries[entry.key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def entry(self, key: str) -> Entry:
        """A cached render, or a 404 (never rendered, or dropped from the cache)."""
        if not RENDER_KEY.fullmatch(key):
            raise RequestError(f"{key[:40]!r} is not a render key", 404)
        entry = self.get(key)
        if entry is None:
            raise RequestError(f"render {key} is not in the cache (ask for it again)", 404)
        return entry

    def png(self, key: str) -> bytes:
        """The spectrogram picture of a cached render (:meth:`soundmorph.api.Sound.spectrogram_image`),
        drawn the first time it is asked for."""
        entry = self.entry(key)
        if entry.png is None:
            with self.drawing:
                if entry.png is None:
                    entry.png = entry.sound.spectrogram_image()
        return entry.png

    def _add(
        self,
        key: str,
        kind: str,
        sound: Sound,
        wav: bytes,
        ms: float,
        extra: dict[str, Any],
        xy: tuple[float, float] | None = None,
    ) -> Entry:
        xy = self.place(sound) if xy is None else xy
        entry = Entry(key, kind, sound, xy, ms, wav, extra=extra)
        self.put(entry)
        return entry

    def render(
        self,
        kind: str,
        key: str,
        render: Callable[[], Sound],
        *,
        xy: tuple[float, float] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """One cached render: ``render()`` on the torch thread unless ``key`` is cached."""
        entry = self.get(key)
        if entry is not None:
            return entry.describe(cached=True)
        entry = self.worker.run(self.get, key)  # rendered by a request queued before us
        if entry is not None:
            return entry.describe(cached=True)
        sounds, wavs, elapsed = self.worker.run(timed, lambda: [render()])
        return self._add(key, kind, sounds[0], wavs[0], elapsed, extra, xy).describe(cached=False)

    def render_batch(
        self,
        kind: str,
        keys: list[str],
        render: Callable[[], list[Sound]],
        extras: Callable[[list[Sound]], list[dict[str, Any]]],
    ) -> list[dict[str, Any]]:
        """Renders ``keys``, all made by one ``render()`` on the torch thread unless all are cached;
        ``extras(sounds)`` gives each its own JSON fields."""
        entries = [self.get(key) for key in keys]
        missing = [k for k, entry in enumerate(entries) if entry is None]
        if missing:
            sounds, wavs, elapsed = self.worker.run(timed, render)
            extra = extras(sounds)
            for k in missing:
                entries[k] = self._add(keys[k], kind, sounds[k], wavs[k], elapsed / len(keys), extra[k])
        return [entry.describe(cached=k not in missing) for k, entry in enumerate(entries) if entry]


def timed(render: Callable[[], list[Sound]]) -> tuple[list[Sound], list[bytes], float]:
    """(sounds, their WAV bytes, milliseconds) of ``render()``."""
    tic = time.perf_counter()
    sounds = render()
    wavs = [sound.wav_bytes() for sound in sounds]
    return sounds, wavs, 1e3 * (time.perf_counter() - tic)


def sweep_archive(entries: list[Entry], grid_png: bytes, figures: dict[str, Any]) -> bytes:
    """A zip of a sweep: every step's WAV (the bytes the download route serves), ``grid.png`` of
    all steps and ``quality.json`` (its figures)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in entries:
            archive.writestr(f"{entry.sound.name}.wav", entry.wav, compress_type=zipfile.ZIP_STORED)
        archive.writestr("grid.png", grid_png, compress_type=zipfile.ZIP_STORED)
        archive.writestr("quality.json", json.dumps(figures, indent=2), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
