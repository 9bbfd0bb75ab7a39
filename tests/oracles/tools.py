"""Digests from independent tools (osslsigncode, lief) and the reference formula.

- ``osslsigncode extract-data`` writes the unsigned PKCS#7 it would sign; the
  Authenticode digest follows the digest AlgorithmIdentifier in it.  It pads
  unsigned files to a multiple of 8, as Windows does.
- ``lief``'s ``authentihash`` does not pad (it equals our unpadded digest).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import lief

lief.logging.disable()  # it narrates every oddity of a mutated file on stderr

# DER of the AlgorithmIdentifier OIDs, and the OCTET STRING header of the digest.
_OIDS = {
    "sha256": (bytes.fromhex("0609608648016503040201"), bytes.fromhex("0420")),
    "sha1": (bytes.fromhex("06052b0e03021a"), bytes.fromhex("0414")),
}


def osslsigncode_digest(path: Path, algorithm: str) -> bytes:
    """The Authenticode digest osslsigncode would sign for ``path``."""
    oid, octet_header = _OIDS[algorithm]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "data.der"
        proc = subprocess.run(
            ["osslsigncode", "extract-data", "-h", algorithm, "-in", str(path), "-out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"osslsigncode extract-data failed on {path}: {proc.stderr}")
        der = out.read_bytes()
    at = der.index(octet_header, der.index(oid) + len(oid))
    size = octet_header[1]
    return der[at + 2 : at + 2 + size]


def lief_digest(path: Path, algorithm: str) -> bytes:
    """lief's authentihash (linear, unpadded)."""
    binary: Any = lief.PE.parse(str(path))
    if binary is None:
        raise RuntimeError(f"lief cannot parse {path}")
    alg = {"sha256": lief.PE.ALGORITHMS.SHA_256, "sha1": lief.PE.ALGORITHMS.SHA_1}[algorithm]
    return bytes(binary.authentihash(alg))


def linear_digest(
    data: bytes, checksum: int, certificate_entry: int, end: int, algorithm: str
) -> bytes:
    """The canonical linear algorithm of ``docs/hashing.md`` restated from the spec text.

    Used only for mutated shapes on which the tools disagree with Windows'
    documented behaviour (for example osslsigncode honours an unaligned
    certificate table that Windows rejects); offsets come from pefile.
    """
    h = hashlib.new(algorithm)
    h.update(data[:checksum])
    h.update(data[checksum + 4 : certificate_entry])
    h.update(data[certificate_entry + 8 : end])
    h.update(bytes(-end % 8))
    return h.digest()
