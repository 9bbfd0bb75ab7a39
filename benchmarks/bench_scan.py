"""Benchmark of ``exewhitelist scan``, as ratios to baselines measured in the same run.

What is measured (page cache warm, best of ``--repeat`` wall times):

1. A tree of ``--files`` (default 1024) real PE images totalling ``--total-mib``
   (default 1100 MiB): the test samples (``tests/samples.py``: PyPI launchers,
   Microsoft-signed DLLs, Debian's signed UEFI binaries, mingw builds), each
   followed by an overlay of pseudo-random bytes of a varied size (log-uniform
   over 16 KiB to 4 MiB, scaled to the total) that starts with the file's
   number, so that every file is distinct; 32 files a directory.

   a. ``ideal``: hashlib computing, on the bytes already in memory, exactly
      the digests the scan computes (flat SHA-256, Authenticode SHA-256 and
      SHA-1 over the Authenticode ranges, first-page SHA-256 and SHA-1), one
      file after another, divided by 2 (the two cores ``--jobs 2`` uses).
   b. ``scan --jobs 2`` through the API, records serialised to JSON as the
      command does: time over ``ideal`` (goal <= 1.15), files/s, MB/s.  Also
      the command itself (a subprocess: interpreter start-up included).
   c. Where the time goes: the version-resource reading (pefile) alone, one
      thread; the scan's per-file work, one task a file, on 2 threads and on 2
      processes (``ThreadPoolExecutor`` against ``ProcessPoolExecutor``, its
      workers started beforehand).
   d. Second scan with ``--cache`` as a fraction of the first, uncached scan
      (goal <= 0.05).
   e. Side by side on the same files: ``sha256sum`` (``xargs -P2``: one digest
      a file, where the scan computes five) and lief's ``authentihash`` in a
      loop (one digest, one thread), as time ratios to the scan.

2. Large files: 8 files of 64 MiB, the scan's per-file work on 2 threads with
   and without the hashing module's read-ahead thread (which the scan turns off
   when it runs a file per CPU).

3. ``--small-files`` (default 100,000) minimal PE images of 2 KiB, 1000 a
   directory: the command in a subprocess, files/s and its peak RSS, against a
   tenth of the files: the peak must not grow with the number of files.

Run it as::

    python benchmarks/bench_scan.py [--files N] [--total-mib N] [--json]
    python benchmarks/bench_scan.py --quick   # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_hashing import (
    MIB,
    Report,
    best_of,
    environment,
    lief_authentihash,
    load_lief,
    minimal_pe32_plus,
    verdict,
)

import exewhitelist.scan as scan_module
from exewhitelist import ScanOptions, hashing
from exewhitelist.hashing import hash_open_file, open_file
from exewhitelist.pe import parse_layout
from exewhitelist.scan import scan

ROOT = Path(__file__).resolve().parent.parent
GOAL_SCAN_TO_IDEAL = 1.15
GOAL_CACHED_FRACTION = 0.05
JOBS = 2
FILES_PER_DIR = 32
SMALL_FILE_SIZE = 2048
SMALL_PER_DIR = 1000
LARGE_FILES, LARGE_MIB = 8, 64

QUICK = {"files": 40, "total_mib": 24, "small_files": 2000, "repeat": 1, "large": False}
FULL = {"files": 1024, "total_mib": 1100, "small_files": 100_000, "repeat": 3, "large": True}


# ------------------------------------------------------------------------------ the trees


def real_samples() -> list[bytes]:
    """The test suite's real PE samples (fetched or built once, cached on disk)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from samples import all_samples

    return [path.read_bytes() for _, path in sorted(all_samples().items())]


def overlay_sizes(count: int, total: int, rng: random.Random) -> list[int]:
    """``count`` log-uniform sizes over 16 KiB..4 MiB, scaled to sum to about ``total``."""
    raw = [math.exp(rng.uniform(math.log(16 << 10), math.log(4 << 20))) for _ in range(count)]
    scale = total / sum(raw)
    return [max(16, int(r * scale)) for r in raw]


def build_pe_tree(root: Path, samples: Sequence[bytes], files: int, total_mib: int) -> list[str]:
    """The tree of section 1; returns the paths in scan order."""
    rng = random.Random(7)
    noise = rng.randbytes(8 * MIB)
    base_total = sum(len(samples[i % len(samples)]) for i in range(files))
    sizes = overlay_sizes(files, max(total_mib * MIB - base_total, files * 16), rng)
    paths = []
    for i, size in enumerate(sizes):
        directory = root / f"d{i // FILES_PER_DIR:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"f{i:05d}.exe"
        start = rng.randrange(0, len(noise) - min(size, len(noise)) + 1)
        with path.open("wb") as f:
            f.write(samples[i % len(samples)])
            f.write(i.to_bytes(16, "little"))
            remaining = size - 16
            while remaining > 0:
                piece = noise[start : start + remaining]
                f.write(piece)
                remaining -= len(piece)
                start = 0
        paths.append(str(path))
    return paths


def build_small_tree(root: Path, count: int) -> None:
    for i in range(count):
        directory = root / f"d{i // SMALL_PER_DIR:04d}"
        if i % SMALL_PER_DIR == 0:
            directory.mkdir(parents=True)
        (directory / f"s{i:06d}.exe").write_bytes(minimal_pe32_plus(SMALL_FILE_SIZE, tag=i))


def backdate(root: Path) -> None:
    """An hour-old mtime: the cache keeps files modified more than 2 s before they are read."""
    old = time.time() - 3600
    for dirpath, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(dirpath, name), (old, old))


def warm(paths: Sequence[str]) -> int:
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(MIB):
                total += len(chunk)
    return total


# ------------------------------------------------------------------------- what is timed


Plan = tuple[bytes, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...], int]
"""A file in memory: its bytes, Authenticode ranges, first-page ranges, first-page zeros."""


def plan(data: bytes) -> Plan:
    layout = parse_layout(lambda offset, size: data[offset : offset + size], len(data))
    if layout is None:
        raise RuntimeError("the benchmark tree must hold PE images only")
    end = layout.first_page_end(len(data))
    return (
        data,
        layout.authenticode_ranges(),
        layout.first_page_ranges(len(data)),
        layout.page_size - end,
    )


def ideal_digests(plans: Sequence[Plan]) -> None:
    """hashlib alone, bytes in memory: exactly the five digests of every file."""
    for data, auth_ranges, page_ranges, page_zeros in plans:
        view = memoryview(data)
        hashlib.sha256(view).digest()
        auth = (hashlib.sha256(), hashlib.sha1(usedforsecurity=False))
        page = (hashlib.sha256(), hashlib.sha1(usedforsecurity=False))
        for start, stop in auth_ranges:
            for h in auth:
                h.update(view[start:stop])
        for start, stop in page_ranges:
            for h in page:
                h.update(view[start:stop])
        padding = bytes(-auth_ranges[-1][1] % 8)
        for h in auth:
            h.update(padding)
            h.digest()
        zeros = bytes(page_zeros)
        for h in page:
            h.update(zeros)
            h.digest()


def time_ideal(paths: Sequence[str], repeat: int) -> tuple[float, float]:
    """hashlib's time for the digests, bytes in memory: (one thread, ``JOBS`` threads).

    The issue's ideal is the first divided by ``JOBS``; the second is what
    this machine's cores really give in parallel right now.
    """
    plans = [plan(Path(p).read_bytes()) for p in paths]
    one = best_of(lambda: ideal_digests(plans), repeat)
    shares = [plans[i::JOBS] for i in range(JOBS)]
    with ThreadPoolExecutor(JOBS) as threads:
        parallel = best_of(lambda: list(threads.map(ideal_digests, shares)), repeat)
    return one, parallel


def scan_api(root: Path, jobs: int, cache: str | None = None) -> int:
    """The scan as the command runs it, records serialised and dropped; returns their count."""
    count = 0
    with open(os.devnull, "w") as out:
        for record in scan([root], ScanOptions(jobs=jobs, cache=cache)):
            out.write(json.dumps(record.to_json()) + "\n")
            count += 1
    return count


MEASURED_COMMAND = """
import sys
from exewhitelist.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print("VmHWM", status.split("VmHWM:")[1].split()[0], file=sys.stderr)
sys.exit(code)
"""
"""``exewhitelist`` that prints its own peak RSS (``VmHWM``, KiB) last on stderr.

Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's RSS at ``fork`` into it."""


def scan_command(root: Path, *extra: str) -> tuple[float, int]:
    """The command in a subprocess: (wall seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", MEASURED_COMMAND, "scan", str(root), "-o", os.devnull, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"exewhitelist scan {root} failed: {proc.stderr}")
    return elapsed, int(proc.stderr.rsplit("VmHWM", 1)[1])


def examine(path: str) -> None:
    """The scan's work on one file (what its threads do), for the executor comparison."""
    scan_module._examine(path, False, True, scan_module._ByteCounter())


def examine_all(executor: Executor, paths: Sequence[str]) -> None:
    """One task a file, as the scan submits them (``chunksize=1``)."""
    for _ in executor.map(examine, paths):
        pass


def version_info_only(paths: Sequence[str]) -> None:
    """The version resource of every file read (the digests are computed untimed)."""
    for path in paths:
        fd = open_file(path)
        try:
            scan_module._version_info(fd, hashed[path])
        finally:
            os.close(fd)


hashed: dict[str, Any] = {}


def sha256sum(root: Path) -> None:
    files = subprocess.Popen(["find", str(root), "-type", "f", "-print0"], stdout=subprocess.PIPE)
    subprocess.run(
        ["xargs", "-0", "-P", str(JOBS), "-n", "64", "sha256sum"],
        stdin=files.stdout,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    files.wait()


# ---------------------------------------------------------------------------- sections


def bench_tree(root: Path, paths: list[str], repeat: int, rep: Report) -> dict[str, Any]:
    size = warm(paths)
    n = len(paths)
    t_one, t_parallel = time_ideal(paths, repeat)
    t_ideal = t_one / JOBS
    t_scan = best_of(lambda: scan_api(root, JOBS), repeat)
    t_command, _ = min(scan_command(root, "--jobs", str(JOBS)) for _ in range(repeat))
    ratio = t_scan / t_ideal
    rep.row(f"ideal: hashlib, 5 digests, in memory, / {JOBS}", t_ideal)
    rep.row(
        f"  the same on {JOBS} threads (this machine, now)",
        t_parallel,
        f"{t_one / t_parallel:.2f} x one thread's speed",
    )
    rep.row(
        f"scan --jobs {JOBS} (API, JSON records)",
        t_scan,
        f"{ratio:.3f} x ideal (goal <= {GOAL_SCAN_TO_IDEAL}: "
        f"{verdict(ratio <= GOAL_SCAN_TO_IDEAL)})",
    )
    rep.line(f"  {n / t_scan:8.0f} files/s  {size / 1e6 / t_scan:8.0f} MB/s")
    rep.line(f"  {t_scan / t_parallel:.3f} x the in-memory digests on {JOBS} threads")
    rep.row(
        f"exewhitelist scan --jobs {JOBS} (subprocess)", t_command, f"{t_command / t_ideal:.3f} x"
    )

    for p in paths:
        fd = open_file(p)
        try:
            hashed[p] = hash_open_file(fd, p)
        finally:
            os.close(fd)
    t_version = best_of(lambda: version_info_only(paths), repeat)
    hashed.clear()
    with ThreadPoolExecutor(JOBS) as threads:
        t_threads = best_of(lambda: examine_all(threads, paths), repeat)
    with ProcessPoolExecutor(JOBS) as processes:
        examine_all(processes, paths[:JOBS])  # start the workers
        t_processes = best_of(lambda: examine_all(processes, paths), repeat)
    rep.row(
        "version resources alone (1 thread)",
        t_version,
        f"{t_version / JOBS / t_ideal:.3f} x ideal if spread on {JOBS} cores",
    )
    rep.row(f"per-file work on {JOBS} threads", t_threads, f"{t_threads / t_ideal:.3f} x ideal")
    rep.row(
        f"per-file work on {JOBS} processes", t_processes, f"{t_processes / t_ideal:.3f} x ideal"
    )

    cache = root.parent / "scan-cache.db"
    backdate(root)
    t_first_cached = best_of(lambda: scan_api(root, JOBS, str(cache)), 1)
    t_cached = best_of(lambda: scan_api(root, JOBS, str(cache)), repeat)
    fraction = t_cached / t_scan
    rep.row("scan --cache, first (writes the cache)", t_first_cached)
    rep.row(
        "scan --cache, unchanged tree",
        t_cached,
        f"{fraction:.3f} of the uncached scan (goal <= {GOAL_CACHED_FRACTION}: "
        f"{verdict(fraction <= GOAL_CACHED_FRACTION)})",
    )

    side: dict[str, Any] = {}
    t_sum = best_of(lambda: sha256sum(root), repeat)
    rep.row(
        f"sha256sum (xargs -P{JOBS}, 1 digest)", t_sum, f"scan: {t_scan / t_sum:.2f} x its time"
    )
    side["sha256sum"] = {"seconds": t_sum, "ratio_scan_to_it": t_scan / t_sum}
    try:
        lief, lief_version = load_lief()
    except ImportError as e:
        side["lief"] = {"skipped": str(e)}
    else:
        t_lief = best_of(lambda: [lief_authentihash(lief, p) for p in paths], 1)
        rep.row(
            f"lief {lief_version} authentihash loop (1 thread, 1 digest)",
            t_lief,
            f"scan: {t_scan / t_lief:.2f} x its time",
        )
        side["lief"] = {
            "version": lief_version,
            "seconds": t_lief,
            "ratio_scan_to_it": t_scan / t_lief,
        }
    return {
        "files": n,
        "bytes": size,
        "ideal_s": t_ideal,
        "ideal_one_thread_s": t_one,
        "ideal_parallel_s": t_parallel,
        "ratio_scan_to_parallel_ideal": t_scan / t_parallel,
        "scan_s": t_scan,
        "ratio_scan_to_ideal": ratio,
        "goal_ratio_max": GOAL_SCAN_TO_IDEAL,
        "meets_goal": ratio <= GOAL_SCAN_TO_IDEAL,
        "files_s": n / t_scan,
        "mb_s": size / 1e6 / t_scan,
        "command_s": t_command,
        "version_info_one_thread_s": t_version,
        "examine_threads_s": t_threads,
        "examine_processes_s": t_processes,
        "cache_first_s": t_first_cached,
        "cache_second_s": t_cached,
        "cache_fraction": fraction,
        "cache_goal_max": GOAL_CACHED_FRACTION,
        "cache_meets_goal": fraction <= GOAL_CACHED_FRACTION,
        "side_by_side": side,
    }


def bench_large(root: Path, repeat: int, rep: Report) -> dict[str, Any]:
    rng = random.Random(3)
    block = rng.randbytes(LARGE_MIB * MIB)
    base = minimal_pe32_plus(SMALL_FILE_SIZE)
    root.mkdir()
    paths = []
    for i in range(LARGE_FILES):
        path = root / f"large{i}.exe"
        path.write_bytes(base + i.to_bytes(16, "little") + block)
        paths.append(str(path))
    del block
    warm(paths)
    threshold = hashing.PIPELINE_THRESHOLD
    with ThreadPoolExecutor(JOBS) as threads:
        t_on = best_of(lambda: examine_all(threads, paths), repeat)
        hashing.PIPELINE_THRESHOLD = 1 << 62  # no file is large enough for the read-ahead
        try:
            t_off = best_of(lambda: examine_all(threads, paths), repeat)
        finally:
            hashing.PIPELINE_THRESHOLD = threshold
    rep.row(f"{JOBS} threads, read-ahead on", t_on)
    rep.row(f"{JOBS} threads, read-ahead off", t_off, f"{t_off / t_on:.3f} x on")
    return {
        "files": LARGE_FILES,
        "mib_each": LARGE_MIB,
        "read_ahead_on_s": t_on,
        "read_ahead_off_s": t_off,
    }


def bench_small(root: Path, count: int, rep: Report) -> dict[str, Any]:
    tenth = max(count // 10, 1)
    build_small_tree(root / "tenth", tenth)
    build_small_tree(root / "all", count)
    results = {}
    for label, n in (("tenth", tenth), ("all", count)):
        warm([os.path.join(d, f) for d, _, fs in os.walk(root / label) for f in fs])
        seconds, rss = scan_command(root / label, "--jobs", str(JOBS))
        results[label] = {
            "files": n,
            "seconds": seconds,
            "files_s": n / seconds,
            "peak_rss_kib": rss,
        }
        rep.row(
            f"exewhitelist scan, {n} files of {SMALL_FILE_SIZE} bytes",
            seconds,
            f"{n / seconds:8.0f} files/s  peak RSS {rss / 1024:.1f} MiB",
        )
    growth = (results["all"]["peak_rss_kib"] - results["tenth"]["peak_rss_kib"]) / 1024
    rep.line(f"peak RSS growth from {tenth} to {count} files: {growth:+.1f} MiB")
    return {**results, "peak_rss_growth_mib": growth}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--files", type=int, help=f"PE files in the tree (default {FULL['files']})")
    parser.add_argument(
        "--total-mib", type=int, help=f"their total size (default {FULL['total_mib']})"
    )
    parser.add_argument("--small-files", type=int, help=f"default {FULL['small_files']}")
    parser.add_argument("--repeat", type=int, help=f"best of N (default {FULL['repeat']})")
    parser.add_argument("--quick", action="store_true", help="a smoke run (explicit options win)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, the report on stderr")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key in ("files", "total_mib", "small_files", "repeat"):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    args.large = preset["large"]
    if min(args.files, args.total_mib, args.small_files, args.repeat) < 1:
        parser.error("counts, sizes and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rep = Report(sys.stderr if args.json else sys.stdout)
    started = time.perf_counter()
    env = environment()
    rep.line("exewhitelist scan benchmark (ratios to baselines measured in this run)")
    rep.line(f"Python {env['python']}, {env['openssl']}, {env['cpu']}, {env['cpus']} CPUs")
    rep.line(f"best of {args.repeat} wall times, page cache warm, --jobs {JOBS}")
    load = os.getloadavg()
    rep.line(f"load average before: {load[0]:.2f} (other work on this machine skews parallel runs)")
    results: dict[str, Any] = {"environment": env, "config": vars(args), "load_before": load}
    with tempfile.TemporaryDirectory(prefix="bench_scan_") as tmp:
        tree = Path(tmp) / "tree"
        paths = build_pe_tree(tree, real_samples(), args.files, args.total_mib)
        rep.section(
            f"[1] {len(paths)} real PE images, {sum(map(os.path.getsize, paths)) / MIB:.0f} MiB"
        )
        results["tree"] = bench_tree(tree, paths, args.repeat, rep)
        shutil.rmtree(tree)
        if args.large:
            rep.section(f"[2] {LARGE_FILES} files of {LARGE_MIB} MiB: the read-ahead thread")
            results["large_files"] = bench_large(Path(tmp) / "large", args.repeat, rep)
            shutil.rmtree(Path(tmp) / "large")
        rep.section(f"[3] {args.small_files} small files, 1000 a directory")
        results["small_files"] = bench_small(Path(tmp) / "small", args.small_files, rep)
    results["total_s"] = time.perf_counter() - started
    results["load_after"] = os.getloadavg()
    rep.line()
    rep.line(f"total run time {results['total_s']:.1f} s")
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
