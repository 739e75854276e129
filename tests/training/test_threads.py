"""Importing soundmorph leaves the process's thread settings to the user: torch's default (threads
that spin while they wait) is the faster one on a quiet CPU; ``OMP_WAIT_POLICY=PASSIVE`` in the
environment is the user's choice on a CPU shared with other work (bench/README.md, "Threads")."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = "import os, soundmorph.api, torch; print(os.environ.get('OMP_WAIT_POLICY', '-'))"


def _policy(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_the_environment_is_the_users() -> None:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy(base) == "-"
    assert _policy(base | {"OMP_WAIT_POLICY": "PASSIVE"}) == "PASSIVE"
