"""Real file trees for the scan tests, built in a temporary directory from the real samples."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from exewhitelist import ScanOptions, ScanRecord
from exewhitelist.hashing import open_file
from exewhitelist.scan import scan

HOUR_AGO_NS = (time.time_ns() // 10**9 - 3600) * 10**9
"""A modification time old enough for the cache to keep a file (see RACY_NS)."""


def put(root: Path, rel: str, source: Path | bytes) -> Path:
    """Write ``rel`` under ``root`` (parents made) as a copy of ``source`` or these bytes."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        shutil.copyfile(source, path)
    return path


def mixed_tree(root: Path, samples: dict[str, Path]) -> Path:
    """Executables, look-alikes, scripts, links and oddities under ``root``.

    ===================================  ==========================================
    ``bin/app.exe`` ``bin/tool.EXE``      real PE images (one with an upper-case suffix)
    ``bin/lib.dll``                       a Microsoft-signed DLL with version strings
    ``bin/renamed.dat``                   a PE image under a name no rule lists
    ``bin/efi/shimx64.efi``               Debian's shim: two certificate entries
    ``docs/readme.txt``                   text
    ``docs/mz.txt``                       text starting with ``MZ``: picked, but not a PE
    ``docs/tiny.bin``                     ``MZ`` and 8 bytes: too short to look at
    ``scripts/run.ps1`` ``scripts/go.BAT``  scripts: listed by their suffix
    ``empty.dll``                         zero bytes, listed by its suffix
    ``sparse.exe``                        a PE image followed by a 4 MiB hole
    ``hard/a.exe`` ``hard/b.exe``         two hard links to one file
    ``loop`` -> ``.``                     a directory symlink to an ancestor
    ``bin/link.exe`` -> ``app.exe``       a file symlink
    ===================================  ==========================================
    """
    put(root, "bin/app.exe", samples["mingw/hello64-signed.exe"])
    put(root, "bin/tool.EXE", samples["mingw/hello32.exe"])
    put(root, "bin/lib.dll", samples["msvc-runtime-win_amd64/vcruntime140.dll"])
    put(root, "bin/renamed.dat", samples["setuptools-win_amd64/cli-64.exe"])
    put(root, "bin/efi/shimx64.efi", samples["shim-signed/shimx64.efi.signed"])
    put(root, "docs/readme.txt", b"not a program\n" * 10)
    put(root, "docs/mz.txt", b"MZ is how this text starts, but it is no program at all.\n" * 3)
    put(root, "docs/tiny.bin", b"MZ" + bytes(8))
    put(root, "scripts/run.ps1", b"Write-Output 'hello'\r\n")
    put(root, "scripts/go.BAT", b"@echo off\r\necho hi\r\n")
    put(root, "empty.dll", b"")
    sparse = put(root, "sparse.exe", samples["mingw/hello64.exe"])
    with sparse.open("r+b") as f:
        f.truncate(sparse.stat().st_size + (4 << 20))
    first = put(root, "hard/a.exe", samples["distlib-win_amd64/t64.exe"])
    os.link(first, root / "hard/b.exe")
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "bin/link.exe").symlink_to("app.exe")
    return root


MIXED_RECORDS = [
    "bin/app.exe",
    "bin/efi/shimx64.efi",
    "bin/lib.dll",
    "bin/renamed.dat",
    "bin/tool.EXE",
    "docs/mz.txt",
    "empty.dll",
    "hard/a.exe",
    "scripts/go.BAT",
    "scripts/run.ps1",
    "sparse.exe",
]
"""The records of :func:`mixed_tree`, relative to its root, in scan order."""


def golden_image(root: Path, samples: dict[str, Path]) -> Path:
    """A tree laid out like a Windows system drive, names in Windows' mixed case."""
    system32 = "Windows/System32"
    put(root, f"{system32}/vcruntime140.dll", samples["msvc-runtime-win_amd64/vcruntime140.dll"])
    put(root, f"{system32}/MSVCP140.dll", samples["msvc-runtime-win_amd64/msvcp140.dll"])
    put(root, f"{system32}/drivers/etc/hosts", b"127.0.0.1 localhost\n")
    put(root, "Program Files/App/App.exe", samples["mingw/hello64-signed.exe"])
    put(root, "Program Files/App/plugins/Plugin.dll", samples["mingw/hello64-signed.dll"])
    put(root, "Users/bob/AppData/Local/Temp/x.exe", samples["setuptools-win_amd64/gui-64.exe"])
    return root


def records(root: Path, options: ScanOptions | None = None) -> list[ScanRecord]:
    """Every record of a scan of ``root``."""
    return list(scan([root], options or ScanOptions(jobs=2)))


def backdate(root: Path, ns: int = HOUR_AGO_NS) -> None:
    """Set every file's modification time to ``ns`` (symlinks left alone)."""
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.utime(path, ns=(ns, ns))


def record_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the paths the scan opens (to look for MZ or to hash), in order."""
    paths: list[str] = []

    def counting(name: str, *, follow_symlinks: bool = True) -> int:
        paths.append(name)
        return open_file(name, follow_symlinks=follow_symlinks)

    monkeypatch.setattr("exewhitelist.scan.open_file", counting)
    return paths
