"""A strict DER reader over the original bytes: the rules of the C core's ``ewl_der.h``.

asn1crypto reads BER leniently and re-encodes what it dumps (it takes a
definite length whose last octet is 0x80, as in ``30 81 80``, for the
indefinite form and rebuilds the element on ``dump()``). What a signature
covers must be the file's own bytes, so :mod:`exewhitelist.signatures` finds
them with this reader, which accepts exactly what the core's reader accepts
(``tests/test_core_der.py`` checks the two against each other):

- low tag numbers only (one identifier octet);
- definite lengths in minimal form, of at most 4 length octets (under 2^31);
- no element past the one that encloses it;
- at most :data:`MAX_DEPTH` constructed levels entered per reader.

Nothing is copied: a :class:`Tlv` is offsets into the reader's buffer.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "INTEGER",
    "MAX_DEPTH",
    "NULL",
    "OCTET_STRING",
    "OID",
    "SEQUENCE",
    "SET",
    "DerError",
    "Reader",
    "Tlv",
]

MAX_DEPTH = 16
"""Constructed levels one parse may enter (``EWL_DER_MAX_DEPTH``)."""
_MAX_LENGTH = 0x7FFF_FFFF

# Universal tags as identifier octets.
SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06


class DerError(ValueError):
    """Not DER as the rules above have it, or not the structure expected."""


class Tlv(NamedTuple):
    """One element: identifier octet, where it starts, header and content sizes."""

    tag: int
    offset: int
    header: int
    length: int

    @property
    def start(self) -> int:
        """Offset of the content octets."""
        return self.offset + self.header

    @property
    def end(self) -> int:
        """Offset just past the element."""
        return self.offset + self.header + self.length


class Reader:
    """Reading position inside one element's content (or a whole buffer), as ``ewl_der_t``."""

    __slots__ = ("data", "depth", "end", "max_depth", "pos")

    def __init__(
        self,
        data: bytes,
        pos: int = 0,
        end: int | None = None,
        depth: int = 0,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.depth = depth
        self.max_depth = max_depth

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek(self) -> int | None:
        """The next element's identifier octet (None: none left); its header is not checked."""
        return self.data[self.pos] if self.pos < self.end else None

    def read(self) -> Tlv:
        """The next element, its header checked and its content inside this reader."""
        data, pos, end = self.data, self.pos, self.end
        if pos >= end:
            raise DerError("an element was expected")
        avail = end - pos
        if avail < 2:
            raise DerError("truncated header")
        tag = data[pos]
        if tag & 0x1F == 0x1F:
            raise DerError("high tag number form")
        first = data[pos + 1]
        header = 2
        length = first
        if first >= 0x80:
            n = first & 0x7F
            if n == 0 or n > 4 or avail - 2 < n:
                raise DerError("indefinite or overlong length")
            if data[pos + 2] == 0:
                raise DerError("length not in minimal form")
            length = int.from_bytes(data[pos + 2 : pos + 2 + n], "big")
            if length < 0x80 or length > _MAX_LENGTH:
                raise DerError("length not in minimal form")
            header += n
        if length > avail - header:
            raise DerError("element past its parent")
        self.pos = pos + header + length
        return Tlv(tag, pos, header, length)

    def expect(self, tag: int) -> Tlv:
        """The next element, which must have identifier octet ``tag``."""
        t = self.read()
        if t.tag != tag:
            raise DerError(f"tag {t.tag:#04x}, expected {tag:#04x}")
        return t

    def finish(self) -> None:
        """Nothing may follow: DER has no room for an element no field names."""
        if self.pos < self.end:
            raise DerError("an element after the last field")

    def enter(self, t: Tlv) -> Reader:
        """A reader over the content of ``t`` (constructed), one level deeper."""
        if not t.tag & 0x20:
            raise DerError("primitive element entered")
        if self.depth >= self.max_depth:
            raise DerError(f"nested deeper than {self.max_depth} levels")
        return Reader(self.data, t.start, t.end, self.depth + 1, self.max_depth)

    def whole(self, t: Tlv) -> bytes:
        """The element's bytes, header included."""
        return self.data[t.offset : t.end]

    def content(self, t: Tlv) -> bytes:
        return self.data[t.start : t.end]

    def small_uint(self, t: Tlv) -> int:
        """A non-negative INTEGER of at most two magnitude octets, minimally encoded."""
        data, start, size = self.data, t.start, t.length
        if t.tag != INTEGER or size == 0:
            raise DerError("not an INTEGER")
        if size > 1 and (
            (data[start] == 0 and data[start + 1] < 0x80)
            or (data[start] == 0xFF and data[start + 1] >= 0x80)
        ):
            raise DerError("INTEGER with a redundant sign octet")
        if data[start] >= 0x80:
            raise DerError("negative INTEGER")
        if size > 1 and data[start] == 0:
            start, size = start + 1, size - 1
        if size > 2:
            raise DerError("INTEGER too large")
        return int.from_bytes(data[start : start + size], "big")
