"""Publisher rules: WDAC's signer levels, matched on an image's verified signatures.

A publisher condition pins one certificate by its TBS hash (the hash WDAC's
``CertRoot Type="TBS"`` holds: the certificate's own signature digest over
its DER ``tbsCertificate``), either as the signer's issuer or any
certificate above it (``pin = "issuer"``, WDAC's PcaCertificate) or as the
signer itself (``pin = "leaf"``, LeafCertificate). It may add the signer's
common name (Publisher), one version-resource string (FilePublisher, with
OriginalFilename by default) and a file version range (FilePublisher,
SignedVersion). ``docs/policy.md`` ("Publisher rules") is the specification.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from asn1crypto import x509 as asn1_x509

from ..blob._format import MAX_TEXT_UNITS, TBS_SIZES, TbsAlgorithm
from ..blob._format import Attribute as BlobAttribute
from ..blob._format import Pin as BlobPin
from ..errors import PolicyError
from ._base import Action, Condition, Image, MatchKey, Need, Rule, RuleKind, text_problem
from .path import code_units, fold

if TYPE_CHECKING:
    from ..signatures import Signature
    from ..versioninfo import VersionInfo

__all__ = [
    "MAX_TEXT_UNITS",
    "PIN_CODES",
    "PUBLISHER_KEYS",
    "TBS_ALGORITHMS",
    "CertificateId",
    "FileAttribute",
    "FileVersion",
    "Pin",
    "Publisher",
    "PublisherRule",
    "Signer",
    "SignerFacts",
    "signer_facts",
]

TBS_ALGORITHMS: Mapping[str, int] = {a.name.lower(): n for a, n in TBS_SIZES.items()}
"""The TBS hash algorithms a pin may name, and their digest sizes in bytes (the blob's)."""


_HEX = re.compile(r"[0-9a-f]+")
_VERSION = re.compile(r"(\d{1,5})\.(\d{1,5})\.(\d{1,5})\.(\d{1,5})")


class Pin(str, enum.Enum):
    """Where in a signer's chain the pinned certificate must be."""

    ISSUER = "issuer"
    """The signer's issuer or any certificate above it (WDAC's PcaCertificate level)."""
    LEAF = "leaf"
    """The signer's own certificate (WDAC's LeafCertificate level)."""
    ANY = "any"
    """Any certificate of the chain, the signer's own included: what a WDAC ``CertRoot``
    TBS matches (an imported WDAC signer)."""

    def __str__(self) -> str:
        return self.value


PIN_CODES = {pin: int(BlobPin[pin.name]) for pin in Pin}
"""Each pin's number in the blob."""


class FileAttribute(str, enum.Enum):
    """The version-resource strings a publisher condition may compare (WDAC's FileAttrib)."""

    ORIGINAL_FILENAME = "original_filename"
    INTERNAL_NAME = "internal_name"
    FILE_DESCRIPTION = "file_description"
    PRODUCT_NAME = "product_name"

    @property
    def code(self) -> int:
        """Its number in the blob."""
        return int(BlobAttribute[self.name])

    @property
    def resource_name(self) -> str:
        """The key in the version resource's string table."""
        return _RESOURCE_NAMES[self]

    def __str__(self) -> str:
        return self.value


_RESOURCE_NAMES = {
    FileAttribute.ORIGINAL_FILENAME: "OriginalFilename",
    FileAttribute.INTERNAL_NAME: "InternalName",
    FileAttribute.FILE_DESCRIPTION: "FileDescription",
    FileAttribute.PRODUCT_NAME: "ProductName",
}


@dataclass(frozen=True, slots=True, order=True)
class FileVersion:
    """A four-part file version, compared part by part as 16-bit numbers (never as text)."""

    parts: tuple[int, int, int, int]

    @classmethod
    def parse(cls, text: object) -> FileVersion:
        """``a.b.c.d``, each part 0 to 65535; :class:`PolicyError` otherwise."""
        match = _VERSION.fullmatch(text) if isinstance(text, str) else None
        if match is None or any(int(part) > 0xFFFF for part in match.groups()):
            raise PolicyError(f"a file version is four numbers 0-65535 separated by dots: {text!r}")
        a, b, c, d = (int(part) for part in match.groups())
        return cls((a, b, c, d))

    @property
    def packed(self) -> int:
        """The version as one 64-bit number (the blob's form): a << 48 | b << 32 | c << 16 | d."""
        a, b, c, d = self.parts
        return a << 48 | b << 32 | c << 16 | d

    def __str__(self) -> str:
        return ".".join(map(str, self.parts))


@dataclass(frozen=True, slots=True, order=True)
class CertificateId:
    """A certificate as a pin names it: its TBS hash and the hash's algorithm."""

    algorithm: str
    tbs_hash: str
    """Lowercase hex."""

    @classmethod
    def parse(cls, text: object) -> CertificateId:
        """``ALGORITHM:HEX`` (``sha256:f6f7…``), the hex in any case; :class:`PolicyError`."""
        if not isinstance(text, str) or ":" not in text:
            raise PolicyError(f"a certificate is written ALGORITHM:TBS-HASH (sha256:…): {text!r}")
        algorithm, _, digest = text.partition(":")
        cert = cls(algorithm.lower(), digest.lower())
        problem = cert.problem()
        if problem is not None:
            raise PolicyError(problem)
        return cert

    def problem(self) -> str | None:
        size = TBS_ALGORITHMS.get(self.algorithm)
        if size is None:
            return (
                f"unknown TBS hash algorithm {self.algorithm!r} "
                f"(one of {', '.join(TBS_ALGORITHMS)})"
            )
        if not _HEX.fullmatch(self.tbs_hash):
            return f"TBS hash is not hexadecimal: {self.tbs_hash!r}"
        if len(self.tbs_hash) != 2 * size:
            return (
                f"a {self.algorithm} TBS hash is {2 * size} hex digits, "
                f"not {len(self.tbs_hash)}: {self.tbs_hash!r}"
            )
        return None

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.tbs_hash}"


@dataclass(frozen=True, slots=True)
class Signer:
    """One valid signature's signer, as publisher conditions see it."""

    chain: tuple[CertificateId, ...]
    """The signer's certificate first, then each issuer the signature carries."""
    common_name: str | None
    """The signer's subject common name (None: it has none)."""


@dataclass(frozen=True, slots=True)
class SignerFacts:
    """What publisher conditions need of an image: its valid signers and version resource.

    They come together because the driver reads both from the image in one pass.
    """

    signers: tuple[Signer, ...] = ()
    """Only signatures that verified (a failed one never satisfies a publisher condition)."""
    attributes: Mapping[FileAttribute, str] = field(default_factory=dict)
    """The version resource's strings, as the file has them."""
    version: FileVersion | None = None
    """``VS_FIXEDFILEINFO``'s file version."""


def _text_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True, slots=True)
class Publisher(Condition):
    """A publisher condition: a pinned certificate and optional signer, file and version tests."""

    certificate: CertificateId
    pin: Pin = Pin.ISSUER
    common_name: str | None = None
    """The signer's subject common name, exactly (WDAC's CertPublisher)."""
    attribute: FileAttribute | None = None
    attribute_value: str | None = None
    """Compared with the file's version string case-insensitively; given with ``attribute``."""
    min_version: FileVersion | None = None
    max_version: FileVersion | None = None

    needs: ClassVar[Need] = Need.SIGNER
    kind: ClassVar[RuleKind] = RuleKind.PUBLISHER

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise PolicyError(problem)

    def problem(self) -> str | None:
        """Why this is not a valid publisher condition, or None."""
        if not isinstance(self.certificate, CertificateId):
            return f"certificate must be a CertificateId: {self.certificate!r}"
        if (problem := self.certificate.problem()) is not None:
            return problem
        if not isinstance(self.pin, Pin):
            return f"pin must be 'issuer', 'leaf' or 'any': {self.pin!r}"
        if self.common_name is not None and (
            problem := _text_value("common_name", self.common_name)
        ):
            return problem
        if (self.attribute is None) != (self.attribute_value is None):
            return "a file attribute needs both its name and its value"
        if self.attribute is not None:
            if not isinstance(self.attribute, FileAttribute):
                return f"unknown file attribute {self.attribute!r}"
            if problem := _text_value(self.attribute.value, self.attribute_value):
                return problem
        for bound in (self.min_version, self.max_version):
            if bound is not None and not isinstance(bound, FileVersion):
                return f"a version bound must be a FileVersion: {bound!r}"
        if (
            self.min_version is not None
            and self.max_version is not None
            and self.min_version > self.max_version
        ):
            return f"min_version {self.min_version} is above max_version {self.max_version}"
        return None

    # -- matching

    def matches(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        return self.matches_as(image, deny=False)

    def matches_as(self, image: Image, *, deny: bool) -> bool:
        """Whether the image's signer facts satisfy the condition, for a rule of that action.

        ``deny`` matters only for a lone version bound (WDAC): an allow rule's
        minimum allows that version and later, a deny rule's denies that
        version and earlier (and the reverse for a lone maximum).
        """
        facts = image.signer_facts
        if facts is None or not facts.signers:
            return False
        if self.attribute is not None:
            value = facts.attributes.get(self.attribute)
            if value is None or fold(value) != fold(self.attribute_value or ""):
                return False
        if not self._version_ok(facts.version, deny):
            return False
        return any(self._signer_ok(signer) for signer in facts.signers)

    def _signer_ok(self, signer: Signer) -> bool:
        if self.common_name is not None and signer.common_name != self.common_name:
            return False
        if self.pin is Pin.LEAF:
            return self.certificate in signer.chain[:1]
        if self.pin is Pin.ISSUER:
            return self.certificate in signer.chain[1:]
        return self.certificate in signer.chain

    def _version_ok(self, version: FileVersion | None, deny: bool) -> bool:
        low, high = self.min_version, self.max_version
        if low is None and high is None:
            return True
        if version is None:
            return False
        if low is not None and high is not None:
            return low <= version <= high
        if low is not None:
            return version <= low if deny else version >= low
        assert high is not None  # noqa: S101 - one bound is set
        return version >= high if deny else version <= high

    # -- as data

    def to_data(self) -> dict[str, str]:
        """The condition's table in a policy file, keys in :data:`PUBLISHER_KEYS` order."""
        out = {"certificate": str(self.certificate), "pin": self.pin.value}
        if self.common_name is not None:
            out["common_name"] = self.common_name
        if self.attribute is not None and self.attribute_value is not None:
            out[self.attribute.value] = self.attribute_value
        if self.min_version is not None:
            out["min_version"] = str(self.min_version)
        if self.max_version is not None:
            out["max_version"] = str(self.max_version)
        return out

    def text(self) -> str:
        """One line naming the condition: canonical, so equal conditions give equal text."""
        return json.dumps(self.to_data(), ensure_ascii=False, separators=(",", ":"))

    @property
    def value(self) -> str:
        return self.text()

    @classmethod
    def from_data(cls, raw: object) -> Publisher:
        """A condition from its policy-file table; :class:`PolicyError` names the first problem."""
        if not isinstance(raw, dict):
            raise PolicyError("a publisher condition must be a table")
        unknown = [key for key in raw if key not in PUBLISHER_KEYS]
        if unknown:
            raise PolicyError(
                f"unknown key {unknown[0]!r} in a publisher condition "
                f"(known: {', '.join(PUBLISHER_KEYS)})"
            )
        if "certificate" not in raw:
            raise PolicyError("a publisher condition needs a certificate (ALGORITHM:TBS-HASH)")
        pin = raw.get("pin", Pin.ISSUER.value)
        if pin not in [p.value for p in Pin]:
            raise PolicyError(f"pin must be 'issuer', 'leaf' or 'any': {pin!r}")
        attributes = [a for a in FileAttribute if a.value in raw]
        if len(attributes) > 1:
            raise PolicyError(
                f"a publisher condition compares one file attribute, not "
                f"{' and '.join(a.value for a in attributes)}"
            )
        attribute = attributes[0] if attributes else None
        common_name = raw.get("common_name")
        if common_name is not None and (problem := text_problem("common_name", common_name)):
            raise PolicyError(problem)
        value = raw[attribute.value] if attribute is not None else None
        if attribute is not None and (problem := text_problem(attribute.value, value)):
            raise PolicyError(problem)
        return cls(
            certificate=CertificateId.parse(raw["certificate"]),
            pin=Pin(pin),
            common_name=common_name,
            attribute=attribute,
            attribute_value=value,
            min_version=_version_or_none(raw, "min_version"),
            max_version=_version_or_none(raw, "max_version"),
        )

    def order_key(self) -> tuple[Any, ...]:
        return self.sort_key()

    def sort_key(self) -> tuple[Any, ...]:
        """Its place among publisher rules (the blob's order): every part as the blob stores
        it, compared as the blob compares (texts as UTF-16 code units, attribute values folded)."""
        return (
            TbsAlgorithm[self.certificate.algorithm.upper()],
            self.certificate.tbs_hash,
            PIN_CODES[self.pin],
            -1 if self.common_name is None else 0,
            code_units(self.common_name or ""),
            0 if self.attribute is None else self.attribute.code,
            fold(self.attribute_value or ""),
            -1 if self.min_version is None else self.min_version.packed,
            -1 if self.max_version is None else self.max_version.packed,
        )


PUBLISHER_KEYS = (
    "certificate",
    "pin",
    "common_name",
    *(a.value for a in FileAttribute),
    "min_version",
    "max_version",
)
"""The keys of a publisher condition's table, in the order files are written."""


def _version_or_none(raw: Mapping[str, object], key: str) -> FileVersion | None:
    if key not in raw:
        return None
    try:
        return FileVersion.parse(raw[key])
    except PolicyError as e:
        raise PolicyError(f"{key}: {e.message}") from None


def _text_value(label: str, value: object) -> str | None:
    if (problem := text_problem(label, value)) is not None:
        return problem
    assert isinstance(value, str)  # noqa: S101 - text_problem checked
    if not value:
        return f"{label} must not be empty"
    if _text_units(value) > MAX_TEXT_UNITS:
        return f"{label} is longer than {MAX_TEXT_UNITS} UTF-16 code units"
    if any(ord(c) < 0x20 for c in value):
        return f"{label} must not hold control characters: {value!r}"
    return None


@dataclass(frozen=True, slots=True)
class PublisherRule(Rule):
    """Matches an image one of whose valid signatures satisfies ``publisher``.

    ``value`` is the condition's canonical text (:meth:`Publisher.text`);
    build the rule with :meth:`of`.
    """

    publisher: Publisher | None = None

    kind: ClassVar[RuleKind] = RuleKind.PUBLISHER
    rank: ClassVar[int] = 3

    @classmethod
    def of(
        cls,
        id: str,
        action: Action,
        publisher: Publisher,
        *,
        exceptions: Iterable[Condition] = (),
        name: str = "",
        comment: str = "",
    ) -> PublisherRule:
        return cls(
            action=action,
            value=publisher.text(),
            explicit_id=id,
            name=name,
            comment=comment,
            exceptions=tuple(exceptions),
            publisher=publisher,
        )

    def __post_init__(self) -> None:
        self._check_common()
        if self.explicit_id is None:
            raise PolicyError("a publisher rule needs an id (only hash rules have a default)")
        if not isinstance(self.publisher, Publisher):
            raise PolicyError(f"rule {self.explicit_id}: a publisher rule needs a publisher")
        if self.value != self.publisher.text():
            raise PolicyError(f"rule {self.explicit_id}: value is not the publisher's text")

    @property
    def condition(self) -> Publisher:
        assert self.publisher is not None  # noqa: S101 - checked at construction
        return self.publisher

    def needs(self) -> Need:
        return Need.SIGNER

    def sort_key(self) -> tuple[Any, ...]:
        # Not the raw text: conditions equal but for an attribute value's case are one
        # condition in the blob, whose rules are then in (action, id) order.
        return (self.rank, 0, self.condition.sort_key(), "", self.action.value, self.id)

    def match_key(self) -> MatchKey:
        # As the blob compares: attribute values folded (rules that differ only in their case
        # match the same files: duplicates), texts as UTF-16 code units.
        return self.kind, repr(self.condition.sort_key()), self.action, self.exception_keys()

    def matches_condition(self, image: Image, variables: Mapping[str, Sequence[str]]) -> bool:
        return self.condition.matches_as(image, deny=self.action is Action.DENY)


def _common_name(subject: str) -> str | None:
    """The common name of a :class:`~exewhitelist.signatures.Certificate` subject, read as
    the C core reads it: the last CN of the name in DER order.

    The subject is RFC 4514 text (most specific first, so the first CN there), read here
    rather than by cryptography, which refuses text of attributes it loaded but would not
    make (a three-letter countryName); or, when cryptography could not render the name,
    the DER name in hex.
    """
    if "=" not in subject:
        try:
            value = asn1_x509.Name.load(bytes.fromhex(subject)).native.get("common_name")
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):  # asn1crypto's
            return None
        if isinstance(value, list):
            value = value[-1]
        return value if isinstance(value, str) else None
    for kind, value in _rfc4514_attributes(subject) or ():
        if kind.upper() == "CN":
            return value
    return None


def _rfc4514_attributes(text: str) -> list[tuple[str, str]] | None:
    """(type, value) of each attribute of RFC 4514 text, in its order; None if it is not.

    Values are unescaped (``\\,`` and the other specials, ``\\XX`` hex pairs as UTF-8);
    a value in the ``#`` hex form (an encoding kept as BER) comes back as written.
    """
    attributes: list[tuple[str, str]] = []
    at, end = 0, len(text)
    while True:
        equals = text.find("=", at)
        if equals < 0:
            return None
        kind, at = text[at:equals].strip(), equals + 1
        raw = bytearray()
        while at < end and text[at] not in ",+":
            char = text[at]
            if char == "\\":
                pair = text[at + 1 : at + 3]
                if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                    raw.append(int(pair, 16))
                    at += 3
                    continue
                if at + 1 >= end:
                    return None
                char = text[at + 1]
                at += 1
            raw += char.encode("utf-8", "surrogatepass")
            at += 1
        try:
            attributes.append((kind, raw.decode("utf-8")))
        except UnicodeDecodeError:
            return None
        if at >= end:
            return attributes
        at += 1  # the ',' or '+'


def signer_facts(
    signatures: Iterable[Signature] | None, version: VersionInfo | None
) -> SignerFacts:
    """An image's signer facts from its embedded signatures and version resource.

    Only valid signatures count; catalog signatures are not the image's own
    (the kernel cannot verify them without reading the catalogs).
    """
    signers = []
    for signature in signatures or ():
        if not signature.valid or not signature.chain:
            continue
        chain: list[CertificateId] = []
        for cert in signature.chain:
            if (
                cert.tbs_algorithm is None
                or cert.tbs_algorithm not in TBS_ALGORITHMS
                or cert.tbs_hash is None
            ):
                break  # no TBS hash WDAC could pin: the chain ends for publisher conditions
            chain.append(CertificateId(cert.tbs_algorithm, cert.tbs_hash))
        signers.append(Signer(tuple(chain), _common_name(signature.chain[0].subject)))
    attributes: dict[FileAttribute, str] = {}
    file_version = None
    if version is not None:
        for attribute in FileAttribute:
            value = version.get(attribute.resource_name)
            if value is not None:
                attributes[attribute] = value
        if version.fixed_file_version is not None:
            try:
                file_version = FileVersion.parse(version.fixed_file_version)
            except PolicyError:
                file_version = None
    return SignerFacts(tuple(signers), attributes, file_version)
