"""The built-in material: generated drum-loop libraries (no downloads, ever), and the demo that
trains, evaluates and renders on one (each a call behind :mod:`soundmorph.api`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundmorph import audio, files, parallel, sound
from soundmorph.audio import synth
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAX_DEMO_CLIPS, MAX_SYNTH_COUNT, check_int
from soundmorph.quality import SweepQuality
from soundmorph.training import checkpoint
from soundmorph.workflow import TrainResult, evaluate, resolve_preset, train

DEMO_HOLDOUT = 0.125  # of the demo's clips: 2 of 16
DEMO_SWEEP_STEPS = 9
DEMO_GLIDE_REPEATS = 4
SYNTH_PARALLEL_FROM = 64  # loops from which synth renders in worker processes


@dataclass(frozen=True)
class DemoResult:
    folder: Path
    written: list[Path]  # every file the demo wrote
    report: dict[str, Any]  # the evaluation (also in evaluation.json)
    sweep_quality: SweepQuality  # of the sweep (also in sweep/quality.json)
    train: TrainResult


def demo(
    out: str | Path,
    *,
    clips: int = 16,
    epochs: int | None = None,
    preset: str = "default",
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> DemoResult:
    """Synthesize a small drum-loop library into ``out/sounds``, train on it, evaluate, and render a
    sweep between two loops into ``out/sweep`` and a glide; the model is loaded once."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise SoundmorphError(f"{out}: exists and is not empty (use --force to overwrite)")
    if isinstance(clips, int) and clips < 2:  # one to train on, one to hold out
        raise SoundmorphError(f"the demo needs at least 2 clips, got {clips}")
    check_int("clips", clips, low=2, high=MAX_DEMO_CLIPS)
    chosen = resolve_preset(preset, {"epochs": epochs})  # check the settings before writing anything
    sounds = out / "sounds"
    written = [
        audio.write(
            sounds / f"{spec.name}.wav", synth.render(spec), sample_rate=synth.SAMPLE_RATE, force=force
        )
        for spec in synth.library_specs(clips, seed=seed)
    ]
    result = train(
        sounds,
        out / "model",
        preset=chosen,
        holdout=DEMO_HOLDOUT,
        seed=seed,
        force=force,
        progress=progress,
    )
    model = result.model
    report = evaluate(model)
    files.atomic_write_json(out / "evaluation.json", report)
    held = [i for i, split in enumerate(model.splits) if split == "holdout"]
    a, b = 0, (held[0] if held else len(model.names) - 1)
    sweep = model.sweep(a, b, steps=DEMO_SWEEP_STEPS)
    figures = model.sweep_quality(a, b, sweep)
    written += sound.save_sweep(sweep, out / "sweep", force=force, figures=figures)
    written += model.glide(a, b, repeats=DEMO_GLIDE_REPEATS).save(out / "glide.wav", force=force)
    model_files = [
        checkpoint.CONFIG_FILE,
        checkpoint.WEIGHTS_FILE,
        checkpoint.LIBRARY_FILE,
        checkpoint.LATENTS_FILE,
        "loss.png",
        "latent_map.png",
    ]
    models = [
        result.folder / name for name in model_files if (result.folder / name).exists()
    ]  # no loss.png at 0 epochs
    return DemoResult(out, [*written, *models, out / "evaluation.json"], report, figures, result)


def synth_library(
    out: str | Path, *, count: int, seed: int = 0, force: bool = False, progress: bool = True
) -> list[Path]:
    """Write a generated library of ``count`` drum loops (varied tempi, kits, styles and 1/2/4-bar
    lengths, :func:`soundmorph.audio.synth.varied_specs`) into ``out``, with ``out/synth.jsonl``
    giving each file's style, tempo, bars and seed. Rendered in parallel processes."""
    out = Path(out)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SYNTH_COUNT:
        raise SoundmorphError(f"count must be an integer in [1, {MAX_SYNTH_COUNT}], got {count!r}")
    if out.exists() and not out.is_dir():
        raise SoundmorphError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise SoundmorphError(f"{out}: exists and is not empty (use --force to overwrite)")
    specs = synth.varied_specs(count, seed=seed)
    jobs = [(spec, out / f"{spec.name}.wav", force) for spec in specs]
    processes = None if count >= SYNTH_PARALLEL_FROM else 1  # None: as many as the CPUs allow
    with parallel.imap(
        _render_loop, jobs, workers=processes, chunksize=8, desc="synth", progress=progress
    ) as rendered:
        written = list(rendered)
    rows = [
        {"file": path.name, **dataclasses.asdict(spec)} for path, spec in zip(written, specs, strict=True)
    ]
    truth = "".join(json.dumps(row) + "\n" for row in rows)
    written.append(files.atomic_write_bytes(out / "synth.jsonl", truth.encode()))
    return written


def _render_loop(job: tuple[synth.LoopSpec, Path, bool]) -> Path:
    spec, path, force = job
    return audio.write(path, synth.render(spec), sample_rate=synth.SAMPLE_RATE, force=force)
