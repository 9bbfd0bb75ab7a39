"""The policy model: rules, policies and the one decision function.

Semantics (``docs/policy.md`` is the prose version, and the blob reader and
the driver's C core implement exactly this):

1. Every rule that matches the image is found: an Authenticode SHA-256 rule
   matches the image's Authenticode SHA-256, a file SHA-256 rule its flat
   SHA-256, a path rule its Windows path (case-insensitively, ``*`` any run of
   characters including ``\\``, ``?`` exactly one, a leading variable one of
   its values), a publisher rule one of its valid signers; a rule whose
   exception matches does not match.
2. If any matching rule denies, the image is denied; else if any allows, it is
   allowed; else it is denied by default (``rule`` is None).
3. The deciding rule is the first matching rule of the winning action by the
   input its own condition tests (path rules, then hash rules, then publisher
   rules: the order the driver gets them in), then canonical order
   (:func:`canonical_order`).
4. In audit mode the decision is computed and reported but not enforced.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .blob._format import MAX_NAME_BYTES, MAX_POLICY_VERSION
from .errors import PolicyError
from .rules import (
    DEFAULT_VARIABLES,
    TOKEN_BASE,
    VARIABLES,
    Action,
    HashRule,
    Image,
    PathPattern,
    Rule,
    RuleKind,
    SignerFacts,
    code_units,
    concrete_windows_path,
    default_id,
    fold,
    glob_match,
    hash_rule,
    make_rule,
    path_index_key,
    pattern_text,
    text_problem,
    valid_rule_id_text,
    variable_token,
)

__all__ = [
    "DEFAULT_VARIABLES",
    "MAX_NAME_BYTES",
    "MAX_POLICY_VERSION",
    "TOKEN_BASE",
    "VARIABLES",
    "Action",
    "Decision",
    "Mode",
    "PathPattern",
    "Policy",
    "Query",
    "Rule",
    "RuleKind",
    "canonical_order",
    "code_units",
    "concrete_windows_path",
    "decide",
    "default_id",
    "fold",
    "glob_match",
    "hash_rule",
    "make_rule",
    "path_index_key",
    "pattern_text",
    "valid_rule_id_text",
    "variable_token",
]


class Mode(str, enum.Enum):
    ENFORCE = "enforce"
    AUDIT = "audit"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Policy:
    """A named, versioned rule set. Rule order carries no meaning."""

    name: str
    version: int
    mode: Mode = Mode.ENFORCE
    rules: tuple[Rule, ...] = field(default=())

    def __post_init__(self) -> None:
        if (
            text_problem("name", self.name) is not None
            or not self.name
            or len(self.name.encode()) > MAX_NAME_BYTES
        ):
            raise PolicyError(
                f"policy name must be 1 to {MAX_NAME_BYTES} bytes of valid Unicode text"
            )
        if not isinstance(self.version, int) or not 0 <= self.version <= MAX_POLICY_VERSION:
            raise PolicyError(
                f"policy version must be an integer in 0..{MAX_POLICY_VERSION}: {self.version!r}"
            )
        if not isinstance(self.mode, Mode):
            raise PolicyError(f"unknown mode {self.mode!r}")

    def _fields(self) -> tuple[str, int, Mode, tuple[Rule, ...]]:
        return (self.name, self.version, self.mode, self.rules)

    # A checked policy (exewhitelist.policycheck.CheckedPolicy) is the same
    # policy, only known to be valid: equal to its unchecked twin.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())


@dataclass(frozen=True)
class Query:
    """What is known about an image when it starts."""

    path: str | None = None
    """Its Windows path (any case)."""
    authenticode_sha256: str | None = None
    file_sha256: str | None = None
    signer_facts: SignerFacts | None = None
    """Its verified signers and version resource (None: not known)."""


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: Rule | None
    """The deciding rule; None for the default deny."""
    enforced: bool
    """False in audit mode: the action is reported, never applied."""

    @property
    def blocks(self) -> bool:
        return self.action is Action.DENY and self.enforced


_DIGEST = operator.attrgetter("value")
_SORT_KEY = operator.methodcaller("sort_key")
_NEEDS = operator.methodcaller("needs")


def canonical_order(rules: Iterable[Rule]) -> list[Rule]:
    """The order the blob stores rules in, which decides between matching rules.

    By kind (:attr:`Rule.rank`), then each kind's :meth:`Rule.sort_key`: hash
    rules by digest; path rules by index group, then key, then pattern (all
    compared as UTF-16 code units); ties by action, then id.
    """
    buckets: dict[int, list[Rule]] = {}
    for rule in rules:
        bucket = buckets.get(rule.rank)
        if bucket is None:
            bucket = buckets[rule.rank] = []
        bucket.append(rule)
    ordered: list[Rule] = []
    for rank in sorted(buckets):
        bucket = buckets[rank]
        if isinstance(bucket[0], HashRule):
            # Hash rules can number millions: sort on a C-level key, and pay for
            # the full key only when two rules share a digest (an invalid policy).
            by_digest = sorted(bucket, key=_DIGEST)
            if len(set(map(_DIGEST, by_digest))) != len(by_digest):
                by_digest.sort(key=_SORT_KEY)
            ordered += by_digest
        else:
            ordered += sorted(bucket, key=_SORT_KEY)
    return ordered


def decide(
    policy: Policy,
    query: Query,
    variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES,
) -> Decision:
    """The decision of :mod:`this module's docstring <exewhitelist.policy>`."""
    image = Image(
        folded_path=fold(query.path) if query.path is not None else None,
        authenticode_sha256=(
            query.authenticode_sha256.lower() if query.authenticode_sha256 is not None else None
        ),
        file_sha256=query.file_sha256.lower() if query.file_sha256 is not None else None,
        signer_facts=query.signer_facts,
    )
    matching = [rule for rule in canonical_order(policy.rules) if rule.matches(image, variables)]
    enforced = policy.mode is Mode.ENFORCE
    for action in (Action.DENY, Action.ALLOW):
        winners = [rule for rule in matching if rule.action is action]
        if winners:
            # min() keeps the first of equals: canonical order within an input.
            return Decision(action=action, rule=min(winners, key=_NEEDS), enforced=enforced)
    return Decision(action=Action.DENY, rule=None, enforced=enforced)
