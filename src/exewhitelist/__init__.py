"""exewhitelist: application whitelisting for Windows, authored in Python.

The public API is what ``__all__`` lists; everything else is internal.
"""

from __future__ import annotations

from .errors import (
    ExewhitelistError,
    FileChangedError,
    FileReadError,
    NonconformantPEError,
    PEFormatError,
    TruncatedPEError,
)
from .hashing import FileHashes, PEInfo, hash_file
from .pe import Anomaly

__version__ = "0.1.0"

__all__ = [
    "Anomaly",
    "ExewhitelistError",
    "FileChangedError",
    "FileHashes",
    "FileReadError",
    "NonconformantPEError",
    "PEFormatError",
    "PEInfo",
    "TruncatedPEError",
    "__version__",
    "hash_file",
]
