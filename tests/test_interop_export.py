"""Export: the format facts of docs/interop.md, determinism, and import(export(p)) == p."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import defusedxml.ElementTree as ET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import digests, ids, labels, path_patterns, policy_names

from exewhitelist.interop import ForeignFormat, export_policy, import_policy
from exewhitelist.interop.xmlwrite import xml_unsafe
from exewhitelist.policy import Action, Mode, Policy, Rule, RuleKind
from exewhitelist.policyfile import canonical
from exewhitelist.rules import AuthenticodeRule, FileHashRule, PathRule, hash_rule, make_rule

NS = "{urn:schemas-microsoft-com:sipolicy}"
H = "9e21f97ca6a5215e2728bbe844bf8655d22fa17ea463383e9deacceaa39a2fa5"
H2 = "579a240282175c8d78ce9ccfa29acd0212bb43a5aee769de74d6cb313345791c"


def _sample() -> Policy:
    return Policy(
        name="Build agents",
        version=0x0003_0004,
        mode=Mode.AUDIT,
        rules=(
            AuthenticodeRule(Action.ALLOW, H, name="tool.exe"),
            AuthenticodeRule(Action.DENY, H2, explicit_id="bad-tool"),
            FileHashRule(Action.ALLOW, "a" * 64, name="script.ps1", comment="flat"),
            PathRule(Action.ALLOW, "%PROGRAMFILES%\\*", explicit_id="program-files"),
            PathRule(Action.DENY, "%OSDRIVE%\\Users\\*\\Temp\\*", explicit_id="temp"),
            PathRule(Action.ALLOW, "%WINDIR%\\*", explicit_id="windows"),
        ),
    )


def test_wdac_export_satisfies_the_format_facts() -> None:
    result = export_policy(_sample(), ForeignFormat.WDAC)
    root = ET.fromstring(result.data)
    assert root.tag == f"{NS}SiPolicy" and root.get("PolicyType") == "Base Policy"
    assert re.fullmatch(r"[0-9]*\.[0-9]*\.[0-9]*\.[0-9]*", root.findtext(f"{NS}VersionEx") or "")
    assert root.findtext(f"{NS}VersionEx") == "0.0.3.4"
    assert root.findtext(f"{NS}PlatformID") == "{2E07F7E4-194C-4D20-B7C9-6F44A6C5A234}"
    guid = root.findtext(f"{NS}PolicyID") or ""
    assert re.fullmatch(r"\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", guid)
    assert root.findtext(f"{NS}BasePolicyID") == guid
    options = {o.text for o in root.iter(f"{NS}Option")}
    assert {"Enabled:Unsigned System Integrity Policy", "Enabled:UMCI", "Enabled:Audit Mode"} == (
        options
    )
    for section in (
        "EKUs",
        "FileRules",
        "Signers",
        "SigningScenarios",
        "UpdatePolicySigners",
        "CiSigners",
        "HvciOptions",
        "Settings",
    ):
        assert root.find(f"{NS}{section}") is not None, section
    defined = {}
    for element in root.find(f"{NS}FileRules") or ():
        tag = element.tag.removeprefix(NS)
        rule_id = element.get("ID") or ""
        assert re.fullmatch(rf"ID_{tag.upper()}_[A-Z][_A-Z0-9]*", rule_id), rule_id
        defined[rule_id] = element
        if element.get("Hash") is not None:
            assert re.fullmatch("[0-9A-F]{64}", element.get("Hash") or "")
    scenarios = {s.get("Value"): s for s in root.iter(f"{NS}SigningScenario")}
    assert set(scenarios) == {"12", "131"}
    for scenario in scenarios.values():
        assert re.fullmatch(r"ID_SIGNINGSCENARIO_[A-Z][_A-Z0-9]*", scenario.get("ID") or "")
    refs = [r.get("RuleID", "") for r in scenarios["12"].iter(f"{NS}FileRuleRef")]
    assert sorted(refs) == sorted(defined)  # every rule referenced, every reference defined
    assert not list(scenarios["131"].iter(f"{NS}FileRuleRef"))
    paths = sorted(e.get("FilePath", "") for e in defined.values() if e.get("FilePath"))
    assert paths == [
        "%OSDRIVE%\\Program Files (x86)\\*",
        "%OSDRIVE%\\Program Files\\*",
        "%OSDRIVE%\\Users\\*\\Temp\\*",
        "%WINDIR%\\*",
    ]
    names = [s for s in root.iter(f"{NS}Setting") if s.get("ValueName") == "Name"]
    assert [s.findtext(f".//{NS}String") for s in names] == ["Build agents"]
    reasons = "\n".join(f.reason for f in result.findings)
    assert "no flat-hash rule" in reasons and "no %PROGRAMFILES%" in reasons
    assert "Windows 11" in reasons and "no comment" in reasons


def test_applocker_export_satisfies_the_format_facts() -> None:
    result = export_policy(_sample(), ForeignFormat.APPLOCKER)
    root = ET.fromstring(result.data)
    assert root.tag == "AppLockerPolicy" and root.get("Version") == "1"
    collections = root.findall("RuleCollection")
    assert [(c.get("Type"), c.get("EnforcementMode")) for c in collections] == [
        ("Exe", "AuditOnly")
    ]
    seen = set()
    for rule in collections[0]:
        attrs = rule.attrib
        assert set(attrs) == {"Id", "Name", "Description", "UserOrGroupSid", "Action"}
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", attrs["Id"])
        assert attrs["Id"] not in seen
        seen.add(attrs["Id"])
        assert 1 <= len(attrs["Name"]) <= 1024 and len(attrs["Description"]) <= 1024
        assert re.fullmatch(r"S-1(-[0-9a-fA-F]+)+", attrs["UserOrGroupSid"])
        assert attrs["Action"] in ("Allow", "Deny")
        conditions = rule.find("Conditions")
        assert conditions is not None and len(conditions) == 1
        for file_hash in rule.iter("FileHash"):
            assert file_hash.get("Type") in ("SHA256", "SHA256Flat")
            assert re.fullmatch("0x[0-9A-F]{64}", file_hash.get("Data") or "")
    assert len(seen) == 6


def test_santa_export() -> None:
    result = export_policy(_sample(), ForeignFormat.SANTA)
    document = json.loads(result.data)
    assert document == {
        "rules": [
            {
                "comment": "script.ps1",
                "custom_msg": "flat",
                "identifier": "a" * 64,
                "policy": "ALLOWLIST",
                "rule_type": "BINARY",
            }
        ]
    }
    reasons = "\n".join(f.reason for f in result.findings)
    assert "no Authenticode hash" in reasons and "no path rule" in reasons
    assert "MONITOR" in reasons


def test_exports_are_deterministic() -> None:
    policy = _sample()
    shuffled = dataclasses.replace(policy, rules=tuple(reversed(policy.rules)))
    for fmt in ForeignFormat:
        first = export_policy(policy, fmt).data
        assert export_policy(shuffled, fmt).data == first
        assert export_policy(policy, fmt).data == first


# --- round trips ----------------------------------------------------------------------


def _xml_text(text: str) -> bool:
    return not xml_unsafe(text)


xml_labels = labels.filter(_xml_text)


def _exact_case_programfiles(pattern: str) -> bool:
    """WDAC writes %PROGRAMFILES% as two rules; read back, it is spelt in capitals."""
    return not pattern.upper().startswith("%PROGRAMFILES%") or pattern.startswith("%PROGRAMFILES%")


xml_ids = ids.filter(_xml_text)


@st.composite
def _rules(draw: st.DrawFn, kinds: tuple[RuleKind, ...], fmt: ForeignFormat) -> Rule:
    kind = draw(st.sampled_from(kinds))
    action = draw(st.sampled_from(Action))
    name = draw(xml_labels)
    comment = "" if fmt is ForeignFormat.WDAC else draw(xml_labels)
    if kind is RuleKind.PATH:
        pattern = draw(path_patterns().filter(_exact_case_programfiles))
        return make_rule(draw(xml_ids), action, kind, pattern, name, comment)
    explicit = None if fmt is ForeignFormat.SANTA else draw(st.none() | xml_ids)
    return hash_rule(kind, draw(digests), action, id=explicit, name=name, comment=comment)


_KINDS = {
    ForeignFormat.WDAC: (RuleKind.AUTHENTICODE_SHA256, RuleKind.PATH),
    ForeignFormat.APPLOCKER: (RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256, RuleKind.PATH),
    ForeignFormat.SANTA: (RuleKind.FILE_SHA256,),
}


@st.composite
def _policies(draw: st.DrawFn, fmt: ForeignFormat) -> Policy:
    rules = draw(
        st.lists(
            _rules(_KINDS[fmt], fmt),
            max_size=8,
            unique_by=(lambda r: r.id, lambda r: r.match_key()[:2]),
        )
    )
    modes = [Mode.ENFORCE] if fmt is ForeignFormat.SANTA else list(Mode)
    return Policy(
        name=draw(policy_names.filter(_xml_text)),
        version=draw(st.integers(0, 0xFFFF_FFFF)),
        mode=draw(st.sampled_from(modes)),
        rules=tuple(rules),
    )


def _round_trip(tmp_path: Path, policy: Policy, fmt: ForeignFormat) -> None:
    exported = export_policy(policy, fmt)
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(exported.data)
    if fmt is ForeignFormat.WDAC:
        result = import_policy(path)
    else:
        result = import_policy(path, fmt, name=policy.name, version=policy.version)
    assert result.format is fmt
    unexpected = [f for f in result.findings if "denies every program" not in f.reason]
    assert unexpected == []
    assert result.policy == canonical(policy)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=st.sampled_from(ForeignFormat).flatmap(lambda f: st.tuples(st.just(f), _policies(f))))
def test_round_trip(tmp_path: Path, policy: tuple[ForeignFormat, Policy]) -> None:
    fmt, p = policy
    _round_trip(tmp_path, p, fmt)


def test_round_trip_utf16_applocker(tmp_path: Path) -> None:
    policy = Policy("p", 1, rules=(PathRule(Action.ALLOW, "%WINDIR%\\*", explicit_id="w"),))
    data = export_policy(policy, ForeignFormat.APPLOCKER).data.decode()
    path = tmp_path / "a.xml"
    path.write_bytes(data.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16"))
    assert import_policy(path, name="p").policy == policy


def test_wdac_program_files_pair_is_read_back_as_one_rule(tmp_path: Path) -> None:
    rule = PathRule(Action.DENY, "%PROGRAMFILES%\\Contoso\\*", explicit_id="pf", name="Contoso")
    policy = Policy("x", 5, Mode.AUDIT, (rule,))
    path = tmp_path / "pf.xml"
    path.write_bytes(export_policy(policy, ForeignFormat.WDAC).data)
    assert path.read_text().count("FilePath=") == 2
    result = import_policy(path)
    assert result.findings == () and result.policy == policy
