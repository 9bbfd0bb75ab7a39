"""Import: every element of the mapping tables (docs/interop.md §1), from documented examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from interop_samples import (
    H1,
    H2,
    H3,
    PUBLISHER_CONDITION,
    SHA1,
    applocker,
    applocker_rule,
    hash_condition,
    path_condition,
    wdac,
)

from exewhitelist.interop import ForeignFormat, ImportResult, Severity, detect_format, import_policy
from exewhitelist.policy import Action, Mode
from exewhitelist.rules import AuthenticodeRule, FileHashRule, PathRule


def _import(
    tmp_path: Path, text: str, name: str = "p.xml", encoding: str = "utf-8"
) -> ImportResult:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return import_policy(path)


def _reasons(result: ImportResult) -> str:
    return "\n".join(str(f) for f in result.findings)


# --- AppLocker ---------------------------------------------------------------


def test_applocker_hash_and_path_rules(tmp_path: Path) -> None:
    text = applocker(
        {
            "Exe": [
                applocker_rule(
                    "FileHashRule",
                    hash_condition(H1),
                    name="BAD.exe",
                    action="Deny",
                    rule_id="5e3ec135-b5af-4961-ae4d-cde98710afc9",
                ),
                applocker_rule(
                    "FileHashRule",
                    hash_condition(H2, "SHA256Flat"),
                    rule_id="5e3ec135-b5af-4961-ae4d-cde98710afca",
                ),
                applocker_rule(
                    "FilePathRule",
                    path_condition("%WINDIR%\\*"),
                    rule_id="a61c8b2c-a319-4cd0-9690-d2177cad7b51",
                ),
                applocker_rule(
                    "FilePathRule",
                    path_condition("%PROGRAMFILES%\\*"),
                    rule_id="a61c8b2c-a319-4cd0-9690-d2177cad7b52",
                ),
                applocker_rule(
                    "FilePathRule",
                    path_condition("%SYSTEM32%\\x.exe"),
                    rule_id="a61c8b2c-a319-4cd0-9690-d2177cad7b53",
                ),
                applocker_rule(
                    "FilePathRule",
                    path_condition("%OSDRIVE%\\Tools\\*"),
                    rule_id="a61c8b2c-a319-4cd0-9690-d2177cad7b54",
                ),
            ]
        },
        {"Exe": "AuditOnly"},
    )
    result = _import(tmp_path, text, "al.xml", "utf-16")  # as exported: UTF-16 with BOM
    assert result.format is ForeignFormat.APPLOCKER
    assert result.findings == ()
    policy = result.policy
    assert policy is not None and policy.mode is Mode.AUDIT and policy.name == "al"
    by_kind = {(type(r), r.value) for r in policy.rules}
    assert (AuthenticodeRule, H1.lower()) in by_kind
    assert (FileHashRule, H2.lower()) in by_kind
    assert {r.value for r in policy.rules if isinstance(r, PathRule)} == {
        "%WINDIR%\\*",
        "%PROGRAMFILES%\\*",
        "%SYSTEM32%\\x.exe",
        "%OSDRIVE%\\Tools\\*",
    }
    deny = next(r for r in policy.rules if r.action is Action.DENY)
    assert deny.id == "5e3ec135-b5af-4961-ae4d-cde98710afc9" and deny.name == "BAD.exe"


@pytest.mark.parametrize(
    ("mode", "expected"), [("Enabled", Mode.ENFORCE), ("NotConfigured", Mode.ENFORCE)]
)
def test_applocker_enforcement_modes(tmp_path: Path, mode: str, expected: Mode) -> None:
    rule = applocker_rule("FilePathRule", path_condition("%WINDIR%\\*"))
    result = _import(tmp_path, applocker({"Exe": [rule]}, {"Exe": mode}))
    assert result.policy is not None and result.policy.mode is expected


def test_applocker_findings(tmp_path: Path) -> None:
    exe = [
        applocker_rule(
            "FilePathRule",
            path_condition("%WINDIR%\\*"),
            rule_id="1" * 8 + "-0000-0000-0000-000000000001",
        ),
        applocker_rule("FilePublisherRule", PUBLISHER_CONDITION, name="bginfo", action="Deny"),
        applocker_rule(
            "FilePathRule",
            path_condition("%PROGRAMFILES%\\*"),
            name="pf",
            exceptions=path_condition("%PROGRAMFILES%\\ie\\iexplore.exe"),
        ),
        applocker_rule(
            "FilePathRule",
            path_condition("%OSDRIVE%\\Temp\\*"),
            name="temp",
            action="Deny",
            exceptions=path_condition("%OSDRIVE%\\Temp\\ok.exe"),
            rule_id="1" * 8 + "-0000-0000-0000-000000000002",
        ),
        applocker_rule("FilePathRule", path_condition("*"), name="admins", sid="S-1-5-32-544"),
        applocker_rule(
            "FilePathRule",
            path_condition("%OSDRIVE%\\Games\\*"),
            name="guests",
            sid="S-1-5-32-546",
            action="Deny",
            rule_id="1" * 8 + "-0000-0000-0000-000000000003",
        ),
        applocker_rule("FilePathRule", path_condition("%REMOVABLE%\\*"), name="usb"),
        applocker_rule("FilePathRule", path_condition("%HOT%\\*"), name="hot"),
        applocker_rule("FileHashRule", hash_condition(SHA1, "SHA1"), name="sha1"),
    ]
    text = applocker(
        {
            "Exe": exe,
            "Dll": [applocker_rule("FilePathRule", path_condition("%WINDIR%\\*"), name="dll")],
            "Script": [applocker_rule("FilePathRule", path_condition("%WINDIR%\\*"), name="s")],
            "Msi": [applocker_rule("FilePathRule", path_condition("%WINDIR%\\*"), name="m")],
            "Appx": [applocker_rule("FilePublisherRule", PUBLISHER_CONDITION, name="a")],
        }
    )
    result = _import(tmp_path, text)
    assert result.errors == ()
    reasons = _reasons(result)
    for needle in (
        "pin a certificate by its TBS hash",
        "S-1-5-32-544 only, not Everyone",
        "S-1-5-32-546 only: kept as a deny",
        "%REMOVABLE% and %HOT%",
        "SHA1 hash",
        "Dll collection: image loads",
        "Script collection",
        "Msi collection",
        "Appx collection",
    ):
        assert needle in reasons, needle
    assert all(f.position.startswith("line ") for f in result.findings)
    assert reasons.count("%REMOVABLE% and %HOT%") == 2
    policy = result.policy
    assert policy is not None
    assert sorted((r.value, r.action.value, len(r.exceptions)) for r in policy.rules) == [
        ("%OSDRIVE%\\Games\\*", "deny", 0),
        ("%OSDRIVE%\\Temp\\*", "deny", 1),
        ("%PROGRAMFILES%\\*", "allow", 1),
        ("%WINDIR%\\*", "allow", 0),
    ]


def test_applocker_empty_exe_collection_is_reported(tmp_path: Path) -> None:
    result = _import(tmp_path, applocker({"Exe": []}))
    assert result.policy is not None and result.policy.rules == ()
    assert "denies every program" in _reasons(result)


def test_applocker_allow_and_deny_of_one_hash_keeps_the_deny(tmp_path: Path) -> None:
    text = applocker(
        {
            "Exe": [
                applocker_rule(
                    "FileHashRule",
                    hash_condition(H1),
                    rule_id="00000000-0000-0000-0000-00000000000a",
                ),
                applocker_rule(
                    "FileHashRule",
                    hash_condition(H1),
                    action="Deny",
                    rule_id="00000000-0000-0000-0000-00000000000b",
                ),
            ]
        }
    )
    result = _import(tmp_path, text)
    assert result.policy is not None
    assert [r.action for r in result.policy.rules] == [Action.DENY]
    assert "deny wins" in _reasons(result)


@pytest.mark.parametrize(
    ("condition", "needle"),
    [
        (hash_condition("XYZ"), "Data must be 0x and 64 hex digits"),
        (hash_condition(H1[:-2]), "Data must be 0x and 64 hex digits"),
        (hash_condition(H1, "MD5"), "unknown hash Type"),
    ],
)
def test_applocker_invalid_hashes_are_errors(tmp_path: Path, condition: str, needle: str) -> None:
    result = _import(tmp_path, applocker({"Exe": [applocker_rule("FileHashRule", condition)]}))
    assert result.policy is None
    assert [needle in f.reason for f in result.errors] == [True]


# --- WDAC ----------------------------------------------------------------------


def _wdac_rules() -> list[str]:
    return [
        f'<Allow ID="ID_ALLOW_E_1_SHA256" FriendlyName="contoso-tool.exe Hash Sha256" '
        f'Hash="{H2}" />',
        f'<Allow ID="ID_ALLOW_E_1_SHA1" FriendlyName="contoso-tool.exe Hash Sha1" Hash="{SHA1}" />',
        f'<Allow ID="ID_ALLOW_E_1_PAGE" FriendlyName="contoso-tool.exe Hash Page Sha256" '
        f'Hash="{H3}" />',
        '<Allow ID="ID_ALLOW_C_1" FilePath="%OSDRIVE%\\Program Files\\Contoso\\App\\*" />',
        '<Allow ID="ID_ALLOW_C_2" FriendlyName="C:\\Tools\\* FileRule" FilePath="C:\\Tools\\*" '
        'MinimumFileVersion="0.0.0.0" />',
        f'<Deny ID="ID_DENY_BAD_SHA256" FriendlyName="bad.exe Hash Sha256" Hash="{H1}" />',
        '<Deny ID="ID_DENY_TEMP" FilePath="%OSDRIVE%\\Temp\\*" />',
        f'<Deny ID="ID_DENY_BANDAI_SHA256" FriendlyName="bandai.sys Hash Sha256" '
        f'Hash="{H3.replace("7", "8")}" />',
        '<FileAttrib ID="ID_FILEATTRIB_A_0" FileName="contoso-tool.exe" '
        'MinimumFileVersion="3.4.1.0" />',
        '<Allow ID="ID_ALLOW_UNUSED" FilePath="C:\\Unused\\*" />',
        '<Allow ID="ID_ALLOW_NAME" FileName="tool.exe" />',
    ]


def test_wdac_mapping(tmp_path: Path) -> None:
    signer = (
        '<Signers><Signer Name="Contoso" ID="ID_SIGNER_A_0"><CertRoot Type="TBS" '
        'Value="0F9680DBEA31C65F6025EDCA4383CCFE0EA017FDB61D8DED46AE87AA39571FFF" />'
        '<CertPublisher Value="CN=Contoso Corporation" />'
        '<FileAttribRef RuleID="ID_FILEATTRIB_A_0" /></Signer></Signers>'
    )
    text = wdac(
        _wdac_rules(),
        [
            "ID_ALLOW_E_1_SHA256",
            "ID_ALLOW_E_1_SHA1",
            "ID_ALLOW_E_1_PAGE",
            "ID_ALLOW_C_1",
            "ID_ALLOW_C_2",
            "ID_DENY_BAD_SHA256",
            "ID_DENY_TEMP",
            "ID_ALLOW_NAME",
        ],
        kernel_refs=("ID_DENY_BANDAI_SHA256",),
        options=(
            "Enabled:Unsigned System Integrity Policy",
            "Enabled:UMCI",
            "Enabled:Audit Mode",
            "Required:WHQL",
        ),
        extra=signer,
        user_extra='<AllowedSigners><AllowedSigner SignerId="ID_SIGNER_A_0" /></AllowedSigners>',
    )
    result = _import(tmp_path, text, "w.xml")
    assert result.format is ForeignFormat.WDAC and result.errors == ()
    policy = result.policy
    assert policy is not None
    assert (policy.name, policy.version, policy.mode) == ("Contoso", 7, Mode.AUDIT)
    got = sorted((r.id, r.kind.value, r.action.value, r.value) for r in policy.rules)
    assert got == [
        ("ID_ALLOW_C_1", "path", "allow", "%OSDRIVE%\\Program Files\\Contoso\\App\\*"),
        ("ID_ALLOW_C_2", "path", "allow", "C:\\Tools\\*"),
        ("ID_ALLOW_E_1_SHA256", "authenticode_sha256", "allow", H2.lower()),
        ("ID_DENY_BAD_SHA256", "authenticode_sha256", "deny", H1.lower()),
        ("ID_DENY_TEMP", "path", "deny", "%OSDRIVE%\\Temp\\*"),
        (
            "ID_SIGNER_A_0",
            "publisher",
            "allow",
            '{"certificate":"sha256:0f9680dbea31c65f6025edca4383ccfe0ea017fdb61d8ded46ae87aa39571fff"'
            ',"pin":"issuer","common_name":"CN=Contoso Corporation",'
            '"original_filename":"contoso-tool.exe","min_version":"3.4.1.0"}',
        ),
    ]
    reasons = _reasons(result)
    for needle in (
        "SHA-1 Authenticode hash",
        "page hash",
        "kernel-mode (signing scenario 131",
        "referenced by no signing scenario",
        "Required:WHQL",
        "file name rule without a signer",
    ):
        assert needle in reasons, needle
    lines = [int(f.position[5:]) for f in result.findings if f.position.startswith("line ")]
    assert lines == sorted(lines)


def test_wdac_allow_all_idiom_is_a_path_rule(tmp_path: Path) -> None:
    text = wdac(
        ['<Allow ID="ID_ALLOW_A_1" FriendlyName="Allow Kernel Drivers" FileName="*" />'],
        ["ID_ALLOW_A_1"],
    )
    result = _import(tmp_path, text)
    assert result.policy is not None
    assert [(r.value, r.action) for r in result.policy.rules] == [("*", Action.ALLOW)]


def test_wdac_supplemental_and_no_umci(tmp_path: Path) -> None:
    rules = [f'<Allow ID="ID_ALLOW_A" Hash="{H1}" />', f'<Deny ID="ID_DENY_B" Hash="{H2}" />']
    text = wdac(
        rules,
        ["ID_ALLOW_A", "ID_DENY_B"],
        policy_type="Supplemental Policy",
        options=("Enabled:Unsigned System Integrity Policy",),
    )
    result = _import(tmp_path, text)
    reasons = _reasons(result)
    assert "supplemental policy only extends its base" in reasons
    assert "ignores deny rules in supplemental policies" in reasons
    assert "without Enabled:UMCI" in reasons
    assert result.policy is not None and [r.action for r in result.policy.rules] == [Action.ALLOW]


@pytest.mark.parametrize(
    ("rules", "refs", "needle"),
    [
        (['<Allow ID="ID_ALLOW_A" Hash="NOTHEX" />'], ["ID_ALLOW_A"], "not hexadecimal"),
        (['<Allow ID="ID_ALLOW_A" Hash="ABCD" />'], ["ID_ALLOW_A"], "neither SHA-1 nor SHA-256"),
        ([], ["ID_ALLOW_MISSING"], "refers to no file rule"),
    ],
)
def test_wdac_errors(tmp_path: Path, rules: list[str], refs: list[str], needle: str) -> None:
    result = _import(tmp_path, wdac(rules, refs))
    assert result.policy is None
    assert any(needle in f.reason and f.severity is Severity.ERROR for f in result.findings)


def test_wdac_appid_tagging_and_big_version(tmp_path: Path) -> None:
    result = _import(tmp_path, wdac([], [], policy_type="AppID Tagging Policy"))
    assert result.policy is None and "AppID tagging" in _reasons(result)
    result = _import(tmp_path, wdac([], [], version="10.0.0.0"))
    assert result.policy is not None and result.policy.version == 0
    assert "larger than a policy version" in _reasons(result)
    result = import_policy(tmp_path / "p.xml", version=9)
    assert result.policy is not None and result.policy.version == 9


# --- Santa --------------------------------------------------------------------


def test_santa_mapping(tmp_path: Path) -> None:
    rules = [
        {"policy": "ALLOWLIST", "rule_type": "BINARY", "identifier": H1.lower()},
        {
            "policy": "BLOCKLIST",
            "rule_type": "BINARY",
            "identifier": H2,
            "custom_msg": "blocked by policy",
        },
        {"policy": "SILENT_BLOCKLIST", "rule_type": "BINARY", "identifier": H3},
        {"policy": "ALLOWLIST_COMPILER", "rule_type": "BINARY", "identifier": "a" * 64},
        {"policy": "ALLOWLIST", "rule_type": "CERTIFICATE", "identifier": "b" * 64},
        {"policy": "ALLOWLIST", "rule_type": "TEAMID", "identifier": "EQHXZ8M8AV"},
        {
            "policy": "ALLOWLIST",
            "rule_type": "SIGNINGID",
            "identifier": "EQHXZ8M8AV:com.google.Chrome",
        },
        {"policy": "BLOCKLIST", "rule_type": "CDHASH", "identifier": "c" * 40},
        {"policy": "CEL", "rule_type": "BINARY", "identifier": "d" * 64},
    ]
    path = tmp_path / "santa.json"
    path.write_text(json.dumps({"rules": rules}, indent=2))
    assert detect_format(path) is ForeignFormat.SANTA
    result = import_policy(path)
    assert result.errors == ()
    policy = result.policy
    assert policy is not None and policy.name == "santa"
    got = sorted((r.value, r.action.value, r.comment) for r in policy.rules)
    assert got == sorted(
        [
            (H1.lower(), "allow", ""),
            (H2.lower(), "deny", "blocked by policy"),
            (H3.lower(), "deny", ""),
            ("a" * 64, "allow", ""),
        ]
    )
    assert all(isinstance(r, FileHashRule) for r in policy.rules)
    reasons = _reasons(result)
    for needle in (
        "its thumbprint",
        "TEAMID rule",
        "SIGNINGID rule",
        "CDHASH rule",
        "a CEL rule",
        "compiler rule",
        "not silently",
    ):
        assert needle in reasons, needle
    positions = {f.position for f in result.findings}
    assert {"rule 3", "rule 4", "rule 5", "rule 6", "rule 7", "rule 8", "rule 9"} <= positions


def test_santa_invalid_identifier(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"rules": [{"policy": "ALLOWLIST", "rule_type": "BINARY", "identifier": "zz"}]})
    )
    result = import_policy(path)
    assert result.policy is None and "not hexadecimal" in _reasons(result)


def test_applocker_remaining_rows(tmp_path: Path) -> None:
    two_hashes = (
        f'<FileHashCondition><FileHash Type="SHA256" Data="0x{H1}" />'
        f'<FileHash Type="SHA256" Data="0x{H2}" /></FileHashCondition>'
    )
    text = applocker(
        {
            "Exe": [
                applocker_rule(
                    "FileHashRule", two_hashes, rule_id="00000000-0000-0000-0000-0000000000aa"
                ),
                "<RuleCollectionExtensions><ThresholdExtensions><Services EnforcementMode="
                '"Enabled" /></ThresholdExtensions></RuleCollectionExtensions>',
            ],
            "ManagedInstaller": [applocker_rule("FilePathRule", path_condition("*"), name="mi")],
            "Bogus": [applocker_rule("FilePathRule", path_condition("*"), name="b")],
        }
    ).replace("</AppLockerPolicy>", "<PolicyExtensions /></AppLockerPolicy>")
    result = _import(tmp_path, text)
    assert result.policy is not None
    assert sorted(r.id for r in result.policy.rules) == [
        "00000000-0000-0000-0000-0000000000aa",
        "00000000-0000-0000-0000-0000000000aa:2",
    ]
    reasons = _reasons(result)
    for needle in (
        "extensions",
        "ManagedInstaller collection",
        "unknown collection type",
        "not in a known collection",
    ):
        assert needle in reasons, needle


def test_wdac_remaining_rows(tmp_path: Path) -> None:
    extra = (
        '<HvciOptions>2</HvciOptions><CiSigners><CiSigner SignerId="ID_SIGNER_S" /></CiSigners>'
        '<UpdatePolicySigners><UpdatePolicySigner SignerId="ID_SIGNER_S" /></UpdatePolicySigners>'
        '<Macros><Macro Id="Host" Value="regsvr32.exe" /></Macros>'
        '<Settings><Setting Provider="Other" Key="K" ValueName="V"><Value><Boolean>true'
        "</Boolean></Value></Setting></Settings>"
    )
    rules = [
        '<Allow ID="ID_ALLOW_V" FilePath="C:\\V\\*" MinimumFileVersion="1.0.0.0" />',
        '<Allow ID="ID_ALLOW_W" FilePath="Tools\\*" />',
        '<FileRule ID="ID_FILE_R" FileName="x.exe" Type="Match" />',
    ]
    text = wdac(rules, ["ID_ALLOW_V", "ID_ALLOW_W", "ID_FILE_R"], extra=extra)
    test_signers = (
        '<TestSigners><FileRulesRef><FileRuleRef RuleID="ID_ALLOW_T" /></FileRulesRef>'
        "</TestSigners></SigningScenario>"
    )
    text = text.replace(
        "</ProductSigners></SigningScenario>\n  </SigningScenarios>",
        "</ProductSigners>" + test_signers + "\n  </SigningScenarios>",
    )
    text = text.replace("<FileRules>", '<FileRules><Allow ID="ID_ALLOW_T" Hash="' + H1 + '" />')
    result = _import(tmp_path, text)
    reasons = _reasons(result)
    for needle in (
        "HVCI",
        "signed-policy and EKU signers",
        "host scoping",
        "a setting with no",
        "a path rule with MinimumFileVersion",
        "scenario setting with no",
        "test-signing and other non-product signers",
        "referenced by no signing scenario",
        "path 'Tools\\\\*'",
        "without a signer",
    ):
        assert needle in reasons, needle
    assert result.policy is not None and result.policy.rules == ()


def test_santa_remaining_rows(tmp_path: Path) -> None:
    rules = [
        {
            "policy": "ALLOWLIST",
            "rule_type": "BINARY",
            "identifier": H1,
            "custom_url": "https://x",
            "extra": 1,
        },
        {"policy": "REMOVE", "rule_type": "BINARY", "identifier": H2},
        {"policy": "MAYBE", "rule_type": "BINARY", "identifier": H2},
    ]
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"rules": rules, "version": 2}))
    result = import_policy(path)
    reasons = _reasons(result)
    for needle in (
        "custom_url",
        "unknown key 'extra'",
        "key 'version': unknown key",
        "a REMOVE rule",
        "unknown policy 'MAYBE'",
    ):
        assert needle in reasons, needle
    assert result.policy is None  # the unknown policy is an error
