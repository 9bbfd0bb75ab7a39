r"""Windows paths of an image as the driver sees them: normalized names and path variables.

The driver decides on the *normalized* name of an image (Filter Manager
resolves ``.`` and ``..``), and resolves path variables from the running
system: ``%WINDIR%`` from the Windows directory, ``%SYSTEM32%`` and
``%OSDRIVE%`` derived from it, ``%PROGRAMFILES%`` from the registry or, when
it is not there, the default folders on ``%OSDRIVE%`` (``driver/kernel/path.c``,
``EwlPathVariablesQuery``). ``check``, ``scan --as`` and ``policy from-scan``
use these functions so that they answer as the driver would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import PolicyError
from .rules import DEFAULT_VARIABLES, VARIABLES, PathPattern, fold
from .rules.path import DRIVE_ROOT, UNC_ROOT

__all__ = [
    "image_variables",
    "normalized_windows_path",
    "record_paths",
    "record_windows_paths",
    "variable_folders",
]


def normalized_windows_path(text: str, what: str = "--as") -> str:
    r"""``text``, a full Windows path, as the driver's normalized name: ``.`` and ``..``
    resolved, doubled ``\`` collapsed, no trailing ``\`` (``C:\`` gives ``C:``).

    Raises :class:`PolicyError` saying what a Windows location must be: a drive
    (``C:\``) or a share (``\\server\share``), without variables or wildcards,
    and with no ``..`` above the drive or share.
    """
    unc = UNC_ROOT.match(text)
    if not (DRIVE_ROOT.match(text) or unc):
        raise PolicyError(
            f"{what} {text!r}: not a full Windows path: start with a drive and '\\' (C:\\) "
            "or a share (\\\\server\\share)"
        )
    if "*" in text or "?" in text or "%" in text:
        raise PolicyError(
            f"{what} {text!r}: a Windows path names one place: no variable, no '*' or '?'"
        )
    head = unc.group() if unc else text[:2]
    parts: list[str] = []
    for segment in text[len(head) :].split("\\"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise PolicyError(f"{what} {text!r}: '..' goes above {head}\\")
            parts.pop()
        else:
            parts.append(segment)
    path = "\\".join([head, *parts])
    try:
        PathPattern.parse(path + "\\")
    except PolicyError as e:
        raise PolicyError(f"{what} {text!r}: {e.message}") from None
    return path


def image_variables(given: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    r"""Every variable's values on a machine where ``given`` are known (others derived).

    As the driver: ``%SYSTEM32%`` is ``%WINDIR%`` followed by what the default
    ``%SYSTEM32%`` adds to the default ``%WINDIR%``; ``%OSDRIVE%`` is the drive of
    ``%WINDIR%``; ``%PROGRAMFILES%`` (when the registry does not say) the default
    folders on ``%OSDRIVE%``. A value given always wins over a derived one.
    """
    variables = {name: tuple(values) for name, values in DEFAULT_VARIABLES.items()}
    if "WINDIR" in given:
        windir = given["WINDIR"][0]
        default_windir = DEFAULT_VARIABLES["WINDIR"][0]
        default_drive = DEFAULT_VARIABLES["OSDRIVE"][0]
        drive = windir[:2]
        variables["SYSTEM32"] = tuple(
            windir + v[len(default_windir) :] for v in DEFAULT_VARIABLES["SYSTEM32"]
        )
        variables["OSDRIVE"] = (drive,)
        variables["PROGRAMFILES"] = tuple(
            drive + v[len(default_drive) :] for v in DEFAULT_VARIABLES["PROGRAMFILES"]
        )
    variables.update({name: tuple(values) for name, values in given.items()})
    unknown = set(variables) - set(VARIABLES)
    if unknown:
        raise PolicyError(f"unknown variable(s): {', '.join(sorted(unknown))}")
    return variables


def variable_folders(folder: str, variables: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    r"""The concrete folders ``folder`` (``%PROGRAMFILES%\Contoso`` or ``C:\Tools``) stands
    for, each folded and ending in ``\``: a Windows path lies in the folder when its
    fold starts with one of them.

    Raises :class:`PolicyError` when ``folder`` is not a full path with no wildcard.
    """
    pattern = PathPattern.parse(folder)
    if pattern.has_wildcards:
        raise PolicyError("a folder is needed: no '*' or '?'")
    body = pattern.body.rstrip("\\")
    if pattern.variable is None:
        return (body + "\\",)
    return tuple(fold(value.rstrip("\\")) + body + "\\" for value in variables[pattern.variable])


def record_paths(record: Mapping[str, Any]) -> list[str]:
    """Every path of the file: a scan record lists its hard links in ``paths``."""
    paths = record.get("paths")
    if isinstance(paths, list) and paths and all(isinstance(p, str) for p in paths):
        return paths
    path = record.get("path")
    return [path] if isinstance(path, str) else []


def record_windows_paths(record: Mapping[str, Any]) -> list[str]:
    """The Windows path of each of the file's paths (hard links); [] without ``windows_path``.

    A record carries the Windows path of its first path only; the others map
    the same way: the components the first path and its Windows path end
    with in common are below the scan's root, what precedes them is the root
    and its ``--as``.
    """
    windows_path = record.get("windows_path")
    if not isinstance(windows_path, str):
        return []
    paths = record_paths(record) or [""]
    if len(paths) == 1:  # the usual case: one link, no mapping to work out
        return [windows_path]
    local, windows = paths[0].split("/"), windows_path.split("\\")
    same = 0
    while same < min(len(local), len(windows)) - 1 and local[-1 - same] == windows[-1 - same]:
        same += 1
    root, windows_root = local[: len(local) - same], windows[: len(windows) - same]
    mapped = [windows_path]
    for other in paths[1:]:
        parts = other.split("/")
        if parts[: len(root)] == root:
            mapped.append("\\".join(windows_root + parts[len(root) :]))
    return mapped
