"""``compile``'s and ``inspect``'s results: what compiling said (:class:`Compiled`) and a
blob shown (:class:`BlobReport`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...blob._format import HeaderField, Section
from ...blob.read import Blob
from ...errors import PolicyProblem
from .._common import EXIT_OK, EXIT_USAGE
from .._output import StderrOnly, json_text

__all__ = ["BlobReport", "Compiled"]


@dataclass(frozen=True, slots=True)
class Compiled(StderrOnly):
    """``compile``: the boot problem that refuses the policy, if any. Printed before the
    blob is written, which it is when the exit code is 0 (the policy's warnings:
    :class:`~.policy.Problems`, before)."""

    policy: str
    """The policy file, as named on the command line."""
    unbootable: PolicyProblem | None

    @property
    def exit_code(self) -> int:
        return EXIT_USAGE if self.unbootable is not None else EXIT_OK

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return [f"{self.policy}: {self.unbootable}"] if self.unbootable is not None else []


@dataclass(frozen=True, slots=True)
class BlobReport:
    """``inspect``: a blob's header, sections and rules."""

    info: dict[str, Any]
    """As ``inspect --json`` prints it."""

    @classmethod
    def of(cls, blob: Blob) -> BlobReport:
        return cls(
            {
                "name": blob.name,
                "policy_version": blob.policy_version,
                "mode": blob.mode.value,
                "format_version": f"1.{blob.version_minor}",
                "size": len(blob.data),
                "checksum": f"{HeaderField.CHECKSUM.read(blob.data):08x}",
                "sections": {
                    (
                        Section(section_id).name
                        if section_id in Section._value2member_map_
                        else f"optional_0x{section_id:x}"
                    ): {"offset": o, "size": n, "count": c}
                    for section_id, (o, n, c) in sorted(blob.sections.items())
                },
                "rules": [
                    {"id": rule_id, "action": action.value, "kind": kind.value, "value": value}
                    for rule_id, action, kind, value in blob.rule_records()
                ],
            }
        )

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> str:
        return json_text(self.info)

    def render_text(self) -> str:
        info = self.info
        counts: dict[str, int] = {}
        for rule in info["rules"]:
            key = f"{rule['action']} {rule['kind']}"
            counts[key] = counts.get(key, 0) + 1
        lines = [
            f"policy {info['name']!r} version {info['policy_version']}, mode {info['mode']}\n",
            f"format {info['format_version']}, {info['size']} bytes, CRC-32 {info['checksum']}\n",
            (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no rules") + "\n",
        ]
        lines.extend(
            f"{rule['action']:<5}  {rule['kind']:<19}  {rule['value']}  {rule['id']}\n"
            for rule in info["rules"]
        )
        return "".join(lines)

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return ()
