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

Every distinct program (kind and digest) is one allow rule, however many
events name it, named after the file and with the events and paths in its
comment. Fields are found by name, never by position; every value is
treated as untrusted text.
"""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from defusedxml.ElementTree import fromstring as defused_fromstring

from ..errors import InteropError
from ..fileio import open_regular_file
from ..policy import Mode, Policy
from ..rules import Action, AuthenticodeRule, FileHashRule, HashRule, RuleKind
from .build import RuleCollector
from .report import Finding, Severity
from .xmlstream import iter_xml

EVTX_MAGIC = b"ElfFile\x00"
"""The first bytes of an ``.evtx`` file."""

__all__ = [
    "APPLOCKER_EVENTS",
    "CODE_INTEGRITY_EVENTS",
    "EVTX_MAGIC",
    "EventsResult",
    "SeenProgram",
    "rules_from_events",
]

CODE_INTEGRITY_EVENTS = {"3076": "audit", "3077": "block"}
APPLOCKER_EVENTS = {"8003": "audit", "8004": "block"}
_HEX64 = re.compile(r"(?:0x)?([0-9A-Fa-f]{64})")
_MAX_PATHS = 5


@dataclass
class SeenProgram:
    """One program the events name: the rule it becomes and what was seen of it."""

    kind: RuleKind
    digest: str
    name: str
    events: Counter[str] = field(default_factory=Counter)
    paths: list[str] = field(default_factory=list)
    more_paths: int = 0

    def comment(self) -> str:
        counts = ", ".join(f"{event} x{n}" for event, n in sorted(self.events.items()))
        paths = "; ".join(self.paths)
        more = f" (and {self.more_paths} more)" if self.more_paths else ""
        return f"from events: {counts}; {paths}{more}".strip("; ")


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


def _event_id(element: ET.Element) -> str:
    """``System/EventID``."""
    event_id = ""
    for child in element:
        if child.tag.rpartition("}")[2] != "System":
            continue
        for item in child:
            tag = item.tag.rpartition("}")[2]
            if tag == "EventID":
                event_id = (item.text or "").strip()
    return event_id


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


def _events(source: str, out: RuleCollector) -> Iterator[tuple[str, ET.Element]]:
    with open_regular_file(source, "event log") as f:
        magic = f.read(len(EVTX_MAGIC))
    return _evtx_events(source, out) if magic == EVTX_MAGIC else _xml_events(source)


def rules_from_events(
    paths: Iterable[str | os.PathLike[str]],
    *,
    name: str = "from-events",
    version: int = 1,
    mode: Mode = Mode.ENFORCE,
) -> EventsResult:
    """Allow rules for every program the events name; :class:`InteropError` for a file
    that is not event XML (or an ``.evtx`` log) at all."""
    programs: dict[tuple[RuleKind, str], SeenProgram] = {}
    counts: Counter[str] = Counter()
    out = RuleCollector()
    for path in paths:
        for where, element in _events(os.fspath(path), out):
            _take_event(element, where, programs, counts, out)
    for program in programs.values():
        cls: type[HashRule] = (
            AuthenticodeRule if program.kind is RuleKind.AUTHENTICODE_SHA256 else FileHashRule
        )
        out.add(
            cls(
                action=Action.ALLOW,
                value=program.digest,
                name=program.name[:256],
                comment=program.comment(),
            ),
            "events",
        )
    policy = out.finish(name, version, mode)
    return EventsResult(
        policy,
        tuple(programs.values()),
        dict(counts),
        tuple(f for f in out.findings if f.severity is not Severity.ERROR or policy is None),
    )


def _take_event(
    element: ET.Element,
    where: str,
    programs: dict[tuple[RuleKind, str], SeenProgram],
    counts: Counter[str],
    out: RuleCollector,
) -> None:
    """Count one event and, when it names a program by its hash, note the program."""
    event_id = _event_id(element)
    counts[event_id] += 1
    if event_id not in CODE_INTEGRITY_EVENTS and event_id not in APPLOCKER_EVENTS:
        return
    fields = _fields(element)
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
            return
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
        return
    key = (kind, digest)
    program = programs.get(key)
    if program is None:
        program = programs[key] = SeenProgram(kind, digest, _basename(file_path))
    program.events[event_id] += 1
    if file_path and file_path not in program.paths:
        if len(program.paths) < _MAX_PATHS:
            program.paths.append(file_path)
        else:
            program.more_paths += 1
