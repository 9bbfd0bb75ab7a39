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

from .policy import DEFAULT_VARIABLES, Decision, Mode, Policy, canonical_order
from .rules import Action, Image, Need, Rule, SignerFacts, fold

__all__ = [
    "REASON_TEXTS",
    "Depends",
    "Fact",
    "Facts",
    "Need",
    "Next",
    "Reason",
    "StageState",
    "Verdict",
    "decide_staged",
    "policy_uses",
    "rule_state",
    "stage",
]


class Fact(enum.IntEnum):
    """What the caller knows of one input (the path, the digests, the signers)."""

    UNKNOWN = 0
    """Not asked for yet."""
    KNOWN = 1
    MISSING = 2
    """Asked for, and it could not be had (no name, a failed read)."""


class Next(enum.IntEnum):
    """What the staged decision needs before it can decide (the values of :class:`Need`)."""

    NONE = 0
    """Nothing: it decided."""
    PATH = 1
    HASH = 2
    SIGNER = 3


class Reason(enum.IntEnum):
    """Why the staged decision decided as it did."""

    RULE = 0
    """A rule, or the default deny: the policy's own decision."""
    NO_PATH = 1
    """Without the path a rule could not be checked that might have changed the decision:
    denied."""
    NO_HASH = 2
    """The same for the digests."""
    NO_SIGNER = 3
    """The same for the signer facts."""


REASON_TEXTS: Mapping[Reason, str] = {
    Reason.NO_PATH: "(no path: needed to allow or to check deny path rules)",
    Reason.NO_HASH: "(no hash: needed to allow or to check deny hash rules)",
    Reason.NO_SIGNER: "(no signer facts: needed to allow or to check deny publisher rules)",
}
"""What reports print for a fail-closed deny in place of a rule id (the driver's events and
log lines too: ``ewl_format.h`` is generated from this)."""


class Depends(enum.IntFlag):
    """The inputs a decision used: a cached verdict holds while they do not change."""

    NOTHING = 0
    PATH = 1
    HASH = 2
    SIGNER = 4


_DEPENDS = {Need.PATH: Depends.PATH, Need.HASH: Depends.HASH, Need.SIGNER: Depends.SIGNER}


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
    signer_state: Fact = Fact.UNKNOWN
    signer_facts: SignerFacts | None = None
    """Its valid signers and version resource, exactly when ``signer_state`` is KNOWN."""

    def __post_init__(self) -> None:
        if (self.path_state is Fact.KNOWN) != (self.path is not None):
            raise ValueError("Facts: a path is given exactly when path_state is KNOWN")
        if self.hash_state is not Fact.KNOWN and (self.authenticode_sha256 or self.file_sha256):
            raise ValueError("Facts: digests are given only when hash_state is KNOWN")
        if (self.signer_state is Fact.KNOWN) != (self.signer_facts is not None):
            raise ValueError("Facts: signer facts are given exactly when signer_state is KNOWN")

    def state(self, need: Need) -> Fact:
        if need is Need.PATH:
            return self.path_state
        if need is Need.HASH:
            return self.hash_state
        return self.signer_state

    def image(self) -> Image:
        """The known inputs as an :class:`~exewhitelist.rules.Image` (digests lowercased)."""
        return Image(
            folded_path=fold(self.path) if self.path is not None else None,
            authenticode_sha256=(
                self.authenticode_sha256.lower() if self.authenticode_sha256 else None
            ),
            file_sha256=self.file_sha256.lower() if self.file_sha256 else None,
            signer_facts=self.signer_facts,
        )


class _Decided(Protocol):
    @property
    def action(self) -> Action: ...


_D = TypeVar("_D", bound=_Decided)
_R = TypeVar("_R")


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
class StageState(Generic[_R]):
    """The rules of one action whose own condition tests one input, on the facts known."""

    first: _R | None = None
    """The first of them (canonical order) that matches."""
    undecided: frozenset[Need] = frozenset()
    """What the undecided ones need: an input a rule's own condition tests and that is not
    known (then nothing else), or those of its exceptions that are not known."""


@dataclass(frozen=True, slots=True)
class _Settled(Generic[_R]):
    rule: _R | None
    missing: frozenset[Need]
    """Inputs that could not be had, needed by undecided rules before ``rule``."""
    wanted: Need | None
    """An input not asked for yet that undecided rules need: ask it first."""


def _settle(
    action: Action, facts: Facts, table: Callable[[Action, Need], StageState[_R]]
) -> _Settled[_R]:
    """The first matching rule of ``action`` in priority order, if the facts settle it."""
    missing: frozenset[Need] = _NOTHING
    for need in _NEEDS:
        state = table(action, need)
        if state.undecided:
            unknown = [n for n in state.undecided if facts.state(n) is Fact.UNKNOWN]
            if unknown:
                return _Settled(None, missing, min(unknown))
            missing = missing | state.undecided
        if state.first is not None:
            return _Settled(state.first, missing, None)
    return _Settled(None, missing, None)


_NOTHING: frozenset[Need] = frozenset()
_NEEDS = tuple(Need)


def stage(
    facts: Facts,
    uses: frozenset[Need],
    table: Callable[[Action, Need], StageState[_R]],
    decide: Callable[[Action, _R | None], _D],
) -> Verdict[_D]:
    """The staged decision over any rule store.

    ``uses`` is the inputs the policy tests at all (rules and exceptions);
    ``table(action, need)`` the :class:`StageState` of the rules of that
    action whose own condition tests ``need``; ``decide(action, rule)`` the
    decision (``rule`` None: the default deny). ``docs/policy.md`` ("The
    staged decision") is the specification:

    - a deny rule decides when it is the first that matches (by input, then
      canonical order) and no deny rule with the same or an earlier input is
      undecided; an allow rule likewise when, in addition, no deny rule is
      undecided for lack of an input not asked for yet;
    - an undecided rule needs inputs: the earliest not asked for is asked,
      and the policy's inputs are asked in order (path, digests, signers);
    - an input that could not be had leaves its rules undecided for good:
      a deny still decides, an allow does not when such a deny rule is
      left, and the default deny names the earliest such input (``NO_…``)
      when it could have been allowed.
    """
    depends = Depends.NOTHING
    for need in uses:
        if facts.state(need) is not Fact.UNKNOWN:
            depends |= _DEPENDS[need]

    def ask(wanted: Need) -> Verdict[_D]:
        earliest = min(n for n in uses | {wanted} if facts.state(n) is Fact.UNKNOWN)
        return Verdict(Next(earliest), None, Depends.NOTHING, Reason.RULE)

    deny = _settle(Action.DENY, facts, table)
    if deny.wanted is not None:
        return ask(deny.wanted)
    if deny.rule is not None:
        return Verdict(Next.NONE, decide(Action.DENY, deny.rule), depends, Reason.RULE)
    allow = _settle(Action.ALLOW, facts, table)
    if allow.wanted is not None:
        return ask(allow.wanted)
    if allow.rule is not None:
        if deny.missing:
            return _fail_closed(decide, depends, deny.missing)
        return Verdict(Next.NONE, decide(Action.ALLOW, allow.rule), depends, Reason.RULE)
    if allow.missing:
        return _fail_closed(decide, depends, allow.missing)
    return Verdict(Next.NONE, decide(Action.DENY, None), depends, Reason.RULE)


def _fail_closed(
    decide: Callable[[Action, _R | None], _D], depends: Depends, missing: frozenset[Need]
) -> Verdict[_D]:
    return Verdict(Next.NONE, decide(Action.DENY, None), depends, Reason(min(missing)))


def rule_state(
    rule: Rule, facts: Facts, image: Image, variables: Mapping[str, Sequence[str]]
) -> tuple[bool, frozenset[Need]]:
    """(matches, undecided needs) of one rule on the facts known: undecided when the needs are
    not empty. A rule whose own condition's input is not known is undecided whatever its
    exceptions say."""
    own = rule.needs()
    if facts.state(own) is not Fact.KNOWN:
        return False, frozenset({own})
    if not rule.matches_condition(image, variables):
        return False, frozenset()
    undecided: set[Need] = set()
    for exception in rule.exceptions:
        if facts.state(exception.needs) is not Fact.KNOWN:
            undecided.add(exception.needs)
        elif exception.matches(image, variables):
            return False, frozenset()
    return not undecided, frozenset(undecided)


def policy_uses(rules: Sequence[Rule]) -> frozenset[Need]:
    """The inputs a rule set tests: its rules' own conditions and their exceptions."""
    uses = {rule.needs() for rule in rules}
    uses.update(e.needs for rule in rules for e in rule.exceptions)
    return frozenset(uses)


def decide_staged(
    policy: Policy,
    facts: Facts,
    variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES,
) -> Verdict[Decision]:
    """The staged decision on the policy model (what a compiled blob must answer)."""
    image = facts.image()
    states: dict[tuple[Action, Need], tuple[Rule | None, set[Need]]] = {}
    for rule in canonical_order(policy.rules):
        matched, undecided = rule_state(rule, facts, image, variables)
        first, needs = states.setdefault((rule.action, rule.needs()), (None, set()))
        needs.update(undecided)
        if matched and first is None:
            states[rule.action, rule.needs()] = (rule, needs)
    table = {key: StageState(first, frozenset(needs)) for key, (first, needs) in states.items()}
    empty: StageState[Rule] = StageState()
    enforced = policy.mode is Mode.ENFORCE

    def decide(action: Action, rule: Rule | None) -> Decision:
        return Decision(action=action, rule=rule, enforced=enforced)

    return stage(facts, policy_uses(policy.rules), lambda a, n: table.get((a, n), empty), decide)
