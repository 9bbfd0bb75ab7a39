"""Every public name is declared: a public module lists in ``__all__`` each public name it defines.

A name is internal when it or its module starts with an underscore; anything
else a module defines is public API and must be in its ``__all__`` (as httpx's
``tests/test_exported_members.py`` guards its package).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import exewhitelist

PACKAGE = Path(exewhitelist.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# A package's __init__ is public; any other module starting with "_" (__main__,
# blob/_format) is internal.
PUBLIC_MODULES = sorted(
    _module_name(path)
    for path in PACKAGE.rglob("*.py")
    if path.name == "__init__.py"
    or not any(part.startswith("_") for part in path.relative_to(PACKAGE).parts)
)


def _defined_names(path: Path) -> set[str]:
    """The names a module binds at its top level by def, class or assignment (not by import)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def test_every_module_is_covered() -> None:
    assert "exewhitelist.blob.compile" in PUBLIC_MODULES
    assert "exewhitelist.blob._format" not in PUBLIC_MODULES
    assert len(PUBLIC_MODULES) >= 14


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_names_are_in_all(name: str) -> None:
    module = importlib.import_module(name)
    path = Path(module.__file__ or "")
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{name} has no __all__"
    public = {n for n in _defined_names(path) if not n.startswith("_")}
    assert sorted(public - set(declared)) == [], f"{name}: public but not in __all__"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_only_what_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ lists names it does not have"
    assert len(set(module.__all__)) == len(module.__all__)


def test_package_all_is_sorted_and_complete() -> None:
    assert exewhitelist.__all__ == sorted(exewhitelist.__all__)
    assert all(hasattr(exewhitelist, n) for n in exewhitelist.__all__)
