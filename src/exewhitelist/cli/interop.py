"""``exewhitelist policy import | export | from-events``: AppLocker, WDAC and Santa
(:mod:`exewhitelist.interop`)."""

from __future__ import annotations

import argparse
import dataclasses

from ..fileio import write_atomically
from ..interop import ForeignFormat, export_policy, import_policy
from ..interop.events import Level as EventLevel
from ..interop.events import rules_from_events
from ..policy import Action, Mode
from ..policyfile import load_policy
from ..policyops import merge_policies
from ._common import (
    EXIT_OK,
    Subparsers,
    add_output_options,
    input_errors,
    to_stdout,
    write_policy,
)
from ._output import emit
from ._results.interop import EventRules, EventsRead, EventsWritten, Exported, Imported

__all__ = ["add_parsers"]


def _cmd_policy_import(args: argparse.Namespace) -> int:
    fmt = ForeignFormat(args.foreign_format) if args.foreign_format else None
    result = import_policy(args.file, fmt, name=args.name, version=args.version)
    status = emit([Imported(args.file, result, args.strict)], as_json=False)
    if status == EXIT_OK and result.policy is not None:
        write_policy(result.policy, args.output, None)
    return status


def _cmd_policy_export(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    result = export_policy(policy, ForeignFormat(args.foreign_format))
    status = emit([Exported(args.policy, result, args.strict)], as_json=False)
    if status != EXIT_OK:
        return status
    if args.output is None or args.output == "-":
        to_stdout(result.data)
    else:
        write_atomically(args.output, result.data)
    return EXIT_OK


def _cmd_policy_from_events(args: argparse.Namespace) -> int:
    base = load_policy(args.merge) if args.merge else None
    result = rules_from_events(
        args.logs,
        name=args.name or "from-events",
        version=args.version or 1,
        mode=Mode(args.mode),
        level=EventLevel(args.level),
    )
    status = emit([EventsRead(result)], as_json=False)
    if result.policy is None:
        return status
    policy = result.policy
    if base is not None:
        denying = {(r.kind, r.value) for r in base.rules if r.action is Action.DENY}
        denied = tuple(rule.id for rule in policy.rules if (rule.kind, rule.value) in denying)
        emit([EventRules(denied, args.merge)], as_json=False)
        kept = tuple(rule for rule in policy.rules if (rule.kind, rule.value) not in denying)
        policy = dataclasses.replace(policy, rules=kept)
        policy = merge_policies([base, policy], name=args.name, version=args.version)
    emit([EventsWritten(len(result.programs), len(policy.rules))], as_json=False)
    write_policy(policy, args.output, args.format)
    return EXIT_OK


def add_parsers(psub: Subparsers) -> None:
    """``policy import``, ``policy export`` and ``policy from-events``."""
    formats = [f.value for f in ForeignFormat]
    p = psub.add_parser(
        "import",
        help="a policy from an AppLocker or WDAC policy or Santa rules",
        description="Read an AppLocker policy (XML, UTF-16 or UTF-8), a WDAC SiPolicy XML or a "
        "Santa rule export (JSON) into a policy (see docs/interop.md). Every element not "
        "carried over is reported on stderr with its position and reason. Exit code 0 when "
        "the policy was written, 1 when an element is invalid (or, with --strict, any was "
        "not carried over): nothing is written then; 2 when the file is unusable.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--format",
        dest="foreign_format",
        choices=formats,
        help="the input's format (default: detected from the content)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1, nothing written) when any element is not carried over",
    )
    p.add_argument("--name", help="policy name (default: the file's, or its file name)")
    p.add_argument(
        "--version",
        type=int,
        metavar="N",
        help="policy version (default: WDAC's VersionEx, else 1)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="POLICY",
        help="write here (format by extension: .toml or .json); default: stdout as TOML",
    )
    p.set_defaults(func=input_errors(_cmd_policy_import))

    p = psub.add_parser(
        "export",
        help="write a policy as an AppLocker or WDAC policy or Santa rules",
        description="Write POLICY as an AppLocker policy, a WDAC SiPolicy XML or Santa rules, "
        "deterministically. What the format cannot hold is reported on stderr; with "
        "--strict that is exit 1 and nothing is written.",
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--format", dest="foreign_format", choices=formats, required=True)
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1, nothing written) when anything cannot be written",
    )
    p.set_defaults(func=input_errors(_cmd_policy_export))

    p = psub.add_parser(
        "from-events",
        help="allow rules for the programs audit and block events name",
        description="Make one allow rule per program named by CodeIntegrity 3076/3077 and "
        "AppLocker 8003/8004 events, from the XML 'wevtutil qe CHANNEL /f:xml' prints, or "
        ".evtx logs with the evtx package installed, and by the driver's own deny events "
        "(an .etl converted with Get-WinEvent ... ToXml() or tracerpt -of XML; see "
        "docs/interop.md). What was seen "
        "goes to stderr. With --merge, the rules are added to that policy (programs it "
        "denies get no rule).",
    )
    p.add_argument("logs", nargs="+", metavar="LOG")
    p.add_argument("--merge", metavar="POLICY", help="add the rules to this policy")
    p.add_argument("--name", help="policy name (default: from-events, or the merged one's)")
    p.add_argument("--version", type=int, metavar="N", help="policy version")
    p.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.ENFORCE.value,
        help="mode of a new policy (default: enforce)",
    )
    p.add_argument(
        "--level",
        choices=[level.value for level in EventLevel],
        default=EventLevel.HASH.value,
        help="hash: a rule per file; publisher: a rule per signer from 3089 events, hash rules "
        "for the rest (default: hash)",
    )
    add_output_options(p)
    p.set_defaults(func=input_errors(_cmd_policy_from_events))
