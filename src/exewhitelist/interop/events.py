"""Audit and block events -> allow rules: the audit-then-enforce loop.

Reads the XML ``wevtutil qe CHANNEL /f:xml`` prints (events one after
another, no root element; UTF-8, or UTF-16 with a BOM as a PowerShell
redirection writes it) or ``Get-WinEvent ... | % ToXml``, and ``.evtx`` logs
through the optional ``evtx`` package (unreadable chunks reported, the rest
used):

- CodeIntegrity 3076 (audit) / 3077 (block): ``SHA256 Hash`` (the
  Authenticode SHA-256) -> an ``authenticode_sha256`` rule, else
  ``SHA256 Flat Hash`` -> a ``file_sha256`` rule;
- AppLocker 8003 (audit) / 8004 (block) of the EXE policy: ``FileHash`` (the
  SHA-256 AppLocker matches: Authenticode for PE files) -> an
  ``authenticode_sha256`` rule; 8004 often has no hash (reported).

- the driver's own ETW events (``Exewhitelist.Driver``, :mod:`.driverevents`), from
  an ``.etl`` converted to XML (``Get-WinEvent -Path x.etl | % ToXml()``,
  ``wevtutil qe x.etl /lf:true /f:xml``, ``tracerpt x.etl -of XML``): a deny or
  audit-deny the default deny decided -> a hash rule of its ``Sha256Kind``; the
  fail-closed ones (no digest to make a rule of) and those a deny rule decided are
  reported. ``tracerpt -of CSV`` and binary ``.etl`` files are refused with a hint.

Every distinct program (kind and digest) is one allow rule, however many
events name it, named after the file and with the events and paths in its
comment. Fields are found by name, never by position; every value is
treated as untrusted text.

With ``level=publisher``, a 3076/3077 event's signature events (3089, joined
by ``System/Correlation/@ActivityID``, before or after it) make a publisher
rule instead: the certificate ``IssuerTBSHash`` names (the highest
certificate of the signer's chain) pinned as issuer, with ``PublisherName``
(the signer's common name); the TBS algorithm follows from the hash's size.
Files signed by one signer fold into one rule. An event with no usable
signature event keeps its hash rule.
"""

from __future__ import annotations

import enum
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from defusedxml.ElementTree import fromstring as defused_fromstring

from ..errors import InteropError, PolicyError
from ..fileio import open_regular_file
from ..policy import Mode, Policy
from ..rules import (
    MAX_ID_BYTES,
    TBS_ALGORITHMS,
    Action,
    AuthenticodeRule,
    CertificateId,
    FileHashRule,
    HashRule,
    Pin,
    Publisher,
    PublisherRule,
    Rule,
    RuleKind,
    id_problem,
)
from .build import RuleCollector
from .driverevents import DEFAULT_DENY, PROVIDER_NAME, driver_event, is_ours
from .report import Finding, Severity
from .xmlstream import iter_xml

EVTX_MAGIC = b"ElfFile\x00"
"""The first bytes of an ``.evtx`` file."""

__all__ = [
    "APPLOCKER_EVENTS",
    "CODE_INTEGRITY_EVENTS",
    "EVTX_MAGIC",
    "SIGNATURE_EVENT",
    "EventsResult",
    "Level",
    "SeenProgram",
    "rules_from_events",
]

CODE_INTEGRITY_EVENTS = {"3076": "audit", "3077": "block"}
SIGNATURE_EVENT = "3089"
"""CodeIntegrity's signature information: one event per signature of the file."""
APPLOCKER_EVENTS = {"8003": "audit", "8004": "block"}
_HEX64 = re.compile(r"(?:0x)?([0-9A-Fa-f]{64})")
_MAX_PATHS = 5
_WINDOW = 4096
"""Block events waiting for their signature events (and signature events for their block
event), by activity: the oldest are decided when more wait, so memory stays bounded."""
_MAX_SIGNATURES = 16
"""Signature events kept per file (a file has one or two signatures, a few with more)."""
_TBS_HEX = re.compile(r"(?:0x)?([0-9A-Fa-f]+)")
_TBS_BY_SIZE = {size: algorithm for algorithm, size in TBS_ALGORITHMS.items()}
_VERIFIED = {"", "0", "21", "26"}
"""3089 ``VerificationError`` values of a signature that verified: 0 (verified), 21 (failed
the policy) and 26 (explicitly denied); the others mean CI could not verify it."""


class Level(str, enum.Enum):
    """What rules events become."""

    HASH = "hash"
    """One hash rule per file."""
    PUBLISHER = "publisher"
    """One publisher rule per signer (from 3089 events), hash rules for the rest."""

    def __str__(self) -> str:
        return self.value


@dataclass
class SeenProgram:
    """One program the events name: the rule it becomes and what was seen of it."""

    kind: RuleKind
    digest: str
    name: str
    events: Counter[str] = field(default_factory=Counter)
    paths: list[str] = field(default_factory=list)
    more_paths: int = 0
    path_events: Counter[str] = field(default_factory=Counter)
    """Events by path, for the paths kept."""
    publisher: Publisher | None = None
    """For a signer (``kind`` publisher; ``digest`` is then the condition's text)."""
    files: set[str] = field(default_factory=set)
    """A signer's files: their digests."""

    def comment(self) -> str:
        counts = ", ".join(f"{event} x{n}" for event, n in sorted(self.events.items()))
        files = f"; {len(self.files)} file(s)" if self.publisher is not None else ""
        paths = "; ".join(
            f"{p} x{self.path_events[p]}" if self.path_events[p] > 1 else p for p in self.paths
        )
        more = f" (and {self.more_paths} more)" if self.more_paths else ""
        return f"from events: {counts}{files}; {paths}{more}".strip("; ")

    def note(self, event_id: str, file_path: str) -> None:
        self.events[event_id] += 1
        self.note_path(file_path)

    def note_path(self, file_path: str, events: int = 1) -> None:
        if file_path and file_path not in self.paths:
            if len(self.paths) < _MAX_PATHS:
                self.paths.append(file_path)
            else:
                self.more_paths += 1
        if file_path in self.paths:
            self.path_events[file_path] += events


@dataclass(frozen=True)
class EventsResult:
    """The rules the events support, what was seen, and what could not become a rule."""

    policy: Policy | None
    programs: tuple[SeenProgram, ...]
    event_counts: dict[str, int]
    """Events read, by event id (those that make no rule too)."""
    findings: tuple[Finding, ...]


def _fields(element: ET.Element) -> dict[str, str]:
    """``EventData/Data Name=...`` and ``UserData/*/*`` as one mapping of name -> text."""
    out: dict[str, str] = {}
    for child in element:
        tag = child.tag.rpartition("}")[2]
        if tag == "EventData":
            for data in child:
                name = data.get("Name")
                if name is not None:
                    out[name] = (data.text or "").strip()
        elif tag == "UserData":
            for record in child:
                for data in record:
                    out[data.tag.rpartition("}")[2]] = (data.text or "").strip()
    return out


def _system(element: ET.Element) -> tuple[str, str]:
    """``System/EventID`` and ``System/Correlation/@ActivityID`` (empty when absent)."""
    event_id = activity = ""
    for child in element:
        if child.tag.rpartition("}")[2] != "System":
            continue
        for item in child:
            tag = item.tag.rpartition("}")[2]
            if tag == "EventID":
                event_id = (item.text or "").strip()
            elif tag == "Correlation":
                activity = item.get("ActivityID", "").strip().lower()
    return event_id, activity


def _digest(text: str | None) -> str | None:
    m = _HEX64.fullmatch(text or "")
    if m is None or set(m.group(1)) == {"0"}:
        return None
    return m.group(1).lower()


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path)[-1] if path else ""


def _xml_events(source: str) -> Iterator[tuple[str, ET.Element]]:
    for item in iter_xml(source, ("Event",), fragments=True):
        if item.element is not None:
            yield f"{source}: line {item.line}", item.element


def _evtx_events(source: str, out: RuleCollector) -> Iterator[tuple[str, ET.Element]]:
    """The records of an ``.evtx`` file through the ``evtx`` package (optional): chunks it
    cannot read are skipped and reported, the readable records are used."""
    try:
        import evtx  # noqa: PLC0415 - optional: pip install 'exewhitelist[evtx]'
    except ImportError:
        raise InteropError(
            f"{source}: an .evtx file: reading it needs the evtx package "
            "(pip install 'exewhitelist[evtx]'), or convert it on Windows with "
            "wevtutil qe FILE /lf:true /f:xml"
        ) from None
    with open_regular_file(source, "event log") as f:
        try:
            records = iter(evtx.PyEvtxParser(f, skip_errors=True).records())
            while True:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    record = next(records, None)
                for warning in caught:
                    out.report(f"{source}", "evtx", f"unreadable part skipped: {warning.message}")
                if record is None:
                    return
                where = f"{source}: record {record.get('event_record_id')}"
                try:
                    element = defused_fromstring(record["data"], forbid_dtd=True)
                except (ET.ParseError, ValueError) as e:
                    out.report(where, "record", f"not XML: {e}")
                    continue
                yield where, element
        except RuntimeError as e:
            raise InteropError(f"{source}: not a readable .evtx file: {e}") from None


_CONVERT = (
    "convert it on Windows: Get-WinEvent -Path FILE -Oldest | % { $_.ToXml() } > events.xml, "
    "or tracerpt FILE -of XML -o events.xml (docs/interop.md §5)"
)


def _not_xml(source: str, head: bytes) -> None:
    """:class:`InteropError` with a hint for the inputs that are known not to be event XML:
    a binary file (an ``.etl`` trace: no well-kept parser reads the driver's) and
    ``tracerpt -of CSV`` output (its values are by position, unnamed)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head[2:].decode("utf-16-le" if head[0] == 0xFF else "utf-16-be", "replace")
    elif b"\0" in head:
        raise InteropError(f"{source}: a binary file, not event XML (an .etl trace?): {_CONVERT}")
    else:
        text = head.decode("utf-8", "replace").removeprefix("\ufeff")
    text = text.lstrip()
    if not text or text.startswith("<"):
        return
    first = text.splitlines()[0]
    if "," in first:
        raise InteropError(
            f"{source}: line 1: CSV, not event XML: tracerpt's CSV (-of CSV) gives the fields "
            f"by position, without their names, and is not read; {_CONVERT}"
        )


def _events(source: str, out: RuleCollector) -> Iterator[tuple[str, ET.Element]]:
    with open_regular_file(source, "event log") as f:
        head = f.read(512)
    if head.startswith(EVTX_MAGIC):
        return _evtx_events(source, out)
    _not_xml(source, head)
    return _xml_events(source)


@dataclass(slots=True)
class _Block:
    """A 3076/3077 event waiting for its signature events."""

    event_id: str
    kind: RuleKind
    digest: str
    file_path: str
    where: str
    signatures: list[_Signature] = field(default_factory=list)
    expected: int | None = None
    """``TotalSignatureCount`` (None until a signature event says)."""
    more: list[str] = field(default_factory=list)
    """The ids of further block events of the same activity and file."""


@dataclass
class _Collector:
    """The programs and signers seen so far, and the events waiting for each other."""

    level: Level
    out: RuleCollector
    programs: dict[tuple[RuleKind, str], SeenProgram] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    pending: OrderedDict[str, _Block] = field(default_factory=OrderedDict)
    early: OrderedDict[str, list[_Signature]] = field(default_factory=OrderedDict)
    unsigned_noted: set[str] = field(default_factory=set)
    driver_noted: bool = False

    def take(self, element: ET.Element, where: str) -> None:
        """Count one event; note the program (or signer) a block event names."""
        if is_ours(element):
            self._take_driver(element, where)
            return
        event_id, activity = _system(element)
        self.counts[event_id] += 1
        if event_id == SIGNATURE_EVENT:
            if self.level is Level.PUBLISHER and activity:
                self._take_signature(activity, _fields(element))
            return
        if event_id not in CODE_INTEGRITY_EVENTS and event_id not in APPLOCKER_EVENTS:
            return
        block = _block(event_id, _fields(element), where, self.out)
        if block is None:
            return
        if self.level is Level.HASH or event_id not in CODE_INTEGRITY_EVENTS:
            self._hash(block)
            return
        if not activity:
            self._decide(block)  # nothing to join its signature events by
            return
        waiting = self.pending.get(activity)
        if waiting is not None:
            if (waiting.kind, waiting.digest) == (block.kind, block.digest):
                waiting.more.append(block.event_id)  # one event per policy that blocked it
                return
            del self.pending[activity]
            self._decide(waiting)
        block.signatures = self.early.pop(activity, [])
        for signature in block.signatures:
            block.expected = signature.count if block.expected is None else block.expected
        self.pending[activity] = block
        self._settle(activity)

    def _take_driver(self, element: ET.Element, where: str) -> None:
        """One of the driver's own events: a deny or audit-deny with a digest, denied by
        the default deny, is a hash rule; the others are counted and reported."""
        event = driver_event(element, _fields(element))
        self.counts[event.name] += 1
        if event.problem:
            self.out.report(
                where, f"{PROVIDER_NAME} event {event.name}", f"{event.problem}: no rule"
            )
            return
        deny = event.deny
        if deny is None:
            return
        label = f"event {deny.name} {deny.path[:200]!r}"
        if deny.reason != "rule":
            self.out.report(
                where,
                label,
                f"a fail-closed deny ({deny.reason}: {deny.rule_id[:120]}; {deny.statuses}): "
                "no rule; a rule would not change it (docs/driver.md)",
            )
            return
        if deny.rule_id != DEFAULT_DENY:
            self.out.report(
                where, label, f"denied by the rule {deny.rule_id[:120]!r}: no allow rule made"
            )
            return
        if deny.kind is None:
            self.out.report(where, label, f"no digest in the event ({deny.statuses}): no rule")
            return
        if self.level is Level.PUBLISHER and not self.driver_noted:
            self.driver_noted = True
            self.out.report(
                where,
                PROVIDER_NAME,
                "the driver's events carry no signer facts yet: hash rules for them "
                "(--level publisher applies to CodeIntegrity events)",
            )
        self._hash(_Block(deny.name, deny.kind, deny.digest, deny.path, where))

    def _take_signature(self, activity: str, fields: dict[str, str]) -> None:
        signature = _signature(fields)
        block = self.pending.get(activity)
        if block is None:
            waiting = self.early.setdefault(activity, [])
            if len(waiting) < _MAX_SIGNATURES:
                waiting.append(signature)
            while len(self.early) > _WINDOW:
                self.early.popitem(last=False)
            return
        if len(block.signatures) < _MAX_SIGNATURES:
            block.signatures.append(signature)
        if block.expected is None:
            block.expected = signature.count
        self._settle(activity)

    def _settle(self, activity: str) -> None:
        block = self.pending[activity]
        if block.expected is not None and len(block.signatures) >= block.expected:
            del self.pending[activity]
            self._decide(block)
        while len(self.pending) > _WINDOW:
            self._decide(self.pending.popitem(last=False)[1])

    def finish(self) -> None:
        while self.pending:
            self._decide(self.pending.popitem(last=False)[1])
        self.early.clear()
        # A file seen once with its signer and once without is the signer's.
        signed = {d: p for p in self.programs.values() if p.publisher is not None for d in p.files}
        for key, program in list(self.programs.items()):
            owner = signed.get(program.digest) if program.publisher is None else None
            if owner is not None:
                owner.events.update(program.events)
                for path in program.paths:
                    owner.note_path(path, program.path_events[path])
                owner.more_paths += program.more_paths
                del self.programs[key]

    def _hash(self, block: _Block) -> None:
        key = (block.kind, block.digest)
        program = self.programs.get(key)
        if program is None:
            program = self.programs[key] = SeenProgram(
                block.kind, block.digest, _basename(block.file_path)
            )
        for event_id in (block.event_id, *block.more):
            program.note(event_id, block.file_path)

    def _decide(self, block: _Block) -> None:
        publisher, reason = _signer(block.signatures)
        if publisher is None:
            if block.digest not in self.unsigned_noted and len(self.unsigned_noted) < 10_000:
                self.unsigned_noted.add(block.digest)
                self.out.report(
                    block.where,
                    f"event {block.event_id} {block.file_path[:200]!r}",
                    f"{reason}: a hash rule",
                )
            self._hash(block)
            return
        key = (RuleKind.PUBLISHER, publisher.text())
        program = self.programs.get(key)
        if program is None:
            program = self.programs[key] = SeenProgram(
                RuleKind.PUBLISHER,
                publisher.text(),
                publisher.common_name or "",
                publisher=publisher,
            )
        program.files.add(block.digest)
        for event_id in (block.event_id, *block.more):
            program.note(event_id, block.file_path)


def _count(fields: dict[str, str]) -> int:
    try:
        return max(0, min(int(fields.get("TotalSignatureCount", "1")[:6]), _MAX_SIGNATURES))
    except ValueError:
        return 1


def _tbs(text: str | None) -> CertificateId | None:
    m = _TBS_HEX.fullmatch(text or "")
    if m is None or len(m.group(1)) % 2 or set(m.group(1)) == {"0"}:
        return None
    algorithm = _TBS_BY_SIZE.get(len(m.group(1)) // 2)
    return CertificateId(algorithm, m.group(1).lower()) if algorithm else None


@dataclass(frozen=True, slots=True)
class _Signature:
    """What one 3089 event says, reduced at once to what a rule needs (a log is untrusted:
    no event's text is kept)."""

    count: int
    """``TotalSignatureCount``."""
    publisher: Publisher | None
    reason: str
    """Why no publisher condition, when there is none."""


def _signature(fields: dict[str, str]) -> _Signature:
    count = _count(fields)
    if count == 0:
        return _Signature(0, None, "unsigned (TotalSignatureCount 0)")
    name, issuer = fields.get("PublisherName", ""), fields.get("IssuerName", "")
    if not name or not issuer or "Unknown" in (name, issuer):
        return _Signature(count, None, "signer Unknown")
    error = fields.get("VerificationError", "")
    if error not in _VERIFIED:
        return _Signature(count, None, f"signature not verified (VerificationError {error[:20]})")
    leaf, top = _tbs(fields.get("PublisherTBSHash")), _tbs(fields.get("IssuerTBSHash"))
    if leaf is None or top is None:
        return _Signature(count, None, "no TBS hash of 20, 32, 48 or 64 bytes")
    # The highest certificate is the signer's own when the signature carries no other:
    # then only a leaf pin can match.
    pin = Pin.LEAF if top == leaf else Pin.ISSUER
    try:
        return _Signature(count, Publisher(top, pin, common_name=name), "")
    except PolicyError as e:
        return _Signature(count, None, f"PublisherName: {e.message[:200]}")


def _signer(signatures: list[_Signature]) -> tuple[Publisher | None, str]:
    """The publisher condition a file's signature events support (its strongest usable
    signature: the longest TBS hash, then the first), or None and why not."""
    if not signatures:
        return None, "no signature event (3089) for it"
    usable = [s.publisher for s in signatures if s.publisher is not None]
    if not usable:
        reasons = sorted({s.reason for s in signatures})
        return None, "no usable signature event (" + ", ".join(reasons) + ")"
    return max(usable, key=lambda p: TBS_ALGORITHMS[p.certificate.algorithm]), ""


def _block(event_id: str, fields: dict[str, str], where: str, out: RuleCollector) -> _Block | None:
    kind: RuleKind
    if event_id in CODE_INTEGRITY_EVENTS:
        file_path = fields.get("File Name", "")
        digest = _digest(fields.get("SHA256 Hash"))
        kind = RuleKind.AUTHENTICODE_SHA256
        if digest is None:
            digest = _digest(fields.get("SHA256 Flat Hash"))
            kind = RuleKind.FILE_SHA256
    else:
        policy_name = fields.get("PolicyName", "")
        file_path = fields.get("FullFilePath") or fields.get("FilePath", "")
        if policy_name != "EXE":
            out.report(
                where,
                f"event {event_id} {policy_name}",
                "only EXE events make rules (DLLs are not enforced yet)",
            )
            return None
        digest = _digest(fields.get("FileHash"))
        kind = RuleKind.AUTHENTICODE_SHA256
    if digest is None:
        out.report(
            where,
            f"event {event_id} {file_path[:200]!r}",
            "no SHA-256 in the "
            "event (AppLocker's 8004 often has none): no rule; hash the file "
            "with exewhitelist hash",
        )
        return None
    return _Block(event_id, kind, digest, file_path, where)


def _publisher_id(publisher: Publisher) -> str:
    cert = publisher.certificate
    text = f"publisher:{publisher.common_name}:{cert.algorithm}:{cert.tbs_hash[:16]}"
    if publisher.pin is Pin.LEAF:
        text += ":leaf"
    if id_problem(text) is not None:
        text = text.encode()[:MAX_ID_BYTES].decode("utf-8", "ignore")
    return text if id_problem(text) is None else f"publisher:{cert.algorithm}:{cert.tbs_hash}"


def rules_from_events(
    paths: Iterable[str | os.PathLike[str]],
    *,
    name: str = "from-events",
    version: int = 1,
    mode: Mode = Mode.ENFORCE,
    level: Level = Level.HASH,
) -> EventsResult:
    """Allow rules for every program the events name; :class:`InteropError` for a file
    that is not event XML (or an ``.evtx`` log) at all."""
    out = RuleCollector()
    seen = _Collector(Level(level), out)
    for path in paths:
        for where, element in _events(os.fspath(path), out):
            seen.take(element, where)
    seen.finish()
    for program in seen.programs.values():
        rule: Rule
        if program.publisher is not None:
            rule = PublisherRule.of(
                _publisher_id(program.publisher),
                Action.ALLOW,
                program.publisher,
                name=program.name[:256],
                comment=program.comment(),
            )
        else:
            cls: type[HashRule] = (
                AuthenticodeRule if program.kind is RuleKind.AUTHENTICODE_SHA256 else FileHashRule
            )
            rule = cls(
                action=Action.ALLOW,
                value=program.digest,
                name=program.name[:256],
                comment=program.comment(),
            )
        out.add(rule, "events")
    policy = out.finish(name, version, mode)
    return EventsResult(
        policy,
        tuple(seen.programs.values()),
        dict(seen.counts),
        tuple(f for f in out.findings if f.severity is not Severity.ERROR or policy is None),
    )
