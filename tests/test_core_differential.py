"""The C core against the reference reader, on random policies, queries and damage.

Hypothesis builds policies from :class:`exewhitelist.policy.Rule` (hash rules of
both kinds and actions, path rules with variables, drives, UNC and wildcard
starts, mixed-case ASCII and non-ASCII segments), compiles them with
:func:`exewhitelist.blob.compile_policy`, and asks both implementations the
same questions: every decision (action, deciding section, entry index, rule
id, enforcement) and every validation code must be the same, through the
core built by gcc and by clang.
"""

from __future__ import annotations

import random
import re
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_core_build import COMPILERS, decide, library, validate

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.blob._format import HeaderField
from exewhitelist.blob.compile import set_checksum
from exewhitelist.errors import BlobFormatError
from exewhitelist.policy import (
    DEFAULT_VARIABLES,
    VARIABLES,
    Action,
    Mode,
    Policy,
    Rule,
    RuleKind,
    default_id,
    fold,
    glob_match,
)
from exewhitelist.rules import PathPattern, PathRule, hash_rule, make_rule

A, F, P = RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256, RuleKind.PATH
DIGESTS = (
    *(f"{b:02x}" * 32 for b in (0x00, 0x11, 0x7F, 0x80, 0xAB, 0xFF)),
    "0123456789abcdef" * 4,
)
# Mixed-case ASCII, letters whose folding is special (ß has no one-unit
# uppercase), Greek, Cyrillic and a character outside the BMP (two code units).
LETTERS = ("a", "B", "c", "X", "y", "z", "0", "9", ".", " ", "-", "é", "É", "ß", "Ω", "ω", "Ж", "ж")
NON_BMP = "\U0001d538"
SEGMENT_CHARS = (*LETTERS, NON_BMP, "*", "?")
VARIABLE_SPELLINGS = ("WINDIR", "windir", "System32", "PROGRAMFILES", "OSDrive")
VECTOR = Path(__file__).resolve().parent / "vectors" / "blob" / "valid" / "mixed.bin"


def _segments(max_segments: int) -> st.SearchStrategy[list[str]]:
    segment = st.lists(st.sampled_from(SEGMENT_CHARS), min_size=1, max_size=6).map("".join)
    return st.lists(segment, max_size=max_segments)


@st.composite
def path_patterns(draw: st.DrawFn) -> str:
    start = draw(st.sampled_from(("variable", "drive", "unc", "wildcard")))
    body = "\\".join(draw(_segments(4)))
    if start == "variable":
        head = f"%{draw(st.sampled_from(VARIABLE_SPELLINGS))}%"
        return head + draw(st.sampled_from(("\\", "", "*"))) + body
    if start == "drive":
        return draw(st.sampled_from("cCdDzZ")) + ":\\" + body
    if start == "unc":
        return "\\\\srv\\" + draw(st.sampled_from(("share", "SHARE", "Données"))) + "\\" + body
    return draw(st.sampled_from(("*", "?", "*\\", "?:\\", "**"))) + body


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    hash_specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from((A, F)),
                st.sampled_from(DIGESTS),
                st.sampled_from(tuple(Action)),
                st.booleans(),
            ),
            max_size=10,
            unique_by=lambda spec: spec[:2],  # a hash is either allowed or denied
        )
    )
    path_specs = draw(
        st.lists(st.tuples(path_patterns(), st.sampled_from(tuple(Action))), max_size=14)
    )
    rules: list[Rule] = []
    ids: set[str] = set()
    for i, (kind, digest, action, use_default) in enumerate(hash_specs):
        rule_id = default_id(kind, digest)
        if not use_default or rule_id in ids:
            rule_id = f"hash-{i}" if i % 2 else f"hâsh-{i}"
        ids.add(rule_id)
        rules.append(hash_rule(kind, digest, action, id=rule_id))
    seen: set[tuple[str, Action]] = set()
    for i, (pattern, action) in enumerate(path_specs):
        rule = PathRule(
            action=action, value=pattern, explicit_id=f"path-{i}" if i % 3 else f"chemin-é-{i}"
        )
        if (rule.pattern.tokens, action) not in seen:  # a duplicate rule is an error
            seen.add((rule.pattern.tokens, action))
            rules.append(rule)
    return Policy(
        "différentiel",
        draw(st.integers(0, 0xFFFF_FFFF)),
        draw(st.sampled_from(tuple(Mode))),
        tuple(draw(st.permutations(rules))),
    )


def _cased(draw: st.DrawFn, ch: str) -> str:
    return draw(st.sampled_from((ch, ch.lower(), ch.upper())))


def _instantiate(draw: st.DrawFn, pattern: str, variables: dict[str, tuple[str, ...]]) -> str:
    """A path that the pattern (probably) matches: wildcards filled, case shuffled."""
    out = []
    m = re.match(r"^%([A-Za-z0-9_]+)%", pattern)
    rest = pattern
    if m:
        values = variables.get(m.group(1).upper(), ())
        if values:
            out.append("".join(_cased(draw, c) for c in draw(st.sampled_from(values))))
        rest = pattern[m.end() :]
    for ch in rest:
        if ch == "*":
            filler = draw(st.lists(st.sampled_from((*LETTERS, NON_BMP, "\\")), max_size=5))
            out.append("".join(filler))
        elif ch == "?":
            out.append(draw(st.sampled_from(LETTERS)))
        else:
            out.append(_cased(draw, ch))
    return "".join(out)


CUSTOM_VARIABLES: dict[str, tuple[str, ...]] = {
    "WINDIR": ("D:\\WinNT", "c:\\windows"),
    "SYSTEM32": (),
    "PROGRAMFILES": ("E:\\Programmes", "E:\\Programmes (x86)", "E:\\ProgrammeS"),
    "OSDRIVE": ("", "d:"),
}


@st.composite
def queries(
    draw: st.DrawFn, policy: Policy, variables: dict[str, tuple[str, ...]]
) -> dict[str, str]:
    query: dict[str, str] = {}
    hashes = [r.value for r in policy.rules if r.kind is not P]
    for key in ("authenticode_sha256", "file_sha256"):
        choice = draw(st.sampled_from(("none", "policy", "pool")))
        if choice == "policy" and hashes:
            query[key] = draw(st.sampled_from(hashes))
        elif choice != "none":
            query[key] = draw(st.sampled_from(DIGESTS))
    patterns = [r.value for r in policy.rules if r.kind is P]
    choice = draw(st.sampled_from(("none", "rule", "rule", "rule", "random")))
    if choice == "rule" and patterns:
        query["path"] = _instantiate(draw, draw(st.sampled_from(patterns)), variables)
    elif choice != "none":
        query["path"] = draw(path_patterns()).replace("*", "x").replace("?", "y")
        query["path"] = re.sub(r"^%\w+%", "C:\\\\Windows", query["path"])
    return query


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), custom=st.booleans(), data=st.data())
def test_decisions_are_the_readers(policy: Policy, custom: bool, data: st.DataObject) -> None:
    variables = CUSTOM_VARIABLES if custom else dict(DEFAULT_VARIABLES)
    blob = compile_policy(policy)
    reader = read_blob(blob)
    libs = [library(c) for c in COMPILERS]
    for _ in range(8):
        query = data.draw(queries(policy, variables))
        expected = reader.decide(
            variables=variables,
            path=query.get("path"),
            authenticode_sha256=query.get("authenticode_sha256"),
            file_sha256=query.get("file_sha256"),
        )
        for lib in libs:
            assert decide(lib, blob, variables=variables, **query) == expected, query


def _python_code(blob: bytes) -> int:
    try:
        read_blob(blob)
    except BlobFormatError as e:
        return e.code
    return 0


def _resum(blob: bytearray) -> bytes:
    """A correct size field and checksum, so the checks behind them are reached."""
    if len(blob) >= HeaderField.CHECKSUM.offset + HeaderField.CHECKSUM.size:
        struct.pack_into("<I", blob, HeaderField.BLOB_SIZE.offset, len(blob) & 0xFFFF_FFFF)
        set_checksum(blob)
    return bytes(blob)


def _same_answer(blob: bytes) -> int:
    expected = _python_code(blob)
    for compiler in COMPILERS:
        assert validate(library(compiler), blob) == expected, blob.hex()
    return expected


_INTERESTING = (0, 1, 2, 3, 7, 8, 0x20, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xF001, 0xFFFF)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(),
    flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), max_size=3),
    fields=st.lists(
        st.tuples(
            st.integers(0, 1 << 16),
            st.sampled_from((2, 4)),
            st.one_of(st.sampled_from(_INTERESTING), st.integers(0, 0xFFFF_FFFF)),
        ),
        max_size=2,
    ),
    resize=st.one_of(st.none(), st.integers(-64, 64)),
    fix=st.booleans(),
)
def test_damaged_blobs_get_the_readers_code(
    policy: Policy,
    flips: list[tuple[int, int]],
    fields: list[tuple[int, int, int]],
    resize: int | None,
    fix: bool,
) -> None:
    """Byte flips, field overwrites (aligned like the format's fields) and size changes."""
    blob = bytearray(compile_policy(policy))
    for position, damage in flips:
        blob[position % len(blob)] ^= damage
    for position, width, value in fields:
        at = position % (len(blob) - 4) // width * width
        blob[at : at + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")
    if resize is not None:
        blob = blob[: len(blob) + resize] if resize < 0 else blob + bytes(resize)
    data = _resum(blob) if fix else bytes(blob)
    if _same_answer(data) == 0 and (flips or fields):
        # Still valid: then it must also decide the same.
        reader = read_blob(data)
        for rule in policy.rules:
            path = rule.value if rule.kind is P else None
            auth = rule.value if rule.kind is A else None
            flat = rule.value if rule.kind is F else None
            expected = reader.decide(path=path, authenticode_sha256=auth, file_sha256=flat)
            for compiler in COMPILERS:
                got = decide(
                    library(compiler), data, path=path, authenticode_sha256=auth, file_sha256=flat
                )
                assert got == expected


def test_every_single_byte_damage_of_a_vector_gets_the_readers_code() -> None:
    """Exhaustive on the vector with every section, checksum and size made right again."""
    base = VECTOR.read_bytes()
    codes: set[int] = set()
    for position in range(len(base)):
        for damage in (0x01, 0x80, 0xFF):
            blob = bytearray(base)
            blob[position] ^= damage
            codes.add(_same_answer(_resum(blob) if position not in range(16, 24) else bytes(blob)))
    for size in range(len(base)):
        codes.add(_same_answer(base[:size]))
        codes.add(_same_answer(_resum(bytearray(base[:size]))))
    assert len(codes) >= 12, sorted(codes)


def test_variables_are_matched_as_in_the_reader() -> None:
    """Values that are prefixes of each other, an empty value, and no values at all."""
    rules = tuple(
        make_rule(f"v{i}", action, P, pattern)
        for i, (action, pattern) in enumerate(
            [
                (Action.ALLOW, "%WINDIR%\\*"),
                (Action.DENY, "%SYSTEM32%\\evil.exe"),
                (Action.ALLOW, "%OSDRIVE%\\tools\\*"),
                (Action.ALLOW, "%PROGRAMFILES%\\App\\app.exe"),
                (Action.DENY, "%PROGRAMFILES%*"),
            ]
        )
    )
    blob = compile_policy(Policy("vars", 1, Mode.ENFORCE, rules))
    reader = read_blob(blob)
    tables: list[dict[str, tuple[str, ...]]] = [
        dict(DEFAULT_VARIABLES),
        CUSTOM_VARIABLES,
        {},
        {name: ("",) for name in VARIABLES},
        {"WINDIR": ("C:\\Windows", "C:\\Windows\\System32"), "SYSTEM32": ("C:\\Windows",)},
    ]
    paths = [
        "C:\\Windows\\System32\\evil.exe",
        "c:\\windows\\notepad.exe",
        "C:\\Program Files (x86)\\App\\app.exe",
        "C:\\Program Files\\App\\app.exe",
        "\\tools\\x.exe",
        "d:\\tools\\x.exe",
        "",
        "\uf001\\x.exe",
    ]
    for variables in tables:
        for path in paths:
            expected = reader.decide(path=path, variables=variables)
            for compiler in COMPILERS:
                assert decide(library(compiler), blob, path=path, variables=variables) == expected


@settings(max_examples=600, deadline=None)
@given(
    start=st.sampled_from(("C:\\", "*", "?", "*\\", "\\\\s\\h\\")),
    body=st.text(alphabet="ab\\*?", max_size=12),
    text=st.text(alphabet="ab\\*?", max_size=14),
)
def test_wildcards_match_as_glob_match(start: str, body: str, text: str) -> None:
    """One rule, any text: small alphabets with ``*`` and ``?`` on both sides.

    A ``*`` or ``?`` in the path is no Windows file name, but the driver may
    be handed one: the C loop must give the Python loop's answer even then.
    """
    pattern = start + body
    blob = compile_policy(
        Policy("glob", 1, Mode.ENFORCE, (make_rule("g", Action.ALLOW, P, pattern),))
    )
    path = start.replace("*", "x").replace("?", "y") + text if start[0] != "*" else text
    expected = read_blob(blob).decide(path=path)
    assert (expected.rule_id == "g") == glob_match(PathPattern.parse(pattern).tokens, fold(path))
    for compiler in COMPILERS:
        assert decide(library(compiler), blob, path=path) == expected


@pytest.mark.parametrize("shape", ["random", "clustered", "one-prefix", "skewed"])
def test_hash_lookup_finds_every_digest_whatever_their_spread(shape: str) -> None:
    """Every digest is found, however the digests are spread over the section."""
    rng = random.Random(shape)  # noqa: S311 (test data)
    if shape == "random":
        digests = {rng.randbytes(32) for _ in range(3000)}
    elif shape == "clustered":
        digests = {bytes([rng.choice((0, 0x7F, 0xFF))]) + rng.randbytes(31) for _ in range(3000)}
    elif shape == "one-prefix":
        digests = {bytes(8) + rng.randbytes(24) for _ in range(3000)}
    else:  # a geometric spread: most entries crowd at the low end
        digests = {(1 << rng.randrange(256)).to_bytes(32, "big") for _ in range(600)}
    ordered = sorted(digests)
    rules = tuple(hash_rule(RuleKind.AUTHENTICODE_SHA256, d.hex(), Action.ALLOW) for d in ordered)
    blob = compile_policy(Policy("spread", 1, Mode.ENFORCE, rules))
    lib = library("gcc")
    for index in range(0, len(ordered), max(1, len(ordered) // 300)):
        got = decide(lib, blob, authenticode_sha256=ordered[index].hex())
        assert (got.action, got.index) == (Action.ALLOW, index)
    for _ in range(200):
        absent = rng.randbytes(32)
        if absent not in digests:
            assert decide(lib, blob, authenticode_sha256=absent.hex()).rule_id is None
