"""``--cache``: unchanged files are not opened again, changed ones are; bad caches are refused."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from scan_trees import HOUR_AGO_NS, MIXED_RECORDS, backdate, mixed_tree, record_opens, records

import exewhitelist.scan as scan_module
from exewhitelist import ScanCacheError, ScanOptions
from exewhitelist.scan import CACHE_SCHEMA_VERSION, scan


@pytest.fixture
def tree(tmp_path: Path, sample_files: dict[str, Path]) -> Path:
    root = mixed_tree(tmp_path / "tree", sample_files)
    backdate(root)
    return root


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return record_opens(monkeypatch)


def lines(root: Path, cache: Path, *, all_files: bool = False) -> list[str]:
    scanned = records(root, ScanOptions(jobs=2, cache=str(cache), all_files=all_files))
    return [json.dumps(r.to_json()) for r in scanned]


def test_second_scan_reads_nothing(tree: Path, tmp_path: Path, opened: list[str]) -> None:
    cache = tmp_path / "scan.db"
    first = lines(tree, cache)
    assert len(opened) == len(MIXED_RECORDS) + 1  # docs/readme.txt is opened to look for MZ
    opened.clear()
    result = scan([tree], ScanOptions(jobs=2, cache=str(cache)))
    second = [json.dumps(r.to_json()) for r in result]
    assert opened == []
    assert second == first
    assert result.summary.cached == len(MIXED_RECORDS) + 1
    assert result.summary.bytes_hashed == 0
    # Issue 18: the cached count (a non-executable among them) is not "of the executables".
    executables = result.summary.executables
    assert result.summary.line().startswith(
        f"scan: 14 files ({executables + 1} from the cache), {executables} executables, 0 errors;"
    )
    assert first == [json.dumps(r.to_json()) for r in records(tree)]  # as without a cache


def test_changed_files_are_read_again(tree: Path, tmp_path: Path, opened: list[str]) -> None:
    cache = tmp_path / "scan.db"
    lines(tree, cache)
    touched = tree / "bin/app.exe"
    os.utime(touched, ns=(HOUR_AGO_NS + 10**9, HOUR_AGO_NS + 10**9))
    # Same size, same mtime, other bytes: only the ctime tells.
    rewritten = tree / "bin/renamed.dat"
    data = bytearray(rewritten.read_bytes())
    data[-1] ^= 0xFF
    rewritten.write_bytes(data)
    os.utime(rewritten, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    opened.clear()
    again = lines(tree, cache)
    assert sorted(opened) == [str(touched), str(rewritten)]
    assert again == lines(tree, tmp_path / "fresh.db")


def test_recently_modified_files_are_not_cached(
    tree: Path, tmp_path: Path, opened: list[str]
) -> None:
    cache = tmp_path / "scan.db"
    (tree / "bin/app.exe").touch()  # modified now: within the racy window
    lines(tree, cache)
    opened.clear()
    lines(tree, cache)
    assert opened == [str(tree / "bin/app.exe")]


def test_all_files_after_a_normal_scan(tree: Path, tmp_path: Path, opened: list[str]) -> None:
    cache = tmp_path / "scan.db"
    lines(tree, cache)
    opened.clear()
    everything = lines(tree, cache, all_files=True)
    # What the first scan only looked at (not an executable) is now hashed.
    assert sorted(opened) == [str(tree / "docs/readme.txt"), str(tree / "docs/tiny.bin")]
    assert everything == lines(tree, tmp_path / "fresh.db", all_files=True)


def test_not_an_sqlite_file_is_refused(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "policy.toml"
    cache.write_text("[policy]\nname = 'precious'\n")
    with pytest.raises(ScanCacheError, match="not a scan cache"):
        lines(tree, cache)
    assert cache.read_text() == "[policy]\nname = 'precious'\n"


def test_foreign_sqlite_database_is_refused(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "other.db"
    with sqlite3.connect(cache) as db:
        db.execute("CREATE TABLE precious (x)")
    with pytest.raises(ScanCacheError, match="not a scan cache"):
        lines(tree, cache)
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("precious",)]


def test_corrupted_cache_is_refused(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "scan.db"
    lines(tree, cache)
    data = bytearray(cache.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)
    cache.write_bytes(data)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    with pytest.raises(ScanCacheError, match="delete it"):
        lines(tree, cache)


def test_cache_of_another_schema_is_rebuilt(tree: Path, tmp_path: Path, opened: list[str]) -> None:
    cache = tmp_path / "scan.db"
    first = lines(tree, cache)
    with sqlite3.connect(cache) as db:
        db.execute(
            "UPDATE exewhitelist_scan_cache SET value=? WHERE key='schema'",
            (str(CACHE_SCHEMA_VERSION + 1),),
        )
    opened.clear()
    assert lines(tree, cache) == first
    assert len(opened) == len(MIXED_RECORDS) + 1  # nothing reused
    opened.clear()
    assert lines(tree, cache) == first
    assert opened == []  # and written again in the current schema


def test_what_is_cached_after_errors(
    tree: Path, tmp_path: Path, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A truncated PE is cached (its bytes decide); a file that could not be read is not."""
    cache = tmp_path / "scan.db"
    os.truncate(tree / "bin/lib.dll", 1000)
    os.utime(tree / "bin/lib.dll", ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    refused = str(tree / "bin/app.exe")
    real = scan_module._examine

    def examine(path: str, *args: Any) -> Any:
        if path == refused:
            return scan_module._Outcome(error=f"{path}: Permission denied")
        return real(path, *args)

    monkeypatch.setattr(scan_module, "_examine", examine)
    first = lines(tree, cache)
    assert [json.loads(line)["error"] is not None for line in first].count(True) == 2
    monkeypatch.setattr(scan_module, "_examine", real)
    opened.clear()
    second = lines(tree, cache)
    assert opened == [refused]
    assert second[1:] == first[1:]


def test_a_damaged_row_is_read_again_never_served(tree: Path, tmp_path: Path) -> None:
    """Issue 19 item 3: a bit flipped in a row's digests once went straight into the output."""
    cache = tmp_path / "scan.db"
    first = lines(tree, cache)
    db = sqlite3.connect(cache)
    with db:
        for path, content in db.execute("SELECT path, content FROM files").fetchall():
            if content is None:
                continue
            record = json.loads(content)
            digest = record["sha256"]
            record["sha256"] = digest[:10] + ("0" if digest[10] != "0" else "1") + digest[11:]
            db.execute("UPDATE files SET content=? WHERE path=?", (json.dumps(record), path))
    db.close()
    assert lines(tree, cache) == first


def test_random_damage_to_the_cache_file_never_changes_a_record(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "scan.db"
    first = lines(tree, cache)
    pristine = cache.read_bytes()
    rng = __import__("random").Random(19)
    for _ in range(40):
        damaged = bytearray(pristine)
        offset = rng.randrange(len(damaged))
        damaged[offset] ^= 1 << rng.randrange(8)
        cache.write_bytes(bytes(damaged))
        for sidecar in (tmp_path / "scan.db-wal", tmp_path / "scan.db-shm"):
            sidecar.unlink(missing_ok=True)
        try:
            again = lines(tree, cache)
        except ScanCacheError:
            continue  # refused as a whole: SQLite found the damage
        assert again == first, offset


def test_scans_started_together_share_a_new_cache(tree: Path, tmp_path: Path) -> None:
    """Issue 19 item 9: four first scans on one new cache once failed with "table already
    exists" or "database is locked"."""
    import subprocess
    import sys

    for round_number in range(3):
        cache = tmp_path / f"shared-{round_number}.db"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "exewhitelist", "scan", str(tree), "--cache", str(cache)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * 4, [err for _, err in outputs]
        assert len({out for out, _ in outputs}) == 1
