"""Where a loop is in a file: its start (after any lead-in), its period from its hits, and its
length in whole bars with what rings past them (the tail).

Pure numpy functions on mono audio at any rate. Files as they come are not cut to whole bars: a
bounce has a few milliseconds of silence before the first hit (the lead-in) and a ring-out or
reverb after the last bar line (the tail). So the period is read from the hits:

1. the **lead-in** ends at the first sample within :data:`LEAD_IN_DB` of the peak;
2. the **8th-note period** is the one whose multiples the onset envelope's autocorrelation holds
   best, searched over one octave (:data:`EIGHTH_SECONDS`; which octave is the tempo's is decided
   elsewhere, by metre); it is then refined by the comb of 8th notes anchored on the first hit that
   collects most onset strength (8ths: swing moves only the odd 16ths);
3. the **length** of the loop is a power of two of 8th notes (1, 2, 4 or 8 bars of 4/4). Where the
   file's length (from its start or after its lead-in) is such a length within
   :data:`LENGTH_FIT`, it is the loop's length (exact: a loop cut to whole bars); else the loop is
   the longest such length that leaves a tail of at most :data:`MAX_TAIL_SECONDS`. A sound ``cut``
   from a longer file (read up to a limit) has no length to go by: its loop is the longest such
   length, up to :data:`CUT_EIGHTHS`, that it holds, and the rest is the loop playing on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from soundmorph.audio.onsets import ONSET_FFT, ONSET_HOP, onset_envelope
from soundmorph.config import SAMPLE_RATE

Fit = Literal["file", "trimmed", "hits"]
LEAD_IN_DB = -40.0  # samples quieter than this (dB re the peak) before the first hit are lead-in
MAX_TAIL_SECONDS = 0.6  # s: the longest ring-out or reverb tail taken past a loop's last bar line
LENGTH_FIT = 0.006  # relative: a length this close to whole bars at the hits' period is exact
EIGHTH_SECONDS = (0.15, 0.30)  # s: one octave of 8th-note periods (100-200 BPM; octaves by metre)
PERIOD_STEP = 0.01  # onset frames between 8th-note periods tried
AUTOCORR_LAGS = 0.75  # share of the envelope's length whose lags the period comb uses
REFINE = 0.02  # relative: the anchored comb refines the period within this
REFINE_STEPS = 401  # periods tried in it
ANCHOR_FRAMES = (-2.0, 1.0)  # onset frames the anchor may move (an onset peaks a frame early) ...
ANCHOR_STEP = 0.25  # ... in steps of this many frames
PAD = ONSET_FFT  # samples of silence before the start, so the first hit rises like the others
CUT_EIGHTHS = 64  # 8th notes (8 bars of 4/4) at most in the loop of a sound cut from a longer file


@dataclass(frozen=True)
class Region:
    """One period of a loop in a file.

    Attributes
    ----------
    start : int
        Sample where the loop starts (its first hit; 0 without a lead-in).
    seconds : float
        Length of the loop (whole bars, their number still open) in seconds.
    eighth : float
        The hits' 8th-note period in seconds, in :data:`EIGHTH_SECONDS` (its octave open).
    fit : {"file", "trimmed", "hits"}
        Where ``seconds`` came from: the file's length, its length after the lead-in, or the hits
        alone (what is past ``start + seconds`` is a tail).
    strength : float
        The period comb's best value (mean normalised autocorrelation at its multiples, <= 1).
    """

    start: int
    seconds: float
    eighth: float
    fit: Fit
    strength: float


def lead_in(audio: np.ndarray) -> int:
    """Samples of near-silence (below :data:`LEAD_IN_DB` re the peak) before the first hit."""
    magnitude = np.abs(np.asarray(audio))
    peak = float(magnitude.max()) if magnitude.size else 0.0
    if peak <= 0:
        return 0
    return int(np.argmax(magnitude >= peak * 10 ** (LEAD_IN_DB / 20)))


def find_region(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, cut: bool = False) -> Region:
    """The loop in a mono sound: its start, length (whole bars up to their number) and 8th note.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        A loop, possibly with a lead-in and a tail.
    cut : bool
        The sound is the start of a longer file (read up to a limit): its length says nothing.

    Returns
    -------
    Region
    """
    audio = np.asarray(audio, dtype=np.float64)
    hop_seconds = ONSET_HOP / sample_rate
    start = lead_in(audio)
    body = np.concatenate([np.zeros(PAD), audio[start:]])
    envelope = onset_envelope(body, sample_rate=sample_rate)
    periods, scores = _period_comb(envelope, hop_seconds)  # frames
    eighth = _refine(envelope, float(periods[int(np.argmax(scores))]), anchor=PAD / ONSET_HOP)
    strength = float(scores.max())
    whole, rest = len(audio) / sample_rate, (len(audio) - start) / sample_rate
    for length, origin, fit in () if cut else ((whole, 0, "file"), (rest, start, "trimmed")):
        if octave_error(length, eighth * hop_seconds) <= LENGTH_FIT:
            return Region(origin, length, eighth * hop_seconds, fit, strength)  # type: ignore[arg-type]
    # Not whole bars: the longest power of two of 8ths that leaves a tail within MAX_TAIL_SECONDS,
    # at the hits' period where it has one there, else at the best period that has.
    tail_ok = (rest - MAX_TAIL_SECONDS, rest * (1 + LENGTH_FIT))
    fitting = [eighth * 2**j for j in range(12) if tail_ok[0] <= eighth * hop_seconds * 2**j <= tail_ok[1]]
    if cut:  # the loop plays on past the read: as many 8ths as it holds, up to CUT_EIGHTHS
        held = [
            eighth * 2**j
            for j in range(12)
            if 2**j <= CUT_EIGHTHS and eighth * hop_seconds * 2**j <= tail_ok[1]
        ]
        fitting = held[-1:] or fitting
    if not fitting:
        best, best_score = None, -np.inf
        for j in range(12):
            inside = (periods * hop_seconds * 2**j >= tail_ok[0]) & (
                periods * hop_seconds * 2**j <= tail_ok[1]
            )
            if inside.any():
                k = int(np.argmax(np.where(inside, scores, -np.inf)))
                if scores[k] > best_score:
                    best, best_score = (float(periods[k]), j), float(scores[k])
        if best is None:  # nothing fits: the file's length, as a loop cut to whole bars
            return Region(0, whole, eighth * hop_seconds, "file", strength)
        refined = _refine(envelope, best[0], anchor=PAD / ONSET_HOP)
        if not tail_ok[0] <= refined * hop_seconds * 2 ** best[1] <= tail_ok[1]:
            refined = best[0]
        fitting, eighth = [refined * 2 ** best[1]], refined
    seconds = min(max(fitting) * hop_seconds, rest)
    return Region(start, seconds, eighth * hop_seconds, "hits", strength)


def octave_error(length: float, eighth: float) -> float:
    """Relative distance of ``length`` from the nearest power of two of ``eighth`` s."""
    octaves = max(0, round(math.log2(length / eighth)))
    return abs(length / (eighth * 2**octaves) - 1)


def _period_comb(envelope: np.ndarray, hop_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """8th-note periods (frames, one octave) and the mean autocorrelation of ``envelope`` at their
    multiples (lags up to :data:`AUTOCORR_LAGS` of its length, each normalised by its overlap)."""
    n = len(envelope)
    centred = envelope - envelope.mean()
    size = 1 << (2 * n - 1).bit_length()
    autocorr = np.fft.irfft(np.abs(np.fft.rfft(centred, size)) ** 2, size)[:n]
    autocorr /= np.maximum(n - np.arange(n), 1)  # each lag by its overlap
    autocorr /= max(float(autocorr[0]), 1e-12)
    autocorr = np.convolve(autocorr, [0.25, 0.5, 0.25], mode="same")  # a hit a frame off still counts
    low, high = EIGHTH_SECONDS[0] / hop_seconds, EIGHTH_SECONDS[1] / hop_seconds
    periods = np.arange(low, high, PERIOD_STEP)
    limit = min(max(AUTOCORR_LAGS * n, 2 * high), n - 2)
    multiples = np.arange(1, int(limit / low) + 1)
    lags = periods[:, None] * multiples[None, :]
    inside = lags <= limit
    lags = np.minimum(lags, n - 2)
    below = np.floor(lags).astype(int)
    frac = lags - below
    values = autocorr[below] * (1 - frac) + autocorr[below + 1] * frac
    scores = (values * inside).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)
    return periods, scores


def _refine(envelope: np.ndarray, period: float, *, anchor: float) -> float:
    """``period`` (frames) refined within :data:`REFINE`: the 8th-note comb from the first hit (at
    frame ``anchor``, give or take :data:`ANCHOR_FRAMES`) that collects most onset strength."""
    smooth = np.convolve(envelope, [0.25, 0.5, 0.25], mode="same")
    n = len(smooth)
    periods = period * (1 + np.linspace(-REFINE, REFINE, REFINE_STEPS))
    offsets = np.arange(ANCHOR_FRAMES[0], ANCHOR_FRAMES[1] + ANCHOR_STEP / 2, ANCHOR_STEP)
    k = np.arange(int(max(n - 3 - anchor, 0) / periods.min()) + 1)
    positions = anchor + offsets[:, None, None] + periods[None, :, None] * k[None, None, :]
    inside = (positions >= 0) & (positions <= n - 2)
    positions = np.clip(positions, 0, n - 2)
    below = np.floor(positions).astype(int)
    frac = positions - below
    values = np.where(inside, smooth[below] * (1 - frac) + smooth[below + 1] * frac, 0.0).sum(axis=2)
    return float(periods[np.unravel_index(int(np.argmax(values)), values.shape)[1]])
