"""Bad input around tempo: corrupt acid/smpl chunks, names stating impossible tempi, files longer
than what is read, silence, one click, non-finite audio. Sane answers or one-line errors, never a
traceback."""

from __future__ import annotations

import math

import numpy as np
import pytest

from soundmorph.audio import synth, tempo
from soundmorph.audio.riff import LoopChunks
from soundmorph.config import SAMPLE_RATE
from soundmorph.errors import SoundmorphError

BPM, BARS = 124.0, 2


@pytest.fixture(scope="module")
def bounce() -> np.ndarray:
    """A 124-BPM 2-bar loop with a lead-in and a ring-out tail."""
    loop = synth.drum_loop(seed=905, style="house", bpm=BPM, bars=BARS, kit=905)
    return synth.untrimmed(loop, lead_in=0.012, tail=0.2, kind="ring")


def _right(found: tempo.Tempo) -> bool:
    return found.kind == "loop" and found.bars == BARS and abs((found.bpm or 0) - BPM) <= 1.0


CORRUPT = {
    "acid NaN BPM": LoopChunks(acid_bpm=math.nan, acid_beats=8, acid_oneshot=False),
    "acid 0 BPM": LoopChunks(acid_bpm=0.0, acid_beats=8, acid_oneshot=False),
    "acid 1e-30 BPM": LoopChunks(acid_bpm=1e-30, acid_beats=8, acid_oneshot=False),
    "acid 9000 BPM": LoopChunks(acid_bpm=9000.0, acid_beats=8, acid_oneshot=False),
    "acid inf BPM": LoopChunks(acid_bpm=math.inf, acid_beats=8, acid_oneshot=False),
    "acid 2**31 beats": LoopChunks(acid_bpm=BPM, acid_beats=2**31, acid_oneshot=False),
    "smpl reversed": LoopChunks(smpl_start=5000, smpl_end=10, sample_rate=SAMPLE_RATE),
    "smpl one sample": LoopChunks(smpl_start=100, smpl_end=100, sample_rate=SAMPLE_RATE),
    "smpl past the end": LoopChunks(smpl_start=2**32 - 10, smpl_end=2**32 - 1, sample_rate=SAMPLE_RATE),
    "smpl at 1 GHz": LoopChunks(smpl_start=0, smpl_end=1000, sample_rate=10**9),
}


@pytest.mark.parametrize("what", list(CORRUPT))
def test_a_corrupt_chunk_is_no_evidence(bounce: np.ndarray, what: str) -> None:
    chunks = CORRUPT[what]
    plain = tempo.analyse(bounce)
    found = tempo.analyse(bounce, chunks=chunks)
    assert _right(found), found
    assert found.confidence >= plain.confidence * 0.99  # not lowered as if contradicted
    assert tempo.disputes(found, chunks=chunks) == []  # nothing to warn of in ``list``


@pytest.mark.parametrize("name", ["loop_0bpm.wav", "loop_9999bpm.wav", "Break 999 BPM.wav", "loop_0_Am.wav"])
def test_a_name_stating_no_possible_tempo_is_ignored(bounce: np.ndarray, name: str) -> None:
    assert tempo.bpm_from_name(name) is None
    found = tempo.analyse(bounce, name=name)
    assert _right(found) and found.source == "audio", found
    assert tempo.disputes(found, name=name) == []


def test_a_sound_cut_from_a_longer_file_is_whole_bars_of_its_hits() -> None:
    """The first 30.25 s of a long file of a repeated loop: not 8 bars at 63.5 BPM (the read's
    length) but whole bars at the hits' tempo, the rest dropped as the loop playing on."""
    loop = synth.drum_loop(seed=906, style="techno", bpm=BPM, bars=BARS, kit=906)
    start = np.tile(loop, 20)[: round(30.25 * SAMPLE_RATE)]
    found = tempo.analyse(start, cut=True)
    assert found.kind == "loop" and abs((found.bpm or 0) - BPM) <= 1.0, found
    assert found.bars in (2, 4, 8) and found.tail == "drop"
    assert (found.seconds or 0) <= 30.25


def test_silence_and_one_click_are_one_shots() -> None:
    assert tempo.analyse(np.zeros(4 * SAMPLE_RATE)).kind == "oneshot"
    assert tempo.analyse(np.zeros(0)).kind == "oneshot"
    click = np.zeros(4 * SAMPLE_RATE)
    click[SAMPLE_RATE] = 1.0
    found = tempo.analyse(click)
    assert found.kind == "oneshot" and abs(found.downbeat - 1.0) <= 0.05, found


def test_non_finite_audio_is_one_line_error() -> None:
    for bad in (np.full(SAMPLE_RATE, np.nan), np.r_[np.zeros(100), np.inf, np.zeros(SAMPLE_RATE)]):
        with pytest.raises(SoundmorphError, match="not finite") as error:
            tempo.analyse(bad)
        assert "\n" not in str(error.value)
