"""TOML policy text to its document data, fast for the shape our writer emits.

:func:`loads` returns exactly what :func:`tomllib.loads` returns for the same
text, and raises exactly what it raises, in a fraction of the time and memory
for a large machine-written policy: the ``[[rule]]`` tables that
:func:`~exewhitelist.policyfile.dumps_toml` writes (one ``key = "string"``
line per key, keys in the written order) are read here with regular
expressions, a chunk of plain hash rules at a time or else one match per
table; the text before the first ``[[rule]]`` line (the ``[policy]`` table,
comments) goes to tomllib.  Anything else in the rule
section, from a comment or a literal string to a key out of order, sends the
whole text to tomllib, which then decides alone: a line not fully recognised
is never guessed at.

Why not a library: the compiled TOML parsers on PyPI (rtoml, toml-rs; tomli
built with mypyc) all read TOML 1.1 today and so accept documents that
tomllib (TOML 1.0) refuses (``a = {b = 1,}``, ``"\\e"``, ``"\\x41"``, times
without seconds): a different policy language.  The two Rust ones also take
1.2 to 1.6 GB for a million rules, before any validation, and tomli with
mypyc takes 4 s: neither meets the goal of 3 s and 600 MB for compiling a
million hash rules.
"""

from __future__ import annotations

import re
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["loads"]

# A basic string's body, escapes included (decoded by _unescape): any character
# but '"', '\\' and the control characters tomllib refuses (all but tab).
_CHARS = r'[^"\\\x00-\x08\x0a-\x1f\x7f]*'
_ESCAPE = r'\\(?:[btnfr"\\]|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})'
_STRING = rf'"({_CHARS}(?:{_ESCAPE}{_CHARS})*)"'
_EOL = r"(?:\r?\n|\Z)"
_KIND = r"(?!(?:id|action|name|comment)\ )([A-Za-z0-9_-]+)"
"""The rule's kind: any bare key but the others a table has (so no key comes twice)."""

_FIRST_HEADER = re.compile(r"^\[\[rule\]\]\r?(?:\n|\Z)", re.MULTILINE)

# One [[rule]] table as the writer lays it out: the id, the action, the rule's
# kind, the name and the comment, in that order, each key at most once; then
# blank lines.  Keys are bare, with one space either side of '='; values are
# basic strings.
_TABLE = re.compile(
    rf"""\[\[rule\]\]{_EOL}
    (?:id\ =\ {_STRING}{_EOL})?
    action\ =\ {_STRING}{_EOL}
    {_KIND}\ =\ {_STRING}{_EOL}
    (?:name\ =\ {_STRING}{_EOL})?
    (?:comment\ =\ {_STRING}{_EOL})?
    (?:\r?\n)*""",
    re.VERBOSE,
)

# The table of a plain hash rule as the writer writes it (LF newlines, no
# escapes, one blank line before the next header), four lines exactly.  The
# lookahead ends each match at the next header (or the end of the chunk): see
# _Reader.plain_chunk for why findall's matches then tile the chunk.
_PLAIN = re.compile(
    rf"""\[\[rule\]\]\n
    action\ =\ "(allow|deny)"\n
    {_KIND}\ =\ "({_CHARS})"\n
    (?:\n|\Z)(?=\[\[rule\]\]|\Z)""",
    re.VERBOSE,
)

_CHUNK = 1 << 20
"""About how many characters of rule tables are read at once."""

_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(?:([btnfr\"\\])|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))")


class _NotFast(Exception):
    """The text is left to tomllib."""


def _escape(match: re.Match[str]) -> str:
    simple, hex4, hex8 = match.groups()
    if simple is not None:
        return _ESCAPES[simple]
    code = int(hex4 or hex8, 16)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise _NotFast  # tomllib: "not a Unicode scalar value"
    return chr(code)


def _unescape(value: str) -> str:
    return _ESCAPE_RE.sub(_escape, value) if "\\" in value else value


def loads(text: str) -> tuple[dict[str, Any], list[int] | None]:
    """``tomllib.loads(text)``, and the ``[[rule]]`` header lines when they were found.

    The lines are those :func:`~exewhitelist.policyfile.rule_header_lines`
    finds, given when this parser read the rule tables itself; None means
    "ask rule_header_lines".  Raises :class:`tomllib.TOMLDecodeError` (and
    any other error) exactly as :func:`tomllib.loads` does, since it is then
    tomllib that reads the text.
    """
    try:
        return _loads_fast(text)
    except _NotFast:
        return tomllib.loads(text), None


class _Reader:
    """The rule tables of one text, read chunk by chunk into ``rules`` and ``lines``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.rules: list[dict[str, str]] = []
        self.lines: list[int] = []
        # One string object for each key and action: a million rules share them
        # (tomllib makes one of each per table: equal, and 120 MB more).
        self.keys: dict[str, str] = {"action": "action", "allow": "allow", "deny": "deny"}

    def plain_chunk(self, pos: int, stop: int, line: int) -> bool:
        """Read text[pos:stop] if it holds only plain tables; False (and nothing read) if not.

        ``pos`` and ``stop`` are where a ``[[rule]]`` header starts (or the
        end of the text).  Every match of _PLAIN starts with "[[rule]]", which
        cannot overlap itself; so when there are as many matches as
        occurrences, every occurrence starts a match.  A match ends where the
        next occurrence or the chunk starts (its lookahead), and not past the
        next occurrence (that starts the next match): so the matches cover the
        chunk exactly, each table then taking four lines (the last one
        perhaps three).
        """
        found = _PLAIN.findall(self.text, pos, stop)
        if len(found) != self.text.count("[[rule]]", pos, stop):
            return False
        keys = self.keys
        setdefault = keys.setdefault
        self.rules += [
            {"action": keys[action], setdefault(key, key): value} for action, key, value in found
        ]
        self.lines += range(line, line + 4 * len(found), 4)
        return True

    def any_chunk(self, pos: int, stop: int, line: int) -> None:
        """Read text[pos:stop], one _TABLE at a time; _NotFast at anything else."""
        text = self.text
        escaped = text.find("\\", pos, stop) >= 0
        setdefault = self.keys.setdefault
        while pos < stop:
            table = _TABLE.match(text, pos, stop)
            if table is None:
                raise _NotFast
            rule_id, action, key, value, name, comment = table.groups()
            if escaped:
                action, value = _unescape(action), _unescape(value)
            rule: dict[str, str] = {}
            if rule_id is not None:
                rule["id"] = _unescape(rule_id)
            rule["action"] = setdefault(action, action)
            rule[setdefault(key, key)] = value
            if name is not None:
                rule["name"] = _unescape(name)
            if comment is not None:
                rule["comment"] = _unescape(comment)
            self.rules.append(rule)
            self.lines.append(line)
            line += text.count("\n", pos, table.end())
            pos = table.end()


def _loads_fast(text: str) -> tuple[dict[str, Any], list[int] | None]:
    if not isinstance(text, str):
        raise _NotFast  # tomllib's own TypeError
    first = _FIRST_HEADER.search(text)
    if first is None:
        raise _NotFast
    pos = first.start()
    prefix = text[:pos]
    try:
        # A prefix that parses alone ends between two statements, so tomllib
        # reads it the same way within the whole text.
        data = tomllib.loads(prefix)
    except Exception:  # an error (even a RecursionError) is tomllib's to report
        raise _NotFast from None
    if "rule" in data:
        raise _NotFast  # [[rule]] would append to, or clash with, what the prefix made
    reader = _Reader(text)
    line = prefix.count("\n") + 1
    end = len(text)
    while pos < end:
        stop = text.find("\n[[rule]]", pos + _CHUNK)
        stop = end if stop < 0 else stop + 1
        if not reader.plain_chunk(pos, stop, line):
            reader.any_chunk(pos, stop, line)
        line += text.count("\n", pos, stop)
        pos = stop
    data["rule"] = reader.rules
    # A line like a [[rule]] header in the prefix (in a multi-line string, say)
    # counts for rule_header_lines: let it count them all then.
    return data, reader.lines if "[[" not in prefix else None
