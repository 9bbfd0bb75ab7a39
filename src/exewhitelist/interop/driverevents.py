"""The driver's own ETW events (``Exewhitelist.Driver``, docs/driver.md "ETW") as event XML.

The driver writes TraceLogging events: every event has id 0 and is known by its
name. Windows gives them as the same ``<Event>`` XML as the other logs:

- ``Get-WinEvent -Path trace.etl -Oldest | % { $_.ToXml() }`` and
  ``wevtutil qe trace.etl /lf:true /f:xml``: ``System/Provider/@Name`` (or
  ``@Guid``), ``System/Keywords``, the fields as ``EventData/Data Name=...``;
  the event name is not always there;
- ``tracerpt trace.etl -of XML -o out.xml``: the same events inside an
  ``<Events>`` root, with ``RenderingInfo`` (``Task``: for TraceLogging, the
  event name).

So an event is recognised by its provider, and which event it is comes from
its name where the XML has one, else from its keyword (each deny event has its
own, docs/driver.md), else from its fields (``ProcessImage`` only in image
loads, ``Enforced``). Every value is untrusted text: a missing or garbled field
is a finding, never an exception.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..rules import RuleKind

__all__ = [
    "DEFAULT_DENY",
    "DENY_EVENTS",
    "OTHER_EVENTS",
    "PROVIDER_GUID",
    "PROVIDER_NAME",
    "REASONS",
    "DriverDeny",
    "DriverEvent",
    "driver_event",
    "is_ours",
]

PROVIDER_NAME = "Exewhitelist.Driver"
PROVIDER_GUID = "802e0a3b-957f-5966-611b-a854b67e7775"
"""The ETW name hash of :data:`PROVIDER_NAME` (driver/kernel/etw.c)."""

DENY_EVENTS: dict[str, tuple[int, bool, bool]] = {
    "ProcessDenied": (0x1, False, True),
    "ProcessAuditDenied": (0x2, False, False),
    "ImageLoadDenied": (0x8, True, True),
    "ImageLoadAuditDenied": (0x10, True, False),
}
"""Deny event name -> (keyword, image load, enforced)."""
OTHER_EVENTS = ("PolicyLoaded", "PolicyRejected")
_BY_KEYWORD = {keyword: name for name, (keyword, _, _) in DENY_EVENTS.items()}
_KEYWORD_MASK = 0x1F
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KINDS = {"authenticode": RuleKind.AUTHENTICODE_SHA256, "file": RuleKind.FILE_SHA256}
DEFAULT_DENY = "(default deny)"
REASONS = ("rule", "no_hash", "no_path", "image_changed")


@dataclass(frozen=True, slots=True)
class DriverDeny:
    """A deny or audit-deny event, reduced to what a rule or a report needs."""

    name: str
    image_load: bool
    enforced: bool
    path: str
    kind: RuleKind | None
    """None: no digest in the event."""
    digest: str
    reason: str
    rule_id: str
    statuses: str
    """``PathStatus`` / ``HashStatus`` as the event gave them, for the report."""


@dataclass(frozen=True, slots=True)
class DriverEvent:
    """One of our events: its name, the deny it reports (None for the others), or why it
    cannot be read (``problem``)."""

    name: str
    deny: DriverDeny | None = None
    problem: str = ""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def is_ours(element: ET.Element) -> bool:
    """Whether ``System/Provider`` names our provider (by name or GUID)."""
    system = _child(element, "System")
    provider = _child(system, "Provider") if system is not None else None
    if provider is None:
        return False
    name = provider.get("Name", "").strip()
    guid = provider.get("Guid", "").strip().strip("{}").lower()
    return name.lower() == PROVIDER_NAME.lower() or guid == PROVIDER_GUID


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _named(element: ET.Element, fields: dict[str, str]) -> tuple[str, str]:
    """The event's name and how it was found ("" when nothing says)."""
    system = _child(element, "System")
    rendering = _child(element, "RenderingInfo")
    for source, text in (
        ("EventName", _text(_child(system, "EventName")) if system is not None else ""),
        ("RenderingInfo/Task", _text(_child(rendering, "Task")) if rendering is not None else ""),
        (
            "RenderingInfo/EventName",
            _text(_child(rendering, "EventName")) if rendering is not None else "",
        ),
        ("Task", _text(_child(system, "Task")) if system is not None else ""),
    ):
        if text in DENY_EVENTS or text in OTHER_EVENTS:
            return text, source
    keywords = _text(_child(system, "Keywords")) if system is not None else ""
    try:
        keyword = int(keywords, 16 if keywords.lower().startswith("0x") else 10) & _KEYWORD_MASK
    except ValueError:
        keyword = 0
    if keyword in _BY_KEYWORD:
        return _BY_KEYWORD[keyword], "Keywords"
    if "Sha256" in fields and "ImagePath" in fields:
        image_load = "ProcessImage" in fields or "CriticalProcess" in fields
        enforced = _bool(fields.get("Enforced", ""))
        if enforced is not None:
            for name, (_, load, enf) in DENY_EVENTS.items():
                if (load, enf) == (image_load, enforced):
                    return name, "fields"
    if "BlobSize" in fields:
        return "PolicyLoaded", "fields"
    if "BlobCheck" in fields:
        return "PolicyRejected", "fields"
    return "", ""


def _bool(text: str) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower())


def driver_event(element: ET.Element, fields: dict[str, str]) -> DriverEvent:
    """Our event's name and, for a deny, what it says (``fields``: its data by name)."""
    name, source = _named(element, fields)
    if not name:
        return DriverEvent(
            "(unknown)", problem="an event of ours that no name, keyword or field set identifies"
        )
    if name not in DENY_EVENTS:
        return DriverEvent(name)
    _, image_load, enforced = DENY_EVENTS[name]
    missing = [
        f for f in ("ImagePath", "Sha256", "Sha256Kind", "Reason", "RuleId") if f not in fields
    ]
    if missing:
        return DriverEvent(name, problem=f"field(s) missing: {', '.join(missing)}")
    said = _bool(fields.get("Enforced", str(enforced)))
    if said is None:
        return DriverEvent(name, problem=f"Enforced {fields['Enforced'][:20]!r} is not a boolean")
    if said is not enforced:
        return DriverEvent(name, problem=f"Enforced {said} contradicts the event ({source})")
    path = fields["ImagePath"]
    digest = fields["Sha256"].lower()
    kind_text = fields["Sha256Kind"].lower()
    kind: RuleKind | None = None
    if digest or kind_text:
        if not _HEX64.fullmatch(digest) or set(digest) == {"0"}:
            return DriverEvent(name, problem=f"Sha256 {fields['Sha256'][:80]!r} is not a digest")
        kind = _KINDS.get(kind_text)
        if kind is None:
            return DriverEvent(
                name, problem=f"Sha256Kind {fields['Sha256Kind'][:40]!r}: want authenticode or file"
            )
    reason = fields["Reason"]
    if reason not in REASONS:
        return DriverEvent(name, problem=f"Reason {reason[:40]!r} is not one the driver writes")
    statuses = (
        f"PathStatus {fields.get('PathStatus', '?')[:12]}, "
        f"HashStatus {fields.get('HashStatus', '?')[:12]}"
    )
    return DriverEvent(
        name,
        DriverDeny(
            name,
            image_load,
            enforced,
            path,
            kind,
            digest if kind else "",
            reason,
            fields["RuleId"],
            statuses,
        ),
    )
