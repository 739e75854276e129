"""The studio render chain's DSP: the model moves the spectral envelope, the sources carry the rest.

The model works at 22,050 Hz, mono, on its beat grid. A render at a source's own rate and channels
keeps from the sources what the model cannot hold (the fine structure and phase of each hit, the
band above 11 kHz, the stereo image):

1. each source, at its own rate and channels, is cut to the render's bars at its own tempo (its
   lead-in trimmed and its tail wrapped round, as on the grid) and stretched to the render's tempo
   by a multichannel WSOLA (:func:`fit_source`; one set of splice points for all channels, so the
   image holds; a source already at that tempo is untouched);
2. the render's complex mix ``sum_k w_k S_k`` is taken per channel, with an STFT whose window is
   the model's scaled to the output rate, so a bin means the same frequency as the model's
   (:func:`frame_settings`);
3. the gain ``G = M / |sum_k w_k X_k|`` is formed on the grid, where the model's (detail
   transferred) magnitude ``M`` and the sources' grid STFTs ``X_k`` line up frame for frame
   (:func:`grid_gain`), then moved to the render's frames by beat position and to its bins by
   frequency (:func:`move_gain`); above the model's band a per-frame gain brings the mix's energy
   to the sources' weighted energy (:func:`high_band_gain`);
4. ``output = G * mix`` per channel, inverse STFT (:func:`apply_gain`).

At a weight of 1 on one source, ``M`` is that source on the grid (the detail transfer is exact
there), the gain is 1 and the output is the source itself, to numerical precision; in between
everything is continuous in the weights. Pure functions: numpy/torch in, numpy out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from soundmorph.audio.tempo import (
    ONSET_LEAD,
    WSOLA_FRAME,
    WSOLA_TOLERANCE,
    Tempo,
    hit_frames,
    to_bars,
    wsola_anchors,
)
from soundmorph.config import HOP_LENGTH, N_FFT, SAMPLE_RATE
from soundmorph.errors import SoundmorphError

MAX_RENDER_RATE = 48_000  # Hz: the highest rate a render takes from its sources
GAIN_LIMIT_DB = 24.0  # |G| is kept within this of 1: where the sources' mix cancels, no blow-up
HIGH_GAIN_LIMIT_DB = 12.0  # the same for the band above the model's
CROSSOVER_HZ = (10_000.0, SAMPLE_RATE / 2)  # the gain goes from the model's to the high band's here
GAIN_FLOOR = 1e-6  # magnitude added to both sides of the gain: silence over silence is 1, not 0/0
# The model moves the envelope, the sources keep the attack: a gain that follows every frame smears
# the hits (hit sharpness at 0.5: 0.80 of the sources' unsmoothed, 0.92 so; python -m bench render).
GAIN_SMOOTH_FRAMES = 9  # grid frames (209 ms) the log gain is averaged over
GAIN_SMOOTH_BINS = 9  # bins (97 Hz) the same


def render_rate(rates: Sequence[int], weights: Sequence[float], *, rate: int | None = None) -> int:
    """The rate of a render (Hz): ``rate`` when asked, else the highest of the rates of the sources
    that have weight, at most :data:`MAX_RENDER_RATE` (a source alone keeps its own rate)."""
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int) or not 8_000 <= rate <= 192_000:
            raise SoundmorphError(f"rate must be a whole number of Hz in [8000, 192000], got {rate!r}")
        return rate
    used = [int(r) for r, w in zip(rates, weights, strict=True) if w > 0] or [int(r) for r in rates]
    return min(max(used), max(MAX_RENDER_RATE, min(used)))


def render_channels(channels: Sequence[int], weights: Sequence[float]) -> int:
    """Channels of a render: 2 when a source with weight is stereo (or more), else 1."""
    used = [c for c, w in zip(channels, weights, strict=True) if w > 0] or list(channels)
    return 2 if max(used) > 1 else 1


def loop_tags(bpm: float | None, bars: int | None) -> tuple[str, ...]:
    """The tags a loop render's name ends with, e.g. ``("128bpm", "2bars")``; none for a one-shot."""
    if bpm is None or bars is None:
        return ()
    return (f"{bpm:.0f}bpm", f"{bars}bar" + ("s" if bars != 1 else ""))


def frame_settings(sample_rate: int) -> tuple[int, int]:
    """(n_fft, hop) at ``sample_rate``: the model's window scaled to the rate (4096 / 1024 at
    44.1 kHz), so bin k is the model's bin k in Hz, at a quarter-window hop."""
    n_fft = 2 * max(16, round(N_FFT * sample_rate / SAMPLE_RATE / 2))
    return n_fft, n_fft // 4


def as_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """``audio`` [samples] or [c, samples] as float32 [channels, samples]: mono is copied to every
    channel, more channels than asked are mixed down (1) or cut (2: the first two)."""
    x = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if x.shape[0] == channels:
        return x
    if x.shape[0] == 1:
        return np.repeat(x, channels, axis=0)
    if channels == 1:
        return x.mean(axis=0, keepdims=True)
    return x[:channels]


def period_hits(audio: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """The hits of a loop period [channels, n_in] that :func:`wsola` puts on their time (found on
    the channels' mean, strongest first: :func:`soundmorph.audio.tempo.hit_frames`)."""
    mono = np.atleast_2d(np.asarray(audio, dtype=np.float64)).mean(axis=0)
    return hit_frames(mono, sample_rate=sample_rate)


def wsola(
    audio: np.ndarray, n_samples: int, *, sample_rate: int = SAMPLE_RATE, hits: np.ndarray | None = None
) -> np.ndarray:
    """Circular WSOLA of a loop period [channels, n_in] to [channels, n_samples], float32.

    The splice points are found on the channels' mean and used for every channel, so a stereo
    image is not torn apart; frame and tolerance are :mod:`~soundmorph.audio.tempo`'s at 22,050 Hz,
    scaled to ``sample_rate`` (the same time span). The frames that carry the period's hits are
    placed so that each lands on its time (``hits``: :func:`period_hits` of ``audio``, when the
    caller keeps them; found here otherwise). ``n_samples == n_in`` returns the input.
    """
    x = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    n_in = x.shape[-1]
    if n_samples < 1 or n_in < 1:
        raise SoundmorphError(f"cannot stretch {n_in} samples to {n_samples}")
    if n_samples == n_in:
        return x.astype(np.float32)
    scale = sample_rate / SAMPLE_RATE
    hop = max(8, round(WSOLA_FRAME * scale / 2))
    frame, tol = 2 * hop, max(1, round(WSOLA_TOLERANCE * scale))
    window = np.hanning(frame + 1)[:-1]
    mono = x.mean(axis=0)
    n_frames = math.ceil(n_samples / hop) + 1
    ratio = n_in / n_samples
    nominal = np.round((np.arange(n_frames) * hop - hop) * ratio).astype(np.int64)
    # The search runs at about 22 kHz (pairs of samples averaged at 44.1 kHz): the same splice
    # points within a sample of the rate, at a quarter of the cost.
    d = max(1, round(sample_rate / SAMPLE_RATE))
    coarse = mono[: n_in // d * d].reshape(-1, d).mean(axis=1) if d > 1 and n_in >= d else mono
    d = d if coarse is not mono else 1
    n_c, frame_c, tol_c, hop_c = len(coarse), max(1, frame // d), max(1, tol // d), max(1, hop // d)
    # FFT length of the cross-correlation: a candidate's length is enough, as the lags wanted
    # (0 .. 2 tol) never carry the zero-padded target round the end of the circle
    size = frame_c + 2 * tol_c
    span_c = np.arange(frame_c)
    reach = np.arange(frame_c + 2 * tol_c)
    starts = np.round(nominal / d).astype(np.int64) - tol_c
    candidates = np.fft.rfft(coarse[(starts[:, None] + reach[None, :]) % n_c], size)  # [frames, bins]
    anchors = wsola_anchors(mono, n_samples, hop=hop, sample_rate=sample_rate, hits=hits)  # hits on time
    positions = np.empty(n_frames, dtype=np.int64)
    positions[0] = anchors.get(0, nominal[0])
    for k in range(1, n_frames):  # the offset where the input best continues the previous frame
        if k in anchors:
            positions[k] = anchors[k]
            continue
        target = coarse[(round(positions[k - 1] / d) + hop_c + span_c) % n_c]
        corr = np.fft.irfft(candidates[k] * np.conj(np.fft.rfft(target, size)), size)
        positions[k] = nominal[k] + d * (int(np.argmax(corr[: 2 * tol_c + 1])) - tol_c)
    span = np.arange(frame)
    index = (positions[:, None] + span[None, :]) % n_in  # [frames, frame]
    segments = x[:, index] * window  # [channels, frames, frame]
    blocks = np.zeros((x.shape[0], n_frames + 1, hop))
    blocks[:, :n_frames] += segments[..., :hop]
    blocks[:, 1:] += segments[..., hop:]
    flat = blocks.reshape(x.shape[0], -1)  # flat[j] is output sample j - hop
    where = (np.arange(flat.shape[-1]) - hop) % n_samples  # a loop: what runs past wraps round
    out = np.stack([np.bincount(where, weights=row, minlength=n_samples) for row in flat])
    return out.astype(np.float32)


def loop_period(audio: np.ndarray, sample_rate: int, tempo: Tempo, bars: int) -> np.ndarray:
    """A loop source [channels, samples] cut or repeated to ``bars`` bars at its own tempo as the
    grid does it (from its ``start``, its tail wrapped or dropped:
    :func:`soundmorph.audio.tempo.to_bars`): [channels, grid_samples(tempo.bpm, bars)] float32."""
    x = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    return np.stack([to_bars(channel, tempo, bars, sample_rate=sample_rate) for channel in x])


def fit_source(
    audio: np.ndarray,
    sample_rate: int,
    tempo: Tempo | None,
    *,
    n_samples: int,
    bpm: float | None,
    bars: int | None,
) -> np.ndarray:
    """A source [channels, samples] at its own rate made into the render's clip of ``n_samples``.

    A loop rendered as a loop (``bpm`` and ``bars`` given) is cut or repeated to ``bars`` bars at
    its own tempo as the grid does it (from its ``start``, its tail wrapped or dropped:
    :func:`soundmorph.audio.tempo.to_bars`) and stretched to ``n_samples`` by :func:`wsola`;
    anything else (a one-shot, a model without a grid) starts at its onset and is cut or
    zero-padded. Returns float32 [channels, n_samples].
    """
    x = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if tempo is not None and tempo.kind == "loop" and tempo.bpm is not None and bpm is not None and bars:
        return wsola(loop_period(x, sample_rate, tempo, bars), n_samples, sample_rate=sample_rate)
    start = 0
    if tempo is not None and tempo.kind == "oneshot":
        start = max(0, round(tempo.downbeat * sample_rate) - round(ONSET_LEAD * sample_rate / SAMPLE_RATE))
    clip = x[:, start : start + n_samples]
    return np.pad(clip, ((0, 0), (0, n_samples - clip.shape[-1])))


def stft(audio: torch.Tensor, n_fft: int, hop: int, *, periodic: bool) -> torch.Tensor:
    """Complex STFT [..., n_fft // 2 + 1, 1 + n // hop] of audio [..., n] (Hann, centred; a loop's
    frames wrap round its ends)."""
    shape = audio.shape[:-1]
    spec = torch.stft(
        audio.reshape(-1, audio.shape[-1]),
        n_fft=n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft, periodic=True, dtype=audio.dtype),
        center=True,
        pad_mode="circular" if periodic else "constant",
        return_complex=True,
    )
    return spec.reshape(*shape, *spec.shape[-2:])


def istft(spec: torch.Tensor, n_fft: int, hop: int, n_samples: int, *, periodic: bool) -> torch.Tensor:
    """Audio [..., n_samples] of a complex STFT made by :func:`stft` with the same settings.

    A loop's frames that wrapped round are folded back: the overlap-add of the frames past either
    end lands at the other, so a loop renders without a seam.
    """
    shape = spec.shape[:-2]
    flat = spec.reshape(-1, *spec.shape[-2:])
    window = torch.hann_window(n_fft, periodic=True, dtype=flat.real.dtype)
    if not periodic:
        out = torch.istft(flat, n_fft=n_fft, hop_length=hop, window=window, center=True, length=n_samples)
        return out.reshape(*shape, n_samples)
    frames = torch.fft.irfft(flat, n=n_fft, dim=-2) * window[:, None]  # [b, n_fft, frames]
    count = frames.shape[-1]
    starts = torch.arange(count) * hop - n_fft // 2
    index = (starts[:, None] + torch.arange(n_fft)[None, :]) % n_samples  # [frames, n_fft]
    out = torch.zeros(flat.shape[0], n_samples, dtype=frames.dtype)
    out.index_add_(1, index.reshape(-1), frames.transpose(1, 2).reshape(flat.shape[0], -1))
    norm = torch.zeros(n_samples, dtype=frames.dtype)
    norm.index_add_(0, index.reshape(-1), (window**2).repeat(count))
    return (out / norm.clamp_min(1e-8)).reshape(*shape, n_samples)


def _box(x: torch.Tensor, size: int, dim: int, *, periodic: bool) -> torch.Tensor:
    """Moving average of ``size`` (odd) along ``dim``: wrapped round, or the edges repeated."""
    half = min(size // 2, x.shape[dim] - 1)
    if half <= 0:
        return x
    n = x.shape[dim]
    index = torch.arange(-half, n + half)
    index = index % n if periodic else index.clamp(0, n - 1)
    padded = x.index_select(dim, index)
    total = torch.cumsum(padded, dim=dim)
    total = torch.cat([torch.zeros_like(total.narrow(dim, 0, 1)), total], dim=dim)
    width = 2 * half + 1
    return (total.narrow(dim, width, n) - total.narrow(dim, 0, n)) / width


def smooth(log_gain: torch.Tensor, *, frames: int, bins: int, periodic: bool) -> torch.Tensor:
    """A log gain [freq, frames] averaged over ``frames`` x ``bins`` (odd sizes; a loop's frames
    wrap round, bins and a one-shot's frames repeat their edge)."""
    x = _box(log_gain.double(), frames, 1, periodic=periodic)
    return _box(x, bins, 0, periodic=False).to(log_gain.dtype)


def grid_gain(target: torch.Tensor, mix: torch.Tensor, *, limit_db: float = GAIN_LIMIT_DB) -> torch.Tensor:
    """Log gain [freq, frames] that takes the sources' grid mix to the model's magnitude.

    Parameters
    ----------
    target : torch.Tensor [shape=(freq, frames), non-negative]
        The model's magnitude (detail transferred: a source itself where its weight is 1).
    mix : torch.Tensor [shape=(freq, frames), complex]
        ``sum_k w_k X_k`` of the sources' STFTs on the grid.

    Returns
    -------
    torch.Tensor [shape=(freq, frames)]
        ``ln((M + f) / (|mix| + f))`` within ``±limit_db``; 0 where ``M`` is ``|mix|``.
    """
    limit = limit_db * math.log(10.0) / 20.0
    return (torch.log(target.float() + GAIN_FLOOR) - torch.log(mix.abs().float() + GAIN_FLOOR)).clamp(
        -limit, limit
    )


def grid_positions(
    n_frames: int, hop: int, sample_rate: int, *, bpm: float | None, grid_bpm: float | None, grid_hop: int
) -> np.ndarray:
    """Where each of a render's ``n_frames`` frames lies on the model's grid, in grid frames
    (fractional): by beat position when both tempi are known (a loop), else by time."""
    seconds = np.arange(n_frames) * hop / sample_rate
    if bpm is not None and grid_bpm is not None:
        seconds = seconds * bpm / grid_bpm  # the same beat on the grid
    return seconds * SAMPLE_RATE / grid_hop


def move_gain(
    log_gain: torch.Tensor,
    positions: np.ndarray,
    *,
    n_fft: int,
    sample_rate: int,
    period_frames: float | None,
) -> torch.Tensor:
    """The grid's log gain [freq_m, frames_m] on a render's frames and bins: float32
    [n_fft // 2 + 1, frames].

    ``positions`` [frames] from :func:`grid_positions`; a loop wraps round its ``period_frames``
    (grid frames in one grid clip), anything else holds its last frame. Bins are matched by
    frequency (at 44.1 kHz bin k is the model's bin k); above the model's band the top bin's gain
    holds (:func:`crossover` then hands over to the high band's).
    """
    freq_m, frames_m = log_gain.shape
    if period_frames is not None:
        pos = np.mod(positions, period_frames)
    else:
        pos = np.clip(positions, 0, frames_m - 1)
    low = np.floor(pos).astype(np.int64).clip(0, frames_m - 1)
    up = np.where(low + 1 < frames_m, low + 1, 0 if period_frames is not None else frames_m - 1)
    frac = torch.from_numpy(pos - np.floor(pos)).float()
    g = log_gain.float()
    moved = g[:, low] * (1 - frac) + g[:, up] * frac  # [freq_m, frames]
    bin_m = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft) * (2 * (freq_m - 1)) / SAMPLE_RATE
    if np.allclose(bin_m[: min(len(bin_m), freq_m)], np.arange(min(len(bin_m), freq_m))):
        index = torch.from_numpy(np.minimum(np.arange(len(bin_m)), freq_m - 1))
        return moved.index_select(0, index)  # the bins line up: a gather
    bin_m = np.clip(bin_m, 0, freq_m - 1)
    b_low = np.floor(bin_m).astype(np.int64).clip(0, freq_m - 2)
    b_frac = torch.from_numpy(bin_m - b_low).float()[:, None]
    return moved[b_low] * (1 - b_frac) + moved[b_low + 1] * b_frac


def crossover(gain: torch.Tensor, high: torch.Tensor, *, n_fft: int, sample_rate: int) -> torch.Tensor:
    """``gain`` [freq, frames] handed over to the high band's ``high`` [frames] across
    :data:`CROSSOVER_HZ` (linearly in log gain); in place, returned."""
    lo, hi = CROSSOVER_HZ
    first = math.ceil(lo * n_fft / sample_rate)
    if first >= gain.shape[0]:
        return gain
    hz = torch.arange(first, gain.shape[0], dtype=torch.float32) * sample_rate / n_fft
    share = ((hz - lo) / (hi - lo)).clamp(0.0, 1.0)[:, None]
    gain[first:] = gain[first:] * (1 - share) + high.float()[None] * share
    return gain


def high_band_gain(
    specs: torch.Tensor,
    weights: torch.Tensor,
    mix: torch.Tensor,
    *,
    n_fft: int,
    sample_rate: int,
    low_change: float = 1.0,
    limit_db: float = HIGH_GAIN_LIMIT_DB,
) -> torch.Tensor:
    """Log gain [frames] that brings the mix's energy above the model's band to the sources'
    weighted energy, frame by frame, times ``low_change``: ``0.5 ln(c sum_k w_k E_k / E_mix)``
    within ``±limit_db``.

    Two uncorrelated sources mixed at 0.5 each keep half their energy (-3 dB); this restores it,
    so the hats' sizzle at a ratio lies between the sources'. ``low_change`` is how much the model's
    gain changed the energy below (so the band's share of the whole stays between the sources').
    0 when one source has all the weight.

    Parameters
    ----------
    specs : torch.Tensor [shape=(k, channels, freq, frames), complex]
    weights : torch.Tensor [shape=(k,) or (k, frames)]
        Each source's share, or its share in each frame (a glide).
    mix : torch.Tensor [shape=(channels, freq, frames), complex]
    """
    first = math.ceil(CROSSOVER_HZ[0] * n_fft / sample_rate)  # the band's lowest bin
    if first >= specs.shape[-2]:
        return torch.zeros(specs.shape[-1], dtype=torch.float64)
    energy = torch.view_as_real(specs[..., first:, :]).square().sum(dim=(1, 2, 4)).double()  # [k, frames]
    w = weights.double()
    wanted = ((w[:, None] if w.ndim == 1 else w) * energy).sum(0)
    have = torch.view_as_real(mix[:, first:, :]).square().sum(dim=(0, 1, 3)).double()
    floor = 1e-12 * float(wanted.max().clamp_min(1e-30))
    limit = limit_db * math.log(10.0) / 20.0
    change = math.log(max(low_change, 1e-12))
    return (0.5 * (torch.log(wanted + floor) - torch.log(have + floor) + change)).clamp(-limit, limit)


def apply_gain(mix: torch.Tensor, log_gain: torch.Tensor) -> torch.Tensor:
    """``exp(log_gain)`` [freq, frames] times every channel of the mix [channels, freq, frames]."""
    return mix * torch.exp(log_gain).to(mix.real.dtype)[None]


def frame_weights(weights: Sequence[float] | torch.Tensor, frames: int) -> torch.Tensor:
    """Each source's share [k] as float32 [k, 1], or shares that change over a glide [k, n] moved to
    ``frames`` frames (linearly, its first and last at the clip's ends): [k, frames]."""
    w = torch.as_tensor(weights, dtype=torch.float32)
    if w.ndim == 1:
        return w[:, None]
    if w.shape[1] == frames:
        return w
    at = torch.linspace(0.0, w.shape[1] - 1.0, frames)
    low = at.floor().long().clamp(max=max(w.shape[1] - 2, 0))
    up = (low + 1).clamp(max=w.shape[1] - 1)
    frac = (at - low).clamp(0.0, 1.0)
    return w[:, low] * (1 - frac) + w[:, up] * frac


def render(
    sources: Sequence[np.ndarray],
    weights: Sequence[float] | torch.Tensor,
    *,
    sample_rate: int,
    log_gain: torch.Tensor,
    bpm: float | None,
    grid_bpm: float | None,
    period_frames: float | None,
    grid_hop: int = HOP_LENGTH,
    positions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The studio render of sources already fitted to the render's clip (:func:`fit_source`).

    Parameters
    ----------
    sources : list of np.ndarray [shape=(channels, n_samples)]
        Each at ``sample_rate`` with the render's channels (:func:`as_channels`).
    weights : list of float, or torch.Tensor [shape=(k, n)]
        Each source's share of the mix, or its share along the clip (a glide: :func:`frame_weights`).
    log_gain : torch.Tensor [shape=(freq_m, frames_m)]
        From :func:`grid_gain`, on the model's grid.
    bpm, grid_bpm : float or None
        The render's tempo and the grid's (a loop), placing its frames on the grid by beat
        (:func:`grid_positions`); None: by time.
    period_frames : float or None
        Grid frames of one grid clip for a loop (the gain wraps round), None otherwise.
    positions : np.ndarray [shape=(1 + n_samples // hop,)], optional
        Where each of the render's frames lies on ``log_gain``'s frames, when not by
        :func:`grid_positions` (a glide's repeats, joined).

    Returns
    -------
    audio : np.ndarray [shape=(channels, n_samples), float32]
    magnitude : np.ndarray [shape=(n_fft // 2 + 1, frames), float32]
        Of the channels' mean, at :func:`frame_settings`' frames: its picture, over the whole band.
    """
    n_fft, hop = frame_settings(sample_rate)
    x = torch.from_numpy(np.stack([np.asarray(s, dtype=np.float32) for s in sources]))  # [k, c, n]
    periodic = period_frames is not None
    n = x.shape[-1]
    specs = stft(x, n_fft, hop, periodic=periodic)  # [k, c, freq, frames]
    w = frame_weights(weights, specs.shape[-1])  # [k, 1] or [k, frames]
    mix = (specs * w[:, None, None, :]).sum(0)  # [c, freq, frames]
    if positions is None:
        positions = grid_positions(
            specs.shape[-1], hop, sample_rate, bpm=bpm, grid_bpm=grid_bpm, grid_hop=grid_hop
        )
    log_gain = smooth(log_gain, frames=GAIN_SMOOTH_FRAMES, bins=GAIN_SMOOTH_BINS, periodic=periodic)
    gain = move_gain(log_gain, positions, n_fft=n_fft, sample_rate=sample_rate, period_frames=period_frames)
    top = math.ceil(CROSSOVER_HZ[0] * n_fft / sample_rate)
    power = torch.view_as_real(mix[:, :top]).square().sum(dim=(0, 3))  # [freq, frames] below the band
    change = float((power * torch.exp(2 * gain[:top])).sum() / power.sum().clamp_min(1e-20))
    high = high_band_gain(
        specs, w[:, 0] if w.shape[1] == 1 else w, mix, n_fft=n_fft, sample_rate=sample_rate, low_change=change
    )
    gain = crossover(gain, high, n_fft=n_fft, sample_rate=sample_rate)
    shaped = apply_gain(mix, gain)
    out = istft(shaped, n_fft, hop, n, periodic=periodic)
    return out.numpy().astype(np.float32), shaped.mean(dim=0).abs().numpy().astype(np.float32)
