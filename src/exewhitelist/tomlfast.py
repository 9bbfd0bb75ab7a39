"""TOML policy text to its document data, fast for the shape our writer emits.

:func:`loads` returns exactly what :func:`tomllib.loads` returns for the same
text, and raises exactly what it raises, in a fraction of the time and memory
for a large machine-written policy.  The ``[[rule]]`` tables laid out as
:func:`~exewhitelist.policyfile.dumps_toml` writes them (one ``key =
"string"`` line per key, keys in the written order, LF or CRLF) are read here
with regular expressions, a chunk of tables at a time; the text before the
first ``[[rule]]`` line (the ``[policy]`` table, comments) goes to tomllib.
A rule table in another layout (a comment, a literal string, a key out of
order, a publisher rule's inline table) is read alone by tomllib; anything
that does not read alone as one rule table sends the whole text to tomllib,
which then decides: a line not fully recognised is never guessed at.

Why not a library: the compiled TOML parsers on PyPI (rtoml, toml-rs; tomli
built with mypyc) all read TOML 1.1 today and so accept documents that
tomllib (TOML 1.0) refuses (``a = {b = 1,}``, ``"\\e"``, ``"\\x41"``, times
without seconds): a different policy language.  The two Rust ones also take
1.2 to 1.6 GB for a million rules, before any validation, and tomli with
mypyc takes 4 s: neither meets the goal of 3 s and 600 MB for compiling a
million hash rules.
"""

from __future__ import annotations

import itertools
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
_KIND = r"(?!(?:id|action|name|comment)\ )([A-Za-z0-9_-]+)"
"""The rule's kind: any bare key but the others a table has (so no key comes twice)."""

_FIRST_HEADER = re.compile(r"^\[\[rule\]\]\r?(?:\n|\Z)", re.MULTILINE)

# The patterns below read a chunk: whole [[rule]] tables, LF newlines, a final
# newline (_loads_fast makes them so).  Each match starts with a "[[rule]]"
# line and its lookahead ends it where the next one or the chunk ends: see
# _tables for why findall's matches then tile the chunk.

# A plain hash rule's table as the writer writes it (no escapes): four lines,
# the last one blank (only the last table of a chunk may lack it).
_PLAIN = re.compile(
    rf"""^\[\[rule\]\]\n
    action\ =\ "(allow|deny)"\n
    {_KIND}\ =\ "({_CHARS})"\n
    (?:\n|\Z)(?=\[\[rule\]\]|\Z)""",
    re.VERBOSE | re.MULTILINE,
)

# Any table as the writer lays it out: the id, the action, the rule's kind,
# the name and the comment, in that order, each key at most once (an optional
# key's group holds its name when present, since findall gives "" for absent
# groups); then blank lines.  Keys are bare, with one space either side of
# '='; values are basic strings.
_WRITTEN = re.compile(
    rf"""^\[\[rule\]\]\n
    (?:(id)\ =\ {_STRING}\n)?
    action\ =\ {_STRING}\n
    {_KIND}\ =\ {_STRING}\n
    (?:(name)\ =\ {_STRING}\n)?
    (?:(comment)\ =\ {_STRING}\n)?
    (\n*)(?=\[\[rule\]\]|\Z)""",
    re.VERBOSE | re.MULTILINE,
)

_CHUNK = 1 << 20
"""About how many characters of rule tables are read at once."""

_SIMPLE_ESCAPES = {'\\"': '"', "\\b": "\b", "\\t": "\t", "\\n": "\n", "\\f": "\f", "\\r": "\r"}
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
    """A basic string's value from its body, which _STRING matched (only valid escapes).

    Split at the escaped backslashes, every backslash left in a part starts
    an escape of its own, so the short ones are plain replacements (none puts
    a backslash back).  Windows paths, full of escaped backslashes, take no
    regular expression.
    """
    if "\\" not in value:
        return value
    parts = value.split("\\\\")
    for i, part in enumerate(parts):
        if "\\" in part:
            if "\\u" in part or "\\U" in part:
                parts[i] = _ESCAPE_RE.sub(_escape, part)
                continue
            decoded = part
            for escape, char in _SIMPLE_ESCAPES.items():
                decoded = decoded.replace(escape, char)
            parts[i] = decoded
    return "\\".join(parts)


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


def _tables(pattern: re.Pattern[str], chunk: str) -> list[Any] | None:
    """``pattern.findall(chunk)`` if its matches cover the chunk exactly, else None.

    ``chunk`` starts with a "[[rule]]" line.  Every match starts with one
    (at the start of a line) and ends at the start of a line (its lookahead)
    that starts "[[rule]]", or at the chunk's end.  With as many matches as
    lines starting "[[rule]]", each such line starts a match; a match cannot
    end past the next one (which starts the next match): so each match ends
    exactly where the next one starts, and the last at the chunk's end.
    """
    found = pattern.findall(chunk)
    return found if len(found) == chunk.count("\n[[rule]]") + 1 else None


class _Reader:
    """The rule tables of one text, read chunk by chunk into ``rules`` and ``lines``."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []
        self.lines: list[int] = []
        # One string object for each key and action: a million rules share them
        # (tomllib makes one of each per table: equal, and 120 MB more).
        self.keys: dict[str, str] = {"action": "action", "allow": "allow", "deny": "deny"}

    def read(self, chunk: str, line: int) -> None:
        """The tables of ``chunk``, whose header is on ``line``; _NotFast if one is beyond it.

        A chunk the writer's layouts tile is read whole; else table by table, and a table
        in neither layout (a publisher rule's inline table, exceptions, a comment) alone
        by tomllib: one such rule does not send a million others there.
        """
        if self._read_plain(chunk, line) or self._read_written(chunk, line):
            return
        starts = [0, *(i + 1 for i in _all_at(chunk, "\n[[rule]]")), len(chunk)]
        for start, stop in itertools.pairwise(starts):
            table = chunk[start:stop]
            if not (self._read_plain(table, line) or self._read_written(table, line)):
                self._read_alone(table, line)
            line += table.count("\n")

    def _read_alone(self, table: str, line: int) -> None:
        """One ``[[rule]]`` table by tomllib. The tables are independent (each header
        starts a new element), so this is the element the whole text would give: unless
        the table also reaches outside it (another table's header, a multi-line string
        cut at a line starting "[[rule]]": then it does not parse alone, or gives more)."""
        if "\r" in table:
            raise _NotFast  # a lone CR (the chunk's CRLFs are LFs now): tomllib's error
        try:
            data = tomllib.loads(table)
        except Exception:  # the whole text's error is tomllib's to report
            raise _NotFast from None
        rules = data.get("rule")
        if data.keys() != {"rule"} or not isinstance(rules, list) or len(rules) != 1:
            raise _NotFast
        self.rules.append(rules[0])
        self.lines.append(line)

    def _read_plain(self, chunk: str, line: int) -> bool:
        keys = self.keys
        setdefault = keys.setdefault
        plain = _tables(_PLAIN, chunk) if _PLAIN.match(chunk) else None
        if plain is None:
            return False
        self.rules += [
            {"action": keys[action], setdefault(kind, kind): value} for action, kind, value in plain
        ]
        self.lines += range(line, line + 4 * len(plain), 4)
        return True

    def _read_written(self, chunk: str, line: int) -> bool:
        written = _tables(_WRITTEN, chunk)
        if written is None:
            return False
        setdefault = self.keys.setdefault
        add_rule, add_line = self.rules.append, self.lines.append
        for (
            has_id,
            rule_id,
            raw_action,
            kind,
            raw_value,
            has_name,
            name,
            has_comment,
            comment,
            blank,
        ) in written:
            # (_unescape's own test, made here: a call per string costs more)
            action = _unescape(raw_action) if "\\" in raw_action else raw_action
            value = _unescape(raw_value) if "\\" in raw_value else raw_value
            rule = {"id": _unescape(rule_id)} if has_id else {}
            rule["action"] = setdefault(action, action)
            rule[setdefault(kind, kind)] = value
            if has_name:
                rule["name"] = _unescape(name) if "\\" in name else name
            if has_comment:
                rule["comment"] = _unescape(comment) if "\\" in comment else comment
            add_rule(rule)
            add_line(line)
            line += 3 + len(blank) + bool(has_id) + bool(has_name) + bool(has_comment)
        return True


def _all_at(text: str, needle: str) -> list[int]:
    """Every index of ``needle`` in ``text``."""
    found, at = [], text.find(needle)
    while at >= 0:
        found.append(at)
        at = text.find(needle, at + 1)
    return found


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
    reader = _Reader()
    line = prefix.count("\n") + 1
    end = len(text)
    while pos < end:
        # A chunk ends where a line starting "[[rule]]" starts: never inside a
        # table the patterns match (their strings hold no newline).
        stop = text.find("\n[[rule]]", pos + _CHUNK)
        stop = end if stop < 0 else stop + 1
        chunk = text[pos:stop]
        if "\r" in chunk:
            chunk = chunk.replace("\r\n", "\n")  # as tomllib does; a lone CR stays, unmatched
        if not chunk.endswith("\n"):
            chunk += "\n"  # the last line: the same tables with a newline
        reader.read(chunk, line)
        line += text.count("\n", pos, stop)
        pos = stop
    data["rule"] = reader.rules
    # A line like a [[rule]] header in the prefix (in a multi-line string, say)
    # counts for rule_header_lines: let it count them all then.
    return data, reader.lines if "[[" not in prefix else None
