"""The one exception hierarchy of exewhitelist.

Every error the library raises on purpose derives from :class:`ExewhitelistError`,
so a caller can catch the whole family with one clause and still tell the
cases apart::

    ExewhitelistError
    ├── FileReadError (also OSError)      a file could not be read: path + OS reason
    │   └── FileChangedError              the file changed while it was being read
    ├── PEFormatError (also ValueError)   a file looks like a PE but is not one Windows
    │   ├── TruncatedPEError              would hash: its headers end before they should
    │   └── NonconformantPEError          headers present but outside the Authenticode spec
    ├── PolicyError (also ValueError)     a policy or policy file is invalid: where and why
    ├── VersionResourceError (also ValueError)  a PE image's version resource cannot be read
    ├── BlobError (also ValueError)       a compiled blob cannot be used
    │   └── BlobFormatError               invalid: carries the pinned numeric ``code``
    │       └── BlobVersionError          another major version than this reader knows
    ├── DeployError (also ValueError)     a blob cannot be deployed as asked (bad service name)
    ├── DigestAlgorithmError (also ValueError)  a digest algorithm hashlib does not have
    ├── InputError (also ValueError)      an input is not a regular file, or larger than any can be
    ├── OutputError (also ValueError)     an output cannot be written where asked (a directory)
    ├── InteropError (also ValueError)    a foreign policy or event log cannot be read at all
    ├── ScanError                         a scan cannot start: a root is missing, --as is invalid
    │   └── ScanCacheError                the --cache file is not a scan cache this version can use
    └── SignatureError (also ValueError)  signed data cannot be used at all
        └── CatalogError                  a .cat file cannot be read, is too large, is not a catalog

A :class:`PEFormatError` never escapes :func:`exewhitelist.hash_file`: the file
still gets its flat SHA-256 and the error is reported on the result
(``pe_error``), as Windows falls back to the flat hash for such files.
A :class:`VersionResourceError` never escapes a scan either: the record keeps
its digests and says why in ``version_error``.  Likewise a file a scan cannot
read is a record with ``error``, not a :class:`ScanError`: the scan goes on.
An embedded signature that is malformed, tampered with or unsupported is a
``status`` on its :class:`~exewhitelist.signatures.Signature`, never an exception.
"""

from __future__ import annotations

import errno as _errno

__all__ = [
    "BlobError",
    "BlobFormatError",
    "BlobVersionError",
    "CatalogError",
    "DeployError",
    "DigestAlgorithmError",
    "ExewhitelistError",
    "FileChangedError",
    "FileReadError",
    "InputError",
    "InteropError",
    "NonconformantPEError",
    "OutputError",
    "PEFormatError",
    "PolicyError",
    "PolicyProblem",
    "ScanCacheError",
    "ScanError",
    "SignatureError",
    "TruncatedPEError",
    "VersionResourceError",
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


class VersionResourceError(ExewhitelistError, ValueError):
    """A PE image's version resource (``VS_VERSIONINFO``) is malformed or out of bounds.

    The image itself may be fine: a scan keeps its digests and records this
    message as ``version_error``.
    """


class PolicyProblem:
    """One problem found in a policy: where it is and why (``policy validate`` prints these)."""

    __slots__ = ("line", "message", "rule_id", "rule_index", "severity")

    def __init__(
        self,
        message: str,
        *,
        rule_index: int | None = None,
        rule_id: str | None = None,
        line: int | None = None,
        severity: str = "error",
    ) -> None:
        self.message = message
        self.rule_index = rule_index
        """1-based position of the rule in the file, None for the policy header."""
        self.rule_id = rule_id
        self.line = line
        self.severity = severity
        """``"error"`` (the policy cannot be compiled) or ``"warning"``."""

    def where(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.rule_index is not None:
            parts.append(f"rule {self.rule_index}")
        if self.rule_id is not None:
            parts.append(f"id {self.rule_id!r}")
        return ", ".join(parts) or "policy"

    def __str__(self) -> str:
        return f"{self.where()}: {self.severity}: {self.message}"

    def __repr__(self) -> str:
        return f"PolicyProblem({str(self)!r})"


class PolicyError(ExewhitelistError, ValueError):
    """A policy is invalid; ``problems`` lists every problem found, with its position."""

    def __init__(self, message: str, problems: tuple[PolicyProblem, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems


class BlobError(ExewhitelistError, ValueError):
    """A compiled policy blob cannot be used."""


class BlobFormatError(BlobError):
    """The blob is invalid; ``code`` is the pinned number the driver's C core returns too."""

    def __init__(self, code: int, name: str, detail: str) -> None:
        super().__init__(f"invalid blob: {name} ({code}): {detail}")
        self.code = code
        self.name = name
        self.detail = detail


class BlobVersionError(BlobFormatError):
    """The blob's major version is not this reader's: refuse rather than guess.

    A :class:`BlobFormatError` with the pinned code ``VERSION``, as the C core reports it.
    """


class DeployError(ExewhitelistError, ValueError):
    """A deployment cannot be written as asked: the service name is not one Windows accepts."""


class ScanError(ExewhitelistError):
    """A scan cannot start or cannot go on (one file that cannot be read is a record instead)."""


class ScanCacheError(ScanError):
    """The ``--cache`` file exists but is not a scan cache: it is left untouched."""


class DigestAlgorithmError(ExewhitelistError, ValueError):
    """A digest algorithm was asked for that hashlib does not provide."""


class InputError(ExewhitelistError, ValueError):
    """An input cannot be used as given: not a regular file (a FIFO, a device), or too large."""


class OutputError(ExewhitelistError, ValueError):
    """An output cannot be written where asked: the target is a directory or a block device."""


class InteropError(ExewhitelistError, ValueError):
    """An AppLocker, WDAC or Santa policy or an event log cannot be read at all (not XML,
    entities declared, the wrong root): its position and why. Elements that cannot be
    carried over are findings on the import's result instead."""


class SignatureError(ExewhitelistError, ValueError):
    """Signed data cannot be used at all (a signature that fails a check is a status instead)."""


class CatalogError(SignatureError):
    """A ``.cat`` file cannot be read, is larger than the limit, or is not a catalog."""
