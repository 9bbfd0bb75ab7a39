"""The ``exewhitelist`` command.

Exit codes: 0 success; 1 some input failed (the others are still reported);
2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from . import __version__
from .errors import ExewhitelistError
from .hashing import FileHashes, hash_file

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _print_human(result: FileHashes, out: TextIO) -> None:
    auth = result.authenticode_sha256 or "-" * 64
    flags = []
    if result.pe is not None:
        flags.append(f"{result.pe.format}/{result.pe.machine}")
        flags.append("signed" if result.signed else "unsigned")
    elif result.pe_error:
        flags.append("flat-only")
    else:
        flags.append("not-pe")
    flags.extend(a.value for a in result.anomalies)
    out.write(f"{auth}  {result.sha256}  {','.join(flags)}  {result.path}\n")


def _cmd_hash(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    failed = False
    if not args.json:
        out.write(f"{'AUTHENTICODE-SHA256':<64}  {'SHA256':<64}  KIND  PATH\n")
    for path in args.paths:
        try:
            result = hash_file(path)
        except ExewhitelistError as e:
            failed = True
            if args.json:
                out.write(json.dumps({"path": path, "error": str(e)}) + "\n")
            else:
                out.write(f"{'ERROR':<64}  {'':<64}  {e}  {path}\n")
            print(f"exewhitelist: {e}", file=sys.stderr)
            continue
        if args.json:
            out.write(json.dumps(result.to_json()) + "\n")
        else:
            _print_human(result, out)
    out.flush()
    return EXIT_FAILED if failed else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exewhitelist",
        description="Application whitelisting for Windows: hash, author, compile.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_hash = sub.add_parser(
        "hash",
        help="flat SHA-256 and PE Authenticode digests of files",
        description="Print the flat SHA-256 of each file and, for PE images, the "
        "Authenticode SHA-256/SHA-1 and first-page SHA-256/SHA-1 as Windows computes "
        "them. Exit code 1 when any file could not be read.",
    )
    p_hash.add_argument("paths", nargs="+", metavar="PATH")
    p_hash.add_argument("--json", action="store_true", help="one JSON object per line")
    p_hash.set_defaults(func=_cmd_hash)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, like coreutils.
        sys.stderr.close()
        return EXIT_FAILED
    return rc
