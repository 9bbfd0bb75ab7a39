"""The public API is exactly ``__all__``, and results are immutable."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import pytest

import exewhitelist
from exewhitelist import hash_file


def test_all_is_exported() -> None:
    # Submodules become attributes of the package once any test imports them.
    public = {
        name
        for name in dir(exewhitelist)
        if not name.startswith("_") and not isinstance(getattr(exewhitelist, name), ModuleType)
    }
    assert public == set(exewhitelist.__all__) - {"__version__"}
    for name in exewhitelist.__all__:
        assert hasattr(exewhitelist, name)


def test_result_is_frozen(sample_files: dict[str, Path]) -> None:
    r = hash_file(sample_files["mingw/hello64.exe"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.sha256 = "0" * 64  # type: ignore[misc]
    assert r.pe is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.pe.format = "PE32"  # type: ignore[misc]
    assert isinstance(r.anomalies, tuple)


def test_accepts_str_and_pathlike(sample_files: dict[str, Path]) -> None:
    path = sample_files["mingw/hello64.exe"]
    assert hash_file(path) == hash_file(str(path))
