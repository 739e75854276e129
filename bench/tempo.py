"""Tempo: how often the analysis finds a sound's kind, tempo and bars (names hidden), which stretch
puts loops on a beat grid best, and (with a model) how well morphs between loops of different tempo
keep their hits together and loop without a click.

Real data is read through symbolic links with neutral names in a temporary folder (copies there for
the morph part, whose models re-read their library), so a tempo in a file name can never help. The
synthesized accuracy sets ``synth`` and ``synth_wide`` use seeds (and so kits and patterns) that the
analysis constants were not chosen on; the ``*_tuning`` sets were used in choosing them and are kept
for comparison with earlier runs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import tempo_files
from bench.common import LOOPS, fmt, machine, machine_line, read_folder, table, write_results
from soundmorph import audio
from soundmorph.audio import synth, tempo
from soundmorph.config import SAMPLE_RATE

SHARED = LOOPS.parent
TOLERANCE_BPM = 1.0  # a tempo is right within this (and with the right bar count)
LOOSE_BPM = 1.5  # the "done when" tolerance
SYNTH_SEED = 20_000  # seeds of the stretch comparison and the synthesized one-shots
# Seeds of the synthesized accuracy sets. 20,000 and 25,000 (the ``*_tuning`` sets) were among the
# sets the octave weights were chosen on; 41,000 and 46,000 were not (looked at once, afterwards).
TUNING_SEED = 20_000
FRESH_SEED = 41_000
WIDE_OFFSET = 5_000  # the wide set's seed is the narrow one's plus this
GRID_BPM = 130.0  # grid of the stretch comparison
FINE_FFT, FINE_HOP = 512, 128  # STFT of the fine transient-sharpness figure (23 ms window, 5.8 ms hop)


# --- accuracy --------------------------------------------------------------------------------------


def hidden_copy(files: list[Path], folder: Path, *, copy: bool = False) -> list[Path]:
    """Symbolic links ``clip_000.wav``, ... in ``folder`` to ``files``: the names say nothing.

    ``copy``: copies instead, for a library a model re-reads (a session refuses library files that
    resolve outside its folder); ``folder`` is temporary, so nothing is copied into the project.
    """
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    for index, path in enumerate(files):
        link = folder / f"clip_{index:03d}{path.suffix.lower()}"
        if copy:
            shutil.copyfile(path, link)
        else:
            link.symlink_to(path.resolve())
        links.append(link)
    return links


def truth_of(folder: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (folder / "loops.jsonl").read_text().splitlines() if line.strip()]
    return [
        {"file": folder / row["file"], "bpm": float(row["bpm"]), "bars": int(row.get("bars", 2))}
        for row in rows
    ]


def score_loops(items: list[dict[str, Any]], found: list[tempo.Tempo]) -> dict[str, Any]:
    """Share right within 1 and 1.5 BPM with the right bars; the misses listed."""
    right = right_loose = 0
    misses = []
    for item, result in zip(items, found, strict=True):
        ok = result.kind == "loop" and result.bars == item["bars"]
        error = abs((result.bpm or 0.0) - item["bpm"])
        right += ok and error <= TOLERANCE_BPM
        right_loose += ok and error <= LOOSE_BPM
        if not (ok and error <= TOLERANCE_BPM):
            misses.append(
                {"truth": [item["bpm"], item["bars"]], "found": result.to_dict(), "name": item["name"]}
            )
    n = len(items)
    return {"n": n, "right": right / n, "right_1_5bpm": right_loose / n, "misses": misses}


def shared_set(name: str) -> dict[str, Any] | None:
    """Accuracy on ``../shared/data/<name>`` read under hidden names (None when absent)."""
    folder = SHARED / name
    if not (folder / "loops.jsonl").exists():
        return None
    items = truth_of(folder)
    with tempfile.TemporaryDirectory() as tmp:
        links = hidden_copy([item["file"] for item in items], Path(tmp))
        tic = time.perf_counter()
        found = [tempo.analyse(audio.read(link)) for link in links]
        seconds = time.perf_counter() - tic
    for item in items:
        item["name"] = item["file"].name
    result = score_loops(items, found)
    result["ms_per_file"] = 1000 * seconds / len(items)
    return result


def oneshot_set() -> dict[str, Any] | None:
    folder = SHARED / "oneshots"
    if not folder.is_dir():
        return None
    names, clips, skipped = read_folder(folder, sample_rate=SAMPLE_RATE)  # names carry no tempo here
    found = [tempo.analyse(clip) for clip in clips]
    wrong = [name for name, result in zip(names, found, strict=True) if result.kind != "oneshot"]
    return {
        "n": len(found),
        "skipped": len(skipped),
        "right": 1 - len(wrong) / len(found),
        "misses": wrong,
    }


def synth_set(
    count: int, *, bpm_range: tuple[float, float], bars_choices: tuple[int, ...], seed: int = SYNTH_SEED
) -> dict[str, Any]:
    """Our own check set: fresh seeds and kits, tempi in ``bpm_range``, ``bars_choices`` bars (at
    most 20 s), every style."""
    rng = np.random.default_rng(seed)
    items, found = [], []
    for index in range(count):
        bars = int(rng.choice(bars_choices))
        low = max(bpm_range[0], bars * 240 / 20.0)
        bpm = round(float(rng.uniform(low, bpm_range[1])), 2)
        style = synth.STYLES[index % len(synth.STYLES)]
        loop_seed, kit = seed + index, seed + 1000 + index
        clip = synth.drum_loop(seed=loop_seed, style=style, bpm=bpm, bars=bars, kit=kit)
        items.append({"bpm": bpm, "bars": bars, "name": f"{style} seed {loop_seed}"})
        found.append(tempo.analyse(clip))
    return score_loops(items, found)


def synth_oneshots() -> dict[str, Any]:
    hits = [(voice, seed) for voice in synth.VOICES for seed in range(SYNTH_SEED, SYNTH_SEED + 5)]
    wrong = [f"{v} {s}" for v, s in hits if tempo.analyse(synth.one_shot(v, seed=s)).kind != "oneshot"]
    return {"n": len(hits), "right": 1 - len(wrong) / len(hits), "misses": wrong}


# --- stretch ---------------------------------------------------------------------------------------


def periodic_magnitude(clip: np.ndarray, *, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """|STFT| [freq, frames] of one period of a loop, frames at ``t * hop``, wrapping round."""
    n = len(clip)
    extended = np.take(clip.astype(np.float64), np.arange(-n_fft // 2, n + n_fft // 2), mode="wrap")
    frames = np.lib.stride_tricks.sliding_window_view(extended, n_fft)[::hop][: n // hop + 1]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=1)).T


def lsd_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Log-spectral distance in dB (magnitudes floored at 1e-3), mean over frames."""
    a, b = (20 * np.log10(np.maximum(x, 1e-3)) for x in (reference, estimate))
    return float(np.mean(np.sqrt(np.mean((a - b) ** 2, axis=0))))


def stretch_comparison(count: int) -> dict[str, Any]:
    """Loops rendered at 80-175 BPM stretched to 130 BPM against the same loop rendered at 130 BPM
    (a sample-based drum machine re-sequenced: the ideal stretch)."""
    rows: dict[str, list[list[float]]] = {m: [] for m in ("none (crop/pad)", "wsola", "frames", "resample")}
    truth_sharp: list[list[float]] = []
    rng = np.random.default_rng(SYNTH_SEED + 7)
    for index in range(count):
        bpm = float(rng.uniform(80, 175))
        style = synth.STYLES[index % len(synth.STYLES)]
        seed = SYNTH_SEED + 500 + index
        source = synth.drum_loop(seed=seed, style=style, bpm=bpm, bars=2)
        ideal = synth.drum_loop(seed=seed, style=style, bpm=GRID_BPM, bars=2)
        target = periodic_magnitude(ideal)
        found = tempo.Tempo("loop", bpm, 2, 0.0, 1.0)
        truth_sharp.append(
            [
                tempo.transient_sharpness(target),
                tempo.transient_sharpness(periodic_magnitude(ideal, n_fft=FINE_FFT, hop=FINE_HOP)),
            ]
        )
        for method in rows:
            tic = time.perf_counter()
            if method == "frames":
                mag = tempo.stretch_frames(periodic_magnitude(source), target.shape[1])
                fine = -1.0  # a magnitude: no waveform to look at finely
            else:
                wave = (
                    audio.fit_length(source, len(ideal))
                    if method.startswith("none")
                    else tempo.to_grid(source, found, tempo.Grid(GRID_BPM, 2), method=method)  # type: ignore[arg-type]
                )
                mag = periodic_magnitude(wave)
                fine = tempo.transient_sharpness(periodic_magnitude(wave, n_fft=FINE_FFT, hop=FINE_HOP))
            ms = 1000 * (time.perf_counter() - tic)
            rows[method].append([lsd_db(target, mag), tempo.transient_sharpness(mag), fine, ms])
    truth = np.mean(truth_sharp, axis=0)
    return {
        "count": count,
        "grid_bpm": GRID_BPM,
        "ideal_sharpness": float(truth[0]),
        "ideal_sharpness_fine": float(truth[1]),
        "methods": {
            method: dict(
                zip(
                    ("lsd_db", "sharpness", "sharpness_fine", "ms"),
                    np.nanmean(values, axis=0).tolist(),
                    strict=True,
                )
            )
            for method, values in rows.items()
        },
    }


# --- morphs between loops of different tempo ------------------------------------------------------

MORPH_PRESET = "default"  # the model a user gets


def morph_alignment(pairs: int, *, quick: bool) -> dict[str, Any] | None:
    """Morphs at alpha 0.5 between the shared loops furthest apart in tempo, from a model trained
    with crop/pad (:data:`MORPH_PRESET`, grid off) and one on the beat grid (its own, ``auto``):
    onset alignment with each source (stretched to the morph's length), the seam, the sharpness.

    The reference row is a beat-aligned mix: both sources stretched (WSOLA) to the mean tempo and
    added, what a perfect morph's hits would line up like.
    """
    folder = SHARED / "loops"
    if not (folder / "loops.jsonl").exists():
        return None
    from soundmorph import api
    from soundmorph.audio import looping

    items = sorted(truth_of(folder), key=lambda item: item["bpm"])
    if quick:
        items = items[:3] + items[-3:]
    chosen = [(items[k], items[-1 - k]) for k in range(pairs)]
    rows: dict[str, list[dict[str, float]]] = {
        "crop/pad (today)": [],
        "beat grid": [],
        "beat grid, periodic phase": [],
        "beat-aligned mix": [],
    }
    seams: dict[str, list[dict[str, float]]] = {key: [] for key in rows}
    lengths: dict[str, list[float]] = {key: [] for key in rows}
    with tempfile.TemporaryDirectory() as tmp:
        links = hidden_copy([item["file"] for item in items], Path(tmp) / "lib", copy=True)
        link_of = {item["file"]: link.name for item, link in zip(items, links, strict=True)}
        models = {
            "crop/pad (today)": api.get_preset(MORPH_PRESET).replace(tempo={"mode": "off"}),
            "beat grid": api.get_preset(MORPH_PRESET),
        }
        loaded = {}
        for key, preset in models.items():
            result = api.train(
                Path(tmp) / "lib", Path(tmp) / key.split()[0].replace("/", "_"), preset=preset, progress=False
            )
            loaded[key] = result.model
        for slow, fast in chosen:
            a, b = link_of[slow["file"]], link_of[fast["file"]]
            clips = [audio.read(slow["file"]), audio.read(fast["file"])]
            for key, model in loaded.items():
                sound = model.morph(a, b, 0.5)
                _score(rows[key], seams[key], lengths[key], sound.audio, clips)
            grid_model = loaded["beat grid"]
            looped = grid_model.morph(a, b, 0.5, options=grid_model.render_options.override(periodic=True))
            key = "beat grid, periodic phase"
            _score(rows[key], seams[key], lengths[key], looped.audio, clips)
            mean_bpm = (slow["bpm"] + fast["bpm"]) / 2
            n = tempo.grid_samples(mean_bpm, 2)
            mix = sum(
                tempo.stretch(tempo.to_bars(c, tempo.Tempo("loop", t["bpm"], 2, 0.0, 1.0), 2), n)
                for c, t in zip(clips, (slow, fast), strict=True)
            )
            _score(
                rows["beat-aligned mix"], seams["beat-aligned mix"], lengths["beat-aligned mix"], mix, clips
            )
        grid_preset = loaded["beat grid"].preset.tempo
    summary = {}
    for key, values in rows.items():
        table_ = {name: float(np.mean([v[name] for v in values])) for name in values[0]}
        table_["best_lag_within_23ms"] = float(
            np.mean([max(abs(v["lag_a_ms"]), abs(v["lag_b_ms"])) <= 23.0 for v in values])
        )
        table_.update({f"seam_{k}": float(np.mean([v[k] for v in seams[key]])) for k in seams[key][0]})
        table_["seconds"] = float(np.mean(lengths[key]))
        summary[key] = table_
    source_seams = [looping.seam_figures(audio.read(item["file"])) for item in items]
    return {
        "pairs": [[slow["file"].name, fast["file"].name] for slow, fast in chosen],
        "preset": MORPH_PRESET,
        "grid": {"bpm": grid_preset.bpm, "bars": grid_preset.bars, "stretch": grid_preset.stretch},
        "rows": summary,
        "source_seams": {k: float(np.mean([s[k] for s in source_seams])) for k in source_seams[0]},
        "first_pair": {key: values[0] for key, values in rows.items()},
    }


def _score(
    rows: list[dict[str, float]],
    seams: list[dict[str, float]],
    lengths: list[float],
    clip: np.ndarray,
    sources: list[np.ndarray],
) -> None:
    from soundmorph.audio import looping

    a, b = (looping.onset_alignment(clip, source) for source in sources)
    sharp = tempo.transient_sharpness(periodic_magnitude(np.asarray(clip), n_fft=FINE_FFT, hop=FINE_HOP))
    rows.append(
        {
            "lag0_a": a["lag0"],
            "lag0_b": b["lag0"],
            "lag_a_ms": a["best_lag_ms"],
            "lag_b_ms": b["best_lag_ms"],
            "sharpness_fine": sharp,
        }
    )
    seams.append(looping.seam_figures(np.asarray(clip)))
    lengths.append(len(clip) / SAMPLE_RATE)


# --- the report ------------------------------------------------------------------------------------


def main(*, quick: bool, out: Path, shared: Path = SHARED) -> list[Path]:
    """Every tempo figure; ``shared`` holds loops/, loops_tempo/ and oneshots/ (skipped if absent)."""
    global SHARED
    SHARED = shared
    record: dict[str, Any] = {"machine": machine(), "quick": quick, "shared": str(shared)}
    record["accuracy"] = {
        "loops": shared_set("loops"),
        "loops_tempo": shared_set("loops_tempo"),
        "oneshots": oneshot_set(),
        **{
            f"{key}{suffix}": synth_set(
                count // 5 if quick else count,
                bpm_range=bpm_range,
                bars_choices=bars_choices,
                seed=seed + offset,
            )
            for suffix, seed in (("", FRESH_SEED), ("_tuning", TUNING_SEED))
            for key, count, bpm_range, bars_choices, offset in (
                ("synth", 120, (80.0, 175.0), (1, 2, 4), 0),
                ("synth_wide", 80, (60.0, 200.0), (1, 2, 4, 8), WIDE_OFFSET),
            )
        },
        "synth_oneshots": synth_oneshots(),
    }
    record["stretch"] = stretch_comparison(4 if quick else 24)
    morph = morph_alignment(2 if quick else 10, quick=quick)
    if morph is not None:
        record["morph"] = morph
    files = tempo_files.main(quick=quick, out=out)  # loops as they come: trimmed, untrimmed, named
    return write_results("tempo", record, markdown(record), out) + files


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Tempo, bars and the beat grid\n",
        machine_line(record),
        "## Analysis accuracy (names hidden)\n",
        f"Right = a loop with the right bar count and a tempo within ±{TOLERANCE_BPM:g} BPM "
        f"(also within ±{LOOSE_BPM:g}); one-shots: classified as one-shots.\n",
    ]
    acc = record["accuracy"]
    rows = []
    for key, label in (
        ("loops", "shared loops (160, 124-146 BPM, 2 bars)"),
        ("loops_tempo", "shared loops_tempo (80, 80-175 BPM, 1/2/4 bars)"),
        (
            "synth",
            f"synthesized loops like loops_tempo, fresh seeds {FRESH_SEED}: 80-175 BPM, 1/2/4 bars",
        ),
        ("synth_wide", f"synthesized loops, wider: 60-200 BPM, 1/2/4/8 bars ({FRESH_SEED + WIDE_OFFSET})"),
        ("synth_tuning", f"as synth, seeds {TUNING_SEED} (used in choosing the constants)"),
        ("synth_wide_tuning", f"as synth_wide, seeds {TUNING_SEED + WIDE_OFFSET} (used in choosing them)"),
    ):
        if acc.get(key):
            r = acc[key]
            rows.append([label, r["n"], _pct(r["right"]), _pct(r["right_1_5bpm"])])
    if acc.get("oneshots"):
        rows.append(["shared one-shots (170)", acc["oneshots"]["n"], _pct(acc["oneshots"]["right"]), "–"])
    hits = acc["synth_oneshots"]
    rows.append(["synthesized one-shots (8 voices x 5 kits)", hits["n"], _pct(hits["right"]), "–"])
    lines.append(table(["set", "n", "right", "right ±1.5 BPM"], rows))
    for key in ("loops", "loops_tempo", "synth", "synth_wide", "synth_tuning", "synth_wide_tuning"):
        r = acc.get(key)
        if r and r["misses"]:
            shown = ", ".join(
                f"{miss['name']}: {miss['truth'][0]:g} BPM x{miss['truth'][1]} -> "
                f"{miss['found']['kind']} {miss['found']['bpm']} x{miss['found']['bars']}"
                for miss in r["misses"][:8]
            )
            lines.append(f"Misses in {key}: {shown}.\n")
    s = record["stretch"]
    lines += [
        "\n## Stretch to the beat grid\n",
        f"{s['count']} synthesized 2-bar loops at 80-175 BPM put on a {s['grid_bpm']:g} BPM grid, "
        "against the same loop rendered at the grid tempo (the ideal). LSD: log-spectral distance "
        "of the STFT magnitudes (n_fft 2048, hop 512, as the model sees them). Transient sharpness: "
        "the share of the onset strength (positive log-spectral flux) that lies in the peak frames "
        f"of strong onsets, at hop 512 and finely (n_fft {FINE_FFT}, hop {FINE_HOP}); the ideal "
        f"scores {fmt(s['ideal_sharpness'])} / {fmt(s['ideal_sharpness_fine'])}.\n",
    ]
    rows = []
    for method, v in s["methods"].items():
        fine = v["sharpness_fine"] if v["sharpness_fine"] >= 0 else "–"
        rows.append([method, v["lsd_db"], v["sharpness"], fine, v["ms"]])
    lines.append(table(["method", "LSD dB", "sharpness", "sharpness (fine)", "ms / loop"], rows))
    for key, render in (("morph", _morph_md), ("seam", _seam_md)):
        if key in record:
            lines.append(render(record[key]))
    return "\n".join(lines)


def _morph_md(morph: dict[str, Any]) -> str:
    g = morph["grid"]
    lines = [
        "\n## Morphs between loops of different tempo\n",
        f"{len(morph['pairs'])} pairs of shared loops furthest apart in tempo (the slowest with the fastest, "
        f"first pair {morph['pairs'][0][0]} / {morph['pairs'][0][1]}), morphed at alpha 0.5 by the "
        f"`{morph.get('preset', 'linear')}` preset trained on the 160 loops (hidden names) with crop/pad "
        "(grid off) and on the beat grid "
        f"({g['bars']} bars at {g['bpm']} BPM, {g['stretch']}; rendered with the seam cross-fade, and with "
        "the phase method's periodic mode). Onset alignment: correlation at lag 0 of the "
        "morph's onset envelope with each source's, stretched to the morph's length (a, b), and whether the "
        "best lag (within ±100 ms) is within ±23 ms for both. Seam: `jump_rank` (share of the clip's "
        "samples with a smaller second difference than across the seam; ~0.5 typical, ~1 a click) and "
        "`hf_rank` (the same for the high-pass energy of a 5.8 ms window). Sharpness: fine transient "
        "sharpness (n_fft 512, hop 128).\n",
    ]
    rows = []
    for key, r in morph["rows"].items():
        rows.append(
            [
                key,
                r["lag0_a"],
                r["lag0_b"],
                f"{100 * r['best_lag_within_23ms']:.0f} %",
                r["seam_jump_rank"],
                r["seam_hf_rank"],
                r["sharpness_fine"],
                r["seconds"],
            ]
        )
    lines.append(
        table(
            [
                "render",
                "lag-0 corr a",
                "lag-0 corr b",
                "best lag ≤ 23 ms",
                "seam jump_rank",
                "seam hf_rank",
                "sharpness",
                "seconds",
            ],
            rows,
        )
    )
    first = morph["first_pair"]
    lines.append(
        "First pair alone (the issue's 124 vs 146 BPM check): "
        + "; ".join(f"{k}: {v['lag0_a']:.2f} / {v['lag0_b']:.2f}" for k, v in first.items())
        + f". Source files' own seams: jump_rank {morph['source_seams']['jump_rank']:.2f}, "
        f"hf_rank {morph['source_seams']['hf_rank']:.2f}.\n"
    )
    return "\n".join(lines)


def _seam_md(seam: dict[str, Any]) -> str:
    return "\n## Seam\n\n" + json.dumps(seam, indent=1) + "\n"
