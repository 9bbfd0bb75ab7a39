"""The ``exewhitelist`` command: the top-level parser, the rule for ``-`` and :func:`main`;
one module per command family (:mod:`.hashing`, :mod:`.scan`, :mod:`.policy`, :mod:`.edit`,
:mod:`.interop`, :mod:`.blob`, :mod:`.check`), their shared helpers in :mod:`._common`.
A command module parses its arguments and calls the library; what it prints are results
that print themselves (:mod:`._results`), written by one routine (:func:`._output.emit`).

Exit codes: 0 success; 1 a negative result (``hash``, ``scan``: some input
failed, the others are still reported; ``policy validate``: the file has errors;
``policy diff``: the policies differ); 2 bad arguments or unusable input
(one line on stderr says why).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import sys
from collections.abc import Sequence

from .. import __version__
from . import blob, check, hashing, policy, scan
from ._common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    MAX_RECORD_LINE_BYTES,
    MAX_RECORDS_BYTES,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_RECORDS_BYTES",
    "MAX_RECORD_LINE_BYTES",
    "build_parser",
    "main",
]


# ------------------------------------------------------------------ one rule for "-"

_NAMED_FILES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("hash",): ("paths",),
    ("signers",): ("files",),
    ("scan",): ("roots",),
    ("check",): ("files",),
    ("compile",): ("policy",),
    ("policy", "validate"): ("file",),
    ("policy", "merge"): ("policies",),
    ("policy", "diff"): ("old", "new"),
    ("policy", "rule"): ("policy",),
    ("policy", "set-mode"): ("policy",),
}
"""The arguments that name files a command reads by name (to hash, walk or edit in place):
there ``-`` is refused rather than taken for a file named ``-``. Everywhere else ``-`` is
stdin (a blob, hash or scan records) or stdout (``-o``, ``--reg-file``)."""


def _dash_refused(args: argparse.Namespace) -> str | None:
    command = ("policy", args.policy_command) if args.command == "policy" else (args.command,)
    for name in _NAMED_FILES.get(command, ()):
        value = getattr(args, name, None)
        values = value if isinstance(value, list) else [value]
        if "-" in values:
            return (
                f"'-' is not read as stdin here ({' '.join(command)} reads files by name); "
                "write ./- for a file named '-'"
            )
    return None


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """``scan diff OLD NEW`` has its own parser: ``scan`` takes any ROOTs (a root named
    ``diff`` is written ``./diff``)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:2] == ["scan", "diff"]:
        return scan.diff_parser().parse_args(arguments[2:])
    return build_parser().parse_args(arguments)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exewhitelist",
        description="Application whitelisting for Windows: hash, author, compile.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # In the order --help lists them.
    hashing.add_parsers(sub)  # hash, signers
    scan.add_parsers(sub)
    policy.add_parsers(sub)
    blob.add_parsers(sub)  # compile, inspect
    check.add_parsers(sub)
    blob.add_deploy_parser(sub)
    return parser


def _quiet_stdout() -> None:
    """After the reader went away: nothing more reaches stdout, not even at exit."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: one rule for every command.

    0, 1, 2 as each command documents; 130 when interrupted (Ctrl-C), 141
    when the reader of stdout went away (``| head``), quietly and with every
    output file left as it was; a failed write to stdout (a full disk) is
    one line on stderr and 2.
    """
    # A file name that is not UTF-8 is written back as its bytes (stdout) or
    # escaped (stderr), never a UnicodeEncodeError, whatever the locale says.
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors=errors)
    args = _parse_args(argv)
    refused = _dash_refused(args) if hasattr(args, "command") else None
    if refused is not None:
        print(f"exewhitelist: {refused}", file=sys.stderr)
        return EXIT_USAGE
    try:
        rc: int = args.func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as e:  # writing stdout: input_errors reports the rest
        if e.errno == errno.EPIPE:
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
        print(f"exewhitelist: cannot write the output: {e.strerror or e}", file=sys.stderr)
        _quiet_stdout()
        return EXIT_USAGE
    return rc
