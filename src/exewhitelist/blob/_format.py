"""The blob format's numbers: the one source for both halves.

``docs/blob-format.md`` is the specification; the driver's C core includes
``driver/core/ewl_format.h``, which ``scripts/gen_shared.py`` generates from
this module, and a test keeps identical.  This module imports nothing from
the package (a test checks it), so that the policy model can take its limits
from here and the header generator can read it without the rest.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping

MAGIC = b"\x8aEWL\r\n\x1a\n"
"""Non-ASCII first byte (not text), CR LF and LF (catch newline translation), ^Z (DOS EOF)."""

VERSION_MAJOR = 1
VERSION_MINOR = 0
"""The minor version of a blob without the signer sections (byte-identical to 1.0)."""
VERSION_MINOR_SIGNERS = 1
"""The minor version of a blob with the signer sections (publisher rules, exceptions)."""

HASH_SIZE = 32
ALIGNMENT = 8

FLAG_AUDIT = 0x0000_0001
KNOWN_FLAGS = FLAG_AUDIT

NO_PARENT = 0xFFFF_FFFF

MAX_BLOB_SIZE = 64 << 20
MAX_SECTIONS = 64
MAX_NAME_BYTES = 256
"""A policy name's UTF-8 bytes (the METADATA section)."""
MAX_ID_BYTES = 256
"""A rule id's UTF-8 bytes."""
MAX_PATTERN_UNITS = 32767
"""A path pattern's UTF-16 code units: Windows' longest path."""
MAX_POLICY_VERSION = 0xFFFF_FFFF
"""The header's policy version is an unsigned 32-bit number."""
MAX_TEXT_UNITS = 1024
"""A TEXTS entry's UTF-16 code units (common names, attribute values, exception patterns)."""
MAX_RULE_EXCEPTIONS = 256
"""The most exceptions one rule may have."""
TBS_DIGEST_BYTES = 64
"""The room for a TBS digest in a CERTIFICATES entry (the largest, SHA-512)."""
NONE_INDEX = 0xFFFF_FFFF
"""An index field that refers to nothing."""
FIRST_OPTIONAL_SECTION = 0x8000
"""Section ids from here on may be ignored by a reader that does not know them."""

VARIABLES = ("WINDIR", "SYSTEM32", "PROGRAMFILES", "OSDRIVE")
"""AppLocker's path variables, kept symbolic in the blob and resolved where enforced.

The order gives their numeric ids in the blob (1-based)."""
VARIABLE_TOKEN_BASE = 0xF000
"""A path variable is the code unit VARIABLE_TOKEN_BASE + id; the range up to 0xF0FF is reserved."""
VARIABLE_TOKEN_LAST = 0xF0FF
VARIABLE_IDS = {name: i + 1 for i, name in enumerate(VARIABLES)}


class Fields(enum.Enum):
    """A record's fields, in order; each member's value is its (offset, size) in bytes.

    ``*_AT`` fields hold a byte offset (into the blob, or into STRINGS).

    Every field is little-endian; a record's fields are contiguous (a test
    checks it), so :func:`record` can read and write a whole record at once.
    """

    _value_: tuple[int, int]

    @property
    def offset(self) -> int:
        return self.value[0]

    @property
    def size(self) -> int:
        return self.value[1]

    def read(self, data: bytes | bytearray, record_at: int = 0) -> int:
        """The field, as an unsigned integer, of the record at ``record_at`` in ``data``."""
        at = record_at + self.offset
        return int.from_bytes(data[at : at + self.size], "little")


class HeaderField(Fields):
    """The header (spec §3)."""

    MAGIC = (0, 8)
    VERSION_MAJOR = (8, 2)
    VERSION_MINOR = (10, 2)
    HEADER_SIZE = (12, 4)
    BLOB_SIZE = (16, 4)
    CHECKSUM = (20, 4)
    FLAGS = (24, 4)
    POLICY_VERSION = (28, 4)
    SECTION_COUNT = (32, 4)
    RESERVED = (36, 28)


class SectionEntryField(Fields):
    """An entry of the section directory (spec §4)."""

    ID = (0, 4)
    AT = (4, 4)
    SIZE = (8, 4)
    COUNT = (12, 4)


class PathRuleField(Fields):
    """A PATH_RULES entry (spec §5.1)."""

    PATTERN_AT = (0, 4)
    PATTERN_UNITS = (4, 2)
    KEY_UNITS = (6, 2)
    ACTION = (8, 1)
    GROUP = (9, 1)
    RESERVED = (10, 2)
    PARENT = (12, 4)
    ID_AT = (16, 4)
    ID_BYTES = (20, 4)


class RuleIdEntryField(Fields):
    """A HASH_RULE_IDS entry (spec §5.3)."""

    SECTION = (0, 4)
    INDEX = (4, 4)
    ID_AT = (8, 4)
    ID_BYTES = (12, 4)


class PublisherRuleField(Fields):
    """A PUBLISHER_RULES entry."""

    PUBLISHER = (0, 4)
    ACTION = (4, 1)
    RESERVED = (5, 3)
    ID_AT = (8, 4)
    ID_BYTES = (12, 4)


class PublisherField(Fields):
    """A PUBLISHERS entry: one publisher condition, used by rules and exceptions."""

    CERTIFICATE = (0, 4)
    PIN = (4, 1)
    ATTRIBUTE = (5, 1)
    VERSION_FLAGS = (6, 1)
    RESERVED = (7, 1)
    COMMON_NAME = (8, 4)
    ATTRIBUTE_VALUE = (12, 4)
    MIN_VERSION = (16, 8)
    MAX_VERSION = (24, 8)


class CertificateField(Fields):
    """A CERTIFICATES entry: an interned TBS hash."""

    ALGORITHM = (0, 1)
    RESERVED = (1, 7)
    DIGEST = (8, 64)


class TextField(Fields):
    """A TEXTS entry: an interned UTF-16 text in TEXT_DATA."""

    AT = (0, 4)
    UNITS = (4, 4)


class ExceptionListField(Fields):
    """An EXCEPTION_LISTS entry: the exceptions of one rule."""

    SECTION = (0, 4)
    INDEX = (4, 4)
    FIRST = (8, 4)
    COUNT = (12, 4)


class ExceptionField(Fields):
    """An EXCEPTIONS entry."""

    KIND = (0, 1)
    RESERVED = (1, 3)
    INDEX = (4, 4)


U64_FIELDS = (PublisherField.MIN_VERSION, PublisherField.MAX_VERSION)
"""The 64-bit integer fields (other fields of 8 bytes or more are bytes)."""


def record(fields: type[Fields]) -> struct.Struct:
    """The whole record as one :class:`struct.Struct`: integers, and bytes for longer fields."""
    codes = {1: "B", 2: "H", 4: "I"}
    return struct.Struct(
        "<" + "".join("Q" if f in U64_FIELDS else codes.get(f.size, f"{f.size}s") for f in fields)
    )


HEADER = record(HeaderField)
SECTION_ENTRY = record(SectionEntryField)
PATH_RULE = record(PathRuleField)
RULE_ID_ENTRY = record(RuleIdEntryField)
HEADER_SIZE = HEADER.size
SECTION_ENTRY_SIZE = SECTION_ENTRY.size
PATH_RULE_SIZE = PATH_RULE.size
RULE_ID_ENTRY_SIZE = RULE_ID_ENTRY.size
PUBLISHER_RULE = record(PublisherRuleField)
PUBLISHER = record(PublisherField)
CERTIFICATE = record(CertificateField)
TEXT_ENTRY = record(TextField)
EXCEPTION_LIST = record(ExceptionListField)
EXCEPTION = record(ExceptionField)
PUBLISHER_RULE_SIZE = PUBLISHER_RULE.size
PUBLISHER_SIZE = PUBLISHER.size
CERTIFICATE_SIZE = CERTIFICATE.size
TEXT_ENTRY_SIZE = TEXT_ENTRY.size
EXCEPTION_LIST_SIZE = EXCEPTION_LIST.size
EXCEPTION_SIZE = EXCEPTION.size


class Section(enum.IntEnum):
    METADATA = 1
    AUTHENTICODE_ALLOW = 2
    AUTHENTICODE_DENY = 3
    FILE_ALLOW = 4
    FILE_DENY = 5
    PATH_RULES = 6
    STRINGS = 7
    HASH_RULE_IDS = 8
    PUBLISHER_RULES = 9
    PUBLISHERS = 10
    CERTIFICATES = 11
    TEXTS = 12
    TEXT_DATA = 13
    EXCEPTION_LISTS = 14
    EXCEPTIONS = 15
    EXCEPTION_HASHES = 16


REQUIRED_SECTIONS = tuple(s for s in Section if s <= Section.HASH_RULE_IDS)
SIGNER_SECTIONS = tuple(s for s in Section if s > Section.HASH_RULE_IDS)
"""Present all together or not at all (minor version 1 or 0)."""


class Pin(enum.IntEnum):
    """Where a publisher condition's certificate must be in a signer's chain."""

    ISSUER = 1
    LEAF = 2
    ANY = 3


class Attribute(enum.IntEnum):
    """The version-resource string a publisher condition compares (0: none)."""

    NONE = 0
    ORIGINAL_FILENAME = 1
    INTERNAL_NAME = 2
    FILE_DESCRIPTION = 3
    PRODUCT_NAME = 4


class TbsAlgorithm(enum.IntEnum):
    """A pinned certificate's TBS hash algorithm (its digest size in :data:`TBS_SIZES`)."""

    SHA1 = 1
    SHA256 = 2
    SHA384 = 3
    SHA512 = 4


TBS_SIZES: Mapping[TbsAlgorithm, int] = {
    TbsAlgorithm.SHA1: 20,
    TbsAlgorithm.SHA256: 32,
    TbsAlgorithm.SHA384: 48,
    TbsAlgorithm.SHA512: 64,
}

VERSION_HAS_MIN = 0x01
VERSION_HAS_MAX = 0x02
KNOWN_VERSION_FLAGS = VERSION_HAS_MIN | VERSION_HAS_MAX


class ExceptionKind(enum.IntEnum):
    """What an exception tests; the order of a rule's exceptions."""

    PATH = 1
    AUTHENTICODE = 2
    FILE = 3
    PUBLISHER = 4


class PathAction(enum.IntEnum):
    ALLOW = 1
    DENY = 2


class PathGroup(enum.IntEnum):
    PREFIX = 1
    """Indexed by the literal prefix (before the first wildcard)."""
    SUFFIX = 2
    """Starts with a wildcard; indexed by the reversed literal suffix (after the last one)."""
    SCAN = 3
    """Starts and ends with a wildcard: checked one by one."""


class Status(enum.IntEnum):
    """Pinned error codes: a blob's first violation, in the order the spec checks them.

    Numbers never change meaning; new ones are appended.
    """

    OK = 0
    TRUNCATED = 1
    BAD_MAGIC = 2
    VERSION = 3
    HEADER_SIZE = 4
    SIZE_MISMATCH = 5
    CHECKSUM = 6
    RESERVED = 7
    SECTION_DIRECTORY = 8
    SECTION_ORDER = 9
    SECTION_LAYOUT = 10
    SECTION_SIZE = 11
    METADATA = 12
    HASH_ORDER = 13
    STRING_REF = 14
    PATH_RULE = 15
    PATH_ORDER = 16
    PATH_PARENT = 17
    RULE_ID = 18
    CERTIFICATE = 19
    TEXT = 20
    PUBLISHER = 21
    PUBLISHER_RULE = 22
    EXCEPTION = 23


class Decided(enum.IntEnum):
    """Which kind of rule decided (the C core returns this with the rule index)."""

    DEFAULT_DENY = 0
    AUTHENTICODE_ALLOW = Section.AUTHENTICODE_ALLOW
    AUTHENTICODE_DENY = Section.AUTHENTICODE_DENY
    FILE_ALLOW = Section.FILE_ALLOW
    FILE_DENY = Section.FILE_DENY
    PATH = Section.PATH_RULES
    PUBLISHER = Section.PUBLISHER_RULES

    def __str__(self) -> str:
        # An IntEnum prints as its number; a reader of a decision wants the kind of rule.
        return self.name.lower()


HASH_SECTIONS: Mapping[Section, tuple[str, str]] = {
    Section.AUTHENTICODE_ALLOW: ("authenticode_sha256", "allow"),
    Section.AUTHENTICODE_DENY: ("authenticode_sha256", "deny"),
    Section.FILE_ALLOW: ("file_sha256", "allow"),
    Section.FILE_DENY: ("file_sha256", "deny"),
}
"""The hash sections, in blob order: the (rule kind, action) of the rules each holds.

The kind is also the prefix of the section's default rule ids (spec §5.3);
the strings are the policy model's ``RuleKind`` and ``Action`` values.
"""
