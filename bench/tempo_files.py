"""Tempo of loops as they come: lead-ins, tails, names, acid and smpl chunks.

``python -m bench.tempo_files [--quick] [--baseline-rev REV]`` (also run by ``python -m bench
tempo``) writes ``bench/results/tempo_files.{json,md}``.

Every set is synthesized here from fresh kits and patterns (:func:`soundmorph.audio.synth.drum_loop`,
80-175 BPM, 1/2/4 bars, every style), names hidden unless the set is about names:

- ``trimmed``: loops cut to whole bars;
- ``untrimmed``: the same kind of loops with 0-30 ms of silence before them and a 50-400 ms tail
  after them, half "ring" (the loop plays on and fades: its first hit ringing out), half "reverb"
  (a wet bounce whose reverb rings past the end) (:func:`soundmorph.audio.synth.untrimmed`);
- ``named``: untrimmed, the tempo (rounded to whole BPM, as producers write it) in the name in the
  forms ``124bpm``, ``124 BPM``, ``124-bpm`` and ``_124_``;
- ``acid`` / ``smpl``: untrimmed, with an ``acid`` chunk (tempo, beats) or ``smpl`` loop points;
- ``misnamed``: untrimmed, the name stating a tempo 3/4 of the truth (not an octave): the hits must
  win, and ``list`` warn.

Seeds: :data:`DEV_SEED` sets were looked at while the analysis was written (tuning);
:data:`FINAL_SEED` sets never were: they give the figures reported.

With ``--baseline-rev`` the analysis of that git revision (``src/soundmorph/audio/tempo.py``) is
timed against today's on the same files in the same run (interleaved), per file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import LOOPS, RESULTS, fmt, machine, machine_line, table, write_results
from soundmorph import audio
from soundmorph.audio import synth, tempo
from soundmorph.audio.riff import LoopChunks
from soundmorph.config import SAMPLE_RATE

DEV_SEED = 777  # the sets the analysis was developed on
FINAL_SEED = 61_000  # never tuned on: the reported figures
TOLERANCE_BPM = 1.5  # the issue's: right within this, and the right bars
LEAD_IN = (0.0, 0.03)  # s
TAIL = (0.05, 0.4)  # s
NAME_FORMS = ("loop_{bpm}bpm", "{bpm} BPM Funk", "break-{bpm}-bpm", "loop_{bpm}_Am")
SETS = ("trimmed", "untrimmed", "named", "acid", "smpl", "misnamed")


def make_items(count: int, seed: int, kind: str) -> list[dict[str, Any]]:
    """``count`` synthesized files of set ``kind``: audio, truth, and the name and chunks it has."""
    rng = np.random.default_rng(seed)
    items = []
    for index in range(count):
        bars = int(rng.choice((1, 2, 4)))
        bpm = round(float(rng.uniform(max(80.0, bars * 12.0), 175.0)), 2)
        style = synth.STYLES[index % len(synth.STYLES)]
        loop = synth.drum_loop(seed=seed + index, style=style, bpm=bpm, bars=bars, kit=seed + 1000 + index)
        lead, tail = float(rng.uniform(*LEAD_IN)), float(rng.uniform(*TAIL))
        ring = ("ring", "reverb")[index % 2]
        item: dict[str, Any] = {"bpm": bpm, "bars": bars, "style": style, "name": None, "chunks": None}
        if kind == "trimmed":
            item["audio"] = loop
        else:
            item["audio"] = synth.untrimmed(loop, lead_in=lead, tail=tail, kind=ring, seed=seed + index)
            item |= {"lead_in": lead, "tail": tail, "tail_kind": ring}
        if kind == "named":
            item["name"] = NAME_FORMS[index % len(NAME_FORMS)].format(bpm=round(bpm)) + ".wav"
        elif kind == "misnamed":
            item["name"] = f"loop_{round(bpm * 3 / 4)}bpm.wav"
        elif kind == "acid":
            item["chunks"] = LoopChunks(acid_bpm=bpm, acid_beats=4 * bars, acid_oneshot=False)
        elif kind == "smpl":
            first = round(lead * SAMPLE_RATE)
            end = first + tempo.grid_samples(bpm, bars) - 1
            item["chunks"] = LoopChunks(smpl_start=first, smpl_end=end, sample_rate=SAMPLE_RATE)
        items.append(item)
    return items


def shared_items(folder: Path, seed: int) -> list[dict[str, Any]]:
    """The loops of a shared folder (its ``loops.jsonl`` the truth; real drum-machine samples no
    analysis constant was chosen on) made untrimmed like ``untrimmed``, names hidden."""
    rows = [json.loads(line) for line in (folder / "loops.jsonl").read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(seed)
    items = []
    for index, row in enumerate(rows):
        loop = audio.read(folder / row["file"])
        lead, tail = float(rng.uniform(*LEAD_IN)), float(rng.uniform(*TAIL))
        ring = ("ring", "reverb")[index % 2]
        bounce = synth.untrimmed(loop, lead_in=lead, tail=tail, kind=ring, seed=seed + index)
        items.append(
            {
                "audio": bounce,
                "bpm": float(row["bpm"]),
                "bars": int(row.get("bars", 2)),
                "style": row.get("style", "?"),
                "name": None,
                "chunks": None,
                "lead_in": lead,
                "tail": tail,
                "tail_kind": ring,
            }
        )
    return items


def score(items: list[dict[str, Any]], analyse: Any = None) -> dict[str, Any]:
    """Share right (a loop, the right bars, within :data:`TOLERANCE_BPM`), the sources used, the
    mean confidence of right and wrong answers, warnings given, and the misses."""
    right, sources, conf_right, conf_wrong, warned, misses = 0, {}, [], [], 0, []
    tic = time.perf_counter()
    if analyse is None:
        found = [tempo.analyse(item["audio"], name=item["name"], chunks=item["chunks"]) for item in items]
    else:  # a baseline's analysis (names only; it reads no chunks)
        found = [analyse(item["audio"], name=item["name"]) for item in items]
    seconds = time.perf_counter() - tic
    for item, result in zip(items, found, strict=True):
        ok = result.kind == "loop" and result.bars == item["bars"]
        ok = ok and abs((result.bpm or 0.0) - item["bpm"]) <= TOLERANCE_BPM
        right += ok
        source = getattr(result, "source", "baseline")
        sources[source] = sources.get(source, 0) + 1
        (conf_right if ok else conf_wrong).append(result.confidence)
        if analyse is None:
            warned += bool(tempo.disputes(result, name=item["name"], chunks=item["chunks"]))
        if not ok:
            misses.append(
                {
                    "truth": [item["bpm"], item["bars"]],
                    "style": item["style"],
                    "tail": [round(item.get("lead_in", 0.0), 3), round(item.get("tail", 0.0), 3)],
                    "tail_kind": item.get("tail_kind"),
                    "found": result.to_dict(),
                }
            )
    n = len(items)
    return {
        "n": n,
        "right": right / n,
        "sources": sources,
        "confidence_right": float(np.mean(conf_right)) if conf_right else None,
        "confidence_wrong": float(np.mean(conf_wrong)) if conf_wrong else None,
        "warned": warned / n,
        "ms_per_file": 1000 * seconds / n,
        "misses": misses,
    }


def tail_comparison(count: int, seed: int) -> dict[str, Any]:
    """Drop or wrap a tail: each file's loop taken at its true start and length, its tail dropped,
    wrapped, or treated as :func:`soundmorph.audio.tempo.tail_treatment` decides, against the ideal
    loop (ring: the loop itself; reverb: the wet loop played round, its reverb wrapped). Relative
    waveform error ``|cycle - ideal| / |ideal|``, mean per tail kind; and how often the decision
    is the better one."""
    items = make_items(count, seed, "untrimmed")
    errors: dict[str, dict[str, list[float]]] = {}
    chosen_better = {"ring": 0, "reverb": 0}
    for item in items:
        n = tempo.grid_samples(item["bpm"], item["bars"])
        body = np.asarray(item["audio"], dtype=np.float64)[round(item["lead_in"] * SAMPLE_RATE) :]
        dropped, wrapped = body[:n], tempo.fold_tail(body, n)
        ideal = wrapped if item["tail_kind"] == "reverb" else dropped  # see the docstring
        ideal_norm = float(np.linalg.norm(ideal))
        decided, _ = tempo.tail_treatment(body, n)
        row = {
            "drop": float(np.linalg.norm(dropped - ideal)) / ideal_norm,
            "wrap": float(np.linalg.norm(wrapped - ideal)) / ideal_norm,
        }
        row["decided"] = row[decided]
        for key, value in row.items():
            errors.setdefault(item["tail_kind"], {}).setdefault(key, []).append(value)
        chosen_better[item["tail_kind"]] += row["decided"] <= min(row["drop"], row["wrap"])
    return {
        kind: {key: float(np.mean(values)) for key, values in rows.items()}
        | {"decided_better": chosen_better[kind] / len(rows["drop"]), "n": len(rows["drop"])}
        for kind, rows in errors.items()
    }


def _baseline(rev: str) -> Any:
    """The tempo module of git revision ``rev`` (its other imports are today's)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:src/soundmorph/audio/tempo.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_tempo.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_tempo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_tempo"] = module
    spec.loader.exec_module(module)
    return module


def timing(rev: str, *, repeats: int = 2) -> dict[str, Any]:
    """ms per file of the analysis of ``rev`` and of today's, interleaved, on the shared loops,
    loops_tempo and one-shots (read once) and a synthesized untrimmed set."""
    old = _baseline(rev)
    clips = []
    shared = LOOPS.parent
    for name in ("loops", "loops_tempo", "oneshots"):
        if (shared / name).is_dir():
            clips += [audio.read(path) for path in audio.find_audio_files(shared / name)]
    clips += [item["audio"] for item in make_items(40, FINAL_SEED + 7, "untrimmed")]
    spent = {"baseline": 0.0, "today": 0.0}
    for repeat in range(repeats):
        order = [("baseline", old.analyse), ("today", tempo.analyse)]
        for label, analyse in order if repeat % 2 == 0 else order[::-1]:
            tic = time.perf_counter()
            for clip in clips:
                analyse(clip)
            spent[label] += time.perf_counter() - tic
    per_file = {k: 1000 * v / (repeats * len(clips)) for k, v in spent.items()}
    return {
        "rev": rev,
        "files": len(clips),
        "ms_per_file": per_file,
        "ratio": spent["today"] / spent["baseline"],
    }


def main(*, quick: bool, out: Path = RESULTS, baseline_rev: str | None = None) -> list[Path]:
    count = 20 if quick else 120
    record: dict[str, Any] = {"machine": machine(), "quick": quick, "count": count}
    for label, seed in (("final", FINAL_SEED), ("dev", DEV_SEED)):
        record[label] = {kind: score(make_items(count, seed, kind)) for kind in SETS}
    shared = LOOPS.parent
    for name in ("loops", "loops_tempo"):
        if (shared / name / "loops.jsonl").is_file():
            record[f"shared_{name}_untrimmed"] = score(shared_items(shared / name, FINAL_SEED + 2))
    record["tails"] = tail_comparison(count // 2, FINAL_SEED + 1)
    if baseline_rev:
        old = _baseline(baseline_rev)
        record["baseline"] = {
            kind: score(make_items(count, FINAL_SEED, kind), analyse=old.analyse)
            for kind in ("trimmed", "untrimmed", "named")
        }
        if (shared / "loops_tempo" / "loops.jsonl").is_file():
            items = shared_items(shared / "loops_tempo", FINAL_SEED + 2)
            record["baseline"]["shared_loops_tempo_untrimmed"] = score(items, analyse=old.analyse)
        for result in record["baseline"].values():
            result["misses"] = len(result["misses"])  # counted, not listed: most are misses
        record["timing"] = timing(baseline_rev, repeats=1 if quick else 2)
    return write_results("tempo_files", record, markdown(record), out)


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Tempo of loops as they come\n",
        machine_line(record),
        f"Synthesized loops, 80-175 BPM, 1/2/4 bars, {record['count']} per set; right = a loop with "
        f"the right bars within ±{TOLERANCE_BPM:g} BPM. Final seed {FINAL_SEED} (never tuned on); "
        f"dev seed {DEV_SEED} (looked at while writing the analysis). See bench/tempo_files.py.\n",
    ]
    rows = []
    for kind in SETS:
        final, dev = record["final"][kind], record["dev"][kind]
        rows.append(
            [
                kind,
                f"{100 * final['right']:.1f} %",
                f"{100 * dev['right']:.1f} %",
                ", ".join(f"{k} {v}" for k, v in sorted(final["sources"].items())),
                fmt(final["confidence_right"] or float("nan"), 2),
                fmt(final["confidence_wrong"] or float("nan"), 2),
                f"{100 * final['warned']:.0f} %",
                fmt(final["ms_per_file"], 1),
            ]
        )
    lines.append(
        table(
            [
                "set",
                "right (final)",
                "right (dev)",
                "sources",
                "conf. right",
                "conf. wrong",
                "warned",
                "ms/file",
            ],
            rows,
        )
    )
    rows = []
    for name in ("loops", "loops_tempo"):
        r = record.get(f"shared_{name}_untrimmed")
        if r:
            rows.append(
                [
                    f"shared {name}, made untrimmed like the untrimmed set (names hidden)",
                    r["n"],
                    f"{100 * r['right']:.1f} %",
                    fmt(r["confidence_right"] or float("nan"), 2),
                    fmt(r["confidence_wrong"] or float("nan"), 2),
                ]
            )
    if rows:
        lines.append("Real drum-machine samples (the shared loops), made untrimmed here:\n")
        lines.append(table(["set", "n", "right", "conf. right", "conf. wrong"], rows))
    if "baseline" in record:
        rows = [[kind, f"{100 * r['right']:.1f} %"] for kind, r in record["baseline"].items()]
        lines.append(f"The analysis of `{record['timing']['rev']}` (before) on the same final sets:\n")
        lines.append(table(["set", "right (before)"], rows))
    for kind in SETS:
        misses = record["final"][kind]["misses"]
        if misses:
            shown = "; ".join(
                f"{m['style']} {m['truth'][0]:g} x{m['truth'][1]} ({m['tail_kind']}, lead/tail {m['tail']}) "
                f"-> {m['found']['kind']} {m['found']['bpm']} x{m['found']['bars']}"
                for m in misses[:6]
            )
            lines.append(f"Misses in {kind} (final): {shown}.\n")
    for name in ("loops", "loops_tempo"):
        r = record.get(f"shared_{name}_untrimmed")
        if r and r["misses"]:
            shown = "; ".join(
                f"{m['style']} {m['truth'][0]:g} x{m['truth'][1]} -> "
                f"{m['found']['bpm']} x{m['found']['bars']}"
                for m in r["misses"][:6]
            )
            lines.append(f"Misses in shared {name}, untrimmed: {shown}.\n")
    lines.append("\n## Tail: drop or wrap\n")
    lines.append(
        "Each untrimmed loop at its true start and length; relative waveform error of its cycle "
        "against the ideal (ring: the loop itself; reverb: the wet loop played round).\n"
    )
    rows = [
        [kind, v["n"], v["drop"], v["wrap"], v["decided"], f"{100 * v['decided_better']:.0f} %"]
        for kind, v in sorted(record["tails"].items())
    ]
    lines.append(table(["tail", "n", "drop", "wrap", "decided", "decision the better"], rows))
    if "timing" in record:
        t = record["timing"]
        lines.append(
            f"\n## Time per file\n\nAnalysis of `{t['rev']}` against today's, interleaved, {t['files']} "
            f"files: {t['ms_per_file']['baseline']:.1f} ms vs {t['ms_per_file']['today']:.1f} ms per file "
            f"(ratio {t['ratio']:.2f}).\n"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.tempo_files", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--baseline-rev", help="time the analysis of this git revision against today's")
    args = parser.parse_args()
    for written in main(quick=args.quick, out=args.out, baseline_rev=args.baseline_rev):
        print(f"wrote {written}")
