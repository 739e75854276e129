"""Tests for soundmorph.files: what may be written where, and what --force may replace."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from soundmorph import files
from soundmorph.errors import SoundmorphError

WAV_HEAD = b"RIFF\x24\x00\x00\x00WAVEfmt "
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


def refused(path: str | Path, kind: files.Kind = "wav", *, force: bool = True) -> str:
    with pytest.raises(SoundmorphError) as caught:
        files.check_target(path, kind, force=force)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_new_file_in_a_new_folder_may_be_written(tmp_path: Path) -> None:
    assert files.check_target(tmp_path / "a" / "b" / "x.wav", "wav", force=False) == tmp_path / "a/b/x.wav"


def test_an_empty_path_is_refused() -> None:
    assert "empty" in refused("")


def test_an_existing_file_needs_force(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(WAV_HEAD)
    assert "--force" in refused(tmp_path / "x.wav", force=False)
    files.check_target(tmp_path / "x.wav", "wav", force=True)


@pytest.mark.parametrize(("kind", "head"), [("wav", WAV_HEAD), ("png", PNG_HEAD), ("json", b' {"a": 1}')])
def test_force_replaces_only_content_of_the_kind_soundmorph_writes(
    tmp_path: Path, kind: files.Kind, head: bytes
) -> None:
    path = tmp_path / f"x.{kind}"
    path.write_bytes(head)
    files.check_target(path, kind, force=True)
    path.write_bytes(b"my own notes")
    assert f"not a {kind.upper()}" in refused(path, kind)


def test_force_may_replace_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "x.wav").touch()
    files.check_target(tmp_path / "x.wav", "wav", force=True)


def test_a_folder_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "x.wav").mkdir()
    assert "folder" in refused(tmp_path / "x.wav")


def test_a_fifo_is_never_replaced(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.wav")
    assert "FIFO" in refused(tmp_path / "x.wav")
    with pytest.raises(SoundmorphError, match="FIFO"):
        files.atomic_write_bytes(tmp_path / "x.wav", b"data")


def test_a_device_is_never_replaced() -> None:
    assert "device" in refused("/dev/null")


def test_a_socket_is_never_replaced(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "s.wav"))
        assert "socket" in refused(tmp_path / "s.wav")
    finally:
        server.close()


@pytest.mark.parametrize("dangling", [False, True])
def test_a_symbolic_link_is_never_replaced(tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "elsewhere.wav"
    if not dangling:
        target.write_bytes(WAV_HEAD)
    (tmp_path / "link.wav").symlink_to(target)
    assert "symbolic link" in refused(tmp_path / "link.wav")
    with pytest.raises(SoundmorphError, match="symbolic link"):
        files.atomic_write_bytes(tmp_path / "link.wav", b"data")
    assert target.exists() != dangling
    if not dangling:
        assert target.read_bytes() == WAV_HEAD


def test_a_parent_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("hi")
    message = refused(tmp_path / "notes" / "deeper" / "x.wav")
    assert "notes is a file, not a folder" in message


def test_a_path_named_twice_is_refused(tmp_path: Path) -> None:
    targets = [files.Target(tmp_path / "x.wav", "wav"), files.Target(tmp_path / "." / "x.wav", "png")]
    with pytest.raises(SoundmorphError, match="named twice"):
        files.check_targets(targets, force=True)


def test_atomic_write_names_a_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("hi")
    with pytest.raises(SoundmorphError, match="parent is a file"):
        files.atomic_write_bytes(tmp_path / "notes" / "x.wav", b"data")


OWNED: dict[str, files.Kind] = {
    "config.json": "json",
    "w.safetensors": "safetensors",
    "train/state.json": "json",
}


def make_folder(folder: Path) -> None:
    (folder / "train").mkdir(parents=True)
    (folder / "config.json").write_text('{"format_version": 1}')
    (folder / "w.safetensors").write_bytes(b"\x02\0\0\0\0\0\0\0{}")
    (folder / "train" / "state.json").write_text("{}")
    (folder / "train" / ".state.json.abc123.tmp").write_text("half")


def test_remove_owned_removes_only_the_named_files(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "mine.txt").write_text("keep")
    (tmp_path / "train" / "my_notes.txt").write_text("keep")
    files.remove_owned(tmp_path, OWNED)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "mine.txt",
        "train",
        "train/my_notes.txt",
    ]


def test_remove_owned_removes_an_emptied_subfolder(tmp_path: Path) -> None:
    make_folder(tmp_path)
    files.remove_owned(tmp_path, OWNED)
    assert list(tmp_path.iterdir()) == []


def test_remove_owned_checks_everything_before_removing_anything(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "train" / "state.json").unlink()
    (tmp_path / "train" / "state.json").mkdir()  # a folder where a file of ours should be
    with pytest.raises(SoundmorphError, match="folder"):
        files.remove_owned(tmp_path, OWNED)
    assert (tmp_path / "config.json").exists()


def test_prepare_folder(tmp_path: Path) -> None:
    assert files.prepare_folder(tmp_path / "new", OWNED, force=False, replaceable=False) == tmp_path / "new"
    make_folder(tmp_path / "model")
    with pytest.raises(SoundmorphError, match="--force"):
        files.prepare_folder(tmp_path / "model", OWNED, force=False, replaceable=True)
    with pytest.raises(SoundmorphError, match="not a soundmorph model folder"):
        files.prepare_folder(tmp_path / "model", OWNED, force=True, replaceable=False)
    assert (tmp_path / "model" / "config.json").exists()
    files.prepare_folder(tmp_path / "model", OWNED, force=True, replaceable=True)
    assert list((tmp_path / "model").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(SoundmorphError, match="not a folder"):
        files.prepare_folder(tmp_path / "file", OWNED, force=True, replaceable=True)
    with pytest.raises(SoundmorphError, match="empty"):
        files.prepare_folder("", OWNED, force=True, replaceable=True)
