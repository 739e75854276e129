"""Tests of tempo analysis and the beat grid, on the package's own synthesized loops and hits."""

from __future__ import annotations

import numpy as np
import pytest

from soundmorph.audio import synth, tempo
from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError

# (seed, style, bpm, bars): tempi across 70-180 BPM, 1, 2 and 4 bars, every style.
TEMPI = (72, 84, 96, 103, 118, 125, 131, 138, 147, 155, 162, 171, 178, 90, 110, 140)
BARS = (2, 1, 4, 2, 1, 4, 2, 2, 1, 2, 4, 2, 1, 2, 4, 1)
CASES = [
    (seed, synth.STYLES[seed % 4], bpm, bars)
    for seed, (bpm, bars) in enumerate(zip(TEMPI, BARS, strict=True))
]


def _right(found: tempo.Tempo, bpm: float, bars: int) -> bool:
    return found.kind == "loop" and found.bars == bars and abs(float(found.bpm or 0) - bpm) <= 1.0


def test_synthesized_loops_get_their_tempo_and_bars() -> None:
    right = [
        _right(tempo.analyse(synth.drum_loop(seed=100 + seed, style=style, bpm=bpm, bars=bars)), bpm, bars)
        for seed, style, bpm, bars in CASES
    ]
    assert sum(right) >= len(CASES) - 1, [case for case, ok in zip(CASES, right, strict=True) if not ok]


def _sequence(lines: dict[str, str], *, bpm: float, bars: int, kit: int) -> np.ndarray:
    """A loop sequenced from the one-shots of ``kit``: one bar of 16ths per voice (X accent,
    x normal, o ghost, . rest), repeated ``bars`` times; tails wrap round."""
    n = tempo.grid_samples(bpm, bars)
    step = n / (synth.STEPS_PER_BAR * bars)
    velocity = {"X": 1.0, "x": 0.6, "o": 0.3}
    out = np.zeros(n)
    for voice, line in lines.items():
        hit = synth.one_shot(voice, seed=kit)[:n].astype(np.float64)
        for index in range(bars * synth.STEPS_PER_BAR):
            mark = line[index % synth.STEPS_PER_BAR]
            if mark != ".":
                start = round(index * step)
                np.add.at(out, (start + np.arange(len(hit))) % n, velocity[mark] * hit)
    return (0.9 * out / np.abs(out).max()).astype(np.float32)


# Sparse "minimal" grooves: hats and rims on off 16ths, the kick on the beats or fewer. Read at half
# tempo, their off 16ths become odd 32nds; a 1-bar reading at 70 BPM was the old analysis's answer.
MINIMAL = {
    "syncopated": {"kick": "X.....X...X.....", "closed_hat": "..x...x...x...x.", "snare": ".....x.....x..o."},
    "off 16ths": {"kick": "X...X...X...X...", "closed_hat": "o..x.o.xo..x.o.x"},
}


@pytest.mark.parametrize("groove", sorted(MINIMAL))
def test_a_sparse_minimal_loop_is_not_read_at_half_tempo(groove: str) -> None:
    for kit in range(4):
        found = tempo.analyse(_sequence(MINIMAL[groove], bpm=140, bars=2, kit=kit))
        assert _right(found, 140, 2), (kit, found)


def test_a_slow_loop_of_16th_hats_is_not_read_at_double_tempo() -> None:
    """Four on the floor at 82 BPM with 16th hats: at 164 BPM the hats would be 8ths, but the kicks
    would miss every other beat."""
    lines = {"kick": "X...X...X...X...", "clap": "....X.......X...", "closed_hat": "xoxoxoxoxoxoxoxo"}
    for kit in range(4):
        found = tempo.analyse(_sequence(lines, bpm=82, bars=2, kit=kit))
        assert _right(found, 82, 2), (kit, found)


@pytest.mark.parametrize("voice", synth.VOICES)
def test_one_shots_are_one_shots(voice: str) -> None:
    for seed in range(3):
        found = tempo.analyse(synth.one_shot(voice, seed=seed))
        assert found.kind == "oneshot" and found.bpm is None and found.bars is None
        assert found.downbeat < 0.03  # the hit starts the file


def test_a_one_shot_after_silence_has_its_onset_found() -> None:
    hit = synth.one_shot("snare", seed=1)
    found = tempo.analyse(np.concatenate([np.zeros(SAMPLE_RATE // 4, np.float32), hit]))
    assert found.kind == "oneshot"
    assert abs(found.downbeat - 0.25) < 0.03


def test_a_name_the_hits_contradict_is_ignored_and_one_they_agree_with_is_used() -> None:
    loop = synth.drum_loop(seed=7, style="techno", bpm=126, bars=2)
    plain = tempo.analyse(loop)
    assert _right(plain, 126, 2) and plain.source == "audio"
    for name in ("loop_90bpm.wav", "x.wav", "loop_100_Am.wav"):
        found = tempo.analyse(loop, name=name)
        assert _right(found, 126, 2) and found.source == "audio", name
    assert tempo.analyse(loop, name="loop_90bpm.wav").confidence < plain.confidence  # disputed
    named = tempo.analyse(loop, name="loop_126bpm.wav")
    assert named.source == "name" and named.bpm == 126 and named.bars == 2
    # an octave off the hits is still their tempo: the name says which octave
    slow = tempo.analyse(loop, name="kick 63 BPM.wav")
    assert slow.source == "name" and slow.bpm == 63 and slow.bars == 1


def test_bpm_from_name() -> None:
    assert tempo.bpm_from_name("dev_001_minimal_135bpm.wav") == 135
    assert tempo.bpm_from_name("Break 92.5 BPM.wav") == 92.5
    assert tempo.bpm_from_name("loop_1350bpm.wav") is None  # out of range
    assert tempo.bpm_from_name("snare_07.wav") is None
    assert tempo.bpm_from_name("Break_124bpm.wav") == 124
    assert tempo.bpm_from_name("124 BPM Funk.wav") == 124
    assert tempo.bpm_from_name("funk-124-bpm.wav") == 124
    assert tempo.bpm_from_name("loop_124_Am.wav") == 124  # the only number in range
    assert tempo.bpm_from_name("kits/128/loop_124_Am.wav") == 124  # only the file's own name
    assert tempo.bpm_from_name("loop_124_2_Am.wav") == 124  # 2 is no tempo
    assert tempo.bpm_from_name("loop_124_128.wav") is None  # two: which?
    assert tempo.bpm_from_name("Kick_808.wav") is None
    assert tempo.bpm_from_name("loop124.wav") is None  # not between separators


def test_a_loop_cut_late_has_its_first_beat_found() -> None:
    loop = synth.drum_loop(seed=3, style="techno", bpm=120, bars=2)
    assert tempo.analyse(loop).downbeat == 0.0
    late = np.roll(loop, -round(0.1 * SAMPLE_RATE))  # cut 0.1 s after a beat: the next is at 0.4 s
    found = tempo.analyse(late)
    assert found.kind == "loop" and found.bars == 2
    assert abs(found.downbeat - 0.4) < 0.02


def test_grid_samples_and_validation() -> None:
    assert tempo.grid_samples(100, 2) == round(4.8 * SAMPLE_RATE)
    assert tempo.Grid(140, 2).samples() == 75_600
    with pytest.raises(SoundmorphError, match="bars"):
        tempo.Grid(120, 0)
    with pytest.raises(SoundmorphError, match="bpm"):
        tempo.Grid(1000, 2)
    with pytest.raises(SoundmorphError, match="kind"):
        tempo.Tempo("drone", None, None, 0.0, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["wsola", "resample"])
def test_to_grid_puts_every_beat_on_the_grid(method: tempo.StretchMethod) -> None:
    """A loop at 100 BPM stretched to 130 BPM: its kicks land where the 130 BPM loop's kicks are."""
    slow = synth.drum_loop(seed=5, style="techno", bpm=100, bars=2)
    fast = synth.drum_loop(seed=5, style="techno", bpm=130, bars=2)
    grid = tempo.Grid(130, 2)
    stretched = tempo.to_grid(slow, tempo.analyse(slow), grid, method=method)
    assert stretched.shape == (grid.samples(),) and stretched.dtype == np.float32
    low = [tempo.onset_envelope(x, max_hz=tempo.KICK_HZ, circular=True) for x in (stretched, fast)]
    hop = tempo.ONSET_HOP / SAMPLE_RATE
    found, truth = (tempo.onset_times(envelope, hop_seconds=hop) for envelope in low)
    strong = truth[low[1][np.round(truth / hop).astype(int)] >= 0.5 * low[1].max()]
    assert len(strong) >= 8  # four on the floor, 2 bars
    assert max(np.min(np.abs(found - kick)) for kick in strong) <= 0.012


def test_to_grid_repeats_a_short_loop_and_cuts_a_long_one() -> None:
    one_bar = synth.drum_loop(seed=2, style="house", bpm=120, bars=1)
    found = tempo.Tempo("loop", 120.0, 1, 0.0, 1.0)
    two = tempo.to_grid(one_bar, found, tempo.Grid(120, 2))
    assert np.allclose(two[: len(one_bar)], one_bar, atol=1e-6)
    assert np.allclose(two[len(one_bar) :], one_bar, atol=1e-6)
    four_bars = synth.drum_loop(seed=2, style="house", bpm=120, bars=4)
    cut = tempo.to_grid(four_bars, tempo.Tempo("loop", 120.0, 4, 0.0, 1.0), tempo.Grid(120, 1))
    assert np.array_equal(cut, four_bars[: len(cut)])


def test_a_one_shot_is_aligned_not_stretched() -> None:
    hit = synth.one_shot("kick", seed=0)
    late = np.concatenate([np.zeros(3000, np.float32), hit])
    grid = tempo.Grid(140, 2)
    placed = tempo.to_grid(late, tempo.analyse(late), grid)
    assert placed.shape == (grid.samples(),)
    start = int(np.flatnonzero(np.abs(placed) > 1e-4)[0])
    assert start <= tempo.ONSET_LEAD + 600  # the onset moved to the start (within one analysis frame)
    peak = np.argmax(np.abs(placed))
    assert np.isclose(np.abs(placed[peak]), np.abs(hit).max())  # same samples: not stretched


def test_wsola_keeps_pitch_and_periodicity() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 441 * t)  # a whole number of periods in one second
    longer = tempo.stretch(tone, round(1.25 * SAMPLE_RATE), method="wsola")
    spectrum = np.abs(np.fft.rfft(longer))
    assert abs(np.argmax(spectrum) / 1.25 - 441) <= 1.0  # bin spacing 0.8 Hz
    seam = abs(float(longer[0] - longer[-1]))
    inside = float(np.median(np.abs(np.diff(longer))))
    assert seam < 4 * inside + 1e-3  # periodic: no jump from the end back to the start


def test_stretch_frames_is_circular_and_exact_for_equal_lengths() -> None:
    mag = np.random.default_rng(0).random((5, 12))
    assert np.allclose(tempo.stretch_frames(mag, 12), mag)
    assert tempo.stretch_frames(mag, 18).shape == (5, 18)


def test_transient_sharpness_drops_when_hits_are_smeared() -> None:
    mag = np.full((4, 64), 1e-3)
    mag[:, ::16] = 1.0
    smeared = mag + 0.1 * np.roll(mag, -1, -1) + 0.01 * np.roll(mag, -2, -1)  # a rise over 3 frames
    assert tempo.transient_sharpness(mag) > 0.9
    assert tempo.transient_sharpness(smeared) < 0.6 * tempo.transient_sharpness(mag)


def test_bad_input() -> None:
    with pytest.raises(SoundmorphError, match="mono"):
        tempo.analyse(np.zeros((2, 100)))
    with pytest.raises(SoundmorphError, match="one-shot"):
        tempo.to_bars(np.zeros(100), tempo.Tempo("oneshot", None, None, 0.0, 1.0), 1)
    with pytest.raises(SoundmorphError, match="unknown"):
        tempo.stretch(np.zeros(100), 50, method="pv")  # type: ignore[arg-type]
    with pytest.raises(SoundmorphError, match="voice"):
        synth.one_shot("cowbell", seed=0)


# --- loops as they come: lead-ins, tails, names -----------------------------------------------------

UNTRIMMED = [  # (seed, bpm, bars, lead-in s, tail s, tail kind): tempi, lengths and tails across the range
    (200, 124.0, 2, 0.0, 0.02, "silence"),
    (201, 124.0, 2, 0.0, 0.05, "silence"),
    (202, 124.0, 2, 0.0, 0.3, "ring"),
    (203, 95.0, 1, 0.0, 0.1, "ring"),
    (204, 83.5, 4, 0.03, 0.4, "reverb"),
    (205, 171.2, 1, 0.01, 0.25, "ring"),
    (206, 146.0, 2, 0.025, 0.15, "reverb"),
    (207, 112.7, 1, 0.005, 0.35, "reverb"),
]


@pytest.mark.parametrize(("seed", "bpm", "bars", "lead", "tail", "kind"), UNTRIMMED)
def test_a_loop_with_a_lead_in_and_a_tail_gets_its_tempo_from_its_hits(
    seed: int, bpm: float, bars: int, lead: float, tail: float, kind: str
) -> None:
    loop = synth.drum_loop(seed=seed, style=synth.STYLES[seed % 4], bpm=bpm, bars=bars, kit=seed + 50)
    found = tempo.analyse(synth.untrimmed(loop, lead_in=lead, tail=tail, kind=kind, seed=seed))
    assert found.kind == "loop" and found.bars == bars and abs(float(found.bpm or 0) - bpm) <= 1.0, found
    assert abs(found.start - lead) < 0.002  # the loop starts on its first hit
    assert found.source == "audio"
    if tail >= 0.05:
        assert found.tail == ("wrap" if kind == "reverb" else "drop")


def test_a_tempo_in_the_name_is_used_where_the_hits_agree_tails_included() -> None:
    loop = synth.drum_loop(seed=11, style="break", bpm=124, bars=2, kit=61)
    bounce = synth.untrimmed(loop, lead_in=0.01, tail=0.3, kind="ring")
    for name in ("Break_124bpm.wav", "124 BPM Funk.wav", "break-124-bpm.wav", "loop_124_Am.wav"):
        found = tempo.analyse(bounce, name=name)
        assert (found.source, found.bpm, found.bars) == ("name", 124.0, 2), name
        assert found.confidence >= 0.9 and not tempo.disputes(found, name=name)
    found = tempo.analyse(bounce, name="loop_93bpm.wav")  # 3/4 of the truth: not an octave
    assert found.source == "audio" and found.bars == 2 and abs(float(found.bpm or 0) - 124) <= 1
    assert tempo.disputes(found, name="loop_93bpm.wav") == ["name says 93 BPM"]


def test_loop_cycle_trims_the_lead_in_and_drops_or_wraps_the_tail() -> None:
    loop = synth.drum_loop(seed=12, style="techno", bpm=128, bars=1)
    ring = synth.untrimmed(loop, lead_in=0.02, tail=0.2, kind="ring")
    found = tempo.analyse(ring)
    cycle = tempo.loop_cycle(ring, found)
    assert found.tail == "drop" and len(cycle) == tempo.grid_samples(float(found.bpm or 0), 1)
    n = min(len(cycle), len(loop))
    assert np.corrcoef(cycle[:n], loop[:n])[0, 1] > 0.98  # the loop itself, its next pass dropped
    wet = synth.untrimmed(loop, lead_in=0.02, tail=0.2, kind="reverb", seed=1)
    found = tempo.analyse(wet)
    first = round(found.start * SAMPLE_RATE)
    ideal = tempo.fold_tail(wet[first:].astype(np.float64), len(loop))  # the wet loop played round
    cycle = tempo.loop_cycle(wet, found)
    n = min(len(cycle), len(ideal))
    assert found.tail == "wrap" and np.corrcoef(cycle[:n], ideal[:n])[0, 1] > 0.98


def test_fold_tail_adds_what_rings_past_into_the_start() -> None:
    audio = np.arange(1.0, 8.0)  # 7 samples, a loop of 5
    assert tempo.fold_tail(audio, 5).tolist() == [1 + 6, 2 + 7, 3, 4, 5]
    assert tempo.fold_tail(audio[:3], 5).tolist() == [1, 2, 3, 1, 2]  # shorter: it repeats


def test_a_hit_with_a_long_reverb_tail_stays_a_one_shot() -> None:
    for voice in ("kick", "snare", "clap", "open_hat"):
        hit = synth.one_shot(voice, seed=4)
        wet = synth.untrimmed(hit, lead_in=0.01, tail=1.5, kind="reverb", seed=3)
        assert tempo.analyse(wet).kind == "oneshot", voice
