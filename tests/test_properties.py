"""Hypothesis: no input raises outside our hierarchy, and the flat hash is always hashlib's."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exewhitelist import hash_file
from exewhitelist.hashing import FileHashes

_SEED_NAMES = (
    "mingw/hello64-signed.exe",
    "mingw/hello32.exe",
    "setuptools-win_amd64/cli-arm64.exe",
)


def _hash_bytes(data: bytes) -> FileHashes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f"
        path.write_bytes(data)
        return hash_file(path)


def _check(data: bytes) -> None:
    r = _hash_bytes(data)  # any exception fails the test: none is expected here
    assert r.sha256 == hashlib.sha256(data).hexdigest()
    assert r.size == len(data)
    if r.pe is None:
        assert r.authenticode_sha256 is None and not r.signed
    else:
        assert r.pe_error is None
        assert r.authenticode_sha256 is not None and r.page_sha1 is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=300, deadline=None)
@given(prefix=st.binary(min_size=0x40, max_size=0x40), rest=st.binary(max_size=1024))
def test_random_mz_headers(prefix: bytes, rest: bytes) -> None:
    # Force the MZ path and an e_lfanew that points inside the file now and then.
    data = bytearray(b"MZ" + prefix[2:] + b"PE\0\0" + rest)
    data[0x3C:0x40] = (0x40).to_bytes(4, "little")
    _check(bytes(data))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.sampled_from(_SEED_NAMES),
    edits=st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_mutated_real_files(
    sample_files: dict[str, Path],
    seed: str,
    edits: list[tuple[int, int]],
    cut: int | None,
) -> None:
    """Byte edits in the headers (where every structure lives) and truncations."""
    data = bytearray(sample_files[seed].read_bytes())
    for offset, value in edits:
        data[offset] = value
    _check(bytes(data[:cut] if cut is not None else data))
