"""Tempo: is a sound a loop or a one-shot, at what tempo, how many bars, where is its downbeat; and
the beat grid every loop is stretched to.

Pure numpy functions on mono audio at any rate (22,050 Hz in the package).

How a loop is found. A loop is cut to whole bars of 4/4, so its duration ``D`` fixes its tempo up
to the bar count: ``bpm = bars * 240 / D``. The candidates are ``bars`` in :data:`BAR_CHOICES` with a
tempo in :data:`BPM_RANGE`: they differ by octaves, so choosing one is an octave decision. The
onset envelope of a loop is periodic with period ``D``, so its circular autocorrelation is exact (no
edge effects). Each candidate is scored by metrical evidence at its own note values:

- the full-band envelope repeats at the 8th note (drum patterns put their hits on 8ths), less at the
  16th and hardly at the 32nd: a candidate whose 16ths or 32nds repeat strongly is too slow (its
  16ths are the true 8ths, its 32nds the true 16ths: a syncopated 16th-note groove read at half tempo
  has hits on odd 32nds);
- the kick band (below :data:`KICK_HZ`) repeats at the beat and not at the 8th: kicks fall on beats
  (four on the floor, or beats 1 and 3), rarely on every 8th, so kicks that repeat at a candidate's
  8th say it is too slow, and kicks missing from its beats that it is too fast;
- a broad log-normal tempo prior (one octave) around :data:`PRIOR_BPM` settles what the rhythm
  leaves open.

A BPM written in the file name only breaks near-ties: it is a hint.

A one-shot is a sound too short for one bar at 200 BPM, or with fewer than :data:`MIN_LOOP_ONSETS`
strong onsets, or whose onsets all lie in its first part (a decaying hit, a flam, a clap's bursts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError

Kind = Literal["loop", "oneshot"]
ANALYSIS_VERSION = 1  # bump when analyse() may give another answer (cached analyses are redone)
BEATS_PER_BAR = 4  # 4/4
BAR_CHOICES = (1, 2, 4, 8)  # whole bars a loop may hold
BPM_RANGE = (60.0, 200.0)  # tempi a loop may have
PRIOR_BPM = 130.0  # centre of the log-normal tempo prior (house and techno: 120-135 BPM)
PRIOR_OCTAVES = 1.0  # its standard deviation, in octaves: broad, the rhythm decides
# Weights, in a candidate's log-score, of the autocorrelation of the full-band onset envelope at its
# 8th-, 16th- and 32nd-note lags and of the kick-band envelope at its beat and 8th-note lags. Their
# signs follow from the metrical argument in the module docstring; their sizes and the prior were
# chosen on a coarse grid (by the worst accuracy) over the two shared sets and 200 synthesized loops
# at 60-200 BPM, 1-8 bars, and checked on 200 synthesized loops of other seeds (bench/tempo.py
# measures yet other ones).
EIGHTH_WEIGHT = 1.0
SIXTEENTH_WEIGHT = 0.5
THIRTY_SECOND_WEIGHT = 2.0
KICK_BEAT_WEIGHT = 0.5
KICK_EIGHTH_WEIGHT = 1.0
MIN_LOOP_SECONDS = 0.95 * BAR_CHOICES[0] * BEATS_PER_BAR * 60 / BPM_RANGE[1]  # one bar at 200 BPM, -5 %
MIN_LOOP_ONSETS = 4  # strong onsets a loop has at least
ONSET_THRESHOLD = 0.25  # a strong onset peaks above this fraction of the largest one
ONSET_GAP = 0.05  # s: onsets closer than this are one (a clap's bursts, a flam)
ONSET_SPREAD = 0.5  # a loop's strong onsets span at least this fraction of its duration
ONSET_HOP = 128  # samples (5.8 ms at 22,050 Hz) between onset-envelope frames
ONSET_FFT = 1024  # samples per onset-analysis frame
ONSET_COMPRESSION = 1000.0  # log(1 + C x) of the peak-normalised magnitude
PHASE_SNAP = 3  # onset frames (17 ms): a beat phase this close to 0 is 0
PHASE_KEEP = 0.8  # ... and so is one where the beats at phase 0 hold this share of the best comb
KICK_HZ = 150.0  # the band whose onsets mark downbeats
ONSET_LEAD = 64  # samples kept before a one-shot's detected onset (its attack starts a little earlier)
NAME_BPM = re.compile(r"(?<![0-9.])(\d{2,3}(?:\.\d+)?)\s*-?_?\s*bpm", re.IGNORECASE)
NAME_HINT_WEIGHT = 0.15  # log-score bonus of a candidate within 1.5 BPM of the name's tempo


@dataclass(frozen=True)
class Tempo:
    """What :func:`analyse` found in a sound.

    ``bpm`` and ``bars`` are None for a one-shot; ``downbeat`` is in seconds from the start: the
    first downbeat of a loop, or the onset of a one-shot. ``confidence`` in [0, 1] is the share of
    the winning candidate in the scores of all (1 for a clear one-shot).
    """

    kind: Kind
    bpm: float | None
    bars: int | None
    downbeat: float
    confidence: float

    def __post_init__(self) -> None:
        if self.kind not in ("loop", "oneshot"):
            raise SoundmorphError(f"kind must be 'loop' or 'oneshot', got {self.kind!r}")
        if self.kind == "loop":
            if self.bpm is None or not BPM_RANGE[0] / 2 <= self.bpm <= BPM_RANGE[1] * 2:
                raise SoundmorphError(f"a loop needs a bpm in [30, 400], got {self.bpm}")
            if self.bars is None or int(self.bars) != self.bars or self.bars < 1:
                raise SoundmorphError(f"a loop needs a whole number of bars >= 1, got {self.bars}")

    @property
    def seconds(self) -> float | None:
        """Length of the loop's bars in seconds (None for a one-shot)."""
        if self.bpm is None or self.bars is None:
            return None
        return bar_seconds(self.bpm) * self.bars

    def rounded(self) -> Tempo:
        """This tempo as a model's ``library.json`` keeps it (BPM to 0.001, downbeat to 0.1 ms, no
        confidence), so that a clip put on a grid at training is put there alike later."""
        bpm = None if self.bpm is None else round(self.bpm, 3)
        return Tempo(self.kind, bpm, self.bars, round(self.downbeat, 4), 1.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "bpm": None if self.bpm is None else round(self.bpm, 3),
            "bars": self.bars,
            "downbeat": round(self.downbeat, 4),
            "confidence": round(self.confidence, 3),
        }


def bar_seconds(bpm: float) -> float:
    """Seconds per 4/4 bar at ``bpm``."""
    return BEATS_PER_BAR * 60.0 / bpm


def grid_samples(bpm: float, bars: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of ``bars`` bars at ``bpm``: ``round(bars * 4 * 60 / bpm * sample_rate)``."""
    if not bpm > 0:
        raise SoundmorphError(f"bpm must be positive, got {bpm}")
    if int(bars) != bars or bars < 1:
        raise SoundmorphError(f"bars must be a whole number >= 1, got {bars}")
    return round(bars * bar_seconds(bpm) * sample_rate)


def bpm_from_name(name: str) -> float | None:
    """A tempo written in a file name (``"loop_128bpm.wav"``, ``"kick 92 BPM"``), if in range."""
    match = NAME_BPM.search(str(name))
    if match is None:
        return None
    bpm = float(match.group(1))
    return bpm if BPM_RANGE[0] <= bpm <= BPM_RANGE[1] else None


# --- the onset envelope ----------------------------------------------------------------------------


def _frames_power(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Power spectrogram [frames, n_fft // 2 + 1] of a centred, zero-padded Hann STFT."""
    padded = np.pad(np.asarray(audio, dtype=np.float64), (n_fft // 2, n_fft // 2))
    if len(padded) < n_fft:
        padded = np.pad(padded, (0, n_fft - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spectrum = np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=1)
    return spectrum.real**2 + spectrum.imag**2


def onset_envelope(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    hop: int = ONSET_HOP,
    max_hz: float | None = None,
    circular: bool = False,
) -> np.ndarray:
    """Onset strength: the positive log-spectral flux per frame.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    hop : int
        Samples between frames; frame ``t`` is centred on sample ``t * hop``.
    max_hz : float or None
        Only bins below this frequency (e.g. :data:`KICK_HZ` for kicks); None: all.
    circular : bool
        Treat the sound as one period of a loop: the frames at the edges see the other end, and
        frame 0's rise is from the end of the loop, not from silence.

    Returns
    -------
    np.ndarray [shape=(1 + n_samples // hop,), non-negative]
        Frame 0 holds the rise from silence into the first frame, so a hit at sample 0 counts.
    """
    n = len(audio)
    if circular and n > 0:
        reach = ONSET_FFT // 2 + hop
        wrapped = np.take(np.asarray(audio, dtype=np.float64), np.arange(-reach, n + reach), mode="wrap")
        power = _frames_power(wrapped, ONSET_FFT, hop)[reach // hop - 1 :]  # frame 0: sample -hop
    else:
        power = _frames_power(audio, ONSET_FFT, hop)
    if max_hz is not None:
        power = power[:, : max(2, int(max_hz * ONSET_FFT / sample_rate) + 1)]
    magnitude = np.sqrt(power)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    log = np.log1p(ONSET_COMPRESSION * magnitude / max(peak, 1e-12))  # silence 0, a -60 dB bin ~0.7
    if circular:
        flux = np.maximum(log[1:] - log[:-1], 0.0)
    else:  # silence before the start
        flux = np.maximum(log - np.concatenate([np.zeros((1, log.shape[1])), log[:-1]]), 0.0)
    return flux.mean(axis=1)[: 1 + n // hop]


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


# --- analysis --------------------------------------------------------------------------------------


def analyse(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, name: str | None = None) -> Tempo:
    """Kind, tempo, bars and downbeat of a mono sound.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Mono audio at ``sample_rate``.
    name : str or None
        The file name; a BPM in it breaks near-ties between candidates, never more.

    Returns
    -------
    Tempo
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise SoundmorphError(f"audio must be mono [n_samples], got shape {audio.shape}")
    if sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be positive, got {sample_rate}")
    hop_seconds = ONSET_HOP / sample_rate
    duration = len(audio) / sample_rate
    envelope = onset_envelope(audio, sample_rate=sample_rate, circular=True)
    onsets = onset_times(envelope, hop_seconds=hop_seconds)
    # A one-shot's onset: from silence before the file, not from its own wrapped-round tail.
    linear = onset_times(onset_envelope(audio, sample_rate=sample_rate), hop_seconds=hop_seconds)
    oneshot = Tempo("oneshot", None, None, float(linear[0]) if len(linear) else 0.0, 1.0)
    if duration < MIN_LOOP_SECONDS or len(onsets) < MIN_LOOP_ONSETS:
        return oneshot
    if (onsets[-1] - onsets[0]) < ONSET_SPREAD * duration:
        return oneshot

    candidates = [bars for bars in BAR_CHOICES if BPM_RANGE[0] <= bars * 240 / duration <= BPM_RANGE[1]]
    if not candidates:
        return oneshot
    kicks = onset_envelope(audio, sample_rate=sample_rate, max_hz=KICK_HZ, circular=True)
    n = len(envelope) - 1 if len(envelope) > 1 else 1  # frames in one period of the loop
    autocorr, kick_autocorr = _autocorrelation(envelope, n), _autocorrelation(kicks, n)
    hint = bpm_from_name(name) if name else None
    scores = []
    for bars in candidates:
        bpm = bars * 240 / duration
        beat = n / (bars * BEATS_PER_BAR)  # frames per beat (fractional)
        eighth, sixteenth, thirty_second = _at(autocorr, beat / np.array([2, 4, 8]))
        kick_beat, kick_eighth = _at(kick_autocorr, beat / np.array([1, 2]))
        log_score = float(
            EIGHTH_WEIGHT * eighth
            - SIXTEENTH_WEIGHT * sixteenth
            - THIRTY_SECOND_WEIGHT * thirty_second
            + KICK_BEAT_WEIGHT * kick_beat
            - KICK_EIGHTH_WEIGHT * kick_eighth
        )
        log_score -= 0.5 * (math.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2
        if hint is not None and abs(bpm - hint) <= 1.5:
            log_score += NAME_HINT_WEIGHT
        scores.append(log_score)
    weights = np.exp(np.array(scores) - max(scores))
    best = int(np.argmax(weights))
    bars = candidates[best]
    bpm = bars * 240 / duration
    downbeat = _downbeat(kicks if float(kicks.max()) > 0 else envelope, sample_rate, bpm, bars)
    return Tempo("loop", bpm, bars, downbeat, float(weights[best] / weights.sum()))


def _autocorrelation(envelope: np.ndarray, n: int) -> np.ndarray:
    """Circular autocorrelation [n] of the first ``n`` frames of ``envelope`` (one period of a loop:
    no edge effects), mean removed, 1 at lag 0 (all zeros for a flat envelope)."""
    cycle = envelope[:n] - envelope[:n].mean()
    autocorr = np.fft.irfft(np.abs(np.fft.rfft(cycle)) ** 2, n)
    return autocorr / max(float(autocorr[0]), 1e-12)


def _at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Circular linear interpolation of ``values`` at fractional ``positions``; the max of the two
    neighbouring frames, so a hit that falls between frames is not halved."""
    n = len(values)
    low = np.floor(positions).astype(int) % n
    return np.maximum(values[low], values[(low + 1) % n])


def _downbeat(envelope: np.ndarray, sample_rate: int, bpm: float, bars: int) -> float:
    """Seconds of the first downbeat, taken to be the first beat: the beat phase where the onsets of
    ``envelope`` (circular, the kick band: the full band would put offbeat open hats on a par with
    the kicks) line up best, 0 when it is within :data:`PHASE_SNAP` frames of 0.

    Which beat of the bar is the downbeat is not guessed: telling beat 1 from beat 3 by its kicks
    moved 40 % of the shared loops (all cut on a downbeat) off their downbeat, and a backbeat
    template (kicks on 1 and 3, snares on 2 and 4) finds even the half-bar phase of only 68 % of
    them; loops are cut on bars, so the first beat is the better bet.
    """
    hop_seconds = ONSET_HOP / sample_rate
    n = max(len(envelope) - 1, 1)
    beat = n / (bars * BEATS_PER_BAR)
    beats = beat * np.arange(bars * BEATS_PER_BAR)
    phases = np.arange(-math.floor(beat / 2), math.ceil(beat / 2))
    comb = np.array([float(_at(envelope[:n], beats + phase).sum()) for phase in phases])
    phase = int(phases[np.argmax(comb)])
    if abs(phase) <= PHASE_SNAP or comb[phases == 0][0] >= PHASE_KEEP * comb.max():
        phase = 0  # an onset frame peaks a frame or two early: a loop cut on the beat stays at 0
    return float(phase * hop_seconds) % (60.0 / bpm)


# --- the beat grid ---------------------------------------------------------------------------------

StretchMethod = Literal["wsola", "resample"]  # of a waveform (magnitude frames: stretch_frames)
WSOLA_FRAME = 1024  # samples (46 ms): long enough for a kick's period, short enough for a 16th at 200 BPM
WSOLA_TOLERANCE = 256  # samples each way the next frame may move to continue the waveform


@dataclass(frozen=True)
class Grid:
    """The beat grid of a loop model: ``bars`` bars of 4/4 at ``bpm``."""

    bpm: float
    bars: int

    def __post_init__(self) -> None:
        if not BPM_RANGE[0] / 2 <= self.bpm <= BPM_RANGE[1] * 2:
            raise SoundmorphError(f"grid bpm must be in [30, 400], got {self.bpm}")
        if int(self.bars) != self.bars or self.bars < 1:
            raise SoundmorphError(f"grid bars must be a whole number >= 1, got {self.bars}")

    def samples(self, sample_rate: int = SAMPLE_RATE) -> int:
        return grid_samples(self.bpm, self.bars, sample_rate)


def to_bars(
    audio: np.ndarray, tempo: Tempo, bars: int, *, rotate: bool = False, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A loop repeated or cut to ``bars`` bars at its own tempo, turned to start on its downbeat
    when ``rotate`` (off by default: on the shared loops, all cut on a downbeat, the found beat
    phase was off 0 for 15 % of them, and turning those would misalign them).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        One period of the loop.
    tempo : Tempo
        Its analysis (a loop).

    Returns
    -------
    np.ndarray [shape=(grid_samples(tempo.bpm, bars),), float32]
    """
    if tempo.kind != "loop" or tempo.bpm is None or tempo.bars is None:
        raise SoundmorphError("to_bars needs a loop, got a one-shot")
    audio = np.asarray(audio, dtype=np.float32)
    start = round(tempo.downbeat * sample_rate) if rotate else 0
    n = grid_samples(tempo.bpm, bars, sample_rate)
    return np.take(audio, np.arange(start, start + n), mode="wrap").astype(np.float32)


def stretch(
    audio: np.ndarray, n_samples: int, *, method: StretchMethod = "wsola", sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Time-stretch one period of a loop to ``n_samples``, keeping it a loop (the result is periodic).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_in,)]
    n_samples : int > 0
    method : {"wsola", "resample"}
        ``wsola``: waveform-similarity overlap-add (pitch kept, transients copied, not smeared);
        ``resample``: varispeed (band-limited resampling: exact transients, pitch moves by the ratio).
        ``frames`` stretches magnitude frames instead: see :func:`stretch_frames`.

    Returns
    -------
    np.ndarray [shape=(n_samples,), float32]
    """
    audio = np.asarray(audio, dtype=np.float64)
    if n_samples < 1 or len(audio) < 1:
        raise SoundmorphError(f"cannot stretch {len(audio)} samples to {n_samples}")
    if method not in ("wsola", "resample"):
        raise SoundmorphError(f"unknown waveform stretch {method!r}; choose wsola or resample")
    if n_samples == len(audio):
        return audio.astype(np.float32)
    if method == "resample":
        return _resample_periodic(audio, n_samples).astype(np.float32)
    return _wsola(audio, n_samples).astype(np.float32)


def _resample_periodic(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Band-limited resampling of a periodic signal: its Fourier series, truncated or zero-extended."""
    spectrum = np.fft.rfft(audio)
    keep = min(len(spectrum), n_samples // 2 + 1)
    out = np.zeros(n_samples // 2 + 1, dtype=complex)
    out[:keep] = spectrum[:keep]
    return np.fft.irfft(out, n_samples) * (n_samples / len(audio))


def _wsola(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Circular WSOLA: output frames every ``WSOLA_FRAME // 2`` samples, each taken from the input
    near its nominal position where it best continues the previous frame's natural continuation."""
    n_in = len(audio)
    frame, hop, tol = WSOLA_FRAME, WSOLA_FRAME // 2, WSOLA_TOLERANCE
    window = np.hanning(frame + 1)[:-1]  # periodic Hann: overlap-adds to 1 at half-frame hops
    n_frames = math.ceil(n_samples / hop) + 1
    out = np.zeros(n_frames * hop + frame)
    ratio = n_in / n_samples
    previous: int | None = None  # input position of the frame placed last
    offsets = np.arange(-tol, tol + 1)
    for k in range(n_frames):
        nominal = round((k * hop - hop) * ratio)  # frame k covers output [k*hop - hop, k*hop + hop)
        if previous is None:
            position = nominal
        else:
            target = np.take(audio, np.arange(previous + hop, previous + hop + frame), mode="wrap")
            candidates = np.take(audio, np.arange(nominal - tol, nominal + tol + frame), mode="wrap")
            windows = np.lib.stride_tricks.sliding_window_view(candidates, frame)
            position = nominal + int(offsets[np.argmax(windows @ target)])
        segment = np.take(audio, np.arange(position, position + frame), mode="wrap")
        out[k * hop : k * hop + frame] += window * segment
        previous = position
    # out[i] is output sample i - hop; fold the parts past either end round (the result is periodic).
    result = np.zeros(n_samples)
    np.add.at(result, (np.arange(len(out)) - hop) % n_samples, out)
    return result


def stretch_frames(magnitude: np.ndarray, n_frames: int) -> np.ndarray:
    """Resample magnitude frames of one loop period to ``n_frames`` (circular linear interpolation).

    Parameters
    ----------
    magnitude : np.ndarray [shape=(..., freq, frames_in), non-negative]
        Frames of one period (frame ``t`` at ``t * period / frames_in``).

    Returns
    -------
    np.ndarray [shape=(..., freq, n_frames)]
    """
    frames_in = magnitude.shape[-1]
    position = np.arange(n_frames) * frames_in / n_frames
    low = np.floor(position).astype(int)
    frac = position - low
    return magnitude[..., low % frames_in] * (1 - frac) + magnitude[..., (low + 1) % frames_in] * frac


def to_grid(
    audio: np.ndarray,
    tempo: Tempo,
    grid: Grid,
    *,
    method: StretchMethod = "wsola",
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """A sound on a model's beat grid, as audio of ``grid.samples(sample_rate)`` samples.

    A loop is turned to its downbeat, repeated or cut to ``grid.bars`` bars at its own tempo and
    stretched to the grid tempo, so every beat lands on the same sample in every clip. A one-shot is
    not stretched: it is moved so that its onset is at sample 0, and cut or zero-padded.
    """
    n = grid.samples(sample_rate)
    if tempo.kind == "oneshot":
        start = max(0, round(tempo.downbeat * sample_rate) - ONSET_LEAD)
        clip = np.asarray(audio, dtype=np.float32)[start : start + n]
        return np.pad(clip, (0, n - len(clip)))
    bars = to_bars(audio, tempo, grid.bars, sample_rate=sample_rate)
    return stretch(bars, n, method=method, sample_rate=sample_rate)


def transient_sharpness(magnitude: np.ndarray) -> float:
    """How sharp the hits of a spectrogram are: the share of its onset strength (positive
    log-spectral flux) that lies in the peak frames of strong onsets, in (0, 1].

    A hit whose rise is spread over neighbouring frames (a smeared transient) lowers it.

    Parameters
    ----------
    magnitude : np.ndarray [shape=(freq, frames), non-negative]
    """
    mag = np.asarray(magnitude, dtype=np.float64)
    log = np.log1p(ONSET_COMPRESSION * mag / max(float(mag.max()), 1e-12))
    flux = np.maximum(log - np.roll(log, 1, axis=-1), 0.0).mean(axis=0)  # circular: a loop
    if flux.sum() <= 0:
        return 0.0
    left, right = np.roll(flux, 1), np.roll(flux, -1)
    peaks = (flux >= left) & (flux > right) & (flux >= ONSET_THRESHOLD * flux.max())
    return float(flux[peaks].sum() / flux.sum())
