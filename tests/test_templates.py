"""The ``default`` template: AppLocker's default rules, with exceptions for the folders
under Windows that ordinary users can write to, bootable and quiet under validation."""

from __future__ import annotations

import dataclasses

import pytest

from exewhitelist.bootsafety import boot_critical_paths
from exewhitelist.errors import PolicyError, PolicyProblem
from exewhitelist.policy import Action, Mode, Query, decide
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
