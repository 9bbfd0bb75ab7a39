"""Policy files: TOML for people, JSON for machines, one shape for both.

A file holds a ``[policy]`` table (name, version, mode) and an array of
``[[rule]]`` tables; ``docs/policy.md`` documents every key.  The JSON form is
the same document (``{"policy": {...}, "rule": [...]}``), so the two convert
into each other key for key.

Rule order in a file carries no meaning (the decision does not depend on
it), so loading returns the rules in :func:`~exewhitelist.policy.canonical_order`
and writing emits them in that order: ``loads_toml(dumps_toml(p)) ==
canonical(p)`` for every valid policy, and a policy written twice is written
byte for byte the same.

Validation reports every problem it finds, not just the first, each with the
rule's 1-based position in the file, its id when known and, for TOML, the
line of its ``[[rule]]`` header, so that one run of ``exewhitelist policy
validate`` is enough to fix a file.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import tomli_w

from . import tomlfast
from .blob._format import MAX_POLICY_VERSION
from .errors import PolicyError, PolicyProblem
from .fileio import read_regular_file, write_atomically
from .policy import MAX_NAME_BYTES, Mode, Policy, canonical_order
from .policycheck import HASH_COLUMNS, CheckedPolicy, rule_problems
from .rules import (
    CONDITION_KINDS,
    MAX_EXCEPTIONS,
    MAX_ID_BYTES,
    PUBLISHER_KEYS,
    RULE_TYPES,
    Action,
    CertificateId,
    Condition,
    FileAttribute,
    FileVersion,
    HashRule,
    Pin,
    Publisher,
    PublisherRule,
    Rule,
    RuleKind,
    default_id,
    digest_problem,
    id_problem,
    make_condition,
    make_rule,
    pattern_problem,
    text_problem,
    valid_rule_id_text,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "LOWER_HEX_DIGITS",
    "MAX_POLICY_FILE_BYTES",
    "POLICY_KEYS",
    "RULE_KEYS",
    "TOP_KEYS",
    "Format",
    "canonical",
    "condition_to_dict",
    "dumps_json",
    "dumps_toml",
    "load_policy",
    "loads_json",
    "loads_toml",
    "parse_header",
    "parse_rule",
    "plain_hash_rule",
    "policy_format",
    "publisher_from_data",
    "read_policy_file",
    "rule_header_lines",
    "rule_table_toml",
    "rule_to_dict",
    "save_policy",
    "validate_policy_file",
    "validate_policy_text",
]

Format = Literal["toml", "json"]

_EXTENSIONS: Mapping[str, Format] = {".toml": "toml", ".json": "json"}

POLICY_KEYS = ("name", "version", "mode")
"""The keys of the ``[policy]`` table, in the order they are written."""

_KIND_KEYS = tuple(kind.value for kind in RuleKind)

RULE_KEYS = ("id", "action", *_KIND_KEYS, "exceptions", "name", "comment")
"""The keys of a ``[[rule]]`` table, in the order they are written."""

TOP_KEYS = ("policy", "rule")
# Tuples, not sets: a value read from JSON may be a list, and testing it for
# membership in a set would raise.
_MODES = tuple(mode.value for mode in Mode)
_ACTIONS = tuple(action.value for action in Action)

_RULE_HEADER = re.compile(r"""[ \t]*\[\[[ \t]*(?:rule|"rule"|'rule')[ \t]*\]\][ \t]*(?:#.*)?""")


# --- writing ------------------------------------------------------------------


def canonical(policy: Policy) -> Policy:
    """``policy`` with its rules in canonical order: what loading a written copy gives back."""
    return dataclasses.replace(policy, rules=tuple(canonical_order(policy.rules)))


def condition_to_dict(condition: Condition) -> dict[str, Any]:
    """An exception as its table in ``exceptions = [...]``: one key, the condition's kind."""
    return {condition.kind.value: condition.to_data()}


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """A rule as its ``[[rule]]`` table, keys in :data:`RULE_KEYS` order.

    The id is always present (``diff`` shows it); empty name and comment are
    left out, as in a written file, and so is an empty list of exceptions.
    A publisher rule's condition is a table (:data:`~exewhitelist.rules.PUBLISHER_KEYS`).
    """
    value: Any = rule.condition.to_data() if isinstance(rule, PublisherRule) else rule.value
    out: dict[str, Any] = {"id": rule.id, "action": rule.action.value, rule.kind.value: value}
    if rule.exceptions:
        out["exceptions"] = [condition_to_dict(e) for e in rule.exceptions]
    if rule.name:
        out["name"] = rule.name
    if rule.comment:
        out["comment"] = rule.comment
    return out


def _document(policy: Policy) -> dict[str, Any]:
    """The data both formats write: canonical rule order, default ids left out.

    ``mode`` is always written even though ``enforce`` is the default: whether
    a policy blocks anything should be visible in the file itself.  An empty
    rule list is left out rather than written as ``rule = []``, so that a
    ``[[rule]]`` appended by hand to a TOML file stays valid.
    """
    doc: dict[str, Any] = {
        "policy": {"name": policy.name, "version": policy.version, "mode": policy.mode.value}
    }
    rules = []
    for rule in canonical_order(policy.rules):
        table = rule_to_dict(rule)
        if isinstance(rule, HashRule) and rule.explicit_id is None:
            del table["id"]
        rules.append(table)
    if rules:
        doc["rule"] = rules
    return doc


def dumps_toml(policy: Policy) -> str:
    """The policy as TOML: ``[policy]``, then one ``[[rule]]`` table per rule.

    tomli_w writes every value (so quoting and escaping are its), but the
    tables are laid out here: left to itself it writes short rules as inline
    tables and long ones as ``[[rule]]`` sections, and a file people edit,
    and whose rule lines ``validate`` reports, should look the same
    throughout.
    """
    doc = _document(policy)
    parts = [tomli_w.dumps({"policy": doc["policy"]})]
    parts.extend("\n[[rule]]\n" + rule_table_toml(table) for table in doc.get("rule", ()))
    return "".join(parts)


def _toml_value(value: Any) -> str:
    """One value as TOML: a table inline (``{ a = "b" }``, on one line as TOML requires),
    an array of tables one per line; scalars as tomli_w writes them."""
    if isinstance(value, dict):
        inner = ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + "".join(f"    {_toml_value(item)},\n" for item in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = ") :].rstrip("\n")


def rule_table_toml(table: Mapping[str, Any]) -> str:
    """The body of one ``[[rule]]`` table (after its header): one ``key = value`` line per
    key, a publisher condition and exceptions as inline tables, so that every rule is one
    block under its header (tomli_w would move a nested table to a section of its own)."""
    return "".join(f"{key} = {_toml_value(value)}\n" for key, value in table.items())


def dumps_json(policy: Policy) -> str:
    """The policy as JSON: indent 2, keys in the documented order, UTF-8 text, final newline."""
    return json.dumps(_document(policy), indent=2, ensure_ascii=False) + "\n"


def policy_format(path: str | os.PathLike[str]) -> Format:
    """The format a policy file's extension names (``.toml`` or ``.json``, any case)."""
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise PolicyError(
            f"{os.fspath(path)}: unknown policy file extension {suffix!r} (use .toml or .json)"
        ) from None


def save_policy(policy: Policy, path: str | os.PathLike[str], fmt: Format | None = None) -> None:
    """Write ``policy`` to ``path`` in ``fmt`` (default: by extension), UTF-8 with LF newlines.

    The policy is written as it is; :func:`check_policy` first if it was not
    loaded from a file or built by :mod:`exewhitelist.policyops` (a policy
    with errors is written but will not load).
    """
    fmt = fmt or policy_format(path)
    text = dumps_toml(policy) if fmt == "toml" else dumps_json(policy)
    write_atomically(path, text.encode("utf-8"))


# --- reading ------------------------------------------------------------------


def loads_toml(text: str) -> Policy:
    """Parse and validate a TOML policy; :class:`PolicyError` lists every problem."""
    return _loaded(validate_policy_text(text, "toml"), "policy")


def loads_json(text: str) -> Policy:
    """Parse and validate a JSON policy; :class:`PolicyError` lists every problem."""
    return _loaded(validate_policy_text(text, "json"), "policy")


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read a policy file (format by extension); :class:`PolicyError` lists every problem.

    Warnings do not prevent loading.  OS errors (a missing file) propagate as
    they are.
    """
    return _loaded(validate_policy_file(path), os.fspath(path))


def _loaded(result: tuple[Policy | None, list[PolicyProblem]], source: str) -> Policy:
    policy, problems = result
    if policy is not None:
        return policy
    errors = [p for p in problems if p.severity == "error"]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise PolicyError(f"{source}: {errors[0]}{more}", tuple(problems))


MAX_POLICY_FILE_BYTES = 1 << 30
"""The largest policy file read (a million hash rules in JSON take about 112 MB)."""


def read_policy_file(path: str | os.PathLike[str]) -> bytes:
    """A policy file's bytes: a regular file of at most :data:`MAX_POLICY_FILE_BYTES`."""
    return read_regular_file(path, MAX_POLICY_FILE_BYTES, "policy file")


def validate_policy_file(
    path: str | os.PathLike[str],
) -> tuple[Policy | None, list[PolicyProblem]]:
    """:func:`validate_policy_text` on a file: UTF-8, a leading BOM tolerated.

    The BOM is accepted because Windows editors still write one; TOML and JSON
    parsers reject it.
    """
    fmt = policy_format(path)
    data = read_policy_file(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return None, [PolicyProblem(f"not UTF-8 text: invalid byte at offset {e.start}")]
    return validate_policy_text(text, fmt)


class _DuplicateKeyError(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON keeps the last of duplicate keys silently; in a policy that hides a change of mind."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        out[key] = value
    return out


def validate_policy_text(text: str, fmt: Format) -> tuple[Policy | None, list[PolicyProblem]]:
    """Every problem in a policy document, and the policy when none is an error.

    Problems come policy-level first, then by rule position.  The policy's
    rules are in canonical order.
    """
    rule_lines: list[int] | None = None
    try:
        if fmt == "toml":
            data: Any
            data, rule_lines = tomlfast.loads(text)
            if rule_lines is None:
                rule_lines = rule_header_lines(text)
        else:
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, _DuplicateKeyError) as e:
        return None, [PolicyProblem(f"invalid {fmt.upper()}: {e}")]
    except RecursionError:
        return None, [PolicyProblem(f"invalid {fmt.upper()}: nested too deeply")]
    except ValueError as e:  # an integer of thousands of digits (int's conversion limit)
        return None, [PolicyProblem(f"invalid {fmt.upper()}: {e}")]
    try:
        return _parse_document(data, rule_lines)
    except RecursionError:
        return None, [PolicyProblem("a value is nested too deeply")]


def rule_header_lines(text: str) -> list[int]:
    """1-based line numbers of the ``[[rule]]`` headers, in order.

    tomllib reports no positions, so they are found in the text.  Lines are
    split on LF only, as TOML counts them.
    """
    return [
        n
        for n, line in enumerate(text.split("\n"), 1)
        if _RULE_HEADER.fullmatch(line.removesuffix("\r"))
    ]


def _unknown_key(key: object, known: Sequence[str], where: str) -> str:
    hint = difflib.get_close_matches(str(key), known, n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown key {key!r} in {where} (known: {', '.join(known)}){suggestion}"


def _parse_document(
    data: Any, rule_lines: list[int] | None
) -> tuple[Policy | None, list[PolicyProblem]]:
    problems: list[PolicyProblem] = []
    if not isinstance(data, dict):
        problems.append(PolicyProblem("the document must be an object with 'policy' and 'rule'"))
        return None, problems
    problems.extend(
        PolicyProblem(_unknown_key(key, TOP_KEYS, "the document"))
        for key in data
        if key not in TOP_KEYS
    )
    header = parse_header(data.get("policy"), problems)

    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.append(PolicyProblem("'rule' must be an array of tables ([[rule]])"))
        raw_rules = []
    if rule_lines is not None and len(rule_lines) != len(raw_rules):
        # Rules written inline, or a "[[rule]]" line inside a multi-line
        # string: no line at all beats a wrong one.
        rule_lines = None
    rules: list[tuple[int, Rule]] = []
    for index, raw in enumerate(raw_rules, 1):
        line = rule_lines[index - 1] if rule_lines is not None else None
        rule = parse_rule(raw, index, line, problems)
        raw_rules[index - 1] = None  # free each parsed table now: a million of them add up
        if rule is not None:
            rules.append((index, rule))
    lines = dict(enumerate(rule_lines or (), 1))
    problems.extend(rule_problems(rules, lines.get))

    problems.sort(key=lambda p: p.rule_index or 0)  # stable: file order within a rule
    if header is None or any(p.severity == "error" for p in problems):
        return None, problems
    name, version, mode = header
    policy = Policy(
        name=name,
        version=version,
        mode=mode,
        rules=tuple(canonical_order(rule for _, rule in rules)),
    )
    return CheckedPolicy.already_checked(policy), problems


def parse_header(raw: object, problems: list[PolicyProblem]) -> tuple[str, int, Mode] | None:
    """The ``[policy]`` table's name, version and mode, or None after reporting why not."""
    if raw is None:
        problems.append(PolicyProblem("missing [policy] table (name, version, mode)"))
        return None
    if not isinstance(raw, dict):
        problems.append(PolicyProblem("'policy' must be a table"))
        return None
    count = len(problems)
    problems.extend(
        PolicyProblem(_unknown_key(key, POLICY_KEYS, "[policy]"))
        for key in raw
        if key not in POLICY_KEYS
    )
    name = raw.get("name")
    if name is None:
        problems.append(PolicyProblem("missing policy name"))
    elif text_problem("name", name) is not None or not name or len(name.encode()) > MAX_NAME_BYTES:
        problems.append(
            PolicyProblem(f"policy name must be 1 to {MAX_NAME_BYTES} bytes of text: {name!r}")
        )
    version = raw.get("version")
    if version is None:
        problems.append(PolicyProblem("missing policy version"))
    elif (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not 0 <= version <= MAX_POLICY_VERSION
    ):
        problems.append(
            PolicyProblem(
                f"policy version must be an integer in 0..{MAX_POLICY_VERSION}: {version!r}"
            )
        )
    mode_text = raw.get("mode", Mode.ENFORCE.value)
    if mode_text not in _MODES:
        problems.append(PolicyProblem(f"policy mode must be 'enforce' or 'audit': {mode_text!r}"))
    if len(problems) > count or not isinstance(name, str) or not isinstance(version, int):
        return None  # (the type tests only restate the checks above for mypy)
    return name, version, Mode(mode_text)


_COLUMN_ACTIONS = {"allow": 0, "deny": 1}
_COLUMN_KIND_KEYS = tuple(kind.value for kind, _ in HASH_COLUMNS)
_COLUMN_PREFIXES = tuple(default_id(kind, "") for kind, _ in HASH_COLUMNS)
LOWER_HEX_DIGITS = "0123456789abcdef"
_FAST_TEXT_KEYS = frozenset(("id", "name", "comment"))


def plain_hash_rule(raw: object) -> tuple[int, str, str | None] | None:
    """A plain, valid hash rule, without the full parser: (column, digest, explicit id or None).

    Large machine-written policies are made of these.  Anything unusual
    (another key, a type, a case, a character) returns None and goes through
    :func:`_parse_rule`, which reports problems precisely; what this accepts,
    that accepts too, with the same digest, action and id.  Names and
    comments are checked (ASCII text) but not returned: only the
    :class:`Rule` and the written file keep them, the blob does not.
    """
    if type(raw) is not dict:
        return None
    column = 0
    value = raw.get("authenticode_sha256")
    if value is None:
        column = 2
        value = raw.get("file_sha256")
    raw_action = raw.get("action")
    if (
        type(value) is not str
        or type(raw_action) is not str
        or len(value) != 64
        or value.strip(LOWER_HEX_DIGITS)  # C-speed "only lowercase hex digits"
    ):
        return None
    action = _COLUMN_ACTIONS.get(raw_action)
    if action is None:
        return None
    column += action
    if len(raw) == 2:
        return column, value, None
    kind_key = _COLUMN_KIND_KEYS[column]
    for key, item in raw.items():
        if key in _FAST_TEXT_KEYS:
            if type(item) is not str or not item.isascii():
                return None
        elif key not in ("action", kind_key):
            return None
    rule_id = raw.get("id")
    if rule_id is not None:
        if not rule_id or not valid_rule_id_text(rule_id) or len(rule_id) > MAX_ID_BYTES:
            return None
        if rule_id == _COLUMN_PREFIXES[column] + value:
            rule_id = None  # the default id, written out
    return column, value, rule_id


def _fast_hash_rule(raw: Any) -> Rule | None:
    """:func:`plain_hash_rule` as a :class:`Rule` (with its name and comment)."""
    plain = plain_hash_rule(raw)
    if plain is None:
        return None
    column, value, rule_id = plain
    kind, action = HASH_COLUMNS[column]
    cls = RULE_TYPES[kind]
    assert issubclass(cls, HashRule)  # noqa: S101 - HASH_COLUMNS has hash kinds only
    if len(raw) == 2:  # a dict: plain_hash_rule checked
        return cls.trusted(None, action, value)
    return cls.trusted(rule_id, action, value, raw.get("name", ""), raw.get("comment", ""))


def parse_rule(
    raw: object, index: int, line: int | None, problems: list[PolicyProblem]
) -> Rule | None:
    """One ``[[rule]]`` table as a Rule, or None after reporting every problem in it."""
    fast = _fast_hash_rule(raw)
    if fast is not None:
        return fast
    reasons: list[str] = []
    rule_id: str | None = None

    def report() -> None:
        problems.extend(
            PolicyProblem(reason, rule_index=index, rule_id=rule_id, line=line)
            for reason in reasons
        )

    if not isinstance(raw, dict):
        reasons.append("a rule must be a table")
        report()
        return None
    reasons.extend(_unknown_key(key, RULE_KEYS, "a rule") for key in raw if key not in RULE_KEYS)

    if "id" in raw:
        if text_problem("id", raw["id"]) is None:
            rule_id = raw["id"]  # named in the problems even when it is not a valid id
        if (problem := id_problem(raw["id"])) is not None:
            reasons.append(problem)

    action = raw.get("action")
    if action is None:
        reasons.append("missing action ('allow' or 'deny')")
    elif action not in _ACTIONS:
        reasons.append(f"action must be 'allow' or 'deny': {action!r}")

    kinds = [key for key in _KIND_KEYS if key in raw]
    kind: RuleKind | None = None
    value: str | Publisher = ""
    if not kinds:
        reasons.append(f"needs one of {', '.join(_KIND_KEYS)}")
    elif len(kinds) > 1:
        reasons.append(
            f"has {' and '.join(kinds)}: a rule matches one thing (write one rule for each)"
        )
    elif kinds[0] == RuleKind.PUBLISHER.value:
        publisher = publisher_from_data(raw[kinds[0]], reasons, "publisher")
        if publisher is not None:
            kind, value = RuleKind.PUBLISHER, publisher
        if "id" not in raw:
            reasons.append("a publisher rule needs an id (only hash rules have a default)")
    elif (problem := text_problem(kinds[0], raw[kinds[0]])) is not None:
        reasons.append(problem)
    else:
        kind, text = RuleKind(kinds[0]), str(raw[kinds[0]])
        value = text
        if issubclass(RULE_TYPES[kind], HashRule):
            value = text = text.lower()  # accepted in any case, stored and written in lowercase
            if (problem := digest_problem(kind, text)) is not None:
                reasons.append(problem.replace(repr(text), repr(raw[kinds[0]])))
            elif rule_id is None and "id" not in raw:
                rule_id = default_id(kind, text)
        else:
            if (problem := pattern_problem(text)) is not None:
                reasons.append(problem)
            if "id" not in raw:
                reasons.append("a path rule needs an id (only hash rules have a default)")

    exceptions: list[Condition] = []
    if "exceptions" in raw:
        if kind is not None and issubclass(RULE_TYPES[kind], HashRule):
            reasons.append(
                "a hash rule has no exceptions (only path and publisher rules do): "
                "a digest names one file"
            )
        else:
            exceptions = _parse_exceptions(raw["exceptions"], reasons)

    for key in ("name", "comment"):
        if key in raw and (problem := text_problem(key, raw[key])) is not None:
            reasons.append(problem)

    if reasons or kind is None or rule_id is None:
        report()
        return None
    try:
        return make_rule(
            rule_id,
            Action(action),
            kind,
            value,
            raw.get("name", ""),
            raw.get("comment", ""),
            exceptions,
        )
    except PolicyError as e:  # a check the model makes and this parser does not (yet)
        reasons.append(e.message)
        report()
        return None


_PINS = tuple(pin.value for pin in Pin)
_CONDITION_KEYS = tuple(kind.value for kind in CONDITION_KINDS)


def _parse_exceptions(raw: object, reasons: list[str]) -> list[Condition]:
    """A rule's ``exceptions``: an array of tables of exactly one key each (a path pattern,
    a digest or a publisher condition); every problem appended to ``reasons``, numbered."""
    if not isinstance(raw, list):
        reasons.append(
            "exceptions must be an array of tables: "
            'exceptions = [ { path = "..." }, { publisher = { ... } } ]'
        )
        return []
    if len(raw) > MAX_EXCEPTIONS:
        reasons.append(f"more than {MAX_EXCEPTIONS} exceptions ({len(raw)})")
        return []
    conditions: list[Condition] = []
    seen: dict[Any, int] = {}
    for number, item in enumerate(raw, 1):
        where = f"exception {number}"
        if not isinstance(item, dict) or len(item) != 1:
            reasons.append(
                f"{where} must be a table of exactly one key ({', '.join(_CONDITION_KEYS)}): "
                f"{item!r}"
            )
            continue
        ((key, value),) = item.items()
        if key not in _CONDITION_KEYS:
            reasons.append(f"{where}: {_unknown_key(key, _CONDITION_KEYS, 'an exception')}")
            continue
        if key == RuleKind.PUBLISHER.value:
            publisher = publisher_from_data(value, reasons, f"{where}: publisher")
            if publisher is None:
                continue
        try:
            condition = make_condition(RuleKind(key), value)
        except PolicyError as e:
            reasons.append(f"{where}: {key}: {e.message}")
            continue
        first = seen.setdefault(condition.exception_key(), number)
        if first != number:
            reasons.append(f"{where} is exception {first} again")
            continue
        conditions.append(condition)
    return conditions


def publisher_from_data(raw: object, reasons: list[str], where: str) -> Publisher | None:
    """A publisher condition's table as a :class:`Publisher`, or None after appending every
    problem in it to ``reasons`` (each prefixed with ``where``): each key is checked on its
    own, so one run of ``validate`` names them all."""
    count = len(reasons)

    def bad(message: str) -> None:
        reasons.append(f"{where}: {message}")

    if not isinstance(raw, dict):
        bad(f'a publisher condition is a table ({{ certificate = "sha256:...", ... }}): {raw!r}')
        return None
    for key in raw:
        if key not in PUBLISHER_KEYS:
            bad(_unknown_key(key, PUBLISHER_KEYS, "a publisher condition"))
    if "certificate" not in raw:
        bad("needs a certificate (ALGORITHM:TBS-HASH, say sha256:<hex>)")
    else:
        try:
            CertificateId.parse(raw["certificate"])
        except PolicyError as e:
            bad(f"certificate: {e.message}")
    if raw.get("pin", Pin.ISSUER.value) not in _PINS:
        bad(f"pin must be 'issuer', 'leaf' or 'any': {raw['pin']!r}")
    attributes = [a.value for a in FileAttribute if a.value in raw]
    if len(attributes) > 1:
        bad(f"compares one file attribute, not {' and '.join(attributes)}")
    bounds: list[FileVersion] = []
    for key in ("min_version", "max_version"):
        if key in raw:
            try:
                bounds.append(FileVersion.parse(raw[key]))
            except PolicyError as e:
                bad(f"{key}: {e.message}")
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        bad(
            f"inverted version range: min_version {bounds[0]} is above max_version "
            f"{bounds[1]} (no version is in it)"
        )
    if len(reasons) > count:
        return None
    try:
        return Publisher.from_data(raw)  # the text checks (common name, attribute value)
    except PolicyError as e:
        bad(e.message)
        return None
