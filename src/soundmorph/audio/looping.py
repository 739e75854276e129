"""Whole bars out: decoded grid magnitudes rendered as a clip of an exact length that loops without
a click, and the figures that check it (the seam, onset-envelope alignment).

The model's magnitudes cover one period of a loop on the beat grid. To render them at another
tempo, the frames are read circularly at the output's own frame positions (the tempo change is a
resampling of magnitude frames; ``python -m bench tempo`` compares it with waveform stretches), and
Griffin-Lim runs over one period plus a margin of context on each side, so both ends of the period
are reconstructed with their neighbours present. The period is then cut out and its first few
milliseconds are cross-faded with what followed its last sample: the loop's end flows into its start.

The phase methods' own loop mode (``RenderOptions.periodic``, frames wrapping round the clip's end)
is the alternative :func:`soundmorph.grid.render_bars` takes when asked for; both are measured by
``python -m bench tempo``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from soundmorph.audio import phase
from soundmorph.audio.onsets import ONSET_HOP, onset_envelope
from soundmorph.audio.tempo import stretch_frames
from soundmorph.config import HOP_LENGTH, N_FFT, SAMPLE_RATE
from soundmorph.errors import SoundmorphError

CROSSFADE = 256  # samples (12 ms) over which the end of the period flows into its start
SEAM_WINDOW = 128  # samples (5.8 ms) of the windows the seam figure compares


def periodic_frames(
    mag: torch.Tensor, n_samples: int, *, period_samples: int, hop_length: int, margin: int
) -> torch.Tensor:
    """Magnitudes at the frames ``j * hop - margin`` (j = 0 .. (n_samples + 2 margin) // hop) of a
    loop of ``n_samples`` whose one period is ``mag``.

    Parameters
    ----------
    mag : torch.Tensor [shape=(..., freq, frames), non-negative]
        A centred STFT of one period of ``period_samples`` samples: frame ``t`` at ``t * hop``.

    Returns
    -------
    torch.Tensor [shape=(..., freq, 1 + (n_samples + 2 margin) // hop)]
    """
    frames = mag.shape[-1]
    count = 1 + (n_samples + 2 * margin) // hop_length
    times = torch.arange(count, dtype=torch.float64) * hop_length - margin  # output samples
    position = torch.remainder(times / n_samples, 1.0) * (period_samples / hop_length)  # source frames
    low = position.floor().long().clamp(max=frames - 1)
    frac = (position - low).clamp(0, 1).to(mag.dtype).to(mag.device)
    high = torch.where(low + 1 < frames, low + 1, torch.zeros_like(low))  # past the end: the start
    low, high = low.to(mag.device), high.to(mag.device)
    return mag[..., low] * (1 - frac) + mag[..., high] * frac


Reconstruct = Callable[[torch.Tensor, int], torch.Tensor]  # (mag [..., freq, frames], length) -> audio


def render_loop(
    mag: torch.Tensor,
    n_samples: int,
    *,
    period_samples: int,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    reconstruct: Reconstruct | None = None,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Audio of exactly ``n_samples`` that loops seamlessly, from one period of magnitudes.

    Parameters
    ----------
    mag : torch.Tensor [shape=(..., n_fft // 2 + 1, frames), non-negative]
        A centred STFT of one period of a loop on the grid, ``period_samples`` long (the frames are
        read at the output's rate: this is where the tempo changes).
    n_samples : int > 0
        Length of the result: ``bars * 4 * 60 / bpm * sample_rate`` rounded.
    reconstruct : callable or None
        The phase method, ``(magnitudes, length) -> audio``; None: fast Griffin-Lim, 32 iterations
        (random initial phase from ``generator``), with ``n_fft`` and ``hop_length``.

    Returns
    -------
    np.ndarray [shape=(..., n_samples), float32]
    """
    if n_samples < CROSSFADE * 2:
        raise SoundmorphError(f"a loop must be at least {2 * CROSSFADE} samples, got {n_samples}")
    if reconstruct is None:

        def reconstruct(frames: torch.Tensor, length: int) -> torch.Tensor:
            return phase.griffin_lim(
                frames,
                n_fft=n_fft,
                hop_length=hop_length,
                win_length=n_fft,
                generator=generator,
                length=length,
            )

    margin = 2 * n_fft  # context each side: the window reaches n_fft / 2, GL's errors a little further
    frames = periodic_frames(
        mag, n_samples, period_samples=period_samples, hop_length=hop_length, margin=margin
    )
    audio = reconstruct(frames, (frames.shape[-1] - 1) * hop_length)
    period = audio[..., margin : margin + n_samples].clone()
    after = audio[..., margin + n_samples : margin + n_samples + CROSSFADE]
    fade = 0.5 - 0.5 * torch.cos(torch.linspace(0, torch.pi, CROSSFADE, device=audio.device))  # 0 -> 1
    period[..., :CROSSFADE] = fade * period[..., :CROSSFADE] + (1 - fade) * after
    return period.cpu().numpy().astype(np.float32)


def stretch_frames_torch(mag: torch.Tensor, n_frames: int) -> torch.Tensor:
    """:func:`soundmorph.audio.tempo.stretch_frames` for a tensor (on its device)."""
    return torch.from_numpy(stretch_frames(mag.detach().cpu().numpy(), n_frames)).to(mag)


def seam_figures(audio: np.ndarray) -> dict[str, float]:
    """How audible the seam of a loop is, against its inside.

    Both figures use the second difference ``x[i-1] - 2 x[i] + x[i+1]`` of the clip taken as periodic
    (a crude high-pass that is ~0 on smooth waveforms, even at their steepest, and large at a jump).
    ``jump_rank``: the share of the clip's samples whose second difference is smaller than the
    largest of the two that straddle the seam (about 0.5: a typical sample; near 1: a click).
    ``hf_ratio``: its energy in a :data:`SEAM_WINDOW` window across the seam over the median of the
    same in windows inside the clip (a click: >> 1). ``hf_rank``: the share of the inside windows
    with less of that energy than the seam's (about 0.5 or below: the seam is like the inside).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    """
    x = np.asarray(audio, dtype=np.float64)
    curvature = np.abs(np.roll(x, 1) - 2 * x + np.roll(x, -1))  # circular: index 0 and -1 straddle the seam
    seam = max(curvature[0], curvature[-1])
    jump_rank = float(np.mean(curvature[1:-1] < seam))
    energy = np.roll(curvature, SEAM_WINDOW // 2) ** 2  # the seam now in the middle of window 0
    windows = energy[: len(energy) // SEAM_WINDOW * SEAM_WINDOW].reshape(-1, SEAM_WINDOW).sum(axis=1)
    inside = float(np.median(windows[1:]))
    return {
        "jump_rank": jump_rank,
        "hf_ratio": float(windows[0]) / max(inside, 1e-20),
        "hf_rank": float(np.mean(windows[1:] < windows[0])),
    }


def onset_alignment(
    morph: np.ndarray, source: np.ndarray, *, sample_rate: int = SAMPLE_RATE, max_lag: float = 0.1
) -> dict[str, float]:
    """How well the hits of ``morph`` line up with those of ``source`` stretched to its length.

    The onset envelopes (positive log-spectral flux, circular) of both are compared: ``lag0`` is
    their correlation at lag 0 (Pearson), ``best_lag_ms`` the lag within ``±max_lag`` seconds with
    the highest correlation (positive: the morph is late), ``best`` that correlation.
    """
    a = onset_envelope(morph, sample_rate=sample_rate, circular=True)
    b = onset_envelope(source, sample_rate=sample_rate, circular=True)
    b = np.interp(np.linspace(0, 1, len(a), endpoint=False), np.linspace(0, 1, len(b), endpoint=False), b)
    a, b = a - a.mean(), b - b.mean()
    norm = max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-20)
    hop = ONSET_HOP / sample_rate
    reach = max(1, round(max_lag / hop))
    lags = np.arange(-reach, reach + 1)
    correlation = np.array([float(np.dot(np.roll(a, -lag), b)) / norm for lag in lags])
    best = int(np.argmax(correlation))
    return {
        "lag0": float(correlation[reach]),
        "best_lag_ms": float(lags[best] * hop * 1000),
        "best": float(correlation[best]),
    }
