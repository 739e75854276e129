"""The training loop: Adam on reconstruction MSE + weighted KL over a streaming dataset, on one
process or several (``torchrun``), with a resumable state after every epoch.

What a stop costs
    The whole resumable state (last weights, best weights, optimizer, epoch, history) is one file,
    ``MODEL/train/state.safetensors``, replaced atomically after every epoch by a background thread
    (:class:`~soundmorph.training.checkpoint.StateWriter`, on copies of the tensors, so the write
    overlaps the next epoch): ``kill -9`` at any moment loses at most the last finished epoch and
    the one in progress, and never leaves a mix of two epochs. Ctrl-C waits for the write and keeps
    the state of the last finished epoch (a second Ctrl-C cannot damage it), and ``resume``
    continues bit for bit as if the run had not stopped.
Randomness without state
    The order of epoch ``e`` and every draw for clip ``i`` in it (gain, posterior sample, dropout)
    come from generators seeded by ``(seed, e, i)`` (:mod:`soundmorph.data.dataset`). Nothing random
    is carried across epochs, so the epoch counter is the whole random state, on any number of
    processes.
Disk
    The best weights are kept in memory and written to ``MODEL/model.safetensors`` at most every
    :data:`BEST_FLUSH_EPOCHS` epochs, at the end and on Ctrl-C (the state file carries them in
    between, so they are never lost), instead of at every improvement.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from soundmorph import files
from soundmorph.audio.spectral import magnitude
from soundmorph.config import AudioConfig, Preset
from soundmorph.data import dataset as clips
from soundmorph.errors import SoundmorphError
from soundmorph.limits import MAGNITUDE_BUDGET_BYTES
from soundmorph.models import SpectrogramVAE
from soundmorph.models.vae import Noise
from soundmorph.training import checkpoint, distributed
from soundmorph.training.distributed import World

HISTORY_FILE = "history.csv"
BEST_FLUSH_EPOCHS = 10  # model.safetensors is rewritten at most this often (and at the end)
INIT_CLIPS = 128  # clips the data-dependent start (normalisation, PCA) is fitted on: ~5 MB each at its peak

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "fp32", "bf16")
# CPU flags of native bf16 matmuls (oneDNN runs them at ~4x fp32 there); without them bf16 is emulated
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
FUSED_ADAM_DEVICES = ("cpu", "cuda")  # where torch has a fused Adam kernel


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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EpochStats:
        """From a saved row (JSON writes nan as null)."""
        values = {k: math.nan if row[k] is None else float(row[k]) for k in row if k != "epoch"}
        return cls(int(row["epoch"]), **values)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` is a CPU with native bf16 matmuls (:data:`NATIVE_BF16_FLAGS` in
    ``/proc/cpuinfo``; False where that cannot be read)."""
    if device.type != "cpu":
        return False
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def resolve_precision(
    precision: Precision, device: torch.device, model: nn.Module | None = None
) -> Precision:
    """``"auto"``: bf16 autocast on a CPU with native bf16 for a model family measured unharmed by it
    (:attr:`SpectrogramVAE.autocast_bf16`; faster at the same held-out quality, ``python -m
    bench.precision``), fp32 elsewhere: for ``paper``, whose numerics are the reference's, and on a
    GPU (which measures its own, ``bench/gpu.sh``)."""
    if precision != "auto":
        return precision
    family_allows = model is None or bool(getattr(model, "autocast_bf16", False))
    return "bf16" if family_allows and native_bf16(device) else "fp32"


def kl_weight_at(preset: Preset, epoch: int) -> float:
    """The KL weight in ``epoch`` (0-based): linear warm-up, then the preset's weight."""
    warmup = preset.train.kl_warmup_epochs
    ramp = min(1.0, (epoch + 1) / warmup) if warmup else 1.0
    return preset.train.kl_weight * ramp


def loss_terms(
    model: nn.Module, mags: torch.Tensor, noise: Noise | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction loss [batch], KL [batch]) of magnitudes [batch, freq, frames], as the model's
    family defines them (:meth:`SpectrogramVAE.loss_terms`). ``noise`` draws the posterior sample;
    None uses the posterior mean (evaluation)."""
    assert isinstance(model, SpectrogramVAE)
    return model.loss_terms(mags, noise)


class _Objective(nn.Module):
    """The training loss as a module, so that DistributedDataParallel sees it as the forward pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, mags: torch.Tensor, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        def noise(shape: tuple[int, ...]) -> torch.Tensor:
            return clips.per_clip_normal(seeds, shape, device=mags.device)

        return loss_terms(self.model, mags, noise)


def batch_magnitudes(batch: torch.Tensor, config: AudioConfig, device: torch.device) -> torch.Tensor:
    """Audio [batch, samples] (any device) -> magnitudes [batch, freq, frames] on ``device``."""
    audio = batch.to(device, non_blocking=True)
    return magnitude(audio, n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length)


def _gain(mags: torch.Tensor, gain_db: float, seeds: list[int]) -> torch.Tensor:
    if gain_db <= 0:
        return mags
    db = (clips.per_clip_uniform(seeds, device=mags.device) * 2 - 1) * gain_db
    return mags * torch.pow(10.0, db / 20.0)[:, None, None]


def _batches(
    data: Dataset,
    sampler: clips.StepSampler,
    loader: Any,
    stored: torch.Tensor | None,
    config: AudioConfig,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(magnitudes [batch, freq, frames] on ``device``, positions [batch]) of the sampler's steps:
    rows of ``stored`` (every clip's magnitudes, :func:`clips.magnitudes_once`) when given, else the
    STFT of each batch of audio that ``loader`` (or a loader made here) reads."""
    if stored is not None:
        for step in sampler.steps:
            positions = torch.tensor(step.positions)
            yield stored[positions.to(stored.device)], positions
        return
    for audio, positions in loader if loader is not None else clips.make_loader(data, sampler, workers=0):
        yield batch_magnitudes(audio, config, device), positions


def _stored_magnitudes(
    data: Dataset, config: AudioConfig, device: torch.device, workers: int
) -> torch.Tensor | None:
    """Every clip's magnitudes for the run, within :data:`MAGNITUDE_BUDGET_BYTES` (else None)."""
    return clips.magnitudes_once(
        data,
        lambda audio: batch_magnitudes(audio, config, device),
        budget_bytes=MAGNITUDE_BUDGET_BYTES,
        batch_size=clips.SPECTROGRAM_BATCH,
        workers=workers,
    )


@torch.no_grad()
def holdout_loss(
    model: nn.Module,
    data: Dataset,
    preset: Preset,
    kl_weight: float,
    *,
    batch_size: int,
    workers: int = 0,
    world: World | None = None,
    magnitudes: torch.Tensor | None = None,
) -> float:
    """Loss on the clips of ``data`` with the posterior mean (eval mode), streamed in batches and
    shared among the processes of ``world`` (``magnitudes``: every clip's, computed beforehand)."""
    world = world or distributed.current()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sampler = clips.StepSampler()
    sampler.set_steps(
        clips.steps_of(list(range(clips.size(data))), batch_size, rank=world.rank, world=world.size)
    )
    total = torch.zeros(2, dtype=torch.float64, device=device)
    loader = None if magnitudes is not None else clips.make_loader(data, sampler, workers=workers)
    for (mags, _), step in zip(
        _batches(data, sampler, loader, magnitudes, preset.audio, device), sampler.steps, strict=True
    ):
        recon, kl = loss_terms(model, mags.to(device), None)
        weights = torch.tensor(step.weights, device=device)
        total += torch.stack([(weights * (recon + kl_weight * kl)).sum(), weights.sum()]).double()
    model.train(was_training)
    total = distributed.all_sum(total, world)
    return float(total[0] / total[1])


@torch.no_grad()
def init_from_sample(
    model: SpectrogramVAE, data: Dataset, preset: Preset, *, magnitudes: torch.Tensor | None = None
) -> None:
    """Fit the data-dependent start (normalisation, PCA) on at most :data:`INIT_CLIPS` clips, chosen
    by the seed: memory stays bounded whatever the library's size (the whole library below that).
    ``magnitudes``: every clip's, computed beforehand (then no clip is read again)."""
    count = min(INIT_CLIPS, clips.size(data))
    order = clips.epoch_order(clips.size(data), seed=preset.train.seed, epoch=-1)
    chosen = sorted(order[:count].tolist())
    batch = clips.SPECTROGRAM_BATCH
    if magnitudes is not None:
        model.init_from_data(magnitudes[torch.tensor(chosen, device=magnitudes.device)].to(model.device))
        return
    mags = [
        batch_magnitudes(torch.from_numpy(np.stack([data[i][0] for i in part])), preset.audio, model.device)
        for part in (chosen[s : s + batch] for s in range(0, count, batch))
    ]
    model.init_from_data(torch.cat(mags))


def read_history(folder: Path) -> list[EpochStats]:
    """The rows of ``history.csv`` (empty when there is none)."""
    path = folder / HISTORY_FILE
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [EpochStats.from_row(row) for row in csv.DictReader(handle)]


def _write_history(folder: Path, history: list[EpochStats]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(EpochStats)])
    writer.writeheader()
    writer.writerows(asdict(row) for row in history)
    files.atomic_write_bytes(folder / HISTORY_FILE, buffer.getvalue().encode())


def _global_generator(device: torch.device) -> torch.Generator:
    """The default generator of ``device``, which ``nn.Dropout`` draws from."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    return torch.random.default_generator


def fit(
    model: SpectrogramVAE,
    preset: Preset,
    out: Path,
    train: Dataset,
    holdout: Dataset | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
    workers: int = 0,
    world: World | None = None,
    save_every: int = 1,
    precision: Precision = "auto",
) -> list[EpochStats]:
    """Train ``model`` on the clips of ``train`` and write checkpoints to ``out``.

    Parameters
    ----------
    model : SpectrogramVAE
        On the device to train on; its data-dependent start is fitted here unless resuming.
    train, holdout : Dataset
        Items ``(audio [samples] float32, position)``, as :mod:`soundmorph.data.dataset` makes them.
    resume : bool
        Continue from ``out/train/state.safetensors`` up to ``preset.train.epochs``.
    workers : int
        DataLoader worker processes reading clips (0: in this process).
    world : World or None
        The processes training together (default: what ``torchrun`` set up, else one).
    save_every : int
        Epochs between resumable states; 1 (the default) bounds what a kill loses to one epoch.
    precision : {"auto", "fp32", "bf16"}
        ``"bf16"`` runs the training forward pass under bf16 autocast (the STFT, the held-out loss
        and the optimizer stay fp32); ``"auto"`` chooses it on a CPU with native bf16 for a family
        that allows it (:func:`resolve_precision`: the default's, not ``paper``'s).

    Returns
    -------
    list[EpochStats]
        The whole history, earlier runs included.
    """
    if save_every < 1:
        raise SoundmorphError(f"save_every must be >= 1, got {save_every}")
    if precision not in PRECISIONS:
        raise SoundmorphError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    device = model.device
    # Dropout draws from the global generator: seed it per epoch here, but leave the caller's state.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        run = _Run(model, preset, out, workers, world or distributed.current(), save_every)
        run.precision = resolve_precision(precision, device, model)
        return run.run(train, holdout, resume=resume, progress=progress, on_epoch=on_epoch)


class _Run:
    """One call of :func:`fit`: the model, its optimizer and the best weights kept in memory."""

    def __init__(
        self, model: SpectrogramVAE, preset: Preset, out: Path, workers: int, world: World, save_every: int
    ) -> None:
        cfg = preset.train
        self.model, self.preset, self.out, self.workers, self.world = model, preset, out, workers, world
        self.save_every = save_every
        # fused: one pass over each parameter's memory instead of ~8 (torch's default on a CPU is a
        # loop of elementwise ops per tensor): paper's step 17.7 -> 2.3 ms, results equal to 1 ulp
        fused = model.device.type in FUSED_ADAM_DEVICES
        self.optimizer: torch.optim.Optimizer = (
            torch.optim.AdamW(
                model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=fused
            )
            if cfg.weight_decay > 0
            else torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, fused=fused)
        )
        self.history: list[EpochStats] = []
        self.best, self.best_epoch = math.inf, 0
        self.best_weights = self._snapshot()
        self.writer = checkpoint.StateWriter(out)  # the state is written in the background
        self.saved_epoch = -1  # the epoch of the last state handed to the writer
        self.flushed_epoch = -1  # the best_epoch of model.safetensors
        self.flushed_at = 0  # the epoch when it was last written
        self.precision: Precision = "fp32"
        self.train_mags: torch.Tensor | None = None  # every training clip's magnitudes, when they fit

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "bf16":
            return torch.autocast(self.model.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _save_state(self, epoch: int) -> None:
        if not self.world.is_main:
            return
        best_is_last = self.best_epoch == epoch
        # copies, written while training goes on; the best weights are one already (never changed
        # in place), and they are the last weights when they are from this epoch
        state = checkpoint.TrainState(
            epoch=epoch,
            best=self.best,
            best_epoch=self.best_epoch,
            weights=self.best_weights if best_is_last else self._snapshot(),
            best_weights=None if best_is_last else self.best_weights,
            optimizer=checkpoint.copy_optimizer_state(self.optimizer.state_dict()),
            history=[asdict(row) for row in self.history],
            preset=self.preset.to_dict(),
        )
        history = list(self.history)
        self.writer.submit(state, then=lambda: _write_history(self.out, history))
        self.saved_epoch = epoch

    def _flush_best(self) -> None:
        """Write the best weights that the state on disk also holds to ``model.safetensors``."""
        if (
            not self.world.is_main
            or self.flushed_epoch == self.best_epoch
            or self.best_epoch > self.writer.written
        ):
            return
        current = self._snapshot()
        self.model.load_state_dict(self.best_weights)
        try:
            checkpoint.save_model(self.out, self.model, self.preset)
        finally:
            self.model.load_state_dict(current)
        self.flushed_epoch = self.best_epoch
        self.flushed_at = len(self.history)

    def _start(self, train: Dataset, resume: bool) -> None:
        if self.world.is_main:
            checkpoint.remove_stale_temporaries(self.out)
        if not resume:
            if self.world.is_main:
                # the others get it from DDP's broadcast
                init_from_sample(self.model, train, self.preset, magnitudes=self.train_mags)
            self.best_weights = self._snapshot()
            self._save_state(0)
            self.writer.wait()
            self._flush_best()
            return
        state = checkpoint.load_train_state(self.out, self.model, self.preset)
        self.model.load_state_dict(state.weights)
        try:
            self.optimizer.load_state_dict(state.optimizer)
        except (KeyError, ValueError) as error:
            raise SoundmorphError(f"{self.out}: optimizer state does not match the model ({error})") from None
        self.history = [EpochStats.from_row(row) for row in state.history]
        self.best, self.best_epoch = state.best, state.best_epoch
        self.best_weights = (
            {k: v.to(self.model.device) for k, v in state.best_weights.items()}
            if state.best_weights is not None
            else self._snapshot()
        )
        self.saved_epoch = self.writer.written = state.epoch
        if self.world.is_main:  # a kill between the state and the model file: make them agree again
            _write_history(self.out, self.history)
            self._flush_best()

    def run(
        self,
        train: Dataset,
        holdout: Dataset | None,
        *,
        resume: bool,
        progress: bool,
        on_epoch: Callable[[EpochStats], None] | None,
    ) -> list[EpochStats]:
        cfg, world, device = self.preset.train, self.world, self.model.device
        self.train_mags = _stored_magnitudes(train, self.preset.audio, device, self.workers)
        held_mags = (
            _stored_magnitudes(holdout, self.preset.audio, device, self.workers)
            if holdout is not None and clips.size(holdout)
            else None
        )
        self._start(train, resume)
        objective = distributed.wrap(_Objective(self.model), world)
        sampler = clips.StepSampler()
        loader = (
            None if self.train_mags is not None else clips.make_loader(train, sampler, workers=self.workers)
        )
        n = clips.size(train)
        start = len(self.history)
        bar = tqdm(
            range(start, cfg.epochs),
            initial=start,
            total=cfg.epochs,
            unit="epoch",
            disable=not (progress and world.is_main),
        )
        self.model.train()
        try:
            for epoch in bar:
                tic = time.perf_counter()
                kl_weight = kl_weight_at(self.preset, epoch)
                _global_generator(device).manual_seed(clips.mix_seed(cfg.seed, epoch, world.rank, 4))
                sampler.set_steps(
                    clips.epoch_steps(
                        n, cfg.batch_size, seed=cfg.seed, epoch=epoch, rank=world.rank, world=world.size
                    )
                )
                sums = torch.zeros(3, dtype=torch.float64, device=device)
                batches = _batches(train, sampler, loader, self.train_mags, self.preset.audio, device)
                for (mags, positions), step in zip(batches, sampler.steps, strict=True):
                    seeds = clips.clip_seeds(cfg.seed, epoch, positions)
                    mags = _gain(mags, cfg.augment_gain_db, seeds)
                    with self._autocast():
                        recon, kl = objective(mags, seeds)
                    recon, kl = recon.float(), kl.float()
                    # Each rank sums its clips over the global batch; DDP averages over ranks, so
                    # the factor world.size makes the gradient the global batch's mean.
                    weights = torch.tensor(step.weights, device=device) / step.size
                    per_clip = recon + kl_weight * kl
                    loss = (weights * per_clip).sum() * world.size
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    sums += (
                        (torch.stack([per_clip, recon, kl]).detach() * weights * step.size)
                        .sum(dim=1)
                        .double()
                    )
                loss_, recon_, kl_ = (distributed.all_sum(sums, world) / n).tolist()
                if not math.isfinite(loss_):
                    raise SoundmorphError(
                        f"training diverged at epoch {epoch + 1} (loss {loss_}); lower --lr"
                    )
                held = (
                    holdout_loss(
                        self.model,
                        holdout,
                        self.preset,
                        kl_weight,
                        batch_size=cfg.batch_size,
                        world=world,
                        magnitudes=held_mags,
                    )
                    if holdout is not None and clips.size(holdout)
                    else math.nan
                )
                seconds = time.perf_counter() - tic
                row = EpochStats(epoch + 1, loss_, recon_, kl_, held, seconds, n / seconds)
                self.history.append(row)
                score = held if math.isfinite(held) else loss_
                if score < self.best:
                    self.best, self.best_epoch = score, epoch + 1
                    self.best_weights = self._snapshot()
                bar.set_postfix(loss=f"{loss_:.4g}", holdout=f"{held:.4g}", best=f"{self.best:.4g}")
                if (epoch + 1) % self.save_every == 0:
                    self._save_state(epoch + 1)
                if epoch + 1 - self.flushed_at >= BEST_FLUSH_EPOCHS:
                    self._flush_best()
                if on_epoch is not None:  # the disk holds this epoch's state or the one before
                    on_epoch(row)
        except KeyboardInterrupt:
            self.writer.wait()  # the state of the last finished epoch goes to disk
            self._flush_best()
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                self.writer.wait()  # what finished still reaches the disk
            raise
        finally:
            bar.close()
        if self.saved_epoch != len(self.history):
            self._save_state(len(self.history))
        self.writer.wait()
        self._flush_best()
        distributed.barrier(world)
        self.model.eval()
        return self.history
