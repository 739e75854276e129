"""Per-file jobs in worker processes: results in order, in this process when one worker is enough."""

from __future__ import annotations

import os

import pytest

from soundmorph import parallel


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_order(workers: int) -> None:
    with parallel.imap(_square_and_pid, list(range(20)), workers=workers) as results:
        out = list(results)
    assert [square for square, _ in out] == [x * x for x in range(20)]
    pids = {pid for _, pid in out}
    assert (pids == {os.getpid()}) == (workers == 1)


def test_no_items_and_a_job_that_fails() -> None:
    with parallel.imap(_square_and_pid, [], workers=4) as results:
        assert list(results) == []
    with pytest.raises(TypeError), parallel.imap(_square_and_pid, ["a", 2], workers=2) as results:
        list(results)
