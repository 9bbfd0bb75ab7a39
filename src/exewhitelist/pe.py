"""PE header parsing for the Authenticode hash: offsets, ranges and anomalies.

This is deliberately a small parser over explicit little-endian reads rather
than pefile or lief: it reads only the structures the hash depends on, bounds
every read by the file size, and mirrors field for field what the C core of the
driver does (``docs/hashing.md`` is the shared specification).  pefile and lief
are used by the tests as independent oracles instead.
"""

from __future__ import annotations

import enum
import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .errors import NonconformantPEError, TruncatedPEError

__all__ = [
    "MACHINE_NAMES",
    "MAX_IMAGE_SIZE",
    "Anomaly",
    "CertificateTable",
    "PELayout",
    "ReadAt",
    "Section",
    "looks_like_pe",
    "parse_layout",
]

MAX_IMAGE_SIZE = 0xFFFF_FFFF
"""Authenticode offsets are 32-bit: larger files get the flat hash only."""

_PAGE_SIZE = 4096
_PAGE_SIZE_IA64 = 8192
_MAX_CERTIFICATE_ENTRIES = 64
"""Certificate entries walked before giving up (real files carry 1 or 2)."""

_DOS_HEADER_SIZE = 64
_COFF_HEADER_SIZE = 20
_SECTION_HEADER_SIZE = 40
_SECTION_HEADER = struct.Struct("<8sIIII16x")
"""Name, VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData (then unused fields)."""
_OPT_MAGIC_PE32 = 0x10B
_OPT_MAGIC_PE32_PLUS = 0x20B
_CHECKSUM_FIELD = 64  # offset inside the optional header, same for PE32 and PE32+
_RESOURCE_DIRECTORY_INDEX = 2
_SECURITY_DIRECTORY_INDEX = 4
_WIN_CERT_REVISION_2_0 = 0x0200
_WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
_MACHINE_IA64 = 0x200

MACHINE_NAMES = {
    0x014C: "i386",
    0x0200: "ia64",
    0x01C4: "armnt",
    0x8664: "amd64",
    0xAA64: "arm64",
    0xA641: "arm64ec",
    0x0EBC: "ebc",
}


class Anomaly(str, enum.Enum):
    """Named oddities found while hashing; the value is the name used in JSON."""

    # the file as a whole
    FILE_OVER_4GIB = "file_over_4gib"
    # headers
    NO_SECTIONS = "no_sections"
    HEADERS_PAST_END_OF_FILE = "headers_past_end_of_file"
    SIZE_OF_HEADERS_TOO_SMALL = "size_of_headers_too_small"
    SECTION_PAST_END_OF_FILE = "section_past_end_of_file"
    SECTIONS_OVERLAP = "sections_overlap"
    # the certificate table
    CERTIFICATE_TABLE_INVALID = "certificate_table_invalid"
    CERTIFICATE_TABLE_EMPTY = "certificate_table_empty"
    CERTIFICATE_TABLE_UNALIGNED = "certificate_table_unaligned"
    CERTIFICATE_TABLE_INSIDE_IMAGE = "certificate_table_inside_image"
    CERTIFICATE_TABLE_PAST_END_OF_FILE = "certificate_table_past_end_of_file"
    DATA_AFTER_CERTIFICATE_TABLE = "data_after_certificate_table"
    CERTIFICATE_ENTRY_MALFORMED = "certificate_entry_malformed"
    # reasons a PE-looking file gets only the flat hash (carried by PEFormatError)
    TRUNCATED_HEADERS = "truncated_headers"
    OPTIONAL_HEADER_MAGIC_UNKNOWN = "optional_header_magic_unknown"
    OPTIONAL_HEADER_TOO_SMALL = "optional_header_too_small"
    TOO_FEW_DATA_DIRECTORIES = "too_few_data_directories"

    def __str__(self) -> str:
        return self.value


class Section(NamedTuple):
    """Where one section's raw data lies in the file (a tuple: cheap to build by the dozen)."""

    name: str
    pointer_to_raw_data: int
    size_of_raw_data: int
    virtual_address: int = 0
    """Where the section is mapped (an RVA): what turns a data directory's RVA into an offset."""
    virtual_size: int = 0


@dataclass(frozen=True)
class CertificateTable:
    """The certificate table directory entry and what the gate decided about it."""

    offset: int
    size: int
    valid: bool
    """Passes the validity gate: it is excluded from the hash and the file counts as signed."""
    entries: int
    """WIN_CERTIFICATE entries walked (0 when the table is not valid)."""
    spans: tuple[tuple[int, int], ...] = ()
    """(file offset, length) of each well-formed entry's ``bCertificate``, in table order."""


@dataclass(frozen=True)
class PELayout:
    """Everything the one-pass hasher needs to know about a PE file, and its anomalies."""

    format: str
    """``"PE32"`` or ``"PE32+"``."""
    machine: int
    subsystem: int
    characteristics: int
    checksum_offset: int
    certificate_entry_offset: int
    """File offset of the 8-byte certificate table directory entry."""
    size_of_headers: int
    sections: tuple[Section, ...]
    certificate_table: CertificateTable | None
    """None when the directory entry is all zero (an unsigned file)."""
    hash_end: int
    """Where the Authenticode hash stops: the certificate table, or the end of the file."""
    page_size: int
    anomalies: tuple[Anomaly, ...]
    resource_directory: tuple[int, int] = (0, 0)
    """The resource table's data directory entry (RVA, size): where version information is."""

    @property
    def signed(self) -> bool:
        return self.certificate_table is not None and self.certificate_table.valid

    @property
    def machine_name(self) -> str:
        return MACHINE_NAMES.get(self.machine, f"0x{self.machine:04x}")

    def authenticode_ranges(self) -> tuple[tuple[int, int], ...]:
        """The file ranges hashed, in order; padding to a multiple of 8 follows them."""
        return _exclude(
            0,
            self.hash_end,
            ((self.checksum_offset, 4), (self.certificate_entry_offset, 8)),
        )

    def first_page_end(self, file_size: int) -> int:
        """File offset where the first-page hash stops reading headers."""
        return min(self.size_of_headers, self.page_size, file_size)

    def first_page_ranges(self, file_size: int) -> tuple[tuple[int, int], ...]:
        """The ranges of the first-page hash.

        ``page_size - first_page_end()`` zero bytes follow them, so the two
        excluded fields shorten the hashed data (as WDAC computes it).
        """
        return _exclude(
            0,
            self.first_page_end(file_size),
            ((self.checksum_offset, 4), (self.certificate_entry_offset, 8)),
        )

    @property
    def padding(self) -> int:
        """Zero bytes appended to the Authenticode hash (Windows pads to 8)."""
        return -self.hash_end % 8


def _exclude(
    start: int, end: int, holes: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    pos = start
    for hole_start, hole_size in holes:
        if hole_start >= end:
            break
        if hole_start > pos:
            ranges.append((pos, hole_start))
        pos = max(pos, hole_start + hole_size)
    if pos < end:
        ranges.append((pos, end))
    return tuple(ranges)


ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, size)`` returns up to ``size`` bytes of the file at ``offset``."""


def _read_exact(read_at: ReadAt, offset: int, size: int, what: str) -> bytes:
    data = read_at(offset, size)
    if len(data) != size:
        raise TruncatedPEError(f"{what} at offset {offset:#x} runs past the end of the file")
    return data


def looks_like_pe(head: bytes, file_size: int) -> bool:
    """True when the file starts with ``MZ``: it is then parsed (and may be rejected) as a PE."""
    return file_size >= 2 and head[:2] == b"MZ"


def parse_layout(read_at: ReadAt, file_size: int) -> PELayout | None:
    """Parse the headers of a file that starts with ``MZ``.

    Returns None when the file has no ``PE\\0\\0`` signature at ``e_lfanew``
    inside the file (a DOS or NE program, or a file cut before its PE header:
    not a PE, so only its flat hash applies).  Raises :class:`TruncatedPEError`
    or :class:`NonconformantPEError` when the file claims to be a PE but cannot
    be Authenticode-hashed.  Every read is bounded by the file size and by
    fixed limits, never by a header field alone.
    """
    dos = read_at(0, _DOS_HEADER_SIZE)
    if len(dos) < _DOS_HEADER_SIZE or dos[:2] != b"MZ":
        return None
    (e_lfanew,) = struct.unpack_from("<I", dos, 0x3C)
    if e_lfanew + 4 > file_size:
        # An MZ file whose e_lfanew points outside it: a DOS program or garbage.
        return None
    if read_at(e_lfanew, 4) != b"PE\0\0":
        return None

    coff_offset = e_lfanew + 4
    coff = _read_exact(read_at, coff_offset, _COFF_HEADER_SIZE, "COFF file header")
    machine, number_of_sections, _, _, _, size_of_optional_header, characteristics = struct.unpack(
        "<HHIIIHH", coff
    )
    opt_offset = coff_offset + _COFF_HEADER_SIZE
    if size_of_optional_header < 2:
        raise NonconformantPEError(
            f"SizeOfOptionalHeader is {size_of_optional_header}: no optional header",
            Anomaly.OPTIONAL_HEADER_TOO_SMALL.value,
        )
    (magic,) = struct.unpack("<H", _read_exact(read_at, opt_offset, 2, "optional header"))
    if magic == _OPT_MAGIC_PE32:
        fmt, rva_count_field, directories_field = "PE32", 92, 96
    elif magic == _OPT_MAGIC_PE32_PLUS:
        fmt, rva_count_field, directories_field = "PE32+", 108, 112
    else:
        raise NonconformantPEError(
            f"optional header magic {magic:#x} is neither PE32 (0x10b) nor PE32+ (0x20b)",
            Anomaly.OPTIONAL_HEADER_MAGIC_UNKNOWN.value,
        )
    cert_field = directories_field + 8 * _SECURITY_DIRECTORY_INDEX
    if size_of_optional_header < cert_field + 8:
        raise NonconformantPEError(
            f"SizeOfOptionalHeader is {size_of_optional_header}: too small to hold the "
            f"certificate table entry (needs {cert_field + 8} for {fmt})",
            Anomaly.OPTIONAL_HEADER_TOO_SMALL.value,
        )
    opt = _read_exact(read_at, opt_offset, cert_field + 8, "optional header")
    (size_of_headers,) = struct.unpack_from("<I", opt, 60)
    (subsystem,) = struct.unpack_from("<H", opt, 68)
    (number_of_rva_and_sizes,) = struct.unpack_from("<I", opt, rva_count_field)
    if number_of_rva_and_sizes <= _SECURITY_DIRECTORY_INDEX:
        raise NonconformantPEError(
            f"NumberOfRvaAndSizes is {number_of_rva_and_sizes}: there is no certificate "
            "table entry",
            Anomaly.TOO_FEW_DATA_DIRECTORIES.value,
        )
    cert_va, cert_size = struct.unpack_from("<II", opt, cert_field)
    resource_directory: tuple[int, int] = struct.unpack_from(
        "<II", opt, directories_field + 8 * _RESOURCE_DIRECTORY_INDEX
    )

    section_table_offset = opt_offset + size_of_optional_header
    table = _read_exact(
        read_at,
        section_table_offset,
        number_of_sections * _SECTION_HEADER_SIZE,
        "section table",
    )
    sections = tuple(
        Section(
            name=name.rstrip(b"\0").decode("latin-1"),
            pointer_to_raw_data=pointer,
            size_of_raw_data=raw_size,
            virtual_address=va,
            virtual_size=virtual_size,
        )
        for name, virtual_size, va, raw_size, pointer in _SECTION_HEADER.iter_unpack(table)
    )
    headers_end = section_table_offset + len(table)

    anomalies: list[Anomaly] = []
    if not sections:
        anomalies.append(Anomaly.NO_SECTIONS)
    if size_of_headers > file_size:
        anomalies.append(Anomaly.HEADERS_PAST_END_OF_FILE)
    elif size_of_headers < headers_end:
        anomalies.append(Anomaly.SIZE_OF_HEADERS_TOO_SMALL)
    with_data = sorted(
        (s.pointer_to_raw_data, s.pointer_to_raw_data + s.size_of_raw_data)
        for s in sections
        if s.size_of_raw_data
    )
    if any(end > file_size for _, end in with_data):
        anomalies.append(Anomaly.SECTION_PAST_END_OF_FILE)
    if any(b[0] < a[1] for a, b in itertools.pairwise(with_data)):
        anomalies.append(Anomaly.SECTIONS_OVERLAP)
    image_end = max([headers_end, size_of_headers, *(end for _, end in with_data)])

    certificate_table = None
    hash_end = file_size
    if cert_va or cert_size:
        reasons = _certificate_gate(cert_va, cert_size, image_end, file_size)
        spans: tuple[tuple[int, int], ...] = ()
        if not reasons:
            hash_end = cert_va
            spans, malformed = _walk_certificates(read_at, cert_va, cert_size)
            if malformed:
                anomalies.append(Anomaly.CERTIFICATE_ENTRY_MALFORMED)
        else:
            anomalies.append(Anomaly.CERTIFICATE_TABLE_INVALID)
            anomalies.extend(reasons)
        certificate_table = CertificateTable(
            offset=cert_va, size=cert_size, valid=not reasons, entries=len(spans), spans=spans
        )

    return PELayout(
        format=fmt,
        machine=machine,
        subsystem=subsystem,
        characteristics=characteristics,
        checksum_offset=opt_offset + _CHECKSUM_FIELD,
        certificate_entry_offset=opt_offset + cert_field,
        size_of_headers=size_of_headers,
        sections=sections,
        certificate_table=certificate_table,
        hash_end=hash_end,
        page_size=_PAGE_SIZE_IA64 if machine == _MACHINE_IA64 else _PAGE_SIZE,
        anomalies=tuple(anomalies),
        resource_directory=resource_directory,
    )


def _certificate_gate(va: int, size: int, image_end: int, file_size: int) -> list[Anomaly]:
    """Why the certificate table must not be honoured; empty when it passes the gate."""
    if va == 0 or size == 0:
        return [Anomaly.CERTIFICATE_TABLE_EMPTY]
    reasons = []
    if va % 8:
        reasons.append(Anomaly.CERTIFICATE_TABLE_UNALIGNED)
    if va < image_end:
        reasons.append(Anomaly.CERTIFICATE_TABLE_INSIDE_IMAGE)
    if va + size > file_size:
        reasons.append(Anomaly.CERTIFICATE_TABLE_PAST_END_OF_FILE)
    elif va + size < file_size:
        reasons.append(Anomaly.DATA_AFTER_CERTIFICATE_TABLE)
    return reasons


def _walk_certificates(
    read_at: ReadAt, va: int, size: int
) -> tuple[tuple[tuple[int, int], ...], bool]:
    """The entries of a gated table (see ``CertificateTable.spans``); True when one is malformed."""
    end = va + size
    pos = va
    spans: list[tuple[int, int]] = []
    while end - pos >= 8:
        if len(spans) == _MAX_CERTIFICATE_ENTRIES:
            return tuple(spans), True
        header = _read_exact(read_at, pos, 8, "WIN_CERTIFICATE")
        length, revision, cert_type = struct.unpack("<IHH", header)
        if (
            length < 8
            or length > end - pos
            or revision != _WIN_CERT_REVISION_2_0
            or cert_type != _WIN_CERT_TYPE_PKCS_SIGNED_DATA
        ):
            return tuple(spans), True
        spans.append((pos + 8, length - 8))
        pos += length + (-length % 8)
    return tuple(spans), False
