"""libFuzzer runs of the core's targets and their sanitized gcc replays, for the fuzz tests
(test_core_fuzz, test_core_signature_fuzz, test_core_versioninfo_fuzz): one way to run a
target, read its statistics, judge its output and replay what it kept."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from test_core_build import BUILD

__all__ = ["FuzzRun", "check_fuzz_run", "fuzz_command", "replay", "run_fuzzer"]

_SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|deadly signal"
)


@dataclass(frozen=True)
class FuzzRun:
    """What one run of a target gave."""

    target: str
    returncode: int
    output: str
    work: Path
    """The corpus it grew (its new inputs)."""
    seeds: Path
    seconds: int

    def stat(self, name: str) -> int:
        """A ``-print_final_stats`` figure, -1 when absent."""
        m = re.search(rf"^stat::{name}:\s*(\d+)", self.output, re.MULTILINE)
        return int(m.group(1)) if m else -1


def fuzz_command(
    target: str, seconds: int, max_len: int, artifacts: str, *corpora: Path
) -> list[str]:
    """``fuzz_<target>`` for ``seconds``, its first corpus the one it grows."""
    return [
        str(BUILD / "fuzz" / f"fuzz_{target}"),
        f"-max_total_time={seconds}",
        f"-max_len={max_len}",
        "-print_final_stats=1",
        "-timeout=10",
        f"-artifact_prefix={artifacts}",
        *map(str, corpora),
    ]


def run_fuzzer(target: str, root: Path, seeds: Path, seconds: int, max_len: int) -> FuzzRun:
    """Run ``fuzz_<target>`` to its end on ``seeds``, growing ``root/corpus``."""
    work = root / "corpus"
    work.mkdir()
    proc = subprocess.run(
        fuzz_command(target, seconds, max_len, f"{root}/", work, seeds),
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 300,
    )
    return FuzzRun(target, proc.returncode, proc.stdout + proc.stderr, work, seeds, seconds)


def check_fuzz_run(run: FuzzRun, record_property: Callable[[str, object], None]) -> None:
    """Print and record its figures; fail on a finding, a sanitizer report or no run."""
    execs = run.stat("number_of_executed_units")
    per_second = run.stat("average_exec_per_sec")
    print(
        f"\nfuzz_{run.target}: {execs} executions in {run.seconds} s, {per_second} exec/s, "
        f"corpus of {len(list(run.work.iterdir()))} new inputs"
    )
    record_property(f"fuzz_{run.target}_execs", execs)
    record_property(f"fuzz_{run.target}_execs_per_second", per_second)
    report = _SANITIZER_REPORT.search(run.output)
    assert run.returncode == 0 and report is None, run.output[-6000:]
    assert execs > 0, run.output[-3000:]


def replay(target: str, *corpora: Path) -> None:
    """``regression_<target>`` (gcc, ASan, UBSan, no libFuzzer) over the corpora."""
    proc = subprocess.run(
        [str(BUILD / "asan-gcc" / f"regression_{target}"), *map(str, corpora)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    print(f"\nregression_{target}: {proc.stdout.strip()}")
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
