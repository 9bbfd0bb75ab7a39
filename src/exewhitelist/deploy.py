"""Deploying a compiled blob: the registry value the driver reads, as a ``.reg`` file."""

from __future__ import annotations

import re

from .blob import read_blob
from .errors import DeployError

__all__ = ["DEFAULT_SERVICE", "VALUE_NAME", "reg_file", "registry_key"]

DEFAULT_SERVICE = "exewhitelist"
VALUE_NAME = "Policy"
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def registry_key(service: str = DEFAULT_SERVICE) -> str:
    r"""``HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\<service>\Parameters``."""
    if not _SERVICE_NAME.match(service):
        raise DeployError(f"not a service name: {service!r}")
    return f"HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\{service}\\Parameters"


def reg_file(blob: bytes, service: str = DEFAULT_SERVICE) -> bytes:
    """A ``regedit``/``reg import`` file setting the REG_BINARY ``Policy`` value to ``blob``.

    The blob is validated first (:class:`~exewhitelist.errors.BlobFormatError`
    otherwise): an invalid value would be refused by the driver anyway, which
    would keep the policy in force and say why only in its log.  The file is
    UTF-16LE with a byte-order mark and CRLF line ends, as ``regedit`` writes
    version 5.00 files, with the hex list wrapped at 80 columns.  A bad
    service name raises :class:`~exewhitelist.errors.DeployError`.
    """
    read_blob(blob)
    lines = ["Windows Registry Editor Version 5.00", "", f"[{registry_key(service)}]"]
    line = f'"{VALUE_NAME}"=hex:'
    pieces = [f"{b:02x}" for b in blob]
    for i, piece in enumerate(pieces):
        item = piece + ("," if i < len(pieces) - 1 else "")
        if len(line) + len(item) > 78:
            lines.append(line + "\\")
            line = "  "
        line += item
    lines += [line, ""]
    return "\ufeff".encode("utf-16-le") + "\r\n".join(lines).encode("utf-16-le") + b"\r\0\n\0"
