"""Policy files: exact round trips, and every problem reported where it is."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import policies, rules

from exewhitelist.errors import PolicyError, PolicyProblem
from exewhitelist.policy import Action, Mode, Policy, Rule, RuleKind, glob_match
from exewhitelist.policycheck import check_policy
from exewhitelist.policyfile import (
    canonical,
    dumps_json,
    dumps_toml,
    load_policy,
    loads_json,
    loads_toml,
    policy_format,
    save_policy,
    validate_policy_file,
    validate_policy_text,
)
from exewhitelist.policylint import USER_WRITABLE_FOLDERS
from exewhitelist.rules import covers, hash_rule, make_rule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

A = "a" * 64
B = "b" * 64

# --- round trips ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(policies())
def test_toml_round_trip(policy: Policy) -> None:
    text = dumps_toml(policy)
    assert loads_toml(text) == canonical(policy)
    assert dumps_toml(loads_toml(text)) == text


@settings(max_examples=300, deadline=None)
@given(policies())
def test_json_round_trip(policy: Policy) -> None:
    text = dumps_json(policy)
    assert loads_json(text) == canonical(policy)
    assert dumps_json(loads_json(text)) == text
    assert text.endswith("}\n")


@settings(max_examples=100, deadline=None)
@given(policies())
def test_toml_and_json_hold_the_same_document(policy: Policy) -> None:
    assert tomllib.loads(dumps_toml(policy)) == json.loads(dumps_json(policy))


@settings(max_examples=100, deadline=None)
@given(policies(), st.randoms(use_true_random=False))
def test_rule_order_in_a_file_carries_no_meaning(policy: Policy, rnd: random.Random) -> None:
    shuffled = list(policy.rules)
    rnd.shuffle(shuffled)
    other = Policy(policy.name, policy.version, policy.mode, tuple(shuffled))
    assert dumps_toml(other) == dumps_toml(policy)
    assert dumps_json(other) == dumps_json(policy)


@settings(max_examples=100, deadline=None)
@given(policies())
def test_generated_policies_have_no_errors(policy: Policy) -> None:
    assert [p for p in check_policy(policy) if p.severity == "error"] == []


def test_save_and_load_by_extension(tmp_path: Path) -> None:
    policy = Policy(
        "Build agents",
        3,
        Mode.AUDIT,
        (
            hash_rule(RuleKind.AUTHENTICODE_SHA256, A, name="Notepad"),
            make_rule(
                "tools", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\Tools\\*", comment="x"
            ),
        ),
    )
    for suffix, dumps in ((".toml", dumps_toml), (".JSON", dumps_json)):
        path = tmp_path / f"p{suffix}"
        save_policy(policy, path)
        assert path.read_bytes() == dumps(policy).encode()
        assert load_policy(path) == canonical(policy)
    forced = tmp_path / "p.txt"
    save_policy(policy, forced, "json")
    assert forced.read_text() == dumps_json(policy)


def test_written_form() -> None:
    """Default ids, empty names and comments are left out; mode is always written."""
    policy = Policy(
        "P",
        1,
        rules=(
            make_rule("p", Action.DENY, RuleKind.PATH, "C:\\Temp\\*"),
            hash_rule(RuleKind.FILE_SHA256, B, id="custom", name="b"),
            hash_rule(RuleKind.AUTHENTICODE_SHA256, A, Action.DENY),
        ),
    )
    assert dumps_toml(policy) == (
        '[policy]\nname = "P"\nversion = 1\nmode = "enforce"\n'
        f'\n[[rule]]\naction = "deny"\nauthenticode_sha256 = "{A}"\n'
        f'\n[[rule]]\nid = "custom"\naction = "allow"\nfile_sha256 = "{B}"\nname = "b"\n'
        '\n[[rule]]\nid = "p"\naction = "deny"\npath = "C:\\\\Temp\\\\*"\n'
    )
    assert json.loads(dumps_json(policy))["rule"][0] == {
        "action": "deny",
        "authenticode_sha256": A,
    }
    empty = Policy("E", 0)
    assert dumps_toml(empty) == '[policy]\nname = "E"\nversion = 0\nmode = "enforce"\n'
    assert loads_toml(dumps_toml(empty)) == empty
    assert loads_json(dumps_json(empty)) == empty


def test_hex_in_any_case_is_normalised() -> None:
    text = _toml(f'action = "allow"\nfile_sha256 = "{"aB" * 32}"')
    (rule,) = loads_toml(text).rules
    assert rule.value == "ab" * 32
    assert rule.id == f"file_sha256:{'ab' * 32}"


def test_mode_defaults_to_enforce() -> None:
    assert loads_toml('[policy]\nname = "x"\nversion = 1\n').mode is Mode.ENFORCE


def test_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"\xef\xbb\xbf" + _toml().encode())
    assert load_policy(path).name == "t"


def test_unknown_extension() -> None:
    with pytest.raises(PolicyError, match=r"unknown policy file extension '\.yaml'"):
        policy_format("p.yaml")


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(_toml('action = "allow"', 'action = "allow"\npath = "relative"'))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(info.value).startswith(f"{path}: line 5, rule 1: error: needs one of")
    assert str(info.value).endswith("(and 2 more)")
    assert [(p.rule_index, p.line) for p in info.value.problems] == [(1, 5), (2, 8), (2, 8)]


def test_warnings_do_not_prevent_loading() -> None:
    policy = loads_toml(
        _toml(
            'id = "all"\naction = "deny"\npath = "*"',
            'id = "tools"\naction = "allow"\npath = "C:\\\\Tools\\\\*"',
        )
    )
    assert [r.id for r in policy.rules] == ["tools", "all"]


# --- problems, one kind at a time -------------------------------------------------

HEADER = '[policy]\nname = "t"\nversion = 1\n'  # lines 1-3; rule 1's header is line 5
FILLER = f'action = "allow"\nfile_sha256 = "{A}"'  # 2 lines: the next rule's header is line 9


def _toml(*rules: str) -> str:
    return HEADER + "".join(f"\n[[rule]]\n{body}\n" for body in rules)


def _problems(tmp_path: Path, text: str, suffix: str = ".toml") -> list[PolicyProblem]:
    """Validate ``text`` as a real file; the problems, and no policy if any is an error."""
    path = tmp_path / f"policy{suffix}"
    path.write_text(text, encoding="utf-8")
    policy, problems = validate_policy_file(path)
    assert (policy is None) == any(p.severity == "error" for p in problems)
    return problems


def _only(problems: list[PolicyProblem]) -> PolicyProblem:
    assert len(problems) == 1, problems
    return problems[0]


def _path(path: str, rule_id: str | None = "x", action: str = "allow") -> str:
    """A path rule's body, ``path`` as it appears in TOML (backslashes doubled)."""
    head = f'id = "{rule_id}"\n' if rule_id is not None else ""
    return f'{head}action = "{action}"\npath = "{path}"'


def _hash(extra: str = "", digest: str = B, action: str = "allow") -> str:
    return f'{extra}action = "{action}"\nfile_sha256 = "{digest}"'


DEFAULT_B = f"file_sha256:{B}"

# Each case: the rule after a valid first rule (so the bad one is rule 2, at
# line 9), its id as reported, and what the problem says.
RULE_CASES = {
    "unknown key": (_path("C:\\\\x") + '\nacton = "deny"', "x", "did you mean 'action'?"),
    "missing action": (f'file_sha256 = "{B}"', DEFAULT_B, "missing action"),
    "bad action": (_hash(action="permit"), DEFAULT_B, "action must be 'allow' or 'deny': 'permit'"),
    "no kind": ('id = "x"\naction = "allow"', "x", "needs one of authenticode_sha256, file_sha256"),
    "two kinds": (_hash('id = "x"\npath = "C:\\\\x"\n'), "x", "has file_sha256 and path"),
    "not hex": (_hash(digest="g" * 64), None, "file_sha256 is not hexadecimal"),
    "wrong length": (_hash(digest="abc"), None, "file_sha256 must be 64 hex digits, not 3"),
    "hash not a string": ('action = "allow"\nfile_sha256 = 12', None, "must be a string: 12"),
    "empty path": (_path(""), "x", "empty path pattern"),
    "unknown variable": (_path("%TEMP%\\\\x.exe"), "x", "unknown variable %TEMP%"),
    "relative path": (_path("tools\\\\x.exe"), "x", "not a full path"),
    "forward slash": (_path("C:/x.exe"), "x", "use '\\' as the path separator, not '/'"),
    "forbidden character": (_path("C:\\\\a|b"), "x", "not allowed in a Windows path: ['|']"),
    "percent inside": (_path("C:\\\\100%"), "x", "'%' is only allowed around a variable"),
    "path without id": (_path("C:\\\\x", rule_id=None), None, "a path rule needs an id"),
    "empty id": (_hash('id = ""\n'), "", "id must be 1 to 256 bytes of text"),
    "control character in id": (_hash('id = "a\\tb"\n'), "a\tb", "without control characters"),
    "name not a string": (_hash() + "\nname = 1", DEFAULT_B, "name must be a string"),
    "duplicate id": (
        _hash(f'id = "file_sha256:{A}"\n'),
        f"file_sha256:{A}",
        "duplicate id: rule 1 has it too",
    ),
    "allowed and denied": (
        _hash(digest=A, action="deny"),
        f"file_sha256:{A}",
        "rule 1 allows the same file_sha256: a hash is either allowed or denied",
    ),
    "duplicate hash rule": (
        _hash('id = "again"\n', digest=A.upper()),
        "again",
        "duplicate rule: rule 1 has the same file_sha256 and action",
    ),
}


@pytest.mark.parametrize("case", RULE_CASES)
def test_rule_problem(tmp_path: Path, case: str) -> None:
    body, rule_id, message = RULE_CASES[case]
    problem = _only(_problems(tmp_path, _toml(FILLER, body)))
    assert (problem.rule_index, problem.line, problem.rule_id) == (2, 9, rule_id)
    assert problem.severity == "error"
    assert message in problem.message
    named = f", id {rule_id!r}" if rule_id is not None else ""
    assert str(problem).startswith(f"line 9, rule 2{named}: error: ")


def test_duplicate_path_rule_differs_only_in_case(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        _toml(
            'id = "a"\naction = "allow"\npath = "%WinDir%\\\\Ω\\\\*.EXE"',
            'id = "b"\naction = "allow"\npath = "%WINDIR%\\\\ω\\\\*.exe"',
        ),
    )
    problem = _only(problems)
    assert (problem.rule_index, problem.line, problem.rule_id) == (2, 10, "b")
    assert problem.message == "duplicate rule: rule 1 (id 'a') has the same pattern and action"


def test_same_pattern_allowed_and_denied_is_a_shadow(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        _toml(
            'id = "a"\naction = "allow"\npath = "C:\\\\x"',
            'id = "d"\naction = "deny"\npath = "c:\\\\X"',
        ),
    )
    problem = _only(problems)
    assert (problem.rule_index, problem.rule_id, problem.severity) == (1, "a", "warning")
    assert problem.message == "never applies: rule 2 (id 'd') denies every path it matches"


def test_duplicate_id_between_path_rules(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        _toml(
            'id = "a"\naction = "allow"\npath = "C:\\\\x"',
            'id = "a"\naction = "deny"\npath = "C:\\\\x"',
        ),
    )
    assert [(p.rule_index, p.severity, p.message) for p in problems] == [
        (1, "warning", "never applies: rule 2 (id 'a') denies every path it matches"),
        (2, "error", "duplicate id: rule 1 has it too"),
    ]


def test_default_id_clash_is_reported_once(tmp_path: Path) -> None:
    """Allow, deny, deny of one digest: the shared default id adds nothing to say."""
    deny = f'action = "deny"\nfile_sha256 = "{A}"'
    problems = _problems(tmp_path, _toml(FILLER, deny, deny))
    assert [(p.rule_index, p.line) for p in problems] == [(2, 9), (3, 13)]
    assert "allows the same" in problems[0].message
    assert problems[1].message == "duplicate rule: rule 2 has the same file_sha256 and action"


@pytest.mark.parametrize(
    ("shadow", "shadowed", "message"),
    [
        (("deny", "C:\\\\Temp\\\\*"), ("allow", "C:\\\\Temp\\\\x.exe"), "never applies"),
        (("allow", "*\\\\tool.exe"), ("allow", "%OSDRIVE%\\\\Tools\\\\tool.exe"), "redundant"),
        (("deny", "C:\\\\*\\\\?.exe"), ("deny", "c:\\\\a*\\\\?.EXE"), "redundant"),
        (("deny", "*"), ("allow", "\\\\\\\\server\\\\share\\\\*"), "never applies"),
        (("allow", "C:\\\\a?"), ("allow", "C:\\\\ab"), "redundant"),
    ],
)
def test_shadowed_path_rule(
    tmp_path: Path, shadow: tuple[str, str], shadowed: tuple[str, str], message: str
) -> None:
    for order in ((shadow, shadowed), (shadowed, shadow)):
        rules = [f'id = "r{n}"\naction = "{a}"\npath = "{p}"' for n, (a, p) in enumerate(order)]
        problem = _only(_problems(tmp_path, _toml(FILLER, *rules)))
        position = 2 + order.index(shadowed)
        line = {2: 9, 3: 14}[position]  # after the 2-line filler, rules of 3 lines
        assert (problem.rule_index, problem.line, problem.severity) == (position, line, "warning")
        other = 2 + order.index(shadow)
        assert problem.message.startswith(f"{message}: rule {other} (id 'r{other - 2}') ")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("allow", "C:\\\\Temp\\\\*"), ("deny", "C:\\\\Temp\\\\x.exe")),  # a deny narrows an allow
        (("allow", "C:\\\\a?"), ("allow", "C:\\\\a*")),  # '?' does not cover '*'
        (("allow", "C:\\\\ab"), ("allow", "C:\\\\a?")),  # a literal does not cover '?'
        (("allow", "%WINDIR%\\\\*"), ("allow", "C:\\\\Windows\\\\x")),  # variables are literal
    ],
)
def test_not_shadowed(tmp_path: Path, first: tuple[str, str], second: tuple[str, str]) -> None:
    """``first`` does not make ``second`` pointless (whatever ``second`` does to ``first``)."""
    rules = [
        f'id = "r{n}"\naction = "{a}"\npath = "{p}"' for n, (a, p) in enumerate((first, second))
    ]
    assert [p for p in _problems(tmp_path, _toml(*rules)) if p.rule_index == 2] == []


def test_equivalent_patterns_only_the_later_is_redundant(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        _toml(
            'id = "one"\naction = "allow"\npath = "C:\\\\x\\\\*"',
            'id = "two"\naction = "allow"\npath = "C:\\\\x\\\\**"',
        ),
    )
    problem = _only(problems)
    assert (problem.rule_id, problem.message) == (
        "two",
        "redundant: rule 1 (id 'one') already allows every path it matches",
    )


def _header(*lines: str) -> str:
    return "[policy]\n" + "".join(line + "\n" for line in lines)


NAMED = 'name = "t"'
V1 = "version = 1"

POLICY_CASES = {
    "unknown policy key": (_header(NAMED, V1, 'nmae = "x"'), "unknown key 'nmae' in [policy]"),
    "unknown top-level key": (
        _header(NAMED, V1) + '[[rules]]\nid = "x"\n',
        "unknown key 'rules' in the document",
    ),
    "missing policy": ("[[rule]]\n" + _hash(), "missing [policy] table"),
    "policy not a table": ("policy = 1\n", "'policy' must be a table"),
    "missing name": (_header(V1), "missing policy name"),
    "empty name": (_header('name = ""', V1), "policy name must be 1 to 256 bytes"),
    "long name": (_header(f'name = "{"é" * 129}"', V1), "policy name must be 1 to 256 bytes"),
    "missing version": (_header(NAMED), "missing policy version"),
    "negative version": (_header(NAMED, "version = -1"), "an integer in 0..4294967295: -1"),
    "version too big": (_header(NAMED, "version = 4294967296"), "4294967295: 4294967296"),
    "version not an integer": (_header(NAMED, 'version = "3"'), "must be an integer"),
    "float version": (_header(NAMED, "version = 3.0"), "must be an integer"),
    "bad mode": (
        _header(NAMED, V1, 'mode = "block"'),
        "policy mode must be 'enforce' or 'audit': 'block'",
    ),
    "rule not an array": ("rule = 3\n" + _header(NAMED, V1), "'rule' must be an array of tables"),
    "TOML syntax": (
        _header(NAMED, "version = "),
        "invalid TOML: Invalid value (at line 3, column 11)",
    ),
}


@pytest.mark.parametrize("case", POLICY_CASES)
def test_policy_problem(tmp_path: Path, case: str) -> None:
    text, message = POLICY_CASES[case]
    problem = _only(_problems(tmp_path, text))
    assert (problem.rule_index, problem.rule_id, problem.line) == (None, None, None)
    assert problem.severity == "error"
    assert message in problem.message
    assert str(problem).startswith("policy: error: ")


POLICY_JSON = '"policy": {"name": "t", "version": 1}'
JSON_CASES = {
    "JSON syntax": (
        f"{{{POLICY_JSON},}}",
        None,
        "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 40",
    ),
    "duplicate JSON key": (
        f'{{{POLICY_JSON}, "rule": [{{"action": "allow", "action": "deny", "path": "*"}}]}}',
        None,
        "invalid JSON: duplicate key 'action'",
    ),
    "not an object": ("[]", None, "the document must be an object"),
    "boolean version": ('{"policy": {"name": "t", "version": true}}', None, "must be an integer"),
    "unpaired surrogate": (
        '{"policy": {"name": "\\ud800", "version": 1}}',
        None,
        "policy name must be 1 to 256 bytes of text",
    ),
    "rule not a table": (f'{{{POLICY_JSON}, "rule": [1]}}', 1, "a rule must be a table"),
    "unpaired surrogate in a path": (
        f'{{{POLICY_JSON}, "rule": [{{"id": "x", "action": "allow", "path": "C:\\\\\\udc00"}}]}}',
        1,
        "path is not valid Unicode (it has an unpaired surrogate): 'C:\\\\\\udc00'",
    ),
    "mode not a string": (
        '{"policy": {"name": "t", "version": 1, "mode": ["audit"]}}',
        None,
        "policy mode must be",
    ),
    "action not a string": (
        f'{{{POLICY_JSON}, "rule": [{{"action": [], "file_sha256": "{A}"}}]}}',
        1,
        "action must be 'allow' or 'deny': []",
    ),
}


@pytest.mark.parametrize("case", JSON_CASES)
def test_json_problem(tmp_path: Path, case: str) -> None:
    text, rule_index, message = JSON_CASES[case]
    problem = _only(_problems(tmp_path, text, ".json"))
    assert (problem.rule_index, problem.line, problem.severity) == (rule_index, None, "error")
    assert message in problem.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(HEADER.encode() + b"# \xff\n")
    policy, problems = validate_policy_file(path)
    assert policy is None
    assert _only(problems).message == "not UTF-8 text: invalid byte at offset 34"


def test_every_problem_is_reported(tmp_path: Path) -> None:
    """One run shows them all, policy-level first, then in file order."""
    text = (
        '[policy]\nname = "t"\nversion = -5\nmode = "x"\n'
        '\n[[rule]]\naction = "allow"\n'  # line 6
        '\n[[ rule ]]  # spaced header, with a comment\nid = "p"\naction = "deny"\n'
        'path = "%NOPE%\\\\x"\nfile_sha256 = "1"\n'  # line 9
        '\n[[rule]]\nid = "ok"\naction = "allow"\npath = "C:\\\\ok"\n'  # line 15
        '\n[[rule]]\nid = "ok"\naction = "allow"\npath = "C:\\\\ok2"\n'  # line 20
    )
    problems = _problems(tmp_path, text)
    assert [(p.rule_index, p.line) for p in problems] == [
        (None, None),
        (None, None),
        (1, 6),
        (2, 9),
        (4, 20),
    ]


def test_inline_rules_have_no_lines() -> None:
    text = f'rule = [{{ action = "allow", file_sha256 = "{A}" }}, {{ action = "x" }}]\n' + HEADER
    _, problems = validate_policy_text(text, "toml")
    assert {(p.rule_index, p.line) for p in problems} == {(2, None)}


def test_rule_header_inside_a_string_does_not_shift_lines() -> None:
    """A multi-line string with a "[[rule]]" line: the count is off, so no line at all."""
    text = _toml(f'action = "allow"\nfile_sha256 = "{A}"\ncomment = """\n[[rule]]\n"""', "id = 1")
    _, problems = validate_policy_text(text, "toml")
    assert {(p.rule_index, p.line) for p in problems} == {(2, None)}


# --- cross-rule checks on Policy objects ------------------------------------------


def test_check_policy_positions_are_rule_positions() -> None:
    rules_ = (
        hash_rule(RuleKind.FILE_SHA256, A),
        make_rule("t", Action.ALLOW, RuleKind.PATH, "C:\\t\\x"),
        make_rule("u", Action.DENY, RuleKind.PATH, "C:\\t\\*"),
        hash_rule(RuleKind.FILE_SHA256, A, Action.DENY),
    )
    problems = check_policy(Policy("p", 1, rules=rules_))
    assert [(p.rule_index, p.rule_id, p.severity, p.line) for p in problems] == [
        (4, f"file_sha256:{A}", "error", None),
        (2, "t", "warning", None),
    ]


@settings(max_examples=50, deadline=None)
@given(st.lists(rules(), max_size=6))
def test_check_policy_agrees_with_the_file(rule_list: list[Rule]) -> None:
    """Whatever Policy objects hold, saving one reports the same problems on load."""
    policy = Policy("p", 1, rules=tuple(rule_list))
    from_file = validate_policy_text(dumps_json(policy), "json")[1]
    expected = check_policy(canonical(policy))
    assert sorted(map(str, from_file)) == sorted(map(str, expected))


# --- covers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("*", "", True),
        ("*", "a*b?", True),
        ("a*", "a", True),
        ("a*", "ab*", True),
        ("a?c", "abc", True),
        ("a?c", "a?c", True),
        ("a?c", "a*c", False),
        ("abc", "a?c", False),
        ("a*c", "a*b*c", True),
        ("a*b*c", "a*c", False),
        ("*b", "ab*", False),
        ("?*", "*?", False),  # sound, not complete: both mean "one or more"
        ("*?", "?*", False),
        ("", "", True),
        ("", "a", False),
    ],
)
def test_covers(outer: str, inner: str, expected: bool) -> None:
    assert covers(outer, inner) is expected


@settings(max_examples=500, deadline=None)
@given(
    outer=st.text(alphabet="ab*?", max_size=6),
    inner=st.text(alphabet="ab*?", max_size=6),
    fills=st.lists(st.text(alphabet="abc", max_size=3), min_size=6, max_size=6),
)
def test_covers_is_sound(outer: str, inner: str, fills: list[str]) -> None:
    """When ``outer`` covers ``inner``, it matches every path ``inner`` matches."""
    path = "".join(
        fills[n] if c == "*" else (fills[n] or "c")[0] if c == "?" else c
        for n, c in enumerate(inner)
    )
    assert glob_match(inner, path)
    if covers(outer, inner):
        assert glob_match(outer, path)


def _covers_by_search(outer: str, inner: str) -> bool:
    """The definition of :func:`covers`, by exhaustive dynamic programming."""
    # reach[j]: outer[:o] can consume inner[:j].
    reach = [True] + [False] * len(inner)
    for unit in outer:
        if unit == "*":
            reach = [any(reach[: j + 1]) for j in range(len(inner) + 1)]
        else:
            reach = [False] + [
                reach[j] and (inner[j] != "*" if unit == "?" else inner[j] == unit)
                for j in range(len(inner))
            ]
    return reach[-1]


@settings(max_examples=1000, deadline=None)
@given(
    outer=st.text(alphabet="ab*?", max_size=7),
    inner=st.text(alphabet="ab*?", max_size=7),
)
def test_covers_agrees_with_its_definition(outer: str, inner: str) -> None:
    """The greedy single-backtrack loop computes exactly the defined relation."""
    assert covers(outer, inner) is _covers_by_search(outer, inner)


def _warnings(*rules: Rule) -> list[PolicyProblem]:
    problems = check_policy(Policy("p", 1, Mode.ENFORCE, rules))
    assert all(p.severity == "warning" for p in problems)
    return problems


def test_allowing_user_writable_folders_is_a_warning() -> None:
    """%WINDIR%\\* also allows what a user drops in %WINDIR%\\Tasks, Temp...
    (docs/threat-model.md); a deny rule for the folder settles it."""
    windir = make_rule("windir", Action.ALLOW, RuleKind.PATH, "%WINDIR%\\*")
    (problem,) = _warnings(windir)
    assert problem.rule_id == "windir" and problem.rule_index == 1
    assert problem.message.startswith(
        "allows programs in folders ordinary users can write to: %WINDIR%\\Tasks, "
        "%WINDIR%\\Temp, %WINDIR%\\tracing and 13 more; deny them (say %WINDIR%\\Tasks\\*)"
    )
    # the same folders through a literal path, and a narrower rule
    literal = make_rule("sys", Action.ALLOW, RuleKind.PATH, "C:\\Windows\\System32\\*.exe")
    (problem,) = _warnings(literal)
    assert "%SYSTEM32%\\FxsTmp, %SYSTEM32%\\Tasks, %SYSTEM32%\\Tasks_Migrated and 5 more" in (
        problem.message
    )
    # denied folders are not reported; when all are denied, nothing is
    denies = [
        make_rule(f"d{i}", Action.DENY, RuleKind.PATH, folder + "\\*")
        for i, folder in enumerate(USER_WRITABLE_FOLDERS)
    ]
    (problem,) = _warnings(windir, *denies[1:])
    assert "folders ordinary users can write to: %WINDIR%\\Tasks; deny them" in problem.message
    assert _warnings(windir, *denies) == []
    # rules that cannot match a file dropped there
    for pattern in ("%PROGRAMFILES%\\*", "%SYSTEM32%\\notepad.exe", "C:\\Windows\\*.dll"):
        assert _warnings(make_rule("x", Action.ALLOW, RuleKind.PATH, pattern)) == [], pattern


def test_policies_that_slow_every_decision_are_a_warning() -> None:
    scan = [make_rule(f"s{i}", Action.ALLOW, RuleKind.PATH, f"*\\v{i}\\*") for i in range(101)]
    (problem,) = _warnings(*scan)
    assert problem.rule_index is None
    assert problem.message.startswith("101 path rules start and end with a wildcard")
    assert _warnings(*scan[:100]) == []
    users = [
        make_rule(f"u{i}", Action.ALLOW, RuleKind.PATH, f"C:\\Users\\*\\AppData\\v{i}.exe")
        for i in range(257)
    ]
    (problem,) = _warnings(*users)
    assert problem.message.startswith("257 path rules start with C:\\USERS\\ before their")
    assert _warnings(*users[:256]) == []
    suffixes = [
        make_rule(f"t{i}", Action.ALLOW, RuleKind.PATH, f"*\\v{i:03d}?\\tool.exe")
        for i in range(257)
    ]
    (problem,) = _warnings(*suffixes)
    assert problem.message.startswith("257 path rules end with \\TOOL.EXE after their")


def test_long_question_mark_runs_between_stars_are_a_warning() -> None:
    """Searched by trying each place in the path (docs/policy.md, 'Matching cost')."""
    long = make_rule("q", Action.ALLOW, RuleKind.PATH, "*\\" + "?" * 64 + "x*\\a.exe")
    (problem,) = _warnings(long)
    assert problem.rule_id == "q"
    assert problem.message.startswith("a run of 66 units with '?' between two '*'")
    # 64 units; without '?' (two-way search); anchored at the start or the end
    for pattern in (
        "*\\" + "?" * 63 + "*",
        "*\\" + "a" * 200 + "*",
        "C:\\" + "?" * 200 + "\\*",
        "*\\" + "?" * 200,
    ):
        assert _warnings(make_rule("q", Action.DENY, RuleKind.PATH, pattern)) == [], pattern


def test_validate_prints_the_writable_folder_warning(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(_toml(_path("%WINDIR%\\\\*", "windir")), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "policy", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "id 'windir': warning: allows programs in folders ordinary users can write to" in (
        proc.stdout
    )
