"""Benchmark of ``exewhitelist.hash_file``, always as ratios to a same-process baseline.

Absolute timings depend on the machine; the ratios do not (much).  The baseline is
hashlib itself on bytes already in memory: no reader can beat it, so it is the
physical limit for what ``hash_file`` does.

What is measured (best of ``--repeat`` wall times, ``time.perf_counter``, GC off
while timing):

1. A large PE32+ image (``--size-mib``, default 256 MiB): a real small PE
   (``pip/_vendor/distlib/t64.exe`` by default, ``--source`` to change it) followed
   by pseudo-random overlay data, which Authenticode hashes like the rest of the
   image.  The file is read once beforehand, which warms the page cache.

   a. ``hash_file`` against ``baseline_all``: hashlib computing, on the in-memory
      bytes, the same full-file digests ``hash_file`` computes (flat SHA-256 plus
      Authenticode SHA-256 and SHA-1; the first-page digests cover 4 KiB and are
      left out).  Goal: ratio <= 1.10.
   b. Authenticode SHA-256 alone (``authenticode_digest``) against one
      ``hashlib.sha256`` pass.  Goal: throughput >= 0.95 of hashlib's.

2. Many small files (``--small-files``, default 2000): minimal valid PE32+ images of
   10 KiB made by this script (one ``.text`` section; the copies differ in 8 bytes).
   Files per second of ``hash_file`` and the ratio to ``open().read()`` followed by
   hashlib's SHA-256, SHA-256 and SHA-1 of the bytes.

3. Side by side, when importable: lief (``lief.PE.parse(path).authentihash(SHA_256)``)
   and signify (``SignedPEFile(f).get_fingerprints(hashlib.sha256)``), on the large
   file and on (up to ``--side-files`` of) the small files, as time ratios to
   ``hash_file``.  Each computes one digest where ``hash_file`` computes five; their
   digests are checked against ``authenticode_sha256_unpadded``.  A library that
   cannot be imported is skipped with a note.

Run it as::

    python benchmarks/bench_hashing.py [--size-mib N] [--repeat N] [--json]
    python benchmarks/bench_hashing.py --quick   # a smoke run of a few seconds

``--json`` prints one JSON object with every number on stdout and the readable
report on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import hashlib
import importlib
import json
import os
import platform
import random
import re
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from exewhitelist import __version__, authenticode_digest, hash_file

MIB = 1 << 20
SMALL_FILE_SIZE = 10 * 1024
GOAL_ALL_DIGESTS = 1.10
"""``hash_file`` time over ``baseline_all`` time on the large file: at most this."""
GOAL_AUTH_SHA256 = 0.95
"""Authenticode SHA-256 throughput over ``hashlib.sha256`` throughput: at least this."""

QUICK_SIZE_MIB = 8
QUICK_SMALL_FILES = 50
QUICK_REPEAT = 1
DEFAULT_SIZE_MIB = 256
DEFAULT_SMALL_FILES = 2000
DEFAULT_REPEAT = 5


# --------------------------------------------------------------------------- timing


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` wall times of ``fn()``, with the GC off while timing."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        best = min(best, elapsed)
    return best


def mib_per_s(size: int, seconds: float) -> float:
    return size / MIB / seconds if seconds > 0 else float("inf")


# ----------------------------------------------------------------------- test files


def default_source() -> Path | None:
    """distlib's ``t64.exe`` as vendored by the running interpreter's pip, if any."""
    try:
        import pip
    except ImportError:
        return None
    candidate = Path(os.path.dirname(pip.__file__)) / "_vendor" / "distlib" / "t64.exe"
    return candidate if candidate.is_file() else None


def minimal_pe32_plus(size: int = SMALL_FILE_SIZE, tag: int = 0) -> bytes:
    """A minimal valid PE32+ (amd64 console) image: 512 bytes of headers and one ``.text``.

    ``size`` must be a multiple of the 512-byte file alignment.  ``.text`` starts
    with ``ret``, then ``tag`` (so copies differ), then pseudo-random bytes.
    """
    headers_size = 0x200
    if size <= headers_size or size % headers_size:
        raise ValueError(f"size must be a multiple of {headers_size} above it, not {size}")
    raw_size = size - headers_size
    section_alignment = 0x1000
    virtual_end = section_alignment + -(-raw_size // section_alignment) * section_alignment
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, len(dos))  # e_lfanew
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 240, 0x0022)
    optional = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B,  # PE32+
        14,
        0,
        raw_size,  # SizeOfCode
        0,
        0,
        section_alignment,  # AddressOfEntryPoint
        section_alignment,  # BaseOfCode
        0x1_4000_0000,  # ImageBase
        section_alignment,
        headers_size,  # FileAlignment
        6,
        0,
        0,
        0,
        6,
        0,
        0,
        virtual_end,  # SizeOfImage
        headers_size,  # SizeOfHeaders
        0,  # CheckSum
        3,  # IMAGE_SUBSYSTEM_WINDOWS_CUI
        0x8160,  # high entropy VA, dynamic base, NX compatible, terminal server aware
        0x10_0000,
        0x1000,
        0x10_0000,
        0x1000,
        0,
        16,  # NumberOfRvaAndSizes
    ) + bytes(16 * 8)
    section = struct.pack(
        "<8sIIIIIIHHI",
        b".text",
        raw_size,
        section_alignment,
        raw_size,
        headers_size,
        0,
        0,
        0,
        0,
        0x6000_0020,  # code, execute, read
    )
    headers = bytes(dos) + b"PE\0\0" + coff + optional + section
    text = b"\xc3" + struct.pack("<Q", tag)
    text += random.Random(size).randbytes(raw_size - len(text))
    return headers.ljust(headers_size, b"\0") + text


def build_large_file(path: Path, base: bytes, size_mib: int) -> None:
    """``base`` followed by ``size_mib`` MiB of deterministic pseudo-random overlay."""
    rng = random.Random(0)
    with path.open("wb") as f:
        f.write(base)
        for _ in range(size_mib):
            f.write(rng.randbytes(MIB))


def build_small_files(directory: Path, count: int) -> list[str]:
    directory.mkdir()
    paths = []
    for i in range(count):
        path = directory / f"small{i:05d}.exe"
        path.write_bytes(minimal_pe32_plus(SMALL_FILE_SIZE, tag=i))
        paths.append(str(path))
    return paths


def warm(paths: Sequence[str]) -> int:
    """Read every file once (into the page cache); return the byte count."""
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            total += len(f.read())
    return total


# ------------------------------------------------------------- what is being timed


def baseline_all(data: bytes) -> tuple[bytes, bytes, bytes]:
    """hashlib alone: the three full-length digests ``hash_file`` computes."""
    return (
        hashlib.sha256(data).digest(),
        hashlib.sha256(data).digest(),
        hashlib.sha1(data, usedforsecurity=False).digest(),
    )


def baseline_small(paths: Sequence[str], *, first_page: bool = False) -> None:
    """``open().read()`` then the three digests; optionally the two first-page ones too."""
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        baseline_all(data)
        if first_page:
            page = data[:4096].ljust(4096, b"\0")
            hashlib.sha256(page).digest()
            hashlib.sha1(page, usedforsecurity=False).digest()


def hash_files(paths: Sequence[str]) -> None:
    for p in paths:
        hash_file(p)


# ------------------------------------------------------------ optional libraries

_OSCRYPTO_VERSION_RE = r"\b(\d\.\d\.\d[a-z]*)\b"
_OSCRYPTO_VERSION_RE_FIXED = r"\b(\d\.\d\.\d+[a-z]*)\b"


@contextlib.contextmanager
def _oscrypto_openssl_version_fix() -> Iterator[None]:
    """Let oscrypto 1.3.0 (imported by signify) recognise OpenSSL 3.0.1x and later.

    oscrypto 1.3.0 finds the libcrypto version with the regex ``\\d\\.\\d\\.\\d[a-z]*``
    between word boundaries, which cannot match a two-digit patch level such as
    "OpenSSL 3.0.19", so ``import signify.authenticode...`` raises
    ``LibraryNotFoundError: Error detecting the version of libcrypto``.  Upstream
    fixed it by allowing ``\\d+`` for the patch level; until a release with the fix
    is installed, ``re.search`` is wrapped during that import only, to substitute the
    fixed pattern for that exact one, and restored afterwards.
    """
    original = re.search

    def search(pattern: Any, string: Any, flags: Any = 0) -> Any:
        if pattern == _OSCRYPTO_VERSION_RE:
            pattern = _OSCRYPTO_VERSION_RE_FIXED
        return original(pattern, string, flags)

    re.search = search
    try:
        yield
    finally:
        re.search = original


def load_lief() -> tuple[Any, str]:
    """The lief module (untyped here: ``Any``) and a version string, or raise ImportError."""
    lief: Any = importlib.import_module("lief")
    with contextlib.suppress(Exception):
        lief.logging.disable()
    return lief, str(getattr(lief, "__version__", "?"))


def load_signify() -> tuple[Any, str]:
    """signify's ``SignedPEFile`` class and a version string, or raise ImportError."""
    with _oscrypto_openssl_version_fix():
        module: Any = importlib.import_module("signify.authenticode.signed_file.pe")
    from importlib.metadata import PackageNotFoundError, version

    try:
        signify_version = version("signify")
    except PackageNotFoundError:
        signify_version = "?"
    return module.SignedPEFile, signify_version


def lief_authentihash(lief: Any, path: str) -> str:
    binary = lief.PE.parse(path)
    return bytes(binary.authentihash(lief.PE.ALGORITHMS.SHA_256)).hex()


def signify_authentihash(signed_pe_file: Any, path: str) -> str:
    with open(path, "rb") as f:
        return bytes(signed_pe_file(f).get_fingerprints(hashlib.sha256)["sha256"]).hex()


def digest_all(digest: Callable[[Any, str], str], handle: Any, paths: Sequence[str]) -> None:
    for p in paths:
        digest(handle, p)


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    out: TextIO

    def section(self, title: str) -> None:
        print(f"\n{title}", file=self.out)

    def line(self, text: str = "") -> None:
        print(f"  {text}" if text else "", file=self.out)

    def row(self, label: str, seconds: float, extra: str = "") -> None:
        self.line(f"{label:<50} {seconds * 1000:10.1f} ms  {extra}".rstrip())


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def environment() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    sha_ni = None
    with contextlib.suppress(OSError):
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
        if model:
            cpu = model.group(1).strip()
        flags = re.search(r"^flags\s*:\s*(.+)$", info, re.MULTILINE)
        if flags:
            sha_ni = "sha_ni" in flags.group(1).split()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "openssl": ssl.OPENSSL_VERSION,
        "exewhitelist": __version__,
        "cpu": cpu,
        "cpu_sha_extensions": sha_ni,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------------- benchmarks


def bench_large(path: str, data: bytes, repeat: int, rep: Report) -> dict[str, Any]:
    size = len(data)
    expected = hash_file(path)
    if expected.authenticode_sha256 is None or expected.sha256 != hashlib.sha256(data).hexdigest():
        raise RuntimeError(f"{path}: not hashed as a PE image: {expected.pe_error}")
    if authenticode_digest(path) != expected.authenticode_sha256:
        raise RuntimeError("authenticode_digest disagrees with hash_file")

    t_sha256 = best_of(lambda: hashlib.sha256(data).digest(), repeat)
    t_sha1 = best_of(lambda: hashlib.sha1(data, usedforsecurity=False).digest(), repeat)
    t_all = best_of(lambda: baseline_all(data), repeat)
    t_hash_file = best_of(lambda: hash_file(path), repeat)
    t_auth = best_of(lambda: authenticode_digest(path, "sha256"), repeat)

    ratio_all = t_hash_file / t_all
    auth_throughput_ratio = t_sha256 / t_auth
    rep.row("hashlib sha256, in memory", t_sha256, f"{mib_per_s(size, t_sha256):7.0f} MiB/s")
    rep.row("hashlib sha1, in memory", t_sha1, f"{mib_per_s(size, t_sha1):7.0f} MiB/s")
    rep.row("baseline_all: hashlib sha256 + sha256 + sha1", t_all)
    rep.row(
        "exewhitelist.hash_file (all digests)",
        t_hash_file,
        f"ratio {ratio_all:.3f} to baseline_all "
        f"(goal <= {GOAL_ALL_DIGESTS:.2f}: {verdict(ratio_all <= GOAL_ALL_DIGESTS)})",
    )
    rep.line()
    rep.row(
        "exewhitelist.authenticode_digest (sha256 only)",
        t_auth,
        f"{mib_per_s(size, t_auth):7.0f} MiB/s = {auth_throughput_ratio:.3f} x hashlib's "
        f"(goal >= {GOAL_AUTH_SHA256:.2f}: {verdict(auth_throughput_ratio >= GOAL_AUTH_SHA256)})",
    )
    return {
        "file_size": size,
        "hashlib_sha256_s": t_sha256,
        "hashlib_sha256_mib_s": mib_per_s(size, t_sha256),
        "hashlib_sha1_s": t_sha1,
        "baseline_all_s": t_all,
        "hash_file_s": t_hash_file,
        "hash_file_mib_s": mib_per_s(size, t_hash_file),
        "ratio_hash_file_to_baseline_all": ratio_all,
        "goal_ratio_max": GOAL_ALL_DIGESTS,
        "meets_goal": ratio_all <= GOAL_ALL_DIGESTS,
        "authenticode_sha256_only": {
            "method": "exewhitelist.authenticode_digest(path, 'sha256')",
            "seconds": t_auth,
            "mib_s": mib_per_s(size, t_auth),
            "throughput_ratio_to_hashlib_sha256": auth_throughput_ratio,
            "goal_ratio_min": GOAL_AUTH_SHA256,
            "meets_goal": auth_throughput_ratio >= GOAL_AUTH_SHA256,
        },
    }


def bench_small(paths: Sequence[str], repeat: int, rep: Report) -> dict[str, Any]:
    n = len(paths)
    probe = hash_file(paths[0])
    if probe.pe is None or probe.anomalies or probe.size != SMALL_FILE_SIZE:
        raise RuntimeError(f"{paths[0]}: the made-up PE is not clean: {probe}")
    warm_up = paths[: min(20, n)]
    hash_files(warm_up)
    baseline_small(warm_up)

    t_base = best_of(lambda: baseline_small(paths), repeat)
    t_base_page = best_of(lambda: baseline_small(paths, first_page=True), repeat)
    t_hash = best_of(lambda: hash_files(paths), repeat)
    ratio = t_hash / t_base
    rep.row(
        "open().read() + hashlib sha256 + sha256 + sha1",
        t_base,
        f"{n / t_base:8.0f} files/s  {t_base / n * 1e6:6.1f} us/file",
    )
    rep.row(
        "  the same + the two first-page digests",
        t_base_page,
        f"{n / t_base_page:8.0f} files/s  {t_base_page / n * 1e6:6.1f} us/file",
    )
    rep.row(
        "exewhitelist.hash_file",
        t_hash,
        f"{n / t_hash:8.0f} files/s  {t_hash / n * 1e6:6.1f} us/file",
    )
    rep.line(f"hash_file time / baseline time: {ratio:.2f} ({t_hash / t_base_page:.2f} to the")
    rep.line("baseline that also hashes the first page)")
    return {
        "files": n,
        "file_size": SMALL_FILE_SIZE,
        "baseline_s": t_base,
        "baseline_files_s": n / t_base,
        "baseline_with_first_page_s": t_base_page,
        "hash_file_s": t_hash,
        "hash_file_files_s": n / t_hash,
        "hash_file_us_per_file": t_hash / n * 1e6,
        "ratio_hash_file_to_baseline": ratio,
        "ratio_hash_file_to_baseline_with_first_page": t_hash / t_base_page,
    }


def bench_side_by_side(
    *,
    large: str,
    large_hash_file_s: float,
    small: Sequence[str],
    small_hash_file_s_per_file: float,
    repeat: int,
    rep: Report,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    competitors: list[tuple[str, Callable[[], tuple[Any, str]], Callable[[Any, str], str]]] = [
        ("lief", load_lief, lief_authentihash),
        ("signify", load_signify, signify_authentihash),
    ]
    large_expected = hash_file(large).authenticode_sha256_unpadded
    small_expected = {p: hash_file(p).authenticode_sha256_unpadded for p in small}
    for name, load, digest in competitors:
        try:
            handle, lib_version = load()
        except Exception as e:  # ImportError, or oscrypto's LibraryNotFoundError
            note = f"{type(e).__name__}: {e}"
            rep.line(f"{name}: skipped, not importable ({note})")
            results[name] = {"skipped": note}
            continue
        agrees = digest(handle, large) == large_expected and all(
            digest(handle, p) == small_expected[p] for p in small[:20]
        )
        t_large = best_of(functools.partial(digest, handle, large), repeat)
        t_small = best_of(functools.partial(digest_all, digest, handle, small), repeat)
        per_file = t_small / len(small)
        ratio_large = t_large / large_hash_file_s
        ratio_small = per_file / small_hash_file_s_per_file
        rep.line(f"{name} {lib_version} (one SHA-256 authentihash; digests agree: {agrees})")
        rep.row(
            "  large file",
            t_large,
            f"{ratio_large:6.2f} x hash_file's time",
        )
        rep.row(
            f"  {len(small)} small files",
            t_small,
            f"{ratio_small:6.2f} x hash_file's time per file ({per_file * 1e6:.1f} us/file)",
        )
        results[name] = {
            "version": lib_version,
            "digests_agree": agrees,
            "large_s": t_large,
            "ratio_large_to_hash_file": ratio_large,
            "small_files": len(small),
            "small_s": t_small,
            "small_us_per_file": per_file * 1e6,
            "ratio_small_to_hash_file": ratio_small,
        }
    return results


# ---------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, help=f"overlay size (default {DEFAULT_SIZE_MIB})")
    parser.add_argument("--repeat", type=int, help=f"best of N runs (default {DEFAULT_REPEAT})")
    parser.add_argument(
        "--small-files", type=int, help=f"10 KiB files (default {DEFAULT_SMALL_FILES})"
    )
    parser.add_argument(
        "--side-files",
        type=int,
        help="how many of the small files lief and signify hash (default: all of them)",
    )
    parser.add_argument("--source", type=Path, help="the small PE to grow (default: t64.exe)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_SIZE_MIB} MiB, {QUICK_SMALL_FILES} small files, "
        f"repeat {QUICK_REPEAT} (explicit options win)",
    )
    parser.add_argument(
        "--json", action="store_true", help="JSON on stdout, the readable report on stderr"
    )
    args = parser.parse_args(argv)
    if args.size_mib is None:
        args.size_mib = QUICK_SIZE_MIB if args.quick else DEFAULT_SIZE_MIB
    if args.small_files is None:
        args.small_files = QUICK_SMALL_FILES if args.quick else DEFAULT_SMALL_FILES
    if args.repeat is None:
        args.repeat = QUICK_REPEAT if args.quick else DEFAULT_REPEAT
    if args.side_files is None:
        args.side_files = args.small_files
    if args.size_mib < 1 or args.small_files < 1 or args.repeat < 1 or args.side_files < 1:
        parser.error("sizes, counts and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rep = Report(sys.stderr if args.json else sys.stdout)
    started = time.perf_counter()
    env = environment()
    rep.line("exewhitelist hashing benchmark (ratios to hashlib in the same process)")
    rep.line(
        f"Python {env['python']}, {env['openssl']}, {env['cpu']} "
        f"(SHA extensions: {env['cpu_sha_extensions']}), {env['cpus']} CPUs"
    )
    rep.line(f"best of {args.repeat} wall times, time.perf_counter, GC off while timing")

    source: Path | None = args.source or default_source()
    if source is not None:
        base = source.read_bytes()
        base_label = f"{source.name} ({len(base)} bytes)"
    else:
        base = minimal_pe32_plus(SMALL_FILE_SIZE)
        base_label = "a made-up minimal PE32+ (t64.exe not found)"

    with tempfile.TemporaryDirectory(prefix="bench_hashing_") as tmp:
        large = Path(tmp) / "large.exe"
        build_large_file(large, base, args.size_mib)
        data = large.read_bytes()  # also warms the page cache
        small = build_small_files(Path(tmp) / "small", args.small_files)
        warm(small)

        rep.section(
            f"[1] Large file: {len(data) / MIB:.1f} MiB PE32+ = {base_label} "
            f"+ {args.size_mib} MiB overlay, page cache warm"
        )
        large_result = bench_large(str(large), data, args.repeat, rep)
        del data

        rep.section(
            f"[2] Small files: {len(small)} minimal PE32+ images of {SMALL_FILE_SIZE} bytes, "
            "page cache warm"
        )
        small_result = bench_small(small, args.repeat, rep)

        side_count = min(args.side_files, len(small))
        rep.section(
            f"[3] Side by side (time ratios to hash_file, which computes 5 digests; "
            f"{side_count} small files)"
        )
        side_result = bench_side_by_side(
            large=str(large),
            large_hash_file_s=large_result["hash_file_s"],
            small=small[:side_count],
            small_hash_file_s_per_file=small_result["hash_file_s"] / len(small),
            repeat=args.repeat,
            rep=rep,
        )

    total = time.perf_counter() - started
    rep.line()
    rep.line(f"total run time {total:.1f} s")
    if args.json:
        result = {
            "environment": env,
            "config": {
                "size_mib": args.size_mib,
                "repeat": args.repeat,
                "small_files": args.small_files,
                "side_files": side_count,
                "source": str(source) if source else None,
                "quick": args.quick,
            },
            "large_file": large_result,
            "small_files": small_result,
            "side_by_side": side_result,
            "total_s": total,
        }
        json.dump(result, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
