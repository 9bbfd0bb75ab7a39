"""``policy_from_hashes`` with path-rule folders, as ``policy from-scan`` uses it."""

from __future__ import annotations

import pytest

from exewhitelist import PolicyError, RuleKind, loads_toml
from exewhitelist.policyfile import dumps_toml
from exewhitelist.policyops import policy_from_hashes
from exewhitelist.winpath import image_variables

A, B, C = "a" * 64, "b" * 64, "c" * 64


def record(windows_path: str | None, digest: str) -> dict[str, object]:
    return {
        "path": "/img/" + (windows_path or "x").rsplit("\\", 1)[-1],
        "windows_path": windows_path,
        "sha256": digest,
        "authenticode_sha256": digest,
    }


def test_folders_replace_hash_rules() -> None:
    records = [
        record("C:\\Program Files\\App\\a.exe", A),
        record("C:\\program files\\app\\sub\\b.dll", B),  # folded as Windows compares
        record("C:\\Program Files\\Application\\c.exe", C),  # not under ...\App
    ]
    policy, skipped = policy_from_hashes(
        records,
        name="p",
        path_rule_folders=["C:\\Program Files\\App\\", "c:\\PROGRAM FILES\\APP", "D:\\Empty"],
    )
    assert skipped == []
    summary = sorted((r.kind.value, r.value, r.id, r.comment) for r in policy.rules)
    assert summary == [
        ("authenticode_sha256", C, f"authenticode_sha256:{C}", ""),
        (
            "path",
            "C:\\Program Files\\App\\*",
            "path:C:\\Program Files\\App\\*",
            "2 scanned file(s) under it",
        ),
        ("path", "D:\\Empty\\*", "path:D:\\Empty\\*", "0 scanned file(s) under it"),
    ]
    assert loads_toml(dumps_toml(policy)) == policy


def test_long_folder_gets_a_digest_id() -> None:
    folder = "C:\\" + "\\".join(["a-rather-long-folder-name"] * 12)
    policy, _ = policy_from_hashes([], name="p", path_rule_folders=[folder])
    (rule,) = policy.rules
    assert rule.kind is RuleKind.PATH and rule.value == folder + "\\*"
    assert rule.id.startswith("path:") and len(rule.id) == len("path:") + 64


@pytest.mark.parametrize("folder", ["Program Files", "C:/x", "C:\\x\\*", "%TEMP%\\x", ""])
def test_bad_folders(folder: str) -> None:
    with pytest.raises(PolicyError, match="path rule folder"):
        policy_from_hashes([], name="p", path_rule_folders=[folder])


def test_variable_folders_match_through_the_image_s_variables() -> None:
    """Issue 18: ``%PROGRAMFILES%\\Contoso`` could not be had from a scan."""
    records = [
        record("D:\\Program Files\\Contoso\\a.exe", A),
        record("D:\\Program Files (x86)\\Contoso\\b.dll", B),
        record("C:\\Program Files\\Contoso\\c.exe", C),  # another drive than the image's
    ]
    policy, _ = policy_from_hashes(
        records, name="p", path_rule_folders=["%programfiles%\\Contoso\\"]
    )
    rules = sorted((r.kind.value, r.value, r.comment) for r in policy.rules)
    assert rules == [
        ("authenticode_sha256", C, ""),
        ("path", "%PROGRAMFILES%\\Contoso\\*", "2 scanned file(s) under it"),
    ]
    given, _ = policy_from_hashes(
        records,
        name="p",
        path_rule_folders=["%PROGRAMFILES%\\Contoso"],
        variables=image_variables({"PROGRAMFILES": ("C:\\Program Files",)}),
    )
    assert sorted(r.kind.value for r in given.rules) == ["authenticode_sha256"] * 2 + ["path"]


def test_folders_need_windows_paths() -> None:
    """Issue 18: records of a scan without --as silently got hash rules only."""
    with pytest.raises(PolicyError, match="has no windows_path: path rule folders need"):
        policy_from_hashes([record(None, A)], name="p", path_rule_folders=["C:\\Program Files"])


def test_every_hard_link_must_be_covered() -> None:
    """Issue 18: a file linked under Program Files and under a user folder was allowed by
    the folder rule alone, and so denied at its second path."""
    linked = record("C:\\Program Files\\App\\tool.exe", A) | {
        "path": "/img/Program Files/App/tool.exe",
        "paths": ["/img/Program Files/App/tool.exe", "/img/Users/bob/tool.exe"],
    }
    both_inside = record("C:\\Program Files\\App\\two.exe", B) | {
        "path": "/img/Program Files/App/two.exe",
        "paths": ["/img/Program Files/App/two.exe", "/img/Program Files/App/bin/two.exe"],
    }
    policy, _ = policy_from_hashes(
        [linked, both_inside], name="p", path_rule_folders=["C:\\Program Files\\App"]
    )
    (allowed,) = [r for r in policy.rules if r.kind is RuleKind.AUTHENTICODE_SHA256]
    assert allowed.value == A
    assert allowed.name == "C:\\Program Files\\App\\tool.exe"
    assert allowed.comment == "also: C:\\Users\\bob\\tool.exe"
    (folder,) = [r for r in policy.rules if r.kind is RuleKind.PATH]
    assert folder.comment == "1 scanned file(s) under it"
