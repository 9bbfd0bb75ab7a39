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
  signature bytes. No difference is excused: Python reads what it hashes and
  verifies from the file's own bytes, as strictly as C (exewhitelist.der).
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
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
    entries, digests, _ = _table(name, files)
    k = data.draw(st.integers(0, len(entries) - 1))
    entry = bytearray(entries[k])
    elements = list(der_elements(bytes(entry), 8, int.from_bytes(entry[:4], "little")))
    kind = data.draw(st.sampled_from(KINDS))
    element = data.draw(st.sampled_from(_candidates(kind, elements)))
    _mutate(kind, element, entry, data.draw(st.integers(0, 1 << 16)))
    mutated = [*entries[:k], bytes(entry), *entries[k + 1 :]]
    python, c = both(mutated, digests)  # C: exit 0 and nothing on stderr (no sanitizer report)
    assert c == python, (
        name,
        kind,
        element,
        [f.status for f in python],
        [f.status for f in c],
        python,
        c,
    )


def test_der_walk_finds_every_element(sample_files: dict[str, Path]) -> None:
    """The mutations' walker covers a real table: its elements tile their parents."""
    entries, _, _ = _table(MUTATED[0], sample_files)
    elements = list(der_elements(entries[0], 8, int.from_bytes(entries[0][:4], "little")))
    assert len(elements) > 500
    top = [e for e in elements if e.depth == 0]
    assert len(top) == 1 and top[0].offset == 8
    assert sum(1 for e in elements if e.tag == 0x06) > 50


# --- the file's own bytes, read strictly (issue 15's findings 1-3) ------------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = (n.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + n.to_bytes(size, "big") + content


def _children(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int, int]]:
    """(tag, offset, end) of each element in data[start:end], one level."""
    out = []
    for e in der_elements(data, start, end):
        if e.depth == 0:
            out.append((e.tag, e.offset, e.offset + e.header + e.length))
    return out


def _splice(data: bytes, start: int, stop: int, new: bytes) -> bytes:
    """``data`` (DER elements) with the element at data[start:stop] replaced by ``new``,
    the length of every element around it written again."""
    out = b""
    for tag, offset, end in _children(data):
        if (offset, end) == (start, stop):
            out += new
        elif offset < start and stop <= end:
            content_at = end - _content_length(data, offset)
            inner = data[content_at:end]
            out += _tlv(tag, _splice(inner, start - content_at, stop - content_at, new))
        else:
            out += data[offset:end]
    return out


def _content_length(data: bytes, offset: int) -> int:
    first = data[offset + 1]
    if first < 0x80:
        return first
    return int.from_bytes(data[offset + 2 : offset + 2 + (first & 0x7F)], "big")


def _signed_data_at(der: bytes) -> tuple[int, int]:
    """(offset, end) of the SignedData of a ContentInfo."""
    ((_, ci, ci_end),) = _children(der)
    content = _children(der, ci + 2 + _header_extra(der, ci), ci_end)[1]
    signed_data = _children(der, content[1] + 2 + _header_extra(der, content[1]), content[2])[0]
    return signed_data[1], signed_data[2]


def _signer_info_at(der: bytes) -> tuple[int, int]:
    """(offset, end) of the first SignerInfo of a ContentInfo/SignedData."""
    at, end = _signed_data_at(der)
    fields = _children(der, at + 2 + _header_extra(der, at), end)
    infos = fields[-1]
    first = _children(der, infos[1] + 2 + _header_extra(der, infos[1]), infos[2])[0]
    return first[1], first[2]


def _header_extra(der: bytes, offset: int) -> int:
    return der[offset + 1] & 0x7F if der[offset + 1] >= 0x80 else 0


def _fields(der: bytes, offset: int, end: int) -> list[bytes]:
    start = offset + 2 + _header_extra(der, offset)
    return [der[o:e] for _, o, e in _children(der, start, end)]


def _der_of(made: dict[str, Made], case: str) -> tuple[bytes, dict[str, str]]:
    path = made[case].path
    (entry,) = table_entries(path.read_bytes())
    der = entry[8 : int.from_bytes(entry[:4], "little")]
    return der[: 2 + _header_extra(der, 0) + _content_length(der, 0)], _digests(path)


def _with_signer_info(der: bytes, fields: list[bytes]) -> bytes:
    at, end = _signer_info_at(der)
    return _splice(der, at, end, _tlv(0x30, b"".join(fields)))


def _agree(der: bytes, digests: dict[str, str]) -> list[str]:
    python, c = both([_entry(der)], digests)
    assert python == c
    return [f.status for f in python]


def test_signed_attributes_hashed_as_the_file_has_them(
    made: dict[str, Made], chains: Chains
) -> None:
    """Finding 1: signed attributes of exactly 128 content octets (``A0 81 80``, which
    asn1crypto takes for the indefinite form and re-encodes on ``dump()``, sorting the SET),
    in the order the signer wrote them (not DER's): the signature is over the file's bytes,
    so it verifies. The old code verified asn1crypto's sorted re-encoding: bad_signature."""
    der, digests = _der_of(made, "rsa3-sha256")
    fields = _fields(der, *_signer_info_at(der))
    attrs = {a[2:13]: a for a in _fields(fields[3], 0, len(fields[3]))}
    content_type = attrs[bytes.fromhex("06092a864886f70d010903")]
    digest = attrs[bytes.fromhex("06092a864886f70d010904")]
    oid = bytes.fromhex("0603 2a0304")
    room = 128 - len(content_type) - len(digest) - 2 - len(oid) - 2 - 2
    pad = _tlv(0x30, oid + _tlv(0x31, _tlv(0x04, b"\x5a" * room)))
    content = digest + pad + content_type  # not in DER's SET OF order
    assert len(content) == 128 and sorted([digest, pad, content_type]) != [
        digest,
        pad,
        content_type,
    ]
    key = chains.rsa3.leaf.key
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(_tlv(0x31, content), padding.PKCS1v15(), hashes.SHA256())
    fields[3] = _tlv(0xA0, content)
    assert fields[3][:3] == b"\xa0\x81\x80"
    fields[5] = _tlv(0x04, signature)
    assert _agree(_with_signer_info(der, fields), digests) == ["valid"]


@pytest.mark.parametrize(
    "where", ["signer info", "digest algorithm", "indirect data", "digest info"]
)
def test_an_element_no_field_names_is_malformed(made: dict[str, Made], where: str) -> None:
    """Finding 2: DER has no room for an element after a SEQUENCE's last field; asn1crypto
    keeps one without a field (the old code: valid, or bad_signed_attributes where the
    content changed), C says malformed, as Windows' strict decoder would."""
    der, digests = _der_of(made, "rsa3-sha256")
    extra = b"\x05\x00"
    at, end = _signer_info_at(der)
    fields = _fields(der, at, end)
    if where == "signer info":
        mutated = _with_signer_info(der, [*fields, extra])
    elif where == "digest algorithm":
        alg = fields[2]
        fields[2] = _tlv(0x30, b"".join(_fields(alg, 0, len(alg))) + extra)
        mutated = _with_signer_info(der, fields)
    else:
        spc = der.index(bytes.fromhex("060a2b060104018237020104"))  # SPC_INDIRECT_DATA
        explicit = spc + 12
        inner = explicit + 2 + _header_extra(der, explicit)
        seq_end = inner + 2 + _header_extra(der, inner) + _content_length(der, inner)
        parts = _fields(der, inner, seq_end)
        if where == "indirect data":
            new = _tlv(0x30, b"".join(parts) + extra)
        else:
            info = parts[1]
            parts[1] = _tlv(0x30, b"".join(_fields(info, 0, len(info))) + extra)
            new = _tlv(0x30, b"".join(parts))
        mutated = _splice(der, inner, seq_end, new)
    assert _agree(mutated, digests) == ["malformed"]


def test_signed_attributes_tagged_as_a_set_are_malformed(made: dict[str, Made]) -> None:
    """Finding 2: signed attributes re-tagged from [0] IMPLICIT to SET (signers.md V5: the
    re-tagging is the verifier's, over the hash, never the file's). The old code read the SET
    as signatureAlgorithm and the attributes as absent: bad_signed_attributes."""
    der, digests = _der_of(made, "rsa3-sha256")
    fields = _fields(der, *_signer_info_at(der))
    assert fields[3][0] == 0xA0
    fields[3] = b"\x31" + fields[3][1:]
    assert _agree(_with_signer_info(der, fields), digests) == ["malformed"]


def test_an_unsigned_attribute_with_its_values_not_a_set_is_malformed(
    made: dict[str, Made],
) -> None:
    """Attribute ::= SEQUENCE { type, values SET OF }: an unsigned attribute's values under
    another tag are a SignerInfo that does not decode (its value is still never read). Seen
    with EWL_SIG_MUTATIONS=1500 on shim's timestamp; the old code: valid."""
    der, digests = _der_of(made, "unauthenticated-blob")
    fields = _fields(der, *_signer_info_at(der))
    unsigned = fields[-1]
    assert unsigned[0] == 0xA1
    (attr,) = _fields(unsigned, 0, len(unsigned))
    oid, values = _fields(attr, 0, len(attr))
    assert values[0] == 0x31
    fields[-1] = _tlv(0xA1, _tlv(0x30, oid + b"\xa0" + values[1:]))
    assert _agree(_with_signer_info(der, fields), digests) == ["malformed"]


@pytest.mark.parametrize(
    "salt",
    [
        "a203020020",  # the minimized EWL_SIG_MUTATIONS=1500 case: INTEGER shortened to none
        "a2020200",  # an INTEGER with no content octets (X.690 8.3.1)
        "a20402020020",  # 32 with a redundant sign octet (not DER)
        "a2050201200500",  # an element after the INTEGER inside [2]
    ],
)
def test_rsa_pss_salt_length_that_is_not_der(made: dict[str, Made], salt: str) -> None:
    """Finding 3: RSASSA-PSS-params' saltLength is [2] INTEGER (RFC 4055 §3.1, RFC 8017
    A.2.3). Parameters that do not decode name no algorithm this verifier can run:
    unsupported, as for any other parameters it cannot read. The old code took the salt
    from asn1crypto's lenient read (0 for an empty INTEGER, 32 for a redundant sign octet)
    and verified with it: bad_signature, or valid."""
    der, digests = _der_of(made, "pss")
    fields = _fields(der, *_signer_info_at(der))
    alg = fields[4]
    oid, params = _fields(alg, 0, len(alg))
    parts = _fields(params, 0, len(params))
    assert parts[2] == bytes.fromhex("a203020120")
    parts[2] = bytes.fromhex(salt)
    fields[4] = _tlv(0x30, oid + _tlv(0x30, b"".join(parts)))
    assert _agree(_with_signer_info(der, fields), digests) == ["unsupported"]


def test_a_certificate_is_taken_as_the_file_has_it(made: dict[str, Made]) -> None:
    """Finding 1, in the bag: a certificate of 0x380 content octets (``30 82 03 80``) whose
    key algorithm asn1crypto has no spec for. The old code took the certificate's DER from
    asn1crypto's ``dump()``, which re-encodes it through asn1crypto's own specs and raised
    on the key: malformed. It is not in the chain (no certificate names it), so the
    signature is valid, as C says, and the bag's bytes are what cryptography reads."""
    der, digests = _der_of(made, "rsa3-sha256")
    key = rsa_key(2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bystander")])
    for size in range(1, 300):
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(7)
            .not_valid_before(datetime.datetime(2024, 1, 1))
            .not_valid_after(datetime.datetime(2025, 1, 1))
            .add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\0" * size),
                critical=False,
            )
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )
        if cert[1] == 0x82 and cert[3] == 0x80:
            break
    rsa_oid = bytes.fromhex("06092a864886f70d010101")
    assert cert.count(rsa_oid) == 1
    unknown_oid = bytes.fromhex("06092a864886f70d01017f")  # 1.2.840.113549.1.1.127
    unknown = cert.replace(rsa_oid, unknown_oid)
    bag = next(f for f in _fields(der, *_signed_data_at(der)) if f[0] == 0xA0)
    new_bag = _tlv(0xA0, b"".join(_fields(bag, 0, len(bag))) + unknown)
    start = der.index(bag)
    mutated = _splice(der, start, start + len(bag), new_bag)
    assert _agree(mutated, digests) == ["valid"]
