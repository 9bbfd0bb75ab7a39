"""Our digests against independent oracles on real PE files from registries.

Every expected value comes from an oracle at test time: hashlib for the flat
hash, the digest stored inside each embedded (and nested) signature,
osslsigncode (which pads unsigned files as Windows does), lief (unpadded),
the page-hash records inside signatures, and pefile for header facts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pefile
from oracles.signature import embedded_signatures
from oracles.tools import lief_digest, osslsigncode_digest

from exewhitelist import Anomaly, hash_file


def test_flat_sha256_equals_hashlib(sample: Path) -> None:
    r = hash_file(sample)
    assert r.sha256 == hashlib.sha256(sample.read_bytes()).hexdigest()
    assert r.size == sample.stat().st_size


def test_authenticode_equals_osslsigncode(sample: Path) -> None:
    r = hash_file(sample)
    assert r.authenticode_sha256 == osslsigncode_digest(sample, "sha256").hex()
    assert r.authenticode_sha1 == osslsigncode_digest(sample, "sha1").hex()


def test_unpadded_authenticode_equals_lief(sample: Path) -> None:
    r = hash_file(sample)
    assert r.authenticode_sha256_unpadded == lief_digest(sample, "sha256").hex()


def test_authenticode_equals_digest_inside_every_signature(sample: Path) -> None:
    r = hash_file(sample)
    signatures = embedded_signatures(sample)
    assert r.signed == bool(signatures)
    ours = {"sha256": r.authenticode_sha256, "sha1": r.authenticode_sha1}
    for signature in signatures:
        assert ours[signature.digest_algorithm] == signature.digest.hex(), signature
    assert Anomaly.CERTIFICATE_ENTRY_MALFORMED not in r.anomalies


def test_first_page_hash_equals_signed_page_hash(sample: Path) -> None:
    r = hash_file(sample)
    ours = {"sha256": r.page_sha256, "sha1": r.page_sha1}
    for signature in embedded_signatures(sample):
        if signature.page_hashes is not None and signature.page_hash_algorithm is not None:
            offset, digest = signature.page_hashes[0]
            assert offset == 0
            assert ours[signature.page_hash_algorithm] == digest.hex()


def test_header_facts_equal_pefile(sample: Path) -> None:
    r = hash_file(sample)
    pe = pefile.PE(str(sample), fast_load=True)
    assert r.pe is not None
    assert r.pe.format == ("PE32+" if pe.OPTIONAL_HEADER.Magic == 0x20B else "PE32")
    assert r.pe.sections == pe.FILE_HEADER.NumberOfSections
    assert r.pe.subsystem == pe.OPTIONAL_HEADER.Subsystem
    assert r.pe.is_dll == pe.is_dll()
    assert r.anomalies == ()


def test_samples_cover_the_matrix(sample_files: dict[str, Path]) -> None:
    """The real corpus keeps exercising the shapes the matrix names."""
    results = [hash_file(p) for p in sample_files.values()]
    formats = {r.pe.format for r in results if r.pe}
    assert formats == {"PE32", "PE32+"}
    assert any(r.signed and r.pe and r.pe.format == "PE32" for r in results)
    assert any(r.signed and r.pe and r.pe.certificate_entries == 2 for r in results)
    assert any(not r.signed and r.size % 8 for r in results)
    sigs = [s for p in sample_files.values() for s in embedded_signatures(p)]
    assert any(s.nested and s.digest_algorithm == "sha256" for s in sigs)
    assert any(s.digest_algorithm == "sha1" for s in sigs)
    assert {s.page_hash_algorithm for s in sigs if s.page_hashes} == {"sha1", "sha256"}
