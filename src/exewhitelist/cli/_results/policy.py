"""The policy commands' results: a file's problems on stderr (:class:`Problems`), ``policy
validate``'s problems and verdict (:class:`ProblemLine`, :class:`Validation`), what ``policy
from-hashes`` and ``from-scan`` left out (:class:`FromRecords`) and ``policy diff``'s changes
(:class:`PolicyChanges`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import PolicyProblem
from ...policy import Policy
from ...policyops import PolicyDiff
from .._common import EXIT_FAILED, EXIT_OK
from .._output import StderrOnly, json_text

__all__ = ["FromRecords", "PolicyChanges", "ProblemLine", "Problems", "Validation"]


@dataclass(frozen=True, slots=True)
class Problems(StderrOnly):
    """A policy file's warnings, and what was done to it, on stderr (``compile``, the edits):
    stdout is for the output."""

    file: str
    problems: tuple[PolicyProblem, ...]
    done: str = ""
    """What the command did (``added rule …``), "" for nothing to say."""

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        lines = [f"{self.file}: {problem}" for problem in self.problems]
        return [*lines, f"{self.file}: {self.done}"] if self.done else lines


@dataclass(frozen=True, slots=True)
class ProblemLine:
    """``policy validate``: one problem, on stdout."""

    file: str
    problem: PolicyProblem

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.problem.severity == "error" else EXIT_OK

    def to_json(self) -> str:
        problem = self.problem
        return json_text(
            {
                "file": self.file,
                "line": problem.line,
                "rule_index": problem.rule_index,
                "rule_id": problem.rule_id,
                "severity": problem.severity,
                "message": problem.message,
            }
        )

    def render_text(self) -> str:
        return f"{self.file}: {self.problem}\n"

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return ()


@dataclass(frozen=True, slots=True)
class Validation:
    """``policy validate``'s verdict, after its problems: a line of text, nothing in JSON
    (the problems are the answer)."""

    file: str
    policy: Policy | None
    """The policy, None when it has errors."""
    errors: int
    warnings: int

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.errors else EXIT_OK

    def to_json(self) -> None:
        return None

    def render_text(self) -> str:
        if self.policy is None:
            return f"{self.file}: invalid: {self.errors} error(s), {self.warnings} warning(s)\n"
        return (
            f"{self.file}: valid: {len(self.policy.rules)} rule(s), mode {self.policy.mode}, "
            f"{self.warnings} warning(s)\n"
        )

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return ()


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    """``policy diff``: what changed from one policy to the other."""

    diff: PolicyDiff

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.diff.identical else EXIT_FAILED

    def to_json(self) -> str:
        return json_text(self.diff.to_json())

    def render_text(self) -> str:
        return "".join(line + "\n" for line in self.diff.lines())

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return ()


@dataclass(frozen=True, slots=True)
class FromRecords(StderrOnly):
    """``policy from-hashes`` and ``from-scan``: the records that got no rule (unreadable
    files...), a warning each, and the notes, on stderr before the policy is written."""

    skipped: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...] = ()

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        lines = []
        for record in self.skipped:
            path, error = str(record.get("path")), str(record.get("error"))
            reason = error if path in error else f"{path}: {error}"  # hash's errors name it
            lines.append(f"exewhitelist: warning: no rule: {reason}")
        lines.extend(f"exewhitelist: note: {note}" for note in self.notes)
        return lines
