"""The compiled policy blob: format numbers, compiler and reference reader."""

from .compile import compile_policy, compile_policy_file
from .read import Blob, BlobDecision, read_blob

__all__ = [
    "Blob",
    "BlobDecision",
    "compile_policy",
    "compile_policy_file",
    "read_blob",
]
