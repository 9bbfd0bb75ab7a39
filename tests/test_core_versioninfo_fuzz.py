"""libFuzzer on the core's version-resource reader, then a replay under gcc's sanitizers.

``fuzz_versioninfo`` (clang, ASan + UBSan) reads each input as a file, in
odd pieces, into a scratch of exactly the minimum, and checks invariants
(abort on violation: driver/harness/fuzz_versioninfo.c). It runs for
``EWL_VERFUZZ_SECONDS`` (default 5), seeded with every real sample cut down
to its headers and resource section (a few KiB, where mutations land on the
resource tree and the block) and with the hand-made blocks of
test_core_versioninfo.py put into one of them. Then ``regression_versioninfo``
(gcc, ASan, UBSan, no libFuzzer) replays the seeds and everything the run
kept, and a sample of what it kept is read by Python too, which must agree.
The longer campaign is the same command with a larger ``-max_total_time``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from core_versions import c_memory_outcome, compact, python_outcome, with_block
from test_core_build import BUILD, build
from test_core_versioninfo import VCAMP, hand_made_blocks

FUZZ_SECONDS = int(os.environ.get("EWL_VERFUZZ_SECONDS", "5"))
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


def write_seeds(seed_dir: Path, sample_files: dict[str, Path]) -> int:
    """The seeds (also for a longer campaign by hand); returns how many were written."""
    count = 0
    for name, path in sorted(sample_files.items()):
        small = compact(path.read_bytes())
        if small is not None:
            (seed_dir / f"{name.replace('/', '_')}.bin").write_bytes(small)
            count += 1
    base = compact(sample_files[VCAMP].read_bytes())
    assert base is not None
    for name, block in hand_made_blocks().items():
        (seed_dir / f"block-{name}.bin").write_bytes(with_block(base, block))
        count += 1
    return count


@pytest.fixture(scope="module")
def fuzz_run(sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Run:
    build("fuzz")
    root = tmp_path_factory.mktemp("verfuzz")
    work, seed_dir = root / "corpus", root / "seeds"
    work.mkdir()
    seed_dir.mkdir()
    assert write_seeds(seed_dir, sample_files) >= 40
    proc = subprocess.run(
        [
            str(BUILD / "fuzz" / "fuzz_versioninfo"),
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


def test_fuzz_versioninfo(fuzz_run: Run, record_property: Callable[[str, object], None]) -> None:
    execs = _stat(fuzz_run.output, "number_of_executed_units")
    per_second = _stat(fuzz_run.output, "average_exec_per_sec")
    print(
        f"\nfuzz_versioninfo: {execs} executions in {FUZZ_SECONDS} s, {per_second} exec/s, "
        f"corpus of {len(list(fuzz_run.work.iterdir()))} new inputs"
    )
    record_property("fuzz_versioninfo_execs", execs)
    record_property("fuzz_versioninfo_execs_per_second", per_second)
    report = _SANITIZER_REPORT.search(fuzz_run.output)
    assert fuzz_run.returncode == 0 and report is None, fuzz_run.output[-6000:]
    assert execs > 0, fuzz_run.output[-3000:]


def test_replay_without_libfuzzer(fuzz_run: Run) -> None:
    proc = subprocess.run(
        [
            str(BUILD / "asan-gcc" / "regression_versioninfo"),
            str(fuzz_run.seeds),
            str(fuzz_run.work),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    print(f"\nregression_versioninfo: {proc.stdout.strip()}")
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr


def test_what_the_fuzzer_kept_python_reads_alike(fuzz_run: Run) -> None:
    """The inputs that reached new code are the oddest ones: Python must agree on them."""
    kept = sorted(fuzz_run.work.iterdir())[:500] + sorted(fuzz_run.seeds.iterdir())
    differences = []
    for path in kept:
        data = path.read_bytes()
        expected, got = python_outcome(data), c_memory_outcome(data).outcome
        if expected != got:
            differences.append(f"{path.name}: Python {expected}, C {got}")
    assert not differences, "\n".join(differences[:20])
