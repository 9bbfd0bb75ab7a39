"""``hash``'s and ``signers``' results: a file's digests (:class:`HashLine`, after
:data:`HASH_HEADER`), its signatures (:class:`SignersReport`) and what a folder of catalogs
gave (:class:`CatalogReport`); a file they could not read is a :class:`~.check.UnreadFile`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...catalog import CatalogIndex, CatalogMatch
from ...hashing import FileHashes
from ...signatures import Certificate, Signature
from .._common import EXIT_FAILED, EXIT_OK
from .._output import StderrOnly, ascii_json

__all__ = ["HASH_HEADER", "CatalogReport", "HashLine", "SignersReport", "TextLine"]


@dataclass(frozen=True, slots=True)
class TextLine:
    """A line of text without ``--json`` only (a table's header)."""

    text: str

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> None:
        return None

    def render_text(self) -> str:
        return self.text + "\n"

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return ()


HASH_HEADER = TextLine(f"{'AUTHENTICODE-SHA256':<64}  {'SHA256':<64}  KIND  PATH")


@dataclass(frozen=True, slots=True)
class HashLine:
    """``hash``: one file's digests."""

    hashes: FileHashes

    @property
    def exit_code(self) -> int:
        return EXIT_OK

    def to_json(self) -> str:
        return ascii_json(self.hashes.to_json())

    def render_text(self) -> str:
        result = self.hashes
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
        return f"{auth}  {result.sha256}  {','.join(flags)}  {result.path}\n"

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return ()


@dataclass(frozen=True, slots=True)
class SignersReport:
    """``signers``: one file's embedded signatures and its catalog; exit code 1 when none of
    them is valid."""

    path: str
    signatures: tuple[Signature, ...]
    catalog: CatalogMatch | None
    catalogs_given: bool
    """Whether the file was looked up in catalogs (--catalogs)."""

    @property
    def exit_code(self) -> int:
        valid = any(s.valid for s in self.signatures) or (
            self.catalog is not None and self.catalog.signature.valid
        )
        return EXIT_OK if valid else EXIT_FAILED

    def to_json(self) -> str:
        return ascii_json(
            {
                "path": self.path,
                "signatures": [s.to_json() for s in self.signatures],
                "catalog": self.catalog.to_json() if self.catalog else None,
            }
        )

    def render_text(self) -> str:
        lines = [f"{self.path}:\n"]
        if not self.signatures and self.catalog is None:
            lines.append(
                "  not signed (no embedded signature"
                + (", not in any catalog)\n" if self.catalogs_given else ")\n")
            )
        for number, sig in enumerate(self.signatures, 1):
            nested = f", nested in entry {sig.entry}" if sig.nesting else f", entry {sig.entry}"
            lines.extend(_signature_lines(sig, f"signature {number}{nested}"))
        if self.catalog is not None:
            lines.extend(_signature_lines(self.catalog.signature, f"catalog {self.catalog.path}"))
        return "".join(lines)

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        return ()


def _signature_lines(sig: Signature, title: str) -> list[str]:
    lines = [f"  {title}: {sig.status.value.upper()}: {sig.reason}\n"]
    if sig.digest is not None:
        bound = {True: "matches the file", False: "DOES NOT match the file", None: "not compared"}
        lines.append(
            f"    digest: {sig.digest_algorithm} {sig.digest} ({bound[sig.digest_matches]})\n"
        )
    lines.append(f"    signing time: {sig.signing_time or 'none (no timestamp)'}\n")
    for depth, cert in enumerate(sig.chain):
        lines.extend(_certificate_lines(cert, "signer" if depth == 0 else f"issuer {depth}"))
    if sig.chain:
        lines.append(
            "    chain: ends with a self-signed root\n"
            if sig.chain_complete
            else "    chain: the root is not embedded\n"
        )
    return lines


def _certificate_lines(cert: Certificate, label: str) -> list[str]:
    return [
        f"    {label}: {cert.subject}\n",
        f"      issuer:      {cert.issuer}\n",
        f"      serial:      {cert.serial}\n",
        f"      valid:       {cert.not_before} to {cert.not_after}\n",
        f"      key:         {cert.key}\n",
        f"      thumbprint:  sha256 {cert.sha256}\n",
        f"      tbs hash:    {cert.tbs_algorithm} {cert.tbs_hash}\n",
        f"      publisher:   {cert.publisher}\n",
    ]


@dataclass(frozen=True, slots=True)
class CatalogReport(StderrOnly):
    """What the catalogs under a folder gave (``--catalogs``), on stderr."""

    index: CatalogIndex

    def diagnostics(self, as_json: bool) -> Sequence[str]:
        index = self.index
        lines = [f"exewhitelist: warning: catalog not used: {error}" for error in index.errors]
        lines.append(
            f"catalogs: {len(index.catalogs)} read, {len(index)} member digests, "
            f"{len(index.errors)} unusable"
        )
        return lines
