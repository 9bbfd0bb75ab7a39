"""Publisher rules and exceptions through AppLocker, WDAC and Santa (docs/interop.md), and
publisher rules from CodeIntegrity 3089 signer events."""

from __future__ import annotations

import re
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interop_samples import (
    DIGICERT_G4_TBS,
    H1,
    H2,
    PCA_2011_TBS,
    PCA_SHA1_TBS,
    PUBLISHER_CONDITION,
    SHA1,
    applocker,
    applocker_event,
    applocker_rule,
    ci_event,
    hash_condition,
    path_condition,
    signature_event,
    wdac,
    wdac_signer,
    wdac_signers,
)
from strategies import digests, ids, labels, path_patterns, policies, policy_names, publishers

from exewhitelist.interop import ForeignFormat, ImportResult, export_policy, import_policy
from exewhitelist.interop.events import Level, rules_from_events
from exewhitelist.interop.xmlwrite import xml_unsafe
from exewhitelist.policy import Mode, Policy, Query, decide
from exewhitelist.policyfile import canonical
from exewhitelist.rules import (
    Action,
    CertificateId,
    Condition,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    PathRule,
    Pin,
    Publisher,
    PublisherRule,
    RuleKind,
    Signer,
    SignerFacts,
)

NS = "{urn:schemas-microsoft-com:sipolicy}"
LEAF = "1F" * 32
PCA = CertificateId("sha256", PCA_2011_TBS.lower())
A1 = H1.lower()
A2 = H2.lower()


def _import(tmp_path: Path, text: str, name: str = "p.xml") -> ImportResult:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return import_policy(path)


def _reasons(result: ImportResult) -> str:
    return "\n".join(str(f) for f in result.findings)


def _publishers(result: ImportResult) -> dict[str, PublisherRule]:
    assert result.policy is not None, _reasons(result)
    return {r.id: r for r in result.policy.rules if isinstance(r, PublisherRule)}


def _facts(
    chain: tuple[str, ...],
    common_name: str = "Contoso Corporation",
    version: str | None = None,
    **attributes: str,
) -> SignerFacts:
    certs = tuple(
        CertificateId({20: "sha1", 32: "sha256", 48: "sha384"}[len(c) // 2], c.lower())
        for c in chain
    )
    return SignerFacts(
        (Signer(certs, common_name),),
        {FileAttribute(k): v for k, v in attributes.items()},
        FileVersion.parse(version) if version else None,
    )


# --- WDAC import -------------------------------------------------------------------------


def test_wdac_signer_levels(tmp_path: Path) -> None:
    file_rules = [
        '<FileAttrib ID="ID_FILEATTRIB_F" FriendlyName="tool" FileName="tool.exe" '
        'MinimumFileVersion="1.2.0.0" />',
        '<FileAttrib ID="ID_FILEATTRIB_V" FileName="*" MinimumFileVersion="10.0.0.0" />',
        '<FileAttrib ID="ID_FILEATTRIB_P" ProductName="Contoso Suite" '
        'MaximumFileVersion="4.0.0.0" />',
        '<FileAttrib ID="ID_FILEATTRIB_I" InternalName="setup" />',
        '<FileAttrib ID="ID_FILEATTRIB_D" FileDescription="Contoso Updater" '
        'MinimumFileVersion="1.0.0.0" MaximumFileVersion="2.0.0.0" />',
    ]
    signers = (
        "<Signers>"
        + "".join(
            [
                wdac_signer(
                    "ID_SIGNER_PUB", PCA_2011_TBS, publisher="Contoso Corporation", name="P"
                ),
                wdac_signer("ID_SIGNER_PCA", PCA_SHA1_TBS, name="Microsoft Code Signing PCA"),
                wdac_signer(
                    "ID_SIGNER_FP",
                    DIGICERT_G4_TBS,
                    publisher="Contoso Corporation",
                    attribs=("ID_FILEATTRIB_F", "ID_FILEATTRIB_P", "ID_FILEATTRIB_I"),
                ),
                wdac_signer(
                    "ID_SIGNER_SV", PCA_2011_TBS, publisher="Contoso", attribs=("ID_FILEATTRIB_V",)
                ),
                wdac_signer(
                    "ID_SIGNER_512", "AB" * 64, publisher="X", attribs=("ID_FILEATTRIB_D",)
                ),
            ]
        )
        + "</Signers>"
    )
    text = wdac(
        file_rules,
        [],
        extra=signers,
        user_extra=wdac_signers(
            allowed=("ID_SIGNER_PUB", "ID_SIGNER_PCA", "ID_SIGNER_FP", "ID_SIGNER_SV"),
            denied=("ID_SIGNER_512",),
        ),
    )
    result = _import(tmp_path, text)
    assert result.findings == (), _reasons(result)
    rules = _publishers(result)
    pub_rule = rules.pop("ID_SIGNER_PUB")
    assert pub_rule.name == "P"
    pub = pub_rule.condition
    assert (pub.certificate, pub.pin, pub.common_name) == (PCA, Pin.ISSUER, "Contoso Corporation")
    # PcaCertificate or LeafCertificate: WDAC matches the TBS anywhere in the chain.
    pca = rules.pop("ID_SIGNER_PCA").condition
    assert pca.pin is Pin.ANY
    assert pca.certificate == CertificateId("sha1", PCA_SHA1_TBS.lower())
    assert pca.common_name is None and pca.attribute is None
    # FilePublisher: one rule per file attribute, the first keeps the signer's ID.
    fp = rules.pop("ID_SIGNER_FP").condition
    assert fp.certificate == CertificateId("sha384", DIGICERT_G4_TBS.lower())
    assert (fp.attribute, fp.attribute_value, fp.min_version) == (
        FileAttribute.ORIGINAL_FILENAME,
        "tool.exe",
        FileVersion.parse("1.2.0.0"),
    )
    product = rules.pop("ID_SIGNER_FP:ID_FILEATTRIB_P").condition
    assert (product.attribute, product.max_version) == (
        FileAttribute.PRODUCT_NAME,
        FileVersion.parse("4.0.0.0"),
    )
    internal = rules.pop("ID_SIGNER_FP:ID_FILEATTRIB_I").condition
    assert (internal.attribute, internal.attribute_value) == (FileAttribute.INTERNAL_NAME, "setup")
    # SignedVersion: FileName="*" with a version is no attribute.
    sv = rules.pop("ID_SIGNER_SV").condition
    assert (sv.attribute, sv.min_version) == (None, FileVersion.parse("10.0.0.0"))
    # A denied signer with a CertPublisher: anywhere in the chain (a deny must not match less).
    deny = rules.pop("ID_SIGNER_512")
    assert deny.action is Action.DENY and deny.condition.pin is Pin.ANY
    assert deny.condition.certificate.algorithm == "sha512"
    assert deny.condition.attribute is FileAttribute.FILE_DESCRIPTION
    assert rules == {}


def test_wdac_certroot_matches_anywhere_in_the_chain_as_imported(tmp_path: Path) -> None:
    """A CertRoot TBS matches the signer's own certificate or any above it: the two rules a
    PcaCertificate/LeafCertificate signer becomes decide exactly so."""
    signers = "<Signers>" + wdac_signer("ID_SIGNER_S", LEAF) + "</Signers>"
    policy = _import(
        tmp_path, wdac([], [], extra=signers, user_extra=wdac_signers(allowed=("ID_SIGNER_S",)))
    ).policy
    assert policy is not None
    for chain in ((LEAF, PCA_2011_TBS), (PCA_SHA1_TBS, LEAF), (PCA_SHA1_TBS, PCA_2011_TBS, LEAF)):
        assert decide(policy, Query(signer_facts=_facts(chain))).action is Action.ALLOW
    assert decide(policy, Query(signer_facts=_facts((PCA_2011_TBS,)))).action is Action.DENY


def test_wdac_signers_not_representable(tmp_path: Path) -> None:
    file_rules = [
        '<FileAttrib ID="ID_FILEATTRIB_PKG" PackageFamilyName="Contoso.App_8wekyb3d8bbwe" />',
        '<FileAttrib ID="ID_FILEATTRIB_BAD" FileName="x.exe" MinimumFileVersion="1.2" />',
    ]
    eku = '<CertEKU ID="ID_EKU_WHQL" />'
    signers = (
        "<Signers>"
        + "".join(
            [
                wdac_signer("ID_SIGNER_WK", "06", root_type="Wellknown", name="Product Root 2010"),
                wdac_signer("ID_SIGNER_MD5", "AB" * 16),
                wdac_signer("ID_SIGNER_EKU_A", PCA_2011_TBS, inner=eku),
                wdac_signer("ID_SIGNER_EKU_D", PCA_2011_TBS, inner=eku, publisher="Bad"),
                wdac_signer(
                    "ID_SIGNER_TIME",
                    PCA_2011_TBS,
                    sign_time_after="2024-01-01T00:00:00",
                    publisher="T",
                ),
                wdac_signer("ID_SIGNER_ISS", PCA_2011_TBS, inner='<CertIssuer Value="PCA" />'),
                wdac_signer("ID_SIGNER_PKG", PCA_2011_TBS, attribs=("ID_FILEATTRIB_PKG",)),
                wdac_signer("ID_SIGNER_KERNEL", PCA_2011_TBS, publisher="Driver Co"),
                wdac_signer("ID_SIGNER_UNUSED", PCA_2011_TBS),
            ]
        )
        + "</Signers>"
    )
    text = wdac(
        file_rules,
        [],
        extra=signers,
        user_extra=wdac_signers(
            allowed=(
                "ID_SIGNER_WK",
                "ID_SIGNER_MD5",
                "ID_SIGNER_EKU_A",
                "ID_SIGNER_TIME",
                "ID_SIGNER_ISS",
                "ID_SIGNER_PKG",
            ),
            denied=("ID_SIGNER_EKU_D",),
        ),
    ).replace(
        '<SigningScenario ID="ID_SIGNINGSCENARIO_DRIVERS" Value="131"><ProductSigners>',
        '<SigningScenario ID="ID_SIGNINGSCENARIO_DRIVERS" Value="131"><ProductSigners>'
        + wdac_signers(allowed=("ID_SIGNER_KERNEL",)),
    )
    result = _import(tmp_path, text)
    assert result.errors == ()
    reasons = _reasons(result)
    for needle in (
        "Wellknown root ('06')",
        "TBS hash of 16 bytes",
        "CertEKU 'ID_EKU_WHQL'; without it the rule would allow more: left out",
        "kept as a deny without it (stricter than WDAC)",
        "SignTimeAfter '2024-01-01T00:00:00'",
        "CertIssuer 'PCA'",
        "PackageFamilyName",
        "kernel-mode (signing scenario 131",
        "ID_SIGNER_UNUSED",
    ):
        assert needle in reasons, needle
    rules = _publishers(result)
    assert sorted(rules) == ["ID_SIGNER_EKU_D"]
    assert all(r.action is Action.DENY for r in rules.values())
    # An invalid version is an error in its own format.
    text = wdac(
        file_rules,
        [],
        extra="<Signers>"
        + wdac_signer("ID_SIGNER_B", PCA_2011_TBS, attribs=("ID_FILEATTRIB_BAD",))
        + "</Signers>",
        user_extra=wdac_signers(allowed=("ID_SIGNER_B",)),
    )
    result = _import(tmp_path, text)
    assert result.policy is None and "MinimumFileVersion" in _reasons(result)


def test_wdac_supplemental_denied_signers_and_literal_star(tmp_path: Path) -> None:
    file_rules = ['<FileAttrib ID="ID_FILEATTRIB_S" ProductName="*" />']
    signers = (
        "<Signers>"
        + "".join(
            [
                wdac_signer(
                    "ID_SIGNER_A", PCA_2011_TBS, publisher="A", attribs=("ID_FILEATTRIB_S",)
                ),
                wdac_signer("ID_SIGNER_D", PCA_2011_TBS, publisher="D"),
            ]
        )
        + "</Signers>"
    )
    text = wdac(
        file_rules,
        [],
        extra=signers,
        user_extra=wdac_signers(allowed=("ID_SIGNER_A",), denied=("ID_SIGNER_D",)),
        policy_type="Supplemental Policy",
    )
    result = _import(tmp_path, text)
    rules = _publishers(result)
    assert list(rules) == ["ID_SIGNER_A"]
    # Only FileName="*" is WDAC's documented "any file" (SignedVersion): others are literal.
    assert rules["ID_SIGNER_A"].condition.attribute_value == "*"
    assert "ignores deny rules in supplemental policies" in _reasons(result)


@pytest.mark.parametrize(
    ("user_extra", "needle"),
    [
        (wdac_signers(allowed=("ID_SIGNER_NONE",)), "refers to no Signer"),
        (wdac_signers(allowed=(("ID_SIGNER_S", ("ID_DENY_NONE",)),)), "refers to no file rule"),
    ],
)
def test_wdac_signer_errors(tmp_path: Path, user_extra: str, needle: str) -> None:
    signers = "<Signers>" + wdac_signer("ID_SIGNER_S", PCA_2011_TBS) + "</Signers>"
    result = _import(tmp_path, wdac([], [], extra=signers, user_extra=user_extra))
    assert result.policy is None
    assert needle in "\n".join(f.reason for f in result.errors)
    signers = "<Signers>" + wdac_signer("ID_SIGNER_S", PCA_2011_TBS, attribs=("X",)) + "</Signers>"
    text = wdac([], [], extra=signers, user_extra=wdac_signers(allowed=("ID_SIGNER_S",)))
    assert "refers to no FileAttrib" in _reasons(_import(tmp_path, text))


def test_wdac_signer_exceptions(tmp_path: Path) -> None:
    file_rules = [
        f'<Deny ID="ID_DENY_X_SHA256" FriendlyName="old.exe Hash Sha256" Hash="{H1}" />',
        f'<Deny ID="ID_DENY_X_SHA1" FriendlyName="old.exe Hash Sha1" Hash="{SHA1}" />',
        f'<Deny ID="ID_DENY_X_PAGE" FriendlyName="old.exe Hash Page Sha256" Hash="{H2}" />',
        '<Deny ID="ID_DENY_TEMP" FilePath="%OSDRIVE%\\Temp\\*" />',
        '<Deny ID="ID_DENY_NAME" FileName="bad.exe" MinimumFileVersion="9.0.0.0" />',
        '<Allow ID="ID_ALLOW_OK" FilePath="%WINDIR%\\ok.exe" />',
        f'<Allow ID="ID_ALLOW_H" Hash="{H2}" />',
    ]
    signers = (
        "<Signers>"
        + "".join(
            [
                wdac_signer("ID_SIGNER_A", PCA_2011_TBS, publisher="Contoso"),
                wdac_signer("ID_SIGNER_B", PCA_2011_TBS, publisher="Fabrikam"),
                wdac_signer("ID_SIGNER_C", PCA_2011_TBS, publisher="Evil"),
                wdac_signer("ID_SIGNER_D", PCA_2011_TBS, publisher="Worse"),
            ]
        )
        + "</Signers>"
    )
    text = wdac(
        file_rules,
        ["ID_ALLOW_H"],
        extra=signers,
        user_extra=wdac_signers(
            allowed=(
                ("ID_SIGNER_A", ("ID_DENY_X_SHA256", "ID_DENY_X_SHA1", "ID_DENY_X_PAGE")),
                ("ID_SIGNER_B", ("ID_DENY_TEMP", "ID_DENY_NAME")),
            ),
            denied=(("ID_SIGNER_C", ("ID_ALLOW_OK",)), ("ID_SIGNER_D", ("ID_DENY_NAME",))),
        ),
    )
    result = _import(tmp_path, text)
    assert result.errors == ()
    reasons = _reasons(result)
    rules = _publishers(result)
    assert rules["ID_SIGNER_A"].exceptions == (HashCondition(RuleKind.AUTHENTICODE_SHA256, A1),)
    assert "whose SHA-256 exception is kept" in reasons
    assert "ID_SIGNER_B" not in rules  # its FileName exception cannot be held: allows less
    assert "exception 'ID_DENY_NAME'" in reasons and "left out" in reasons
    assert rules["ID_SIGNER_C"].exceptions == (PathCondition("%WINDIR%\\ok.exe"),)
    assert rules["ID_SIGNER_D"].exceptions == () and "kept as a deny without it" in reasons
    assert "referenced by no signing scenario" not in reasons  # exceptions are references
    facts = _facts((LEAF, PCA_2011_TBS), "Contoso")
    policy = result.policy
    assert policy is not None
    assert decide(policy, Query(authenticode_sha256=A1, signer_facts=facts)).rule is None
    assert decide(policy, Query(authenticode_sha256=A2, signer_facts=facts)).action is Action.ALLOW


# --- WDAC export -----------------------------------------------------------------------


def _sample_publishers() -> Policy:
    pin = Publisher(PCA, Pin.ISSUER, "Contoso Corporation")
    file_publisher = Publisher(
        PCA,
        Pin.ISSUER,
        "Contoso",
        FileAttribute.ORIGINAL_FILENAME,
        "tool.exe",
        FileVersion.parse("1.2.3.4"),
    )
    leaf = Publisher(CertificateId("sha1", "ab" * 20), Pin.LEAF)
    return Policy(
        "signers",
        2,
        rules=(
            PublisherRule.of("contoso", Action.ALLOW, pin, name="Contoso"),
            PublisherRule.of(
                "tool",
                Action.ALLOW,
                file_publisher,
                exceptions=[
                    PathCondition("%PROGRAMFILES%\\Contoso\\old\\*"),
                    HashCondition(RuleKind.AUTHENTICODE_SHA256, A1),
                ],
            ),
            PublisherRule.of(
                "leaf-deny",
                Action.DENY,
                Publisher(leaf.certificate, Pin.LEAF, max_version=FileVersion.parse("2.0.0.0")),
                exceptions=[HashCondition(RuleKind.AUTHENTICODE_SHA256, A1)],
            ),
            PublisherRule.of(
                "flat-exception",
                Action.ALLOW,
                leaf,
                exceptions=[HashCondition(RuleKind.FILE_SHA256, A2)],
            ),
            PathRule(
                Action.ALLOW,
                "%WINDIR%\\*",
                explicit_id="windows",
                exceptions=(PathCondition("%WINDIR%\\Temp\\*"),),
            ),
            PathRule(
                Action.DENY,
                "C:\\Temp\\*",
                explicit_id="temp",
                exceptions=(PathCondition("C:\\Temp\\ok.exe"),),
            ),
        ),
    )


def test_wdac_export_of_signers(tmp_path: Path) -> None:
    policy = _sample_publishers()
    result = export_policy(policy, ForeignFormat.WDAC)
    root = ET.fromstring(result.data)
    file_rules = {e.get("ID"): e for e in root.find(f"{NS}FileRules") or ()}
    for rule_id, element in file_rules.items():
        tag = element.tag.removeprefix(NS)
        prefix = {"FileAttrib": "FILEATTRIB"}.get(tag, tag.upper())
        assert re.fullmatch(rf"ID_{prefix}_[A-Z][_A-Z0-9]*", rule_id or ""), rule_id
    signers = {s.get("ID"): s for s in root.iter(f"{NS}Signer")}
    order = ["CertRoot", "CertEKU", "CertIssuer", "CertPublisher", "CertOemID", "FileAttribRef"]
    for signer_id, signer in signers.items():
        assert re.fullmatch(r"ID_SIGNER_[A-Z][_A-Z0-9]*", signer_id or "")
        assert signer.get("Name")
        tags = [child.tag.removeprefix(NS) for child in signer]
        assert tags == sorted(tags, key=order.index) and tags[0] == "CertRoot"
        for ref in signer.iter(f"{NS}FileAttribRef"):
            assert file_rules[ref.get("RuleID")].tag == f"{NS}FileAttrib"
    user = next(s for s in root.iter(f"{NS}SigningScenario") if s.get("Value") == "12")
    product = user.find(f"{NS}ProductSigners")
    assert product is not None
    assert [c.tag.removeprefix(NS) for c in product] == [
        "AllowedSigners",
        "DeniedSigners",
        "FileRulesRef",
    ]
    allowed = [a.get("SignerId") for a in product.iter(f"{NS}AllowedSigner")]
    denied = [d.get("SignerId") for d in product.iter(f"{NS}DeniedSigner")]
    assert len(allowed) == 2 and len(denied) == 1 and set(allowed + denied) == set(signers)
    excepted = [e.get("DenyRuleID") for e in product.iter(f"{NS}ExceptDenyRule")]
    excepted += [e.get("AllowRuleID") for e in product.iter(f"{NS}ExceptAllowRule")]
    referenced = [r.get("RuleID") for r in product.iter(f"{NS}FileRuleRef")]
    assert set(excepted).isdisjoint(referenced)  # an exception is not a rule of its own
    assert all(x in file_rules for x in excepted + referenced)
    leaf_signer = next(s for s in signers.values() if s.get("Name") == "leaf-deny")
    root_element = leaf_signer.find(f"{NS}CertRoot")
    assert root_element is not None and root_element.get("Value") == "AB" * 20
    reasons = "\n".join(str(f) for f in result.findings)
    for needle in (
        "rule 'flat-exception'",  # a flat-hash exception: WDAC cannot hold it: left out
        "rule 'windows'",  # an allow path rule with exceptions: left out
        "rule 'temp'",  # a deny path rule with exceptions: written without them
        "written without them (denies more)",
        "no %PROGRAMFILES%",
    ):
        assert needle in reasons, needle
    path = tmp_path / "s.xml"
    path.write_bytes(result.data)
    back = import_policy(path)
    assert back.findings == (), "\n".join(map(str, back.findings))
    expected = [r for r in canonical(policy).rules if r.id not in ("flat-exception", "windows")]
    assert back.policy is not None
    got = {r.id: r for r in back.policy.rules}
    assert got["temp"].exceptions == ()
    assert [r for r in expected if r.id != "temp"] == [
        r for r in back.policy.rules if r.id != "temp"
    ]


def _xml_text(text: str) -> bool:
    return not xml_unsafe(text)


def _wdac_publisher(publisher: Publisher) -> bool:
    texts = (publisher.common_name or "", publisher.attribute_value or "")
    return all(_xml_text(t) for t in texts) and publisher.attribute_value != "*"


_wdac_exceptions = st.one_of(
    path_patterns().map(PathCondition),
    digests.map(lambda d: HashCondition(RuleKind.AUTHENTICODE_SHA256, d)),
)
_applocker_exceptions = st.one_of(
    path_patterns().map(PathCondition),
    st.tuples(st.sampled_from([RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256]), digests).map(
        lambda kd: HashCondition(*kd)
    ),
)


def _exception_lists(
    conditions: st.SearchStrategy[Condition],
) -> st.SearchStrategy[list[Condition]]:
    return st.lists(conditions, max_size=3, unique_by=lambda c: c.exception_key())


@st.composite
def _wdac_signer_policies(draw: st.DrawFn) -> Policy:
    rules = draw(
        st.lists(
            st.builds(
                lambda rule_id, action, publisher, name, exceptions: PublisherRule.of(
                    rule_id, action, publisher, exceptions=exceptions, name=name
                ),
                ids.filter(_xml_text),
                st.sampled_from(Action),
                publishers().filter(_wdac_publisher),
                labels.filter(_xml_text),
                _exception_lists(_wdac_exceptions),
            ),
            max_size=6,
            unique_by=(lambda r: r.id, lambda r: r.match_key()),
        )
    )
    return Policy(
        name=draw(policy_names.filter(_xml_text)),
        version=draw(st.integers(0, 0xFFFF_FFFF)),
        mode=draw(st.sampled_from(Mode)),
        rules=tuple(rules),
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=_wdac_signer_policies())
def test_wdac_round_trip_of_publisher_rules(tmp_path: Path, policy: Policy) -> None:
    exported = export_policy(policy, ForeignFormat.WDAC)
    path = tmp_path / "export.xml"
    path.write_bytes(exported.data)
    result = import_policy(path)
    unexpected = [f for f in result.findings if "denies every program" not in f.reason]
    assert unexpected == []
    assert result.policy == canonical(policy)


# --- AppLocker -------------------------------------------------------------------------


def test_applocker_exceptions_and_publisher_rules(tmp_path: Path) -> None:
    two_hashes = (
        f'<FileHashCondition><FileHash Type="SHA256" Data="0x{H1}" />'
        f'<FileHash Type="SHA256Flat" Data="0x{H2}" /></FileHashCondition>'
    )
    exe = [
        applocker_rule(
            "FilePathRule",
            path_condition("%PROGRAMFILES%\\*"),
            name="pf",
            rule_id="00000000-0000-0000-0000-000000000001",
            exceptions=path_condition("%PROGRAMFILES%\\ie\\iexplore.exe") + two_hashes,
        ),
        applocker_rule(
            "FilePathRule",
            path_condition("%WINDIR%\\*"),
            name="win",
            rule_id="00000000-0000-0000-0000-000000000002",
            exceptions=path_condition("%WINDIR%\\Temp\\*") + PUBLISHER_CONDITION,
        ),
        applocker_rule(
            "FilePathRule",
            path_condition("%OSDRIVE%\\Temp\\*"),
            name="temp",
            action="Deny",
            rule_id="00000000-0000-0000-0000-000000000003",
            exceptions=path_condition("%OSDRIVE%\\Temp\\ok.exe") + hash_condition(SHA1, "SHA1"),
        ),
        applocker_rule(
            "FileHashRule",
            hash_condition(H1),
            name="hash",
            rule_id="00000000-0000-0000-0000-000000000004",
            exceptions=path_condition("%OSDRIVE%\\x.exe"),
        ),
        applocker_rule("FilePublisherRule", PUBLISHER_CONDITION, name="bginfo"),
    ]
    result = _import(tmp_path, applocker({"Exe": exe}))
    assert result.errors == ()
    reasons = _reasons(result)
    assert result.policy is not None
    rules = {r.name: r for r in result.policy.rules}
    assert rules["pf"].exceptions == (
        PathCondition("%PROGRAMFILES%\\ie\\iexplore.exe"),
        HashCondition(RuleKind.AUTHENTICODE_SHA256, A1),
        HashCondition(RuleKind.FILE_SHA256, A2),
    )
    assert "win" not in rules and "a publisher condition names a publisher" in reasons
    assert rules["temp"].exceptions == (PathCondition("%OSDRIVE%\\Temp\\ok.exe"),)
    assert "kept as a deny without them" in reasons
    assert "hash" not in rules and "AppLocker's schema gives it none" in reasons
    assert "pin a certificate by its TBS hash" in reasons
    assert "policy from-scan --level publisher" in reasons
    assert "bginfo" not in rules


def test_applocker_export_of_exceptions_and_publishers(tmp_path: Path) -> None:
    policy = _sample_publishers()
    result = export_policy(policy, ForeignFormat.APPLOCKER)
    root = ET.fromstring(result.data)
    names = {r.get("Name"): r for r in root.iter("FilePathRule")}
    assert set(names) == {"windows", "temp"}
    for rule in names.values():
        assert [c.tag for c in rule] == ["Conditions", "Exceptions"]
    reasons = "\n".join(str(f) for f in result.findings)
    assert reasons.count("cannot pin a certificate: left out") == 4
    path = tmp_path / "a.xml"
    path.write_bytes(result.data)
    back = import_policy(path, name="signers", version=2)
    assert back.findings == ()
    assert back.policy == canonical(
        Policy("signers", 2, rules=tuple(r for r in policy.rules if isinstance(r, PathRule)))
    )
    # An allow whose exception AppLocker cannot hold is left out; a deny loses it.
    publisher_exception = Publisher(PCA, Pin.ISSUER, "X")
    odd = Policy(
        "p",
        1,
        rules=(
            PathRule(Action.ALLOW, "C:\\A\\*", explicit_id="a", exceptions=(publisher_exception,)),
            PathRule(Action.DENY, "C:\\B\\*", explicit_id="b", exceptions=(publisher_exception,)),
        ),
    )
    result = export_policy(odd, ForeignFormat.APPLOCKER)
    assert [r.get("Name") for r in ET.fromstring(result.data).iter("FilePathRule")] == ["b"]
    reasons = "\n".join(str(f) for f in result.findings)
    assert "rule 'a'" in reasons and "written without them (denies more)" in reasons


@st.composite
def _applocker_policies(draw: st.DrawFn) -> Policy:
    rules = draw(
        st.lists(
            st.builds(
                lambda rule_id, action, pattern, name, comment, exceptions: PathRule(
                    action,
                    pattern,
                    explicit_id=rule_id,
                    name=name,
                    comment=comment,
                    exceptions=tuple(exceptions),
                ),
                ids.filter(_xml_text),
                st.sampled_from(Action),
                path_patterns(),
                labels.filter(_xml_text),
                labels.filter(_xml_text),
                _exception_lists(_applocker_exceptions),
            ),
            max_size=5,
            unique_by=(lambda r: r.id, lambda r: r.match_key()),
        )
    )
    return Policy("p", 1, draw(st.sampled_from(Mode)), tuple(rules))


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=_applocker_policies())
def test_applocker_round_trip_of_exceptions(tmp_path: Path, policy: Policy) -> None:
    path = tmp_path / "export.xml"
    path.write_bytes(export_policy(policy, ForeignFormat.APPLOCKER).data)
    result = import_policy(path, name="p", version=1)
    assert [f for f in result.findings if "denies every program" not in f.reason] == []
    assert result.policy == canonical(policy)


def test_santa_publisher_rules_are_reported() -> None:
    result = export_policy(_sample_publishers(), ForeignFormat.SANTA)
    reasons = "\n".join(str(f) for f in result.findings)
    assert reasons.count("Santa's CERTIFICATE pins the leaf certificate's thumbprint") == 4


# --- events ------------------------------------------------------------------------------


def _log(tmp_path: Path, events: list[str], name: str = "ci.xml") -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join(events), encoding="utf-8")
    return path


def _activity(n: int) -> str:
    return f"6a5b2c1d-0000-0000-0000-{n:012x}"


def test_events_publisher_level(tmp_path: Path) -> None:
    tool, other, lone = "\\Device\\HarddiskVolume3\\Tools\\", "C:\\b\\", "C:\\c\\"
    a3, a4, a5 = H1.lower().replace("9", "3"), H1.lower().replace("9", "4"), A1[::-1]
    a6, a7 = A2[::-1], A1.replace("a", "7")
    events = [
        # signed by Contoso under PCA 2011: 3089 after the block event
        ci_event(3076, tool + "a.exe", A1, activity=_activity(1)),
        signature_event(_activity(1)),
        # the same signer, another file; its 3089 comes first, and a SHA-1 signature too
        signature_event(_activity(2), issuer_tbs=PCA_SHA1_TBS, total=2, index=0),
        ci_event(3077, other + "b.exe", A2, activity=_activity(2)),
        signature_event(_activity(2), total=2, index=1),
        # the first file again, without signature events: it folds into the signer
        ci_event(3076, tool + "copy\\a.exe", A1, activity=None),
        # unsigned: a hash rule
        ci_event(3076, lone + "u.exe", a3, activity=_activity(3)),
        signature_event(_activity(3), total=0, publisher="Unknown", issuer="Unknown"),
        # a signature CI could not verify: a hash rule
        ci_event(3076, lone + "v.exe", a4, activity=_activity(4)),
        signature_event(_activity(4), verification_error="23"),
        # a self-signed leaf (the highest certificate is the leaf): a leaf pin
        ci_event(3076, lone + "self.exe", a5, activity=_activity(5)),
        signature_event(_activity(5), publisher="Self", issuer="Self", issuer_tbs=LEAF),
        # SHA-384 and SHA-512 TBS hashes
        ci_event(3076, lone + "g4.exe", a6, activity=_activity(6)),
        signature_event(_activity(6), publisher="DigiCert Customer", issuer_tbs=DIGICERT_G4_TBS),
        ci_event(3076, lone + "x.exe", a7, activity=_activity(7)),
        signature_event(_activity(7), publisher="Big", issuer_tbs="CD" * 64),
        # AppLocker events make hash rules as before
        applocker_event(8003, "%OSDRIVE%\\USERS\\PUBLIC\\T.EXE", "0x" + "C" * 64),
    ]
    result = rules_from_events([_log(tmp_path, events)], level=Level.PUBLISHER)
    assert result.event_counts == {"3076": 7, "3077": 1, "3089": 8, "8003": 1}
    policy = result.policy
    assert policy is not None
    publishers_ = {r.condition.common_name: r for r in policy.rules if isinstance(r, PublisherRule)}
    hashes = sorted(r.value for r in policy.rules if not isinstance(r, PublisherRule))
    assert hashes == sorted([a3, a4, "c" * 64])
    contoso = publishers_.pop("Contoso Corporation")
    assert contoso.condition == Publisher(PCA, Pin.ISSUER, "Contoso Corporation")
    assert contoso.action is Action.ALLOW and contoso.name == "Contoso Corporation"
    assert "3076 x2, 3077 x1; 2 file(s)" in contoso.comment and "copy" in contoso.comment
    assert publishers_.pop("Self").condition.pin is Pin.LEAF
    assert publishers_.pop("DigiCert Customer").condition.certificate.algorithm == "sha384"
    assert publishers_.pop("Big").condition.certificate.algorithm == "sha512"
    assert publishers_ == {}
    reasons = "\n".join(str(f) for f in result.findings)
    assert "unsigned (TotalSignatureCount 0)" in reasons and "VerificationError 23" in reasons
    seen = {p.name: p for p in result.programs}
    assert seen["Contoso Corporation"].files == {A1, A2}
    # Without --level publisher the same log gives one hash rule per file.
    by_hash = rules_from_events([_log(tmp_path, events)])
    assert by_hash.policy is not None
    assert all(not isinstance(r, PublisherRule) for r in by_hash.policy.rules)
    assert len(by_hash.policy.rules) == 8


def test_events_publisher_level_without_signature_events(tmp_path: Path) -> None:
    log = _log(tmp_path, [ci_event(3077, "C:\\a.exe", A1), ci_event(3076, "C:\\b.exe", A2)])
    result = rules_from_events([log], level=Level.PUBLISHER)
    assert result.policy is not None
    assert sorted(r.value for r in result.policy.rules) == sorted([A1, A2])
    assert "no signature event (3089)" in "\n".join(str(f) for f in result.findings)


def test_cli_from_events_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exewhitelist.cli import main

    log = _log(tmp_path, [ci_event(3077, "C:\\a.exe", A1, activity=None)])
    out = tmp_path / "out.json"
    assert main(["policy", "from-events", str(log), "--level", "publisher", "-o", str(out)]) == 0
    assert "no signature event" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["policy", "from-events", str(log), "--level", "leaf"])
    assert exit_info.value.code == 2


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies(max_rules=8, signers=True), fmt=st.sampled_from(ForeignFormat))
def test_every_rule_comes_back_or_is_reported(
    tmp_path: Path, policy: Policy, fmt: ForeignFormat
) -> None:
    """Any policy the model's strategies make, every kind and exception: each rule an export
    does not report is read back unchanged."""
    exported = export_policy(policy, fmt)
    reported = {f.position for f in exported.findings}
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(exported.data)
    result = import_policy(path, fmt, name=policy.name, version=policy.version)
    assert result.policy is not None, _reasons(result)
    back = set(result.policy.rules)
    for rule in policy.rules:
        if f"rule {rule.id!r}" in reported:
            continue
        if fmt is ForeignFormat.SANTA:  # Santa keeps no ids: compare what it keeps
            assert any(r.match_key() == rule.match_key() for r in back), rule
        else:
            assert rule in back, rule


def test_an_exception_pattern_too_long_for_the_blob_is_reported(tmp_path: Path) -> None:
    long = "C:\\" + "a\\" * 600 + "*"  # a valid rule pattern, over an exception's 1024 units
    text = applocker(
        {
            "Exe": [
                applocker_rule(
                    "FilePathRule",
                    path_condition("C:\\x\\*"),
                    action="Deny",
                    exceptions=path_condition(long),
                )
            ]
        }
    )
    result = _import(tmp_path, text)
    assert result.policy is not None and result.policy.rules[0].exceptions == ()
    assert "UTF-16 code units" in _reasons(result)
    signers = "<Signers>" + wdac_signer("ID_SIGNER_S", PCA_2011_TBS) + "</Signers>"
    text = wdac(
        [f'<Deny ID="ID_DENY_L" FilePath="{long}" />'],
        [],
        extra=signers,
        user_extra=wdac_signers(allowed=(("ID_SIGNER_S", ("ID_DENY_L",)),)),
    )
    result = _import(tmp_path, text)
    assert _publishers(result) == {} and "UTF-16 code units" in _reasons(result)


def test_hostile_signature_events(tmp_path: Path) -> None:
    """Signature events are untrusted text: reduced at once to what a rule needs."""
    events = [
        ci_event(3076, "C:\\a.exe", A1, activity=_activity(1)),
        signature_event(_activity(1), publisher="N" * 2000, total=10**12),
        ci_event(3076, "C:\\b.exe", A2, activity=_activity(2)),
        *(
            signature_event(_activity(2), total=50, index=i, issuer_tbs="AB" * 16)
            for i in range(50)
        ),
        *(signature_event(_activity(1000 + i)) for i in range(50)),  # no block event
    ]
    result = rules_from_events([_log(tmp_path, events)], level=Level.PUBLISHER)
    assert result.policy is not None
    assert sorted(r.value for r in result.policy.rules) == sorted([A1, A2])
    reasons = "\n".join(str(f) for f in result.findings)
    assert "PublisherName: common_name is longer than" in reasons
    assert "no TBS hash of 20, 32, 48 or 64 bytes" in reasons


@pytest.mark.parametrize("fmt", [ForeignFormat.WDAC, ForeignFormat.APPLOCKER])
@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_cli_import_writes_publisher_rules_and_exceptions(
    tmp_path: Path, fmt: ForeignFormat, suffix: str
) -> None:
    from exewhitelist.cli import main
    from exewhitelist.policyfile import load_policy

    source = tmp_path / f"policy.{fmt}.xml"
    source.write_bytes(export_policy(_sample_publishers(), fmt).data)
    imported = import_policy(source, name="signers", version=2).policy
    assert imported is not None and any(r.exceptions for r in imported.rules)
    out = tmp_path / f"out{suffix}"
    args = ["policy", "import", str(source), "--name", "signers", "--version", "2"]
    assert main([*args, "-o", str(out)]) == 0
    assert load_policy(out) == imported


def test_cli_from_events_publisher_rules_in_a_policy_file(tmp_path: Path) -> None:
    from exewhitelist.cli import main
    from exewhitelist.policyfile import load_policy

    log = _log(
        tmp_path,
        [ci_event(3076, "C:\\a.exe", A1, activity=_activity(1)), signature_event(_activity(1))],
    )
    out = tmp_path / "out.toml"
    assert main(["policy", "from-events", str(log), "--level", "publisher", "-o", str(out)]) == 0
    (rule,) = load_policy(out).rules
    assert isinstance(rule, PublisherRule)
    assert rule.condition == Publisher(PCA, Pin.ISSUER, "Contoso Corporation")
