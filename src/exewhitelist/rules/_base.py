"""What every rule kind shares: actions, kinds, the rule base type and text checks."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..blob._format import MAX_ID_BYTES, MAX_RULE_EXCEPTIONS, ExceptionKind
from ..errors import PolicyError

if TYPE_CHECKING:
    from .publisher import SignerFacts

__all__ = [
    "EXCEPTION_KIND_CODES",
    "MAX_EXCEPTIONS",
    "MAX_ID_BYTES",
    "Action",
    "Condition",
    "Image",
    "MatchKey",
    "Need",
    "Rule",
    "RuleKind",
    "id_problem",
    "text_problem",
    "valid_rule_id_text",
]


class Action(str, enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

    def __str__(self) -> str:
        return self.value


class RuleKind(str, enum.Enum):
    """What a rule matches; the value is the key used in policy files."""

    AUTHENTICODE_SHA256 = "authenticode_sha256"
    FILE_SHA256 = "file_sha256"
    PATH = "path"
    PUBLISHER = "publisher"

    def __str__(self) -> str:
        return self.value


class Need(enum.IntEnum):
    """The input a condition tests, in the order the driver gets them (cheapest first)."""

    PATH = 1
    """The image's Windows path."""
    HASH = 2
    """Its digests (a read of the whole file)."""
    SIGNER = 3
    """Its verified signers and version resource (:class:`~.publisher.SignerFacts`)."""


EXCEPTION_KIND_CODES: Mapping[RuleKind, int] = {
    RuleKind.PATH: ExceptionKind.PATH,
    RuleKind.AUTHENTICODE_SHA256: ExceptionKind.AUTHENTICODE,
    RuleKind.FILE_SHA256: ExceptionKind.FILE,
    RuleKind.PUBLISHER: ExceptionKind.PUBLISHER,
}
"""Each exception kind's number in the blob, which orders a rule's exceptions."""

MatchKey = tuple["RuleKind", str, "Action", tuple[tuple[int, Any], ...]]
"""What a rule matches and does (:meth:`Rule.match_key`): kind, value, action, exceptions."""

MAX_EXCEPTIONS = MAX_RULE_EXCEPTIONS
"""The most exceptions one rule may have (what the blob holds)."""


class Condition:
    """What a rule's exception tests: a path pattern, a digest or a publisher condition.

    Exceptions match as an allow rule of their kind would (for a publisher
    condition's lone version bound, that is the difference).
    """

    __slots__ = ()

    kind: ClassVar[RuleKind]
    needs: ClassVar[Need]

    @property
    def value(self) -> str:
        """The condition as one canonical line (what a policy file holds, for a publisher: its
        :meth:`~.publisher.Publisher.text`)."""
        raise NotImplementedError

    def matches(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        raise NotImplementedError

    def to_data(self) -> Any:
        """The value under the kind's key in a policy file."""
        raise NotImplementedError

    def order_key(self) -> Any:
        """Its place among conditions of its kind (the blob's order)."""
        return self.value

    def exception_key(self) -> tuple[int, Any]:
        """An exception's place among its rule's exceptions (canonical order: by kind as
        :data:`EXCEPTION_KIND_CODES` numbers them, then :meth:`order_key`)."""
        return (EXCEPTION_KIND_CODES[self.kind], self.order_key())


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def valid_rule_id_text(text: str) -> bool:
    """No control characters (U+0000-U+001F, U+007F-U+009F): what the blob allows too.

    Ids are printed in reports and event logs; the blob reader and the C core
    check the same characters, so every id a valid blob carries loads here.
    """
    return _CONTROL.search(text) is None


def text_problem(label: str, value: object) -> str | None:
    """Why ``value`` is not text a policy file can hold (a string without unpaired
    surrogates, which JSON can smuggle in), or None."""
    if not isinstance(value, str):
        return f"{label} must be a string: {value!r}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{label} is not valid Unicode (it has an unpaired surrogate): {value!r}"
    return None


def id_problem(rule_id: object) -> str | None:
    """Why ``rule_id`` cannot be a rule id, or None."""
    if (
        text_problem("id", rule_id) is not None
        or not isinstance(rule_id, str)
        or not rule_id
        or not valid_rule_id_text(rule_id)
        or len(rule_id.encode()) > MAX_ID_BYTES
    ):
        return (
            f"id must be 1 to {MAX_ID_BYTES} bytes of text without control characters: {rule_id!r}"
        )
    return None


@dataclass(frozen=True, slots=True)
class Image:
    """What is known about an image when it is decided: its folded path and its digests."""

    folded_path: str | None = None
    """Its Windows path, :func:`~exewhitelist.rules.path.fold`-ed."""
    authenticode_sha256: str | None = None
    """Lowercase hex."""
    file_sha256: str | None = None
    """Lowercase hex."""
    signer_facts: SignerFacts | None = None
    """Its verified signers and version resource (None: not known)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule, immutable: the base of every rule kind (one subclass per :class:`RuleKind`).

    ``value`` is what the policy file holds under the kind's key, normalized
    (a lowercase hex digest, a path pattern as written). ``explicit_id`` is
    None when the rule has its kind's default id (only hash rules have one).
    Build a rule with its kind's class, or with
    :func:`~exewhitelist.rules.make_rule` when the kind is data.
    """

    action: Action
    value: str
    explicit_id: str | None = None
    name: str = ""
    comment: str = ""
    exceptions: tuple[Condition, ...] = ()
    """Conditions under which the rule does not match, in canonical order (path and
    publisher rules only, as AppLocker has them)."""

    kind: ClassVar[RuleKind]
    rank: ClassVar[int]
    """Where the kind's rules come in canonical order (the blob's order)."""

    @property
    def id(self) -> str:
        if self.explicit_id is not None:
            return self.explicit_id
        return self.default_id()

    def default_id(self) -> str:
        """The id a rule of this kind gets when the file gives none."""
        raise PolicyError(f"a {self.kind.value} rule needs an id (only hash rules have a default)")

    def match_key(self) -> MatchKey:
        """What the rule matches and what it does: two rules with equal keys are duplicates."""
        return self.kind, self.value, self.action, self.exception_keys()

    def exception_keys(self) -> tuple[tuple[int, Any], ...]:
        return tuple(e.exception_key() for e in self.exceptions)

    def sort_key(self) -> tuple[Any, ...]:
        """Its place in canonical order (:func:`~exewhitelist.policy.canonical_order`)."""
        return (self.rank, 0, "", self.value, self.action.value, self.id)

    def needs(self) -> Need:
        """The input the rule's own condition tests (its exceptions may test others)."""
        raise NotImplementedError

    def matches_condition(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        """Whether the rule's own condition holds, exceptions aside."""
        raise NotImplementedError

    def matches(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        """The condition holds and no exception does."""
        return self.matches_condition(image, variables) and not any(
            e.matches(image, variables) for e in self.exceptions
        )

    def _check_common(self) -> None:
        """The checks every kind makes: id, action, name and comment."""
        if self.explicit_id is not None:
            problem = id_problem(self.explicit_id)
            if problem is not None:
                raise PolicyError(f"rule id {self.explicit_id!r}: {problem}")
        if not isinstance(self.action, Action):
            raise PolicyError(f"rule {self.explicit_id}: unknown action {self.action!r}")
        for label, text in (("name", self.name), ("comment", self.comment)):
            problem = text_problem(label, text)
            if problem is not None:
                raise PolicyError(f"rule {self.explicit_id}: {problem}")
        exceptions = tuple(self.exceptions)
        if any(not isinstance(e, Condition) for e in exceptions):
            raise PolicyError(f"rule {self.explicit_id}: an exception must be a Condition")
        if len(exceptions) > MAX_EXCEPTIONS:
            raise PolicyError(f"rule {self.explicit_id}: more than {MAX_EXCEPTIONS} exceptions")
        ordered = tuple(sorted(exceptions, key=Condition.exception_key))
        if len({e.exception_key() for e in ordered}) != len(ordered):
            raise PolicyError(f"rule {self.explicit_id}: the same exception twice")
        object.__setattr__(self, "exceptions", ordered)
