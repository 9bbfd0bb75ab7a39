"""Benchmark of the policy compiler and the Python blob reader.

Every time is reported with a baseline measured in the same run:

1. Blob size per SHA-256 hash rule at ``--size-rules`` (default 100,000) hash
   rules, against the 32 bytes of the digest itself (the limit).
2. ``exewhitelist compile`` of a JSON policy of ``--rules`` (default 1,000,000)
   Authenticode hash rules, as a separate process (wall time and peak RSS),
   against a process that only ``json.load``-s the same file: parsing the JSON
   is the part no compiler can skip.  Both ratios are reported (time, peak RSS).
   The same policy as TOML (as ``save_policy`` writes it), compiled the same
   way, against a process that only ``tomllib.loads``-es that file (what
   compiling it cost before the rule tables were read by
   :mod:`exewhitelist.tomlfast`); the blob must be the JSON one's, byte for
   byte.
3. Decisions per second of the Python reader on that blob (hits and misses),
   against ``bisect`` over a sorted Python list of the same digests.

Run it as::

    python benchmarks/bench_blob.py [--rules N] [--size-rules N] [--json]
    python benchmarks/bench_blob.py --quick     # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.policy import Action, Policy
from exewhitelist.policyfile import save_policy
from exewhitelist.rules import AuthenticodeRule


def _digests(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.randbytes(32).hex() for _ in range(n)]


def blob_size(n: int) -> dict[str, Any]:
    rules = tuple(AuthenticodeRule.trusted(None, Action.ALLOW, d) for d in _digests(n, 1))
    blob = compile_policy(Policy("size", 1, rules=rules))
    return {"rules": n, "bytes": len(blob), "bytes_per_rule": len(blob) / n}


def _child(code: str, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child Python process."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.execv(sys.executable, [sys.executable, "-c", code, *args])
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"child failed: {code}")
    return elapsed, usage.ru_maxrss / 1024


def compile_big(n: int, tmp: Path) -> tuple[dict[str, Any], Path, list[str]]:
    digests = _digests(n, 2)
    source = tmp / "big.json"
    with source.open("w") as f:
        f.write('{"policy": {"name": "big", "version": 1, "mode": "enforce"}, "rule": [\n')
        f.write(",\n".join(f'{{"action": "allow", "authenticode_sha256": "{d}"}}' for d in digests))
        f.write("\n]}\n")
    blob = tmp / "big.bin"
    json_s, json_mb = _child("import json, sys; json.load(open(sys.argv[1]))", str(source))
    compile_s, compile_mb = _child(
        _COMPILE,
        "compile",
        "--allow-unbootable",  # a hash-only policy: the boot check would refuse it
        str(source),
        "-o",
        str(blob),
    )
    result = {
        "rules": n,
        "json_bytes": source.stat().st_size,
        "compile_s": compile_s,
        "compile_peak_mb": compile_mb,
        "json_load_s": json_s,
        "json_load_peak_mb": json_mb,
        "ratio_to_json_load": compile_s / json_s,
        "peak_ratio_to_json_load": compile_mb / json_mb,
        "goal": "<= 3 s and <= 600 MB",
    }
    return result, blob, digests


_COMPILE = "import sys; from exewhitelist.cli import main; sys.exit(main(sys.argv[1:]))"


def compile_big_toml(digests: list[str], tmp: Path, json_blob: Path) -> dict[str, Any]:
    """``exewhitelist compile`` of the TOML form, against ``tomllib.loads`` of it alone."""
    rules = tuple(AuthenticodeRule.trusted(None, Action.ALLOW, d) for d in digests)
    source = tmp / "big.toml"
    save_policy(Policy("big", 1, rules=rules), source)
    del rules
    blob = tmp / "big-toml.bin"
    load_s, load_mb = _child(
        "import sys\n"
        "if sys.version_info >= (3, 11): import tomllib\n"
        "else: import tomli as tomllib\n"
        "tomllib.loads(open(sys.argv[1], encoding='utf-8').read())",
        str(source),
    )
    compile_s, compile_mb = _child(
        _COMPILE, "compile", "--allow-unbootable", str(source), "-o", str(blob)
    )
    if blob.read_bytes() != json_blob.read_bytes():
        raise RuntimeError("the TOML and JSON forms of one policy compiled differently")
    return {
        "rules": len(digests),
        "toml_bytes": source.stat().st_size,
        "compile_s": compile_s,
        "compile_peak_mb": compile_mb,
        "tomllib_load_s": load_s,
        "tomllib_load_peak_mb": load_mb,
        "ratio_to_tomllib_load": compile_s / load_s,
        "peak_ratio_to_tomllib_load": compile_mb / load_mb,
        "goal": "<= 3 s and <= 600 MB",
    }


def decisions(blob_path: Path, digests: list[str], queries: int) -> dict[str, Any]:
    blob = read_blob(blob_path.read_bytes())
    rng = random.Random(3)
    hits = [rng.choice(digests) for _ in range(queries // 2)]
    misses = _digests(queries - len(hits), 4)
    mixed = hits + misses
    rng.shuffle(mixed)
    start = time.perf_counter()
    for d in mixed:
        blob.decide(authenticode_sha256=d)
    reader_s = time.perf_counter() - start
    table = sorted(bytes.fromhex(d) for d in digests)
    start = time.perf_counter()
    for d in mixed:
        raw = bytes.fromhex(d)
        i = bisect.bisect_left(table, raw)
        _ = i < len(table) and table[i] == raw
    bisect_s = time.perf_counter() - start
    return {
        "queries": len(mixed),
        "reader_decisions_per_s": len(mixed) / reader_s,
        "bisect_lookups_per_s": len(mixed) / bisect_s,
        "ratio_reader_time_to_bisect": reader_s / bisect_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1_000_000)
    parser.add_argument("--size-rules", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if args.quick:
        args.rules, args.size_rules, args.queries = 20_000, 10_000, 2_000
    report: dict[str, Any] = {"size": blob_size(args.size_rules)}
    with tempfile.TemporaryDirectory() as tmp:
        report["compile"], blob, digests = compile_big(args.rules, Path(tmp))
        report["compile_toml"] = compile_big_toml(digests, Path(tmp), blob)
        report["decisions"] = decisions(blob, digests, args.queries)
    report["benchmark_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps(report))
        return 0
    s, c, d = report["size"], report["compile"], report["decisions"]
    t = report["compile_toml"]
    print(f"[1] blob size: {s['bytes_per_rule']:.4f} bytes per hash rule at {s['rules']:,} rules")
    print("    (the digest alone is 32 bytes; goal <= 32.5)")
    print(
        f"[2] compile {c['rules']:,} rules from JSON ({c['json_bytes'] / 1e6:.0f} MB): "
        f"{c['compile_s']:.2f} s, peak {c['compile_peak_mb']:.0f} MB ({c['goal']})"
    )
    print(
        f"    json.load alone: {c['json_load_s']:.2f} s, peak {c['json_load_peak_mb']:.0f} MB; "
        f"compile / json.load = {c['ratio_to_json_load']:.2f} (time), "
        f"{c['peak_ratio_to_json_load']:.2f} (peak RSS)"
    )
    print(
        f"    the same from TOML ({t['toml_bytes'] / 1e6:.0f} MB): "
        f"{t['compile_s']:.2f} s, peak {t['compile_peak_mb']:.0f} MB ({t['goal']})"
    )
    print(
        f"    tomllib.loads alone: {t['tomllib_load_s']:.2f} s, "
        f"peak {t['tomllib_load_peak_mb']:.0f} MB; "
        f"compile / tomllib.loads = {t['ratio_to_tomllib_load']:.2f} (time), "
        f"{t['peak_ratio_to_tomllib_load']:.2f} (peak RSS)"
    )
    print(
        f"[3] Python reader: {d['reader_decisions_per_s']:,.0f} decisions/s "
        f"(bisect on a Python list: {d['bisect_lookups_per_s']:,.0f}/s; "
        f"ratio {d['ratio_reader_time_to_bisect']:.1f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
