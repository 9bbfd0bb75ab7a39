"""``exewhitelist check``: files, or a whole scan, decided as the driver decides."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from ..blob.read import Blob
from ..errors import ExewhitelistError, PolicyError
from ..imagecheck import (
    ECDSA_NOTE,
    FileVerdict,
    PolicyDecider,
    decide_file,
    decide_records,
    ecdsa_only,
)
from ..policyfile import load_policy
from ..rules import Need, signer_facts
from ..scan import examine_file
from ..winpath import normalized_windows_path
from ._common import (
    Subparsers,
    input_errors,
    iter_hash_records,
    load_blob,
    parse_variables,
)
from ._output import emit
from ._results.check import FileCheck, ImageCheck, ScannedFile, UnreadFile

__all__ = ["add_parsers"]


def _windows_path(file: str, windows: str | None, several: bool) -> str | None:
    """The name the driver would decide on: ``--as`` checked and normalized as ``scan --as``."""
    if windows is None:
        return None
    if windows.endswith("\\"):
        return normalized_windows_path(windows) + "\\" + Path(file).name
    if several:
        raise PolicyError("--as names one file's Windows path; end it with '\\' for a folder")
    return normalized_windows_path(windows)


def _decider(source: str) -> Blob | PolicyDecider:
    """``check``'s BLOB: a compiled blob, or a policy file (.toml, .json) decided by the model."""
    if source != "-" and Path(source).suffix.lower() in (".toml", ".json"):
        return PolicyDecider(load_policy(source))
    return load_blob(source)


def _cmd_check(args: argparse.Namespace) -> int:
    blob = _decider(args.blob)
    variables = parse_variables(args.var)
    if args.scan is not None:
        if args.files or args.windows_path is not None or args.no_path or args.no_hash:
            raise PolicyError(
                "--scan decides the scan's records: no FILE, --as, --no-path or --no-hash"
            )
        return emit(_check_scan(blob, variables, args.scan), args.json)
    if not args.files:
        raise PolicyError("check: give FILEs, or --scan SCAN.jsonl")
    if args.no_path and args.windows_path is not None:
        raise PolicyError("--no-path and --as: give one of them")
    several = len(args.files) > 1
    paths = [_windows_path(f, args.windows_path, several) for f in args.files]
    return emit(
        (_check_file(blob, variables, f, p, args) for f, p in zip(args.files, paths, strict=True)),
        args.json,
    )


def _check_file(
    blob: Blob | PolicyDecider,
    variables: dict[str, tuple[str, ...]],
    file: str,
    windows_path: str | None,
    args: argparse.Namespace,
) -> FileCheck | UnreadFile:
    try:
        hashes, version = examine_file(file)
    except ExewhitelistError as e:
        return UnreadFile(file, str(e))
    # What the driver verifies itself: the embedded signatures and the version resource.
    facts = signer_facts(hashes.signatures, version)
    decision, reason, path_checked = decide_file(
        blob,
        variables,
        windows_path,
        hashes.authenticode_sha256,
        hashes.sha256,
        no_path=args.no_path,
        no_hash=args.no_hash,
        signer=None if args.no_hash else facts,
    )
    verdict = FileVerdict(
        file,
        windows_path,
        decision,
        reason,
        path_checked,
        None,
        hashes.authenticode_sha256,
        hashes.sha256,
        # The facts the decision used: none when the policy tests no signer (as check
        # --scan, which does not parse signatures then).
        facts if Need.SIGNER in blob.uses and not args.no_hash else None,
        (ECDSA_NOTE,) if ecdsa_only(hashes.signatures) else (),
    )
    return FileCheck(file, verdict)


def _check_scan(
    blob: Blob | PolicyDecider, variables: dict[str, tuple[str, ...]], scan: str
) -> Iterator[ScannedFile | ImageCheck]:
    """``check --scan``: every record decided from its digests and Windows paths; the denied
    ones by folder at the end."""
    image = ImageCheck()
    for verdict in decide_records(blob, iter_hash_records(scan), variables):
        image.add(verdict)
        yield ScannedFile(verdict)
    yield image


def add_parsers(sub: Subparsers) -> None:
    """``check``."""
    p = sub.add_parser(
        "check",
        help="decide files against a compiled blob, as the driver will",
        description="Hash each FILE and decide it with BLOB exactly as the driver "
        "decides (docs/policy.md, 'The staged decision'): the path first, then the "
        "digests, then the signers (its valid embedded signatures and version resource, "
        "for publisher rules) when they can change the answer; deny rules before allow "
        "rules, else deny; --no-path and --no-hash give the driver's answer when it cannot "
        "get one of them. BLOB may also be a policy file (.toml, .json), decided by the "
        "policy model without compiling it. Exit code 0 when every "
        "file is allowed, 1 when any is denied (also in audit mode, where the decision "
        "is only reported), 2 on errors.",
    )
    p.add_argument("blob", metavar="BLOB", help="the compiled blob (- for stdin), or a policy file")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument(
        "--scan",
        metavar="SCAN.jsonl",
        help="decide every record of 'exewhitelist scan' (- for stdin) from its digests and "
        "Windows paths, without reading files, and print the denied ones by folder",
    )
    p.add_argument(
        "--as",
        dest="windows_path",
        metavar="WINDOWS_PATH",
        help="the file's Windows path (for path rules); ending in '\\' it is the folder "
        "of every FILE",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a path variable's value (repeat for several); default: Windows on C:",
    )
    p.add_argument(
        "--no-path",
        action="store_true",
        help="decide as the driver does when it cannot get the image's path "
        "(no name, a named stream, a volume without a drive letter)",
    )
    p.add_argument(
        "--no-hash",
        action="store_true",
        help="decide as the driver does when it cannot read the image (a lock, a failed "
        "or untrusted read, a network image, an image over the size limit)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=input_errors(_cmd_check))
