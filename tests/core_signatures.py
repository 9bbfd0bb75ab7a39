"""The C core's signature verifier (``driver/core/ewl_signature.h``) next to Python's.

``ewl_sigcheck`` (``driver/harness/``, ASan + UBSan, OpenSSL behind the core's
hash and verify callbacks) reads WIN_CERTIFICATE entries and prints one JSON
object per signature; :func:`c_signatures` runs it and :func:`compare` checks
its verdicts and facts against :func:`exewhitelist.signatures.parse_table`'s.
Also a strict DER walker (:func:`der_elements`) for the tests' mutations.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from test_core_build import BUILD, build

from exewhitelist.pe import parse_layout
from exewhitelist.rules.publisher import _common_name
from exewhitelist.signatures import Signature, parse_table

HASHES = ("sha1", "sha256", "sha384", "sha512")
C_HASHES = {0: None, 1: "sha1", 2: "sha256", 3: "sha384", 4: "sha512"}
_CN_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be",
              0x1C: "utf-32-be"}  # fmt: skip


def table_entries(data: bytes) -> list[bytes]:
    """Each WIN_CERTIFICATE entry of a PE image's gated table, its 8-byte header first."""
    layout = parse_layout(lambda offset, size: data[offset : offset + size], len(data))
    if layout is None or layout.certificate_table is None:
        return []
    return [data[offset - 8 : offset + size] for offset, size in layout.certificate_table.spans]


def python_signatures(
    entries: Sequence[bytes], digests: Mapping[str, str]
) -> tuple[Signature, ...]:
    """What exewhitelist says of the entries (headers stripped, as hashing.py passes them)."""
    return parse_table([e[8 : int.from_bytes(e[:4], "little")] for e in entries]).verify(digests)


def c_signatures(
    entries: Sequence[bytes], digests: Mapping[str, str], compiler: str = "gcc"
) -> list[dict[str, Any]]:
    """``ewl_sigcheck``'s records for the entries; it must exit 0 with nothing on stderr."""
    build("all")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, entry in enumerate(entries):
            path = Path(tmp) / f"{i}.bin"
            path.write_bytes(entry)
            paths.append(str(path))
        args = [a for name, hex_ in digests.items() for a in ("--image", f"{name}:{hex_}")]
        proc = subprocess.run(
            [str(BUILD / f"asan-{compiler}" / "ewl_sigcheck"), *args, *paths],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def common_name(record: Mapping[str, Any]) -> str | None:
    """The C leaf CN decoded by its string type (None: none, or a type not decoded)."""
    codec = _CN_CODECS.get(record["cn_tag"])
    if codec is None:
        return None
    return bytes.fromhex(record["cn"]).decode(codec, "replace")


@dataclass(frozen=True)
class Facts:
    """What C and Python must agree on for one signature."""

    status: str
    nesting: int
    digest_algorithm: str | None
    digest: str | None
    digest_matches: bool | None
    chain: tuple[str, ...]
    """SHA-256 of each chain certificate's DER."""
    tbs: tuple[tuple[str, str] | None, ...]
    """(algorithm, hex) of each, None where WDAC has no TBS pin (not SHA-1/2)."""
    common_name: str | None


def python_facts(signature: Signature) -> Facts:
    supported = signature.digest_algorithm in HASHES
    return Facts(
        status=signature.status.value,
        nesting=signature.nesting,
        digest_algorithm=signature.digest_algorithm if supported else None,
        digest=signature.digest if supported else None,
        digest_matches=signature.digest_matches,
        chain=tuple(c.sha256 for c in signature.chain),
        tbs=tuple(
            (c.tbs_algorithm, c.tbs_hash)
            if c.tbs_algorithm in HASHES and c.tbs_hash is not None
            else None
            for c in signature.chain
        ),
        common_name=_common_name(signature.chain[0].subject) if signature.chain else None,
    )


def c_facts(record: Mapping[str, Any], entry: bytes) -> Facts:
    algorithm = C_HASHES[record["digest_alg"]]
    return Facts(
        status=record["status"],
        nesting=record["nesting"],
        digest_algorithm=algorithm,
        digest=record["digest"] if algorithm is not None else None,
        digest_matches=None if record["digest_matches"] < 0 else bool(record["digest_matches"]),
        chain=tuple(hashlib.sha256(entry[o : o + n]).hexdigest() for o, n in record["chain"]),
        tbs=tuple((t[0], t[1]) if t is not None else None for t in record["tbs"]),
        common_name=common_name(record) if record["chain"] else None,
    )


def both(
    entries: Sequence[bytes], digests: Mapping[str, str], compiler: str = "gcc"
) -> tuple[list[Facts], list[Facts]]:
    """(Python's facts, C's facts) of every signature of the entries, in the same order."""
    python = [python_facts(s) for s in python_signatures(entries, digests)]
    records = c_signatures(entries, digests, compiler)
    c = [c_facts(r, entries[r["entry"]]) for r in records]
    return python, c


# --- a strict DER walk, for mutations ---------------------------------------------------------


@dataclass(frozen=True)
class Element:
    tag: int
    offset: int
    header: int
    length: int
    depth: int
    path: tuple[int, ...]
    """Tags of the enclosing elements, outermost first."""


def der_elements(data: bytes, offset: int = 0, end: int | None = None) -> Iterator[Element]:
    """Every element of DER data (each level before the next); stops where it is not DER."""
    stack: list[tuple[int, int, tuple[int, ...]]] = [
        (offset, len(data) if end is None else end, ())
    ]
    while stack:
        pos, stop, path = stack.pop()
        children = []
        while pos < stop:
            if stop - pos < 2 or data[pos] & 0x1F == 0x1F:
                break
            first = data[pos + 1]
            header, length = 2, first
            if first >= 0x80:
                n = first & 0x7F
                if n == 0 or n > 4 or stop - pos - 2 < n:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 2 + n], "big")
                header += n
            if length > stop - pos - header:
                break
            element = Element(data[pos], pos, header, length, len(path), path)
            children.append(element)
            pos += header + length
        for element in reversed(children):
            if element.tag & 0x20:
                stack.append(
                    (
                        element.offset + element.header,
                        element.offset + element.header + element.length,
                        (*element.path, element.tag),
                    )
                )
        yield from children
