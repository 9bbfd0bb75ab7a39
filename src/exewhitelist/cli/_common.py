"""What the command modules share: exit codes, the error wrapper, hash records in, policies
and bytes out, and the options more than one command takes (what they print and how:
:mod:`._output`, :mod:`._results`).

It lives apart from ``__init__`` so that the command modules can import it while
``__init__`` imports them to build the parser.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

from ..blob import read_blob
from ..blob._format import MAX_BLOB_SIZE
from ..blob.read import Blob
from ..bootsafety import check_boot_safety, describe_boot_problems
from ..errors import ExewhitelistError, InputError, PolicyError, PolicyProblem
from ..fileio import open_regular_file, read_regular_file
from ..policy import VARIABLES, Policy
from ..policyfile import Format, dumps_json, dumps_toml, save_policy
from ..winpath import image_variables

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_RECORDS_BYTES",
    "MAX_RECORD_LINE_BYTES",
    "Subparsers",
    "add_boot_safety_options",
    "add_output_options",
    "blob_bytes",
    "boot_problems",
    "input_errors",
    "iter_hash_records",
    "load_blob",
    "parse_variables",
    "read_hash_records",
    "to_stdout",
    "write_policy",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
"""Ctrl-C: the shell's status for a process ended by SIGINT."""
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
"""The reader went away (``| head``): the shell's status for a process ended by SIGPIPE."""

MAX_RECORDS_BYTES = 4 << 30
"""The most hash records read at once (a few million records)."""
MAX_RECORD_LINE_BYTES = 16 << 20
"""The longest line of hash records (a record with a long signature chain is a few KiB)."""


_Command = Callable[[argparse.Namespace], int]
"""A command: its parsed arguments in, its exit code out."""
# A string: _SubParsersAction is generic for type checkers only.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where a command module adds its commands (the top level's, or ``policy``'s)."""


def input_errors(command: _Command) -> _Command:
    """Unusable input (unreadable file, invalid policy): one line on stderr and exit 2."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except BrokenPipeError:
            raise
        except OSError as e:
            reason = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
            print(f"exewhitelist: {reason}", file=sys.stderr)
        except ExewhitelistError as e:
            print(f"exewhitelist: {e}", file=sys.stderr)
        return EXIT_USAGE

    return run


def boot_problems(blob: Blob, args: argparse.Namespace) -> list[PolicyProblem]:
    """Never brick (exewhitelist.bootsafety): one error, a warning with --allow-unbootable."""
    records = read_hash_records(args.image) if args.image else None
    denied = check_boot_safety(blob, records, image_loads=args.image_loads == "enforce")
    if not denied:
        return []
    return [
        PolicyProblem(
            describe_boot_problems(denied),
            severity="warning" if args.allow_unbootable else "error",
        )
    ]


def add_boot_safety_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--image",
        metavar="SCAN.jsonl",
        help="golden-image scan records ('scan --as'): boot-critical images allowed by "
        "their recorded digests count as allowed",
    )
    p.add_argument(
        "--image-loads",
        choices=("off", "audit", "enforce"),
        default="enforce",
        help="the driver's ImageLoads setting (0, 1, 2) where the policy is deployed: with "
        "'enforce' (the default: it is set per machine, not in the policy) the DLLs "
        "boot-critical programs load must be allowed too",
    )
    p.add_argument(
        "--allow-unbootable",
        action="store_true",
        help="accept an enforce-mode policy that denies a boot-critical image (a warning)",
    )


def read_hash_records(source: str) -> list[dict[str, Any]]:
    """The JSON lines of ``exewhitelist hash --json`` from a file or ``-`` (stdin)."""
    return list(iter_hash_records(source))


def iter_hash_records(source: str) -> Iterator[dict[str, Any]]:
    """The JSON lines of ``exewhitelist hash --json`` (or ``scan``), one at a time, from a
    file or ``-`` (stdin).

    Read a line at a time, each at most :data:`MAX_RECORD_LINE_BYTES` and all at
    most :data:`MAX_RECORDS_BYTES`: an endless stdin or ``/dev/zero`` is cut off.
    """
    label = "stdin" if source == "-" else source
    with contextlib.ExitStack() as stack:
        f = (
            sys.stdin.buffer
            if source == "-"
            else stack.enter_context(open_regular_file(source, "file of hash records"))
        )
        total = 0
        number = 0
        while raw := f.readline(MAX_RECORD_LINE_BYTES + 1):
            number += 1
            total += len(raw)
            if len(raw) > MAX_RECORD_LINE_BYTES:
                raise InputError(
                    f"{label}: line {number} is longer than any hash record "
                    f"({MAX_RECORD_LINE_BYTES} bytes at most)"
                )
            if total > MAX_RECORDS_BYTES:
                raise InputError(f"{label}: more than {MAX_RECORDS_BYTES} bytes of hash records")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PolicyError(f"{label}: line {number}: not UTF-8 text") from None
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                # A blank line is skipped: checked here only, not by stripping a copy of
                # every line (a whole image is ~10^5 lines of ~2 KB).
                if not line.strip():
                    continue
                raise PolicyError(f"{label}: line {number}: not JSON: {e}") from None
            if not isinstance(record, dict):
                raise PolicyError(f"{label}: line {number}: not a JSON object")
            yield record


_STDOUT_PIECE = 1 << 16


def to_stdout(data: bytes) -> None:
    """Write ``data`` to stdout a piece at a time: a reader that goes away (``| head``) is
    noticed (BrokenPipeError), where one large write can be taken whole by a pipe and lost."""
    out = sys.stdout.buffer
    for start in range(0, len(data), _STDOUT_PIECE):
        out.write(data[start : start + _STDOUT_PIECE])
        out.flush()


def write_policy(policy: Policy, output: str | None, fmt: Format | None) -> None:
    """To ``output`` (format by extension unless ``fmt``), or to stdout (TOML unless ``fmt``)."""
    if output is None or output == "-":
        text = dumps_json(policy) if fmt == "json" else dumps_toml(policy)
        sys.stdout.flush()
        to_stdout(text.encode())
    else:
        save_policy(policy, output, fmt)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="POLICY",
        help="write here (format by extension: .toml or .json); default: stdout",
    )
    parser.add_argument(
        "--format",
        choices=("toml", "json"),
        help="write this format whatever the extension (stdout default: toml)",
    )


def blob_bytes(path: str) -> bytes:
    """A compiled blob's bytes from a file, or from stdin for ``-`` (``compile -o -`` |)."""
    if path != "-":
        return read_regular_file(path, MAX_BLOB_SIZE, "compiled blob")
    data = sys.stdin.buffer.read(MAX_BLOB_SIZE + 1)
    if len(data) > MAX_BLOB_SIZE:
        raise InputError(f"stdin: larger than any compiled blob ({MAX_BLOB_SIZE} bytes at most)")
    return data


def load_blob(path: str) -> Blob:
    return read_blob(blob_bytes(path))


def parse_variables(assignments: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The values ``--var`` gives, and the others derived from them as the driver does."""
    given: dict[str, list[str]] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        name = name.strip("%").upper()
        if not sep or name not in VARIABLES or not value:
            raise PolicyError(
                f"--var {assignment!r}: expected NAME=VALUE with NAME one of {', '.join(VARIABLES)}"
            )
        given.setdefault(name, []).append(value.rstrip("\\"))
    return image_variables(given)
