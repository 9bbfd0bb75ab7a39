"""exewhitelist: application whitelisting for Windows, authored in Python.

The public API is what ``__all__`` lists; everything else is internal.
"""

from .errors import (
    ExewhitelistError,
    FileChangedError,
    FileReadError,
    NonconformantPEError,
    PEFormatError,
    TruncatedPEError,
)
from .hashing import FileHashes, PEInfo, authenticode_digest, hash_file
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
    "authenticode_digest",
    "hash_file",
]
