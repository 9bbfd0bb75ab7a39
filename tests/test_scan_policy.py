"""``policy_from_hashes`` with path-rule folders, as ``policy from-scan`` uses it."""

from __future__ import annotations

import pytest

from exewhitelist import PolicyError, RuleKind, loads_toml
from exewhitelist.policyfile import dumps_toml
from exewhitelist.policyops import policy_from_hashes

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
        record(None, A),  # no windows_path (scanned without --as): a hash rule
    ]
    policy, skipped = policy_from_hashes(
        records,
        name="p",
        path_rule_folders=["C:\\Program Files\\App\\", "c:\\PROGRAM FILES\\APP", "D:\\Empty"],
    )
    assert skipped == []
    summary = sorted((r.kind.value, r.value, r.id, r.comment) for r in policy.rules)
    assert summary == [
        ("authenticode_sha256", A, f"authenticode_sha256:{A}", ""),
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


@pytest.mark.parametrize("folder", ["Program Files", "C:/x", "C:\\x\\*", "%PROGRAMFILES%\\x", ""])
def test_bad_folders(folder: str) -> None:
    with pytest.raises(PolicyError, match="path rule folder"):
        policy_from_hashes([], name="p", path_rule_folders=[folder])
