"""Hash rules: an image's Authenticode SHA-256, or its flat file SHA-256."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..errors import PolicyError
from ._base import Action, Image, Need, Rule, RuleKind

__all__ = ["AuthenticodeRule", "FileHashRule", "HashRule", "default_id", "digest_problem"]

_HEX = re.compile(r"[0-9a-f]*")


def default_id(kind: RuleKind, digest: str) -> str:
    """The id a hash rule gets when none is given: ``authenticode_sha256:<hex>``."""
    return f"{kind.value}:{digest}"


def digest_problem(kind: RuleKind, value: str) -> str | None:
    """Why ``value`` (lowercased already) is not a SHA-256 digest, or None."""
    if not _HEX.fullmatch(value):
        return f"{kind.value} is not hexadecimal: {value!r}"
    if len(value) != 64:
        return f"{kind.value} must be 64 hex digits, not {len(value)}"
    return None


@dataclass(frozen=True, slots=True)
class HashRule(Rule):
    """A rule on one digest of the image (lowercase hex). Its id defaults to ``kind:digest``,
    which the blob stores for free and which is not stored here either."""

    def __post_init__(self) -> None:
        self._check_common()
        if self.exceptions:
            raise PolicyError(
                f"rule {self.explicit_id or default_id(self.kind, str(self.value))}: "
                "a hash rule has no exceptions (it matches one file)"
            )
        if not isinstance(self.value, str) or digest_problem(self.kind, self.value) is not None:
            what = (
                "wrong length"
                if isinstance(self.value, str) and _HEX.fullmatch(self.value)
                else "not hexadecimal"
            )
            rule_id = self.explicit_id or default_id(self.kind, str(self.value))
            raise PolicyError(
                f"rule {rule_id}: {self.kind.value} must be 64 lowercase hex digits "
                f"({what}: {self.value!r})"
            )
        if self.explicit_id == self.default_id():
            object.__setattr__(self, "explicit_id", None)

    @classmethod
    def trusted(
        cls, explicit_id: str | None, action: Action, value: str, name: str = "", comment: str = ""
    ) -> HashRule:
        """A rule from values already validated exactly as the constructor does (and the
        default id already dropped): the policy file loader's fast path for large policies."""
        rule = object.__new__(cls)
        for field, item in (
            ("action", action),
            ("value", value),
            ("explicit_id", explicit_id),
            ("name", name),
            ("comment", comment),
            ("exceptions", ()),
        ):
            object.__setattr__(rule, field, item)
        return rule

    def default_id(self) -> str:
        return default_id(self.kind, self.value)

    def digest_of(self, image: Image) -> str | None:
        raise NotImplementedError

    def needs(self) -> Need:
        return Need.HASH

    def matches_condition(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        return self.digest_of(image) == self.value

    def matches(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        return self.digest_of(image) == self.value


@dataclass(frozen=True, slots=True)
class AuthenticodeRule(HashRule):
    """Matches the image's Authenticode SHA-256 (the digest WDAC and AppLocker use)."""

    kind: ClassVar[RuleKind] = RuleKind.AUTHENTICODE_SHA256
    rank: ClassVar[int] = 0

    def digest_of(self, image: Image) -> str | None:
        return image.authenticode_sha256


@dataclass(frozen=True, slots=True)
class FileHashRule(HashRule):
    """Matches the SHA-256 of the whole file (what a file that is not a PE image has)."""

    kind: ClassVar[RuleKind] = RuleKind.FILE_SHA256
    rank: ClassVar[int] = 1

    def digest_of(self, image: Image) -> str | None:
        return image.file_sha256
