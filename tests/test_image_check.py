"""Whole-image answers: ``check --scan`` and ``scan diff`` on a golden image the test builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scan_trees import golden_image, put

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.imagecheck import PolicyDecider, decide_records
from exewhitelist.policyfile import loads_toml
from exewhitelist.staging import Fact, Facts, Reason
from exewhitelist.winpath import image_variables


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def image(tmp_path: Path, sample_files: dict[str, Path]) -> Path:
    """The golden image, with App.exe also hard-linked into a user folder."""
    root = golden_image(tmp_path / "image", sample_files)
    os.makedirs(root / "Users/bob/Desktop")
    os.link(root / "Program Files/App/App.exe", root / "Users/bob/Desktop/App.exe")
    return root


def _scan(image: Path, out: Path, *exclude: str) -> Path:
    flags = [f for pattern in exclude for f in ("--exclude", pattern)]
    proc = run("scan", str(image), "--as", "C:\\", "-o", str(out), *flags)
    assert proc.returncode == 0, proc.stderr
    return out


def _blob(scan_file: Path, tmp_path: Path) -> Path:
    policy = tmp_path / "image.toml"
    proc = run(
        "policy", "from-scan", str(scan_file), "--path-rule-folder", "%PROGRAMFILES%",
        "-o", str(policy),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    blob = tmp_path / "image.bin"
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(blob)).returncode == 0
    return blob


def test_check_scan_lists_what_would_be_denied(image: Path, tmp_path: Path) -> None:
    scan_file = _scan(image, tmp_path / "image.jsonl")
    # The policy is made without the user's temporary files.
    blob = _blob(_scan(image, tmp_path / "policy.jsonl", "users/*/appdata"), tmp_path)
    proc = run("check", str(blob), "--scan", str(scan_file))
    assert proc.returncode == 1, proc.stderr
    # The Temp file only (the hard link on the Desktop is allowed by its hash rule).
    assert proc.stdout == (
        "C:\\Users\\bob\\AppData\\Local\\Temp\\  (1 denied)\n"
        "  DENY          (no rule: default deny)  x.exe\n"
    )
    assert proc.stderr == "check: 5 allowed, 1 denied, 0 error(s)\n"

    # --json: one object per file and link, the same decision check gives on the file.
    proc = run("check", "--json", str(blob), "--scan", str(scan_file))
    verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(verdicts) == 6
    for verdict in verdicts:
        one = run("check", "--json", str(blob), verdict["path"], "--as", verdict["windows_path"])
        assert json.loads(one.stdout) == verdict
    desktop = next(v for v in verdicts if "Desktop" in v["windows_path"])
    assert (desktop["decision"], desktop["decided_by"]) == ("allow", "authenticode_sha256")


def test_check_scan_allows_everything_scanned_and_reports_errors(
    image: Path, tmp_path: Path
) -> None:
    os.remove(image / "Users/bob/AppData/Local/Temp/x.exe")
    scan_file = _scan(image, tmp_path / "image.jsonl")
    blob = _blob(scan_file, tmp_path)
    proc = run("check", str(blob), "--scan", str(scan_file))
    assert (proc.returncode, proc.stdout) == (0, "")
    records = scan_file.read_text().splitlines()
    broken = json.loads(records[0]) | {"error": "gone", "sha256": None}
    scan_file.write_text("\n".join([json.dumps(broken), *records[1:]]) + "\n")
    proc = run("check", str(blob), "--scan", str(scan_file))
    assert proc.returncode == 2
    assert f"{broken['path']}: gone" in proc.stderr
    for refused in (["x.exe"], ["--as", "C:\\x.exe"], ["--no-hash"]):
        proc = run("check", str(blob), *refused, "--scan", str(scan_file))
        assert proc.returncode == 2 and "--scan decides the scan's records" in proc.stderr


def test_update_diff_and_second_run_need_no_edits(
    image: Path, tmp_path: Path, sample_files: dict[str, Path]
) -> None:
    """The admin's loop: scan, policy, update some files, scan again, diff, policy again."""
    before = _scan(image, tmp_path / "before.jsonl", "users/*/appdata")
    put(image, "Windows/System32/vcruntime140.dll", sample_files["mingw/hello32-signed.exe"])
    put(image, "Program Files/App/New.exe", sample_files["mingw/hello32.exe"])
    os.remove(image / "Windows/System32/MSVCP140.dll")
    after = _scan(image, tmp_path / "after.jsonl", "users/*/appdata")

    proc = run("scan", "diff", str(before), str(after))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "+ C:\\Program Files\\App\\New.exe",
        "- C:\\Windows\\System32\\MSVCP140.dll",
        "~ C:\\Windows\\System32\\vcruntime140.dll",
    ]
    changed = json.loads(run("scan", "diff", "--json", str(before), str(after)).stdout)
    (dll,) = changed["changed"]
    microsoft = "O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US (valid)"
    assert dll["old"]["signers"] == [microsoft, microsoft]  # SHA-1 and nested SHA-256
    assert dll["new"]["signers"] == ["CN=EXEWHITELIST TEST SIGNER (valid)"]
    assert lines[2].endswith(f"[{microsoft}; {microsoft}] -> [CN=EXEWHITELIST TEST SIGNER (valid)]")
    assert dll["old"]["authenticode_sha256"] in lines[2]
    assert dll["new"]["authenticode_sha256"] in lines[2]
    assert proc.stderr == "scan diff: 1 added, 1 removed, 1 changed\n"
    assert run("scan", "diff", str(after), str(after)).returncode == 0

    old_blob = _blob(before, tmp_path)
    proc = run("check", str(old_blob), "--scan", str(after))
    assert "C:\\Windows\\System32\\  (1 denied)" in proc.stdout  # the updated DLL
    assert "New.exe" not in proc.stdout  # under %PROGRAMFILES%
    new_blob = _blob(after, tmp_path)
    proc = run("check", str(new_blob), "--scan", str(after))
    assert (proc.returncode, proc.stdout) == (0, "")  # no hand edits


def test_without_windows_paths(image: Path, tmp_path: Path) -> None:
    """A scan without --as: check --scan decides by digests and says so; scan diff keys paths."""
    scan_file = tmp_path / "posix.jsonl"
    assert run("scan", str(image), "-o", str(scan_file)).returncode == 0
    blob = tmp_path / "hashes.bin"
    policy = tmp_path / "hashes.toml"
    assert run("policy", "from-scan", str(scan_file), "-o", str(policy)).returncode == 0
    deny_temp = ["--id", "temp", "--action", "deny", "--path", "*\\Temp\\*"]
    assert run("policy", "rule", "add", str(policy), *deny_temp).returncode == 0
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(blob)).returncode == 0
    proc = run("check", str(blob), "--scan", str(scan_file))
    # No Windows path: the deny path rule cannot be checked, the digests allow each file.
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr.startswith(
        "exewhitelist: 5 record(s) without windows_path (scan without --as): path rules not "
        "checked, decided by their digests\n"
    )
    (image / "Users/bob/AppData/Local/Temp/x.exe").unlink()
    after = tmp_path / "after.jsonl"
    assert run("scan", str(image), "-o", str(after)).returncode == 0
    proc = run("scan", "diff", str(scan_file), str(after))
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"- {image}/Users/bob/AppData/Local/Temp/x.exe  authenticode ")


def test_default_template_golden_image_and_an_update_need_no_edits(
    image: Path, tmp_path: Path, sample_files: dict[str, Path]
) -> None:
    """Issue 18's loop from the default template: the golden image's own file in Windows\\Temp
    is allowed by its hash rule (an exception takes the path allow away, not the hash allow),
    a file dropped there later is denied, and an update under Windows is allowed with no edit;
    the policy compiles without --allow-unbootable."""
    put(image, "Windows/Temp/setup-helper.exe", sample_files["mingw/hello32.exe"])
    before = _scan(image, tmp_path / "before.jsonl", "users/*/appdata")
    base, files, policy = (tmp_path / f"{n}.toml" for n in ("base", "files", "golden"))
    blob = tmp_path / "golden.bin"
    steps = [
        ("policy", "new", "--name", "golden", "--mode", "enforce", "-o", str(base)),
        ("policy", "from-scan", str(before), "--name", "golden", "-o", str(files)),
        ("policy", "merge", str(base), str(files), "--name", "golden", "-o", str(policy)),
        ("compile", str(policy), "-o", str(blob)),
    ]
    for step in steps:
        proc = run(*step)
        assert proc.returncode == 0, (step, proc.stderr)
    proc = run("check", str(blob), "--scan", str(before))
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout
    # The update: a new DLL under System32, a file a user drops in Windows\Temp.
    put(image, "Windows/System32/new.dll", sample_files["mingw/hello64-signed.dll"])
    put(image, "Windows/Temp/dropped.exe", sample_files["setuptools-win_amd64/gui-64.exe"])
    after = _scan(image, tmp_path / "after.jsonl", "users/*/appdata")
    proc = run("check", str(blob), "--scan", str(after))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == (
        "C:\\Windows\\Temp\\  (1 denied)\n  DENY          (no rule: default deny)  dropped.exe\n"
    )


_FOLDER_RULES = """\
[policy]
name = "folders"
version = 1
mode = "enforce"

[[rule]]
id = "windows"
action = "allow"
path = '%WINDIR%\\*'
exceptions = [{ path = '%WINDIR%\\Temp\\*' }, { authenticode_sha256 = "AUTH" }]

[[rule]]
id = "tools"
action = "allow"
path = 'C:\\Tools\\*'

[[rule]]
id = "temp"
action = "deny"
path = '*\\Temp\\*'

[[rule]]
id = "sub"
action = "deny"
path = 'C:\\Tools\\?ad\\*'

[[rule]]
action = "allow"
file_sha256 = "FLAT"
"""


_NAME_RULE = """
[[rule]]
id = "exe"
action = "deny"
path = 'C:\\Tools\\b*.exe'
"""


@pytest.mark.parametrize("name_rule", ["", _NAME_RULE], ids=["folder-rules", "a-name-rule"])
def test_whole_image_shortcuts_give_the_staged_answer(name_rule: str) -> None:
    """A whole-image check decides each file by the plain decision when every input is known,
    and searches the paths of one folder once when every pattern ends in \\*: the staged
    decision on the blob (no shortcut) and the policy model must give the same answers, at
    paths that share folders, whose name continues a variable's value, or without a folder."""
    auth, flat = "ab" * 32, "cd" * 32
    text = _FOLDER_RULES.replace("AUTH", auth).replace("FLAT", flat) + name_rule
    policy = loads_toml(text)
    blob = read_blob(compile_policy(policy))
    variables = image_variables({"WINDIR": ["C:\\Windows"]})
    windows_paths = [
        "C:\\Windows\\notepad.exe",
        "C:\\Windows\\System32\\a.exe",
        "C:\\WINDOWS\\system32\\b.exe",
        "C:\\Windowsx.exe",
        "C:\\Windows",
        "C:\\Windows\\Temp\\c.exe",
        "C:\\Tools\\a.exe",
        "C:\\Tools\\b.exe",
        "C:\\Tools\\bad\\c.exe",
        "C:\\Tools\\pad\\Temp\\d.exe",
        "C:\\Users\\u\\Temp\\e.exe",
        "C:\\Users\\u\\f.exe",
        "g.exe",
    ]
    records = [
        {"path": f"/image/{n}", "windows_path": w, "sha256": digest, "authenticode_sha256": a}
        for n, w in enumerate(windows_paths)
        for digest, a in ((flat, None), ("00" * 32, auth), ("00" * 32, None))
    ]
    got = list(decide_records(blob, records, variables))
    model = list(decide_records(PolicyDecider(policy), records, variables))
    assert len(got) == len(model) == len(records)
    for record, verdict, expected in zip(records, got, model, strict=True):
        facts = Facts(
            Fact.KNOWN, record["windows_path"], Fact.KNOWN,
            record["authenticode_sha256"], record["sha256"],
        )  # fmt: skip
        staged = blob.decide_staged(facts, variables)
        model_staged = PolicyDecider(policy).decide_staged(facts, variables).decision
        assert verdict.decision == staged.decision, record
        assert verdict.reason is staged.reason is Reason.RULE
        assert verdict.decision is not None and expected.decision is not None
        assert model_staged is not None
        answer = (verdict.decision.action, verdict.decision.rule_id)
        assert answer == (expected.decision.action, expected.decision.rule_id), record
        assert answer == (model_staged.action, model_staged.rule_id), record
    decided = {(v.windows_path, v.decision.rule_id) for v in got if v.decision is not None}
    assert ("C:\\Windowsx.exe", "file_sha256:" + flat) in decided
    assert ("C:\\Windows\\notepad.exe", "windows") in decided
    assert ("C:\\Users\\u\\Temp\\e.exe", "temp") in decided
