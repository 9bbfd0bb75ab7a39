"""The committed test vectors (also read by the C core's tests), and corruption."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.blob._format import Status
from exewhitelist.errors import BlobFormatError, BlobVersionError

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


@pytest.mark.parametrize("name", sorted(MANIFEST["valid"]))
def test_valid_vectors_decide_as_the_model(name: str) -> None:
    blob = read_blob((VECTORS / "valid" / f"{name}.bin").read_bytes())
    for case in MANIFEST["valid"][name]:
        d = blob.decide(**case["query"])
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


def test_decompiled_vector_recompiles_to_the_same_bytes() -> None:
    blob = _small()
    assert compile_policy(read_blob(blob).to_policy()) == blob
