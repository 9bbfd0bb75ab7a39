"""The C core's version-resource reader (``driver/core/ewl_versioninfo.h``) next to Python's.

One :class:`Outcome` per file from each side: C through ``ewl_versioncheck``
(ASan + UBSan, many files a process) or through ``libewlcore.so`` (ctypes,
for hypothesis's many small examples); Python as ``scan`` reads a file
(hashing's classification, ``pe.parse_layout``, ``scan.VERSION_INFO_MAX_SIZE``,
then ``versioninfo.find_version_info``).  Also the files the tests and the
fuzzer's seeds are made of: a real image with another version block put in,
and a real image cut down to its headers and resource section.
"""

from __future__ import annotations

import ctypes
import functools
import json
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pefile
from test_core_build import BUILD, CORE, build, library

from exewhitelist.errors import PEFormatError, VersionResourceError
from exewhitelist.pe import MAX_IMAGE_SIZE, looks_like_pe, parse_layout
from exewhitelist.scan import VERSION_INFO_MAX_SIZE
from exewhitelist.versioninfo import VERSION_STRINGS, find_version_info

HEADER = CORE / "ewl_versioninfo.h"
STATUS_NAMES: tuple[str, ...] = tuple(
    re.findall(
        r'"(\w+)"',
        re.search(r"#define EWL_VERSION_STATUS_NAMES(.*?)}", HEADER.read_text(), re.S).group(1),  # type: ignore[union-attr]
    )
)
SCRATCH_MIN = 0x10000


@dataclass(frozen=True)
class Outcome:
    """What a reader made of one file: a status name and, when ``found``, the facts."""

    status: str
    file_version: str | None = None
    strings: tuple[tuple[str, str], ...] = ()
    """(name, value) in :data:`VERSION_STRINGS` order."""


def python_outcome(data: bytes, file_size: int | None = None) -> Outcome:
    """Python's reading of ``data`` (``file_size``: the size at open, when it changed)."""
    size = len(data) if file_size is None else file_size

    def read_at(offset: int, n: int) -> bytes:
        return data[offset : offset + n]

    if not looks_like_pe(data[:2], size) or size > MAX_IMAGE_SIZE:
        return Outcome("not_pe")
    try:
        layout = parse_layout(read_at, size)
    except PEFormatError:
        return Outcome("not_pe")
    if layout is None:
        return Outcome("not_pe")
    if not all(layout.resource_directory):
        return Outcome("none")
    if size > VERSION_INFO_MAX_SIZE:
        return Outcome("too_large")
    try:
        info = find_version_info(read_at, size, layout)
    except VersionResourceError:
        return Outcome("malformed")
    if info is None:
        return Outcome("none")
    return Outcome("found", info.fixed_file_version, info.strings)


def _decoded(strings: dict[str, bytes]) -> tuple[tuple[str, str], ...]:
    # Python decodes with "replace" (a lone surrogate is U+FFFD); C keeps code units.
    return tuple(
        (name, strings[name].decode("utf-16-le", "replace"))
        for name in VERSION_STRINGS
        if name in strings
    )


@dataclass(frozen=True)
class CRead:
    outcome: Outcome
    bytes_read: int
    packed_version: int | None = None
    """The uint64 the kernel gets (set by :func:`c_memory_outcome` only)."""


def c_outcomes(compiler: str, paths: list[Path]) -> list[CRead]:
    """``ewl_versioncheck`` (ASan + UBSan) on each file, in one process per 200 files."""
    build("all")
    reads = []
    for i in range(0, len(paths), 200):
        proc = subprocess.run(
            [str(BUILD / f"asan-{compiler}" / "ewl_versioncheck"), *map(str, paths[i : i + 200])],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert proc.returncode == 0 and not proc.stderr, proc.stderr[-4000:]
        for line in proc.stdout.splitlines():
            record = json.loads(line)
            strings = {k: bytes.fromhex(v) for k, v in record["strings"].items()}
            reads.append(
                CRead(
                    Outcome(record["status"], record["file_version"], _decoded(strings)),
                    record["bytes_read"],
                )
            )
    assert len(reads) == len(paths)
    return reads


def c_limits(compiler: str) -> dict[str, int]:
    build("all")
    proc = subprocess.run(
        [str(BUILD / f"asan-{compiler}" / "ewl_versioncheck"), "--limits"],
        capture_output=True,
        text=True,
        check=True,
    )
    limits: dict[str, int] = json.loads(proc.stdout)
    return limits


class CString(ctypes.Structure):
    _fields_ = (
        ("present", ctypes.c_int),
        ("units", ctypes.c_void_p),
        ("len", ctypes.c_size_t),
    )


class CVersion(ctypes.Structure):
    _fields_ = (
        ("has_file_version", ctypes.c_int),
        ("file_version", ctypes.c_uint64),
        ("strings", CString * len(VERSION_STRINGS)),
    )


@functools.cache
def _version_memory() -> Any:
    fn = library("gcc").ewlh_version_memory
    fn.argtypes = (
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint64,
        ctypes.c_size_t,
        ctypes.c_void_p,
        ctypes.POINTER(CVersion),
        ctypes.POINTER(ctypes.c_uint64),
    )
    fn.restype = ctypes.c_int
    return fn


def c_memory_outcome(data: bytes, file_size: int | None = None, piece: int = 1021) -> CRead:
    """The core (gcc, -O2, through ctypes) on bytes in memory, read in pieces."""
    scratch = ctypes.create_string_buffer(SCRATCH_MIN)
    out = CVersion()
    given = ctypes.c_uint64()
    status = _version_memory()(
        data,
        len(data),
        len(data) if file_size is None else file_size,
        piece,
        ctypes.addressof(scratch),
        ctypes.byref(out),
        ctypes.byref(given),
    )
    strings = {
        name: ctypes.string_at(s.units, 2 * s.len)
        for name, s in zip(VERSION_STRINGS, out.strings, strict=True)
        if s.present
    }
    v = out.file_version
    fixed = f"{v >> 48}.{v >> 32 & 0xFFFF}.{v >> 16 & 0xFFFF}.{v & 0xFFFF}"
    return CRead(
        Outcome(STATUS_NAMES[status], fixed if out.has_file_version else None, _decoded(strings)),
        given.value,
        v if out.has_file_version else None,
    )


# ---------------------------------------------------------------- files to read


@dataclass(frozen=True)
class ResourceOffsets:
    """File offsets of the version resource's structures, as pefile finds them."""

    root: int
    type_entry: int
    name_dir: int
    lang_entry: int
    data_entry: int
    data: int
    size: int


def resource_offsets(data: bytes) -> ResourceOffsets | None:
    """None when pefile finds no RT_VERSION resource."""
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
    )
    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    version = next(
        (e for e in (root.entries if root else []) if e.id == pefile.RESOURCE_TYPE["RT_VERSION"]),
        None,
    )
    if root is None or version is None:
        return None
    names = version.directory.entries
    name = next((e for e in names if e.id == 1), names[0])
    language = name.directory.entries[0]
    return ResourceOffsets(
        root=root.struct.get_file_offset(),
        type_entry=version.struct.get_file_offset(),
        name_dir=version.directory.struct.get_file_offset(),
        lang_entry=language.struct.get_file_offset(),
        data_entry=language.data.struct.get_file_offset(),
        data=pe.get_offset_from_rva(language.data.struct.OffsetToData),
        size=language.data.struct.Size,
    )


def with_block(base: bytes, block: bytes) -> bytes:
    """``base`` (a real image) with ``block`` as its version resource, in the old one's room."""
    at = resource_offsets(base)
    assert at is not None and len(block) <= at.size
    data = bytearray(base)
    data[at.data : at.data + len(block)] = block
    struct.pack_into("<I", data, at.data_entry + 4, len(block))
    return bytes(data)


def compact(data: bytes) -> bytes | None:
    """A real image cut to its headers and its resource section (an input small enough to
    fuzz): one section, its raw data right after the headers, no certificate table.
    None when the image has no resource section."""
    pe = pefile.PE(data=data, fast_load=True)
    rva = pe.OPTIONAL_HEADER.DATA_DIRECTORY[2].VirtualAddress
    section = next((s for s in pe.sections if s.contains_rva(rva)), None)
    if rva == 0 or section is None or section.SizeOfRawData > 0x8000:
        return None
    headers = bytearray(data[: pe.OPTIONAL_HEADER.SizeOfHeaders])
    table = pe.sections[0].get_file_offset()
    raw = data[section.PointerToRawData : section.PointerToRawData + section.SizeOfRawData]
    header = bytearray(data[section.get_file_offset() : section.get_file_offset() + 40])
    struct.pack_into("<I", header, 20, len(headers))  # PointerToRawData
    headers[table : table + 40] = header
    struct.pack_into("<H", headers, pe.FILE_HEADER.get_file_offset() + 2, 1)  # NumberOfSections
    certificate = pe.OPTIONAL_HEADER.DATA_DIRECTORY[4].get_file_offset()
    headers[certificate : certificate + 8] = bytes(8)
    return bytes(headers) + raw
