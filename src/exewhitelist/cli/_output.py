"""What a command prints: results that print themselves (:class:`Result`), and the one
routine that writes them (:func:`emit`).

A command module parses its arguments, calls the library and hands its results
to :func:`emit`: each result gives its JSON line and its text, the lines it has
for stderr and the exit code it calls for, so that how ``--json`` chooses, where
each line goes and which status wins are decided here once. A reader that goes
away (``| head``) is :func:`exewhitelist.cli.main`'s: the BrokenPipeError a
write raises ends every command the same way.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TextIO

from ._common import EXIT_OK

__all__ = ["Result", "StderrOnly", "ascii_json", "emit", "json_text"]


class Result(Protocol):
    """One piece of a command's output (a file's verdict, a report, a summary)."""

    @property
    def exit_code(self) -> int:
        """0 (nothing to report), 1 (a negative answer) or 2 (unusable input): the
        command exits with the highest of its results'."""
        ...

    def to_json(self) -> str | None:
        """Its line of JSON with ``--json`` (without the newline), None for none: text, as
        each result keeps the encoding its command has always had (:func:`json_text`, or
        :func:`ascii_json` for ``hash`` and ``signers``)."""
        ...

    def render_text(self) -> str:
        """Its text on stdout without ``--json`` (whole lines), "" for none."""
        ...

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        """Its lines for stderr (without newlines) in either form."""
        ...


class StderrOnly:
    """The defaults of a :class:`Result` that speaks on stderr only: exit code 0 (a
    subclass may say otherwise), nothing on stdout in either form."""

    __slots__ = ()

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> None:
        return None

    def render_text(self) -> str:
        return ""


def emit(results: Iterable[Result], as_json: bool) -> int:
    """Write each result as it comes (a whole image is ~10^5 of them): its JSON line or
    its text on stdout, its diagnostics on stderr; the highest exit code, 0 for none."""
    out, err = sys.stdout, sys.stderr
    status = EXIT_OK
    for result in results:
        for line in result.diagnostics(as_json):
            err.write(line + "\n")
        if as_json:
            text = result.to_json()
            if text is not None:
                _write(out, text + "\n")
        else:
            _write(out, result.render_text())
        status = max(status, result.exit_code)
    out.flush()
    return status


_PIECE = 1 << 16


def _write(out: TextIO, text: str) -> None:
    """A long text (a whole image's denied files) a piece at a time, each flushed: a reader
    that goes away (``| head``) is noticed (BrokenPipeError), where one large write can be
    taken whole by a pipe and lost (as :func:`._common.to_stdout`)."""
    if len(text) <= _PIECE:
        out.write(text)
        return
    for start in range(0, len(text), _PIECE):
        out.write(text[start : start + _PIECE])
        out.flush()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any) -> str:
    """One line of JSON, non-ASCII text as itself, but a lone surrogate (a byte of a file
    name that is not UTF-8, PEP 383) as its ``\\udcXX`` escape: valid UTF-8 JSON that
    every reader takes back to the same name."""
    text = json.dumps(value, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def ascii_json(value: Any) -> str:
    """One line of JSON, every non-ASCII character escaped: the form ``hash``, ``signers``
    and ``scan`` have always written, kept for the readers that parse it."""
    return json.dumps(value)
