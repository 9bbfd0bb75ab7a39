"""The must-test matrix of ``docs/hashing.md``, built by mutating real files.

Field offsets come from pefile; expected digests come from osslsigncode, lief,
the digest inside the file's own signature, or (where the tools disagree with
Windows' documented behaviour) the reference formula restated in
``oracles.tools.linear_digest``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from oracles.signature import embedded_signatures
from oracles.tools import lief_digest, linear_digest, osslsigncode_digest
from pe_edit import offsets, put_u16, put_u32, write
from samples import make_code_signing_certificate, sign

from exewhitelist import Anomaly, PEFormatError, authenticode_digest, hash_file
from exewhitelist.hashing import PIPELINE_THRESHOLD

UNSIGNED = "mingw/hello64.exe"
UNSIGNED_PE32 = "mingw/hello32.exe"
SIGNED = "mingw/hello64-signed.exe"


@pytest.fixture
def unsigned(sample_files: dict[str, Path]) -> bytes:
    return sample_files[UNSIGNED].read_bytes()


@pytest.fixture
def signed(sample_files: dict[str, Path]) -> bytes:
    return sample_files[SIGNED].read_bytes()


def _linear(data: bytes | bytearray, end: int | None = None, algorithm: str = "sha256") -> str:
    o = offsets(bytes(data))
    return linear_digest(
        bytes(data), o.checksum, o.certificate_entry, len(data) if end is None else end, algorithm
    ).hex()


def test_unsigned_size_not_multiple_of_8_is_padded(sample_files: dict[str, Path]) -> None:
    for name in (UNSIGNED, UNSIGNED_PE32):
        path = sample_files[name]
        assert path.stat().st_size % 8, f"{name} no longer exercises padding"
        r = hash_file(path)
        assert r.authenticode_sha256 == osslsigncode_digest(path, "sha256").hex()
        assert r.authenticode_sha1 == osslsigncode_digest(path, "sha1").hex()
        assert r.authenticode_sha256_unpadded == lief_digest(path, "sha256").hex()
        assert r.authenticode_sha256 != r.authenticode_sha256_unpadded
        assert r.anomalies == ()


def test_unsigned_with_overlay(tmp_path: Path, sample_files: dict[str, Path]) -> None:
    base = sample_files["distlib-win_amd64/t64.exe"].read_bytes()
    path = write(tmp_path, "overlay.exe", base + b"PK\x03\x04 an appended zip archive" * 40)
    r = hash_file(path)
    assert r.authenticode_sha256 == osslsigncode_digest(path, "sha256").hex()
    assert (
        r.authenticode_sha256
        != hash_file(sample_files["distlib-win_amd64/t64.exe"]).authenticode_sha256
    )


def test_excluded_fields_do_not_change_the_digest(tmp_path: Path, unsigned: bytes) -> None:
    o = offsets(unsigned)
    data = bytearray(unsigned)
    put_u32(data, o.checksum, 0xDEADBEEF)
    put_u32(data, o.certificate_entry, 0)
    put_u32(data, o.certificate_entry + 4, 0)
    before = hash_file(write(tmp_path, "a.exe", unsigned))
    after = hash_file(write(tmp_path, "b.exe", data))
    assert after.authenticode_sha256 == before.authenticode_sha256
    assert after.page_sha256 == before.page_sha256
    assert after.sha256 != before.sha256


def test_section_gap_byte_flip_changes_digest(tmp_path: Path, unsigned: bytes) -> None:
    """Spec-style (sorted sections) hashing never reads a gap; the linear algorithm must."""
    o = offsets(unsigned)
    header, pointer, size = next(s for s in o.sections if s[2] >= 0x400)
    data = bytearray(unsigned)
    put_u32(data, header + 16, size - 0x200)  # SizeOfRawData: the tail becomes a gap
    gap = pointer + size - 0x100
    gapped = write(tmp_path, "gap.exe", data)
    data[gap] ^= 0xFF
    flipped = write(tmp_path, "gap-flipped.exe", data)
    a, b = hash_file(gapped), hash_file(flipped)
    assert a.authenticode_sha256 != b.authenticode_sha256
    assert a.authenticode_sha256 == osslsigncode_digest(gapped, "sha256").hex()
    assert b.authenticode_sha256 == osslsigncode_digest(flipped, "sha256").hex()


def test_data_after_certificate_table_is_flagged_and_hashed(tmp_path: Path, signed: bytes) -> None:
    path = write(tmp_path, "trailing.exe", signed + b"smuggled bytes")
    r = hash_file(path)
    assert not r.signed
    assert Anomaly.DATA_AFTER_CERTIFICATE_TABLE in r.anomalies
    assert Anomaly.CERTIFICATE_TABLE_INVALID in r.anomalies
    # The whole file is hashed, trailing bytes included: they cannot be smuggled.
    assert r.authenticode_sha256 == osslsigncode_digest(path, "sha256").hex()
    assert r.authenticode_sha256 == _linear(signed + b"smuggled bytes")
    assert r.authenticode_sha256 != hash_file(write(tmp_path, "s.exe", signed)).authenticode_sha256


def test_unaligned_certificate_table_is_not_honoured(tmp_path: Path, signed: bytes) -> None:
    o = offsets(signed)
    data = bytearray(signed)
    put_u32(data, o.certificate_entry, o.certificate_va + 4)
    put_u32(data, o.certificate_entry + 4, o.certificate_size - 4)
    r = hash_file(write(tmp_path, "unaligned.exe", data))
    assert not r.signed
    assert {Anomaly.CERTIFICATE_TABLE_INVALID, Anomaly.CERTIFICATE_TABLE_UNALIGNED} <= set(
        r.anomalies
    )
    # Windows rejects an unaligned table (0x80096010); osslsigncode would honour it.
    assert r.authenticode_sha256 == _linear(data)


@pytest.mark.parametrize(
    ("va_delta", "size", "flag"),
    [
        ("past_eof", None, Anomaly.CERTIFICATE_TABLE_PAST_END_OF_FILE),
        (0, 0, Anomaly.CERTIFICATE_TABLE_EMPTY),
        ("inside", None, Anomaly.CERTIFICATE_TABLE_INSIDE_IMAGE),
    ],
)
def test_misplaced_certificate_table(
    tmp_path: Path, signed: bytes, va_delta: object, size: int | None, flag: Anomaly
) -> None:
    o = offsets(signed)
    data = bytearray(signed)
    if va_delta == "past_eof":
        put_u32(data, o.certificate_entry, len(signed) + 8)
    elif va_delta == "inside":
        # A table that starts inside the last section: moving VA back keeps VA+Size < EOF,
        # so grow Size to reach EOF exactly; only the "inside image" reason differs.
        _, pointer, raw = max(o.sections, key=lambda s: s[1] + s[2])
        va = (pointer + raw - 0x100) & ~7
        put_u32(data, o.certificate_entry, va)
        put_u32(data, o.certificate_entry + 4, len(signed) - va)
    if size is not None:
        put_u32(data, o.certificate_entry + 4, size)
    path = write(tmp_path, "misplaced.exe", data)
    r = hash_file(path)
    assert not r.signed
    assert flag in r.anomalies
    assert Anomaly.CERTIFICATE_TABLE_INVALID in r.anomalies
    assert r.authenticode_sha256 == _linear(data)
    if flag is not Anomaly.CERTIFICATE_TABLE_INSIDE_IMAGE:
        assert r.authenticode_sha256 == osslsigncode_digest(path, "sha256").hex()


def test_too_few_data_directories_falls_back_to_flat(tmp_path: Path, unsigned: bytes) -> None:
    o = offsets(unsigned)
    data = bytearray(unsigned)
    put_u32(data, o.number_of_rva_and_sizes, 4)
    r = hash_file(write(tmp_path, "rva4.exe", data))
    assert r.pe is None
    assert r.authenticode_sha256 is None
    assert r.pe_error is not None and "NumberOfRvaAndSizes" in r.pe_error
    assert r.anomalies == (Anomaly.TOO_FEW_DATA_DIRECTORIES,)
    assert r.sha256 == hashlib.sha256(data).hexdigest()


def test_optional_header_too_small_falls_back_to_flat(tmp_path: Path, unsigned: bytes) -> None:
    o = offsets(unsigned)
    data = bytearray(unsigned)
    put_u16(data, o.size_of_optional_header, 0x60)
    r = hash_file(write(tmp_path, "short.exe", data))
    assert r.pe is None
    assert r.anomalies == (Anomaly.OPTIONAL_HEADER_TOO_SMALL,)
    assert r.sha256 == hashlib.sha256(data).hexdigest()


def test_rom_image_magic_falls_back_to_flat(tmp_path: Path, unsigned: bytes) -> None:
    o = offsets(unsigned)
    data = bytearray(unsigned)
    magic_at = o.size_of_optional_header + 4  # the optional header follows the COFF header
    put_u16(data, magic_at, 0x107)
    r = hash_file(write(tmp_path, "rom.exe", data))
    assert r.pe is None
    assert r.anomalies == (Anomaly.OPTIONAL_HEADER_MAGIC_UNKNOWN,)


def test_zero_sections_hashed_and_flagged(tmp_path: Path, unsigned: bytes) -> None:
    o = offsets(unsigned)
    data = bytearray(unsigned)
    put_u16(data, o.number_of_sections, 0)
    path = write(tmp_path, "nosections.exe", data)
    r = hash_file(path)
    assert r.pe is not None and r.pe.sections == 0
    assert Anomaly.NO_SECTIONS in r.anomalies
    assert r.authenticode_sha256 == osslsigncode_digest(path, "sha256").hex()


def test_truncated_last_section_hashed_and_flagged(tmp_path: Path, unsigned: bytes) -> None:
    o = offsets(unsigned)
    _, pointer, raw = max(o.sections, key=lambda s: s[1] + s[2])
    data = unsigned[: pointer + raw // 2]
    path = write(tmp_path, "truncated.exe", data)
    r = hash_file(path)
    assert Anomaly.SECTION_PAST_END_OF_FILE in r.anomalies
    assert r.authenticode_sha256 == osslsigncode_digest(path, "sha256").hex()
    assert r.authenticode_sha256_unpadded == lief_digest(path, "sha256").hex()


@pytest.mark.parametrize("cut", [0x3C, 0x80, "coff", "optional", "sections"])
def test_truncated_headers_keep_the_flat_hash(tmp_path: Path, unsigned: bytes, cut: object) -> None:
    o = offsets(unsigned)
    where = {
        "coff": o.number_of_sections + 4,
        "optional": o.checksum + 2,
        "sections": o.sections[-1][0] + 20,
    }.get(str(cut), cut)
    assert isinstance(where, int)
    data = unsigned[:where]
    r = hash_file(write(tmp_path, "cut.exe", data))
    assert r.pe is None
    assert r.sha256 == hashlib.sha256(data).hexdigest()
    e_lfanew = int.from_bytes(unsigned[0x3C:0x40], "little")
    if where >= e_lfanew + 4:
        assert r.anomalies == (Anomaly.TRUNCATED_HEADERS,)
        assert r.pe_error is not None and "past the end of the file" in r.pe_error
    else:
        # No PE signature within the file: an MZ (DOS) file, not a truncated PE.
        assert r.anomalies == () and r.pe_error is None


def test_two_certificate_entries(sample_files: dict[str, Path]) -> None:
    r = hash_file(sample_files["shim-signed/shimx64.efi.signed"])
    assert r.signed
    assert r.pe is not None and r.pe.certificate_entries == 2
    assert Anomaly.CERTIFICATE_ENTRY_MALFORMED not in r.anomalies


def test_malformed_certificate_entry_is_flagged(tmp_path: Path, signed: bytes) -> None:
    o = offsets(signed)
    data = bytearray(signed)
    put_u16(data, o.certificate_va + 4, 0x0100)  # wRevision 1.0
    r = hash_file(write(tmp_path, "rev1.exe", data))
    assert r.signed  # the table itself passes the gate, so it is still excluded
    assert Anomaly.CERTIFICATE_ENTRY_MALFORMED in r.anomalies
    assert r.authenticode_sha256 == hash_file(write(tmp_path, "ok.exe", signed)).authenticode_sha256


def test_mz_without_pe_signature_is_not_a_pe(tmp_path: Path, unsigned: bytes) -> None:
    data = bytearray(unsigned)
    e_lfanew = int.from_bytes(data[0x3C:0x40], "little")
    data[e_lfanew : e_lfanew + 2] = b"NE"
    r = hash_file(write(tmp_path, "ne.exe", data))
    assert r.pe is None and r.pe_error is None and r.anomalies == ()
    assert r.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("content", [b"", b"M", b"MZ", b"#!/bin/sh\necho hi\n", bytes(range(256))])
def test_non_pe_files(tmp_path: Path, content: bytes) -> None:
    r = hash_file(write(tmp_path, "f.bin", content))
    assert r.pe is None
    assert r.size == len(content)
    assert r.sha256 == hashlib.sha256(content).hexdigest()
    assert r.authenticode_sha256 is None and not r.signed


def test_file_over_4gib_gets_flat_hash_and_flag(tmp_path: Path, unsigned: bytes) -> None:
    path = tmp_path / "huge.exe"
    with path.open("wb") as f:
        f.write(unsigned[:4096])
        f.truncate((4 << 30) + 8)  # sparse: costs no disk
    r = hash_file(path)
    assert r.pe is None
    assert r.anomalies == (Anomaly.FILE_OVER_4GIB,)
    h = hashlib.sha256(unsigned[:4096])
    zeros = bytes(1 << 24)
    remaining = (4 << 30) + 8 - 4096
    while remaining:
        n = min(remaining, len(zeros))
        h.update(zeros[:n])
        remaining -= n
    assert r.sha256 == h.hexdigest()


def test_large_image_through_the_read_ahead_path(
    tmp_path: Path, sample_files: dict[str, Path]
) -> None:
    """Past PIPELINE_THRESHOLD a second thread reads: the digests must not change."""
    overlay = os.urandom(PIPELINE_THRESHOLD + 12345)
    unsigned = write(tmp_path, "big.exe", sample_files[UNSIGNED].read_bytes() + overlay)
    r = hash_file(unsigned)
    assert r.sha256 == hashlib.sha256(unsigned.read_bytes()).hexdigest()
    assert r.authenticode_sha256 == osslsigncode_digest(unsigned, "sha256").hex()
    assert r.authenticode_sha1 == osslsigncode_digest(unsigned, "sha1").hex()
    key, cert = make_code_signing_certificate(tmp_path)
    signed = sign(unsigned, tmp_path / "big-signed.exe", key, cert, "-h", "sha256")
    s = hash_file(signed)
    (signature,) = embedded_signatures(signed)
    assert s.signed and s.authenticode_sha256 == signature.digest.hex()
    assert s.authenticode_sha256 == r.authenticode_sha256  # padding made it signable as is


def test_authenticode_digest_alone(sample_files: dict[str, Path], tmp_path: Path) -> None:
    for name in (SIGNED, UNSIGNED, "shim-signed/shimx64.efi.signed"):
        full = hash_file(sample_files[name])
        assert authenticode_digest(sample_files[name]) == full.authenticode_sha256
        assert authenticode_digest(sample_files[name], "sha1") == full.authenticode_sha1
    with pytest.raises(PEFormatError):
        authenticode_digest(write(tmp_path, "text.txt", b"hello"))
    data = bytearray(sample_files[UNSIGNED].read_bytes())
    put_u32(data, offsets(bytes(data)).number_of_rva_and_sizes, 2)
    with pytest.raises(PEFormatError, match="NumberOfRvaAndSizes"):
        authenticode_digest(write(tmp_path, "rva2.exe", data))
