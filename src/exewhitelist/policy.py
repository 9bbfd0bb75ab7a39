"""The policy model: rules, policies and the one decision function.

Semantics (``docs/policy.md`` is the prose version, and the blob reader and
the driver's C core implement exactly this):

1. Every rule that matches the image is found: an Authenticode SHA-256 rule
   matches the image's Authenticode SHA-256, a file SHA-256 rule its flat
   SHA-256, a path rule its Windows path (case-insensitively, ``*`` any run of
   characters including ``\\``, ``?`` exactly one, a leading variable one of
   its values).
2. If any matching rule denies, the image is denied; else if any allows, it is
   allowed; else it is denied by default (``rule`` is None).
3. The deciding rule is the first matching rule of the winning action in
   canonical order (:func:`canonical_order`).
4. In audit mode the decision is computed and reported but not enforced.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .blob._format import (
    MAX_ID_BYTES,
    MAX_NAME_BYTES,
    MAX_PATTERN_UNITS,
    MAX_POLICY_VERSION,
    VARIABLE_TOKEN_BASE,
    VARIABLES,
)
from .errors import PolicyError

__all__ = [
    "DEFAULT_VARIABLES",
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
    "is_vouched",
    "path_index_key",
    "pattern_text",
    "valid_rule_id_text",
    "variable_token",
    "vouch",
]


class Action(str, enum.Enum):
    ALLOW = "allow"
    DENY = "deny"

    def __str__(self) -> str:
        return self.value


class Mode(str, enum.Enum):
    ENFORCE = "enforce"
    AUDIT = "audit"

    def __str__(self) -> str:
        return self.value


class RuleKind(str, enum.Enum):
    """What a rule matches; the value is the key used in policy files."""

    AUTHENTICODE_SHA256 = "authenticode_sha256"
    FILE_SHA256 = "file_sha256"
    PATH = "path"

    def __str__(self) -> str:
        return self.value


DEFAULT_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "WINDIR": ("C:\\Windows",),
    "SYSTEM32": ("C:\\Windows\\System32",),
    "PROGRAMFILES": ("C:\\Program Files", "C:\\Program Files (x86)"),
    "OSDRIVE": ("C:",),
}
"""The values on a default Windows installation on drive C (``check`` uses them)."""


def variable_token(name: str) -> str:
    """The code unit that stands for variable ``name`` in a pattern (its id is 1-based)."""
    return chr(VARIABLE_TOKEN_BASE + VARIABLES.index(name) + 1)


def pattern_text(tokens: str) -> str:
    """Back from code units to text: a variable token becomes ``%NAME%`` again."""
    text = tokens
    if text and VARIABLE_TOKEN_BASE < ord(text[0]) <= VARIABLE_TOKEN_BASE + len(VARIABLES):
        text = f"%{VARIABLES[ord(text[0]) - VARIABLE_TOKEN_BASE - 1]}%" + text[1:]
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


_VARIABLE_RE = re.compile(r"^%([A-Za-z0-9_]+)%")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
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

    Each code unit becomes its simple uppercase; characters whose uppercase is
    not one code unit (``ß``, ligatures) and surrogates stay as they are, as
    ``RtlUpcaseUnicodeChar`` leaves them.
    """
    out = []
    for ch in code_units(text):
        up = ch.upper()
        out.append(up if len(up) == 1 and ord(up) <= 0xFFFF else ch)
    return "".join(out)


@dataclass(frozen=True)
class PathPattern:
    """A parsed path rule: an optional leading variable and the folded rest."""

    variable: str | None
    body: str
    """The folded pattern after the variable (``*`` and ``?`` are wildcards)."""

    @classmethod
    def parse(cls, text: str) -> PathPattern:
        """Parse and fold a pattern; raises :class:`PolicyError` with the reason."""
        if not text:
            raise PolicyError("empty path pattern")
        variable = None
        rest = text
        m = _VARIABLE_RE.match(text)
        if m:
            name = m.group(1).upper()
            if name not in VARIABLES:
                raise PolicyError(
                    f"unknown variable %{m.group(1)}% (known: "
                    + ", ".join(f"%{v}%" for v in VARIABLES)
                    + ")"
                )
            variable, rest = name, text[m.end() :]
        if "%" in rest:
            raise PolicyError("'%' is only allowed around a variable at the start of the pattern")
        bad = sorted({c for c in rest if c in _FORBIDDEN or 0xF000 <= ord(c) <= 0xF0FF})
        if bad:
            raise PolicyError(f"character(s) not allowed in a Windows path: {bad!r}")
        if "/" in rest:
            raise PolicyError("use '\\' as the path separator, not '/'")
        if variable is None and not (
            rest[:1] in ("*", "?")
            or re.match(r"^[A-Za-z]:\\", rest)
            or re.match(r"^\\\\[^\\]+\\[^\\]+", rest)
        ):
            raise PolicyError(
                "not a full path: start with a drive (C:\\), a variable (%WINDIR%), "
                "\\\\server\\share or a wildcard (*\\tool.exe)"
            )
        return cls(variable=variable, body=fold(rest))

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


def glob_match(pattern: str, text: str) -> bool:
    """AppLocker wildcards: ``*`` any run (including ``\\``), ``?`` one code unit.

    The linear greedy algorithm with one backtrack point: O(len(pattern) *
    len(text)) at worst, no recursion, no allocation (the C core uses it too).
    """
    p = t = 0
    star_p = star_t = -1
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star_p, star_t = p, t
            p += 1
        elif star_p >= 0:
            p = star_p + 1
            star_t += 1
            t = star_t
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _valid_text(text: str) -> bool:
    """Text a policy file can hold: no unpaired surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def valid_rule_id_text(text: str) -> bool:
    """No control characters (U+0000-U+001F, U+007F-U+009F): what the blob allows too.

    Ids are printed in reports and event logs; the blob reader and the C core
    check the same characters, so every id a valid blob carries loads here.
    """
    return _CONTROL.search(text) is None


_ATTRIBUTES = ("id", "action", "kind", "value", "name", "comment")


class Rule:
    """One rule, immutable. ``value`` is a lowercase hex digest, or the path pattern as written.

    A hash rule without an explicit id has the default id (:func:`default_id`);
    it is computed when asked for, not stored, so a million hash rules cost
    little memory.  Path rules keep their parsed :class:`PathPattern`.
    """

    __slots__ = ("_explicit_id", "_pattern", "action", "comment", "kind", "name", "value")

    _explicit_id: str | None
    _pattern: PathPattern | None
    action: Action
    kind: RuleKind
    value: str
    name: str
    comment: str

    def __init__(
        self,
        id: str,
        action: Action,
        kind: RuleKind,
        value: str,
        name: str = "",
        comment: str = "",
    ) -> None:
        if (
            not isinstance(id, str)
            or not id
            or not valid_rule_id_text(id)
            or not _valid_text(id)
            or len(id.encode()) > MAX_ID_BYTES
        ):
            raise PolicyError(
                f"rule id {id!r}: must be 1 to {MAX_ID_BYTES} bytes of text"
                " without control characters"
            )
        if not isinstance(action, Action):
            raise PolicyError(f"rule {id}: unknown action {action!r}")
        if not isinstance(kind, RuleKind):
            raise PolicyError(f"rule {id}: unknown kind {kind!r}")
        for label, text in (("name", name), ("comment", comment)):
            if not isinstance(text, str) or not _valid_text(text):
                raise PolicyError(f"rule {id}: {label} must be valid Unicode text")
        pattern = None
        if kind is RuleKind.PATH:
            if not isinstance(value, str) or not _valid_text(value):
                raise PolicyError(f"rule {id}: path pattern must be valid Unicode text")
            try:
                pattern = PathPattern.parse(value)
            except PolicyError as e:
                raise PolicyError(f"rule {id}: {e.message}") from None
            if len(code_units(value)) > MAX_PATTERN_UNITS:
                raise PolicyError(
                    f"rule {id}: path pattern longer than {MAX_PATTERN_UNITS} characters"
                )
        elif not isinstance(value, str) or not _HEX64.match(value):
            problem = (
                "wrong length"
                if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]*", value)
                else "not hexadecimal"
            )
            raise PolicyError(
                f"rule {id}: {kind.value} must be 64 lowercase hex digits ({problem}: {value!r})"
            )
        explicit = None if pattern is None and id == default_id(kind, value) else id
        _init(self, explicit, action, kind, value, name, comment, pattern)

    @classmethod
    def trusted(
        cls,
        explicit_id: str | None,
        action: Action,
        kind: RuleKind,
        value: str,
        name: str = "",
        comment: str = "",
    ) -> Rule:
        """A hash rule from values the caller has already validated exactly as ``__init__`` does.

        The policy file loader's fast path for large hash-only policies; not
        for path rules (they need their parsed pattern).
        """
        rule = _new(cls)
        _init(rule, explicit_id, action, kind, value, name, comment, None)
        return rule

    @property
    def id(self) -> str:
        if self._explicit_id is not None:
            return self._explicit_id
        return default_id(self.kind, self.value)

    @property
    def explicit_id(self) -> str | None:
        """The id unless it is a hash rule's default id (which is then None)."""
        return self._explicit_id

    @property
    def pattern(self) -> PathPattern:
        if self._pattern is None:
            raise AttributeError("only path rules have a pattern")
        return self._pattern

    def _key(self) -> tuple[str, Action, RuleKind, str, str, str]:
        return (self.id, self.action, self.kind, self.value, self.name, self.comment)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{a}={getattr(self, a)!r}" for a in _ATTRIBUTES)
        return f"Rule({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    @classmethod
    def hash_rule(
        cls,
        kind: RuleKind,
        digest: str,
        action: Action = Action.ALLOW,
        *,
        id: str | None = None,
        name: str = "",
        comment: str = "",
    ) -> Rule:
        """A hash rule; its id defaults to ``kind:digest`` (which the blob stores for free)."""
        return cls(
            id=id or default_id(kind, digest),
            action=action,
            kind=kind,
            value=digest,
            name=name,
            comment=comment,
        )


_new = object.__new__


def _init(
    rule: Rule,
    explicit_id: str | None,
    action: Action,
    kind: RuleKind,
    value: str,
    name: str,
    comment: str,
    pattern: PathPattern | None,
) -> None:
    # Straight to the slot descriptors: Rule.__setattr__ refuses (immutability).
    _SET_EXPLICIT_ID(rule, explicit_id)
    _SET_ACTION(rule, action)
    _SET_KIND(rule, kind)
    _SET_VALUE(rule, value)
    _SET_NAME(rule, name)
    _SET_COMMENT(rule, comment)
    _SET_PATTERN(rule, pattern)


_SET_EXPLICIT_ID = Rule.__dict__["_explicit_id"].__set__
_SET_ACTION = Rule.__dict__["action"].__set__
_SET_KIND = Rule.__dict__["kind"].__set__
_SET_VALUE = Rule.__dict__["value"].__set__
_SET_NAME = Rule.__dict__["name"].__set__
_SET_COMMENT = Rule.__dict__["comment"].__set__
_SET_PATTERN = Rule.__dict__["_pattern"].__set__


def default_id(kind: RuleKind, digest: str) -> str:
    """The id a hash rule gets when none is given: ``authenticode_sha256:<hex>``."""
    return f"{kind.value}:{digest}"


@dataclass(frozen=True)
class Policy:
    """A named, versioned rule set. Rule order carries no meaning."""

    name: str
    version: int
    mode: Mode = Mode.ENFORCE
    rules: tuple[Rule, ...] = field(default=())

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name
            or not _valid_text(self.name)
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


_VOUCHED = "_exewhitelist_canonical_and_checked"


def vouch(policy: Policy) -> Policy:
    """Record that ``policy``'s rules are in canonical order and pass ``check_policy``.

    The policy file loader has just established both; the compiler then skips
    redoing them (seconds for a million rules).  Policies are immutable, so
    the mark cannot go stale; ``dataclasses.replace`` makes an unmarked copy.
    """
    object.__setattr__(policy, _VOUCHED, True)
    return policy


def is_vouched(policy: Policy) -> bool:
    return bool(policy.__dict__.get(_VOUCHED, False))


@dataclass(frozen=True)
class Query:
    """What is known about an image when it starts."""

    path: str | None = None
    """Its Windows path (any case)."""
    authenticode_sha256: str | None = None
    file_sha256: str | None = None


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
_KIND_RANK = {RuleKind.AUTHENTICODE_SHA256: 0, RuleKind.FILE_SHA256: 1, RuleKind.PATH: 2}


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


def canonical_order(rules: Iterable[Rule]) -> list[Rule]:
    """The order the blob stores rules in, which decides between matching rules.

    Hash rules by kind, then digest; path rules by index group, then key,
    then pattern (all compared as UTF-16 code units); ties by action, then id.
    """

    def key(rule: Rule) -> tuple[int, int, str, str, str, str]:
        if rule.kind is RuleKind.PATH:
            tokens = rule.pattern.tokens
            group, index_key = path_index_key(tokens)
            return (2, group, index_key, tokens, rule.action.value, rule.id)
        return (_KIND_RANK[rule.kind], 0, "", rule.value, rule.action.value, rule.id)

    # Enum members hash in Python: bucket by identity, not through a dict.
    authenticode: list[Rule] = []
    flat: list[Rule] = []
    paths: list[Rule] = []
    for rule in rules:
        kind = rule.kind
        if kind is RuleKind.AUTHENTICODE_SHA256:
            authenticode.append(rule)
        elif kind is RuleKind.FILE_SHA256:
            flat.append(rule)
        else:
            paths.append(rule)
    ordered: list[Rule] = []
    for bucket in (authenticode, flat):
        # Hash rules can number millions: sort on a C-level key, and pay for the
        # full key only when two rules share a digest (an invalid policy anyway).
        by_digest = sorted(bucket, key=_DIGEST)
        if len(set(map(_DIGEST, by_digest))) != len(by_digest):
            by_digest.sort(key=key)
        ordered += by_digest
    ordered += sorted(paths, key=key)
    return ordered


def decide(
    policy: Policy,
    query: Query,
    variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES,
) -> Decision:
    """The decision of :mod:`this module's docstring <exewhitelist.policy>`."""
    folded = fold(query.path) if query.path is not None else None
    matching: list[Rule] = []
    for rule in canonical_order(policy.rules):
        if rule.kind is RuleKind.AUTHENTICODE_SHA256:
            hit = (
                query.authenticode_sha256 is not None
                and rule.value == query.authenticode_sha256.lower()
            )
        elif rule.kind is RuleKind.FILE_SHA256:
            hit = query.file_sha256 is not None and rule.value == query.file_sha256.lower()
        else:
            hit = folded is not None and rule.pattern.matches(folded, variables)
        if hit:
            matching.append(rule)
    enforced = policy.mode is Mode.ENFORCE
    for action in (Action.DENY, Action.ALLOW):
        for rule in matching:
            if rule.action is action:
                return Decision(action=action, rule=rule, enforced=enforced)
    return Decision(action=Action.DENY, rule=None, enforced=enforced)
