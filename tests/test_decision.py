"""Precedence and matching, decided through the policy model and through the blob alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.errors import PolicyError
from exewhitelist.policy import (
    DEFAULT_VARIABLES,
    Action,
    Mode,
    Policy,
    Query,
    Rule,
    RuleKind,
    decide,
    fold,
)
from exewhitelist.rules import hash_rule, make_rule

A, F, P = RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256, RuleKind.PATH
ALLOW, DENY = Action.ALLOW, Action.DENY
H1, H2 = "a1" * 32, "b2" * 32


def both(
    policy: Policy, variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES, **query: Any
) -> tuple[str, str | None, bool]:
    """Decide through the model and through the compiled blob; they must agree."""
    model = decide(policy, Query(**query), variables)
    blob = read_blob(compile_policy(policy)).decide(variables=variables, **query)
    assert (blob.action, blob.rule_id, blob.enforced) == (
        model.action,
        model.rule.id if model.rule else None,
        model.enforced,
    )
    return model.action.value, blob.rule_id, model.enforced


def policy(*rules: Rule, mode: Mode = Mode.ENFORCE) -> Policy:
    return Policy("test", 1, mode, rules)


def test_default_deny() -> None:
    assert both(policy(), path="C:\\x.exe", authenticode_sha256=H1) == ("deny", None, True)


def test_deny_by_path_beats_allow_by_hash() -> None:
    p = policy(hash_rule(A, H1, id="ok"), make_rule("temp", DENY, P, "*\\Temp\\*"))
    assert both(p, authenticode_sha256=H1, path="C:\\Temp\\a.exe") == ("deny", "temp", True)
    assert both(p, authenticode_sha256=H1, path="C:\\Tools\\a.exe") == ("allow", "ok", True)


def test_deny_by_hash_beats_allow_by_path() -> None:
    p = policy(hash_rule(F, H2, DENY, id="bad"), make_rule("tools", ALLOW, P, "C:\\Tools\\*"))
    assert both(p, file_sha256=H2, path="C:\\Tools\\a.exe") == ("deny", "bad", True)
    assert both(p, file_sha256=H1, path="C:\\Tools\\a.exe") == ("allow", "tools", True)


def test_deny_wins_within_one_kind() -> None:
    """The model decides deny; the compiler refuses such a policy as an authoring error."""
    p = policy(hash_rule(A, H1, ALLOW, id="a"), hash_rule(A, H1, DENY, id="d"))
    d = decide(p, Query(authenticode_sha256=H1))
    assert (d.action, d.rule and d.rule.id) == (DENY, "d")
    with pytest.raises(PolicyError, match="either allowed or denied"):
        compile_policy(p)


def test_first_rule_in_canonical_order_decides() -> None:
    p = policy(
        make_rule("b-any-temp", DENY, P, "*\\Temp\\*"),
        make_rule("a-users", DENY, P, "C:\\Users\\*"),
        hash_rule(A, H1, DENY, id="hash"),
    )
    # Path rules come first (in index order: prefix group first), then hash rules.
    assert both(p, authenticode_sha256=H1, path="C:\\Users\\Temp\\a.exe") == (
        "deny",
        "a-users",
        True,
    )
    assert both(p, path="C:\\Users\\Temp\\a.exe") == ("deny", "a-users", True)
    assert both(p, authenticode_sha256=H1, path="C:\\Other\\a.exe") == ("deny", "hash", True)


def test_audit_never_blocks() -> None:
    p = policy(make_rule("temp", DENY, P, "*\\Temp\\*"), mode=Mode.AUDIT)
    assert both(p, path="C:\\Temp\\a.exe") == ("deny", "temp", False)
    assert both(p, path="C:\\other.exe") == ("deny", None, False)
    assert not decide(p, Query(path="C:\\Temp\\a.exe")).blocks


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("C:\\Tools\\*", "c:\\tools\\sub\\dir\\a.exe", True),  # * crosses \
        ("C:\\Tools\\*", "C:\\Toolsmith\\a.exe", False),
        ("C:\\Tools\\?.exe", "C:\\Tools\\a.exe", True),
        ("C:\\Tools\\?.exe", "C:\\Tools\\ab.exe", False),
        ("*\\tool.exe", "D:\\deep\\down\\TOOL.EXE", True),
        ("*\\tool.exe", "D:\\deep\\down\\mytool.exe", False),
        ("C:\\App\\*.exe", "C:\\App\\x.exe.txt", False),
        ("*", "C:\\anything", True),
        ("%WINDIR%\\*", "C:\\Windows\\System32\\cmd.exe", True),
        ("%WINDIR%\\*", "C:\\WindowsApps\\x.exe", False),
        ("%SYSTEM32%\\cmd.exe", "c:\\windows\\system32\\CMD.EXE", True),
        ("%PROGRAMFILES%\\App\\*", "C:\\Program Files\\App\\a.exe", True),
        ("%PROGRAMFILES%\\App\\*", "C:\\Program Files (x86)\\App\\a.exe", True),
        ("%PROGRAMFILES%\\App\\*", "C:\\ProgramData\\App\\a.exe", False),
        ("%OSDRIVE%\\Tools\\*", "C:\\Tools\\x.exe", True),
        ("%OSDRIVE%\\Tools\\*", "D:\\Tools\\x.exe", False),
        # Non-ASCII letters fold as Windows folds them (simple uppercase per code unit).
        ("C:\\Données\\Été\\*", "C:\\DONNÉES\\été\\a.exe", True),
        ("C:\\Юникод\\файл.exe", "c:\\юникод\\ФАЙЛ.EXE", True),
        ("C:\\Ωmega\\*", "C:\\ωMEGA\\x", True),
        ("C:\\straße\\*", "C:\\STRASSE\\x", False),  # ß has no one-unit uppercase
        ("C:\\straße\\*", "C:\\STRAßE\\x", True),
        ("C:\\𝐀\\?.exe", "C:\\𝐀\\a.exe", True),  # a non-BMP character is two code units
        ("C:\\?\\a.exe", "C:\\𝐀\\a.exe", False),
        ("C:\\??\\a.exe", "C:\\𝐀\\a.exe", True),
    ],
)
def test_path_matching(pattern: str, path: str, matches: bool) -> None:
    p = policy(make_rule("r", ALLOW, P, pattern))
    assert both(p, path=path) == (("allow", "r", True) if matches else ("deny", None, True))


def test_variables_come_from_the_caller() -> None:
    p = policy(make_rule("win", ALLOW, P, "%WINDIR%\\*"))
    elsewhere = {"WINDIR": ["D:\\WinNT"]}
    assert both(p, elsewhere, path="D:\\WINNT\\x.exe") == ("allow", "win", True)
    assert both(p, elsewhere, path="C:\\Windows\\x.exe") == ("deny", None, True)


def test_fold_per_code_unit() -> None:
    assert fold("abcé") == "ABCÉ"
    assert fold("ß") == "ß"
    assert len(fold("𝐀")) == 2  # surrogate pair, left alone


def test_a_path_starting_with_a_variable_unit_is_not_the_variable() -> None:
    p = policy(make_rule("w", ALLOW, P, "%WINDIR%\\x.exe"))
    assert both(p, path="\uf001\\x.exe") == ("deny", None, True)
    assert both(p, path="C:\\Windows\\x.exe") == ("allow", "w", True)


def test_decided_by_prints_as_the_kind_of_rule() -> None:
    """Issue 18: ``BlobDecision.decided_by`` printed as a number (an IntEnum's str)."""
    blob = read_blob(
        compile_policy(policy(make_rule("apps", ALLOW, P, "C:\\Apps\\*"), hash_rule(A, H1)))
    )
    by_path = blob.decide(path="C:\\Apps\\a.exe")
    by_hash = blob.decide(authenticode_sha256=H1)
    by_default = blob.decide(path="C:\\Temp\\a.exe")
    assert [str(d.decided_by) for d in (by_path, by_hash, by_default)] == [
        "path",
        "authenticode_allow",
        "default_deny",
    ]
    assert f"{by_path.decided_by}" == "path"
