"""Embedded signatures against independent oracles.

- The digest stored inside each signature (tests/oracles/signature.py, asn1crypto
  over pefile's certificate table) against our Authenticode digest.
- ``osslsigncode verify`` (anchored at the test root, offline) for statuses and
  the leaf thumbprint (``-require-leaf-hash``).
- ``openssl pkcs7 -print_certs`` for the certificates a signature carries,
  ``openssl asn1parse`` / ``x509 -text`` for TBS bytes and their hash algorithm.
- The WDAC TBS value published for Microsoft Code Signing PCA 2011
  (reference signers.md §3), reproduced from the msvc-runtime DLLs.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles.signature import embedded_signatures
from pe_edit import offsets
from signing import (
    START,
    Chains,
    Signer,
    extract_signature,
    openssl_certificates,
    openssl_signature_hash,
    openssl_tbs,
    osslsigncode_verdicts,
    osslsigncode_verify,
    replace_signature,
)

import exewhitelist.hashing
from exewhitelist import Signature, SignatureStatus, hash_file
from exewhitelist.signatures import MAX_CERTIFICATES, parse_table

PCA_2011_TBS = "F6F717A43AD9ABDDC8CEFDDE1C505462535E7D1307E630F9544A2D14FE8BF26E"
"""Published WDAC CertRoot value of Microsoft Code Signing PCA 2011 (signers.md §3)."""


def _signed_samples(samples: dict[str, Path]) -> dict[str, Path]:
    return {k: p for k, p in samples.items() if embedded_signatures(p)}


# --- real files from the registries -----------------------------------------------------------


def test_every_signature_is_read_and_bound(sample: Path) -> None:
    ours = hash_file(sample).signatures
    oracle = embedded_signatures(sample)
    assert ours is not None
    assert [(s.digest_algorithm, s.digest, s.nesting > 0) for s in ours] == [
        (o.digest_algorithm, o.digest.hex(), o.nested) for o in oracle
    ]
    r = hash_file(sample)
    digests = {"sha256": r.authenticode_sha256, "sha1": r.authenticode_sha1}
    for signature, stored in zip(ours, oracle, strict=True):
        assert digests[stored.digest_algorithm] == stored.digest.hex()
        assert signature.digest_matches is True
        assert signature.status is SignatureStatus.VALID, signature.reason


def test_signed_samples_exist(sample_files: dict[str, Path]) -> None:
    # The real material this module relies on: nested, two entries, Microsoft chains.
    signed = _signed_samples(sample_files)
    assert "shim-signed/shimx64.efi.signed" in signed
    assert any(s.nested for p in signed.values() for s in embedded_signatures(p))


def test_chain_is_what_openssl_reads_from_the_signature(
    sample_files: dict[str, Path], tmp_path: Path
) -> None:
    # shim's two-entry table is refused by osslsigncode extract-signature (signers.md §7).
    checked = 0
    for label, path in _signed_samples(sample_files).items():
        if label.startswith("shim-signed/"):
            continue
        der = tmp_path / "sig.der"
        extract_signature(path, der)
        bag = {hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest(): c
               for c in openssl_certificates(der)}  # fmt: skip
        signatures = hash_file(path).signatures
        assert signatures
        chain = signatures[0].chain
        assert chain, label
        for depth, cert in enumerate(chain):
            theirs = bag[cert.sha256]
            assert cert.serial == format(theirs.serial_number, "x")
            assert cert.not_after == theirs.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert cert.subject == theirs.subject.rfc4514_string()
            der_cert = theirs.public_bytes(serialization.Encoding.DER)
            algorithm = openssl_signature_hash(der_cert, tmp_path)
            assert cert.tbs_algorithm == algorithm
            assert (
                cert.tbs_hash == hashlib.new(algorithm, openssl_tbs(der_cert, tmp_path)).hexdigest()
            )
            if depth:
                assert chain[depth - 1].issuer == cert.subject
        checked += 1
    assert checked >= 10


def test_published_wdac_tbs_of_microsoft_pca_2011(sample_files: dict[str, Path]) -> None:
    dll = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    signatures = hash_file(dll).signatures
    assert signatures
    pcas = [
        c for s in signatures for c in s.chain if "Microsoft Code Signing PCA 2011" in c.subject
    ]
    assert pcas
    for pca in pcas:
        assert pca.tbs_algorithm == "sha256"
        assert pca.tbs_hash == PCA_2011_TBS.lower()
        assert pca.publisher == "O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US"


def test_timestamps(sample_files: dict[str, Path]) -> None:
    # The msvc DLLs carry RFC 3161 tokens: gen_time read through asn1crypto's TSTInfo.
    dll = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    signatures = hash_file(dll).signatures
    assert signatures
    for signature in signatures:
        assert signature.signing_time is not None
        assert signature.signing_time.startswith("2025-06-10T")
    # osslsigncode's own signatures carry no timestamp.
    mingw = hash_file(sample_files["mingw/hello64-signed.exe"]).signatures
    assert mingw and mingw[0].signing_time is None


# --- signed here with test chains -------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    chain: str
    args: tuple[str, ...]
    exe: str = "hello64.exe"


CASES = {
    "rsa3-sha256": Case("rsa3", ("-h", "sha256")),
    "rsa3-sha1-pagehashes-pe32": Case("rsa3", ("-h", "sha1", "-ph"), "hello32.exe"),
    "rsa3-sha384": Case("rsa3", ("-h", "sha384")),
    "rsa3-sha512-dll": Case("rsa3", ("-h", "sha512"), "hello64.dll"),
    "rsa2-complete": Case("rsa2", ("-h", "sha256")),
    "ecdsa": Case("ecdsa", ("-h", "sha256")),
    "expired": Case("expired", ("-h", "sha256")),
}


def _signer(chains: Chains, name: str) -> Signer:
    signer: Signer = getattr(chains, name)
    return signer


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_intact_signatures_are_valid(
    case: Case, chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    signer = _signer(chains, case.chain)
    signed = signer.sign(sample_files[f"mingw/{case.exe}"], tmp_path / "s.exe", *case.args)
    at = int(START.timestamp()) + 3600  # inside even the expired leaf's one day
    ok, output = osslsigncode_verify(signed, signer.root, at=at)
    assert ok, output
    (signature,) = hash_file(signed).signatures or ()
    assert signature.status is SignatureStatus.VALID, signature.reason
    assert signature.digest_algorithm == case.args[1]
    assert signature.digest_matches is True
    leaf = signer.leaf.cert.public_bytes(serialization.Encoding.DER)
    assert signature.chain[0].sha256 == hashlib.sha256(leaf).hexdigest()
    ok, output = osslsigncode_verify(
        signed,
        signer.root,
        "-time",
        str(at),
        "-require-leaf-hash",
        f"sha256:{signature.chain[0].sha256}",
    )
    assert ok, output
    embedded = {hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest()
                for c in signer.embedded}  # fmt: skip
    assert {c.sha256 for c in signature.chain} == embedded
    assert signature.chain_complete == (case.chain == "rsa2")


def test_leaf_hash_oracle_rejects_another_leaf(
    chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    # The oracle can fail: -require-leaf-hash with the PCA's thumbprint is refused.
    signed = chains.rsa3.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
    (signature,) = hash_file(signed).signatures or ()
    ok, _ = osslsigncode_verify(
        signed, chains.rsa3.root, "-require-leaf-hash", f"sha256:{signature.chain[1].sha256}"
    )
    assert not ok


def test_tbs_hash_and_algorithms_of_test_chains(
    chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    for signer, widths in (
        (chains.rsa3, ("sha256", "sha384")),
        (chains.ecdsa, ("sha384", "sha384")),
    ):
        signed = signer.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
        (signature,) = hash_file(signed).signatures or ()
        assert tuple(c.tbs_algorithm for c in signature.chain) == widths
        for ours, cert in zip(signature.chain, signer.embedded, strict=True):
            der = cert.public_bytes(serialization.Encoding.DER)
            algorithm = openssl_signature_hash(der, tmp_path)
            assert ours.tbs_hash == hashlib.new(algorithm, openssl_tbs(der, tmp_path)).hexdigest()
    (ec_signature,) = hash_file(signed).signatures or ()
    assert [c.key for c in ec_signature.chain] == ["ec-secp256r1", "ec-secp384r1"]


def test_applocker_publisher_form(
    chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    # signers.md §5: O, L, S, C in that order, upper-cased, commas unescaped; else the
    # whole subject in reverse order.
    signed = chains.rsa3.sign(sample_files["mingw/hello64.exe"], tmp_path / "a.exe", "-h", "sha256")
    (signature,) = hash_file(signed).signatures or ()
    assert signature.chain[0].publisher == "O=TEST PUBLISHER, INC., L=REDMOND, S=WASHINGTON, C=US"
    signed = chains.rsa2.sign(sample_files["mingw/hello64.exe"], tmp_path / "b.exe", "-h", "sha256")
    (signature,) = hash_file(signed).signatures or ()
    assert signature.chain[0].publisher == "CN=TWO LEVEL LEAF, C=US"


def test_nested_signatures(chains: Chains, sample_files: dict[str, Path], tmp_path: Path) -> None:
    first = chains.rsa3.sign(sample_files["mingw/hello64.exe"], tmp_path / "1.exe", "-h", "sha1")
    dual = chains.ecdsa.sign(first, tmp_path / "2.exe", "-nest", "-h", "sha256")
    ours = hash_file(dual).signatures or ()
    oracle = embedded_signatures(dual)
    assert [(s.digest_algorithm, s.nesting) for s in ours] == [("sha1", 0), ("sha256", 1)]
    assert [s.digest for s in ours] == [o.digest.hex() for o in oracle]
    assert all(s.status is SignatureStatus.VALID for s in ours)
    assert ours[1].chain[0].key == "ec-secp256r1"
    _, output = osslsigncode_verify(dual, chains.rsa3.root)
    assert osslsigncode_verdicts(output) == [True, True], output


def test_missing_intermediate(
    chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    signer = chains.missing_intermediate
    signed = signer.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
    ok, _ = osslsigncode_verify(signed, signer.root)
    assert not ok  # osslsigncode cannot reach the root without the PCA...
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (signer.root, chains.rsa3.embedded[1])
        )
    )
    proc = subprocess.run(
        ["osslsigncode", "verify", "-in", str(signed), "-CAfile", str(anchors), "-time",
         str(int(START.timestamp()) + 86400)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout  # ...but the signature itself is intact
    (signature,) = hash_file(signed).signatures or ()
    assert signature.status is SignatureStatus.VALID
    assert len(signature.chain) == 1 and not signature.chain_complete


def test_wrong_issuer_is_a_broken_chain(
    chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    signer = chains.wrong_issuer
    signed = signer.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
    ok, _ = osslsigncode_verify(signed, signer.root)
    assert not ok
    (signature,) = hash_file(signed).signatures or ()
    assert signature.status is SignatureStatus.BROKEN_CHAIN, signature.reason
    assert "is not signed by" in signature.reason


def test_md5_is_unsupported(chains: Chains, sample_files: dict[str, Path], tmp_path: Path) -> None:
    signed = chains.rsa3.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "md5")
    assert [o.digest_algorithm for o in embedded_signatures(signed)] == ["md5"]
    (signature,) = hash_file(signed).signatures or ()
    assert signature.status is SignatureStatus.UNSUPPORTED


def test_rsa_pss_signer(chains: Chains, sample_files: dict[str, Path], tmp_path: Path) -> None:
    # osslsigncode signs with PKCS #1 v1.5: re-sign its signed attributes with RSA-PSS.
    signer = chains.rsa3
    signed = signer.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
    info = cms.ContentInfo.load(extract_signature(signed, tmp_path / "sig.der"))
    signer_info = info["content"]["signer_infos"][0]
    attributes = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    key = signer.leaf.key
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
    signer_info["signature"] = key.sign(attributes, pss, hashes.SHA256())
    resigned = replace_signature(signed, tmp_path / "pss.exe", info.dump())
    (signature,) = hash_file(resigned).signatures or ()
    assert signature.status is SignatureStatus.VALID, signature.reason
    signer_info["signature"] = key.sign(attributes + b"x", pss, hashes.SHA256())
    forged = replace_signature(signed, tmp_path / "bad.exe", info.dump())
    (signature,) = hash_file(forged).signatures or ()
    assert signature.status is SignatureStatus.BAD_SIGNATURE


def test_invalid_nested_under_valid_primary(
    chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    first = chains.rsa3.sign(sample_files["mingw/hello64.exe"], tmp_path / "1.exe", "-h", "sha1")
    dual = chains.rsa2.sign(first, tmp_path / "2.exe", "-nest", "-h", "sha256")
    data = bytearray(dual.read_bytes())
    info = cms.ContentInfo.load(extract_signature(dual, tmp_path / "sig.der"))
    nested = next(
        a["values"][0]
        for a in info["content"]["signer_infos"][0]["unsigned_attrs"]
        if a["type"].native == "microsoft_nested_signature"
    )
    data[data.index(nested["content"]["signer_infos"][0]["signature"].native) + 7] ^= 1
    tampered = tmp_path / "t.exe"
    tampered.write_bytes(bytes(data))
    _, output = osslsigncode_verify(tampered, chains.rsa3.root, chains.rsa2.root)
    assert osslsigncode_verdicts(output) == [True, False], output
    _, output = osslsigncode_verify(dual, chains.rsa3.root, chains.rsa2.root)
    assert osslsigncode_verdicts(output) == [True, True], output
    statuses = [(s.nesting, s.status) for s in hash_file(tampered).signatures or ()]
    assert statuses == [(0, SignatureStatus.VALID), (1, SignatureStatus.BAD_SIGNATURE)]


# --- tampering: each change fails with its own status -----------------------------------------


def _flip(data: bytearray, at: int) -> None:
    data[at] ^= 0x01


def _signer_info(pkcs7_der: bytes) -> tuple[bytes, bytes]:
    """(messageDigest attribute value, encryptedDigest) of the first SignerInfo (asn1crypto)."""
    signer_info = cms.ContentInfo.load(pkcs7_der)["content"]["signer_infos"][0]
    digest = next(
        a["values"][0].native
        for a in signer_info["signed_attrs"]
        if a["type"].native == "message_digest"
    )
    return digest, signer_info["signature"].native


TAMPERING = {
    "section": SignatureStatus.DIGEST_MISMATCH,
    "signed_attributes": SignatureStatus.BAD_SIGNED_ATTRIBUTES,
    "signature": SignatureStatus.BAD_SIGNATURE,
    "certificate": SignatureStatus.BROKEN_CHAIN,
    "swapped_certificate": SignatureStatus.BAD_SIGNATURE,
}


@pytest.mark.parametrize("where", TAMPERING.keys())
def test_tampering(
    where: str, chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    signer = chains.rsa3
    signed = signer.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
    data = bytearray(signed.read_bytes())
    pkcs7_der = extract_signature(signed, tmp_path / "sig.der")
    message_digest, encrypted = _signer_info(pkcs7_der)
    leaf = signer.leaf.cert.public_bytes(serialization.Encoding.DER)
    if where == "section":
        _, pointer, size = offsets(bytes(data)).sections[0]
        _flip(data, pointer + size // 2)
    elif where == "signed_attributes":
        _flip(data, data.index(message_digest) + 5)
    elif where == "signature":
        _flip(data, data.index(encrypted) + 100)
    elif where == "certificate":
        _flip(data, data.index(leaf) + len(leaf) - 10)  # inside the PCA's signature on it
    else:
        twin = chains.twin.cert.public_bytes(serialization.Encoding.DER)
        assert len(twin) == len(leaf)
        at = data.index(leaf)
        data[at : at + len(leaf)] = twin
    tampered = tmp_path / "t.exe"
    tampered.write_bytes(bytes(data))
    ok, output = osslsigncode_verify(tampered, signer.root)
    assert not ok, output
    (signature,) = hash_file(tampered).signatures or ()
    assert signature.status is TAMPERING[where], signature.reason


# --- hostile certificate tables -----------------------------------------------------------------


def _first_entry(path: Path) -> bytes:
    o = offsets(path.read_bytes())
    data = path.read_bytes()
    length = int.from_bytes(data[o.certificate_va : o.certificate_va + 4], "little")
    return data[o.certificate_va + 8 : o.certificate_va + length]


def _status(entry: bytes) -> Signature:
    (signature,) = parse_table([entry]).verify({})
    return signature


def test_truncated_and_trailing_data(sample_files: dict[str, Path]) -> None:
    entry = _first_entry(sample_files["mingw/hello64-signed.exe"])
    der_length = len(entry.rstrip(b"\0"))
    assert _status(entry[: der_length // 2]).status is SignatureStatus.MALFORMED
    assert _status(entry[:10]).status is SignatureStatus.MALFORMED
    assert _status(b"").status is SignatureStatus.MALFORMED
    trailing = _status(entry[:der_length] + b"\0\0\0\x01")
    assert trailing.status is SignatureStatus.MALFORMED and "after the signature" in trailing.reason
    # Zero padding inside dwLength is normal (signers.md §1).
    padded = parse_table([entry[:der_length] + b"\0" * 7]).verify({})
    assert padded[0].status is not SignatureStatus.MALFORMED


def test_not_authenticode_content(chains: Chains) -> None:
    leaf = chains.rsa3.leaf
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(b"not an image digest")
        .add_signer(leaf.cert, leaf.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    signature = _status(der)
    assert signature.status is SignatureStatus.MALFORMED
    assert "not SpcIndirectDataContent" in signature.reason


def test_a_thousand_certificates(sample_files: dict[str, Path]) -> None:
    entry = _first_entry(sample_files["mingw/hello64-signed.exe"])
    info = cms.ContentInfo.load(entry.rstrip(b"\0"))
    signed_data = info["content"]
    cert = signed_data["certificates"][0]
    signed_data["certificates"] = [cert] * 1000
    signature = _status(info.dump(force=True))
    assert signature.status is SignatureStatus.MALFORMED
    assert f"more than {MAX_CERTIFICATES}" in signature.reason


def test_deep_nesting_does_not_recurse_away() -> None:
    deep = b"\x30\x80" * 100_000  # indefinite lengths nested far beyond any limit
    assert _status(deep).status is SignatureStatus.MALFORMED
    definite = b"\x30\x03" * 0 + b"\x30\x82\xff\xff" + b"\x00" * 16
    assert _status(definite).status is SignatureStatus.MALFORMED


def test_certificate_that_does_not_parse(
    chains: Chains, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    signed = chains.rsa3.sign(sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256")
    entry = bytearray(_first_entry(signed))
    leaf = chains.rsa3.leaf.cert.public_bytes(serialization.Encoding.DER)
    at = entry.index(leaf)
    assert entry[at + 4] == 0x30  # the tbsCertificate SEQUENCE: now a SET
    entry[at + 4] = 0x31
    signature = _status(bytes(entry))
    assert signature.status is SignatureStatus.MALFORMED


def test_entry_length_past_the_table(sample_files: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(sample_files["mingw/hello64-signed.exe"].read_bytes())
    o = offsets(bytes(data))
    data[o.certificate_va : o.certificate_va + 4] = (o.certificate_size + 8).to_bytes(4, "little")
    path = tmp_path / "long.exe"
    path.write_bytes(bytes(data))
    r = hash_file(path)
    assert r.signatures == ()
    assert "certificate_entry_malformed" in [a.value for a in r.anomalies]


def test_table_over_the_limit_is_not_parsed(
    sample_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exewhitelist.hashing, "MAX_TABLE_SIZE", 64)
    (signature,) = hash_file(sample_files["mingw/hello64-signed.exe"]).signatures or ()
    assert signature.status is SignatureStatus.MALFORMED and "not read" in signature.reason


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_real_tables_never_raise(
    data: st.DataObject, sample_files: dict[str, Path]
) -> None:
    name = data.draw(
        st.sampled_from(
            ["msvc-runtime-win_amd64/vcruntime140.dll", "mingw/hello64-dual.exe",
             "grub-efi-amd64-signed/grubx64.efi.signed"]
        )
    )  # fmt: skip
    entry = bytearray(_first_entry(sample_files[name]))
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, max(0, len(entry) - 1)))
        if kind == "flip" and entry:
            entry[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del entry[at:]
        elif kind == "insert":
            entry[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif entry:
            del entry[at : at + data.draw(st.integers(1, 64))]
    for signature in parse_table([bytes(entry)]).verify({"sha256": "00" * 32, "sha1": "00" * 20}):
        assert isinstance(signature.status, SignatureStatus)
        assert signature.reason
        json.dumps(signature.to_json())


# --- records and the command --------------------------------------------------------------------


def test_hash_json_record(sample_files: dict[str, Path]) -> None:
    record = hash_file(sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]).to_json()
    assert record["catalog"] is None
    assert len(record["signatures"]) == 2
    for signature in record["signatures"]:
        assert {"status", "digest_algorithm", "digest_matches", "signing_time", "chain"} <= set(
            signature
        )
        for cert in signature["chain"]:
            assert {"subject", "issuer", "serial", "sha256", "tbs_hash", "tbs_algorithm",
                    "not_before", "not_after"} <= set(cert)  # fmt: skip
    assert hash_file(sample_files["mingw/hello64.exe"]).to_json()["signatures"] == []
    r = hash_file(sample_files["msvc-runtime-win_amd64/vcruntime140.dll"])
    assert type(r).from_json(r.to_json()) == r


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


def test_signers_command(sample_files: dict[str, Path]) -> None:
    dll = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    proc = _cli("signers", str(dll))
    assert proc.returncode == 0, proc.stderr
    assert "VALID" in proc.stdout and "Microsoft Code Signing PCA 2011" in proc.stdout
    assert PCA_2011_TBS.lower() in proc.stdout
    proc = _cli("signers", "--json", str(dll), str(sample_files["mingw/hello64.exe"]))
    assert proc.returncode == 1  # the unsigned file
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [len(r["signatures"]) for r in records] == [2, 0]
    assert records[0]["signatures"][0]["status"] == "valid"
    proc = _cli("signers", str(sample_files["mingw/hello64.exe"]))
    assert "not signed" in proc.stdout
    proc = _cli("hash", "--json", str(dll))
    assert json.loads(proc.stdout)["signatures"][1]["nesting"] == 1


def test_a_broken_timestamp_leaves_the_signature_valid(
    sample_files: dict[str, Path], tmp_path: Path
) -> None:
    """Timestamps are unsigned attributes: anyone can break one without touching the signature,
    and Windows ignores it. Breaking the RFC 3161 token's generalized time (found by the C
    verifier's differential test) used to make the whole signature malformed."""
    dll = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    data = bytearray(dll.read_bytes())
    tst_info = bytes.fromhex("060b2a864886f70d0109100104")  # id-ct-TSTInfo, then the TSTInfo
    token = data.index(tst_info)
    # Its genTime: the first GeneralizedTime after it (YYYYMMDDhhmmss[.fff]Z).
    found = re.compile(rb"\x18[\x0f-\x17]20\d\d").search(bytes(data), token)
    assert found is not None
    data[found.start() + 2 : found.start() + 6] = b"ABCD"  # not a year
    broken = tmp_path / "broken-timestamp.dll"
    broken.write_bytes(bytes(data))
    before, after = hash_file(dll).signatures or (), hash_file(broken).signatures or ()
    assert [s.status for s in after] == [s.status for s in before]
    assert all(s.valid for s in after)
    assert [s.signing_time for s in after] != [s.signing_time for s in before]
