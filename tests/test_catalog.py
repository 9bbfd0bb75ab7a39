"""Catalog files: made here (trust list written with asn1crypto, signed by osslsigncode).

Oracles: ``osslsigncode verify -catalog`` for membership and for the catalog's
signature; osslsigncode ``extract-data`` for the Authenticode digest a member
must carry (padded, as the catalog path of osslsigncode and Windows compute
it); hashlib for flat digests of non-PE members.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles.tools import osslsigncode_digest
from signing import Chains, member, osslsigncode_verify, signed_catalog, unsigned_catalog

from exewhitelist import (
    CatalogError,
    CatalogIndex,
    ExewhitelistError,
    ScanOptions,
    SignatureStatus,
    read_catalog,
)
from exewhitelist.scan import scan

SCRIPT = b"Write-Output 'exewhitelist catalog member'\r\n"


@pytest.fixture(scope="module")
def material(
    chains: Chains, sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """hello64.exe and a script listed in a SHA-256 and a SHA-1 catalog; hello32.exe not."""
    folder = tmp_path_factory.mktemp("catalogs")
    exe = shutil.copyfile(sample_files["mingw/hello64.exe"], folder / "hello64.exe")
    other = shutil.copyfile(sample_files["mingw/hello32.exe"], folder / "hello32.exe")
    script = folder / "tool.ps1"
    script.write_bytes(SCRIPT)
    flat = hashlib.sha256(SCRIPT).digest()
    cats = folder / "cats"
    cats.mkdir()
    decoy = osslsigncode_digest(other, "sha256").hex().upper()
    sha256_members = [
        member(osslsigncode_digest(exe, "sha256"), "sha256", tag="not-the-digest"),
        member(flat, "sha256"),
        member(b"\x42" * 32, "sha256", tag=decoy),  # hello32's digest as a tag only
    ]
    signed_catalog(sha256_members, True, chains.rsa3, cats / "b-sha256.cat")
    sha1_members = [member(osslsigncode_digest(exe, "sha1"), "sha1")]
    signed_catalog(sha1_members, False, chains.rsa3, cats / "a-sha1.cat")
    return {"exe": exe, "other": other, "script": script, "cats": cats, "folder": folder}


def test_membership_agrees_with_osslsigncode(chains: Chains, material: dict[str, Path]) -> None:
    index = CatalogIndex.of_directory(material["cats"])
    assert index.errors == []
    assert [Path(c.path).name for c in index.catalogs] == ["a-sha1.cat", "b-sha256.cat"]
    assert [c.members for c in index.catalogs] == [1, 3]
    for catalog in index.catalogs:
        ok, output = osslsigncode_verify(
            material["exe"], chains.rsa3.root, "-catalog", catalog.path
        )
        assert ok, output
        assert catalog.signature.status is SignatureStatus.VALID, catalog.signature.reason
        leaf = chains.rsa3.leaf.cert.public_bytes(serialization.Encoding.DER)
        assert catalog.signature.chain[0].sha256 == hashlib.sha256(leaf).hexdigest()
    exe = material["exe"]
    by_sha256 = index.lookup([osslsigncode_digest(exe, "sha256").hex()])
    by_sha1 = index.lookup([osslsigncode_digest(exe, "sha1").hex()])
    assert by_sha256 is not None and Path(by_sha256.path).name == "b-sha256.cat"
    assert by_sha1 is not None and Path(by_sha1.path).name == "a-sha1.cat"
    # Listed by tag only: osslsigncode says no, and so do we.
    other = material["other"]
    ok, _ = osslsigncode_verify(other, chains.rsa3.root, "-catalog", index.catalogs[1].path)
    assert not ok
    assert index.lookup([osslsigncode_digest(other, "sha256").hex()]) is None
    flat = index.lookup([hashlib.sha256(SCRIPT).hexdigest()])
    assert flat is not None and Path(flat.path).name == "b-sha256.cat"


def test_same_digest_in_two_catalogs(chains: Chains, tmp_path: Path) -> None:
    digest = b"\x17" * 32
    for name in ("one.cat", "two.cat"):
        signed_catalog([member(digest, "sha256")], True, chains.rsa2, tmp_path / name)
    index = CatalogIndex.of_directory(tmp_path)
    found = index.lookup([digest.hex()])
    assert found is not None
    assert Path(found.path).name == "one.cat"
    assert [Path(p).name for p in found.other_catalogs] == ["two.cat"]


def test_tampered_catalog(chains: Chains, material: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray((material["cats"] / "b-sha256.cat").read_bytes())
    data[data.index(b"\x42" * 32)] ^= 1  # a member digest: the CTL the signer signed
    tampered = tmp_path / "t.cat"
    tampered.write_bytes(bytes(data))
    ok, _ = osslsigncode_verify(material["exe"], chains.rsa3.root, "-catalog", str(tampered))
    assert not ok
    catalog, _ = read_catalog(tampered)
    assert catalog.signature.status is SignatureStatus.BAD_SIGNED_ATTRIBUTES


def test_not_catalogs(chains: Chains, sample_files: dict[str, Path], tmp_path: Path) -> None:
    leaf = chains.rsa3.leaf
    (tmp_path / "data.cat").write_bytes(
        pkcs7.PKCS7SignatureBuilder()
        .set_data(b"not a trust list")
        .add_signer(leaf.cert, leaf.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    (tmp_path / "pe.cat").write_bytes(sample_files["mingw/hello64-signed.exe"].read_bytes())
    (tmp_path / "empty.cat").write_bytes(b"")
    (tmp_path / "cut.cat").write_bytes(unsigned_catalog([member(b"\1" * 20, "sha1")], False)[:-9])
    for path in sorted(tmp_path.iterdir()):
        with pytest.raises(CatalogError, match=path.name):
            read_catalog(path)
    index = CatalogIndex.of_directory(tmp_path)
    assert index.catalogs == [] and len(index.errors) == 4
    with pytest.raises(CatalogError):
        read_catalog(tmp_path / "missing.cat")


def test_unsigned_catalog_is_indexed_with_its_status(tmp_path: Path) -> None:
    path = tmp_path / "u.cat"
    path.write_bytes(unsigned_catalog([member(b"\2" * 32, "sha256")], True))
    index = CatalogIndex()
    catalog = index.add(path)
    assert catalog.signature.status is SignatureStatus.MALFORMED
    assert "0 signer infos" in catalog.signature.reason
    found = index.lookup([(b"\2" * 32).hex()])
    assert found is not None and found.signature == catalog.signature


def test_large_catalog_memory_is_bounded(tmp_path: Path) -> None:
    template = member(b"\0" * 32, "sha256", tag="M")
    count = 30_000
    members = [template.replace(b"\0" * 32, i.to_bytes(32, "big"), 1) for i in range(count)]
    path = tmp_path / "big.cat"
    path.write_bytes(unsigned_catalog(members, True))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        index = CatalogIndex()
        catalog = index.add(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert catalog.members == count == len(index)
    assert index.lookup([(count - 1).to_bytes(32, "big").hex()]) is not None
    # asn1crypto copies the content once per level it parses (4 copies live at the peak),
    # then the index keeps about 100 bytes a member: no per-member object graph (~5 KB).
    assert peak < 5 * size + 200 * count, (peak, size)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_catalogs_never_raise_outside_the_hierarchy(
    data: st.DataObject, material: dict[str, Path], tmp_path: Path
) -> None:
    blob = bytearray((material["cats"] / "b-sha256.cat").read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        if not blob:
            break
        at = data.draw(st.integers(0, len(blob) - 1))
        kind = data.draw(st.sampled_from(["flip", "cut", "delete", "insert"]))
        if kind == "flip":
            blob[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del blob[max(at, 1) :]
        elif kind == "delete":
            del blob[at : at + data.draw(st.integers(1, 32))]
        else:
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    path = tmp_path / "m.cat"
    path.write_bytes(bytes(blob))
    try:
        index = CatalogIndex()
        catalog = index.add(path)
    except ExewhitelistError as e:
        assert isinstance(e, CatalogError)
        return
    assert isinstance(catalog.signature.status, SignatureStatus)


# --- scans ----------------------------------------------------------------------------------------


def _records(root: Path, **options: Any) -> dict[str, dict[str, Any]]:
    records = scan([str(root)], ScanOptions(jobs=2, **options))
    return {Path(r.path).name: r.to_json() for r in records}


def test_scan_attributes_catalog_signed_files(material: dict[str, Path]) -> None:
    records = _records(material["folder"], catalogs=str(material["cats"]))
    exe = records["hello64.exe"]["catalog"]
    assert isinstance(exe, dict)
    assert Path(exe["path"]).name == "b-sha256.cat"
    assert exe["digest"] == osslsigncode_digest(material["exe"], "sha256").hex()
    assert exe["signature"]["status"] == "valid"
    script = records["tool.ps1"]["catalog"]
    assert isinstance(script, dict) and script["digest"] == hashlib.sha256(SCRIPT).hexdigest()
    assert records["hello32.exe"]["catalog"] is None
    assert records["hello64.exe"]["signatures"] == []


def test_scan_finds_the_image_catroot(material: dict[str, Path], tmp_path: Path) -> None:
    image = tmp_path / "image"
    catroot = image / "windows" / "SYSTEM32" / "catroot" / "{F750E6C3-38EE-11D1-85E5-00C04FC295EE}"
    catroot.mkdir(parents=True)
    shutil.copyfile(material["cats"] / "b-sha256.cat", catroot / "b.cat")
    shutil.copyfile(material["exe"], image / "windows" / "hello64.exe")
    records = _records(image, windows_root="C:\\")
    found = records["hello64.exe"]["catalog"]
    assert isinstance(found, dict) and found["path"] == str(catroot / "b.cat")
    assert _records(image, windows_root="C:\\Windows")["hello64.exe"]["catalog"] is None
    windows = _records(image / "windows", windows_root="C:\\Windows")
    assert windows["hello64.exe"]["catalog"] is not None
    assert _records(image)["hello64.exe"]["catalog"] is None


def test_scan_cache_keeps_signatures_and_recomputes_catalogs(
    material: dict[str, Path], sample_files: dict[str, Path], tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copyfile(sample_files["msvc-runtime-win_amd64/vcruntime140.dll"], tree / "v.dll")
    shutil.copyfile(material["exe"], tree / "hello64.exe")
    cache = str(tmp_path / "cache.sqlite")
    # Files must be older than the racy window to be cached.
    subprocess.run(["touch", "-d", "2020-01-01", *map(str, tree.iterdir())], check=True)
    off = _records(tree, cache=cache, signatures=False)
    assert off["v.dll"]["signatures"] is None
    first = _records(tree, cache=cache, catalogs=str(material["cats"]))
    assert [s["status"] for s in first["v.dll"]["signatures"]] == ["valid", "valid"]
    again = scan([str(tree)], ScanOptions(jobs=1, cache=cache))
    records = {Path(r.path).name: r.to_json() for r in again}
    assert again.summary.cached == 2
    assert records["v.dll"]["signatures"] == first["v.dll"]["signatures"]
    assert records["hello64.exe"]["catalog"] is None
    assert first["hello64.exe"]["catalog"] is not None


def test_scan_cli_catalogs(material: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "scan", str(material["folder"]),
         "--catalogs", str(material["cats"])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "catalogs: 2 read, 4 member digests, 0 unusable" in proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sum(r["catalog"] is not None for r in records) == 2
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "signers", "--catalogs", str(material["cats"]),
         str(material["exe"])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "catalog " in proc.stdout and "VALID" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "hash", "--json", "--catalogs",
         str(material["cats"]), str(material["exe"]), str(material["other"])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    exe, other = (json.loads(line) for line in proc.stdout.splitlines())
    assert Path(exe["catalog"]["path"]).name == "b-sha256.cat" and other["catalog"] is None


def test_catalog_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not a directory"):
        CatalogIndex.of_directory(tmp_path / "missing")
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", "signers", "--catalogs", str(tmp_path / "missing"),
         str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "not a directory" in proc.stderr
