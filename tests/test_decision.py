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
from exewhitelist.rules import (
    CertificateId,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    Pin,
    Publisher,
    Signer,
    SignerFacts,
    hash_rule,
    make_rule,
)

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


# -- publisher rules and exceptions (blob 1.1): the model and the blob agree

PCA = CertificateId("sha256", "c1" * 32)
OTHER = CertificateId("sha256", "d0" * 32)
PUB = RuleKind.PUBLISHER


def signed(
    version: str | None = None, cn: str | None = "Contoso", **attributes: str
) -> SignerFacts:
    return SignerFacts(
        (Signer((OTHER, PCA), cn),),
        {FileAttribute(k): v for k, v in attributes.items()},
        FileVersion.parse(version) if version is not None else None,
    )


@pytest.mark.parametrize(
    ("action", "bounds", "version", "matches"),
    [
        # A lone minimum: an allow rule allows that version and later, a deny rule denies
        # that version and earlier (WDAC).
        (ALLOW, ("2.0.0.0", None), "2.0.0.0", True),
        (ALLOW, ("2.0.0.0", None), "1.9.9.9", False),
        (DENY, ("2.0.0.0", None), "2.0.0.0", True),
        (DENY, ("2.0.0.0", None), "2.0.0.1", False),
        (DENY, ("2.0.0.0", None), "1.0.0.0", True),
        # A lone maximum: the other way round.
        (ALLOW, (None, "2.0.0.0"), "2.0.0.1", False),
        (ALLOW, (None, "2.0.0.0"), "0.0.0.1", True),
        (DENY, (None, "2.0.0.0"), "2.0.0.0", True),
        (DENY, (None, "2.0.0.0"), "1.9.9.9", False),
        # Both: the range, whatever the action.
        (DENY, ("1.0.0.0", "2.0.0.0"), "2.0.0.0", True),
        (DENY, ("1.0.0.0", "2.0.0.0"), "2.0.0.1", False),
        (ALLOW, ("1.0.0.0", "2.0.0.0"), "0.9.0.0", False),
        # A bound and no version: no match.
        (ALLOW, ("1.0.0.0", None), None, False),
        (DENY, (None, "1.0.0.0"), None, False),
    ],
)
def test_publisher_version_bounds(
    action: Action, bounds: tuple[str | None, str | None], version: str | None, matches: bool
) -> None:
    low, high = (FileVersion.parse(b) if b is not None else None for b in bounds)
    p = policy(make_rule("r", action, PUB, Publisher(PCA, min_version=low, max_version=high)))
    expected = (action.value, "r", True) if matches else ("deny", None, True)
    assert both(p, signer_facts=signed(version)) == expected


def test_publisher_pin_name_and_attribute() -> None:
    leaf = make_rule("leaf", ALLOW, PUB, Publisher(OTHER, Pin.LEAF))
    named = make_rule(
        "named",
        ALLOW,
        PUB,
        Publisher(PCA, Pin.ISSUER, "Contoso", FileAttribute.PRODUCT_NAME, "Straße Ω"),
    )
    p = policy(named)
    assert both(p, signer_facts=signed(product_name="STRAßE ω")) == ("allow", "named", True)
    assert both(p, signer_facts=signed(product_name="STRASSE Ω")) == ("deny", None, True)
    assert both(p, signer_facts=signed(cn="contoso", product_name="Straße Ω")) == (
        "deny",
        None,
        True,
    )
    assert both(p, signer_facts=signed()) == ("deny", None, True)  # no attribute
    # The issuer pin never matches the leaf, the leaf pin only the leaf.
    assert both(policy(make_rule("pca", ALLOW, PUB, Publisher(OTHER))), signer_facts=signed()) == (
        "deny",
        None,
        True,
    )
    assert both(policy(leaf), signer_facts=signed()) == ("allow", "leaf", True)
    assert both(policy(leaf), signer_facts=SignerFacts()) == ("deny", None, True)


def test_path_then_hash_then_publisher_within_an_action_and_deny_first() -> None:
    p = policy(
        make_rule("pub", ALLOW, PUB, Publisher(PCA)),
        hash_rule(A, H1, id="hash"),
        make_rule("path", ALLOW, P, "C:\\Apps\\*"),
    )
    facts = signed()
    assert both(p, path="C:\\Apps\\a.exe", authenticode_sha256=H1, signer_facts=facts) == (
        "allow",
        "path",
        True,
    )
    assert both(p, path="C:\\x.exe", authenticode_sha256=H1, signer_facts=facts) == (
        "allow",
        "hash",
        True,
    )
    assert both(p, path="C:\\x.exe", signer_facts=facts) == ("allow", "pub", True)
    deny = policy(
        *p.rules, make_rule("no-contoso", DENY, PUB, Publisher(PCA, Pin.ISSUER, "Contoso"))
    )
    assert both(deny, path="C:\\Apps\\a.exe", authenticode_sha256=H1, signer_facts=facts) == (
        "deny",
        "no-contoso",
        True,
    )


def test_exceptions_of_every_kind() -> None:
    rule = make_rule(
        "apps",
        ALLOW,
        P,
        "C:\\Apps\\*",
        exceptions=(
            PathCondition("C:\\Apps\\Temp\\*"),
            HashCondition(A, H1),
            HashCondition(F, H2),
            Publisher(PCA, min_version=FileVersion.parse("2.0.0.0")),
        ),
    )
    p = policy(rule)
    assert both(p, path="C:\\Apps\\a.exe") == ("allow", "apps", True)
    assert both(p, path="C:\\apps\\temp\\a.exe") == ("deny", None, True)
    assert both(p, path="C:\\Apps\\a.exe", authenticode_sha256=H1) == ("deny", None, True)
    assert both(p, path="C:\\Apps\\a.exe", file_sha256=H2) == ("deny", None, True)
    # An exception reads a lone bound as an allow rule does, on a deny rule too.
    assert both(p, path="C:\\Apps\\a.exe", signer_facts=signed("2.0.0.0")) == ("deny", None, True)
    assert both(p, path="C:\\Apps\\a.exe", signer_facts=signed("1.0.0.0")) == (
        "allow",
        "apps",
        True,
    )
    deny = policy(
        make_rule(
            "no-temp",
            DENY,
            P,
            "*\\Temp\\*",
            exceptions=(Publisher(PCA, min_version=FileVersion.parse("2.0.0.0")),),
        )
    )
    assert both(deny, path="C:\\Temp\\a.exe", signer_facts=signed("2.0.0.0")) == (
        "deny",
        None,
        True,
    )
    assert both(deny, path="C:\\Temp\\a.exe", signer_facts=signed("1.0.0.0")) == (
        "deny",
        "no-temp",
        True,
    )
    publisher = policy(make_rule("pub", ALLOW, PUB, Publisher(PCA), exceptions=(rule.exceptions)))
    assert both(publisher, path="C:\\Apps\\Temp\\a.exe", signer_facts=signed()) == (
        "deny",
        None,
        True,
    )
    assert both(publisher, path="D:\\a.exe", signer_facts=signed()) == ("allow", "pub", True)


def test_exception_patterns_fit_and_case_twins_keep_one_order() -> None:
    # An exception pattern is one blob text: the model refuses what one cannot hold.
    with pytest.raises(PolicyError, match="at most 1024"):
        PathCondition("C:\\" + "a" * 1100)
    upper, lower = (
        make_rule(
            i,
            ALLOW,
            PUB,
            Publisher(PCA, attribute=FileAttribute.INTERNAL_NAME, attribute_value=v),
            exceptions=exceptions,
        )
        for i, v, exceptions in (
            ("z", "TOOL", ()),
            ("a", "tool", (PathCondition("C:\\Temp\\*"),)),
        )
    )
    # Conditions equal but for the case of an attribute are one condition: the rules
    # on it are in (action, id) order in the model and in the blob alike.
    both = policy(upper, lower)
    blob = read_blob(compile_policy(both))
    facts = SignerFacts(
        (Signer((OTHER, PCA), "Contoso"),), {FileAttribute.INTERNAL_NAME: "Tool"}, None
    )
    for path in ("C:\\Temp\\x.exe", "C:\\x.exe"):
        model = decide(both, Query(path, signer_facts=facts))
        assert model.rule is not None
        assert blob.decide(path=path, signer_facts=facts).rule_id == model.rule.id
