"""The studio render: a morph at its sources' own rate and channels, their hits kept.

:func:`studio_render` turns what the model decoded on its grid (detail transferred, so a source
itself at its weight of 1) into audio a producer can use as it is, with the DSP of
:mod:`soundmorph.audio.studio`: the sources, each at its own rate and channels, are stretched to the
render's tempo and mixed at their weights; the model's magnitude shapes the mix through a gain
formed on the grid; the band above the model's and the stereo image come from the sources. No
phase is rebuilt, so nothing smears: at alpha 0 the render is source A, sample for sample.

Chosen over the model chain (magnitude frames resampled to the tempo, phase rebuilt) by
``python -m bench render``: see bench/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from soundmorph.audio import io, studio
from soundmorph.audio.tempo import ONSET_LEAD, Tempo, grid_samples
from soundmorph.config import SAMPLE_RATE, Preset
from soundmorph.limits import MAX_CLIP_SECONDS, READ_MARGIN_SECONDS
from soundmorph.sound import Sound

NATIVE_SECONDS = MAX_CLIP_SECONDS + READ_MARGIN_SECONDS  # of a source's file a studio render reads


@dataclass(frozen=True)
class StudioSource:
    """A source as the studio render needs it.

    Attributes
    ----------
    audio : np.ndarray [shape=(channels, n_samples), float32]
        As read, at its own rate and channels (at least the bars the render takes of it).
    sample_rate : int
    tempo : Tempo or None
        Its kind, tempo and bars (None for a model without a grid).
    grid_stft : torch.Tensor [shape=(freq, frames), complex]
        Its STFT on the model's grid, at the model's rate (what the model encoded).
    """

    audio: np.ndarray
    sample_rate: int
    tempo: Tempo | None
    grid_stft: torch.Tensor
    # (rate, bars) -> its loop period [channels, samples] at that rate and the period's hits: what
    # every render of this source at that rate stretches (a page renders the same pair again and again)
    periods: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def fitted(self, rate: int, n_samples: int, *, bpm: float | None, bars: int | None) -> np.ndarray:
        """This source made into a render's clip [channels, n_samples] at ``rate``
        (:func:`soundmorph.audio.studio.fit_source`); a loop's period and hits are found once per
        rate and bar count and kept."""
        tempo = self.tempo
        if tempo is None or tempo.kind != "loop" or tempo.bpm is None or bpm is None or not bars:
            return studio.fit_source(self.at(rate), rate, tempo, n_samples=n_samples, bpm=None, bars=None)
        key = (rate, bars)
        if key not in self.periods:
            period = studio.loop_period(self.at(rate), rate, tempo, bars)
            self.periods[key] = (period, studio.period_hits(period, sample_rate=rate))
        period, hits = self.periods[key]
        return studio.wsola(period, n_samples, sample_rate=rate, hits=hits)

    def at(self, rate: int) -> np.ndarray:
        """Its audio [channels, samples] at ``rate``."""
        return self.audio if rate == self.sample_rate else io.resample(self.audio, self.sample_rate, rate)


@dataclass(frozen=True)
class StudioClip:
    """A studio render: audio [samples] (mono) or [2, samples] at ``sample_rate``; a loop's tempo and
    bars (None for a one-shot); its full-band magnitude [freq, frames] every ``hop_length``."""

    audio: np.ndarray
    sample_rate: int
    bpm: float | None
    bars: int | None
    magnitude: np.ndarray
    hop_length: int


def heaviest(sources: Sequence[StudioSource], weights: Sequence[float]) -> StudioSource:
    """The source with the most weight (the first of equals): it sets a render's bars or length."""
    return sources[int(np.argmax(np.asarray(weights, dtype=np.float64)))]


def render_bars(sources: Sequence[StudioSource], weights: Sequence[float], preset: Preset) -> int | None:
    """Bars of a loop render: the heaviest source's own when it is a loop (so alpha 0 is A with its
    bars), else the grid's. None for a model without a loop grid, and when the heaviest source is a
    one-shot (the render is then a one-shot as long as it: :func:`oneshot_samples`)."""
    if preset.tempo.mode != "loop":
        return None
    found = heaviest(sources, weights).tempo
    if found is not None and found.kind == "oneshot":
        return None
    if found is not None and found.kind == "loop" and found.bars is not None:
        return int(found.bars)
    return preset.tempo.bars


def oneshot_samples(source: StudioSource, sample_rate: int, limit: int) -> int:
    """Samples at ``sample_rate`` of a render led by the one-shot ``source``: its own length from
    where its onset is aligned (as :func:`soundmorph.audio.studio.fit_source` cuts it), at most
    ``limit``. A one-shot at weight 1 thus comes back as it is, not padded to bars: padding a hit
    with seconds of silence is another sound (and another hit sharpness: python -m bench render)."""
    scale = sample_rate / source.sample_rate
    start = 0
    if source.tempo is not None:
        start = max(
            0, round(source.tempo.downbeat * sample_rate) - round(ONSET_LEAD * sample_rate / SAMPLE_RATE)
        )
    return max(1, min(limit, round(source.audio.shape[-1] * scale) - start))


def studio_render(
    sources: Sequence[StudioSource],
    weights: Sequence[float],
    target: torch.Tensor,
    preset: Preset,
    *,
    bpm: float | None,
    rate: int | None = None,
) -> StudioClip:
    """The studio render of the model's magnitude ``target`` from ``sources`` at ``weights``.

    Parameters
    ----------
    sources : list of StudioSource
    weights : list of float
        Each source's share (as the latents are mixed); a weight of 1 gives that source back.
    target : torch.Tensor [shape=(freq, frames), non-negative]
        The model's magnitude on its grid (detail transferred).
    preset : Preset
        The model's: its rate, STFT and grid.
    bpm : float or None
        The render's tempo (a loop model), e.g. :func:`soundmorph.grid.mix_bpm`.
    rate : int, optional
        Output rate (Hz); default the highest of the sources' (with weight), at most 48 kHz.
    """
    w = [float(x) for x in weights]
    out_rate = studio.render_rate([s.sample_rate for s in sources], w, rate=rate)
    channels = studio.render_channels([s.audio.shape[0] for s in sources], w)
    bars = render_bars(sources, w, preset)
    a = preset.audio
    loop = bars is not None and bpm is not None
    if loop:
        assert bpm is not None and bars is not None
        n = grid_samples(bpm, bars, out_rate)
    else:
        n = round(a.clip_samples * out_rate / a.sample_rate)
        lead = heaviest(sources, w)
        if preset.tempo.mode == "loop" and lead.tempo is not None and lead.tempo.kind == "oneshot":
            n = oneshot_samples(lead, out_rate, n)
    fitted = []
    for source, weight in zip(sources, w, strict=True):
        if weight == 0.0:  # no share of the mix: skip its stretch
            fitted.append(np.zeros((channels, n), np.float32))
            continue
        clip = source.fitted(out_rate, n, bpm=bpm if loop else None, bars=bars)
        fitted.append(studio.as_channels(clip, channels))
    mix = torch.zeros_like(sources[0].grid_stft, device="cpu")
    for source, weight in zip(sources, w, strict=True):
        if weight != 0.0:
            mix += weight * source.grid_stft.cpu()
    log_gain = studio.grid_gain(target.cpu(), mix)
    period = a.clip_samples / a.hop_length if loop else None
    out, magnitude = studio.render(
        fitted,
        w,
        sample_rate=out_rate,
        log_gain=log_gain,
        bpm=bpm if loop else None,
        grid_bpm=preset.tempo.bpm if loop else None,
        period_frames=period,
        grid_hop=a.hop_length,
    )
    _, hop = studio.frame_settings(out_rate)
    audio = out[0] if channels == 1 else out
    return StudioClip(audio, out_rate, bpm if loop else None, bars, magnitude, hop)


def studio_glide(
    sources: Sequence[StudioSource],
    alphas: torch.Tensor,
    target: torch.Tensor,
    preset: Preset,
    *,
    bpm: float,
    repeats: int,
    rate: int | None = None,
) -> StudioClip:
    """A glide from source A to B through the studio chain: both stretched to ``bpm`` and the grid's
    bars, repeated ``repeats`` times, mixed with weights that move frame by frame, and shaped by
    the model's joined magnitude.

    Parameters
    ----------
    sources : list of StudioSource [shape=(2,)]
    alphas : torch.Tensor [shape=(repeats * frames,)]
        B's share in each grid frame of the joined repeats (A's is ``1 - alpha``).
    target : torch.Tensor [shape=(freq, repeats * frames), non-negative]
        The model's magnitudes at those ratios, joined repeat after repeat on the grid.
    bpm : float
        The glide's tempo; each repeat is the grid's bars at it.

    Returns
    -------
    StudioClip
        At the sources' higher rate and (stereo when one is) channels; ``bpm``/``bars`` None: a glide
        goes from one sound to another, it does not loop.
    """
    halves = [0.5, 0.5]
    out_rate = studio.render_rate([s.sample_rate for s in sources], halves, rate=rate)
    channels = studio.render_channels([s.audio.shape[0] for s in sources], halves)
    a = preset.audio
    bars = preset.tempo.bars
    assert bars is not None and preset.tempo.bpm is not None
    n = grid_samples(bpm, bars, out_rate)
    tiled = []
    for source in sources:
        clip = source.fitted(out_rate, n, bpm=bpm, bars=bars)
        tiled.append(np.tile(studio.as_channels(clip, channels), (1, repeats)))
    frames = sources[0].grid_stft.shape[-1]  # grid frames of one clip, as joined
    local = torch.arange(target.shape[-1]) % frames
    share = alphas.float().cpu()
    grid_mix = (
        sources[0].grid_stft.cpu()[:, local] * (1 - share) + sources[1].grid_stft.cpu()[:, local] * share
    )
    log_gain = studio.grid_gain(target.cpu(), grid_mix)
    _, hop = studio.frame_settings(out_rate)
    n_frames = 1 + repeats * n // hop
    # each render frame's place in the joined repeats: by beat on the grid, then repeat r's frame
    period = a.clip_samples / a.hop_length
    on_grid = studio.grid_positions(
        n_frames, hop, out_rate, bpm=bpm, grid_bpm=preset.tempo.bpm, grid_hop=a.hop_length
    )
    repeat = np.minimum(np.floor(on_grid / period), repeats - 1)
    positions = np.clip(repeat * frames + (on_grid - repeat * period), 0, target.shape[-1] - 1)
    at = torch.from_numpy(positions).float()
    low = at.floor().long().clamp(max=target.shape[-1] - 2)
    frac = at - low
    b_share = share[low] * (1 - frac) + share[low + 1] * frac  # [n_frames]
    out, magnitude = studio.render(
        tiled,
        torch.stack([1 - b_share, b_share]),
        sample_rate=out_rate,
        log_gain=log_gain,
        bpm=bpm,
        grid_bpm=preset.tempo.bpm,
        period_frames=None,
        grid_hop=a.hop_length,
        positions=positions,
    )
    return StudioClip(out[0] if channels == 1 else out, out_rate, None, None, magnitude, hop)


def read_native(path: Path | None, clip: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """A source's audio for a studio render: its file at its own rate and channels ([channels,
    samples], Hz), or ``clip`` [samples] at ``sample_rate`` for audio in memory (an upload)."""
    if path is None:
        return np.asarray(clip, dtype=np.float32)[None], sample_rate
    return io.read_native(path, max_seconds=NATIVE_SECONDS)


def render_sounds(
    mags: torch.Tensor,
    latents: torch.Tensor,
    names: Sequence[str],
    sources: Sequence[StudioSource],
    weights: torch.Tensor,
    bpms: Sequence[float | None],
    preset: Preset,
    *,
    rate: int | None = None,
) -> list[Sound]:
    """One studio-rendered :class:`Sound` per decoded magnitude [n, freq, frames] (detail
    transferred), with its latent [n, latent], its ``weights`` [n, sources] and tempo; a loop's
    name ends with its tempo and bars (``..._128bpm_2bars``)."""
    out = []
    for mag, z, name, share, bpm in zip(mags.cpu(), latents.cpu().numpy(), names, weights, bpms, strict=True):
        shares = [float(w) for w in share.reshape(-1)]
        clip = studio_render(sources, shares, mag, preset, bpm=bpm, rate=rate)
        out.append(
            Sound(
                clip.audio,
                clip.sample_rate,
                clip.magnitude,
                "_".join([name, *studio.loop_tags(clip.bpm, clip.bars)]),
                clip.hop_length,
                z.copy(),
                bpm=clip.bpm,
                bars=clip.bars,
                model_magnitude=mag.numpy(),
            )
        )
    return out
