"""Other products' policies in and out: AppLocker XML, WDAC SiPolicy XML, Santa rule JSON.

:func:`import_policy` reads one (the format detected from the content when
not given) into an :class:`ImportResult`: our policy, or None, and every
element that was not carried over as it was, with its position and reason
(a :class:`Finding`). :func:`export_policy` writes one, with the findings for
what the format cannot hold. ``docs/interop.md`` has the mapping tables.
"""

from __future__ import annotations

import os
import re

from ..errors import InteropError
from ..fileio import open_regular_file
from ..policy import Policy
from .applocker import export_applocker, import_applocker
from .report import ExportResult, Finding, ForeignFormat, ImportResult, Severity
from .santa import export_santa, import_santa
from .wdac import export_wdac, import_wdac

__all__ = [
    "ExportResult",
    "Finding",
    "ForeignFormat",
    "ImportResult",
    "Severity",
    "detect_format",
    "export_policy",
    "import_policy",
]

_SNIFF_BYTES = 1 << 16
_ROOT = re.compile(r"<\s*(?:[\w.-]+:)?(AppLockerPolicy|SiPolicy)\b")


def detect_format(path: str | os.PathLike[str]) -> ForeignFormat:
    """The format of a file by its content: JSON -> Santa; XML by its root element."""
    with open_regular_file(path, "policy file") as f:
        head = f.read(_SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", "ignore")
    else:
        text = head.decode("utf-8-sig", "ignore")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return ForeignFormat.SANTA
    m = _ROOT.search(text)
    if m is not None:
        return ForeignFormat.APPLOCKER if m.group(1) == "AppLockerPolicy" else ForeignFormat.WDAC
    raise InteropError(
        f"{os.fspath(path)}: not an AppLocker policy, a WDAC policy or Santa rules "
        "(give --format to say which)"
    )


def import_policy(
    path: str | os.PathLike[str],
    fmt: ForeignFormat | None = None,
    *,
    name: str | None = None,
    version: int | None = None,
) -> ImportResult:
    """Read a foreign policy; :class:`InteropError` (with a position) when it is unusable."""
    fmt = fmt or detect_format(path)
    if fmt is ForeignFormat.WDAC:
        return import_wdac(path, name=name, version=version)
    if fmt is ForeignFormat.APPLOCKER:
        return import_applocker(path, name=name, version=1 if version is None else version)
    return import_santa(path, name=name, version=1 if version is None else version)


def export_policy(policy: Policy, fmt: ForeignFormat) -> ExportResult:
    """``policy`` in ``fmt``: the bytes to write and what could not be written."""
    if fmt is ForeignFormat.WDAC:
        return export_wdac(policy)
    if fmt is ForeignFormat.APPLOCKER:
        return export_applocker(policy)
    return export_santa(policy)
