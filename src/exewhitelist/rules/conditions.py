"""The conditions a rule's exceptions test: a path pattern, a digest, or a publisher.

An exception is written as a rule's condition would be (``{ path = "…" }``,
``{ authenticode_sha256 = "…" }``, ``{ publisher = { … } }``) and matches as
an allow rule of its kind would. :func:`make_condition` builds one from its
kind and policy-file value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ..blob._format import MAX_TEXT_UNITS
from ..errors import PolicyError
from ._base import Condition, Image, Need, RuleKind, text_problem
from .hashes import digest_problem
from .path import PathPattern
from .publisher import Publisher

__all__ = [
    "CONDITION_KINDS",
    "MAX_EXCEPTION_PATTERN_UNITS",
    "HashCondition",
    "PathCondition",
    "make_condition",
]

MAX_EXCEPTION_PATTERN_UNITS = MAX_TEXT_UNITS
"""An exception's pattern is stored as one of the blob's texts: at most this many units."""


@dataclass(frozen=True, slots=True)
class PathCondition(Condition):
    """The image's Windows path matches ``pattern`` (as written; compared folded)."""

    pattern: str
    parsed: PathPattern = field(init=False, compare=False, repr=False)

    kind: ClassVar[RuleKind] = RuleKind.PATH
    needs: ClassVar[Need] = Need.PATH

    def __post_init__(self) -> None:
        if (problem := text_problem("path", self.pattern)) is not None:
            raise PolicyError(problem)
        parsed = PathPattern.parse(self.pattern)
        if len(parsed.tokens) > MAX_EXCEPTION_PATTERN_UNITS:
            raise PolicyError(
                f"an exception's path pattern is at most {MAX_EXCEPTION_PATTERN_UNITS} UTF-16 "
                f"code units, not {len(parsed.tokens)}"
            )
        object.__setattr__(self, "parsed", parsed)

    @property
    def value(self) -> str:
        # Folded tokens: exceptions that differ only in case are the same exception.
        return self.parsed.tokens

    def matches(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        return image.folded_path is not None and self.parsed.matches(image.folded_path, variables)

    def to_data(self) -> str:
        return self.pattern


@dataclass(frozen=True, slots=True)
class HashCondition(Condition):
    """One of the image's digests is ``digest`` (lowercase hex)."""

    digest_kind: RuleKind
    digest: str

    needs: ClassVar[Need] = Need.HASH

    def __post_init__(self) -> None:
        if self.digest_kind not in (RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256):
            raise PolicyError(f"not a digest kind: {self.digest_kind!r}")
        if not isinstance(self.digest, str):
            raise PolicyError(f"{self.digest_kind.value} must be a string: {self.digest!r}")
        object.__setattr__(self, "digest", self.digest.lower())
        if (problem := digest_problem(self.digest_kind, self.digest)) is not None:
            raise PolicyError(problem)

    @property
    def kind(self) -> RuleKind:  # type: ignore[override]
        return self.digest_kind

    @property
    def value(self) -> str:
        return self.digest

    def matches(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        if self.digest_kind is RuleKind.AUTHENTICODE_SHA256:
            return image.authenticode_sha256 == self.digest
        return image.file_sha256 == self.digest

    def to_data(self) -> str:
        return self.digest


CONDITION_KINDS = (
    RuleKind.PATH,
    RuleKind.AUTHENTICODE_SHA256,
    RuleKind.FILE_SHA256,
    RuleKind.PUBLISHER,
)
"""The keys an exception's table may have (exactly one)."""


def make_condition(kind: RuleKind, value: object) -> Condition:
    """The condition a policy file writes as ``{ <kind> = <value> }``; :class:`PolicyError`."""
    if kind is RuleKind.PATH:
        if not isinstance(value, str):
            raise PolicyError(f"path must be a string: {value!r}")
        return PathCondition(value)
    if kind is RuleKind.PUBLISHER:
        return Publisher.from_data(value)
    if kind in (RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256):
        if not isinstance(value, str):
            raise PolicyError(f"{kind.value} must be a string: {value!r}")
        return HashCondition(kind, value)
    raise PolicyError(f"not a condition kind: {kind!r}")
