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
from .policy import Mode, Policy, canonical_order
from .policycheck import CheckedPolicy, check_policy
from .policyfile import RULE_KEYS, rule_to_dict
from .rules import (
    Action,
    HashRule,
    PathRule,
    Rule,
    RuleKind,
    concrete_windows_path,
    fold,
    hash_rule,
)

__all__ = [
    "HeaderChange",
    "PolicyDiff",
    "diff_policies",
    "merge_policies",
    "policy_from_hashes",
]

_MAX_ALSO = 5
"""How many other file names an ``also:`` comment lists before it only counts them."""


def _basename(path: str) -> str:
    """The file name of a Windows or POSIX path (records come from either system), as text
    a policy can hold: a byte of a name that is not UTF-8 (a lone surrogate, PEP 383)
    becomes ``\\xNN``."""
    name = re.split(r"[\\/]", path)[-1]
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def policy_from_hashes(
    records: Iterable[Mapping[str, Any]],
    *,
    name: str,
    version: int = 1,
    mode: Mode = Mode.ENFORCE,
    path_rule_folders: Sequence[str] = (),
) -> tuple[Policy, list[Mapping[str, Any]]]:
    """An allow-list of the files ``exewhitelist hash --json`` (or ``scan``) described.

    A PE image is allowed by its Authenticode SHA-256 (what Windows checks
    for it); any other file, including a PE that Windows hashes flat, by its
    file SHA-256.  Each rule is named after the file (its basename); files
    with the same digest make one rule, named after the first and with the
    other names in its comment.  Ids are the defaults.

    ``path_rule_folders`` are Windows folders (``C:\\Program Files\\App``)
    allowed by one path rule each (``FOLDER\\*``, id ``path:FOLDER\\*``):
    a record whose ``windows_path`` (``scan --as``) lies under one of them
    gets no hash rule.

    Returns the policy and the records skipped because they carry an
    ``error`` (a file that could not be read), so that the caller can say
    which files the policy does not cover.  A record that is not a hash
    record at all, or a folder that is not a full Windows path, raises
    :class:`PolicyError`.
    """
    folders = _folders(path_rule_folders)
    covered = dict.fromkeys(folders, 0)
    names: dict[tuple[RuleKind, str], list[str]] = {}
    skipped: list[Mapping[str, Any]] = []
    for number, record in enumerate(records, 1):
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
        folder = _folder_of(record.get("windows_path"), folders)
        if folder is not None:
            covered[folder] += 1
            continue
        seen = names.setdefault((kind, digest), [])
        if _basename(path) not in seen:
            seen.append(_basename(path))
    rules: list[Rule] = [
        hash_rule(kind, digest, name=first, comment=_also(others))
        for (kind, digest), (first, *others) in names.items()
    ]
    rules.extend(_folder_rule(folder, count) for folder, count in covered.items())
    policy = CheckedPolicy(
        name=name, version=version, mode=mode, rules=tuple(canonical_order(rules))
    )
    return policy, skipped


def _folders(texts: Sequence[str]) -> dict[str, str]:
    """The folders without trailing ``\\``, each once (compared as Windows does), by their fold."""
    folders: dict[str, str] = {}
    for text in texts:
        try:
            folder = concrete_windows_path(text)
        except PolicyError as e:
            raise PolicyError(f"path rule folder {text!r}: {e.message}") from None
        folders.setdefault(fold(folder) + "\\", folder)
    return {folder: folded for folded, folder in folders.items()}


def _folder_of(windows_path: object, folders: Mapping[str, str]) -> str | None:
    if not folders or not isinstance(windows_path, str):
        return None
    folded = fold(windows_path)
    return next((f for f, prefix in folders.items() if folded.startswith(prefix)), None)


def _folder_rule(folder: str, files: int) -> Rule:
    pattern = folder + "\\*"
    rule_id = f"path:{pattern}"
    if len(rule_id.encode()) > MAX_ID_BYTES:  # too long an id: name the folder by its digest
        rule_id = (
            "path:" + hashlib.sha256(fold(pattern).encode("utf-8", "surrogatepass")).hexdigest()
        )
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
    kept: dict[tuple[RuleKind, str, Action], Rule] = {}
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
