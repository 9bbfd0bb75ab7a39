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
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from core_signatures import table_entries
from signing import Chains
from test_core_build import BUILD, build

FUZZ_SECONDS = int(os.environ.get("EWL_SIGFUZZ_SECONDS", "5"))
MAX_LEN = 65536
_SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|deadly signal"
)


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    work: Path
    seeds: Path


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
) -> Run:
    build("fuzz")
    root = tmp_path_factory.mktemp("sigfuzz")
    work, seed_dir = root / "corpus", root / "seeds"
    work.mkdir()
    seed_dir.mkdir()
    exe = sample_files["mingw/hello64.exe"]
    made = {
        "rsa3": chains.rsa3.sign(exe, root / "rsa3.exe", "-h", "sha256"),
        "ecdsa": chains.ecdsa.sign(exe, root / "ecdsa.exe", "-h", "sha384"),
        "missing": chains.missing_intermediate.sign(exe, root / "missing.exe", "-h", "sha1"),
    }
    made["nested"] = chains.ecdsa.sign(made["rsa3"], root / "nested.exe", "-nest", "-h", "sha256")
    assert _write_seeds(seed_dir, {**sample_files, **made}) >= 20
    proc = subprocess.run(
        [
            str(BUILD / "fuzz" / "fuzz_signature"),
            f"-max_total_time={FUZZ_SECONDS}",
            f"-max_len={MAX_LEN}",
            "-print_final_stats=1",
            "-timeout=10",
            f"-artifact_prefix={root}/",
            str(work),
            str(seed_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=FUZZ_SECONDS + 300,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, work, seed_dir)


def _stat(output: str, name: str) -> int:
    m = re.search(rf"^stat::{name}:\s*(\d+)", output, re.MULTILINE)
    return int(m.group(1)) if m else -1


def test_fuzz_signature(fuzz_run: Run, record_property: Callable[[str, object], None]) -> None:
    execs = _stat(fuzz_run.output, "number_of_executed_units")
    per_second = _stat(fuzz_run.output, "average_exec_per_sec")
    print(
        f"\nfuzz_signature: {execs} executions in {FUZZ_SECONDS} s, {per_second} exec/s, "
        f"corpus of {len(list(fuzz_run.work.iterdir()))} new inputs"
    )
    record_property("fuzz_signature_execs", execs)
    record_property("fuzz_signature_execs_per_second", per_second)
    report = _SANITIZER_REPORT.search(fuzz_run.output)
    assert fuzz_run.returncode == 0 and report is None, fuzz_run.output[-6000:]
    assert execs > 0, fuzz_run.output[-3000:]


def test_replay_without_libfuzzer(fuzz_run: Run) -> None:
    proc = subprocess.run(
        [str(BUILD / "asan-gcc" / "regression_signature"), str(fuzz_run.seeds), str(fuzz_run.work)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    print(f"\nregression_signature: {proc.stdout.strip()}")
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
