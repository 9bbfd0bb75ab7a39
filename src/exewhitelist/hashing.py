"""File and Authenticode digests, all computed in one pass over the file.

The algorithm is the canonical linear one of ``docs/hashing.md``: hash the file
from its first byte to the certificate table (or to the end of the file when
there is no valid table), skipping only the CheckSum field and the certificate
table directory entry, then zero-pad to a multiple of 8 bytes as Windows does.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from dataclasses import dataclass
from typing import Any

from .errors import FileChangedError, FileReadError, PEFormatError
from .pe import MAX_IMAGE_SIZE, Anomaly, PELayout, looks_like_pe, parse_layout

__all__ = ["FileHashes", "PEInfo", "hash_file"]

CHUNK_SIZE = 1 << 20
"""Read size: large enough to amortise system calls, small enough to stay in cache."""

_IMAGE_FILE_DLL = 0x2000


@dataclass(frozen=True)
class PEInfo:
    """Facts about a PE image that a whitelist author looks at."""

    format: str
    """``"PE32"`` or ``"PE32+"``."""
    machine: str
    """``amd64``, ``i386``, ``arm64``... or the hex value when unknown."""
    subsystem: int
    is_dll: bool
    sections: int
    certificate_entries: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "machine": self.machine,
            "subsystem": self.subsystem,
            "dll": self.is_dll,
            "sections": self.sections,
            "certificate_entries": self.certificate_entries,
        }


@dataclass(frozen=True)
class FileHashes:
    """The digests of one file. Hex strings are lowercase.

    For a PE image (``pe`` is set) the Authenticode and first-page digests are
    set too.  For any other file, including one that starts like a PE but that
    Windows would not Authenticode-hash (``pe_error`` says why), only ``sha256``
    is: that is the digest Windows falls back to, and the one a rule must use.
    """

    path: str
    size: int
    sha256: str
    pe: PEInfo | None = None
    authenticode_sha256: str | None = None
    authenticode_sha1: str | None = None
    authenticode_sha256_unpadded: str | None = None
    """Without the zero padding to 8 bytes (what lief, signify and UEFI compute)."""
    page_sha256: str | None = None
    page_sha1: str | None = None
    signed: bool = False
    """An embedded certificate table is present and passes the validity gate."""
    anomalies: tuple[Anomaly, ...] = ()
    pe_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON record of ``exewhitelist hash --json`` (keys always present)."""
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "pe": self.pe.to_json() if self.pe else None,
            "authenticode_sha256": self.authenticode_sha256,
            "authenticode_sha1": self.authenticode_sha1,
            "authenticode_sha256_unpadded": self.authenticode_sha256_unpadded,
            "page_sha256": self.page_sha256,
            "page_sha1": self.page_sha1,
            "signed": self.signed,
            "anomalies": [a.value for a in self.anomalies],
            "pe_error": self.pe_error,
        }


def _feed(
    hashers: tuple[Any, ...],
    ranges: tuple[tuple[int, int], ...],
    chunk: memoryview,
    pos: int,
) -> None:
    end = pos + len(chunk)
    for start, stop in ranges:
        if stop <= pos or start >= end:
            continue
        piece = chunk[max(start, pos) - pos : min(stop, end) - pos]
        for h in hashers:
            h.update(piece)


def hash_file(path: str | os.PathLike[str]) -> FileHashes:
    """Compute the flat SHA-256 and, for a PE image, its Authenticode digests.

    The file is read once, in chunks; only the small header structures are
    read a second time when they lie beyond the first chunk.  Raises
    :class:`~exewhitelist.errors.FileReadError` when the file cannot be read
    (naming the path and the OS reason) and its subclass
    :class:`~exewhitelist.errors.FileChangedError` when it changed size while
    being read.  A malformed PE never raises: see ``pe_error``.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise FileReadError(name, e.strerror or str(e), e.errno) from e
    try:
        return _hash_fd(fd, name)
    except OSError as e:
        if isinstance(e, FileReadError):
            raise
        raise FileReadError(name, e.strerror or str(e), e.errno) from e
    finally:
        os.close(fd)


def _hash_fd(fd: int, name: str) -> FileHashes:
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise FileReadError(name, "Is a directory", 21)
    if not stat.S_ISREG(st.st_mode):
        raise FileReadError(name, "not a regular file")
    size = st.st_size
    reader = io.FileIO(fd, closefd=False)
    view = memoryview(bytearray(CHUNK_SIZE))
    first = _read_chunk(reader, view)
    head = view[:first]

    def read_at(offset: int, length: int) -> bytes:
        if offset + length <= first:
            return bytes(head[offset : offset + length])
        if offset >= size:
            return b""
        return os.pread(fd, min(length, size - offset), offset)

    layout: PELayout | None = None
    anomalies: tuple[Anomaly, ...] = ()
    pe_error = None
    if size > MAX_IMAGE_SIZE:
        if looks_like_pe(bytes(head[:2]), size):
            anomalies = (Anomaly.FILE_OVER_4GIB,)
            pe_error = "file is larger than 4 GiB: Authenticode offsets are 32-bit"
    elif looks_like_pe(bytes(head[:2]), size):
        try:
            layout = parse_layout(read_at, size)
        except PEFormatError as e:
            anomalies = (Anomaly(e.anomaly),)
            pe_error = e.message

    flat = hashlib.sha256()
    auth: tuple[Any, ...] = ()
    page: tuple[Any, ...] = ()
    auth_ranges: tuple[tuple[int, int], ...] = ()
    page_ranges: tuple[tuple[int, int], ...] = ()
    if layout is not None:
        auth = (hashlib.sha256(), hashlib.sha1())
        page = (hashlib.sha256(), hashlib.sha1())
        auth_ranges = layout.authenticode_ranges()
        page_ranges = layout.first_page_ranges(size)

    pos = 0
    n = first
    while n:
        chunk = view[:n]
        flat.update(chunk)
        if layout is not None:
            _feed(auth, auth_ranges, chunk, pos)
            if pos < layout.page_size:
                _feed(page, page_ranges, chunk, pos)
        pos += n
        n = _read_chunk(reader, view)
    if pos != size:
        raise FileChangedError(
            name, f"file changed while being read: size was {size}, read {pos} bytes"
        )

    if layout is None:
        return FileHashes(
            path=name, size=size, sha256=flat.hexdigest(), anomalies=anomalies, pe_error=pe_error
        )

    unpadded = auth[0].copy().hexdigest()
    zeros = bytes(layout.padding)
    for h in auth:
        h.update(zeros)
    page_zeros = bytes(layout.page_size - layout.first_page_end(size))
    for h in page:
        h.update(page_zeros)
    cert = layout.certificate_table
    return FileHashes(
        path=name,
        size=size,
        sha256=flat.hexdigest(),
        pe=PEInfo(
            format=layout.format,
            machine=layout.machine_name,
            subsystem=layout.subsystem,
            is_dll=bool(layout.characteristics & _IMAGE_FILE_DLL),
            sections=len(layout.sections),
            certificate_entries=cert.entries if cert else 0,
        ),
        authenticode_sha256=auth[0].hexdigest(),
        authenticode_sha1=auth[1].hexdigest(),
        authenticode_sha256_unpadded=unpadded,
        page_sha256=page[0].hexdigest(),
        page_sha1=page[1].hexdigest(),
        signed=layout.signed,
        anomalies=layout.anomalies,
    )


def _read_chunk(reader: io.FileIO, view: memoryview) -> int:
    """Fill ``view`` as far as the file allows; return the byte count (0 at EOF)."""
    total = 0
    while total < len(view):
        n = reader.readinto(view[total:])
        if not n:
            break
        total += n
    return total
