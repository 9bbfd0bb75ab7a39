"""The ``default`` template: AppLocker's default rules, with exceptions for the folders
under Windows that ordinary users can write to, bootable and quiet under validation."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist.blob import read_blob
from exewhitelist.bootsafety import boot_critical_paths, check_boot_safety
from exewhitelist.errors import PolicyError, PolicyProblem
from exewhitelist.policy import Action, Mode, Query, decide
from exewhitelist.policyfile import canonical, load_policy, save_policy
from exewhitelist.policylint import USER_WRITABLE_FOLDERS, path_rule_warnings
from exewhitelist.rules import DEFAULT_VARIABLES, PathRule
from exewhitelist.templates import template_policy


def test_default_template_allows_windows_and_program_files_but_not_writable_folders() -> None:
    policy = template_policy("default")
    assert policy.mode is Mode.AUDIT  # audit first, then set-mode enforce
    for path in (
        "C:\\Windows\\System32\\cmd.exe",
        "C:\\Windows\\explorer.exe",
        "C:\\Program Files\\Contoso\\app.exe",
        "C:\\Program Files (x86)\\Contoso\\app.exe",
    ):
        assert decide(policy, Query(path)).action is Action.ALLOW, path
    for folder in USER_WRITABLE_FOLDERS:
        variable, rest = folder[1:].split("%", 1)
        dropped = DEFAULT_VARIABLES[variable][0] + rest + "\\sub\\payload.exe"
        assert decide(policy, Query(dropped)).action is Action.DENY, dropped
    assert decide(policy, Query("C:\\Users\\a\\Downloads\\x.exe")).action is Action.DENY


def test_default_template_boots_in_enforce_mode() -> None:
    policy = dataclasses.replace(template_policy("default"), mode=Mode.ENFORCE)
    for image, path in boot_critical_paths():
        assert decide(policy, Query(path)).action is Action.ALLOW, image


def test_default_template_has_no_writable_folder_warning() -> None:
    policy = template_policy("default")
    paths = [(i, r) for i, r in enumerate(policy.rules) if isinstance(r, PathRule)]
    problems: list[PolicyProblem] = []
    messages = [message for _, _, message in path_rule_warnings(paths, problems)]
    assert not [m for m in messages if "ordinary users can write" in m], messages
    # Without its exceptions the Windows rule is warned about: the lint sees exceptions.
    bare = [(i, dataclasses.replace(r, exceptions=())) for i, r in paths]
    messages = [message for _, _, message in path_rule_warnings(bare, [])]
    assert [m for m in messages if "ordinary users can write" in m]


def test_unknown_template() -> None:
    with pytest.raises(PolicyError, match="unknown template 'strict'"):
        template_policy("strict")


def test_policy_new_writes_the_template_and_it_compiles_and_boots(tmp_path: Path) -> None:
    out = tmp_path / "start.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "policy", "new", "--name", "start", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert load_policy(out) == canonical(template_policy("default", "start"))
    # Validate is quiet about it, and compile in enforce mode passes the boot check.
    validate = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "policy", "validate", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validate.returncode == 0 and "0 warning(s)" in validate.stdout, validate.stdout
    save_policy(dataclasses.replace(load_policy(out), mode=Mode.ENFORCE), out)
    blob = tmp_path / "start.bin"
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "compile", str(out), "-o", str(blob)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    compiled = read_blob(blob.read_bytes())
    assert not compiled.needs_signers  # path exceptions only: the driver takes it
    assert check_boot_safety(compiled) == []
    temp = compiled.decide(path="C:\\Windows\\Temp\\x.exe")
    assert temp.action is Action.DENY
