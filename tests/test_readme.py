"""The README stays true: its Python block runs (against a tiny model laid out as the demo leaves
it), every command of its shell blocks parses with the CLI's own parser, its links into
bench/README.md land on a heading, and it stays short enough to read."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from soundmorph import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 200


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks of ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def commands() -> list[list[str]]:
    """The arguments of every ``soundmorph ...`` line of the README's shell blocks (comments and
    redirections cut off)."""
    found = []
    for block in blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if ">" in words:
                words = words[: words.index(">")]
            if words and words[0].endswith("soundmorph"):
                found.append(words[1:])
    return found


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_is_short_and_has_what_a_user_needs() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    for heading in ("Set-up", "A tour of the CLI", "Python", "The page", "Presets", "Guarantees"):
        assert f"## {heading}" in text
    assert len(blocks("python")) == 1 and len(commands()) >= 10


def test_every_readme_command_parses() -> None:
    seen = set()
    for args in commands():
        parsed = cli.build_parser().parse_args(args)  # a usage error raises, naming the command
        seen.add(parsed.command)
    tour = {"list", "train", "evaluate", "morph", "sweep", "blend", "glide", "generate", "export", "serve"}
    assert tour <= seen


def test_links_into_the_bench_readme_land_on_headings() -> None:
    headings = re.findall(r"^#+ (.*)$", (ROOT / "bench" / "README.md").read_text(), flags=re.M)
    anchors = {slug(h) for h in headings}
    links = re.findall(r"\(bench/README\.md#([^)]+)\)", README.read_text())
    assert links and set(links) <= anchors, set(links) - anchors


def test_the_python_block_runs(
    tiny_model, loops_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's API block, as written, in a folder laid out as the demo leaves it (demo/model,
    demo/sounds), with a tiny model in place of the demo's."""
    shutil.copytree(tiny_model.folder, tmp_path / "demo" / "model", ignore=shutil.ignore_patterns("train"))
    shutil.copytree(loops_dir, tmp_path / "demo" / "sounds")
    monkeypatch.chdir(tmp_path)
    (code,) = blocks("python")
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    assert (tmp_path / "between.wav").stat().st_size > 0 and (tmp_path / "between.png").exists()
    assert (tmp_path / "model2" / "model.safetensors").exists()
