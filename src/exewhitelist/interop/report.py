"""What an import or an export could not carry over: findings, each with its position."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..policy import Policy

__all__ = ["ExportResult", "Finding", "ForeignFormat", "ImportResult", "Severity"]


class ForeignFormat(str, enum.Enum):
    """The policy formats exewhitelist reads and writes besides its own."""

    APPLOCKER = "applocker"
    WDAC = "wdac"
    SANTA = "santa"

    def __str__(self) -> str:
        return self.value


class Severity(str, enum.Enum):
    UNMAPPED = "unmapped"
    """Valid in its format, but not carried over (or carried over changed): the reason says."""
    ERROR = "error"
    """Invalid in its own format (bad hex, a reference to an undefined rule...)."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Finding:
    """One element not carried over as it was, where it is and why."""

    position: str
    """``line 12`` in XML, ``rule 3`` in Santa JSON, ``rule 'id'`` on export."""
    element: str
    """The element, e.g. ``FilePublisherRule Id=... Name=...``."""
    reason: str
    severity: Severity = Severity.UNMAPPED

    def __str__(self) -> str:
        return f"{self.position}: {self.severity}: {self.element}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    """A foreign policy read: ours when it could be built, and every finding."""

    format: ForeignFormat
    policy: Policy | None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)


@dataclass(frozen=True)
class ExportResult:
    """A policy written in a foreign format: the document's bytes and what it could not hold."""

    format: ForeignFormat
    data: bytes
    findings: tuple[Finding, ...] = field(default=())
