"""The C core's signature verifier against :mod:`exewhitelist.signatures` (issue 15 item 4).

``ewl_sigcheck`` (ASan + UBSan, gcc and clang, OpenSSL behind the core's hash
and verify callbacks) and ``parse_table(...).verify(...)`` must give every
signature the same status, nesting, signed digest and its match, chain
(certificate by certificate), WDAC TBS hashes and leaf common name
(tests/core_signatures.py), on:

- every signed real sample (tests/samples.py);
- the test chains of tests/signing.py: RSA (two and three levels, SHA-1 to
  SHA-512 image digests), ECDSA P-256 under P-384, nested (RSA + ECDSA),
  missing intermediate, wrong issuer, expired leaf, MD5, RSA-PSS, an
  unauthenticated blob, and each tampering of test_signatures.py;
- single-field mutations of real certificate tables (hypothesis): swapped
  ``[0]``/SET tags, shortened lengths, changed OIDs, flipped digest and
  signature bytes. Where Python and C differ by design, the test names the
  difference (:func:`_known_difference`) instead of hiding it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from core_signatures import (
    HASHES,
    Element,
    Facts,
    both,
    c_signatures,
    der_elements,
    table_entries,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pe_edit import offsets
from signing import Chains, Signer, extract_signature, issue, replace_signature, rsa_key
from test_core_build import COMPILERS, CORE

from exewhitelist import SignatureStatus
from exewhitelist.hashing import authenticode_digest
from exewhitelist.signatures import _ORDER

HEADER = CORE / "ewl_signature.h"
NESTED_SIGNATURE_OID = bytes.fromhex("060a2b060104018237020401")
MUTATED = (
    "msvc-runtime-win_amd64/vcruntime140.dll",
    "mingw/hello64-dual.exe",
    "grub-efi-amd64-signed/grubx64.efi.signed",
    "shim-signed/shimx64.efi.signed",
)
MUTATED_MADE = ("made/ecdsa", "made/nested", "made/pss", "made/rsa2-complete")


def _digests(path: Path) -> dict[str, str]:
    return {name: authenticode_digest(path, name) for name in HASHES}


def _check_file(path: Path, compiler: str = "gcc") -> list[Facts]:
    entries = table_entries(path.read_bytes())
    python, c = both(entries, _digests(path), compiler)
    assert c == python, path
    return python


# --- the status numbers ------------------------------------------------------------------------


def test_status_numbers_are_pythons() -> None:
    text = HEADER.read_text()
    numbers = {m[1]: int(m[2]) for m in re.finditer(r"#define EWL_SIG_([A-Z_]+) (\d+)\n", text)}
    members = list(SignatureStatus)
    for index, member in enumerate(members):
        assert numbers[member.name] == index, member
    assert numbers["STATUS_COUNT"] == len(members)
    names = re.search(r"#define EWL_SIG_STATUS_NAMES\s*\\\s*\{([^}]*)\}", text)
    assert names is not None
    assert re.findall(r'"([a-z_]+)"', names[1]) == [m.value for m in members]
    # Precedence: a lower non-zero number is an earlier failed check.
    assert list(_ORDER) == members[1:]


# --- real samples and test chains --------------------------------------------------------------


def _signed(sample_files: dict[str, Path]) -> dict[str, Path]:
    return {k: p for k, p in sorted(sample_files.items()) if table_entries(p.read_bytes())}


@pytest.mark.parametrize("compiler", COMPILERS)
def test_real_samples(compiler: str, sample_files: dict[str, Path]) -> None:
    signed = _signed(sample_files)
    assert len(signed) >= 10
    seen = set()
    for path in signed.values():
        for facts in _check_file(path, compiler):
            seen.add((facts.status, facts.nesting > 0, facts.digest_algorithm))
            assert facts.tbs and facts.tbs[0] is not None and facts.common_name
    assert ("valid", True, "sha256") in seen and ("valid", False, "sha1") in seen


@dataclass(frozen=True)
class Made:
    path: Path
    statuses: tuple[str, ...]
    """What Python says (checked too: the case must be what its name says)."""


def _tamper(where: str, signed: Path, chains: Chains, tmp: Path) -> bytes:
    """One change of test_signatures.test_tampering."""
    data = bytearray(signed.read_bytes())
    info = cms.ContentInfo.load(extract_signature(signed, tmp / f"{where}.sig"))
    signer_info = info["content"]["signer_infos"][0]
    digest = next(
        a["values"][0].native
        for a in signer_info["signed_attrs"]
        if a["type"].native == "message_digest"
    )
    leaf = chains.rsa3.leaf.cert.public_bytes(serialization.Encoding.DER)
    if where == "section":
        _, pointer, size = offsets(bytes(data)).sections[0]
        data[pointer + size // 2] ^= 1
    elif where == "signed_attributes":
        data[data.index(digest) + 5] ^= 1
    elif where == "signature":
        data[data.index(signer_info["signature"].native) + 100] ^= 1
    elif where == "certificate":
        data[data.index(leaf) + len(leaf) - 10] ^= 1
    else:
        twin = chains.twin.cert.public_bytes(serialization.Encoding.DER)
        at = data.index(leaf)
        data[at : at + len(leaf)] = twin
    return bytes(data)


def _pss(signed: Path, chains: Chains, tmp: Path, forge: bool) -> bytes:
    """The signature re-signed with RSA-PSS (test_signatures.test_rsa_pss_signer)."""
    info = cms.ContentInfo.load(extract_signature(signed, tmp / "pss.sig"))
    signer_info = info["content"]["signer_infos"][0]
    attributes = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    key = chains.rsa3.leaf.key
    assert isinstance(key, rsa.RSAPrivateKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signer_info["signature_algorithm"] = {
        "algorithm": "rsassa_pss",
        "parameters": {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32,
        },
    }
    signer_info["signature"] = key.sign(attributes + (b"x" if forge else b""), pss, hashes.SHA256())
    out = replace_signature(signed, tmp / f"pss-{forge}.exe", info.dump())
    return out.read_bytes()


@pytest.fixture(scope="module")
def made(
    chains: Chains, sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Made]:
    """Every test-chain case, signed once."""
    tmp = tmp_path_factory.mktemp("made")
    exe = sample_files["mingw/hello64.exe"]
    exe32 = sample_files["mingw/hello32.exe"]
    files: dict[str, Path] = {}

    def add(name: str, path: Path | bytes) -> None:
        if isinstance(path, bytes):
            out = tmp / f"{name}.exe"
            out.write_bytes(path)
            path = out
        files[name] = path

    for algorithm in HASHES:
        add(
            f"rsa3-{algorithm}",
            chains.rsa3.sign(exe, tmp / f"rsa3-{algorithm}.exe", "-h", algorithm),
        )
    add("rsa3-pe32", chains.rsa3.sign(exe32, tmp / "rsa3-pe32.exe", "-h", "sha256"))
    add("rsa2-complete", chains.rsa2.sign(exe, tmp / "rsa2.exe", "-h", "sha256"))
    add("ecdsa", chains.ecdsa.sign(exe, tmp / "ecdsa.exe", "-h", "sha256"))
    add("ecdsa-sha384", chains.ecdsa.sign(exe, tmp / "ecdsa384.exe", "-h", "sha384"))
    add("expired", chains.expired.sign(exe, tmp / "expired.exe", "-h", "sha256"))
    add("missing-intermediate",
        chains.missing_intermediate.sign(exe, tmp / "missing.exe", "-h", "sha256"))  # fmt: skip
    add("wrong-issuer", chains.wrong_issuer.sign(exe, tmp / "wrong.exe", "-h", "sha256"))
    add("md5", chains.rsa3.sign(exe, tmp / "md5.exe", "-h", "md5"))
    add("page-hashes", chains.rsa3.sign(exe, tmp / "ph.exe", "-h", "sha256", "-ph"))
    first = chains.rsa3.sign(exe, tmp / "first.exe", "-h", "sha1")
    add("nested", chains.ecdsa.sign(first, tmp / "nested.exe", "-nest", "-h", "sha256"))
    base = files["rsa3-sha256"]
    for where in ("section", "signed_attributes", "signature", "certificate", "swapped"):
        add(f"tampered-{where}", _tamper(where, base, chains, tmp))
    add("pss", _pss(base, chains, tmp, forge=False))
    add("pss-forged", _pss(base, chains, tmp, forge=True))
    blob = tmp / "blob.exe"
    subprocess.run(
        ["osslsigncode", "add", "-addUnauthenticatedBlob", "-in", str(base), "-out", str(blob)],
        capture_output=True,
        check=True,
    )
    add("unauthenticated-blob", blob)
    dual = files["nested"].read_bytes()
    info = cms.ContentInfo.load(extract_signature(files["nested"], tmp / "nested.sig"))
    nested = next(
        a["values"][0]
        for a in info["content"]["signer_infos"][0]["unsigned_attrs"]
        if a["type"].native == "microsoft_nested_signature"
    )
    bad = bytearray(dual)
    bad[bad.index(nested["content"]["signer_infos"][0]["signature"].native) + 7] ^= 1
    add("nested-bad", bytes(bad))
    out = {}
    for name, path in files.items():
        python, _ = both(table_entries(path.read_bytes()), _digests(path))
        out[name] = Made(path, tuple(f.status for f in python))
    return out


EXPECTED = {
    "rsa3-sha1": ("valid",),
    "rsa3-sha256": ("valid",),
    "rsa3-sha384": ("valid",),
    "rsa3-sha512": ("valid",),
    "rsa3-pe32": ("valid",),
    "rsa2-complete": ("valid",),
    "ecdsa": ("valid",),
    "ecdsa-sha384": ("valid",),
    "expired": ("valid",),
    "missing-intermediate": ("valid",),
    "wrong-issuer": ("broken_chain",),
    "md5": ("unsupported",),
    "page-hashes": ("valid",),
    "nested": ("valid", "valid"),
    "nested-bad": ("valid", "bad_signature"),
    "tampered-section": ("digest_mismatch",),
    "tampered-signed_attributes": ("bad_signed_attributes",),
    "tampered-signature": ("bad_signature",),
    "tampered-certificate": ("broken_chain",),
    "tampered-swapped": ("bad_signature",),
    "pss": ("valid",),
    "pss-forged": ("bad_signature",),
    "unauthenticated-blob": ("valid",),
}


@pytest.mark.parametrize("case", EXPECTED)
def test_test_chains(case: str, made: dict[str, Made]) -> None:
    assert made[case].statuses == EXPECTED[case]
    for compiler in COMPILERS:
        facts = _check_file(made[case].path, compiler)
    if case.startswith("ecdsa"):
        assert [t[0] if t else None for t in facts[0].tbs] == ["sha384", "sha384"]
        assert facts[0].common_name == "EC Leaf"
    if case == "rsa2-complete":
        assert len(facts[0].chain) == 2  # ends at the embedded self-signed root


# --- the container (V1) ----------------------------------------------------------------------


def _entry(der: bytes, padding_bytes: bytes = b"", revision: int = 0x0200, kind: int = 2) -> bytes:
    body = der + padding_bytes
    return (
        (8 + len(body)).to_bytes(4, "little")
        + revision.to_bytes(2, "little")
        + (kind.to_bytes(2, "little") + body)
    )


def test_container(sample_files: dict[str, Path]) -> None:
    path = sample_files["mingw/hello64-signed.exe"]
    digests = _digests(path)
    (entry,) = table_entries(path.read_bytes())
    der = entry[8:].rstrip(b"\0")
    cases = {
        "padded": _entry(der, b"\0" * 7),
        "eight zeros": _entry(der, b"\0" * 8),
        "non-zero after": _entry(der, b"\0\0\x01"),
        "truncated": _entry(der[: len(der) // 2]),
        "header only": _entry(b""),
        "ten bytes": _entry(der[:10]),
        "indefinite": _entry(b"\x30\x80" * 1000),
        "definite past the end": _entry(b"\x30\x82\xff\xff" + b"\0" * 16),
    }
    for name, case in cases.items():
        python, c = both([case], digests)
        assert c == python, name
    assert [f.status for f in both([cases["padded"]], digests)[1]] == ["valid"]
    # What Python's gate (pe.py) checks before parse_table: here the core's own.
    for bad in (
        _entry(der, revision=0x0100),
        _entry(der, kind=1),
        entry[:8] + entry[8:-1],  # dwLength past the buffer
        (7).to_bytes(4, "little") + entry[4:],
        entry[:7],
    ):
        (record,) = c_signatures([bad], digests)
        assert record["status"] == "malformed" and record["chain"] == []


def test_limits(sample_files: dict[str, Path]) -> None:
    """Past the core's caps: malformed, never a crash (signers.md §9)."""
    path = sample_files["mingw/hello64-signed.exe"]
    (entry,) = table_entries(path.read_bytes())
    info = cms.ContentInfo.load(entry[8:].rstrip(b"\0"))
    signed_data = info["content"]
    cert = signed_data["certificates"][0]
    for count in (16, 17, 1000):
        signed_data["certificates"] = [cert] * count
        python, c = both([_entry(info.dump(force=True))], _digests(path))
        if count <= 16:
            assert c == python and python[0].status == "valid"
        else:
            # C caps a bag at 16 elements and an entry at 64 KiB (Python: 64
            # certificates, 1 MiB): the documented difference.
            assert [f.status for f in c] == ["malformed"]
            assert python[0].status == ("valid" if count <= 64 else "malformed")


def test_signer_named_by_subject_key_identifier(sample_files: dict[str, Path]) -> None:
    """sid as [0] subjectKeyIdentifier (CMS v3) instead of issuer and serial."""
    path = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    digests = _digests(path)
    entry = table_entries(path.read_bytes())[0]
    info = cms.ContentInfo.load(entry[8:].rstrip(b"\0"))
    signer_info = info["content"]["signer_infos"][0]
    serial = signer_info["sid"].chosen["serial_number"].native
    leaf = next(
        c.chosen for c in info["content"]["certificates"] if c.chosen.serial_number == serial
    )
    ski = leaf.key_identifier
    assert ski is not None
    for key_id, expected in ((ski, "valid"), (bytes(len(ski)), "broken_chain")):
        signer_info["sid"] = cms.SignerIdentifier({"subject_key_identifier": key_id})
        python, c = both([_entry(info.dump())], digests)
        assert c == python and python[0].status == expected


def test_a_common_name_beside_an_attribute_cryptography_would_not_make(
    sample_files: dict[str, Path], tmp_path: Path
) -> None:
    """A valid signature whose leaf subject has a countryName of three letters
    (cryptography loads it with a warning, and refuses its RFC 4514 text back): Python's
    signer facts have the common name the C core reads from the DER (they had none
    before: publisher._common_name asked cryptography to re-parse the text)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "USA", _validate=False),
            x509.NameAttribute(NameOID.COMMON_NAME, "Three Letter Country"),
        ]
    )
    leaf = issue(subject, rsa_key(2048), None, hashes.SHA256(), ca=False)
    signer = Signer(leaf, (leaf.cert,), leaf.cert)
    signed = signer.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
    entries = table_entries(signed.read_bytes())
    python, c = both(entries, _digests(signed))
    assert [f.status for f in python] == [f.status for f in c] == ["valid"]
    assert c[0].common_name == python[0].common_name == "Three Letter Country"
    assert python[0] == c[0]


# --- mutations of real tables ------------------------------------------------------------------


def _known_difference(
    kind: str, element: Element, entry: bytes, python: list[Facts], c: list[Facts],
    original: list[Facts], mutated: list[bytes], digests: dict[str, str],
) -> str | None:  # fmt: skip
    """Why C and Python may differ on this mutation of ``entry`` (unmutated), or None."""
    at = element.offset
    first = next((i for i, (p, q) in enumerate(zip(python, c, strict=False)) if p != q), None)
    if any(
        e.tag == 0x30
        and e.header > 2
        and entry[e.offset + e.header - 1] == 0x80
        and e.offset <= at < e.offset + e.header + e.length
        for e in der_elements(entry, 8, int.from_bytes(entry[:4], "little"))
    ):
        # asn1crypto takes a definite length whose last octet is 0x80 for the
        # indefinite form and re-encodes the element when signatures.py dumps it
        # (Sequence.dump): a certificate is then parsed in full by asn1crypto's
        # own specs (which refuse an unknown public key algorithm that
        # cryptography accepts) and what cryptography verifies is asn1crypto's
        # re-encoding, not the bytes of the file (a malformed field comes out
        # repaired). Python is no oracle for what is inside such an element.
        return "asn1crypto re-encoding"
    if (
        kind == "truncate"
        and first is not None
        and c[first].status == "malformed"
        and python[first].status != "malformed"
    ):
        # The byte cut from the element's end now starts an element of its own
        # after it: an extra element at the end of a SEQUENCE, which asn1crypto
        # keeps without a field (and DER does not allow).
        return "extra element after a shortened one"
    if kind == "swap" and element.tag == 0xA0 and element.path[-2:] == (0x31, 0x30):
        # signed attributes [0] → SET: asn1crypto then takes them as absent and
        # the SET as signatureAlgorithm, which it never reads (lazy), so Python says
        # bad_signed_attributes (and loses the nested signatures, now also
        # misplaced); C says malformed.
        pairs = list(zip(python, c, strict=False))
        first = next((i for i, (p, q) in enumerate(pairs) if p != q), None)
        if (
            first is not None
            and python[first].status == "bad_signed_attributes"
            and c[first].status == "malformed"
        ):
            return "signed attributes re-tagged"
    return None


KINDS = ("swap", "truncate", "oid", "flip")


def _candidates(kind: str, elements: list[Element]) -> list[Element]:
    if kind == "swap":
        return [e for e in elements if e.tag in (0xA0, 0x31)]
    if kind == "truncate":
        return [e for e in elements if e.length > 0]
    if kind == "oid":
        return [e for e in elements if e.tag == 0x06 and e.length > 0]
    return [e for e in elements if e.tag == 0x04 and e.length >= 16]


def _mutate(kind: str, e: Element, entry: bytearray, byte: int) -> None:
    if kind == "swap":
        entry[e.offset] = 0x31 if e.tag == 0xA0 else 0xA0
    elif kind == "truncate":
        n = e.header - 2
        if n == 0:
            entry[e.offset + 1] -= 1
        else:
            entry[e.offset + 2 : e.offset + 2 + n] = (e.length - 1).to_bytes(n, "big")
    elif kind == "oid":
        entry[e.offset + e.header + e.length - 1] ^= 1  # keeps the last arc's end bit
    else:
        entry[e.offset + e.header + byte % e.length] ^= 0x10


_TABLES: dict[str, tuple[list[bytes], dict[str, str], list[Facts]]] = {}


def _table(name: str, files: dict[str, Path]) -> tuple[list[bytes], dict[str, str], list[Facts]]:
    if name not in _TABLES:
        path = files[name]
        entries = table_entries(path.read_bytes())
        digests = _digests(path)
        python, c = both(entries, digests)
        assert c == python
        _TABLES[name] = (entries, digests, c)
    return _TABLES[name]


differences: dict[str, int] = {}


@settings(
    max_examples=int(os.environ.get("EWL_SIG_MUTATIONS", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_tables(
    data: st.DataObject, sample_files: dict[str, Path], made: dict[str, Made]
) -> None:
    """Real tables, and the test chains' ECDSA, nested, RSA-PSS and complete-chain tables."""
    files = {**sample_files, **{f"made/{k}": v.path for k, v in made.items()}}
    name = data.draw(st.sampled_from(MUTATED + MUTATED_MADE))
    entries, digests, original = _table(name, files)
    k = data.draw(st.integers(0, len(entries) - 1))
    entry = bytearray(entries[k])
    elements = list(der_elements(bytes(entry), 8, int.from_bytes(entry[:4], "little")))
    kind = data.draw(st.sampled_from(KINDS))
    element = data.draw(st.sampled_from(_candidates(kind, elements)))
    _mutate(kind, element, entry, data.draw(st.integers(0, 1 << 16)))
    mutated = [*entries[:k], bytes(entry), *entries[k + 1 :]]
    python, c = both(mutated, digests)  # C: exit 0 and nothing on stderr (no sanitizer report)
    if c != python:
        why = _known_difference(kind, element, entries[k], python, c, original, mutated, digests)
        assert why is not None, (
            name,
            kind,
            element,
            [f.status for f in python],
            [f.status for f in c],
            python,
            c,
        )
        differences[why] = differences.get(why, 0) + 1


def test_der_walk_finds_every_element(sample_files: dict[str, Path]) -> None:
    """The mutations' walker covers a real table: its elements tile their parents."""
    entries, _, _ = _table(MUTATED[0], sample_files)
    elements = list(der_elements(entries[0], 8, int.from_bytes(entries[0][:4], "little")))
    assert len(elements) > 500
    top = [e for e in elements if e.depth == 0]
    assert len(top) == 1 and top[0].offset == 8
    assert sum(1 for e in elements if e.tag == 0x06) > 50


def test_differences_seen_are_named(record_property: Callable[[str, object], None]) -> None:
    """Run after the mutations: how often each named difference occurred (printed)."""
    print(f"\nC/Python differences on mutated tables, by cause: {differences or 'none'}")
    record_property("signature_mutation_differences", dict(differences))
