"""Writing XML attributes that read back exactly, and saying when text cannot be written."""

from __future__ import annotations

import re

__all__ = ["attr", "xml_unsafe"]

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "\t": "&#9;",
    "\n": "&#10;",
    "\r": "&#13;",
}
_ESCAPE = re.compile('[&<>"\t\n\r]')


def xml_unsafe(text: str) -> bool:
    """Whether ``text`` holds a character XML 1.0 cannot carry (most C0 controls)."""
    return _UNSAFE.search(text) is not None


def attr(name: str, value: str) -> str:
    """`` name="value"``, escaped so that a parser gives back ``value`` exactly (tabs and
    line ends as character references: attribute normalisation would turn them into spaces).
    Characters XML cannot carry become U+FFFD (check :func:`xml_unsafe` first)."""
    value = _UNSAFE.sub("\ufffd", value)
    return f' {name}="{_ESCAPE.sub(lambda m: _ESCAPES[m.group()], value)}"'
