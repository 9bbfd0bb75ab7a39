"""The benchmark scripts still run (a smoke run: the timings are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_bench_hashing_quick() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_hashing.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    large = report["large_file"]
    assert large["hash_file_s"] > 0 and large["baseline_all_s"] > 0
    assert large["authenticode_sha256_only"]["throughput_ratio_to_hashlib_sha256"] > 0
    assert report["small_files"]["hash_file_files_s"] > 0


def test_bench_blob_quick() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_blob.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["size"]["bytes_per_rule"] < 33
    assert report["compile"]["compile_s"] > 0
    assert report["decisions"]["reader_decisions_per_s"] > 0


def test_bench_scan_quick() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scan.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    tree = report["tree"]
    assert tree["scan_s"] > 0 and tree["ideal_s"] > 0 and tree["files"] == 40
    assert tree["cache_second_s"] < tree["scan_s"]
    assert tree["side_by_side"]["sha256sum"]["seconds"] > 0
    small = report["small_files"]
    assert small["all"]["files_s"] > 0 and small["all"]["peak_rss_kib"] > 0
