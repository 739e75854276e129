"""The house at a glance: imports flow one way (from the faces down to the ground floor), and no room
grows past what one job needs.

The import graph is read from the source (every ``import`` and ``from ... import`` of the package,
relative ones resolved, lazy ones inside functions and ``TYPE_CHECKING`` blocks counted too: they are
dependencies all the same), never by importing the modules.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import soundmorph

PACKAGE = Path(soundmorph.__file__).parent
MAX_CLASS_LINES = 250  # a class longer than this does more than one job (issue 17)

# The ground floor: each may import only these modules of the package.
FLOORS = {
    "soundmorph.errors": set(),
    "soundmorph.limits": {"soundmorph.errors"},
    "soundmorph.config": {"soundmorph.errors", "soundmorph.limits"},
}
# The faces (the command line and the web page) call the API, read the ground floor, and the web
# page's own modules; the command line starts the web server.


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
FACES = {"soundmorph.cli", *(name for name in MODULES if name.startswith("soundmorph.web"))}
FACES_MAY_IMPORT = {"soundmorph", "soundmorph.api", *FLOORS, *FACES}


def imported(name: str) -> set[str]:
    """The package's modules that module ``name`` imports: ``from soundmorph.audio import phase``
    names the module soundmorph.audio.phase, ``from soundmorph.audio import read`` (a plain name)
    the package soundmorph.audio; relative imports are resolved against ``name``."""
    return _imported(name)


@cache
def _imported(name: str) -> set[str]:
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found |= {
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            }
    return {module for module in found if module in MODULES and module != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that starts and ends on the same module, or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            nxt = todo.pop()
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                stack.append((nxt, sorted(graph[nxt])))
                path.append(nxt)
                on_path.add(nxt)
    return None


def test_the_import_reader_resolves_modules_names_and_relative_imports(tmp_path: Path) -> None:
    assert "soundmorph.audio.io" in imported("soundmorph.audio")  # from soundmorph.audio.io import ...
    assert "soundmorph.audio.phase" in imported("soundmorph.grid")  # from soundmorph.audio import phase
    assert "soundmorph" in imported("soundmorph.cli")  # from soundmorph import __version__
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) in (
        ["a", "b", "c", "a"],
        ["b", "c", "a", "b"],
        ["c", "a", "b", "c"],
    )
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_is_acyclic() -> None:
    cycle = find_cycle({name: imported(name) for name in MODULES})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("floor", sorted(FLOORS))
def test_the_ground_floor_imports_only_what_lies_below_it(floor: str) -> None:
    extra = imported(floor) - FLOORS[floor]
    assert not extra, f"{floor} imports {sorted(extra)}; it may import only {sorted(FLOORS[floor])}"


@pytest.mark.parametrize("face", sorted(FACES))
def test_faces_import_only_the_api_and_the_ground_floor(face: str) -> None:
    extra = imported(face) - FACES_MAY_IMPORT
    assert not extra, f"{face} imports {sorted(extra)}; a face calls soundmorph.api only"


def class_lengths() -> list[tuple[int, str]]:
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                found.append((node.end_lineno - node.lineno + 1, f"{name}.{node.name}"))
    return sorted(found, reverse=True)


def test_no_class_is_longer_than_one_job_needs() -> None:
    lengths = class_lengths()
    assert any(name.endswith(".SpectrogramVAE") for _, name in lengths)  # the reader sees classes
    offenders = [f"{name}: {lines} lines" for lines, name in lengths if lines > MAX_CLASS_LINES]
    assert not offenders, f"classes over {MAX_CLASS_LINES} lines: " + "; ".join(offenders)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_its_one_job_first(name: str) -> None:
    """A module opens with a docstring whose first line names its job (a room with no name for
    its job tends to become a grab-bag)."""
    docstring = ast.get_docstring(ast.parse(MODULES[name].read_text()))
    assert docstring and docstring.split("\n")[0].strip(), f"{name} has no docstring naming its job"


def test_no_grab_bag_modules() -> None:
    bags = [name for name in MODULES if name.rsplit(".", 1)[-1] in {"utils", "util", "helpers", "misc"}]
    assert not bags, f"grab-bag modules: {bags}"


def statement_runs(run: int = 5, min_dump: int = 900) -> dict[str, list[str]]:
    """Every run of ``run`` consecutive statements (of any body) in the package and the bench, by
    the dump of their syntax trees (names included, so only a copy matches a copy), with where each
    occurs; runs whose dump is under ``min_dump`` characters (a few short lines) are left out."""
    found: dict[str, list[str]] = {}
    paths = [*MODULES.values(), *sorted((PACKAGE.parents[1] / "bench").glob("*.py"))]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if not isinstance(body, list) or len(body) < run:
                    continue
                for i in range(len(body) - run + 1):
                    dump = "".join(ast.dump(statement) for statement in body[i : i + run])
                    if len(dump) >= min_dump:
                        found.setdefault(dump, []).append(f"{path.name}:{body[i].lineno}")
    return found


def test_no_code_is_written_twice() -> None:
    """No run of five statements is copied from one place to another (in the package or the bench):
    a concept written twice drifts apart (issue 17 found the baselines in three places)."""
    copies = [places for places in statement_runs().values() if len(places) > 1]
    assert not copies, "copied code: " + "; ".join(" and ".join(places) for places in copies)


def test_the_copy_check_sees_a_copy() -> None:
    source = "def f(x):\n" + "".join(f"    y{k} = x * {k} + sum(range(x, x + {k}))\n" for k in range(6))
    tree = ast.parse(source + source.replace("def f", "def g"))
    bodies = [node.body for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    dumps = ["".join(ast.dump(s) for s in body[:5]) for body in bodies]
    assert dumps[0] == dumps[1] and len(dumps[0]) >= 900
