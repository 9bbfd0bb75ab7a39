"""``exewhitelist scan`` and ``policy from-scan`` end to end, as subprocesses."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scan_trees import MIXED_RECORDS, golden_image, mixed_tree

from exewhitelist import hash_file
from exewhitelist.policy import RuleKind
from exewhitelist.policyfile import load_policy

SUMMARY = re.compile(
    r"scan: (\d+) files \((\d+) from the cache\), (\d+) executables, (\d+) errors; "
    r"[\d.]+ MB hashed in [\d.]+ s \(\d+ MB/s\)(; skipped .*)?\n"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def tree(tmp_path: Path, sample_files: dict[str, Path]) -> Path:
    return mixed_tree(tmp_path / "tree", sample_files)


def test_scan_json_lines_and_summary(tree: Path) -> None:
    proc = run("scan", str(tree), "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["path"]).relative_to(tree).as_posix() for r in records] == MIXED_RECORDS
    match = SUMMARY.fullmatch(proc.stderr)
    assert match, proc.stderr
    assert match.groups()[:4] == ("14", "0", "11", "0")
    assert "\r" not in proc.stderr  # no progress line when stderr is not a terminal
    app = records[0]
    assert {k: app[k] for k in hash_file(app["path"]).to_json()} == hash_file(app["path"]).to_json()


def test_output_file_and_exit_1(tree: Path, tmp_path: Path) -> None:
    os.truncate(tree / "bin/lib.dll", 1000)
    out = tmp_path / "scan.jsonl"
    proc = run("scan", str(tree), "-o", str(out))
    assert proc.returncode == 1
    assert proc.stdout == ""
    records = [json.loads(line) for line in out.read_text().splitlines()]
    (failed,) = [r for r in records if r["error"]]
    assert failed["path"] == str(tree / "bin/lib.dll")
    match = SUMMARY.fullmatch(proc.stderr)
    assert match and match.group(4) == "1"


@pytest.mark.parametrize(
    "args",
    [
        ["missing-root"],
        ["{tree}", "--as", "C:/Windows"],
        ["{tree}", "{tree}", "--as", "C:\\"],
        ["{tree}", "--jobs", "0"],
        ["{tree}", "--cache", "{tree}/docs/readme.txt"],
        [],
    ],
)
def test_bad_arguments_exit_2(tree: Path, args: list[str]) -> None:
    proc = run("scan", *(a.format(tree=tree) for a in args))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") >= 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("windows_root", "why"),
    [
        ("C:", "start with a drive and '\\' (C:\\) or a share"),
        ("%WINDIR%", "not a full Windows path"),
        ("C:\\Apps\\*", "no variable, no '*' or '?'"),
        ("C:\\..\\Apps", "'..' goes above C:\\"),
    ],
)
def test_as_says_what_a_windows_location_is(tree: Path, windows_root: str, why: str) -> None:
    """Issue 18: ``--as 'C:'`` was answered with the path-pattern message (variables, wildcards)."""
    proc = run("scan", str(tree), "--as", windows_root)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"exewhitelist: --as {windows_root!r}: ")
    assert why in proc.stderr and proc.stderr.count("\n") == 1
    assert "wildcard (*\\tool.exe)" not in proc.stderr


def test_as_is_normalized(tree: Path) -> None:
    proc = run("scan", str(tree / "bin/app.exe"), "--as", "C:\\Apps\\.\\Old\\..\\app.exe")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["windows_path"] == "C:\\Apps\\app.exe"


def test_progress_line_drawn_and_cleared(tree: Path) -> None:
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exewhitelist", "scan", str(tree)],
            stdout=subprocess.DEVNULL,
            stderr=secondary,
        )
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(primary)
    text = seen.decode().replace("\r\n", "\n")
    assert re.search(r"\r\x1b\[K\d+(/14)? files  \d+ records  0 errors  \d+ MB  \d+ MB/s", text)
    _, summary = text.rsplit("\r\x1b[K", 1)
    assert SUMMARY.fullmatch(summary), summary  # the line is erased before the summary


def test_golden_image_to_policy_to_decisions(tmp_path: Path, sample_files: dict[str, Path]) -> None:
    image = golden_image(tmp_path / "image", sample_files)
    scan_file = tmp_path / "image.jsonl"
    proc = run("scan", str(image), "--as", "C:\\", "--exclude", "Users", "-o", str(scan_file))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in scan_file.read_text().splitlines()]
    assert [r["windows_path"] for r in records] == [
        "C:\\Program Files\\App\\App.exe",
        "C:\\Program Files\\App\\plugins\\Plugin.dll",
        "C:\\Windows\\System32\\MSVCP140.dll",
        "C:\\Windows\\System32\\vcruntime140.dll",
    ]

    policy_file = tmp_path / "image.toml"
    proc = run(
        "policy",
        "from-scan",
        str(scan_file),
        "--path-rule-folder",
        "C:\\Program Files",
        "--name",
        "Golden image",
        "-o",
        str(policy_file),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    policy = load_policy(policy_file)
    kinds = sorted((r.kind.value, r.value) for r in policy.rules)
    system32 = [r for r in records if "System32" in r["windows_path"]]
    assert kinds == sorted(
        [("authenticode_sha256", r["authenticode_sha256"]) for r in system32]
        + [("path", "C:\\Program Files\\*")]
    )
    (folder_rule,) = [r for r in policy.rules if r.kind is RuleKind.PATH]
    assert folder_rule.id == "path:C:\\Program Files\\*"
    assert folder_rule.comment == "2 scanned file(s) under it"

    blob = tmp_path / "rules.bin"
    assert run("compile", "--allow-unbootable", str(policy_file), "-o", str(blob)).returncode == 0

    def check(file: Path, windows_path: str) -> dict[str, object]:
        proc = run("check", str(blob), str(file), "--as", windows_path, "--json")
        decision: dict[str, object] = json.loads(proc.stdout)
        assert proc.returncode == (0 if decision["decision"] == "allow" else 1)
        return decision

    dll = check(image / "Windows/System32/vcruntime140.dll", "C:\\Windows\\System32\\x.dll")
    assert (dll["decision"], dll["decided_by"]) == ("allow", "authenticode_sha256")
    app = check(image / "Program Files/App/App.exe", "C:\\PROGRAM FILES\\App\\App.exe")
    assert (app["decision"], app["decided_by"]) == ("allow", "path")
    temp = image / "Users/bob/AppData/Local/Temp/x.exe"
    denied = check(temp, "C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe")
    assert (denied["decision"], denied["rule"]) == ("deny", None)


def test_from_scan_warns_about_error_records(tree: Path, tmp_path: Path) -> None:
    os.truncate(tree / "bin/lib.dll", 1000)
    scan_file = tmp_path / "scan.jsonl"
    assert run("scan", str(tree), "-o", str(scan_file)).returncode == 1
    proc = run("policy", "from-scan", str(scan_file), "--format", "json")
    assert proc.returncode == 0
    assert proc.stderr == (
        f"exewhitelist: warning: no rule: {tree / 'bin/lib.dll'}: "
        "truncated PE image (headers_past_end_of_file, section_past_end_of_file)\n"
        f"exewhitelist: warning: no rule: {tree / 'empty.dll'}: "
        "empty file: an allow rule for the digest of no bytes would allow every empty file\n"
    )
    records = [json.loads(line) for line in scan_file.read_text().splitlines()]
    digests = {
        r["authenticode_sha256"] or r["sha256"] for r in records if r["size"] and not r["error"]
    }
    assert len(digests) == len(MIXED_RECORDS) - 2  # neither the truncated nor the empty file
    rules = json.loads(proc.stdout)["rule"]
    assert {r.get("authenticode_sha256") or r["file_sha256"] for r in rules} == digests


def test_from_scan_bad_folder_exits_2(tree: Path, tmp_path: Path) -> None:
    scan_file = tmp_path / "scan.jsonl"
    scan_file.write_text("")
    proc = run("policy", "from-scan", str(scan_file), "--path-rule-folder", "Program Files")
    assert proc.returncode == 2
    assert "path rule folder 'Program Files'" in proc.stderr


def test_exclude_ignores_case_on_a_windows_image_and_warns_when_unused(tree: Path) -> None:
    """Issue 18: ``--exclude`` was case-sensitive on a Windows image, and silent on a typo."""
    proc = run("scan", str(tree), "--as", "C:\\", "--exclude", "BIN", "--exclude", "nothing/*")
    assert proc.returncode == 0, proc.stderr
    paths = [json.loads(line)["windows_path"] for line in proc.stdout.splitlines()]
    assert paths and not any(p.startswith("C:\\bin\\") for p in paths)
    assert "warning: --exclude 'nothing/*' matched nothing" in proc.stderr
    assert "'BIN'" not in proc.stderr
    # Without --as the tree is a POSIX one: case counts, and the unused pattern is named.
    proc = run("scan", str(tree), "--exclude", "BIN")
    assert any("/bin/" in json.loads(line)["path"] for line in proc.stdout.splitlines())
    assert "warning: --exclude 'BIN' matched nothing" in proc.stderr


def test_from_scan_refuses_folders_without_windows_paths(tree: Path, tmp_path: Path) -> None:
    """Issue 18: on a scan without --as, --path-rule-folder silently wrote only hash rules."""
    scan_file = tmp_path / "scan.jsonl"
    assert run("scan", str(tree), "-o", str(scan_file)).returncode == 0
    proc = run("policy", "from-scan", str(scan_file), "--path-rule-folder", "C:\\Apps")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "has no windows_path: path rule folders need the records of a scan with --as" in (
        proc.stderr
    )


def test_from_scan_variable_folder_end_to_end(
    tmp_path: Path, sample_files: dict[str, Path]
) -> None:
    """A golden image scanned as D:\\: %PROGRAMFILES% is D:\\Program Files, and the blob
    allows the files through the variable the driver resolves on that machine."""
    image = golden_image(tmp_path / "image", sample_files)
    scan_file = tmp_path / "image.jsonl"
    proc = run("scan", str(image), "--as", "D:\\", "--exclude", "users", "-o", str(scan_file))
    assert proc.returncode == 0, proc.stderr
    policy_file = tmp_path / "image.toml"
    proc = run(
        "policy", "from-scan", str(scan_file), "--path-rule-folder", "%PROGRAMFILES%",
        "-o", str(policy_file),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    policy = load_policy(policy_file)
    (folder,) = [r for r in policy.rules if r.kind is RuleKind.PATH]
    assert (folder.value, folder.comment) == ("%PROGRAMFILES%\\*", "2 scanned file(s) under it")
    names = sorted(r.name for r in policy.rules if r.kind is not RuleKind.PATH)
    assert names == [
        "D:\\Windows\\System32\\MSVCP140.dll",
        "D:\\Windows\\System32\\vcruntime140.dll",
    ]
    # --var says where Program Files is on the image instead: nothing is under it.
    proc = run(
        "policy", "from-scan", str(scan_file), "--path-rule-folder", "%PROGRAMFILES%",
        "--var", "PROGRAMFILES=E:\\Apps",
    )  # fmt: skip
    assert "0 scanned file(s) under it" in proc.stdout
