"""Onsets: the onset-strength envelope of a sound (positive log-spectral flux) and its strong onsets.

Pure numpy functions on mono audio at any rate; frames are :data:`ONSET_HOP` samples apart, frame
``t`` centred on sample ``t * ONSET_HOP``.
"""

from __future__ import annotations

import numpy as np

from soundmorph.config import SAMPLE_RATE

ONSET_THRESHOLD = 0.25  # a strong onset peaks above this fraction of the largest one
ONSET_GAP = 0.05  # s: onsets closer than this are one (a clap's bursts, a flam)
ONSET_HOP = 128  # samples (5.8 ms at 22,050 Hz) between onset-envelope frames
ONSET_FFT = 1024  # samples per onset-analysis frame
ONSET_COMPRESSION = 1000.0  # log(1 + C x) of the peak-normalised magnitude


def _frames_power(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Power spectrogram [frames, n_fft // 2 + 1] of a centred, zero-padded Hann STFT."""
    padded = np.pad(np.asarray(audio, dtype=np.float64), (n_fft // 2, n_fft // 2))
    if len(padded) < n_fft:
        padded = np.pad(padded, (0, n_fft - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spectrum = np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=1)
    return spectrum.real**2 + spectrum.imag**2


def onset_envelopes(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    hop: int = ONSET_HOP,
    bands: tuple[float | None, ...] = (None,),
    circular: bool = False,
) -> list[np.ndarray]:
    """Onset strength in each of ``bands`` from one STFT: the positive log-spectral flux per frame.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    hop : int
        Samples between frames; frame ``t`` is centred on sample ``t * hop``.
    bands : tuple of float or None
        Per envelope, only the bins below this frequency (Hz); None: all.
    circular : bool
        Treat the sound as one period of a loop: the frames at the edges see the other end, and
        frame 0's rise is from the end of the loop, not from silence.

    Returns
    -------
    list of np.ndarray [shape=(1 + n_samples // hop,), non-negative]
        One per band. Frame 0 holds the rise from silence (or, circular, from the loop's end) into
        the first frame, so a hit at sample 0 counts.
    """
    n = len(audio)
    if circular and n > 0:
        reach = ONSET_FFT // 2 + hop
        wrapped = np.take(np.asarray(audio, dtype=np.float64), np.arange(-reach, n + reach), mode="wrap")
        power = _frames_power(wrapped, ONSET_FFT, hop)[reach // hop - 1 :]  # frame 0: sample -hop
    else:
        power = _frames_power(audio, ONSET_FFT, hop)
    magnitude = np.sqrt(power)
    out = []
    for max_hz in bands:
        band = (
            magnitude if max_hz is None else magnitude[:, : max(2, int(max_hz * ONSET_FFT / sample_rate) + 1)]
        )
        peak = float(band.max()) if band.size else 0.0
        log = np.log1p(ONSET_COMPRESSION * band / max(peak, 1e-12))  # silence 0, a -60 dB bin ~0.7
        if circular:
            flux = np.maximum(log[1:] - log[:-1], 0.0)
        else:  # silence before the start
            flux = np.maximum(log - np.concatenate([np.zeros((1, log.shape[1])), log[:-1]]), 0.0)
        out.append(flux.mean(axis=1)[: 1 + n // hop])
    return out


def onset_envelope(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    hop: int = ONSET_HOP,
    max_hz: float | None = None,
    circular: bool = False,
) -> np.ndarray:
    """Onset strength of one band (see :func:`onset_envelopes`): bins below ``max_hz`` (None: all).

    Returns
    -------
    np.ndarray [shape=(1 + n_samples // hop,), non-negative]
    """
    (envelope,) = onset_envelopes(audio, sample_rate=sample_rate, hop=hop, bands=(max_hz,), circular=circular)
    return envelope


def onset_times(envelope: np.ndarray, *, hop_seconds: float) -> np.ndarray:
    """Seconds of the strong onsets of ``envelope``: peaks above :data:`ONSET_THRESHOLD` of the
    largest, at least :data:`ONSET_GAP` apart (the stronger one wins)."""
    if envelope.size == 0 or float(envelope.max()) <= 0:
        return np.zeros(0)
    threshold = ONSET_THRESHOLD * float(envelope.max())
    left = np.concatenate([[-np.inf], envelope[:-1]])
    right = np.concatenate([envelope[1:], [-np.inf]])
    peaks = np.flatnonzero((envelope >= left) & (envelope > right) & (envelope >= threshold))
    gap = max(1, round(ONSET_GAP / hop_seconds))
    kept: list[int] = []
    for index in peaks[np.argsort(-envelope[peaks], kind="stable")]:
        if all(abs(int(index) - other) >= gap for other in kept):
            kept.append(int(index))
    return np.sort(np.array(kept)) * hop_seconds
