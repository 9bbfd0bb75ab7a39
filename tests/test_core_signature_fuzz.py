"""libFuzzer on the core's signature verifier, then a replay under gcc's sanitizers.

``fuzz_signature`` (clang, ASan + UBSan, deterministic stub crypto:
driver/harness/sig_crypto.h) reads each input as a WIN_CERTIFICATE entry, as
is and behind a header made right for it, and checks invariants (abort on
violation). It runs for ``EWL_SIGFUZZ_SECONDS`` (default 5), seeded with the
certificate table entries of every signed real sample and of the test chains
(RSA, ECDSA, nested, RSA-PSS), whole and as their bare DER. Then
``regression_signature`` (gcc, ASan, UBSan, no libFuzzer) replays the seeds
and everything the run kept. The longer campaign is the same command with a
larger ``-max_total_time`` (driver/harness/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from core_signatures import table_entries
from fuzzing import FuzzRun, check_fuzz_run, replay, run_fuzzer
from signing import Chains
from test_core_build import build

FUZZ_SECONDS = int(os.environ.get("EWL_SIGFUZZ_SECONDS", "5"))
MAX_LEN = 65536


def _write_seeds(seed_dir: Path, files: dict[str, Path]) -> int:
    count = 0
    for name, path in sorted(files.items()):
        for i, entry in enumerate(table_entries(path.read_bytes())):
            stem = f"{name.replace('/', '_')}-{i}"
            (seed_dir / f"{stem}.entry").write_bytes(entry)
            (seed_dir / f"{stem}.der").write_bytes(entry[8 : int.from_bytes(entry[:4], "little")])
            count += 1
    return count


@pytest.fixture(scope="module")
def fuzz_run(
    sample_files: dict[str, Path], chains: Chains, tmp_path_factory: pytest.TempPathFactory
) -> FuzzRun:
    build("fuzz")
    root = tmp_path_factory.mktemp("sigfuzz")
    seed_dir = root / "seeds"
    seed_dir.mkdir()
    exe = sample_files["mingw/hello64.exe"]
    made = {
        "rsa3": chains.rsa3.sign(exe, root / "rsa3.exe", "-h", "sha256"),
        "ecdsa": chains.ecdsa.sign(exe, root / "ecdsa.exe", "-h", "sha384"),
        "missing": chains.missing_intermediate.sign(exe, root / "missing.exe", "-h", "sha1"),
    }
    made["nested"] = chains.ecdsa.sign(made["rsa3"], root / "nested.exe", "-nest", "-h", "sha256")
    assert _write_seeds(seed_dir, {**sample_files, **made}) >= 20
    return run_fuzzer("signature", root, seed_dir, FUZZ_SECONDS, MAX_LEN)


def test_fuzz_signature(fuzz_run: FuzzRun, record_property: Callable[[str, object], None]) -> None:
    check_fuzz_run(fuzz_run, record_property)


def test_replay_without_libfuzzer(fuzz_run: FuzzRun) -> None:
    replay("signature", fuzz_run.seeds, fuzz_run.work)
