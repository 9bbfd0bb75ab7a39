"""Benchmark of the driver's C core: hash lookups, path decisions, blob validation.

The blobs are compiled by :func:`exewhitelist.blob.compile_policy` into a
temporary directory, then ``benchmarks/bench_core.c`` (built by
``make -C driver/harness bench``, gcc -O2, no sanitizer) times the core on
them and prints JSON:

1. Hash lookup (``ewl_find_hash``) in one section of ``--hash-rules`` (default
   1,000,000) Authenticode digests: median ns per lookup for hits and misses
   (random order: the digests are random, so each probe is a cache miss once
   the section, 32 MB at 1M rules, is past the last-level cache), and the
   distinct 64-byte cache lines the binary search compares bytes in, counted
   by replaying it: about log2(n) probes of one line each. Then the same
   lookups through the hash index the driver builds at load
   (``ewl_hash_index_build``), with the speedup over the plain search
   (goal: <= 200 ns per lookup at 1M rules).
2. Path decision (``ewl_decide`` with only a path, the default variables)
   with ``--path-rules`` (default 10,000) rules: exact paths, ``folder\\*``
   and ``%PROGRAMFILES%\\...\\*``, wildcards after a literal prefix shared by
   ~30 rules, ``*\\name.exe`` suffixes and a few ``*\\dir\\*`` scans; median ns
   per decision by kind of query (hits and misses). Goal: <= 2 us.
3. Validation (``ewl_blob_validate``) of the hash blob (~32 MB; the CRC-32 of
   the whole blob is timed alone too) and of the path blob.
4. Worst pattern/path pairs (issue 19 item 12): one rule ``*`` + N x ``A`` +
   ``B*`` against a path of up to 32,767 ``A`` (every place in the path
   starts a near match), timed with ``driver/harness/decide_cost.c`` (one
   ``ewl_decide`` repeated, ``make -C driver/harness cost``) and in Python
   (``glob_match``, what ``check`` runs), each with its ratio to a baseline
   in the same run: the same path against ``*AB*``. The matcher is linear in
   the path for segments without ``?``, so the ratio stays near 1 whatever N
   (goal: <= 1 ms per decision in C). A 64-unit segment with ``?`` (the
   longest ``policy validate`` accepts without a warning) shows that case's
   O(path x segment) cost. (Before the segment matcher: 53 ms per C decision
   and 23 s in Python at N = 4,000 against 32,000 units.)

5. Blob 1.1 (publisher rules and exceptions): ``--publisher-rules`` (default
   1,000) publisher rules (issuer and leaf pins, common names, file names,
   version ranges, some with path, hash and publisher exceptions) and the
   ``--path-rules`` path rules with exceptions on about a third of them, the
   queries' paths with signer facts (two signers, three-certificate chains,
   half of them pinned by some rule); ``ewl_decide`` median ns and
   instructions (perf_event_open) per decision, against the 1.0 blob of the
   same path rules without exceptions on the same paths (the baseline, same
   run). The 1.1 blob comes from ``tests/blob11.py`` until the compiler
   writes 1.1.

Run it as::

    python benchmarks/bench_core.py [--hash-rules N] [--path-rules N] [--json]
    python benchmarks/bench_core.py --quick   # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from exewhitelist.blob import compile_policy
from exewhitelist.errors import PolicyError
from exewhitelist.policy import DEFAULT_VARIABLES, Action, Mode, Policy, Rule, RuleKind, fold
from exewhitelist.rules import (
    CertificateId,
    Condition,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    PathRule,
    Pin,
    Publisher,
    PublisherRule,
    code_units,
    glob_match,
    hash_rule,
    make_rule,
)

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "driver" / "harness"
BENCH = HARNESS / "build" / "bench" / "bench_core"
DECIDE_COST = HARNESS / "build" / "cost" / "decide_cost"
WORST_PAIRS = (
    ("*" + "A" * 4000 + "B*", 32000),
    ("*" + "A" * 16000 + "B*", 32767),
    ("*" + "A" * 32764 + "B*", 32767),
    ("*" + "A?" * 32 + "B*", 32767),
)
"""(pattern, path length in ``A``): the reproducer of issue 19 item 12 and
larger, and a 64-unit segment with ``?``."""
BASELINE_PATTERN = "*AB*"
SCAN_ONLY = 1000


def hash_inputs(rules: int, queries: int, rng: random.Random) -> tuple[bytes, bytes]:
    """The blob of ``rules`` random digests, and ``queries`` digests: half in it, half not."""
    digests = [rng.randbytes(32) for _ in range(rules)]
    policy = Policy(
        "bench hashes",
        1,
        Mode.ENFORCE,
        tuple(hash_rule(RuleKind.AUTHENTICODE_SHA256, d.hex()) for d in digests),
    )
    half = queries // 2
    hits = rng.sample(digests, min(half, rules))
    present = set(digests)
    misses: list[bytes] = []
    while len(misses) < len(hits):
        d = rng.randbytes(32)
        if d not in present:
            misses.append(d)
    return compile_policy(policy), b"".join(hits) + b"".join(misses)


def _rules_and_queries(
    count: int, scan: int, rng: random.Random
) -> tuple[list[Rule], list[tuple[str, str]]]:
    """``count`` path rules, ``scan`` of them in group 3, and queries of each kind."""
    rules: list[Rule] = []
    queries: list[tuple[str, str]] = []
    mix = (("exact", 40), ("folder", 25), ("shared_prefix", 15), ("suffix", 20))
    for i in range(count):
        kind = "scan" if i < scan else rng.choices([k for k, _ in mix], [w for _, w in mix])[0]
        if kind == "exact":
            pattern = f"C:\\Program Files\\Vendor{i % 97}\\Product{i}\\bin\\tool{i}.exe"
            hit = pattern.upper() if i % 2 else pattern
        elif kind == "folder":
            if i % 2:
                pattern = f"C:\\Apps\\Team{i}\\*"
                hit = f"c:\\apps\\team{i}\\sub\\x.exe"
            else:
                pattern = f"%PROGRAMFILES%\\Vendor{i}\\*"
                hit = f"C:\\Program Files (x86)\\Vendor{i}\\app.exe"
        elif kind == "shared_prefix":
            pattern = f"D:\\Data{i % 50}\\*\\app{i}?.exe"
            hit = f"D:\\Data{i % 50}\\user\\files\\app{i}7.exe"
        elif kind == "suffix":
            pattern = f"*\\tool{i}.exe"
            hit = f"E:\\anywhere\\tool{i}.exe"
        else:
            pattern = f"*\\Temp{i}\\*"
            hit = f"C:\\Users\\bob\\Temp{i}\\setup.exe"
        action = Action.DENY if i % 7 == 0 else Action.ALLOW
        rules.append(make_rule(f"rule-{i}", action, RuleKind.PATH, pattern))
        queries.append((f"{kind}_hit", hit))
    for i in range(200):
        queries.append(
            ("near_miss", f"C:\\Program Files\\Vendor{i % 97}\\Product{i}\\bin\\other.exe")
        )
        queries.append(("miss", f"F:\\unrelated\\folder{i}\\program{i}.exe"))
    return rules, queries


def path_inputs(rules: int, scan: int, rng: random.Random) -> tuple[bytes, str]:
    path_rules, queries = _rules_and_queries(rules, scan, rng)
    # At most 200 queries of a kind: enough for a median, cheap to time.
    by_kind: dict[str, list[str]] = {}
    for kind, path in queries:
        by_kind.setdefault(kind, []).append(path)
    lines = []
    for kind, paths in sorted(by_kind.items()):
        for path in rng.sample(paths, min(200, len(paths))):
            lines.append(kind + " " + "".join(f"{ord(c):04x}" for c in fold(path)))
    rng.shuffle(lines)
    blob = compile_policy(Policy("bench paths", 1, Mode.ENFORCE, tuple(path_rules)))
    return blob, "\n".join(lines) + "\n"


def _hex_units(text: str) -> str:
    return "".join(f"{ord(c):04x}" for c in text)


def _write_1_1(policy: Policy) -> bytes:
    """The 1.1 blob: the compiler's once it writes 1.1, else tests/blob11.py's."""
    try:
        return compile_policy(policy)
    except PolicyError:  # the compiler of this tree does not write 1.1 yet
        sys.path.insert(0, str(ROOT / "tests"))
        from blob11 import write  # type: ignore[import-not-found,unused-ignore]

        blob: bytes = write(policy)
        return blob


def signer_inputs(publishers: int, path_rules: int, rng: random.Random) -> tuple[bytes, bytes, str]:
    """The 1.1 blob (publisher rules, path rules with exceptions), the 1.0 blob of the same
    path rules without exceptions, and the queries (paths with signer facts)."""
    plain, path_queries = _rules_and_queries(path_rules, 20, rng)
    certificates = [CertificateId("sha256", rng.randbytes(32).hex()) for _ in range(200)]
    leaves = [CertificateId("sha1", rng.randbytes(20).hex()) for _ in range(200)]
    vendors = [f"Vendor {i} Ltd" for i in range(200)]
    rules: list[Rule] = []
    for i, rule in enumerate(plain):
        assert isinstance(rule, PathRule)
        exceptions: tuple[Condition, ...] = ()
        if i % 3 == 0:
            exceptions = (PathCondition("*\\bad*.exe"),)
        elif i % 3 == 1 and i % 2:
            exceptions = (
                HashCondition(RuleKind.AUTHENTICODE_SHA256, rng.randbytes(32).hex()),
                Publisher(rng.choice(certificates), common_name=rng.choice(vendors)),
            )
        rules.append(
            PathRule(
                action=rule.action, value=rule.value, explicit_id=rule.id, exceptions=exceptions
            )
        )
    for i in range(publishers):
        k = rng.randrange(len(certificates))
        low = FileVersion((rng.randrange(4), 0, 0, 0)) if i % 4 == 0 else None
        publisher = Publisher(
            leaves[k] if i % 5 == 0 else certificates[k],
            Pin.LEAF if i % 5 == 0 else Pin.ISSUER,
            common_name=vendors[k] if i % 2 else None,
            attribute=FileAttribute.ORIGINAL_FILENAME if i % 3 == 0 else None,
            attribute_value=f"tool{i % 50}.exe" if i % 3 == 0 else None,
            min_version=low,
            max_version=FileVersion((9, 0, 0, 0)) if low is not None and i % 8 == 0 else None,
        )
        exceptions = (PathCondition("%WINDIR%\\Temp\\*"),) if i % 10 == 0 else ()
        action = Action.DENY if i % 9 == 0 else Action.ALLOW
        rules.append(PublisherRule.of(f"pub-{i}", action, publisher, exceptions=exceptions))
    signer_blob = _write_1_1(Policy("bench signers", 1, Mode.ENFORCE, tuple(rules)))
    base_blob = compile_policy(Policy("bench signers base", 1, Mode.ENFORCE, tuple(plain)))
    by_kind: dict[str, list[str]] = {}
    for kind, path in path_queries:
        by_kind.setdefault(kind, []).append(path)
    lines = []
    for kind, paths in sorted(by_kind.items()):
        for path in rng.sample(paths, min(200, len(paths))):
            k = rng.randrange(len(certificates))
            pinned = rng.random() < 0.5
            stranger = [rng.randbytes(32).hex() for _ in range(3)]
            chain = (
                [f"1:{leaves[k].tbs_hash}", f"2:{certificates[k].tbs_hash}", f"2:{stranger[0]}"]
                if pinned
                else [f"2:{h}" for h in stranger]
            )
            signers = [
                ",".join(chain) + ";" + _hex_units(code_units(vendors[k])),
                ",".join(f"2:{rng.randbytes(32).hex()}" for _ in range(3)) + ";-",
            ]
            facts = [
                *signers,
                "of=" + _hex_units(fold(f"tool{rng.randrange(60)}.exe")),
                f"v={(rng.randrange(5) << 48)}",
            ]
            lines.append(" ".join((kind, _hex_units(fold(path)), *facts)))
    rng.shuffle(lines)
    return signer_blob, base_blob, "\n".join(lines) + "\n"


def run_signers(publishers: int, path_rules: int, seed: int = 1) -> dict[str, Any]:
    """Section 5: the 1.1 decision with signer facts against the 1.0 baseline."""
    subprocess.run(["make", "-C", str(HARNESS), "-s", "bench"], check=True)
    rng = random.Random(seed)
    signer_blob, base_blob, queries = signer_inputs(publishers, path_rules, rng)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "signers.bin").write_bytes(signer_blob)
        (d / "base.bin").write_bytes(base_blob)
        (d / "signers.txt").write_text(queries)
        proc = subprocess.run(
            [
                str(BENCH),
                "--signers",
                str(d / "signers.bin"),
                str(d / "base.bin"),
                str(d / "signers.txt"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        report: dict[str, Any] = json.loads(proc.stdout)
        if shutil.which("valgrind") is not None:
            # perf counters are often refused in containers: callgrind counts instead.
            report["callgrind_mean_instructions"] = {
                label: _callgrind_per_decision(d, d / blob, d / "signers.txt", mode)
                for label, blob, mode in (
                    ("signers", "signers.bin", "signers"),
                    ("base", "base.bin", "plain"),
                )
            }
    return report


def _callgrind_per_decision(d: Path, blob: Path, queries: Path, mode: str) -> float:
    """Instructions inside ewl_decide per decision (mean over the queries, callgrind)."""
    out = d / f"callgrind-{mode}.out"
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--collect-atstart=no",
            "--toggle-collect=ewl_decide",
            str(BENCH),
            "--signers-once",
            str(blob),
            str(queries),
            mode,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    decisions = int(json.loads(proc.stdout)["decisions"])
    totals = re.search(r"^summary: (\d+)$", out.read_text(), re.MULTILINE)
    assert totals is not None
    return int(totals.group(1)) / decisions


def run(
    hash_rules: int, path_rules: int, scan_rules: int, queries: int, seed: int = 1
) -> dict[str, Any]:
    subprocess.run(["make", "-C", str(HARNESS), "-s", "bench"], check=True)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        hash_blob, digests = hash_inputs(hash_rules, queries, rng)
        path_blob, paths = path_inputs(path_rules, scan_rules, rng)
        # Group 3 alone: what each scanned rule adds to every decision.
        scan_blob, scan_paths = path_inputs(SCAN_ONLY, SCAN_ONLY, rng)
        (d / "hashes.bin").write_bytes(hash_blob)
        (d / "digests.bin").write_bytes(digests)
        (d / "paths.bin").write_bytes(path_blob)
        (d / "paths.txt").write_text(paths)
        (d / "scan.bin").write_bytes(scan_blob)
        (d / "scan.txt").write_text(scan_paths)
        proc = subprocess.run(
            [
                str(BENCH),
                str(d / "hashes.bin"),
                str(d / "digests.bin"),
                str(d / "paths.bin"),
                str(d / "paths.txt"),
                str(d / "scan.bin"),
                str(d / "scan.txt"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    report: dict[str, Any] = json.loads(proc.stdout)
    report["scan_rules"] = scan_rules
    report["worst_pairs"] = worst_pairs()
    report["default_variables"] = {k: list(v) for k, v in DEFAULT_VARIABLES.items()}
    return report


def _c_ns(d: Path, pattern: str, path_units: int) -> float:
    """decide_cost's mean ns per decision, one rule ``pattern``, a path of ``A``."""
    blob = compile_policy(
        Policy("worst", 1, Mode.ENFORCE, (make_rule("w", Action.ALLOW, RuleKind.PATH, pattern),))
    )
    (d / "worst.bin").write_bytes(blob)
    (d / "worst.path").write_bytes(("A" * path_units).encode("utf-16-le"))
    repeat = 50
    times = []
    for _ in range(5):
        proc = subprocess.run(
            [str(DECIDE_COST), str(d / "worst.bin"), str(d / "worst.path"), str(repeat)],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(json.loads(proc.stdout)["ns_per_decision"]))
    return sorted(times)[len(times) // 2]


def _python_ns(pattern: str, path_units: int) -> float:
    """Median ns of ``glob_match`` (the folded pattern and path are uppercase already)."""
    path = "A" * path_units
    times = []
    for _ in range(5):
        t0 = time.perf_counter_ns()
        glob_match(pattern, path)
        times.append(float(time.perf_counter_ns() - t0))
    return sorted(times)[len(times) // 2]


def worst_pairs() -> list[dict[str, Any]]:
    """Section 4: each worst pair, in C and Python, and its ratio to the baseline."""
    subprocess.run(["make", "-C", str(HARNESS), "-s", "cost"], check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for pattern, path_units in WORST_PAIRS:
            c_ns, py_ns = _c_ns(d, pattern, path_units), _python_ns(pattern, path_units)
            c_base = _c_ns(d, BASELINE_PATTERN, path_units)
            py_base = _python_ns(BASELINE_PATTERN, path_units)
            rows.append(
                {
                    "pattern_units": len(pattern),
                    "pattern_head": pattern[:8],
                    "question_marks": pattern.count("?"),
                    "path_units": path_units,
                    "c_ns": c_ns,
                    "c_ratio": c_ns / c_base,
                    "python_ns": py_ns,
                    "python_ratio": py_ns / py_base,
                }
            )
    return rows


def describe(report: dict[str, Any]) -> str:
    h, p, v = report["hash_lookup"], report["path_decision"], report["validation"]
    ix = report["hash_lookup_indexed"]
    scan = report["scan_group"]
    per_scan_rule = scan["by_category"]["miss"]["median_ns"] / scan["rules"]
    lines = [
        f"hash lookup, {h['rules']:,} rules: hit {h['hit_ns']:.0f} ns, miss {h['miss_ns']:.0f} ns "
        f"(median); cache lines compared: {h['hit_cache_lines']:.1f} per hit, "
        f"{h['miss_cache_lines']:.1f} per miss (log2(n) probes, one line each)",
        f"  with the driver's hash index ({ix['bits']} bits, {ix['index_bytes'] // 1024} KiB, "
        f"built in {ix['build_ms']:.1f} ms): hit {ix['hit_ns']:.0f} ns, "
        f"miss {ix['miss_ns']:.0f} ns = {ix['hit_speedup']:.1f}x / {ix['miss_speedup']:.1f}x "
        "faster than without",
        f"path decision, {p['rules']:,} rules ({report['scan_rules']} in group 3): "
        f"{p['median_ns']:.0f} ns per decision (median)",
    ]
    for kind, c in sorted(p["by_category"].items()):
        lines.append(
            f"  {kind:20} {c['median_ns']:8.0f} ns  ({c['decided_by_path']}/{c['queries']} "
            "decided by a path rule)"
        )
    scan_miss = scan["by_category"]["miss"]["median_ns"]
    mib = v["hash_blob_bytes"] / (1 << 20)
    lines += [
        f"group 3 (scanned) rules: {per_scan_rule:.0f} ns each per decision that reaches them "
        f"({scan['rules']:,} scan rules, a miss: {scan_miss:.0f} ns)",
        f"validation: {mib:.1f} MiB blob in {v['hash_blob_ms']:.1f} ms "
        f"(CRC-32 alone {v['crc32_only_ms']:.1f} ms); path blob of {v['path_blob_bytes']:,} bytes "
        f"in {v['path_blob_ms']:.2f} ms",
    ]
    if "signers" in report:
        sg = report["signers"]

        def ins(value: float | None) -> str:
            return "n/a" if value is None else f"{value:,.0f}"

        a = sg["all"]
        lines.append(
            f"blob 1.1: {sg['publisher_rules']:,} publisher rules, {sg['path_rules']:,} path rules "
            f"({sg['exception_lists']:,} with exceptions, {sg['exceptions']:,} exceptions), "
            f"signer facts given: {a['median_ns']:.0f} ns / {ins(a['median_instructions'])} "
            f"instructions per decision (median) vs 1.0 baseline {a['base_median_ns']:.0f} ns / "
            f"{ins(a['base_median_instructions'])} ({a['ratio']:.2f}x); "
            f"{a['decided_by_publisher']}/{a['queries']} decided by a publisher rule; "
            f"validation {sg['validate_ms']:.2f} ms ({sg['blob_bytes']:,} bytes)"
        )
        cg = sg.get("callgrind_mean_instructions")
        if cg is not None:
            lines.append(
                f"  instructions per decision (callgrind, mean): {cg['signers']:,.0f} "
                f"vs 1.0 baseline {cg['base']:,.0f} ({cg['signers'] / cg['base']:.2f}x)"
            )
        for kind, c in sorted(sg["by_category"].items()):
            lines.append(
                f"  {kind:20} {c['median_ns']:8.0f} ns {ins(c['median_instructions']):>8} ins"
                f"  vs {c['base_median_ns']:6.0f} ns {ins(c['base_median_instructions']):>8} ins"
                f"  ({c['ratio']:.2f}x)"
            )
    lines.append(
        f"worst pattern/path pairs (ratio to {BASELINE_PATTERN} against the same path, same run):"
    )
    for w in report["worst_pairs"]:
        kind = f"{w['question_marks']} '?'" if w["question_marks"] else "no '?'"
        lines.append(
            f"  {w['pattern_units']:6,}-unit pattern ({kind}) x {w['path_units']:,}-unit path: "
            f"C {w['c_ns'] / 1000:8.1f} us ({w['c_ratio']:.1f}x), "
            f"Python {w['python_ns'] / 1e6:7.2f} ms ({w['python_ratio']:.1f}x)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hash-rules", type=int, default=1_000_000)
    parser.add_argument("--path-rules", type=int, default=10_000)
    parser.add_argument("--scan-rules", type=int, default=20, help="of the path rules, in group 3")
    parser.add_argument("--queries", type=int, default=20_000, help="hash lookups (half hits)")
    parser.add_argument("--publisher-rules", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, report on stderr")
    args = parser.parse_args(argv)
    if args.quick:
        args.hash_rules, args.path_rules, args.queries = 5_000, 500, 2_000
        args.publisher_rules = 100
    report = run(args.hash_rules, args.path_rules, args.scan_rules, args.queries)
    report["signers"] = run_signers(args.publisher_rules, args.path_rules)
    text = describe(report)
    if args.json:
        print(json.dumps(report, indent=2))
        print(text, file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
