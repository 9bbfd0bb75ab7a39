"""The columnar load and ``compile_policy_file``: the general path's results, byte for byte.

``compile_policy_file(path)`` must give exactly ``compile_policy(load_policy(path))``:
the same blob, or the same :class:`PolicyError` with the same problems.  The
documents here are generated as JSON or TOML text with everything the fast
path must notice and hand back: duplicates, a hash both allowed and denied,
ids clashing with default ids, upper-case and broken digests, duplicate JSON
keys, escaped colons, rules that are not tables, plain rules out of place.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import digests, policies, rules

from exewhitelist.blob import compile_policy, compile_policy_file
from exewhitelist.errors import PolicyError
from exewhitelist.policy import Action, Policy, Rule, RuleKind
from exewhitelist.policycolumns import load_policy_columns
from exewhitelist.policyfile import (
    dumps_json,
    dumps_toml,
    load_policy,
    rule_to_dict,
    validate_policy_file,
)
from exewhitelist.rules import hash_rule

KINDS = ("authenticode_sha256", "file_sha256")


class Pairs(list[tuple[str, Any]]):
    """A JSON object written as these pairs, in this order: duplicate keys allowed."""


def to_json(value: Any, rnd: random.Random) -> str:
    """JSON text of ``value`` (``Pairs`` as objects), spaced at random."""
    space = rnd.choice(["", " ", "\n  "])
    if isinstance(value, Pairs):
        items = [f"{json.dumps(k)}:{space}{to_json(v, rnd)}" for k, v in value]
        return "{" + f",{space}".join(items) + "}"
    if isinstance(value, dict):
        return to_json(Pairs(value.items()), rnd)
    if isinstance(value, list):
        return "[" + f",{space}".join(to_json(v, rnd) for v in value) + "]"
    return json.dumps(value, ensure_ascii=rnd.random() < 0.3)


def fields(problems: Any) -> list[tuple[Any, ...]]:
    """Problems as comparable tuples: every field."""
    return [(p.message, p.rule_index, p.rule_id, p.line, p.severity) for p in problems]


def outcome(compile_it: Any) -> tuple[Any, ...]:
    try:
        return ("blob", compile_it())
    except PolicyError as e:
        return ("error", str(e), fields(e.problems))


def assert_same(path: Path) -> None:
    """The fast path agrees with the general one on ``path``, errors included."""
    fast = outcome(lambda: compile_policy_file(path))
    general = outcome(lambda: compile_policy(load_policy(path)))
    assert fast == general
    columns = load_policy_columns(path)
    policy, problems = validate_policy_file(path)
    if columns is not None:
        assert policy is not None
        assert fields(columns.problems) == fields(problems)
    else:
        assert fast[0] == "error" or _has_upper_case_hex(path) or "\\u003" in path.read_text()


def _has_upper_case_hex(path: Path) -> bool:
    text = path.read_text()
    return any(c in text for c in "ABCDEF")


# --- rule tables, mutated --------------------------------------------------------


@st.composite
def rule_tables(draw: st.DrawFn) -> Pairs:
    """A rule table as a file may hold it: mostly valid, sometimes not."""
    rule: Rule = draw(rules(signers=draw(st.booleans())))
    table = rule_to_dict(rule)
    hashed = rule.kind.value in KINDS
    if hashed and draw(st.booleans()):
        del table["id"]  # the default id, left out as written
    pairs = Pairs(table.items())
    if draw(st.booleans()):
        draw(st.randoms(use_true_random=False)).shuffle(pairs)
    mutation = draw(
        st.sampled_from(
            ["none"] * 8
            + [
                "upper",
                "bad hex",
                "short",
                "action",
                "unknown key",
                "duplicate key",
                "not a table",
                "number",
                "nested duplicate key",
            ]
        )
    )
    kind = rule.kind.value
    if mutation == "upper" and hashed:
        pairs = Pairs((k, v.upper() if k == kind else v) for k, v in pairs)
    elif mutation == "bad hex" and hashed:
        at = draw(st.sampled_from([0, 1, 2, 63]))
        bad = draw(st.sampled_from(["g", " ", "-", "é", ":"]))
        pairs = Pairs((k, v[:at] + bad + v[at + 1 :] if k == kind else v) for k, v in pairs)
    elif mutation == "short" and hashed:
        pairs = Pairs((k, v[:-2] if k == kind else v) for k, v in pairs)
    elif mutation == "action":
        pairs = Pairs((k, "Allow" if k == "action" else v) for k, v in pairs)
    elif mutation == "unknown key":
        pairs.append((draw(st.sampled_from(["acton", "note", "path"])), "x"))
    elif mutation == "duplicate key":
        key, value = draw(st.sampled_from(list(pairs)))
        pairs.append((key, draw(st.sampled_from([value, "deny", "allow", "x:y"]))))
    elif mutation == "not a table":
        return draw(st.sampled_from([Pairs(), "allow", None]))  # type: ignore[return-value]
    elif mutation == "nested duplicate key" and isinstance(table.get("publisher"), dict):
        # Inside the publisher table: the general loader refuses it there too.
        inner = Pairs(table["publisher"].items())
        key, value = draw(st.sampled_from(list(inner)))
        inner.append((key, draw(st.sampled_from([value, "x:y"]))))
        pairs = Pairs((k, inner if k == "publisher" else v) for k, v in pairs)
    elif mutation == "number":
        key = draw(st.sampled_from([k for k, _ in pairs]))
        pairs = Pairs((k, 7 if k == key else v) for k, v in pairs)
    return pairs


coin = st.booleans()


@st.composite
def documents(draw: st.DrawFn) -> Pairs:
    """A policy document with rules that clash in every way the checks look for."""
    tables: list[Any] = list(draw(st.lists(rule_tables(), max_size=14)))
    hashes = [t for t in tables if isinstance(t, Pairs) and any(k in KINDS for k, _ in t)]
    if len(hashes) > 0 and draw(coin):
        # The same hash again: a duplicate, or allowed and denied.
        original = draw(st.sampled_from(hashes))
        copy = Pairs((k, v) for k, v in original if k not in ("id", "name"))
        if draw(coin):
            copy = Pairs(
                (k, ("deny" if v == "allow" else "allow") if k == "action" else v) for k, v in copy
            )
        if draw(coin):
            copy.append(("name", "copy"))
        tables.insert(draw(st.integers(0, len(tables))), copy)
    if len(hashes) > 0 and draw(coin):
        # An id that is another rule's default id.
        original = draw(st.sampled_from(hashes))
        kind, digest = next((k, v) for k, v in original if k in KINDS)
        other = Pairs([("id", f"{kind}:{digest}"), ("action", "allow"), ("path", "C:\\x\\*")])
        tables.insert(draw(st.integers(0, len(tables))), other)
    header = Pairs(
        [("name", draw(st.sampled_from(["p", "a:b", "naïve"]))), ("version", 1), ("mode", "audit")]
    )
    document = Pairs([("policy", header)])
    if len(tables) > 0 or draw(coin):
        document.append(("rule", tables))
    trick = draw(st.sampled_from(["none"] * 6 + ["misplaced plain rule", "top key"]))
    if trick == "misplaced plain rule":
        plain = Pairs([("action", "allow"), ("authenticode_sha256", draw(digests))])
        header.append(("comment", plain))
    elif trick == "top key":
        document.append(("rules", []))
    return document


SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(documents(), st.randoms(use_true_random=False), st.booleans())
def test_json_fast_path_is_the_general_path(
    tmp_path: Path, document: Pairs, rnd: random.Random, escape_colon: bool
) -> None:
    text = to_json(document, rnd)
    if escape_colon:
        text = text.replace("a:b", "a\\u003ab")  # a policy name with ':'; not a pair
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    assert_same(path)


def _plain(value: Any) -> Any:
    """``value`` with ``Pairs`` as dicts (the last of duplicate keys kept), for TOML."""
    if isinstance(value, Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(documents())
def test_toml_fast_path_is_the_general_path(tmp_path: Path, document: Pairs) -> None:
    data = _plain(document)
    rule_list = data.get("rule")
    if isinstance(rule_list, list) and not all(isinstance(r, dict) for r in rule_list):
        data["rule"] = [r for r in rule_list if isinstance(r, dict)]  # TOML has no null
    if not isinstance(data["policy"].get("comment", ""), str):
        del data["policy"]["comment"]
    path = tmp_path / "p.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    assert_same(path)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(policies(max_rules=20), policies(max_rules=8, signers=True)))
def test_valid_files_take_the_fast_path(tmp_path: Path, policy: Policy) -> None:
    """Publisher rules and exceptions too: compiled from the columns with the hash rules."""
    for suffix, dumps in ((".json", dumps_json), (".toml", dumps_toml)):
        path = tmp_path / f"p{suffix}"
        path.write_text(dumps(policy), encoding="utf-8")
        columns = load_policy_columns(path)
        assert compile_policy_file(path) == compile_policy(policy)
        if "\\u003" in path.read_text():
            continue  # an escaped ':', or what looks like one: left to the general path
        assert columns is not None
        assert fields(columns.problems) == fields(validate_policy_file(path)[1])


def test_many_plain_rules_in_any_order(tmp_path: Path) -> None:
    """The shape of a large machine-written policy: every column, ids and names here and there."""
    rnd = random.Random(7)  # noqa: S311
    tables = []
    for i in range(3000):
        table: dict[str, str] = {
            "action": rnd.choice(["allow", "deny"]),
            rnd.choice(KINDS): rnd.randbytes(32).hex(),
        }
        if i % 7 == 0:
            table["name"] = f"tool{i}.exe"
        if i % 11 == 0:
            table["id"] = f"rule {i}"
        tables.append(table)
    tables.append({"id": "temp", "action": "deny", "path": "C:\\Temp\\*"})
    tables.append({"id": "temp-tool", "action": "allow", "path": "C:\\Temp\\tool.exe"})
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"policy": {"name": "big", "version": 2}, "rule": tables}))
    columns = load_policy_columns(path)
    assert columns is not None
    assert [p.message for p in columns.problems] == [
        "never applies: rule 3001 (id 'temp') denies every path it matches"
    ]
    assert compile_policy_file(path) == compile_policy(load_policy(path))


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (
            [{"action": "allow", "authenticode_sha256": "ab" * 32}] * 2,
            "duplicate rule: rule 1 has the same authenticode_sha256 and action",
        ),
        (
            [
                {"action": "allow", "file_sha256": "ab" * 32},
                {"action": "deny", "file_sha256": "ab" * 32},
            ],
            "rule 1 allows the same file_sha256: a hash is either allowed or denied",
        ),
        (
            [
                {"action": "allow", "file_sha256": "ab" * 32},
                {"id": f"file_sha256:{'ab' * 32}", "action": "deny", "path": "C:\\x"},
            ],
            "duplicate id: rule 1 has it too",
        ),
    ],
)
def test_errors_are_the_general_paths(
    tmp_path: Path, tables: list[dict[str, str]], message: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"policy": {"name": "p", "version": 1}, "rule": tables}))
    assert load_policy_columns(path) is None
    with pytest.raises(PolicyError, match=message) as fast:
        compile_policy_file(path)
    with pytest.raises(PolicyError) as general:
        load_policy(path)
    assert str(fast.value) == str(general.value)
    assert fields(fast.value.problems) == fields(general.value.problems)


def test_duplicate_json_key_is_found_without_a_hook(tmp_path: Path) -> None:
    digest = "cd" * 32
    path = tmp_path / "p.json"
    path.write_text(
        '{"policy": {"name": "p", "version": 1}, "rule": ['
        f'{{"action": "allow", "action": "deny", "authenticode_sha256": "{digest}"}}]}}'
    )
    assert load_policy_columns(path) is None
    with pytest.raises(PolicyError, match="duplicate key 'action'"):
        compile_policy_file(path)


def test_upper_case_digests_compile_the_general_way(tmp_path: Path) -> None:
    digest = "AB" * 32
    path = tmp_path / "p.json"
    path.write_text(
        '{"policy": {"name": "p", "version": 1}, "rule": ['
        f'{{"action": "deny", "authenticode_sha256": "{digest}"}}]}}'
    )
    expected = compile_policy(
        Policy(
            "p",
            1,
            rules=(hash_rule(RuleKind.AUTHENTICODE_SHA256, digest.lower(), Action.DENY),),
        )
    )
    assert compile_policy_file(path) == expected
