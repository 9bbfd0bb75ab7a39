"""Independent oracle: the digests stored inside a PE file's Authenticode signature(s).

This module deliberately imports nothing from ``exewhitelist``: it reads what the signing tool
recorded (the signed image hash and, if present, the page hashes) so tests can compare
exewhitelist's own hashing against it.

``pefile`` is used only to locate the certificate table; the WIN_CERTIFICATE entries are walked
by hand and the PKCS#7 / Authenticode structures are parsed with ``asn1crypto``.

Structures (Microsoft, "Windows Authenticode Portable Executable Signature Format")::

    SpcIndirectDataContent ::= SEQUENCE {
        data            SpcAttributeTypeAndOptionalValue,
        messageDigest   DigestInfo }
    SpcAttributeTypeAndOptionalValue ::= SEQUENCE {
        type            OBJECT IDENTIFIER,      -- SPC_PE_IMAGE_DATA
        value           ANY DEFINED BY type OPTIONAL }
    DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }
    SpcPeImageData ::= SEQUENCE {
        flags           BIT STRING OPTIONAL,
        file            [0] EXPLICIT SpcLink OPTIONAL }
    SpcLink ::= CHOICE {
        url             [0] IMPLICIT IA5String,
        moniker         [1] IMPLICIT SpcSerializedObject,
        file            [2] EXPLICIT SpcString }
    SpcSerializedObject ::= SEQUENCE { classId OCTET STRING, serializedData OCTET STRING }
    -- serializedData, for page hashes (classId a6b586d5b4a12466ae05a217da8e60d6):
    SET OF SEQUENCE { type OBJECT IDENTIFIER, values SET OF OCTET STRING }
    -- each OCTET STRING: run of (u32 little-endian file offset, digest) records
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import pefile
from asn1crypto import algos, cms, core

__all__ = ["EmbeddedSignature", "embedded_signatures"]

IMAGE_DIRECTORY_ENTRY_SECURITY = 4
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
WIN_CERTIFICATE_HEADER = struct.Struct("<IHH")  # dwLength, wRevision, wCertificateType

SPC_INDIRECT_DATA_OBJID = "1.3.6.1.4.1.311.2.1.4"
SPC_PE_IMAGE_DATA_OBJID = "1.3.6.1.4.1.311.2.1.15"
SPC_NESTED_SIGNATURE_OBJID = "1.3.6.1.4.1.311.2.4.1"
SPC_PE_IMAGE_PAGE_HASHES_V1 = "1.3.6.1.4.1.311.2.3.1"  # SHA-1 page hashes
SPC_PE_IMAGE_PAGE_HASHES_V2 = "1.3.6.1.4.1.311.2.3.2"  # SHA-256 page hashes
SPC_PAGE_HASHES_CLASS_ID = bytes.fromhex("a6b586d5b4a12466ae05a217da8e60d6")

PAGE_HASH_ALGORITHMS: dict[str, tuple[str, int]] = {
    SPC_PE_IMAGE_PAGE_HASHES_V1: ("sha1", 20),
    SPC_PE_IMAGE_PAGE_HASHES_V2: ("sha256", 32),
}


# --- asn1crypto specs for the Authenticode-specific structures --------------------------------
# asn1crypto is untyped (Any to mypy), hence the ignores on the subclass lines.


class _DigestInfo(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto spec attribute
        ("digest_algorithm", algos.DigestAlgorithm),
        ("digest", core.OctetString),
    ]


class _SpcAttributeTypeAndOptionalValue(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("type", core.ObjectIdentifier),
        ("value", core.Any, {"optional": True}),
    ]


class _SpcIndirectDataContent(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("data", _SpcAttributeTypeAndOptionalValue),
        ("message_digest", _DigestInfo),
    ]


class _SpcContentInfo(core.Sequence):  # type: ignore[misc]
    """encapContentInfo as Authenticode writes it: [0] EXPLICIT with no OCTET STRING wrapper."""

    _fields = [  # noqa: RUF012
        ("content_type", core.ObjectIdentifier),
        ("content", _SpcIndirectDataContent, {"explicit": 0}),
    ]


class _SpcSerializedObject(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("class_id", core.OctetString),
        ("serialized_data", core.OctetString),
    ]


class _SpcString(core.Choice):  # type: ignore[misc]
    _alternatives = [  # noqa: RUF012
        ("unicode", core.BMPString, {"implicit": 0}),
        ("ascii", core.IA5String, {"implicit": 1}),
    ]


class _SpcLink(core.Choice):  # type: ignore[misc]
    _alternatives = [  # noqa: RUF012
        ("url", core.IA5String, {"implicit": 0}),
        ("moniker", _SpcSerializedObject, {"implicit": 1}),
        ("file", _SpcString, {"explicit": 2}),
    ]


class _SpcPeImageData(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("flags", core.BitString, {"optional": True}),
        ("file", _SpcLink, {"explicit": 0, "optional": True}),
    ]


class _SetOfOctetString(core.SetOf):  # type: ignore[misc]
    _child_spec = core.OctetString


class _SpcAttribute(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("type", core.ObjectIdentifier),
        ("values", _SetOfOctetString),
    ]


class _SpcAttributes(core.SetOf):  # type: ignore[misc]
    _child_spec = _SpcAttribute


# --- public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedSignature:
    """What one Authenticode signature says about the file it signs."""

    digest_algorithm: str
    """hashlib name ("sha1", "sha256", ...) of SpcIndirectDataContent.messageDigest."""
    digest: bytes
    """SpcIndirectDataContent.messageDigest.digest: the Authenticode image hash that was signed."""
    page_hashes: tuple[tuple[int, bytes], ...] | None
    """(file offset, digest) records from SpcPeImageData, in stored order; None if absent."""
    page_hash_algorithm: str | None
    """"sha1" (1.3.6.1.4.1.311.2.3.1) or "sha256" (1.3.6.1.4.1.311.2.3.2); None if absent."""
    nested: bool
    """True when found as a nested signature (unsigned attribute 1.3.6.1.4.1.311.2.4.1)."""


def embedded_signatures(path: str | os.PathLike[str]) -> list[EmbeddedSignature]:
    """All signatures in the certificate table of the PE file at ``path``.

    Every WIN_CERTIFICATE entry of type PKCS_SIGNED_DATA (entries are 8-byte aligned; header
    u32 dwLength, u16 wRevision, u16 wCertificateType, then the DER PKCS#7 ContentInfo) is parsed,
    followed depth-first by every nested signature found in its signer infos' unsigned attribute
    1.3.6.1.4.1.311.2.4.1. Entries of other certificate types are skipped. Returns an empty list
    for an unsigned file. Raises ValueError for a malformed certificate table or signature, and
    pefile.PEFormatError if the file is not a PE image.
    """
    with open(path, "rb") as f:
        data = f.read()
    table = _certificate_table(data)
    result: list[EmbeddedSignature] = []
    pos = 0
    while pos + WIN_CERTIFICATE_HEADER.size <= len(table):
        length, _revision, cert_type = WIN_CERTIFICATE_HEADER.unpack_from(table, pos)
        if length < WIN_CERTIFICATE_HEADER.size or pos + length > len(table):
            raise ValueError(f"WIN_CERTIFICATE at table offset {pos}: bad dwLength {length}")
        if cert_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            der = table[pos + WIN_CERTIFICATE_HEADER.size : pos + length]
            # strict=False: dwLength may include zero padding after the DER value
            _collect(cms.ContentInfo.load(der), nested=False, out=result)
        pos += (length + 7) & ~7
    return result


# --- internals ---------------------------------------------------------------------------------


def _certificate_table(data: bytes) -> bytes:
    pe = pefile.PE(data=data, fast_load=True)
    directories: list[Any] = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    if len(directories) <= IMAGE_DIRECTORY_ENTRY_SECURITY:
        return b""
    entry = directories[IMAGE_DIRECTORY_ENTRY_SECURITY]
    offset, size = int(entry.VirtualAddress), int(entry.Size)  # VirtualAddress is a file offset
    if offset == 0 or size == 0:
        return b""
    if offset + size > len(data):
        raise ValueError(f"certificate table {offset}+{size} runs past end of file ({len(data)})")
    return data[offset : offset + size]


def _collect(content_info: Any, *, nested: bool, out: list[EmbeddedSignature]) -> None:
    if content_info["content_type"].native != "signed_data":
        raise ValueError(f"ContentInfo is {content_info['content_type'].dotted}, not SignedData")
    signed_data = content_info["content"]
    out.append(_parse_indirect_data(signed_data["encap_content_info"], nested=nested))
    for signer_info in signed_data["signer_infos"]:
        attrs = signer_info["unsigned_attrs"]
        if isinstance(attrs, core.Void):
            continue
        for attr in attrs:
            if attr["type"].dotted == SPC_NESTED_SIGNATURE_OBJID:
                for nested_info in attr["values"]:
                    _collect(nested_info, nested=True, out=out)


def _parse_indirect_data(encap_content_info: Any, *, nested: bool) -> EmbeddedSignature:
    # Re-parse the original bytes with a spec that has no OCTET STRING around the content.
    spc_info = _SpcContentInfo.load(encap_content_info.dump())
    content_type = spc_info["content_type"].dotted
    if content_type != SPC_INDIRECT_DATA_OBJID:
        raise ValueError(f"encapContentInfo is {content_type}, not SPC_INDIRECT_DATA")
    indirect = spc_info["content"]
    message_digest = indirect["message_digest"]
    algorithm: str = message_digest["digest_algorithm"]["algorithm"].native
    digest: bytes = message_digest["digest"].native

    page_hashes: tuple[tuple[int, bytes], ...] | None = None
    page_hash_algorithm: str | None = None
    data = indirect["data"]
    if data["type"].dotted == SPC_PE_IMAGE_DATA_OBJID and not isinstance(data["value"], core.Void):
        pe_image_data = _SpcPeImageData.load(data["value"].dump())
        link = pe_image_data["file"]
        if not isinstance(link, core.Void) and link.name == "moniker":
            moniker = link.chosen
            if moniker["class_id"].native == SPC_PAGE_HASHES_CLASS_ID:
                page_hash_algorithm, page_hashes = _parse_page_hashes(
                    moniker["serialized_data"].native
                )
    return EmbeddedSignature(
        digest_algorithm=algorithm,
        digest=digest,
        page_hashes=page_hashes,
        page_hash_algorithm=page_hash_algorithm,
        nested=nested,
    )


def _parse_page_hashes(serialized: bytes) -> tuple[str, tuple[tuple[int, bytes], ...]]:
    found: list[tuple[str, tuple[tuple[int, bytes], ...]]] = []
    for attr in _SpcAttributes.load(serialized, strict=True):
        oid = attr["type"].dotted
        if oid not in PAGE_HASH_ALGORITHMS:
            raise ValueError(f"unknown page-hash attribute {oid}")
        name, digest_size = PAGE_HASH_ALGORITHMS[oid]
        blob = b"".join(value.native for value in attr["values"])
        record = 4 + digest_size
        if len(blob) % record:
            raise ValueError(f"{name} page-hash blob length {len(blob)} not a multiple of {record}")
        records = tuple(
            (struct.unpack_from("<I", blob, i)[0], blob[i + 4 : i + record])
            for i in range(0, len(blob), record)
        )
        found.append((name, records))
    if len(found) != 1:
        raise ValueError(f"expected one page-hash attribute, found {len(found)}")
    return found[0]
