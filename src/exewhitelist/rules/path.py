"""Path rules: AppLocker's path conditions, matched on the image's Windows path.

Patterns are case-insensitive (folded per UTF-16 code unit, as Windows
compares paths), ``*`` matches any run of characters including ``\\``, ``?``
exactly one code unit, and a leading ``%VARIABLE%`` any of its values. The
variable is kept symbolic (a private-use code unit) in the blob and resolved
where the rule is enforced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ..blob._format import MAX_PATTERN_UNITS, VARIABLES
from ..blob._format import VARIABLE_TOKEN_BASE as TOKEN_BASE
from ..errors import PolicyError
from ._base import Image, MatchKey, Need, Rule, RuleKind, text_problem
from ._upcase import UPCASE

__all__ = [
    "DEFAULT_VARIABLES",
    "DRIVE_ROOT",
    "MAX_PATTERN_UNITS",
    "TOKEN_BASE",
    "UNC_ROOT",
    "VARIABLES",
    "PathPattern",
    "PathRule",
    "code_units",
    "concrete_windows_path",
    "covers",
    "fold",
    "glob_match",
    "path_index_key",
    "pattern_problem",
    "pattern_text",
    "searched_wildcard_segment",
    "variable_token",
]

DEFAULT_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "WINDIR": ("C:\\Windows",),
    "SYSTEM32": ("C:\\Windows\\System32",),
    "PROGRAMFILES": ("C:\\Program Files", "C:\\Program Files (x86)"),
    "OSDRIVE": ("C:",),
}
"""The values on a default Windows installation on drive C (``check`` uses them)."""


def variable_token(name: str) -> str:
    """The code unit that stands for variable ``name`` in a pattern (its id is 1-based)."""
    return chr(TOKEN_BASE + VARIABLES.index(name) + 1)


def pattern_text(tokens: str) -> str:
    """Back from code units to text: a variable token becomes ``%NAME%`` again."""
    text = tokens
    if text and TOKEN_BASE < ord(text[0]) <= TOKEN_BASE + len(VARIABLES):
        text = f"%{VARIABLES[ord(text[0]) - TOKEN_BASE - 1]}%" + text[1:]
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


DRIVE_ROOT = re.compile(r"^[A-Za-z]:\\")
"""A drive's root (``C:\\``): ``C:`` alone is that drive's current folder, not a full path."""
UNC_ROOT = re.compile(r"^\\\\[^\\]+\\[^\\]+")
"""A share (``\\\\server\\share``)."""
_VARIABLE_RE = re.compile(r"^%([A-Za-z0-9_]+)%")
_FORBIDDEN = set('"<>|') | {chr(c) for c in range(0x20)}


def code_units(text: str) -> str:
    """``text`` with one character per UTF-16 code unit (surrogate pairs split).

    Windows, the blob and the C core work on UTF-16 code units: ``?`` matches
    one of them, and comparisons order by them.  Matching on these strings
    makes Python agree with that.
    """
    if text.isascii():
        return text
    data = text.encode("utf-16-le", "surrogatepass")
    return "".join(chr(int.from_bytes(data[i : i + 2], "little")) for i in range(0, len(data), 2))


def fold(text: str) -> str:
    """Case-fold as Windows compares paths, to UTF-16 code units (see :func:`code_units`).

    Each code unit becomes its uppercase by Windows' casing table
    (``RtlUpcaseUnicodeChar``, one unit to one: :data:`._upcase.UPCASE`,
    checked against Wine's ``l_intl.nls`` by the tests); surrogates, and so
    every character outside the BMP, stay as they are. This is not Python's
    ``str.upper``: U+0131 (dotless i), U+017F (long s), U+00B5, U+03C2 (final
    sigma) and others stay, U+1F80 becomes U+1F88, U+00DF stays.
    """
    return code_units(text).translate(UPCASE)


def _segment_at(segment: str, text: str, at: int, covering: bool) -> bool:
    """Whether ``segment`` (no ``*``) matches ``text`` at ``at``, ``?`` any unit.

    Covering, ``?`` does not match the other pattern's ``*``; a literal unit
    does not either (a segment holds no ``*``), so the window must hold none.
    """
    end = at + len(segment)
    if end > len(text) or (covering and "*" in text[at:end]):
        return False
    if "?" not in segment:
        return text.startswith(segment, at)
    offset = 0
    for piece in segment.split("?"):
        if piece and not text.startswith(piece, at + offset):
            return False
        offset += len(piece) + 1
    return True


def _find_segment(segment: str, text: str, start: int, end: int, covering: bool) -> int:
    """The leftmost ``i >= start`` where ``segment`` matches inside ``text[:end]``, or -1.

    Without ``?``: ``str.find``, linear in ``end - start`` (the C core: a
    plain search, then the two-way algorithm). With ``?``: the shift-and algorithm on an integer of
    ``len(segment)`` bits (bit k: the segment's first k + 1 units match the
    text ending here), O((end - start) * len(segment) / 30) at worst, one
    Python step per unit of the text.
    """
    if "?" not in segment:
        return text.find(segment, start, end)
    wild = 0
    for k, unit in enumerate(segment):
        if unit == "?":
            wild |= 1 << k
    masks: dict[str, int] = {}
    for k, unit in enumerate(segment):
        if unit != "?":
            masks[unit] = masks.get(unit, wild) | 1 << k
    if covering:
        masks["*"] = 0
    full = 1 << (len(segment) - 1)
    state = 0
    for i in range(start, end):
        state = (state << 1 | 1) & masks.get(text[i], wild)
        if state & full:
            return i + 1 - len(segment)
    return -1


def _wildcard_match(pattern: str, text: str, covering: bool) -> bool:
    """The one wildcard matcher (the C core's ``ewl_glob_match`` too).

    The pattern is cut at each ``*`` into segments (``?`` and literals, each
    of a fixed length). The first must match at the start of the text, the
    last at its end, and each one between at its leftmost place after the one
    before and before the last: taking the leftmost place never loses a match,
    as a later segment can only find more room after it. A ``*`` of the
    pattern is always a wildcard. Linear in the text for segments without
    ``?`` (``str.find``); a segment with ``?`` costs one Python step per unit
    of the text (shift-and; the C core: O(len(text) * len(segment)) at worst,
    docs/policy.md, "Matching cost"). Covering another pattern (``covering``),
    ``?`` does not match the other's ``*``.
    """
    segments = pattern.split("*")
    if len(segments) == 1:
        return len(text) == len(pattern) and _segment_at(pattern, text, 0, covering)
    head, tail = segments[0], segments[-1]
    end = len(text) - len(tail)
    if end < len(head) or not (
        _segment_at(head, text, 0, covering) and _segment_at(tail, text, end, covering)
    ):
        return False
    at = len(head)
    for segment in segments[1:-1]:
        if segment:
            found = _find_segment(segment, text, at, end, covering)
            if found < 0:
                return False
            at = found + len(segment)
    return True


def searched_wildcard_segment(tokens: str) -> int:
    """The length of the longest segment with ``?`` between two ``*`` of a pattern, or 0.

    Such a segment is searched by trying each place in the path (the C core),
    so it bounds the unit comparisons per path unit (docs/policy.md).
    """
    return max((len(s) for s in tokens.split("*")[1:-1] if "?" in s), default=0)


def glob_match(pattern: str, text: str) -> bool:
    """AppLocker wildcards: ``*`` any run (including ``\\``), ``?`` one code unit."""
    return _wildcard_match(pattern, text, covering=False)


def covers(outer: str, inner: str) -> bool:
    """Whether pattern tokens ``outer`` match every path that ``inner`` matches.

    ``outer``'s ``*`` matches any run of ``inner``'s units, wildcards
    included; its ``?`` matches one unit that is a literal or ``?``; a
    literal (a variable token too) matches only itself.  This is sound (True
    means covered) but not complete: ``*?`` and ``?*`` match the same paths
    and neither is found to cover the other.
    """
    return _wildcard_match(outer, inner, covering=True)


def pattern_problem(text: str) -> str | None:
    """Why ``text`` is not a path pattern, or None."""
    if not text:
        return "empty path pattern"
    rest = text
    m = _VARIABLE_RE.match(text)
    if m:
        if m.group(1).upper() not in VARIABLES:
            return (
                f"unknown variable %{m.group(1)}% (known: "
                + ", ".join(f"%{v}%" for v in VARIABLES)
                + ")"
            )
        rest = text[m.end() :]
    if "%" in rest:
        return "'%' is only allowed around a variable at the start of the pattern"
    bad = sorted({c for c in rest if c in _FORBIDDEN or 0xF000 <= ord(c) <= 0xF0FF})
    if bad:
        return f"character(s) not allowed in a Windows path: {bad!r}"
    if "/" in rest:
        return "use '\\' as the path separator, not '/'"
    if m is None and not (rest[:1] in ("*", "?") or DRIVE_ROOT.match(rest) or UNC_ROOT.match(rest)):
        return (
            "not a full path: start with a drive (C:\\), a variable (%WINDIR%), "
            "\\\\server\\share or a wildcard (*\\tool.exe)"
        )
    if len(code_units(text)) > MAX_PATTERN_UNITS:
        return f"path pattern longer than {MAX_PATTERN_UNITS} UTF-16 code units"
    return None


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A parsed path rule: an optional leading variable and the folded rest."""

    variable: str | None
    body: str
    """The folded pattern after the variable (``*`` and ``?`` are wildcards)."""

    @classmethod
    def parse(cls, text: str) -> PathPattern:
        """Parse and fold a pattern; raises :class:`PolicyError` with the reason."""
        problem = pattern_problem(text)
        if problem is not None:
            raise PolicyError(problem)
        m = _VARIABLE_RE.match(text)
        if m is None:
            return cls(variable=None, body=fold(text))
        return cls(variable=m.group(1).upper(), body=fold(text[m.end() :]))

    @property
    def tokens(self) -> str:
        """The pattern as stored in the blob: variable token + folded body."""
        if self.variable is None:
            return self.body
        return variable_token(self.variable) + self.body

    @property
    def has_wildcards(self) -> bool:
        return "*" in self.body or "?" in self.body

    def matches(self, folded_path: str, variables: Mapping[str, Sequence[str]]) -> bool:
        """Whether a Windows path, already :func:`fold`-ed, matches.

        Variables take their values from ``variables`` (as written: folded here).
        """
        if self.variable is None:
            return glob_match(self.body, folded_path)
        for value in variables.get(self.variable, ()):
            prefix = fold(value)
            if folded_path.startswith(prefix) and glob_match(self.body, folded_path[len(prefix) :]):
                return True
        return False


def concrete_windows_path(text: str) -> str:
    """``text`` without trailing ``\\`` if it is a full Windows path with no variable or wildcard.

    Raises :class:`PolicyError` saying why not (``C:\\`` gives ``C:``).
    """
    pattern = PathPattern.parse(text)
    if pattern.variable is not None or pattern.has_wildcards:
        raise PolicyError("a concrete Windows path is needed: no variable, no '*' or '?'")
    return text.rstrip("\\")


def path_index_key(tokens: str) -> tuple[int, str]:
    """Where a path pattern (:attr:`PathPattern.tokens`) sits in the blob's index: (group, key).

    Group 1 is indexed by its literal prefix (everything before the first
    wildcard, with the variable token), group 2 (patterns that start with a
    wildcard) by its reversed literal suffix, group 3 (neither) is scanned.
    """
    cut = min((i for i, c in enumerate(tokens) if c in "*?"), default=len(tokens))
    if cut > 0:
        return 1, tokens[:cut]
    last = max(i for i, c in enumerate(tokens) if c in "*?")
    if last + 1 < len(tokens):
        return 2, tokens[last + 1 :][::-1]
    return 3, ""


@dataclass(frozen=True, slots=True)
class PathRule(Rule):
    """Matches the image's Windows path against a pattern; ``value`` is the pattern as written."""

    kind: ClassVar[RuleKind] = RuleKind.PATH
    rank: ClassVar[int] = 2
    pattern: PathPattern = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._check_common()
        if self.explicit_id is None:
            raise PolicyError("a path rule needs an id (only hash rules have a default)")
        if text_problem("path", self.value) is not None:
            raise PolicyError(f"rule {self.explicit_id}: path pattern must be valid Unicode text")
        try:
            pattern = PathPattern.parse(self.value)
        except PolicyError as e:
            raise PolicyError(f"rule {self.explicit_id}: {e.message}") from None
        object.__setattr__(self, "pattern", pattern)

    def match_key(self) -> MatchKey:
        # Folded: patterns that differ only in case are the same rule.
        return self.kind, self.pattern.tokens, self.action, self.exception_keys()

    def sort_key(self) -> tuple[int, int, str, str, str, str]:
        tokens = self.pattern.tokens
        group, index_key = path_index_key(tokens)
        return (self.rank, group, index_key, tokens, self.action.value, self.id)

    def needs(self) -> Need:
        return Need.PATH

    def matches_condition(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        return image.folded_path is not None and self.pattern.matches(image.folded_path, variables)
