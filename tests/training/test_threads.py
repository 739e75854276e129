"""torch's CPU threads sleep rather than spin while they wait (soundmorph sets it before torch loads)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = "import os, soundmorph, torch; print(os.environ['OMP_WAIT_POLICY'])"


def _policy(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_passive_unless_the_user_chose() -> None:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy(base) == "PASSIVE"
    assert _policy(base | {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
