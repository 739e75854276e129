"""A model's beat grid at training and render time: which clip length a grid means, how a sound is
put on it for encoding, at which tempo a morph plays, and rendering whole bars at that tempo.

In loop mode (``preset.tempo.mode == "loop"``) every clip the model sees is ``bars`` bars at the grid
tempo. A morph of sounds at tempi ``bpm_i`` with weights ``w_i`` plays at ``sum w_i bpm_i`` (linear
in BPM) unless a tempo is fixed, and lasts exactly ``bars * 4 * 60 / bpm`` seconds, rounded to the
sample. In any other mode these functions fall back to the model's fixed clip length.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from soundmorph import data, limits
from soundmorph.audio import looping, phase, tempo
from soundmorph.audio.riff import LoopChunks
from soundmorph.audio.tempo import Tempo
from soundmorph.config import Preset, RenderOptions
from soundmorph.errors import SoundmorphError


def is_loop(preset: Preset) -> bool:
    """True for a model trained on a loop grid."""
    return preset.tempo.mode == "loop"


def grid_bpm(preset: Preset) -> float | None:
    """The grid tempo of a loop model (None otherwise)."""
    return preset.tempo.bpm if is_loop(preset) else None


def loop_samples(preset: Preset, bpm: float | None) -> int:
    """Samples of a rendered clip: the grid's bars at ``bpm`` in loop mode, else the clip length."""
    if not is_loop(preset) or bpm is None:
        return preset.audio.clip_samples
    assert preset.tempo.bars is not None
    return tempo.grid_samples(bpm, preset.tempo.bars, preset.audio.sample_rate)


def check_bpm(bpm: float | None) -> float | None:
    """A tempo asked for by the user, checked: None or in [MIN_BPM, MAX_BPM]."""
    return None if bpm is None else limits.check_bpm(bpm)


def mix_bpm(
    bpms: Sequence[float | None], weights: Sequence[float], *, preset: Preset, fixed: float | None = None
) -> float | None:
    """The tempo a morph plays at: ``fixed`` if given, else the sources' tempi interpolated linearly
    with ``weights`` (a source without a tempo, a one-shot, counts at the grid tempo). None for a
    model without a loop grid (unless ``fixed``, which it then ignores: its clips have one length).
    """
    if not is_loop(preset):
        return None
    fixed = check_bpm(fixed)
    if fixed is not None:
        return fixed
    base = preset.tempo.bpm
    assert base is not None
    values = [base if bpm is None else float(bpm) for bpm in bpms]
    total = float(sum(weights))
    return float(sum(w * v for w, v in zip(weights, values, strict=True)) / total) if total > 0 else base


def analyse(
    clip: np.ndarray, preset: Preset, *, name: str | None = None, chunks: LoopChunks | None = None
) -> Tempo:
    """Kind, tempo and bars of a clip at the model's rate (a file's name and acid/smpl ``chunks``
    as evidence, see :func:`soundmorph.audio.tempo.analyse`). A clip as long as a source is read
    (:data:`~soundmorph.limits.MAX_CLIP_SECONDS` and a margin) or longer is the start of a longer
    sound: its length is no evidence, and a loop is the most whole bars it holds."""
    rate = preset.audio.sample_rate
    cut = len(clip) >= round((limits.MAX_CLIP_SECONDS + limits.READ_MARGIN_SECONDS) * rate) - 1
    return tempo.analyse(clip, sample_rate=rate, name=name, chunks=chunks, cut=cut)


def on_grid(clip: np.ndarray, preset: Preset, found: Tempo | None = None) -> np.ndarray:
    """A clip [samples] as the model sees it: on its grid (loop: stretched; one-shot: aligned on its
    onset), or cropped/padded for a model without one. [clip_samples] float32."""
    config = preset.tempo
    if config.mode == "off":
        return data.fit_to_grid(
            clip,
            Tempo("oneshot", None, None, 0.0, 1.0),
            config,
            preset.audio.clip_samples,
            sample_rate=preset.audio.sample_rate,
        )
    found = found if found is not None else analyse(clip, preset)
    return data.fit_to_grid(
        clip, found, config, preset.audio.clip_samples, sample_rate=preset.audio.sample_rate
    )


def render_bars(
    mags: torch.Tensor, preset: Preset, bpms: Sequence[float | None], options: RenderOptions
) -> list[np.ndarray]:
    """Audio of each magnitude [n, freq, frames] of a loop model at its tempo: whole bars, exact
    length, looping without a click (see :func:`soundmorph.audio.looping.render_loop`), by the
    phase method of ``options``.

    By default the period is reconstructed with context on both sides and its end cross-faded into
    its start (:func:`~soundmorph.audio.looping.render_loop`); with ``options.periodic`` the phase
    method's own loop mode is used (frames wrap round). On morphs of the shared loops the default
    leaves the seam like the source files' own (seam hf_rank 0.70 against 0.73), the periodic mode
    a little brighter (0.92; ``python -m bench tempo``). A source's phase
    cannot start a render at another tempo (its frames are elsewhere): an ``init`` of ``source``
    becomes ``random`` here.
    """
    if not is_loop(preset):
        raise SoundmorphError("render_bars needs a model trained on a loop grid")
    if options.init == "source":
        options = options.override(init="random")
    if phase.needs_source_phase(options):
        raise SoundmorphError(
            f"phase method {options.method!r} needs a source's phase; a loop render has none"
        )
    a = preset.audio

    def reconstruct(frames: torch.Tensor, length: int) -> torch.Tensor:
        return phase.reconstruct(frames, options.override(periodic=False), a, length=length)

    out = []
    for mag, bpm in zip(mags, bpms, strict=True):
        n = loop_samples(preset, bpm)
        if options.periodic:  # the phase method's own loop mode: frames wrap round the clip's end
            frames = looping.periodic_frames(
                mag, n, period_samples=a.clip_samples, hop_length=a.hop_length, margin=0
            )[..., : 1 + n // a.hop_length]
            out.append(phase.reconstruct(frames, options, a, length=n).cpu().numpy().astype(np.float32))
            continue
        out.append(
            looping.render_loop(
                mag,
                n,
                period_samples=a.clip_samples,
                n_fft=a.n_fft,
                hop_length=a.hop_length,
                reconstruct=reconstruct,
            )
        )
    return out


def stretch_joined(mag: torch.Tensor, n_samples: int, hop_length: int) -> torch.Tensor:
    """Magnitude frames [freq, frames] resampled to a clip of ``n_samples`` (for a glide at a tempo
    other than the grid's)."""
    return looping.stretch_frames_torch(mag, 1 + n_samples // hop_length)


def prepare(
    preset: Preset,
    tempos: Sequence[Tempo],
    *,
    median_seconds: float,
    bpm: float | None = None,
    bars: int | None = None,
) -> Preset:
    """``preset`` with its grid resolved for a library (training): the mode by the library's
    majority when ``auto``, the grid tempo and bars (``bpm`` / ``bars`` override them and switch a
    grid that is ``off`` to ``loop``), and the clip length (a loop grid's bars; else the preset's, or
    the library's ``median_seconds``).

    ``tempos``: the library's tempi (corrections applied), one per sound.
    """
    bpm = check_bpm(bpm)
    if bars is not None:
        limits.check_bars(bars)
    config = preset.tempo
    if bpm is not None or bars is not None:
        mode = "loop" if config.mode == "off" else config.mode
        config = dataclasses.replace(
            config,
            mode=mode,
            bpm=bpm if bpm is not None else config.bpm,
            bars=int(bars) if bars is not None else config.bars,
        )
    resolved = preset
    if config.mode != "off":
        config = data.resolve_grid(config, list(tempos))
        resolved = preset.replace(tempo=config)
        if config.mode == "loop":
            assert config.bpm is not None and config.bars is not None
            seconds = tempo.grid_samples(config.bpm, config.bars, preset.audio.sample_rate)
            return resolved.replace(audio={"clip_seconds": seconds / preset.audio.sample_rate})
    if resolved.audio.clip_seconds is None:
        resolved = resolved.replace(audio={"clip_seconds": median_seconds})
    return resolved
