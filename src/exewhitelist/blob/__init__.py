"""The compiled policy blob: format numbers, compiler and reference reader.

The compiler and the reader are imported on first use, not here: the policy
model takes its limits from :mod:`exewhitelist.blob._format`, and importing
that must not import the compiler, which imports the policy model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .compile import compile_policy, compile_policy_file
    from .read import Blob, BlobDecision, read_blob

__all__ = [
    "Blob",
    "BlobDecision",
    "compile_policy",
    "compile_policy_file",
    "read_blob",
]

_MODULES = {
    "Blob": ".read",
    "BlobDecision": ".read",
    "compile_policy": ".compile",
    "compile_policy_file": ".compile",
    "read_blob": ".read",
}


def __getattr__(name: str) -> object:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULES[name], __name__), name)
    globals()[name] = value  # later lookups find it without coming here
    return value
