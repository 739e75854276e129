"""Several processes (``torchrun``): who this process is, collective sums, and rank-0-only work.

``torchrun --standalone --nproc_per_node N -m soundmorph train ...`` starts N copies of the CLI with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set. :func:`init_from_env` joins them into one process group
(NCCL on CUDA, gloo on the CPU); without those variables everything here is a no-op for one process,
so the single-process path is the same code with ``world.size == 1``.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist
from torch import nn

from soundmorph.errors import SoundmorphError

_T = TypeVar("_T")
TIMEOUT = datetime.timedelta(minutes=30)  # a collective waits this long (e.g. rank 0 building a cache)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # index on this machine: the GPU it uses

    @property
    def is_main(self) -> bool:
        """The process that writes files and prints (rank 0)."""
        return self.rank == 0


def current() -> World:
    """The world this process belongs to (one process when no group was joined)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def init_from_env(device: str | torch.device | None = None) -> World:
    """Join the process group that ``torchrun`` describes in the environment, once.

    Returns the one-process world when ``WORLD_SIZE`` is unset or 1. Uses NCCL when training on
    CUDA and gloo otherwise; on CUDA each process takes the GPU of its ``LOCAL_RANK``.
    """
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    if not dist.is_available():
        raise SoundmorphError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    atexit.register(_leave)
    return current()


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device_for(world: World, requested: torch.device) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` when training on CUDA with several processes."""
    if world.size > 1 and requested.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return requested


def all_sum(values: torch.Tensor, world: World) -> torch.Tensor:
    """``values`` summed over every process (in place; returned)."""
    if world.size > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def on_main(world: World, job: Callable[[], _T]) -> _T:
    """Run ``job`` on rank 0 only and give its result (or its one-line error) to every rank.

    For work that must happen once, such as checking the output folder or building the cache: the
    other ranks wait, and fail with the same message when rank 0 fails instead of hanging.
    """
    if world.size == 1:
        return job()
    box: list[object] = [None]
    if world.is_main:
        try:
            box[0] = ("ok", job())
        except SoundmorphError as error:
            box[0] = ("error", str(error))
    dist.broadcast_object_list(box, src=0)
    kind, value = cast(tuple[str, Any], box[0])
    if kind == "error":
        raise SoundmorphError(str(value))
    return cast(_T, value)


def wrap(module: nn.Module, world: World) -> nn.Module:
    """``module`` in DistributedDataParallel when there are several processes (its parameters are
    broadcast from rank 0, so every rank starts from rank 0's initialisation)."""
    if world.size == 1:
        return module
    device = next(module.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)
