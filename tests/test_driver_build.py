"""The kernel driver's image: ``make -C driver`` cross-builds ``exewhitelist.sys``
with Debian's mingw-w64 and the pefile gate checks it (docs/driver.md).

A missing cross-compiler fails these tests loudly: ``scripts/setup`` installs
it (as root). ``tests/test_driver_emulation.py`` runs the image built here.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pefile
import pytest

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "driver"
SYS = DRIVER / "build" / "kernel" / "exewhitelist.sys"
TOOLS = DRIVER / "kernel" / "tools"
_CROSS = ("make", "x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32-dlltool")


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    for tool in _CROSS:
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"{tool} is not installed; scripts/setup installs mingw-w64 (as root)"
            )
    proc = subprocess.run(
        ["make", "-C", str(DRIVER), f"PYTHON={sys.executable}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"make {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@functools.cache
def build_driver() -> Path:
    """``make -C driver`` (incremental; includes the pefile gate): the .sys path."""
    _make()
    return SYS


@functools.cache
def check_image() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_image", TOOLS / "check_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gate_passes_on_the_build() -> None:
    assert check_image().problems(str(build_driver())) == []


def test_image_flags() -> None:
    pe = pefile.PE(str(build_driver()))
    oh, fh = pe.OPTIONAL_HEADER, pe.FILE_HEADER
    assert fh.Machine == 0x8664
    assert oh.Subsystem == 1  # NATIVE
    assert not fh.Characteristics & 0x2000  # not a DLL
    assert not fh.Characteristics & 0x0001  # relocations kept
    assert oh.DllCharacteristics & 0x0080  # FORCE_INTEGRITY
    assert oh.DllCharacteristics & 0x0100  # NX_COMPAT
    assert oh.DllCharacteristics & 0x0040  # DYNAMIC_BASE
    assert oh.CheckSum == pe.generate_checksum() != 0
    assert oh.AddressOfEntryPoint != 0
    for section in pe.sections:
        assert not (section.Characteristics & 0x80000000 and section.Characteristics & 0x20000000)
    assert pe.FILE_HEADER.TimeDateStamp == 0  # --no-insert-timestamp


def test_imports_only_kernel_modules() -> None:
    pe = pefile.PE(str(build_driver()))
    imports = {
        entry.dll.decode().lower(): {i.name.decode() for i in entry.imports if i.name}
        for entry in pe.DIRECTORY_ENTRY_IMPORT
    }
    assert set(imports) == {"ntoskrnl.exe", "cng.sys", "fltmgr.sys"}
    for dll, names in imports.items():  # the .def files are the allowlist
        def_file = DRIVER / f"{dll.split('.')[0]}.def"
        assert names <= set(def_file.read_text().split("EXPORTS")[1].split())
    assert "PsSetCreateProcessNotifyRoutineEx" in imports["ntoskrnl.exe"]
    assert "MmDoesFileHaveUserWritableReferences" in imports["ntoskrnl.exe"]
    assert "BCryptOpenAlgorithmProvider" in imports["cng.sys"]
    assert "FltGetFileNameInformationUnsafe" in imports["fltmgr.sys"]
    # ExAllocatePool2 is resolved at run time, never imported (pool.c)
    assert "ExAllocatePool2" not in imports["ntoskrnl.exe"]
    assert not hasattr(pe, "DIRECTORY_ENTRY_EXPORT")
    assert not hasattr(pe, "DIRECTORY_ENTRY_TLS")


def test_unwind_data_present() -> None:
    """x64 exception dispatch and bugcheck stack walks need .pdata."""
    pe = pefile.PE(str(build_driver()))
    assert pe.OPTIONAL_HEADER.DATA_DIRECTORY[3].Size > 0  # EXCEPTION directory


def test_reproducible(tmp_path: Path) -> None:
    """Two clean builds elsewhere give the same bytes as each other and as the main build."""
    images = []
    for name in ("a", "b"):
        out = tmp_path / name
        _make(f"OUT={out}", f"{out}/exewhitelist.sys")
        images.append((out / "exewhitelist.sys").read_bytes())
    assert images[0] == images[1] == build_driver().read_bytes()


def _patched(tmp_path: Path, edit: str) -> str:
    pe = pefile.PE(str(build_driver()))
    if edit == "no_force_integrity":
        pe.OPTIONAL_HEADER.DllCharacteristics &= ~0x0080
    elif edit == "no_nx":
        pe.OPTIONAL_HEADER.DllCharacteristics &= ~0x0100
    elif edit == "gui_subsystem":
        pe.OPTIONAL_HEADER.Subsystem = 2
    elif edit == "wx_section":
        pe.sections[0].Characteristics |= 0x80000000 | 0x20000000
    elif edit == "foreign_import":
        entry = pe.DIRECTORY_ENTRY_IMPORT[-1]
        pe.set_bytes_at_rva(entry.struct.Name, b"user32.dll\0")
    if edit != "bad_checksum":
        pe.OPTIONAL_HEADER.CheckSum = pe.generate_checksum()
    data = bytearray(pe.write())
    if edit == "bad_checksum":
        offset = pe.OPTIONAL_HEADER.get_file_offset() + 64
        data[offset] ^= 1
    if edit != "bad_checksum":
        fixed = pefile.PE(data=bytes(data))
        fixed.OPTIONAL_HEADER.CheckSum = fixed.generate_checksum()
        data = bytearray(fixed.write())
    path = tmp_path / f"{edit}.sys"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("no_force_integrity", "FORCE_INTEGRITY"),
        ("no_nx", "NX_COMPAT"),
        ("gui_subsystem", "subsystem"),
        ("wx_section", "writable and executable"),
        ("foreign_import", "user32.dll"),
        ("bad_checksum", "checksum"),
    ],
)
def test_gate_negative_controls(tmp_path: Path, edit: str, expected: str) -> None:
    found = check_image().problems(_patched(tmp_path, edit))
    assert any(expected in p for p in found), found


def test_gate_command_line(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, str(TOOLS / "check_image.py"), str(build_driver())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, str(TOOLS / "check_image.py"), _patched(tmp_path, "no_nx")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "NX_COMPAT" in bad.stderr


def test_test_signing(tmp_path: Path) -> None:
    """docs/driver.md's osslsigncode commands: the signed image verifies, keeps
    its Authenticode digest (what a hash rule for the driver would hold) and
    still passes the gate (osslsigncode rewrites the checksum)."""
    from exewhitelist.hashing import hash_file

    for tool in ("openssl", "osslsigncode"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed; scripts/setup installs it (as root)")
    key, crt, signed = tmp_path / "test.key", tmp_path / "test.crt", tmp_path / "signed.sys"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key)),
            *("-out", str(crt), "-days", "30", "-subj", "/CN=exewhitelist test signing"),
            *("-addext", "extendedKeyUsage=codeSigning"),
        ],
        capture_output=True,
        check=True,
    )
    subprocess.run(
        [
            *("osslsigncode", "sign", "-certs", str(crt), "-key", str(key), "-h", "sha256"),
            *("-n", "exewhitelist", "-in", str(build_driver()), "-out", str(signed)),
        ],
        capture_output=True,
        check=True,
    )
    verify = subprocess.run(
        ["osslsigncode", "verify", "-CAfile", str(crt), str(signed)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Signature verification: ok" in verify.stdout, verify.stdout + verify.stderr
    unsigned_digest = hash_file(build_driver()).authenticode_sha256
    assert hash_file(signed).authenticode_sha256 == unsigned_digest
    assert unsigned_digest is not None
    assert f"Calculated message digest : {unsigned_digest.upper()}" in verify.stdout
    assert check_image().problems(str(signed)) == []


def test_msbuild_project_builds_the_same_sources() -> None:
    """driver/msbuild/exewhitelist.vcxproj (untested without Windows) must at
    least compile what the Makefile compiles, and force integrity."""
    import re
    import xml.etree.ElementTree as ET

    makefile = (DRIVER / "Makefile").read_text()
    sources = set()
    for var in ("CORE_SRC", "KERNEL_SRC"):
        match = re.search(rf"^{var} := (.*)$", makefile, re.MULTILINE)
        assert match is not None
        sources |= set(match.group(1).split())
    project = ET.parse(DRIVER / "msbuild" / "exewhitelist.vcxproj").getroot()  # noqa: S314
    ns = {"m": "http://schemas.microsoft.com/developer/msbuild/2003"}
    compiled = {
        e.attrib["Include"].replace("\\", "/").removeprefix("../")
        for e in project.iterfind(".//m:ItemGroup/m:ClCompile", ns)
    }
    assert compiled == sources
    options = " ".join(e.text or "" for e in project.iterfind(".//m:Link/m:AdditionalOptions", ns))
    assert "/INTEGRITYCHECK" in options


def _inf() -> dict[str, list[str]]:
    """driver/exewhitelist.inf as {section: [lines]}, comments dropped."""
    sections: dict[str, list[str]] = {}
    current = None
    for raw in (DRIVER / "exewhitelist.inf").read_text().splitlines():
        line = raw.split(";", 1)[0].strip() if not raw.lstrip().startswith("HKR") else raw.strip()
        if raw.lstrip().startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
        elif line and current is not None:
            sections[current].append(line.split(" ;", 1)[0].strip())
    return sections


def _inf_values(lines: list[str]) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (x.split("=", 1) for x in lines if "=" in x)}


def test_inf_installs_a_minifilter_in_the_anti_virus_group() -> None:
    """The INF (untested without Windows): a primitive minifilter INF in
    FSFilter Anti-Virus, with its instance's altitude inside that group's range
    and marked as a placeholder (docs/driver.md, "Installing")."""
    inf = _inf()
    assert not any(s.lower().startswith("defaultuninstall") for s in inf)
    version = _inf_values(inf["Version"])
    assert version["Class"] == '"AntiVirus"'
    assert version["ClassGuid"] == "{b1d1a169-c54f-4379-81db-bee7d88d7454}"
    service = _inf_values(inf["ExeWhitelist.Service"])
    assert service["ServiceType"] == "2"  # SERVICE_FILE_SYSTEM_DRIVER
    assert service["LoadOrderGroup"] == '"FSFilter Anti-Virus"'
    assert service["Dependencies"] == '"FltMgr"'
    assert service["ServiceBinary"] == r"%12%\%DriverName%.sys"
    strings = _inf_values(inf["Strings"])
    altitude = int(strings["Instance1.Altitude"].strip('"'))
    assert 320000 <= altitude <= 329999 and altitude != 328010  # WdFilter's
    assert "PLACEHOLDER" in (DRIVER / "exewhitelist.inf").read_text()
    registry = inf["ExeWhitelist.AddRegistry"]
    for where in (r'"Parameters\Instances', r'"Instances'):  # 24H2+, and before
        assert any(line.startswith(f"HKR,{where}") and "Altitude" in line for line in registry)
    assert strings["DriverName"] == '"exewhitelist"'


def test_reads_only_through_filter_manager() -> None:
    """The driver reads images only on its own file objects (FltCreateFileEx2,
    FltReadFileEx): nothing that could take a handle to, or read through, the
    creator's file object is imported (docs/driver.md, "Own reads")."""
    pe = pefile.PE(str(build_driver()))
    imports = {i.name.decode() for e in pe.DIRECTORY_ENTRY_IMPORT for i in e.imports if i.name}
    assert {"FltCreateFileEx2", "FltReadFileEx"} <= imports
    forbidden = {
        "ObOpenObjectByPointer",
        "ZwReadFile",
        "NtReadFile",
        "ZwCreateFile",
        "IoCreateFile",
    }
    assert imports.isdisjoint(forbidden)
