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

import bisect
import dataclasses
import difflib
import itertools
import json
import operator
import os
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import tomli_w

from .blob._format import (
    HASH_SECTIONS,
    MAX_ID_BYTES,
    MAX_NAME_BYTES,
    MAX_PATTERN_UNITS,
    MAX_POLICY_VERSION,
)
from .errors import PolicyError, PolicyProblem
from .policy import (
    DEFAULT_VARIABLES,
    Action,
    Mode,
    PathPattern,
    Policy,
    Rule,
    RuleKind,
    canonical_order,
    code_units,
    default_id,
    fold,
    path_index_key,
    pattern_text,
    valid_rule_id_text,
    vouch,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "HASH_COLUMNS",
    "POLICY_KEYS",
    "RULE_KEYS",
    "SCAN_RULES_WARNING",
    "SHARED_KEY_WARNING",
    "USER_WRITABLE_FOLDERS",
    "Format",
    "PolicyColumns",
    "canonical",
    "check_policy",
    "covers",
    "dumps_json",
    "dumps_toml",
    "load_policy",
    "load_policy_columns",
    "loads_json",
    "loads_toml",
    "match_key",
    "policy_format",
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

RULE_KEYS = ("id", "action", *_KIND_KEYS, "name", "comment")
"""The keys of a ``[[rule]]`` table, in the order they are written."""

_TOP_KEYS = ("policy", "rule")
# Tuples, not sets: a value read from JSON may be a list, and testing it for
# membership in a set would raise.
_MODES = tuple(mode.value for mode in Mode)
_ACTIONS = tuple(action.value for action in Action)

_RULE_HEADER = re.compile(r"""[ \t]*\[\[[ \t]*(?:rule|"rule"|'rule')[ \t]*\]\][ \t]*(?:#.*)?""")
_HEX = re.compile(r"[0-9a-f]*")


# --- writing ------------------------------------------------------------------


def canonical(policy: Policy) -> Policy:
    """``policy`` with its rules in canonical order: what loading a written copy gives back."""
    return dataclasses.replace(policy, rules=tuple(canonical_order(policy.rules)))


def rule_to_dict(rule: Rule) -> dict[str, str]:
    """A rule as its ``[[rule]]`` table, keys in :data:`RULE_KEYS` order.

    The id is always present (``diff`` shows it); empty name and comment are
    left out, as in a written file.
    """
    out = {"id": rule.id, "action": rule.action.value, rule.kind.value: rule.value}
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
        if rule.kind is not RuleKind.PATH and rule.id == default_id(rule.kind, rule.value):
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
    parts.extend("\n[[rule]]\n" + tomli_w.dumps(table) for table in doc.get("rule", ()))
    return "".join(parts)


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
    Path(path).write_text(text, encoding="utf-8", newline="\n")


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


def validate_policy_file(
    path: str | os.PathLike[str],
) -> tuple[Policy | None, list[PolicyProblem]]:
    """:func:`validate_policy_text` on a file: UTF-8, a leading BOM tolerated.

    The BOM is accepted because Windows editors still write one; TOML and JSON
    parsers reject it.
    """
    fmt = policy_format(path)
    data = Path(path).read_bytes()
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
            data: Any = tomllib.loads(text)
            rule_lines = _rule_header_lines(text)
        else:
            data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, _DuplicateKeyError) as e:
        return None, [PolicyProblem(f"invalid {fmt.upper()}: {e}")]
    return _parse_document(data, rule_lines)


def _rule_header_lines(text: str) -> list[int]:
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


def _is_text(value: object) -> bool:
    """A string that can be written as UTF-8: JSON can smuggle in unpaired surrogates."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_text(key: str, value: object) -> str:
    if isinstance(value, str):
        return f"{key} is not valid Unicode (it has an unpaired surrogate): {value!r}"
    return f"{key} must be a string: {value!r}"


def _parse_document(
    data: Any, rule_lines: list[int] | None
) -> tuple[Policy | None, list[PolicyProblem]]:
    problems: list[PolicyProblem] = []
    if not isinstance(data, dict):
        problems.append(PolicyProblem("the document must be an object with 'policy' and 'rule'"))
        return None, problems
    problems.extend(
        PolicyProblem(_unknown_key(key, _TOP_KEYS, "the document"))
        for key in data
        if key not in _TOP_KEYS
    )
    header = _parse_header(data.get("policy"), problems)

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
        rule = _parse_rule(raw, index, line, problems)
        raw_rules[index - 1] = None  # free each parsed table now: a million of them add up
        if rule is not None:
            rules.append((index, rule))
    lines = dict(enumerate(rule_lines or (), 1))
    problems.extend(_check_rules(rules, lines.get))

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
    return vouch(policy), problems


def _parse_header(raw: object, problems: list[PolicyProblem]) -> tuple[str, int, Mode] | None:
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
    elif not _is_text(name) or not name or len(name.encode()) > MAX_NAME_BYTES:
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


HASH_COLUMNS: tuple[tuple[RuleKind, Action], ...] = tuple(
    (RuleKind(kind), Action(action)) for kind, action in HASH_SECTIONS.values()
)
"""The four hash rule columns, numbered as here: the blob's hash sections, in its order."""

_COLUMN_ACTIONS = {"allow": 0, "deny": 1}
_COLUMN_KIND_KEYS = tuple(kind.value for kind, _ in HASH_COLUMNS)
_COLUMN_PREFIXES = tuple(default_id(kind, "") for kind, _ in HASH_COLUMNS)
_LOWER_HEX_DIGITS = "0123456789abcdef"
_FAST_TEXT_KEYS = frozenset(("id", "name", "comment"))


def _plain_hash_rule(raw: object) -> tuple[int, str, str | None] | None:
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
        or value.strip(_LOWER_HEX_DIGITS)  # C-speed "only lowercase hex digits"
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
    """:func:`_plain_hash_rule` as a :class:`Rule` (with its name and comment)."""
    plain = _plain_hash_rule(raw)
    if plain is None:
        return None
    column, value, rule_id = plain
    kind, action = HASH_COLUMNS[column]
    if len(raw) == 2:  # a dict: _plain_hash_rule checked
        return Rule.trusted(None, action, kind, value)
    return Rule.trusted(rule_id, action, kind, value, raw.get("name", ""), raw.get("comment", ""))


def _parse_rule(
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
        if _is_text(raw["id"]):
            rule_id = raw["id"]
        if (
            rule_id is None
            or not valid_rule_id_text(rule_id)
            or not 1 <= len(rule_id.encode("utf-8", "surrogatepass")) <= MAX_ID_BYTES
        ):
            reasons.append(
                f"id must be 1 to {MAX_ID_BYTES} bytes of text without control characters:"
                f" {raw['id']!r}"
            )

    action = raw.get("action")
    if action is None:
        reasons.append("missing action ('allow' or 'deny')")
    elif action not in _ACTIONS:
        reasons.append(f"action must be 'allow' or 'deny': {action!r}")

    kinds = [key for key in _KIND_KEYS if key in raw]
    kind: RuleKind | None = None
    value = ""
    if not kinds:
        reasons.append(f"needs one of {', '.join(_KIND_KEYS)}")
    elif len(kinds) > 1:
        reasons.append(
            f"has {' and '.join(kinds)}: a rule matches one thing (write one rule for each)"
        )
    elif not _is_text(raw[kinds[0]]):
        reasons.append(_not_text(kinds[0], raw[kinds[0]]))
    else:
        kind, value = RuleKind(kinds[0]), raw[kinds[0]]
        if kind is RuleKind.PATH:
            reasons.extend(_path_problems(value))
            if "id" not in raw:
                reasons.append("a path rule needs an id (only hash rules have a default)")
        else:
            value = value.lower()  # accepted in any case, stored and written in lowercase
            if not _HEX.fullmatch(value):
                reasons.append(f"{kind.value} is not hexadecimal: {raw[kinds[0]]!r}")
            elif len(value) != 64:
                reasons.append(f"{kind.value} must be 64 hex digits, not {len(value)}")
            elif rule_id is None and "id" not in raw:
                rule_id = default_id(kind, value)

    for key in ("name", "comment"):
        if key in raw and not _is_text(raw[key]):
            reasons.append(_not_text(key, raw[key]))

    if reasons or kind is None or rule_id is None:
        report()
        return None
    try:
        return Rule(
            id=rule_id,
            action=Action(action),
            kind=kind,
            value=value,
            name=raw.get("name", ""),
            comment=raw.get("comment", ""),
        )
    except PolicyError as e:  # a check the model makes and this parser does not (yet)
        reasons.append(e.message)
        report()
        return None


def _path_problems(value: str) -> list[str]:
    try:
        PathPattern.parse(value)
    except PolicyError as e:
        return [e.message]
    if len(code_units(value)) > MAX_PATTERN_UNITS:
        return [f"path pattern longer than {MAX_PATTERN_UNITS} UTF-16 code units"]
    return []


# --- rules against each other -------------------------------------------------


def match_key(rule: Rule) -> tuple[RuleKind, str, Action]:
    """What a rule matches and what it does; two rules with equal keys are duplicates.

    A path rule is keyed by its folded tokens, so patterns that differ only in
    case (or in the case of the variable's name) are the same rule.
    """
    value = rule.pattern.tokens if rule.kind is RuleKind.PATH else rule.value
    return rule.kind, value, rule.action


def check_policy(policy: Policy) -> list[PolicyProblem]:
    """The problems between a policy's rules (each rule is valid by construction).

    Duplicate ids, duplicate rules, a hash both allowed and denied (errors);
    shadowed path rules (warnings).  ``rule_index`` is the 1-based position in
    ``policy.rules``.
    """
    return _check_rules(list(enumerate(policy.rules, 1)), lambda _: None)


def _describe(index: int, rule: Rule) -> str:
    """How a problem names another rule: its position, and its id unless that is the default."""
    if rule.kind is not RuleKind.PATH and rule.id == default_id(rule.kind, rule.value):
        return f"rule {index}"
    return f"rule {index} (id {rule.id!r})"


def _verb(action: Action) -> str:
    return "allows" if action is Action.ALLOW else "denies"


def _hash_rules_clean(rules: Sequence[tuple[int, Rule]]) -> bool:
    """True when no hash rule can take part in a problem: checked with set sizes.

    Then only path rules need the rule-by-rule check (a million hash rules
    would make it the slowest step of compiling).
    """
    # Buckets by identity: enum members hash (and give their .value) in Python.
    authenticode: tuple[list[str], list[str]] = ([], [])
    flat: tuple[list[str], list[str]] = ([], [])
    explicit: list[str] = []
    allow, path = Action.ALLOW, RuleKind.PATH
    for _, rule in rules:
        if rule.explicit_id is not None:
            explicit.append(rule.explicit_id)
        kind = rule.kind
        if kind is not path:
            buckets = flat if kind is RuleKind.FILE_SHA256 else authenticode
            buckets[0 if rule.action is allow else 1].append(rule.value)
    if len(set(explicit)) != len(explicit):
        return False
    for kind, (allowed_list, denied_list) in (
        (RuleKind.AUTHENTICODE_SHA256, authenticode),
        (RuleKind.FILE_SHA256, flat),
    ):
        allowed, denied = set(allowed_list), set(denied_list)
        if len(allowed) != len(allowed_list) or len(denied) != len(denied_list):
            return False
        if allowed & denied:
            return False
        prefix = f"{kind.value}:"
        digests = allowed | denied
        if any(i.startswith(prefix) and i[len(prefix) :] in digests for i in explicit):
            return False  # an explicit id equal to another rule's default id
    return True


def _check_rules(
    rules: Sequence[tuple[int, Rule]], line_of: Callable[[int], int | None]
) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    if _hash_rules_clean(rules):
        rules = [(i, r) for i, r in rules if r.kind is RuleKind.PATH]

    def problem(index: int, rule: Rule, message: str, severity: str = "error") -> None:
        problems.append(
            PolicyProblem(
                message, rule_index=index, rule_id=rule.id, line=line_of(index), severity=severity
            )
        )

    first_by_id: dict[str, tuple[int, Rule]] = {}
    first_by_key: dict[tuple[RuleKind, str, Action], tuple[int, Rule]] = {}
    first_by_digest: dict[tuple[RuleKind, str], tuple[int, Rule]] = {}
    duplicates: set[int] = set()
    for index, rule in rules:
        key = match_key(rule)
        if key in first_by_key:
            other_index, other = first_by_key[key]
            what = "pattern" if rule.kind is RuleKind.PATH else rule.kind.value
            problem(
                index,
                rule,
                f"duplicate rule: {_describe(other_index, other)} has the same {what} and action",
            )
            duplicates.add(index)
        elif rule.kind is not RuleKind.PATH:
            other_index, other = first_by_digest.setdefault((rule.kind, rule.value), (index, rule))
            if other.action is not rule.action:
                problem(
                    index,
                    rule,
                    f"{_describe(other_index, other)} {_verb(other.action)} the same "
                    f"{rule.kind.value}: a hash is either allowed or denied",
                )
        first_by_key.setdefault(key, (index, rule))
        other_index, other = first_by_id.setdefault(rule.id, (index, rule))
        # Two hash rules for one digest were reported above (as a duplicate or
        # a conflict), and with default ids they share the id too: once is enough.
        if rule.kind is RuleKind.PATH:
            explained = index in duplicates and match_key(other) == key
        else:
            explained = (other.kind, other.value) == (rule.kind, rule.value)
        if other_index != index and not explained:
            problem(index, rule, f"duplicate id: rule {other_index} has it too")

    paths = [(i, r) for i, r in rules if r.kind is RuleKind.PATH and i not in duplicates]
    for index, rule, by_index, by in _shadowed(paths):
        if by.action is Action.DENY and rule.action is Action.ALLOW:
            reason = f"never applies: {_describe(by_index, by)} denies every path it matches"
        else:
            reason = (
                f"redundant: {_describe(by_index, by)} already {_verb(by.action)} "
                "every path it matches"
            )
        problem(index, rule, reason, "warning")
    for index, rule, folders in _writable_folders_allowed(paths):
        more = f" and {len(folders) - 3} more" if len(folders) > 3 else ""
        problem(
            index,
            rule,
            f"allows programs in folders ordinary users can write to: {', '.join(folders[:3])}"
            f"{more}; deny them (say {folders[0]}\\*) or allow narrower folders",
            "warning",
        )
    problems.extend(_cost_warnings(paths))
    return problems


USER_WRITABLE_FOLDERS = (
    "%WINDIR%\\Tasks",
    "%WINDIR%\\Temp",
    "%WINDIR%\\tracing",
    "%WINDIR%\\Registration\\CRMLog",
    "%SYSTEM32%\\FxsTmp",
    "%SYSTEM32%\\Tasks",
    "%SYSTEM32%\\Tasks_Migrated",
    "%SYSTEM32%\\com\\dmp",
    "%SYSTEM32%\\Microsoft\\Crypto\\RSA\\MachineKeys",
    "%SYSTEM32%\\spool\\PRINTERS",
    "%SYSTEM32%\\spool\\SERVERS",
    "%SYSTEM32%\\spool\\drivers\\color",
    "%WINDIR%\\SysWOW64\\FxsTmp",
    "%WINDIR%\\SysWOW64\\com\\dmp",
    "%WINDIR%\\SysWOW64\\Tasks\\Microsoft\\Windows\\SyncCenter",
    "%WINDIR%\\SysWOW64\\Tasks\\Microsoft\\Windows\\PLA\\System",
)
"""Folders under %WINDIR% that ordinary users can create files in on a default
installation (the lists of AppLocker bypasses, and AaronLocker's scan of
System32): an allow rule for %WINDIR%\\* allows whatever a user drops there."""

_PROBE = "payload.exe"
"""The file a user would drop: a name any pattern for programs in a folder matches."""


def _writable_probes() -> list[tuple[str, str]]:
    """Each folder of :data:`USER_WRITABLE_FOLDERS`, and a folded file path in it
    on a default installation (the values ``exewhitelist check`` uses)."""
    probes = []
    for folder in USER_WRITABLE_FOLDERS:
        variable, rest = folder[1:].split("%", 1)
        path = DEFAULT_VARIABLES[variable][0] + rest + "\\" + _PROBE
        probes.append((folder, fold(path)))
    return probes


def _writable_folders_allowed(
    paths: Sequence[tuple[int, Rule]],
) -> Iterator[tuple[int, Rule, list[str]]]:
    """Allow path rules that match a file in a user-writable folder no deny path rule covers."""
    denies = [rule.pattern for _, rule in paths if rule.action is Action.DENY]
    probes = [
        (folder, path)
        for folder, path in _writable_probes()
        if not any(d.matches(path, DEFAULT_VARIABLES) for d in denies)
    ]
    for index, rule in paths:
        if rule.action is Action.ALLOW:
            folders = [f for f, path in probes if rule.pattern.matches(path, DEFAULT_VARIABLES)]
            if folders:
                yield index, rule, folders


SCAN_RULES_WARNING = 100
"""Path rules that start and end with a wildcard past which ``policy validate`` warns."""
SHARED_KEY_WARNING = 256
"""Path rules with one key (docs/blob-format.md §5.2) past which it warns."""


def _cost_warnings(paths: Sequence[tuple[int, Rule]]) -> list[PolicyProblem]:
    """Policies that slow every decision in the driver (docs/blob-format.md §5.2):
    many rules that start and end with a wildcard (each is tried on every
    decision), or many rules sharing one key (a decision under that key walks
    them all)."""
    scan = 0
    keys: dict[tuple[int, str], int] = defaultdict(int)
    for _, rule in paths:
        group, key = path_index_key(rule.pattern.tokens)
        if group == 3:
            scan += 1
        else:
            keys[group, key] += 1
    problems = []
    if scan > SCAN_RULES_WARNING:
        problems.append(
            PolicyProblem(
                f"{scan} path rules start and end with a wildcard: the driver tries each one "
                "on every decision; anchor them to a folder (C:\\Apps\\*) or a file name "
                "(*\\tool.exe)",
                severity="warning",
            )
        )
    for (group, key), count in sorted(keys.items()):
        if count > SHARED_KEY_WARNING:
            # Group 2 keys are the literal suffix, reversed (docs/blob-format.md §5.2).
            where = (
                f"end with {pattern_text(key[::-1])} after"
                if group == 2
                else (f"start with {pattern_text(key)} before")
            )
            problems.append(
                PolicyProblem(
                    f"{count} path rules {where} their wildcards: every decision for a path "
                    "there tries them all; split them by longer literal parts",
                    severity="warning",
                )
            )
    return problems


def _literal_ends(tokens: str) -> tuple[str, str]:
    """The literal runs before the first and after the last wildcard (all of it if none)."""
    parts = re.split(r"[*?]", tokens)
    return parts[0], parts[-1]


def covers(outer: str, inner: str) -> bool:
    """Whether pattern tokens ``outer`` match every path that ``inner`` matches.

    ``outer``'s ``*`` matches any run of ``inner``'s units, wildcards
    included; its ``?`` matches one unit that is a literal or ``?``; a
    literal (a variable token too) matches only itself.  This is sound (True
    means covered) but not complete: ``*?`` and ``?*`` match the same paths
    and neither is found to cover the other.  The greedy single-backtrack
    loop of :func:`~exewhitelist.policy.glob_match` is correct here too,
    because only the single-unit test differs.
    """
    n_outer, n_inner = len(outer), len(inner)
    o = i = 0
    star_o = star_i = -1
    while i < n_inner:
        if o < n_outer and outer[o] == "*":
            star_o, star_i = o, i
            o += 1
        elif o < n_outer and (inner[i] != "*" if outer[o] == "?" else outer[o] == inner[i]):
            o += 1
            i += 1
        elif star_o >= 0:
            o = star_o + 1
            star_i += 1
            i = star_i
        else:
            return False
    while o < n_outer and outer[o] == "*":
        o += 1
    return o == n_outer


def _shadowed(
    rules: Sequence[tuple[int, Rule]],
) -> Iterable[tuple[int, Rule, int, Rule]]:
    """(index, rule, by_index, by) for each path rule made pointless by another.

    ``by`` shadows ``rule`` when it covers its pattern and denies, or does
    what ``rule`` does.  Of two rules that cover each other with the same
    action only the later is reported; a denying shadow is preferred, as
    "never applies" says more than "redundant".

    A covering pattern's literal prefix is a prefix of what it covers, and
    its literal suffix a suffix: candidates are found through an index of
    prefixes (or, for patterns that start with a wildcard, suffixes) and
    filtered by suffix before :func:`covers` runs, so a policy of thousands
    of path rules is not compared pair by pair.
    """
    tokens = {index: rule.pattern.tokens for index, rule in rules}
    ends = {index: _literal_ends(t) for index, t in tokens.items()}
    by_prefix: defaultdict[str, list[tuple[int, Rule]]] = defaultdict(list)
    by_suffix: defaultdict[str, list[tuple[int, Rule]]] = defaultdict(list)
    anywhere: list[tuple[int, Rule]] = []
    for index, rule in rules:
        prefix, suffix = ends[index]
        if prefix:
            by_prefix[prefix].append((index, rule))
        elif suffix:
            by_suffix[suffix].append((index, rule))
        else:
            anywhere.append((index, rule))
    prefix_lengths = sorted({len(p) for p in by_prefix})
    suffix_lengths = sorted({len(s) for s in by_suffix})

    for index, rule in rules:
        own = tokens[index]
        candidates = [*anywhere]
        for n in prefix_lengths:
            candidates.extend(by_prefix.get(own[:n], ()))
        for n in suffix_lengths:
            candidates.extend(by_suffix.get(own[-n:], ()))
        plausible = [
            (other_index, other)
            for other_index, other in candidates
            if other_index != index
            and (other.action is Action.DENY or other.action is rule.action)
            and own.endswith(ends[other_index][1])
        ]
        best: tuple[int, Rule] | None = None
        for other_index, other in sorted(plausible, key=lambda c: c[0]):
            if not covers(tokens[other_index], own):
                continue
            if (
                other.action is rule.action
                and other_index > index
                and covers(own, tokens[other_index])
            ):
                continue  # equivalent patterns: the later one is the redundant one
            if best is None or other.action is Action.DENY:
                best = (other_index, other)
            if other.action is Action.DENY:
                break  # the first deny (by position) is the one reported
        if best is not None:
            yield index, rule, best[0], best[1]


# --- columns: a large policy file straight to the compiler ------------------------


@dataclasses.dataclass(frozen=True)
class PolicyColumns:
    """A valid policy file as the compiler needs it, without a :class:`Rule` per hash rule.

    What :func:`load_policy` returns for the same file, less what the blob does
    not keep (the names and comments of hash rules): a million hash rules are
    four byte strings here, not a million objects.
    """

    name: str
    version: int
    mode: Mode
    digests: tuple[bytes, ...]
    """One per :data:`HASH_COLUMNS` entry: its digests, 32 bytes each, sorted (canonical order)."""
    explicit_ids: tuple[list[tuple[int, str]], ...]
    """One per column: (index in the column, id) of the rules whose id is not the default."""
    path_rules: list[Rule]
    """The path rules, in canonical order."""
    problems: list[PolicyProblem]
    """Warnings, as :func:`validate_policy_file` reports them (with errors there are no columns)."""


_PREFIXES = tuple(a + b for a in _LOWER_HEX_DIGITS for b in _LOWER_HEX_DIGITS)
"""The buckets of a column while it is read: every two-digit lowercase hex prefix, in order.

Sorting 256 buckets of a few thousand digests, each within the processor's
cache, takes a fraction of the time of one sort of a million strings spread
over the heap."""

_Buckets = tuple[dict[str, list[str]], ...]


def load_policy_columns(path: str | os.PathLike[str]) -> PolicyColumns | None:
    """The columns of a valid policy file; None when :func:`load_policy` must decide.

    None means the file has an error (load_policy raises the
    :class:`PolicyError` that lists them) or something this fast path leaves
    to it (hex digits in upper case, say); it never stands for a different
    policy.  Errors reading the file propagate as from load_policy.
    """
    fmt = policy_format(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    del data  # the text and the parsed document are what must fit in memory together
    colons: int | None = None
    rule_lines: list[int] | None = None
    try:
        if fmt == "toml":
            document: Any = tomllib.loads(text)
            rule_lines = _rule_header_lines(text)
        else:
            if "\\u003a" in text or "\\u003A" in text:
                return None  # an escaped ':' would upset the count of pairs below
            colons = text.count(":")
            # No object_pairs_hook: a Python call per object doubles the time of
            # parsing.  Duplicate keys are found by counting instead (below).
            document = json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError):
        return None
    del text
    buckets: _Buckets = tuple({prefix: [] for prefix in _PREFIXES} for _ in HASH_COLUMNS)
    explicit: list[tuple[int, str, str]] = []
    gathered = _gather_columns(document, rule_lines, colons, buckets, explicit)
    del document  # frees every rule's table; the digests live on in the buckets
    if gathered is None:
        return None
    header, paths = gathered
    return _finish_columns(header, paths, rule_lines, buckets, explicit)


def _gather_columns(
    document: Any,
    rule_lines: list[int] | None,
    colons: int | None,
    buckets: _Buckets,
    explicit: list[tuple[int, str, str]],
) -> tuple[tuple[str, int, Mode], list[tuple[int, Rule]]] | None:
    """The header and the path rules (with their positions); hash rules go into ``buckets``.

    None when anything in the document is an error: the general loader is
    left to report it.  ``colons`` is the number of ``:`` in the JSON text
    (None for TOML).

    A digest taken here is known to be a string of 64 characters starting
    with two lowercase hex digits; :func:`_finish_columns` checks the rest
    of them, all at once.
    """
    if type(document) is not dict or any(key not in _TOP_KEYS for key in document):
        return None
    problems: list[PolicyProblem] = []
    header = _parse_header(document.get("policy"), problems)
    if header is None or problems:
        return None
    raw_rules = document.get("rule", [])
    if type(raw_rules) is not list:
        return None
    if rule_lines is not None and len(rule_lines) != len(raw_rules):
        rule_lines = None
    paths: list[tuple[int, Rule]] = []
    text_colons = header[0].count(":")  # in the strings of the document
    allow_authenticode, deny_authenticode, allow_file, deny_file = (c.get for c in buckets)
    for index, raw in enumerate(raw_rules, 1):
        if type(raw) is dict and len(raw) == 2:
            # The plain rule, two keys: a million of them take this path.
            action = raw.get("action")
            digest = raw.get("authenticode_sha256")
            if digest is not None:
                lookup = (
                    allow_authenticode
                    if action == "allow"
                    else deny_authenticode
                    if action == "deny"
                    else None
                )
            else:
                digest = raw.get("file_sha256")
                lookup = (
                    allow_file if action == "allow" else deny_file if action == "deny" else None
                )
            if lookup is not None and type(digest) is str and len(digest) == 64:
                bucket = lookup(digest[:2])
                if bucket is not None:
                    bucket.append(digest)
                    continue
        plain = _plain_hash_rule(raw)
        if plain is None:
            line = rule_lines[index - 1] if rule_lines is not None else None
            rule = _parse_rule(raw, index, line, problems)
            if rule is None:
                return None
            if rule.kind is RuleKind.PATH:
                paths.append((index, rule))
                plain = None
            else:
                plain = HASH_COLUMNS.index((rule.kind, rule.action)), rule.value, rule.explicit_id
        # A valid rule's values are all strings.
        text_colons += sum(map(str.count, raw.values(), itertools.repeat(":")))
        if plain is not None:
            column, digest, rule_id = plain
            buckets[column][digest[:2]].append(digest)
            if rule_id is not None:
                explicit.append((column, digest, rule_id))
    if colons is not None:
        # JSON keeps the last of duplicate keys silently, and the general loader
        # refuses them: a ':' outside strings is one key-value pair, so the
        # document has none exactly when its tables hold as many pairs as
        # there are such colons (a duplicate pair would be missing, and its
        # strings' colons with it).  The keys of a valid document have no ':'.
        pairs = len(document) + len(document["policy"]) + sum(map(len, raw_rules))
        if colons - text_colons != pairs:
            return None
    return header, paths


def _finish_columns(
    header: tuple[str, int, Mode],
    paths: list[tuple[int, Rule]],
    rule_lines: list[int] | None,
    buckets: _Buckets,
    explicit: list[tuple[int, str, str]],
) -> PolicyColumns | None:
    """The checks between rules, on the columns; None if any finds an error.

    The same checks as :func:`_check_rules`, which, when no hash rule takes
    part in a problem, checks the path rules alone: so that is what is left
    for it here.
    """
    eq = operator.eq
    packed: list[bytes] = []
    for column in buckets:
        digests = bytearray()
        for bucket in column.values():  # in prefix order
            if len(bucket) > 1:
                bucket.sort()
                if any(map(eq, bucket, itertools.islice(bucket, 1, None))):
                    return None  # a duplicate rule: the same digest twice in a column
            # Packed a bucket at a time, while its digests are in the cache.
            hex_digits = "".join(bucket)
            try:
                binary = bytes.fromhex(hex_digits)
            except ValueError:
                return None
            if binary.hex() != hex_digits:  # not all lowercase hex digits (whitespace, say)
                return None
            digests += binary
        packed.append(bytes(digests))
    for allowed, denied in ((buckets[0], buckets[1]), (buckets[2], buckets[3])):
        for prefix, bucket in allowed.items():
            if bucket and denied[prefix] and not set(bucket).isdisjoint(denied[prefix]):
                return None  # a hash both allowed and denied
    ids = [rule_id for _, _, rule_id in explicit]
    ids += [rule.id for _, rule in paths]
    if len(set(ids)) != len(ids):
        return None
    kinds = tuple(set(_COLUMN_PREFIXES))
    for rule_id in ids:
        if rule_id.startswith(kinds):  # perhaps another hash rule's default id
            for number, prefix in enumerate(_COLUMN_PREFIXES):
                digest = rule_id[len(prefix) :]
                if rule_id.startswith(prefix) and _index_in_bucket(buckets[number], digest) >= 0:
                    return None
    lines = dict(enumerate(rule_lines or (), 1))
    problems = _check_rules(paths, lines.get)
    if any(p.severity == "error" for p in problems):
        return None
    problems.sort(key=lambda p: p.rule_index or 0)
    explicit_ids: tuple[list[tuple[int, str]], ...] = ([], [], [], [])
    if explicit:
        starts = []  # of each bucket, in its column
        for column in buckets:
            sizes = itertools.accumulate(map(len, column.values()), initial=0)
            starts.append(dict(zip(column, sizes, strict=False)))
        for column_number, digest, rule_id in explicit:
            index = _index_in_bucket(buckets[column_number], digest)
            explicit_ids[column_number].append((starts[column_number][digest[:2]] + index, rule_id))
        for ids_of_column in explicit_ids:
            ids_of_column.sort()
    name, version, mode = header
    return PolicyColumns(
        name=name,
        version=version,
        mode=mode,
        digests=tuple(packed),
        explicit_ids=explicit_ids,
        path_rules=canonical_order(rule for _, rule in paths),
        problems=problems,
    )


def _index_in_bucket(column: dict[str, list[str]], digest: str) -> int:
    """The index of ``digest`` in its (sorted) bucket of a column, or -1."""
    bucket = column.get(digest[:2], [])
    i = bisect.bisect_left(bucket, digest)
    return i if i < len(bucket) and bucket[i] == digest else -1
