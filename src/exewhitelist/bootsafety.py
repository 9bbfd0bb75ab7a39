"""Never brick: would an enforce-mode policy deny an image Windows needs to boot?

The images are :data:`BOOT_CRITICAL` (programs) and, when the driver may
refuse image loads (its ``ImageLoads=2``), :data:`BOOT_CRITICAL_DLLS` (the
DLLs those programs load), written once here; ``docs/driver.md`` ("Boot
safety") gives the source of both lists. Each is decided by the compiled
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
    "BOOT_CRITICAL_DLLS",
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

BOOT_CRITICAL_DLLS: tuple[str, ...] = (
    # What every Win32 process maps besides ntdll (which the kernel maps before
    # any driver starts: never decided): the Win32 base and user layers.
    "%SYSTEM32%\\kernel32.dll",
    "%SYSTEM32%\\KernelBase.dll",
    "%SYSTEM32%\\ucrtbase.dll",
    "%SYSTEM32%\\msvcp_win.dll",
    "%SYSTEM32%\\win32u.dll",
    "%SYSTEM32%\\gdi32full.dll",
    "%SYSTEM32%\\bcryptprimitives.dll",
    "%SYSTEM32%\\cryptbase.dll",
    "%SYSTEM32%\\sspicli.dll",
    # The KnownDLLs of a default Windows 10/11 (HKLM\SYSTEM\CurrentControlSet\
    # Control\Session Manager\KnownDLLs): sections smss makes at boot, shared
    # by every process; the WOW64 ones are System32's too.
    "%SYSTEM32%\\advapi32.dll",
    "%SYSTEM32%\\clbcatq.dll",
    "%SYSTEM32%\\combase.dll",
    "%SYSTEM32%\\comdlg32.dll",
    "%SYSTEM32%\\coml2.dll",
    "%SYSTEM32%\\difxapi.dll",
    "%SYSTEM32%\\gdi32.dll",
    "%SYSTEM32%\\gdiplus.dll",
    "%SYSTEM32%\\imagehlp.dll",
    "%SYSTEM32%\\imm32.dll",
    "%SYSTEM32%\\MSCTF.dll",
    "%SYSTEM32%\\msvcrt.dll",
    "%SYSTEM32%\\normaliz.dll",
    "%SYSTEM32%\\nsi.dll",
    "%SYSTEM32%\\ole32.dll",
    "%SYSTEM32%\\oleaut32.dll",
    "%SYSTEM32%\\psapi.dll",
    "%SYSTEM32%\\rpcrt4.dll",
    "%SYSTEM32%\\sechost.dll",
    "%SYSTEM32%\\setupapi.dll",
    "%SYSTEM32%\\SHCORE.dll",
    "%SYSTEM32%\\shell32.dll",
    "%SYSTEM32%\\shlwapi.dll",
    "%SYSTEM32%\\user32.dll",
    "%SYSTEM32%\\wldap32.dll",
    "%SYSTEM32%\\wow64.dll",
    "%SYSTEM32%\\wow64cpu.dll",
    "%SYSTEM32%\\wow64win.dll",
    "%SYSTEM32%\\ws2_32.dll",
    # The Windows subsystem's server DLLs csrss loads (its ServerDll= arguments
    # in Session Manager\SubSystems\Windows).
    "%SYSTEM32%\\csrsrv.dll",
    "%SYSTEM32%\\basesrv.dll",
    "%SYSTEM32%\\winsrv.dll",
    "%SYSTEM32%\\sxssrv.dll",
    # The LSA and its default authentication and security packages (Control\Lsa:
    # Authentication Packages, Security Packages): no logon without them.
    "%SYSTEM32%\\lsasrv.dll",
    "%SYSTEM32%\\msv1_0.dll",
    "%SYSTEM32%\\kerberos.dll",
    "%SYSTEM32%\\negoexts.dll",
    "%SYSTEM32%\\schannel.dll",
    "%SYSTEM32%\\wdigest.dll",
    "%SYSTEM32%\\tspkg.dll",
    "%SYSTEM32%\\pku2u.dll",
    "%SYSTEM32%\\cloudAP.dll",
    # Service control and the logon UI's credential providers.
    "%SYSTEM32%\\scesrv.dll",
    "%SYSTEM32%\\authui.dll",
    "%SYSTEM32%\\credprovs.dll",
    "%SYSTEM32%\\logoncontroller.dll",
    # The compositor.
    "%SYSTEM32%\\dwmcore.dll",
    "%SYSTEM32%\\uDWM.dll",
)
"""The DLLs the boot-critical programs load: a policy denying one bricks a
machine whose driver refuses image loads (``ImageLoads=2``) just the same
(docs/driver.md)."""


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
    dlls = any(p.image in BOOT_CRITICAL_DLLS for p in listed)
    return (
        f"enforce mode would deny {len(listed)} boot-critical image(s), so Windows would not "
        f"boot: {', '.join(map(str, listed))}; allow them (e.g. a path rule '%SYSTEM32%\\*' "
        "and '%WINDIR%\\explorer.exe'), "
        + (
            "or pass --image-loads audit if the driver's ImageLoads is not 2 (DLLs are then "
            "never refused), "
            if dlls
            else ""
        )
        + "or pass --allow-unbootable"
    )


def boot_critical_paths(
    variables: Mapping[str, tuple[str, ...]] = DEFAULT_VARIABLES,
    images: Iterable[str] = BOOT_CRITICAL,
) -> list[tuple[str, str]]:
    """Each of ``images`` with its path under ``variables`` (the first value of each)."""
    out = []
    for image in images:
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
    blob: Blob,
    scan_records: Iterable[Mapping[str, Any]] | None = None,
    image_loads: bool = True,
) -> list[BootProblem]:
    """The boot-critical images an enforce-mode ``blob`` would deny (none in audit mode).

    ``image_loads``: the driver may refuse image loads (``ImageLoads=2``), so
    the DLLs count too. The default, since that setting is the driver's and
    not the policy's: an administrator can turn it on without recompiling.
    """
    if blob.mode is not Mode.ENFORCE:
        return []
    by_path = _digests_by_path(scan_records or ())
    problems = []
    images = BOOT_CRITICAL + BOOT_CRITICAL_DLLS if image_loads else BOOT_CRITICAL
    for image, path in boot_critical_paths(images=images):
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
