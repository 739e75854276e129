"""fp32 against bf16 autocast on this CPU, side by side in one run: the default's whole training
(seconds of epochs, held-out cosine) and ``paper``'s epochs, and what a state write costs a ``paper``
epoch (wall time of runs that write the state every epoch or only at the end)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import Dataset, load_dataset, machine, with_length
from bench.speed import build
from soundmorph.config import get_preset
from soundmorph.data.dataset import ArrayClips
from soundmorph.evaluate import cosine_similarity
from soundmorph.training import fit


def train(
    name: str, dataset: Dataset, precision: str, *, epochs: int | None, save_every: int = 1
) -> dict[str, Any]:
    preset = with_length(get_preset(name), dataset)
    if epochs is not None:
        preset = preset.replace(train={"epochs": epochs})
    audio = dataset.fitted(preset.audio)
    torch.manual_seed(0)
    model = build(preset)
    with tempfile.TemporaryDirectory() as folder:
        tic = time.perf_counter()
        history = fit(
            model,
            preset,
            Path(folder),
            ArrayClips(audio[~dataset.holdout]),
            ArrayClips(audio[dataset.holdout]),
            progress=False,
            precision=precision,
            save_every=save_every,  # type: ignore[arg-type]
        )
        wall = time.perf_counter() - tic
    model.eval()
    mags = dataset.magnitudes(preset.audio)[torch.from_numpy(dataset.holdout)]
    with torch.no_grad():
        recon = model.decode(model.encode(mags).mode())
    return {
        "preset": name,
        "precision": precision,
        "epochs": len(history),
        "save_every": save_every,
        "epoch_seconds_sum": sum(h.seconds for h in history),
        "epoch_seconds_median": statistics.median(h.seconds for h in history[1:]),
        "wall_seconds": wall,
        "holdout_cosine": float(cosine_similarity(mags, recon).mean()),
    }


def main() -> None:
    dataset = load_dataset()
    rows = [machine()]
    for precision in ("fp32", "bf16"):  # paper: 10 epochs, the state written every epoch or only at the end
        rows.append(train("paper", dataset, precision, epochs=10, save_every=1))
        rows.append(train("paper", dataset, precision, epochs=10, save_every=100))
    for precision in ("fp32", "bf16"):
        rows.append(train("default", dataset, precision, epochs=None))
    for row in rows:
        print(row, flush=True)


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    main()
