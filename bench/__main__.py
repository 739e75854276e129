"""``python -m bench {quality,model,speed,phase,tempo,scale,export,render,all} [--quick]
[--data FOLDER]``: run benchmarks, write results."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.common import LOOPS, RESULTS, THREADS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "name", choices=["quality", "model", "speed", "phase", "tempo", "scale", "export", "render", "all"]
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: few epochs, few repeats (not representative)"
    )
    parser.add_argument(
        "--data", type=Path, default=LOOPS, help=f"folder of loops (default {LOOPS}; else the synthesizer)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    parser.add_argument(
        "--threads", type=int, default=THREADS, help="torch CPU threads (default %(default)s)"
    )
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    parser.add_argument(
        "--model", type=Path, help="render: a trained default model to use (default: train one on --data)"
    )
    parser.add_argument("--paper", type=Path, help="render: a paper model whose morph is timed beside")
    args = parser.parse_args(argv)

    import torch

    from bench import model, phase, quality, speed
    from bench.common import load_dataset

    torch.set_num_threads(args.threads)
    if args.name == "scale":  # its own synthesized libraries, in child processes
        from bench import scale

        for path in scale.main(quick=args.quick, out=args.out):
            print(f"wrote {path}")
        return 0
    if args.name == "export":  # its own synthesized library and model
        from bench import export

        for path in export.main(quick=args.quick, out=args.out):
            print(f"wrote {path}")
        return 0
    if args.name == "render":
        from bench import render

        tic = time.perf_counter()
        for path in render.main(
            model_folder=args.model, quick=args.quick, out=args.out, data=args.data, paper_folder=args.paper
        ):
            print(f"wrote {path}")
        print(f"render: {time.perf_counter() - tic:.0f} s")
        return 0
    if args.name == "tempo":
        from bench import tempo

        tic = time.perf_counter()
        for path in tempo.main(quick=args.quick, out=args.out, shared=args.data.parent):
            print(f"wrote {path}")
        print(f"tempo: {time.perf_counter() - tic:.0f} s")
        return 0
    dataset = load_dataset(args.data, quick=args.quick)
    print(f"data: {dataset.source} ({len(dataset.names)} clips, {int(dataset.holdout.sum())} held out)")
    tic = time.perf_counter()
    written: list[Path] = []
    if args.name in ("speed", "all"):
        written += speed.main(dataset, quick=args.quick, out=args.out)
    if args.name in ("phase", "all"):
        written += phase.main(dataset, quick=args.quick, out=args.out)
    if args.name in ("quality", "all"):
        written += quality.main(dataset, quick=args.quick, progress=args.progress, out=args.out)
    if args.name in ("model", "all"):
        written += model.main(dataset, quick=args.quick, progress=args.progress, out=args.out)
    for path in written:
        print(f"wrote {path}")
    print(f"{args.name}: {time.perf_counter() - tic:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
