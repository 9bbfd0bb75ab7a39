"""``exewhitelist hash`` and ``exewhitelist signers``: digests and signatures of files."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator

from ..catalog import CatalogIndex, CatalogMatch
from ..errors import ExewhitelistError
from ..hashing import FileHashes, hash_file
from ._common import EXIT_FAILED, Subparsers, input_errors
from ._output import Result, emit
from ._results.check import UnreadFile
from ._results.hashing import HASH_HEADER, CatalogReport, HashLine, SignersReport

__all__ = ["add_parsers"]


def _catalog_index(folder: str | None) -> CatalogIndex | None:
    return None if folder is None else CatalogIndex.of_directory(folder)


def _lookup(index: CatalogIndex, result: FileHashes) -> CatalogMatch | None:
    return index.lookup((result.authenticode_sha256, result.authenticode_sha1, result.sha256))


def _cmd_hash(args: argparse.Namespace) -> int:
    return emit(_hash_results(args), args.json)


def _hash_results(args: argparse.Namespace) -> Iterator[Result]:
    index = _catalog_index(args.catalogs)
    if index is not None:
        yield CatalogReport(index)
    yield HASH_HEADER
    for path in args.paths:
        try:
            result = hash_file(path)
        except ExewhitelistError as e:
            line = f"{'ERROR':<64}  {'':<64}  {e}  {path}\n"
            yield UnreadFile(path, str(e), EXIT_FAILED, line)
            continue
        if index is not None:
            result = dataclasses.replace(result, catalog=_lookup(index, result))
        yield HashLine(result)


def _cmd_signers(args: argparse.Namespace) -> int:
    return emit(_signers_results(args), args.json)


def _signers_results(args: argparse.Namespace) -> Iterator[Result]:
    index = _catalog_index(args.catalogs)
    if index is not None:
        yield CatalogReport(index)
    for path in args.files:
        try:
            result = hash_file(path)
        except ExewhitelistError as e:
            yield UnreadFile(path, str(e), EXIT_FAILED)
            continue
        catalog = _lookup(index, result) if index is not None else None
        yield SignersReport(path, tuple(result.signatures or ()), catalog, index is not None)


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
