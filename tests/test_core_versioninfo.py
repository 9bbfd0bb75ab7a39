"""The C core's version-resource reader against versioninfo.py, file by file.

Each input is read by both (tests/core_versions.py says how) and must give
the same status (found, none, not a PE, too large, malformed), the same
strings and the same fixed file version: every real sample, the windres
images of test_versioninfo.py (two languages, no ID 1, blank and missing
strings, odd lengths), hand-made blocks put into a real DLL (padding quirks,
look-alike keys, lone surrogates, malformed roots), and hypothesis's
mutations of real resource trees and of generated blocks.  The expected
side is Python's reader, itself checked against pefile and lief
(test_versioninfo.py).
"""

from __future__ import annotations

import ctypes
import random
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from core_versions import (
    SCRATCH_MIN,
    STATUS_NAMES,
    CRead,
    CVersion,
    Outcome,
    c_limits,
    c_memory_outcome,
    c_outcomes,
    python_outcome,
    resource_offsets,
    with_block,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_core_build import COMPILERS, library
from test_versioninfo import RC_SOURCES, block, fixed, pad, string, table, version

from exewhitelist import VersionResourceError, versioninfo
from exewhitelist.pe import parse_layout
from exewhitelist.rules.publisher import FileAttribute, signer_facts
from exewhitelist.scan import VERSION_INFO_MAX_SIZE
from exewhitelist.versioninfo import MAX_READ_BYTES, VERSION_STRINGS, VersionInfo

VCAMP = "msvc-runtime-win_amd64/vcamp140.dll"
HEADERS_READ = 242
"""The most the C reader reads of a PE's headers (DOS, signature, COFF, PE32+ optional
header to its certificate entry); it also reads the section table once per RVA located."""


def _agree(python: list[Outcome], c: list[CRead], names: list[str]) -> None:
    differences = [
        f"{name}: Python {p}, C {r.outcome}"
        for name, p, r in zip(names, python, c, strict=True)
        if p != r.outcome
    ]
    assert not differences, "\n".join(differences[:20])


def _write(tmp: Path, inputs: dict[str, bytes]) -> list[Path]:
    paths = []
    for name, data in inputs.items():
        path = tmp / name.replace("/", "_")
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_limits_are_pythons() -> None:
    for compiler in COMPILERS:
        limits = c_limits(compiler)
        assert limits["max_read_bytes"] == MAX_READ_BYTES
        assert limits["max_directory_entries"] == versioninfo._MAX_DIRECTORY_ENTRIES
        assert limits["max_block"] == versioninfo._MAX_VERSION_SIZE
        assert limits["head_size"] == versioninfo._HEAD_SIZE
        assert limits["max_file_size"] == VERSION_INFO_MAX_SIZE
        assert limits["scratch_min"] >= limits["max_block"]
        assert limits["scratch_min"] >= limits["head_size"] + 8 * limits["max_directory_entries"]


@pytest.mark.parametrize("compiler", COMPILERS)
def test_real_samples(compiler: str, sample_files: dict[str, Path]) -> None:
    names = sorted(sample_files)
    c = c_outcomes(compiler, [sample_files[n] for n in names])
    python = [python_outcome(sample_files[n].read_bytes()) for n in names]
    _agree(python, c, names)
    statuses = [p.status for p in python]
    assert statuses.count("found") >= 18 and "none" in statuses


@pytest.mark.parametrize("compiler", COMPILERS)
def test_no_layout(compiler: str, sample_files: dict[str, Path], tmp_path: Path) -> None:
    """Not a PE, or a nonconformant one: no layout, so no version resource (scan reads none)."""
    data = sample_files[VCAMP].read_bytes()
    e_lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    opt = e_lfanew + 24

    def edited(offset: int, fmt: str, value: int) -> bytes:
        out = bytearray(data)
        struct.pack_into(fmt, out, offset, value)
        return bytes(out)

    inputs = {
        "empty": b"",
        "mz": b"MZ",
        "dos-header-only": data[:64],
        "cut-in-coff-header": data[: e_lfanew + 10],
        "cut-in-optional-header": data[: opt + 100],
        "cut-in-section-table": data[: opt + 0xF0 + 20],
        "rom-magic": edited(opt, "<H", 0x107),
        "no-optional-header": edited(e_lfanew + 20, "<H", 1),
        "three-data-directories": edited(opt + 108, "<I", 3),
        "sections-past-the-end": edited(e_lfanew + 6, "<H", 0xFFFF),
    }
    names = list(inputs)
    python = [python_outcome(inputs[n]) for n in names]
    assert {p.status for p in python} == {"not_pe"}
    _agree(python, c_outcomes(compiler, _write(tmp_path, inputs)), names)


def test_real_samples_read_what_python_reads(sample_files: dict[str, Path]) -> None:
    """Python's reads, plus the headers and the section table for each RVA located; and
    what the kernel gets is what publisher.signer_facts makes of Python's reading: the
    four FileAttribute strings and the packed file version."""
    for name, path in sorted(sample_files.items()):
        data = path.read_bytes()
        if python_outcome(data).status not in ("found", "none"):
            continue
        counted = _PythonReads(data)
        c = c_memory_outcome(data)
        assert c.outcome == python_outcome(data), name
        facts = signer_facts(None, _version_info(python_outcome(data)))
        assert c.packed_version == (facts.version.packed if facts.version else None), name
        assert {a.resource_name: v for a, v in facts.attributes.items()} == {
            k: v for k, v in c.outcome.strings if k in _ATTRIBUTE_NAMES
        }, name
        sections = struct.unpack_from("<H", data, struct.unpack_from("<I", data, 0x3C)[0] + 6)[0]
        assert counted.bytes <= c.bytes_read <= counted.bytes + HEADERS_READ + 80 * sections, name
        assert counted.bytes <= MAX_READ_BYTES


_ATTRIBUTE_NAMES = {a.resource_name for a in FileAttribute}


def _version_info(outcome: Outcome) -> VersionInfo | None:
    return VersionInfo(outcome.strings, outcome.file_version) if outcome.status == "found" else None


class _PythonReads:
    """The bytes versioninfo.find_version_info reads of ``data`` (after parse_layout)."""

    def __init__(self, data: bytes) -> None:
        self.bytes = 0
        layout = parse_layout(lambda o, n: data[o : o + n], len(data))
        assert layout is not None
        if all(layout.resource_directory):

            def read_at(offset: int, n: int) -> bytes:
                self.bytes += len(data[offset : offset + n])
                return data[offset : offset + n]

            versioninfo.find_version_info(read_at, len(data), layout)


@pytest.fixture(scope="module")
def windres_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """test_versioninfo.py's RC sources, each linked into a small mingw executable."""
    work = tmp_path_factory.mktemp("rc")
    (work / "main.c").write_text("int main(void) { return 0; }\n")
    images = {}
    for name, source in RC_SOURCES.items():
        (work / f"{name}.rc").write_text(source, encoding="latin-1")
        for cmd in (
            ["x86_64-w64-mingw32-windres", f"{name}.rc", "-O", "coff", "-o", f"{name}.o"],
            ["x86_64-w64-mingw32-gcc", "-o", f"{name}.exe", "main.c", f"{name}.o"],
        ):
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
        images[name] = (work / f"{name}.exe").read_bytes()
    return images


@pytest.mark.parametrize("compiler", COMPILERS)
def test_windres_images(compiler: str, windres_images: dict[str, bytes], tmp_path: Path) -> None:
    names = list(windres_images)
    c = c_outcomes(compiler, _write(tmp_path, windres_images))
    python = [python_outcome(windres_images[n]) for n in names]
    _agree(python, c, names)
    assert [p.status for p in python].count("found") == len(names) - 1  # all but "noversion"


def hand_made_blocks() -> dict[str, bytes]:
    """Blocks laid out by hand (test_versioninfo.py's builders), each a case of its own."""
    strings = table(string("ProductName", "p"), string("CompanyName", "c"))
    zero = pad(struct.pack("<HHH", 0, 0, 1) + "Comments\0".encode("utf-16-le"))
    short = block("ProductName", "ab\0".encode("utf-16-le"), text=True)
    padded = bytearray(pad(block("CompanyName", "abc\0".encode("utf-16-le"), text=True)))
    struct.pack_into("<H", padded, 0, len(padded))
    in_bytes = bytearray(string("ProductName", "abc"))
    struct.pack_into("<H", in_bytes, 2, 8)
    past = bytearray(string("ProductName", "abc", nul=False))
    struct.pack_into("<H", past, 2, 0x7FFF)

    def keyed(key: str) -> bytes:
        return block("VS_VERSION_INFO", fixed(0, 1), pad(block(key, children=pad(strings))))

    cases = {
        "reference": version(fixed(0x10002, 0x30004), strings),
        "two-tables": version(
            fixed(1, 2),
            table(string("ProductName", "  "), string("InternalName", "first")),
            table(string("ProductName", "second"), string("InternalName", "other")),
        ),
        "blanks-and-spaces": version(
            b"",
            table(
                string("OriginalFilename", "  x.exe  "),
                string("FileDescription", "\0hidden"),
                string("InternalName", " \0 after"),
            ),
        ),
        "surrogates": version(
            b"",
            table(
                pad(
                    block(
                        "ProductName",
                        b"a\0" + b"\x00\xd8" + b"b\0" + b"\x00\xdc\0\0",
                        text=True,
                    )
                )
            ),
        ),
        "odd-value-bytes": version(
            b"", table(pad(block("ProductName", "ab".encode("utf-16-le") + b"c", text=False)))
        ),
        "not-terminated": version(fixed(0, 1), table(string("ProductName", "abc", nul=False))),
        "value-length-in-bytes": version(
            fixed(0, 1), table(bytes(in_bytes), string("CompanyName", "after"))
        ),
        "value-past-block": version(fixed(0, 1), table(bytes(past), string("CompanyName", "next"))),
        "zero-length-child": version(
            fixed(0, 1), table(string("ProductName", "p"), zero, string("X", "y"))
        ),
        "padding-quirks": version(
            fixed(0, 1), table(pad(short), bytes(padded), string("InternalName", "i"))
        ),
        "bad-fixed-signature": version(fixed(1, 2, signature=0xFEEF04BE), strings),
        "short-fixed": version(fixed(1, 2)[:40], strings),
        "nothing": version(b""),
        "lower-case-info": keyed("stringfileinfo"),
        "look-alike-info": keyed("\ufb06ringFileInfo"),
        "long-s-info": keyed("\u017ftringFileInfo"),
        "var-file-info-only": keyed("VarFileInfo"),
        "case-of-string-key": version(b"", table(string("productname", "x"))),
        "root-too-short": b"\x02\x00",
        "root-length-short": struct.pack("<HHH", 4, 0, 0),
        "root-wrong-key": block("VS_VERSION_INFX", fixed(0, 1)),
        "root-key-unterminated": struct.pack("<HHH", 40, 0, 0) + "VS_VERSION".encode("utf-16-le"),
    }
    return cases


@pytest.mark.parametrize("compiler", COMPILERS)
def test_hand_made_blocks(compiler: str, sample_files: dict[str, Path], tmp_path: Path) -> None:
    base = sample_files[VCAMP].read_bytes()
    inputs = {name: with_block(base, data) for name, data in hand_made_blocks().items()}
    names = list(inputs)
    python = [python_outcome(inputs[n]) for n in names]
    _agree(python, c_outcomes(compiler, _write(tmp_path, inputs)), names)
    statuses = dict(zip(names, (p.status for p in python), strict=True))
    assert statuses["root-wrong-key"] == "malformed" and statuses["nothing"] == "none"
    assert python[names.index("look-alike-info")].strings == ()


def test_file_changed_under_the_reader(sample_files: dict[str, Path]) -> None:
    """Shorter than at open: Python's error (its layout from the whole file, as hashing
    read it), C's file_changed."""
    data = sample_files[VCAMP].read_bytes()
    layout = parse_layout(lambda o, n: data[o : o + n], len(data))
    at = resource_offsets(data)
    assert layout is not None and at is not None
    for cut in (at.root + 8, at.data + 10):
        short = data[:cut]

        def read_at(offset: int, n: int, short: bytes = short) -> bytes:
            return short[offset : offset + n]

        with pytest.raises(VersionResourceError):
            versioninfo.find_version_info(read_at, len(data), layout)
        assert c_memory_outcome(short, len(data)).outcome.status == "file_changed"


_READ_FN = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_uint64,
    ctypes.POINTER(ctypes.c_uint8),
    ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_size_t),
)


@pytest.mark.parametrize("fail_at", [0, 1, 3, 4, 5])
def test_read_failures_and_a_small_scratch(sample_files: dict[str, Path], fail_at: int) -> None:
    """The callback failing (or claiming more than asked) at its n-th call: read_failed,
    whatever was read before; a scratch below the minimum: bad_argument, nothing read."""
    data = sample_files[VCAMP].read_bytes()
    calls = []

    def read(_ctx: int | None, offset: int, buf: Any, n: int, got: Any) -> int:
        calls.append(offset)
        piece = data[offset : offset + n]
        ctypes.memmove(buf, piece, len(piece))
        got[0] = n + 1 if len(calls) == fail_at + 1 and fail_at % 2 else len(piece)
        return -1 if len(calls) == fail_at + 1 and not fail_at % 2 else 0

    lib = library("gcc")
    lib.ewl_version_read.argtypes = (
        _READ_FN,
        ctypes.c_void_p,
        ctypes.c_uint64,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.POINTER(CVersion),
    )
    scratch = ctypes.create_string_buffer(SCRATCH_MIN)
    out = CVersion()
    callback = _READ_FN(read)
    status = lib.ewl_version_read(callback, None, len(data), scratch, SCRATCH_MIN, out)
    assert STATUS_NAMES[status] == "read_failed" and not out.has_file_version
    calls.clear()
    status = lib.ewl_version_read(callback, None, len(data), scratch, SCRATCH_MIN - 1, out)
    assert STATUS_NAMES[status] == "bad_argument" and not calls


def test_too_large_and_no_resource_table(sample_files: dict[str, Path]) -> None:
    """The size cap applies only to an image with a resource table, as in scan."""
    data = sample_files[VCAMP].read_bytes()
    huge = VERSION_INFO_MAX_SIZE + 1
    # The memory reader serves the file's bytes, then ends: the cap is decided before any read.
    assert python_outcome(data, huge).status == "too_large"
    assert c_memory_outcome(data, huge).outcome.status == "too_large"
    hello = sample_files["mingw/hello64.exe"].read_bytes()
    assert python_outcome(hello, huge) == c_memory_outcome(hello, huge).outcome


# ------------------------------------------------------------------------ hypothesis

_MUTATED = (VCAMP, "distlib-win_amd64/w32.exe", "msvc-runtime-win_amd64/msvcp140.dll")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(_MUTATED),
    where=st.sampled_from(["root", "type_entry", "name_dir", "lang_entry", "data_entry", "data"]),
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_mutated_resource_trees(
    sample_files: dict[str, Path], which: str, where: str, edits: list[tuple[int, int]]
) -> None:
    base = sample_files[which].read_bytes()
    at = resource_offsets(base)
    assert at is not None
    start = getattr(at, where)
    data = bytearray(base)
    for offset, value in edits:
        data[min(start + offset % 512, len(data) - 1)] = value
    expected = python_outcome(bytes(data))
    event(expected.status)
    assert c_memory_outcome(bytes(data)).outcome == expected


_KEYS = st.sampled_from([*VERSION_STRINGS, "Comments", "productname", "", "X" * 13])
_TEXT = st.text(alphabet=st.sampled_from(["a", " ", "\0", "\xe9", "\u20ac", "\ud800"]), max_size=9)


def _string(key: str, value: str, nul: bool) -> bytes:
    """A String block whose value may hold a lone surrogate."""
    raw = (value + ("\0" if nul else "")).encode("utf-16-le", "surrogatepass")
    return pad(block(key, raw, text=True))


@st.composite
def _blocks(draw: st.DrawFn) -> bytes:
    """A version block from parts (keys, values, nesting), then a few bytes changed."""
    tables = [
        table(*(_string(draw(_KEYS), draw(_TEXT), draw(st.booleans())) for _ in range(n)))
        for n in draw(st.lists(st.integers(0, 3), max_size=3))
    ]
    info = draw(st.sampled_from(["StringFileInfo", "STRINGFILEINFO", "VarFileInfo", "\u017ftring"]))
    value = draw(st.sampled_from([fixed(0x10002, 0x30004), fixed(5, 6)[:48], b"", b"\1\2\3"]))
    data = bytearray(
        block(
            "VS_VERSION_INFO",
            value,
            pad(block(info, children=b"".join(pad(t) for t in tables))),
        )
    )
    for offset, byte in draw(
        st.lists(st.tuples(st.integers(0, 1 << 12), st.integers(0, 255)), max_size=3)
    ):
        data[offset % len(data)] = byte
    return bytes(data)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_blocks())
def test_generated_blocks(sample_files: dict[str, Path], data: bytes) -> None:
    image = with_block(sample_files[VCAMP].read_bytes(), data)
    expected = python_outcome(image)
    event(f"{expected.status}, {len(expected.strings)} strings")
    assert c_memory_outcome(image).outcome == expected


@pytest.mark.parametrize("compiler", COMPILERS)
def test_mutations_under_the_sanitizers(
    compiler: str, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    """Random mutations of real resource trees and blocks, read by the sanitized tool."""
    rng = random.Random(15)  # noqa: S311 (reproducible inputs, not secrets)
    inputs = {}
    for i in range(300):
        base = sample_files[_MUTATED[i % len(_MUTATED)]].read_bytes()
        at = resource_offsets(base)
        assert at is not None
        start = rng.choice([at.root, at.name_dir, at.data_entry, at.data, at.data + 0x40])
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[min(start + rng.randrange(256), len(data) - 1)] = rng.randrange(256)
        inputs[f"m{i}"] = bytes(data)
    names = list(inputs)
    python = [python_outcome(inputs[n]) for n in names]
    _agree(python, c_outcomes(compiler, _write(tmp_path, inputs)), names)
    assert len({p.status for p in python}) >= 3  # found, none, malformed at least
