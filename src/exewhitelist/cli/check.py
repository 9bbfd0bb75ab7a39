"""``exewhitelist check``: files, or a whole scan, decided as the driver decides."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ..blob._format import HASH_SECTIONS, Decided
from ..blob.read import Blob
from ..errors import ExewhitelistError, PolicyError
from ..imagecheck import (
    ECDSA_NOTE,
    FileVerdict,
    PolicyDecider,
    decide_file,
    decide_records,
    ecdsa_only,
    signer_facts_json,
)
from ..policy import RuleKind
from ..policyfile import load_policy
from ..rules import Need, signer_facts
from ..scan import examine_file
from ..staging import REASON_TEXTS
from ..winpath import normalized_windows_path
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Subparsers,
    input_errors,
    iter_hash_records,
    json_line,
    load_blob,
    parse_variables,
)

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


_DECIDED_BY = {
    **{Decided(section): kind for section, (kind, _) in HASH_SECTIONS.items()},
    Decided.PATH: RuleKind.PATH.value,
    Decided.PUBLISHER: RuleKind.PUBLISHER.value,
}


def _decider(source: str) -> Blob | PolicyDecider:
    """``check``'s BLOB: a compiled blob, or a policy file (.toml, .json) decided by the model."""
    if source != "-" and Path(source).suffix.lower() in (".toml", ".json"):
        return PolicyDecider(load_policy(source))
    return load_blob(source)


def _cmd_check(args: argparse.Namespace) -> int:
    blob = _decider(args.blob)
    variables = parse_variables(args.var)
    if args.scan is not None:
        return _check_scan(blob, variables, args)
    if not args.files:
        raise PolicyError("check: give FILEs, or --scan SCAN.jsonl")
    if args.no_path and args.windows_path is not None:
        raise PolicyError("--no-path and --as: give one of them")
    several = len(args.files) > 1
    paths = [_windows_path(f, args.windows_path, several) for f in args.files]
    out: TextIO = sys.stdout
    denied = failed = False
    for file, windows_path in zip(args.files, paths, strict=True):
        try:
            hashes, version = examine_file(file)
        except ExewhitelistError as e:
            failed = True
            print(f"exewhitelist: {e}", file=sys.stderr)
            if args.json:
                out.write(json.dumps({"path": file, "error": str(e)}) + "\n")
            continue
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
        notes = [ECDSA_NOTE] if ecdsa_only(hashes.signatures) else []
        for note in notes:
            print(f"exewhitelist: {file}: {note}", file=sys.stderr)
        if not path_checked:
            print(
                f"exewhitelist: {file}: path rules not checked (no --as): decided by its digests",
                file=sys.stderr,
            )
        denied |= decision.action.value == "deny"
        if args.json:
            record = {
                "path": file,
                "windows_path": windows_path,
                "decision": decision.action.value,
                "enforced": decision.enforced,
                "rule": decision.rule_id,
                "decided_by": _DECIDED_BY.get(decision.decided_by),
                "reason": reason.name.lower(),
                "path_checked": path_checked,
                "authenticode_sha256": hashes.authenticode_sha256,
                "sha256": hashes.sha256,
                # The facts the decision used: none when the policy tests no signer (as
                # check --scan, which does not parse signatures then).
                "signer_facts": (
                    signer_facts_json(facts)
                    if Need.SIGNER in blob.uses and not args.no_hash
                    else None
                ),
                "notes": notes,
            }
            out.write(json_line(record))
        else:
            verdict_text = decision.action.value.upper()
            if not decision.enforced:
                verdict_text += " (audit)"
            rule = REASON_TEXTS.get(reason) or decision.rule_id or "(no rule: default deny)"
            out.write(f"{verdict_text:<13}  {rule}  {file}\n")
    if failed:
        return EXIT_USAGE
    return EXIT_FAILED if denied else EXIT_OK


# ------------------------------------------------------------- whole images: check --scan


def _verdict_json(verdict: FileVerdict) -> dict[str, Any]:
    decision = verdict.decision
    if decision is None:
        return {"path": verdict.path, "windows_path": verdict.windows_path, "error": verdict.error}
    return {
        "path": verdict.path,
        "windows_path": verdict.windows_path,
        "decision": decision.action.value,
        "enforced": decision.enforced,
        "rule": decision.rule_id,
        "decided_by": _DECIDED_BY.get(decision.decided_by),
        "reason": verdict.reason.name.lower(),
        "path_checked": verdict.path_checked,
        "authenticode_sha256": verdict.authenticode_sha256,
        "sha256": verdict.sha256,
        "signer_facts": signer_facts_json(verdict.signer_facts),
        "notes": list(verdict.notes),
    }


def _folder(verdict: FileVerdict) -> tuple[str, str]:
    """(folder, name) of the file, by its Windows path when it has one."""
    if verdict.windows_path is not None:
        folder, _, name = verdict.windows_path.rpartition("\\")
        return folder + "\\", name
    folder, _, name = verdict.path.rpartition("/")
    return folder + "/", name


def _check_scan(
    blob: Blob | PolicyDecider, variables: dict[str, tuple[str, ...]], args: argparse.Namespace
) -> int:
    """``check --scan``: every record decided from its digests and Windows paths."""
    if args.files or args.windows_path is not None or args.no_path or args.no_hash:
        raise PolicyError(
            "--scan decides the scan's records: no FILE, --as, --no-path or --no-hash"
        )
    out: TextIO = sys.stdout
    denied: dict[str, list[tuple[str, str]]] = {}
    counts = {"allowed": 0, "denied": 0, "errors": 0, "unchecked": 0}
    for verdict in decide_records(blob, iter_hash_records(args.scan), variables):
        decision = verdict.decision
        if args.json:
            out.write(json_line(_verdict_json(verdict)))
        else:
            for note in verdict.notes:
                print(f"exewhitelist: {verdict.path}: {note}", file=sys.stderr)
        if decision is None:
            counts["errors"] += 1
            print(f"exewhitelist: {verdict.path}: {verdict.error}", file=sys.stderr)
            continue
        counts["unchecked"] += not verdict.path_checked
        if decision.action.value == "allow":
            counts["allowed"] += 1
            continue
        counts["denied"] += 1
        if not args.json:
            folder, name = _folder(verdict)
            verdict_text = "DENY" if decision.enforced else "DENY (audit)"
            rule = REASON_TEXTS.get(verdict.reason) or decision.rule_id or "(no rule: default deny)"
            denied.setdefault(folder, []).append((name, f"{verdict_text:<12}  {rule}"))
    for folder in sorted(denied):
        files = denied[folder]
        out.write(f"{folder}  ({len(files)} denied)\n")
        out.writelines(f"  {text}  {name}\n" for name, text in sorted(files))
    if counts["unchecked"]:
        print(
            f"exewhitelist: {counts['unchecked']} record(s) without windows_path (scan without "
            "--as): path rules not checked, decided by their digests",
            file=sys.stderr,
        )
    print(
        f"check: {counts['allowed']} allowed, {counts['denied']} denied, "
        f"{counts['errors']} error(s)",
        file=sys.stderr,
    )
    if counts["errors"]:
        return EXIT_USAGE
    return EXIT_FAILED if counts["denied"] else EXIT_OK


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
