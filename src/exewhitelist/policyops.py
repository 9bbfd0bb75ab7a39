"""Operations on whole policies: build one from hash or scan records (at WDAC's rule
levels), merge several, compare two.

Each returns a policy that :func:`~exewhitelist.policycheck.check_policy`
finds no error in (or raises :class:`PolicyError`), with its rules in
canonical order, so what they produce can always be written and loaded back.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .blob._format import MAX_ID_BYTES
from .errors import PolicyError
from .hashing import FileHashes
from .imagecheck import ECDSA_NOTE, ecdsa_only, record_signatures
from .policy import Mode, Policy, canonical_order
from .policycheck import CheckedPolicy, check_policy
from .policyfile import RULE_KEYS, rule_to_dict
from .policylint import publisher_covers
from .rules import (
    Action,
    CertificateId,
    FileAttribute,
    FileVersion,
    HashRule,
    MatchKey,
    PathPattern,
    PathRule,
    Pin,
    Publisher,
    PublisherRule,
    Rule,
    RuleKind,
    fold,
    hash_rule,
    pattern_text,
    signer_facts,
)
from .scan import ScanRecord
from .winpath import image_variables, record_paths, record_windows_paths, variable_folders

__all__ = [
    "PUBLISHER_LEVELS",
    "HeaderChange",
    "Level",
    "PolicyDiff",
    "diff_policies",
    "merge_policies",
    "policy_from_hashes",
    "policy_from_scan",
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


# --- policy from-scan --level: WDAC's rule levels -------------------------------------------


class Level(str, enum.Enum):
    """What ``policy from-scan --level`` writes for a file (``New-CIPolicy -Level``)."""

    FILEPUBLISHER = "filepublisher"
    """Issuer pin + the signer's CN + OriginalFilename + min_version = the file's version."""
    PUBLISHER = "publisher"
    """Issuer pin + the signer's CN."""
    SIGNEDVERSION = "signedversion"
    """Issuer pin + the signer's CN + min_version = the file's version."""
    LEAFCERTIFICATE = "leafcertificate"
    """Leaf pin (the signer's own certificate) alone."""
    PCACERTIFICATE = "pcacertificate"
    """Issuer pin alone: the highest certificate of the embedded chain."""
    HASH = "hash"
    """The file's digest (what ``from-hashes`` writes)."""
    PATH = "path"
    """The file's Windows path, exactly (needs ``scan --as``)."""

    def __str__(self) -> str:
        return self.value


PUBLISHER_LEVELS = frozenset(
    {
        Level.FILEPUBLISHER,
        Level.PUBLISHER,
        Level.SIGNEDVERSION,
        Level.LEAFCERTIFICATE,
        Level.PCACERTIFICATE,
    }
)
"""The levels that write publisher rules (from a valid embedded signature)."""


@dataclass(frozen=True, slots=True)
class _Signed:
    """What the publisher levels need of a file's first valid embedded signature."""

    chain: tuple[CertificateId, ...]
    common_name: str | None
    ecdsa_only: bool


def _signed(record: Mapping[str, Any]) -> _Signed | None:
    """The file's first valid embedded signature (in the record's order: the primary one
    first), as publisher conditions see it; None when it has none."""
    signatures = record_signatures(record) or []
    for signature in signatures:
        facts = signer_facts([signature], None)
        if facts.signers and facts.signers[0].chain:
            signer = facts.signers[0]
            return _Signed(signer.chain, signer.common_name, ecdsa_only(signatures))
    return None


def _file_version(record: Mapping[str, Any]) -> FileVersion | None:
    text = record.get("fixed_file_version")
    try:
        return FileVersion.parse(text)
    except PolicyError:
        return None


def _original_filename(record: Mapping[str, Any]) -> str | None:
    strings = record.get("version_strings")
    value = strings.get(FileAttribute.ORIGINAL_FILENAME.resource_name) if strings else None
    if not isinstance(value, str) or not value or not value.isprintable():
        return None
    return value


def _level_condition(
    level: Level, record: Mapping[str, Any], signed: _Signed | None
) -> tuple[Publisher, FileVersion | None] | str:
    """The publisher condition ``level`` gives the file, without its version bound (folding
    adds the lowest), and the bound; or why the level does not apply."""
    if signed is None:
        return "no valid embedded signature"
    leaf, *issuers = signed.chain
    if level is Level.LEAFCERTIFICATE:
        return Publisher(leaf, Pin.LEAF), None
    if not issuers:
        return "the signature's chain has no issuer certificate to pin"
    # WDAC's PcaCertificate: "the highest available certificate in the provided chain".
    top = issuers[-1]
    if level is Level.PCACERTIFICATE:
        return Publisher(top, Pin.ISSUER), None
    name = signed.common_name
    if name is None or not name.isprintable():
        return "the signer has no common name"
    if level is Level.PUBLISHER:
        return Publisher(top, Pin.ISSUER, name), None
    version = _file_version(record)
    if version is None:
        return "no file version in its version resource"
    if level is Level.SIGNEDVERSION:
        return Publisher(top, Pin.ISSUER, name), version
    original = _original_filename(record)
    if original is None:
        return "no OriginalFilename in its version resource"
    attribute = FileAttribute.ORIGINAL_FILENAME
    return Publisher(top, Pin.ISSUER, name, attribute, original), version


_ID_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _unique_id(base: str, used: set[str]) -> str:
    """``base`` as a rule id (control characters out, at most MAX_ID_BYTES bytes), made
    unique with ``#2``, ``#3``..."""
    base = _ID_UNSAFE.sub("?", base)
    number = 1
    while True:
        suffix = "" if number == 1 else f"#{number}"
        room = MAX_ID_BYTES - len(suffix.encode())
        text = base.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore") + suffix
        if text not in used:
            used.add(text)
            return text
        number += 1


def _publisher_id(level: Level, publisher: Publisher) -> str:
    short = publisher.certificate.tbs_hash[:16]
    if level is Level.FILEPUBLISHER:
        return f"filepublisher:{publisher.common_name}:{publisher.attribute_value}"
    if level in (Level.PUBLISHER, Level.SIGNEDVERSION):
        return f"{level.value}:{publisher.common_name}"
    return f"{level.value}:{short}"


@dataclass
class _Folded:
    """Files that share one publisher condition (its version bound aside)."""

    level: Level
    publisher: Publisher
    version: FileVersion | None
    names: list[str]


def _catalog_comment(record: Mapping[str, Any]) -> str | None:
    """``catalog-signed: X.cat by SIGNER`` for a file a catalog lists, else None."""
    catalog = record.get("catalog")
    if not isinstance(catalog, Mapping) or not isinstance(catalog.get("path"), str):
        return None
    signature = catalog.get("signature")
    chain = signature.get("chain") if isinstance(signature, Mapping) else None
    who = "an unknown signer"
    if isinstance(chain, list) and chain and isinstance(chain[0], Mapping):
        subject = chain[0].get("subject")
        if isinstance(subject, str):
            who = _common_name(subject) or subject
    status = signature.get("status") if isinstance(signature, Mapping) else None
    if status != "valid":
        who += f" (signature {status})"
    return f"catalog-signed: {_basename(str(catalog['path']))} by {who}"


def _common_name(subject: str) -> str | None:
    match = re.match(r"CN=((?:[^,\\]|\\.)*)", subject)
    return match.group(1).replace("\\", "") if match else None


def _publisher_rules(groups: list[_Folded], used: set[str]) -> list[Rule]:
    """One allow rule per group; a group whose rule another's covers (a filepublisher rule
    under a publisher rule written for another file of the same signer) joins that one."""
    made = [
        PublisherRule.of("x", Action.ALLOW, dataclasses.replace(g.publisher, min_version=g.version))
        for g in groups
    ]
    into = list(range(len(groups)))
    for n, rule in enumerate(made):
        for m, other in enumerate(made):
            if (
                m != n
                and publisher_covers(other, rule)
                and not (m > n and publisher_covers(rule, other))
            ):
                into[n] = m
                break
    for n in range(len(groups)):
        target = n
        while into[target] != target:  # follow to a rule nothing covers (no cycles: see above)
            target = into[target]
        if target != n:
            groups[target].names.extend(groups[n].names)
    rules: list[Rule] = []
    for n, group in enumerate(groups):
        if into[n] != n:
            continue
        publisher = made[n].condition
        first, *others = group.names
        rules.append(
            PublisherRule.of(
                _unique_id(_publisher_id(group.level, publisher), used),
                Action.ALLOW,
                publisher,
                name=first,
                comment=_also(others),
            )
        )
    return rules


def policy_from_scan(
    records: Iterable[Mapping[str, Any] | ScanRecord | FileHashes],
    *,
    name: str,
    level: Level = Level.HASH,
    fallback: Sequence[Level] = (),
    version: int = 1,
    mode: Mode = Mode.ENFORCE,
    path_rule_folders: Sequence[str] = (),
    variables: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Policy, list[Mapping[str, Any]], list[str]]:
    """An allow-list of scanned files at WDAC's rule levels (``New-CIPolicy -Level -Fallback``).

    Each file gets the first of ``level``, then ``fallback``, that applies to it:

    - the publisher levels need a valid embedded signature (the first in the record's
      order) whose chain has TBS hashes; all but ``leafcertificate`` an issuer above the
      signer (the pin is the highest certificate of the embedded chain); ``publisher``,
      ``signedversion`` and ``filepublisher`` the signer's common name;
      ``signedversion`` a file version, ``filepublisher`` also OriginalFilename;
    - ``hash`` always applies (what :func:`policy_from_hashes` writes);
    - ``path`` needs the file's Windows path (``scan --as``): one path rule per path.

    Files that share a publisher condition get one rule; its ``min_version`` is the
    lowest of their versions (the WDAC wizard's "this version or later"). A file no level
    applies to and that a catalog lists (``scan --catalogs``) gets a hash rule whose
    comment names the catalog and its signer (the driver verifies embedded signatures
    only); any other such file is returned with the records that got no rule, its
    ``error`` saying why. Files under ``path_rule_folders`` are allowed by those folders'
    rules, as :func:`policy_from_hashes` does. The default level, ``hash``, writes exactly
    what :func:`policy_from_hashes` writes.

    Returns the policy, the records that got no rule, and notes for the user (files signed
    with ECDSA only: WDAC refuses signer rules for them).
    """
    rows = [_as_mapping(r) for r in records]
    levels = list(dict.fromkeys([level, *fallback]))
    if levels == [Level.HASH]:
        hashed_only, unhashed = policy_from_hashes(
            rows,
            name=name,
            version=version,
            mode=mode,
            path_rule_folders=path_rule_folders,
            variables=variables,
        )
        return hashed_only, unhashed, []
    if variables is None:
        variables = _image_variables(rows)
    folders = _folders(path_rule_folders, variables)
    base = _common_folder(rows)
    to_hash: list[Mapping[str, Any]] = []
    catalog_comments: dict[str, str] = {}
    folded: dict[tuple[Level, tuple[Any, ...]], _Folded] = {}
    path_rules: dict[str, list[str]] = {}
    skipped: list[Mapping[str, Any]] = []
    notes: list[str] = []
    for record in rows:
        windows_paths = record_windows_paths(record)
        inside = [_folder_of(p, folders) for p in windows_paths]
        if (
            record.get("error") is not None
            or record.get("sha256") == _EMPTY_SHA256
            or (folders and windows_paths and all(f is not None for f in inside))
        ):
            to_hash.append(record)  # errors, empty files and folder rules as from-hashes
            continue
        label = _text(
            windows_paths[0] if windows_paths else _relative(str(record.get("path")), base)
        )
        signed = _signed(record)
        why: list[str] = []
        placed = False
        for candidate in levels:
            if candidate is Level.HASH:
                to_hash.append(record)
                placed = True
                break
            if candidate is Level.PATH:
                if not windows_paths:
                    why.append("path: no windows_path (scan with --as)")
                    continue
                for windows_path in windows_paths:
                    path_rules.setdefault(windows_path, []).append(label)
                placed = True
                break
            found = _level_condition(candidate, record, signed)
            if isinstance(found, str):
                why.append(f"{candidate}: {found}")
                continue
            publisher, file_version = found
            # Keyed as the blob compares (an attribute value without case): one rule for
            # VCRUNTIME140.DLL and vcruntime140.dll.
            key = (candidate, publisher.sort_key())
            group = folded.get(key)
            if group is None:
                folded[key] = _Folded(candidate, publisher, file_version, [label])
            else:
                if file_version is not None and (
                    group.version is None or file_version < group.version
                ):
                    group.version = file_version
                group.names.append(label)
            if signed is not None and signed.ecdsa_only:
                notes.append(f"{label}: {ECDSA_NOTE}")
            placed = True
            break
        if placed:
            continue
        comment = _catalog_comment(record)
        if comment is not None and signed is None:
            to_hash.append(record)
            digest = record.get("authenticode_sha256") or record.get("sha256")
            catalog_comments[str(digest).lower()] = comment
            continue
        skipped.append({**record, "error": "no level applies: " + "; ".join(why)})

    hashed, hash_skipped = policy_from_hashes(
        to_hash,
        name=name,
        version=version,
        mode=mode,
        path_rule_folders=path_rule_folders,
        variables=variables,
    )
    rules: list[Rule] = []
    for hashed_rule in hashed.rules:
        comment = (
            catalog_comments.get(hashed_rule.value) if isinstance(hashed_rule, HashRule) else None
        )
        if comment is None:
            rules.append(hashed_rule)
        else:
            also = f"; {hashed_rule.comment}" if hashed_rule.comment else ""
            rules.append(dataclasses.replace(hashed_rule, comment=comment + also))
    used = {rule.id for rule in rules}
    rules.extend(_publisher_rules(list(folded.values()), used))
    for windows_path, names in path_rules.items():
        rules.append(
            PathRule(
                action=Action.ALLOW,
                value=windows_path,
                explicit_id=_unique_id(f"path:{windows_path}", used),
                name=_basename(windows_path),
                comment=_also(names[1:]),
            )
        )
    policy = CheckedPolicy(
        name=name, version=version, mode=mode, rules=tuple(canonical_order(rules))
    )
    return policy, [*hash_skipped, *skipped], list(dict.fromkeys(notes))
