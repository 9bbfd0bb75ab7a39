"""The version-resource reader against pefile and lief, on real and built images, and fuzzed.

Oracles: pefile walks the resource tree and parses the chosen
``VS_VERSIONINFO`` (its ``parse_version_information``); lief reads the same
resource independently.  Expected values in the hand-built cases come from
the ``.rc`` sources and byte layouts written here, never from our output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import struct
import subprocess
from pathlib import Path
from typing import Any

import lief
import pefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exewhitelist import VersionResourceError
from exewhitelist.hashing import hash_open_file, open_file
from exewhitelist.pe import PELayout, parse_layout
from exewhitelist.versioninfo import (
    MAX_READ_BYTES,
    VERSION_STRINGS,
    VersionInfo,
    find_version_info,
    parse_version_block,
    read_version_info,
)

lief.logging.disable()

RT_VERSION = pefile.RESOURCE_TYPE["RT_VERSION"]


# ------------------------------------------------------------------------------ oracles


def pefile_version(data: bytes) -> tuple[dict[str, str], str | None] | None:
    """pefile's reading of the resource our reader picks: RT_VERSION → ID 1 or first → first lang.

    None when there is no version resource.  pefile's own top-level parse reads
    every language and merges nothing: its ``parse_version_information`` is
    run again on the one language chosen, on a clean object.
    """
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
    )
    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    if root is None:
        return None
    version = next((e for e in root.entries if e.struct.Name == RT_VERSION), None)
    if version is None:
        return None
    names = version.directory.entries
    name = next((e for e in names if e.struct.Name == 1), names[0])
    language = name.directory.entries[0]
    for attribute in ("VS_VERSIONINFO", "VS_FIXEDFILEINFO", "FileInfo"):
        if hasattr(pe, attribute):
            delattr(pe, attribute)
    pe.parse_version_information(language.data.struct)
    strings: dict[str, str] = {}
    for entry in (getattr(pe, "FileInfo", None) or [[]])[0]:
        for table in getattr(entry, "StringTable", ()):
            for key, value in table.entries.items():
                text = value.decode("utf-8").strip("\0 ")
                if key.decode() in VERSION_STRINGS and text:
                    strings.setdefault(key.decode(), text)
    fixed = None
    infos = getattr(pe, "VS_FIXEDFILEINFO", None)
    if infos and infos[0].Signature == 0xFEEF04BD:
        ms, ls = infos[0].FileVersionMS, infos[0].FileVersionLS
        fixed = f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"
    return strings, fixed


def lief_versions(path: Path) -> list[tuple[dict[str, str], str]]:
    """lief's version resources, one per language, in its order."""
    binary: Any = lief.PE.parse(str(path))
    if not binary.has_resources or not binary.resources_manager.has_version:
        return []
    found = []
    for version in binary.resources_manager.version:
        strings: dict[str, str] = {}
        for table in version.string_file_info.children:
            for entry in table.entries:
                if entry.key in VERSION_STRINGS and entry.value.strip("\0 "):
                    strings.setdefault(entry.key, entry.value.strip("\0 "))
        ms, ls = version.file_info.file_version_ms, version.file_info.file_version_ls
        found.append((strings, f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"))
    return found


def layout_of(data: bytes) -> PELayout:
    layout = parse_layout(lambda o, n: data[o : o + n], len(data))
    assert layout is not None
    return layout


class CountingReader:
    """``read_at`` over bytes in memory that counts the calls and bytes asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0
        self.bytes = 0

    def __call__(self, offset: int, size: int) -> bytes:
        assert offset >= 0 and size >= 0
        self.calls += 1
        self.bytes += size
        return self.data[offset : offset + size]


def ours(data: bytes) -> VersionInfo | None:
    return find_version_info(CountingReader(data), len(data), layout_of(data))


def as_pair(info: VersionInfo | None) -> tuple[dict[str, str], str | None] | None:
    return None if info is None else (info.strings_json(), info.fixed_file_version)


# ---------------------------------------------------------------------- real samples


def test_against_pefile_and_lief(sample: Path) -> None:
    data = sample.read_bytes()
    if parse_layout(lambda o, n: data[o : o + n], len(data)) is None:
        pytest.skip("not a PE image")
    fd = open_file(str(sample))
    try:
        hashed = hash_open_file(fd, str(sample))
        assert hashed.layout is not None
        got = read_version_info(fd, hashed.hashes.size, hashed.layout)
    finally:
        os.close(fd)
    expected = pefile_version(data)
    if expected == ({}, None):
        expected = None
    assert as_pair(got) == expected
    from_lief = lief_versions(sample)
    assert as_pair(got) == (from_lief[0] if from_lief else None)


def test_samples_carry_version_resources(sample_files: dict[str, Path]) -> None:
    """The differential test above is not vacuous: most real samples have one."""
    with_version = [n for n, p in sample_files.items() if ours(p.read_bytes()) is not None]
    assert len(with_version) >= 18  # 12 msvc-runtime DLLs, 6 distlib launchers


def test_few_small_reads(sample_files: dict[str, Path]) -> None:
    data = sample_files["msvc-runtime-win_amd64/vcamp140.dll"].read_bytes()
    reader = CountingReader(data)
    info = find_version_info(reader, len(data), layout_of(data))
    assert info is not None and info.get("OriginalFilename") == "VCAMP140.DLL"
    assert reader.calls <= 3 and reader.bytes <= 4096 + 2048


# ------------------------------------------------------------- built with windres


RC_SOURCES = {
    # Two languages: German first (LANGID 0x407 < 0x409), as in the directory's order.
    "languages": r"""
LANGUAGE 0x07, 0x01
1 VERSIONINFO
FILEVERSION 1,2,3,4
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040704b0"
    BEGIN
      VALUE "OriginalFilename", "de.exe"
    END
  END
END
LANGUAGE 0x09, 0x01
1 VERSIONINFO
FILEVERSION 5,6,7,8
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "OriginalFilename", "en.exe"
      VALUE "ProductName", "English only"
    END
  END
END
""",
    # Two string tables in one block: each string from the first table that has it.
    "tables": r"""
1 VERSIONINFO
FILEVERSION 65535,0,1,65534
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "First Co"
      VALUE "ProductName", ""
      VALUE "Comments", "not reported"
    END
    BLOCK "040704b0"
    BEGIN
      VALUE "CompanyName", "Second Co"
      VALUE "ProductName", "From the second table"
      VALUE "InternalName", "odd"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200, 0x407, 1200
  END
END
""",
    # Odd lengths (1, 2, 3 characters: every alignment), non-ASCII, surrounding blanks.
    "lengths": r"""
1 VERSIONINFO
FILEVERSION 0,0,0,1
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "FileDescription", "a"
      VALUE "FileVersion", "ab"
      VALUE "InternalName", "abc"
      VALUE "CompanyName", L"  Caf\x00e9 \x00a9 \x20ac  "
      VALUE "OriginalFilename", "x.exe"
    END
  END
END
""",
    # Only a named version resource besides ID 2: ID 2 is not VS_VERSION_INFO (1), names come
    # first in the table, so the first name is "CUSTOM".
    "names": r"""
CUSTOM VERSIONINFO
FILEVERSION 9,9,9,9
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "ProductName", "named"
    END
  END
END
2 VERSIONINFO
FILEVERSION 2,2,2,2
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "ProductName", "two"
    END
  END
END
""",
    # Both a name and ID 1: ID 1 wins, as GetFileVersionInfo asks for it.
    "id1": r"""
CUSTOM VERSIONINFO
FILEVERSION 9,9,9,9
BEGIN
END
1 VERSIONINFO
FILEVERSION 1,0,0,0
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "ProductName", "one"
    END
  END
END
""",
    # A resource table without RT_VERSION.
    "noversion": r"""
1 RCDATA { "just data" }
""",
}

EXPECTED: dict[str, tuple[dict[str, str], str | None] | None] = {
    "languages": ({"OriginalFilename": "de.exe"}, "1.2.3.4"),
    "tables": (
        {"ProductName": "From the second table", "CompanyName": "First Co", "InternalName": "odd"},
        "65535.0.1.65534",
    ),
    "lengths": (
        {
            "OriginalFilename": "x.exe",
            "CompanyName": "Caf\xe9 \xa9 \u20ac",
            "FileVersion": "ab",
            "FileDescription": "a",
            "InternalName": "abc",
        },
        "0.0.0.1",
    ),
    "names": ({"ProductName": "named"}, "9.9.9.9"),
    "id1": ({"ProductName": "one"}, "1.0.0.0"),
    "noversion": None,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each RC source linked into a small mingw executable (tests/samples.py's toolchain)."""
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
        images[name] = work / f"{name}.exe"
    return images


@pytest.mark.parametrize("name", sorted(RC_SOURCES))
def test_built_resources(built: dict[str, Path], name: str) -> None:
    data = built[name].read_bytes()
    got = as_pair(ours(data))
    assert got == EXPECTED[name]
    assert got == pefile_version(data)


def test_languages_against_lief(built: dict[str, Path]) -> None:
    """lief lists both languages; ours is its first (and pefile merges them: we do not)."""
    versions = lief_versions(built["languages"])
    assert [fixed for _, fixed in versions] == ["1.2.3.4", "5.6.7.8"]
    assert as_pair(ours(built["languages"].read_bytes())) == versions[0]


# ------------------------------------------------------------------ hand-made blocks


def block(key: str, value: bytes = b"", children: bytes = b"", *, text: bool = False) -> bytes:
    """A version-resource block laid out by the spec: header, key, pad, value, pad, children."""
    head = 6 + 2 * (len(key) + 1)
    body = key.encode("utf-16-le") + b"\0\0" + bytes(-head % 4) + value
    if children:
        body += bytes(-(6 + len(body)) % 4) + children
    value_length = len(value) // 2 if text else len(value)
    return struct.pack("<HHH", 6 + len(body), value_length, int(text)) + body


def pad(blob: bytes) -> bytes:
    return blob + bytes(-len(blob) % 4)


def string(key: str, value: str, nul: bool = True) -> bytes:
    return pad(block(key, (value + ("\0" if nul else "")).encode("utf-16-le"), text=True))


def fixed(ms: int, ls: int, signature: int = 0xFEEF04BD) -> bytes:
    return struct.pack("<IIII", signature, 0x10000, ms, ls) + bytes(36)


def version(value: bytes, *tables: bytes) -> bytes:
    infos = pad(block("StringFileInfo", children=b"".join(pad(t) for t in tables)))
    return block("VS_VERSION_INFO", value, infos)


def table(*strings: bytes) -> bytes:
    return block("040904b0", children=b"".join(strings))


def test_block_reference() -> None:
    data = version(fixed(0x0001_0002, 0x0003_0004), table(string("ProductName", "P")))
    info = parse_version_block(data)
    assert info == VersionInfo((("ProductName", "P"),), "1.2.3.4")


def test_fixed_info_bad_signature_or_missing() -> None:
    strings = table(string("CompanyName", "C"))
    assert parse_version_block(version(fixed(1, 2, signature=0xFEEF04BE), strings)) == VersionInfo(
        (("CompanyName", "C"),), None
    )
    assert parse_version_block(version(b"", strings)) == VersionInfo((("CompanyName", "C"),), None)
    assert parse_version_block(version(fixed(1, 2)[:40], strings)) == VersionInfo(
        (("CompanyName", "C"),), None
    )  # wValueLength below sizeof(VS_FIXEDFILEINFO)
    assert parse_version_block(version(b"")) is None


def test_string_file_info_key_ascii_case_only() -> None:
    """``StringFileInfo`` in any ASCII case; a non-ASCII look-alike is another block.

    ``str.casefold`` once decided it, and folds U+FB06 (the "st" ligature) to
    ``st`` and U+017F (long s) to ``s``: no Windows comparison does (wcsicmp lowers one
    unit at a time), nor could the kernel's twin without Unicode's tables.
    """
    strings = table(string("ProductName", "p"))

    def with_key(key: str) -> VersionInfo | None:
        infos = pad(block(key, children=pad(strings)))
        return parse_version_block(block("VS_VERSION_INFO", fixed(0, 1), infos))

    assert with_key("stringFILEinfo") == VersionInfo((("ProductName", "p"),), "0.0.0.1")
    for look_alike in ("\ufb06ringFileInfo", "\u017ftringFileInfo", "StringF\u0131leInfo"):
        assert with_key(look_alike) == VersionInfo((), "0.0.0.1"), look_alike


def test_string_not_nul_terminated() -> None:
    data = version(fixed(0, 1), table(string("ProductName", "abc", nul=False)))
    assert parse_version_block(data) == VersionInfo((("ProductName", "abc"),), "0.0.0.1")


def test_string_value_length_in_bytes() -> None:
    """Some compilers count wValueLength in bytes: the NUL still ends the text."""
    raw = bytearray(string("ProductName", "abc"))
    struct.pack_into("<H", raw, 2, 8)  # bytes of "abc\0", not 4 characters
    data = version(fixed(0, 1), table(bytes(raw), string("CompanyName", "after")))
    assert parse_version_block(data) == VersionInfo(
        (("ProductName", "abc"), ("CompanyName", "after")), "0.0.0.1"
    )


def test_value_length_past_the_block() -> None:
    raw = bytearray(string("ProductName", "abc", nul=False))
    struct.pack_into("<H", raw, 2, 0x7FFF)
    data = version(fixed(0, 1), table(bytes(raw), string("CompanyName", "next")))
    info = parse_version_block(data)
    assert info is not None and info.get("CompanyName") == "next"
    assert info.get("ProductName") == "abc"  # cut at the String block's own end


def test_zero_length_child_ends_the_walk() -> None:
    zero = struct.pack("<HHH", 0, 0, 1) + "Comments\0".encode("utf-16-le")
    data = version(fixed(0, 1), table(string("ProductName", "p"), pad(zero), string("X", "y")))
    assert parse_version_block(data) == VersionInfo((("ProductName", "p"),), "0.0.0.1")


def test_unaligned_padding_quirks() -> None:
    """wLength excludes the padding to the next sibling, or includes it: both are read."""
    short = block("ProductName", "ab\0".encode("utf-16-le"), text=True)
    assert len(short) % 4 == 2  # the next block starts 2 bytes after its wLength
    padded = bytearray(pad(block("CompanyName", "abc\0".encode("utf-16-le"), text=True)))
    struct.pack_into("<H", padded, 0, len(padded))  # padding counted in wLength
    data = version(fixed(0, 1), table(pad(short), bytes(padded), string("InternalName", "i")))
    info = parse_version_block(data)
    assert info is not None
    assert info.strings_json() == {"ProductName": "ab", "CompanyName": "abc", "InternalName": "i"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02\x00", "too short"),
        (struct.pack("<HHH", 4, 0, 0), "too short"),
        (block("VS_VERSION_INFX", fixed(0, 1)), "key is 'VS_VERSION_INFX'"),
        (struct.pack("<HHH", 40, 0, 0) + "VS_VERSION".encode("utf-16-le"), "not terminated"),
    ],
)
def test_malformed_root(data: bytes, message: str) -> None:
    with pytest.raises(VersionResourceError, match=message):
        parse_version_block(data)


# ------------------------------------------------------------ the resource directory


def directory_offsets(data: bytes) -> dict[str, int]:
    """File offsets of the resource structures, as pefile finds them (not our parser)."""
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
    )
    root = pe.DIRECTORY_ENTRY_RESOURCE
    version = next(e for e in root.entries if e.id == RT_VERSION)
    language = version.directory.entries[0].directory.entries[0]
    return {
        "root": root.struct.get_file_offset(),
        "type_entry": version.struct.get_file_offset(),
        "name_dir": version.directory.struct.get_file_offset(),
        "lang_entry": language.struct.get_file_offset(),
        "data_entry": language.data.struct.get_file_offset(),
        "data": pe.get_offset_from_rva(language.data.struct.OffsetToData),
    }


@pytest.fixture
def vcamp(sample_files: dict[str, Path]) -> bytes:
    return sample_files["msvc-runtime-win_amd64/vcamp140.dll"].read_bytes()


def test_no_resource_directory(vcamp: bytes) -> None:
    layout = dataclasses.replace(layout_of(vcamp), resource_directory=(0, 0))
    assert find_version_info(CountingReader(vcamp), len(vcamp), layout) is None


def test_resource_directory_in_no_section(vcamp: bytes) -> None:
    layout = dataclasses.replace(layout_of(vcamp), resource_directory=(0x7FFF_0000, 0x100))
    with pytest.raises(VersionResourceError, match="in no section"):
        find_version_info(CountingReader(vcamp), len(vcamp), layout)


def test_resource_directory_past_eof(vcamp: bytes) -> None:
    root = directory_offsets(vcamp)["root"]
    cut = vcamp[: root + 8]
    with pytest.raises(VersionResourceError, match="past the end of the resource section"):
        find_version_info(CountingReader(cut), len(cut), layout_of(vcamp))
    with pytest.raises(VersionResourceError, match="not in the file"):
        find_version_info(CountingReader(vcamp[:root]), root, layout_of(vcamp))


def test_rt_version_missing(vcamp: bytes) -> None:
    data = bytearray(vcamp)
    struct.pack_into("<I", data, directory_offsets(vcamp)["type_entry"], 17)
    assert ours(bytes(data)) is None


def test_directory_pointing_to_itself(vcamp: bytes) -> None:
    """A name directory whose entry points back at it: read once, never followed again."""
    offsets = directory_offsets(vcamp)
    data = bytearray(vcamp)
    name_dir = offsets["name_dir"] - offsets["root"]
    struct.pack_into("<I", data, offsets["name_dir"] + 16 + 4, 0x8000_0000 | name_dir)
    (count,) = struct.unpack_from("<H", data, offsets["name_dir"] + 14)
    with pytest.raises(VersionResourceError, match="points to a directory"):
        ours(bytes(data))
    assert count >= 1


def test_language_entry_to_directory_or_data(vcamp: bytes) -> None:
    offsets = directory_offsets(vcamp)
    data = bytearray(vcamp)
    struct.pack_into("<I", data, offsets["type_entry"] + 4, 0x10)  # a leaf where a dir must be
    with pytest.raises(VersionResourceError, match="points to data"):
        ours(bytes(data))


def test_huge_entry_count(vcamp: bytes) -> None:
    offsets = directory_offsets(vcamp)
    data = bytearray(vcamp)
    struct.pack_into("<HH", data, offsets["root"] + 12, 0xFFFF, 0xFFFF)
    with pytest.raises(VersionResourceError, match="entries"):
        ours(bytes(data))
    struct.pack_into("<HH", data, offsets["root"] + 12, 0, 4000)  # allowed, past the section
    with pytest.raises(VersionResourceError, match="past the end of the resource section"):
        ours(bytes(data))


def test_data_entry_out_of_bounds(vcamp: bytes) -> None:
    offsets = directory_offsets(vcamp)
    for rva, size, message in [
        (0x7FFF_FF00, 0x100, "in no section"),
        (0, 0x100, "in no section"),
        (None, 0, "empty"),
    ]:
        data = bytearray(vcamp)
        if rva is not None:
            struct.pack_into("<I", data, offsets["data_entry"], rva)
        struct.pack_into("<I", data, offsets["data_entry"] + 4, size)
        with pytest.raises(VersionResourceError, match=message):
            ours(bytes(data))
    data = bytearray(vcamp)
    struct.pack_into("<I", data, offsets["data_entry"] + 4, 0xFFFF_FFFF)  # read what is there
    assert as_pair(ours(bytes(data))) == as_pair(ours(vcamp))


def test_file_changed_under_the_reader(vcamp: bytes) -> None:
    """The file is shorter than when it was hashed: an error, not an exception from elsewhere."""
    offsets = directory_offsets(vcamp)
    cut = vcamp[: offsets["data"] + 10]
    with pytest.raises(VersionResourceError):
        find_version_info(CountingReader(cut), len(vcamp), layout_of(vcamp))


# ------------------------------------------------------------------------ hypothesis


def _must_not_raise_else(call: Any) -> None:
    with contextlib.suppress(VersionResourceError):  # anything else fails the test
        call()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_blocks(data: bytes) -> None:
    _must_not_raise_else(lambda: parse_version_block(data))


@settings(max_examples=500, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=12)
)
def test_mutated_real_block(edits: list[tuple[int, int]]) -> None:
    data = bytearray(
        version(
            fixed(0x10002, 0x30004),
            table(string("ProductName", "p"), string("CompanyName", "odd")),
            table(string("InternalName", "i")),
        )
    )
    for offset, value in edits:
        data[offset % len(data)] = value
    _must_not_raise_else(lambda: parse_version_block(bytes(data)))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=8),
    which=st.sampled_from(["root", "name_dir", "lang_entry", "data_entry", "data"]),
)
def test_mutated_resource_section(vcamp: bytes, edits: list[tuple[int, int]], which: str) -> None:
    """Bytes of the resource tree of a real DLL changed: only our error, bounded reads."""
    start = directory_offsets(vcamp)[which]
    data = bytearray(vcamp)
    for offset, value in edits:
        data[min(start + offset % 256, len(data) - 1)] = value
    reader = CountingReader(bytes(data))
    _must_not_raise_else(lambda: find_version_info(reader, len(data), layout_of(vcamp)))
    assert reader.bytes <= MAX_READ_BYTES and reader.calls <= 5
