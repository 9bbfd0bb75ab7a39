#!/usr/bin/env python3
"""Write what the C core shares with Python: the blob test vectors and ``ewl_format.h``.

    python scripts/gen_shared.py          # rewrite them
    python scripts/gen_shared.py --check  # exit 1 if the committed ones differ

``driver/core/ewl_format.h`` is generated from ``exewhitelist/blob/_format.py``,
the one source of the format's numbers.

``valid/*.bin`` are compiled policies; ``manifest.json`` lists, for each, the
queries and the decisions the *policy model* (``exewhitelist.policy.decide``)
gives, so a reader (the Python one, the C core) is checked against the
semantics, not against itself.  ``invalid/*.bin`` are blobs with exactly one
violation each and the pinned ``code`` a reader must return: all but the
checksum vectors carry a correct checksum, so the structural checks behind it
are reached.  ``staged.json`` gives, for each valid policy, every query in
every state of knowledge (each input unknown, known or missing) and the
*model's* staged verdict (``exewhitelist.staging.decide_staged``): what the
driver needs next, or its decision, reason and the inputs it depended on.
Both the Python tests and the C core's tests read these files.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path

from exewhitelist.blob import compile_policy
from exewhitelist.blob._format import HEADER_SIZE, PATH_RULE_SIZE, Section, Status, c_header
from exewhitelist.blob.compile import checksum
from exewhitelist.policy import (
    DEFAULT_VARIABLES,
    Action,
    Mode,
    Policy,
    Query,
    Rule,
    RuleKind,
    decide,
)
from exewhitelist.staging import Depends, Fact, Facts, decide_staged

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "tests" / "vectors" / "blob"
HEADER = REPO / "driver" / "core" / "ewl_format.h"

A = RuleKind.AUTHENTICODE_SHA256
F = RuleKind.FILE_SHA256
P = RuleKind.PATH


def _digest(n: int) -> str:
    return f"{n:02x}" * 32


def policies() -> dict[str, Policy]:
    rules = (
        Rule.hash_rule(A, _digest(0x11)),
        Rule.hash_rule(A, _digest(0x22), id="allow-tool"),
        Rule.hash_rule(A, _digest(0x33), Action.DENY, id="deny-evil"),
        Rule.hash_rule(F, _digest(0x44)),
        Rule.hash_rule(F, _digest(0x55), Action.DENY),
        Rule("windows", Action.ALLOW, P, "%WINDIR%\\*"),
        Rule("program-files", Action.ALLOW, P, "%PROGRAMFILES%\\*"),
        Rule("no-temp", Action.DENY, P, "*\\Temp\\*"),
        Rule("no-downloads", Action.DENY, P, "C:\\Users\\*\\Downloads\\*"),
        Rule("tool-anywhere", Action.ALLOW, P, "*\\tool.exe"),
        Rule("notepad", Action.ALLOW, P, "C:\\Windows\\notepad.exe"),
        Rule("one-char", Action.ALLOW, P, "D:\\Apps\\app?.exe"),
        Rule("unicode", Action.ALLOW, P, "C:\\Données\\Ärger\\ß\\Ωmega.exe"),
        Rule("scan", Action.DENY, P, "*\\Cache\\*"),
    )
    return {
        "small": Policy("small", 1, Mode.ENFORCE, rules[:1]),
        "mixed": Policy("mixed policy", 42, Mode.ENFORCE, rules),
        "audit": Policy("audit", 7, Mode.AUDIT, rules),
        "empty": Policy("empty", 0, Mode.ENFORCE, ()),
    }


QUERIES = [
    {"authenticode_sha256": _digest(0x11)},
    {"authenticode_sha256": _digest(0x22)},
    {"authenticode_sha256": _digest(0x33), "path": "C:\\Windows\\evil.exe"},
    {"file_sha256": _digest(0x44)},
    {"file_sha256": _digest(0x55), "authenticode_sha256": _digest(0x11)},
    {"path": "C:\\Windows\\System32\\cmd.exe"},
    {"path": "c:\\program files (x86)\\App\\app.exe"},
    {"path": "C:\\Program Files\\App\\Temp\\app.exe"},
    {"path": "C:\\Users\\bob\\Downloads\\setup.exe"},
    {"path": "E:\\anything\\TOOL.EXE"},
    {"path": "C:\\WINDOWS\\NOTEPAD.EXE"},
    {"path": "D:\\Apps\\app1.exe"},
    {"path": "D:\\Apps\\app12.exe"},
    {"path": "C:\\DONNÉES\\ärger\\ß\\ΩMEGA.EXE"},
    {"path": "C:\\x\\cache\\y\\z.exe", "authenticode_sha256": _digest(0x22)},
    {"path": "C:\\elsewhere\\prog.exe"},
    {"path": "\uf001\\System32\\x.exe"},  # a variable unit is not the variable
    {},
]


def manifest_entry(policy: Policy) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for query in QUERIES:
        d = decide(policy, Query(**query), DEFAULT_VARIABLES)
        out.append(
            {
                "query": query,
                "decision": d.action.value,
                "rule": d.rule.id if d.rule else None,
                "enforced": d.enforced,
            }
        )
    return out


DEPENDS_NAMES = {Depends.PATH: "path", Depends.HASH: "hash"}


def fact_combinations(query: dict[str, str]) -> list[Facts]:
    """Every state of knowledge of a query's inputs the staged decision can be asked with."""
    paths = [Fact.UNKNOWN, Fact.MISSING] + ([Fact.KNOWN] if "path" in query else [])
    combos = []
    for path_state in paths:
        for hash_state in (Fact.UNKNOWN, Fact.KNOWN, Fact.MISSING):
            known = hash_state is Fact.KNOWN
            combos.append(
                Facts(
                    path_state,
                    query.get("path") if path_state is Fact.KNOWN else None,
                    hash_state,
                    query.get("authenticode_sha256") if known else None,
                    query.get("file_sha256") if known else None,
                )
            )
    return combos


def staged_entry(policy: Policy) -> list[dict[str, object]]:
    """The model's staged verdicts for every query and state of knowledge."""
    out: list[dict[str, object]] = []
    for query in QUERIES:
        for facts in fact_combinations(query):
            v = decide_staged(policy, facts, DEFAULT_VARIABLES)
            entry: dict[str, object] = {
                "query": query,
                "path_state": facts.path_state.name.lower(),
                "hash_state": facts.hash_state.name.lower(),
                "next": v.next.name.lower(),
            }
            if v.decision is not None:
                entry["decision"] = v.decision.action.value
                entry["rule"] = v.decision.rule.id if v.decision.rule else None
                entry["reason"] = v.reason.name.lower()
                entry["depends"] = [
                    name for flag, name in DEPENDS_NAMES.items() if flag in v.depends
                ]
            out.append(entry)
    return out


def _resum(blob: bytearray) -> bytes:
    struct.pack_into("<I", blob, 20, checksum(blob))
    return bytes(blob)


def _section(blob: bytes | bytearray, section: Section) -> tuple[int, int, int]:
    count = struct.unpack_from("<I", blob, 32)[0]
    for i in range(count):
        sid, offset, size, n = struct.unpack_from("<IIII", blob, HEADER_SIZE + 16 * i)
        if sid == section:
            return offset, size, n
    raise KeyError(section)


def _directory_entry(section: Section) -> int:
    return HEADER_SIZE + 16 * (section - 1)


def _edit(base: bytes, edit: Callable[[bytearray], None], fix: bool = True) -> bytes:
    blob = bytearray(base)
    edit(blob)
    return _resum(blob) if fix else bytes(blob)


def invalid_vectors(mixed: bytes) -> dict[str, tuple[bytes, Status]]:
    path_at = _section(mixed, Section.PATH_RULES)[0]
    ids_at = _section(mixed, Section.HASH_RULE_IDS)[0]
    strings_at = _section(mixed, Section.STRINGS)[0]
    auth_allow_at = _section(mixed, Section.AUTHENTICODE_ALLOW)[0]
    meta_at = _section(mixed, Section.METADATA)[0]

    def entry(i: int, field_offset: int) -> int:
        return path_at + i * PATH_RULE_SIZE + field_offset

    def swap_hashes(b: bytearray) -> None:
        first = b[auth_allow_at : auth_allow_at + 32]
        b[auth_allow_at : auth_allow_at + 32] = b[auth_allow_at + 32 : auth_allow_at + 64]
        b[auth_allow_at + 32 : auth_allow_at + 64] = first

    def u8(at: int, value: int) -> Callable[[bytearray], None]:
        return lambda b: b.__setitem__(at, value)

    def u16(at: int, value: int) -> Callable[[bytearray], None]:
        return lambda b: struct.pack_into("<H", b, at, value)

    def u32(at: int, value: int) -> Callable[[bytearray], None]:
        return lambda b: struct.pack_into("<I", b, at, value)

    return {
        "truncated-header": (mixed[: HEADER_SIZE - 1], Status.TRUNCATED),
        "empty-file": (b"", Status.TRUNCATED),
        "bad-magic": (_edit(mixed, u8(0, 0x89)), Status.BAD_MAGIC),
        "major-version-2": (_edit(mixed, u16(8, 2)), Status.VERSION),
        "major-version-0": (_edit(mixed, u16(8, 0)), Status.VERSION),
        "header-size": (_edit(mixed, u32(12, 72)), Status.HEADER_SIZE),
        "extended": (mixed + bytes(8), Status.SIZE_MISMATCH),
        "truncated-body": (mixed[:-8], Status.SIZE_MISMATCH),
        "checksum-hash-byte": (_edit(mixed, u8(auth_allow_at, 0x12), fix=False), Status.CHECKSUM),
        "checksum-field": (
            _edit(mixed, lambda b: b.__setitem__(20, b[20] ^ 1), fix=False),
            Status.CHECKSUM,
        ),
        "unknown-flag": (_edit(mixed, u32(24, 2)), Status.RESERVED),
        "reserved-header": (_edit(mixed, u8(40, 1)), Status.RESERVED),
        "section-count-huge": (_edit(mixed, u32(32, 1000)), Status.SECTION_DIRECTORY),
        "section-unknown-id": (
            _edit(mixed, u32(_directory_entry(Section.HASH_RULE_IDS), 9)),
            Status.SECTION_ORDER,
        ),
        "section-missing": (
            _edit(mixed, u32(_directory_entry(Section.HASH_RULE_IDS), 0x8000)),
            Status.SECTION_ORDER,
        ),
        "section-moved": (
            _edit(mixed, u32(_directory_entry(Section.HASH_RULE_IDS) + 4, ids_at + 8)),
            Status.SECTION_LAYOUT,
        ),
        "section-padding": (
            _edit(mixed, u8(meta_at + len("mixed policy"), 0x20)),
            Status.SECTION_LAYOUT,
        ),
        "section-count-mismatch": (
            _edit(mixed, u32(_directory_entry(Section.AUTHENTICODE_ALLOW) + 12, 3)),
            Status.SECTION_SIZE,
        ),
        "metadata-utf8": (_edit(mixed, u8(meta_at, 0xFF)), Status.METADATA),
        "hash-order": (_edit(mixed, swap_hashes), Status.HASH_ORDER),
        "string-ref-odd": (_edit(mixed, u32(entry(0, 0), 1)), Status.STRING_REF),
        "string-ref-past-end": (_edit(mixed, u32(entry(0, 16), 0x7FFF_FFFF)), Status.STRING_REF),
        # Two rules sharing one pattern: were it allowed, validating could cost far more
        # than the blob's size.
        "string-ref-shared": (
            _edit(mixed, u32(entry(1, 0), struct.unpack_from("<I", mixed, entry(0, 0))[0])),
            Status.STRING_REF,
        ),
        "string-ref-id-inside-pattern": (
            _edit(mixed, u32(entry(0, 16), struct.unpack_from("<I", mixed, entry(0, 0))[0])),
            Status.STRING_REF,
        ),
        "path-action": (_edit(mixed, u8(entry(0, 8), 3)), Status.PATH_RULE),
        "path-group": (_edit(mixed, u8(entry(0, 9), 0)), Status.PATH_RULE),
        "path-reserved": (_edit(mixed, u16(entry(0, 10), 1)), Status.PATH_RULE),
        "path-key-length": (_edit(mixed, u16(entry(0, 6), 1)), Status.PATH_RULE),
        "path-control-character": (
            _edit(mixed, u16(strings_at + struct.unpack_from("<I", mixed, entry(0, 0))[0] + 2, 0)),
            Status.PATH_RULE,
        ),
        "path-order": (
            _edit(mixed, u16(strings_at + struct.unpack_from("<I", mixed, entry(1, 0))[0], 0x21)),
            Status.PATH_ORDER,
        ),
        "path-parent": (_edit(mixed, u32(entry(1, 12), 0)), Status.PATH_PARENT),
        "rule-id-section": (_edit(mixed, u32(ids_at, int(Section.PATH_RULES))), Status.RULE_ID),
        "rule-id-index": (_edit(mixed, u32(ids_at + 4, 99)), Status.RULE_ID),
        "rule-id-control-character": (
            _edit(mixed, u8(strings_at + struct.unpack_from("<I", mixed, entry(0, 16))[0], 0x01)),
            Status.RULE_ID,
        ),
        "rule-id-utf8": (
            _edit(mixed, u8(strings_at + struct.unpack_from("<I", mixed, ids_at + 8)[0], 0xC0)),
            Status.RULE_ID,
        ),
    }


def optional_section_vector(base: bytes) -> bytes:
    """A minor-version-1 blob with an optional section 0x8001: a 1.0 reader accepts it."""
    count = struct.unpack_from("<I", base, 32)[0]
    old_start = HEADER_SIZE + 16 * count
    old_start += -old_start % 8
    new_start = HEADER_SIZE + 16 * (count + 1)
    new_start += -new_start % 8
    shift = new_start - old_start
    directory = bytearray()
    for i in range(count):
        sid, offset, size, n = struct.unpack_from("<IIII", base, HEADER_SIZE + 16 * i)
        directory += struct.pack("<IIII", sid, offset + shift, size, n)
    extra = b"future data\0\0\0\0\0"
    body = base[old_start:]
    directory += struct.pack("<IIII", 0x8001, len(base) + shift, len(extra), 0)
    head = bytearray(base[:HEADER_SIZE])
    struct.pack_into("<H", head, 10, 1)
    struct.pack_into("<I", head, 32, count + 1)
    blob = head + directory + bytes(new_start - HEADER_SIZE - len(directory)) + body + extra
    struct.pack_into("<I", blob, 16, len(blob))
    return _resum(blob)


def build() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    manifest: dict[str, object] = {"valid": {}, "invalid": {}}
    valid: dict[str, object] = {}
    staged: dict[str, object] = {}
    for name, policy in policies().items():
        blob = compile_policy(policy)
        files[f"valid/{name}.bin"] = blob
        valid[name] = manifest_entry(policy)
        staged[name] = staged_entry(policy)
    files["valid/minor-1-optional-section.bin"] = optional_section_vector(files["valid/mixed.bin"])
    valid["minor-1-optional-section"] = manifest_entry(policies()["mixed"])
    invalid: dict[str, object] = {}
    for name, (blob, status) in invalid_vectors(files["valid/mixed.bin"]).items():
        files[f"invalid/{name}.bin"] = blob
        invalid[name] = {"code": int(status), "name": status.name}
    manifest["valid"] = valid
    manifest["invalid"] = invalid
    files["manifest.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    files["staged.json"] = (json.dumps(staged, indent=1, ensure_ascii=False) + "\n").encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    files = {ROOT / name: data for name, data in build().items()}
    files[HEADER] = c_header().encode()
    if args.check:
        stale = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
        stale += sorted({p for p in ROOT.rglob("*") if p.is_file()} - set(files))
        for path in stale:
            print(f"stale: {path.relative_to(REPO)}", file=sys.stderr)
        return 1 if stale else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
