"""Benchmark of ``exewhitelist check BLOB --scan SCAN.jsonl`` (goal: 50,000 records/s).

A scan of ``--records`` (default 100,000) files of a Windows image is made up:
records as ``exewhitelist scan --as 'C:\\'`` writes them (every field, one
signature with a two-certificate chain on half of them), a third under
``Windows``, a third under ``Program Files``, the rest under ``Users``, one in
fifty of those outside Temp with a second hard link. The policy allows ``%WINDIR%\\*`` and
``%PROGRAMFILES%\\*``, denies ``*\\Temp\\*``, and allows half of the user files
by Authenticode hash (the rest is denied by default). The command runs as a
separate process, as an administrator runs it; its wall time is reported with
a baseline measured in the same run: a process that only reads the same file
and ``json.loads`` each line, the part no decision can skip.

Run it as::

    python benchmarks/bench_check_scan.py [--records N] [--json]
    python benchmarks/bench_check_scan.py --quick     # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_CERT = {
    "subject": "CN=Contoso Code Signing, O=Contoso, C=US",
    "issuer": "CN=Contoso CA, O=Contoso, C=US",
    "publisher": "O=CONTOSO, C=US",
    "serial": "0a1b2c3d4e5f",
    "not_before": "2024-01-01T00:00:00Z",
    "not_after": "2027-01-01T00:00:00Z",
    "sha256": "ab" * 32,
    "tbs_hash": "cd" * 32,
    "tbs_algorithm": "sha256",
    "key": "rsa 3072",
}


def _record(number: int, rng: random.Random) -> tuple[dict[str, Any], str]:
    where = number % 3
    user_folder = "AppData\\Local\\Temp" if number % 7 == 0 else "Tools"
    folder = (
        f"Windows\\System32\\sub{number % 97}",
        f"Program Files\\App{number % 211}",
        f"Users\\user{number % 53}\\{user_folder}",
    )[where]
    name = f"file{number}.exe"
    windows_path = f"C:\\{folder}\\{name}"
    path = "/mnt/image/" + windows_path[3:].replace("\\", "/")
    auth = rng.randbytes(32).hex()
    signed = number % 2 == 0
    linked = number % 50 == 1 and "/Tools/" in path  # a second hard link on the Desktop
    record = {
        "path": path,
        "size": 100_000 + number,
        "sha256": rng.randbytes(32).hex(),
        "pe": {"format": "PE32+", "machine": "amd64", "subsystem": 3, "dll": False,
               "sections": 5, "certificate_entries": int(signed)},
        "authenticode_sha256": auth,
        "authenticode_sha1": rng.randbytes(20).hex(),
        "authenticode_sha256_unpadded": auth,
        "page_sha256": rng.randbytes(32).hex(),
        "page_sha1": rng.randbytes(20).hex(),
        "signed": signed,
        "anomalies": [],
        "pe_error": None,
        "signatures": [
            {"status": "valid", "reason": "intact", "entry": 0, "nesting": 0,
             "digest_algorithm": "sha256", "digest": auth, "digest_matches": True,
             "signing_time": "2025-05-01T00:00:00Z", "chain": [_CERT, _CERT],
             "chain_complete": True}
        ] if signed else [],
        "catalog": None,
        "windows_path": windows_path,
        "mtime": "2025-05-01T00:00:00.000000Z",
        "mtime_ns": 1746057600000000000,
        "inode": number,
        "links": 1,
        "paths": [path] + ([path.replace("/Tools/", "/Desktop/")] if linked else []),
        "version_strings": {"CompanyName": "Contoso", "FileVersion": "1.0.0.0"},
        "fixed_file_version": "1.0.0.0",
        "version_error": None,
        "error": None,
    }  # fmt: skip
    return record, auth


def _policy(allowed: list[str]) -> str:
    lines = [
        '[policy]\nname = "bench"\nversion = 1\nmode = "enforce"\n',
        '[[rule]]\nid = "windows"\naction = "allow"\npath = \'%WINDIR%\\*\'\n',
        '[[rule]]\nid = "programs"\naction = "allow"\npath = \'%PROGRAMFILES%\\*\'\n',
        '[[rule]]\nid = "temp"\naction = "deny"\npath = \'*\\Temp\\*\'\n',
    ]
    lines += [f'[[rule]]\naction = "allow"\nauthenticode_sha256 = "{d}"\n' for d in allowed]
    return "\n".join(lines)


def _run(*args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    # 1 is "denied" for check, and also what a Python traceback exits with: a check run
    # must end with its summary line.
    last_line = proc.stderr.rstrip().rpartition("\n")[2]
    if proc.returncode not in (0, 1) or ("check" in args and not last_line.startswith("check: ")):
        raise RuntimeError(f"{args[:4]} failed: {proc.stderr}")
    return elapsed


_BASELINE = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"


def bench(records: int, folder: Path) -> dict[str, Any]:
    rng = random.Random(18)
    scan_file = folder / "scan.jsonl"
    allowed = []
    with scan_file.open("w") as out:
        for number in range(records):
            record, auth = _record(number, rng)
            if number % 3 == 2 and number % 2 == 0:
                allowed.append(auth)
            out.write(json.dumps(record) + "\n")
    policy = folder / "bench.toml"
    policy.write_text(_policy(allowed))
    blob = folder / "bench.bin"
    exe = [sys.executable, "-m", "exewhitelist"]
    _run(*exe, "compile", "--allow-unbootable", str(policy), "-o", str(blob))
    check_s = min(_run(*exe, "check", str(blob), "--scan", str(scan_file)) for _ in range(3))
    baseline_s = min(_run(sys.executable, "-c", _BASELINE, str(scan_file)) for _ in range(3))
    return {
        "records": records,
        "scan_mb": round(scan_file.stat().st_size / 1e6, 1),
        "hash_rules": len(allowed),
        "check_scan_s": round(check_s, 3),
        "records_per_s": round(records / check_s),
        "baseline_json_loads_s": round(baseline_s, 3),
        "ratio_to_baseline": round(check_s / baseline_s, 2),
        "goal_records_per_s": 50_000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2,000 records")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = bench(2_000 if args.quick else args.records, Path(folder))
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
