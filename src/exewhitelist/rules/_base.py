"""What every rule kind shares: actions, kinds, the rule base type and text checks."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..blob._format import MAX_ID_BYTES
from ..errors import PolicyError

__all__ = [
    "MAX_ID_BYTES",
    "Action",
    "Image",
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

    def __str__(self) -> str:
        return self.value


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

    def match_key(self) -> tuple[RuleKind, str, Action]:
        """What the rule matches and what it does: two rules with equal keys are duplicates."""
        return self.kind, self.value, self.action

    def sort_key(self) -> tuple[int, int, str, str, str, str]:
        """Its place in canonical order (:func:`~exewhitelist.policy.canonical_order`)."""
        return (self.rank, 0, "", self.value, self.action.value, self.id)

    def matches(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        raise NotImplementedError

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
