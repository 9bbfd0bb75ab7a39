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
from collections.abc import Callable
from pathlib import Path

import pytest
from core_versions import c_memory_outcome, compact, python_outcome, with_block
from fuzzing import FuzzRun, check_fuzz_run, replay, run_fuzzer
from test_core_build import build
from test_core_versioninfo import VCAMP, hand_made_blocks

FUZZ_SECONDS = int(os.environ.get("EWL_VERFUZZ_SECONDS", "5"))
MAX_LEN = 65536


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
def fuzz_run(sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    build("fuzz")
    root = tmp_path_factory.mktemp("verfuzz")
    seed_dir = root / "seeds"
    seed_dir.mkdir()
    assert write_seeds(seed_dir, sample_files) >= 40
    return run_fuzzer("versioninfo", root, seed_dir, FUZZ_SECONDS, MAX_LEN)


def test_fuzz_versioninfo(
    fuzz_run: FuzzRun, record_property: Callable[[str, object], None]
) -> None:
    check_fuzz_run(fuzz_run, record_property)


def test_replay_without_libfuzzer(fuzz_run: FuzzRun) -> None:
    replay("versioninfo", fuzz_run.seeds, fuzz_run.work)


def test_what_the_fuzzer_kept_python_reads_alike(fuzz_run: FuzzRun) -> None:
    """The inputs that reached new code are the oddest ones: Python must agree on them."""
    kept = sorted(fuzz_run.work.iterdir())[:500] + sorted(fuzz_run.seeds.iterdir())
    differences = []
    for path in kept:
        data = path.read_bytes()
        expected, got = python_outcome(data), c_memory_outcome(data).outcome
        if expected != got:
            differences.append(f"{path.name}: Python {expected}, C {got}")
    assert not differences, "\n".join(differences[:20])
