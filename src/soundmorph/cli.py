"""The ``soundmorph`` command: parse, call :mod:`soundmorph.api`, print.

torch is imported only inside the commands, so ``--help`` is instant. Exit status: 0 done; 1 for
every error a user can cause (a bad argument included), with one line on stderr; 130 interrupted.
Risky input that is used anyway (a truncated or DC-only file) prints one warning line per file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from soundmorph import __version__
from soundmorph.config import PRESETS, PhaseMethodName, names_of
from soundmorph.errors import SoundmorphError, SoundmorphWarning

if TYPE_CHECKING:
    from soundmorph.api import RenderOptions, SoundModel

METRIC_HEADERS = ("mse", "cosine", "sc_db", "lsd_db")
PHASE_FROM_SOURCE = "start the phase from the nearer source's original (re-reads its file)"
PRESET_CHOICES = "{" + ",".join(PRESETS) + "}"
TEMPO_FILE = "JSON of per-file corrections {name: {bpm, bars, kind}} (an edited 'list --json' works)"
BPM_HELP = "tempo of the result, for a loop model (default: the sources' tempi mixed like the sound)"


class UsageError(SoundmorphError):
    """A command line argparse refused: printed as one line, exit status 1 like every other error."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (with a pointer to ``--help``), not six."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _whole(text: str) -> int:
    """An integer typed in ASCII digits; ranges are checked by the API with the limits."""
    body = text[1:] if text[:1] in "+-" else text
    if not (body.isascii() and body.isdecimal()) or len(body) > 100:
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not a whole number")
    return int(text)


def _number(text: str) -> float:
    """A finite number: nan and inf are refused here, ranges by the API."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not a finite number")
    return value


def _out_path(text: str) -> Path:
    """An output path; an empty one would mean the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("the output path is empty; name a file or folder")
    return Path(text)


def _print_paths(paths: Sequence[Path]) -> None:
    for path in paths:
        print(f"wrote {path}")


def _render_options(args: argparse.Namespace, model: SoundModel, *, seed: int | None = None) -> RenderOptions:
    """The model's render settings with the ones given on the command line."""
    source = getattr(args, "phase_from_source", False)
    return model.render_options.override(
        method=args.phase,
        n_iter=args.iterations,
        momentum=args.momentum,
        init="source" if source else None,
        seed=seed,
        periodic=True if getattr(args, "periodic", False) else None,
        faithful=False if getattr(args, "raw", False) else None,
        chain=getattr(args, "chain", None),
        rate=getattr(args, "rate", None),
    )


def cmd_demo(args: argparse.Namespace) -> None:
    from soundmorph import api

    result = api.demo(args.out, clips=args.clips, epochs=args.epochs, preset=args.preset, force=args.force)
    _print_paths(result.written)
    _print_summary(result.report)


def cmd_synth(args: argparse.Namespace) -> None:
    from soundmorph import api

    written = api.synth_library(args.out, count=args.count, seed=args.seed, force=args.force)
    print(f"wrote {len(written) - 1} loops and {written[-1].name} to {args.out}")


def cmd_list(args: argparse.Namespace) -> None:
    from soundmorph import api

    listing = api.describe_sounds(args.folder, tempo_file=args.tempo)
    if args.json:
        print(json.dumps(listing, indent=1))
        return
    print(f"{'index':>5}  {'seconds':>7}  {'rate':>6}  {'ch':>2}  {'kind':<7}  {'bpm':>6}  {'bars':>4}  file")
    for s in listing["sounds"]:
        bpm = f"{s['bpm']:>6.2f}" if s["bpm"] is not None else f"{'-':>6}"
        bars = f"{s['bars']:>4}" if s["bars"] is not None else f"{'-':>4}"
        print(
            f"{s['index']:>5}  {s['seconds']:>7.3f}  {s['sample_rate']:>6}  {s['channels']:>2}  "
            f"{s['kind']:<7}  {bpm}  {bars}  {s['name']}"
        )
    for s in listing["sounds"]:
        for warning in s["warnings"]:
            print(f"warning: {s['name']}: {warning} (the hits win)")
    for skipped in listing["skipped"]:
        print(f"skipped {Path(args.folder) / skipped['name']}: {skipped['reason']}")
    print(f"{len(listing['sounds'])} usable, {len(listing['skipped'])} skipped")


def cmd_train(args: argparse.Namespace) -> None:
    from soundmorph import api

    result = api.train(
        args.folder,
        args.out,
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        holdout=args.holdout,
        learning_rate=args.lr,
        seed=args.seed,
        clip_seconds=args.clip_seconds,
        bpm=args.bpm,
        bars=args.bars,
        tempo_file=args.tempo,
        resume=args.resume,
        force=args.force,
        device=args.device,
    )
    for skipped in result.library.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}")
    last = result.history[-1] if result.history else None
    held = int(result.holdout.sum())
    print(f"trained on {len(result.library) - held} clips ({held} held out) in {result.seconds:.1f} s")
    if last is not None:
        held_out = f", held-out {last.holdout_loss:.5g}" if held else ""
        print(f"epoch {last.epoch}: loss {last.loss:.5g}{held_out}, {last.clips_per_second:.0f} clips/s")
    print(f"model folder: {result.folder}")


def _cell(value: float | None) -> str:
    """A metric right-aligned in 9 characters; None (a non-finite value in JSON) as -inf."""
    return f"{value:>9.4g}" if value is not None else f"{'-inf':>9}"


def _print_summary(report: dict[str, Any]) -> None:
    from soundmorph.api import summary_rows

    print(f"{'split':<8} {'system':<17} {'clips':>5} " + " ".join(f"{h:>9}" for h in METRIC_HEADERS))
    for split, system, values in summary_rows(report):
        cells = " ".join(_cell(values[h]) for h in METRIC_HEADERS)
        print(f"{split:<8} {system:<17} {values['clips']:>5} {cells}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from soundmorph import api

    report = api.evaluate(args.model, args.folder, device=args.device)
    if args.json:
        print(json.dumps(api.json_safe(report), indent=2, allow_nan=False))
        return
    print(f"{'index':>5} {'split':<8} " + " ".join(f"{h:>9}" for h in METRIC_HEADERS) + "  file")
    for clip in report["clips"]:
        cells = " ".join(_cell(clip[h]) for h in METRIC_HEADERS)
        print(f"{clip['index']:>5} {clip['split']:<8} {cells}  {clip['name']}")
    for skipped in report["skipped"]:
        print(f"skipped {skipped['path']}: {skipped['reason']}")
    print()
    _print_summary(report)


def cmd_morph(args: argparse.Namespace) -> None:
    from soundmorph import api

    model = api.load(args.model, device=args.device)
    options = _render_options(args, model, seed=args.seed)
    sound = model.morph(args.a, args.b, args.alpha, sample=args.sample, options=options, bpm=args.bpm)
    _print_paths(sound.save(args.out, plot=args.plot, force=args.force, subtype=_subtype(args)))


def cmd_sweep(args: argparse.Namespace) -> None:
    from soundmorph import api

    model = api.load(args.model, device=args.device)
    options = _render_options(args, model)
    sounds = model.sweep(args.a, args.b, args.steps, options=options, spacing=args.spacing, bpm=args.bpm)
    figures = model.sweep_quality(args.a, args.b, sounds)
    _print_paths(api.save_sweep(sounds, args.out, force=args.force, subtype=_subtype(args), figures=figures))
    values = figures.to_dict().items()
    print("morph quality: " + ", ".join(f"{k} {v:.3g}" for k, v in values if isinstance(v, float)))


def _weighted(item: str) -> tuple[str, float]:
    source, sep, weight = item.rpartition(":")
    if not sep or not source:
        raise SoundmorphError(f"{item!r}: give each sound as SOURCE:WEIGHT, e.g. 3:0.5")
    try:
        return source, float(weight)
    except ValueError:
        raise SoundmorphError(f"{item!r}: weight {weight!r} is not a number") from None


def cmd_blend(args: argparse.Namespace) -> None:
    from soundmorph import api

    model = api.load(args.model, device=args.device)
    items = [_weighted(item) for item in args.items]
    sound = model.blend(items, options=_render_options(args, model), bpm=args.bpm)
    _print_paths(sound.save(args.out, plot=args.plot, force=args.force, subtype=_subtype(args)))


def cmd_glide(args: argparse.Namespace) -> None:
    from soundmorph import api

    model = api.load(args.model, device=args.device)
    options = _render_options(args, model)
    sound = model.glide(args.a, args.b, repeats=args.repeats, curve=args.curve, options=options, bpm=args.bpm)
    _print_paths(sound.save(args.out, plot=args.plot, force=args.force, subtype=_subtype(args)))


def cmd_generate(args: argparse.Namespace) -> None:
    from soundmorph import api

    model = api.load(args.model, device=args.device)
    options = _render_options(args, model, seed=args.seed)
    sounds = model.generate(args.count, seed=args.seed, options=options, bpm=args.bpm)
    _print_paths(api.save_sounds(sounds, args.out, force=args.force, subtype=_subtype(args)))


def cmd_export(args: argparse.Namespace) -> None:
    from soundmorph import api

    result = api.export(args.model, args.out, format=args.format, force=args.force)
    _print_paths(result.files)


def cmd_serve(args: argparse.Namespace) -> None:
    from soundmorph.web.server import serve

    serve(args.model, host=args.host, port=args.port, device=args.device)


def _subtype(args: argparse.Namespace) -> str:
    from soundmorph.api import subtype_of_bits

    return subtype_of_bits(32 if args.float else args.bits)


def _add_render_options(parser: argparse.ArgumentParser, *, plot: bool = True) -> None:
    parser.add_argument(
        "--phase",
        metavar="METHOD",
        help=f"phase method: {', '.join(names_of(PhaseMethodName))} "
        "(default: the model's; see python -m bench phase)",
    )
    parser.add_argument(
        "--periodic",
        action="store_true",
        help="render a seamless loop: the phase wraps around the clip's end",
    )
    parser.add_argument(
        "--iterations",
        type=_whole,
        help="phase iterations, after the start for pghi and source (default: the model's)",
    )
    parser.add_argument("--momentum", type=_number, help="fgla momentum in [0, 1) (default: the model's)")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="the model's own output: without the sources' detail that makes the ends the sources",
    )
    parser.add_argument(
        "--chain",
        choices=("studio", "model"),
        help="studio: the sources' own rate, channels and hits, shaped by the model (default); "
        "model: the model's magnitude alone, phase rebuilt at 22.05 kHz mono",
    )
    parser.add_argument(
        "--rate", type=_whole, help="sample rate of a studio render, Hz (default: the sources', up to 48000)"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    parser.add_argument("--bpm", type=_number, help=BPM_HELP)
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--bits",
        type=int,
        choices=(16, 24, 32),
        default=24,
        help="WAV sample format: 16 or 24-bit integer, 32 = float (default %(default)s)",
    )
    parser.add_argument("--float", action="store_true", help="the same as --bits 32")
    if plot:
        parser.add_argument("--plot", type=_out_path, help="also write the spectrogram as this PNG")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="soundmorph",
        description="Learn a latent space of your sounds and render the sounds between them.",
    )
    parser.add_argument("--version", action="version", version=f"soundmorph {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("demo", cmd_demo, "synthesize drum loops, train on them, evaluate and render a sweep")
    p.add_argument("--out", type=_out_path, required=True, help="folder for everything the demo writes")
    p.add_argument("--clips", type=_whole, default=16, help="drum loops to synthesize (default 16)")
    p.add_argument("--epochs", type=_whole, help="training epochs (default: the preset's)")
    p.add_argument("--preset", default="default", metavar=PRESET_CHOICES, help="preset (default: default)")
    p.add_argument("--force", action="store_true", help="overwrite an existing demo folder")

    p = command("synth", cmd_synth, "write a generated library of drum loops (varied tempi, kits, lengths)")
    p.add_argument("out", type=Path, help="folder to write")
    p.add_argument("--count", type=int, required=True, help="loops to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the library (default 0)")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")

    p = command(
        "list", cmd_list, "list the sounds of a folder: index, length, kind, tempo, bars; and skipped files"
    )
    p.add_argument("folder", type=Path)
    p.add_argument("--json", action="store_true", help="print {sounds: [...], skipped: [...]} as JSON")
    p.add_argument("--tempo", type=Path, metavar="FILE", help=TEMPO_FILE)

    p = command("train", cmd_train, "train a model on a folder of sounds")
    p.add_argument("folder", type=Path)
    p.add_argument("--out", type=_out_path, required=True, help="model folder to write")
    p.add_argument(
        "--preset",
        metavar=PRESET_CHOICES,
        help="default (measured best, the default) or paper (the reference)",
    )
    p.add_argument("--epochs", type=_whole, help="epochs (default: the preset's)")
    p.add_argument("--batch-size", type=_whole, help="clips per step (default: the preset's, 16)")
    p.add_argument("--holdout", type=_number, help="fraction of clips kept out of training, e.g. 0.2")
    p.add_argument("--lr", type=_number, help="Adam learning rate (default: the preset's)")
    p.add_argument("--seed", type=_whole, help="seed of the split, the initialisation and the sampling")
    p.add_argument(
        "--clip-seconds", type=_number, help="fit every clip to this length (default: the preset's)"
    )
    p.add_argument(
        "--bpm", type=_number, help="tempo of the beat grid loops are stretched to (default: median)"
    )
    p.add_argument("--bars", type=int, help="bars of the beat grid (default: the loops' most common count)")
    p.add_argument("--tempo", type=Path, metavar="FILE", help=TEMPO_FILE)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted or finished run with its saved settings (only --epochs may change)",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--force", action="store_true", help="replace an existing model folder")

    p = command("evaluate", cmd_evaluate, "reconstruction metrics per clip and per split, with baselines")
    p.add_argument("model", type=Path)
    p.add_argument(
        "folder", type=Path, nargs="?", help="sounds to evaluate on (default: the training library)"
    )
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--device")

    sources = "a library index, a library file name, or a path to an audio file"
    p = command("morph", cmd_morph, "render the sound at (1 - alpha) A + alpha B")
    p.add_argument("model", type=Path)
    p.add_argument("a", help=sources)
    p.add_argument("b", help=sources)
    p.add_argument("--alpha", type=_number, default=0.5, help="0 is A, 1 is B (default 0.5)")
    p.add_argument("--out", type=_out_path, required=True, help="WAV file to write")
    p.add_argument("--sample", action="store_true", help="sample the posteriors instead of their means")
    p.add_argument("--seed", type=_whole, default=0, help="seed of the phase (and of --sample)")
    p.add_argument("--phase-from-source", action="store_true", help=PHASE_FROM_SOURCE)
    _add_render_options(p)

    p = command("sweep", cmd_sweep, "render N steps from A to B (WAV + PNG each, and a grid picture)")
    p.add_argument("model", type=Path)
    p.add_argument("a", help=sources)
    p.add_argument("b", help=sources)
    p.add_argument("--steps", type=_whole, default=9)
    p.add_argument(
        "--spacing",
        choices=["even", "linear"],
        default="even",
        help="even (default): ratios chosen so every step changes the sound equally; linear: evenly "
        "spaced ratios (equal steps in the latent)",
    )
    p.add_argument(
        "--out", type=_out_path, required=True, help="folder to write (also quality.json: morph figures)"
    )
    p.add_argument("--phase-from-source", action="store_true", help=PHASE_FROM_SOURCE)
    _add_render_options(p, plot=False)

    p = command("blend", cmd_blend, "render a weighted blend of several sounds")
    p.add_argument("model", type=Path)
    p.add_argument("items", nargs="+", metavar="SOURCE:WEIGHT")
    p.add_argument("--out", type=_out_path, required=True, help="WAV file to write")
    _add_render_options(p)

    p = command("glide", cmd_glide, "the loop repeated while it moves from A to B, in one file")
    p.add_argument("model", type=Path)
    p.add_argument("a", help=sources)
    p.add_argument("b", help=sources)
    p.add_argument("--repeats", type=_whole, default=8)
    p.add_argument("--curve", default="linear", help="linear, smooth or exp")
    p.add_argument("--out", type=_out_path, required=True, help="WAV file to write")
    _add_render_options(p)

    p = command(
        "generate", cmd_generate, "render new sounds from latents sampled around the library (or the prior)"
    )
    p.add_argument("model", type=Path)
    p.add_argument("--count", type=_whole, default=4)
    p.add_argument("--seed", type=_whole, default=0)
    p.add_argument("--out", type=_out_path, required=True, help="folder to write")
    _add_render_options(p, plot=False)

    p = command(
        "export", cmd_export, "write the decoder, encoder, latents and settings as ONNX or TorchScript"
    )
    p.add_argument("model", type=Path)
    p.add_argument("out", type=_out_path, help="folder to write (new or empty; --force replaces an export)")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument("--force", action="store_true", help="replace an earlier export in OUT")

    p = command("serve", cmd_serve, "open a local web page to explore a model: pick, drag, hear, download")
    p.add_argument("model", type=Path)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=_whole, default=8000)
    p.add_argument("--device", help="cpu, cuda ... (default: CUDA when present)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    shown: set[str] = set()

    def warn(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        line = " ".join(str(message).split())
        if issubclass(category, SoundmorphWarning) and line not in shown:  # once per file and run
            shown.add(line)
            print(f"soundmorph: warning: {line}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library chatter (torch, numpy) is not for the user
            warnings.simplefilter("always", SoundmorphWarning)
            warnings.showwarning = warn
            args = build_parser().parse_args(argv)
            args.func(args)
    except SoundmorphError as error:
        print(f"soundmorph: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"soundmorph: error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 1
    except MemoryError:
        print("soundmorph: error: out of memory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("soundmorph: interrupted (a training run continues with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
