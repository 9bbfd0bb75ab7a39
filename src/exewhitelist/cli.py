"""The ``exewhitelist`` command.

Exit codes: 0 success; 1 a negative result (``hash``, ``scan``: some input
failed, the others are still reported; ``policy validate``: the file has errors;
``policy diff``: the policies differ); 2 bad arguments or unusable input
(one line on stderr says why).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import functools
import io
import json
import os
import re
import signal
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .blob import compile_policy, compile_policy_file, read_blob
from .blob._format import HASH_SECTIONS, MAX_BLOB_SIZE, Decided, HeaderField, Section
from .blob.read import Blob
from .bootsafety import check_boot_safety, describe_boot_problems
from .catalog import CatalogIndex, CatalogMatch
from .deploy import DEFAULT_SERVICE, reg_file
from .errors import ExewhitelistError, InputError, PolicyError, PolicyProblem
from .fileio import atomic_output, open_regular_file, read_regular_file, write_atomically
from .hashing import FileHashes, hash_file
from .imagecheck import (
    ECDSA_NOTE,
    FileChange,
    FileVerdict,
    PolicyDecider,
    decide_file,
    decide_records,
    diff_scans,
    ecdsa_only,
    signer_facts_json,
    signers,
)
from .interop import Finding, ForeignFormat, export_policy, import_policy
from .interop.events import Level as EventLevel
from .interop.events import rules_from_events
from .policy import VARIABLES, Action, Mode, Policy, RuleKind
from .policyedit import add_rule, remove_rules, replace_rule, set_mode
from .policyfile import (
    Format,
    dumps_json,
    dumps_toml,
    load_policy,
    publisher_from_data,
    save_policy,
    validate_policy_file,
)
from .policyops import Level, diff_policies, merge_policies, policy_from_hashes, policy_from_scan
from .progress import ProgressLine
from .rules import (
    Condition,
    HashRule,
    Need,
    Publisher,
    PublisherRule,
    Rule,
    hash_rule,
    make_condition,
    make_rule,
    signer_facts,
)
from .scan import ScanOptions, count_files, examine_file, scan
from .signatures import Certificate, Signature
from .staging import REASON_TEXTS
from .templates import TEMPLATES, template_policy
from .winpath import image_variables, normalized_windows_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

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


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_line(value: Any) -> str:
    """One JSON line, non-ASCII text as itself, but a lone surrogate (a byte of a file
    name that is not UTF-8, PEP 383) as its ``\\udcXX`` escape: valid UTF-8 JSON that
    every reader takes back to the same name."""
    text = json.dumps(value, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


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
    index = _catalog_index(args.catalogs)
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
        if index is not None:
            result = dataclasses.replace(result, catalog=_lookup(index, result))
        if args.json:
            out.write(json.dumps(result.to_json()) + "\n")
        else:
            _print_human(result, out)
    out.flush()
    return EXIT_FAILED if failed else EXIT_OK


_Command = Callable[[argparse.Namespace], int]


def _input_errors(command: _Command) -> _Command:
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


def _cmd_policy_validate(args: argparse.Namespace) -> int:
    policy, problems = validate_policy_file(args.file)
    if policy is not None:
        unbootable = _boot_problems(read_blob(compile_policy(policy)), args)
        problems = [*problems, *unbootable]
        if any(p.severity == "error" for p in unbootable):
            policy = None
    out: TextIO = sys.stdout
    for problem in problems:
        if args.json:
            record = {
                "file": args.file,
                "line": problem.line,
                "rule_index": problem.rule_index,
                "rule_id": problem.rule_id,
                "severity": problem.severity,
                "message": problem.message,
            }
            out.write(_json_line(record))
        else:
            out.write(f"{args.file}: {problem}\n")
    errors = sum(p.severity == "error" for p in problems)
    if not args.json:
        if policy is None:
            warnings = len(problems) - errors
            out.write(f"{args.file}: invalid: {errors} error(s), {warnings} warning(s)\n")
        else:
            out.write(
                f"{args.file}: valid: {len(policy.rules)} rule(s), mode {policy.mode}, "
                f"{len(problems)} warning(s)\n"
            )
    return EXIT_FAILED if errors else EXIT_OK


def _boot_problems(blob: Blob, args: argparse.Namespace) -> list[PolicyProblem]:
    """Never brick (exewhitelist.bootsafety): one error, a warning with --allow-unbootable."""
    records = _read_hash_records(args.image) if args.image else None
    denied = check_boot_safety(blob, records)
    if not denied:
        return []
    return [
        PolicyProblem(
            describe_boot_problems(denied),
            severity="warning" if args.allow_unbootable else "error",
        )
    ]


def _add_boot_safety_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--image",
        metavar="SCAN.jsonl",
        help="golden-image scan records ('scan --as'): boot-critical images allowed by "
        "their recorded digests count as allowed",
    )
    p.add_argument(
        "--allow-unbootable",
        action="store_true",
        help="accept an enforce-mode policy that denies a boot-critical image (a warning)",
    )


def _read_hash_records(source: str) -> list[dict[str, Any]]:
    """The JSON lines of ``exewhitelist hash --json`` from a file or ``-`` (stdin)."""
    return list(_iter_hash_records(source))


def _iter_hash_records(source: str) -> Iterator[dict[str, Any]]:
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
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise PolicyError(f"{label}: line {number}: not JSON: {e}") from None
            if not isinstance(record, dict):
                raise PolicyError(f"{label}: line {number}: not a JSON object")
            yield record


_STDOUT_PIECE = 1 << 16


def _to_stdout(data: bytes) -> None:
    """Write ``data`` to stdout a piece at a time: a reader that goes away (``| head``) is
    noticed (BrokenPipeError), where one large write can be taken whole by a pipe and lost."""
    out = sys.stdout.buffer
    for start in range(0, len(data), _STDOUT_PIECE):
        out.write(data[start : start + _STDOUT_PIECE])
        out.flush()


def _write_policy(policy: Policy, output: str | None, fmt: Format | None) -> None:
    """To ``output`` (format by extension unless ``fmt``), or to stdout (TOML unless ``fmt``)."""
    if output is None or output == "-":
        text = dumps_json(policy) if fmt == "json" else dumps_toml(policy)
        sys.stdout.flush()
        _to_stdout(text.encode())
    else:
        save_policy(policy, output, fmt)


def _cmd_policy_from_hashes(args: argparse.Namespace) -> int:
    records = _read_hash_records(args.hashes)
    name = args.name or ("stdin" if args.hashes == "-" else Path(args.hashes).stem)
    policy, skipped = policy_from_hashes(
        records,
        name=name,
        version=args.version,
        mode=Mode(args.mode),
        path_rule_folders=args.path_rule_folder,
        variables=_variables(args.var) if args.var else None,
    )
    for record in skipped:
        path, error = str(record.get("path")), str(record.get("error"))
        reason = error if path in error else f"{path}: {error}"  # hash's errors name the file
        print(f"exewhitelist: warning: no rule: {reason}", file=sys.stderr)
    _write_policy(policy, args.output, args.format)
    return EXIT_OK


def _cmd_policy_new(args: argparse.Namespace) -> int:
    policy = template_policy(args.template, args.name, args.version, Mode(args.mode))
    _write_policy(policy, args.output, args.format)
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
    records = _read_hash_records(args.hashes)
    name = args.name or ("stdin" if args.hashes == "-" else Path(args.hashes).stem)
    policy, skipped, notes = policy_from_scan(
        records,
        name=name,
        level=Level(args.level),
        fallback=args.fallback,
        version=args.version,
        mode=Mode(args.mode),
        path_rule_folders=args.path_rule_folder,
        variables=_variables(args.var) if args.var else None,
    )
    for record in skipped:
        path, error = str(record.get("path")), str(record.get("error"))
        reason = error if path in error else f"{path}: {error}"
        print(f"exewhitelist: warning: no rule: {reason}", file=sys.stderr)
    for note in notes:
        print(f"exewhitelist: note: {note}", file=sys.stderr)
    _write_policy(policy, args.output, args.format)
    return EXIT_OK


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
    if records.catalogs is not None:
        _report_catalogs(records.catalogs)
    for pattern in records.unused_excludes:
        print(f"exewhitelist: warning: --exclude {pattern!r} matched nothing", file=sys.stderr)
    summary = records.summary
    print(summary.line(), file=sys.stderr)
    return EXIT_FAILED if summary.errors else EXIT_OK


def _add_scan_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    p.set_defaults(func=_input_errors(_cmd_scan))


def _report_catalogs(index: CatalogIndex) -> None:
    for error in index.errors:
        print(f"exewhitelist: warning: catalog not used: {error}", file=sys.stderr)
    print(
        f"catalogs: {len(index.catalogs)} read, {len(index)} member digests, "
        f"{len(index.errors)} unusable",
        file=sys.stderr,
    )


def _print_certificate(cert: Certificate, label: str, out: TextIO) -> None:
    out.write(f"    {label}: {cert.subject}\n")
    out.write(f"      issuer:      {cert.issuer}\n")
    out.write(f"      serial:      {cert.serial}\n")
    out.write(f"      valid:       {cert.not_before} to {cert.not_after}\n")
    out.write(f"      key:         {cert.key}\n")
    out.write(f"      thumbprint:  sha256 {cert.sha256}\n")
    out.write(f"      tbs hash:    {cert.tbs_algorithm} {cert.tbs_hash}\n")
    out.write(f"      publisher:   {cert.publisher}\n")


def _print_signature(sig: Signature, title: str, out: TextIO) -> None:
    out.write(f"  {title}: {sig.status.value.upper()}: {sig.reason}\n")
    if sig.digest is not None:
        bound = {True: "matches the file", False: "DOES NOT match the file", None: "not compared"}
        out.write(
            f"    digest: {sig.digest_algorithm} {sig.digest} ({bound[sig.digest_matches]})\n"
        )
    out.write(f"    signing time: {sig.signing_time or 'none (no timestamp)'}\n")
    for depth, cert in enumerate(sig.chain):
        _print_certificate(cert, "signer" if depth == 0 else f"issuer {depth}", out)
    if sig.chain:
        out.write(
            "    chain: ends with a self-signed root\n"
            if sig.chain_complete
            else "    chain: the root is not embedded\n"
        )


def _catalog_index(folder: str | None) -> CatalogIndex | None:
    if folder is None:
        return None
    index = CatalogIndex.of_directory(folder)
    _report_catalogs(index)
    return index


def _lookup(index: CatalogIndex, result: FileHashes) -> CatalogMatch | None:
    return index.lookup((result.authenticode_sha256, result.authenticode_sha1, result.sha256))


def _cmd_signers(args: argparse.Namespace) -> int:
    index = _catalog_index(args.catalogs)
    out: TextIO = sys.stdout
    unsigned = False
    for path in args.files:
        try:
            result = hash_file(path)
        except ExewhitelistError as e:
            unsigned = True
            if args.json:
                out.write(json.dumps({"path": path, "error": str(e)}) + "\n")
            print(f"exewhitelist: {e}", file=sys.stderr)
            continue
        signatures = result.signatures or ()
        catalog = _lookup(index, result) if index is not None else None
        if not any(s.valid for s in signatures) and not (catalog and catalog.signature.valid):
            unsigned = True
        if args.json:
            record = {
                "path": path,
                "signatures": [s.to_json() for s in signatures],
                "catalog": catalog.to_json() if catalog else None,
            }
            out.write(json.dumps(record) + "\n")
            continue
        out.write(f"{path}:\n")
        if not signatures and catalog is None:
            out.write("  not signed (no embedded signature")
            out.write(", not in any catalog)\n" if index is not None else ")\n")
        for number, sig in enumerate(signatures, 1):
            nested = f", nested in entry {sig.entry}" if sig.nesting else f", entry {sig.entry}"
            _print_signature(sig, f"signature {number}{nested}", out)
        if catalog is not None:
            _print_signature(catalog.signature, f"catalog {catalog.path}", out)
    out.flush()
    return EXIT_FAILED if unsigned else EXIT_OK


def _cmd_policy_merge(args: argparse.Namespace) -> int:
    policies = [load_policy(path) for path in args.policies]
    merged = merge_policies(policies, name=args.name, version=args.version)
    _write_policy(merged, args.output, args.format)
    return EXIT_OK


def _cmd_policy_diff(args: argparse.Namespace) -> int:
    diff = diff_policies(load_policy(args.old), load_policy(args.new))
    if args.json:
        sys.stdout.write(_json_line(diff.to_json()))
    else:
        sys.stdout.writelines(line + "\n" for line in diff.lines())
    return EXIT_OK if diff.identical else EXIT_FAILED


def _add_output_options(parser: argparse.ArgumentParser) -> None:
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
    _add_output_options(parser)
    parser.set_defaults(func=_input_errors(_cmd_policy_from_hashes))


# ---------------------------------------------------- rule editing: policy rule, set-mode

_KIND_OPTIONS = {
    "path": RuleKind.PATH,
    "authenticode_sha256": RuleKind.AUTHENTICODE_SHA256,
    "file_sha256": RuleKind.FILE_SHA256,
    "publisher": RuleKind.PUBLISHER,
}


def _table_arg(text: str, what: str) -> Any:
    """A table given on the command line: JSON (``{"certificate": "sha256:…"}``) or a TOML
    inline table (``{ certificate = "sha256:…" }``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        raise PolicyError(f"{what}: not a JSON object or a TOML inline table: {text!r}") from None


def _publisher_arg(text: str, what: str) -> Publisher:
    reasons: list[str] = []
    publisher = publisher_from_data(_table_arg(text, what), reasons, what)
    if publisher is None:
        raise PolicyError("; ".join(reasons))
    return publisher


def _exceptions_from_args(args: argparse.Namespace, old: Rule | None) -> tuple[Condition, ...]:
    """``--exception KIND=VALUE`` (all of them replace the old rule's), ``--no-exceptions``."""
    given: list[str] = getattr(args, "exception", None) or []
    if getattr(args, "no_exceptions", False):
        if given:
            raise PolicyError("--exception and --no-exceptions: give one of them")
        return ()
    if not given:
        return old.exceptions if old is not None else ()
    conditions: list[Condition] = []
    for number, text in enumerate(given, 1):
        key, sep, value = text.partition("=")
        key = key.strip().replace("-", "_")
        where = f"--exception {number}"
        if not sep or key not in _KIND_OPTIONS:
            raise PolicyError(
                f"{where}: write KIND=VALUE with KIND one of {', '.join(_KIND_OPTIONS)}: {text!r}"
            )
        kind = _KIND_OPTIONS[key]
        try:
            if kind is RuleKind.PUBLISHER:
                conditions.append(_publisher_arg(value, f"{where}: publisher"))
            else:
                conditions.append(make_condition(kind, value))
        except PolicyError as e:
            raise PolicyError(f"{where}: {e.message}") from None
    return tuple(conditions)


def _rule_from_args(args: argparse.Namespace, old: Rule | None = None) -> Rule:
    """The rule the options describe; for ``set``, the old rule's fields where not given."""
    given = [(kind, getattr(args, key)) for key, kind in _KIND_OPTIONS.items()]
    given = [(kind, value) for kind, value in given if value is not None]
    if len(given) > 1:
        raise PolicyError("give one of --path, --authenticode-sha256, --file-sha256, --publisher")
    value: str | Publisher
    if given:
        kind, text = given[0]
        value = _publisher_arg(text, "--publisher") if kind is RuleKind.PUBLISHER else text
    elif old is not None:
        kind = old.kind
        value = old.condition if isinstance(old, PublisherRule) else old.value
    else:
        raise PolicyError(
            "give what the rule matches: --path, --authenticode-sha256, --file-sha256 or "
            "--publisher"
        )
    action = Action(args.action) if args.action else (old.action if old else Action.ALLOW)
    explicit = getattr(args, "id", None) or getattr(args, "new_id", None)
    if (
        explicit is None
        and old is not None
        and not (isinstance(old, HashRule) and old.explicit_id is None)
    ):
        explicit = old.id
    name = args.rule_name if args.rule_name is not None else (old.name if old else "")
    comment = args.comment if args.comment is not None else (old.comment if old else "")
    exceptions = _exceptions_from_args(args, old if old is not None and old.kind is kind else None)
    if kind in (RuleKind.PATH, RuleKind.PUBLISHER):
        if explicit is None:
            raise PolicyError(f"a {kind.value} rule needs an id: give --id")
        return make_rule(explicit, action, kind, value, name, comment, exceptions)
    if exceptions:
        raise PolicyError("a hash rule has no exceptions (only path and publisher rules do)")
    assert isinstance(value, str)  # noqa: S101 - a hash kind's value
    return hash_rule(kind, value.lower(), action, id=explicit, name=name, comment=comment)


def _report_edit(path: str, what: str, problems: Sequence[PolicyProblem]) -> int:
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    print(f"{path}: {what}", file=sys.stderr)
    return EXIT_OK


def _cmd_rule_add(args: argparse.Namespace) -> int:
    rule = _rule_from_args(args)
    _, problems = add_rule(args.policy, rule)
    return _report_edit(args.policy, f"added rule {rule.id}", problems)


def _cmd_rule_remove(args: argparse.Namespace) -> int:
    _, problems = remove_rules(args.policy, args.ids)
    return _report_edit(args.policy, f"removed {len(args.ids)} rule(s)", problems)


def _cmd_rule_set(args: argparse.Namespace) -> int:
    old = next((r for r in load_policy(args.policy).rules if r.id == args.rule_id), None)
    if old is None:
        raise PolicyError(f"{args.policy}: no rule with id {args.rule_id!r}")
    rule = _rule_from_args(args, old)
    _, problems = replace_rule(args.policy, args.rule_id, rule)
    return _report_edit(args.policy, f"changed rule {args.rule_id}", problems)


def _cmd_set_mode(args: argparse.Namespace) -> int:
    _, problems = set_mode(args.policy, Mode(args.mode))
    return _report_edit(args.policy, f"mode {args.mode}", problems)


def _rule_fields(p: argparse.ArgumentParser, action_default: str | None) -> None:
    p.add_argument("--path", metavar="PATTERN", help="a path rule (docs/policy.md, path patterns)")
    p.add_argument("--authenticode-sha256", metavar="HEX", help="an Authenticode hash rule")
    p.add_argument("--file-sha256", metavar="HEX", help="a file hash rule")
    p.add_argument(
        "--publisher",
        metavar="TABLE",
        help="a publisher rule: its table as JSON or a TOML inline table, say "
        '\'{ certificate = "sha256:…", common_name = "Contoso Ltd" }\' (docs/policy.md, '
        "'Publisher rules')",
    )
    p.add_argument(
        "--exception",
        action="append",
        metavar="KIND=VALUE",
        help="an exception of a path or publisher rule (repeatable; for 'set', they replace "
        "the rule's): path=PATTERN, authenticode_sha256=HEX, file_sha256=HEX, "
        "publisher=TABLE",
    )
    p.add_argument(
        "--no-exceptions", action="store_true", help="'set': remove the rule's exceptions"
    )
    p.add_argument(
        "--action",
        choices=[a.value for a in Action],
        default=action_default,
        help="allow or deny" + (" (default: allow)" if action_default else ""),
    )
    p.add_argument("--name", dest="rule_name", metavar="TEXT", help="the rule's name")
    p.add_argument("--comment", metavar="TEXT", help="the rule's comment")


def _add_rule_parsers(psub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edits = (
        "The file is edited in place, atomically, only when the result validates (errors: "
        "exit 2, nothing written; warnings go to stderr). A TOML file keeps its rule order, "
        "# comments and layout; a JSON file its rule order (docs/policy.md, 'Editing')."
    )
    p_rule = psub.add_parser(
        "rule",
        help="add, remove or change one rule of a policy file",
        description="Edit the rules of a policy file. " + edits,
    )
    rsub = p_rule.add_subparsers(dest="rule_command", required=True, metavar="SUBCOMMAND")
    p = rsub.add_parser(
        "add",
        help="append a rule",
        description="Append a rule at the end of POLICY. A hash rule's id defaults to "
        "KIND:DIGEST; a path rule needs --id. " + edits,
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--id", metavar="ID", help="the rule's id")
    _rule_fields(p, Action.ALLOW.value)
    p.set_defaults(func=_input_errors(_cmd_rule_add))

    p = rsub.add_parser(
        "remove", help="remove rules by id", description="Remove rules by id. " + edits
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(func=_input_errors(_cmd_rule_remove))

    p = rsub.add_parser(
        "set",
        help="change fields of a rule",
        description="Change the fields given of the rule ID, where it is in the file; the "
        "others stay. " + edits,
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("rule_id", metavar="ID")
    p.add_argument("--new-id", metavar="ID", help="rename the rule")
    _rule_fields(p, None)
    p.set_defaults(func=_input_errors(_cmd_rule_set))

    p = psub.add_parser(
        "set-mode",
        help="switch a policy between audit and enforce",
        description="Set POLICY's mode: audit (decisions reported, nothing blocked) or "
        "enforce. " + edits,
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("mode", choices=[m.value for m in Mode])
    p.set_defaults(func=_input_errors(_cmd_set_mode))


def _add_policy_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _add_boot_safety_options(p)
    p.set_defaults(func=_input_errors(_cmd_policy_validate))

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
    _add_output_options(p)
    p.set_defaults(func=_input_errors(_cmd_policy_new))

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
    p.set_defaults(func=_input_errors(_cmd_policy_from_scan))

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
    _add_output_options(p)
    p.set_defaults(func=_input_errors(_cmd_policy_merge))

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
    p.set_defaults(func=_input_errors(_cmd_policy_diff))
    _add_rule_parsers(psub)

    _add_interop_parsers(psub)


def _print_findings(source: str, findings: Sequence[Finding]) -> None:
    for finding in findings:
        print(f"{source}: {finding}", file=sys.stderr)


def _cmd_policy_import(args: argparse.Namespace) -> int:
    fmt = ForeignFormat(args.foreign_format) if args.foreign_format else None
    result = import_policy(args.file, fmt, name=args.name, version=args.version)
    _print_findings(args.file, result.findings)
    errors = len(result.errors)
    unmapped = len(result.findings) - errors
    summary = f"{args.file}: {result.format}: {errors} error(s), {unmapped} not carried over"
    if result.policy is None or errors or (args.strict and unmapped):
        why = " (--strict)" if result.policy is not None and not errors else ""
        print(f"{summary}: nothing written{why}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{summary}, {len(result.policy.rules)} rule(s) imported", file=sys.stderr)
    _write_policy(result.policy, args.output, None)
    return EXIT_OK


def _cmd_policy_export(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    result = export_policy(policy, ForeignFormat(args.foreign_format))
    _print_findings(args.policy, result.findings)
    if args.strict and result.findings:
        print(
            f"{args.policy}: {len(result.findings)} element(s) {result.format} cannot hold: "
            "nothing written (--strict)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if args.output is None or args.output == "-":
        sys.stdout.flush()
        _to_stdout(result.data)
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
    for finding in result.findings:
        print(f"exewhitelist: {finding}", file=sys.stderr)
    counts = ", ".join(f"{event} x{n}" for event, n in sorted(result.event_counts.items()))
    print(
        f"exewhitelist: {sum(result.event_counts.values())} event(s) read ({counts or 'none'})",
        file=sys.stderr,
    )
    for program in result.programs:
        print(
            f"exewhitelist: {program.kind.value} {program.digest} {program.name}: "
            f"{program.comment()}",
            file=sys.stderr,
        )
    if result.policy is None:
        return EXIT_FAILED
    policy = result.policy
    if base is not None:
        denied = {(r.kind, r.value) for r in base.rules if r.action is Action.DENY}
        kept = []
        for rule in policy.rules:
            if (rule.kind, rule.value) in denied:
                print(
                    f"exewhitelist: {rule.id}: denied by {args.merge}: no allow rule made",
                    file=sys.stderr,
                )
            else:
                kept.append(rule)
        policy = dataclasses.replace(policy, rules=tuple(kept))
        policy = merge_policies([base, policy], name=args.name, version=args.version)
    print(
        f"exewhitelist: {len(result.programs)} program(s), {len(policy.rules)} rule(s) written",
        file=sys.stderr,
    )
    _write_policy(policy, args.output, args.format)
    return EXIT_OK


def _add_interop_parsers(psub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    p.set_defaults(func=_input_errors(_cmd_policy_import))

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
    p.set_defaults(func=_input_errors(_cmd_policy_export))

    p = psub.add_parser(
        "from-events",
        help="allow rules for the programs audit and block events name",
        description="Make one allow rule per program named by CodeIntegrity 3076/3077 and "
        "AppLocker 8003/8004 events, from the XML 'wevtutil qe CHANNEL /f:xml' prints, or "
        ".evtx logs with the evtx package installed (see docs/interop.md). What was seen "
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
        help="hash: a rule per file; publisher: a rule per signer from 3089 events (default: hash)",
    )
    _add_output_options(p)
    p.set_defaults(func=_input_errors(_cmd_policy_from_events))


def _cmd_compile(args: argparse.Namespace) -> int:
    warnings: list[PolicyProblem] = []
    blob = compile_policy_file(args.policy, warnings=warnings)
    for problem in warnings:  # they do not stop the compile; stdout may be the blob
        print(f"{args.policy}: {problem}", file=sys.stderr)
    compiled = read_blob(blob)
    if not args.allow_unbootable:  # the flag is the acknowledgement: nothing more to say
        for problem in _boot_problems(compiled, args):
            print(f"{args.policy}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    if compiled.needs_signers:
        print(f"{args.policy}: warning: {_NEEDS_SIGNERS}", file=sys.stderr)
    if args.output == "-":
        _to_stdout(blob)
    else:
        write_atomically(args.output, blob)
    return EXIT_OK


def _blob_bytes(path: str) -> bytes:
    """A compiled blob's bytes from a file, or from stdin for ``-`` (``compile -o -`` |)."""
    if path != "-":
        return read_regular_file(path, MAX_BLOB_SIZE, "compiled blob")
    data = sys.stdin.buffer.read(MAX_BLOB_SIZE + 1)
    if len(data) > MAX_BLOB_SIZE:
        raise InputError(f"stdin: larger than any compiled blob ({MAX_BLOB_SIZE} bytes at most)")
    return data


def _load_blob(path: str) -> Blob:
    return read_blob(_blob_bytes(path))


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
    blob = _load_blob(args.blob)
    info = _inspect_json(blob)
    out: TextIO = sys.stdout
    if args.json:
        out.write(_json_line(info))
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


def _variables(assignments: Sequence[str]) -> dict[str, tuple[str, ...]]:
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


_NEEDS_SIGNERS = (
    "it has publisher rules or publisher exceptions, and the driver refuses such a policy "
    "(keeping the one it has) until it verifies signatures itself; check decides them"
)


def _cmd_deploy(args: argparse.Namespace) -> int:
    blob = _blob_bytes(args.blob)
    if read_blob(blob).needs_signers:
        raise PolicyError(f"{args.blob}: not deployed: {_NEEDS_SIGNERS}")
    data = reg_file(blob, args.service)
    if args.reg_file == "-":
        _to_stdout(data)
    else:
        write_atomically(args.reg_file, data)
    return EXIT_OK


def _decider(source: str) -> Blob | PolicyDecider:
    """``check``'s BLOB: a compiled blob, or a policy file (.toml, .json) decided by the model."""
    if source != "-" and Path(source).suffix.lower() in (".toml", ".json"):
        return PolicyDecider(load_policy(source))
    return _load_blob(source)


def _cmd_check(args: argparse.Namespace) -> int:
    blob = _decider(args.blob)
    variables = _variables(args.var)
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
            out.write(_json_line(record))
        else:
            verdict_text = decision.action.value.upper()
            if not decision.enforced:
                verdict_text += " (audit)"
            rule = REASON_TEXTS.get(reason) or decision.rule_id or "(no rule: default deny)"
            out.write(f"{verdict_text:<13}  {rule}  {file}\n")
    if failed:
        return EXIT_USAGE
    return EXIT_FAILED if denied else EXIT_OK


# ------------------------------------------------------- whole images: check --scan, scan diff


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
    for verdict in decide_records(blob, _iter_hash_records(args.scan), variables):
        decision = verdict.decision
        if args.json:
            out.write(_json_line(_verdict_json(verdict)))
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


def _signer_text(record: Mapping[str, Any] | None) -> str:
    found = signers(record) if record is not None else []
    return "; ".join(found) or "unsigned"


def _change_json(change: FileChange) -> dict[str, Any]:
    def side(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if record is None:
            return None
        return {
            "path": record.get("path"),
            "authenticode_sha256": record.get("authenticode_sha256"),
            "sha256": record.get("sha256"),
            "signers": signers(record),
            "error": record.get("error"),
        }

    return {"file": change.key, "old": side(change.old), "new": side(change.new)}


def _digest_text(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "-"
    if record.get("error"):
        return f"error: {record.get('error')}"
    auth = record.get("authenticode_sha256")
    return f"authenticode {auth}" if auth else f"sha256 {record.get('sha256')}"


def _cmd_scan_diff(args: argparse.Namespace) -> int:
    if args.old == args.new == "-":
        raise InputError("scan diff: stdin can be OLD or NEW, not both")
    diff = diff_scans(_iter_hash_records(args.old), _iter_hash_records(args.new))
    out: TextIO = sys.stdout
    if args.json:
        out.write(
            _json_line(
                {
                    "identical": diff.identical,
                    "added": [_change_json(c) for c in diff.added],
                    "removed": [_change_json(c) for c in diff.removed],
                    "changed": [_change_json(c) for c in diff.changed],
                }
            )
        )
        return EXIT_OK if diff.identical else EXIT_FAILED
    for sign, changes in (("+", diff.added), ("-", diff.removed)):
        for change in changes:
            record = change.new if change.new is not None else change.old
            out.write(f"{sign} {change.key}  {_digest_text(record)}  [{_signer_text(record)}]\n")
    for change in diff.changed:
        out.write(
            f"~ {change.key}  {_digest_text(change.old)} -> {_digest_text(change.new)}  "
            f"[{_signer_text(change.old)}] -> [{_signer_text(change.new)}]\n"
        )
    print(
        f"scan diff: {len(diff.added)} added, {len(diff.removed)} removed, "
        f"{len(diff.changed)} changed",
        file=sys.stderr,
    )
    return EXIT_OK if diff.identical else EXIT_FAILED


def _scan_diff_parser() -> argparse.ArgumentParser:
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
    p.set_defaults(func=_input_errors(_cmd_scan_diff))
    return p


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
        return _scan_diff_parser().parse_args(arguments[2:])
    return build_parser().parse_args(arguments)


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
    p_hash.add_argument(
        "--catalogs", metavar="DIR", help="set 'catalog' from the .cat files under DIR"
    )
    p_hash.set_defaults(func=_input_errors(_cmd_hash))
    p = sub.add_parser(
        "signers",
        help="who signed each file, and whether the signature is intact (sigcheck -i)",
        description="Read every embedded Authenticode signature (nested ones included) and "
        "show its status, the signed digest, the signing time and the certificate chain "
        "embedded with it, with the identities WDAC, AppLocker and Santa rules use "
        "(docs/signatures.md). 'valid' means intact and bound to the file: no trust store, "
        "no network, no revocation. Exit code 0 when every file has a valid signature "
        "(embedded, or from a catalog with --catalogs), 1 otherwise, 2 on bad arguments.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--catalogs", metavar="DIR", help="also look the files up in these .cat files")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_input_errors(_cmd_signers))
    _add_scan_parser(sub)
    _add_policy_parser(sub)

    p = sub.add_parser(
        "compile",
        help="compile a policy file into the blob the driver loads",
        description="Validate POLICY (TOML or JSON) and write the compiled blob "
        "(docs/blob-format.md). The same policy always gives the same bytes, whatever "
        "the order of its rules. Exit code 2 when the policy has errors.",
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("-o", "--output", required=True, metavar="BLOB", help="'-' for stdout")
    _add_boot_safety_options(p)
    p.set_defaults(func=_input_errors(_cmd_compile))

    p = sub.add_parser(
        "inspect",
        help="show a compiled blob: header, counts, every rule",
        description="Validate BLOB completely and print its header, rule counts and "
        "rules. Exit code 2 when it is invalid (the pinned error code is printed).",
    )
    p.add_argument("blob", metavar="BLOB", help="the compiled blob, or - for stdin")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=_input_errors(_cmd_inspect))

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
    p.set_defaults(func=_input_errors(_cmd_check))

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
    p.set_defaults(func=_input_errors(_cmd_deploy))
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
    except OSError as e:  # writing stdout: _input_errors reports the rest
        if e.errno == errno.EPIPE:
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
        print(f"exewhitelist: cannot write the output: {e.strerror or e}", file=sys.stderr)
        _quiet_stdout()
        return EXIT_USAGE
    return rc
