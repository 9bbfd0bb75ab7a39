"""Never brick (issue 16 item 2): an enforce-mode policy that denies a boot image is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.bootsafety import (
    BOOT_CRITICAL,
    BOOT_CRITICAL_DLLS,
    boot_critical_paths,
    check_boot_safety,
)
from exewhitelist.policy import Mode, Policy
from exewhitelist.rules import Action, RuleKind, make_rule

WINDOWS = make_rule("windows", Action.ALLOW, RuleKind.PATH, "%WINDIR%\\*")
A = "a" * 64


def _check(
    *rules: object, mode: Mode = Mode.ENFORCE, records: object = None, image_loads: bool = False
) -> list[str]:
    """Programs only unless ``image_loads`` (the DLLs then too)."""
    policy = Policy("p", 1, mode, tuple(rules))  # type: ignore[arg-type]
    blob = read_blob(compile_policy(policy))
    problems = check_boot_safety(blob, records, image_loads=image_loads)  # type: ignore[arg-type]
    return [p.path for p in problems]


def _records(images: tuple[str, ...], digest: str = "a" * 64) -> list[dict[str, object]]:
    """A golden-image scan's records of ``images``, each with ``digest``."""
    return [
        {"windows_path": path, "authenticode_sha256": digest, "sha256": "b" * 64, "error": None}
        for _, path in boot_critical_paths(images=images)
    ]


def test_the_list_is_written_once_and_expands_under_the_default_variables() -> None:
    paths = dict(boot_critical_paths())
    assert set(paths) == set(BOOT_CRITICAL)
    assert paths["%SYSTEM32%\\smss.exe"] == "C:\\Windows\\System32\\smss.exe"
    assert paths["%WINDIR%\\explorer.exe"] == "C:\\Windows\\explorer.exe"
    names = {p.rsplit("\\", 1)[1].lower() for p in BOOT_CRITICAL}
    for must in ("smss.exe", "csrss.exe", "wininit.exe", "winlogon.exe", "services.exe"):
        assert must in names
    for must in ("lsass.exe", "lsaiso.exe", "svchost.exe", "logonui.exe", "userinit.exe"):
        assert must in names


def test_an_empty_enforce_policy_denies_every_boot_image() -> None:
    assert len(_check()) == len(BOOT_CRITICAL)
    assert len(_check(image_loads=True)) == len(BOOT_CRITICAL) + len(BOOT_CRITICAL_DLLS)


def test_windir_allowed_is_bootable_and_audit_is_always_bootable() -> None:
    assert _check(WINDOWS) == []
    assert _check(mode=Mode.AUDIT) == []


def test_a_deny_path_rule_on_one_image_is_caught_with_its_rule() -> None:
    deny = make_rule("no-lsass", Action.DENY, RuleKind.PATH, "%SYSTEM32%\\lsass.exe")
    policy = Policy("p", 1, Mode.ENFORCE, (WINDOWS, deny))
    problems = check_boot_safety(read_blob(compile_policy(policy)))
    assert [(p.path, p.rule_id) for p in problems] == [
        ("C:\\Windows\\System32\\lsass.exe", "no-lsass")
    ]


def test_hash_rules_without_scan_records_do_not_count_a_path_needs_no_read() -> None:
    # Allowed by hash only: the driver's read may fail (staged decision, hash missing).
    allow_a = make_rule("a", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, A)
    assert len(_check(allow_a)) == len(BOOT_CRITICAL)


def test_scan_records_allow_images_by_their_recorded_digests() -> None:
    allow_a = make_rule("a", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, A)
    records = [
        {"windows_path": path, "authenticode_sha256": A, "sha256": "b" * 64, "error": None}
        for _, path in boot_critical_paths()
    ]
    assert _check(allow_a, records=records) == []
    # One image scanned with another digest: that one alone is denied.
    records[0] = {**records[0], "authenticode_sha256": "c" * 64}
    assert _check(allow_a, records=records) == [boot_critical_paths()[0][1]]


def test_a_deny_hash_rule_cannot_be_bypassed_by_an_allow_path() -> None:
    # With a deny hash rule, a path allow needs the digest: without it, denied.
    deny_a = make_rule("a", Action.DENY, RuleKind.AUTHENTICODE_SHA256, A)
    assert len(_check(WINDOWS, deny_a)) == len(BOOT_CRITICAL)


# ---- image loads enforced: the DLLs the boot-critical programs load ----------


def test_the_dll_list_is_written_once_and_holds_what_every_win32_process_loads() -> None:
    names = {p.rsplit("\\", 1)[1].lower() for p in BOOT_CRITICAL_DLLS}
    for must in ("kernel32.dll", "kernelbase.dll", "user32.dll", "advapi32.dll", "sechost.dll"):
        assert must in names
    for must in ("basesrv.dll", "winsrv.dll", "lsasrv.dll", "msv1_0.dll"):
        assert must in names
    assert "ntdll.dll" not in names  # mapped by the kernel before any driver: never decided
    assert len(names) == len(BOOT_CRITICAL_DLLS)  # no duplicates
    paths = dict(boot_critical_paths(images=BOOT_CRITICAL_DLLS))
    assert paths["%SYSTEM32%\\kernel32.dll"] == "C:\\Windows\\System32\\kernel32.dll"


def test_programs_allowed_by_hash_without_their_dlls_refused_with_image_loads_enforced() -> None:
    allow_a = make_rule("a", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, A)
    records = _records(BOOT_CRITICAL)  # the golden image's programs, all allowed by hash
    denied = _check(allow_a, records=records, image_loads=True)
    assert denied == [path for _, path in boot_critical_paths(images=BOOT_CRITICAL_DLLS)]
    assert _check(allow_a, records=records) == []  # image loads audited: the programs suffice
    # The DLLs scanned and allowed by their digests too: bootable.
    everything = records + _records(BOOT_CRITICAL_DLLS)
    assert _check(allow_a, records=everything, image_loads=True) == []
    # One DLL scanned with another digest: that one alone is denied.
    everything[len(records)] = {**everything[len(records)], "authenticode_sha256": "c" * 64}
    assert _check(allow_a, records=everything, image_loads=True) == [
        boot_critical_paths(images=BOOT_CRITICAL_DLLS)[0][1]
    ]


def test_without_a_scan_the_dlls_are_checked_against_their_paths() -> None:
    programs = [
        make_rule(f"p{i}", Action.ALLOW, RuleKind.PATH, image)
        for i, image in enumerate(BOOT_CRITICAL)
    ]
    assert _check(*programs) == []
    assert len(_check(*programs, image_loads=True)) == len(BOOT_CRITICAL_DLLS)
    system32 = make_rule("s", Action.ALLOW, RuleKind.PATH, "%SYSTEM32%\\*")
    assert _check(*programs, system32, image_loads=True) == []
    assert _check(WINDOWS, image_loads=True) == []
    deny = make_rule("no-user32", Action.DENY, RuleKind.PATH, "%SYSTEM32%\\user32.dll")
    assert _check(WINDOWS, deny, image_loads=True) == ["C:\\Windows\\System32\\user32.dll"]
    assert _check(mode=Mode.AUDIT, image_loads=True) == []


def test_image_loads_are_assumed_enforced_by_default() -> None:
    """The conservative choice: ImageLoads is a driver setting the policy does
    not carry, so the check assumes it may be 2."""
    policy = Policy("p", 1, Mode.ENFORCE, ())
    problems = check_boot_safety(read_blob(compile_policy(policy)))
    assert len(problems) == len(BOOT_CRITICAL) + len(BOOT_CRITICAL_DLLS)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


EMPTY_ENFORCE = '[policy]\nname = "p"\nversion = 1\nmode = "enforce"\n'
BOOTABLE = EMPTY_ENFORCE + '\n[[rule]]\nid = "windows"\naction = "allow"\npath = "%WINDIR%\\\\*"\n'


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_cli_refuses_an_unbootable_policy_unless_told(tmp_path: Path, command: str) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(EMPTY_ENFORCE)
    args = (
        ("policy", "validate", str(policy))
        if command == "validate"
        else ("compile", str(policy), "-o", str(tmp_path / "p.bin"))
    )
    proc = _run(*args)
    assert proc.returncode != 0
    assert (
        "smss.exe" in proc.stdout + proc.stderr
        and "--allow-unbootable" in proc.stderr + proc.stdout
    )
    assert not (tmp_path / "p.bin").exists()
    proc = _run(*args[:2], "--allow-unbootable", *args[2:])
    assert proc.returncode == 0, proc.stderr
    policy.write_text(BOOTABLE)
    assert _run(*args).returncode == 0


def test_cli_dlls_of_the_scan_with_image_loads_enforced_or_audited(tmp_path: Path) -> None:
    """A policy allowing the golden image's programs by hash but none of their
    DLLs: refused by default (image loads may be enforced), accepted with
    --image-loads audit, accepted by default once the DLLs are allowed too."""
    policy = tmp_path / "p.toml"
    policy.write_text(
        EMPTY_ENFORCE + f'\n[[rule]]\naction = "allow"\nauthenticode_sha256 = "{A}"\n'
    )
    scan = tmp_path / "scan.jsonl"
    scan.write_text(
        "".join(json.dumps({"path": "/m", **r}) + "\n" for r in _records(BOOT_CRITICAL))
    )
    for command in (("policy", "validate"), ("compile",)):
        out = ("-o", str(tmp_path / "p.bin")) if command == ("compile",) else ()
        proc = _run(*command, "--image", str(scan), str(policy), *out)
        assert proc.returncode != 0
        assert "kernel32.dll" in proc.stdout + proc.stderr
        assert "smss.exe" not in proc.stdout + proc.stderr  # the programs are allowed
        assert "--image-loads audit" in proc.stdout + proc.stderr
        proc = _run(*command, "--image", str(scan), "--image-loads", "audit", str(policy), *out)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    everything = _records(BOOT_CRITICAL) + _records(BOOT_CRITICAL_DLLS)
    scan.write_text("".join(json.dumps({"path": "/m", **r}) + "\n" for r in everything))
    proc = _run("policy", "validate", "--image", str(scan), str(policy))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_image_scan_records(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        EMPTY_ENFORCE + f'\n[[rule]]\naction = "allow"\nauthenticode_sha256 = "{A}"\n'
    )
    scan = tmp_path / "scan.jsonl"
    scan.write_text(
        "".join(
            json.dumps(
                {
                    "path": "/m" + str(i),
                    "windows_path": p,
                    "authenticode_sha256": A,
                    "sha256": "b" * 64,
                    "error": None,
                }
            )
            + "\n"
            for i, (_, p) in enumerate(
                boot_critical_paths() + boot_critical_paths(images=BOOT_CRITICAL_DLLS)
            )
        )
    )
    assert _run("policy", "validate", str(policy)).returncode == 1
    proc = _run("policy", "validate", "--image", str(scan), str(policy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
