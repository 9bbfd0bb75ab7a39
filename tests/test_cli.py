"""``exewhitelist hash`` end to end, as a subprocess."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from exewhitelist import hash_file


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


def test_json_lines(sample_files: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("not a program\n")
    paths = [
        sample_files["shim-signed/shimx64.efi.signed"],
        sample_files["mingw/hello32.exe"],
        text,
    ]
    proc = run("hash", "--json", *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in paths]
    for record, path in zip(records, paths, strict=True):
        assert record == hash_file(path).to_json()
        assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    shim, hello, readme = records
    assert shim["signed"] is True and shim["pe"]["format"] == "PE32+"
    assert hello["signed"] is False and hello["pe"]["format"] == "PE32"
    assert readme["pe"] is None and readme["authenticode_sha256"] is None
    for key in ("authenticode_sha256", "authenticode_sha1", "page_sha256", "page_sha1"):
        assert len(shim[key]) in (40, 64)
    assert shim["anomalies"] == []


def test_failures_reported_and_exit_1(sample_files: dict[str, Path], tmp_path: Path) -> None:
    good = sample_files["mingw/hello64.exe"]
    missing = tmp_path / "missing.exe"
    proc = run("hash", "--json", str(missing), str(good), str(tmp_path))
    assert proc.returncode == 1
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert records[0] == {"path": str(missing), "error": f"{missing}: No such file or directory"}
    assert records[1]["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert records[2]["error"] == f"{tmp_path}: Is a directory"
    assert proc.stderr.count("\n") == 2  # one line per failure


def test_human_table(sample_files: dict[str, Path]) -> None:
    path = sample_files["mingw/hello64-signed.exe"]
    proc = run("hash", str(path))
    assert proc.returncode == 0
    header, row = proc.stdout.splitlines()
    assert header.startswith("AUTHENTICODE-SHA256")
    r = hash_file(path)
    assert row.split() == [str(r.authenticode_sha256), r.sha256, "PE32+/amd64,signed", str(path)]


def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("hash").returncode == 2
    assert run("frobnicate").returncode == 2


def test_console_script_installed() -> None:
    exe = Path(sys.executable).with_name("exewhitelist")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("exewhitelist ")
