"""The committed test vectors (also read by the C core's tests), and corruption."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exewhitelist.blob import Blob, compile_policy, read_blob
from exewhitelist.blob._format import Status
from exewhitelist.blob.compile import set_checksum
from exewhitelist.blob.signerjson import signer_facts_from_json, signer_facts_to_json
from exewhitelist.errors import BlobError, BlobFormatError, BlobVersionError
from exewhitelist.policy import Action, Mode, Policy
from exewhitelist.rules import (
    CertificateId,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    Pin,
    Publisher,
    RuleKind,
    Signer,
    SignerFacts,
    make_rule,
)
from exewhitelist.staging import Fact, Facts

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "blob"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())


def test_vectors_are_current() -> None:
    """The committed vectors and C header are what the script writes (compile is stable)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_shared.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def decide_query(blob: Blob, query: dict[str, Any]) -> Any:
    """``Blob.decide`` on a manifest query (signer facts in their JSON form, spec §11)."""
    facts = query.get("signer_facts")
    return blob.decide(
        path=query.get("path"),
        authenticode_sha256=query.get("authenticode_sha256"),
        file_sha256=query.get("file_sha256"),
        signer_facts=None if facts is None else signer_facts_from_json(facts),
    )


@pytest.mark.parametrize("name", sorted(MANIFEST["valid"]))
def test_valid_vectors_decide_as_the_model(name: str) -> None:
    blob = read_blob((VECTORS / "valid" / f"{name}.bin").read_bytes())
    for case in MANIFEST["valid"][name]:
        d = decide_query(blob, case["query"])
        assert (d.action.value, d.rule_id, d.enforced) == (
            case["decision"],
            case["rule"],
            case["enforced"],
        ), case


@pytest.mark.parametrize("name", sorted(MANIFEST["invalid"]))
def test_invalid_vectors_give_their_pinned_code(name: str) -> None:
    expected = MANIFEST["invalid"][name]
    with pytest.raises(BlobFormatError) as info:
        read_blob((VECTORS / "invalid" / f"{name}.bin").read_bytes())
    assert (info.value.code, info.value.name) == (expected["code"], expected["name"])


def test_every_status_has_an_invalid_vector() -> None:
    codes = {v["code"] for v in MANIFEST["invalid"].values()}
    assert codes == {int(s) for s in Status if s is not Status.OK}


def test_newer_major_version_is_a_version_error() -> None:
    with pytest.raises(BlobVersionError):
        read_blob((VECTORS / "invalid" / "major-version-2.bin").read_bytes())


def _small() -> bytes:
    return (VECTORS / "valid" / "mixed.bin").read_bytes()


def test_every_single_byte_corruption_is_rejected() -> None:
    """Exhaustive over positions and three kinds of damage, on a blob with every section."""
    blob = _small()
    codes: set[int] = set()
    for position in range(len(blob)):
        for damage in (0x01, 0x80, 0xFF):
            corrupt = bytearray(blob)
            corrupt[position] ^= damage
            with pytest.raises(BlobFormatError) as info:
                read_blob(bytes(corrupt))
            codes.add(info.value.code)
    assert codes >= {Status.BAD_MAGIC, Status.VERSION, Status.CHECKSUM, Status.SIZE_MISMATCH}


def test_every_truncation_and_extension_is_rejected() -> None:
    blob = _small()
    for size in range(len(blob)):
        with pytest.raises(BlobFormatError) as info:
            read_blob(blob[:size])
        assert info.value.code in (Status.TRUNCATED, Status.SIZE_MISMATCH)
    for extra in (b"\0", b"\0" * 8, b"x" * 64):
        with pytest.raises(BlobFormatError) as info:
            read_blob(blob + extra)
        assert info.value.code == Status.SIZE_MISMATCH


@pytest.mark.parametrize("name", ["mixed", "signers", "signers-only", "exceptions-no-signers"])
def test_decompiled_vector_recompiles_to_the_same_bytes(name: str) -> None:
    blob = (VECTORS / "valid" / f"{name}.bin").read_bytes()
    assert compile_policy(read_blob(blob).to_policy()) == blob


def test_signer_vectors_are_1_1_and_the_others_1_0() -> None:
    for name in MANIFEST["valid"]:
        blob = read_blob((VECTORS / "valid" / f"{name}.bin").read_bytes())
        signers = name in ("signers", "signers-only", "exceptions-no-signers")
        assert blob.version_minor == (1 if signers or name.startswith("minor-1") else 0), name
        assert (len(blob.sections) == 16) is signers, name
        assert blob.needs_signers is (name in ("signers", "signers-only")), name


def test_signer_facts_json_round_trip() -> None:
    facts = SignerFacts(
        (
            Signer((CertificateId("sha256", "ab" * 32), CertificateId("sha1", "cd" * 20)), "CN"),
            Signer((CertificateId("sha512", "ef" * 64),), None),
        ),
        {FileAttribute.PRODUCT_NAME: "Prod", FileAttribute.ORIGINAL_FILENAME: "a.exe"},
        FileVersion((1, 2, 3, 4)),
    )
    data = signer_facts_to_json(facts)
    assert data == {
        "signers": [
            {"chain": ["sha256:" + "ab" * 32, "sha1:" + "cd" * 20], "common_name": "CN"},
            {"chain": ["sha512:" + "ef" * 64]},
        ],
        "attributes": {"original_filename": "a.exe", "product_name": "Prod"},
        "version": "1.2.3.4",
    }
    assert signer_facts_from_json(json.loads(json.dumps(data))) == facts
    assert signer_facts_from_json({}) == SignerFacts()


def small_signer_blob() -> bytes:
    """A small 1.1 blob with every new section non-empty and every exception kind."""
    pca = CertificateId("sha256", "c1" * 32)
    condition = Publisher(
        pca,
        Pin.ISSUER,
        "Co",
        FileAttribute.ORIGINAL_FILENAME,
        "A.EXE",
        FileVersion((1, 0, 0, 0)),
        FileVersion((2, 0, 0, 0)),
    )
    leaf = Publisher(CertificateId("sha1", "c2" * 20), Pin.LEAF)
    rules = (
        make_rule(
            "pub",
            Action.ALLOW,
            RuleKind.PUBLISHER,
            condition,
            exceptions=(
                PathCondition("*\\T\\*"),
                HashCondition(RuleKind.AUTHENTICODE_SHA256, "aa" * 32),
                HashCondition(RuleKind.FILE_SHA256, "bb" * 32),
                leaf,
            ),
        ),
        make_rule(
            "p", Action.DENY, RuleKind.PATH, "%WINDIR%\\*", exceptions=(PathCondition("C:\\*"),)
        ),
    )
    return compile_policy(Policy("s", 1, Mode.ENFORCE, rules))


def _usable(blob: Blob) -> None:
    """A blob that read_blob accepted: listing, decompiling (or saying why not) and deciding
    never raise anything else."""
    blob.rule_records()
    try:
        blob.to_policy()
    except BlobFormatError:
        raise
    except BlobError as e:
        assert "cannot be decompiled" in str(e)
    chain = (CertificateId("sha1", "c2" * 20), CertificateId("sha256", "c1" * 32))
    facts = SignerFacts(
        (Signer(chain, "Co"),),
        {FileAttribute.ORIGINAL_FILENAME: "a.exe"},
        FileVersion((1, 5, 0, 0)),
    )
    for path in ("C:\\Windows\\x.exe", "D:\\T\\x.exe", None):
        blob.decide(path=path, authenticode_sha256="aa" * 32, signer_facts=facts)
        blob.decide(path=path, file_sha256="bb" * 32, signer_facts=SignerFacts())
        blob.decide_staged(
            Facts(
                Fact.KNOWN if path else Fact.MISSING,
                path,
                Fact.KNOWN,
                "aa" * 32,
                None,
                Fact.KNOWN,
                facts,
            )
        )


def test_every_single_byte_corruption_of_a_1_1_blob_is_caught_or_harmless() -> None:
    """Exhaustive over positions, with the checksum fixed so the structural checks are reached:
    only BlobError subclasses, and a blob that still reads is usable."""
    blob = small_signer_blob()
    assert read_blob(blob).version_minor == 1
    codes: set[int] = set()
    accepted = 0
    for position in range(len(blob)):
        for damage in (0x01, 0x02, 0x10, 0x80, 0xFF):
            corrupt = bytearray(blob)
            corrupt[position] ^= damage
            set_checksum(corrupt)
            try:
                mutated = read_blob(bytes(corrupt))
            except BlobFormatError as e:
                assert 1 <= e.code <= max(Status)
                codes.add(e.code)
                continue
            accepted += 1
            _usable(mutated)
    assert codes >= {Status.CERTIFICATE, Status.TEXT, Status.PUBLISHER, Status.PUBLISHER_RULE}
    assert Status.EXCEPTION in codes
    assert accepted  # some bytes (digests, version bounds, texts) are free


def test_every_truncation_of_a_1_1_blob_is_rejected() -> None:
    blob = small_signer_blob()
    for size in range(len(blob)):
        with pytest.raises(BlobFormatError) as info:
            read_blob(blob[:size])
        assert info.value.code in (Status.TRUNCATED, Status.SIZE_MISMATCH)
