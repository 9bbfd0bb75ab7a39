"""Reading inputs and writing outputs safely: the only way the package touches named files.

Outputs: a regular file is written to a new temporary file beside it (created
with ``O_EXCL``, so a planted symbolic link or file is never followed or
reused) and renamed over the target only when complete, so a reader never
sees half a file and a failed write (a full disk) leaves the old file as it
was. A target that exists and is not a regular file (``/dev/null``, a FIFO,
a terminal) is written in place instead: it is not replaced by a regular
file. A target that is a symbolic link is replaced by the new file; the file
it pointed to is left alone (a link planted in a shared folder must not
redirect an administrator's write), unless it leads to a FIFO or a character
device (``/dev/stdout``), which is written through. A block device or a
directory is refused.

Inputs: a named input is opened without blocking and must be a regular file
no larger than the caller's limit, so a FIFO, a device or a huge sparse file
is refused at once instead of hanging or exhausting memory.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import IO

from .errors import InputError, OutputError

__all__ = ["atomic_output", "open_regular_file", "read_regular_file", "write_atomically"]


def _mode_for_new_file() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file to write ``path``'s new content to; it becomes ``path`` on success.

    If the block raises, nothing is left behind and ``path`` is unchanged.
    """
    target = os.fspath(path)
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        # /dev/null, /dev/stdout, a FIFO: write into it, as a shell redirection would.
        with open(target, "wb") as special:
            yield special
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{target}: not a file that can be written (a directory or a device)")
    if st is not None and os.path.islink(target):
        st = None  # the link is replaced: its target's mode is not ours to copy
    folder = os.path.dirname(target) or "."
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder
    )
    try:
        mode = stat.S_IMODE(st.st_mode) if st is not None else _mode_for_new_file()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` as :func:`atomic_output` does."""
    with atomic_output(path) as out:
        out.write(data)


def open_regular_file(path: str | os.PathLike[str], what: str) -> IO[bytes]:
    """``path`` open for binary reading; :class:`InputError` unless it is a regular file.

    OSError (with the path) when it cannot be opened.
    """
    name = os.fspath(path)
    # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{name}: not a regular file (a {what} is expected)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular_file(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The content of ``path``, which must be a regular file of at most ``limit`` bytes.

    Raises :class:`InputError` naming ``what`` the file should have been, and
    OSError (with the path) when it cannot be opened.
    """
    name = os.fspath(path)
    with open_regular_file(name, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise InputError(
                f"{name}: {size} bytes, larger than any {what} ({limit} bytes at most)"
            )
        data = f.read(limit + 1)
        if len(data) > limit:  # it grew while being read
            raise InputError(f"{name}: larger than any {what} ({limit} bytes at most)")
        return data
