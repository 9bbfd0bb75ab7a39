"""Rules against each other: the errors between a policy's rules, and the checked policy.

Each rule is valid by construction (its kind's type checks it); what is left
are the problems between rules: duplicate ids, duplicate rules, a hash both
allowed and denied (errors), and the warnings of :mod:`exewhitelist.policylint`.
These checks exist once: the policy file loader, the compiler's fast path
(:mod:`exewhitelist.policycolumns`) and :func:`check_policy` use them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .blob._format import HASH_SECTIONS
from .errors import PolicyError, PolicyProblem
from .policy import Policy, canonical_order
from .policylint import (
    describe,
    exception_warnings,
    path_rule_warnings,
    publisher_rule_warnings,
    verb,
)
from .rules import Action, HashRule, MatchKey, PathRule, PublisherRule, Rule, RuleKind, default_id

__all__ = [
    "HASH_COLUMNS",
    "Buckets",
    "CheckedPolicy",
    "check_policy",
    "hash_columns_clean",
    "rule_problems",
]

HASH_COLUMNS: tuple[tuple[RuleKind, Action], ...] = tuple(
    (RuleKind(kind), Action(action)) for kind, action in HASH_SECTIONS.values()
)
"""The hash rule columns, numbered as here: the blob's hash sections, in its order."""

Buckets = Mapping[str, Sequence[str]]
"""One column's digests, in buckets by their first two hex digits."""


def hash_columns_clean(columns: Sequence[Buckets], explicit_ids: Collection[str]) -> bool:
    """True when no hash rule takes part in a problem: no digest twice in a column, none
    both allowed and denied, and no explicit id equal to another hash rule's default id.

    ``columns`` follow :data:`HASH_COLUMNS`; ``explicit_ids`` are every id
    that is not a hash rule's default (path rules' too). Checked with set
    sizes: a million hash rules cost a few set operations, not a
    rule-by-rule comparison.
    """
    if len(set(explicit_ids)) != len(explicit_ids):
        return False
    for column in columns:
        if any(len(set(bucket)) != len(bucket) for bucket in column.values() if len(bucket) > 1):
            return False
    for number in range(0, len(HASH_COLUMNS), 2):
        allowed, denied = columns[number], columns[number + 1]
        for prefix, bucket in allowed.items():
            other = denied.get(prefix)
            if bucket and other and not set(bucket).isdisjoint(other):
                return False
    prefixes = {default_id(kind, ""): n for n, (kind, _) in enumerate(HASH_COLUMNS)}
    for rule_id in explicit_ids:
        kind_prefix, sep, digest = rule_id.partition(":")
        found = prefixes.get(kind_prefix + sep)
        if found is None:
            continue
        for column in (columns[found], columns[found ^ 1]):
            if digest in column.get(digest[:2], ()):
                return False  # another hash rule's default id
    return True


def _hash_rules_clean(rules: Iterable[Rule]) -> bool:
    columns: list[defaultdict[str, list[str]]] = [defaultdict(list) for _ in HASH_COLUMNS]
    explicit: list[str] = []
    number = {key: n for n, key in enumerate(HASH_COLUMNS)}
    for rule in rules:
        if rule.explicit_id is not None:
            explicit.append(rule.explicit_id)
        if isinstance(rule, HashRule):
            columns[number[rule.kind, rule.action]][rule.value[:2]].append(rule.value)
    return hash_columns_clean(columns, explicit)


def check_policy(policy: Policy) -> list[PolicyProblem]:
    """The problems between a policy's rules (each rule is valid by construction).

    Duplicate ids, duplicate rules, a hash both allowed and denied (errors);
    shadowed path rules and costly or risky ones (warnings). ``rule_index``
    is the 1-based position in ``policy.rules``.
    """
    return rule_problems(list(enumerate(policy.rules, 1)), lambda _: None)


def rule_problems(
    rules: Sequence[tuple[int, Rule]], line_of: Callable[[int], int | None]
) -> list[PolicyProblem]:
    """:func:`check_policy` on (position, rule) pairs, with the line of each position."""
    problems: list[PolicyProblem] = []
    if _hash_rules_clean(rule for _, rule in rules):
        rules = [(i, r) for i, r in rules if not isinstance(r, HashRule)]

    def problem(index: int, rule: Rule, message: str, severity: str = "error") -> None:
        problems.append(
            PolicyProblem(
                message, rule_index=index, rule_id=rule.id, line=line_of(index), severity=severity
            )
        )

    first_by_id: dict[str, tuple[int, Rule]] = {}
    first_by_key: dict[MatchKey, tuple[int, Rule]] = {}
    first_by_digest: dict[tuple[RuleKind, str], tuple[int, Rule]] = {}
    duplicates: set[int] = set()
    for index, rule in rules:
        key = rule.match_key()
        if key in first_by_key:
            other_index, other = first_by_key[key]
            what = "pattern" if isinstance(rule, PathRule) else rule.kind.value
            problem(
                index,
                rule,
                f"duplicate rule: {describe(other_index, other)} has the same {what} and action",
            )
            duplicates.add(index)
        elif isinstance(rule, HashRule):
            other_index, other = first_by_digest.setdefault((rule.kind, rule.value), (index, rule))
            if other.action is not rule.action:
                problem(
                    index,
                    rule,
                    f"{describe(other_index, other)} {verb(other.action)} the same "
                    f"{rule.kind.value}: a hash is either allowed or denied",
                )
        first_by_key.setdefault(key, (index, rule))
        other_index, other = first_by_id.setdefault(rule.id, (index, rule))
        # Two hash rules for one digest were reported above (as a duplicate or
        # a conflict), and with default ids they share the id too: once is enough.
        if isinstance(rule, HashRule):
            explained = (other.kind, other.value) == (rule.kind, rule.value)
        else:
            explained = index in duplicates and other.match_key() == key
        if other_index != index and not explained:
            problem(index, rule, f"duplicate id: rule {other_index} has it too")

    paths = [(i, r) for i, r in rules if isinstance(r, PathRule) and i not in duplicates]
    for index, rule, message in path_rule_warnings(paths, problems):
        problem(index, rule, message, "warning")
    publishers = [(i, r) for i, r in rules if isinstance(r, PublisherRule) and i not in duplicates]
    for index, publisher, message in publisher_rule_warnings(publishers):
        problem(index, publisher, message, "warning")
    for index, rule, message in exception_warnings(
        [(i, r) for i, r in rules if r.exceptions and i not in duplicates]
    ):
        problem(index, rule, message, "warning")
    return problems


@dataclass(frozen=True, eq=False)
class CheckedPolicy(Policy):
    """A policy whose rules are in canonical order and have no errors between them.

    What the policy file loader returns; the compiler takes it without
    checking again (seconds for a million rules). Making one checks it, so a
    ``dataclasses.replace`` of it is checked again and can never be stale.
    """

    def __post_init__(self) -> None:
        Policy.__post_init__(self)
        if list(self.rules) != canonical_order(self.rules):
            raise PolicyError("a checked policy's rules are in canonical order")
        errors = [p for p in check_policy(self) if p.severity == "error"]
        if errors:
            raise PolicyError(str(errors[0]), tuple(errors))

    @classmethod
    def already_checked(cls, policy: Policy) -> CheckedPolicy:
        """``policy`` as checked, for a caller that has just made both checks itself."""
        checked = object.__new__(cls)
        for name in ("name", "version", "mode", "rules"):
            object.__setattr__(checked, name, getattr(policy, name))
        return checked
