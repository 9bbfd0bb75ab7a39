"""The compiled policy blob: format numbers, compiler and reference reader."""

from .compile import compile_policy
from .read import Blob, BlobDecision, read_blob

__all__ = ["Blob", "BlobDecision", "compile_policy", "read_blob"]
