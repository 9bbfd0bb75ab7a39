"""The one exception hierarchy of exewhitelist.

Every error the library raises on purpose derives from :class:`ExewhitelistError`,
so a caller can catch the whole family with one clause and still tell the
cases apart::

    ExewhitelistError
    ├── FileReadError (also OSError)      a file could not be read: path + OS reason
    │   └── FileChangedError              the file changed while it was being read
    └── PEFormatError (also ValueError)   a file looks like a PE but is not one Windows
        ├── TruncatedPEError              would hash: its headers end before they should
        └── NonconformantPEError          headers present but outside the Authenticode spec

A :class:`PEFormatError` never escapes :func:`exewhitelist.hash_file`: the file
still gets its flat SHA-256 and the error is reported on the result
(``pe_error``), as Windows falls back to the flat hash for such files.
"""

from __future__ import annotations

import errno as _errno

__all__ = [
    "ExewhitelistError",
    "FileChangedError",
    "FileReadError",
    "NonconformantPEError",
    "PEFormatError",
    "TruncatedPEError",
]


class ExewhitelistError(Exception):
    """Root of every error exewhitelist raises on purpose."""


class FileReadError(ExewhitelistError, OSError):
    """A file could not be read; carries the path and the operating system's reason."""

    def __init__(self, path: str, reason: str, os_errno: int | None = None) -> None:
        OSError.__init__(self, os_errno if os_errno is not None else _errno.EIO, reason, path)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class FileChangedError(FileReadError):
    """The file's size changed between opening it and reading its last byte."""


class PEFormatError(ExewhitelistError, ValueError):
    """The file starts like a PE image but cannot be hashed as one.

    ``anomaly`` is the flag name reported for it on a hash result.
    """

    anomaly: str = "malformed_pe"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TruncatedPEError(PEFormatError):
    """A header structure the Authenticode hash needs runs past the end of the file."""

    anomaly = "truncated_headers"


class NonconformantPEError(PEFormatError):
    """The headers are readable but the image does not conform to the Authenticode spec."""

    def __init__(self, message: str, anomaly: str) -> None:
        super().__init__(message)
        self.anomaly = anomaly
