"""``exewhitelist policy``: new, validate, from-hashes, from-scan, merge, diff; the group's
other subcommands are in :mod:`.edit` (rule, set-mode) and :mod:`.interop` (import, export,
from-events)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..blob import compile_policy, read_blob
from ..policy import Mode
from ..policyfile import load_policy, validate_policy_file
from ..policyops import Level, diff_policies, merge_policies, policy_from_hashes, policy_from_scan
from ..templates import TEMPLATES, template_policy
from . import edit, interop
from ._common import (
    EXIT_OK,
    Subparsers,
    add_boot_safety_options,
    add_output_options,
    boot_problems,
    input_errors,
    parse_variables,
    read_hash_records,
    write_policy,
)
from ._output import emit
from ._results.policy import FromRecords, PolicyChanges, ProblemLine, Validation

__all__ = ["add_parsers"]


def _cmd_policy_validate(args: argparse.Namespace) -> int:
    policy, problems = validate_policy_file(args.file)
    if policy is not None:
        unbootable = boot_problems(read_blob(compile_policy(policy)), args)
        problems = [*problems, *unbootable]
        if any(p.severity == "error" for p in unbootable):
            policy = None
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors if policy is None else len(problems)
    return emit(
        [
            *(ProblemLine(args.file, problem) for problem in problems),
            Validation(args.file, policy, errors, warnings),
        ],
        args.json,
    )


def _cmd_policy_from_hashes(args: argparse.Namespace) -> int:
    records = read_hash_records(args.hashes)
    name = args.name or ("stdin" if args.hashes == "-" else Path(args.hashes).stem)
    policy, skipped = policy_from_hashes(
        records,
        name=name,
        version=args.version,
        mode=Mode(args.mode),
        path_rule_folders=args.path_rule_folder,
        variables=parse_variables(args.var) if args.var else None,
    )
    emit([FromRecords(tuple(skipped))], as_json=False)
    write_policy(policy, args.output, args.format)
    return EXIT_OK


def _cmd_policy_new(args: argparse.Namespace) -> int:
    policy = template_policy(args.template, args.name, args.version, Mode(args.mode))
    write_policy(policy, args.output, args.format)
    return EXIT_OK


def _levels(text: str) -> list[Level]:
    """``--fallback LEVEL,...``: levels in order."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    try:
        return [Level(name) for name in names]
    except ValueError:
        known = ", ".join(level.value for level in Level)
        raise argparse.ArgumentTypeError(f"levels are {known}: {text!r}") from None


def _cmd_policy_from_scan(args: argparse.Namespace) -> int:
    records = read_hash_records(args.hashes)
    name = args.name or ("stdin" if args.hashes == "-" else Path(args.hashes).stem)
    policy, skipped, notes = policy_from_scan(
        records,
        name=name,
        level=Level(args.level),
        fallback=args.fallback,
        version=args.version,
        mode=Mode(args.mode),
        path_rule_folders=args.path_rule_folder,
        variables=parse_variables(args.var) if args.var else None,
    )
    emit([FromRecords(tuple(skipped), tuple(notes))], as_json=False)
    write_policy(policy, args.output, args.format)
    return EXIT_OK


def _cmd_policy_merge(args: argparse.Namespace) -> int:
    policies = [load_policy(path) for path in args.policies]
    merged = merge_policies(policies, name=args.name, version=args.version)
    write_policy(merged, args.output, args.format)
    return EXIT_OK


def _cmd_policy_diff(args: argparse.Namespace) -> int:
    diff = diff_policies(load_policy(args.old), load_policy(args.new))
    return emit([PolicyChanges(diff)], args.json)


def _add_from_records_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--name", help="policy name (default: the input's file name without extension)"
    )
    parser.add_argument(
        "--version", type=int, default=1, metavar="N", help="policy version (default: 1)"
    )
    parser.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.ENFORCE.value,
        help="default: enforce",
    )
    add_output_options(parser)
    parser.set_defaults(func=input_errors(_cmd_policy_from_hashes))


def add_parsers(sub: Subparsers) -> None:
    """``policy`` and its subcommands, those of :mod:`.edit` and :mod:`.interop` included."""
    p_policy = sub.add_parser(
        "policy",
        help="validate, create, merge and compare policy files",
        description="Work with policy files (TOML or JSON, by extension; see docs/policy.md).",
    )
    psub = p_policy.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")

    p = psub.add_parser(
        "validate",
        help="report every problem in a policy file",
        description="Print every problem in a policy file, one per line, with its line, rule "
        "position and id. Exit code 1 when any is an error (warnings alone exit 0), 2 when "
        "the file cannot be read.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per problem")
    add_boot_safety_options(p)
    p.set_defaults(func=input_errors(_cmd_policy_validate))

    p = psub.add_parser(
        "new",
        help="a policy to start from (AppLocker's default rules)",
        description="Write a new policy from a template. 'default' allows %WINDIR%\\* "
        "except the folders under it ordinary users can write to, and %PROGRAMFILES%\\*: "
        "AppLocker's default rules, which keep Windows bootable (docs/policy.md, "
        "'Templates'). New policies start in audit mode.",
    )
    p.add_argument("--template", choices=sorted(TEMPLATES), default="default")
    p.add_argument("--name", default="default", help="policy name (default: default)")
    p.add_argument(
        "--version", type=int, default=1, metavar="N", help="policy version (default: 1)"
    )
    p.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.AUDIT.value,
        help="default: audit (collect what would be denied first)",
    )
    add_output_options(p)
    p.set_defaults(func=input_errors(_cmd_policy_new))

    p = psub.add_parser(
        "from-hashes",
        help="an allow-list policy from 'exewhitelist hash --json' output",
        description="Make a policy that allows every file in the output of "
        "'exewhitelist hash --json': PE images by Authenticode SHA-256, other files by "
        "SHA-256. Records of files that could not be read get a warning on stderr and no "
        "rule.",
    )
    p.add_argument("hashes", metavar="HASHES.jsonl", help="the hash records, or - for stdin")
    _add_from_records_options(p)
    p.set_defaults(path_rule_folder=[], var=[])

    p = psub.add_parser(
        "from-scan",
        help="an allow-list policy from 'exewhitelist scan' output",
        description="Make a policy that allows every file in the output of "
        "'exewhitelist scan' as 'from-hashes' does, except that the files under each "
        "--path-rule-folder (by their windows_path: scan with --as; every hard link's path "
        "must be under one) are allowed by one path rule FOLDER\\* instead. A folder may "
        "start with a variable (%%PROGRAMFILES%%\\Contoso), matched through the image's "
        "values: Windows in the Windows folder of the --as drive, or --var. Hash rules are "
        "named after the file's Windows path. Records with an error (unreadable files, "
        "truncated PE images) and empty files get a warning on stderr and no rule.",
    )
    p.add_argument("hashes", metavar="SCAN.jsonl", help="the scan records, or - for stdin")
    p.add_argument(
        "--path-rule-folder",
        action="append",
        default=[],
        metavar="WINDOWS_FOLDER",
        help="allow this folder by one path rule rather than its files by hash (repeatable)",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a path variable's value on the image, as for 'check' (repeat for several)",
    )
    p.add_argument(
        "--level",
        choices=[level.value for level in Level],
        default=Level.HASH.value,
        help="the rule each file gets, as New-CIPolicy -Level (docs/policy.md, 'policy "
        "from-scan --level'); default: hash",
    )
    p.add_argument(
        "--fallback",
        type=_levels,
        default=[],
        metavar="LEVEL,...",
        help="levels to try, in order, for a file --level does not apply to (say: no valid "
        "signature); a file none applies to gets no rule (a warning), unless a catalog "
        "signs it: then a hash rule",
    )
    _add_from_records_options(p)
    p.set_defaults(func=input_errors(_cmd_policy_from_scan))

    p = psub.add_parser(
        "merge",
        help="the union of several policies",
        description="Write the union of the policies' rules. Rules that match the same thing "
        "with the same action collapse into the first; an id naming different rules, or a "
        "hash allowed in one policy and denied in another, is an error (exit 2). The name and "
        "mode are the first policy's, the version the highest, unless given. With one policy "
        "this converts it between TOML and JSON.",
    )
    p.add_argument("policies", nargs="+", metavar="POLICY")
    p.add_argument("--name", help="name of the merged policy (default: the first's)")
    p.add_argument(
        "--version", type=int, metavar="N", help="version of the merged policy (default: highest)"
    )
    add_output_options(p)
    p.set_defaults(func=input_errors(_cmd_policy_merge))

    p = psub.add_parser(
        "diff",
        help="compare two policies",
        description="Show what changed from OLD to NEW: header fields, and rules (matched by "
        "id) removed (-), added (+) and changed (~). Exit code 0 when identical, 1 when they "
        "differ, 2 when a file cannot be read or is invalid.",
    )
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=input_errors(_cmd_policy_diff))
    edit.add_parsers(psub)

    interop.add_parsers(psub)
