"""``exewhitelist compile | inspect | deploy``: the blob the driver loads, written, shown and
turned into the registry value the driver reads."""

from __future__ import annotations

import argparse

from ..blob import compile_policy_file, read_blob
from ..deploy import DEFAULT_SERVICE, reg_file
from ..errors import PolicyProblem
from ..fileio import write_atomically
from ._common import (
    EXIT_OK,
    Subparsers,
    add_boot_safety_options,
    blob_bytes,
    boot_problems,
    input_errors,
    load_blob,
    to_stdout,
)
from ._output import emit
from ._results.blob import BlobReport, Compiled
from ._results.policy import Problems

__all__ = ["add_deploy_parser", "add_parsers"]


def _cmd_compile(args: argparse.Namespace) -> int:
    warnings: list[PolicyProblem] = []
    blob = compile_policy_file(args.policy, warnings=warnings)
    # They do not stop the compile; stdout may be the blob.
    emit([Problems(args.policy, tuple(warnings))], as_json=False)
    compiled = read_blob(blob)
    # The flag is the acknowledgement: nothing more to say then.
    unbootable = [] if args.allow_unbootable else boot_problems(compiled, args)
    result = Compiled(args.policy, unbootable[0] if unbootable else None)
    status = emit([result], as_json=False)
    if status != EXIT_OK:
        return status
    if args.output == "-":
        to_stdout(blob)
    else:
        write_atomically(args.output, blob)
    return EXIT_OK


def _cmd_inspect(args: argparse.Namespace) -> int:
    return emit([BlobReport.of(load_blob(args.blob))], args.json)


def _cmd_deploy(args: argparse.Namespace) -> int:
    data = reg_file(blob_bytes(args.blob), args.service)
    if args.reg_file == "-":
        to_stdout(data)
    else:
        write_atomically(args.reg_file, data)
    return EXIT_OK


def add_parsers(sub: Subparsers) -> None:
    """``compile`` and ``inspect``; ``deploy`` is apart (:func:`add_deploy_parser`): the top
    level's help lists it after ``check``."""
    p = sub.add_parser(
        "compile",
        help="compile a policy file into the blob the driver loads",
        description="Validate POLICY (TOML or JSON) and write the compiled blob "
        "(docs/blob-format.md). The same policy always gives the same bytes, whatever "
        "the order of its rules. Exit code 2 when the policy has errors.",
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("-o", "--output", required=True, metavar="BLOB", help="'-' for stdout")
    add_boot_safety_options(p)
    p.set_defaults(func=input_errors(_cmd_compile))

    p = sub.add_parser(
        "inspect",
        help="show a compiled blob: header, counts, every rule",
        description="Validate BLOB completely and print its header, rule counts and "
        "rules. Exit code 2 when it is invalid (the pinned error code is printed).",
    )
    p.add_argument("blob", metavar="BLOB", help="the compiled blob, or - for stdin")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=input_errors(_cmd_inspect))


def add_deploy_parser(sub: Subparsers) -> None:
    """``deploy``."""
    p = sub.add_parser(
        "deploy",
        help="write the registry value the driver reads, as a .reg file",
        description="Validate BLOB and write a .reg file (regedit / 'reg import') that "
        "sets HKLM\\SYSTEM\\CurrentControlSet\\Services\\SERVICE\\Parameters\\Policy "
        "(REG_BINARY) to it. The running driver reloads it at once. Exit code 2 when the "
        "blob is invalid.",
    )
    p.add_argument("blob", metavar="BLOB", help="the compiled blob, or - for stdin")
    p.add_argument("--reg-file", required=True, metavar="OUT.reg", help="'-' for stdout")
    p.add_argument("--service", default=DEFAULT_SERVICE, help="default: %(default)s")
    p.set_defaults(func=input_errors(_cmd_deploy))
