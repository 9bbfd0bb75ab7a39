"""Whole-image answers from scan records: what a blob would deny, and what changed.

:func:`decide_file` is the driver's staged decision for one file, given what
the caller knows of it; ``exewhitelist check`` uses it for files it hashes
and :func:`decide_records` for the records of ``exewhitelist scan``, which
carry the digests and Windows paths already: no file is read.
:func:`diff_scans` compares two scans of an image (before and after an
update) file by file.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .blob._format import HASH_SECTIONS, Decided
from .blob.read import Blob, BlobDecision
from .blob.signerjson import signer_facts_to_json
from .policy import DEFAULT_VARIABLES, Decision, Policy, Query, RuleKind, decide
from .rules import Need, PathRule, PublisherRule, Signer, SignerFacts, signer_facts
from .signatures import Certificate, Signature, SignatureStatus
from .staging import Fact, Facts, Reason, Verdict, decide_staged, policy_uses
from .versioninfo import VersionInfo
from .winpath import record_paths, record_windows_paths

__all__ = [
    "ECDSA_NOTE",
    "FileChange",
    "FileVerdict",
    "PolicyDecider",
    "ScanDiff",
    "decide_file",
    "decide_records",
    "diff_scans",
    "ecdsa_only",
    "record_signatures",
    "record_signer_facts",
    "signer_facts_json",
    "signers",
]

ECDSA_NOTE = (
    "signed with ECDSA keys only: WDAC does not accept ECDSA signer rules (App Control "
    "refuses them, VerificationError 23), so on Windows only a hash rule would allow it"
)
"""What ``check`` and ``policy from-scan`` say of a file all of whose valid signatures
have an ECDSA signer (``../shared/reference/signers.md`` §4, §7)."""


def ecdsa_only(signatures: Iterable[Signature] | None) -> bool:
    """The file has valid signatures and every one's signer key is an elliptic-curve key."""
    valid = [s for s in signatures or () if s.valid and s.chain]
    return bool(valid) and all(s.chain[0].key.startswith("ec") for s in valid)


def _ecdsa_only_record(record: Mapping[str, Any]) -> bool:
    """:func:`ecdsa_only` on a record's signature records, without parsing them."""
    raw = record.get("signatures")
    if not raw or not isinstance(raw, list):
        return False
    found = False
    for item in raw:
        if isinstance(item, Mapping) and item.get("status") == "valid":
            chain = item.get("chain")
            if isinstance(chain, list) and chain and isinstance(chain[0], Mapping):
                if not str(chain[0].get("key", "")).startswith("ec"):
                    return False
                found = True
    return found


def record_signatures(record: Mapping[str, Any]) -> list[Signature] | None:
    """The embedded signatures a scan (or ``hash --json``) record holds; None when it was
    made without reading them, or holds something that is not a signature record."""
    raw = record.get("signatures")
    if not isinstance(raw, list):
        return None
    try:
        return [Signature.from_json(item) for item in raw]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def record_signer_facts(record: Mapping[str, Any]) -> SignerFacts | None:
    """The signer facts of a scanned file, from its record: its valid embedded signatures
    (``signatures``) and version resource (``version_strings``, ``fixed_file_version``).
    None when the scan did not read signatures (``--no-signatures``): not known."""
    raw = record.get("signatures")
    if not isinstance(raw, list):
        return None
    key = _signers_key(raw)
    if key is None:
        return None
    strings = record.get("version_strings")
    fixed = record.get("fixed_file_version")
    version = VersionInfo.from_json(
        strings if isinstance(strings, dict) else None, fixed if isinstance(fixed, str) else None
    )
    own = signer_facts((), version)
    return SignerFacts(_signers_of(key), own.attributes, own.version)


_SignersKey = tuple[tuple[str, tuple[tuple[Any, Any, str], ...]], ...]


def _signers_key(raw: list[Any]) -> _SignersKey | None:
    """What signer facts take of a record's signature records (status, and each certificate's
    TBS hash and subject), or None when they are not signature records."""
    key = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("chain"), list):
            return None
        chain = []
        for cert in item["chain"]:
            if not isinstance(cert, Mapping) or not isinstance(cert.get("subject"), str):
                return None
            chain.append((cert.get("tbs_algorithm"), cert.get("tbs_hash"), cert["subject"]))
        key.append((str(item.get("status")), tuple(chain)))
    return tuple(key)


@functools.lru_cache(maxsize=4096)
def _signers_of(key: _SignersKey) -> tuple[Signer, ...]:
    """The valid signers of signature records, by :func:`~exewhitelist.rules.signer_facts`
    itself. Cached: parsing a subject for its common name costs ~0.2 ms, and the files of
    an image share a few signers."""
    signatures = []
    for status, chain in key:
        if status != SignatureStatus.VALID.value:
            continue
        certificates = tuple(
            Certificate(subject, "", "", "", "", "", "", tbs_hash, tbs_algorithm, "")
            for tbs_algorithm, tbs_hash, subject in chain
        )
        signatures.append(
            Signature(SignatureStatus.VALID, "", 0, 0, None, None, None, None, certificates, False)
        )
    return signer_facts(signatures, None).signers


def signer_facts_json(facts: SignerFacts | None) -> dict[str, Any] | None:
    """The signer facts a decision used, as ``check --json`` prints them."""
    return None if facts is None else signer_facts_to_json(facts, every_key=True)


_HASH_DECIDED = {
    (kind, action): Decided(section) for section, (kind, action) in HASH_SECTIONS.items()
}


def _blob_like(decision: Decision) -> BlobDecision:
    rule = decision.rule
    if rule is None:
        decided_by = Decided.DEFAULT_DENY
    elif isinstance(rule, PathRule):
        decided_by = Decided.PATH
    elif isinstance(rule, PublisherRule):
        decided_by = Decided.PUBLISHER
    else:
        decided_by = _HASH_DECIDED[rule.kind.value, rule.action.value]
    rule_id = rule.id if rule is not None else None
    return BlobDecision(decision.action, decided_by, -1, rule_id, decision.enforced)


class PolicyDecider:
    """A policy (the model) behind the blob's decision interface: ``check`` on a policy file,
    without compiling it. Decisions name the rule by id (``index`` is -1)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.mode = policy.mode
        self.uses = policy_uses(policy.rules)

    def decide_staged(
        self, facts: Facts, variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES
    ) -> Verdict[BlobDecision]:
        verdict = decide_staged(self.policy, facts, variables)
        decision = _blob_like(verdict.decision) if verdict.decision is not None else None
        return Verdict(verdict.next, decision, verdict.depends, verdict.reason)

    def decide(
        self,
        *,
        path: str | None = None,
        authenticode_sha256: str | None = None,
        file_sha256: str | None = None,
        signer_facts: SignerFacts | None = None,
        variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES,
    ) -> BlobDecision:
        query = Query(path, authenticode_sha256, file_sha256, signer_facts)
        return _blob_like(decide(self.policy, query, variables))


def decide_file(
    blob: Blob | PolicyDecider,
    variables: Mapping[str, Sequence[str]],
    windows_path: str | None,
    authenticode_sha256: str | None,
    file_sha256: str | None,
    *,
    no_path: bool = False,
    no_hash: bool = False,
    signer: SignerFacts | None = None,
) -> tuple[BlobDecision, Reason, bool]:
    """The staged decision on what the caller knows of a file.

    Returns the decision, its reason and whether the path rules were checked.
    ``no_path`` and ``no_hash`` are the driver's failures to get an input.
    Both inputs are given at once: the staged decision asks only for what it
    needs, in the driver's order, so knowing an input early never changes
    its answer (``docs/policy.md``, "The staged decision"), and one call
    decides (a whole-image check makes ~10^5 of them). Without a Windows path
    (and without ``no_path``) there is no path to give: when the decision
    needs one, the digests and signers decide alone, as if no path rule
    matched. ``signer`` is the file's signer facts (its valid embedded
    signatures and version resource, :func:`~exewhitelist.rules.signer_facts`);
    None, or ``no_hash`` (a file the driver cannot read it cannot verify
    either), is the driver's failure to get them.
    """
    if (
        not (no_path or no_hash)
        and windows_path is not None
        and (signer is not None or Need.SIGNER not in blob.uses)
    ):
        # Every input the policy tests is known: the staged decision is the plain one
        # (docs/policy.md, "The staged decision"), without the staging's bookkeeping.
        plain = blob.decide(
            path=windows_path,
            authenticode_sha256=authenticode_sha256,
            file_sha256=file_sha256,
            signer_facts=signer,
            variables=variables,
        )
        return plain, Reason.RULE, True
    if no_path:
        path_state, path = Fact.MISSING, None
    elif windows_path is not None:
        path_state, path = Fact.KNOWN, windows_path
    else:
        path_state, path = Fact.UNKNOWN, None
    if no_hash:
        facts = Facts(path_state, path, Fact.MISSING, signer_state=Fact.MISSING)
    else:
        facts = Facts(
            path_state,
            path,
            Fact.KNOWN,
            authenticode_sha256,
            file_sha256,
            Fact.MISSING if signer is None else Fact.KNOWN,
            signer,
        )
    verdict = blob.decide_staged(facts, variables)
    if verdict.decision is not None:
        return verdict.decision, verdict.reason, True
    # It needs the path, which is not known: the other inputs decide as if no path rule
    # matched (a file the driver cannot read has no signers either).
    unchecked = blob.decide(
        authenticode_sha256=authenticode_sha256,
        file_sha256=file_sha256,
        signer_facts=None if no_hash else signer,
        variables=variables,
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
    signer_facts: SignerFacts | None = None
    """The signer facts the decision used (None: the record has none, or the policy tests
    no signer)."""
    notes: tuple[str, ...] = ()
    """What a reader should know about the file (:data:`ECDSA_NOTE`)."""

    def to_json(self) -> dict[str, Any]:
        """The verdict as ``check --json`` prints it (a record with an error: its path and
        error only)."""
        decision = self.decision
        if decision is None:
            return {"path": self.path, "windows_path": self.windows_path, "error": self.error}
        return {
            "path": self.path,
            "windows_path": self.windows_path,
            "decision": decision.action.value,
            "enforced": decision.enforced,
            "rule": decision.rule_id,
            "decided_by": _DECIDED_BY.get(decision.decided_by),
            "reason": self.reason.name.lower(),
            "path_checked": self.path_checked,
            "authenticode_sha256": self.authenticode_sha256,
            "sha256": self.sha256,
            "signer_facts": signer_facts_json(self.signer_facts),
            "notes": list(self.notes),
        }


_DECIDED_BY = {
    **{Decided(section): kind for section, (kind, _) in HASH_SECTIONS.items()},
    Decided.PATH: RuleKind.PATH.value,
    Decided.PUBLISHER: RuleKind.PUBLISHER.value,
}
"""The kind of rule a decision names, as its JSON says (None: the default deny)."""


def decide_records(
    blob: Blob | PolicyDecider,
    records: Iterable[Mapping[str, Any]],
    variables: Mapping[str, Sequence[str]],
) -> Iterator[FileVerdict]:
    """Each scan record decided from its recorded digests and Windows paths, without reading
    the file: one verdict per hard link (a file is run by any of its names), one for a
    record with ``error``."""
    needs_signer = Need.SIGNER in blob.uses
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
        # Signer facts cost a parse of every signature record: only for a policy that tests
        # signers (a whole image is ~10^5 records).
        signer = record_signer_facts(record) if needs_signer else None
        notes = (ECDSA_NOTE,) if _ecdsa_only_record(record) else ()
        windows_path = record.get("windows_path")
        windows_paths: Sequence[str | None] = (
            # One link (the usual case): no mapping of the others to work out.
            (windows_path,)
            if len(paths) == 1 and isinstance(windows_path, str)
            else record_windows_paths(record) or (None,)
        )
        for number, windows_path in enumerate(windows_paths):
            decision, reason, checked = decide_file(
                blob, variables, windows_path, auth, flat, signer=signer
            )
            local = paths[number] if number < len(paths) else paths[0]
            yield FileVerdict(
                local, windows_path, decision, reason, checked, None, auth, flat, signer, notes
            )


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
