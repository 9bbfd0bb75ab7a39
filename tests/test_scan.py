"""``exewhitelist.scan`` on real trees: selection, links, loops, errors, records, order.

Every record is checked against ``hash_file`` on the same file and its flat
SHA-256 against hashlib; version strings against lief's reading of the
version resource (tests/test_versioninfo.py holds the reader's own tests).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import lief
import pefile
import pytest
from scan_trees import MIXED_RECORDS, golden_image, mixed_tree, put, record_opens, records

import exewhitelist.hashing as hashing_module
import exewhitelist.scan as scan_module
from exewhitelist import (
    FileReadError,
    ScanError,
    ScanOptions,
    ScanRecord,
    VersionResourceError,
    hash_file,
)
from exewhitelist.scan import VERSION_STRINGS, count_files, iso_utc, scan

lief.logging.disable()


@pytest.fixture
def tree(tmp_path: Path, sample_files: dict[str, Path]) -> Path:
    return mixed_tree(tmp_path / "tree", sample_files)


def rel(root: Path, record: ScanRecord) -> str:
    return Path(record.path).relative_to(root).as_posix()


def check_against_hash_file(record: ScanRecord) -> None:
    """The record's digests are exactly ``exewhitelist hash``'s, and sha256 is hashlib's."""
    assert record.hashes is not None
    expected = hash_file(record.path).to_json()
    got = record.to_json()
    assert {k: got[k] for k in expected} == expected
    assert got["sha256"] == hashlib.sha256(Path(record.path).read_bytes()).hexdigest()


def lief_version(path: str) -> tuple[dict[str, str], str | None]:
    binary: Any = lief.PE.parse(path)
    if not binary.has_resources or not binary.resources_manager.has_version:
        return {}, None
    version = binary.resources_manager.version[0]
    strings = {
        entry.key: entry.value
        for table in version.string_file_info.children
        for entry in table.entries
        if entry.key in VERSION_STRINGS and entry.value
    }
    fixed = version.file_info
    ms, ls = fixed.file_version_ms, fixed.file_version_ls
    return strings, f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def test_mixed_tree(tree: Path) -> None:
    scanned = records(tree)
    assert [rel(tree, r) for r in scanned] == MIXED_RECORDS
    for record in scanned:
        assert record.error is None, record.error
        check_against_hash_file(record)
        st = os.stat(record.path)
        assert (record.inode, record.links, record.mtime_ns) == (
            st.st_ino,
            st.st_nlink,
            st.st_mtime_ns,
        )
        assert record.windows_path is None and "windows_path" not in record.to_json()
        json.dumps(record.to_json())  # serialisable as is
    by_name = {rel(tree, r): r for r in scanned}
    assert by_name["empty.dll"].hashes is not None
    assert by_name["empty.dll"].hashes.sha256 == hashlib.sha256(b"").hexdigest()
    assert by_name["scripts/run.ps1"].to_json()["pe"] is None
    assert by_name["docs/mz.txt"].to_json()["pe"] is None
    assert by_name["bin/renamed.dat"].to_json()["pe"]["machine"] == "amd64"
    assert by_name["bin/efi/shimx64.efi"].to_json()["pe"]["certificate_entries"] == 2
    sparse = by_name["sparse.exe"]
    assert sparse.hashes is not None and sparse.hashes.size > 4 << 20
    assert sparse.to_json()["pe"]["format"] == "PE32+"


def test_summary_counts(tree: Path) -> None:
    result = scan([tree], ScanOptions(jobs=2))
    with pytest.raises(AttributeError):
        result.summary.files = 0  # type: ignore[misc]
    assert not result.summary.complete
    scanned = list(result)
    s = result.summary
    assert s.complete and s.seconds > 0
    # 14 regular files; the two symlinks are skipped (not followed, not counted as files).
    assert (s.files, s.executables, s.errors, s.symlinks, s.loops) == (14, 11, 0, 2, 0)
    assert s.bytes_hashed == sum(r.hashes.size for r in scanned if r.hashes)
    assert s.directories == 5 and s.cached == 0 and s.excluded == 0
    assert s.line().startswith("scan: 14 files (0 from the cache), 11 executables, 0 errors;")
    assert "skipped 2 symlinks" in s.line()
    assert count_files([str(tree)], ScanOptions()) == 14


def test_hard_links_read_once(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = record_opens(monkeypatch)
    (record,) = [r for r in records(tree) if rel(tree, r).startswith("hard/")]
    assert record.paths == (str(tree / "hard/a.exe"), str(tree / "hard/b.exe"))
    assert record.links == 2 and record.to_json()["paths"] == list(record.paths)
    assert [p for p in opened if "/hard/" in p] == [str(tree / "hard/a.exe")]


def test_hard_link_outside_the_scan(tmp_path: Path, sample_files: dict[str, Path]) -> None:
    root = tmp_path / "root"
    inside = put(root, "a/x.exe", sample_files["mingw/hello64.exe"])
    os.link(inside, tmp_path / "outside.exe")
    put(root, "b/y.exe", sample_files["mingw/hello32.exe"])
    scanned = records(root)
    assert [r.paths for r in scanned] == [(str(inside),), (str(root / "b/y.exe"),)]
    assert scanned[0].links == 2


def test_symlinks_skipped_and_loops(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bind mount of an ancestor (simulated: a directory with the root's identity) is skipped."""
    (tree / "mnt").mkdir()
    put(tree, "mnt/inner.exe", (tree / "bin/app.exe").read_bytes())
    root_stat = os.stat(tree)
    real_listing = scan_module._listing

    class BindMount:
        def __init__(self, entry: os.DirEntry[str]) -> None:
            self.entry = entry
            self.name, self.path = entry.name, entry.path

        def is_symlink(self) -> bool:
            return False

        def is_dir(self, *, follow_symlinks: bool = True) -> bool:
            return True

        def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
            return root_stat

    def listing(path: str) -> list[Any]:
        return [BindMount(e) if e.name == "mnt" else e for e in real_listing(path)]

    monkeypatch.setattr(scan_module, "_listing", listing)
    result = scan([tree], ScanOptions(jobs=2))
    assert [rel(tree, r) for r in result] == MIXED_RECORDS
    assert (result.summary.loops, result.summary.symlinks) == (1, 2)


def test_symlinked_root_is_followed(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(tree, target_is_directory=True)
    scanned = records(tmp_path / "alias")
    assert [rel(tmp_path / "alias", r) for r in scanned] == MIXED_RECORDS


def test_exclude_prunes_directories(tree: Path) -> None:
    result = scan([tree], ScanOptions(exclude=("bin", "*.ps1", "hard/b.exe")))
    scanned = [rel(tree, r) for r in result]
    assert scanned == ["docs/mz.txt", "empty.dll", "hard/a.exe", "scripts/go.BAT", "sparse.exe"]
    assert result.summary.excluded == 3
    assert result.summary.files == 7  # 14, less bin's five files, run.ps1 and b.exe
    # fnmatch's '*' crosses '/': the pattern matches at any depth.
    assert not any(r.path.endswith(".efi") for r in records(tree, ScanOptions(exclude=("*efi",))))


def test_all_files(tree: Path) -> None:
    scanned = records(tree, ScanOptions(all_files=True))
    names = [rel(tree, r) for r in scanned]
    assert names == sorted(
        [*MIXED_RECORDS, "docs/readme.txt", "docs/tiny.bin"],
        key=lambda n: n.split("/"),
    )
    for record in scanned:
        check_against_hash_file(record)


def test_order_independent_of_jobs(tree: Path) -> None:
    one = [json.dumps(r.to_json()) for r in records(tree, ScanOptions(jobs=1))]
    four = [json.dumps(r.to_json()) for r in records(tree, ScanOptions(jobs=4))]
    assert one == four


def test_several_roots_and_a_file_root(tree: Path, sample_files: dict[str, Path]) -> None:
    single = sample_files["mingw/hello64.dll"]
    scanned = list(scan([tree / "scripts", single, tree / "hard"]))
    assert [r.path for r in scanned] == [
        str(tree / "scripts/go.BAT"),
        str(tree / "scripts/run.ps1"),
        str(single),
        str(tree / "hard/a.exe"),
    ]


def test_version_strings_against_lief(tmp_path: Path, sample_files: dict[str, Path]) -> None:
    root = tmp_path / "all"
    for name, path in sample_files.items():
        put(root, name, path)
    scanned = records(root, ScanOptions(all_files=True))
    assert len(scanned) == len(sample_files)
    with_strings = 0
    for record in scanned:
        check_against_hash_file(record)
        strings, fixed = lief_version(record.path)
        assert record.version_error is None
        if record.version is None:
            assert strings == {}, record.path
            continue
        with_strings += 1
        assert record.version.strings_json() == strings, record.path
        assert record.version.fixed_file_version == fixed
    assert with_strings >= 12  # msvc-runtime and distlib carry version resources
    vcamp = next(r for r in scanned if r.path.endswith("vcamp140.dll"))
    assert vcamp.version is not None
    assert vcamp.version.get("OriginalFilename") == "VCAMP140.DLL"
    assert vcamp.to_json()["version_strings"]["CompanyName"] == "Microsoft Corporation"


def test_version_info_bounded(
    tree: Path, monkeypatch: pytest.MonkeyPatch, sample_files: dict[str, Path]
) -> None:
    monkeypatch.setattr(scan_module, "VERSION_INFO_MAX_SIZE", 1000)
    lib = next(r for r in records(tree) if r.path.endswith("lib.dll"))
    assert lib.version is None and lib.version_error is not None
    assert "larger than" in lib.version_error

    def broken(*args: object, **kwargs: object) -> None:
        raise VersionResourceError("hostile resource tree")

    monkeypatch.setattr(scan_module, "VERSION_INFO_MAX_SIZE", 1 << 30)
    monkeypatch.setattr(scan_module, "read_version_info", broken)
    lib = next(r for r in records(tree) if r.path.endswith("lib.dll"))
    assert lib.version_error == "hostile resource tree"
    assert lib.error is None and lib.hashes is not None


def test_malformed_version_resource_keeps_the_digests(
    tmp_path: Path, sample_files: dict[str, Path]
) -> None:
    """A real DLL whose data entry points outside every section: version_error, digests kept."""
    data = bytearray(sample_files["msvc-runtime-win_amd64/vcamp140.dll"].read_bytes())
    pe = pefile.PE(data=bytes(data), fast_load=True)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
    )
    version = next(e for e in pe.DIRECTORY_ENTRY_RESOURCE.entries if e.id == 16)
    data_entry = version.directory.entries[0].directory.entries[0].data.struct
    data[data_entry.get_file_offset() : data_entry.get_file_offset() + 4] = b"\0\0\xff\x7f"
    path = put(tmp_path, "bad.dll", bytes(data))
    (record,) = records(path)
    assert record.version is None and record.error is None
    assert record.version_error == "version resource at RVA 0x7fff0000 is in no section"
    check_against_hash_file(record)


# ------------------------------------------------------------------------------- errors


def test_unreadable_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tree / "bin/app.exe"
    if os.geteuid() != 0:
        target.chmod(0)
    else:  # root reads anything: refuse the open as the kernel would for others
        real_open = os.open

        def refusing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if os.fspath(path) == str(target):
                raise PermissionError(errno.EACCES, "Permission denied", str(target))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr("exewhitelist.hashing.os.open", refusing)
    try:
        result = scan([tree], ScanOptions(jobs=2))
        scanned = list(result)
    finally:
        target.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert [rel(tree, r) for r in scanned] == MIXED_RECORDS
    failed = scanned[0]
    assert failed.error == f"{target}: Permission denied"
    assert failed.hashes is None and failed.path == str(target)
    record = failed.to_json()
    assert record["sha256"] is None and record["paths"] == [str(target)]
    assert result.summary.errors == 1 and result.summary.executables == 10


def test_unreadable_directory(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_listing = scan_module._listing

    def listing(path: str) -> list[os.DirEntry[str]]:
        if path.endswith("scripts"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_listing(path)

    monkeypatch.setattr(scan_module, "_listing", listing)
    scanned = records(tree)
    failed = [r for r in scanned if r.error]
    assert [r.error for r in failed] == [f"{tree / 'scripts'}: Permission denied"]


def test_vanished_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_listing = scan_module._listing

    def listing(path: str) -> list[os.DirEntry[str]]:
        entries = real_listing(path)
        if path.endswith("bin"):
            os.unlink(os.path.join(path, "tool.EXE"))  # listed, then gone
        return entries

    monkeypatch.setattr(scan_module, "_listing", listing)
    scanned = records(tree)
    tool = next(r for r in scanned if r.path.endswith("tool.EXE"))
    assert tool.error == f"{tree / 'bin/tool.EXE'}: No such file or directory"


@pytest.mark.parametrize("change", ["grown", "truncated", "touched"])
def test_file_changed_while_read(tree: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    target = tree / "bin/lib.dll"
    inode = target.stat().st_ino
    real_read_chunk = hashing_module._read_chunk

    def read_chunk(reader: Any, view: memoryview) -> tuple[int, bool]:
        result = real_read_chunk(reader, view)
        if os.fstat(reader.fileno()).st_ino == inode and not changed:
            changed.append(True)
            if change == "grown":
                with target.open("ab") as f:
                    f.write(b"appended while being read")
            elif change == "truncated":
                os.truncate(target, 100)
            else:
                os.utime(target, ns=(0, 10**9))
        return result

    changed: list[bool] = []
    monkeypatch.setattr(hashing_module, "_read_chunk", read_chunk)
    scanned = records(tree)
    (failed,) = [r for r in scanned if r.error]
    assert failed.path == str(target) and failed.hashes is None
    assert failed.error is not None and "file changed while being read" in failed.error
    assert len(scanned) == len(MIXED_RECORDS)


def test_truncated_pe(tree: Path) -> None:
    target = tree / "bin/lib.dll"
    os.truncate(target, target.stat().st_size // 2)
    (failed,) = [r for r in records(tree) if r.error]
    assert failed.error == f"{target}: truncated PE image (section_past_end_of_file)"
    check_against_hash_file(failed)  # the digests of the bytes there are are kept
    os.truncate(target, 300)  # inside the section table
    (failed,) = [r for r in records(tree) if r.error]
    assert failed.error == f"{target}: truncated PE image (truncated_headers)"
    assert failed.to_json()["pe"] is None and failed.to_json()["pe_error"]


def test_special_files_skipped(tree: Path) -> None:
    os.mkfifo(tree / "bin/pipe.exe")
    result = scan([tree], ScanOptions(jobs=2))
    assert [rel(tree, r) for r in result] == MIXED_RECORDS
    assert result.summary.special == 1


def test_file_replaced_by_fifo_is_not_waited_for(tree: Path) -> None:
    """A path that is a FIFO by the time it is opened: an error, not a hang."""
    os.mkfifo(tree / "fifo")
    outcome = scan_module._examine(str(tree / "fifo"), False, True)
    assert outcome.error is not None and outcome.error.startswith(f"{tree / 'fifo'}: ")
    with pytest.raises(FileReadError, match="not a regular file"):
        hash_file(tree / "fifo")


# ------------------------------------------------------------------------ golden images


def test_windows_paths_keep_the_file_systems_case(
    tmp_path: Path, sample_files: dict[str, Path]
) -> None:
    image = golden_image(tmp_path / "image", sample_files)
    scanned = records(image, ScanOptions(windows_root="C:\\"))
    assert [r.windows_path for r in scanned] == [
        "C:\\Program Files\\App\\App.exe",
        "C:\\Program Files\\App\\plugins\\Plugin.dll",
        "C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe",
        "C:\\Windows\\System32\\MSVCP140.dll",
        "C:\\Windows\\System32\\vcruntime140.dll",
    ]
    deeper = records(image / "Program Files", ScanOptions(windows_root="D:\\Apps\\"))
    assert deeper[0].windows_path == "D:\\Apps\\App\\App.exe"
    (one,) = records(image / "Program Files/App/App.exe", ScanOptions(windows_root="C:\\a.exe"))
    assert one.windows_path == "C:\\a.exe"


@pytest.mark.parametrize(
    "windows_root", ["C:/Windows", "relative\\dir", "C:\\*", "%WINDIR%\\x", "C:\\a|b"]
)
def test_bad_windows_root(windows_root: str) -> None:
    with pytest.raises(ScanError, match="--as"):
        ScanOptions(windows_root=windows_root)


def test_bad_arguments(tree: Path) -> None:
    with pytest.raises(ScanError, match="No such file or directory"):
        scan([tree / "missing"])
    with pytest.raises(ScanError, match="single root"):
        scan([tree, tree], ScanOptions(windows_root="C:\\"))
    with pytest.raises(ScanError, match="at least 1"):
        ScanOptions(jobs=0)
    with pytest.raises(ScanError, match="no root"):
        scan([])


def test_close_early(tree: Path) -> None:
    result = scan([tree], ScanOptions(jobs=2))
    first = next(result)
    result.close()
    assert first.path == str(tree / "bin/app.exe")
    assert list(result) == []


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000000Z"
    assert iso_utc(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert iso_utc(-1) == "1969-12-31T23:59:59.999999Z"
    assert iso_utc(10**21) is None  # past year 9999 (NTFS goes to 30828)
