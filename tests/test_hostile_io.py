"""Outputs and inputs under hostile or unlucky conditions (issue 19, items 1, 4-7, 10, 11, 13).

Planted temporaries and links, special files as targets, a full disk
(simulated with RLIMIT_FSIZE: the write fails with EFBIG, as it would with
ENOSPC), FIFOs and devices as inputs, deep nesting and huge numbers in
policy files, closed pipes and interrupts. Every case: a clear one-line
error or the conventional status, and no file lost or half written.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from exewhitelist import (
    DigestAlgorithmError,
    FileChangedError,
    FileReadError,
    InputError,
    PolicyError,
    authenticode_digest,
    hash_file,
    load_policy,
)
from exewhitelist.blob import compile_policy_file
from exewhitelist.fileio import read_regular_file, write_atomically

POLICY = """[policy]
name = "p"
version = 1
mode = "enforce"

[[rule]]
action = "allow"
file_sha256 = "{digest}"
"""


def run(
    *args: str, limit: int | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    def cap() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args],
        capture_output=True,
        input=stdin,
        preexec_fn=cap,
        check=False,
        timeout=60,
    )


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(POLICY.format(digest="ab" * 32))
    return path


def test_a_planted_temporary_link_is_not_followed(tmp_path: Path, policy: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for planted in (".rules.bin.tmp", ".policy.reg.tmp"):
        (shared / planted).symlink_to(victim)
    assert (
        run(
            "compile", "--allow-unbootable", str(policy), "-o", str(shared / "rules.bin")
        ).returncode
        == 0
    )
    assert (
        run(
            "deploy", str(shared / "rules.bin"), "--reg-file", str(shared / "policy.reg")
        ).returncode
        == 0
    )
    assert victim.read_text() == "precious\n"
    assert (shared / "rules.bin").read_bytes() == compile_policy_file(policy)
    assert (shared / "policy.reg").stat().st_size > 0


def test_a_link_as_the_target_is_replaced_not_followed(tmp_path: Path, policy: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "rules.bin"
    target.symlink_to(victim)
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(target)).returncode == 0
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink() and target.read_bytes() == compile_policy_file(policy)


def test_a_fifo_target_is_written_not_replaced(tmp_path: Path, policy: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(fifo)).returncode == 0
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received == [compile_policy_file(policy)]


def test_a_device_target_stays_a_device(tmp_path: Path, policy: Path) -> None:
    """``-o /dev/null`` as root once replaced /dev/null: tested on a null device of our own."""
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root (CI runs as root)")
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(null)).returncode == 0
    assert stat.S_ISCHR(null.stat().st_mode)


def test_a_full_disk_loses_nothing(tmp_path: Path, policy: Path) -> None:
    """merge P -o P, compile and from-hashes on a full disk: the old file stays whole."""
    big = tmp_path / "big.toml"
    rules = "".join(f'\n[[rule]]\naction = "allow"\nfile_sha256 = "{n:064x}"\n' for n in range(200))
    big.write_text(POLICY.format(digest="ab" * 32) + rules)
    before = big.read_bytes()
    proc = run("policy", "merge", str(big), "-o", str(big), limit=len(before) // 2)
    assert proc.returncode == 2 and proc.stderr.count(b"\n") == 1, proc.stderr
    assert big.read_bytes() == before
    blob = tmp_path / "rules.bin"
    blob.write_bytes(b"old blob")
    proc = run("compile", "--allow-unbootable", str(big), "-o", str(blob), limit=1000)
    assert proc.returncode == 2 and proc.stderr.count(b"\n") == 1, proc.stderr
    assert blob.read_bytes() == b"old blob"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml", "p.toml", "rules.bin"]


def test_an_interrupted_scan_leaves_no_partial_output(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for n in range(50):
        (tree / f"f{n}.exe").write_bytes(b"MZ" + n.to_bytes(4, "little") * 64)
    with open(tree / "huge.exe", "wb") as huge:  # sparse: seconds of hashing, no disk
        huge.write(b"MZ")
        huge.truncate(16 << 30)
    out = tmp_path / "scan.jsonl"
    out.write_text("previous scan\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exewhitelist", "scan", str(tree), "-o", str(out), "--jobs", "1"],
        stderr=subprocess.PIPE,
    )
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert out.read_text() == "previous scan\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("command", [("policy", "merge"), ("compile",)])
def test_a_closed_pipe_is_the_conventional_status(tmp_path: Path, command: tuple[str, ...]) -> None:
    big = tmp_path / "big.toml"
    rules = "".join(
        f'\n[[rule]]\naction = "allow"\nfile_sha256 = "{n:064x}"\n' for n in range(40_000)
    )
    big.write_text(POLICY.format(digest="ab" * 32) + rules)
    extra = ("--allow-unbootable", "-o", "-") if command == ("compile",) else ()
    line = " ".join((sys.executable, "-m", "exewhitelist", *command, str(big), *extra))
    shell = subprocess.run(
        ["/bin/bash", "-c", f"{line} | head -c 100 >/dev/null; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shell.stdout.strip() == "141", shell.stderr
    assert "Traceback" not in shell.stderr and "Exception ignored" not in shell.stderr


@pytest.mark.parametrize("form", [(), ("--json",)], ids=["text", "json"])
def test_a_closed_pipe_ends_a_whole_image_check_quietly(
    tmp_path: Path, form: tuple[str, ...]
) -> None:
    """check --scan streams its results through the one output routine: a reader that goes
    away ends it with 141, never 1 (denied) or 2, whichever the form."""
    scan = tmp_path / "scan.jsonl"
    with scan.open("w") as out:
        for n in range(30_000):
            windows_path = f"C:\\Users\\u{n % 500}\\f{n}.exe"
            record = {"path": f"/img/f{n}.exe", "windows_path": windows_path, "sha256": f"{n:064x}"}
            out.write(json.dumps(record) + "\n")
    policy = tmp_path / "p.toml"
    policy.write_text(POLICY.format(digest="ab" * 32))
    line = " ".join(
        (sys.executable, "-m", "exewhitelist", "check", str(policy), "--scan", str(scan), *form)
    )
    shell = subprocess.run(
        ["/bin/bash", "-c", f"{line} | head -c 100 >/dev/null; echo ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shell.stdout.strip() == "141", shell.stderr
    assert "Traceback" not in shell.stderr and "Exception ignored" not in shell.stderr


def test_special_files_as_inputs_are_refused_at_once(tmp_path: Path, policy: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.toml"
    link.symlink_to(fifo)
    for args in (
        ("inspect", str(fifo)),
        ("inspect", "/dev/zero"),
        ("policy", "validate", str(link)),
        ("compile", str(link), "-o", str(tmp_path / "x.bin")),
        ("policy", "from-hashes", "/dev/zero"),
        ("check", str(fifo), str(policy)),
    ):
        proc = run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert b"not a regular file" in proc.stderr and proc.stderr.count(b"\n") == 1, args
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as f:
        f.truncate(2 << 30)
    proc = run("inspect", str(sparse))
    assert proc.returncode == 2 and b"larger than any" in proc.stderr
    with pytest.raises(InputError, match="not a regular file"):
        read_regular_file(fifo, 100, "policy file")


def test_an_endless_stdin_is_cut_off(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run(
            [sys.executable, "-m", "exewhitelist", "policy", "from-hashes", "-"],
            stdin=zero,
            capture_output=True,
            check=False,
            timeout=120,
        )
    assert proc.returncode == 2 and proc.stderr.count(b"\n") == 1, proc.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", '{"policy": ' + "[" * 1000 + "]" * 1000 + "}"),
        ("deep.toml", "[policy]\nname = " + "[" * 500 + "]" * 500 + "\n"),
        ("huge.toml", '[policy]\nname = "p"\nversion = ' + "9" * 5000 + "\n"),
        ("huge.json", '{"policy": {"name": "p", "version": ' + "9" * 5000 + "}}"),
    ],
)
def test_deep_nesting_and_huge_numbers_are_problems(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PolicyError):
        load_policy(path)
    with pytest.raises(PolicyError):
        compile_policy_file(path)
    proc = run("policy", "validate", "--json", str(path))
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["severity"] == "error"
    proc = run("compile", "--allow-unbootable", str(path), "-o", str(tmp_path / "x.bin"))
    assert (
        proc.returncode == 2 and proc.stderr.count(b"\n") == 1 and b"Traceback" not in proc.stderr
    )


def test_write_atomically_keeps_the_old_file_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keep.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full)
        with pytest.raises(OSError, match="No space"):
            write_atomically(target, b"new")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_rewrite_that_restores_the_mtime_is_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rewritten in place while hashed, its mtime put back (cp -p, rsync --inplace -t):
    the change time still moves, and the torn digest is refused."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"a" * (1 << 20))
    st = path.stat()
    real_fstat = os.fstat
    calls = 0

    def rewrite_between_stats(fd: int) -> os.stat_result:
        nonlocal calls
        calls += 1
        if calls == 2:  # after the read, before the check
            time.sleep(0.01)
            with open(path, "r+b") as f:
                f.write(b"b" * (1 << 20))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return real_fstat(fd)

    monkeypatch.setattr(os, "fstat", rewrite_between_stats)
    with pytest.raises(FileChangedError, match="change times"):
        hash_file(path)


def test_api_errors_stay_in_the_hierarchy(tmp_path: Path) -> None:
    with pytest.raises(FileReadError, match="NUL"):
        hash_file("a\0b")
    pe = tmp_path / "x.bin"
    pe.write_bytes(b"MZ")
    with pytest.raises(DigestAlgorithmError, match="no-such-hash"):
        authenticode_digest(pe, "no-such-hash")


def test_stdout_on_a_full_disk_is_one_line_and_exit_2(tmp_path: Path) -> None:
    files = []
    for n in range(200):
        path = tmp_path / f"f{n}.bin"
        path.write_bytes(n.to_bytes(2, "little"))
        files.append(str(path))
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "exewhitelist", "hash", "--json", *files],
            stdout=full,
            stderr=subprocess.PIPE,
            check=False,
            timeout=60,
        )
    assert proc.returncode == 2 and proc.stderr.count(b"\n") == 1, proc.stderr
    assert b"No space left" in proc.stderr
