"""Hypothesis: the compiler, the reader and the model agree on random policies."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import policies

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.blob._format import Status
from exewhitelist.blob.compile import set_checksum
from exewhitelist.errors import BlobError, BlobFormatError
from exewhitelist.policy import (
    DEFAULT_VARIABLES,
    Policy,
    Query,
    Rule,
    RuleKind,
    canonical_order,
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
    PathPattern,
    PathRule,
    Pin,
    Publisher,
    PublisherRule,
    Signer,
    SignerFacts,
    make_rule,
)
from exewhitelist.staging import Fact, Facts
from exewhitelist.staging import decide_staged as model_staged

SETTINGS = settings(max_examples=150, deadline=None)


def _text(units: str) -> str:
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _folded_pattern(pattern: PathPattern) -> str:
    variable = f"%{pattern.variable}%" if pattern.variable else ""
    return variable + _text(pattern.body)


def _folded_publisher(publisher: Publisher) -> Publisher:
    value = publisher.attribute_value
    return dataclasses.replace(
        publisher, attribute_value=None if value is None else _text(fold(value))
    )


def _as_decompiled_condition(condition: Condition) -> Condition:
    if isinstance(condition, PathCondition):
        return PathCondition(_folded_pattern(condition.parsed))
    if isinstance(condition, Publisher):
        return _folded_publisher(condition)
    return condition


def as_decompiled(policy: Policy) -> Policy:
    """What the blob keeps of a policy: no names or comments, path patterns (of rules and
    exceptions) and publisher conditions' attribute values folded."""
    kept = []
    for rule in canonical_order(policy.rules):
        value: str | Publisher = rule.value
        if isinstance(rule, PathRule):
            value = _folded_pattern(rule.pattern)
        elif isinstance(rule, PublisherRule):
            value = _folded_publisher(rule.condition)
        exceptions = tuple(_as_decompiled_condition(e) for e in rule.exceptions)
        kept.append(make_rule(rule.id, rule.action, rule.kind, value, exceptions=exceptions))
    return Policy(policy.name, policy.version, policy.mode, tuple(canonical_order(kept)))


@SETTINGS
@given(policies())
def test_decompile_keeps_everything_but_what_is_documented_as_dropped(policy: Policy) -> None:
    assert read_blob(compile_policy(policy)).to_policy() == as_decompiled(policy)


@SETTINGS
@given(policies(signers=True))
def test_decompile_of_1_1_blobs(policy: Policy) -> None:
    """Publisher rules and exceptions too; a decompiled blob recompiles to the same bytes."""
    blob = compile_policy(policy)
    back = read_blob(blob).to_policy()
    assert compile_policy(back) == blob
    if all(_folds_to_itself(rule) for rule in policy.rules):
        # Folded attribute values come back as they are: the policy, but for names,
        # comments and the case of path patterns.
        assert back == as_decompiled(policy)


def _folds_to_itself(rule: Rule) -> bool:
    conditions = [*rule.exceptions]
    if isinstance(rule, PublisherRule):
        conditions.append(rule.condition)
    return all(
        c.attribute_value is None or _text(fold(c.attribute_value)) == c.attribute_value
        for c in conditions
        if isinstance(c, Publisher)
    )


@SETTINGS
@given(policies(signers=True), st.randoms(use_true_random=False))
def test_1_1_compile_is_deterministic_and_1_0_when_it_can_be(
    policy: Policy, rng: random.Random
) -> None:
    shuffled = list(policy.rules)
    rng.shuffle(shuffled)
    blob = compile_policy(policy)
    assert compile_policy(Policy(policy.name, policy.version, policy.mode, tuple(shuffled))) == blob
    signers = any(r.kind is RuleKind.PUBLISHER or r.exceptions for r in policy.rules)
    assert read_blob(blob).version_minor == (1 if signers else 0)
    assert len(read_blob(blob).sections) == (16 if signers else 8)


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
    st.one_of(policies(max_rules=8), policies(max_rules=6, signers=True)),
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
        assert 1 <= e.code <= max(Status)
        return
    assert len(mutated.rule_records()) == sum(
        mutated.sections[s][2] for s in (*range(2, 7), 9) if s in mutated.sections
    )
    try:
        mutated.to_policy()
    except BlobFormatError:
        raise
    except BlobError as e:  # a pattern or id no policy holds: said, not a crash
        assert "cannot be decompiled" in str(e)
    for rule in policy.rules:
        digest = rule.value if rule.kind in HASH_KINDS else "ab" * 32
        facts = signer_facts_for(policy, random.Random(0))  # noqa: S311 - test data
        mutated.decide(
            path="C:\\Windows\\x.exe",
            authenticode_sha256=digest,
            file_sha256=digest,
            signer_facts=facts,
        )
        mutated.decide_staged(
            Facts(Fact.KNOWN, "C:\\x.exe", Fact.KNOWN, digest, None, Fact.KNOWN, facts)
        )


HASH_KINDS = (RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256)
OTHER_CERTIFICATE = CertificateId("sha256", "0f" * 32)


def _publishers_of(policy: Policy) -> list[Publisher]:
    found = [r.condition for r in policy.rules if isinstance(r, PublisherRule)]
    found += [e for r in policy.rules for e in r.exceptions if isinstance(e, Publisher)]
    return found


def _near(version: FileVersion | None, rng: random.Random) -> FileVersion | None:
    """A version on, just below or just above a bound (or another one)."""
    if version is None or rng.random() < 0.2:
        return rng.choice([None, FileVersion((1, 0, 0, 0)), FileVersion((0xFFFF,) * 4)])
    packed = max(0, min((1 << 64) - 1, version.packed + rng.choice((-1, 0, 0, 1))))
    return FileVersion(
        ((packed >> 48) & 0xFFFF, (packed >> 32) & 0xFFFF, (packed >> 16) & 0xFFFF, packed & 0xFFFF)
    )


def signer_facts_for(policy: Policy, rng: random.Random) -> SignerFacts | None:
    """Signer facts that satisfy, nearly satisfy or miss the policy's publisher conditions."""
    publishers = _publishers_of(policy)
    if not publishers or rng.random() < 0.1:
        return rng.choice([None, SignerFacts()])
    signers = []
    for _ in range(rng.choice((0, 1, 1, 2))):
        p = rng.choice(publishers)
        at_leaf = p.pin is Pin.LEAF or (p.pin is Pin.ANY and rng.random() < 0.5)
        leaf = p.certificate if at_leaf else OTHER_CERTIFICATE
        chain = [leaf] + ([] if at_leaf else [p.certificate])
        if rng.random() < 0.3:
            chain.append(rng.choice(publishers).certificate)
        if rng.random() < 0.1:
            chain.reverse()
        cn = p.common_name if rng.random() < 0.8 else rng.choice([None, "Other"])
        signers.append(Signer(tuple(chain), cn))
    p = rng.choice(publishers)
    attributes: dict[FileAttribute, str] = {}
    if p.attribute is not None and p.attribute_value is not None and rng.random() < 0.85:
        value = p.attribute_value
        attributes[p.attribute] = rng.choice([value, value.lower(), value.upper(), value + "x"])
    version = _near(rng.choice([p.min_version, p.max_version]), rng)
    return SignerFacts(tuple(signers), attributes, version)


def _random_query(policy: Policy, rng: random.Random, data: st.DataObject) -> Query:
    digests = [r.value for r in policy.rules if r.kind in HASH_KINDS]
    digests += [e.value for r in policy.rules for e in r.exceptions if isinstance(e, HashCondition)]
    patterns = [r.value for r in policy.rules if r.kind is RuleKind.PATH]
    patterns += [
        e.pattern for r in policy.rules for e in r.exceptions if isinstance(e, PathCondition)
    ]
    path = None
    if patterns and rng.random() < 0.8:
        path = _instantiate(rng.choice(patterns), rng)
    elif rng.random() < 0.5:
        path = data.draw(st.text(min_size=1, max_size=30), label="path")
    return Query(
        path=path,
        authenticode_sha256=rng.choice([None, "00" * 32, *digests]),
        file_sha256=rng.choice([None, "00" * 32, *digests]),
        signer_facts=signer_facts_for(policy, rng),
    )


_FACTS = st.sampled_from(list(Fact))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(max_rules=10, signers=True), st.randoms(use_true_random=False), st.data())
def test_1_1_blob_decides_as_the_model_full_and_staged(
    policy: Policy, rng: random.Random, data: st.DataObject
) -> None:
    """Every rule kind and exception, random facts: ``Blob.decide == policy.decide`` and
    ``Blob.decide_staged == staging.decide_staged`` (action, rule, next, reason, depends)."""
    blob = read_blob(compile_policy(policy))
    for _ in range(6):
        query = _random_query(policy, rng, data)
        model = decide(policy, query)
        got = blob.decide(
            path=query.path,
            authenticode_sha256=query.authenticode_sha256,
            file_sha256=query.file_sha256,
            signer_facts=query.signer_facts,
        )
        assert (got.action, got.rule_id, got.enforced) == (
            model.action,
            model.rule.id if model.rule else None,
            model.enforced,
        ), query
        for _ in range(4):
            path_state, hash_state, signer_state = (data.draw(_FACTS) for _ in range(3))
            if path_state is Fact.KNOWN and query.path is None:
                path_state = Fact.MISSING
            known = hash_state is Fact.KNOWN
            facts = Facts(
                path_state,
                query.path if path_state is Fact.KNOWN else None,
                hash_state,
                query.authenticode_sha256 if known else None,
                query.file_sha256 if known else None,
                signer_state,
                (query.signer_facts or SignerFacts()) if signer_state is Fact.KNOWN else None,
            )
            staged = blob.decide_staged(facts)
            expected = model_staged(policy, facts)
            assert (staged.next, staged.reason, staged.depends) == (
                expected.next,
                expected.reason,
                expected.depends,
            ), facts
            assert (staged.decision is None) is (expected.decision is None)
            if staged.decision is not None and expected.decision is not None:
                assert (staged.decision.action, staged.decision.rule_id) == (
                    expected.decision.action,
                    expected.decision.rule.id if expected.decision.rule else None,
                ), facts
