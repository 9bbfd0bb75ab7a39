"""Unreadable, vanishing and changing files raise our own errors, naming path and reason."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

import exewhitelist.hashing
from exewhitelist import (
    CatalogError,
    ExewhitelistError,
    FileChangedError,
    FileReadError,
    NonconformantPEError,
    PEFormatError,
    SignatureError,
    TruncatedPEError,
    errors,
    hash_file,
)


def test_hierarchy() -> None:
    assert issubclass(FileReadError, ExewhitelistError) and issubclass(FileReadError, OSError)
    assert issubclass(FileChangedError, FileReadError)
    assert issubclass(PEFormatError, ExewhitelistError) and issubclass(PEFormatError, ValueError)
    assert issubclass(TruncatedPEError, PEFormatError)
    assert issubclass(NonconformantPEError, PEFormatError)
    assert issubclass(SignatureError, ExewhitelistError) and issubclass(SignatureError, ValueError)
    assert issubclass(CatalogError, SignatureError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.exe"
    with pytest.raises(FileReadError) as info:
        hash_file(path)
    assert info.value.path == str(path)
    assert info.value.errno == errno.ENOENT
    assert str(info.value) == f"{path}: No such file or directory"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(FileReadError, match="Is a directory"):
        hash_file(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # open(O_RDONLY) on a FIFO with no writer would block: hash_file opens with
    # O_NONBLOCK and refuses it from fstat() before reading (test_scan checks the
    # no-writer case).  A writer end keeps this test from hanging if that regresses.
    writer = os.open(fifo, os.O_RDWR)
    try:
        with pytest.raises(FileReadError, match="not a regular file"):
            hash_file(fifo)
    finally:
        os.close(writer)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.exe"
    path.write_bytes(b"MZ")
    path.chmod(0)

    def deny(*_args: object, **_kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as patch:
        if os.geteuid() == 0:
            # root reads mode-000 files (CI runs as root): make open() fail as it would.
            patch.setattr(os, "open", deny)
        with pytest.raises(FileReadError) as info:
            hash_file(path)
    assert info.value.errno == errno.EACCES
    assert str(info.value) == f"{path}: Permission denied"


# Both read paths: the plain loop, and the read-ahead thread of large files.
SIZES = [3 << 20, exewhitelist.hashing.PIPELINE_THRESHOLD + (3 << 20)]


@pytest.mark.parametrize("size", SIZES)
def test_read_error_mid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    path = tmp_path / "disk.bin"
    path.write_bytes(os.urandom(size))
    real = exewhitelist.hashing._read_chunk
    calls = 0

    def failing(reader: object, view: memoryview) -> tuple[int, bool]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.EIO, "Input/output error")
        return real(reader, view)  # type: ignore[arg-type]

    monkeypatch.setattr(exewhitelist.hashing, "_read_chunk", failing)
    with pytest.raises(FileReadError, match="Input/output error"):
        hash_file(path)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("change", [-1000, +1000])
def test_file_changing_size_while_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: int, size: int
) -> None:
    """A file truncated or grown between fstat() and EOF is reported, not hashed."""
    path = tmp_path / "moving.bin"
    path.write_bytes(bytes(size))
    real = exewhitelist.hashing._read_chunk
    calls = 0

    def racing(reader: object, view: memoryview) -> tuple[int, bool]:
        nonlocal calls
        calls += 1
        if calls == 2:
            os.truncate(path, size + change)
        return real(reader, view)  # type: ignore[arg-type]

    monkeypatch.setattr(exewhitelist.hashing, "_read_chunk", racing)
    with pytest.raises(FileChangedError, match="changed while being read"):
        hash_file(path)


def _drawn_tree() -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """The tree in errors.py's docstring: class name → (drawn parent, builtins it is "also")."""
    lines = (errors.__doc__ or "").split("::", 1)[1].split("\n\n")[1].splitlines()
    indent = len(lines[0]) - len(lines[0].lstrip())
    tree: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    ancestors: list[str] = []
    for line in lines:
        drawn = re.match(r"([ │]*)(?:[├└]── )?(\w+)(?: \(also (\w+)\))?", line[indent:])
        assert drawn, line
        prefix, name, also = drawn.groups()
        # Each level of nesting is 4 columns of "│   " or spaces before "├── ".
        depth = len(prefix) // 4 + 1 if ancestors else 0
        del ancestors[depth:]
        tree[name] = (ancestors[-1] if ancestors else None, (also,) if also else ())
        ancestors.append(name)
    return tree


def test_docstring_tree_is_the_class_hierarchy() -> None:
    tree = _drawn_tree()
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, BaseException)
    }
    assert set(tree) == set(classes)
    for name, (parent, also) in tree.items():
        cls = classes[name]
        ours = [b.__name__ for b in cls.__bases__ if b.__module__ == errors.__name__]
        others = tuple(b.__name__ for b in cls.__bases__ if b.__module__ != errors.__name__)
        assert ours == ([parent] if parent else []), name
        assert others == (also if parent else ("Exception",)), name
