"""Warnings about rules: what is valid but probably not what the admin meant.

Rules made pointless by another (shadowed: path rules by a covering pattern,
publisher rules by a broader condition on the same certificate), exceptions
no file can match (or that match every file the rule does), allow rules that
reach folders ordinary users can write to, and policies that slow every
decision in the driver. They never stop a policy from loading or compiling.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from .errors import PolicyProblem
from .rules import (
    DEFAULT_VARIABLES,
    TOKEN_BASE,
    VARIABLES,
    Action,
    Condition,
    FileVersion,
    HashRule,
    Image,
    PathCondition,
    PathRule,
    Publisher,
    PublisherRule,
    Rule,
    covers,
    fold,
    path_index_key,
    pattern_text,
)
from .rules.path import searched_wildcard_segment

__all__ = [
    "SCAN_RULES_WARNING",
    "SHARED_KEY_WARNING",
    "USER_WRITABLE_FOLDERS",
    "WILDCARD_SEGMENT_WARNING",
    "describe",
    "describe_exception",
    "exception_warnings",
    "path_rule_warnings",
    "patterns_may_overlap",
    "publisher_covers",
    "publisher_rule_warnings",
    "verb",
]


def describe(index: int, rule: Rule) -> str:
    """How a problem names another rule: its position, and its id unless that is the default."""
    if isinstance(rule, HashRule) and rule.explicit_id is None:
        return f"rule {index}"
    return f"rule {index} (id {rule.id!r})"


def verb(action: Action) -> str:
    return "allows" if action is Action.ALLOW else "denies"


def path_rule_warnings(
    paths: Sequence[tuple[int, PathRule]], problems: list[PolicyProblem]
) -> Iterator[tuple[int, PathRule, str]]:
    """(position, rule, message) of each warning about one path rule; the warnings
    about the policy as a whole are appended to ``problems``."""
    for index, rule, by_index, by in _shadowed(paths):
        if by.action is Action.DENY and rule.action is Action.ALLOW:
            message = f"never applies: {describe(by_index, by)} denies every path it matches"
        else:
            message = (
                f"redundant: {describe(by_index, by)} already {verb(by.action)} "
                "every path it matches"
            )
        yield index, rule, message
    for index, rule, folders in _writable_folders_allowed(paths):
        more = f" and {len(folders) - 3} more" if len(folders) > 3 else ""
        yield (
            index,
            rule,
            f"allows programs in folders ordinary users can write to: {', '.join(folders[:3])}"
            f"{more}; deny them (say {folders[0]}\\*) or allow narrower folders",
        )
    for index, rule in paths:
        length = searched_wildcard_segment(rule.pattern.tokens)
        if length > WILDCARD_SEGMENT_WARNING:
            yield (
                index,
                rule,
                f"a run of {length} units with '?' between two '*': the driver may compare "
                f"each unit of a path with up to {length} of them on every decision "
                "(docs/policy.md, 'Matching cost'); shorten it or use '*' for the '?'",
            )
    problems.extend(_cost_warnings(paths))


USER_WRITABLE_FOLDERS = (
    "%WINDIR%\\Tasks",
    "%WINDIR%\\Temp",
    "%WINDIR%\\tracing",
    "%WINDIR%\\Registration\\CRMLog",
    "%SYSTEM32%\\FxsTmp",
    "%SYSTEM32%\\Tasks",
    "%SYSTEM32%\\Tasks_Migrated",
    "%SYSTEM32%\\com\\dmp",
    "%SYSTEM32%\\Microsoft\\Crypto\\RSA\\MachineKeys",
    "%SYSTEM32%\\spool\\PRINTERS",
    "%SYSTEM32%\\spool\\SERVERS",
    "%SYSTEM32%\\spool\\drivers\\color",
    "%WINDIR%\\SysWOW64\\FxsTmp",
    "%WINDIR%\\SysWOW64\\com\\dmp",
    "%WINDIR%\\SysWOW64\\Tasks\\Microsoft\\Windows\\SyncCenter",
    "%WINDIR%\\SysWOW64\\Tasks\\Microsoft\\Windows\\PLA\\System",
)
"""Folders under %WINDIR% that ordinary users can create files in on a default
installation (the lists of AppLocker bypasses, and AaronLocker's scan of
System32): an allow rule for %WINDIR%\\* allows whatever a user drops there."""

_PROBE = "payload.exe"
"""The file a user would drop: a name any pattern for programs in a folder matches."""


def _writable_probes() -> list[tuple[str, str]]:
    """Each folder of :data:`USER_WRITABLE_FOLDERS`, and a folded file path in it
    on a default installation (the values ``exewhitelist check`` uses)."""
    probes = []
    for folder in USER_WRITABLE_FOLDERS:
        variable, rest = folder[1:].split("%", 1)
        path = DEFAULT_VARIABLES[variable][0] + rest + "\\" + _PROBE
        probes.append((folder, fold(path)))
    return probes


def _writable_folders_allowed(
    paths: Sequence[tuple[int, PathRule]],
) -> Iterator[tuple[int, PathRule, list[str]]]:
    """Allow path rules that match a file in a user-writable folder no deny path rule covers."""
    denies = [rule.pattern for _, rule in paths if rule.action is Action.DENY]
    probes = [
        (folder, path)
        for folder, path in _writable_probes()
        if not any(d.matches(path, DEFAULT_VARIABLES) for d in denies)
    ]
    for index, rule in paths:
        if rule.action is Action.ALLOW:
            # Its exceptions count: "%WINDIR%\* except %WINDIR%\Temp\*" does not allow Temp.
            folders = [
                f for f, path in probes if rule.matches(Image(folded_path=path), DEFAULT_VARIABLES)
            ]
            if folders:
                yield index, rule, folders


SCAN_RULES_WARNING = 100
"""Path rules that start and end with a wildcard past which ``policy validate`` warns."""
SHARED_KEY_WARNING = 256
"""Path rules with one key (docs/blob-format.md §5.2) past which it warns."""
WILDCARD_SEGMENT_WARNING = 64
"""Units of a run with ``?`` between two ``*`` past which it warns: such a run is
searched by trying each place in the path (docs/policy.md, 'Matching cost')."""


def _cost_warnings(paths: Sequence[tuple[int, PathRule]]) -> list[PolicyProblem]:
    """Policies that slow every decision in the driver (docs/blob-format.md §5.2):
    many rules that start and end with a wildcard (each is tried on every
    decision), or many rules sharing one key (a decision under that key walks
    them all)."""
    scan = 0
    keys: dict[tuple[int, str], int] = defaultdict(int)
    for _, rule in paths:
        group, key = path_index_key(rule.pattern.tokens)
        if group == 3:
            scan += 1
        else:
            keys[group, key] += 1
    problems = []
    if scan > SCAN_RULES_WARNING:
        problems.append(
            PolicyProblem(
                f"{scan} path rules start and end with a wildcard: the driver tries each one "
                "on every decision; anchor them to a folder (C:\\Apps\\*) or a file name "
                "(*\\tool.exe)",
                severity="warning",
            )
        )
    for (group, key), count in sorted(keys.items()):
        if count > SHARED_KEY_WARNING:
            # Group 2 keys are the literal suffix, reversed (docs/blob-format.md §5.2).
            where = (
                f"end with {pattern_text(key[::-1])} after"
                if group == 2
                else (f"start with {pattern_text(key)} before")
            )
            problems.append(
                PolicyProblem(
                    f"{count} path rules {where} their wildcards: every decision for a path "
                    "there tries them all; split them by longer literal parts",
                    severity="warning",
                )
            )
    return problems


def _literal_ends(tokens: str) -> tuple[str, str]:
    """The literal runs before the first and after the last wildcard (all of it if none)."""
    parts = re.split(r"[*?]", tokens)
    return parts[0], parts[-1]


def _shadowed(
    rules: Sequence[tuple[int, PathRule]],
) -> Iterable[tuple[int, PathRule, int, PathRule]]:
    """(index, rule, by_index, by) for each path rule made pointless by another.

    ``by`` shadows ``rule`` when it covers its pattern and denies, or does
    what ``rule`` does.  Of two rules that cover each other with the same
    action only the later is reported; a denying shadow is preferred, as
    "never applies" says more than "redundant".

    A covering pattern's literal prefix is a prefix of what it covers, and
    its literal suffix a suffix: candidates are found through an index of
    prefixes (or, for patterns that start with a wildcard, suffixes) and
    filtered by suffix before :func:`covers` runs, so a policy of thousands
    of path rules is not compared pair by pair.
    """
    tokens = {index: rule.pattern.tokens for index, rule in rules}
    ends = {index: _literal_ends(t) for index, t in tokens.items()}
    by_prefix: defaultdict[str, list[tuple[int, PathRule]]] = defaultdict(list)
    by_suffix: defaultdict[str, list[tuple[int, PathRule]]] = defaultdict(list)
    anywhere: list[tuple[int, PathRule]] = []
    for index, rule in rules:
        prefix, suffix = ends[index]
        if prefix:
            by_prefix[prefix].append((index, rule))
        elif suffix:
            by_suffix[suffix].append((index, rule))
        else:
            anywhere.append((index, rule))
    prefix_lengths = sorted({len(p) for p in by_prefix})
    suffix_lengths = sorted({len(s) for s in by_suffix})

    for index, rule in rules:
        own = tokens[index]
        candidates = [*anywhere]
        for n in prefix_lengths:
            candidates.extend(by_prefix.get(own[:n], ()))
        for n in suffix_lengths:
            candidates.extend(by_suffix.get(own[-n:], ()))
        plausible = [
            (other_index, other)
            for other_index, other in candidates
            if other_index != index
            and not other.exceptions  # its exceptions may leave some of the paths to this one
            and (other.action is Action.DENY or other.action is rule.action)
            and own.endswith(ends[other_index][1])
        ]
        best: tuple[int, PathRule] | None = None
        for other_index, other in sorted(plausible, key=lambda c: c[0]):
            if not covers(tokens[other_index], own):
                continue
            if (
                other.action is rule.action
                and other_index > index
                and covers(own, tokens[other_index])
            ):
                continue  # equivalent patterns: the later one is the redundant one
            if best is None or other.action is Action.DENY:
                best = (other_index, other)
            if other.action is Action.DENY:
                break  # the first deny (by position) is the one reported
        if best is not None:
            yield index, rule, best[0], best[1]


# --- exceptions ------------------------------------------------------------------------------


def _is_variable(unit: str) -> bool:
    return TOKEN_BASE < ord(unit) <= TOKEN_BASE + len(VARIABLES)


def patterns_may_overlap(a: str, b: str) -> bool:
    """Whether two path patterns (folded tokens) may match one path: False only when no path
    can match both (a sound test for a warning).

    ``*`` is any run, ``?`` one unit, anything else itself. A leading variable stands for
    values not known here: two patterns that start with different variables, or one with a
    variable and the other without, may overlap. Characters outside the BMP (two UTF-16
    units, which ``?`` counts one by one) are not compared either.
    """
    if any(ord(c) > 0xFFFF for c in a + b):
        return True
    if (a and _is_variable(a[0])) or (b and _is_variable(b[0])):
        if not (a and b and a[0] == b[0]):
            return True
        a, b = a[1:], b[1:]

    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*" and meet(i + 1, j):
            return True
        if j < len(b) and b[j] == "*" and meet(i, j + 1):
            return True
        if i == len(a) or j == len(b):
            return False
        x, y = a[i], b[j]
        if x == "*" and y == "*":
            return False  # both skipped above; consuming a unit with both changes nothing
        if x == "*":
            return meet(i, j + 1)
        if y == "*":
            return meet(i + 1, j)
        if "?" in (x, y) or x == y:
            return meet(i + 1, j + 1)
        return False

    return meet(0, 0)


def _range(publisher: Publisher, deny: bool) -> tuple[FileVersion | None, FileVersion | None]:
    """The versions a condition matches, as (low, high) inclusive (None: unbounded), for a
    rule of that action (a lone bound of a deny rule reaches the other way, as in WDAC)."""
    low, high = publisher.min_version, publisher.max_version
    if deny and (low is None) != (high is None):
        return (None, low) if low is not None else (high, None)
    return low, high


def _versioned(publisher: Publisher) -> bool:
    return publisher.min_version is not None or publisher.max_version is not None


def _ranges_meet(
    a: tuple[FileVersion | None, FileVersion | None],
    b: tuple[FileVersion | None, FileVersion | None],
) -> bool:
    (a_low, a_high), (b_low, b_high) = a, b
    if a_low is not None and b_high is not None and a_low > b_high:
        return False
    return not (b_low is not None and a_high is not None and b_low > a_high)


def _unmatchable(rule: Rule, exception: Condition) -> str | None:
    """Why no file the rule matches can match ``exception``, or None when one may.

    Path exceptions on path rules (the patterns cannot overlap); publisher exceptions on
    publisher rules that compare the same file attribute with another value, or a version
    range that cannot meet the rule's (both test the same file's version resource). Hash
    exceptions, and exceptions of another input than the rule's, are never reported.
    """
    if (
        isinstance(rule, PathRule)
        and isinstance(exception, PathCondition)
        and not patterns_may_overlap(rule.pattern.tokens, exception.parsed.tokens)
    ):
        return f"no path the rule matches can match {pattern_text(exception.value)}"
    if isinstance(rule, PublisherRule) and isinstance(exception, Publisher):
        condition = rule.condition
        if (
            condition.attribute is not None
            and condition.attribute is exception.attribute
            and fold(condition.attribute_value or "") != fold(exception.attribute_value or "")
        ):
            return (
                f"the rule needs {condition.attribute.value} {condition.attribute_value!r}, "
                f"the exception {exception.attribute_value!r}"
            )
        deny = rule.action is Action.DENY
        if (
            _versioned(condition)
            and _versioned(exception)
            and not _ranges_meet(_range(condition, deny), _range(exception, False))
        ):
            return "the rule's version range and the exception's do not meet"
    return None


def _whole(rule: Rule, exception: Condition) -> bool:
    """The exception matches every file the rule matches (path rules and exceptions)."""
    return (
        isinstance(rule, PathRule)
        and isinstance(exception, PathCondition)
        and covers(exception.parsed.tokens, rule.pattern.tokens)
    )


def exception_warnings(rules: Sequence[tuple[int, Rule]]) -> Iterator[tuple[int, Rule, str]]:
    """(position, rule, message) for each exception no file can match, or that matches every
    file its rule does (then the rule never applies)."""
    for index, rule in rules:
        for exception in rule.exceptions:
            if _whole(rule, exception):
                yield (
                    index,
                    rule,
                    f"never applies: the exception {describe_exception(exception)} matches "
                    "every path the rule matches",
                )
                continue
            why = _unmatchable(rule, exception)
            if why is not None:
                yield (
                    index,
                    rule,
                    f"the exception {describe_exception(exception)} can never match: {why}",
                )


def describe_exception(exception: Condition) -> str:
    """An exception as a problem names it: as written (its place in the file is lost, as
    exceptions are kept in canonical order)."""
    if isinstance(exception, PathCondition):
        pattern = exception.pattern
        quoted = f"'{pattern}'" if "'" not in pattern else json.dumps(pattern, ensure_ascii=False)
        return f"{{ path = {quoted} }}"
    if isinstance(exception, Publisher):
        return f"{{ publisher = {exception.text()} }}"
    return f'{{ {exception.kind.value} = "{exception.value[:16]}..." }}'


# --- publisher rules -------------------------------------------------------------------------


def publisher_covers(outer: PublisherRule, inner: PublisherRule) -> bool:
    """Whether ``outer``'s condition holds for every file ``inner``'s does (and ``outer`` has
    no exceptions that could leave some of them to ``inner``)."""
    a, b = outer.condition, inner.condition
    if outer.exceptions or a.certificate != b.certificate or a.pin is not b.pin:
        return False
    if a.common_name is not None and a.common_name != b.common_name:
        return False
    if a.attribute is not None and (
        a.attribute is not b.attribute
        or fold(a.attribute_value or "") != fold(b.attribute_value or "")
    ):
        return False
    if not _versioned(a):
        return True
    if not _versioned(b):
        return False  # b also matches files without a version; a does not
    (a_low, a_high) = _range(a, outer.action is Action.DENY)
    (b_low, b_high) = _range(b, inner.action is Action.DENY)
    low_ok = a_low is None or (b_low is not None and a_low <= b_low)
    high_ok = a_high is None or (b_high is not None and b_high <= a_high)
    return low_ok and high_ok


def publisher_rule_warnings(
    rules: Sequence[tuple[int, PublisherRule]],
) -> Iterator[tuple[int, PublisherRule, str]]:
    """(position, rule, message) for each publisher rule a broader one makes pointless: one
    that pins the same certificate the same way and asks no more of the file (no common
    name or the same, no attribute or the same, a version range that contains this one's),
    and that denies, or does what this one does. Of two equivalent rules the later is
    reported."""
    by_certificate: defaultdict[tuple[str, str, str], list[tuple[int, PublisherRule]]]
    by_certificate = defaultdict(list)
    for index, rule in rules:
        condition = rule.condition
        key = (condition.certificate.algorithm, condition.certificate.tbs_hash, condition.pin.value)
        by_certificate[key].append((index, rule))
    for group in by_certificate.values():
        for index, rule in group:
            best: tuple[int, PublisherRule] | None = None
            for other_index, other in group:
                if other_index == index:
                    continue
                if other.action is not Action.DENY and other.action is not rule.action:
                    continue
                if not publisher_covers(other, rule):
                    continue
                if (
                    other.action is rule.action
                    and other_index > index
                    and publisher_covers(rule, other)
                ):
                    continue  # equivalent: the later one is the redundant one
                if best is None or (
                    other.action is Action.DENY and best[1].action is not Action.DENY
                ):
                    best = (other_index, other)
            if best is None:
                continue
            by_index, by = best
            if by.action is Action.DENY and rule.action is Action.ALLOW:
                message = f"never applies: {describe(by_index, by)} denies every file it matches"
            else:
                message = (
                    f"redundant: {describe(by_index, by)} already {verb(by.action)} "
                    "every file it matches"
                )
            yield index, rule, message
