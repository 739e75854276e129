"""Atomic file writes: the one way soundmorph puts bytes on disk.

A temporary file beside the target replaces it only once complete (``os.replace``), so a crash
or Ctrl-C never leaves half a file, and readers see the old file or the new one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from soundmorph.errors import SoundmorphError


@functools.cache
def _umask() -> int:
    """The process umask, so an atomically written file gets the permissions a plain one would."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent folders; returns the path.

    Raises
    ------
    SoundmorphError
        One line naming ``path`` when it cannot be written (a folder, no permission, disk full).
    """
    path = Path(path)
    if path.is_dir():
        raise SoundmorphError(f"{path}: is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise SoundmorphError(f"{path}: cannot write ({error.strerror or error})") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates files readable by their owner only
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError):
            raise SoundmorphError(f"{path}: cannot write ({error.strerror or error})") from None
        raise
    return path


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (e.g. the -inf dB of a perfect match) as None: standard
    JSON (RFC 8259) has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as standard JSON (non-finite numbers as null), atomically."""
    return atomic_write_bytes(path, (json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n").encode())
