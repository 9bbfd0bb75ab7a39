"""Signer facts of whole files, as the driver gets them, against Python (issue 15).

``ewl_signers`` (ASan + UBSan, gcc and clang) makes one pass of the core over a
file: the pass's plan reads the certificate table and asks for the Authenticode
digests its signatures were made with (as ``hashing._digest_fd`` does), then
``ewl_table_verify`` checks every signature with OpenSSL behind the callbacks
and keeps the valid ones as signers. Python's
``signer_facts(hash_file(path).signatures, None)`` is the oracle for the
signers (chain of TBS hashes, leaf common name) and the statuses of every
signature, on every real signed sample, every test-chain case of
test_core_signature.py, and tables of several entries.
"""

from __future__ import annotations

import ctypes
import datetime
import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from core_signatures import Element, der_elements, table_entries
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_core_build import BUILD, COMPILERS, build, library
from test_core_signature import EXPECTED, Made, made

from exewhitelist import SignatureStatus
from exewhitelist.blob.signerjson import signer_facts_to_json
from exewhitelist.hashing import hash_file
from exewhitelist.pe import parse_layout
from exewhitelist.rules import signer_facts

__all__ = ["made"]  # the fixture, shared with test_core_signature


def _c(paths: list[Path], compiler: str = "gcc") -> list[dict[str, Any]]:
    build("all")
    proc = subprocess.run(
        [str(BUILD / f"asan-{compiler}" / "ewl_signers"), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert not proc.stderr, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _python(path: Path) -> dict[str, Any]:
    signatures = hash_file(path).signatures
    facts = signer_facts_to_json(signer_facts(signatures, None))
    return {
        "signers": facts.get("signers", []),
        "statuses": [s.status.value for s in signatures or ()],
    }


def _check(paths: list[Path], compiler: str = "gcc") -> list[dict[str, Any]]:
    records = _c(paths, compiler)
    assert len(records) == len(paths)
    for path, record in zip(paths, records, strict=True):
        assert record["status"] == 0, path
        assert {k: record[k] for k in ("signers", "statuses")} == _python(path), path
    return records


@pytest.mark.parametrize("compiler", COMPILERS)
def test_real_samples(compiler: str, sample_files: dict[str, Path]) -> None:
    records = _check(sorted(sample_files.values()), compiler)
    signers = [s for r in records for s in r["signers"]]
    assert len(signers) >= 20  # the Microsoft DLLs (two each), shim, grub, the test binaries
    assert any("Microsoft" in s.get("common_name", "") for s in signers)


def test_test_chains(made: dict[str, Made]) -> None:
    cases = sorted(EXPECTED)
    records = _check([made[c].path for c in cases])
    by_case = dict(zip(cases, records, strict=True))
    # Only valid signatures whose image digest matched become signers (SHA-1 to SHA-512
    # cases included: the plan asked for each digest).
    for case in cases:
        assert len(by_case[case]["signers"]) == EXPECTED[case].count("valid"), case
    assert by_case["ecdsa"]["signers"][0]["common_name"] == "EC Leaf"


def _table(data: bytes) -> tuple[int, int]:
    layout = parse_layout(lambda offset, size: data[offset : offset + size], len(data))
    assert layout is not None and layout.certificate_table is not None
    spans = layout.certificate_table.spans
    start = spans[0][0] - 8
    return start, len(data) - start


def _with_table(data: bytes, table: bytes) -> bytes:
    """``data`` with its certificate table replaced (the directory entry's size too)."""
    layout = parse_layout(lambda offset, size: data[offset : offset + size], len(data))
    assert layout is not None and layout.certificate_table is not None
    start, _ = _table(data)
    out = bytearray(data[:start] + table)
    entry = layout.certificate_entry_offset
    out[entry + 4 : entry + 8] = len(table).to_bytes(4, "little")
    return bytes(out)


def test_tables_of_several_entries(made: dict[str, Made], tmp_path: Path) -> None:
    """Entries after the first count, a malformed one ends the walk, and a table larger
    than signatures.MAX_TABLE_SIZE is not read."""
    base = made["rsa3-sha256"].path.read_bytes()
    ecdsa = made["ecdsa"].path.read_bytes()
    start, _ = _table(base)
    first = base[start:]
    second = ecdsa[_table(ecdsa)[0] :]
    variants = {
        "two": first + second,
        "bad-then-good": b"\x08\x00\x00\x00\x00\x01\x02\x00" + first,
        "good-then-garbage": first + b"\x01" * 16,
        "huge": first + bytes(8) * ((1 << 20) // 8),
    }
    paths = []
    for name, table in variants.items():
        path = tmp_path / f"{name}.exe"
        path.write_bytes(_with_table(base, table))
        paths.append(path)
    records = _check(paths)
    assert [len(r["signers"]) for r in records] == [2, 0, 1, 0]


def test_versions_must_be_integers(made: dict[str, Made], tmp_path: Path) -> None:
    """SignedData's and SignerInfo's version fields are never otherwise used, but a
    field that is not an INTEGER is not CMS: malformed in both (asn1crypto parses a
    field only when it is read, so Python once called such a signature valid)."""
    base = made["rsa3-sha256"].path.read_bytes()
    start, _ = _table(base)
    entry = base[start:]
    elements = list(der_elements(entry, 8, int.from_bytes(entry[:4], "little")))
    versions = [
        e
        for e in elements
        if e.tag == 0x02 and e.path in ((0x30, 0xA0, 0x30), (0x30, 0xA0, 0x30, 0x31, 0x30))
    ]
    assert len(versions) == 2  # SignedData's, then the SignerInfo's
    paths = []
    for k, e in enumerate(versions):
        mutated = bytearray(base)
        mutated[start + e.offset] = 0xAC  # [12] constructed: not an INTEGER
        path = tmp_path / f"{k}.exe"
        path.write_bytes(bytes(mutated))
        paths.append(path)
        assert _python(path)["statuses"] == ["malformed"], path
    records = _check(paths)
    assert [r["statuses"] for r in records] == [["malformed"], ["malformed"]]


def test_content_type_attribute_not_an_oid(made: dict[str, Made], tmp_path: Path) -> None:
    """A contentType signed attribute whose value is not an OID is a wrong contentType
    (bad_signed_attributes), as in C: Python once raised while writing the reason and
    called the signature malformed."""
    base = made["rsa3-sha256"].path.read_bytes()
    start, _ = _table(base)
    entry = base[start:]
    elements = list(der_elements(entry, 8, int.from_bytes(entry[:4], "little")))
    value = next(
        e
        for e in elements
        if e.tag == 0x06 and e.path == (0x30, 0xA0, 0x30, 0x31, 0x30, 0xA0, 0x30, 0x31)
    )
    mutated = bytearray(base)
    mutated[start + value.offset] = 0x04  # an OCTET STRING
    path = tmp_path / "content-type.exe"
    path.write_bytes(bytes(mutated))
    assert _python(path)["statuses"] == ["bad_signed_attributes"]
    _check([path])


# --- random byte changes anywhere in a table ---------------------------------------------------

RANDOM_MADE = ("nested", "ecdsa", "rsa3-sha1", "pss", "rsa3-sha384")
RANDOM_REAL = ("msvc-runtime-win_amd64/vcruntime140.dll", "shim-signed/shimx64.efi.signed")
RANDOM_FILES = 40  # mutated files per example, checked by one ewl_signers run


def _random_difference(
    table: bytes, changes: list[tuple[int, int]], python: list[str], c: list[str]
) -> str | None:
    """Why C's statuses (c) may differ from Python's on this mutation of ``table``, or None.

    Both named differences are Python's: asn1crypto accepting what DER does not.

    ``changes`` are (offset in the table, new byte); only the first signature whose
    status differs is explained (a malformed one can hide the nested ones after it).
    """
    first = next((i for i, (p, q) in enumerate(zip(python, c, strict=False)) if p != q), None)
    if first is None:  # one list is a prefix of the other
        first = min(len(python), len(c))
    p = python[first] if first < len(python) else None
    q = c[first] if first < len(c) else None
    elements: list[Element] = []
    at_entry = 0
    while at_entry + 8 <= len(table):  # every entry, as pe._walk_certificates walks them
        length = int.from_bytes(table[at_entry : at_entry + 4], "little")
        if length < 8:
            break
        elements += der_elements(table, at_entry + 8, min(at_entry + length, len(table)))
        at_entry += (length + 7) & ~7
    if any(
        e.tag == 0x30
        and e.header > 2
        and table[e.offset + e.header - 1] == 0x80
        and e.offset <= at < e.offset + e.header + e.length
        for e in elements
        for at, _ in changes
    ):
        # asn1crypto takes a definite length ending in 0x80 for the indefinite form
        # and re-encodes such an element when signatures.py dumps it (a certificate
        # of 0x480 bytes: every RSA test chain has one): Python checks asn1crypto's
        # re-encoding, not the file's bytes. Being fixed in signatures.py.
        return "asn1crypto re-encoding"
    order = [status.value for status in SignatureStatus][1:]  # the checks, in order
    if q in order and (p in (None, "valid") or order.index(q) < order.index(p)):
        headers = [(e.offset, e.offset + e.header) for e in elements]
        if any(start <= at < end for at, _ in changes for start, end in headers):
            # C fails an earlier check than Python (malformed; unsupported for RSA-PSS
            # parameters with an extra element) on a broken tag or length that
            # asn1crypto reads leniently: signed attributes re-tagged from [0] (taken
            # as absent: bad_signed_attributes), a shortened element or a re-tagged
            # last field (the bytes after it kept as an extra element of the SEQUENCE,
            # which can even leave the signature valid), a length past the parent
            # (read on). DER allows none of them. Being fixed in signatures.py.
            return "element header asn1crypto reads leniently"
    return None


@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # shrinking a batch takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_tables(
    data: st.DataObject,
    made: dict[str, Made],
    sample_files: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """1-3 random bytes changed anywhere in a table: C keeps exactly Python's signers
    and gives its statuses, except for a difference :func:`_random_difference` names
    (and then C keeps no signer Python does not)."""
    sources = [made[c].path for c in RANDOM_MADE] + [sample_files[n] for n in RANDOM_REAL]
    originals = {s: s.read_bytes() for s in sources}
    tmp = tmp_path_factory.mktemp("random")
    cases = []
    for i in range(RANDOM_FILES):
        source = sources[i % len(sources)]
        original = originals[source]
        start, size = _table(original)
        changes = [
            (data.draw(st.integers(0, size - 1)), data.draw(st.integers(0, 255)))
            for _ in range(data.draw(st.integers(1, 3)))
        ]
        out = bytearray(original)
        for at, value in changes:
            out[start + at] = value
        path = tmp / f"{i}.exe"
        path.write_bytes(bytes(out))
        cases.append((path, original[start:], changes))
    records = _c([path for path, _, _ in cases])
    assert len(records) == len(cases)
    for (path, table, changes), record in zip(cases, records, strict=True):
        python = _python(path)
        assert record["status"] == 0, path
        if {k: record[k] for k in ("signers", "statuses")} != python:
            why = _random_difference(table, changes, python["statuses"], record["statuses"])
            assert why is not None, (path, changes, python["statuses"], record["statuses"])
            # Every named difference is asn1crypto being lenient where C reads the
            # file's DER: C may keep fewer signers than Python then, never more.
            assert all(s in python["signers"] for s in record["signers"]), (path, changes)


def test_image_digest_not_an_octet_string(made: dict[str, Made], tmp_path: Path) -> None:
    """An SpcIndirectDataContent whose digest is not an OCTET STRING does not parse: the
    signature is malformed and its nested ones are not read, in C as in Python (which
    once read them: it checked the digest only after collecting them)."""
    base = made["nested"].path.read_bytes()
    start, _ = _table(base)
    entry = base[start:]
    elements = list(der_elements(entry, 8, int.from_bytes(entry[:4], "little")))
    digest = next(
        e
        for e in elements
        if e.tag == 0x04 and e.path == (0x30, 0xA0, 0x30, 0x30, 0xA0, 0x30, 0x30)
    )
    mutated = bytearray(base)
    mutated[start + digest.offset] = 0x81
    path = tmp_path / "digest.exe"
    path.write_bytes(bytes(mutated))
    assert _python(path)["statuses"] == ["malformed"]
    _check([path])


# --- one certificate: the core's parser against cryptography's ---------------------------------


class _View(ctypes.Structure):
    _fields_ = (("off", ctypes.c_size_t), ("len", ctypes.c_size_t))


def _c_parses(lib: ctypes.CDLL, der: bytes) -> bool:
    out = ctypes.create_string_buffer(1024)  # an ewl_sig_cert_t (a few views)
    return bool(lib.ewl_sig_parse_cert(der, _View(0, len(der)), out) == 0)


def _python_parses(der: bytes) -> bool:
    """What signatures._cert needs of a bag certificate (anything else: malformed)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
            cert.subject.public_bytes()
            cert.issuer.public_bytes()
            cert.serial_number  # noqa: B018
    except Exception:
        return False
    return True


def _string_types_certificate() -> bytes:
    """Self-signed, with a Name of every string type C checks and a GeneralizedTime."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "abcd", _ASN1Type.UTF8String),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "abcd", _ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "abcd", _ASN1Type.BMPString),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "abcd", _ASN1Type.UniversalString),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "abcd", _ASN1Type.IA5String),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "abcd", _ASN1Type.T61String),
            x509.NameAttribute(NameOID.POSTAL_CODE, "1234", _ASN1Type.NumericString),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(5)
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2060, 2, 29, tzinfo=datetime.timezone.utc))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificate_parser_refuses_what_cryptography_refuses(made: dict[str, Made]) -> None:
    """Every one-byte change of a certificate: ewl_sig_parse_cert accepts it exactly when
    cryptography loads it (strings of each Name type, UTCTime and GeneralizedTime dates,
    OIDs, unique IDs, algorithm parameters...). One it accepted and cryptography did not
    let C keep a signer Python refused."""
    lib = library("gcc")
    lib.ewl_sig_parse_cert.argtypes = (ctypes.c_char_p, _View, ctypes.c_void_p)
    lib.ewl_sig_parse_cert.restype = ctypes.c_int
    entry = table_entries(made["ecdsa"].path.read_bytes())[0]
    bag = cms.ContentInfo.load(entry[8 : int.from_bytes(entry[:4], "little")])
    leaf = bag["content"]["certificates"][0].chosen.dump()
    differences = []
    # The made certificate: every octet value; a test-chain leaf: each bit flipped.
    for der, every in ((_string_types_certificate(), True), (leaf, False)):
        assert _c_parses(lib, der) and _python_parses(der)
        for at in range(len(der)):
            values = range(256) if every else [der[at] ^ (1 << bit) for bit in range(8)]
            for value in values:
                mutated = der[:at] + bytes([value]) + der[at + 1 :]
                if _c_parses(lib, mutated) != _python_parses(mutated):
                    differences.append((len(der), at, der[at], value))
    assert not differences, differences[:20]
