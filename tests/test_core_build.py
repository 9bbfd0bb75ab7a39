"""The driver's portable C core (``driver/core/``), built on Linux: how the tests reach it.

``driver/harness/Makefile`` builds the core with gcc and with clang: as a
relocatable object (checked here to need nothing from libc), as
``libewlcore.so`` for ctypes (with ``harness.c``: OpenSSL's SHA-256/SHA-1
behind the core's hash callbacks), and as standalone executables built with
ASan and UBSan. The other ``test_core_*`` modules import the helpers below.
A missing compiler or make fails the tests: ``scripts/setup`` installs them.
"""

from __future__ import annotations

import ctypes
import functools
import re
import shutil
import subprocess
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_benchmarks import run_quick

from exewhitelist import Anomaly, FileHashes
from exewhitelist.blob import BlobDecision
from exewhitelist.blob._format import Decided
from exewhitelist.pe import MACHINE_NAMES
from exewhitelist.policy import DEFAULT_VARIABLES, VARIABLES, Action, fold
from exewhitelist.rules import (
    CertificateId,
    FileAttribute,
    FileVersion,
    Signer,
    SignerFacts,
    code_units,
)
from exewhitelist.staging import Depends, Facts, Next, Reason, Verdict

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "driver" / "core"
HARNESS = ROOT / "driver" / "harness"
BUILD = HARNESS / "build"
COMPILERS = ("gcc", "clang")

EWL_NO_INDEX = 0xFFFF_FFFF
_ACTIONS = {1: Action.ALLOW, 2: Action.DENY}
_IMAGE_FILE_DLL = 0x2000
_PE_FORMATS = {0x10B: "PE32", 0x20B: "PE32+"}
_KIND_PE, _KIND_NONCONFORMANT = 2, 1


@functools.cache
def build(*targets: str) -> None:
    """``make`` in driver/harness (incremental); raises with the compiler's output."""
    for tool in ("make", "gcc", "clang", "ld", "nm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed; scripts/setup installs it (as root)")
    proc = subprocess.run(
        ["make", "-C", str(HARNESS), "-j2", *targets],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"make {' '.join(targets)} failed:\n{proc.stdout}\n{proc.stderr}")


class U16Str(ctypes.Structure):
    _fields_ = (("units", ctypes.POINTER(ctypes.c_uint16)), ("len", ctypes.c_size_t))


class CDecision(ctypes.Structure):
    _fields_ = (
        ("status", ctypes.c_int32),
        ("action", ctypes.c_int32),
        ("decided", ctypes.c_int32),
        ("enforced", ctypes.c_int32),
        ("default_id", ctypes.c_int32),
        ("index", ctypes.c_uint32),
        ("id_len", ctypes.c_uint32),
        ("id", ctypes.c_uint8 * 256),
    )


EWL_MAX_SIGNERS = 8
EWL_MAX_CHAIN = 8
_TBS_CODES = {"sha1": 1, "sha256": 2, "sha384": 3, "sha512": 4}


class CCertificateRef(ctypes.Structure):
    _fields_ = (("algorithm", ctypes.c_int), ("digest", ctypes.POINTER(ctypes.c_uint8)))


class CSigner(ctypes.Structure):
    _fields_ = (
        ("chain_len", ctypes.c_size_t),
        ("chain", CCertificateRef * EWL_MAX_CHAIN),
        ("common_name", ctypes.POINTER(ctypes.c_uint16)),
        ("common_name_len", ctypes.c_size_t),
    )


class CSignerFacts(ctypes.Structure):
    _fields_ = (
        ("signer_count", ctypes.c_size_t),
        ("signers", CSigner * EWL_MAX_SIGNERS),
        ("attributes", U16Str * len(FileAttribute)),
        ("has_version", ctypes.c_int),
        ("version", ctypes.c_uint64),
    )


def _u16(units_: Sequence[int]) -> ctypes.Array[ctypes.c_uint16]:
    return (ctypes.c_uint16 * max(1, len(units_)))(*units_)


def c_signer_facts(facts: SignerFacts | None) -> tuple[CSignerFacts | None, list[object]]:
    """Signer facts as ewl_signer_facts_t: common names as their code units, attribute values
    folded here with ``exewhitelist.rules.fold`` (the driver folds them as it folds paths).
    The list keeps the buffers alive."""
    if facts is None:
        return None, []
    if len(facts.signers) > EWL_MAX_SIGNERS or any(
        len(s.chain) > EWL_MAX_CHAIN for s in facts.signers
    ):
        raise ValueError("more signers or certificates than the C query holds")
    keep: list[object] = []
    out = CSignerFacts()
    out.signer_count = len(facts.signers)
    for i, signer in enumerate(facts.signers):
        c = out.signers[i]
        c.chain_len = len(signer.chain)
        for k, cert in enumerate(signer.chain):
            digest = (ctypes.c_uint8 * len(cert.tbs_hash))(*bytes.fromhex(cert.tbs_hash))
            keep.append(digest)
            c.chain[k].algorithm = _TBS_CODES.get(cert.algorithm, 0)
            c.chain[k].digest = ctypes.cast(digest, ctypes.POINTER(ctypes.c_uint8))
        if signer.common_name is not None:
            cn = units(code_units(signer.common_name))
            array = _u16(cn)
            keep.append(array)
            c.common_name = ctypes.cast(array, ctypes.POINTER(ctypes.c_uint16))
            c.common_name_len = len(cn)
    for attribute, value in facts.attributes.items():
        folded = units(fold(value))
        array = _u16(folded)
        keep.append(array)
        out.attributes[attribute.code - 1] = U16Str(
            ctypes.cast(array, ctypes.POINTER(ctypes.c_uint16)), len(folded)
        )
    if facts.version is not None:
        out.has_version = 1
        out.version = facts.version.packed
    return out, keep


def signer_facts_from_json(data: Mapping[str, object] | None) -> SignerFacts | None:
    """The query form of tests/vectors/blob/manifest.json: {"signers": [{"chain":
    ["sha256:<hex>", ...], "common_name": "..."}], "attributes": {"original_filename": ...},
    "version": "1.2.3.4"}."""
    if data is None:
        return None
    signers = data.get("signers", [])
    attributes = data.get("attributes", {})
    version = data.get("version")
    assert isinstance(signers, list) and isinstance(attributes, dict)
    return SignerFacts(
        tuple(
            Signer(
                tuple(CertificateId.parse(c) for c in s.get("chain", [])),
                s.get("common_name"),
            )
            for s in signers
        ),
        {FileAttribute(k): v for k, v in attributes.items()},
        FileVersion.parse(version) if version is not None else None,
    )


_SIGNER_KEYS = ("signers", "attributes", "version")


def split_query(query: Mapping[str, object]) -> tuple[dict[str, str], SignerFacts | None]:
    """A manifest query as (path and digests, signer facts): the signer facts are the JSON of
    :func:`signer_facts_from_json`, under ``signer_facts`` or as the query's own keys."""
    base = {k: v for k, v in query.items() if k not in (*_SIGNER_KEYS, "signer_facts")}
    assert all(isinstance(v, str) for v in base.values()), query
    nested = query.get("signer_facts")
    if isinstance(nested, dict):
        return dict(base), signer_facts_from_json(nested)  # type: ignore[arg-type]
    own = {k: query[k] for k in _SIGNER_KEYS if k in query}
    return dict(base), signer_facts_from_json(own) if own else None  # type: ignore[arg-type]


def signer_lines(facts: SignerFacts | None) -> list[str]:
    """Signer facts as test_core.c reads them before a query (see its header comment)."""
    if facts is None:
        return []
    lines = ["facts"]
    for signer in facts.signers:
        cn = signer.common_name
        name = "-" if cn is None else "".join(f"{u:04x}" for u in units(code_units(cn))) or "="
        chain = ",".join(f"{_TBS_CODES.get(c.algorithm, 0)}:{c.tbs_hash}" for c in signer.chain)
        lines.append(f"signer {name} {chain or '-'}")
    for attribute, value in facts.attributes.items():
        folded = "".join(f"{u:04x}" for u in units(fold(value))) or "="
        lines.append(f"attribute {attribute.code} {folded}")
    if facts.version is not None:
        lines.append(f"version {facts.version.packed}")
    return lines


class CVerdict(ctypes.Structure):
    _fields_ = (
        ("next", ctypes.c_int32),
        ("depends", ctypes.c_int32),
        ("reason", ctypes.c_int32),
        ("decision", CDecision),
    )


class CDigests(ctypes.Structure):
    _fields_ = (
        ("status", ctypes.c_int32),
        ("kind", ctypes.c_int32),
        ("anomalies", ctypes.c_uint32),
        ("format", ctypes.c_uint32),
        ("machine", ctypes.c_uint32),
        ("subsystem", ctypes.c_uint32),
        ("characteristics", ctypes.c_uint32),
        ("sections", ctypes.c_uint32),
        ("is_signed", ctypes.c_int32),
        ("certificate_entries", ctypes.c_uint32),
        ("page_size", ctypes.c_uint32),
        ("size", ctypes.c_uint64),
        ("sha256", ctypes.c_uint8 * 32),
        ("authenticode_sha256", ctypes.c_uint8 * 32),
        ("authenticode_sha1", ctypes.c_uint8 * 20),
        ("authenticode_sha256_unpadded", ctypes.c_uint8 * 32),
        ("page_sha256", ctypes.c_uint8 * 32),
        ("page_sha1", ctypes.c_uint8 * 20),
    )


@functools.cache
def library(compiler: str) -> ctypes.CDLL:
    """``libewlcore.so`` built by ``compiler``, with its entry points typed."""
    build("all")
    lib = ctypes.CDLL(str(BUILD / compiler / "libewlcore.so"))
    lib.ewlh_validate.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
    lib.ewlh_validate.restype = ctypes.c_int
    lib.ewlh_decide.argtypes = (
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_uint16),
        ctypes.c_size_t,
        ctypes.POINTER(U16Str),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(CDecision),
    )
    lib.ewlh_decide.restype = ctypes.c_int
    lib.ewlh_decide_signers.argtypes = (
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_uint16),
        ctypes.c_size_t,
        ctypes.POINTER(CSignerFacts),
        ctypes.POINTER(U16Str),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(CDecision),
    )
    lib.ewlh_decide_signers.restype = ctypes.c_int
    lib.ewlh_decide_staged_signers.argtypes = (
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_uint16),
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(CSignerFacts),
        ctypes.POINTER(U16Str),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(CVerdict),
    )
    lib.ewlh_decide_staged_signers.restype = ctypes.c_int
    lib.ewlh_needs_signers.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
    lib.ewlh_needs_signers.restype = ctypes.c_int
    lib.ewlh_decide_staged.argtypes = (
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_uint16),
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(U16Str),
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(CVerdict),
    )
    lib.ewlh_decide_staged.restype = ctypes.c_int
    lib.ewlh_hash_file.argtypes = (ctypes.c_char_p, ctypes.POINTER(CDigests))
    lib.ewlh_hash_file.restype = ctypes.c_int
    lib.ewlh_hash_memory.argtypes = (
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint64,
        ctypes.c_size_t,
        ctypes.POINTER(CDigests),
    )
    lib.ewlh_hash_memory.restype = ctypes.c_int
    lib.ewlh_crc32.argtypes = (ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t)
    lib.ewlh_crc32.restype = ctypes.c_uint32
    lib.ewlh_utf8_valid.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
    lib.ewlh_utf8_valid.restype = ctypes.c_int
    lib.ewlh_anomaly_name.argtypes = (ctypes.c_uint,)
    lib.ewlh_anomaly_name.restype = ctypes.c_char_p
    lib.ewlh_default_variables.argtypes = (
        ctypes.POINTER(ctypes.POINTER(U16Str)),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_size_t)),
    )
    lib.ewlh_default_variables.restype = None
    return lib


def units(text: str) -> list[int]:
    """A folded string (one character per UTF-16 code unit) as its code units."""
    return [ord(c) for c in text]


def validate(lib: ctypes.CDLL, blob: bytes) -> int:
    return int(lib.ewlh_validate(blob, len(blob)))


def _c_variables(
    variables: Mapping[str, Sequence[str]] | None,
) -> tuple[ctypes.Array[U16Str], ctypes.Array[ctypes.c_size_t], list[object]]:
    """The variables as ewlh_decide takes them, folded; the last item keeps the arrays alive."""
    variables = DEFAULT_VARIABLES if variables is None else variables
    folded = [units(fold(v)) for name in VARIABLES for v in variables.get(name, ())]
    arrays = [(ctypes.c_uint16 * max(1, len(u)))(*u) for u in folded]
    values = (U16Str * max(1, len(arrays)))(
        *(U16Str(a, len(u)) for a, u in zip(arrays, folded, strict=True))
    )
    counts = (ctypes.c_size_t * len(VARIABLES))(
        *(len(variables.get(name, ())) for name in VARIABLES)
    )
    return values, counts, list(arrays)


def _c_path(path: str | None) -> tuple[ctypes.Array[ctypes.c_uint16] | None, int]:
    path_units = units(fold(path)) if path is not None else []
    array = (ctypes.c_uint16 * max(1, len(path_units)))(*path_units)
    return (array if path is not None else None), len(path_units)


def _blob_decision(out: CDecision) -> BlobDecision:
    rule_id = bytes(out.id[: out.id_len]).decode() if out.decided else None
    return BlobDecision(
        action=_ACTIONS[int(out.action)],
        decided_by=Decided(int(out.decided)),
        index=-1 if out.index == EWL_NO_INDEX else int(out.index),
        rule_id=rule_id,
        enforced=bool(out.enforced),
    )


def decide(
    lib: ctypes.CDLL,
    blob: bytes,
    *,
    path: str | None = None,
    authenticode_sha256: str | None = None,
    file_sha256: str | None = None,
    variables: Mapping[str, Sequence[str]] | None = None,
) -> BlobDecision:
    """The C decision, in the reference reader's terms (``Blob.decide`` arguments).

    The path and the variable values are folded here with ``exewhitelist.policy.fold``,
    as the driver folds them with RtlUpcaseUnicodeString.
    """
    return decide_signed(
        lib,
        blob,
        None,
        path=path,
        authenticode_sha256=authenticode_sha256,
        file_sha256=file_sha256,
        variables=variables,
    )


def decide_signed(
    lib: ctypes.CDLL,
    blob: bytes,
    signers: SignerFacts | None,
    *,
    path: str | None = None,
    authenticode_sha256: str | None = None,
    file_sha256: str | None = None,
    variables: Mapping[str, Sequence[str]] | None = None,
) -> BlobDecision:
    """:func:`decide` with signer facts (None: none), as :func:`c_signer_facts` passes them."""
    values, counts, _keep = _c_variables(variables)
    path_array, path_len = _c_path(path)
    c_signers, _keep_signers = c_signer_facts(signers)
    out = CDecision()
    status = lib.ewlh_decide_signers(
        blob,
        len(blob),
        bytes.fromhex(authenticode_sha256) if authenticode_sha256 else None,
        bytes.fromhex(file_sha256) if file_sha256 else None,
        path_array,
        path_len,
        ctypes.byref(c_signers) if c_signers is not None else None,
        values,
        counts,
        ctypes.byref(out),
    )
    if status != 0:
        raise AssertionError(f"the C core rejects a blob the test decides on: code {status}")
    return _blob_decision(out)


def decide_staged(
    lib: ctypes.CDLL,
    blob: bytes,
    facts: Facts,
    variables: Mapping[str, Sequence[str]] | None = None,
) -> Verdict[BlobDecision]:
    """The C staged decision (``ewl_decide_staged``), in the Python twin's terms."""
    values, counts, _keep = _c_variables(variables)
    path_array, path_len = _c_path(facts.path)
    c_signers, _keep_signers = c_signer_facts(facts.signer_facts)
    out = CVerdict()
    status = lib.ewlh_decide_staged_signers(
        blob,
        len(blob),
        int(facts.path_state),
        path_array,
        path_len,
        int(facts.hash_state),
        bytes.fromhex(facts.authenticode_sha256) if facts.authenticode_sha256 else None,
        bytes.fromhex(facts.file_sha256) if facts.file_sha256 else None,
        int(facts.signer_state),
        ctypes.byref(c_signers) if c_signers is not None else None,
        values,
        counts,
        ctypes.byref(out),
    )
    if status != 0:
        raise AssertionError(f"the C core rejects a blob the test decides on: code {status}")
    if out.next != Next.NONE:
        return Verdict(Next(out.next), None, Depends.NOTHING, Reason.RULE)
    return Verdict(
        Next.NONE, _blob_decision(out.decision), Depends(out.depends), Reason(out.reason)
    )


@dataclass(frozen=True)
class DigestFacts:
    """What ``hash_file`` reports about a file, in a form both sides give."""

    size: int
    sha256: str
    kind: str
    """``pe``, ``nonconformant`` (pe_error set) or ``not_pe``."""
    pe: tuple[str, str, int, bool, int, int] | None
    """format, machine name, subsystem, is_dll, sections, certificate entries."""
    authenticode_sha256: str | None
    authenticode_sha1: str | None
    authenticode_sha256_unpadded: str | None
    page_sha256: str | None
    page_sha1: str | None
    signed: bool
    anomalies: tuple[Anomaly, ...]


def facts(r: FileHashes) -> DigestFacts:
    """The facts of Python's :func:`exewhitelist.hash_file` result."""
    kind = "pe" if r.pe else ("nonconformant" if r.pe_error else "not_pe")
    pe = r.pe
    return DigestFacts(
        size=r.size,
        sha256=r.sha256,
        kind=kind,
        pe=(
            (pe.format, pe.machine, pe.subsystem, pe.is_dll, pe.sections, pe.certificate_entries)
            if pe
            else None
        ),
        authenticode_sha256=r.authenticode_sha256,
        authenticode_sha1=r.authenticode_sha1,
        authenticode_sha256_unpadded=r.authenticode_sha256_unpadded,
        page_sha256=r.page_sha256,
        page_sha1=r.page_sha1,
        signed=r.signed,
        anomalies=r.anomalies,
    )


def _anomalies(mask: int) -> tuple[Anomaly, ...]:
    # Bit n is the n-th member of Anomaly (test_anomaly_names_are_pythons pins it).
    return tuple(a for n, a in enumerate(Anomaly) if mask >> n & 1)


def _c_facts(
    *,
    status: int,
    kind: int,
    anomalies: int,
    pe: tuple[int, int, int, int, int, int],
    signed: bool,
    size: int,
    digests: tuple[str, str, str, str, str, str],
) -> DigestFacts:
    if status != 0:
        raise AssertionError(f"ewl_pe_digest failed with status {status}")
    fmt, machine, subsystem, characteristics, sections, entries = pe
    is_pe = kind == _KIND_PE
    sha256, auth256, auth1, unpadded, page256, page1 = digests
    return DigestFacts(
        size=size,
        sha256=sha256,
        kind="pe" if is_pe else ("nonconformant" if kind == _KIND_NONCONFORMANT else "not_pe"),
        pe=(
            (
                _PE_FORMATS[fmt],
                MACHINE_NAMES.get(machine, f"0x{machine:04x}"),
                subsystem,
                bool(characteristics & _IMAGE_FILE_DLL),
                sections,
                entries,
            )
            if is_pe
            else None
        ),
        authenticode_sha256=auth256 if is_pe else None,
        authenticode_sha1=auth1 if is_pe else None,
        authenticode_sha256_unpadded=unpadded if is_pe else None,
        page_sha256=page256 if is_pe else None,
        page_sha1=page1 if is_pe else None,
        signed=signed,
        anomalies=_anomalies(anomalies),
    )


def _digests_facts(d: CDigests) -> DigestFacts:
    return _c_facts(
        status=int(d.status),
        kind=int(d.kind),
        anomalies=int(d.anomalies),
        pe=(
            int(d.format),
            int(d.machine),
            int(d.subsystem),
            int(d.characteristics),
            int(d.sections),
            int(d.certificate_entries),
        ),
        signed=bool(d.is_signed),
        size=int(d.size),
        digests=(
            bytes(d.sha256).hex(),
            bytes(d.authenticode_sha256).hex(),
            bytes(d.authenticode_sha1).hex(),
            bytes(d.authenticode_sha256_unpadded).hex(),
            bytes(d.page_sha256).hex(),
            bytes(d.page_sha1).hex(),
        ),
    )


def hash_file(lib: ctypes.CDLL, path: Path) -> DigestFacts:
    """Every digest of a file through the C core (read with pread)."""
    out = CDigests()
    lib.ewlh_hash_file(str(path).encode(), ctypes.byref(out))
    return _digests_facts(out)


def hash_memory(lib: ctypes.CDLL, data: bytes, piece: int = 0) -> DigestFacts:
    """The same from memory, read back in pieces of at most ``piece`` bytes."""
    out = CDigests()
    lib.ewlh_hash_memory(data, len(data), len(data), piece, ctypes.byref(out))
    return _digests_facts(out)


def hash_memory_status(lib: ctypes.CDLL, data: bytes, file_size: int) -> int:
    """ewl_pe_digest's status when the size at open was ``file_size`` but ``data`` is read."""
    out = CDigests()
    return int(lib.ewlh_hash_memory(data, len(data), file_size, 1000, ctypes.byref(out)))


def hash_files_sanitized(compiler: str, paths: list[Path]) -> dict[Path, DigestFacts]:
    """The digests through ``ewl_hashfile`` built with ASan and UBSan (any report fails)."""
    build("all")
    proc = subprocess.run(
        [str(BUILD / f"asan-{compiler}" / "ewl_hashfile"), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or proc.stderr:
        raise AssertionError(f"ewl_hashfile ({compiler}) failed:\n{proc.stderr}")
    out: dict[Path, DigestFacts] = {}
    for line in proc.stdout.splitlines():
        path, *fields = line.split("\t")
        n = [int(f) for f in fields[:12]]
        status, kind, anomalies, fmt, machine, subsystem, chars, sections = n[:8]
        signed, entries, _page_size, size = n[8:]
        digests = tuple(fields[12:])
        assert len(digests) == 6
        out[Path(path)] = _c_facts(
            status=status,
            kind=kind,
            anomalies=anomalies,
            pe=(fmt, machine, subsystem, chars, sections, entries),
            signed=bool(signed),
            size=size,
            digests=(digests[0], digests[1], digests[2], digests[3], digests[4], digests[5]),
        )
    assert len(out) == len(paths)
    return out


# The core's own build.


def test_core_needs_nothing_from_libc() -> None:
    """Linked relocatably, the core leaves no symbol undefined: no libc, no runtime calls.

    Compiled with -O2 by both compilers, which may turn loops into memset or
    memcpy calls: those would show up here too.
    """
    build("all")
    for compiler in COMPILERS:
        obj = BUILD / compiler / "core.o"
        proc = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True)
        assert proc.stdout.strip() == "", f"{compiler}: undefined symbols\n{proc.stdout}"


def test_core_builds_for_the_drivers_targets() -> None:
    """The same sources, freestanding and warning-free, for the driver's compilers.

    mingw-w64 x86-64 and i686 (a 32-bit size_t), and clang for the MSVC ABI
    (LLP64); nothing left undefined there either.
    """
    build("windows")
    for target, nm in (
        ("mingw64", "x86_64-w64-mingw32-nm"),
        ("mingw32", "i686-w64-mingw32-nm"),
        ("msvc", "x86_64-w64-mingw32-nm"),
    ):
        obj = BUILD / target / "core.o"
        proc = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True)
        assert proc.stdout.strip() == "", f"{target}: undefined symbols\n{proc.stdout}"


def test_core_includes_only_its_headers_and_two_standard_ones() -> None:
    own = {p.name for p in CORE.glob("*.h")}
    sources = sorted(CORE.glob("*.[ch]"))
    assert {p.name for p in sources} >= {"ewl_blob.c", "ewl_lookup.c", "ewl_authenticode.c"}
    for source in sources:
        text = source.read_text()
        for include in re.findall(r"^\s*#\s*include\s*(.+?)\s*$", text, re.MULTILINE):
            assert include in ("<stdint.h>", "<stddef.h>") or (
                include.startswith('"') and include.strip('"') in own
            ), f"{source.name} includes {include}"
        # One build for kernel and host: no conditional compilation but include guards.
        conditionals = re.findall(r"^\s*#\s*(if\w*)\s*(.*)$", text, re.MULTILINE)
        if source.suffix == ".h":
            guard = source.name.upper().replace(".", "_")
            assert conditionals == [("ifndef", guard)], f"{source.name}: {conditionals}"
        else:
            assert conditionals == [], f"{source.name}: {conditionals}"


def test_anomaly_names_are_pythons() -> None:
    """Bit n of the C anomaly mask is the n-th member of exewhitelist.Anomaly."""
    for compiler in COMPILERS:
        lib = library(compiler)
        names = [lib.ewlh_anomaly_name(n) for n in range(len(Anomaly) + 1)]
        assert names[-1] is None
        assert [n.decode() for n in names[:-1]] == [a.value for a in Anomaly]


def test_harness_default_variables_are_pythons() -> None:
    """The values the fuzzer and the benchmark use are DEFAULT_VARIABLES, folded."""
    lib = library("gcc")
    values = ctypes.POINTER(U16Str)()
    counts = ctypes.POINTER(ctypes.c_size_t)()
    lib.ewlh_default_variables(ctypes.byref(values), ctypes.byref(counts))
    got: dict[str, list[str]] = {}
    k = 0
    for i, name in enumerate(VARIABLES):
        for _ in range(counts[i]):
            v = values[k]
            got.setdefault(name, []).append("".join(chr(v.units[j]) for j in range(v.len)))
            k += 1
    assert got == {name: [fold(v) for v in vs] for name, vs in DEFAULT_VARIABLES.items()}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF_FFFF))
def test_crc32_is_zlibs(data: bytes, start: int) -> None:
    for compiler in COMPILERS:
        assert library(compiler).ewlh_crc32(start, data, len(data)) == zlib.crc32(data, start)


def _utf8_valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_UTF8_EDGES = [
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xc2\x80",
    b"\xe0\x9f\xbf",
    b"\xe0\xa0\x80",
    b"\xed\x9f\xbf",
    b"\xed\xa0\x80",
    b"\xef\xbf\xbf",
    b"\xf0\x8f\xbf\xbf",
    b"\xf0\x90\x80\x80",
    b"\xf4\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xff",
    b"\x80",
    b"\xe2\x82",
    "é ß Ω Ж 𝔸".encode(),
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_UTF8_EDGES), st.binary(max_size=4), st.text(max_size=3)),
        max_size=6,
    ).map(
        lambda parts: b"".join(
            p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p for p in parts
        )
    )
)
def test_utf8_check_is_pythons_strict_decoder(data: bytes) -> None:
    for compiler in COMPILERS:
        assert bool(library(compiler).ewlh_utf8_valid(data, len(data))) == _utf8_valid(data)


def test_bench_core_quick() -> None:
    """benchmarks/bench_core.py still runs (a smoke run: the timings are not asserted)."""
    report = run_quick("bench_core.py")
    assert report["hash_lookup"]["hit_ns"] > 0 and report["hash_lookup"]["miss_ns"] > 0
    assert report["path_decision"]["median_ns"] > 0
    hits = [c for k, c in report["path_decision"]["by_category"].items() if k.endswith("_hit")]
    assert hits and all(c["decided_by_path"] == c["queries"] for c in hits)
    assert report["validation"]["hash_blob_ms"] > 0
    signers = report["signers"]
    assert signers["all"]["median_ns"] > 0 and signers["all"]["base_median_ns"] > 0
    assert 0 < signers["all"]["decided_by_publisher"] < signers["all"]["queries"]
