"""``exewhitelist hash`` and ``exewhitelist signers``: digests and signatures of files."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TextIO

from ..catalog import CatalogIndex, CatalogMatch
from ..errors import ExewhitelistError
from ..hashing import FileHashes, hash_file
from ..signatures import Certificate, Signature
from ._common import EXIT_FAILED, EXIT_OK, Subparsers, input_errors, report_catalogs

__all__ = ["add_parsers"]


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
    report_catalogs(index)
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


def add_parsers(sub: Subparsers) -> None:
    """``hash`` and ``signers``."""
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
    p_hash.set_defaults(func=input_errors(_cmd_hash))
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
    p.set_defaults(func=input_errors(_cmd_signers))
