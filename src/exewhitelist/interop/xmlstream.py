"""Untrusted XML, streamed: defusedxml's parser, one rule-sized subtree at a time.

Documents are fed to expat in pieces, so memory follows the largest subtree
asked for (one rule), not the file. A DTD, entity declarations (the billion
laughs) and external references are refused; expat reads the encoding from
the byte-order mark or the declaration (AppLocker exports are UTF-16LE).
"""

from __future__ import annotations

import codecs
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import IO

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

from ..errors import InteropError
from ..fileio import open_regular_file

__all__ = [
    "CHUNK_BYTES",
    "FRAGMENTS_ROOT",
    "MAX_FOREIGN_FILE_BYTES",
    "XmlItem",
    "iter_xml",
    "local_name",
]

MAX_FOREIGN_FILE_BYTES = 4 << 30
"""The largest foreign policy or event file read (streamed: memory does not follow it)."""
CHUNK_BYTES = 1 << 16


def local_name(tag: str) -> str:
    """``{namespace}Name`` -> ``Name``."""
    return tag.rpartition("}")[2]


@dataclass(frozen=True, slots=True)
class XmlItem:
    """A start tag (``element`` None) or a whole subtree of one of the ``whole`` tags."""

    tag: str
    attrib: dict[str, str]
    line: int
    path: tuple[str, ...]
    """The local names of the ancestors, root first."""
    element: ET.Element | None = None


class _Target:
    def __init__(self, whole: Collection[str]) -> None:
        self.whole = whole
        self.items: list[XmlItem] = []
        self.path: list[str] = []
        self.stack: list[ET.Element] = []
        self.parser: DefusedXMLParser | None = None
        self.line = 1
        self.names: dict[str, str] = {}
        """Local names by tag (a document has few tags)."""

    def _line(self) -> int:
        assert self.parser is not None  # noqa: S101 - set before feeding
        line: int = self.parser.parser.CurrentLineNumber
        return line

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = self.names.get(tag)
        if name is None:
            name = self.names[tag] = local_name(tag)
        if attrib and any("}" in key for key in attrib):
            attrib = {local_name(k): v for k, v in attrib.items()}
        if self.stack:
            self.stack.append(ET.SubElement(self.stack[-1], name, attrib))
        elif name in self.whole:
            self.line = self._line()
            self.stack.append(ET.Element(name, attrib))
        else:
            self.items.append(XmlItem(name, attrib, self._line(), tuple(self.path)))
        self.path.append(name)

    def end(self, tag: str) -> None:
        self.path.pop()
        if self.stack:
            element = self.stack.pop()
            if not self.stack:
                self.items.append(
                    XmlItem(element.tag, element.attrib, self.line, tuple(self.path), element)
                )

    def data(self, text: str) -> None:
        if self.stack:
            element = self.stack[-1]
            element.text = (element.text or "") + text

    def close(self) -> None:
        return None


FRAGMENTS_ROOT = "EwlFragments"
"""The root element :func:`iter_xml` puts around a file of fragments (``wevtutil qe /f:xml``)."""
_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")


def _texts(f: IO[bytes], name: str) -> Iterator[str]:
    """A file of XML fragments as text, in pieces, inside one root element (expat needs one).

    The encoding comes from a byte-order mark (UTF-16 as PowerShell redirections
    write it), else UTF-8; a leading XML declaration is dropped.
    """
    first = f.read(CHUNK_BYTES)
    encoding = "utf-8"
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif first.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    try:
        text = _DECLARATION.sub("", decoder.decode(first), count=1)
        yield f"<{FRAGMENTS_ROOT}>" + text
        offset = len(first)
        while chunk := f.read(CHUNK_BYTES):
            yield decoder.decode(chunk)
            offset += len(chunk)
        yield decoder.decode(b"", final=True) + f"</{FRAGMENTS_ROOT}>"
    except UnicodeDecodeError as e:
        raise InteropError(
            f"{name}: not {encoding} text: invalid byte near offset {offset + e.start}"
        ) from None


def iter_xml(
    path: str | os.PathLike[str], whole: Collection[str], *, fragments: bool = False
) -> Iterator[XmlItem]:
    """Every start tag, except that elements named in ``whole`` come as one subtree.

    With ``fragments``, the file may hold several top-level elements (events as
    ``wevtutil qe /f:xml`` prints them): they come under a :data:`FRAGMENTS_ROOT`.
    :class:`InteropError` with the line and column for anything that is not
    well-formed XML, and for a DTD or entity declaration (refused outright).
    """
    name = os.fspath(path)
    target = _Target(whole)
    parser = DefusedXMLParser(target=target, forbid_dtd=True)
    target.parser = parser
    with open_regular_file(name, "policy file") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_FOREIGN_FILE_BYTES:
            raise InteropError(f"{name}: {size} bytes, larger than {MAX_FOREIGN_FILE_BYTES}")
        pieces: Iterator[str | bytes] = (
            _texts(f, name) if fragments else iter(lambda: f.read(CHUNK_BYTES), b"")
        )
        try:
            for piece in pieces:
                parser.feed(piece)
                yield from target.items
                target.items.clear()
            parser.close()
        except ET.ParseError as e:
            line, column = e.position
            raise InteropError(f"{name}: line {line}, column {column}: not XML: {e}") from None
        except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden) as e:
            raise InteropError(
                f"{name}: line {target._line()}: refused: the document declares a DTD or "
                f"entities ({type(e).__name__}); policies and event logs have none"
            ) from None
        except defusedxml.ExternalReferenceForbidden:
            raise InteropError(
                f"{name}: line {target._line()}: refused: an external reference"
            ) from None
    yield from target.items
