"""libFuzzer on the C core, then a replay of the corpus under gcc's sanitizers.

``fuzz_blob`` validates each input (as is, and with its size and checksum made
right) and decides queries made from what validated; ``fuzz_pe`` digests each
input as a file. Both are built by clang with ASan and UBSan and check
invariants (abort on violation). Each runs for ``EWL_FUZZ_SECONDS`` (default
30; both at once, one per core), seeded from the committed corpus
(``driver/harness/corpus/``, written by :func:`write_seeds`: run this file as
a script to rewrite it), the blob vectors and small real PE files with
mutations. Then ``regression_blob`` / ``regression_pe`` (gcc, ASan, UBSan,
no libFuzzer) replay everything the run kept. Any crash, sanitizer report or
invariant failure fails the test; the execution counts are printed and
recorded as junit properties.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from blob11 import write as write_1_1
from fuzzing import FuzzRun, check_fuzz_run, fuzz_command, replay
from test_core_build import build

from exewhitelist.blob import compile_policy
from exewhitelist.policy import Action, Mode, Policy, Rule, RuleKind
from exewhitelist.rules import (
    CertificateId,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    PathRule,
    Pin,
    Publisher,
    PublisherRule,
    hash_rule,
    make_rule,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "driver" / "harness" / "corpus"
VECTORS = ROOT / "tests" / "vectors" / "blob"
FUZZ_SECONDS = int(os.environ.get("EWL_FUZZ_SECONDS", "30"))
TARGETS = ("blob", "pe")
MAX_LEN = {"blob": 16384, "pe": 65536}


# The committed seeds: generated, so that where they come from is plain.


def _pe(
    *,
    plus: bool,
    machine: int,
    sections: list[tuple[int, int]],
    certificates: list[bytes] | None,
    size_of_headers: int = 0x200,
) -> bytes:
    """A synthetic PE image: headers, (pointer, size) raw sections, an optional table."""
    opt_size = 240 if plus else 224
    table_at = 0x40 + 4 + 20 + opt_size
    body_end = max([size_of_headers, *(p + s for p, s in sections)])
    image = bytearray(body_end)
    image[:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x40)
    image[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", image, 0x44, machine, len(sections), 0, 0, 0, opt_size, 0x22)
    opt = 0x58
    struct.pack_into("<H", image, opt, 0x20B if plus else 0x10B)
    struct.pack_into("<I", image, opt + 60, size_of_headers)
    struct.pack_into("<H", image, opt + 68, 3)
    struct.pack_into("<I", image, opt + (108 if plus else 92), 16)
    for i, (pointer, size) in enumerate(sections):
        header = table_at + 40 * i
        image[header : header + 8] = f".s{i}".encode().ljust(8, b"\0")
        struct.pack_into("<IIII", image, header + 8, size, 0x1000 * (i + 1), size, pointer)
        image[pointer : pointer + size] = bytes((i + 1) & 0xFF for _ in range(size))
    if certificates is not None:
        image += bytes(-len(image) % 8)
        va = len(image)
        for certificate in certificates:
            entry = struct.pack("<IHH", 8 + len(certificate), 0x0200, 2) + certificate
            image += entry + bytes(-len(entry) % 8)
        struct.pack_into("<II", image, opt + (144 if plus else 128), va, len(image) - va)
    return bytes(image)


def _policy(name: str, *rules: Rule, mode: Mode = Mode.ENFORCE) -> bytes:
    return compile_policy(Policy(name, 1, mode, rules))


def _path(rule_id: str, pattern: str, action: Action = Action.ALLOW) -> Rule:
    return make_rule(rule_id, action, RuleKind.PATH, pattern)


def _signers_seed() -> bytes:
    leaf = CertificateId("sha256", "11" * 32)
    issuer = CertificateId("sha1", "ab" * 20)
    root = CertificateId("sha512", "ef" * 64)
    return write_1_1(
        Policy(
            "signers",
            1,
            Mode.ENFORCE,
            (
                PathRule(
                    action=Action.ALLOW,
                    value="C:\\Tools\\*",
                    explicit_id="tools",
                    exceptions=(
                        PathCondition("%WINDIR%\\*"),
                        PathCondition("*\\bad?.exe"),
                        HashCondition(RuleKind.AUTHENTICODE_SHA256, "22" * 32),
                        HashCondition(RuleKind.FILE_SHA256, "11" * 32),
                        Publisher(leaf, Pin.LEAF),
                    ),
                ),
                _path("scan", "*\\tmp\\*", Action.DENY),
                PublisherRule.of("contoso", Action.ALLOW, Publisher(issuer, common_name="Contoso")),
                PublisherRule.of(
                    "old-tool",
                    Action.DENY,
                    Publisher(
                        root,
                        attribute=FileAttribute.ORIGINAL_FILENAME,
                        attribute_value="tool.exe",
                        max_version=FileVersion((2, 0, 0, 0)),
                    ),
                    exceptions=(PathCondition("C:\\ok\\*"),),
                ),
                PublisherRule.of(
                    "range",
                    Action.ALLOW,
                    Publisher(
                        root,
                        Pin.ISSUER,
                        min_version=FileVersion((1, 0, 0, 0)),
                        max_version=FileVersion((3, 0, 0, 0)),
                    ),
                ),
                hash_rule(RuleKind.FILE_SHA256, "33" * 32, Action.DENY),
            ),
        )
    )


def seeds() -> dict[str, bytes]:
    """``<target>/<name>`` → bytes of every committed seed."""
    a, f = RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256
    deny = Action.DENY
    return {
        "blob/chains.bin": _policy(
            "chains",
            _path("a", "C:\\A\\*"),
            _path("ab", "C:\\A\\B\\*", deny),
            _path("ab2", "C:\\A\\B\\*"),
            _path("abc", "C:\\A\\B\\C.exe"),
            _path("ad", "C:\\A\\D?\\*"),
            _path("suffix", "*\\b\\c.exe", deny),
            _path("suffix2", "*\\c.exe"),
            _path("scan", "*\\tmp\\*", deny),
        ),
        "blob/variables.bin": _policy(
            "variables",
            _path("w", "%WINDIR%\\*"),
            _path("s", "%SYSTEM32%\\*.exe", deny),
            _path("p", "%PROGRAMFILES%\\App\\*"),
            _path("o", "%OSDRIVE%\\Tools\\t?.exe"),
            _path("u", "\\\\srv\\Données\\Ω*"),
        ),
        # Long, periodic segments between stars: the near-match paths of
        # fuzz_blob drive the core's search into its two-way half.
        "blob/segments.bin": _policy(
            "segments",
            _path("periodic", "*" + "ab" * 12 + "a*"),
            _path("run", "*\\" + "a" * 10 + "b\\*.exe", deny),
            _path("factor", "C:\\*" + "aaaaab" + "a" * 6 + "*x?" + "baaa" * 7 + "*"),
            _path("wild", "*" + "a?" * 8 + "b*\\t.exe"),
        ),
        "blob/hash-ids.bin": _policy(
            "hash ids",
            hash_rule(a, "11" * 32, id="allow-one"),
            hash_rule(a, "22" * 32, deny),
            hash_rule(f, "33" * 32, id="file-one"),
            hash_rule(f, "44" * 32, deny, id="file-deny"),
            mode=Mode.AUDIT,
        ),
        # Blob 1.1: publisher rules and exceptions of every kind (tests/blob11.py).
        "blob/signers-1.1.bin": _signers_seed(),
        "pe/pe32plus-two-certificates.bin": _pe(
            plus=True,
            machine=0x8664,
            sections=[(0x200, 0x100), (0x300, 0x80)],
            certificates=[b"first", b"second certificate"],
        ),
        "pe/pe32-overlap.bin": _pe(
            plus=False,
            machine=0x14C,
            sections=[(0x200, 0x100), (0x280, 0x100), (0x400, 0)],
            certificates=None,
        ),
        "pe/ia64-short-headers.bin": _pe(
            plus=True,
            machine=0x200,
            sections=[(0x200, 0x40)],
            certificates=[b"x" * 13],
            size_of_headers=0x100,
        ),
    }


def write_seeds() -> None:
    for name, data in seeds().items():
        (CORPUS / name).parent.mkdir(parents=True, exist_ok=True)
        (CORPUS / name).write_bytes(data)


def test_committed_seeds_are_current() -> None:
    for name, data in seeds().items():
        assert (CORPUS / name).read_bytes() == data, f"{name}: run python {__file__}"
        assert len(data) < 4096


# The runs.


def _run_seeds(target: str, seed_dir: Path, sample_files: dict[str, Path]) -> None:
    """Seeds made at test time: the blob vectors; small real PE files and mutations."""
    seed_dir.mkdir(parents=True)
    if target == "blob":
        for path in sorted(VECTORS.glob("*/*.bin")):
            shutil.copy(path, seed_dir / f"{path.parent.name}-{path.name}")
        return
    small = sorted(p for p in sample_files.values() if p.stat().st_size <= MAX_LEN["pe"])
    for path in small[:6]:
        data = path.read_bytes()
        (seed_dir / path.name).write_bytes(data)
        (seed_dir / f"{path.name}.head").write_bytes(data[:1024])
        cut = bytearray(data[: len(data) // 2])
        cut[0x3C] ^= 0x08  # e_lfanew moved
        (seed_dir / f"{path.name}.moved").write_bytes(bytes(cut))


@pytest.fixture(scope="module")
def fuzz_runs(
    sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, FuzzRun]]:
    """Both fuzzers at once (one per core) for FUZZ_SECONDS."""
    build("fuzz")
    root = tmp_path_factory.mktemp("fuzz")
    procs = {}
    for target in TARGETS:
        work, seed_dir = root / f"{target}-corpus", root / f"{target}-seeds"
        work.mkdir()
        _run_seeds(target, seed_dir, sample_files)
        log = (root / f"{target}.log").open("w")
        procs[target] = (
            subprocess.Popen(
                fuzz_command(
                    target,
                    FUZZ_SECONDS,
                    MAX_LEN[target],
                    f"{root}/{target}-",
                    work,
                    CORPUS / target,
                    seed_dir,
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            log,
            work,
            seed_dir,
        )
    runs = {}
    for target, (proc, log, work, seed_dir) in procs.items():
        try:
            returncode = proc.wait(timeout=FUZZ_SECONDS + 300)
        finally:
            proc.kill()
            log.close()
        output = (root / f"{target}.log").read_text(errors="replace")
        runs[target] = FuzzRun(target, returncode, output, work, seed_dir, FUZZ_SECONDS)
    yield runs


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(
    target: str, fuzz_runs: dict[str, FuzzRun], record_property: Callable[[str, object], None]
) -> None:
    check_fuzz_run(fuzz_runs[target], record_property)


@pytest.mark.parametrize("target", TARGETS)
def test_replay_corpus_without_libfuzzer(target: str, fuzz_runs: dict[str, FuzzRun]) -> None:
    """Sanitized gcc replay: the committed seeds, the test-time seeds and the run's finds."""
    run = fuzz_runs[target]
    replay(target, CORPUS / target, run.seeds, run.work)


if __name__ == "__main__":
    write_seeds()
