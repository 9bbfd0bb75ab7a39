"""The C core's file digests against :func:`exewhitelist.hash_file`.

Same flat SHA-256, Authenticode SHA-256 (padded and not) and SHA-1, first-page
SHA-256 and SHA-1, header facts, ``signed``, anomalies (bit n of the C mask is
the n-th :class:`~exewhitelist.Anomaly`) and PE / non-conformant / not-a-PE
classification: on every real sample and on the mutations of
``test_hashing_edges.py`` and more, through ``ewl_hashfile`` built with ASan
and UBSan by gcc and clang, and through ``libewlcore.so`` (pread, and memory
read back in odd pieces). The host hashes are OpenSSL's libcrypto, called by
the harness behind the core's hasher callbacks.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pe_edit import offsets, put_u16, put_u32
from test_core_build import (
    COMPILERS,
    DigestFacts,
    facts,
    hash_file,
    hash_files_sanitized,
    hash_memory,
    hash_memory_status,
    library,
)

from exewhitelist import Anomaly
from exewhitelist import hash_file as python_hash_file

UNSIGNED = "mingw/hello64.exe"
UNSIGNED_PE32 = "mingw/hello32.exe"
SIGNED = "mingw/hello64-signed.exe"
SMALL = "setuptools-win_amd64/cli-arm64.exe"
EWL_PE_FILE_CHANGED = 2


def _both_ways(path: Path) -> DigestFacts:
    """The C facts through each library (file and memory); they must agree."""
    data = path.read_bytes()
    results = {hash_file(library(c), path) for c in COMPILERS}
    results |= {hash_memory(library(c), data, piece=1021) for c in COMPILERS}
    assert len(results) == 1, results
    return results.pop()


def test_real_samples(sample_files: dict[str, Path]) -> None:
    paths = [p for _, p in sorted(sample_files.items())]
    expected = {p: facts(python_hash_file(p)) for p in paths}
    for compiler in COMPILERS:
        assert hash_files_sanitized(compiler, paths) == expected
    for p in paths:
        assert _both_ways(p) == expected[p], p
    kinds = {f.kind for f in expected.values()}
    assert kinds == {"pe"} and any(f.signed for f in expected.values())


# Mutations: (name, function of the sample files returning the bytes).
Mutation = Callable[[dict[str, bytes]], bytes]


def _edit(name: str, edit: Callable[[bytearray], None]) -> Mutation:
    def mutate(samples: dict[str, bytes]) -> bytes:
        data = bytearray(samples[name])
        edit(data)
        return bytes(data)

    return mutate


def _u32(at: Callable[[bytes], int], value: Callable[[bytes], int]) -> Callable[[bytearray], None]:
    def edit(data: bytearray) -> None:
        put_u32(data, at(bytes(data)), value(bytes(data)))

    return edit


def _gap_flip(data: bytearray) -> None:
    o = offsets(bytes(data))
    header, pointer, size = next(s for s in o.sections if s[2] >= 0x400)
    put_u32(data, header + 16, size - 0x200)
    data[pointer + size - 0x100] ^= 0xFF


def _cert(data: bytearray, va: int, size: int) -> None:
    o = offsets(bytes(data))
    put_u32(data, o.certificate_entry, va)
    put_u32(data, o.certificate_entry + 4, size)


def _inside(data: bytearray) -> None:
    o = offsets(bytes(data))
    _, pointer, raw = max(o.sections, key=lambda s: s[1] + s[2])
    va = (pointer + raw - 0x100) & ~7
    _cert(data, va, len(data) - va)


def _overlap(data: bytearray) -> None:
    o = offsets(bytes(data))
    put_u32(data, o.sections[1][0] + 20, o.sections[0][1] + 8)


def _table_of(entries: int, malformed_last: bool = False) -> Mutation:
    """An unsigned image, padded to 8, with a table of minimal WIN_CERTIFICATE entries."""

    def mutate(samples: dict[str, bytes]) -> bytes:
        base = samples[UNSIGNED] + bytes(-len(samples[UNSIGNED]) % 8)
        table = b"".join(
            struct.pack("<IHH", 8, 0x0100 if malformed_last and i == entries - 1 else 0x0200, 2)
            for i in range(entries)
        )
        data = bytearray(base + table)
        _cert(data, len(base), len(table))
        return bytes(data)

    return mutate


def _coff(data: bytes | bytearray) -> int:
    return int.from_bytes(data[0x3C:0x40], "little") + 4


def _cut(where: Callable[[bytes], int]) -> Mutation:
    return lambda samples: samples[UNSIGNED][: where(samples[UNSIGNED])]


MUTATIONS: dict[str, Mutation] = {
    "gap-flip": _edit(UNSIGNED, _gap_flip),
    "overlay": lambda s: s["distlib-win_amd64/t64.exe"] + b"PK\x03\x04 an appended zip" * 40,
    "checksum-and-entry-changed": _edit(
        UNSIGNED, _u32(lambda d: offsets(d).checksum, lambda d: 0xDEADBEEF)
    ),
    "data-after-table": lambda s: s[SIGNED] + b"smuggled bytes",
    "unaligned-table": _edit(
        SIGNED,
        lambda d: _cert(
            d, offsets(bytes(d)).certificate_va + 4, offsets(bytes(d)).certificate_size - 4
        ),
    ),
    "table-past-eof": _edit(
        SIGNED, lambda d: _cert(d, len(d) + 8, offsets(bytes(d)).certificate_size)
    ),
    "table-size-0": _edit(SIGNED, lambda d: _cert(d, offsets(bytes(d)).certificate_va, 0)),
    "table-va-0": _edit(SIGNED, lambda d: _cert(d, 0, 64)),
    "table-inside-image": _edit(SIGNED, _inside),
    "table-1-entry-short": _edit(SIGNED, lambda d: put_u32(d, offsets(bytes(d)).certificate_va, 7)),
    "table-64-entries": _table_of(64),
    "table-65-entries": _table_of(65),
    "table-malformed-last": _table_of(3, malformed_last=True),
    "malformed-revision": _edit(
        SIGNED, lambda d: put_u16(d, offsets(bytes(d)).certificate_va + 4, 0x0100)
    ),
    "rva-4": _edit(UNSIGNED, lambda d: put_u32(d, offsets(bytes(d)).number_of_rva_and_sizes, 4)),
    "rva-0-pe32": _edit(
        UNSIGNED_PE32, lambda d: put_u32(d, offsets(bytes(d)).number_of_rva_and_sizes, 0)
    ),
    "optional-header-0x60": _edit(
        UNSIGNED, lambda d: put_u16(d, offsets(bytes(d)).size_of_optional_header, 0x60)
    ),
    "optional-header-1": _edit(
        UNSIGNED, lambda d: put_u16(d, offsets(bytes(d)).size_of_optional_header, 1)
    ),
    "optional-header-huge": _edit(
        SMALL, lambda d: put_u16(d, offsets(bytes(d)).size_of_optional_header, 0xFFFF)
    ),
    "rom-magic": _edit(UNSIGNED, lambda d: put_u16(d, _coff(bytes(d)) + 20, 0x107)),
    "zero-sections": _edit(UNSIGNED, lambda d: put_u16(d, offsets(bytes(d)).number_of_sections, 0)),
    "many-sections": _edit(
        SMALL, lambda d: put_u16(d, offsets(bytes(d)).number_of_sections, 0xFFFF)
    ),
    "overlapping-sections": _edit(UNSIGNED, _overlap),
    "headers-past-eof": _edit(
        UNSIGNED, lambda d: put_u32(d, offsets(bytes(d)).checksum - 4, len(d) + 1)
    ),
    "headers-too-small": _edit(
        UNSIGNED, lambda d: put_u32(d, offsets(bytes(d)).checksum - 4, 0x40)
    ),
    "ia64-page": _edit(UNSIGNED, lambda d: put_u16(d, _coff(bytes(d)), 0x200)),
    "truncated-last-section": lambda s: s[UNSIGNED][
        : max(p + r for _, p, r in offsets(s[UNSIGNED]).sections) - 0x123
    ],
    "cut-0x3c": _cut(lambda d: 0x3C),
    "cut-0x80": _cut(lambda d: 0x80),
    "cut-coff": _cut(lambda d: offsets(d).number_of_sections + 4),
    "cut-magic": _cut(lambda d: _coff(d) + 21),
    "cut-optional": _cut(lambda d: offsets(d).checksum + 2),
    "cut-sections": _cut(lambda d: offsets(d).sections[-1][0] + 20),
    "e-lfanew-at-end": lambda s: (
        s[SMALL][:0x3C] + (len(s[SMALL])).to_bytes(4, "little") + s[SMALL][0x40:] + b"PE\0\0"
    ),
    "e-lfanew-huge": _edit(UNSIGNED, lambda d: put_u32(d, 0x3C, 0xFFFF_FFFF)),
    "ne-signature": _edit(
        UNSIGNED, lambda d: d.__setitem__(slice(_coff(d) - 4, _coff(d) - 2), b"NE")
    ),
    "empty": lambda s: b"",
    "m": lambda s: b"M",
    "mz": lambda s: b"MZ",
    "script": lambda s: b"#!/bin/sh\necho hi\n",
    "bytes": lambda s: bytes(range(256)),
}


def test_mutations(sample_files: dict[str, Path], tmp_path: Path) -> None:
    samples = {n: sample_files[n].read_bytes() for n in (UNSIGNED, UNSIGNED_PE32, SIGNED, SMALL)}
    samples["distlib-win_amd64/t64.exe"] = sample_files["distlib-win_amd64/t64.exe"].read_bytes()
    paths = []
    for name, mutate in MUTATIONS.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(mutate(samples))
        paths.append(path)
    expected = {p: facts(python_hash_file(p)) for p in paths}
    for compiler in COMPILERS:
        got = hash_files_sanitized(compiler, paths)
        for p in paths:
            assert got[p] == expected[p], p.name
    for p in paths:
        assert _both_ways(p) == expected[p], p.name
    # The matrix is exercised: every anomaly appears somewhere, and every kind.
    seen = {a for f in expected.values() for a in f.anomalies}
    assert seen == set(Anomaly) - {Anomaly.FILE_OVER_4GIB}
    assert {f.kind for f in expected.values()} == {"pe", "nonconformant", "not_pe"}


def test_file_over_4gib(sample_files: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "huge.exe"
    with path.open("wb") as f:
        f.write(sample_files[UNSIGNED].read_bytes()[:4096])
        f.truncate((4 << 30) + 8)  # sparse: costs no disk
    got = hash_file(library("gcc"), path)
    assert got == facts(python_hash_file(path))
    assert got.anomalies == (Anomaly.FILE_OVER_4GIB,) and got.kind == "nonconformant"


@pytest.mark.parametrize("compiler", COMPILERS)
def test_file_that_changes_size_is_an_error(compiler: str, sample_files: dict[str, Path]) -> None:
    """Python raises FileChangedError; the core returns EWL_PE_FILE_CHANGED."""
    data = sample_files[SMALL].read_bytes()
    lib = library(compiler)
    assert hash_memory_status(lib, data, len(data)) == 0
    assert hash_memory_status(lib, data, len(data) + 1) == EWL_PE_FILE_CHANGED
    assert hash_memory_status(lib, data, len(data) - 1) == EWL_PE_FILE_CHANGED


_SEEDS = (SIGNED, UNSIGNED_PE32, SMALL, "shim-signed/shimx64.efi.signed")


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=8),
    words=st.lists(
        st.tuples(st.integers(0, 1023), st.sampled_from((0, 1, 8, 0x40, 0xFFFF, 0xFFFF_FFFF))),
        max_size=2,
    ),
    cut=st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_mutated_headers_and_truncations(
    sample_files: dict[str, Path],
    seed: str,
    edits: list[tuple[int, int]],
    words: list[tuple[int, int]],
    cut: int | None,
) -> None:
    """Byte edits and interesting u32s in the first KiB (every header lives there), cuts."""
    data = bytearray(sample_files[seed].read_bytes())
    for offset, value in edits:
        data[offset] = value
    for offset, value in words:
        put_u32(data, offset, value)
    content = bytes(data[:cut] if cut is not None else data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f"
        path.write_bytes(content)
        expected = facts(python_hash_file(path))
        for compiler in COMPILERS:
            assert hash_file(library(compiler), path) == expected
        assert hash_memory(library("gcc"), content, piece=1021) == expected
