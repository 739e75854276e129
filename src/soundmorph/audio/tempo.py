"""Tempo: is a sound a loop or a one-shot, at what tempo, how many bars, where the loop starts and
where its downbeat is; and the beat grid every loop is stretched to.

Pure numpy functions on mono audio at any rate (22,050 Hz in the package).

How a loop is found. Files as they come carry lead-ins and tails, so the loop's period is read from
its hits (:mod:`.period`): where its first hit is, its 8th-note period, and a length of whole bars
(the file's own length where it is whole bars at that period, else the longest that leaves a short
tail). The candidates for that length are ``bars`` in :data:`BAR_CHOICES` with a tempo in
:data:`BPM_RANGE`: they differ by octaves, so choosing one is an octave decision. The onset envelope
of one period of the loop (its tail wrapped round) is periodic, so its circular autocorrelation is
exact. Each candidate is scored by metrical evidence at its own note values:

- the full-band envelope repeats at the 8th note (drum patterns put their hits on 8ths), less at the
  16th and hardly at the 32nd: a candidate whose 16ths or 32nds repeat strongly is too slow (its
  16ths are the true 8ths, its 32nds the true 16ths: a syncopated 16th-note groove read at half tempo
  has hits on odd 32nds);
- the kick band (below :data:`KICK_HZ`) repeats at the beat and not at the 8th: kicks fall on beats
  (four on the floor, or beats 1 and 3), rarely on every 8th, so kicks that repeat at a candidate's
  8th say it is too slow, and kicks missing from its beats that it is too fast;
- a broad log-normal tempo prior (one octave) around :data:`PRIOR_BPM` settles what the rhythm
  leaves open.

Other evidence (:class:`Evidence`): a tempo in the file name, an ``acid`` chunk's tempo and beats,
a ``smpl`` chunk's loop points. Each is used where the hits agree with it (its tempo an octave or two
from theirs, within :data:`AGREE`), in that order: ``acid``, ``smpl``, ``name``; one they contradict
is ignored, and lowers the confidence (:func:`disputes` says which).

A one-shot is a sound too short for one bar at 200 BPM, or with fewer than :data:`MIN_LOOP_ONSETS`
strong onsets, or whose onsets all lie in its first part (a decaying hit, a flam, a clap's bursts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from soundmorph import limits
from soundmorph.audio import period
from soundmorph.audio.onsets import (
    ONSET_COMPRESSION,
    ONSET_HOP,
    ONSET_THRESHOLD,
    onset_envelope,
    onset_envelopes,
    onset_times,
)
from soundmorph.audio.riff import LoopChunks
from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError

Kind = Literal["loop", "oneshot"]
Source = Literal["audio", "name", "acid", "smpl", "user"]
Tail = Literal["none", "drop", "wrap"]
SOURCES: tuple[str, ...] = ("audio", "name", "acid", "smpl", "user")
TAILS: tuple[str, ...] = ("none", "drop", "wrap")
ANALYSIS_VERSION = 3  # bump when analyse() may give another answer (cached analyses are redone)
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
ONSET_SPREAD = 0.5  # a loop's strong onsets span at least this fraction of its duration
PHASE_SNAP = 3  # onset frames (17 ms): a beat phase this close to 0 is 0
PHASE_KEEP = 0.8  # ... and so is one where the beats at phase 0 hold this share of the best comb
KICK_HZ = 150.0  # the band whose onsets mark downbeats
ONSET_LEAD = 64  # samples kept before a one-shot's detected onset (its attack starts a little earlier)
REPEAT_CORRELATION = 0.7  # a tail this like the loop's start is its next pass (dropped), else wrapped
REPEAT_LAG = 0.008  # relative: the length's error a repeat is looked for within (either way) ...
REPEAT_MIN_LAG = 64  # samples: ... and at least this
REPEAT_SECONDS = 0.25  # s of the tail compared with the loop's start
AGREE = 0.02  # relative: a stated tempo agrees with the hits' within this, octaves apart
AGREED_CONFIDENCE = 0.95  # confidence when a stated tempo and the hits agree
HITS_CONFIDENCE = 0.85  # factor of the confidence when the length came from the hits (a tail)
DISPUTED_CONFIDENCE = 0.5  # factor of the confidence when a stated tempo contradicts the hits
# A tempo in a file name: "124bpm", "124 BPM", "124-bpm", "124_bpm" ...
NAME_BPM = re.compile(r"(?<![0-9.])(\d{2,3}(?:\.\d+)?)\s*[-_]?\s*bpm", re.IGNORECASE)
# ... or a bare number between separators ("loop_124_Am"), used when it is the only one in range.
NAME_NUMBER = re.compile(r"(?:^|(?<=[\s_\-.()\[\]]))(\d{2,3}(?:\.\d+)?)(?=$|[\s_\-.()\[\]])")


@dataclass(frozen=True)
class Tempo:
    """What :func:`analyse` found in a sound.

    ``bpm`` and ``bars`` are None for a one-shot; ``downbeat`` is in seconds from the file's start:
    the first downbeat of a loop, or the onset of a one-shot. ``start`` is where the loop's first bar
    starts, in seconds from the file's start (after its lead-in); ``tail`` what is done with what
    rings past its last bar line (``none``: the file is whole bars; ``wrap``: added into the loop's
    start, as a wet loop plays round; ``drop``: cut, where it is the loop's next pass: see
    :func:`tail_treatment`). ``source`` says where the tempo came from: the hits
    (``audio``), the file name, its ``acid`` or ``smpl`` chunk, or the user. ``confidence`` in
    [0, 1]: the share of the winning candidate in the scores of all, lowered when the length came
    from the hits alone and halved when a stated tempo contradicts the hits (1 for a clear one-shot).
    """

    kind: Kind
    bpm: float | None
    bars: int | None
    downbeat: float
    confidence: float
    start: float = 0.0
    tail: Tail = "none"
    source: Source = "audio"

    def __post_init__(self) -> None:
        if self.kind not in ("loop", "oneshot"):
            raise SoundmorphError(f"kind must be 'loop' or 'oneshot', got {self.kind!r}")
        if self.kind == "loop":
            limits.check_bpm(self.bpm, "a loop's bpm")
            limits.check_bars(self.bars, "a loop's bars")
        if not self.start >= 0:
            raise SoundmorphError(f"a loop's start must be >= 0 s, got {self.start}")
        if self.tail not in TAILS:
            raise SoundmorphError(f"tail must be one of {', '.join(TAILS)}, got {self.tail!r}")
        if self.source not in SOURCES:
            raise SoundmorphError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")

    @property
    def seconds(self) -> float | None:
        """Length of the loop's bars in seconds (None for a one-shot)."""
        if self.bpm is None or self.bars is None:
            return None
        return bar_seconds(self.bpm) * self.bars

    def rounded(self) -> Tempo:
        """This tempo as a model's ``library.json`` keeps it (BPM to 0.001, downbeat and start to
        0.1 ms, no confidence), so that a clip put on a grid at training is put there alike later."""
        bpm = None if self.bpm is None else round(self.bpm, 3)
        return Tempo(
            self.kind,
            bpm,
            self.bars,
            round(self.downbeat, 4),
            1.0,
            round(self.start, 4),
            self.tail,
            self.source,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "bpm": None if self.bpm is None else round(self.bpm, 3),
            "bars": self.bars,
            "downbeat": round(self.downbeat, 4),
            "confidence": round(self.confidence, 3),
            "start": round(self.start, 4),
            "tail": self.tail,
            "source": self.source,
        }


@dataclass(frozen=True)
class Evidence:
    """What a file says of its tempo besides its audio (each None where it says nothing).

    ``smpl`` is the ``smpl`` chunk's loop as (start, length) in seconds.
    """

    name_bpm: float | None = None
    acid_bpm: float | None = None
    acid_beats: int | None = None
    acid_oneshot: bool | None = None
    smpl: tuple[float, float] | None = None

    @classmethod
    def of(cls, name: str | None = None, chunks: LoopChunks | None = None) -> Evidence:
        """The evidence of a file ``name`` and its loop ``chunks`` (see :mod:`.riff`)."""
        chunks = chunks or LoopChunks()
        acid_bpm = chunks.acid_bpm if not chunks.acid_oneshot else None
        if acid_bpm is not None and not limits.MIN_BPM <= acid_bpm <= limits.MAX_BPM:
            acid_bpm = None  # a corrupt chunk (0, 9999, NaN BPM) says nothing
        smpl = chunks.smpl_seconds
        if smpl is not None and not MIN_LOOP_SECONDS <= smpl[1] <= limits.MAX_READ_SECONDS:
            smpl = None  # a loop shorter than a bar at 200 BPM (or a corrupt one) is no drum loop
        return cls(
            name_bpm=bpm_from_name(name) if name else None,
            acid_bpm=acid_bpm,
            acid_beats=chunks.acid_beats if not chunks.acid_oneshot else None,
            acid_oneshot=chunks.acid_oneshot,
            smpl=smpl,
        )


def bar_seconds(bpm: float) -> float:
    """Seconds per 4/4 bar at ``bpm``."""
    return BEATS_PER_BAR * 60.0 / bpm


def grid_samples(bpm: float, bars: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of ``bars`` bars at ``bpm``: ``round(bars * 4 * 60 / bpm * sample_rate)``."""
    if not bpm > 0:
        raise SoundmorphError(f"bpm must be positive, got {bpm}")
    limits.check_bars(bars)
    return round(bars * bar_seconds(bpm) * sample_rate)


def bpm_from_name(name: str) -> float | None:
    """A tempo written in a file name, if in :data:`BPM_RANGE`: ``"loop_128bpm.wav"``,
    ``"92 BPM kick"``, ``"break-124-bpm"``, or a bare number between separators
    (``"loop_124_Am.wav"``) when it is the only number in range. Only the last path part is read."""
    stem = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem)  # the extension
    match = NAME_BPM.search(stem)
    if match is not None:
        bpm = float(match.group(1))
        return bpm if BPM_RANGE[0] <= bpm <= BPM_RANGE[1] else None
    numbers = [float(m.group(1)) for m in NAME_NUMBER.finditer(stem)]
    plausible = [bpm for bpm in numbers if BPM_RANGE[0] <= bpm <= BPM_RANGE[1]]
    return plausible[0] if len(plausible) == 1 else None


def octave_agrees(bpm: float, eighth: float, *, within: float = AGREE) -> bool:
    """True when ``bpm`` is the tempo of 8th notes of ``eighth`` seconds, an octave or two apart."""
    ratio = bpm * eighth / 30.0  # 1 when the 8th note of bpm lasts `eighth` seconds
    octaves = round(math.log2(ratio))
    return abs(octaves) <= 2 and abs(ratio / 2**octaves - 1) <= within


# --- analysis --------------------------------------------------------------------------------------


def analyse(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    name: str | None = None,
    chunks: LoopChunks | None = None,
    cut: bool = False,
) -> Tempo:
    """Kind, tempo, bars, start and downbeat of a mono sound.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Mono audio at ``sample_rate``.
    name : str or None
        The file name; a tempo in it is used where the hits agree with it.
    chunks : LoopChunks or None
        The file's ``acid`` / ``smpl`` chunks (:func:`soundmorph.audio.riff.read_loop_chunks`),
        used where the hits agree with them.
    cut : bool
        ``audio`` is the start of a longer file (read up to a limit): its length is no evidence, and
        a loop is the most whole bars (up to 8) it holds (:func:`~soundmorph.audio.period.find_region`).

    Returns
    -------
    Tempo
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise SoundmorphError(f"audio must be mono [n_samples], got shape {audio.shape}")
    if sample_rate <= 0:
        raise SoundmorphError(f"sample_rate must be positive, got {sample_rate}")
    if not np.isfinite(audio).all():
        raise SoundmorphError("audio is not finite (NaN or Inf samples)")
    hop_seconds = ONSET_HOP / sample_rate
    duration = len(audio) / sample_rate
    envelope, kicks = onset_envelopes(audio, sample_rate=sample_rate, bands=(None, KICK_HZ), circular=True)
    onsets = onset_times(envelope, hop_seconds=hop_seconds)
    if (
        duration < MIN_LOOP_SECONDS
        or len(onsets) < MIN_LOOP_ONSETS
        or (onsets[-1] - onsets[0]) < ONSET_SPREAD * duration
    ):
        return _oneshot(audio, sample_rate)
    region = period.find_region(audio, sample_rate=sample_rate, cut=cut)
    evidence = Evidence.of(name, chunks)
    disputed = bool(_disputes(evidence, region.eighth))
    rest = duration - region.start / sample_rate

    # A stated tempo the hits agree with: acid (tempo and length), then smpl (length), then name.
    bpm: float | None = None
    bars: int | None = None
    start, seconds, source = region.start / sample_rate, region.seconds, "audio"
    if evidence.acid_bpm is not None and octave_agrees(evidence.acid_bpm, region.eighth):
        bpm, source = evidence.acid_bpm, "acid"
        if evidence.acid_beats and evidence.acid_beats % BEATS_PER_BAR == 0:
            stated = evidence.acid_beats // BEATS_PER_BAR
            if stated * bar_seconds(bpm) <= rest * (1 + period.LENGTH_FIT):
                bars = stated
        bars = bars or _bars_at(bpm, region.seconds, rest)
    elif (
        evidence.smpl is not None
        and sum(evidence.smpl) <= duration * (1 + period.LENGTH_FIT)
        and period.octave_error(evidence.smpl[1], region.eighth) <= AGREE
    ):
        start, seconds, source = evidence.smpl[0], evidence.smpl[1], "smpl"
        rest = duration - start
    elif evidence.name_bpm is not None and octave_agrees(evidence.name_bpm, region.eighth):
        bpm, source = evidence.name_bpm, "name"
        bars = _bars_at(bpm, region.seconds, rest)
    if bpm is not None and bars is None:  # the stated tempo fits no whole bars here: the hits decide
        bpm, source = None, "audio"
    if bpm is not None and bars is not None:
        seconds = bars * bar_seconds(bpm)

    # One period of the loop, its tail wrapped round, for the octave decision and the downbeat.
    n = round(seconds * sample_rate)
    first = round(start * sample_rate)
    tail: Tail = "none"
    if first == 0 and abs(n - len(audio)) <= 1:
        cycle_envelope, cycle_kicks = envelope, kicks
    else:
        if len(audio) - first - n > period.LENGTH_FIT * n:
            tail, shorter = tail_treatment(audio[first:], n, sample_rate=sample_rate)
            if source == "audio" and region.fit == "hits" and tail == "drop":
                n -= shorter  # the loop's next pass in the tail gives its length to the sample
                seconds = n / sample_rate
        body = audio[first:] if tail == "wrap" else audio[first : first + n]
        cycle_envelope, cycle_kicks = onset_envelopes(
            fold_tail(body, n), sample_rate=sample_rate, bands=(None, KICK_HZ), circular=True
        )
    if bpm is None or bars is None:
        bars, share = _octave(cycle_envelope, cycle_kicks, seconds)
        if bars is None:
            return _oneshot(audio, sample_rate)
        bpm = bars * 240 / seconds
        confidence = share * (HITS_CONFIDENCE if region.fit == "hits" and source == "audio" else 1.0)
    else:
        confidence = AGREED_CONFIDENCE
    if disputed:
        confidence *= DISPUTED_CONFIDENCE
    downbeat = _downbeat(
        cycle_kicks if float(cycle_kicks.max()) > 0 else cycle_envelope, sample_rate, bpm, bars
    )
    return Tempo("loop", bpm, bars, start + downbeat, confidence, start, tail, source)  # type: ignore[arg-type]


def disputes(found: Tempo, *, name: str | None = None, chunks: LoopChunks | None = None) -> list[str]:
    """What a file states about its tempo that ``found`` contradicts, one phrase each (for warnings):
    ``"name says 124 BPM"``, ``"acid says one-shot"``, ... Empty when all agree."""
    evidence = Evidence.of(name, chunks)
    out = []
    if evidence.acid_oneshot and found.kind == "loop":
        out.append("acid chunk says one-shot")
    if found.kind != "loop" or found.bpm is None:
        if evidence.acid_oneshot is False and evidence.acid_beats:
            out.append(f"acid chunk says a loop of {evidence.acid_beats} beats")
        return out
    return out + _disputes(evidence, 30.0 / found.bpm)


def _disputes(evidence: Evidence, eighth: float) -> list[str]:
    out = []
    if evidence.acid_bpm is not None and not octave_agrees(evidence.acid_bpm, eighth):
        out.append(f"acid chunk says {evidence.acid_bpm:g} BPM")
    if evidence.smpl is not None and period.octave_error(evidence.smpl[1], eighth) > AGREE:
        out.append(f"smpl loop says {evidence.smpl[1]:.3f} s")
    if evidence.name_bpm is not None and not octave_agrees(evidence.name_bpm, eighth):
        out.append(f"name says {evidence.name_bpm:g} BPM")
    return out


def fold_tail(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """One period of ``n_samples`` of a loop that starts at sample 0 of ``audio``: what rings past
    it is added into its start (as a wet loop plays round); a file shorter than it repeats.

    Returns
    -------
    np.ndarray [shape=(n_samples,)]
    """
    audio = np.asarray(audio)
    if len(audio) <= n_samples:
        return np.take(audio, np.arange(n_samples), mode="wrap") if len(audio) else np.zeros(n_samples)
    cycle = audio[:n_samples].astype(np.float64)
    np.add.at(cycle, np.arange(len(audio) - n_samples) % n_samples, audio[n_samples:])
    return cycle


def tail_treatment(audio: np.ndarray, n_samples: int, *, sample_rate: int = SAMPLE_RATE) -> tuple[Tail, int]:
    """What to do with what rings past a loop of about ``n_samples`` that starts at sample 0 of
    ``audio``, and by how many samples the loop is shorter than ``n_samples``.

    ``drop`` the tail where it is the loop's next pass: its first :data:`REPEAT_SECONDS` correlate
    with the loop's start at least :data:`REPEAT_CORRELATION` at some lag within
    :data:`REPEAT_LAG` of the length (its error); that lag is then the length's error, returned.
    Else ``wrap`` it into the loop's start (a reverb or ring-out of the last hits, as a wet loop
    plays round), lag 0.

    Returns
    -------
    tuple of {"drop", "wrap"} and int
    """
    audio = np.asarray(audio, dtype=np.float64)
    reach = max(REPEAT_MIN_LAG, math.ceil(REPEAT_LAG * n_samples))
    tail = audio[n_samples:][: min(round(REPEAT_SECONDS * sample_rate), max(n_samples - reach, 0))]
    if len(tail) == 0 or not float(np.abs(tail).max()) > 0:
        return "drop", 0  # silence
    head = np.concatenate([np.zeros(reach), audio[: len(tail) + reach]])
    windows = np.lib.stride_tricks.sliding_window_view(head, len(tail))  # lags -reach..reach
    energy = np.cumsum(head**2)
    window_energy = energy[len(tail) - 1 :] - np.concatenate([[0.0], energy[: -len(tail)]])
    correlation = (windows @ tail) / np.sqrt(np.maximum(window_energy, 1e-24) * float(tail @ tail))
    best = int(np.argmax(correlation))
    if float(correlation[best]) < REPEAT_CORRELATION:
        return "wrap", 0
    return "drop", best - reach


def _bars_at(bpm: float, seconds: float, rest: float) -> int | None:
    """Whole bars at ``bpm`` in a loop of about ``seconds`` (the hits' length), or else the most
    that leave a tail within :data:`~soundmorph.audio.period.MAX_TAIL_SECONDS` of ``rest`` s."""
    bar = bar_seconds(bpm)
    bars = round(seconds / bar)
    if bars >= 1 and abs(bars * bar / seconds - 1) <= AGREE:
        return int(bars)
    bars = math.floor(rest * (1 + period.LENGTH_FIT) / bar)
    return int(bars) if bars >= 1 and rest - bars * bar <= period.MAX_TAIL_SECONDS else None


def _oneshot(audio: np.ndarray, sample_rate: int) -> Tempo:
    """A one-shot whose downbeat is its onset: from silence before the file, not from its own
    wrapped-round tail."""
    linear = onset_times(onset_envelope(audio, sample_rate=sample_rate), hop_seconds=ONSET_HOP / sample_rate)
    return Tempo("oneshot", None, None, float(linear[0]) if len(linear) else 0.0, 1.0)


def _octave(envelope: np.ndarray, kicks: np.ndarray, seconds: float) -> tuple[int | None, float]:
    """Bars of a loop period of ``seconds`` s (None when no tempo fits) and the winner's share."""
    candidates = [bars for bars in BAR_CHOICES if BPM_RANGE[0] <= bars * 240 / seconds <= BPM_RANGE[1]]
    if not candidates:
        return None, 0.0
    n = len(envelope) - 1 if len(envelope) > 1 else 1  # frames in one period of the loop
    autocorr, kick_autocorr = _autocorrelation(envelope, n), _autocorrelation(kicks, n)
    scores = []
    for bars in candidates:
        bpm = bars * 240 / seconds
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
        scores.append(log_score)
    weights = np.exp(np.array(scores) - max(scores))
    best = int(np.argmax(weights))
    return candidates[best], float(weights[best] / weights.sum())


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
        limits.check_bpm(self.bpm, "grid bpm")
        limits.check_bars(self.bars, "grid bars")

    def samples(self, sample_rate: int = SAMPLE_RATE) -> int:
        return grid_samples(self.bpm, self.bars, sample_rate)


def loop_cycle(audio: np.ndarray, tempo: Tempo, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One period of a loop as its analysis found it: from its ``start``, its bars at its tempo, with
    its tail wrapped into its start or dropped (``tempo.tail``).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        The whole file.
    tempo : Tempo
        Its analysis (a loop).

    Returns
    -------
    np.ndarray [shape=(grid_samples(tempo.bpm, tempo.bars),), float32]
    """
    if tempo.kind != "loop" or tempo.bpm is None or tempo.bars is None:
        raise SoundmorphError("a loop cycle needs a loop, got a one-shot")
    body = np.asarray(audio, dtype=np.float32)[round(tempo.start * sample_rate) :]
    n = grid_samples(tempo.bpm, tempo.bars, sample_rate)
    if tempo.tail == "wrap":
        return fold_tail(body, n).astype(np.float32)
    return np.take(body, np.arange(n), mode="wrap") if len(body) else np.zeros(n, dtype=np.float32)


def to_bars(
    audio: np.ndarray, tempo: Tempo, bars: int, *, rotate: bool = False, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A loop repeated or cut to ``bars`` bars at its own tempo (from its start, its tail treated
    as ``tempo.tail`` says: see :func:`loop_cycle`), turned to start on its downbeat when ``rotate``
    (off by default: on the shared loops, all cut on a downbeat, the found beat phase was off 0 for
    15 % of them, and turning those would misalign them).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        The loop's file (one period, or one with a lead-in and a tail).
    tempo : Tempo
        Its analysis (a loop).

    Returns
    -------
    np.ndarray [shape=(grid_samples(tempo.bpm, bars),), float32]
    """
    cycle = loop_cycle(audio, tempo, sample_rate=sample_rate)
    assert tempo.bpm is not None
    shift = round((tempo.downbeat - tempo.start) * sample_rate) if rotate else 0
    n = grid_samples(tempo.bpm, bars, sample_rate)
    return np.take(cycle, np.arange(shift, shift + n), mode="wrap").astype(np.float32)


def onset_aligned(
    audio: np.ndarray, tempo: Tempo, n_samples: int, *, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A sound moved so that its onset (a one-shot's, or a loop's first downbeat) is at sample
    :data:`ONSET_LEAD`, or 0 when it is earlier; cut or zero-padded to ``n_samples`` float32."""
    start = max(0, round(tempo.downbeat * sample_rate) - ONSET_LEAD)
    clip = np.asarray(audio, dtype=np.float32)[start : start + n_samples]
    return np.pad(clip, (0, n_samples - len(clip)))


def stretch(
    audio: np.ndarray,
    n_samples: int,
    *,
    method: StretchMethod = "wsola",
    sample_rate: int = SAMPLE_RATE,
    anchored: bool = False,
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
    anchored : bool
        ``wsola`` only: the frames that carry a hit are placed to put it on its time
        (:func:`wsola_anchors`), as the beat grid does (:func:`to_grid`). Off, it is the plain WSOLA
        the studio chain's own (:func:`soundmorph.audio.studio.wsola`) matches.

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
    return _wsola(audio, n_samples, sample_rate, anchored=anchored).astype(np.float32)


def _resample_periodic(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Band-limited resampling of a periodic signal: its Fourier series, truncated or zero-extended."""
    spectrum = np.fft.rfft(audio)
    keep = min(len(spectrum), n_samples // 2 + 1)
    out = np.zeros(n_samples // 2 + 1, dtype=complex)
    out[:keep] = spectrum[:keep]
    return np.fft.irfft(out, n_samples) * (n_samples / len(audio))


def hit_frames(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The onset frames (every :data:`~soundmorph.audio.onsets.ONSET_HOP` samples) of a loop
    period's strong onsets (circular), the strongest first: what :func:`wsola_anchors` places.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_in,)]
        One period of a loop (mono).

    Returns
    -------
    np.ndarray [shape=(hits,), int]
    """
    envelope = onset_envelope(audio, sample_rate=sample_rate, circular=True)
    hop_seconds = ONSET_HOP / sample_rate
    frames = np.round(onset_times(envelope, hop_seconds=hop_seconds) / hop_seconds).astype(int)
    order = np.argsort(-envelope[np.minimum(frames, len(envelope) - 1)], kind="stable")
    return frames[order]


def wsola_anchors(
    audio: np.ndarray,
    n_samples: int,
    *,
    hop: int,
    sample_rate: int = SAMPLE_RATE,
    hits: np.ndarray | None = None,
) -> dict[int, int]:
    """Input positions of the WSOLA frames that carry a loop's hits, so each lands on its time.

    A WSOLA frame is copied whole: a hit inside it keeps its place in the frame, and the frame may
    move :data:`WSOLA_TOLERANCE` either way to continue the waveform, so hits drift off the grid
    by up to that (11.6 ms: it cost morphs a fifth of their lag-0 onset correlation,
    ``python -m bench.tempo_morph``). Here each strong onset of ``audio`` (peaks above
    :data:`~soundmorph.audio.onsets.ONSET_THRESHOLD` of the largest, circular) at input sample
    ``t`` is put at output ``t * n_samples / n_in`` exactly: the frame ``k`` whose centre is
    nearest it and the frame before take the positions that put it there (the splice moves before
    the hit, where the earlier frames' search continues into it). The strongest onsets go first;
    one whose frames are taken is left to the search.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_in,)]
        One period of a loop (mono).
    n_samples : int
        Its stretched length.
    hop : int
        Samples between output frames; frame ``k`` is centred on output sample ``k * hop`` and
        covers ``[k * hop - hop, k * hop + hop)``.
    hits : np.ndarray [shape=(hits,), int], optional
        :func:`hit_frames` of ``audio``, when the caller keeps them (a source stretched again and
        again); found here otherwise.

    Returns
    -------
    dict of int to int
        Frame index to the input position of its first sample.
    """
    n_in = len(audio)
    if hits is None:
        hits = hit_frames(audio, sample_rate=sample_rate)
    n_frames = math.ceil(n_samples / hop) + 1
    anchors: dict[int, int] = {}
    for frame in hits:
        t = int(frame) * ONSET_HOP % n_in
        o = t * n_samples / n_in  # where the hit belongs in the output
        k = round(o / hop)
        if not 0 <= k < n_frames or k in anchors or (k > 0 and k - 1 in anchors):
            continue
        position = t - round(o) + k * hop - hop
        anchors[k] = position
        if k > 0:
            anchors[k - 1] = position - hop
    return anchors


def _wsola(
    audio: np.ndarray, n_samples: int, sample_rate: int = SAMPLE_RATE, *, anchored: bool = False
) -> np.ndarray:
    """Circular WSOLA: output frames every ``WSOLA_FRAME // 2`` samples (at 22,050 Hz; the same time
    at ``sample_rate``), each taken from the input
    near its nominal position where it best continues the previous frame's natural continuation;
    with ``anchored``, the frames that carry a hit are placed to put it on its time
    (:func:`wsola_anchors`)."""
    n_in = len(audio)
    scale = sample_rate / SAMPLE_RATE  # the same time spans at any rate
    hop = max(8, round(WSOLA_FRAME * scale / 2))
    frame, tol = 2 * hop, max(1, round(WSOLA_TOLERANCE * scale))
    window = np.hanning(frame + 1)[:-1]  # periodic Hann: overlap-adds to 1 at half-frame hops
    n_frames = math.ceil(n_samples / hop) + 1
    out = np.zeros(n_frames * hop + frame)
    ratio = n_in / n_samples
    anchors = wsola_anchors(audio, n_samples, hop=hop, sample_rate=sample_rate) if anchored else {}
    previous: int | None = None  # input position of the frame placed last
    offsets = np.arange(-tol, tol + 1)
    for k in range(n_frames):
        nominal = round((k * hop - hop) * ratio)  # frame k covers output [k*hop - hop, k*hop + hop)
        if k in anchors:
            position = anchors[k]
        elif previous is None:
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

    A loop is taken from its start (its lead-in trimmed, its tail wrapped or dropped), repeated or
    cut to ``grid.bars`` bars at its own tempo and stretched to the grid tempo (WSOLA with its hits
    anchored: :func:`wsola_anchors`), so every beat lands on the same sample in every clip. A
    one-shot is not stretched: it is moved so that its onset is at sample 0, and cut or zero-padded.
    """
    n = grid.samples(sample_rate)
    if tempo.kind == "oneshot":
        return onset_aligned(audio, tempo, n, sample_rate=sample_rate)
    bars = to_bars(audio, tempo, grid.bars, sample_rate=sample_rate)
    return stretch(bars, n, method=method, sample_rate=sample_rate, anchored=True)


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
