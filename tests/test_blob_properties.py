"""Hypothesis: the compiler, the reader and the model agree on random policies."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import policies

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.blob.compile import set_checksum
from exewhitelist.errors import BlobError, BlobFormatError
from exewhitelist.policy import (
    DEFAULT_VARIABLES,
    Policy,
    Query,
    RuleKind,
    canonical_order,
    decide,
)
from exewhitelist.rules import PathRule, make_rule

SETTINGS = settings(max_examples=150, deadline=None)


def _text(units: str) -> str:
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def as_decompiled(policy: Policy) -> Policy:
    """What the blob keeps of a policy: no names or comments, path patterns folded."""
    kept = []
    for rule in canonical_order(policy.rules):
        value = rule.value
        if isinstance(rule, PathRule):
            pattern = rule.pattern
            variable = f"%{pattern.variable}%" if pattern.variable else ""
            value = variable + _text(pattern.body)
        kept.append(make_rule(rule.id, rule.action, rule.kind, value))
    return Policy(policy.name, policy.version, policy.mode, tuple(kept))


@SETTINGS
@given(policies())
def test_decompile_keeps_everything_but_what_is_documented_as_dropped(policy: Policy) -> None:
    assert read_blob(compile_policy(policy)).to_policy() == as_decompiled(policy)


@SETTINGS
@given(policies(), st.randoms(use_true_random=False))
def test_compile_is_deterministic_whatever_the_rule_order(
    policy: Policy, rng: random.Random
) -> None:
    shuffled = list(policy.rules)
    rng.shuffle(shuffled)
    again = Policy(policy.name, policy.version, policy.mode, tuple(shuffled))
    assert compile_policy(again) == compile_policy(policy)


def _instantiate(pattern_text: str, rng: random.Random) -> str:
    """A Windows path the pattern should match, in a random mix of case."""
    text = pattern_text
    for name, values in DEFAULT_VARIABLES.items():
        text = text.replace(f"%{name}%", rng.choice(values), 1)
    out = []
    for ch in text:
        if ch == "*":
            out.append(rng.choice(["", "x", "sub\\dir", "É\\ß", "a*b"[0:1]]))
        elif ch == "?":
            out.append(rng.choice("aZ9é"))
        else:
            out.append(ch.upper() if rng.random() < 0.5 else ch.lower())
    return "".join(out)


@settings(max_examples=150, deadline=None)
@given(policies(max_rules=20), st.randoms(use_true_random=False), st.data())
def test_blob_decides_as_the_model(policy: Policy, rng: random.Random, data: st.DataObject) -> None:
    blob = read_blob(compile_policy(policy))
    digests = [r.value for r in policy.rules if r.kind is not RuleKind.PATH] + ["00" * 32]
    patterns = [r.value for r in policy.rules if r.kind is RuleKind.PATH]
    for _ in range(10):
        path = None
        if patterns and rng.random() < 0.8:
            path = _instantiate(rng.choice(patterns), rng)
        elif rng.random() < 0.5:
            path = data.draw(st.text(min_size=1, max_size=30), label="path")
        query = Query(
            path=path,
            authenticode_sha256=rng.choice([None, *digests]),
            file_sha256=rng.choice([None, *digests]),
        )
        model = decide(policy, query)
        got = blob.decide(
            path=query.path,
            authenticode_sha256=query.authenticode_sha256,
            file_sha256=query.file_sha256,
        )
        assert (got.action, got.rule_id, got.enforced) == (
            model.action,
            model.rule.id if model.rule else None,
            model.enforced,
        ), query


@settings(max_examples=300, deadline=None)
@given(
    policies(max_rules=8),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6),
    st.booleans(),
)
def test_mutated_blobs_are_rejected_with_a_code_or_stay_usable(
    policy: Policy, edits: list[tuple[int, int]], fix_checksum: bool
) -> None:
    """Edits past the checksum reach the structural checks: never anything but BlobFormatError."""
    blob = bytearray(compile_policy(policy))
    for offset, value in edits:
        blob[offset % len(blob)] = value
    if fix_checksum:
        set_checksum(blob)
    try:
        mutated = read_blob(bytes(blob))
    except BlobFormatError as e:
        assert 1 <= e.code <= 18
        return
    assert len(mutated.rule_records()) == sum(mutated.sections[s][2] for s in range(2, 7))
    try:
        mutated.to_policy()
    except BlobFormatError:
        raise
    except BlobError as e:  # a pattern or id no policy holds: said, not a crash
        assert "cannot be decompiled" in str(e)
    for rule in policy.rules:
        digest = rule.value if rule.kind is not RuleKind.PATH else "ab" * 32
        mutated.decide(path="C:\\Windows\\x.exe", authenticode_sha256=digest, file_sha256=digest)
