"""Whole-image answers from scan records: what a blob would deny, and what changed.

:func:`decide_file` is the driver's staged decision for one file, given what
the caller knows of it; ``exewhitelist check`` uses it for files it hashes
and :func:`decide_records` for the records of ``exewhitelist scan``, which
carry the digests and Windows paths already: no file is read.
:func:`diff_scans` compares two scans of an image (before and after an
update) file by file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .blob.read import Blob, BlobDecision
from .staging import Fact, Facts, Reason
from .winpath import record_paths, record_windows_paths

__all__ = [
    "FileChange",
    "FileVerdict",
    "ScanDiff",
    "decide_file",
    "decide_records",
    "diff_scans",
    "signers",
]


def decide_file(
    blob: Blob,
    variables: Mapping[str, Sequence[str]],
    windows_path: str | None,
    authenticode_sha256: str | None,
    file_sha256: str | None,
    *,
    no_path: bool = False,
    no_hash: bool = False,
) -> tuple[BlobDecision, Reason, bool]:
    """The staged decision on what the caller knows of a file.

    Returns the decision, its reason and whether the path rules were checked.
    ``no_path`` and ``no_hash`` are the driver's failures to get an input.
    Both inputs are given at once: the staged decision asks only for what it
    needs, in the driver's order, so knowing an input early never changes
    its answer (``docs/policy.md``, "The staged decision"), and one call
    decides (a whole-image check makes ~10^5 of them). Without a Windows path
    (and without ``no_path``) there is no path to give: when the decision
    needs one, the digests decide alone, as if no path rule matched.
    """
    if no_path:
        path_state, path = Fact.MISSING, None
    elif windows_path is not None:
        path_state, path = Fact.KNOWN, windows_path
    else:
        path_state, path = Fact.UNKNOWN, None
    if no_hash:
        facts = Facts(path_state, path, Fact.MISSING)
    else:
        facts = Facts(path_state, path, Fact.KNOWN, authenticode_sha256, file_sha256)
    verdict = blob.decide_staged(facts, variables)
    if verdict.decision is not None:
        return verdict.decision, verdict.reason, True
    # It needs the path, which is not known.
    unchecked = blob.decide(
        authenticode_sha256=authenticode_sha256, file_sha256=file_sha256, variables=variables
    )
    return unchecked, Reason.RULE, False


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """The decision on one scanned file at one of its Windows paths (or on its error)."""

    path: str
    """The file's path in the scan (the hard link whose Windows path this is)."""
    windows_path: str | None
    decision: BlobDecision | None
    """None for a record with ``error``: its digests are not known."""
    reason: Reason
    path_checked: bool
    error: str | None
    authenticode_sha256: str | None
    sha256: str | None


def decide_records(
    blob: Blob, records: Iterable[Mapping[str, Any]], variables: Mapping[str, Sequence[str]]
) -> Iterator[FileVerdict]:
    """Each scan record decided from its recorded digests and Windows paths, without reading
    the file: one verdict per hard link (a file is run by any of its names), one for a
    record with ``error``."""
    for record in records:
        paths = record_paths(record) or [""]
        auth, flat = record.get("authenticode_sha256"), record.get("sha256")
        error = record.get("error")
        if error is not None or not isinstance(flat, str):
            yield FileVerdict(
                paths[0], record.get("windows_path"), None, Reason.RULE, False,
                str(error or "not a scan record: no 'sha256'"), None, None,
            )  # fmt: skip
            continue
        auth = auth if isinstance(auth, str) else None
        windows_paths: Sequence[str | None] = record_windows_paths(record) or [None]
        for number, windows_path in enumerate(windows_paths):
            decision, reason, checked = decide_file(blob, variables, windows_path, auth, flat)
            local = paths[number] if number < len(paths) else paths[0]
            yield FileVerdict(local, windows_path, decision, reason, checked, None, auth, flat)


def signers(record: Mapping[str, Any]) -> list[str]:
    """Who signed the file, as ``scan`` recorded it: each signature's (and the catalog's)
    signer, with the signature's status."""
    embedded = [(s, "") for s in record.get("signatures") or []]
    catalog = record.get("catalog")
    if isinstance(catalog, Mapping) and isinstance(catalog.get("signature"), Mapping):
        embedded.append((catalog["signature"], " via catalog"))
    found = []
    for signature, via in embedded:
        chain = signature.get("chain") or [{}]
        who = chain[0].get("publisher") or chain[0].get("subject") or "unknown signer"
        found.append(f"{who} ({signature.get('status')}{via})")
    return found


@dataclass(frozen=True, slots=True)
class FileChange:
    """A file added, removed or changed between two scans; records as scanned."""

    key: str
    """The file's Windows path, or its path when the scans have none."""
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ScanDiff:
    """Files matched by Windows path (or path) and compared by digest, each list by key."""

    added: tuple[FileChange, ...]
    removed: tuple[FileChange, ...]
    changed: tuple[FileChange, ...]
    """Different digests (or an error on one side only), or different signers."""

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _digest(record: Mapping[str, Any]) -> object:
    return (record.get("authenticode_sha256"), record.get("sha256"), record.get("error"))


def _by_key(records: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Each file's record under its key: every hard link is a file of the image."""
    keyed: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for record in records:
        windows_paths = record_windows_paths(record)
        for key in windows_paths or record_paths(record):
            # Windows compares names without case; a POSIX scan keeps them as they are.
            keyed[key.lower() if windows_paths else key] = (key, record)
    return keyed


def diff_scans(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> ScanDiff:
    """What changed from one scan to another, file by file."""
    before, after = _by_key(old), _by_key(new)
    added = [FileChange(key, None, r) for k, (key, r) in after.items() if k not in before]
    removed = [FileChange(key, r, None) for k, (key, r) in before.items() if k not in after]
    changed = []
    for k, (key, record) in after.items():
        if k in before:
            was = before[k][1]
            if _digest(was) != _digest(record) or signers(was) != signers(record):
                changed.append(FileChange(key, was, record))
    return ScanDiff(
        added=tuple(sorted(added, key=lambda c: c.key)),
        removed=tuple(sorted(removed, key=lambda c: c.key)),
        changed=tuple(sorted(changed, key=lambda c: c.key)),
    )
