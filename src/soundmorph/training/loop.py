"""The training loop: Adam on reconstruction MSE + weighted KL, best and last checkpoints, resume.

The best weights (lowest held-out loss, or training loss without a held-out split, as the
reference did) go to ``MODEL/model.safetensors`` whenever they improve. The last weights, the
optimizer and the RNG go to ``MODEL/train/`` at most every :data:`SAVE_EVERY_SECONDS`, at the
end and on an interruption, so a stopped run resumes where it stopped.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from soundmorph import files
from soundmorph.config import Preset
from soundmorph.errors import SoundmorphError
from soundmorph.models import SpectrogramVAE
from soundmorph.training import checkpoint

SAVE_EVERY_SECONDS = 30.0  # the last state is also saved at the end and on Ctrl-C
HISTORY_FILE = "history.csv"


@dataclass(frozen=True)
class EpochStats:
    """One row of ``history.csv``."""

    epoch: int  # 1-based
    loss: float  # training loss (reconstruction + weighted KL), mean over clips
    reconstruction: float  # training MSE in the network's scale
    kl: float  # training KL per clip, nats
    holdout_loss: float  # same loss on held-out clips with the posterior mean; nan without a split
    seconds: float  # wall time of the epoch
    clips_per_second: float


def kl_weight_at(preset: Preset, epoch: int) -> float:
    """The KL weight in ``epoch`` (0-based): linear warm-up, then the preset's weight."""
    warmup = preset.train.kl_warmup_epochs
    ramp = min(1.0, (epoch + 1) / warmup) if warmup else 1.0
    return preset.train.kl_weight * ramp


def _gain(mags: torch.Tensor, gain_db: float, generator: torch.Generator) -> torch.Tensor:
    if gain_db <= 0:
        return mags
    db = (torch.rand(mags.shape[0], 1, 1, generator=generator, device=mags.device) * 2 - 1) * gain_db
    return mags * torch.pow(10.0, db / 20.0)


@torch.no_grad()
def holdout_loss(model: SpectrogramVAE, mags: torch.Tensor, kl_weight: float, batch_size: int) -> float:
    """Loss on ``mags`` [clips, freq, frames] with the posterior mean (eval mode)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(mags), batch_size):
        batch = mags[start : start + batch_size]
        target = model.to_input(batch)
        posterior = model.encoder(target)
        recon = model.output(posterior.mode())
        per_clip = (recon - target).pow(2).mean(dim=(1, 2)) + kl_weight * posterior.kl()
        total += per_clip.sum().item()
    model.train(was_training)
    return total / len(mags)


def read_history(folder: Path) -> list[EpochStats]:
    """The rows of ``history.csv`` (empty when there is none)."""
    path = folder / HISTORY_FILE
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [
            EpochStats(int(row.pop("epoch")), **{k: float(v) for k, v in row.items()})
            for row in csv.DictReader(handle)
        ]


def _write_history(folder: Path, history: list[EpochStats]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(EpochStats)])
    writer.writeheader()
    writer.writerows(asdict(row) for row in history)
    files.atomic_write_bytes(folder / HISTORY_FILE, buffer.getvalue().encode())


def fit(
    model: SpectrogramVAE,
    preset: Preset,
    out: Path,
    train_mags: torch.Tensor,
    holdout_mags: torch.Tensor | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> list[EpochStats]:
    """Train ``model`` on magnitudes [clips, freq, frames] and write checkpoints to ``out``.

    Parameters
    ----------
    model : SpectrogramVAE
        On the device to train on; its normalisation is fitted here unless resuming.
    train_mags, holdout_mags : torch.Tensor [shape=(clips, freq, frames)]
        On the model's device.
    resume : bool
        Continue from ``out/train`` (weights, optimizer, epoch, RNG) up to ``preset.train.epochs``.

    Returns
    -------
    list[EpochStats]
        The whole history, earlier runs included.
    """
    device = model.device
    # Dropout draws from the global generator: seed it here (and save it with the train state) so a
    # run is reproducible and a resumed run continues exactly, but leave the caller's state as it was.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return _fit(
            model,
            preset,
            out,
            train_mags,
            holdout_mags,
            resume=resume,
            progress=progress,
            on_epoch=on_epoch,
        )


def _global_generator(device: torch.device) -> torch.Generator:
    """The default generator of ``device``, which ``nn.Dropout`` draws from."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    return torch.random.default_generator


def _fit(
    model: SpectrogramVAE,
    preset: Preset,
    out: Path,
    train_mags: torch.Tensor,
    holdout_mags: torch.Tensor | None,
    *,
    resume: bool,
    progress: bool,
    on_epoch: Callable[[EpochStats], None] | None,
) -> list[EpochStats]:
    cfg = preset.train
    device = model.device
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    shuffler = torch.Generator().manual_seed(cfg.seed)
    dropout_rng = _global_generator(device).manual_seed(cfg.seed)
    decay = cfg.weight_decay
    optimizer: torch.optim.Optimizer = (
        torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=decay)
        if decay > 0
        else torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    )
    start, best = 0, math.inf
    history: list[EpochStats] = []
    if resume:
        state, rng = checkpoint.load_train_state(out, model, optimizer)
        start = int(state["epoch"])
        best = math.inf if state["best"] is None else float(state["best"])  # JSON has no inf
        generator.set_state(rng["generator"].to(torch.uint8))
        shuffler.set_state(rng["shuffler"].to(torch.uint8))
        if "dropout" in rng:  # absent from states saved before it was kept
            dropout_rng.set_state(rng["dropout"].to(torch.uint8))
        history = [row for row in read_history(out) if row.epoch <= start]
    else:
        model.init_from_data(train_mags)

    def save_state(epoch: int) -> None:
        rng = {
            "generator": generator.get_state(),
            "shuffler": shuffler.get_state(),
            "dropout": dropout_rng.get_state(),
        }
        checkpoint.save_train_state(out, model, optimizer, {"epoch": epoch, "best": best}, rng)
        _write_history(out, history)

    n = len(train_mags)
    bar = tqdm(range(start, cfg.epochs), initial=start, total=cfg.epochs, unit="epoch", disable=not progress)
    last_save = time.monotonic()
    epoch = start
    model.train()
    try:
        for epoch in bar:
            tic = time.perf_counter()
            kl_weight = kl_weight_at(preset, epoch)
            order = torch.randperm(n, generator=shuffler).to(device)
            sums = torch.zeros(3, device=device)
            for first in range(0, n, cfg.batch_size):
                batch = _gain(
                    train_mags[order[first : first + cfg.batch_size]], cfg.augment_gain_db, generator
                )
                target, recon, posterior = model(batch, generator=generator)
                recon_loss = F.mse_loss(recon, target)
                kl = posterior.kl().mean()
                loss = recon_loss + kl_weight * kl
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums += torch.stack([loss, recon_loss, kl]).detach() * len(batch)
            loss_, recon_, kl_ = (sums / n).tolist()
            if not math.isfinite(loss_):
                raise SoundmorphError(f"training diverged at epoch {epoch + 1} (loss {loss_}); lower --lr")
            held = (
                holdout_loss(model, holdout_mags, kl_weight, cfg.batch_size)
                if holdout_mags is not None and len(holdout_mags)
                else math.nan
            )
            seconds = time.perf_counter() - tic
            row = EpochStats(epoch + 1, loss_, recon_, kl_, held, seconds, n / seconds)
            history.append(row)
            score = held if math.isfinite(held) else loss_
            if score < best:
                best = score
                checkpoint.save_model(out, model, preset)
            bar.set_postfix(loss=f"{loss_:.4g}", holdout=f"{held:.4g}", best=f"{best:.4g}")
            if on_epoch is not None:
                on_epoch(row)
            if time.monotonic() - last_save > SAVE_EVERY_SECONDS:
                save_state(epoch + 1)
                last_save = time.monotonic()
        epoch = cfg.epochs
    except KeyboardInterrupt:
        save_state(len(history))
        raise
    finally:
        bar.close()
    if not (out / checkpoint.WEIGHTS_FILE).exists():  # zero epochs run: still leave a loadable model
        checkpoint.save_model(out, model, preset)
    save_state(len(history))
    model.eval()
    return history
