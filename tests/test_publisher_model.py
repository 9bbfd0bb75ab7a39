"""Publisher rules and exceptions in the policy model: semantics from the WDAC and AppLocker
documentation (``../shared/reference/signers.md`` §4-§5), the staged decision over them, and
signer facts read from real signed files (the published WDAC TBS value is the oracle)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pe_edit import offsets
from signing import Chains
from test_signatures import PCA_2011_TBS

from exewhitelist import hash_file
from exewhitelist.errors import PolicyError
from exewhitelist.policy import Mode, Policy, Query, decide
from exewhitelist.rules import (
    Action,
    CertificateId,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    Pin,
    Publisher,
    PublisherRule,
    Rule,
    RuleKind,
    Signer,
    SignerFacts,
    hash_rule,
    make_rule,
    signer_facts,
)
from exewhitelist.rules.publisher import _common_name
from exewhitelist.scan import ScanOptions, scan
from exewhitelist.signatures import Certificate, Signature, SignatureStatus
from exewhitelist.staging import Fact, Facts, Next, Reason, decide_staged

ROOT_CA = CertificateId("sha256", "11" * 32)
PCA = CertificateId("sha256", "22" * 32)
LEAF = CertificateId("sha384", "33" * 48)
OTHER = CertificateId("sha1", "44" * 20)
A = "aa" * 32


def facts(
    version: str | None = "5.2.0.0",
    *,
    chain: tuple[CertificateId, ...] = (LEAF, PCA, ROOT_CA),
    cn: str | None = "Contoso Tools",
    original_filename: str | None = "TOOL.EXE",
) -> SignerFacts:
    attributes = {}
    if original_filename is not None:
        attributes[FileAttribute.ORIGINAL_FILENAME] = original_filename
    return SignerFacts(
        (Signer(chain, cn),),
        attributes,
        FileVersion.parse(version) if version is not None else None,
    )


def publisher_rule(action: Action, **fields: object) -> PublisherRule:
    fields.setdefault("certificate", PCA)
    return PublisherRule.of("p", action, Publisher(**fields))  # type: ignore[arg-type]


def matches(rule: PublisherRule, signer: SignerFacts | None) -> bool:
    decision = decide(Policy("t", 1, rules=(rule,)), Query(signer_facts=signer))
    return decision.rule is rule


V = FileVersion.parse


# --- WDAC's levels and version semantics ---------------------------------------------------


def test_pins_issuer_anywhere_above_the_leaf_and_leaf_only_at_the_leaf() -> None:
    assert matches(publisher_rule(Action.ALLOW, certificate=PCA), facts())
    assert matches(publisher_rule(Action.ALLOW, certificate=ROOT_CA), facts())
    assert not matches(publisher_rule(Action.ALLOW, certificate=LEAF), facts())
    assert matches(publisher_rule(Action.ALLOW, certificate=LEAF, pin=Pin.LEAF), facts())
    assert not matches(publisher_rule(Action.ALLOW, certificate=PCA, pin=Pin.LEAF), facts())
    assert not matches(publisher_rule(Action.ALLOW, certificate=OTHER), facts())
    # any: anywhere in the chain, the signer's own certificate included (a WDAC CertRoot).
    for cert in (LEAF, PCA, ROOT_CA):
        assert matches(publisher_rule(Action.ALLOW, certificate=cert, pin=Pin.ANY), facts())
    assert not matches(publisher_rule(Action.ALLOW, certificate=OTHER, pin=Pin.ANY), facts())


def test_the_same_tbs_bytes_under_another_algorithm_are_another_certificate() -> None:
    sha256_twin = CertificateId("sha256", "33" * 32)
    assert not matches(publisher_rule(Action.ALLOW, certificate=sha256_twin, pin=Pin.LEAF), facts())


def test_common_name_is_exact_and_file_attributes_are_case_insensitive() -> None:
    assert matches(publisher_rule(Action.ALLOW, common_name="Contoso Tools"), facts())
    assert not matches(publisher_rule(Action.ALLOW, common_name="contoso tools"), facts())
    rule = publisher_rule(
        Action.ALLOW,
        attribute=FileAttribute.ORIGINAL_FILENAME,
        attribute_value="tool.exe",
    )
    assert matches(rule, facts())
    assert not matches(rule, facts(original_filename="other.exe"))
    assert not matches(rule, facts(original_filename=None))


@pytest.mark.parametrize(
    ("low", "high", "action", "inside"),
    [
        # Min and max: both actions cover min <= v <= max.
        ("2.0.0.0", "3.0.0.0", Action.ALLOW, ["2.0.0.0", "2.5.0.0", "3.0.0.0"]),
        ("2.0.0.0", "3.0.0.0", Action.DENY, ["2.0.0.0", "2.5.0.0", "3.0.0.0"]),
        # A lone minimum: allow v >= min, but deny v <= min (WDAC's asymmetry).
        ("2.0.0.0", None, Action.ALLOW, ["2.0.0.0", "2.5.0.0", "3.0.0.0", "4.0.0.0"]),
        ("2.0.0.0", None, Action.DENY, ["1.0.0.0", "2.0.0.0"]),
        # A lone maximum: allow v <= max, deny v >= max.
        (None, "3.0.0.0", Action.ALLOW, ["1.0.0.0", "2.0.0.0", "2.5.0.0", "3.0.0.0"]),
        (None, "3.0.0.0", Action.DENY, ["3.0.0.0", "4.0.0.0"]),
    ],
)
def test_version_bounds_as_wdac_documents_them(
    low: str | None, high: str | None, action: Action, inside: list[str]
) -> None:
    rule = publisher_rule(
        action,
        min_version=V(low) if low else None,
        max_version=V(high) if high else None,
    )
    for version in ("1.0.0.0", "2.0.0.0", "2.5.0.0", "3.0.0.0", "4.0.0.0"):
        assert matches(rule, facts(version)) is (version in inside), version
    assert not matches(rule, facts(None))  # a bound and no version: never


def test_versions_compare_as_numbers_not_text() -> None:
    rule = publisher_rule(Action.ALLOW, min_version=V("10.0.0.0"))
    assert matches(rule, facts("10.0.0.1"))
    assert not matches(rule, facts("9.65535.0.0"))
    assert V("10.0.0.0") > V("9.9.9.9")
    assert V("1.2.3.4").packed == 1 << 48 | 2 << 32 | 3 << 16 | 4


def test_a_failed_signature_never_satisfies_a_publisher_rule() -> None:
    rule = publisher_rule(Action.ALLOW)
    assert not matches(rule, SignerFacts((), {}, V("5.2.0.0")))
    assert not matches(rule, None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"certificate": CertificateId("sha256", "ab" * 20)}, "64 hex digits"),
        ({"certificate": CertificateId("md5", "ab" * 16)}, "unknown TBS hash algorithm"),
        ({"certificate": CertificateId("sha1", "zz" * 20)}, "not hexadecimal"),
        ({"min_version": V("3.0.0.0"), "max_version": V("2.0.0.0")}, "above max_version"),
        ({"attribute": FileAttribute.PRODUCT_NAME}, "both its name and its value"),
        ({"common_name": ""}, "must not be empty"),
        ({"common_name": "a\x00b"}, "control characters"),
    ],
)
def test_bad_publisher_conditions(fields: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        publisher_rule(Action.ALLOW, **fields)


@pytest.mark.parametrize("text", ["1.2.3", "1.2.3.4.5", "65536.0.0.0", "a.b.c.d", "", 5])
def test_bad_versions(text: object) -> None:
    with pytest.raises(PolicyError, match="four numbers"):
        FileVersion.parse(text)


def test_certificate_text_form() -> None:
    cert = CertificateId.parse("SHA256:" + "AB" * 32)
    assert cert == CertificateId("sha256", "ab" * 32) and str(cert) == "sha256:" + "ab" * 32
    with pytest.raises(PolicyError, match="ALGORITHM:TBS-HASH"):
        CertificateId.parse("ab" * 32)


# --- exceptions (AppLocker) ------------------------------------------------------------------


def test_windows_except_its_writable_folders() -> None:
    windows = make_rule(
        "windows",
        Action.ALLOW,
        RuleKind.PATH,
        "%WINDIR%\\*",
        exceptions=[PathCondition("%WINDIR%\\Temp\\*"), PathCondition("%WINDIR%\\Tasks\\*")],
    )
    policy = Policy("t", 1, rules=(windows,))
    assert decide(policy, Query("C:\\Windows\\System32\\cmd.exe")).rule is windows
    for path in ("C:\\Windows\\Temp\\x.exe", "c:\\windows\\TASKS\\y.exe"):
        assert decide(policy, Query(path)).rule is None
    # What the exception took away, another rule can give back (no deny is involved).
    golden = hash_rule(RuleKind.AUTHENTICODE_SHA256, A)
    policy = Policy("t", 1, rules=(windows, golden))
    assert decide(policy, Query("C:\\Windows\\Temp\\x.exe", A)).rule is golden


def test_exceptions_of_each_kind_on_allow_and_deny_rules() -> None:
    signed_by_other = Publisher(OTHER, pin=Pin.LEAF)
    for action in Action:
        rule = make_rule(
            "r",
            action,
            RuleKind.PATH,
            "C:\\Tools\\*",
            exceptions=[
                HashCondition(RuleKind.AUTHENTICODE_SHA256, A),
                HashCondition(RuleKind.FILE_SHA256, "bb" * 32),
                signed_by_other,
            ],
        )
        policy = Policy("t", 1, rules=(rule,))
        assert decide(policy, Query("C:\\Tools\\a.exe")).rule is rule
        assert decide(policy, Query("C:\\Tools\\a.exe", A)).rule is None
        assert decide(policy, Query("C:\\Tools\\a.exe", None, "bb" * 32)).rule is None
        other = facts(chain=(OTHER, PCA))
        assert decide(policy, Query("C:\\Tools\\a.exe", signer_facts=other)).rule is None
        assert decide(policy, Query("C:\\Tools\\a.exe", signer_facts=facts())).rule is rule


def test_publisher_exceptions_use_the_allow_direction_of_a_lone_bound() -> None:
    # "Deny this vendor's tool, except version 3 and later": the exception's lone
    # minimum reads as an allow rule's would, on a deny rule too.
    rule = PublisherRule.of(
        "old-tools",
        Action.DENY,
        Publisher(PCA),
        exceptions=[Publisher(PCA, min_version=V("3.0.0.0"))],
    )
    policy = Policy("t", 1, rules=(rule,))
    assert decide(policy, Query(signer_facts=facts("2.0.0.0"))).rule is rule
    assert decide(policy, Query(signer_facts=facts("3.0.0.0"))).rule is None


def test_hash_rules_have_no_exceptions_and_exceptions_are_canonical() -> None:
    with pytest.raises(PolicyError, match="no exceptions"):
        make_rule("h", Action.ALLOW, RuleKind.FILE_SHA256, A, exceptions=[PathCondition("C:\\*")])
    a = make_rule(
        "r",
        Action.ALLOW,
        RuleKind.PATH,
        "C:\\*",
        exceptions=[
            Publisher(PCA),
            HashCondition(RuleKind.FILE_SHA256, A),
            PathCondition("C:\\T\\*"),
        ],
    )
    b = make_rule(
        "r",
        Action.ALLOW,
        RuleKind.PATH,
        "C:\\*",
        exceptions=[
            PathCondition("C:\\T\\*"),
            Publisher(PCA),
            HashCondition(RuleKind.FILE_SHA256, A),
        ],
    )
    assert a == b and [e.kind for e in a.exceptions] == [
        RuleKind.PATH,
        RuleKind.FILE_SHA256,
        RuleKind.PUBLISHER,
    ]
    with pytest.raises(PolicyError, match="same exception twice"):
        make_rule(
            "r",
            Action.ALLOW,
            RuleKind.PATH,
            "C:\\*",
            exceptions=[PathCondition("C:\\T\\*"), PathCondition("c:\\t\\*")],
        )
    plain = make_rule("r", Action.ALLOW, RuleKind.PATH, "C:\\*")
    assert plain.match_key() != a.match_key()  # not duplicates


# --- deny over allow across kinds, priority, audit --------------------------------------------


def test_deny_beats_allow_across_kinds_and_the_earliest_input_names_the_rule() -> None:
    allow_path = make_rule("allow-path", Action.ALLOW, RuleKind.PATH, "C:\\Tools\\*")
    deny_pub = publisher_rule(Action.DENY, certificate=PCA)
    deny_hash = hash_rule(RuleKind.AUTHENTICODE_SHA256, A, Action.DENY)
    deny_path = make_rule("deny-path", Action.DENY, RuleKind.PATH, "*\\tool.exe")
    signed = facts()
    policy = Policy("t", 1, rules=(allow_path, deny_pub))
    assert decide(policy, Query("C:\\Tools\\tool.exe", signer_facts=signed)).rule is deny_pub
    policy = Policy("t", 1, rules=(allow_path, deny_pub, deny_hash, deny_path))
    assert decide(policy, Query("C:\\Tools\\tool.exe", A, signer_facts=signed)).rule is deny_path
    assert decide(policy, Query("C:\\Tools\\x.exe", A, signer_facts=signed)).rule is deny_hash
    audit = dataclasses.replace(policy, mode=Mode.AUDIT)
    decision = decide(audit, Query("C:\\Tools\\x.exe", A, signer_facts=signed))
    assert decision.rule is deny_hash and not decision.enforced and not decision.blocks


# --- the staged decision ---------------------------------------------------------------------


def _facts(path: str | None, digest: str | None, signer: SignerFacts | None) -> Facts:
    return Facts(
        Fact.KNOWN if path is not None else Fact.MISSING,
        path,
        Fact.KNOWN if digest is not None else Fact.MISSING,
        digest,
        None,
        Fact.KNOWN if signer is not None else Fact.MISSING,
        signer,
    )


def _drive(policy: Policy, known: Facts) -> tuple[list[Next], Facts]:
    """The driver's loop: start knowing nothing, get each input the decision asks for."""
    asked: list[Next] = []
    current = Facts()
    while True:
        verdict = decide_staged(policy, current)
        if verdict.next is Next.NONE:
            return asked, current
        assert verdict.next not in asked
        asked.append(verdict.next)
        if verdict.next is Next.PATH:
            current = dataclasses.replace(current, path_state=known.path_state, path=known.path)
        elif verdict.next is Next.HASH:
            current = dataclasses.replace(
                current,
                hash_state=known.hash_state,
                authenticode_sha256=known.authenticode_sha256,
            )
        else:
            current = dataclasses.replace(
                current, signer_state=known.signer_state, signer_facts=known.signer_facts
            )


def test_a_path_rule_decides_without_reading_the_file() -> None:
    deny = make_rule("temp", Action.DENY, RuleKind.PATH, "*\\Temp\\*")
    policy = Policy("t", 1, rules=(deny, publisher_rule(Action.ALLOW)))
    asked, _ = _drive(policy, _facts("C:\\Temp\\x.exe", A, facts()))
    assert asked == [Next.PATH]


def test_a_path_exception_needing_the_signer_asks_for_it() -> None:
    rule = make_rule(
        "tools", Action.ALLOW, RuleKind.PATH, "C:\\Tools\\*", exceptions=[Publisher(OTHER)]
    )
    policy = Policy("t", 1, rules=(rule,))
    asked, known = _drive(policy, _facts("C:\\Tools\\x.exe", A, facts()))
    assert asked == [Next.PATH, Next.SIGNER]
    verdict = decide_staged(policy, known)
    assert verdict.decision is not None and verdict.decision.rule is rule


def test_missing_signer_facts_fail_closed() -> None:
    allow = make_rule("tools", Action.ALLOW, RuleKind.PATH, "C:\\Tools\\*")
    deny = publisher_rule(Action.DENY)
    policy = Policy("t", 1, rules=(allow, deny))
    verdict = decide_staged(policy, _facts("C:\\Tools\\x.exe", A, None))
    assert verdict.decision is not None and verdict.decision.rule is None
    assert verdict.reason is Reason.NO_SIGNER
    # Only an allow publisher rule and nothing else: the signer could have allowed it.
    policy = Policy("t", 1, rules=(publisher_rule(Action.ALLOW),))
    assert decide_staged(policy, _facts(None, None, None)).reason is Reason.NO_SIGNER
    # A deny rule that matched is a deny whatever is missing.
    policy = Policy("t", 1, rules=(make_rule("d", Action.DENY, RuleKind.PATH, "C:\\*"), deny))
    verdict = decide_staged(policy, _facts("C:\\x.exe", None, None))
    assert verdict.reason is Reason.RULE and verdict.decision is not None
    assert verdict.decision.rule is not None and verdict.decision.rule.id == "d"


_CERTS = st.sampled_from([ROOT_CA, PCA, LEAF, OTHER])
_VERSIONS = st.sampled_from([None, "1.0.0.0", "2.0.0.0", "3.0.0.0"])


@st.composite
def _publishers(draw: st.DrawFn) -> Publisher:
    low, high = sorted(draw(st.lists(_VERSIONS, min_size=2, max_size=2)), key=lambda v: v or "")
    if low is None or high is None or draw(st.booleans()):
        low = draw(_VERSIONS) if low is None else low
        high = None if draw(st.booleans()) else high
    if low is not None and high is not None and V(low) > V(high):
        low, high = high, low
    attribute = draw(st.sampled_from([None, "tool.exe", "other.exe"]))
    return Publisher(
        draw(_CERTS),
        draw(st.sampled_from(Pin)),
        draw(st.sampled_from([None, "Contoso Tools", "Fabrikam"])),
        FileAttribute.ORIGINAL_FILENAME if attribute else None,
        attribute,
        V(low) if low else None,
        V(high) if high else None,
    )


_EXCEPTIONS = st.one_of(
    st.sampled_from(["C:\\Tools\\Temp\\*", "*\\x.exe"]).map(PathCondition),
    st.sampled_from([A, "bb" * 32]).map(lambda d: HashCondition(RuleKind.AUTHENTICODE_SHA256, d)),
    _publishers(),
)


@st.composite
def _policies(draw: st.DrawFn) -> Policy:
    rules = []
    for n in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(Action))
        exceptions = draw(st.lists(_EXCEPTIONS, max_size=2, unique_by=lambda e: e.exception_key()))
        kind = draw(st.sampled_from(["path", "hash", "publisher"]))
        if kind == "path":
            pattern = draw(st.sampled_from(["C:\\Tools\\*", "*\\x.exe", "C:\\Tools\\Temp\\x.exe"]))
            rules.append(make_rule(f"r{n}", action, RuleKind.PATH, pattern, exceptions=exceptions))
        elif kind == "hash":
            digest = draw(st.sampled_from([A, "bb" * 32]))
            rules.append(hash_rule(RuleKind.AUTHENTICODE_SHA256, digest, action, id=f"r{n}"))
        else:
            rules.append(
                PublisherRule.of(f"r{n}", action, draw(_publishers()), exceptions=exceptions)
            )
    unique = {rule.match_key(): rule for rule in rules}
    by_digest: dict[object, Rule] = {}
    for rule in unique.values():
        by_digest.setdefault(
            (rule.kind, rule.value) if rule.kind != RuleKind.PATH else rule.id, rule
        )
    return Policy("t", 1, rules=tuple(by_digest.values()))


_SIGNERS = st.one_of(
    st.none(),
    st.builds(
        facts,
        _VERSIONS,
        chain=st.sampled_from([(LEAF, PCA, ROOT_CA), (OTHER, PCA), (LEAF,)]),
        cn=st.sampled_from([None, "Contoso Tools", "Fabrikam"]),
        original_filename=st.sampled_from([None, "TOOL.EXE", "other.exe"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    _policies(),
    st.sampled_from([None, "C:\\Tools\\x.exe", "C:\\Tools\\Temp\\x.exe", "D:\\y.exe"]),
    st.sampled_from([None, A, "cc" * 32]),
    _SIGNERS,
)
def test_staged_with_everything_known_is_the_plain_decision_and_missing_inputs_fail_closed(
    policy: Policy, path: str | None, digest: str | None, signer: SignerFacts | None
) -> None:
    known = _facts(path, digest, signer)
    asked, _ = _drive(policy, known)
    assert len(asked) == len(set(asked)) and asked == sorted(asked)
    verdict = decide_staged(policy, known)
    plain = decide(policy, Query(path, digest, signer_facts=signer))
    assert verdict.next is Next.NONE and verdict.decision is not None
    if path is not None and digest is not None and signer is not None:
        assert verdict.reason is Reason.RULE
        assert verdict.decision == plain
    elif verdict.decision.action is Action.ALLOW:
        # Allowed without some input: no rule that input could have matched denies it.
        assert plain.action is Action.ALLOW or plain.rule is None
    else:
        assert (
            verdict.reason is not Reason.RULE
            or plain.action is Action.DENY
            or (verdict.decision.rule is None)
        )


# --- signer facts from real files ------------------------------------------------------------


def _scanned(path: Path) -> SignerFacts:
    (record,) = list(scan([path], ScanOptions()))
    assert record.hashes is not None
    return signer_facts(record.hashes.signatures, record.version)


def test_microsoft_dll_signer_facts_carry_the_published_pca_tbs(
    sample_files: dict[str, Path],
) -> None:
    dll = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    found = _scanned(dll)
    pca = CertificateId("sha256", PCA_2011_TBS.lower())
    assert any(pca in s.chain[1:] for s in found.signers)
    assert {s.common_name for s in found.signers if pca in s.chain} == {"Microsoft Corporation"}
    assert found.attributes[FileAttribute.ORIGINAL_FILENAME].lower() == "vcruntime140.dll"
    assert found.version is not None and found.version > V("14.0.0.0")


def test_file_publisher_rule_on_a_microsoft_dll(
    sample_files: dict[str, Path], chains: Chains, tmp_path: Path
) -> None:
    dll = sample_files["msvc-runtime-win_amd64/vcruntime140.dll"]
    found = _scanned(dll)
    assert found.version is not None
    rule = PublisherRule.of(
        "msvc",
        Action.ALLOW,
        Publisher(
            CertificateId("sha256", PCA_2011_TBS.lower()),
            common_name="Microsoft Corporation",
            attribute=FileAttribute.ORIGINAL_FILENAME,
            attribute_value="vcruntime140.dll",
            min_version=found.version,
        ),
    )
    policy = Policy("t", 1, rules=(rule,))
    renamed = shutil.copy(dll, tmp_path / "renamed.dll")
    assert decide(policy, Query(signer_facts=_scanned(Path(renamed)))).rule is rule
    # One byte of a section changes: the signature no longer verifies, no signer.
    data = bytearray(dll.read_bytes())
    _, pointer, size = offsets(bytes(data)).sections[0]
    data[pointer + size // 2] ^= 0x01
    changed = tmp_path / "changed.dll"
    changed.write_bytes(bytes(data))
    changed_facts = _scanned(changed)
    assert not changed_facts.signers
    assert decide(policy, Query(signer_facts=changed_facts)).rule is None
    # Signed by a test chain instead: another PCA, another leaf.
    resigned = chains.rsa3.sign(
        sample_files["mingw/hello64.exe"], tmp_path / "s.exe", "-h", "sha256"
    )
    test_facts = _scanned(resigned)
    assert test_facts.signers
    assert decide(policy, Query(signer_facts=test_facts)).rule is None
    assert hash_file(resigned).signatures


def test_common_name_from_any_subject_form() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Publisher, Inc."),
            x509.NameAttribute(NameOID.COMMON_NAME, 'Tést, "CN"+x'),
        ]
    )
    # The RFC 4514 text signatures.py writes, and its fallback: the DER name in hex.
    assert _common_name(name.rfc4514_string()) == 'Tést, "CN"+x'
    assert _common_name(name.public_bytes().hex()) == 'Tést, "CN"+x'
    assert _common_name("O=no common name") is None
    assert _common_name("30ff") is None


def test_publisher_rules_differing_only_in_attribute_case_are_duplicates() -> None:
    def rule(rule_id: str, value: str) -> PublisherRule:
        condition = Publisher(PCA, attribute=FileAttribute.PRODUCT_NAME, attribute_value=value)
        return PublisherRule.of(rule_id, Action.ALLOW, condition)

    assert rule("a", "Contoso Tools").match_key() == rule("b", "CONTOSO tools").match_key()
    assert rule("a", "Contoso Tools").match_key() != rule("b", "Contoso Tool").match_key()


def test_an_exception_pattern_fits_the_blob() -> None:
    PathCondition("C:\\" + "a" * 1021)
    with pytest.raises(PolicyError, match="at most 1024"):
        PathCondition("C:\\" + "a" * 1022)


def _certificate(tbs: CertificateId, subject: str) -> Certificate:
    return Certificate(
        subject=subject,
        issuer="CN=Issuer",
        publisher="",
        serial="01",
        not_before="2024-01-01T00:00:00Z",
        not_after="2024-02-01T00:00:00Z",
        sha256="00" * 32,
        tbs_hash=tbs.tbs_hash,
        tbs_algorithm=tbs.algorithm,
        key="rsa-2048",
    )


@pytest.mark.parametrize("status", list(SignatureStatus))
def test_only_a_valid_signature_gives_a_signer(status: SignatureStatus) -> None:
    """A signature with any failure status never satisfies a publisher rule, whatever its
    chain says (the statuses come from real tampering in test_signatures.py)."""
    chain = (_certificate(LEAF, "CN=Contoso Tools"), _certificate(PCA, "CN=PCA"))
    signature = Signature(
        status=status,
        reason="",
        entry=0,
        nesting=0,
        digest_algorithm="sha256",
        digest=A,
        digest_matches=status is SignatureStatus.VALID,
        signing_time=None,
        chain=chain,
        chain_complete=False,
    )
    found = signer_facts([signature], None)
    rule = publisher_rule(Action.ALLOW, certificate=PCA, common_name="Contoso Tools")
    assert matches(rule, found) is (status is SignatureStatus.VALID)
    assert bool(found.signers) is (status is SignatureStatus.VALID)


_NAME_TEXT = st.text(
    alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12
) | st.sampled_from([",", "+", '"', "\\", "<", ">", ";", "=", "#x", " lead", "trail ", "a\x00b"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME]), _NAME_TEXT),
        min_size=1,
        max_size=4,
    )
)
def test_common_name_is_the_last_cn_in_der_order(attributes: list[tuple[Any, str]]) -> None:
    """Whatever the values hold (the RFC 4514 specials, spaces, NUL, any script), the CN
    read back from the text signatures.py writes is the one the C core reads: the last CN
    of the DER name."""
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    expected = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    want = str(expected[-1].value) if expected else None
    assert _common_name(name.rfc4514_string()) == want
    assert _common_name(name.public_bytes().hex()) == want
