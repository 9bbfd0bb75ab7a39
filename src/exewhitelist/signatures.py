"""Authenticode signatures: who signed a PE image, and whether that signature is intact.

``docs/signatures.md`` is the specification.  Every ``WIN_CERTIFICATE`` entry
of a certificate table that passed the validity gate is read, with the
signatures nested in it (unsigned attribute 1.3.6.1.4.1.311.2.4.1), into a
:class:`Signature`.  The CMS structure is read with asn1crypto, certificates
and signatures with cryptography. What is hashed or verified (the signed
attributes, the content ``messageDigest`` covers, each certificate) is the
file's own bytes, found and checked by the strict DER reader of
:mod:`exewhitelist.der` (the C core's rules, ``driver/core/ewl_der.h``):
asn1crypto re-encodes some elements when it dumps them and accepts
elements DER has no room for.

"Valid" means intact, bound to this file's bytes and internally consistent.
Which certificate to trust is a policy's business: there is no trust store,
no network and no revocation check here.

The same verification serves catalog files (:mod:`exewhitelist.catalog`),
whose SignedData carries a certificate trust list instead of
``SpcIndirectDataContent``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from .der import OCTET_STRING, OID, SEQUENCE, SET, DerError, Reader, Tlv

__all__ = [
    "ASN1_ERRORS",
    "DIGEST_ALGORITHMS",
    "MAX_CERTIFICATES",
    "MAX_CHAIN",
    "MAX_NESTING",
    "MAX_SIGNATURES",
    "MAX_TABLE_SIZE",
    "MS_CTL",
    "SPC_INDIRECT_DATA",
    "Attributes",
    "Certificate",
    "ParsedTable",
    "Signature",
    "SignatureStatus",
    "SignedContentInfo",
    "SpcIndirectDataContent",
    "applocker_publisher",
    "is_signed_data",
    "parse_table",
    "verify_signed_data",
]

SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
MS_CTL = "1.3.6.1.4.1.311.10.1"

DIGEST_ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")
"""What a signature may use (V3 of the reference): MD5 and the rest are unsupported."""

MAX_TABLE_SIZE = 1 << 20
"""Certificate tables larger than this are not parsed (the largest real signature: 21 KB)."""
MAX_CERTIFICATES = 64
"""Certificates per SignedData bag (real files carry at most 5)."""
MAX_SIGNATURES = 16
"""Signatures per file, nested ones included (real files carry 1 to 3)."""
MAX_NESTING = 4
MAX_CHAIN = 8

# Anything asn1crypto raises on hostile bytes: it validates lazily, on access.
ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError)


class SignatureStatus(str, enum.Enum):
    """The verdict on one signature: valid, or the first check that failed, in this order."""

    VALID = "valid"
    MALFORMED = "malformed"
    """The structure cannot be read, or is not Authenticode (wrong content type...)."""
    UNSUPPORTED = "unsupported"
    """A digest, signature or key algorithm this verifier does not accept (MD5, DSA...)."""
    DIGEST_MISMATCH = "digest_mismatch"
    """The signed image digest is not this file's Authenticode digest: the file was changed."""
    BAD_SIGNED_ATTRIBUTES = "bad_signed_attributes"
    """The signed ``messageDigest`` or ``contentType`` attribute does not match the content."""
    BAD_SIGNATURE = "bad_signature"
    """The signer's signature over the signed attributes does not verify with its key."""
    BROKEN_CHAIN = "broken_chain"
    """No certificate matches the signer, or a certificate in the chain is not signed by the
    issuer the bag carries for it."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Certificate:
    """One certificate of a signer's chain: the identities rules are written against."""

    subject: str
    """RFC 4514 string (most specific attribute first)."""
    issuer: str
    publisher: str
    """AppLocker's publisher name of the subject: ``O=…, L=…, S=…, C=…`` upper-cased."""
    serial: str
    """Lowercase hex."""
    not_before: str
    not_after: str
    """ISO 8601 UTC."""
    sha256: str
    """SHA-256 of the DER certificate: its thumbprint (Santa's CERTIFICATE identity)."""
    tbs_hash: str | None
    """WDAC's TBS hash: ``tbs_algorithm`` over the DER tbsCertificate (None: unknown)."""
    tbs_algorithm: str | None
    """The hash of the certificate's own signature algorithm: sha1, sha256, sha384..."""
    key: str
    """``rsa-2048``, ``ec-secp256r1``...: the subject's public key."""

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "publisher": self.publisher,
            "serial": self.serial,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "sha256": self.sha256,
            "tbs_hash": self.tbs_hash,
            "tbs_algorithm": self.tbs_algorithm,
            "key": self.key,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Certificate:
        return cls(**{name: record[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class Signature:
    """One embedded (or nested) Authenticode signature, or a catalog's signature."""

    status: SignatureStatus
    reason: str
    """Why the status (for ``valid``: what was checked), one line."""
    entry: int
    """Index of the ``WIN_CERTIFICATE`` entry it was found in (0 for a catalog)."""
    nesting: int
    """0 for the entry's own signature, 1 for one nested in it, and so on."""
    digest_algorithm: str | None
    """Of the signed image digest (``SpcIndirectDataContent``); for a catalog, of the signer."""
    digest: str | None
    """The signed image digest, hex (None for a catalog)."""
    digest_matches: bool | None
    """It equals this file's Authenticode digest in that algorithm (None: not compared)."""
    signing_time: str | None
    """From the counter-signature or RFC 3161 timestamp, ISO 8601 UTC; not verified."""
    chain: tuple[Certificate, ...]
    """Signer first, then each issuer found in the signature's own certificates."""
    chain_complete: bool
    """The chain ends with a self-signed certificate (usually the root is not embedded)."""

    @property
    def valid(self) -> bool:
        return self.status is SignatureStatus.VALID

    @property
    def signer(self) -> Certificate | None:
        return self.chain[0] if self.chain else None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason,
            "entry": self.entry,
            "nesting": self.nesting,
            "digest_algorithm": self.digest_algorithm,
            "digest": self.digest,
            "digest_matches": self.digest_matches,
            "signing_time": self.signing_time,
            "chain": [c.to_json() for c in self.chain],
            "chain_complete": self.chain_complete,
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Signature:
        return cls(
            status=SignatureStatus(record["status"]),
            reason=record["reason"],
            entry=record["entry"],
            nesting=record["nesting"],
            digest_algorithm=record["digest_algorithm"],
            digest=record["digest"],
            digest_matches=record["digest_matches"],
            signing_time=record["signing_time"],
            chain=tuple(Certificate.from_json(c) for c in record["chain"]),
            chain_complete=record["chain_complete"],
        )


# --- asn1crypto specs for what cms does not know ------------------------------------------
# asn1crypto is untyped (Any to mypy), hence the ignores on the subclass lines.


class _DigestInfo(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto spec attribute
        ("digest_algorithm", algos.DigestAlgorithm),
        ("digest", core.OctetString),
    ]


class SpcIndirectDataContent(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("data", core.Any),
        ("message_digest", _DigestInfo),
    ]


class _RawContentInfo(core.Sequence):  # type: ignore[misc]
    """encapContentInfo as Authenticode and catalogs write it: [0] EXPLICIT, no OCTET STRING."""

    _fields = [  # noqa: RUF012
        ("content_type", core.ObjectIdentifier),
        ("content", core.Any, {"explicit": 0}),
    ]


# Lean specs: attribute values stay undecoded (core.Any) until a check needs one, and
# OIDs are compared as DER bytes; asn1crypto's cms specs decode every attribute they meet,
# which was most of the cost of a signature.


class _AnySet(core.SetOf):  # type: ignore[misc]
    _child_spec = core.Any


class _Attribute(core.Sequence):  # type: ignore[misc]
    _fields = [("type", core.ObjectIdentifier), ("values", _AnySet)]  # noqa: RUF012


class Attributes(core.SetOf):  # type: ignore[misc]
    _child_spec = _Attribute


class _SignerInfo(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("sid", cms.SignerIdentifier),
        ("digest_algorithm", algos.DigestAlgorithm),
        ("signed_attrs", Attributes, {"implicit": 0, "optional": True}),
        ("signature_algorithm", algos.SignedDigestAlgorithm),
        ("signature", core.OctetString),
        ("unsigned_attrs", Attributes, {"implicit": 1, "optional": True}),
    ]


class _SignerInfos(core.SetOf):  # type: ignore[misc]
    _child_spec = _SignerInfo


class _SignedData(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("digest_algorithms", core.Any),
        ("encap_content_info", _RawContentInfo),
        ("certificates", cms.CertificateSet, {"implicit": 0, "optional": True}),
        ("crls", cms.RevocationInfoChoices, {"implicit": 1, "optional": True}),
        ("signer_infos", _SignerInfos),
    ]


class SignedContentInfo(core.Sequence):  # type: ignore[misc]
    """A ContentInfo read as SignedData: check ``content_type`` before touching ``content``."""

    _fields = [  # noqa: RUF012
        ("content_type", core.ObjectIdentifier),
        ("content", _SignedData, {"explicit": 0}),
    ]


@functools.cache  # the few OIDs compared, encoded once (asn1crypto's encoder is slow)
def _oid(dotted: str) -> bytes:
    der: bytes = core.ObjectIdentifier(dotted).dump()
    return der


_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
_SIGNING_TIME = _oid("1.2.840.113549.1.9.5")
_COUNTER_SIGNATURE = _oid("1.2.840.113549.1.9.6")
_RFC3161_TIMESTAMP = _oid("1.3.6.1.4.1.311.3.3.1")
_NESTED_SIGNATURE = _oid("1.3.6.1.4.1.311.2.4.1")


def is_signed_data(content_info: Any) -> bool:
    return bool(content_info["content_type"].dump() == _SIGNED_DATA)


# --- parsing a certificate table ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    """A signature of the table, checked but for the file's digest (:func:`_bind` adds it)."""

    signature: Signature
    """Verified with no Authenticode digest to compare (``digest_matches`` None)."""
    algorithm: str | None
    """Of its signed image digest, as parsed (None: it could not be parsed)."""


@dataclass(frozen=True, slots=True)
class ParsedTable:
    """The signatures of a certificate table: :meth:`verify` them against the file's digests."""

    found: tuple[_Found, ...]

    @classmethod
    def too_large(cls, size: int) -> ParsedTable:
        reason = f"certificate table of {size} bytes (more than {MAX_TABLE_SIZE}): not read"
        return cls((_Found(_failed(SignatureStatus.MALFORMED, reason, 0, 0), None),))

    @property
    def algorithms(self) -> frozenset[str]:
        """The Authenticode digests the signatures need (supported algorithms only)."""
        return frozenset(f.algorithm for f in self.found if f.algorithm in DIGEST_ALGORITHMS)

    def verify(self, authenticode: Mapping[str, str]) -> tuple[Signature, ...]:
        """Each signature, in file order, nested ones after their parent.

        ``authenticode`` maps an algorithm to the file's Authenticode digest (hex).
        """
        return tuple(_bind(f.signature, authenticode) for f in self.found)


def parse_table(entries: Sequence[bytes]) -> ParsedTable:
    """Parse and check each ``WIN_CERTIFICATE`` entry's ``bCertificate`` (header stripped)."""
    found: list[_Found] = []
    for index, blob in enumerate(entries):
        try:
            length = Reader(blob).read().end
        except DerError as e:
            failed = _failed(SignatureStatus.MALFORMED, f"entry {index}: not DER: {e}", index, 0)
            found.append(_Found(failed, None))
            continue
        tail = blob[length:]
        if len(tail) >= 8 or any(tail):
            # CVE-2013-3900: bytes after the DER that the signature does not cover.
            reason = f"entry {index}: data after the signature"
            found.append(_Found(_failed(SignatureStatus.MALFORMED, reason, index, 0), None))
            continue
        for f in _entry(blob[:length], index):
            if len(found) >= MAX_SIGNATURES:
                break
            found.append(f)
    return ParsedTable(tuple(found))


# An entry's verdict depends on its bytes alone but for the image digest, compared last
# (_bind): a file met again (a copy, the same DLL in every application folder) costs a
# SHA-256 of its signature instead of a parse and a verification.  Keyed by that SHA-256,
# not the bytes, so that the cache keeps no table (up to MAX_TABLE_SIZE each).
_CACHED_ENTRIES = 256
_entries: dict[tuple[bytes, int], tuple[_Found, ...]] = {}
_entries_lock = threading.Lock()  # scan threads share it


def _entry(der: bytes, index: int) -> tuple[_Found, ...]:
    """The signatures of one entry (its own, then the nested ones), at most MAX_SIGNATURES."""
    key = (hashlib.sha256(der).digest(), index)
    with _entries_lock:
        cached = _entries.get(key)
    if cached is None:
        found: list[_Found] = []
        _collect(der, index, 0, found)
        cached = tuple(found)
        with _entries_lock:
            if len(_entries) >= _CACHED_ENTRIES:
                del _entries[next(iter(_entries))]  # the oldest
            _entries[key] = cached
    return cached


def _collect(der: bytes, entry: int, nesting: int, found: list[_Found]) -> None:
    if len(found) >= MAX_SIGNATURES:
        return
    try:
        layout = _content_info(der)
        content_info = SignedContentInfo.load(der, strict=True)
        signed_data = content_info["content"]
        indirect = SpcIndirectDataContent.load(layout.content_der())
        algorithm: str = indirect["message_digest"]["digest_algorithm"]["algorithm"].native
    except ASN1_ERRORS as e:
        reason = f"cannot parse: {_short(e)}"
        found.append(_Found(_failed(SignatureStatus.MALFORMED, reason, entry, nesting), None))
        return
    signature = verify_signed_data(signed_data, entry, nesting, {}, (indirect, layout))
    found.append(_Found(signature, algorithm))
    if nesting >= MAX_NESTING:
        return
    for child in layout.nested:
        _collect(child, entry, nesting + 1, found)


def _bind(signature: Signature, authenticode: Mapping[str, str]) -> Signature:
    """``signature``, checked without a digest, with its image digest compared to the file's.

    A mismatch is the verdict unless an earlier check (in ``_ORDER``) already failed,
    as when :func:`verify_signed_data` compares it along with the others.
    """
    algorithm = signature.digest_algorithm
    if signature.digest is None or algorithm not in DIGEST_ALGORITHMS:
        return signature
    ours = authenticode.get(algorithm)
    if ours is None:
        return signature
    if ours == signature.digest:
        return dataclasses.replace(signature, digest_matches=True)
    status, reason = signature.status, signature.reason
    if status is SignatureStatus.VALID or _ORDER.index(status) > _ORDER.index(
        SignatureStatus.DIGEST_MISMATCH
    ):
        status = SignatureStatus.DIGEST_MISMATCH
        reason = f"signed {algorithm} image digest {signature.digest} is not this file's ({ours})"
    return dataclasses.replace(signature, status=status, reason=reason, digest_matches=False)


def _attrs(attrs: Any) -> Any:
    return () if isinstance(attrs, core.Void) else attrs


# --- the layout: where the signed bytes are, read strictly ----------------------------------
# The C core's reading (driver/core/ewl_signature.c), field by field: what it finds
# malformed is malformed here too, and the views it hashes are the bytes hashed here.

_SIGNED_DATA_OID = _SIGNED_DATA[2:]
_NESTED_OID = _NESTED_SIGNATURE[2:]
_HASH_OIDS = {
    _oid("1.3.14.3.2.26"): "sha1",
    _oid("2.16.840.1.101.3.4.2.1"): "sha256",
    _oid("2.16.840.1.101.3.4.2.2"): "sha384",
    _oid("2.16.840.1.101.3.4.2.3"): "sha512",
}


@dataclass(frozen=True, slots=True)
class _Layout:
    """A SignedData's parts as byte ranges of the buffer it was read from."""

    reader: Reader
    """Over the SignedData's content, read to its end."""
    content_element: Tlv
    """The encapsulated content (SpcIndirectDataContent, or a catalog's trust list)."""
    content: memoryview
    """Its content octets: what ``messageDigest`` covers (no tag, no length)."""
    bag: Tlv | None
    signer_infos: tuple[Tlv, ...]
    nested: tuple[bytes, ...]
    """The nested signatures (unsigned attribute 1.3.6.1.4.1.311.2.4.1), each a ContentInfo."""

    def content_der(self) -> bytes:
        """The encapsulated content's DER (a copy: asked for SpcIndirectDataContent only, not
        for a catalog's trust list, which can be hundreds of MiB)."""
        return self.reader.whole(self.content_element)


@dataclass(frozen=True, slots=True)
class _SignerLayout:
    """The first SignerInfo's signed bytes (:func:`_signer_info`)."""

    issuer: bytes | None
    """The DER issuer name of ``sid`` (None: a subject key identifier)."""
    signed: bytes | None
    """The signed attributes as signed: re-tagged from [0] to SET (None: absent)."""
    attributes: dict[bytes, list[bytes]]
    """Signed attribute type (DER OID) → the DER of its values."""
    data: bytes
    """The buffer ``algorithm`` is a view of."""
    algorithm: Tlv
    """signatureAlgorithm (its SEQUENCE)."""
    signature: bytes


def _content_info(der: bytes) -> _Layout:
    """ContentInfo { signedData, [0] EXPLICIT SignedData } of an Authenticode signature,
    read as C's ``ewl_read_signed_data`` before it verifies anything."""
    top = Reader(der)
    ci = top.enter(top.expect(SEQUENCE))
    top.finish()
    oid = ci.expect(OID)
    if ci.content(oid) != _SIGNED_DATA_OID:
        raise DerError(f"content type {_dotted(ci.whole(oid))}, not signedData")
    explicit = ci.enter(ci.expect(0xA0))
    ci.finish()
    signed_data = explicit.enter(explicit.expect(SEQUENCE))
    explicit.finish()
    return _signed_data(signed_data, SPC_INDIRECT_DATA)


def _signed_data(sd: Reader, expected_type: str) -> _Layout:
    """SignedData's fields in ``sd``: the content and where the rest is (the bag and the
    SignerInfos are read by :func:`_signers`, when verifying)."""
    sd.expect(0x02)  # version
    sd.read()  # digestAlgorithms (signatures.py never reads it; C neither)
    enc = sd.enter(sd.expect(SEQUENCE))
    oid = enc.expect(OID)
    explicit = enc.expect(0xA0)
    enc.finish()
    if enc.whole(oid) != _oid(expected_type):
        what = (
            "SpcIndirectDataContent"
            if expected_type == SPC_INDIRECT_DATA
            else "a certificate trust list"
        )
        raise DerError(f"content type {_dotted(enc.whole(oid))}, not {what}")
    wrap = enc.enter(explicit)
    content = wrap.read()
    wrap.finish()
    if expected_type == SPC_INDIRECT_DATA:
        # SpcIndirectDataContent ::= SEQUENCE { data ANY, messageDigest DigestInfo }
        if content.tag != SEQUENCE:
            raise DerError("SpcIndirectDataContent is not a SEQUENCE")
        indirect = wrap.enter(content)
        indirect.read()
        info = indirect.enter(indirect.expect(SEQUENCE))
        indirect.finish()
        _algorithm(info)
        info.expect(OCTET_STRING)
        info.finish()
    bag = sd.read() if sd.peek() == 0xA0 else None
    if sd.peek() == 0xA1:
        sd.read()  # crls: not read
    infos = sd.enter(sd.expect(SET))
    sd.finish()
    signer_infos: list[Tlv] = []
    nested: list[bytes] = []
    while not infos.at_end():
        t = infos.read()
        _nested_of(infos, t, nested)
        signer_infos.append(t)
    data = sd.data
    return _Layout(
        sd,
        content,
        memoryview(data)[content.start : content.end],
        bag,
        tuple(signer_infos),
        tuple(nested),
    )


def _dotted(oid_der: bytes) -> str:
    """An OID for a reason, dotted; anything that is no OID, its DER in hex."""
    try:
        return str(core.ObjectIdentifier.load(oid_der).dotted)
    except ASN1_ERRORS:
        return oid_der.hex()


def _algorithm(r: Reader) -> tuple[Tlv, Tlv | None]:
    """AlgorithmIdentifier ::= SEQUENCE { OID, parameters ANY OPTIONAL }: (OID, parameters)."""
    a = r.enter(r.expect(SEQUENCE))
    oid = a.expect(OID)
    if oid.length == 0:
        raise DerError("empty OID")
    params = None if a.at_end() else a.read()
    a.finish()
    return oid, params


def _attributes(
    r: Reader,
    t: Tlv,
    nested: list[bytes] | None = None,
    values: dict[bytes, list[bytes]] | None = None,
) -> None:
    """Attributes ::= SET OF SEQUENCE { type OID, values SET OF ANY }.

    With ``nested`` (the unsigned attributes, looked through for nested signatures
    by each attribute's type, as C's ``ewl_read_attributes`` with ``pending``): the
    nested signatures' values are appended to it, the other attributes' values are
    not looked at.
    """
    attrs = r.enter(t)
    while not attrs.at_end():
        a = attrs.read()
        if a.tag != SEQUENCE:
            raise DerError("an attribute is not a SEQUENCE")
        inner = attrs.enter(a)
        oid = inner.expect(OID)
        vals = inner.read()
        inner.finish()
        is_nested = nested is not None and inner.content(oid) == _NESTED_OID
        if nested is not None and not is_nested:
            continue
        if vals.tag != SET:
            raise DerError("attribute values are not a SET")
        each = inner.enter(vals)
        found = values.setdefault(inner.whole(oid), []) if values is not None else None
        while not each.at_end():
            v = each.read()
            if nested is not None:
                nested.append(each.whole(v))
            elif found is not None:
                found.append(each.whole(v))


def _nested_of(r: Reader, t: Tlv, nested: list[bytes]) -> None:
    """A SignerInfo's nested signatures, found by field position as asn1crypto finds
    ``unsigned_attrs`` (C's ``ewl_nested_of``): after version, sid, digestAlgorithm, an
    optional [0], signatureAlgorithm and signature, the next element if it is [1]."""
    if t.tag != SEQUENCE:
        raise DerError("a SignerInfo is not a SEQUENCE")
    inner = r.enter(t)
    index, unsigned_at = 0, 5
    while not inner.at_end():
        f = inner.read()
        if index == 3 and f.tag == 0xA0:
            unsigned_at = 6
        if index == unsigned_at and f.tag == 0xA1:
            _attributes(inner, f, nested=nested)
        index += 1
    if index < unsigned_at:
        raise DerError("a SignerInfo field is missing")


def _signers(layout: _Layout) -> tuple[list[bytes], int, _SignerLayout | None]:
    """(the bag's certificates, DER as in the file; how many elements the bag holds; the
    first SignerInfo's signed bytes), every SignerInfo read strictly."""
    sd = layout.reader
    certificates: list[bytes] = []
    count = 0
    if layout.bag is not None:
        bag = sd.enter(layout.bag)
        while not bag.at_end():
            c = bag.read()
            count += 1
            if c.tag == SEQUENCE:
                certificates.append(bag.whole(c))
            elif not 0xA0 <= c.tag <= 0xA3:
                raise DerError("not a CertificateChoices alternative")
    first = None
    parent = Reader(sd.data, depth=sd.depth + 1)
    for t in layout.signer_infos:
        signer = _signer_info(parent, t)
        if first is None:
            first = signer
    return certificates, count, first


def _signer_info(r: Reader, t: Tlv) -> _SignerLayout:
    """SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, [0] IMPLICIT signedAttrs
    OPTIONAL, signatureAlgorithm, signature OCTET STRING, [1] IMPLICIT unsignedAttrs
    OPTIONAL }, nothing after."""
    if t.tag != SEQUENCE:
        raise DerError("a SignerInfo is not a SEQUENCE")
    i = r.enter(t)
    i.expect(0x02)
    sid = i.read()
    issuer = None
    if sid.tag == SEQUENCE:
        s = i.enter(sid)
        name = s.expect(SEQUENCE)
        serial = s.expect(0x02)
        s.finish()
        if serial.length == 0:
            raise DerError("empty serial number")
        issuer = s.whole(name)
    elif sid.tag != 0x80:
        raise DerError("sid is neither issuerAndSerialNumber nor [0]")
    _algorithm(i)
    signed = None
    attributes: dict[bytes, list[bytes]] = {}
    if i.peek() == 0xA0:
        f = i.read()
        _attributes(i, f, values=attributes)
        signed = b"\x31" + i.data[f.offset + 1 : f.end]
    if i.peek() != SEQUENCE:
        raise DerError("no signatureAlgorithm where it belongs")
    algorithm = i.read()
    _algorithm(Reader(i.data, algorithm.offset, algorithm.end, i.depth))
    signature = i.content(i.expect(OCTET_STRING))
    if i.peek() == 0xA1:
        _attributes(i, i.read())
    i.finish()
    return _SignerLayout(issuer, signed, attributes, i.data, algorithm, signature)


# --- verification ---------------------------------------------------------------------------


def _failed(status: SignatureStatus, reason: str, entry: int, nesting: int) -> Signature:
    return Signature(status, reason, entry, nesting, None, None, None, None, (), False)


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]


def verify_signed_data(
    signed_data: Any,
    entry: int,
    nesting: int,
    authenticode: Mapping[str, str] | None,
    content: tuple[Any, _Layout] | bytes | None = None,
) -> Signature:
    """Check one SignedData (asn1crypto, :class:`SignedContentInfo`'s content).

    ``authenticode`` None means a catalog (content: a trust list).

    ``content``, when the caller has already read it: for a signature, its
    ``SpcIndirectDataContent`` and layout; for a catalog, the trust list's
    content octets. The layout is otherwise read from the SignedData's own
    content octets (:func:`_signed_data`).
    """
    try:
        return _verify(signed_data, entry, nesting, authenticode, content)
    except ASN1_ERRORS as e:
        return _failed(SignatureStatus.MALFORMED, f"cannot parse: {_short(e)}", entry, nesting)


def _verify(
    signed_data: Any,
    entry: int,
    nesting: int,
    authenticode: Mapping[str, str] | None,
    parsed: tuple[Any, _Layout] | bytes | None,
) -> Signature:
    failures: list[tuple[SignatureStatus, str]] = []
    expected_type = MS_CTL if authenticode is None else SPC_INDIRECT_DATA
    digest_algorithm = digest_hex = None
    matches: bool | None = None
    if isinstance(parsed, tuple):
        indirect, layout = parsed
    else:
        layout = _signed_data(Reader(signed_data.contents, depth=3), expected_type)
        indirect = (
            SpcIndirectDataContent.load(layout.content_der()) if authenticode is not None else None
        )
    octets = memoryview(parsed) if isinstance(parsed, bytes) else layout.content
    if authenticode is not None:
        digest_info = indirect["message_digest"]
        digest_algorithm = digest_info["digest_algorithm"]["algorithm"].native
        digest_hex = digest_info["digest"].native.hex()
        if digest_algorithm not in DIGEST_ALGORITHMS:
            failures.append(
                (SignatureStatus.UNSUPPORTED, f"image digest algorithm {digest_algorithm}")
            )
        else:
            ours = authenticode.get(digest_algorithm)
            matches = ours == digest_hex if ours is not None else None
            if matches is False:
                failures.append(
                    (
                        SignatureStatus.DIGEST_MISMATCH,
                        f"signed {digest_algorithm} image digest {digest_hex} is not this file's"
                        f" ({ours})",
                    )
                )

    signer_infos = signed_data["signer_infos"]
    bag, elements, signer = _signers(layout)
    certificates = _bag(bag, elements)
    if len(signer_infos) != 1 or signer is None:
        failures.append(
            (SignatureStatus.MALFORMED, f"{len(signer_infos)} signer infos, expected one")
        )
        chain: tuple[_Cert, ...] = ()
        complete = False
    else:
        signer_info = signer_infos[0]
        signer_algorithm = signer_info["digest_algorithm"]["algorithm"].native
        if authenticode is None:
            digest_algorithm = signer_algorithm
        failures.extend(_check_signer(signer, signer_algorithm, expected_type, octets))
        leaf, why = _find_signer(signer_info["sid"], signer.issuer, certificates)
        if leaf is None:
            failures.append((SignatureStatus.BROKEN_CHAIN, why))
            chain, complete = (), False
        else:
            failures.extend(_check_signature(signer_info, signer, signer_algorithm, leaf))
            chain, complete, broken = _chain(leaf, certificates)
            if broken:
                failures.append((SignatureStatus.BROKEN_CHAIN, broken))
    if failures:
        status, reason = min(failures, key=lambda f: _ORDER.index(f[0]))
    else:
        status = SignatureStatus.VALID
        reason = "digest bound to the file, signed attributes and signature verified"
        if authenticode is None:
            reason = "signed attributes and signature verified"
    return Signature(
        status=status,
        reason=reason,
        entry=entry,
        nesting=nesting,
        digest_algorithm=digest_algorithm,
        digest=digest_hex,
        digest_matches=matches,
        signing_time=_signing_time(signer_infos[0]) if len(signer_infos) == 1 else None,
        chain=tuple(_identity(c.der) for c in chain),
        chain_complete=complete,
    )


_ORDER = (
    SignatureStatus.MALFORMED,
    SignatureStatus.UNSUPPORTED,
    SignatureStatus.DIGEST_MISMATCH,
    SignatureStatus.BAD_SIGNED_ATTRIBUTES,
    SignatureStatus.BAD_SIGNATURE,
    SignatureStatus.BROKEN_CHAIN,
)


class _BagError(ValueError):
    pass


def _bag(certificates: list[bytes], elements: int) -> list[_Cert]:
    """The bag's X.509 certificates (DER as in the file; other choices left out by
    :func:`_signers`, but counted in ``elements``); duplicates kept once."""
    if elements > MAX_CERTIFICATES:
        raise _BagError(f"{elements} certificates (more than {MAX_CERTIFICATES})")
    seen: dict[bytes, _Cert] = {}
    for der in certificates:
        if der not in seen:
            try:
                seen[der] = _cert(der)
            except (ValueError, x509.InvalidVersion) as e:
                raise _BagError(f"a certificate does not parse: {_short(e)}") from None
    return list(seen.values())


# Certificates recur across files (a publisher's leaf, its PCA): what is learnt from one
# is kept, keyed by its DER, so a scan pays for parsing and chain links once per signer.
_CACHED_CERTIFICATES = 1024


@dataclass(frozen=True, slots=True)
class _Cert:
    der: bytes
    parsed: x509.Certificate
    subject: bytes
    """DER of the subject name (names are compared as bytes: signers.md V9)."""
    issuer: bytes
    serial: int


@functools.lru_cache(maxsize=_CACHED_CERTIFICATES)
def _cert(der: bytes) -> _Cert:
    cert = x509.load_der_x509_certificate(der)
    # cryptography decodes names lazily: a name it cannot decode (invalid UTF-8, a
    # PrintableString with other characters) must fail here, as the C core refuses it.
    cert.subject.public_bytes()
    cert.issuer.public_bytes()
    # The names compared, as the file has them; and cryptography's TBS (what it hashes
    # for a chain link and _identity for the TBS hash) must be the file's bytes too.
    top = Reader(der)
    certificate = top.enter(top.expect(SEQUENCE))
    tbs = certificate.expect(SEQUENCE)
    if cert.tbs_certificate_bytes != certificate.whole(tbs):
        raise ValueError("tbsCertificate does not read back as the bytes it was read from")
    fields = certificate.enter(tbs)
    if fields.peek() == 0xA0:
        fields.read()  # version
    fields.read()  # serialNumber
    fields.read()  # signature
    issuer = fields.whole(fields.read())
    fields.read()  # validity
    subject = fields.whole(fields.read())
    return _Cert(der, cert, subject, issuer, cert.serial_number)


def _check_signer(
    signer: _SignerLayout, algorithm: str, expected_type: str, content: memoryview
) -> list[tuple[SignatureStatus, str]]:
    """The signed attributes: present, ``contentType`` right, ``messageDigest`` of the content."""
    if algorithm not in DIGEST_ALGORITHMS:
        return [(SignatureStatus.UNSUPPORTED, f"signer digest algorithm {algorithm}")]
    if signer.signed is None:
        return [(SignatureStatus.BAD_SIGNED_ATTRIBUTES, "no signed attributes")]
    values = signer.attributes
    content_types = values.get(_CONTENT_TYPE, [])
    digests = values.get(_MESSAGE_DIGEST, [])
    if content_types != [_oid(expected_type)]:
        found = ", ".join(_dotted(v) for v in content_types) or "none"
        return [
            (
                SignatureStatus.BAD_SIGNED_ATTRIBUTES,
                f"contentType attribute is {found}, not {expected_type}",
            )
        ]
    ours = core.OctetString(hashlib.new(algorithm, content).digest()).dump()
    if digests != [ours]:
        return [
            (
                SignatureStatus.BAD_SIGNED_ATTRIBUTES,
                "messageDigest attribute does not match the signed content",
            )
        ]
    return []


def _find_signer(
    sid: Any, issuer: bytes | None, certificates: list[_Cert]
) -> tuple[_Cert | None, str]:
    """The one certificate ``sid`` names; ``issuer``: its issuer's DER as in the file."""
    if issuer is not None:
        serial = sid.chosen["serial_number"].native
        matches = [c for c in certificates if c.serial == serial and c.issuer == issuer]
    else:
        ski = sid.chosen.native
        matches = [c for c in certificates if _ski(c.parsed) == ski]
    if len(matches) == 1:
        return matches[0], ""
    if not matches:
        return None, "no certificate in the signature matches the signer"
    return None, f"{len(matches)} certificates match the signer"


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except (x509.ExtensionNotFound, ValueError):
        return None
    return ext.value.digest


def _hash(name: str) -> hashes.HashAlgorithm:
    return {
        "sha1": hashes.SHA1(),  # noqa: S303 - verifying what was signed, not choosing
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
    }[name]


def _check_signature(
    signer_info: Any, layout: _SignerLayout, algorithm: str, signer: _Cert
) -> list[tuple[SignatureStatus, str]]:
    """The signature over the signed attributes, re-tagged from [0] IMPLICIT to SET (RFC 5652)."""
    if algorithm not in DIGEST_ALGORITHMS:
        return []  # already reported by _check_signer
    data = layout.signed
    if data is None:
        return []
    signature = layout.signature
    scheme_name = signer_info["signature_algorithm"]["algorithm"].native
    hash_algorithm = _hash(algorithm)
    leaf = signer.parsed
    try:
        key = leaf.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if scheme_name == "rsassa_pss":
                try:
                    pss_hash, salt = _pss_parameters(layout)
                except DerError as e:
                    return [(SignatureStatus.UNSUPPORTED, f"RSA-PSS parameters: {_short(e)}")]
                if pss_hash != algorithm:
                    return [(SignatureStatus.UNSUPPORTED, f"RSA-PSS with {pss_hash}")]
                pad: padding.AsymmetricPadding = padding.PSS(padding.MGF1(hash_algorithm), salt)
            elif scheme_name in ("rsassa_pkcs1v15", f"{algorithm}_rsa"):
                pad = padding.PKCS1v15()
            else:
                return [(SignatureStatus.UNSUPPORTED, f"{scheme_name} with an RSA key")]
            key.verify(signature, data, pad, hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_algorithm))
        else:
            return [(SignatureStatus.UNSUPPORTED, f"signer key {_key_name(leaf)}")]
    except InvalidSignature:
        return [
            (SignatureStatus.BAD_SIGNATURE, "the signature does not verify with the signer's key")
        ]
    except (UnsupportedAlgorithm, ValueError) as e:
        return [(SignatureStatus.UNSUPPORTED, f"signer key: {_short(e)}")]
    return []


def _pss_parameters(signer: _SignerLayout) -> tuple[str, int]:
    """(hash, salt length) of a signer's RSASSA-PSS-params (RFC 4055 §3.1, RFC 8017 A.2.3):

        SEQUENCE { hashAlgorithm [0] DEFAULT sha1, maskGenAlgorithm [1] DEFAULT mgf1SHA1,
                   saltLength [2] INTEGER DEFAULT 20, trailerField [3] DEFAULT 1 }

    read strictly from the file's bytes (C's ``ewl_pss_params``); a hash other than
    SHA-1/2 by its dotted OID. Parameters that are absent or do not decode: DerError. MGF1
    takes the signer's digest, as it always has here (maskGenAlgorithm is skipped).
    """
    t = signer.algorithm
    r = Reader(signer.data, t.offset, t.end)
    a = r.enter(r.expect(SEQUENCE))
    a.expect(OID)
    if a.at_end():
        raise DerError("no parameters")
    params = a.read()
    if params.tag != SEQUENCE:
        raise DerError("parameters are not a SEQUENCE")
    p = a.enter(params)
    hash_name = "sha1"
    salt = 20
    if p.peek() == 0xA0:
        h = p.enter(p.read())
        oid, _ = _algorithm(h)
        h.finish()
        hash_name = _HASH_OIDS.get(h.whole(oid)) or _dotted(h.whole(oid))
    if p.peek() == 0xA1:
        p.read()
    if p.peek() == 0xA2:
        s = p.enter(p.read())
        value = s.read()
        s.finish()
        salt = s.small_uint(value)
    if p.peek() == 0xA3:
        p.read()
    p.finish()
    return hash_name, salt


def _chain(leaf: _Cert, certificates: list[_Cert]) -> tuple[tuple[_Cert, ...], bool, str]:
    """(chain leaf first, ends self-signed, why it is broken or "")."""
    chain = [leaf]
    current = leaf
    while len(chain) < MAX_CHAIN:
        if current.subject == current.issuer:
            return tuple(chain), _issued_by(current.der, current.der), ""
        parents = [c for c in certificates if c.subject == current.issuer]
        if not parents:
            return tuple(chain), False, ""  # the issuer is not embedded: the chain stops here
        parent = next((p for p in parents if _issued_by(current.der, p.der)), None)
        if parent is None:
            return (
                tuple(chain),
                False,
                f"{current.parsed.subject.rfc4514_string()} is not signed by the embedded"
                f" {current.parsed.issuer.rfc4514_string()}",
            )
        if parent in chain:
            return tuple(chain), False, "the certificates issue each other in a loop"
        chain.append(parent)
        current = parent
    return tuple(chain), False, f"chain longer than {MAX_CHAIN} certificates"


@functools.lru_cache(maxsize=4 * _CACHED_CERTIFICATES)
def _issued_by(child: bytes, parent: bytes) -> bool:
    try:
        _cert(child).parsed.verify_directly_issued_by(_cert(parent).parsed)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _signing_time(signer_info: Any) -> str | None:
    """When a timestamping authority saw the signature: counter-signature or RFC 3161 token.

    Unsigned attributes: anyone can add, change or break them without touching the
    signature, so one that does not parse is skipped (metadata, never a verdict: a
    broken timestamp does not make a valid signature malformed, as it does not on
    Windows).
    """
    try:
        unsigned = _attrs(signer_info["unsigned_attrs"])
    except ASN1_ERRORS:
        return None
    for attr in unsigned:
        try:
            kind = attr["type"].dump()
            values = list(attr["values"])
        except ASN1_ERRORS:
            continue
        for value in values:
            try:
                when = _time_of(kind, value)
            except ASN1_ERRORS:
                continue
            if isinstance(when, datetime):
                return _iso(when)
    return None


def _time_of(kind: bytes, value: Any) -> object:
    if kind == _COUNTER_SIGNATURE:
        for signed in _attrs(value.parse(_SignerInfo)["signed_attrs"]):
            if signed["type"].dump() == _SIGNING_TIME:
                return signed["values"][0].parse(asn1_x509.Time).native
    elif kind == _RFC3161_TIMESTAMP:
        token = value.parse(SignedContentInfo)["content"]["encap_content_info"]
        encoded = token["content"].parse(core.OctetString).native
        return tsp.TSTInfo.load(encoded)["gen_time"].native
    return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- certificate identities -----------------------------------------------------------------

_APPLOCKER_ORDER = (
    (NameOID.ORGANIZATION_NAME, "O"),
    (NameOID.LOCALITY_NAME, "L"),
    (NameOID.STATE_OR_PROVINCE_NAME, "S"),
    (NameOID.COUNTRY_NAME, "C"),
)
_SHORT_NAMES = {NameOID.STATE_OR_PROVINCE_NAME: "S", NameOID.EMAIL_ADDRESS: "E"}


def applocker_publisher(name: x509.Name) -> str:
    """AppLocker's publisher form: ``O=…, L=…, S=…, C=…`` (values upper-cased, no escaping).

    Used when O and one of L, S, C are present; otherwise the whole name in
    X.500 reverse order, upper-cased (signers.md §5, from AaronLocker).
    """
    parts = []
    for oid, short in _APPLOCKER_ORDER:
        values = [str(a.value) for a in name.get_attributes_for_oid(oid)]
        if values:
            parts.append(f"{short}={values[0].upper()}")
    if parts and parts[0].startswith("O=") and len(parts) > 1:
        return ", ".join(parts)
    return ", ".join(
        f"{_SHORT_NAMES.get(a.oid, a.rfc4514_attribute_name)}={str(a.value).upper()}"
        for rdn in reversed(name.rdns)
        for a in rdn
    )


def _key_name(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "unknown"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec-{key.curve.name}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"dsa-{key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "eddsa"
    return "unknown"


@functools.lru_cache(maxsize=_CACHED_CERTIFICATES)
def _identity(der: bytes) -> Certificate:
    cert = _cert(der).parsed
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    tbs_algorithm = algorithm.name if algorithm is not None else None
    tbs_hash = None
    if tbs_algorithm is not None:
        tbs_hash = hashlib.new(tbs_algorithm, cert.tbs_certificate_bytes).hexdigest()
    serial = cert.serial_number
    return Certificate(
        subject=_rfc4514(cert.subject),
        issuer=_rfc4514(cert.issuer),
        publisher=applocker_publisher(cert.subject),
        serial=format(serial, "x") if serial >= 0 else "-" + format(-serial, "x"),
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
        sha256=hashlib.sha256(der).hexdigest(),
        tbs_hash=tbs_hash,
        tbs_algorithm=tbs_algorithm,
        key=_key_name(cert),
    )


def _rfc4514(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:  # an attribute value cryptography cannot render
        return name.public_bytes().hex()
