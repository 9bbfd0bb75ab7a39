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

from exewhitelist.blob import _format, compile_policy
from exewhitelist.blob._format import (
    ALIGNMENT,
    CERTIFICATE_SIZE,
    EXCEPTION_LIST_SIZE,
    EXCEPTION_SIZE,
    FIRST_OPTIONAL_SECTION,
    HASH_SECTIONS,
    HASH_SIZE,
    HEADER_SIZE,
    PATH_RULE_SIZE,
    PUBLISHER_RULE_SIZE,
    PUBLISHER_SIZE,
    SECTION_ENTRY,
    SECTION_ENTRY_SIZE,
    TEXT_ENTRY_SIZE,
    CertificateField,
    ExceptionField,
    ExceptionListField,
    Fields,
    HeaderField,
    PathRuleField,
    PublisherField,
    PublisherRuleField,
    RuleIdEntryField,
    Section,
    SectionEntryField,
    Status,
    TextField,
)
from exewhitelist.blob.compile import set_checksum
from exewhitelist.blob.signerjson import signer_facts_from_json
from exewhitelist.pe import Anomaly
from exewhitelist.policy import (
    DEFAULT_VARIABLES,
    Action,
    Mode,
    Policy,
    Query,
    Rule,
    RuleKind,
    code_units,
    decide,
    fold,
)
from exewhitelist.rules import (
    CertificateId,
    Condition,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    Pin,
    Publisher,
    SignerFacts,
    hash_rule,
    make_rule,
)
from exewhitelist.staging import REASON_TEXTS, Depends, Fact, Facts, Next, Reason, decide_staged

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
        hash_rule(A, _digest(0x11)),
        hash_rule(A, _digest(0x22), id="allow-tool"),
        hash_rule(A, _digest(0x33), Action.DENY, id="deny-evil"),
        hash_rule(F, _digest(0x44)),
        hash_rule(F, _digest(0x55), Action.DENY),
        make_rule("windows", Action.ALLOW, P, "%WINDIR%\\*"),
        make_rule("program-files", Action.ALLOW, P, "%PROGRAMFILES%\\*"),
        make_rule("no-temp", Action.DENY, P, "*\\Temp\\*"),
        make_rule("no-downloads", Action.DENY, P, "C:\\Users\\*\\Downloads\\*"),
        make_rule("tool-anywhere", Action.ALLOW, P, "*\\tool.exe"),
        make_rule("notepad", Action.ALLOW, P, "C:\\Windows\\notepad.exe"),
        make_rule("one-char", Action.ALLOW, P, "D:\\Apps\\app?.exe"),
        make_rule("unicode", Action.ALLOW, P, "C:\\Données\\Ärger\\ß\\Ωmega.exe"),
        make_rule("scan", Action.DENY, P, "*\\Cache\\*"),
    )
    return {
        "small": Policy("small", 1, Mode.ENFORCE, rules[:1]),
        "mixed": Policy("mixed policy", 42, Mode.ENFORCE, rules),
        "audit": Policy("audit", 7, Mode.AUDIT, rules),
        "empty": Policy("empty", 0, Mode.ENFORCE, ()),
        **signer_policies(rules),
    }


# Certificates of the 1.1 vectors: their TBS hashes, one of each algorithm.
PCA = CertificateId("sha256", "c1" * 32)
"""An issuing CA (pinned with pin = issuer)."""
LEAF = CertificateId("sha256", "c2" * 32)
"""A signer's own certificate (pinned with pin = leaf)."""
OLD_PCA = CertificateId("sha1", "c3" * 20)
CA_384 = CertificateId("sha384", "c4" * 48)
LEAF_512 = CertificateId("sha512", "c5" * 64)
UNKNOWN_CA = CertificateId("sha256", "c6" * 32)
"""In chains, pinned by no rule."""
ODD_CN = "Odd\uf001Signer"
"""A common name with a variable code unit inside: a text no path exception may point at."""

V = FileVersion.parse


def signer_policies(rules: tuple[Rule, ...]) -> dict[str, Policy]:
    """The 1.1 vectors: publisher rules of every shape, exceptions of every kind."""
    publisher = make_publisher_rule
    signed = (
        # pin issuer, nothing else
        publisher(
            "contoso-any",
            Action.ALLOW,
            Publisher(PCA),
            exceptions=(
                PathCondition("*\\Downloads\\*"),
                HashCondition(F, _digest(0x66)),
                Publisher(
                    PCA, attribute=FileAttribute.ORIGINAL_FILENAME, attribute_value="EVIL.EXE"
                ),
            ),
        ),
        # pin issuer, CN, attribute, lone min (allow: that version and later)
        publisher(
            "contoso-tool",
            Action.ALLOW,
            Publisher(
                PCA,
                Pin.ISSUER,
                "Contoso Ltd",
                FileAttribute.ORIGINAL_FILENAME,
                "TOOL.EXE",
                V("2.0.0.0"),
            ),
        ),
        # lone min on a deny rule: that version and earlier
        publisher(
            "contoso-old",
            Action.DENY,
            Publisher(PCA, Pin.ISSUER, "Contoso Ltd", min_version=V("1.5.0.0")),
        ),
        # pin leaf
        publisher("bad-leaf", Action.DENY, Publisher(LEAF, Pin.LEAF)),
        # sha1 issuer, product name, both bounds
        publisher(
            "fabrikam-range",
            Action.ALLOW,
            Publisher(
                OLD_PCA,
                Pin.ISSUER,
                None,
                FileAttribute.PRODUCT_NAME,
                "FABRIKAM SUITE",
                V("1.0.0.0"),
                V("1.9.65535.65535"),
            ),
        ),
        # lone max on a deny rule: that version and later
        publisher(
            "fabrikam-new",
            Action.DENY,
            Publisher(CA_384, max_version=V("3.0.0.0")),
            exceptions=(HashCondition(A, _digest(0x77)),),
        ),
        # sha512 leaf, internal name, lone max (allow: that version and earlier)
        publisher(
            "setup",
            Action.ALLOW,
            Publisher(
                LEAF_512, Pin.LEAF, None, FileAttribute.INTERNAL_NAME, "SETUP", None, V("5.0.0.0")
            ),
        ),
        # file description, non-ASCII (stored folded), a CN with a private-use unit
        publisher(
            "unicode-signer",
            Action.ALLOW,
            Publisher(LEAF_512, Pin.LEAF, ODD_CN, FileAttribute.FILE_DESCRIPTION, "ÉDITEUR ÜBER"),
        ),
    )
    windows = make_rule(
        "windows",
        Action.ALLOW,
        P,
        "%WINDIR%\\*",
        exceptions=(
            PathCondition("%WINDIR%\\Temp\\*"),
            HashCondition(A, _digest(0x77)),
            HashCondition(F, _digest(0x66)),
            Publisher(LEAF, Pin.LEAF),
        ),
    )
    no_temp = make_rule(
        "no-temp",
        Action.DENY,
        P,
        "*\\Temp\\*",
        exceptions=(Publisher(PCA, Pin.ISSUER, "Contoso Ltd"),),
    )
    others = tuple(r for r in rules if r.id not in ("windows", "no-temp"))
    hashes_only = make_rule(
        "downloads",
        Action.DENY,
        P,
        "C:\\Users\\*\\Downloads\\*",
        exceptions=(HashCondition(A, _digest(0x22)), PathCondition("*\\Downloads\\ok\\*")),
    )
    return {
        "signers": Policy("signers", 11, Mode.ENFORCE, (*others, windows, no_temp, *signed)),
        "signers-only": Policy("signers only", 1, Mode.AUDIT, signed),
        "exceptions-no-signers": Policy(
            "exceptions without signers", 2, Mode.ENFORCE, (rules[0], hashes_only)
        ),
    }


def make_publisher_rule(
    rule_id: str, action: Action, publisher: Publisher, exceptions: tuple[Condition, ...] = ()
) -> Rule:
    return make_rule(rule_id, action, RuleKind.PUBLISHER, publisher, exceptions=exceptions)


QUERIES: list[dict[str, object]] = [
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


def _signed(
    *chain: CertificateId,
    cn: str | None = None,
    version: str | None = None,
    **attributes: str,
) -> dict[str, object]:
    """Signer facts (JSON form, spec §11) of one signer with ``chain`` (leaf first)."""
    out: dict[str, object] = {}
    if chain:
        signer: dict[str, object] = {"chain": [str(c) for c in chain]}
        if cn is not None:
            signer["common_name"] = cn
        out["signers"] = [signer]
    if attributes:
        out["attributes"] = attributes
    if version is not None:
        out["version"] = version
    return out


SOME_LEAF = CertificateId("sha256", "d0" * 32)
"""A signer's own certificate that no rule pins."""

SIGNER_QUERIES: list[dict[str, object]] = [
    # pin issuer, nothing else; then each kind of exception of contoso-any
    {"signer_facts": _signed(SOME_LEAF, PCA, cn="Someone")},
    {"signer_facts": _signed(SOME_LEAF, PCA), "path": "C:\\x\\Downloads\\a.exe"},
    {"signer_facts": _signed(SOME_LEAF, PCA, original_filename="evil.exe")},
    {"signer_facts": _signed(SOME_LEAF, PCA), "file_sha256": _digest(0x66)},
    {"signer_facts": _signed(PCA)},  # pinned as issuer, but it is the leaf here
    # CN, attribute (folded), lone min of an allow rule; contoso-any excluded by its path exception
    {
        "signer_facts": _signed(
            SOME_LEAF, PCA, cn="Contoso Ltd", version="2.0.0.0", original_filename="tool.exe"
        ),
        "path": "D:\\Downloads\\tool.exe",
    },
    {
        "signer_facts": _signed(
            SOME_LEAF, PCA, cn="Contoso Ltd", version="1.9.0.0", original_filename="TOOL.EXE"
        ),
        "path": "D:\\Downloads\\tool.exe",
    },
    {
        "signer_facts": _signed(
            SOME_LEAF, PCA, cn="contoso ltd", version="3.0.0.0", original_filename="TOOL.EXE"
        ),
        "path": "D:\\Downloads\\tool.exe",
    },
    # lone min of a deny rule: that version and earlier
    {"signer_facts": _signed(SOME_LEAF, PCA, cn="Contoso Ltd", version="1.5.0.0")},
    {"signer_facts": _signed(SOME_LEAF, PCA, cn="Contoso Ltd", version="1.4.65535.65535")},
    {"signer_facts": _signed(SOME_LEAF, PCA, cn="Contoso Ltd", version="1.5.0.1")},
    {"signer_facts": _signed(SOME_LEAF, PCA, cn="Contoso Ltd")},  # no version: no bound holds
    # pin leaf
    {"signer_facts": _signed(LEAF, PCA, cn="Someone")},
    {"signer_facts": _signed(SOME_LEAF, LEAF, cn="Someone")},
    # sha1 issuer, product name, both bounds
    {"signer_facts": _signed(SOME_LEAF, OLD_PCA, version="1.5.0.0", product_name="Fabrikam Suite")},
    {"signer_facts": _signed(SOME_LEAF, OLD_PCA, version="2.0.0.0", product_name="Fabrikam Suite")},
    {"signer_facts": _signed(SOME_LEAF, OLD_PCA, version="1.5.0.0", product_name="Fabrikam")},
    # lone max of a deny rule: that version and later; its hash exception
    {"signer_facts": _signed(SOME_LEAF, CA_384, OLD_PCA, version="3.0.0.0")},
    {"signer_facts": _signed(SOME_LEAF, CA_384, OLD_PCA, version="2.9.0.0")},
    {
        "signer_facts": _signed(
            SOME_LEAF, CA_384, OLD_PCA, version="1.5.0.0", product_name="FABRIKAM SUITE"
        )
    },
    {
        "signer_facts": _signed(SOME_LEAF, CA_384, version="4.0.0.0"),
        "authenticode_sha256": _digest(0x77),
    },
    # sha512 leaf, internal name, lone max of an allow rule
    {"signer_facts": _signed(LEAF_512, UNKNOWN_CA, version="5.0.0.0", internal_name="Setup")},
    {"signer_facts": _signed(LEAF_512, UNKNOWN_CA, version="5.0.0.1", internal_name="Setup")},
    # non-ASCII attribute folded; a CN compared exactly
    {"signer_facts": _signed(LEAF_512, cn=ODD_CN, file_description="éditeur über")},
    {"signer_facts": _signed(LEAF_512, cn="Odd Signer", file_description="éditeur über")},
    # two signers: the second matches
    {
        "signer_facts": {
            "signers": [
                {"chain": [str(SOME_LEAF), str(UNKNOWN_CA)], "common_name": "Nobody"},
                {"chain": [str(SOME_LEAF), str(PCA)], "common_name": "Contoso Ltd"},
            ],
            "version": "1.0.0.0",
        }
    },
    # no signer at all, but a version resource
    {"signer_facts": _signed(version="1.0.0.0", original_filename="tool.exe")},
    # exceptions of path rules: of windows (path, both digests, publisher), of no-temp
    {"path": "C:\\Windows\\Temp\\x.exe"},
    {"path": "C:\\Windows\\Temp\\x.exe", "signer_facts": _signed(SOME_LEAF, PCA, cn="Contoso Ltd")},
    {"path": "C:\\Windows\\x.exe", "authenticode_sha256": _digest(0x77)},
    {"path": "C:\\Windows\\x.exe", "file_sha256": _digest(0x66)},
    {"path": "C:\\Windows\\x.exe", "signer_facts": _signed(LEAF, cn="Someone")},
    {"path": "C:\\Windows\\x.exe", "signer_facts": _signed(SOME_LEAF, UNKNOWN_CA)},
    {"path": "C:\\Users\\bob\\Downloads\\ok\\a.exe"},
    {"path": "C:\\Users\\bob\\Downloads\\a.exe", "authenticode_sha256": _digest(0x22)},
    {"path": "C:\\Users\\bob\\Downloads\\a.exe", "authenticode_sha256": _digest(0x11)},
]
"""Queries of the 1.1 vectors, with signer facts, besides :data:`QUERIES`."""


def queries_of(policy: Policy) -> list[dict[str, object]]:
    """The queries of a policy's vectors: the 1.0 ones; for 1.1, those of
    :data:`SIGNER_QUERIES` too (only those without signer facts when no rule tests them)."""
    if not _is_signer_policy(policy):
        return list(QUERIES)
    signers = _uses_signers(policy)
    return [*QUERIES, *(q for q in SIGNER_QUERIES if signers or "signer_facts" not in q)]


def _is_signer_policy(policy: Policy) -> bool:
    """Whether the policy compiles to a 1.1 blob."""
    return any(r.kind is RuleKind.PUBLISHER or r.exceptions for r in policy.rules)


def _uses_signers(policy: Policy) -> bool:
    return any(
        r.kind is RuleKind.PUBLISHER or any(e.kind is RuleKind.PUBLISHER for e in r.exceptions)
        for r in policy.rules
    )


def _query(query: dict[str, object]) -> Query:
    facts = query.get("signer_facts")
    return Query(
        path=query.get("path"),  # type: ignore[arg-type]
        authenticode_sha256=query.get("authenticode_sha256"),  # type: ignore[arg-type]
        file_sha256=query.get("file_sha256"),  # type: ignore[arg-type]
        signer_facts=signer_facts_from_json(facts) if isinstance(facts, dict) else None,
    )


def manifest_entry(policy: Policy) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for query in queries_of(policy):
        d = decide(policy, _query(query), DEFAULT_VARIABLES)
        out.append(
            {
                "query": query,
                "decision": d.action.value,
                "rule": d.rule.id if d.rule else None,
                "enforced": d.enforced,
            }
        )
    return out


DEPENDS_NAMES = {Depends.PATH: "path", Depends.HASH: "hash", Depends.SIGNER: "signer"}


def fact_combinations(query: dict[str, object], signers: bool = False) -> list[Facts]:
    """Every state of knowledge of a query's inputs the staged decision can be asked with.

    With ``signers`` (1.1 policies) the signer facts' states too: known signer
    facts of a query without any are those of an unsigned file.
    """
    q = _query(query)
    paths = [Fact.UNKNOWN, Fact.MISSING] + ([Fact.KNOWN] if q.path is not None else [])
    signer_states = (Fact.UNKNOWN, Fact.KNOWN, Fact.MISSING) if signers else (Fact.UNKNOWN,)
    combos = []
    for path_state in paths:
        for hash_state in (Fact.UNKNOWN, Fact.KNOWN, Fact.MISSING):
            known = hash_state is Fact.KNOWN
            for signer_state in signer_states:
                combos.append(
                    Facts(
                        path_state,
                        q.path if path_state is Fact.KNOWN else None,
                        hash_state,
                        q.authenticode_sha256 if known else None,
                        q.file_sha256 if known else None,
                        signer_state,
                        (q.signer_facts or SignerFacts()) if signer_state is Fact.KNOWN else None,
                    )
                )
    return combos


def staged_entry(policy: Policy) -> list[dict[str, object]]:
    """The model's staged verdicts for every query and state of knowledge."""
    out: list[dict[str, object]] = []
    signers = _uses_signers(policy)
    for query in queries_of(policy):
        for facts in fact_combinations(query, signers):
            v = decide_staged(policy, facts, DEFAULT_VARIABLES)
            entry: dict[str, object] = {
                "query": query,
                "path_state": facts.path_state.name.lower(),
                "hash_state": facts.hash_state.name.lower(),
            }
            if _is_signer_policy(policy):
                entry["signer_state"] = facts.signer_state.name.lower()
            entry["next"] = v.next.name.lower()
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
    set_checksum(blob)
    return bytes(blob)


def _section(blob: bytes | bytearray, section: Section) -> tuple[int, int, int]:
    for i in range(HeaderField.SECTION_COUNT.read(blob)):
        sid, offset, size, n = SECTION_ENTRY.unpack_from(blob, HEADER_SIZE + SECTION_ENTRY_SIZE * i)
        if sid == section:
            return offset, size, n
    raise KeyError(section)


def _directory_entry(section: Section, field: SectionEntryField) -> int:
    return HEADER_SIZE + SECTION_ENTRY_SIZE * (section - 1) + field.offset


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
    checksum_at = HeaderField.CHECKSUM.offset

    def entry(i: int, field: PathRuleField) -> int:
        return path_at + i * PATH_RULE_SIZE + field.offset

    def string_at(i: int, field: PathRuleField) -> int:
        """Path rule i's PATTERN_AT or ID_AT: where its string starts in STRINGS."""
        return field.read(mixed, path_at + i * PATH_RULE_SIZE)

    def swap_hashes(b: bytearray) -> None:
        first = slice(auth_allow_at, auth_allow_at + HASH_SIZE)
        second = slice(first.stop, first.stop + HASH_SIZE)
        b[first], b[second] = b[second], b[first]

    def u8(at: int, value: int) -> Callable[[bytearray], None]:
        return lambda b: b.__setitem__(at, value)

    def u16(at: int, value: int) -> Callable[[bytearray], None]:
        return lambda b: struct.pack_into("<H", b, at, value)

    def u32(at: int, value: int) -> Callable[[bytearray], None]:
        return lambda b: struct.pack_into("<I", b, at, value)

    return {
        "truncated-header": (mixed[: HEADER_SIZE - 1], Status.TRUNCATED),
        "empty-file": (b"", Status.TRUNCATED),
        "bad-magic": (_edit(mixed, u8(HeaderField.MAGIC.offset, 0x89)), Status.BAD_MAGIC),
        "major-version-2": (_edit(mixed, u16(HeaderField.VERSION_MAJOR.offset, 2)), Status.VERSION),
        "major-version-0": (_edit(mixed, u16(HeaderField.VERSION_MAJOR.offset, 0)), Status.VERSION),
        "header-size": (_edit(mixed, u32(HeaderField.HEADER_SIZE.offset, 72)), Status.HEADER_SIZE),
        "extended": (mixed + bytes(8), Status.SIZE_MISMATCH),
        "truncated-body": (mixed[:-8], Status.SIZE_MISMATCH),
        "checksum-hash-byte": (_edit(mixed, u8(auth_allow_at, 0x12), fix=False), Status.CHECKSUM),
        "checksum-field": (
            _edit(mixed, lambda b: b.__setitem__(checksum_at, b[checksum_at] ^ 1), fix=False),
            Status.CHECKSUM,
        ),
        "unknown-flag": (_edit(mixed, u32(HeaderField.FLAGS.offset, 2)), Status.RESERVED),
        "reserved-header": (_edit(mixed, u8(HeaderField.RESERVED.offset + 4, 1)), Status.RESERVED),
        "section-count-huge": (
            _edit(mixed, u32(HeaderField.SECTION_COUNT.offset, 1000)),
            Status.SECTION_DIRECTORY,
        ),
        "section-unknown-id": (
            _edit(mixed, u32(_directory_entry(Section.HASH_RULE_IDS, SectionEntryField.ID), 9)),
            Status.SECTION_ORDER,
        ),
        "section-missing": (
            _edit(
                mixed,
                u32(
                    _directory_entry(Section.HASH_RULE_IDS, SectionEntryField.ID),
                    FIRST_OPTIONAL_SECTION,
                ),
            ),
            Status.SECTION_ORDER,
        ),
        "section-moved": (
            _edit(
                mixed,
                u32(
                    _directory_entry(Section.HASH_RULE_IDS, SectionEntryField.AT),
                    ids_at + ALIGNMENT,
                ),
            ),
            Status.SECTION_LAYOUT,
        ),
        "section-padding": (
            _edit(mixed, u8(meta_at + len("mixed policy"), 0x20)),
            Status.SECTION_LAYOUT,
        ),
        "section-count-mismatch": (
            _edit(
                mixed, u32(_directory_entry(Section.AUTHENTICODE_ALLOW, SectionEntryField.COUNT), 3)
            ),
            Status.SECTION_SIZE,
        ),
        "metadata-utf8": (_edit(mixed, u8(meta_at, 0xFF)), Status.METADATA),
        "hash-order": (_edit(mixed, swap_hashes), Status.HASH_ORDER),
        "string-ref-odd": (
            _edit(mixed, u32(entry(0, PathRuleField.PATTERN_AT), 1)),
            Status.STRING_REF,
        ),
        "string-ref-past-end": (
            _edit(mixed, u32(entry(0, PathRuleField.ID_AT), 0x7FFF_FFFF)),
            Status.STRING_REF,
        ),
        # Two rules sharing one pattern: were it allowed, validating could cost far more
        # than the blob's size.
        "string-ref-shared": (
            _edit(
                mixed,
                u32(entry(1, PathRuleField.PATTERN_AT), string_at(0, PathRuleField.PATTERN_AT)),
            ),
            Status.STRING_REF,
        ),
        "string-ref-id-inside-pattern": (
            _edit(
                mixed, u32(entry(0, PathRuleField.ID_AT), string_at(0, PathRuleField.PATTERN_AT))
            ),
            Status.STRING_REF,
        ),
        "path-action": (_edit(mixed, u8(entry(0, PathRuleField.ACTION), 3)), Status.PATH_RULE),
        "path-group": (_edit(mixed, u8(entry(0, PathRuleField.GROUP), 0)), Status.PATH_RULE),
        "path-reserved": (_edit(mixed, u16(entry(0, PathRuleField.RESERVED), 1)), Status.PATH_RULE),
        "path-key-length": (
            _edit(mixed, u16(entry(0, PathRuleField.KEY_UNITS), 1)),
            Status.PATH_RULE,
        ),
        "path-control-character": (
            _edit(mixed, u16(strings_at + string_at(0, PathRuleField.PATTERN_AT) + 2, 0)),
            Status.PATH_RULE,
        ),
        "path-order": (
            _edit(mixed, u16(strings_at + string_at(1, PathRuleField.PATTERN_AT), 0x21)),
            Status.PATH_ORDER,
        ),
        "path-parent": (_edit(mixed, u32(entry(1, PathRuleField.PARENT), 0)), Status.PATH_PARENT),
        "rule-id-section": (
            _edit(mixed, u32(ids_at + RuleIdEntryField.SECTION.offset, int(Section.PATH_RULES))),
            Status.RULE_ID,
        ),
        "rule-id-index": (
            _edit(mixed, u32(ids_at + RuleIdEntryField.INDEX.offset, 99)),
            Status.RULE_ID,
        ),
        "rule-id-control-character": (
            _edit(mixed, u8(strings_at + string_at(0, PathRuleField.ID_AT), 0x01)),
            Status.RULE_ID,
        ),
        "rule-id-utf8": (
            _edit(mixed, u8(strings_at + RuleIdEntryField.ID_AT.read(mixed, ids_at), 0xC0)),
            Status.RULE_ID,
        ),
    }


def invalid_signer_vectors(base: bytes) -> dict[str, tuple[bytes, Status]]:
    """Blobs with exactly one violation of the 1.1 rules (steps 16-23), from ``signers.bin``."""

    def at(section: Section, size: int, i: int, field: Fields) -> int:
        return _section(base, section)[0] + i * size + field.offset

    def cert(i: int, field: CertificateField) -> int:
        return at(Section.CERTIFICATES, CERTIFICATE_SIZE, i, field)

    def text(i: int, field: TextField) -> int:
        return at(Section.TEXTS, TEXT_ENTRY_SIZE, i, field)

    def publisher(i: int, field: PublisherField) -> int:
        return at(Section.PUBLISHERS, PUBLISHER_SIZE, i, field)

    def rule(i: int, field: PublisherRuleField) -> int:
        return at(Section.PUBLISHER_RULES, PUBLISHER_RULE_SIZE, i, field)

    def listed(i: int, field: ExceptionListField) -> int:
        return at(Section.EXCEPTION_LISTS, EXCEPTION_LIST_SIZE, i, field)

    def exception(i: int, field: ExceptionField) -> int:
        return at(Section.EXCEPTIONS, EXCEPTION_SIZE, i, field)

    def put(offset: int, value: int, size: int) -> Callable[[bytearray], None]:
        return lambda b: b.__setitem__(slice(offset, offset + size), value.to_bytes(size, "little"))

    def swap(a: int, b: int, size: int) -> Callable[[bytearray], None]:
        def edit(blob: bytearray) -> None:
            first, second = bytes(blob[a : a + size]), bytes(blob[b : b + size])
            blob[a : a + size], blob[b : b + size] = second, first

        return edit

    def read(offset: int, size: int) -> int:
        return int.from_bytes(base[offset : offset + size], "little")

    texts = _section(base, Section.TEXTS)[2]
    text_data = _section(base, Section.TEXT_DATA)[0]
    strings_at = _section(base, Section.STRINGS)[0]
    hashes_at = _section(base, Section.EXCEPTION_HASHES)[0]
    last_text = texts - 1
    last_text_end = read(text(last_text, TextField.AT), 4) + 2 * read(
        text(last_text, TextField.UNITS), 4
    )
    pub_size = PublisherField.MIN_VERSION.size
    vectors: dict[str, tuple[Callable[[bytearray], None], Status]] = {
        # 16: the signer sections all or none
        "signer-sections-partial": (
            put(
                _directory_entry(Section.EXCEPTION_HASHES, SectionEntryField.ID),
                FIRST_OPTIONAL_SECTION,
                4,
            ),
            Status.SECTION_ORDER,
        ),
        # 17: sizes
        "text-data-count": (
            put(_directory_entry(Section.TEXT_DATA, SectionEntryField.COUNT), 1, 4),
            Status.SECTION_SIZE,
        ),
        # 18: certificates
        "certificate-algorithm": (
            put(cert(0, CertificateField.ALGORITHM), 5, 1),
            Status.CERTIFICATE,
        ),
        "certificate-reserved": (
            put(cert(0, CertificateField.RESERVED) + 6, 1, 1),
            Status.CERTIFICATE,
        ),
        "certificate-after-digest": (  # certificate 0 is a SHA-1 one: 20 bytes
            put(cert(0, CertificateField.DIGEST) + 20, 1, 1),
            Status.CERTIFICATE,
        ),
        "certificate-order": (
            swap(
                cert(1, CertificateField.ALGORITHM),
                cert(2, CertificateField.ALGORITHM),
                CERTIFICATE_SIZE,
            ),
            Status.CERTIFICATE,
        ),
        # 19: texts
        "text-control-character": (put(text_data + last_text_end - 2, 0x1F, 2), Status.TEXT),
        "text-end": (
            put(text(last_text, TextField.UNITS), read(text(last_text, TextField.UNITS), 4) - 1, 4),
            Status.TEXT,
        ),
        "text-gap": (
            put(text(1, TextField.AT), read(text(1, TextField.AT), 4) + 2, 4),
            Status.TEXT,
        ),
        "text-order": (put(text_data + read(text(2, TextField.AT), 4), ord("A"), 2), Status.TEXT),
        # 20: publisher conditions
        "publisher-certificate": (
            put(publisher(9, PublisherField.CERTIFICATE), 5, 4),
            Status.PUBLISHER,
        ),
        "publisher-pin": (put(publisher(0, PublisherField.PIN), 4, 1), Status.PUBLISHER),
        "publisher-attribute": (
            put(publisher(0, PublisherField.ATTRIBUTE), 5, 1),
            Status.PUBLISHER,
        ),
        "publisher-flags": (
            put(publisher(1, PublisherField.VERSION_FLAGS), 4, 1),
            Status.PUBLISHER,
        ),
        "publisher-reserved": (put(publisher(1, PublisherField.RESERVED), 1, 1), Status.PUBLISHER),
        "publisher-common-name": (
            put(publisher(9, PublisherField.COMMON_NAME), texts, 4),
            Status.PUBLISHER,
        ),
        "publisher-attribute-value-none": (
            put(publisher(2, PublisherField.ATTRIBUTE_VALUE), 0xFFFF_FFFF, 4),
            Status.PUBLISHER,
        ),
        "publisher-version-without-flag": (
            put(publisher(1, PublisherField.MIN_VERSION), 1, pub_size),
            Status.PUBLISHER,
        ),
        "publisher-min-above-max": (
            put(
                publisher(0, PublisherField.MIN_VERSION),
                read(publisher(0, PublisherField.MAX_VERSION), pub_size) + 1,
                pub_size,
            ),
            Status.PUBLISHER,
        ),
        "publisher-order": (
            swap(
                publisher(2, PublisherField.CERTIFICATE),
                publisher(3, PublisherField.CERTIFICATE),
                PUBLISHER_SIZE,
            ),
            Status.PUBLISHER,
        ),
        # 21: publisher rules
        "publisher-rule-publisher": (
            put(rule(7, PublisherRuleField.PUBLISHER), 10, 4),
            Status.PUBLISHER_RULE,
        ),
        "publisher-rule-action": (
            put(rule(0, PublisherRuleField.ACTION), 0, 1),
            Status.PUBLISHER_RULE,
        ),
        "publisher-rule-reserved": (
            put(rule(0, PublisherRuleField.RESERVED) + 2, 1, 1),
            Status.PUBLISHER_RULE,
        ),
        "publisher-rule-order": (
            put(rule(0, PublisherRuleField.PUBLISHER), 2, 4),
            Status.PUBLISHER_RULE,
        ),
        "publisher-rule-id-overlap": (
            put(rule(0, PublisherRuleField.ID_AT), 0, 4),
            Status.STRING_REF,
        ),
        "publisher-rule-id-utf8": (
            put(strings_at + read(rule(0, PublisherRuleField.ID_AT), 4), 0xC0, 1),
            Status.RULE_ID,
        ),
        # 22: exception digests
        "exception-hash-order": (
            swap(hashes_at, hashes_at + HASH_SIZE, HASH_SIZE),
            Status.EXCEPTION,
        ),
        # 23: exception lists and exceptions
        "exception-list-section": (
            put(listed(0, ExceptionListField.SECTION), int(Section.STRINGS), 4),
            Status.EXCEPTION,
        ),
        "exception-list-index": (put(listed(3, ExceptionListField.INDEX), 8, 4), Status.EXCEPTION),
        "exception-list-order": (put(listed(1, ExceptionListField.INDEX), 3, 4), Status.EXCEPTION),
        "exception-list-count": (put(listed(3, ExceptionListField.COUNT), 2, 4), Status.EXCEPTION),
        "exception-kind": (put(exception(0, ExceptionField.KIND), 5, 1), Status.EXCEPTION),
        "exception-reserved": (put(exception(0, ExceptionField.RESERVED), 1, 1), Status.EXCEPTION),
        "exception-index": (put(exception(3, ExceptionField.INDEX), 10, 4), Status.EXCEPTION),
        "exception-path-not-a-pattern": (  # text 4: a common name with a variable unit inside
            put(exception(0, ExceptionField.INDEX), 4, 4),
            Status.EXCEPTION,
        ),
        "exception-order": (
            swap(
                exception(1, ExceptionField.KIND), exception(2, ExceptionField.KIND), EXCEPTION_SIZE
            ),
            Status.EXCEPTION,
        ),
    }
    return {name: (_edit(base, edit), status) for name, (edit, status) in vectors.items()}


def optional_section_vector(base: bytes) -> bytes:
    """A minor-version-1 blob with an optional section 0x8001: a 1.0 reader accepts it."""
    count = HeaderField.SECTION_COUNT.read(base)
    old_start = HEADER_SIZE + SECTION_ENTRY_SIZE * count
    old_start += -old_start % ALIGNMENT
    new_start = HEADER_SIZE + SECTION_ENTRY_SIZE * (count + 1)
    new_start += -new_start % ALIGNMENT
    shift = new_start - old_start
    directory = bytearray()
    for i in range(count):
        sid, offset, size, n = SECTION_ENTRY.unpack_from(base, HEADER_SIZE + SECTION_ENTRY_SIZE * i)
        directory += SECTION_ENTRY.pack(sid, offset + shift, size, n)
    extra = b"future data\0\0\0\0\0"
    body = base[old_start:]
    directory += SECTION_ENTRY.pack(0x8001, len(base) + shift, len(extra), 0)
    head = bytearray(base[:HEADER_SIZE])
    struct.pack_into("<H", head, HeaderField.VERSION_MINOR.offset, 1)
    struct.pack_into("<I", head, HeaderField.SECTION_COUNT.offset, count + 1)
    blob = head + directory + bytes(new_start - HEADER_SIZE - len(directory)) + body + extra
    struct.pack_into("<I", blob, HeaderField.BLOB_SIZE.offset, len(blob))
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
    for name, (blob, status) in {
        **invalid_vectors(files["valid/mixed.bin"]),
        **invalid_signer_vectors(files["valid/signers.bin"]),
    }.items():
        files[f"invalid/{name}.bin"] = blob
        invalid[name] = {"code": int(status), "name": status.name}
    manifest["valid"] = valid
    manifest["invalid"] = invalid
    files["manifest.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    files["staged.json"] = (json.dumps(staged, indent=1, ensure_ascii=False) + "\n").encode()
    return files


def c_header() -> str:
    """``driver/core/ewl_format.h``: the numbers of ``exewhitelist.blob._format`` for the C core."""
    lines = [
        "/* Generated by scripts/gen_shared.py from src/exewhitelist/blob/_format.py:",
        " * do not edit. The numbers of docs/blob-format.md; tests/test_blob_vectors.py",
        " * fails when this file and the Python constants differ. */",
        "#ifndef EWL_FORMAT_H",
        "#define EWL_FORMAT_H",
        "",
        "#define EWL_MAGIC_SIZE 8",
        "#define EWL_MAGIC_BYTES { " + ", ".join(f"0x{b:02x}" for b in _format.MAGIC) + " }",
    ]
    for name in (
        "VERSION_MAJOR",
        "VERSION_MINOR",
        "HEADER_SIZE",
        "SECTION_ENTRY_SIZE",
        "HASH_SIZE",
        "PATH_RULE_SIZE",
        "RULE_ID_ENTRY_SIZE",
        "ALIGNMENT",
        "FLAG_AUDIT",
        "KNOWN_FLAGS",
        "NO_PARENT",
        "MAX_BLOB_SIZE",
        "MAX_SECTIONS",
        "MAX_NAME_BYTES",
        "MAX_ID_BYTES",
        "MAX_PATTERN_UNITS",
        "MAX_POLICY_VERSION",
        "FIRST_OPTIONAL_SECTION",
        "VARIABLE_TOKEN_BASE",
        "VARIABLE_TOKEN_LAST",
        "VERSION_MINOR_SIGNERS",
        "MAX_TEXT_UNITS",
        "MAX_RULE_EXCEPTIONS",
        "TBS_DIGEST_BYTES",
        "NONE_INDEX",
        "VERSION_HAS_MIN",
        "VERSION_HAS_MAX",
        "KNOWN_VERSION_FLAGS",
    ):
        lines.append(f"#define EWL_{name} 0x{getattr(_format, name):x}u")
    records: tuple[tuple[str, type[Fields]], ...] = (
        ("HEADER", HeaderField),
        ("SECTION_ENTRY", SectionEntryField),
        ("PATH_RULE", PathRuleField),
        ("RULE_ID_ENTRY", RuleIdEntryField),
        ("PUBLISHER_RULE", _format.PublisherRuleField),
        ("PUBLISHER", _format.PublisherField),
        ("CERTIFICATE", _format.CertificateField),
        ("TEXT_ENTRY", _format.TextField),
        ("EXCEPTION_LIST", _format.ExceptionListField),
        ("EXCEPTION", _format.ExceptionField),
    )
    for record, fields in records:
        lines.append("")
        lines.extend(f"#define EWL_{record}_{f.name}_OFFSET {f.offset}" for f in fields)
        if f"EWL_{record}_SIZE" not in "\n".join(lines):  # the first records have theirs above
            lines.append(f"#define EWL_{record}_SIZE {_format.record(fields).size}")
    for prefix, members in (
        ("EWL_VAR_", _format.VARIABLE_IDS.items()),
        ("EWL_SECTION_", ((s.name, s.value) for s in Section)),
        ("EWL_PATH_ACTION_", ((a.name, a.value) for a in _format.PathAction)),
        ("EWL_PATH_GROUP_", ((g.name, g.value) for g in _format.PathGroup)),
        ("EWL_DECIDED_", ((d.name, d.value) for d in _format.Decided)),
        ("EWL_STATUS_", ((s.name, s.value) for s in Status)),
        ("EWL_FACT_", ((f.name, f.value) for f in Fact)),
        ("EWL_NEXT_", ((n.name, n.value) for n in Next)),
        ("EWL_REASON_", ((r.name, r.value) for r in Reason)),
        ("EWL_REASON_TEXT_", ((r.name, f'"{t}"') for r, t in REASON_TEXTS.items())),
        ("EWL_DEPENDS_", ((d.name, d.value) for d in (Depends.PATH, Depends.HASH, Depends.SIGNER))),
        ("EWL_PIN_", ((p.name, p.value) for p in _format.Pin)),
        ("EWL_ATTRIBUTE_", ((a.name, a.value) for a in _format.Attribute)),
        ("EWL_TBS_", ((t.name, t.value) for t in _format.TbsAlgorithm)),
        ("EWL_TBS_SIZE_", ((t.name, n) for t, n in _format.TBS_SIZES.items())),
        ("EWL_EXCEPTION_KIND_", ((k.name, k.value) for k in _format.ExceptionKind)),
    ):
        lines.append("")
        lines.extend(f"#define {prefix}{name} {value}" for name, value in members)
    # The digest's anomaly flags: bit n is the n-th member of exewhitelist.pe.Anomaly.
    lines.append("")
    lines.extend(f"#define EWL_ANOMALY_{a.name} {bit}" for bit, a in enumerate(Anomaly))
    lines.append(f"#define EWL_ANOMALY_COUNT {len(Anomaly)}")
    lines.append("#define EWL_ANOMALY_NAMES { \\")
    lines.extend(f'    "{a.value}", \\' for a in Anomaly)
    lines.append("}")
    # The hash sections: the C core walks them as a range of ids, and names a
    # hash rule without a stored id "<kind>:<hex digest>" (§5.3).
    ids = [int(section) for section in HASH_SECTIONS]
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise ValueError("HASH_SECTIONS: the C core needs consecutive section ids")
    prefixes = [f"{kind}:" for kind, _ in HASH_SECTIONS.values()]
    lines.append("")
    lines.append(f"#define EWL_HASH_SECTION_FIRST {ids[0]}")
    lines.append(f"#define EWL_HASH_SECTION_LAST {ids[-1]}")
    lines.append(f"#define EWL_HASH_SECTIONS {len(ids)}u")
    lines.append("/* [section - EWL_HASH_SECTION_FIRST]: the prefix of its default rule ids. */")
    quoted = ", ".join(f'"{prefix}"' for prefix in prefixes)
    lines.append(f"#define EWL_DEFAULT_ID_PREFIXES {{ {quoted} }}")
    longest = max(len(p) for p in prefixes) + 2 * _format.HASH_SIZE
    lines.append(f"#define EWL_DEFAULT_ID_MAX {longest}u")
    # The path variables' values on a default installation, folded: what the
    # harness decides with and what the driver falls back to. The driver
    # derives %SYSTEM32% and %PROGRAMFILES% from the running system's
    # %WINDIR% and %OSDRIVE% by these prefixes, so they must hold.
    windir, osdrive = DEFAULT_VARIABLES["WINDIR"][0], DEFAULT_VARIABLES["OSDRIVE"][0]
    if not all(v.startswith(windir) for v in DEFAULT_VARIABLES["SYSTEM32"]) or not all(
        v.startswith(osdrive) for values in DEFAULT_VARIABLES.values() for v in values
    ):
        raise ValueError("DEFAULT_VARIABLES: %SYSTEM32% must be under %WINDIR%, all on %OSDRIVE%")
    lines.append("")
    lines.append("/* exewhitelist.policy.DEFAULT_VARIABLES, folded UTF-16 code units. */")
    for name in _format.VARIABLES:
        values = DEFAULT_VARIABLES[name]
        lines.append(f"#define EWL_DEFAULT_{name}_COUNT {len(values)}")
        for k, value in enumerate(values):
            units = ", ".join(f"0x{ord(u):04x}" for u in code_units(fold(value)))
            lines.append(f"#define EWL_DEFAULT_{name}_{k} {{ {units} }} /* {value} */")
    lines += ["", "#endif /* EWL_FORMAT_H */", ""]
    return "\n".join(lines)


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
