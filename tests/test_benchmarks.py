"""The benchmark scripts still run (a smoke run: the timings are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def run_quick(script: str) -> dict[str, Any]:
    """``benchmarks/SCRIPT --quick --json``: its report, after a successful run."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def test_bench_hashing_quick() -> None:
    report = run_quick("bench_hashing.py")
    large = report["large_file"]
    assert large["hash_file_s"] > 0 and large["baseline_all_s"] > 0
    assert large["authenticode_sha256_only"]["throughput_ratio_to_hashlib_sha256"] > 0
    assert report["small_files"]["hash_file_files_s"] > 0


def test_bench_blob_quick() -> None:
    report = run_quick("bench_blob.py")
    assert report["size"]["bytes_per_rule"] < 33
    assert report["compile"]["compile_s"] > 0
    assert report["compile"]["peak_ratio_to_json_load"] > 0
    assert report["compile_toml"]["compile_s"] > 0
    assert report["compile_toml"]["peak_ratio_to_tomllib_load"] > 0
    assert report["decisions"]["reader_decisions_per_s"] > 0


def test_bench_scan_quick() -> None:
    report = run_quick("bench_scan.py")
    tree = report["tree"]
    assert tree["scan_s"] > 0 and tree["ideal_s"] > 0 and tree["files"] == 40
    assert tree["cache_second_s"] < tree["scan_s"]
    assert tree["side_by_side"]["sha256sum"]["seconds"] > 0
    small = report["small_files"]
    assert small["all"]["files_s"] > 0 and small["all"]["peak_rss_kib"] > 0


def test_bench_signatures_quick() -> None:
    report = run_quick("bench_signatures.py")
    per_file = report["per_file"]
    assert per_file["mean_verify_us"] > 0 and per_file["mean_hash_us"] > 0
    assert report["scan"]["files"] == 40 and report["scan"]["on_over_off"] > 0
    assert report["catalog"]["members"] == 5000 and report["catalog"]["members_per_s"] > 0


def test_bench_check_scan_quick() -> None:
    report = run_quick("bench_check_scan.py")
    assert report["records"] == 2_000 and report["records_per_s"] > 0
    assert report["baseline_json_loads_s"] > 0


def test_bench_interop_quick() -> None:
    report = run_quick("bench_interop.py")
    assert report["rules"] == 1_000
    assert report["import"]["s"] > 0 and report["export"]["s"] > 0
