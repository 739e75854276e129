"""Per-file jobs in worker processes: decoding, tempo analysis, putting clips on a grid, synthesis."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from tqdm import tqdm

_In = TypeVar("_In")
_Out = TypeVar("_Out")
MAX_WORKERS = 8  # worker processes at most, whatever the CPU count


@contextlib.contextmanager
def imap(
    job: Callable[[_In], _Out],
    items: Sequence[_In],
    *,
    workers: int | None = None,
    chunksize: int = 4,
    desc: str = "",
    unit: str = "file",
    progress: bool = False,
) -> Iterator[Iterator[_Out]]:
    """``job`` of each of ``items``, in order, as an iterator (with a progress bar when ``progress``).

    ``job`` runs in up to ``workers`` processes (default: the CPU count, at most
    :data:`MAX_WORKERS`; forked on Linux, so it must be a module-level function), or in this process
    when one is enough. The pool closes when the ``with`` block ends.
    """
    count = max(1, min(workers or min(os.cpu_count() or 1, MAX_WORKERS), len(items)))
    with contextlib.ExitStack() as stack:
        if count > 1:
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            pool = stack.enter_context(context.Pool(count))
            results: Iterator[_Out] = pool.imap(job, items, chunksize=chunksize)
        else:
            results = map(job, items)
        yield iter(tqdm(results, total=len(items), unit=unit, desc=desc, disable=not progress, delay=1.0))
