"""``exewhitelist scan``: hash every executable under directories; ``scan diff``: compare
two scans."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import stat
import sys
from typing import TextIO

from ..errors import InputError
from ..fileio import atomic_output
from ..imagecheck import diff_scans
from ..progress import ProgressLine
from ..scan import ScanOptions, count_files, scan
from ._common import Subparsers, input_errors, iter_hash_records
from ._output import Result, emit
from ._results.hashing import CatalogReport
from ._results.scan import ScanChanges, ScanEnd

__all__ = ["add_parsers", "diff_parser"]


def _cmd_scan(args: argparse.Namespace) -> int:
    cache = args.cache
    # SQLite would wait forever on a FIFO.
    if cache is not None and os.path.exists(cache) and not stat.S_ISREG(os.stat(cache).st_mode):
        raise InputError(f"{cache}: not a regular file (a scan cache is expected)")
    options = ScanOptions(
        jobs=args.jobs,
        processes=not args.threads,
        windows_root=args.windows_root,
        exclude=tuple(args.exclude),
        all_files=args.all_files,
        cache=args.cache,
        signatures=args.signatures,
        catalogs=args.catalogs,
    )
    records = scan(args.roots, options)
    with contextlib.ExitStack() as stack:
        out: TextIO = sys.stdout
        if args.output not in (None, "-"):
            # The records become the file only when the scan is complete.
            out = io.TextIOWrapper(stack.enter_context(atomic_output(args.output)), "utf-8")
            stack.callback(out.detach)  # flushed, and the file left to atomic_output
        if sys.stderr.isatty():
            stack.enter_context(
                ProgressLine(
                    sys.stderr,
                    lambda: records.summary,
                    functools.partial(count_files, args.roots, options),
                )
            )
        stack.callback(records.close)
        for record in records:
            out.write(json.dumps(record.to_json()) + "\n")
        out.flush()
    end: list[Result] = [] if records.catalogs is None else [CatalogReport(records.catalogs)]
    end.append(ScanEnd(records.summary, records.unused_excludes))
    return emit(end, as_json=False)


def add_parsers(sub: Subparsers) -> None:
    """``scan`` (``scan diff`` has a parser of its own: :func:`diff_parser`)."""
    p = sub.add_parser(
        "scan",
        help="hash every executable under directories (a golden image, a share)",
        description="Walk the ROOTs (never following symbolic links) and print one JSON "
        "record per executable (MZ header) or listed file type (.exe .dll .sys .scr .cpl "
        ".ocx .com .efi .msi .ps1 .bat .cmd .vbs .js), in a deterministic order: digests as "
        "'hash --json', PE facts, version strings, links (see docs/scan.md). A summary goes "
        "to stderr, and a progress line when stderr is a terminal. Exit code 0 when every "
        "file was read, 1 when some could not be (their records carry 'error'), 2 on bad "
        "arguments or an unusable cache. 'exewhitelist scan diff OLD NEW' compares two "
        "scans (see its --help).",
    )
    p.add_argument("roots", nargs="+", metavar="ROOT")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write the records here (default: stdout)"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="files hashed at the same time (default: the number of CPUs)",
    )
    p.add_argument(
        "--threads",
        action="store_true",
        help="read files on threads instead of worker processes (see docs/scan.md)",
    )
    p.add_argument(
        "--as",
        dest="windows_root",
        metavar="WINDOWS_PATH",
        help="the Windows path of the (single) ROOT, such as C:\\: records get windows_path",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths (relative to the root, '/'-separated) matching this fnmatch "
        "pattern, ignoring case with --as; a matching directory is not entered; a warning "
        "names a pattern that matched nothing (repeatable)",
    )
    p.add_argument("--all-files", action="store_true", help="hash every regular file")
    p.add_argument(
        "--cache",
        metavar="FILE",
        help="SQLite cache of digests: files whose size, times and inode did not change "
        "are not read again",
    )
    p.add_argument(
        "--catalogs",
        metavar="DIR",
        help="attribute files listed in the .cat files under DIR to their catalog and signer "
        "(default with --as: the image's Windows\\System32\\CatRoot, if present)",
    )
    p.add_argument(
        "--no-signatures",
        dest="signatures",
        action="store_false",
        help="do not read embedded signatures (records get signatures: null)",
    )
    p.set_defaults(func=input_errors(_cmd_scan))


def _cmd_scan_diff(args: argparse.Namespace) -> int:
    if args.old == args.new == "-":
        raise InputError("scan diff: stdin can be OLD or NEW, not both")
    diff = diff_scans(iter_hash_records(args.old), iter_hash_records(args.new))
    return emit([ScanChanges(diff)], args.json)


def diff_parser() -> argparse.ArgumentParser:
    """``scan diff OLD NEW``, apart from ``scan``, which takes any ROOTs."""
    p = argparse.ArgumentParser(
        prog="exewhitelist scan diff",
        description="Compare two scans of an image (records of 'exewhitelist scan', files or "
        "- for stdin), file by file: matched by Windows path (case-insensitively) or, "
        "without --as, by path; every hard link is a file. Lists added (+), removed (-) and "
        "changed (~: other digests, an error on one side, or other signers) files with their "
        "digests and signers. Exit code 0 when identical, 1 when they differ, 2 when a file "
        "cannot be read.",
    )
    p.add_argument("old", metavar="OLD.jsonl")
    p.add_argument("new", metavar="NEW.jsonl")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=input_errors(_cmd_scan_diff))
    return p
