"""Whole-policy operations: from hash records, merge, diff."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from scan_trees import mixed_tree
from strategies import policies

from exewhitelist import hash_file
from exewhitelist.errors import PolicyError
from exewhitelist.policy import Action, Mode, Policy, Rule, RuleKind
from exewhitelist.policycheck import check_policy
from exewhitelist.policyfile import canonical, dumps_toml, loads_toml
from exewhitelist.policyops import (
    HeaderChange,
    diff_policies,
    merge_policies,
    policy_from_hashes,
)
from exewhitelist.rules import hash_rule, make_rule
from exewhitelist.scan import ScanOptions, scan

A, B, C = "a" * 64, "b" * 64, "c" * 64
AUTH, FILE, PATH = RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256, RuleKind.PATH

# --- from hashes -----------------------------------------------------------------


def test_from_real_hash_records(sample_files: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a program\n")
    paths = [
        sample_files["mingw/hello64.exe"],
        sample_files["mingw/hello32-signed.exe"],
        sample_files["shim-signed/shimx64.efi.signed"],
        text,
    ]
    records = [hash_file(p).to_json() for p in paths]
    policy, skipped = policy_from_hashes(records, name="agents", version=4, mode=Mode.AUDIT)
    assert skipped == []
    assert (policy.name, policy.version, policy.mode) == ("agents", 4, Mode.AUDIT)
    # Named after their paths: in unrelated folders (a cache, a temporary folder), in full.
    expected = {(AUTH, r["authenticode_sha256"], r["path"]) for r in records[:3]} | {
        (FILE, hashlib.sha256(text.read_bytes()).hexdigest(), str(text))
    }
    assert {(r.kind, r.value, r.name) for r in policy.rules} == expected
    assert all(r.action is Action.ALLOW and r.comment == "" for r in policy.rules)
    assert all(r.id == f"{r.kind}:{r.value}" for r in policy.rules)
    assert policy == canonical(policy)
    assert check_policy(policy) == []


def test_error_records_are_skipped(sample_files: dict[str, Path]) -> None:
    good = hash_file(sample_files["mingw/hello64.exe"]).to_json()
    bad = {"path": "/gone.exe", "error": "/gone.exe: No such file or directory"}
    policy, skipped = policy_from_hashes([bad, good], name="p")
    assert skipped == [bad]
    assert [r.value for r in policy.rules] == [good["authenticode_sha256"]]


def _record(path: str, sha256: str, authenticode: str | None = None) -> dict[str, Any]:
    return {"path": path, "sha256": sha256, "authenticode_sha256": authenticode}


def test_same_digest_makes_one_rule() -> None:
    records = [
        _record("C:\\Tools\\a.exe", A, B),
        _record("/mnt/c/other/b.exe", C, B.upper()),  # other file bytes, same Authenticode
        _record("D:\\copy\\a.exe", A, B),  # a second copy: its name is listed once
        *(_record(f"C:\\n{n}.exe", A, B) for n in range(6)),
    ]
    policy, _ = policy_from_hashes(records, name="p")
    (rule,) = policy.rules
    assert (rule.kind, rule.value, rule.name) == (AUTH, B, "C:\\Tools\\a.exe")
    assert rule.comment == (
        "also: /mnt/c/other/b.exe, D:\\copy\\a.exe, C:\\n0.exe, C:\\n1.exe, C:\\n2.exe and 3 more"
    )


def test_rules_are_named_after_paths_not_base_names() -> None:
    """Issue 18: three ``Setup.exe`` made rules a reviewer could not tell apart."""
    records = [
        _record("/img/Apps/One/Setup.exe", A, A),
        _record("/img/Apps/Two/Setup.exe", B, B),
        _record("/img/Tools/Setup.exe", C, C),
    ]
    policy, _ = policy_from_hashes(records, name="p")
    assert sorted(r.name for r in policy.rules) == [
        "Apps/One/Setup.exe",
        "Apps/Two/Setup.exe",
        "Tools/Setup.exe",
    ]
    with_windows = [
        r | {"windows_path": "C:\\" + r["path"][5:].replace("/", "\\")} for r in records
    ]
    policy, _ = policy_from_hashes(with_windows, name="p")
    assert sorted(r.name for r in policy.rules) == [
        "C:\\Apps\\One\\Setup.exe",
        "C:\\Apps\\Two\\Setup.exe",
        "C:\\Tools\\Setup.exe",
    ]


def test_the_api_s_own_records(tmp_path: Path, sample_files: dict[str, Path]) -> None:
    """Issue 18: ``policy_from_hashes`` raised AttributeError on ``scan()``'s records."""
    tree = mixed_tree(tmp_path / "tree", sample_files)
    scanned = list(scan([tree], ScanOptions(windows_root="C:\\Image")))
    policy, skipped = policy_from_hashes(scanned, name="image")
    from_json, _ = policy_from_hashes([r.to_json() for r in scanned], name="image")
    digests = {r.hashes and (r.hashes.authenticode_sha256 or r.hashes.sha256) for r in scanned}
    assert policy == from_json and len(policy.rules) == len(digests) - 1  # not the empty file
    assert [s["path"] for s in skipped] == [str(tree / "empty.dll")]
    hashed, _ = policy_from_hashes([hash_file(sample_files["mingw/hello64.exe"])], name="one")
    assert [r.name for r in hashed.rules] == ["hello64.exe"]  # relative to its own folder


def test_an_empty_file_gets_no_rule(tmp_path: Path) -> None:
    """Issue 18: a zero-byte ``.dll`` got an allow rule for the SHA-256 of no bytes."""
    empty = tmp_path / "empty.dll"
    empty.write_bytes(b"")
    record = hash_file(empty).to_json()
    policy, skipped = policy_from_hashes([record], name="p")
    assert policy.rules == ()
    assert [s["error"] for s in skipped] == [
        "empty file: an allow rule for the digest of no bytes would allow every empty file"
    ]


def test_scan_records_and_flat_only_pe() -> None:
    """``scan`` records add ``windows_path``; a PE Windows hashes flat has no Authenticode."""
    record = _record("/mnt/c/x/Setup.EXE", A) | {
        "windows_path": "C:\\x\\Setup.EXE",
        "pe_error": "truncated",
    }
    policy, _ = policy_from_hashes([record], name="p")
    assert [(r.kind, r.value, r.name) for r in policy.rules] == [(FILE, A, "C:\\x\\Setup.EXE")]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"path": "x"}, "hash record 1: not a record of 'exewhitelist hash --json'"),
        (_record("x.exe", "abc"), "hash record 1 (x.exe): rule file_sha256:abc: "),
        (_record("x.exe", A, "z" * 64), "(not hexadecimal: "),
    ],
)
def test_not_hash_records(record: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        policy_from_hashes([record], name="p")


def test_bad_header_is_refused() -> None:
    with pytest.raises(PolicyError, match="policy version"):
        policy_from_hashes([], name="p", version=-1)


# --- merge ------------------------------------------------------------------------


def _policy(*rules: Rule, name: str = "p", version: int = 1, mode: Mode = Mode.ENFORCE) -> Policy:
    return Policy(name, version, mode, rules)


def test_merge_is_the_union() -> None:
    one = _policy(
        hash_rule(AUTH, A, name="a"),
        make_rule("tools", Action.ALLOW, PATH, "C:\\Tools\\*"),
        name="one",
        version=3,
        mode=Mode.AUDIT,
    )
    two = _policy(
        hash_rule(AUTH, A, id="custom-a", name="other name"),  # the same rule
        make_rule("TOOLS", Action.ALLOW, PATH, "c:\\tools\\*"),  # the same too: folded alike
        hash_rule(FILE, B, Action.DENY),
        name="two",
        version=9,
    )
    merged = merge_policies([one, two])
    assert (merged.name, merged.version, merged.mode) == ("one", 9, Mode.AUDIT)
    assert merged.rules == (
        hash_rule(AUTH, A, name="a"),
        hash_rule(FILE, B, Action.DENY),
        make_rule("tools", Action.ALLOW, PATH, "C:\\Tools\\*"),
    )
    renamed = merge_policies([one, two], name="all", version=2)
    assert (renamed.name, renamed.version) == ("all", 2)
    assert loads_toml(dumps_toml(merged)) == merged


def test_merge_refuses_one_id_for_two_rules() -> None:
    one = _policy(make_rule("x", Action.ALLOW, PATH, "C:\\a"))
    two = _policy(make_rule("x", Action.DENY, PATH, "C:\\a"))
    with pytest.raises(PolicyError, match=r"rule id 'x' means different rules: allow path C:\\a "):
        merge_policies([one, two])


def test_merge_refuses_a_hash_allowed_and_denied() -> None:
    one = _policy(hash_rule(FILE, A, id="ok"))
    two = _policy(hash_rule(FILE, A, Action.DENY, id="no"))
    with pytest.raises(PolicyError, match="the merged policy is invalid") as info:
        merge_policies([one, two])
    assert [p.rule_id for p in info.value.problems] == ["no"]


def test_merge_nothing() -> None:
    with pytest.raises(PolicyError, match="no policies to merge"):
        merge_policies([])


@settings(max_examples=100, deadline=None)
@given(policies())
def test_merging_one_policy_canonicalises_it(policy: Policy) -> None:
    assert merge_policies([policy]) == canonical(policy)
    assert merge_policies([policy, policy]) == canonical(policy)


# --- diff -------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(policies())
def test_a_policy_does_not_differ_from_itself(policy: Policy) -> None:
    diff = diff_policies(policy, canonical(policy))
    assert diff.identical
    assert diff.lines() == []


def test_diff() -> None:
    old = _policy(
        hash_rule(AUTH, A),
        hash_rule(FILE, B, name="b"),
        make_rule("p", Action.ALLOW, PATH, "C:\\p"),
        make_rule("q", Action.ALLOW, PATH, "C:\\q"),
        name="old",
        version=1,
    )
    new = _policy(
        make_rule("q", Action.DENY, PATH, "C:\\q2", comment="moved"),
        hash_rule(FILE, B, name="b"),
        hash_rule(FILE, C, name="c"),
        make_rule("a", Action.ALLOW, PATH, "C:\\a"),
        name="old",
        version=2,
        mode=Mode.AUDIT,
    )
    diff = diff_policies(old, new)
    assert not diff.identical
    assert diff.header == (HeaderChange("version", 1, 2), HeaderChange("mode", "enforce", "audit"))
    assert [r.id for r in diff.added] == [f"file_sha256:{C}", "a"]
    assert [r.id for r in diff.removed] == [f"authenticode_sha256:{A}", "p"]
    assert [(o.value, n.value) for o, n in diff.changed] == [("C:\\q", "C:\\q2")]
    assert diff.lines() == [
        "~ policy version: 1 -> 2",
        "~ policy mode: 'enforce' -> 'audit'",
        f"- authenticode_sha256:{A}: allow",
        "- p: allow path C:\\p",
        f"+ file_sha256:{C}: allow  (c)",
        "+ a: allow path C:\\a",
        "~ q: action 'allow' -> 'deny'; path 'C:\\\\q' -> 'C:\\\\q2'; comment None -> 'moved'",
    ]
    assert diff.to_json() == {
        "identical": False,
        "header": [
            {"field": "version", "old": 1, "new": 2},
            {"field": "mode", "old": "enforce", "new": "audit"},
        ],
        "added": [
            {"id": f"file_sha256:{C}", "action": "allow", "file_sha256": C, "name": "c"},
            {"id": "a", "action": "allow", "path": "C:\\a"},
        ],
        "removed": [
            {"id": f"authenticode_sha256:{A}", "action": "allow", "authenticode_sha256": A},
            {"id": "p", "action": "allow", "path": "C:\\p"},
        ],
        "changed": [
            {
                "id": "q",
                "old": {"id": "q", "action": "allow", "path": "C:\\q"},
                "new": {"id": "q", "action": "deny", "path": "C:\\q2", "comment": "moved"},
            }
        ],
    }
