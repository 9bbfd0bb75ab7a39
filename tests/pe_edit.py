"""Mutations of real PE files, with field offsets located by pefile (not by our parser)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import pefile


@dataclass(frozen=True)
class Offsets:
    checksum: int
    number_of_rva_and_sizes: int
    number_of_sections: int
    size_of_optional_header: int
    certificate_entry: int
    """File offset of DataDirectory[4] (VirtualAddress, Size)."""
    certificate_va: int
    certificate_size: int
    sections: tuple[tuple[int, int, int], ...]
    """(header file offset, PointerToRawData, SizeOfRawData) per section."""


def offsets(data: bytes) -> Offsets:
    pe = pefile.PE(data=data, fast_load=True)
    opt = pe.OPTIONAL_HEADER
    security = opt.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
    return Offsets(
        checksum=opt.get_field_absolute_offset("CheckSum"),
        number_of_rva_and_sizes=opt.get_field_absolute_offset("NumberOfRvaAndSizes"),
        number_of_sections=pe.FILE_HEADER.get_field_absolute_offset("NumberOfSections"),
        size_of_optional_header=pe.FILE_HEADER.get_field_absolute_offset("SizeOfOptionalHeader"),
        certificate_entry=security.get_file_offset(),
        certificate_va=security.VirtualAddress,
        certificate_size=security.Size,
        sections=tuple(
            (s.get_file_offset(), s.PointerToRawData, s.SizeOfRawData) for s in pe.sections
        ),
    )


def put_u32(data: bytearray, offset: int, value: int) -> None:
    struct.pack_into("<I", data, offset, value)


def put_u16(data: bytearray, offset: int, value: int) -> None:
    struct.pack_into("<H", data, offset, value)


def write(tmp: Path, name: str, data: bytes | bytearray) -> Path:
    path = tmp / name
    path.write_bytes(bytes(data))
    return path
