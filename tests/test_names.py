"""File names that are not UTF-8 (issue 19 item 8): one escaping, every command, every reader.

On POSIX a file name is bytes. exewhitelist decodes it as Python does
(PEP 383: each byte that is not UTF-8 becomes a lone surrogate U+DC80-U+DCFF),
writes it in JSON as that ``\\udcXX`` escape and on a text stdout as the
original byte, and every reader of its JSON takes the escape back. A strict
UTF-8 stdout must not turn such a name into a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist import load_policy

NAME = b"bad\xffname.exe"


def run(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"exewhitelist", *map(os.fsencode, args)],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.fixture
def odd_file(tmp_path: Path, sample_files: dict[str, Path]) -> bytes:
    folder = os.fsencode(tmp_path / "tree")
    os.mkdir(folder)
    path = os.path.join(folder, NAME)
    with open(path, "wb") as f:
        f.write(sample_files["mingw/hello64.exe"].read_bytes())
    return path


def test_every_command_handles_a_name_that_is_not_utf8(tmp_path: Path, odd_file: bytes) -> None:
    proc = run("hash", odd_file)
    assert proc.returncode == 0 and NAME in proc.stdout, proc.stderr
    proc = run("hash", "--json", odd_file)
    record = json.loads(proc.stdout)
    assert os.fsencode(record["path"]) == odd_file
    assert b"\\udcff" in proc.stdout  # the documented escape, in ASCII

    policy = tmp_path / "p.toml"
    hashes = tmp_path / "hashes.jsonl"
    hashes.write_bytes(proc.stdout)
    proc = run("policy", "from-hashes", str(hashes), "-o", str(policy))
    assert proc.returncode == 0, proc.stderr
    blob = tmp_path / "rules.bin"
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(blob)).returncode == 0
    for args in (("check", str(blob), odd_file), ("check", "--json", str(blob), odd_file)):
        proc = run(*args)
        assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    assert json.loads(run("check", "--json", str(blob), odd_file).stdout)["decision"] == "allow"

    odd_policy = os.path.join(os.fsencode(tmp_path), b"p\xfe.toml")
    with open(odd_policy, "wb") as f:
        f.write(policy.read_bytes())
    proc = run("policy", "validate", "--allow-unbootable", odd_policy)
    assert proc.returncode == 0 and b"p\xfe.toml" in proc.stdout, proc.stderr
    proc = run("policy", "validate", "--allow-unbootable", "--json", odd_policy)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr


def test_scan_records_with_such_names_make_a_policy(tmp_path: Path, odd_file: bytes) -> None:
    out = tmp_path / "scan.jsonl"
    proc = run("scan", os.path.dirname(odd_file), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    (record,) = [json.loads(line) for line in out.read_text("ascii").splitlines()]
    assert os.fsencode(record["path"]) == odd_file
    proc = run("policy", "from-scan", str(out), "-o", str(tmp_path / "p.toml"))
    assert proc.returncode == 0, proc.stderr
    (rule,) = load_policy(tmp_path / "p.toml").rules
    assert rule.name == "bad\\xffname.exe"  # the byte, spelled out
