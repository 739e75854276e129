"""Putting bytes on disk, the one way soundmorph does it: check every target first, then write
each atomically.

Two rules keep a user's data safe:

* **Check before writing.** :func:`check_targets` looks at every path a command will write before
  the first byte goes out, so a command either writes all its files or none (a sweep never stops
  half-way because step 7 exists). A path is refused when it is empty, names a folder, a symbolic
  link, a device, a FIFO or a socket, or lies under a file or a place that cannot be written.
* **``force`` replaces only what soundmorph writes.** An existing file is replaced only with
  ``force``, only when it is a regular file, and only when its content is of the kind soundmorph
  would write there (a WAV for a WAV, a PNG for a PNG, ...). ``force`` never removes a folder:
  :func:`remove_owned` deletes the named regular files a model folder consists of, and nothing else.

:func:`atomic_write_bytes` writes into a temporary file beside the target that replaces it only
once complete (``os.replace``), so a crash or Ctrl-C never leaves half a file.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from soundmorph.errors import SoundmorphError

Kind = Literal["wav", "png", "json", "safetensors", "csv"]
SNIFF_BYTES = 64  # bytes read from an existing file to tell what kind it is
TEMP_SUFFIX = ".tmp"  # temporary files are ".{name}.XXXXXXXX.tmp" beside their target


@functools.cache
def _umask() -> int:
    """The process umask, so an atomically written file gets the permissions a plain one would."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class Target:
    """A file soundmorph is about to write, and the kind of content it will hold."""

    path: Path
    kind: Kind


def _sniff(path: Path, kind: Kind) -> bool:
    """Whether the regular file ``path`` holds content of ``kind`` (or nothing): what soundmorph
    would have written there."""
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return False
    if not head:
        return True  # an empty file holds nothing to lose
    if kind == "wav":
        return head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE"
    if kind == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if kind == "json":
        return head.lstrip()[:1] in (b"{", b"[")
    if kind == "safetensors":
        return len(head) > 8 and head[8:9] == b"{"
    return b"\0" not in head  # csv: text


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # a parent is a file: reported by _check_parent
        return None
    except OSError as error:
        raise SoundmorphError(f"{path}: cannot use ({error.strerror or error})") from None


def _check_parent(path: Path) -> None:
    """The nearest existing ancestor of ``path`` must be a folder this process can write in."""
    ancestor = path.parent
    while True:
        try:
            mode = os.stat(ancestor).st_mode  # follows links: a linked folder is a folder
            break
        except (FileNotFoundError, NotADirectoryError):
            if ancestor == ancestor.parent:
                return
            ancestor = ancestor.parent
        except OSError as error:
            raise SoundmorphError(f"{path}: cannot use {ancestor} ({error.strerror or error})") from None
    if not stat.S_ISDIR(mode):
        raise SoundmorphError(f"{path}: cannot write: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise SoundmorphError(f"{path}: cannot write in {ancestor} (read-only or no permission)")


def check_target(path: str | Path, kind: Kind, *, force: bool) -> Path:
    """``path`` as a Path if soundmorph may write ``kind`` content there, else a one-line error.

    Refused: an empty path; a folder, symbolic link, device, FIFO or socket (even with ``force``);
    an existing file without ``force``, or with ``force`` when it does not hold ``kind`` content;
    a path under a file or in a place that cannot be written.
    """
    if str(path) == "":
        raise SoundmorphError("the output path is empty; name a file")
    path = Path(path)
    info = _lstat(path)
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            hint = (
                "; name a file inside it" if stat.S_ISDIR(info.st_mode) else "; soundmorph never replaces one"
            )
            raise SoundmorphError(f"{path}: is {_describe(info.st_mode)}{hint}")
        if not force:
            raise SoundmorphError(f"{path}: exists (use --force to overwrite)")
        if not _sniff(path, kind):
            raise SoundmorphError(
                f"{path}: exists and is not a {kind.upper()} file; "
                "--force replaces only files soundmorph writes"
            )
    _check_parent(path)
    return path


def check_targets(targets: Iterable[Target], *, force: bool) -> list[Path]:
    """Check every target (see :func:`check_target`) before any is written; a path named twice
    (e.g. ``--plot`` equal to ``--out``) is refused. Returns the paths in order."""
    seen: set[str] = set()
    paths = []
    for target in targets:
        path = check_target(target.path, target.kind, force=force)
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            raise SoundmorphError(f"{path}: named twice as an output (e.g. --plot equal to --out)")
        seen.add(key)
        paths.append(path)
    return paths


def remove_owned(folder: Path, owned: Mapping[str, Kind]) -> list[Path]:
    """Delete the files named in ``owned`` (paths relative to ``folder``) and soundmorph's stale
    temporary files beside them, so that ``folder`` can be written afresh; returns what was removed.

    Only regular files whose content is of their kind are removed. Unknown files and subfolders
    stay; a subfolder of an owned file is removed only when it ends up empty. Everything is checked
    before anything is removed.

    Raises
    ------
    SoundmorphError
        If an owned name is a folder, link, device or FIFO, or holds content of another kind.
    """
    doomed: list[Path] = []
    for name, kind in owned.items():
        path = folder / name
        info = _lstat(path)
        if info is None:
            continue
        if not stat.S_ISREG(info.st_mode):
            raise SoundmorphError(
                f"{path}: is {_describe(info.st_mode)}; soundmorph removes only its own files"
            )
        if not _sniff(path, kind):
            raise SoundmorphError(f"{path}: not a {kind.upper()} file soundmorph wrote; move it away first")
        doomed.append(path)
    for name in owned:  # temporary files of an interrupted write: ".{name}.XXXXXXXX.tmp"
        path = folder / name
        if path.parent.is_dir() and not path.parent.is_symlink():
            doomed += [
                stale
                for stale in path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}")
                if stale.is_file() and not stale.is_symlink()
            ]
    for path in doomed:
        try:
            path.unlink()
        except OSError as error:
            raise SoundmorphError(f"{path}: cannot remove ({error.strerror or error})") from None
    folders = {(folder / name).parent for name in owned} - {folder}
    for parent in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            parent.rmdir()  # only succeeds when empty
    return doomed


def prepare_folder(
    folder: str | Path,
    owned: Mapping[str, Kind],
    *,
    force: bool,
    replaceable: bool,
    what: str = "soundmorph model folder",
) -> Path:
    """Make ready to write the folder of files ``owned`` (e.g. a model folder) at ``folder``.

    A missing or empty folder is used as it is. A folder with content is refused without
    ``force``; with ``force`` it is refused unless ``replaceable`` (the caller recognised it as one
    it wrote, e.g. a model folder by its ``config.json``), and then only the ``owned`` files are
    removed (see :func:`remove_owned`): the user's own files and subfolders stay.

    Raises
    ------
    SoundmorphError
        One line naming the problem: an empty path, a file, link or device at ``folder``, a folder
        that is not empty (without ``force``) or not one soundmorph wrote, a place that cannot be
        written.
    """
    if str(folder) == "":
        raise SoundmorphError("the output folder is empty; name a folder")
    folder = Path(folder)
    info = _lstat(folder)
    if info is None:
        _check_parent(folder)
        return folder
    if stat.S_ISLNK(info.st_mode) and folder.is_dir():
        info = os.stat(folder)  # a link to a folder is that folder
    if not stat.S_ISDIR(info.st_mode):
        raise SoundmorphError(f"{folder}: is {_describe(info.st_mode)}, not a folder")
    if not any(folder.iterdir()):
        _check_parent(folder / "x")
        return folder
    if not force:
        raise SoundmorphError(
            f"{folder}: exists and is not empty (use --force to replace, --resume to continue)"
        )
    if not replaceable:
        raise SoundmorphError(
            f"{folder}: not a {what}; --force replaces only one (choose a new or empty folder)"
        )
    _check_parent(folder / "x")
    remove_owned(folder, owned)
    return folder


def atomic_write_bytes(path: str | Path, data: bytes | Sequence[Any]) -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent folders; returns the path.

    ``data`` is bytes, or a sequence of buffers (bytes, memoryviews, numpy arrays) written one
    after the other: a large file assembled from parts is never copied into one object first.

    The last line of defence: whatever the caller checked, a folder, link, device or FIFO at
    ``path`` is never replaced.

    Raises
    ------
    SoundmorphError
        One line naming ``path`` when it cannot be written (a folder, no permission, disk full).
    """
    if str(path) == "":
        raise SoundmorphError("the output path is empty; name a file")
    path = Path(path)
    info = _lstat(path)
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise SoundmorphError(f"{path}: is {_describe(info.st_mode)}; soundmorph never replaces one")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SoundmorphError(f"{path}: cannot write: a parent is a file, not a folder") from None
    except NotADirectoryError:
        raise SoundmorphError(f"{path}: cannot write: a parent is a file, not a folder") from None
    except OSError as error:
        raise SoundmorphError(f"{path}: cannot create its folder ({error.strerror or error})") from None
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as error:
        raise SoundmorphError(f"{path}: cannot write in {path.parent} ({error.strerror or error})") from None
    try:
        parts: Sequence[Any] = [data] if isinstance(data, bytes) else data
        with os.fdopen(descriptor, "wb") as handle:
            for part in parts:
                handle.write(part)
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


def json_bytes(obj: Any) -> bytes:
    """``obj`` as standard JSON text (non-finite numbers as null)."""
    return (json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n").encode()


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as standard JSON (non-finite numbers as null), atomically."""
    return atomic_write_bytes(path, json_bytes(obj))
