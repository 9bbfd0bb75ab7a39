"""Warnings about path rules: what is valid but probably not what the admin meant.

Rules made pointless by another (shadowed), allow rules that reach folders
ordinary users can write to, and policies that slow every decision in the
driver. They never stop a policy from loading or compiling.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from .errors import PolicyProblem
from .rules import (
    DEFAULT_VARIABLES,
    Action,
    HashRule,
    Image,
    PathRule,
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
    "path_rule_warnings",
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
