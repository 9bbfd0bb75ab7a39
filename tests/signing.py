"""Signing material the tests make: certificate chains, signed PE files, catalogs.

Chains are made with ``cryptography`` (fixed dates, so expiry is deterministic),
PE files are signed with ``osslsigncode`` (samples.sign), catalogs are
written with asn1crypto and signed with osslsigncode.  Nothing here imports
exewhitelist: what it makes is input, and the oracles that judge our output are
osslsigncode and openssl (see :func:`osslsigncode_verify`, :func:`openssl_chain`).
"""

from __future__ import annotations

import datetime
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from samples import sign

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
INSIDE_VALIDITY = int((START + datetime.timedelta(days=10)).timestamp())
"""A Unix time inside every test certificate's validity (osslsigncode verify -time)."""


def name(cn: str, *, org: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US")]
    if org is not None:
        attributes += [
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Redmond"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


@dataclass(frozen=True)
class Issued:
    key: PrivateKey
    cert: x509.Certificate


def issue(
    subject: x509.Name,
    key: PrivateKey,
    issuer: Issued | None,
    algorithm: hashes.SHA256 | hashes.SHA384,
    *,
    ca: bool,
    days: int = 3650,
    serial: int | None = None,
    issuer_name: x509.Name | None = None,
) -> Issued:
    """A certificate for ``key``, signed by ``issuer`` (self-signed when None)."""
    signer_key = key if issuer is None else issuer.key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (subject if issuer is None else issuer.cert.subject))
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return Issued(key, builder.sign(signer_key, algorithm))


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_key(path: Path, key: PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@dataclass(frozen=True)
class Signer:
    """A leaf with the certificates to embed (leaf first) and the root that anchors them."""

    leaf: Issued
    embedded: tuple[x509.Certificate, ...]
    root: x509.Certificate

    def sign(self, src: Path, dest: Path, *extra: str) -> Path:
        folder = dest.parent
        stem = dest.name
        certs = write_pem(folder / f"{stem}.certs.pem", *self.embedded)
        key = write_key(folder / f"{stem}.key.pem", self.leaf.key)
        try:
            return sign(src, dest, key, certs, "-time", str(INSIDE_VALIDITY), *extra)
        finally:
            certs.unlink()
            key.unlink()


def osslsigncode_verify(
    path: Path, *anchors: x509.Certificate | str, at: int = INSIDE_VALIDITY
) -> tuple[bool, str]:
    """osslsigncode's verdict, offline, at time ``at``, trusting the certificate ``anchors``.

    String ``anchors`` are extra command-line arguments.
    """
    ca = path.with_name(path.name + ".root.pem")
    write_pem(ca, *(a for a in anchors if isinstance(a, x509.Certificate)))
    extra = [a for a in anchors if isinstance(a, str)]
    try:
        proc = subprocess.run(
            [
                "osslsigncode",
                "verify",
                "-in",
                str(path),
                "-CAfile",
                str(ca),
                "-time",
                str(at),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        ca.unlink()
    return proc.returncode == 0, proc.stdout + proc.stderr


def extract_signature(path: Path, dest: Path) -> bytes:
    """The PKCS#7 of the first WIN_CERTIFICATE entry, as osslsigncode extracts it."""
    dest.unlink(missing_ok=True)
    subprocess.run(
        ["osslsigncode", "extract-signature", "-in", str(path), "-out", str(dest)],
        capture_output=True,
        check=True,
    )
    return dest.read_bytes()


def openssl_certificates(pkcs7_der: Path) -> list[x509.Certificate]:
    """The certificate bag, as ``openssl pkcs7 -print_certs`` prints it."""
    proc = subprocess.run(
        ["openssl", "pkcs7", "-inform", "DER", "-in", str(pkcs7_der), "-print_certs"],
        capture_output=True,
        check=True,
    )
    return x509.load_pem_x509_certificates(proc.stdout)


def openssl_tbs(cert_der: bytes, tmp: Path) -> bytes:
    """The DER tbsCertificate, located by ``openssl asn1parse`` (depth 1, first element)."""
    path = tmp / "cert.der"
    path.write_bytes(cert_der)
    proc = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    # e.g. "    4:d=1  hl=4 l=1234 cons: SEQUENCE"
    line = next(line for line in proc.stdout.splitlines() if "d=1" in line)
    offset = int(line.split(":")[0])
    header = int(line.split("hl=")[1].split()[0])
    length = int(line.split(" l=")[1].split()[0])
    return cert_der[offset : offset + header + length]


def openssl_signature_hash(cert_der: bytes, tmp: Path) -> str:
    """The hash named by the certificate's signature algorithm, from ``openssl x509 -text``."""
    path = tmp / "cert.der"
    path.write_bytes(cert_der)
    proc = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(path), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in proc.stdout.splitlines() if "Signature Algorithm:" in line)
    algorithm = line.split(":")[1].strip()
    for digest in ("sha1", "sha256", "sha384", "sha512"):
        if algorithm.startswith(digest) or algorithm.endswith("-with-" + digest.upper()):
            return digest
    raise AssertionError(f"unexpected signature algorithm {algorithm}")


# --- catalogs ---------------------------------------------------------------------------------

CATALOG_LIST = "1.3.6.1.4.1.311.12.1.1"
MEMBER_LIST_SHA1 = "1.3.6.1.4.1.311.12.1.2"
MEMBER_LIST_SHA256 = "1.3.6.1.4.1.311.12.1.3"
SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
SPC_PE_IMAGE_DATA = "1.3.6.1.4.1.311.2.1.15"
MS_CTL = "1.3.6.1.4.1.311.10.1"
CAT_MEMBERINFO = "1.3.6.1.4.1.311.12.2.2"
PE_SIP = "{C689AAB8-8E78-11D0-8C47-00C04FC295EE}"


class _Attribute(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto spec attribute
        ("type", core.ObjectIdentifier),
        ("values", core.SetOf, {"spec": core.Any}),
    ]


class _Attributes(core.SetOf):  # type: ignore[misc]
    _child_spec = _Attribute


class _TrustedSubject(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("identifier", core.OctetString),
        ("attributes", _Attributes),
    ]


class _MemberInfo(core.Sequence):  # type: ignore[misc]
    _fields = [("guid", core.BMPString), ("version", core.Integer)]  # noqa: RUF012


class _SpcAttribute(core.Sequence):  # type: ignore[misc]
    _fields = [("type", core.ObjectIdentifier), ("value", core.Any)]  # noqa: RUF012


class _DigestInfo(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("digest_algorithm", algos.DigestAlgorithm),
        ("digest", core.OctetString),
    ]


class _Indirect(core.Sequence):  # type: ignore[misc]
    _fields = [("data", _SpcAttribute), ("message_digest", _DigestInfo)]  # noqa: RUF012


def _pe_image_data() -> bytes:
    """SpcPeImageData as signtool writes it: empty flags, file = [0] {[2] {[0] "<<<Obsolete>>>"}}.

    osslsigncode's catalog check fails on a member without the file link.
    """
    obsolete = core.BMPString("<<<Obsolete>>>", implicit=0).dump()
    link = core.Asn1Value(class_=2, tag=2, method=1, contents=obsolete).dump()
    file = core.Asn1Value(class_=2, tag=0, method=1, contents=link).dump()
    dumped: bytes = core.Sequence(contents=core.BitString(()).dump() + file).dump()
    return dumped


def member(digest: bytes, algorithm: str, tag: str | None = None) -> bytes:
    """One TrustedSubject: ``tag`` (default: the digest in upper-case hex, UTF-16LE + NUL)."""
    indirect = _Indirect(
        {
            "data": {
                "type": SPC_PE_IMAGE_DATA,
                "value": core.Any.load(_pe_image_data()),
            },
            "message_digest": {"digest_algorithm": {"algorithm": algorithm}, "digest": digest},
        }
    )
    info = _MemberInfo({"guid": PE_SIP, "version": 512})
    identifier = ((tag if tag is not None else digest.hex().upper()) + "\0").encode("utf-16-le")
    subject = _TrustedSubject(
        {
            "identifier": identifier,
            "attributes": [
                {"type": SPC_INDIRECT_DATA, "values": [core.Any.load(indirect.dump())]},
                {"type": CAT_MEMBERINFO, "values": [core.Any.load(info.dump())]},
            ],
        }
    )
    dumped: bytes = subject.dump()
    return dumped


def unsigned_catalog(members: list[bytes], sha256: bool) -> bytes:
    """A SignedData with no signer around a certificate trust list of ``members``."""
    subjects = core.Sequence(contents=b"".join(members))
    algorithm = MEMBER_LIST_SHA256 if sha256 else MEMBER_LIST_SHA1
    ctl = b"".join(
        [
            core.SequenceOf(
                [core.ObjectIdentifier(CATALOG_LIST)], spec=core.ObjectIdentifier
            ).dump(),
            core.OctetString(os.urandom(16)).dump(),
            core.UTCTime(START).dump(),
            core.Sequence(contents=core.ObjectIdentifier(algorithm).dump() + b"\x05\x00").dump(),
            subjects.dump(),
        ]
    )
    encap = core.Sequence(
        contents=core.ObjectIdentifier(MS_CTL).dump()
        + core.Sequence(contents=ctl, explicit=0).dump()  # no OCTET STRING, as catalogs have it
    )
    no_signer = core.Set(contents=b"").dump()
    signed_data = core.Sequence(
        contents=core.Integer(1).dump() + no_signer + encap.dump() + no_signer, explicit=0
    )
    content_info = core.Sequence(
        contents=core.ObjectIdentifier("1.2.840.113549.1.7.2").dump() + signed_data.dump()
    )
    dumped: bytes = content_info.dump()
    return dumped


def signed_catalog(members: list[bytes], sha256: bool, signer: Signer, dest: Path) -> Path:
    """The catalog of ``members`` signed by osslsigncode with ``signer``."""
    unsigned = dest.with_name(dest.name + ".unsigned")
    unsigned.write_bytes(unsigned_catalog(members, sha256))
    try:
        return signer.sign(unsigned, dest, "-h", "sha256" if sha256 else "sha1")
    finally:
        unsigned.unlink()


@dataclass(frozen=True)
class Chains:
    """The test chains (made once per session; every key is fresh, every date fixed)."""

    rsa3: Signer
    """Root RSA-3072/SHA-384 → PCA RSA-4096/SHA-384 → leaf RSA-2048/SHA-256, 30 days."""
    rsa2: Signer
    """Root RSA-2048/SHA-256 → leaf RSA-2048/SHA-256, root embedded: a complete chain."""
    ecdsa: Signer
    """RSA root → PCA P-384 (SHA-384) → leaf P-256 signed with ecdsa-with-SHA384."""
    expired: Signer
    """rsa3's PCA → a leaf valid for one day in 2024 (long expired)."""
    missing_intermediate: Signer
    """rsa3's leaf embedded alone: the chain stops at the leaf."""
    wrong_issuer: Signer
    """A leaf naming rsa3's PCA as issuer but signed by another key, embedded with that PCA."""
    twin: Issued
    """Same subject, issuer and serial as rsa3's leaf, another key: for swapping certificates."""


def make_chains() -> Chains:
    root = issue(name("exewhitelist Test Root"), rsa_key(3072), None, hashes.SHA384(), ca=True)
    publisher = "Test Publisher, Inc."
    pca = issue(name("Test PCA", org=publisher), rsa_key(4096), root, hashes.SHA384(), ca=True)
    leaf_name = name("Test Leaf", org=publisher)
    leaf = issue(leaf_name, rsa_key(2048), pca, hashes.SHA256(), ca=False, days=30)
    rsa3 = Signer(leaf, (leaf.cert, pca.cert), root.cert)

    root2 = issue(name("Two Level Root"), rsa_key(2048), None, hashes.SHA256(), ca=True)
    leaf2 = issue(name("Two Level Leaf"), rsa_key(2048), root2, hashes.SHA256(), ca=False)
    rsa2 = Signer(leaf2, (leaf2.cert, root2.cert), root2.cert)

    ec_pca = issue(
        name("EC PCA", org=publisher), ec.generate_private_key(ec.SECP384R1()), root,
        hashes.SHA384(), ca=True,
    )  # fmt: skip
    ec_leaf = issue(
        name("EC Leaf", org=publisher), ec.generate_private_key(ec.SECP256R1()), ec_pca,
        hashes.SHA384(), ca=False,
    )  # fmt: skip
    ecdsa = Signer(ec_leaf, (ec_leaf.cert, ec_pca.cert), root.cert)

    old = issue(name("Expired Leaf", org=publisher), rsa_key(2048), pca, hashes.SHA256(),
                ca=False, days=1)  # fmt: skip
    expired = Signer(old, (old.cert, pca.cert), root.cert)

    impostor_key = rsa_key(2048)
    forged = issue(
        name("Forged Leaf", org=publisher), rsa_key(2048),
        Issued(impostor_key, pca.cert), hashes.SHA256(), ca=False,
    )  # fmt: skip
    wrong_issuer = Signer(forged, (forged.cert, pca.cert), root.cert)

    twin = issue(leaf_name, rsa_key(2048), pca, hashes.SHA256(), ca=False, days=30,
                 serial=leaf.cert.serial_number)  # fmt: skip
    return Chains(
        rsa3=rsa3,
        rsa2=rsa2,
        ecdsa=ecdsa,
        expired=expired,
        missing_intermediate=Signer(leaf, (leaf.cert,), root.cert),
        wrong_issuer=wrong_issuer,
        twin=twin,
    )


def replace_signature(src: Path, dest: Path, pkcs7_der: bytes) -> Path:
    """``src`` with its certificate table replaced by one entry holding ``pkcs7_der``.

    The table and its directory entry are outside the Authenticode digest, so the
    new signature stays bound to the file (pefile locates both).
    """
    import pefile

    data = src.read_bytes()
    pe = pefile.PE(data=data, fast_load=True)
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[4]
    va = int(security.VirtualAddress)
    entry = (8 + len(pkcs7_der)).to_bytes(4, "little") + b"\x00\x02\x02\x00" + pkcs7_der
    entry += bytes(-len(entry) % 8)
    out = bytearray(data[:va] + entry)
    size_offset = security.get_file_offset() + 4
    out[size_offset : size_offset + 4] = len(entry).to_bytes(4, "little")
    dest.write_bytes(bytes(out))
    return dest


def osslsigncode_verdicts(output: str) -> list[bool]:
    """osslsigncode verify's per-signature verdicts, in its order (primary, then nested).

    Its exit code is 0 when any signature verifies, so a failing nested signature
    shows only here.
    """
    return [
        line.endswith("ok")
        for line in output.splitlines()
        if line.startswith("Signature verification: ")
    ]
