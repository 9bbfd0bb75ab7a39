"""Operations on whole policies: build one from hash records, merge several, compare two.

Each returns a policy that :func:`~exewhitelist.policycheck.check_policy`
finds no error in (or raises :class:`PolicyError`), with its rules in
canonical order, so what they produce can always be written and loaded back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .blob._format import MAX_ID_BYTES
from .errors import PolicyError
from .hashing import FileHashes
from .policy import Mode, Policy, canonical_order
from .policycheck import CheckedPolicy, check_policy
from .policyfile import RULE_KEYS, rule_to_dict
from .rules import (
    Action,
    HashRule,
    MatchKey,
    PathPattern,
    PathRule,
    Rule,
    RuleKind,
    fold,
    hash_rule,
    pattern_text,
)
from .scan import ScanRecord
from .winpath import image_variables, record_paths, record_windows_paths, variable_folders

__all__ = [
    "HeaderChange",
    "PolicyDiff",
    "diff_policies",
    "merge_policies",
    "policy_from_hashes",
]

_MAX_ALSO = 5
"""How many other file names an ``also:`` comment lists before it only counts them."""


def _text(name: str) -> str:
    """A file name as text a policy can hold: a byte of a name that is not UTF-8 (a lone
    surrogate, PEP 383) becomes ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _basename(path: str) -> str:
    """The file name of a Windows or POSIX path (records come from either system)."""
    return re.split(r"[\\/]", path)[-1]


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_EMPTY_REASON = "empty file: an allow rule for the digest of no bytes would allow every empty file"


def policy_from_hashes(
    records: Iterable[Mapping[str, Any] | ScanRecord | FileHashes],
    *,
    name: str,
    version: int = 1,
    mode: Mode = Mode.ENFORCE,
    path_rule_folders: Sequence[str] = (),
    variables: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Policy, list[Mapping[str, Any]]]:
    """An allow-list of the files ``exewhitelist hash --json`` (or ``scan``) described.

    ``records`` are their JSON records, or the :class:`ScanRecord` and
    :class:`FileHashes` objects of :func:`~exewhitelist.scan` and
    :func:`~exewhitelist.hash_file`.  A PE image is allowed by its
    Authenticode SHA-256 (what Windows checks for it); any other file,
    including a PE that Windows hashes flat, by its file SHA-256.  Each rule
    is named after the file: its Windows path (``windows_path``, from
    ``scan --as``), else its path relative to the folder all the records
    share; files with the same digest make one rule, named after the first
    and with the other paths (hard links included) in its comment.  Ids are
    the defaults.

    ``path_rule_folders`` are Windows folders, concrete (``C:\\Program Files\\App``)
    or under a variable (``%PROGRAMFILES%\\App``), each allowed by one path
    rule ``FOLDER\\*`` (id ``path:FOLDER\\*``): a record all of whose Windows
    paths (every hard link's, mapped as the first one's) lie under them gets
    no hash rule.  A variable stands for its values in ``variables``; by
    default those of Windows in the ``Windows`` folder of the records' drive,
    derived as the driver derives them (:func:`~exewhitelist.winpath.image_variables`).
    With folders, every record must have a ``windows_path``.

    Returns the policy and the records that got no rule, each with ``error``
    saying why: a file that could not be read, or an empty file (the digest
    of no bytes would allow every empty file).  A record that is not a hash
    record at all, a folder that is not a full Windows path, or folders for
    records without ``windows_path`` raise :class:`PolicyError`.
    """
    rows = [_as_mapping(r) for r in records]
    if variables is None:
        variables = _image_variables(rows)
    folders = _folders(path_rule_folders, variables)
    covered = dict.fromkeys(folders, 0)
    names: dict[tuple[RuleKind, str], list[str]] = {}
    skipped: list[Mapping[str, Any]] = []
    base = _common_folder(rows)
    for number, record in enumerate(rows, 1):
        if record.get("error") is not None:
            skipped.append(record)
            continue
        path = record.get("path")
        authenticode = record.get("authenticode_sha256")
        kind = RuleKind.FILE_SHA256 if authenticode is None else RuleKind.AUTHENTICODE_SHA256
        digest = record.get("sha256") if authenticode is None else authenticode
        if not isinstance(path, str) or not isinstance(digest, str):
            raise PolicyError(
                f"hash record {number}: not a record of 'exewhitelist hash --json' "
                "(needs 'path' and 'sha256' strings)"
            )
        digest = digest.lower()
        try:
            hash_rule(kind, digest)
        except PolicyError as e:
            raise PolicyError(f"hash record {number} ({path}): {e.message}") from None
        if record.get("sha256") == _EMPTY_SHA256:
            skipped.append({**record, "error": _EMPTY_REASON})
            continue
        windows_paths = record_windows_paths(record)
        if folders and not windows_paths:
            raise PolicyError(
                f"hash record {number} ({path}) has no windows_path: path rule folders "
                "need the records of a scan with --as (the image's Windows path)"
            )
        # A hard-linked file is run by any of its names: a folder rule covers it only
        # when it covers them all.
        places = [_folder_of(p, folders) for p in windows_paths]
        inside = [p for p in places if p is not None]
        if folders and len(inside) == len(places):
            for folder in dict.fromkeys(inside):
                covered[folder] += 1
            continue
        seen = names.setdefault((kind, digest), [])
        links = windows_paths or [_relative(p, base) for p in record_paths(record)]
        seen.extend(_text(p) for p in links if _text(p) not in seen)
    rules: list[Rule] = [
        hash_rule(kind, digest, name=first, comment=_also(others))
        for (kind, digest), (first, *others) in names.items()
    ]
    rules.extend(_folder_rule(folder, count) for folder, count in covered.items())
    policy = CheckedPolicy(
        name=name, version=version, mode=mode, rules=tuple(canonical_order(rules))
    )
    return policy, skipped


def _as_mapping(record: Mapping[str, Any] | ScanRecord | FileHashes) -> Mapping[str, Any]:
    if isinstance(record, (ScanRecord, FileHashes)):
        return record.to_json()
    return record


def _common_folder(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The folder (as components) every record's path lies in: rule names are relative to it."""
    folders = [
        re.split(r"[\\/]", p)[:-1]
        for r in records
        if r.get("error") is None
        for p in record_paths(r)
    ]
    if not folders:
        return []
    common = folders[0]
    for folder in folders[1:]:
        same = 0
        while same < min(len(common), len(folder)) and common[same] == folder[same]:
            same += 1
        common = common[:same]
    return common


def _relative(path: str, base: Sequence[str]) -> str:
    if len(base) <= 1:  # "/" or a drive: the full path says more than one without it
        return path
    return "/".join(re.split(r"[\\/]", path)[len(base) :])


def _image_variables(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """The variables of Windows installed in ``Windows`` on the records' drive (``--as``)."""
    drive = next(
        (
            p[:2]
            for r in records
            if isinstance(p := r.get("windows_path"), str) and re.match(r"^[A-Za-z]:", p)
        ),
        None,
    )
    if drive is None:
        return image_variables({})
    return image_variables({"WINDIR": (drive + "\\Windows",)})


def _folders(
    texts: Sequence[str], variables: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """Each folder's rule pattern (``FOLDER\\*``) once (compared as Windows does), with the
    folded folders it stands for."""
    folders: dict[str, tuple[str, tuple[str, ...]]] = {}
    for text in texts:
        try:
            prefixes = variable_folders(text, variables)
            pattern = PathPattern.parse(text.rstrip("\\") + "\\*")
        except PolicyError as e:
            raise PolicyError(f"path rule folder {text!r}: {e.message}") from None
        spelled = pattern_text(pattern.tokens[:1]) if pattern.variable else ""
        # The variable as the policy language spells it; the rest as the user wrote it.
        rest = text.rstrip("\\")[len(spelled) :] if pattern.variable else text.rstrip("\\")
        folders.setdefault(pattern.tokens, (spelled + rest + "\\*", prefixes))
    return dict(folders.values())


def _folder_of(windows_path: str, folders: Mapping[str, tuple[str, ...]]) -> str | None:
    folded = fold(windows_path)
    return next(
        (f for f, prefixes in folders.items() if any(folded.startswith(p) for p in prefixes)),
        None,
    )


def _folder_rule(pattern: str, files: int) -> Rule:
    rule_id = f"path:{pattern}"
    if len(rule_id.encode()) > MAX_ID_BYTES:  # too long an id: name the folder by its digest
        rule_id = (
            "path:" + hashlib.sha256(fold(pattern).encode("utf-8", "surrogatepass")).hexdigest()
        )
    folder = pattern[:-2]
    return PathRule(
        action=Action.ALLOW,
        value=pattern,
        explicit_id=rule_id,
        name=_basename(folder) or folder,
        comment=f"{files} scanned file(s) under it",
    )


def _also(names: Sequence[str]) -> str:
    if not names:
        return ""
    listed = ", ".join(names[:_MAX_ALSO])
    rest = len(names) - _MAX_ALSO
    return f"also: {listed}" + (f" and {rest} more" if rest > 0 else "")


def merge_policies(
    policies: Sequence[Policy], *, name: str | None = None, version: int | None = None
) -> Policy:
    """The union of the policies' rules.

    Rules that match the same thing with the same action collapse into the
    first one seen (its id, name and comment).  One id naming different
    rules in two inputs, and a hash allowed by one input and denied by
    another, raise :class:`PolicyError`.  The name and mode are the first
    policy's, the version the highest, unless ``name``/``version`` are given.
    """
    if not policies:
        raise PolicyError("no policies to merge")
    by_id: dict[str, tuple[Rule, int]] = {}
    kept: dict[MatchKey, Rule] = {}
    for number, policy in enumerate(policies, 1):
        for rule in policy.rules:
            key = rule.match_key()
            first, first_number = by_id.setdefault(rule.id, (rule, number))
            if first.match_key() != key:
                raise PolicyError(
                    f"rule id {rule.id!r} means different rules: {_summary(first)} "
                    f"in policy {first_number}, {_summary(rule)} in policy {number}"
                )
            kept.setdefault(key, rule)
    merged = Policy(
        name=policies[0].name if name is None else name,
        version=max(p.version for p in policies) if version is None else version,
        mode=policies[0].mode,
        rules=tuple(canonical_order(kept.values())),
    )
    errors = [p for p in check_policy(merged) if p.severity == "error"]
    if errors:
        raise PolicyError(f"the merged policy is invalid: {errors[0]}", tuple(errors))
    return CheckedPolicy.already_checked(merged)


def _summary(rule: Rule) -> str:
    return f"{rule.action} {rule.kind} {rule.value}"


@dataclass(frozen=True)
class HeaderChange:
    """A ``[policy]`` field that differs between two policies."""

    field: str
    old: str | int
    new: str | int


@dataclass(frozen=True)
class PolicyDiff:
    """What changed from one policy to another, rules matched by id, in canonical order."""

    header: tuple[HeaderChange, ...]
    added: tuple[Rule, ...]
    removed: tuple[Rule, ...]
    changed: tuple[tuple[Rule, Rule], ...]
    """(old, new) pairs of rules with the same id and any field different."""

    @property
    def identical(self) -> bool:
        return not (self.header or self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        """The record ``policy diff --json`` prints; rules as their ``[[rule]]`` tables."""
        return {
            "identical": self.identical,
            "header": [{"field": c.field, "old": c.old, "new": c.new} for c in self.header],
            "added": [rule_to_dict(r) for r in self.added],
            "removed": [rule_to_dict(r) for r in self.removed],
            "changed": [
                {"id": new.id, "old": rule_to_dict(old), "new": rule_to_dict(new)}
                for old, new in self.changed
            ],
        }

    def lines(self) -> list[str]:
        """The human summary: ``~`` header fields, ``-`` removed, ``+`` added, ``~`` changed."""
        out = [f"~ policy {c.field}: {c.old!r} -> {c.new!r}" for c in self.header]
        out.extend(f"- {_line(r)}" for r in self.removed)
        out.extend(f"+ {_line(r)}" for r in self.added)
        for old, new in self.changed:
            before, after = rule_to_dict(old), rule_to_dict(new)
            fields = [
                f"{key} {before.get(key)!r} -> {after.get(key)!r}"
                for key in RULE_KEYS
                if before.get(key) != after.get(key)
            ]
            out.append(f"~ {new.id}: " + "; ".join(fields))
        return out


def _line(rule: Rule) -> str:
    """A rule on one line (a default id names kind and digest: they are not repeated)."""
    if isinstance(rule, HashRule) and rule.explicit_id is None:
        what = str(rule.action)
    else:
        what = _summary(rule)
    return f"{rule.id}: {what}" + (f"  ({rule.name})" if rule.name else "")


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """The differences between two policies whose ids are unique (as loaded ones are)."""
    header = tuple(
        HeaderChange(field, before, after)
        for field, before, after in (
            ("name", old.name, new.name),
            ("version", old.version, new.version),
            ("mode", old.mode.value, new.mode.value),
        )
        if before != after
    )
    old_rules = {r.id: r for r in old.rules}
    new_rules = {r.id: r for r in new.rules}
    return PolicyDiff(
        header=header,
        added=tuple(canonical_order(r for r in new.rules if r.id not in old_rules)),
        removed=tuple(canonical_order(r for r in old.rules if r.id not in new_rules)),
        changed=tuple(
            (old_rules[r.id], r)
            for r in canonical_order(new.rules)
            if r.id in old_rules and old_rules[r.id] != r
        ),
    )
