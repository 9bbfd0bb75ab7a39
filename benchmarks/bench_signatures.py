"""Benchmark of signature reading and catalog indexing (page cache warm, best of ``--repeat``).

1. Per signed file (the signed test samples: Microsoft-signed DLLs with nested
   signatures and RFC 3161 timestamps, Debian's shim and grub, mingw builds
   signed by osslsigncode): parsing and verifying its signatures from the
   certificate table bytes in memory (µs), against hashing the file without
   signatures (flat, Authenticode and first-page digests: what ``hash`` did before)
   and against its Authenticode SHA-256 alone (``authenticode_digest``).
2. ``scan --jobs 2`` of a tree of ``--files`` copies of those signed files,
   through the API with records serialised as the command does: signatures
   on against off (goal <= 1.10).
3. Catalog indexing: a catalog of ``--members`` members (default 1,000,000;
   the trust list written as the tests write it, no signer) indexed in a
   subprocess: members/s, and per million members the peak RSS and the RSS
   the index keeps, both over a baseline process that only reads the file
   (and frees it).

Run it as::

    python benchmarks/bench_signatures.py [--files N] [--members N] [--json]
    python benchmarks/bench_signatures.py --quick   # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from samples import all_samples  # noqa: E402
from signing import member, unsigned_catalog  # noqa: E402

from exewhitelist import ScanOptions, authenticode_digest  # noqa: E402
from exewhitelist.hashing import hash_open_file, open_file  # noqa: E402
from exewhitelist.pe import parse_layout  # noqa: E402
from exewhitelist.scan import scan  # noqa: E402
from exewhitelist.signatures import parse_table  # noqa: E402


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def hash_without_signatures(path: Path) -> dict[str, Any]:
    fd = open_file(str(path))
    try:
        return hash_open_file(fd, str(path), signatures=False).hashes.to_json()
    finally:
        os.close(fd)


def verify(entries: list[bytes], digests: dict[str, str]) -> object:
    return parse_table(entries).verify(digests)


def entries_of(data: bytes) -> list[bytes]:
    """The certificate table entries' bytes (located by our own header parser)."""

    def read_at(offset: int, size: int) -> bytes:
        return data[offset : offset + size]

    layout = parse_layout(read_at, len(data))
    table = layout.certificate_table if layout else None
    return [read_at(o, n) for o, n in table.spans] if table else []


def per_file(paths: Sequence[Path], repeat: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        entries = entries_of(path.read_bytes())
        record = hash_without_signatures(path)
        digests = {"sha256": record["authenticode_sha256"], "sha1": record["authenticode_sha1"]}
        verify_s = best(repeat, functools.partial(verify, entries, digests))
        hash_s = best(repeat, functools.partial(hash_without_signatures, path))
        authenticode_s = best(repeat, functools.partial(authenticode_digest, path))
        signatures = len(parse_table(entries).verify(digests))
        rows.append(
            {
                "name": path.name,
                "bytes": path.stat().st_size,
                "signatures": signatures,
                "verify_us": round(verify_s * 1e6, 1),
                "hash_us": round(hash_s * 1e6, 1),
                "authenticode_sha256_us": round(authenticode_s * 1e6, 1),
                "verify_over_hash": round(verify_s / hash_s, 3),
            }
        )
    verify_total = sum(r["verify_us"] for r in rows)
    hash_total = sum(r["hash_us"] for r in rows)
    authenticode_total = sum(r["authenticode_sha256_us"] for r in rows)
    return {
        "files": rows,
        "mean_verify_us": round(verify_total / len(rows), 1),
        "mean_verify_us_per_signature": round(verify_total / sum(r["signatures"] for r in rows), 1),
        "mean_hash_us": round(hash_total / len(rows), 1),
        "verify_over_hash_total": round(verify_total / hash_total, 3),
        "mean_authenticode_sha256_us": round(authenticode_total / len(rows), 1),
        "verify_over_authenticode_total": round(verify_total / authenticode_total, 3),
    }


def scan_ratio(paths: Sequence[Path], files: int, repeat: int, folder: Path) -> dict[str, Any]:
    tree = folder / "tree"
    for i in range(files):
        sub = tree / f"d{i // 32:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        source = paths[i % len(paths)]
        shutil.copyfile(source, sub / f"{i:05d}-{source.name}")

    def run(signatures: bool) -> None:
        for record in scan([str(tree)], ScanOptions(jobs=2, signatures=signatures)):
            json.dumps(record.to_json())

    run(True)  # warm the page cache
    off = best(repeat, lambda: run(False))
    on = best(repeat, lambda: run(True))
    return {
        "files": files,
        "mib": round(sum(p.stat().st_size for p in tree.rglob("*") if p.is_file()) / 2**20, 1),
        "signatures_off_s": round(off, 3),
        "signatures_on_s": round(on, 3),
        "on_over_off": round(on / off, 3),
    }


INDEX_COMMAND = """
import sys, time
from exewhitelist.catalog import CatalogIndex
def rss(field):
    status = open("/proc/self/status").read()
    return int(status.split(field + ":")[1].split()[0])
path, mode = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if mode == "index":
    index = CatalogIndex()
    index.add(path)
    count = len(index)
else:
    data = open(path, "rb").read()
    del data  # the baseline: the file read once, then given back
    count = 0
elapsed = time.perf_counter() - start
print(count, elapsed, rss("VmHWM"), rss("VmRSS"))
"""
"""Index a catalog (or only read it: the baseline); prints members, seconds, VmHWM, VmRSS (KiB)."""


def catalog_indexing(members: int, folder: Path) -> dict[str, Any]:
    template = member(b"\0" * 32, "sha256", tag="M")
    path = folder / "big.cat"
    path.write_bytes(
        unsigned_catalog(
            [template.replace(b"\0" * 32, i.to_bytes(32, "big"), 1) for i in range(members)],
            sha256=True,
        )
    )

    def measure(mode: str) -> list[float]:
        proc = subprocess.run(
            [sys.executable, "-c", INDEX_COMMAND, str(path), mode],
            capture_output=True,
            text=True,
            check=True,
        )
        return [float(x) for x in proc.stdout.split()]

    count, seconds, peak, resident = measure("index")
    _, _, base_peak, base_resident = measure("read")
    per_million = 1e6 / members
    return {
        "members": int(count),
        "catalog_mib": round(path.stat().st_size / 2**20, 1),
        "seconds": round(seconds, 2),
        "members_per_s": round(count / seconds),
        "peak_mib_per_million": round((peak - base_peak) / 1024 * per_million, 1),
        "kept_mib_per_million": round((resident - base_resident) / 1024 * per_million, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=1024)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.members, args.repeat = 40, 5000, 1
    paths = [p for _, p in sorted(all_samples().items()) if entries_of(p.read_bytes())]
    with tempfile.TemporaryDirectory(prefix="exewhitelist-bench-") as tmp:
        report = {
            "per_file": per_file(paths, args.repeat),
            "scan": scan_ratio(paths, args.files, args.repeat, Path(tmp)),
            "catalog": catalog_indexing(args.members, Path(tmp)),
        }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        pf, sc, cat = report["per_file"], report["scan"], report["catalog"]
        print(
            f"per signed file: verify {pf['mean_verify_us']} µs "
            f"({pf['mean_verify_us_per_signature']} µs a signature), hash {pf['mean_hash_us']} µs,"
            f" verify/hash {pf['verify_over_hash_total']}; Authenticode SHA-256 alone"
            f" {pf['mean_authenticode_sha256_us']} µs,"
            f" verify/it {pf['verify_over_authenticode_total']}"
        )
        print(
            f"scan of {sc['files']} signed files ({sc['mib']} MiB, --jobs 2): signatures off "
            f"{sc['signatures_off_s']} s, on {sc['signatures_on_s']} s: {sc['on_over_off']}x"
        )
        print(
            f"catalog of {cat['members']} members ({cat['catalog_mib']} MiB): {cat['seconds']} s,"
            f" {cat['members_per_s']} members/s; per million members: peak"
            f" {cat['peak_mib_per_million']} MiB, kept {cat['kept_mib_per_million']} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
