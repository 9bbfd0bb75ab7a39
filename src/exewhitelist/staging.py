"""The staged decision: the driver's decision, one input at a time.

The driver knows nothing about an image when its process starts; each input
costs something to get (the path a Filter Manager query, the digests a read
of the whole file) and may fail. The staged decision takes what is known so
far and answers either a decision, with the inputs it depended on, or the
input it needs next. ``docs/policy.md`` ("The staged decision") is the
specification. :func:`stage` is its one Python statement, applied to the
policy model by :func:`decide_staged` (the oracle of the shared vectors) and
to a compiled blob by :meth:`exewhitelist.blob.Blob.decide_staged`;
``ewl_decide_staged`` in ``driver/core/ewl_lookup.c`` is the C twin.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .policy import DEFAULT_VARIABLES, Decision, Policy, Query, decide
from .rules import Action, PathRule

__all__ = [
    "Depends",
    "Fact",
    "Facts",
    "Next",
    "Reason",
    "Shape",
    "Verdict",
    "decide_staged",
    "stage",
]


class Fact(enum.IntEnum):
    """What the caller knows of one input (the path, the digests)."""

    UNKNOWN = 0
    """Not asked for yet."""
    KNOWN = 1
    MISSING = 2
    """Asked for, and it could not be had (no name, a failed read)."""


class Next(enum.IntEnum):
    """What the staged decision needs before it can decide."""

    NONE = 0
    """Nothing: it decided."""
    PATH = 1
    HASH = 2


class Reason(enum.IntEnum):
    """Why the staged decision decided as it did."""

    RULE = 0
    """A rule, or the default deny: the policy's own decision."""
    NO_PATH = 1
    """Allowed, but without a path the deny path rules could not be checked: denied."""
    NO_HASH = 2
    """A digest was needed (to allow, or to check deny hash rules) and could not be had: denied."""


class Depends(enum.IntFlag):
    """The inputs a decision used: a cached verdict holds while they do not change."""

    NOTHING = 0
    PATH = 1
    HASH = 2


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about an image so far.

    With ``hash_state`` KNOWN either digest may be None (a file that is not a
    PE image has no Authenticode digest).
    """

    path_state: Fact = Fact.UNKNOWN
    path: str | None = None
    """The image's Windows path (any case), exactly when ``path_state`` is KNOWN."""
    hash_state: Fact = Fact.UNKNOWN
    authenticode_sha256: str | None = None
    file_sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.path_state is Fact.KNOWN) != (self.path is not None):
            raise ValueError("Facts: a path is given exactly when path_state is KNOWN")
        if self.hash_state is not Fact.KNOWN and (self.authenticode_sha256 or self.file_sha256):
            raise ValueError("Facts: digests are given only when hash_state is KNOWN")


class _Decided(Protocol):
    @property
    def action(self) -> Action: ...


_D = TypeVar("_D", bound=_Decided)


@dataclass(frozen=True, slots=True)
class Verdict(Generic[_D]):
    """The staged decision's answer."""

    next: Next
    """NONE when decided; else the input to get before asking again."""
    decision: _D | None
    """The decision, None while ``next`` is not NONE. A fail-closed deny is the default deny."""
    depends: Depends
    reason: Reason


@dataclass(frozen=True, slots=True)
class Shape:
    """What kinds of rule a policy has: all the staging needs to know of it."""

    paths: bool
    deny_paths: bool
    hashes: bool
    deny_hashes: bool


def stage(
    facts: Facts,
    shape: Shape,
    decide_on: Callable[[str | None, str | None, str | None], _D],
    *,
    by_path: Callable[[_D], bool],
    by_rule: Callable[[_D], bool],
) -> Verdict[_D]:
    """The staged decision over any decider.

    ``decide_on(path, authenticode_sha256, file_sha256)`` is the decision on
    those inputs (None: not used); ``decide_on(None, None, None)`` must be the
    default deny. ``by_path`` says whether a path rule decided, ``by_rule``
    whether any rule did (not the default deny).

    The path rules are matched once: when the digests are needed no deny
    path rule matched, so any hash rule decides before an allow path rule
    (the blob's order) and the digests are decided alone.
    """
    if shape.paths and facts.path_state is Fact.UNKNOWN:
        return Verdict(Next.PATH, None, Depends.NOTHING, Reason.RULE)
    depends = Depends.NOTHING
    path = None
    if shape.paths and facts.path_state is Fact.KNOWN:
        path = facts.path
        depends |= Depends.PATH
    decision = decide_on(path, None, None)
    # Nothing a digest can say overrides a matching deny path rule, nor a
    # matching allow path rule when no hash rule denies.
    decided_by_path = by_path(decision) and (
        decision.action is Action.DENY or not shape.deny_hashes
    )
    if shape.hashes and not decided_by_path:
        if facts.hash_state is Fact.UNKNOWN:
            return Verdict(Next.HASH, None, Depends.NOTHING, Reason.RULE)
        depends |= Depends.HASH
        if facts.hash_state is not Fact.KNOWN:
            # The digest could allow it or name a deny rule: without it, deny.
            return Verdict(Next.NONE, decide_on(None, None, None), depends, Reason.NO_HASH)
        hashed = decide_on(None, facts.authenticode_sha256, facts.file_sha256)
        if by_rule(hashed):
            decision = hashed
    if decision.action is Action.ALLOW and facts.path_state is Fact.MISSING and shape.deny_paths:
        return Verdict(Next.NONE, decide_on(None, None, None), depends, Reason.NO_PATH)
    return Verdict(Next.NONE, decision, depends, Reason.RULE)


def decide_staged(
    policy: Policy,
    facts: Facts,
    variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES,
) -> Verdict[Decision]:
    """The staged decision on the policy model (what a compiled blob must answer)."""
    kinds = {(isinstance(r, PathRule), r.action) for r in policy.rules}
    shape = Shape(
        paths=(True, Action.ALLOW) in kinds or (True, Action.DENY) in kinds,
        deny_paths=(True, Action.DENY) in kinds,
        hashes=(False, Action.ALLOW) in kinds or (False, Action.DENY) in kinds,
        deny_hashes=(False, Action.DENY) in kinds,
    )

    def decide_on(path: str | None, auth: str | None, flat: str | None) -> Decision:
        return decide(policy, Query(path, auth, flat), variables)

    def by_path(d: Decision) -> bool:
        return isinstance(d.rule, PathRule)

    return stage(facts, shape, decide_on, by_path=by_path, by_rule=lambda d: d.rule is not None)
