"""Editing a policy file in place: add, remove or change one rule, switch the mode.

The file is edited, not rewritten: a TOML file keeps its rule order, its
``#`` comments and its layout outside the tables that change (an added rule
is appended at the end, a changed one is rewritten where it was, a removed
one is cut out with its lines); a JSON file keeps its rule order (JSON has
no comments) and is written as ``dumps_json`` writes. The edited text must
validate (:func:`~exewhitelist.policyfile.validate_policy_text`) before it
replaces the file, atomically (:mod:`exewhitelist.fileio`): an edit that
would make the policy invalid raises :class:`PolicyError` and writes
nothing.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import PolicyError, PolicyProblem
from .fileio import write_atomically
from .policy import Mode, Policy
from .policyfile import (
    policy_format,
    read_policy_file,
    rule_header_lines,
    rule_table_toml,
    rule_to_dict,
    validate_policy_text,
)
from .rules import HashRule, Rule, RuleKind, default_id

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["add_rule", "remove_rules", "replace_rule", "set_mode"]

_TABLE_HEADER = re.compile(r"[ \t]*\[")
_MODE_LINE = re.compile(r"""^([ \t]*mode[ \t]*=[ \t]*)("[^"]*"|'[^']*')([ \t]*(?:#.*)?)$""", re.M)


def _table(rule: Rule) -> dict[str, Any]:
    """The rule's ``[[rule]]`` table as a written file has it (a default id left out)."""
    table = rule_to_dict(rule)
    if isinstance(rule, HashRule) and rule.explicit_id is None:
        del table["id"]
    return table


def _raw_id(raw: Any) -> str | None:
    """The id of a ``[[rule]]`` table as loading gives it (a hash rule's default)."""
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("id"), str):
        return str(raw["id"])
    for kind in (RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256):
        if isinstance(raw.get(kind.value), str):
            return default_id(kind, raw[kind.value].lower())
    return None


def _index(rules: list[Any], rule_id: str) -> int:
    for number, raw in enumerate(rules):
        if _raw_id(raw) == rule_id:
            return number
    raise PolicyError(f"no rule with id {rule_id!r}")


def _toml_spans(text: str) -> list[tuple[int, int]]:
    """Each ``[[rule]]`` table's lines, [start, end) 0-based, in file order: from its header
    to its last key line. Comment and blank lines after it stay: a comment there is, in a
    file people write, the heading of the next rule."""
    lines = text.split("\n")
    spans = []
    for header in rule_header_lines(text):
        end = last = header
        while end < len(lines) and not _TABLE_HEADER.match(lines[end]):
            end += 1
            stripped = lines[end - 1].strip()
            if stripped and not stripped.startswith("#"):
                last = end
        spans.append((header - 1, last))
    return spans


def _rule_text(rule: Rule) -> str:
    return "[[rule]]\n" + rule_table_toml(_table(rule))


def _toml_mode(text: str, mode: Mode) -> str:
    text, found = _MODE_LINE.subn(
        lambda m: f"{m.group(1)}{json.dumps(mode.value)}{m.group(3)}", text, count=1
    )
    if not found:  # mode left to its default: say it under [policy]
        text = re.sub(r"(?m)^([ \t]*\[[ \t]*policy[ \t]*\].*)$", rf'\1\nmode = "{mode}"', text)
    return text


def _toml_add(text: str, rule: Rule) -> str:
    return text.rstrip("\n") + "\n\n" + _rule_text(rule)


def _toml_replace(text: str, rule_id: str, rule: Rule | None) -> str:
    """The rule ``rule_id``'s lines replaced by ``rule``'s table, or cut out (None)."""
    raw_rules = tomllib.loads(text).get("rule", [])
    number = _index(raw_rules if isinstance(raw_rules, list) else [], rule_id)
    start, end = _toml_spans(text)[number]
    lines = text.split("\n")
    if rule is not None:
        return "\n".join(lines[:start] + _rule_text(rule).split("\n")[:-1] + lines[end:])
    after = lines[end:]
    if after and not after[0].strip() and (start == 0 or not lines[start - 1].strip()):
        after = after[1:]  # the blank line that separated it goes with it
    return "\n".join(lines[:start] + after)


def _json_edit(text: str, change: Callable[[dict[str, Any], list[Any]], None]) -> str:
    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("policy"), dict):
        raise PolicyError("not a policy: no 'policy' object")
    rules = doc.setdefault("rule", [])
    change(doc, rules)
    if not rules:
        del doc["rule"]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _json_replace(rules: list[Any], rule_id: str, rule: Rule | None) -> None:
    number = _index(rules, rule_id)
    if rule is None:
        del rules[number]
    else:
        rules[number] = _table(rule)


def _edit(
    path: str | os.PathLike[str], toml: Callable[[str], str], as_json: Callable[[str], str]
) -> tuple[Policy, list[PolicyProblem]]:
    fmt = policy_format(path)
    name = os.fspath(path)
    try:
        text = read_policy_file(path).decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{name}: not UTF-8 text") from None
    before, problems = validate_policy_text(text, fmt)
    if before is None:
        raise PolicyError(f"{name}: invalid before the edit: {problems[0]}", tuple(problems))
    edited = toml(text) if fmt == "toml" else as_json(text)
    after, problems = validate_policy_text(edited, fmt)
    errors = [p for p in problems if p.severity == "error"]
    if after is None or errors:
        raise PolicyError(f"{name}: the edit would make it invalid: {errors[0]}", tuple(errors))
    write_atomically(path, edited.encode("utf-8"))
    return after, problems


def add_rule(path: str | os.PathLike[str], rule: Rule) -> tuple[Policy, list[PolicyProblem]]:
    """Append ``rule`` to the policy file; the edited policy and its warnings."""
    return _edit(
        path,
        lambda text: _toml_add(text, rule),
        lambda text: _json_edit(text, lambda _, rules: rules.append(_table(rule))),
    )


def remove_rules(
    path: str | os.PathLike[str], rule_ids: Sequence[str]
) -> tuple[Policy, list[PolicyProblem]]:
    """Remove the rules with these ids (each must exist), in one write."""

    def toml(text: str) -> str:
        for rule_id in rule_ids:
            text = _toml_replace(text, rule_id, None)
        return text

    def in_json(_: dict[str, Any], rules: list[Any]) -> None:
        for rule_id in rule_ids:
            _json_replace(rules, rule_id, None)

    return _edit(path, toml, lambda text: _json_edit(text, in_json))


def replace_rule(
    path: str | os.PathLike[str], rule_id: str, rule: Rule
) -> tuple[Policy, list[PolicyProblem]]:
    """Put ``rule`` where the rule ``rule_id`` is."""
    return _edit(
        path,
        lambda text: _toml_replace(text, rule_id, rule),
        lambda text: _json_edit(text, lambda _, rules: _json_replace(rules, rule_id, rule)),
    )


def set_mode(path: str | os.PathLike[str], mode: Mode) -> tuple[Policy, list[PolicyProblem]]:
    """Switch the policy between audit and enforce."""

    def in_json(doc: dict[str, Any], _: list[Any]) -> None:
        doc["policy"]["mode"] = mode.value

    return _edit(path, lambda text: _toml_mode(text, mode), lambda text: _json_edit(text, in_json))
