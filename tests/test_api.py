"""The API is the face: everything it lists exists, and the CLI and the web page import nothing
else from the package (except error and config types)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import soundmorph
from soundmorph import api

PACKAGE = Path(soundmorph.__file__).parent
FACES = [PACKAGE / "cli.py", *sorted((PACKAGE / "web").glob("*.py"))]
ALLOWED = {
    "soundmorph",
    "soundmorph.api",
    "soundmorph.errors",
    "soundmorph.limits",
    "soundmorph.config",
    "soundmorph.web.server",
}
# the ground floor (errors, limits, config) may be read by anyone
ALLOWED_WEB = {"soundmorph.web.state"}  # the web page's own modules


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported_modules(path: Path) -> set[str]:
    """Every soundmorph module ``path`` imports (``from soundmorph import x`` counts as soundmorph.x
    when x is a module, as soundmorph when it is a plain name such as ``__version__``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("soundmorph")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("soundmorph"):
            module = node.module or ""
            found |= {f"{module}.{a.name}" if is_module(f"{module}.{a.name}") else module for a in node.names}
    return found


def test_the_import_check_sees_modules() -> None:
    assert (
        is_module("soundmorph.audio") and is_module("soundmorph.audio.io") and not is_module("soundmorph.x")
    )


@pytest.mark.parametrize("face", FACES, ids=lambda p: p.name)
def test_faces_import_only_the_api(face: Path) -> None:
    assert imported_modules(face) <= ALLOWED | ALLOWED_WEB, face


def test_everything_the_api_lists_exists() -> None:
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing
    assert {"SoundModel", "RenderOptions", "load", "train", "evaluate", "demo", "list_sounds"} <= set(
        api.__all__
    )
