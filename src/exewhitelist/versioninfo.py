"""A PE image's version resource (``VS_VERSIONINFO``), read with a few ``pread`` calls.

Why not pefile: it costs about 1 ms a file in pure Python holding the GIL,
which made it the largest cost of a scan after hashing itself.  This reader
walks only the path to the one resource it wants, from the section table and
data directory :func:`~exewhitelist.pe.parse_layout` already parsed, and reads
typically two pieces of the file: the start of the resource section (where
linkers put every directory table) and the version resource itself.

The path, as ``GetFileVersionInfo`` takes it (``docs/scan.md`` §3 says what
it does with several names or languages and why):

1. data directory 2 (the resource table) → the section whose raw data holds it;
2. the root ``IMAGE_RESOURCE_DIRECTORY`` → the entry with the integer ID 16
   (``RT_VERSION``);
3. → the name with the integer ID 1 (``VS_VERSION_INFO``), or the first name
   when there is no ID 1;
4. → the first language (the table is sorted by LANGID: the lowest one);
5. → its ``IMAGE_RESOURCE_DATA_ENTRY`` → the ``VS_VERSIONINFO`` block:
   ``VS_FIXEDFILEINFO`` (signature ``0xFEEF04BD``) and ``StringFileInfo`` →
   string tables → strings.

Hostile input: every offset and length is checked against the resource
section's raw data and the file size before anything is read; each directory
is read at most once and only three levels deep (so a directory that points
to itself is never followed), its entries capped at
:data:`_MAX_DIRECTORY_ENTRIES`; the version block is at most 64 KiB (its
length field is 16-bit) and its walk advances by at least 8 bytes a step.
At most :data:`MAX_READ_BYTES` are read a file.  The only exception raised is
:class:`~exewhitelist.errors.VersionResourceError`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import VersionResourceError
from .pe import PELayout, ReadAt, Section

__all__ = [
    "MAX_READ_BYTES",
    "RT_VERSION",
    "VERSION_STRINGS",
    "VersionInfo",
    "find_version_info",
    "parse_version_block",
    "read_version_info",
]

VERSION_STRINGS = (
    "OriginalFilename",
    "ProductName",
    "CompanyName",
    "FileVersion",
    "FileDescription",
    "InternalName",
)
"""The version-resource strings a record carries, when the file has them."""

RT_VERSION = 16
_VS_VERSION_INFO_ID = 1
"""The name ``GetFileVersionInfo`` asks for (``MAKEINTRESOURCE(VS_VERSION_INFO)``)."""
_FIXED_FILE_INFO_SIGNATURE = 0xFEEF04BD
_FIXED_FILE_INFO_SIZE = 52

_MAX_DIRECTORY_ENTRIES = 4096
"""Entries of one resource directory looked at (pefile's limit too; real tables hold dozens)."""
_MAX_VERSION_SIZE = 0xFFFF
"""``VS_VERSIONINFO.wLength`` is 16-bit: no more of the resource is ever read."""
_HEAD_SIZE = 4096
"""First read of the resource section: the directory tables are laid out at its start."""
_DIRECTORY_SIZE = 16
_ENTRY_SIZE = 8
_DATA_ENTRY_SIZE = 16
MAX_READ_BYTES = (
    _HEAD_SIZE
    + 3 * (_DIRECTORY_SIZE + _ENTRY_SIZE * _MAX_DIRECTORY_ENTRIES)
    + _DATA_ENTRY_SIZE
    + _MAX_VERSION_SIZE
)
"""The most this module reads of one file (three directories, a data entry, the block)."""

_HIGH_BIT = 0x8000_0000
_ENTRY = struct.Struct("<II")
_BLOCK_HEADER = struct.Struct("<HHH")
"""wLength, wValueLength, wType: the header of every block of a version resource."""

"""``read_at(offset, size)``: up to ``size`` bytes of the file at ``offset``."""


@dataclass(frozen=True)
class VersionInfo:
    """The version resource of a PE image: :data:`VERSION_STRINGS` and the fixed file version."""

    strings: tuple[tuple[str, str], ...]
    """(name, value) of the :data:`VERSION_STRINGS` present, in that order."""
    fixed_file_version: str | None
    """``VS_FIXEDFILEINFO``'s file version as ``a.b.c.d`` (what WDAC's version rules compare)."""

    def get(self, name: str) -> str | None:
        return dict(self.strings).get(name)

    def strings_json(self) -> dict[str, str]:
        return dict(self.strings)

    @classmethod
    def from_json(cls, strings: dict[str, str] | None, fixed: str | None) -> VersionInfo | None:
        if strings is None and fixed is None:
            return None
        pairs = tuple((k, (strings or {})[k]) for k in VERSION_STRINGS if k in (strings or {}))
        return cls(pairs, fixed)


# ------------------------------------------------------------------ the resource directory


def read_version_info(fd: int, file_size: int, layout: PELayout) -> VersionInfo | None:
    """The version resource of the PE image open as ``fd``, read with ``os.pread``.

    None when the image has no resource table, no ``RT_VERSION`` resource, or
    a version resource with neither a fixed file version nor any of
    :data:`VERSION_STRINGS`.  Raises
    :class:`~exewhitelist.errors.VersionResourceError` when the path to it or
    the resource itself is malformed or out of bounds (the file changing
    under the reader included), and for nothing else.
    """

    def read_at(offset: int, size: int) -> bytes:
        try:
            return os.pread(fd, size, offset)
        except OSError as e:
            raise VersionResourceError(f"could not read the version resource: {e}") from None

    return find_version_info(read_at, file_size, layout)


def find_version_info(read_at: ReadAt, file_size: int, layout: PELayout) -> VersionInfo | None:
    """:func:`read_version_info` over any ``read_at`` (the tests give it bytes in memory)."""
    rva, size = layout.resource_directory
    if rva == 0 or size == 0:
        return None
    base, available = _locate(layout.sections, rva, file_size, "resource table")
    directories = _Directories(read_at, base, min(available, file_size - base))

    types = directories.entries(0, "resource directory")
    version = next((offset for name, offset in types if name == RT_VERSION), None)
    if version is None:
        return None
    names = directories.entries(_subdirectory(version, "RT_VERSION"), "RT_VERSION directory")
    if not names:
        return None
    name = next((offset for n, offset in names if n == _VS_VERSION_INFO_ID), names[0][1])
    languages = directories.entries(_subdirectory(name, "RT_VERSION name"), "language directory")
    if not languages:
        return None
    _, leaf = languages[0]
    if leaf & _HIGH_BIT:
        raise VersionResourceError(
            "the version resource's language entry points to a directory, not to data"
        )
    entry = directories.read(leaf, _DATA_ENTRY_SIZE, "version resource data entry")
    data_rva, data_size = _ENTRY.unpack_from(entry)
    if data_size == 0:
        raise VersionResourceError("the version resource is empty")
    offset, available = _locate(layout.sections, data_rva, file_size, "version resource")
    want = min(data_size, available, _MAX_VERSION_SIZE)
    data = read_at(offset, want)
    if len(data) != want:
        raise VersionResourceError(
            f"version resource at offset {offset:#x}: read {len(data)} of {want} bytes "
            "(the file changed)"
        )
    return parse_version_block(data)


def _locate(sections: tuple[Section, ...], rva: int, file_size: int, what: str) -> tuple[int, int]:
    """(file offset, bytes of raw data from there to the end of its section) of an RVA.

    A section spans ``VirtualSize`` bytes from its ``VirtualAddress`` (its raw
    size when ``VirtualSize`` is 0); only the part backed by raw data in the
    file can be read, as the loader maps nothing else from the file.
    """
    for s in sections:
        extent = s.virtual_size or s.size_of_raw_data
        if s.virtual_address <= rva < s.virtual_address + extent:
            into = rva - s.virtual_address
            offset = s.pointer_to_raw_data + into
            available = min(s.size_of_raw_data, extent) - into
            available = min(available, file_size - offset)
            if available <= 0:
                raise VersionResourceError(
                    f"{what} at RVA {rva:#x} is not in the file: past the raw data of section "
                    f"{s.name!r} or past the end of the file"
                )
            return offset, available
    raise VersionResourceError(f"{what} at RVA {rva:#x} is in no section")


def _subdirectory(offset: int, what: str) -> int:
    if not offset & _HIGH_BIT:
        raise VersionResourceError(f"the {what} entry points to data, not to a directory")
    return offset & ~_HIGH_BIT


class _Directories:
    """The resource section, read at most once for its start and once per directory beyond."""

    def __init__(self, read_at: ReadAt, base: int, size: int) -> None:
        self._read_at = read_at
        self._base = base
        self._size = size
        self._head = read_at(base, min(size, _HEAD_SIZE))

    def read(self, offset: int, size: int, what: str) -> bytes:
        """``size`` bytes at ``offset`` from the start of the resource table, in the section."""
        if offset + size > self._size:
            raise VersionResourceError(
                f"{what} at resource offset {offset:#x} runs past the end of the resource section"
            )
        if offset + size <= len(self._head):
            return self._head[offset : offset + size]
        data = self._read_at(self._base + offset, size)
        if len(data) != size:
            raise VersionResourceError(
                f"{what} at resource offset {offset:#x}: the file ended early (it changed)"
            )
        return data

    def entries(self, offset: int, what: str) -> list[tuple[int, int]]:
        """(Name, OffsetToData) of each entry of the directory at ``offset``."""
        header = self.read(offset, _DIRECTORY_SIZE, what)
        named, ids = struct.unpack_from("<HH", header, 12)
        count = named + ids
        if count > _MAX_DIRECTORY_ENTRIES:
            raise VersionResourceError(f"{what} claims {count} entries (the limit is 4096)")
        raw = self.read(offset + _DIRECTORY_SIZE, _ENTRY_SIZE * count, f"{what}'s entries")
        return list(_ENTRY.iter_unpack(raw))


# ---------------------------------------------------------------------- VS_VERSIONINFO


@dataclass(frozen=True)
class _Block:
    """One block of the version resource: header, key, where its value and children lie."""

    start: int
    end: int
    """Its wLength, cut to its parent's end."""
    value_length: int
    """wValueLength: bytes of a binary value (wType 0), characters of a text one (wType 1)."""
    text: bool
    key: str
    value: int
    """Offset of its value: after the key, aligned to 4 bytes."""

    @property
    def children(self) -> int:
        """Offset of its first child: after its value, aligned to 4 bytes."""
        return _align(self.value + self.value_length * (2 if self.text else 1))


def _align(offset: int) -> int:
    # Blocks, values and children are DWORD-aligned from the start of the resource
    # (VerQueryValue aligns from there: the resource is copied to the caller's buffer).
    return (offset + 3) & ~3


def _block(data: bytes, start: int, end: int) -> _Block | None:
    """The block at ``start``, None when its header or key does not fit before ``end``."""
    length, value_length, value_type = _BLOCK_HEADER.unpack_from(data, start)
    block_end = min(start + length, end)
    key_start = start + _BLOCK_HEADER.size
    search = key_start
    while True:  # the key is a NUL-terminated UTF-16 string: a NUL on an even offset
        nul = data.find(b"\0\0", search, block_end)
        if nul < 0:
            return None
        if (nul - key_start) % 2 == 0:
            break
        search = nul + 1
    key = data[key_start:nul].decode("utf-16-le", "replace")
    return _Block(start, block_end, value_length, value_type != 0, key, _align(nul + 2))


def _children(data: bytes, start: int, end: int) -> Iterator[_Block]:
    """The blocks from ``start`` to ``end``; one whose key does not fit is skipped.

    Each step advances by at least 8 bytes (a length below the 6-byte header
    ends the walk, as VerQueryValue stops at a zero length), so the walk ends.
    """
    pos = start
    while pos + _BLOCK_HEADER.size <= end:
        (length,) = struct.unpack_from("<H", data, pos)
        if length < _BLOCK_HEADER.size:
            return
        block = _block(data, pos, end)
        if block is not None:
            yield block
        pos = _align(pos + length)


def _text(data: bytes, block: _Block) -> str:
    """A String block's value: UTF-16 up to the first NUL, wValueLength characters at most.

    (Some resource compilers count bytes rather than characters: the NUL ends
    the text all the same, and the block's end bounds it.)
    """
    end = min(block.value + 2 * block.value_length, block.end)
    if end <= block.value:
        return ""
    raw = data[block.value : end]
    nul = 0
    while (nul := raw.find(b"\0\0", nul)) >= 0 and nul % 2:
        nul += 1
    if nul >= 0:
        raw = raw[:nul]
    elif len(raw) % 2:
        raw = raw[:-1]
    return raw.decode("utf-16-le", "replace")


def parse_version_block(data: bytes) -> VersionInfo | None:
    """The strings and fixed file version of a ``VS_VERSIONINFO`` block (the resource's bytes).

    The strings are those of :data:`VERSION_STRINGS` that are present and not
    blank, each from the first string table that has it; the fixed version
    comes from a ``VS_FIXEDFILEINFO`` whose signature is right.  None when
    there is neither.  Raises :class:`VersionResourceError` when the block is
    too short or is not a ``VS_VERSIONINFO``.
    """
    if len(data) < _BLOCK_HEADER.size:
        raise VersionResourceError(f"the version resource is {len(data)} bytes long: too short")
    (length,) = struct.unpack_from("<H", data, 0)
    if length < _BLOCK_HEADER.size:
        raise VersionResourceError(f"VS_VERSIONINFO's length is {length}: too short")
    root = _block(data, 0, len(data))
    if root is None:
        raise VersionResourceError("VS_VERSIONINFO's key is not terminated inside the resource")
    if root.key != "VS_VERSION_INFO":
        raise VersionResourceError(f"the version resource's key is {root.key[:40]!r}")

    fixed = None
    if (
        root.value_length >= _FIXED_FILE_INFO_SIZE
        and root.value + _FIXED_FILE_INFO_SIZE <= root.end
    ):
        signature, _, ms, ls = struct.unpack_from("<IIII", data, root.value)
        if signature == _FIXED_FILE_INFO_SIGNATURE:
            fixed = f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"

    found: dict[str, str] = {}
    for info in _children(data, root.children, root.end):
        # VarFileInfo is skipped; StringFileInfo is named in any ASCII case, and
        # only so (not str.casefold, which makes "\ufb06" "st"): the kernel's
        # twin, ewl_versioninfo.c, compares the same way.
        if not info.key.isascii() or info.key.lower() != "stringfileinfo":
            continue
        for table in _children(data, info.children, info.end):
            for string in _children(data, table.children, table.end):
                if string.key in VERSION_STRINGS and string.key not in found:
                    text = _text(data, string).strip("\0 ")
                    if text:
                        found[string.key] = text
    if not found and fixed is None:
        return None
    return VersionInfo(tuple((k, found[k]) for k in VERSION_STRINGS if k in found), fixed)
