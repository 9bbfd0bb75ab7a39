"""Never brick: would an enforce-mode policy deny an image Windows needs to boot?

The images are :data:`BOOT_CRITICAL`, written once here; ``docs/driver.md``
("Boot safety") gives the source of the list. Each is decided by the compiled
blob exactly as the driver decides (:meth:`exewhitelist.blob.Blob.decide_staged`)
under the default path variables, with its path known and its digests
**missing**: a boot image is safe when a path rule allows it however the
read of its bytes goes. With golden-image scan records (``scan --as``, whose
``windows_path`` names the critical path) an image the path rules do not
allow is also safe when the policy allows its recorded digests.

An audit-mode policy denies nothing and is always safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .blob.read import Blob
from .policy import DEFAULT_VARIABLES, Mode
from .rules import Action
from .rules.path import fold
from .staging import Fact, Facts

__all__ = [
    "BOOT_CRITICAL",
    "BootProblem",
    "boot_critical_paths",
    "check_boot_safety",
    "describe_boot_problems",
]

BOOT_CRITICAL: tuple[str, ...] = (
    # Session manager and the Windows subsystem: no boot without them.
    "%SYSTEM32%\\smss.exe",
    "%SYSTEM32%\\autochk.exe",
    "%SYSTEM32%\\csrss.exe",
    "%SYSTEM32%\\wininit.exe",
    "%SYSTEM32%\\winlogon.exe",
    # Services and the security subsystem.
    "%SYSTEM32%\\services.exe",
    "%SYSTEM32%\\lsass.exe",
    "%SYSTEM32%\\lsaiso.exe",
    "%SYSTEM32%\\svchost.exe",
    # Session start: fonts, the compositor, the logon screen, the shell.
    "%SYSTEM32%\\fontdrvhost.exe",
    "%SYSTEM32%\\dwm.exe",
    "%SYSTEM32%\\LogonUI.exe",
    "%SYSTEM32%\\userinit.exe",
    "%SYSTEM32%\\sihost.exe",
    "%SYSTEM32%\\consent.exe",
    "%WINDIR%\\explorer.exe",
)
"""The images without which Windows does not boot to a usable logon (docs/driver.md)."""


@dataclass(frozen=True, slots=True)
class BootProblem:
    """A boot-critical image the policy would deny."""

    image: str
    """The image as listed in :data:`BOOT_CRITICAL` (with its variable)."""
    path: str
    """Its path under the default variables."""
    rule_id: str | None
    """The deciding rule, or None for the default deny."""

    def __str__(self) -> str:
        return f"{self.path} ({f'rule {self.rule_id!r}' if self.rule_id else 'default deny'})"


def describe_boot_problems(problems: Iterable[BootProblem]) -> str:
    """One line for all of them: what ``policy validate`` and ``compile`` print."""
    listed = list(problems)
    return (
        f"enforce mode would deny {len(listed)} boot-critical image(s), so Windows would not "
        f"boot: {', '.join(map(str, listed))}; allow them (e.g. a path rule '%SYSTEM32%\\*' "
        "and '%WINDIR%\\explorer.exe'), or pass --allow-unbootable"
    )


def boot_critical_paths(
    variables: Mapping[str, tuple[str, ...]] = DEFAULT_VARIABLES,
) -> list[tuple[str, str]]:
    """Each critical image with its path under ``variables`` (the first value of each)."""
    out = []
    for image in BOOT_CRITICAL:
        name = image.split("%")[1]
        out.append((image, variables[name][0] + image.split("%", 2)[2]))
    return out


def _digests_by_path(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    by_path: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        where = record.get("windows_path")
        if isinstance(where, str) and record.get("error") is None:
            by_path.setdefault(fold(where), []).append(record)
    return by_path


def check_boot_safety(
    blob: Blob, scan_records: Iterable[Mapping[str, Any]] | None = None
) -> list[BootProblem]:
    """The boot-critical images an enforce-mode ``blob`` would deny (none in audit mode)."""
    if blob.mode is not Mode.ENFORCE:
        return []
    by_path = _digests_by_path(scan_records or ())
    problems = []
    for image, path in boot_critical_paths():
        verdict = blob.decide_staged(
            Facts(
                path_state=Fact.KNOWN,
                path=path,
                hash_state=Fact.MISSING,
                signer_state=Fact.MISSING,
            )
        )
        decision = verdict.decision  # every input is known or missing: it decides
        if decision is not None and decision.action is Action.ALLOW:
            continue
        found = by_path.get(fold(path), [])
        if found and all(_allowed_by_digests(blob, path, r) for r in found):
            continue
        problems.append(BootProblem(image, path, decision.rule_id if decision else None))
    return problems


def _allowed_by_digests(blob: Blob, path: str, record: Mapping[str, Any]) -> bool:
    auth, flat = record.get("authenticode_sha256"), record.get("sha256")
    verdict = blob.decide_staged(
        Facts(
            path_state=Fact.KNOWN,
            path=path,
            hash_state=Fact.KNOWN,
            authenticode_sha256=auth if isinstance(auth, str) else None,
            file_sha256=flat if isinstance(flat, str) else None,
            signer_state=Fact.MISSING,
        )
    )
    return verdict.decision is not None and verdict.decision.action is Action.ALLOW
