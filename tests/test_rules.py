"""The rule kinds: one immutable type per kind, one registry, and the checked policy."""

from __future__ import annotations

import dataclasses

import pytest

from exewhitelist import CheckedPolicy, Policy, PolicyError, compile_policy, loads_toml
from exewhitelist.policy import Mode, canonical_order
from exewhitelist.rules import (
    RULE_TYPES,
    Action,
    AuthenticodeRule,
    CertificateId,
    FileHashRule,
    HashRule,
    Image,
    PathRule,
    Publisher,
    Rule,
    RuleKind,
    hash_rule,
    make_rule,
)

A = "ab" * 32
B = "cd" * 32


def test_every_kind_has_one_type_and_make_rule_builds_it() -> None:
    assert set(RULE_TYPES) == set(RuleKind)
    values: dict[RuleKind, str | Publisher] = {
        RuleKind.AUTHENTICODE_SHA256: A,
        RuleKind.FILE_SHA256: A,
        RuleKind.PATH: "C:\\x\\*",
        RuleKind.PUBLISHER: Publisher(CertificateId("sha256", A)),
    }
    for kind, cls in RULE_TYPES.items():
        assert cls.kind is kind
        rule = make_rule("r", Action.ALLOW, kind, values[kind])
        assert type(rule) is cls and rule.kind is kind and rule.id == "r"
        assert not hasattr(rule, "__dict__")  # slotted: a million rules stay small
        with pytest.raises(dataclasses.FrozenInstanceError):
            rule.value = "x"  # type: ignore[misc]
    assert [cls.rank for cls in RULE_TYPES.values()] == sorted(
        cls.rank for cls in RULE_TYPES.values()
    )


def test_hash_rules_keep_no_default_id_and_compare_by_kind() -> None:
    plain = hash_rule(RuleKind.AUTHENTICODE_SHA256, A)
    spelled = AuthenticodeRule(action=Action.ALLOW, value=A, explicit_id=f"authenticode_sha256:{A}")
    assert (
        plain == spelled and spelled.explicit_id is None and plain.id == f"authenticode_sha256:{A}"
    )
    other_kind: Rule = FileHashRule(action=Action.ALLOW, value=A)
    assert plain != other_kind
    assert isinstance(plain, HashRule) and isinstance(plain, Rule)
    assert plain.matches(Image(authenticode_sha256=A), {})
    assert not plain.matches(Image(file_sha256=A), {})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FileHashRule(action=Action.ALLOW, value="abc"), "wrong length"),
        (lambda: FileHashRule(action=Action.ALLOW, value="zz" * 32), "not hexadecimal"),
        (lambda: PathRule(action=Action.ALLOW, value="C:\\x"), "needs an id"),
        (lambda: PathRule(action=Action.ALLOW, value="x\\y", explicit_id="p"), "not a full path"),
        (lambda: PathRule(action="allow", value="C:\\x", explicit_id="p"), "unknown action"),  # type: ignore[arg-type]
        (lambda: make_rule("", Action.ALLOW, RuleKind.PATH, "C:\\x"), "1 to 256 bytes"),
        (lambda: make_rule("r", Action.ALLOW, "path", "C:\\x"), "unknown kind"),  # type: ignore[arg-type]
        (lambda: hash_rule(RuleKind.PATH, A), "not a hash rule kind"),
    ],
)
def test_each_type_validates_itself(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(PolicyError, match=message):
        build()


def test_path_rules_are_duplicates_whatever_the_case() -> None:
    one = make_rule("a", Action.DENY, RuleKind.PATH, "%windir%\\Temp\\*")
    two = make_rule("b", Action.DENY, RuleKind.PATH, "%WINDIR%\\TEMP\\*")
    assert one != two and one.match_key() == two.match_key()
    assert isinstance(one, PathRule)
    assert one.matches(Image(folded_path="C:\\WINDOWS\\TEMP\\X.EXE"), {"WINDIR": ("C:\\Windows",)})


def test_checked_policy_is_checked_whenever_it_is_made() -> None:
    allow = hash_rule(RuleKind.FILE_SHA256, A)
    deny = hash_rule(RuleKind.FILE_SHA256, A, Action.DENY, id="no")
    path = make_rule("p", Action.ALLOW, RuleKind.PATH, "C:\\x\\*")
    checked = CheckedPolicy("p", 1, Mode.ENFORCE, tuple(canonical_order([path, allow])))
    assert checked == Policy("p", 1, Mode.ENFORCE, (allow, path))
    with pytest.raises(PolicyError, match="either allowed or denied"):
        dataclasses.replace(checked, rules=tuple(canonical_order([allow, deny])))
    with pytest.raises(PolicyError, match="canonical order"):
        CheckedPolicy("p", 1, Mode.ENFORCE, (path, allow))
    loaded = loads_toml(
        f'[policy]\nname = "p"\nversion = 1\n\n[[rule]]\naction = "allow"\nfile_sha256 = "{B}"\n'
    )
    assert isinstance(loaded, CheckedPolicy)
    # The compiler takes a checked policy as it is, and checks any other.
    assert compile_policy(loaded) == compile_policy(
        Policy(loaded.name, loaded.version, loaded.mode, loaded.rules)
    )
    with pytest.raises(PolicyError, match="prevent compiling"):
        compile_policy(Policy("p", 1, Mode.ENFORCE, (allow, deny)))
