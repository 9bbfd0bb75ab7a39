"""File and Authenticode digests, all computed in one pass over the file.

The algorithm is the canonical linear one of ``docs/hashing.md``: hash the file
from its first byte to the certificate table (or to the end of the file when
there is no valid table), skipping only the CheckSum field and the certificate
table directory entry, then zero-pad to a multiple of 8 bytes as Windows does.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import queue
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .catalog import CatalogMatch
from .errors import FileChangedError, FileReadError, PEFormatError
from .pe import (
    MAX_IMAGE_SIZE,
    Anomaly,
    CertificateTable,
    PELayout,
    ReadAt,
    looks_like_pe,
    parse_layout,
)
from .signatures import MAX_TABLE_SIZE, ParsedTable, Signature, parse_table

__all__ = [
    "PIPELINE_THRESHOLD",
    "FileHashes",
    "HashedFile",
    "PEInfo",
    "authenticode_digest",
    "hash_file",
    "hash_open_file",
    "open_file",
]

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
"""O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular)."""

_CHUNK_SIZE = 1 << 20
"""Read size: large enough to amortise system calls, small enough to stay in cache."""

PIPELINE_THRESHOLD = 8 * _CHUNK_SIZE
"""Files larger than this are read by a second thread while the first one hashes:
the copy out of the page cache then costs no wall time (hashlib releases the GIL)."""

_PIPELINE_BUFFERS = 3

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
    signatures: tuple[Signature, ...] | None = ()
    """Every embedded signature, in file order, nested ones after their parent (see
    ``docs/signatures.md``); None when they were not looked at (``scan`` without them)."""
    catalog: CatalogMatch | None = None
    """The catalog file that lists this file's digest, when a scan was given catalogs."""

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
            "signatures": None
            if self.signatures is None
            else [s.to_json() for s in self.signatures],
            "catalog": self.catalog.to_json() if self.catalog else None,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> FileHashes:
        """The inverse of :meth:`to_json` (for records this version wrote)."""
        pe = record["pe"]
        return cls(
            path=record["path"],
            size=record["size"],
            sha256=record["sha256"],
            pe=None
            if pe is None
            else PEInfo(
                format=pe["format"],
                machine=pe["machine"],
                subsystem=pe["subsystem"],
                is_dll=pe["dll"],
                sections=pe["sections"],
                certificate_entries=pe["certificate_entries"],
            ),
            authenticode_sha256=record["authenticode_sha256"],
            authenticode_sha1=record["authenticode_sha1"],
            authenticode_sha256_unpadded=record["authenticode_sha256_unpadded"],
            page_sha256=record["page_sha256"],
            page_sha1=record["page_sha1"],
            signed=record["signed"],
            anomalies=tuple(Anomaly(a) for a in record["anomalies"]),
            pe_error=record["pe_error"],
            signatures=None
            if record["signatures"] is None
            else tuple(Signature.from_json(s) for s in record["signatures"]),
            catalog=CatalogMatch.from_json(record["catalog"]) if record["catalog"] else None,
        )


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
    """Compute the flat SHA-256 and, for a PE image, its Authenticode digests and signatures.

    The file is read once, in chunks; only the small header structures are
    read a second time when they lie beyond the first chunk.  Raises
    :class:`~exewhitelist.errors.FileReadError` when the file cannot be read
    (naming the path and the OS reason) and its subclass
    :class:`~exewhitelist.errors.FileChangedError` when its size or
    modification time changed while it was being read.  A malformed PE never
    raises: see ``pe_error``.
    """
    name = os.fspath(path)
    fd = open_file(name)
    try:
        return hash_open_file(fd, name).hashes
    finally:
        os.close(fd)


def open_file(name: str, *, follow_symlinks: bool = True) -> int:
    """Open ``name`` for :func:`hash_open_file`; :class:`FileReadError` when it cannot be."""
    flags = _OPEN_FLAGS if follow_symlinks else _OPEN_FLAGS | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(name, flags)
    except OSError as e:
        raise FileReadError(name, e.strerror or str(e), e.errno) from e


@dataclass(frozen=True)
class HashedFile:
    """What :func:`hash_open_file` learnt about one open file (internal to the package)."""

    hashes: FileHashes
    stat: os.stat_result
    """``fstat`` of the descriptor before reading; it was the same after the last read."""
    layout: PELayout | None


def hash_open_file(fd: int, name: str, *, signatures: bool = True) -> HashedFile:
    """:func:`hash_file` on a descriptor the caller opened (and closes), at offset 0.

    Without ``signatures`` the certificate table is not parsed (``signatures`` None).
    """
    d = _digest_open(
        fd,
        name,
        flat=True,
        authenticode=("sha256", "sha1"),
        first_page=("sha256", "sha1"),
        signatures=signatures,
    )
    layout = d.layout
    if layout is None:
        hashes = FileHashes(
            path=name,
            size=d.size,
            sha256=d.flat,
            anomalies=d.anomalies,
            pe_error=d.pe_error,
            signatures=() if signatures else None,
        )
        return HashedFile(hashes, d.stat, None)
    cert = layout.certificate_table
    hashes = FileHashes(
        path=name,
        size=d.size,
        sha256=d.flat,
        pe=PEInfo(
            format=layout.format,
            machine=layout.machine_name,
            subsystem=layout.subsystem,
            is_dll=bool(layout.characteristics & _IMAGE_FILE_DLL),
            sections=len(layout.sections),
            certificate_entries=cert.entries if cert else 0,
        ),
        authenticode_sha256=d.authenticode["sha256"],
        authenticode_sha1=d.authenticode["sha1"],
        authenticode_sha256_unpadded=d.unpadded_sha256,
        page_sha256=d.first_page["sha256"],
        page_sha1=d.first_page["sha1"],
        signed=layout.signed,
        anomalies=layout.anomalies,
        signatures=None
        if not signatures
        else d.signatures.verify(d.authenticode)
        if d.signatures
        else (),
    )
    return HashedFile(hashes, d.stat, layout)


def authenticode_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Only the Authenticode digest of a PE image (hex), with ``algorithm`` from hashlib.

    The cheapest way to get the one number a hash rule needs.  Raises
    :class:`~exewhitelist.errors.PEFormatError` when the file is not a PE
    image that Windows would Authenticode-hash (its rule then uses the flat
    SHA-256: see :func:`hash_file`), and :class:`FileReadError` as
    :func:`hash_file` does.
    """
    name = os.fspath(path)
    fd = open_file(name)
    try:
        d = _digest_open(
            fd, name, flat=False, authenticode=(algorithm,), first_page=(), signatures=False
        )
    finally:
        os.close(fd)
    if d.layout is None:
        raise PEFormatError(d.pe_error or f"{name}: not a PE image")
    return d.authenticode[algorithm]


@dataclass(frozen=True)
class _Digests:
    stat: os.stat_result
    size: int
    flat: str
    layout: PELayout | None
    anomalies: tuple[Anomaly, ...]
    pe_error: str | None
    authenticode: dict[str, str]
    unpadded_sha256: str | None
    first_page: dict[str, str]
    signatures: ParsedTable | None = None
    """The parsed certificate table, when asked for and the file has a valid one."""


def _digest_open(
    fd: int,
    name: str,
    *,
    flat: bool,
    authenticode: tuple[str, ...],
    first_page: tuple[str, ...],
    signatures: bool,
) -> _Digests:
    try:
        return _digest_fd(fd, name, flat, authenticode, first_page, signatures)
    except FileReadError:
        raise
    except OSError as e:
        raise FileReadError(name, e.strerror or str(e), e.errno) from e


class _ThreadBuffer(threading.local):
    """One read buffer per thread, reused across files: no 1 MiB allocation per file."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_CHUNK_SIZE))


_buffer = _ThreadBuffer()


def _new_hasher(algorithm: str) -> Any:
    # SHA-1 is what WDAC and catalog files still match on, not a security choice here.
    return hashlib.new(algorithm, usedforsecurity=algorithm != "sha1")


def _digest_fd(
    fd: int,
    name: str,
    want_flat: bool,
    authenticode: tuple[str, ...],
    first_page: tuple[str, ...],
    want_signatures: bool,
) -> _Digests:
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise FileReadError(name, os.strerror(errno.EISDIR), errno.EISDIR)
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or a device could block forever or never end.
        raise FileReadError(name, "not a regular file")
    size = st.st_size
    reader = io.FileIO(fd, closefd=False)
    view = _buffer.view
    first, eof = _read_chunk(reader, view)
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
    if looks_like_pe(bytes(head[:2]), size):
        if size > MAX_IMAGE_SIZE:
            anomalies = (Anomaly.FILE_OVER_4GIB,)
            pe_error = "file is larger than 4 GiB: Authenticode offsets are 32-bit"
        else:
            try:
                layout = parse_layout(read_at, size)
            except PEFormatError as e:
                anomalies = (Anomaly(e.anomaly),)
                pe_error = e.message

    parsed = None
    table = layout.certificate_table if layout is not None else None
    if want_signatures and table is not None and table.valid:
        parsed = _read_signatures(table, read_at)
        # The digests the signatures were made with, from this same read of the file.
        authenticode += tuple(sorted(parsed.algorithms - set(authenticode)))

    flat = hashlib.sha256() if want_flat else None
    auth: tuple[Any, ...] = ()
    page: tuple[Any, ...] = ()
    auth_ranges: tuple[tuple[int, int], ...] = ()
    page_ranges: tuple[tuple[int, int], ...] = ()
    page_size = 0
    if layout is not None:
        auth = tuple(_new_hasher(a) for a in authenticode)
        page = tuple(_new_hasher(a) for a in first_page)
        auth_ranges = layout.authenticode_ranges()
        page_ranges = layout.first_page_ranges(size)
        page_size = layout.page_size if page else 0

    pos = 0
    for chunk in _chunks(reader, head, eof, size):
        if flat is not None:
            flat.update(chunk)
        if auth:
            _feed(auth, auth_ranges, chunk, pos)
        if pos < page_size:
            _feed(page, page_ranges, chunk, pos)
        pos += len(chunk)
    if pos != size:
        raise FileChangedError(
            name, f"file changed while being read: size was {size}, read {pos} bytes"
        )
    after = os.fstat(fd)
    if after.st_size != size or after.st_mtime_ns != st.st_mtime_ns:
        raise FileChangedError(
            name,
            "file changed while being read: size and modification time were "
            f"{size}, {st.st_mtime_ns} ns; after reading {after.st_size}, {after.st_mtime_ns} ns",
        )

    flat_hex = flat.hexdigest() if flat is not None else ""
    if layout is None:
        return _Digests(st, size, flat_hex, None, anomalies, pe_error, {}, None, {})
    unpadded = None
    if "sha256" in authenticode:
        unpadded = auth[authenticode.index("sha256")].copy().hexdigest()
    zeros = bytes(layout.padding)
    page_zeros = bytes(layout.page_size - layout.first_page_end(size))
    for h in auth:
        h.update(zeros)
    for h in page:
        h.update(page_zeros)
    return _Digests(
        stat=st,
        size=size,
        flat=flat_hex,
        layout=layout,
        anomalies=layout.anomalies,
        pe_error=None,
        authenticode={a: h.hexdigest() for a, h in zip(authenticode, auth, strict=True)},
        unpadded_sha256=unpadded,
        first_page={a: h.hexdigest() for a, h in zip(first_page, page, strict=True)},
        signatures=parsed,
    )


def _read_signatures(table: CertificateTable, read_at: ReadAt) -> ParsedTable:
    if table.size > MAX_TABLE_SIZE:
        return ParsedTable.too_large(table.size)
    return parse_table([read_at(offset, length) for offset, length in table.spans])


def _chunks(reader: io.FileIO, head: memoryview, eof: bool, size: int) -> Iterator[memoryview]:
    """The file's chunks in order, starting with the already read ``head``.

    Each chunk is valid only until the next one is requested.
    """
    if head:
        yield head
    if eof or not head:
        return
    if size <= PIPELINE_THRESHOLD:
        view = _buffer.view
        while True:
            n, eof = _read_chunk(reader, view)
            if n:
                yield view[:n]
            if eof or not n:
                return
    yield from _pipelined_chunks(reader)


def _pipelined_chunks(reader: io.FileIO) -> Iterator[memoryview]:
    """Chunks read by a second thread into a ring of buffers while the caller hashes."""
    free: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[memoryview, int, bool] | BaseException] = queue.SimpleQueue()
    for _ in range(_PIPELINE_BUFFERS):
        free.put(memoryview(bytearray(_CHUNK_SIZE)))

    def read_ahead() -> None:
        try:
            while (view := free.get()) is not None:
                n, eof = _read_chunk(reader, view)
                full.put((view, n, eof or not n))
                if eof or not n:
                    return
        except BaseException as e:  # handed to the consumer, which re-raises it
            full.put(e)

    thread = threading.Thread(target=read_ahead, name="exewhitelist-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            view, n, last = item
            if n:
                yield view[:n]
            free.put(view)
            if last:
                return
    finally:
        free.put(None)  # wakes the reader if it waits for a buffer
        thread.join()


def _read_chunk(reader: io.FileIO, view: memoryview) -> tuple[int, bool]:
    """Fill ``view`` as far as the file allows: (bytes read, end of file seen)."""
    total = 0
    while total < len(view):
        n = reader.readinto(view[total:])
        if not n:
            return total, True
        total += n
    return total, False
