"""Catalog files (``.cat``): signatures that cover files without touching them.

Most of ``C:\\Windows`` carries no embedded signature: it is listed, by
digest, in signed catalogs under ``System32\\CatRoot``.  A catalog is a
SignedData whose content is a certificate trust list (1.3.6.1.4.1.311.10.1);
each member carries its digest in an ``SpcIndirectDataContent`` attribute
(the Authenticode SHA-1 or SHA-256 of a PE image, the flat digest of any other
file).  Members are matched on that digest, never on their tag.

Each catalog's signature is verified once (:func:`exewhitelist.signatures.verify_signed_data`)
and its member digests go into a :class:`CatalogIndex`; a catalog is parsed one
member at a time so that its size, not its member count, bounds the memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import core, parser
from asn1crypto import x509 as asn1_x509

from .errors import CatalogError
from .signatures import (
    ASN1_ERRORS,
    MS_CTL,
    SPC_INDIRECT_DATA,
    Attributes,
    Signature,
    SignedContentInfo,
    SpcIndirectDataContent,
    is_signed_data,
    verify_signed_data,
)

__all__ = ["MAX_CATALOG_SIZE", "Catalog", "CatalogIndex", "CatalogMatch", "read_catalog"]

MAX_CATALOG_SIZE = 256 << 20
"""Larger ``.cat`` files are refused (Windows' largest are tens of MB)."""

_SPC_INDIRECT_DATA = core.ObjectIdentifier(SPC_INDIRECT_DATA).dump()

_MEMBER_WINDOW = 4096
"""Bytes copied to find one member's length; doubled for a larger member."""


class _RawSequence(core.Sequence):  # type: ignore[misc]
    """A SEQUENCE kept as bytes: the member list is walked one member at a time."""

    _fields: list[tuple[str, type]] = []  # noqa: RUF012 - asn1crypto spec attribute


class _AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _CertificateTrustList(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("version", core.Integer, {"optional": True}),
        ("subject_usage", core.SequenceOf, {"spec": core.ObjectIdentifier}),
        ("list_identifier", core.OctetString, {"optional": True}),
        ("sequence_number", core.Integer, {"optional": True}),
        ("this_update", asn1_x509.Time),
        ("next_update", asn1_x509.Time, {"optional": True}),
        ("subject_algorithm", _AlgorithmIdentifier),
        ("trusted_subjects", _RawSequence, {"optional": True}),
        ("extensions", core.Any, {"explicit": 0, "optional": True}),
    ]


class _TrustedSubject(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012
        ("identifier", core.OctetString),
        ("attributes", Attributes, {"optional": True}),
    ]


@dataclass(frozen=True, slots=True)
class Catalog:
    """One catalog file: its signature (checked once) and how many members it lists."""

    path: str
    signature: Signature
    members: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "members": self.members, "signature": self.signature.to_json()}


@dataclass(frozen=True, slots=True)
class CatalogMatch:
    """The catalog that lists a file's digest (the first one, in path order) and its signer."""

    path: str
    digest: str
    """The member digest that matched (hex): one of the file's digests."""
    signature: Signature
    other_catalogs: tuple[str, ...] = ()
    """Further catalogs that list the same digest."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "digest": self.digest,
            "signature": self.signature.to_json(),
            "other_catalogs": list(self.other_catalogs),
        }

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> CatalogMatch:
        return cls(
            path=record["path"],
            digest=record["digest"],
            signature=Signature.from_json(record["signature"]),
            other_catalogs=tuple(record["other_catalogs"]),
        )


def read_catalog(path: str | os.PathLike[str]) -> tuple[Catalog, Iterator[bytes]]:
    """The catalog at ``path`` and an iterator over its member digests (raw bytes).

    Raises :class:`~exewhitelist.errors.CatalogError` when the file cannot be
    read, is larger than :data:`MAX_CATALOG_SIZE`, or is not a catalog; a
    member that cannot be read raises it from the iterator.  A catalog whose
    signature fails is returned: its ``signature.status`` says why.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_CATALOG_SIZE:
                raise CatalogError(f"{name}: larger than {MAX_CATALOG_SIZE >> 20} MiB")
            # Bounded even if the file grows meanwhile (read(n) would allocate n bytes).
            data = f.read()[: MAX_CATALOG_SIZE + 1]
    except OSError as e:
        raise CatalogError(f"{name}: {e.strerror or e}") from None
    if len(data) > MAX_CATALOG_SIZE:
        raise CatalogError(f"{name}: larger than {MAX_CATALOG_SIZE >> 20} MiB")
    # asn1crypto copies a value's content at each level it parses; the trust list is
    # read from the last copy (no dump and re-parse) and every other one is dropped early.
    try:
        content_info = SignedContentInfo.load(data, strict=True)
        del data
        if not is_signed_data(content_info):
            raise CatalogError(f"{name}: not a catalog (not a PKCS #7 SignedData)")
        signed_data = content_info["content"]
        del content_info
        encap = signed_data["encap_content_info"]
        content_type = encap["content_type"].dotted
        if content_type != MS_CTL:
            raise CatalogError(f"{name}: not a catalog (content type {content_type})")
        ctl: bytes = encap["content"].contents  # the trust list's content octets
        subjects = _CertificateTrustList(contents=ctl)["trusted_subjects"]
        members = b"" if isinstance(subjects, core.Void) else subjects.contents
        del encap, subjects
    except ASN1_ERRORS as e:
        raise CatalogError(f"{name}: not a catalog: {str(e).splitlines()[0][:200]}") from None
    signature = verify_signed_data(signed_data, 0, 0, None, ctl)
    del signed_data, ctl
    count, digests = _count(name, members), _digests(name, members)
    return Catalog(name, signature, count), digests


def _spans(name: str, members: bytes) -> Iterator[tuple[int, int]]:
    """(offset, length) of each member, with asn1crypto's ``peek`` on a bounded window."""
    pos = 0
    while pos < len(members):
        window = _MEMBER_WINDOW
        while True:
            piece = members[pos : pos + window]
            try:
                length = parser.peek(piece)
                break
            except ValueError as e:
                if len(piece) < window or window >= len(members):
                    raise CatalogError(f"{name}: member at offset {pos}: {e}") from None
                window *= 2
        yield pos, length
        pos += length


def _count(name: str, members: bytes) -> int:
    return sum(1 for _ in _spans(name, members))


def _digests(name: str, members: bytes) -> Iterator[bytes]:
    for pos, length in _spans(name, members):
        try:
            subject = _TrustedSubject.load(members[pos : pos + length], strict=True)
            attributes = subject["attributes"]
            for attr in () if isinstance(attributes, core.Void) else attributes:
                if attr["type"].dump() == _SPC_INDIRECT_DATA:  # bytes: no dotted string a member
                    for value in attr["values"]:
                        indirect = SpcIndirectDataContent.load(value.dump(), strict=True)
                        yield indirect["message_digest"]["digest"].native
        except ASN1_ERRORS as e:
            raise CatalogError(f"{name}: member at offset {pos}: {e}") from None


@dataclass
class CatalogIndex:
    """Member digest → the catalogs that list it; built by :meth:`add` or :meth:`of_directory`."""

    catalogs: list[Catalog] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """One line per ``.cat`` file that could not be used (:meth:`of_directory`)."""
    _members: dict[bytes, int | list[int]] = field(default_factory=dict, init=False, repr=False)

    def add(self, path: str | os.PathLike[str]) -> Catalog:
        """Index one catalog; :class:`CatalogError` when it is not one (nothing is indexed)."""
        catalog, digests = read_catalog(path)
        number = len(self.catalogs)
        members = self._members
        added = []
        try:
            for digest in digests:
                known = members.get(digest)
                if known is None:
                    members[digest] = number
                    added.append(digest)
                elif isinstance(known, int):
                    if known != number:
                        members[digest] = [known, number]
                elif known[-1] != number:
                    known.append(number)
        except CatalogError:
            for digest in added:
                del members[digest]
            raise
        self.catalogs.append(catalog)
        return catalog

    @classmethod
    def of_directory(cls, directory: str | os.PathLike[str]) -> CatalogIndex:
        """Every ``*.cat`` under ``directory`` (recursively, in path order).

        :class:`CatalogError` when ``directory`` is not a directory; a file in it that
        is not a catalog is listed in :attr:`errors` instead.
        """
        if not os.path.isdir(directory):
            raise CatalogError(f"{os.fspath(directory)}: not a directory")
        index = cls()
        for path in _catalog_files(os.fspath(directory), index.errors):
            try:
                index.add(path)
            except CatalogError as e:
                index.errors.append(str(e))
        return index

    def __len__(self) -> int:
        return len(self._members)

    def lookup(self, digests: Iterable[str | None]) -> CatalogMatch | None:
        """The catalog listing the first of ``digests`` (hex) that any catalog lists."""
        for hex_digest in digests:
            if hex_digest is None:
                continue
            found = self._members.get(bytes.fromhex(hex_digest))
            if found is None:
                continue
            numbers = [found] if isinstance(found, int) else found
            first = self.catalogs[numbers[0]]
            return CatalogMatch(
                path=first.path,
                digest=hex_digest,
                signature=first.signature,
                other_catalogs=tuple(self.catalogs[n].path for n in numbers[1:]),
            )
        return None


def _catalog_files(directory: str, errors: list[str]) -> list[str]:
    found: list[str] = []

    def failed(e: OSError) -> None:
        errors.append(f"{e.filename}: {e.strerror or e}")

    for folder, dirs, files in os.walk(directory, onerror=failed):
        dirs.sort()
        found.extend(os.path.join(folder, f) for f in sorted(files) if f.lower().endswith(".cat"))
    return found
