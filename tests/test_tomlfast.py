"""The fast TOML reader: tomllib's data and tomllib's errors, for any text."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import policies

from exewhitelist import tomlfast
from exewhitelist.errors import PolicyProblem
from exewhitelist.policy import Policy
from exewhitelist.policyfile import (
    dumps_toml,
    loads_toml,
    rule_header_lines,
    validate_policy_text,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

A = "a" * 64
B = "b" * 64


def _outcome(parse: Callable[[str], Any], text: str) -> tuple[str, Any]:
    try:
        return "ok", parse(text)
    except Exception as e:
        return "error", (type(e), str(e))


def _fast_data(text: str) -> Any:
    data, lines = tomlfast.loads(text)
    if lines is not None:
        assert lines == rule_header_lines(text)
    return data


@contextmanager
def _chunk(size: int) -> Iterator[None]:
    """Chunks of ``size`` characters, so that small documents span several."""
    with mock.patch.object(tomlfast, "_CHUNK", size):
        yield


def _slow_loads(text: str) -> tuple[dict[str, Any], None]:
    return tomllib.loads(text), None


def _problems(problems: list[PolicyProblem]) -> list[tuple[object, ...]]:
    return [(str(p), p.message, p.rule_index, p.rule_id, p.line, p.severity) for p in problems]


def _validated(text: str) -> tuple[Policy | None, list[tuple[object, ...]]]:
    policy, problems = validate_policy_text(text, "toml")
    return policy, _problems(problems)


# --- generated documents ----------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_KEYS = st.sampled_from(
    [
        "id",
        "action",
        "authenticode_sha256",
        "file_sha256",
        "path",
        "name",
        "comment",
        "rule",
        "Action",
        "a-b_1",
        "1234",
    ]
)
_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


@st.composite
def _basic_string(draw: st.DrawFn, value: str, wild: bool) -> str:
    """``value`` as a basic string, each character written one of the ways TOML allows.

    ``wild`` adds raw quotes, backslashes and control characters, and escapes
    tomllib refuses (TOML 1.1's, a surrogate, a short one).
    """
    out = []
    for char in value:
        way = draw(st.integers(0, 5))
        if way == 1 and char in _SHORT:
            out.append(_SHORT[char])
        elif way == 2:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08X}")
        elif way == 3:
            out.append(f"\\U{ord(char):08x}")
        elif wild or char not in _SHORT or char == "\t":
            out.append(char)
        else:
            out.append(_SHORT[char])
    if wild and draw(st.integers(0, 3)) == 0:
        out.insert(
            draw(st.integers(0, len(out))),
            draw(st.sampled_from(["\\e", "\\x41", "\\ud800", "\\U00110000", "\\u12", "\\"])),
        )
    return '"' + "".join(out) + '"'


_PLAIN_VALUES = st.sampled_from(["allow", "deny", A, B, A.upper(), "C:\\Windows\\*", "x \"y\" 'z'"])


@st.composite
def _values(draw: st.DrawFn, wild: bool) -> str:
    """A value as the writer writes it, written with other escapes, or (``wild``) any value."""
    text = draw(_PLAIN_VALUES | _TEXT)
    kind = draw(st.integers(0 if wild else 3, 12))
    if kind == 0:
        return "'" + text + "'"  # a literal string: no escapes, no "'" inside
    if kind == 1:
        return '"""' + text + '"""'
    if kind == 2:
        return draw(st.sampled_from(["1", "true", "[]", '["a"]', '{ a = "b" }', "1979-05-27"]))
    if kind <= 7:
        return tomli_w.dumps({"k": text})[4:-1]  # as the writer writes it
    return draw(_basic_string(text, wild))


_NEWLINES = st.sampled_from(["\n"] * 8 + ["\r\n"] * 3 + ["\r", ""])
_COMMENTS = st.sampled_from(["", " # c", "# [[rule]]", " #\t\u00e9", " # \x01"])
_ORDER = ["id", "action", "authenticode_sha256", "file_sha256", "path", "name", "comment"]


@st.composite
def _key_line(draw: st.DrawFn, key: str, wild: bool) -> str:
    if not wild:
        return f"{key} = " + draw(_values(wild=False))
    if draw(st.integers(0, 3)) == 0:
        key = draw(st.sampled_from([f'"{key}"', f"'{key}'", f"{key}.x", f"x.{key}", f" {key}"]))
    separator = draw(st.sampled_from([" = ", "=", " =\t", "  = "]))
    return key + separator + draw(_values(wild=True)) + draw(_COMMENTS)


_WRITTEN_VALUES = {
    "action": st.sampled_from(["allow", "deny"]),
    "authenticode_sha256": st.sampled_from([A, B]),
    "file_sha256": st.sampled_from([A, B]),
    "x": st.sampled_from([A, B]),
}
"""Mostly the values of a plain hash rule: the tables the fastest path reads."""


@st.composite
def _table(draw: st.DrawFn, wild: bool, plain: bool = False) -> list[str]:
    """A [[rule]] table's lines: as the writer lays them out, or (``wild``) not quite.

    ``plain``: a plain hash rule's (action and digest only), mostly.
    """
    header = "[[rule]]"
    if (wild or plain) and draw(st.integers(0, 3 if wild else 15)) == 0:
        header = draw(
            st.sampled_from(
                [
                    "[[ rule ]]",
                    '[["rule"]]',
                    "[[rule]] # c",
                    "  [[rule]]",
                    "\t[[rule]]",
                    "[rule]",
                    "[[rule.x]]",
                    "[policy]",
                ]
            )
        )
    if plain:
        odd = draw(st.integers(0, 15)) == 0  # a rarer key or value in this table
        kinds = ["authenticode_sha256", "file_sha256"] + ["x", "name", "action", "id"] * odd
        kind = draw(st.sampled_from(kinds))
        action = draw(st.sampled_from(["allow", "deny"] + ["Allow"] * odd))
        oddities = [A.upper(), "", "\\\\", "\\u00e9", "\u00e9", "\\ud800", "\\", "a\tb"]
        oddities += ["\x7f", "\x1f", "\x00", "\u0085", "[[rule]]", "x\n[[rule]]"]
        oddities *= odd
        digest = draw(st.sampled_from([A, B, *oddities]))
        blank = [""] * draw(st.sampled_from([1, 1, 1, 0, 2]))
        return [header, f'action = "{action}"', f'{kind} = "{digest}"', *blank]
    keys = ["action", draw(st.sampled_from(["authenticode_sha256", "file_sha256", "path", "x"]))]
    if draw(st.booleans()):
        keys.insert(0, "id")
    keys += draw(st.lists(st.sampled_from(["name", "comment"]), max_size=2, unique=True))
    keys.sort(key=lambda key: _ORDER.index(key) if key in _ORDER else 3)
    if wild and draw(st.integers(0, 2)) == 0:  # out of order, repeated or unknown keys
        keys = draw(st.lists(_KEYS, max_size=6))
    lines = [header]
    for key in keys:
        if draw(st.integers(0, 3)):
            value = draw(_WRITTEN_VALUES.get(key, _TEXT) | _PLAIN_VALUES)
            lines.append(f"{key} = " + tomli_w.dumps({"k": value})[4:-1])
        else:
            lines.append(draw(_key_line(key, wild and draw(st.booleans()))))
    lines += [""] * draw(st.integers(0, 2))
    return lines


_WRITTEN_PREFIX = '[policy]\nname = "p"\nversion = 1\nmode = "enforce"\n\n'
_PREFIXES = st.sampled_from(
    [
        _WRITTEN_PREFIX,
        '# a comment\n[policy]\nname = "p [[rule]]"\nversion = 1\n',
        '[policy]\nname = """\n[[rule]]\n"""\nversion = 1\n',
        "[policy]\nname = '''\n[[ rule ]]\n'''\nversion = 1\n\n",
        '[policy]\nname = "p"\nrule = []\n',
        'rule = [{ action = "allow", file_sha256 = "' + A + '" }]\n',
        '[[rule]]\naction = "deny"\n\n[policy]\nname = "p"\n',
        '[policy]\nname = "p"\nversion = [\n',
        '[policy]\nname = "p"\nversion = 1\n[policy]\n',
        "[policy.x]\na = 1\n",
        "[rule.x]\na = 1\n",
        "\ufeff[policy]\n",
        "",
    ]
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Policy-like TOML, valid or not: the writer's layout, or (a third of the time) departures."""
    mode = draw(st.sampled_from(["plain", "written", "wild"]))
    wild = mode == "wild"
    tables = draw(
        st.lists(
            st.integers(0, 15).flatmap(
                lambda n: _table(wild=wild and n % 2 == 0, plain=mode == "plain" and n > 0)
            ),
            max_size=8,
        )
    )
    lines = [line for table in tables for line in table]
    prefix = draw(_PREFIXES) if wild else _WRITTEN_PREFIX
    body = "\n".join(lines)
    if draw(st.integers(0, 3)) == 0:
        newline = draw(_NEWLINES)
        prefix, body = prefix.replace("\n", newline), body.replace("\n", newline)
    text = prefix + body + (draw(_NEWLINES) if lines else "")
    if wild and draw(st.integers(0, 5)) == 0 and text:  # damage one character
        at = draw(st.integers(0, len(text) - 1))
        text = (
            text[:at] + draw(st.sampled_from(["", "\x00", "\r", '"', "\\", "[", "\n"])) + text[at:]
        )
    return text


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(documents(), st.integers(1, 200))
def test_fast_reader_gives_tomllib_data_or_error(text: str, chunk: int) -> None:
    with _chunk(chunk):
        assert _outcome(_fast_data, text) == _outcome(tomllib.loads, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(1, 200))
def test_validation_unchanged_by_the_fast_reader(text: str, chunk: int) -> None:
    with _chunk(chunk):
        fast = _validated(text)
    with mock.patch.object(tomlfast, "loads", _slow_loads):
        slow = _validated(text)
    assert fast == slow


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(policies(), policies(signers=True)),
    st.sampled_from(["\n", "\r\n"]),
    st.integers(1, 300),
)
def test_written_policies_take_the_fast_path(policy: Policy, newline: str, chunk: int) -> None:
    """Publisher rules and exceptions too: their tables are read alone, the others fast."""
    text = dumps_toml(policy).replace("\n", newline)
    with _chunk(chunk):
        data, lines = tomlfast.loads(text)
        assert loads_toml(text) == loads_toml(dumps_toml(policy))
    assert data == tomllib.loads(text)
    if policy.rules:
        assert lines == rule_header_lines(text)


# --- examples --------------------------------------------------------------------

HEADER = '[policy]\nname = "t"\nversion = 1\n'


def _rule(*lines: str) -> str:
    return "\n[[rule]]\n" + "".join(line + "\n" for line in lines)


PLAIN = _rule('action = "allow"', f'authenticode_sha256 = "{A}"')


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(HEADER + PLAIN + _rule('action = "allow"', 'action = "deny"'), id="rule key"),
        pytest.param(
            HEADER
            + PLAIN
            + _rule('action = "allow"', f'file_sha256 = "{A}"', 'name = "a"', 'name = "b"'),
            id="name",
        ),
        pytest.param(HEADER + 'name = "u"\n' + PLAIN, id="policy key"),
        pytest.param(HEADER + "[policy]\n" + PLAIN, id="policy table"),
        pytest.param("rule = []\n" + HEADER + PLAIN, id="rule array"),
        pytest.param(HEADER + PLAIN + "[policy]\n", id="policy after rules"),
    ],
)
def test_duplicates_are_refused_as_tomllib_refuses_them(text: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as expected:
        tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError) as got:
        tomlfast.loads(text)
    assert str(got.value) == str(expected.value)
    _, problems = validate_policy_text(text, "toml")
    assert [p.message for p in problems] == [f"invalid TOML: {expected.value}"]


@pytest.mark.parametrize(
    ("escape", "value"),
    [("\\u00e9", "\u00e9"), ("\\U0001F600", "\U0001f600"), ('\\"\\\\\\t', '"\\\t')],
)
def test_escapes_are_decoded(escape: str, value: str) -> None:
    text = HEADER + _rule('action = "allow"', f'path = "C:\\\\{escape}"', f'name = "{escape}"')
    data, lines = tomlfast.loads(text)
    assert lines == [5]
    assert data["rule"] == [{"action": "allow", "path": "C:\\" + value, "name": value}]
    assert data == tomllib.loads(text)


@pytest.mark.parametrize("escape", ["\\uD800", "\\U00110000", "\\e", "\\x41", "\\u12"])
def test_refused_escapes_are_tomllibs_errors(escape: str) -> None:
    text = HEADER + PLAIN + _rule('action = "allow"', f'path = "{escape}"')
    with pytest.raises(tomllib.TOMLDecodeError) as expected:
        tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError) as got:
        tomlfast.loads(text)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x0b", "\x1f", "\x7f", "\r"])
@pytest.mark.parametrize("where", ["digest", "name"])
def test_control_characters_are_tomllibs_errors(char: str, where: str) -> None:
    digest, name = (A + char, "n") if where == "digest" else (A, "n" + char)
    text = HEADER + PLAIN + _rule('action = "allow"', f'file_sha256 = "{digest}"')
    text += _rule('action = "allow"', f'file_sha256 = "{B}"', f'name = "{name}"') + PLAIN
    with pytest.raises(tomllib.TOMLDecodeError) as expected:
        tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError) as got:
        tomlfast.loads(text)
    assert str(got.value) == str(expected.value)


def test_tab_and_other_characters_are_text() -> None:
    name = "\t\u0085\u2028\U0001f600 [[rule]] '#' \ud800"
    text = HEADER + PLAIN + _rule('action = "allow"', f'file_sha256 = "{B}"', f'name = "{name}"')
    data, lines = tomlfast.loads(text)
    assert data == tomllib.loads(text)
    assert data["rule"][1]["name"] == name
    assert lines == [5, 9]


def test_problems_keep_their_rule_lines() -> None:
    text = (
        HEADER
        + PLAIN  # line 5
        + _rule('action = "allow"', 'file_sha256 = "1"')  # line 9
        + _rule('id = "x"', 'action = "maybe"', f'file_sha256 = "{B}"', 'comment = "c"')  # 13
        + _rule('action = "allow"', f'authenticode_sha256 = "{A}"')  # line 19
    )
    for chunk in (1, 30, 1 << 20):
        with _chunk(chunk):
            data, lines = tomlfast.loads(text)
            _, problems = validate_policy_text(text, "toml")
        assert lines == [5, 9, 13, 19]
        assert data == tomllib.loads(text)
        assert [(p.rule_index, p.line) for p in problems if p.severity == "error"] == [
            (2, 9),
            (3, 13),
            (4, 19),
        ]


def test_a_header_in_a_string_before_the_rules_leaves_lines_to_rule_header_lines() -> None:
    text = '[policy]\nname = """\n[[ rule ]]\n"""\nversion = 1\n' + PLAIN
    data, lines = tomlfast.loads(text)
    assert lines is None
    assert data == tomllib.loads(text)
    _, problems = validate_policy_text(text, "toml")
    assert all(p.line is None for p in problems)  # 2 header lines for 1 rule: no line at all


def test_the_last_line_needs_no_newline() -> None:
    text = (HEADER + PLAIN).removesuffix("\n")
    data, lines = tomlfast.loads(text)
    assert lines == [5]
    assert data == tomllib.loads(text)


def test_a_lone_carriage_return_is_tomllibs_error() -> None:
    text = HEADER + PLAIN.replace(f'"{A}"\n', f'"{A}"\r')
    with pytest.raises(tomllib.TOMLDecodeError) as expected:
        tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError) as got:
        tomlfast.loads(text)
    assert str(got.value) == str(expected.value)
