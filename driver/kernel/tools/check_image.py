#!/usr/bin/env python3
"""The pefile gate for the built driver: ``check_image.py exewhitelist.sys``.

Asserts what Windows and the threat model need of the image: a native-subsystem
x64 image (not a DLL), FORCE_INTEGRITY (else PsSetCreateProcessNotifyRoutineEx
fails with ACCESS_DENIED), NX compat, dynamic base with relocations kept, the
correct PE checksum, imports only from allowlisted kernel modules, no section
both writable and executable, no TLS and no exports. Prints one line per
problem and exits 1, or prints a summary and exits 0.
"""

from __future__ import annotations

import sys

import pefile

ALLOWED_IMPORTS = frozenset({"ntoskrnl.exe", "cng.sys", "fltmgr.sys"})
SUBSYSTEM_NATIVE = 1
MACHINE_AMD64 = 0x8664
FORCE_INTEGRITY = 0x0080
NX_COMPAT = 0x0100
DYNAMIC_BASE = 0x0040
FILE_DLL = 0x2000
RELOCS_STRIPPED = 0x0001
SCN_EXECUTE = 0x20000000
SCN_WRITE = 0x80000000


def problems(path: str) -> list[str]:
    pe = pefile.PE(path)
    found: list[str] = []
    oh, fh = pe.OPTIONAL_HEADER, pe.FILE_HEADER
    if fh.Machine != MACHINE_AMD64:
        found.append(f"machine 0x{fh.Machine:04x}, not AMD64")
    if oh.Subsystem != SUBSYSTEM_NATIVE:
        found.append(f"subsystem {oh.Subsystem}, not NATIVE (1)")
    if fh.Characteristics & FILE_DLL:
        found.append("IMAGE_FILE_DLL is set")
    if fh.Characteristics & RELOCS_STRIPPED:
        found.append("relocations stripped")
    for flag, name in (
        (FORCE_INTEGRITY, "FORCE_INTEGRITY"),
        (NX_COMPAT, "NX_COMPAT"),
        (DYNAMIC_BASE, "DYNAMIC_BASE"),
    ):
        if not oh.DllCharacteristics & flag:
            found.append(f"DllCharacteristics 0x{oh.DllCharacteristics:04x} lacks {name}")
    if oh.CheckSum != pe.generate_checksum():
        found.append(f"checksum 0x{oh.CheckSum:08x}, expected 0x{pe.generate_checksum():08x}")
    for section in pe.sections:
        if section.Characteristics & SCN_WRITE and section.Characteristics & SCN_EXECUTE:
            name = section.Name.rstrip(b"\0").decode(errors="replace")
            found.append(f"section {name} is writable and executable")
    modules = sorted(
        entry.dll.decode().lower() for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
    )
    if not modules:
        found.append("no imports")
    for module in modules:
        if module not in ALLOWED_IMPORTS:
            found.append(f"imports from {module}, not in {sorted(ALLOWED_IMPORTS)}")
    if hasattr(pe, "DIRECTORY_ENTRY_TLS"):
        found.append("has a TLS directory")
    if hasattr(pe, "DIRECTORY_ENTRY_EXPORT"):
        found.append("has exports")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: check_image.py DRIVER.sys", file=sys.stderr)
        return 2
    found = problems(argv[1])
    for problem in found:
        print(f"{argv[1]}: {problem}", file=sys.stderr)
    if not found:
        print(f"{argv[1]}: pefile gate passed")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
