"""``scan``'s and ``scan diff``'s results: a scan's end on stderr (:class:`ScanEnd`; its
records are written as they come) and what changed between two scans
(:class:`ScanChanges`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...imagecheck import FileChange, ScanDiff, signers
from ...scan import ScanSummary
from .._common import EXIT_FAILED, EXIT_OK
from .._output import StderrOnly, json_text

__all__ = ["ScanChanges", "ScanEnd"]


@dataclass(frozen=True, slots=True)
class ScanEnd(StderrOnly):
    """``scan``: the --exclude patterns that matched nothing, and the summary line; exit
    code 1 when some file could not be read."""

    summary: ScanSummary
    unused_excludes: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.summary.errors else EXIT_OK

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return [
            *(
                f"exewhitelist: warning: --exclude {pattern!r} matched nothing"
                for pattern in self.unused_excludes
            ),
            self.summary.line(),
        ]


@dataclass(frozen=True, slots=True)
class ScanChanges:
    """``scan diff``: files added, removed and changed; exit code 1 when there are any."""

    diff: ScanDiff

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.diff.identical else EXIT_FAILED

    def to_json(self) -> str:
        diff = self.diff
        return json_text(
            {
                "identical": diff.identical,
                "added": [_change_json(c) for c in diff.added],
                "removed": [_change_json(c) for c in diff.removed],
                "changed": [_change_json(c) for c in diff.changed],
            }
        )

    def render_text(self) -> str:
        lines = []
        for sign, changes in (("+", self.diff.added), ("-", self.diff.removed)):
            for change in changes:
                record = change.new if change.new is not None else change.old
                lines.append(
                    f"{sign} {change.key}  {_digest_text(record)}  [{_signer_text(record)}]\n"
                )
        lines.extend(
            f"~ {change.key}  {_digest_text(change.old)} -> {_digest_text(change.new)}  "
            f"[{_signer_text(change.old)}] -> [{_signer_text(change.new)}]\n"
            for change in self.diff.changed
        )
        return "".join(lines)

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        if as_json:
            return ()
        diff = self.diff
        return [
            f"scan diff: {len(diff.added)} added, {len(diff.removed)} removed, "
            f"{len(diff.changed)} changed"
        ]


def _signer_text(record: Mapping[str, Any] | None) -> str:
    found = signers(record) if record is not None else []
    return "; ".join(found) or "unsigned"


def _change_json(change: FileChange) -> dict[str, Any]:
    def side(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if record is None:
            return None
        return {
            "path": record.get("path"),
            "authenticode_sha256": record.get("authenticode_sha256"),
            "sha256": record.get("sha256"),
            "signers": signers(record),
            "error": record.get("error"),
        }

    return {"file": change.key, "old": side(change.old), "new": side(change.new)}


def _digest_text(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "-"
    if record.get("error"):
        return f"error: {record.get('error')}"
    auth = record.get("authenticode_sha256")
    return f"authenticode {auth}" if auth else f"sha256 {record.get('sha256')}"
