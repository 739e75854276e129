"""A rendered sound (audio, its spectrogram, what it is) and how sounds are written to disk."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundmorph import audio, files, plot
from soundmorph.audio import riff
from soundmorph.audio.io import BITS_SUBTYPES, RENDER_BITS
from soundmorph.quality import SweepQuality

RENDER_SUBTYPE = BITS_SUBTYPES[RENDER_BITS]  # renders are 24-bit unless asked otherwise


@dataclass
class Sound:
    """A rendered sound: audio, its magnitude spectrogram and what it is.

    Attributes
    ----------
    audio : np.ndarray [shape=(n_samples,) or (channels, n_samples), float32]
        At ``sample_rate``: the render's own rate and channels (a studio render keeps its
        sources', e.g. 44.1 kHz stereo).
    magnitude : np.ndarray [shape=(freq, frames), non-negative]
        Its spectrogram, over the whole band of ``sample_rate``, frames every ``hop_length``
        samples (a model-chain render's: the decoded magnitude it was reconstructed from).
    name : str
        Says what the sound is, e.g. ``"morph_kick__snare_a0.30_128bpm_2bars"``; used for file names.
    latent : np.ndarray [shape=(latent,)] or None
        None for a glide, whose latent changes over time.
    bpm, bars : float, int or None
        A loop's tempo and length in bars: its WAV carries ``smpl`` (the whole file as one
        forward loop) and ``acid`` (tempo, beats) chunks. None for a one-shot.
    model_magnitude : np.ndarray [shape=(freq, frames)] or None
        What the model decoded, on its grid (morph-quality figures compare it with the sources
        there); None when it is :attr:`magnitude`.
    """

    audio: np.ndarray
    sample_rate: int
    magnitude: np.ndarray
    name: str
    hop_length: int
    latent: np.ndarray | None = None
    bpm: float | None = None
    bars: int | None = None
    model_magnitude: np.ndarray | None = None

    @property
    def grid_magnitude(self) -> np.ndarray:
        """The magnitude on the model's grid: :attr:`model_magnitude`, else :attr:`magnitude`."""
        return self.model_magnitude if self.model_magnitude is not None else self.magnitude

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.audio.shape[-1] / self.sample_rate

    @property
    def channels(self) -> int:
        """1 (mono) or 2 (stereo)."""
        return 1 if self.audio.ndim == 1 else int(self.audio.shape[0])

    def chunks(self) -> list[bytes]:
        """The RIFF chunks its WAV carries: ``smpl`` and ``acid`` for a loop, none for a one-shot."""
        if self.bpm is None or self.bars is None:
            return []
        n = self.audio.shape[-1]
        return [
            riff.smpl_chunk(sample_rate=self.sample_rate, loop_start=0, loop_end=max(0, n - 1)),
            riff.acid_chunk(bpm=self.bpm, beats=self.bars * riff.BEATS_PER_BAR, loop=True),
        ]

    def wav_bytes(self, *, subtype: str = RENDER_SUBTYPE) -> bytes:
        """The audio as a WAV file in memory (scaled down only if it would clip), with a loop's
        ``smpl`` and ``acid`` chunks."""
        return audio.to_wav_bytes(
            self.audio, sample_rate=self.sample_rate, subtype=subtype, chunks=self.chunks()
        )

    def spectrogram_png(self) -> bytes:
        """A picture of :attr:`magnitude` in dB, as PNG bytes."""
        return plot.spectrogram(
            self.magnitude, sample_rate=self.sample_rate, hop_length=self.hop_length, title=self.name
        )

    def spectrogram_image(self) -> bytes:
        """A quick picture of :attr:`magnitude`: no axes, numpy alone
        (:func:`soundmorph.plot.spectrogram_image`)."""
        return plot.spectrogram_image(self.magnitude)

    def _repr_html_(self) -> str:
        """A player (the WAV embedded, at most :data:`MAX_HTML_SECONDS`) and the spectrogram, for
        Jupyter and IPython's display."""
        return f'<div class="soundmorph-sound" style="display:inline-block">{_html_body(self)}</div>'

    def targets(self, path: str | Path, plot: str | Path | None = None) -> list[files.Target]:
        """What :meth:`save` writes: the WAV at ``path`` and, when given, the PNG at ``plot``."""
        return [files.Target(Path(path), "wav")] + (
            [files.Target(Path(plot), "png")] if plot is not None else []
        )

    def save(
        self,
        path: str | Path,
        *,
        plot: str | Path | None = None,
        force: bool = False,
        subtype: str = RENDER_SUBTYPE,
    ) -> list[Path]:
        """Write the WAV (and the spectrogram PNG to ``plot``); refuses to overwrite without ``force``.

        Both paths are checked before either is written (see :func:`soundmorph.files.check_targets`).
        """
        files.check_targets(self.targets(path, plot), force=force)
        written = [
            audio.write(
                path,
                self.audio,
                sample_rate=self.sample_rate,
                subtype=subtype,
                force=force,
                chunks=self.chunks(),
            )
        ]
        if plot is not None:
            files.atomic_write_bytes(Path(plot), self.spectrogram_png())
            written.append(Path(plot))
        return written


MAX_HTML_SECONDS = 30.0  # s of audio a notebook embeds per sound (a 30-s clip: ~1.3 MB of 16-bit WAV)


def _data_url(media: str, data: bytes) -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"


def _html_body(sound: Sound, *, width: int = 320) -> str:
    """A sound's name, player and picture as HTML (its audio cut to :data:`MAX_HTML_SECONDS`)."""
    limit = round(MAX_HTML_SECONDS * sound.sample_rate)
    long = sound.audio.shape[-1] > limit
    wav = (
        audio.to_wav_bytes(sound.audio[..., :limit], sample_rate=sound.sample_rate)
        if long
        else sound.wav_bytes()
    )
    cut = f" (first {MAX_HTML_SECONDS:g} s of {sound.duration:.1f} s)" if long else ""
    name = html.escape(sound.name)
    player = _data_url("audio/wav", wav)
    picture = _data_url("image/png", sound.spectrogram_image())
    about = f"{name} · {sound.duration:.2f} s · {sound.sample_rate} Hz{cut}"
    return (
        f'<div style="font:12px monospace">{about}</div>'
        f'<audio controls preload="none" src="{player}" style="width:{width}px"></audio><br>'
        f'<img alt="spectrogram of {name}" src="{picture}" '
        f'style="width:{width}px;height:120px;image-rendering:pixelated">'
    )


class SoundRow(list[Sound]):
    """A list of sounds (a sweep, a generate) that a notebook shows as one row of players and
    pictures: what ``model.sweep`` and ``model.generate`` return."""

    def _repr_html_(self) -> str:
        cells = "".join(f'<div style="flex:0 0 auto">{_html_body(sound, width=200)}</div>' for sound in self)
        return f'<div class="soundmorph-row" style="display:flex;gap:8px;overflow-x:auto">{cells}</div>'

    def grid_png(self, *, columns: int = 4) -> bytes:
        """PNG of every sound's spectrogram in a grid, titled by the last part of its name (a sweep's
        ratio), as ``grid.png`` of a saved sweep."""
        first = self[0]
        return plot.spectrogram_grid(
            _common([s.magnitude for s in self]),
            sample_rate=first.sample_rate,
            hop_length=first.hop_length,
            titles=[s.name.rsplit("_", 1)[-1] for s in self],
            columns=columns,
        )


def _common(mags: list[np.ndarray]) -> np.ndarray:
    """Magnitudes [freq, frames] of different sizes on one canvas [n, freq, frames], zero-padded.
    A render's bins and frames have the same spacing in Hz and seconds at every rate
    (:func:`soundmorph.audio.studio.frame_settings`), so padding lines them up."""
    freq, frames = max(m.shape[0] for m in mags), max(m.shape[1] for m in mags)
    return np.stack([np.pad(m, ((0, freq - m.shape[0]), (0, frames - m.shape[1]))) for m in mags])


def save_sounds(
    sounds: list[Sound], out: str | Path, *, force: bool = False, subtype: str = RENDER_SUBTYPE
) -> list[Path]:
    """Write each sound as ``out/{name}.wav`` + ``out/{name}.png``; every path is checked before
    the first is written, so an existing file stops the whole batch, not its second half."""
    out = Path(out)
    files.check_targets(
        [t for s in sounds for t in s.targets(out / f"{s.name}.wav", out / f"{s.name}.png")], force=force
    )
    written: list[Path] = []
    for sound in sounds:
        written += sound.save(
            out / f"{sound.name}.wav", plot=out / f"{sound.name}.png", force=force, subtype=subtype
        )
    return written


def save_sweep(
    sounds: list[Sound],
    out: str | Path,
    *,
    force: bool = False,
    subtype: str = RENDER_SUBTYPE,
    figures: SweepQuality | None = None,
) -> list[Path]:
    """Write each sound of a sweep as WAV + PNG into ``out``, plus ``grid.png`` of all of them and,
    when given, the sweep's morph-quality ``figures`` as ``quality.json``. Every path is checked
    before the first is written."""
    out = Path(out)
    grid, report = out / "grid.png", out / "quality.json"
    extra = [files.Target(grid, "png")] + ([files.Target(report, "json")] if figures is not None else [])
    steps = [t for s in sounds for t in s.targets(out / f"{s.name}.wav", out / f"{s.name}.png")]
    files.check_targets(extra + steps, force=force)
    written = save_sounds(sounds, out, force=force, subtype=subtype)
    first = max(sounds, key=lambda s: s.sample_rate)
    png = plot.spectrogram_grid(
        _common([s.magnitude for s in sounds]),
        sample_rate=first.sample_rate,
        hop_length=first.hop_length,
        titles=[s.name.rsplit("_", 1)[-1] for s in sounds],
    )
    files.atomic_write_bytes(grid, png)
    written.append(grid)
    if figures is not None:
        files.atomic_write_json(report, figures.to_dict())
        written.append(report)
    return written
