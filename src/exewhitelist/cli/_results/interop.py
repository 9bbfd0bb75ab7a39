"""``policy import``'s, ``export``'s and ``from-events``' results, all on stderr (stdout may
be the policy or the document): what a foreign policy gave (:class:`Imported`), what a
format could not hold (:class:`Exported`), what the events gave (:class:`EventsRead`), the
rules a merged policy left out (:class:`EventRules`) and what was written
(:class:`EventsWritten`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...interop import ExportResult, ImportResult
from ...interop.events import EventsResult
from .._common import EXIT_FAILED, EXIT_OK
from .._output import StderrOnly

__all__ = ["EventRules", "EventsRead", "EventsWritten", "Exported", "Imported"]


@dataclass(frozen=True, slots=True)
class Imported(StderrOnly):
    """``policy import``: every finding and the count; exit code 1, nothing written, when
    the policy could not be built, has errors, or (``--strict``) lost anything."""

    file: str
    result: ImportResult
    strict: bool

    @property
    def unmapped(self) -> int:
        return len(self.result.findings) - len(self.result.errors)

    @property
    def exit_code(self) -> int:
        refused = self.result.policy is None or self.result.errors
        return EXIT_FAILED if refused or (self.strict and self.unmapped) else EXIT_OK

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        result = self.result
        lines = [f"{self.file}: {finding}" for finding in result.findings]
        summary = (
            f"{self.file}: {result.format}: {len(result.errors)} error(s), "
            f"{self.unmapped} not carried over"
        )
        if self.exit_code != EXIT_OK:
            why = " (--strict)" if result.policy is not None and not result.errors else ""
            lines.append(f"{summary}: nothing written{why}")
        else:
            assert result.policy is not None  # noqa: S101 - imported
            lines.append(f"{summary}, {len(result.policy.rules)} rule(s) imported")
        return lines


@dataclass(frozen=True, slots=True)
class Exported(StderrOnly):
    """``policy export``: what the format could not hold; with ``--strict`` any of it is
    exit code 1 and nothing written."""

    policy: str
    result: ExportResult
    strict: bool

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.strict and self.result.findings else EXIT_OK

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        result = self.result
        lines = [f"{self.policy}: {finding}" for finding in result.findings]
        if self.exit_code != EXIT_OK:
            lines.append(
                f"{self.policy}: {len(result.findings)} element(s) {result.format} cannot "
                "hold: nothing written (--strict)"
            )
        return lines


@dataclass(frozen=True, slots=True)
class EventsRead(StderrOnly):
    """``policy from-events``: the findings, the events read and the programs seen; exit code
    1 when no policy came of them."""

    result: EventsResult

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.result.policy is None else EXIT_OK

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        result = self.result
        lines = [f"exewhitelist: {finding}" for finding in result.findings]
        counts = ", ".join(f"{event} x{n}" for event, n in sorted(result.event_counts.items()))
        lines.append(
            f"exewhitelist: {sum(result.event_counts.values())} event(s) read ({counts or 'none'})"
        )
        lines.extend(
            f"exewhitelist: {program.kind.value} {program.digest} {program.name}: "
            f"{program.comment()}"
            for program in result.programs
        )
        return lines


@dataclass(frozen=True, slots=True)
class EventRules(StderrOnly):
    """``policy from-events --merge``: the rules left out, as the merged policy denies what
    they would allow."""

    denied: tuple[str, ...]
    """Their ids."""
    merge: str | None

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return [
            f"exewhitelist: {rule_id}: denied by {self.merge}: no allow rule made"
            for rule_id in self.denied
        ]


@dataclass(frozen=True, slots=True)
class EventsWritten(StderrOnly):
    """``policy from-events``: what is written."""

    programs: int
    rules: int

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return [f"exewhitelist: {self.programs} program(s), {self.rules} rule(s) written"]
