"""``python -m bench render``: the studio render chain against the model chain, on held-out loops.

A default model trained on the shared loops (``--model FOLDER`` reuses one) morphs pairs of loops it
never saw, at their own rates and channels:

- ``real_stereo``: the 8 recorded 44.1-kHz stereo loops (Sonic Pi's samples), in pairs;
- ``loops_tempo``: loops of 80-175 BPM, 1/2/4 bars, mono 44.1 kHz, in pairs of distinct tempi;
- ``synth_stereo``: the synthesizer's loops at fresh seeds, 44.1 kHz, made stereo by a second
  pattern of the same kit in one channel (a side/mid around -20 dB);
- ``synth_chains``: the synthesizer's loops at other fresh seeds through the chains a producer's
  loops come out of (:func:`_chain`): ``room`` (a stereo decaying-noise reverb, the two channels'
  tails decorrelated), ``tape`` (soft saturation, a gentle low-pass and hiss, 48 kHz), ``stereo``
  (hats panned by a second pattern, 44.1 kHz) and ``untrimmed`` (silence before, a ring-out after).

Each pair is rendered by each chain at alpha 0, 0.25, 0.5, 0.75 and 1, and as a plain crossfade of
the stretched sources. Figures (issue 18): at the ends, the audio LSD (dB, bins within 80 dB of the
peak, best circular lag) and the hit sharpness (:func:`soundmorph.quality.hit_sharpness`) against the
source at its own tempo and bars (a loop: one period as it plays, lead-in trimmed and tail wrapped
round, :func:`_own_loop`; a one-shot: its file), and both against the file as it is; in between,
the hit sharpness over the sources' mean; at 0.5 the energy above 11 kHz and the side/mid against
the sources'; the render time of a 2-bar morph and of a glide.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import LOOPS, machine, machine_line, table, write_results
from soundmorph import quality, studio
from soundmorph.audio import io, synth, tempo
from soundmorph.audio import studio as studio_dsp
from soundmorph.audio.tempo import Tempo, grid_samples
from soundmorph.session import SoundModel, load
from soundmorph.workflow import train

SHARED = LOOPS.parent
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
CHAINS = ("model", "studio", "crossfade")
SYNTH_SEED = 918_273  # fresh seeds: never the demo's, the tests' or the bench model's
CHAIN_SEED = 271_828  # the same for the chained set
CHAINS_OF_SOURCES = ("room", "tape", "stereo", "untrimmed")
TIMING_REPEATS = 15


def _crossfade(
    sources: list[tuple[np.ndarray, int, Tempo | None]],
    alpha: float,
    *,
    bpm: float | None,
    bars: int | None,
    n_samples: int,
) -> tuple[np.ndarray, int]:
    """The sources stretched to the render's tempo and bars (or, for a render led by a one-shot,
    cut to its ``n_samples``) and mixed at ``(1 - alpha, alpha)``: the plain audio crossfade a morph
    is held against. (audio [channels, samples], Hz)."""
    weights = [1.0 - alpha, alpha]
    rate = studio_dsp.render_rate([r for _, r, _ in sources], weights)
    channels = studio_dsp.render_channels([a.shape[0] for a, _, _ in sources], weights)
    n = grid_samples(bpm, bars, rate) if bpm is not None and bars is not None else n_samples
    mix = np.zeros((channels, n), np.float32)
    for (audio, own, found), weight in zip(sources, weights, strict=True):
        if weight > 0:
            clip = studio_dsp.fit_source(
                io.resample(audio, own, rate), rate, found, n_samples=n, bpm=bpm, bars=bars
            )
            mix += weight * studio_dsp.as_channels(clip, channels)
    return mix, rate


def _mono22(audio: np.ndarray, rate: int) -> np.ndarray:
    return io.resample(np.atleast_2d(audio).mean(axis=0), rate, 22_050)


def _pairs_real() -> list[tuple[str, Path, Path]]:
    files = sorted((SHARED / "real_stereo").glob("*.flac"))
    return [(f"{a.stem}+{b.stem}", a, b) for a, b in zip(files, files[1:] + files[:1], strict=True)]


def _pairs_tempo(count: int) -> list[tuple[str, Path, Path]]:
    files = sorted((SHARED / "loops_tempo").glob("*.wav"))
    step = max(1, len(files) // (2 * count))
    picked = files[::step][: 2 * count]
    return [(f"{a.stem}+{b.stem}", a, b) for a, b in zip(picked[::2], picked[1::2], strict=True)]


def _pairs_synth(folder: Path, count: int) -> list[tuple[str, Path, Path]]:
    specs = synth.varied_specs(2 * count, seed=SYNTH_SEED)
    paths = []
    for spec in specs:
        rate = 44_100
        main = synth.render(spec, sample_rate=rate)
        other = synth.drum_loop(
            seed=spec.seed + 1,
            style=spec.style,
            bpm=spec.bpm,
            bars=spec.bars,
            kit=spec.seed,
            sample_rate=rate,
        )
        stereo = np.stack([main, 0.75 * main + 0.25 * other[: len(main)]])
        path = folder / f"{spec.name}.wav"
        io.write(path, stereo, sample_rate=rate, subtype="PCM_24", force=True)
        paths.append(path)
    return [(f"{a.stem}+{b.stem}", a, b) for a, b in zip(paths[::2], paths[1::2], strict=True)]


def _chain(loop: np.ndarray, kind: str, *, seed: int, rate: int, bpm: float, bars: int) -> np.ndarray:
    """``loop`` [samples] at ``rate`` through a producer's chain ``kind`` (:data:`CHAINS_OF_SOURCES`):
    [channels, samples] float32 at a peak of 0.9."""
    rng = np.random.default_rng(seed)
    x = np.asarray(loop, dtype=np.float64)
    if kind == "room":  # a small room: 0.4 s of decaying noise per channel, wet at -8 dB
        n = round(0.4 * rate)
        decay = np.exp(-np.arange(n) / (0.07 * rate))
        wet = []
        for _ in range(2):
            response = rng.standard_normal(n) * decay
            response *= 0.4 / np.linalg.norm(response)
            tail = np.convolve(x, response)
            folded = tail[: len(x)].copy()  # a loop: what rings past the end wraps round
            folded[: len(tail) - len(x)] += tail[len(x) :]
            wet.append(x + folded)
        out = np.stack(wet)
    elif kind == "tape":  # saturation, a one-pole low-pass at ~9 kHz, hiss at -60 dB
        y = np.tanh(2.0 * x) / np.tanh(2.0)
        a = math.exp(-2 * math.pi * 9_000 / rate)
        lp = np.empty_like(y)
        acc = 0.0
        for i, v in enumerate(y):  # the filter's state carried once round the loop
            acc = (1 - a) * v + a * acc
            lp[i] = acc
        out = (lp + 1e-3 * rng.standard_normal(len(lp)))[None]
    elif kind == "stereo":  # a second pattern's hats panned right
        other = synth.drum_loop(seed=seed + 1, style="house", bpm=bpm, bars=bars, kit=seed, sample_rate=rate)
        other = np.resize(other, len(x))
        out = np.stack([x + 0.15 * other, x - 0.15 * other])
    elif kind == "untrimmed":
        out = synth.untrimmed(x, lead_in=0.012, tail=0.3, kind="ring", seed=seed, sample_rate=rate)[None]
    else:
        raise ValueError(f"unknown chain {kind!r}")
    return (0.9 * out / max(float(np.abs(out).max()), 1e-12)).astype(np.float32)


def _pairs_chains(folder: Path, count: int) -> list[tuple[str, Path, Path]]:
    """``count`` pairs of synthesized loops (80-175 BPM, 1/2/4 bars), each pair through one chain."""
    specs = synth.varied_specs(2 * count, seed=CHAIN_SEED)
    paths = []
    for index, spec in enumerate(specs):
        kind = CHAINS_OF_SOURCES[(index // 2) % len(CHAINS_OF_SOURCES)]
        rate = 48_000 if kind == "tape" else 44_100
        audio = _chain(
            synth.render(spec, sample_rate=rate),
            kind,
            seed=spec.seed % 2**31,
            rate=rate,
            bpm=spec.bpm,
            bars=spec.bars,
        )
        path = folder / f"{kind}_{spec.name}.wav"
        io.write(path, audio, sample_rate=rate, subtype="PCM_24", force=True)
        paths.append(path)
    return [(f"{a.stem}+{b.stem}", a, b) for a, b in zip(paths[::2], paths[1::2], strict=True)]


def _own_loop(audio: np.ndarray, rate: int, found: Tempo | None) -> np.ndarray:
    """A source as itself "at its own tempo and bars" (issue 18): a loop's one period as the grid
    takes it (lead-in trimmed, tail wrapped round or dropped: :func:`tempo.loop_cycle`), [channels,
    samples]; a one-shot's whole file."""
    if found is None or found.kind != "loop":
        return audio
    return np.stack([tempo.loop_cycle(channel, found, sample_rate=rate) for channel in audio])


def _figures(model: SoundModel, pair: tuple[str, Path, Path]) -> dict[str, Any]:
    label, path_a, path_b = pair
    records = [model.resolve(path_a), model.resolve(path_b)]
    natives = [studio.read_native(p, np.zeros(0, np.float32), model.sample_rate) for p in (path_a, path_b)]
    # each source "at its own tempo and bars": its loop as it plays (lead-in off, tail wrapped)
    own = [_own_loop(a, r, rec.tempo) for (a, r), rec in zip(natives, records, strict=True)]
    sharp = [quality.hit_sharpness(_mono22(a, r)) for a, (_, r) in zip(own, natives, strict=True)]
    sharp_file = [quality.hit_sharpness(_mono22(a, r)) for a, r in natives]
    row: dict[str, Any] = {
        "pair": label,
        "bpm": [r.bpm for r in records],
        "bars": [r.tempo.bars if r.tempo is not None else None for r in records],
        "source_sharpness": sharp,
        "source_sharpness_file": sharp_file,
        "source_hf_db": [quality.band_energy_db(a, r) for a, r in natives],
        "source_side_mid_db": [quality.side_mid_db(a) for a, _ in natives],
    }
    old_chain = model.render_options.override(chain="model")
    for alpha in ALPHAS:
        made = model.morph(records[0], records[1], alpha)  # the studio chain, the default
        fade = _crossfade(
            [(a, r, rec.tempo) for (a, r), rec in zip(natives, records, strict=True)],
            alpha,
            bpm=made.bpm,
            bars=made.bars,
            n_samples=np.shape(made.audio)[-1],
        )
        old = model.morph(records[0], records[1], alpha, options=old_chain)
        for chain, (audio, rate) in {
            "model": (old.audio, old.sample_rate),
            "studio": (made.audio, made.sample_rate),
            "crossfade": fade,
        }.items():
            audio = np.squeeze(audio)
            key = f"{chain}_{alpha:.2f}"
            row[f"{key}_sharpness"] = quality.hit_sharpness(_mono22(audio, rate))
            row[f"{key}_hf_db"] = quality.band_energy_db(audio, rate)
            row[f"{key}_side_mid_db"] = quality.side_mid_db(audio)
            row[f"{key}_shape"] = [int(rate), *np.shape(audio)]
            if alpha in (0.0, 1.0):
                end = 0 if alpha == 0.0 else 1
                file, src_rate = natives[end]
                for figure, ref in (
                    ("lsd", _own_loop(file, src_rate, records[end].tempo)),
                    ("lsd_file", file),
                ):
                    src = np.squeeze(ref)
                    if rate == src_rate and np.ndim(audio) == np.ndim(src):
                        row[f"{key}_{figure}"] = quality.audio_lsd(audio, src)
                    else:  # the model chain: 22.05 kHz mono, against the source there
                        row[f"{key}_{figure}"] = quality.audio_lsd(
                            _mono22(audio, rate), _mono22(src, src_rate)
                        )
    return row


def _timing(
    model: SoundModel, pair: tuple[str, Path, Path], paper: SoundModel | None = None
) -> dict[str, float]:
    """Seconds per 2-bar morph at 0.5 of each chain (and of ``paper``'s morph of two of its library
    sounds, issue 20's yardstick), interleaved so that a busy machine slows each alike: medians."""
    records = [model.resolve(pair[1]), model.resolve(pair[2])]
    old = model.render_options.override(chain="model")
    runs = {
        "model": lambda: model.morph(records[0], records[1], 0.5, options=old),
        "studio": lambda: model.morph(records[0], records[1], 0.5),
    }
    if paper is not None:
        ends = [paper.resolve(0), paper.resolve(1)]
        runs["paper"] = lambda: paper.morph(ends[0], ends[1], 0.5)
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(TIMING_REPEATS):
        for name, run in runs.items():
            tic = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - tic)
    return {name: statistics.median(values) for name, values in times.items()}


GLIDE_REPEATS = 4


def _glide(model: SoundModel, pair: tuple[str, Path, Path]) -> dict[str, Any]:
    """A glide of :data:`GLIDE_REPEATS` repeats by each chain: seconds (best of 2 after a warm-up,
    interleaved) and hit sharpness over the sources' mean."""
    records = [model.resolve(pair[1]), model.resolve(pair[2])]
    natives = [studio.read_native(p, np.zeros(0, np.float32), model.sample_rate) for p in pair[1:]]
    base = statistics.mean(quality.hit_sharpness(_mono22(a, r)) for a, r in natives)
    old = model.render_options.override(chain="model")
    runs = {
        "model": lambda: model.glide(records[0], records[1], repeats=GLIDE_REPEATS, options=old),
        "studio": lambda: model.glide(records[0], records[1], repeats=GLIDE_REPEATS),
    }
    out: dict[str, Any] = {}
    made = {name: run() for name, run in runs.items()}  # warm-up, and the sounds measured
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(2):
        for name, run in runs.items():
            tic = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - tic)
    for name, sound in made.items():
        out[f"{name}_seconds"] = min(times[name])
        out[f"{name}_sharpness"] = quality.hit_sharpness(_mono22(sound.audio, sound.sample_rate)) / base
        out[f"{name}_shape"] = [sound.sample_rate, *np.shape(sound.audio)]
    return out


def _summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for chain in CHAINS:
        ends_lsd = [r[f"{chain}_{a:.2f}_lsd"] for r in rows for a in (0.0, 1.0)]
        ends_lsd_file = [r[f"{chain}_{a:.2f}_lsd_file"] for r in rows for a in (0.0, 1.0)]
        ends_sharp_file = [
            r[f"{chain}_{a:.2f}_sharpness"] / max(r["source_sharpness_file"][k], 1e-9)
            for r in rows
            for k, a in enumerate((0.0, 1.0))
        ]
        ends_sharp = [
            r[f"{chain}_{a:.2f}_sharpness"] / max(r["source_sharpness"][k], 1e-9)
            for r in rows
            for k, a in enumerate((0.0, 1.0))
        ]
        mids = {
            a: [
                r[f"{chain}_{a:.2f}_sharpness"] / max(statistics.mean(r["source_sharpness"]), 1e-9)
                for r in rows
            ]
            for a in (0.25, 0.5, 0.75)
        }
        hf_off = []
        for r in rows:
            lo, hi = min(r["source_hf_db"]), max(r["source_hf_db"])
            v = r[f"{chain}_0.50_hf_db"]
            hf_off.append(0.0 if lo - 3 <= v <= hi + 3 else min(abs(v - lo), abs(v - hi)))
        sm = [r[f"{chain}_0.50_side_mid_db"] for r in rows]
        out[chain] = {
            "ends_lsd_mean": statistics.mean(ends_lsd),
            "ends_lsd_max": max(ends_lsd),
            "ends_lsd_file_mean": statistics.mean(ends_lsd_file),
            "ends_lsd_file_max": max(ends_lsd_file),
            "ends_sharpness_min": min(ends_sharp),
            "ends_sharpness_mean": statistics.mean(ends_sharp),
            "ends_sharpness_file_min": min(ends_sharp_file),
            **{f"sharpness_{a:.2f}_mean": statistics.mean(v) for a, v in mids.items()},
            **{f"sharpness_{a:.2f}_min": min(v) for a, v in mids.items()},
            "hf_outside_3db": float(sum(1 for v in hf_off if v > 0)),
            # over the stereo renders only (a mono one has none): -99 when every one is mono
            "side_mid_0.50_median": statistics.median([v for v in sm if math.isfinite(v)] or [-99.0]),
        }
    return out


def main(
    *,
    model_folder: Path | None,
    quick: bool = False,
    out: Path | None = None,
    data: Path = LOOPS,
    paper_folder: Path | None = None,
) -> list[Path]:
    """Run the comparison (training a default model on ``data`` first unless ``model_folder`` is
    given); write ``render.json`` and ``render.md``."""
    import soundmorph.session

    if not hasattr(getattr(soundmorph.session, "Renderer", None), "studio_source"):
        raise SystemExit("bench render: the studio chain is not wired into the session's rendering yet")
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = Path(tmp)
        if model_folder is None:
            model_folder = work / "model"
            train(data, model_folder, preset="default", epochs=2 if quick else None, progress=False)
        return _run(model_folder, quick=quick, out=out, work=work, paper_folder=paper_folder)


def _run(
    model_folder: Path, *, quick: bool, out: Path | None, work: Path, paper_folder: Path | None
) -> list[Path]:
    model = load(model_folder, device="cpu")
    sets = {
        "real_stereo": _pairs_real()[: 3 if quick else 8],
        "loops_tempo": _pairs_tempo(3 if quick else 8),
        "synth_stereo": _pairs_synth(work, 2 if quick else 6),
        "synth_chains": _pairs_chains(work, 4 if quick else 8),
    }
    record: dict[str, Any] = {"machine": machine(), "quick": quick, "model": str(model_folder), "sets": {}}
    md = ["# Render chains: studio against model (issue 18)\n", machine_line(record), "\n"]
    md.append(
        f"Model: {model_folder} (preset {model.preset.name}, grid {model.preset.tempo.bpm} BPM x "
        f"{model.preset.tempo.bars} bars).\n\n"
    )
    headers = [
        "set",
        "chain",
        "ends LSD dB (mean / max)",
        "vs the file (mean / max)",
        "ends sharpness (min)",
        "vs the file (min)",
        "sharp 0.25",
        "sharp 0.5 (min)",
        "sharp 0.75",
        "HF out of ±3 dB",
        "side/mid 0.5 dB",
    ]
    rows_md = []
    for name, pairs in sets.items():
        rows = [_figures(model, pair) for pair in pairs]
        summary = _summary(rows)
        record["sets"][name] = {"pairs": rows, "summary": summary}
        source_sm = statistics.median(
            [v for r in rows for v in r["source_side_mid_db"] if math.isfinite(v)] or [-99.0]
        )
        for chain in CHAINS:
            s = summary[chain]
            rows_md.append(
                [
                    f"{name} ({len(rows)} pairs, sources' side/mid {source_sm:.1f} dB)",
                    chain,
                    f"{s['ends_lsd_mean']:.2f} / {s['ends_lsd_max']:.2f}",
                    f"{s['ends_lsd_file_mean']:.2f} / {s['ends_lsd_file_max']:.2f}",
                    f"{s['ends_sharpness_mean']:.3f} ({s['ends_sharpness_min']:.3f})",
                    f"{s['ends_sharpness_file_min']:.3f}",
                    s["sharpness_0.25_mean"],
                    f"{s['sharpness_0.50_mean']:.3f} ({s['sharpness_0.50_min']:.3f})",
                    s["sharpness_0.75_mean"],
                    f"{int(s['hf_outside_3db'])}/{len(rows)}",
                    s["side_mid_0.50_median"],
                ]
            )
    md.append(table(headers, rows_md))
    timing_pair = [p for p in sets["synth_stereo"]]
    two_bar = next((p for p in timing_pair if "_2bar" in p[0].split("+")[0]), timing_pair[0])
    times = _timing(model, two_bar, load(paper_folder, device="cpu") if paper_folder else None)
    record["timing"] = {"pair": two_bar[0], **times, "ratio": times["studio"] / times["model"]}
    md.append(
        f"\nRender time of a morph at 0.5 ({two_bar[0]}, median of {TIMING_REPEATS} after a warm-up, "
        "same run): "
        f"model chain (22.05 kHz mono) {times['model'] * 1e3:.0f} ms, studio chain (44.1 kHz stereo) "
        f"{times['studio'] * 1e3:.0f} ms: **{times['studio'] / times['model']:.2f}x**.\n"
    )
    glide = _glide(model, two_bar)
    record["glide"] = {"pair": two_bar[0], "repeats": GLIDE_REPEATS, **glide}
    g = glide
    md.append(
        f"\nA glide of {GLIDE_REPEATS} repeats between the same two loops: model chain "
        f"{g['model_seconds'] * 1e3:.0f} ms, hit sharpness {g['model_sharpness']:.3f} of the sources' "
        f"mean; studio chain ({g['studio_shape'][0]} Hz, {g['studio_shape'][1]} channels) "
        f"{g['studio_seconds'] * 1e3:.0f} ms, **{g['studio_seconds'] / g['model_seconds']:.2f}x**, "
        f"hit sharpness {g['studio_sharpness']:.3f}.\n"
    )
    if "paper" in times:
        md.append(
            f"`paper`'s morph, interleaved with them: {times['paper'] * 1e3:.0f} ms; the default's studio "
            f"morph is **{times['studio'] / times['paper']:.2f}x** it, its model chain "
            f"{times['model'] / times['paper']:.2f}x (issue 20: at most 1.5x).\n"
        )
    return write_results("render", record, "".join(md), out)
