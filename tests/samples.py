"""Real PE files for the tests: fetched from package registries or built here.

Nothing is committed.  Everything lands in a cache directory
(``$EXEWHITELIST_TEST_CACHE``, default ``~/.cache/exewhitelist-tests``) and is
reused by later runs.  A missing tool or registry is an error, never a skip:
the test command (``scripts/check``) installs the tools first.

Provenance (why each sample is here):

- PyPI wheels, pinned by version and verified by SHA-256 (PyPI files are
  immutable): ``setuptools`` and ``distlib`` carry unsigned Windows launchers
  (PE32, PE32+, ARM64); ``msvc-runtime`` carries Microsoft-signed amd64 DLLs
  (its win32 wheel ships the same amd64 DLLs, so signed PE32 files come from
  the mingw builds below).
- Debian's current ``shim-signed`` (``shimx64.efi.signed``, two WIN_CERTIFICATE
  entries) and ``grub-efi-amd64-signed``: the archive keeps only the current
  version, so they are not pinned; each proves itself through the digest
  stored in its own signature.
- Built here with mingw-w64 and signed with ``osslsigncode`` under a
  throw-away certificate made with ``cryptography``: PE32 and PE32+ EXEs and a
  DLL, unsigned (unstripped, so their size is not a multiple of 8), signed
  with SHA-256 and page hashes, and dual-signed (SHA-1 then a nested SHA-256).
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import os
import shutil
import subprocess
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(
    os.environ.get("EXEWHITELIST_TEST_CACHE", Path.home() / ".cache" / "exewhitelist-tests")
)


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    platform: str
    sha256: str
    members: str
    """Glob (``fnmatch``) of the members to extract."""


WHEELS = (
    Wheel(
        "setuptools",
        "80.9.0",
        "win_amd64",
        "062d34222ad13e0cc312a4c02d73f059e86a4acbfbdea8f8f76b28c99f306922",
        "setuptools/*.exe",
    ),
    Wheel(
        "distlib",
        "0.4.0",
        "win_amd64",
        "9659f7d87e46584a30b5780e43ac7a2143098441670ff0a49d5f9034c54a6c16",
        "distlib/*.exe",
    ),
    Wheel(
        "msvc-runtime",
        "14.44.35112",
        "win_amd64",
        "aba7fbe71897d25ed53fbb7f391e9f50289378a8a9ae218ba18530c663448391",
        "msvc_runtime-*.data/data/*.dll",
    ),
)

DEBIAN_FILES = {
    "shim-signed": ("usr/lib/shim/shimx64.efi.signed",),
    "grub-efi-amd64-signed": ("usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",),
}

HELLO_C = r"""
#include <windows.h>
__declspec(dllexport) int exewhitelist_answer(void) { return 42; }
int main(void) {
    MessageBoxA(NULL, "exewhitelist test sample", "hello", MB_OK);
    return exewhitelist_answer();
}
"""

MINGW = {"64": "x86_64-w64-mingw32-gcc", "32": "i686-w64-mingw32-gcc"}


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(
            f"{tool} is not installed; run scripts/check, which installs the test tools"
        )
    return path


def _downloaded(wheel: Wheel, download: Path) -> list[Path]:
    prefix = f"{wheel.name.replace('-', '_')}-{wheel.version}-"
    return [
        p
        for p in download.glob("*.whl")
        if p.name.lower().startswith(prefix)
        and p.name.endswith((f"-{wheel.platform}.whl", "-any.whl"))
    ]


def _fetch_wheel(wheel: Wheel, dest: Path) -> list[Path]:
    done = dest / ".done"
    if not done.exists():
        download = CACHE / "downloads"
        download.mkdir(parents=True, exist_ok=True)
        found = _downloaded(wheel, download)
        if not found:
            _run(
                [
                    "python3",
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--platform",
                    wheel.platform,
                    "--python-version",
                    "3.11",
                    "-d",
                    str(download),
                    f"{wheel.name}=={wheel.version}",
                ]
            )
            found = _downloaded(wheel, download)
        digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
        if digest != wheel.sha256:
            raise RuntimeError(f"{found[0]}: SHA-256 {digest}, expected {wheel.sha256}")
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(found[0]) as zf:
            for member in zf.namelist():
                if fnmatch.fnmatch(member, wheel.members):
                    (dest / Path(member).name).write_bytes(zf.read(member))
        done.touch()
    return sorted(p for p in dest.iterdir() if p.name != ".done")


def _fetch_debian(package: str, dest: Path, members: Sequence[str] | None = None) -> list[Path]:
    """The files ``members`` (default: :data:`DEBIAN_FILES`'s) of Debian's current ``package``."""
    done = dest / ".done"
    if not done.exists():
        _require("apt-get")
        work = CACHE / "debian-download"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        _run(["apt-get", "download", package], cwd=work)
        (deb,) = work.glob("*.deb")
        extracted = work / "x"
        _run(["dpkg-deb", "-x", str(deb), str(extracted)])
        dest.mkdir(parents=True, exist_ok=True)
        for member in DEBIAN_FILES[package] if members is None else members:
            shutil.copyfile(extracted / member, dest / Path(member).name)
        shutil.rmtree(work)
        done.touch()
    return sorted(p for p in dest.iterdir() if p.name != ".done")


def make_code_signing_certificate(dest: Path) -> tuple[Path, Path]:
    """A throw-away RSA key and self-signed code-signing certificate (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exewhitelist test signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = dest / "key.pem", dest / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def sign(src: Path, dest: Path, key: Path, cert: Path, *extra: str) -> Path:
    """Sign ``src`` into ``dest`` with osslsigncode (``extra``: -h sha1, -ph, -nest...)."""
    _require("osslsigncode")
    dest.unlink(missing_ok=True)
    _run(
        [
            "osslsigncode",
            "sign",
            "-certs",
            str(cert),
            "-key",
            str(key),
            *extra,
            "-in",
            str(src),
            "-out",
            str(dest),
        ]
    )
    return dest


def _build_mingw(dest: Path) -> list[Path]:
    done = dest / ".done"
    if not done.exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        src = dest / "hello.c"
        src.write_text(HELLO_C)
        for bits, cc in MINGW.items():
            _require(cc)
            _run([cc, "-O2", "-o", f"hello{bits}.exe", "hello.c", "-luser32"], cwd=dest)
            _run([cc, "-O2", "-shared", "-o", f"hello{bits}.dll", "hello.c", "-luser32"], cwd=dest)
        key, cert = make_code_signing_certificate(dest)
        for bits in MINGW:
            exe = dest / f"hello{bits}.exe"
            sign(exe, dest / f"hello{bits}-signed.exe", key, cert, "-h", "sha256", "-ph")
            sign(exe, dest / f"hello{bits}-sha1.exe.tmp", key, cert, "-h", "sha1", "-ph")
            sign(
                dest / f"hello{bits}-sha1.exe.tmp",
                dest / f"hello{bits}-dual.exe",
                key,
                cert,
                "-nest",
                "-h",
                "sha256",
            )
            (dest / f"hello{bits}-sha1.exe.tmp").unlink()
        sign(dest / "hello64.dll", dest / "hello64-signed.dll", key, cert, "-h", "sha256")
        for leftover in (src, key, cert):
            leftover.unlink()
        done.touch()
    return sorted(p for p in dest.iterdir() if p.name != ".done")


WINE_UPCASE = "usr/share/wine/nls/l_intl.nls"
"""Wine's reconstruction of Windows' casing table (``RtlUpcaseUnicodeChar``), in Debian's
libwine."""


def wine_casing_table() -> Path:
    """``l_intl.nls`` from Debian's current libwine: the independent source of Windows' folding."""
    (path,) = _fetch_debian("libwine", CACHE / "debian" / "libwine", (WINE_UPCASE,))
    return path


def all_samples() -> dict[str, Path]:
    """Every sample, by a stable name (``source/file``)."""
    samples: dict[str, Path] = {}
    for wheel in WHEELS:
        label = f"{wheel.name}-{wheel.platform}"
        for path in _fetch_wheel(wheel, CACHE / "pypi" / label):
            samples[f"{label}/{path.name}"] = path
    for package in DEBIAN_FILES:
        for path in _fetch_debian(package, CACHE / "debian" / package):
            samples[f"{package}/{path.name}"] = path
    for path in _build_mingw(CACHE / "mingw"):
        samples[f"mingw/{path.name}"] = path
    return samples
