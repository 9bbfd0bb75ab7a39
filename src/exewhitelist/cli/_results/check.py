"""``check``'s results: a file's verdict (:class:`FileCheck`), a file it could not read
(:class:`UnreadFile`), a scanned file's verdict (:class:`ScannedFile`) and a whole image's
denied files by folder (:class:`ImageCheck`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...imagecheck import FileVerdict
from ...policy import Action
from ...staging import REASON_TEXTS
from .._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .._output import ascii_json, json_text

__all__ = ["FileCheck", "ImageCheck", "ScannedFile", "UnreadFile"]


def _rule_text(verdict: FileVerdict) -> str:
    """What decided: a fail-closed reason, the rule's id, or the default deny."""
    assert verdict.decision is not None  # noqa: S101 - only a decided verdict is shown
    return REASON_TEXTS.get(verdict.reason) or verdict.decision.rule_id or "(no rule: default deny)"


@dataclass(frozen=True, slots=True)
class FileCheck:
    """``check FILE``: one file decided (``verdict.decision`` is never None)."""

    file: str
    """The file as named on the command line."""
    verdict: FileVerdict

    @property
    def exit_code(self) -> int:
        assert self.verdict.decision is not None  # noqa: S101 - decided
        return EXIT_FAILED if self.verdict.decision.action is Action.DENY else EXIT_OK

    def to_json(self) -> str:
        return json_text(self.verdict.to_json())

    def render_text(self) -> str:
        decision = self.verdict.decision
        assert decision is not None  # noqa: S101 - decided
        verdict_text = decision.action.value.upper()
        if not decision.enforced:
            verdict_text += " (audit)"
        return f"{verdict_text:<13}  {_rule_text(self.verdict)}  {self.file}\n"

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        lines = [f"exewhitelist: {self.file}: {note}" for note in self.verdict.notes]
        if not self.verdict.path_checked:
            lines.append(
                f"exewhitelist: {self.file}: path rules not checked (no --as): "
                "decided by its digests"
            )
        return lines


@dataclass(frozen=True, slots=True)
class UnreadFile:
    """``check FILE`` (or ``hash``, ``signers``) on a file that could not be read: exit 2
    for ``check``, 1 for the others, which report the rest of their files."""

    path: str
    error: str
    exit_code: int = EXIT_USAGE
    text: str = ""
    """Its line on stdout without --json (``hash`` has one), "" for none."""

    def to_json(self) -> str:
        return ascii_json({"path": self.path, "error": self.error})

    def render_text(self) -> str:
        return self.text

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return [f"exewhitelist: {self.error}"]


@dataclass(frozen=True, slots=True)
class ScannedFile:
    """``check --scan``: one scan record's verdict at one of its paths. Its JSON line is the
    verdict; its text is in :class:`ImageCheck`."""

    verdict: FileVerdict

    @property
    def exit_code(self) -> int:
        decision = self.verdict.decision
        if decision is None:
            return EXIT_USAGE
        return EXIT_FAILED if decision.action is Action.DENY else EXIT_OK

    def to_json(self) -> str:
        return json_text(self.verdict.to_json())

    def render_text(self) -> str:
        return ""

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        verdict = self.verdict
        if verdict.decision is not None and (as_json or not verdict.notes):
            return ()  # most files: asked ~10^5 times
        lines = [] if as_json else [f"exewhitelist: {verdict.path}: {n}" for n in verdict.notes]
        if verdict.decision is None:
            lines.append(f"exewhitelist: {verdict.path}: {verdict.error}")
        return lines


@dataclass(slots=True)
class ImageCheck:
    """``check --scan``'s end: the denied files by folder, the counts. Built while the
    verdicts stream past (:meth:`add`), printed last."""

    allowed: int = 0
    errors: int = 0
    unchecked: int = 0
    denied: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Folder → (name, verdict and rule text) of each denied file."""

    def add(self, verdict: FileVerdict) -> None:
        decision = verdict.decision
        if decision is None:
            self.errors += 1
            return
        self.unchecked += not verdict.path_checked
        if decision.action is Action.ALLOW:
            self.allowed += 1
            return
        folder, name = _folder(verdict)
        verdict_text = "DENY" if decision.enforced else "DENY (audit)"
        self.denied.setdefault(folder, []).append(
            (name, f"{verdict_text:<12}  {_rule_text(verdict)}")
        )

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_USAGE
        return EXIT_FAILED if self.denied else EXIT_OK

    def to_json(self) -> None:
        return None

    def render_text(self) -> str:
        lines = []
        for folder in sorted(self.denied):
            files = self.denied[folder]
            lines.append(f"{folder}  ({len(files)} denied)\n")
            lines.extend(f"  {text}  {name}\n" for name, text in sorted(files))
        return "".join(lines)

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        lines = []
        if self.unchecked:
            lines.append(
                f"exewhitelist: {self.unchecked} record(s) without windows_path (scan without "
                "--as): path rules not checked, decided by their digests"
            )
        denied = sum(len(files) for files in self.denied.values())
        lines.append(f"check: {self.allowed} allowed, {denied} denied, {self.errors} error(s)")
        return lines


def _folder(verdict: FileVerdict) -> tuple[str, str]:
    """(folder, name) of the file, by its Windows path when it has one."""
    if verdict.windows_path is not None:
        folder, _, name = verdict.windows_path.rpartition("\\")
        return folder + "\\", name
    folder, _, name = verdict.path.rpartition("/")
    return folder + "/", name
