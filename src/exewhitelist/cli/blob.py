"""``exewhitelist compile | inspect | deploy``: the blob the driver loads, written, shown and
turned into the registry value the driver reads."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ..blob import compile_policy_file, read_blob
from ..blob._format import HeaderField, Section
from ..blob.read import Blob
from ..deploy import DEFAULT_SERVICE, reg_file
from ..errors import PolicyProblem
from ..fileio import write_atomically
from ._common import (
    EXIT_OK,
    EXIT_USAGE,
    Subparsers,
    add_boot_safety_options,
    blob_bytes,
    boot_problems,
    input_errors,
    json_line,
    load_blob,
    to_stdout,
)

__all__ = ["add_deploy_parser", "add_parsers"]


def _cmd_compile(args: argparse.Namespace) -> int:
    warnings: list[PolicyProblem] = []
    blob = compile_policy_file(args.policy, warnings=warnings)
    for problem in warnings:  # they do not stop the compile; stdout may be the blob
        print(f"{args.policy}: {problem}", file=sys.stderr)
    compiled = read_blob(blob)
    if not args.allow_unbootable:  # the flag is the acknowledgement: nothing more to say
        for problem in boot_problems(compiled, args):
            print(f"{args.policy}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    if args.output == "-":
        to_stdout(blob)
    else:
        write_atomically(args.output, blob)
    return EXIT_OK


def _inspect_json(blob: Blob) -> dict[str, Any]:
    return {
        "name": blob.name,
        "policy_version": blob.policy_version,
        "mode": blob.mode.value,
        "format_version": f"1.{blob.version_minor}",
        "size": len(blob.data),
        "checksum": f"{HeaderField.CHECKSUM.read(blob.data):08x}",
        "sections": {
            (
                Section(section_id).name
                if section_id in Section._value2member_map_
                else f"optional_0x{section_id:x}"
            ): {"offset": o, "size": n, "count": c}
            for section_id, (o, n, c) in sorted(blob.sections.items())
        },
        "rules": [
            {"id": rule_id, "action": action.value, "kind": kind.value, "value": value}
            for rule_id, action, kind, value in blob.rule_records()
        ],
    }


def _cmd_inspect(args: argparse.Namespace) -> int:
    blob = load_blob(args.blob)
    info = _inspect_json(blob)
    out: TextIO = sys.stdout
    if args.json:
        out.write(json_line(info))
        return EXIT_OK
    out.write(
        f"policy {info['name']!r} version {info['policy_version']}, mode {info['mode']}\n"
        f"format {info['format_version']}, {info['size']} bytes, CRC-32 {info['checksum']}\n"
    )
    counts: dict[str, int] = {}
    for rule in info["rules"]:
        key = f"{rule['action']} {rule['kind']}"
        counts[key] = counts.get(key, 0) + 1
    out.write(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no rules")
    out.write("\n")
    for rule in info["rules"]:
        out.write(f"{rule['action']:<5}  {rule['kind']:<19}  {rule['value']}  {rule['id']}\n")
    return EXIT_OK


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
