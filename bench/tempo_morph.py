"""Morphs of loops as they come: whole bars at the mixed tempo, the hits on both sources' beats.

``python -m bench.tempo_morph [--quick]`` writes ``bench/results/tempo_morph.{json,md}``.

A folder of held-out untrimmed loops, names hidden (``s00.wav`` ...):

- synthesized loops of fresh seeds and kits (:data:`SEED`, never tuned on), 80-175 BPM, 1/2/4 bars,
  every style, at 22.05 kHz, given a 0-30 ms lead-in and a 50-400 ms tail (half ring, half reverb:
  :func:`soundmorph.audio.synth.untrimmed`);
- the shared ``loops_tempo`` files (44.1 kHz) given a lead-in and a tail the same way, here.

A small model (the ``linear`` preset) is trained on the folder; pairs (synth-synth, shared-shared
and mixed) are morphed at alpha 0.25, 0.5 and 0.75 through the studio chain (the default) and the
model chain. For each morph:

- **length**: the render's length against whole bars (the studio chain plays the heaviest
  source's bars, the model chain the grid's) at the mixed tempo of the *true* tempi,
  ``(1 - alpha) bpm_a + alpha bpm_b`` (ms off: the analysis' error), and of the tempi found
  (the render's own exactness);
- **lag-0 onset correlation** with each source: the morph (mono, at 22.05 kHz) against the source's
  clean loop (no lead-in, no tail) repeated or cut to the grid's bars at its true tempo, i.e. on its
  own beat grid, stretched to the morph's length (:func:`soundmorph.audio.looping.onset_alignment`);
  beside it the same figure for the *ideal mix*, the two clean loops resampled (varispeed: exact
  timing) to the morph's length and mixed at ``(1 - alpha, alpha)``: what a morph whose hits are
  exactly on both grids scores (two different patterns cannot both correlate 1).

The issue's bar: lag-0 correlation at least 0.5 with each source.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import LOOPS, RESULTS, fmt, machine, machine_line, table, write_results
from soundmorph import api, audio
from soundmorph.audio import io, looping, synth, tempo
from soundmorph.audio import studio as audio_studio
from soundmorph.config import SAMPLE_RATE

SEED = 83_000  # never tuned on
ALPHAS = (0.25, 0.5, 0.75)
CHAINS = ("studio", "model", "studio, anchored")  # the last: studio with tempo's WSOLA (proposed)
LEAD_IN = (0.0, 0.03)  # s
TAIL = (0.05, 0.4)  # s
LAG0_BAR = 0.5  # the issue's
LENGTH_MS = 5.0  # a render this close to whole bars at the true mixed tempo is whole bars


def make_folder(
    folder: Path, *, synthesized: int, shared: int, seed: int = SEED
) -> dict[str, dict[str, Any]]:
    """Write the untrimmed loops into ``folder``; return, per file name, its truth and clean loop
    (mono at 22.05 kHz, one period)."""
    rng = np.random.default_rng(seed)
    truth: dict[str, dict[str, Any]] = {}
    for index in range(synthesized):
        bars = int(rng.choice((1, 2, 4)))
        bpm = round(float(rng.uniform(80.0, 175.0)), 2)
        style = synth.STYLES[index % len(synth.STYLES)]
        loop = synth.drum_loop(seed=seed + index, style=style, bpm=bpm, bars=bars, kit=seed + 500 + index)
        name = f"s{index:02d}.wav"
        _write_untrimmed(folder / name, loop, SAMPLE_RATE, rng, seed + index, index)
        truth[name] = {"bpm": bpm, "bars": bars, "clean": loop, "kind": "synth"}
    table_path = LOOPS.parent / "loops_tempo" / "loops.jsonl"
    if shared and table_path.is_file():
        rows = [json.loads(line) for line in table_path.read_text().splitlines() if line.strip()]
        picked = rng.choice(len(rows), size=min(shared, len(rows)), replace=False)
        for index, row_index in enumerate(sorted(int(i) for i in picked)):
            row = rows[row_index]
            path = table_path.parent / row["file"]
            native, rate = io.read_native(path)
            mono = native.mean(axis=0) if native.ndim == 2 else native
            name = f"t{index:02d}.wav"
            _write_untrimmed(folder / name, mono, rate, rng, seed + 100 + index, index)
            truth[name] = {
                "bpm": float(row["bpm"]),
                "bars": int(row.get("bars", 2)),
                "clean": audio.read(path),
                "kind": "shared",
            }
    return truth


def _write_untrimmed(
    path: Path, loop: np.ndarray, rate: int, rng: np.random.Generator, seed: int, index: int
) -> None:
    lead, tail = float(rng.uniform(*LEAD_IN)), float(rng.uniform(*TAIL))
    kind = ("ring", "reverb")[index % 2]
    bounce = synth.untrimmed(loop, lead_in=lead, tail=tail, kind=kind, seed=seed, sample_rate=rate)
    audio.write(path, bounce, sample_rate=rate)


def pairs_of(truth: dict[str, dict[str, Any]], count: int, seed: int = SEED) -> list[tuple[str, str]]:
    """``count`` pairs: synth-synth, shared-shared and mixed in turn, each file in as few as may be."""
    rng = np.random.default_rng(seed + 1)
    synth_names = [n for n, t in truth.items() if t["kind"] == "synth"]
    shared_names = [n for n, t in truth.items() if t["kind"] == "shared"]
    groups = [(synth_names, synth_names), (shared_names, shared_names), (synth_names, shared_names)]
    groups = [g for g in groups if len(g[0]) and len(g[1]) and (g[0] is not g[1] or len(g[0]) > 1)]
    pairs: list[tuple[str, str]] = []
    while len(pairs) < count and groups:
        left, right = groups[len(pairs) % len(groups)]
        a = str(rng.choice(left))
        b = str(rng.choice([n for n in right if n != a]))
        if (a, b) not in pairs and (b, a) not in pairs:
            pairs.append((a, b))
    return pairs


def reference(clean: np.ndarray, bpm: float, bars: int) -> np.ndarray:
    """A source's clean loop on its own beat grid: repeated or cut to ``bars`` bars at ``bpm``."""
    n = round(bars * 240.0 / bpm * SAMPLE_RATE)
    return np.take(np.asarray(clean, dtype=np.float32), np.arange(n), mode="wrap")


def measure(
    model: Any, truth: dict[str, dict[str, Any]], pairs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """One row per pair, alpha and chain (see the module docstring)."""
    grid_bars = int(model.preset.tempo.bars)
    rows = []
    for a, b in pairs:
        found = {name: model.resolve(name).tempo for name in (a, b)}
        for alpha in ALPHAS:
            mixed = (1 - alpha) * truth[a]["bpm"] + alpha * truth[b]["bpm"]
            found_mixed = None
            if found[a] is not None and found[b] is not None and found[a].bpm and found[b].bpm:
                found_mixed = (1 - alpha) * found[a].bpm + alpha * found[b].bpm
            for chain in CHAINS:
                options = model.render_options.override(chain=chain.split(",")[0])
                tic = time.perf_counter()
                with _anchored_studio(chain.endswith("anchored")):
                    sound = model.morph(a, b, alpha, options=options)
                seconds = time.perf_counter() - tic
                mono = sound.audio.mean(axis=0) if sound.audio.ndim == 2 else sound.audio
                if sound.sample_rate != SAMPLE_RATE:
                    mono = io.resample(mono, sound.sample_rate, SAMPLE_RATE)
                # the studio chain plays the heaviest source's bars, the model chain the grid's
                bars = int(sound.bars) if sound.bars else grid_bars
                row = {
                    "a": a,
                    "b": b,
                    "alpha": alpha,
                    "chain": chain,
                    "rate": sound.sample_rate,
                    "true_bpm": [truth[a]["bpm"], truth[b]["bpm"]],
                    "true_bars": [truth[a]["bars"], truth[b]["bars"]],
                    "found_bpm": [t.bpm if t else None for t in found.values()],
                    "found_bars": [t.bars if t else None for t in found.values()],
                    "mixed_bpm": mixed,
                    "bars": bars,
                    "bars_fractional": sound.duration / (240.0 / mixed),
                    "length_ms_off": 1000 * (sound.duration - bars * 240.0 / mixed),
                    "length_ms_off_found": None
                    if found_mixed is None
                    else 1000 * (sound.duration - bars * 240.0 / found_mixed),
                    "seconds": seconds,
                }
                refs = [reference(truth[name]["clean"], truth[name]["bpm"], bars) for name in (a, b)]
                ideal = (1 - alpha) * tempo.stretch(refs[0], len(mono), method="resample") + alpha * (
                    tempo.stretch(refs[1], len(mono), method="resample")
                )
                for key, ref in zip(("a", "b"), refs, strict=True):
                    alignment = looping.onset_alignment(mono, ref)
                    row[f"lag0_{key}"] = alignment["lag0"]
                    row[f"best_lag_ms_{key}"] = alignment["best_lag_ms"]
                    row[f"ideal_lag0_{key}"] = looping.onset_alignment(ideal, ref)["lag0"]
                rows.append(row)
    return rows


@contextlib.contextmanager
def _anchored_studio(on: bool) -> Iterator[None]:
    """The studio chain with :func:`soundmorph.audio.tempo.stretch`'s WSOLA (hits anchored on their
    time) in place of its own, channel by channel: what the studio would get from the anchors."""
    if not on:
        yield
        return

    def wsola(audio: np.ndarray, n_samples: int, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        x = np.atleast_2d(np.asarray(audio, dtype=np.float64))
        return np.stack([tempo.stretch(c, n_samples, sample_rate=sample_rate, anchored=True) for c in x])

    saved = audio_studio.wsola
    audio_studio.wsola = wsola
    try:
        yield
    finally:
        audio_studio.wsola = saved


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for chain in CHAINS:
        mine = [r for r in rows if r["chain"] == chain]
        if not mine:
            continue
        low = np.array([min(r["lag0_a"], r["lag0_b"]) for r in mine])
        ideal = np.array([min(r["ideal_lag0_a"], r["ideal_lag0_b"]) for r in mine])
        off = np.array([abs(r["length_ms_off"]) for r in mine])
        out[chain] = {
            "n": len(mine),
            "whole_bars": float(np.mean(off <= LENGTH_MS)),
            "length_ms_off_max": float(off.max()),
            "length_ms_off_found_max": float(
                max(abs(r["length_ms_off_found"]) for r in mine if r["length_ms_off_found"] is not None)
            ),
            "lag0_both_at_least_bar": float(np.mean(low >= LAG0_BAR)),
            "lag0_min_mean": float(low.mean()),
            "lag0_min_worst": float(low.min()),
            "ideal_both_at_least_bar": float(np.mean(ideal >= LAG0_BAR)),
            "ideal_min_mean": float(ideal.mean()),
            "lag0_mean": float(np.mean([r["lag0_a"] for r in mine] + [r["lag0_b"] for r in mine])),
            "seconds_per_morph": float(np.mean([r["seconds"] for r in mine])),
        }
        for alpha in ALPHAS:
            at = [r for r in mine if r["alpha"] == alpha]
            out[chain][f"alpha_{alpha}"] = {
                "lag0_a": float(np.mean([r["lag0_a"] for r in at])),
                "lag0_b": float(np.mean([r["lag0_b"] for r in at])),
            }
    return out


def main(*, quick: bool, out: Path = RESULTS, epochs: int | None = None) -> list[Path]:
    synthesized, shared, count = (6, 6, 3) if quick else (12, 12, 9)
    record: dict[str, Any] = {"machine": machine(), "quick": quick, "seed": SEED}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "loops"
        folder.mkdir()
        truth = make_folder(folder, synthesized=synthesized, shared=shared)
        tic = time.perf_counter()
        api.train(folder, Path(tmp) / "model", preset="linear", epochs=epochs, device="cpu", progress=False)
        record["train_seconds"] = time.perf_counter() - tic
        model = api.load(Path(tmp) / "model", device="cpu")
        record["grid"] = {"bpm": model.preset.tempo.bpm, "bars": model.preset.tempo.bars}
        record["analysis"] = {
            name: {
                "truth": [t["bpm"], t["bars"]],
                "found": (found.to_dict() if (found := model.resolve(name).tempo) is not None else None),
            }
            for name, t in truth.items()
        }
        pairs = pairs_of(truth, count)
        record["rows"] = measure(model, truth, pairs)
    record["summary"] = summary(record["rows"])
    return write_results("tempo_morph", record, markdown(record), out)


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Morphs of loops as they come\n",
        machine_line(record),
        f"Held-out untrimmed loops (0-30 ms lead-in, 50-400 ms ring or reverb tail; synthesized, seed "
        f"{record['seed']}, and shared loops_tempo), names hidden; a `linear` model trained on them "
        f"(grid {record['grid']['bars']} bars); pairs morphed at alpha {', '.join(map(str, ALPHAS))}. "
        f"Whole bars: the render within {LENGTH_MS:g} ms of the grid's bars at the true mixed tempo. "
        f"lag 0: onset correlation with each source's clean loop on its own beat grid, stretched to the "
        f"morph (bar {LAG0_BAR}); the ideal mix: both clean loops resampled to the morph and mixed at "
        f"(1 - alpha, alpha). See bench/tempo_morph.py.\n",
    ]
    rows = []
    for chain, s in record["summary"].items():
        rows.append(
            [
                chain,
                s["n"],
                f"{100 * s['whole_bars']:.0f} %",
                fmt(s["length_ms_off_max"], 2),
                fmt(s["length_ms_off_found_max"], 3),
                f"{100 * s['lag0_both_at_least_bar']:.0f} %",
                fmt(s["lag0_min_mean"], 2),
                fmt(s["lag0_min_worst"], 2),
                f"{100 * s['ideal_both_at_least_bar']:.0f} % / {s['ideal_min_mean']:.2f}",
                " / ".join(
                    f"{s[f'alpha_{a}']['lag0_a']:.2f}-{s[f'alpha_{a}']['lag0_b']:.2f}" for a in ALPHAS
                ),
                fmt(s["seconds_per_morph"], 2),
            ]
        )
    lines.append(
        table(
            [
                "chain",
                "morphs",
                "whole bars",
                "max ms off (true tempi)",
                "max ms off (found tempi)",
                "lag 0 >= 0.5 with both",
                "mean of the lower lag 0",
                "worst lower lag 0",
                "ideal mix: >= 0.5 with both / mean lower",
                "lag 0 a-b at 0.25 / 0.5 / 0.75",
                "s per morph",
            ],
            rows,
        )
    )
    wrong = [
        f"{n} truth {v['truth'][0]:g} x{v['truth'][1]} found "
        f"{v['found']['bpm'] if v['found'] else None} x{v['found']['bars'] if v['found'] else None}"
        for n, v in record["analysis"].items()
        if not v["found"]
        or v["found"]["bars"] != v["truth"][1]
        or abs((v["found"]["bpm"] or 0) - v["truth"][0]) > 1.5
    ]
    lines.append(f"Sources analysed wrong: {'; '.join(wrong) if wrong else 'none'}.\n")
    low = sorted(record["rows"], key=lambda r: min(r["lag0_a"], r["lag0_b"]))[:6]
    lines.append(
        "Lowest: "
        + "; ".join(
            f"{r['chain']} {r['a']}({r['true_bpm'][0]:g})-{r['b']}({r['true_bpm'][1]:g}) a{r['alpha']}: "
            f"{r['lag0_a']:.2f}/{r['lag0_b']:.2f} "
            f"(ideal {r['ideal_lag0_a']:.2f}/{r['ideal_lag0_b']:.2f}, "
            f"best lag {r['best_lag_ms_a']:.0f}/{r['best_lag_ms_b']:.0f} ms)"
            for r in low
        )
        + ".\n"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.tempo_morph", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the preset's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    for written in main(quick=args.quick, out=args.out, epochs=args.epochs):
        print(f"wrote {written}")
