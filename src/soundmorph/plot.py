"""Pictures: spectrograms, a sweep as a grid, the loss curve, a map of the latent space.

Every function returns PNG bytes (the web page serves them as they are; the API writes them
atomically). matplotlib is imported lazily with the non-interactive Agg backend.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DB_RANGE = 80.0  # dB shown below the loudest bin

IMAGE_ROWS = 256  # pixel rows of a quick spectrogram picture (frequency bins are max-pooled to fit)
PNG_LEVEL = 1  # zlib level of a quick picture: 6 took ~20 % longer for a file ~1 % smaller (palette PNG)
IMAGE_COLUMNS = 2048  # pixel columns at most (a long glide's frames are max-pooled to fit)
MAX_MAP_LABELS = 300  # points of a latent map that get their name written beside them


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw_spectrogram(ax: Axes, mag: np.ndarray, *, sample_rate: int, hop_length: int, title: str) -> Any:
    db = 20 * np.log10(np.maximum(mag, 1e-10))
    top = float(db.max())
    seconds = mag.shape[-1] * hop_length / sample_rate
    image = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=top - DB_RANGE,
        vmax=top,
        extent=(0.0, seconds, 0.0, sample_rate / 2000),
    )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("s", fontsize=8)
    ax.set_ylabel("kHz", fontsize=8)
    ax.tick_params(labelsize=7)
    return image


def spectrogram(mag: np.ndarray, *, sample_rate: int, hop_length: int, title: str = "") -> bytes:
    """PNG of one magnitude spectrogram [freq, frames] in dB."""
    figure = _figure(8, 3.2)
    ax = figure.add_subplot()
    image = _draw_spectrogram(ax, mag, sample_rate=sample_rate, hop_length=hop_length, title=title)
    figure.colorbar(image, ax=ax, label="dB")
    return _png(figure)


@cache
def _magma() -> np.ndarray:
    """The magma colour map as a table [256, 3] of uint8 (read once from matplotlib's colormaps)."""
    from matplotlib import colormaps

    return (colormaps["magma"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def _png_indexed(index: np.ndarray, palette: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit palette image: ``index`` [rows, columns] of uint8 into ``palette``
    [256, 3] of uint8 (a third of the bytes of RGB, so it compresses about 3x faster)."""
    rows, columns = index.shape
    raw = np.concatenate([np.zeros((rows, 1), np.uint8), index], axis=1)  # filter byte 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", columns, rows, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", palette.astype(np.uint8).tobytes())
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), PNG_LEVEL))
        + chunk(b"IEND", b"")
    )


def _pool(values: np.ndarray, most: int, axis: int) -> np.ndarray:
    """``values`` with groups along ``axis`` replaced by their maximum so at most ``most`` remain."""
    group = max(1, math.ceil(values.shape[axis] / most))
    if group == 1:
        return values
    moved = np.moveaxis(values, axis, 0)
    padded = np.pad(moved, [(0, -moved.shape[0] % group)] + [(0, 0)] * (moved.ndim - 1))
    pooled = padded.reshape(-1, group, *moved.shape[1:]).max(axis=1)
    return np.moveaxis(pooled, 0, axis)


def spectrogram_image(mag: np.ndarray, *, rows: int = IMAGE_ROWS, columns: int = IMAGE_COLUMNS) -> bytes:
    """PNG of one magnitude spectrogram [freq, frames] in dB (magma, :data:`DB_RANGE` dB below its
    loudest bin), one pixel column per frame and at most ``rows`` pixel rows, low frequencies at
    the bottom (at most ``columns`` pixel columns); no axes or labels. Drawn with numpy alone (an
    8-bit palette PNG), for the page and notebooks: 70-130x faster than :func:`spectrogram`
    (``python -m bench export``)."""
    mag = np.asarray(mag, dtype=np.float32)
    if mag.ndim != 2 or mag.size == 0:
        raise ValueError(f"a spectrogram must be [freq, frames] with both > 0, got {mag.shape}")
    pooled = _pool(_pool(mag, rows, 0), columns, 1)  # the maximum: a peak stays visible
    db = 20 * np.log10(np.maximum(pooled, 1e-10))
    top = float(db.max()) if np.isfinite(db).all() else 0.0
    level = np.clip((np.nan_to_num(db, nan=top - DB_RANGE) - top + DB_RANGE) / DB_RANGE, 0.0, 1.0)
    index = (level * 255).round().astype(np.uint8)[::-1]  # row 0 is the top: the highest frequency
    return _png_indexed(index, _magma())


def spectrogram_grid(
    mags: np.ndarray, *, sample_rate: int, hop_length: int, titles: list[str], columns: int = 4
) -> bytes:
    """PNG of several spectrograms [n, freq, frames] in a grid, one title each."""
    rows = math.ceil(len(mags) / columns)
    figure = _figure(3.2 * min(columns, len(mags)), 2.4 * rows)
    for k, (mag, title) in enumerate(zip(mags, titles, strict=True)):
        ax = figure.add_subplot(rows, min(columns, len(mags)), k + 1)
        _draw_spectrogram(ax, mag, sample_rate=sample_rate, hop_length=hop_length, title=title)
    return _png(figure)


def loss_curve(epochs: list[int], losses: dict[str, list[float]]) -> bytes:
    """PNG of loss curves (one line per name) against the epoch, log scale."""
    figure = _figure(7, 4)
    ax = figure.add_subplot()
    for name, values in losses.items():
        finite = [(e, v) for e, v in zip(epochs, values, strict=True) if np.isfinite(v) and v > 0]
        if finite:
            ax.plot(*zip(*finite, strict=True), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(figure)


def latent_map(points: np.ndarray, labels: list[str], *, held_out: np.ndarray | None = None) -> bytes:
    """PNG of 2-D points [n, 2] (e.g. a PCA of the latent means) with their labels (at most
    :data:`MAX_MAP_LABELS` of them, evenly spread over the index)."""
    if len(labels) != len(points):
        raise ValueError(f"{len(points)} points but {len(labels)} labels")
    figure = _figure(7, 6)
    ax = figure.add_subplot()
    mask = np.zeros(len(points), dtype=bool) if held_out is None else held_out
    ax.scatter(points[~mask, 0], points[~mask, 1], s=18, label="train")
    if mask.any():
        ax.scatter(points[mask, 0], points[mask, 1], s=18, marker="x", label="held out")
        ax.legend()
    labelled = np.linspace(0, len(points) - 1, min(len(points), MAX_MAP_LABELS)).round().astype(int)
    for index in np.unique(labelled):  # 100k text labels would take gigabytes and say nothing
        ax.annotate(labels[index], tuple(points[index]), fontsize=6, alpha=0.7)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    return _png(figure)
