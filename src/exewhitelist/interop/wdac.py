"""App Control for Business (WDAC) SiPolicy XML in and out.

In: ``Allow``/``Deny`` file rules referenced from the user-mode signing
scenario (``Value="12"``): a 32-byte ``Hash`` -> Authenticode SHA-256, a
``FilePath`` -> a path rule, ``FileName="*"`` alone (the allow-all idiom) ->
the path rule ``*``; ``Enabled:Audit Mode`` -> audit. Findings: SHA-1 and
page hashes, signers and file attributes (issue 13), kernel-mode (131) rules,
rules no scenario references, options without an equivalent, supplemental
and AppID tagging policies, signed-policy signers.

Out: an unsigned base policy in the multiple-policy format with the options
``ConvertFrom-CIPolicy`` needs (UMCI, unsigned policy), every rule referenced
from scenario 12, IDs derived from our rule ids (``ID_ALLOW_H_<DIGEST>`` for a
hash rule with its default id, ``ID_ALLOW_X_<hex of the id>`` otherwise), so
reading our own export gives the ids back.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InteropError
from ..policy import MAX_POLICY_VERSION, Mode, Policy, canonical_order
from ..rules import Action, AuthenticodeRule, HashRule, PathRule, Rule, id_problem, pattern_problem
from .build import RuleCollector, policy_name
from .report import ExportResult, Finding, ForeignFormat, ImportResult, Severity
from .xmlstream import iter_xml
from .xmlwrite import attr, xml_unsafe

__all__ = [
    "AUDIT_OPTION",
    "PLATFORM_ID",
    "POLICY_ID_NAMESPACE",
    "REQUIRED_OPTIONS",
    "SIPOLICY_NAMESPACE",
    "export_wdac",
    "import_wdac",
    "policy_guid",
    "rule_xml_id",
]

SIPOLICY_NAMESPACE = "urn:schemas-microsoft-com:sipolicy"
PLATFORM_ID = "{2E07F7E4-194C-4D20-B7C9-6F44A6C5A234}"
POLICY_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:exewhitelist:wdac-policy")
AUDIT_OPTION = "Enabled:Audit Mode"
REQUIRED_OPTIONS = ("Enabled:Unsigned System Integrity Policy", "Enabled:UMCI")
"""Written always: an unsigned policy needs option 6 to compile; UMCI makes user mode checked."""

_NO_EFFECT_OPTIONS = {
    *REQUIRED_OPTIONS,
    AUDIT_OPTION,
    "Enabled:Advanced Boot Options Menu",
    "Enabled:Boot Audit On Failure",
    "Enabled:Update Policy No Reboot",
    "Enabled:Inherit Default Policy",
}
"""Options mapped (audit), or with no effect on which programs run."""

_FILE_RULES = ("Allow", "Deny", "FileAttrib", "FileRule")
_WHOLE = (
    *_FILE_RULES,
    "Rule",
    "Setting",
    "Signer",
    "EKU",
    "FileRuleRef",
    "AllowedSigner",
    "DeniedSigner",
    "VersionEx",
    "PolicyID",
    "BasePolicyID",
    "PolicyTypeID",
    "PlatformID",
    "HvciOptions",
    "CiSigner",
    "UpdatePolicySigner",
    "SupplementalPolicySigner",
    "Macros",
    "AppSettings",
    "ArtifactRules",
)
_KNOWN_SECTIONS = {
    "FileRules",
    "Rules",
    "Signers",
    "SigningScenarios",
    "Settings",
    "EKUs",
    "UpdatePolicySigners",
    "CiSigners",
    "SupplementalPolicySigners",
}
_HEX = re.compile(r"[0-9A-Fa-f]*")
_OUR_HASH_ID = re.compile(r"ID_(?:ALLOW|DENY)_H_([0-9A-F]{64})")
_OUR_ID = re.compile(r"ID_(?:ALLOW|DENY)_X_((?:[0-9A-F]{2})+)")
_VERSION = re.compile(r"(\d{1,5})\.(\d{1,5})\.(\d{1,5})\.(\d{1,5})")
_PATH_OK = {"ID", "FriendlyName", "FilePath", "MinimumFileVersion"}


def rule_xml_id(rule: Rule) -> str:
    """The WDAC ``ID`` exported for ``rule`` (schema pattern ``ID_ALLOW_[A-Z][_A-Z0-9]*``)."""
    prefix = "ID_ALLOW_" if rule.action is Action.ALLOW else "ID_DENY_"
    if isinstance(rule, HashRule) and rule.explicit_id is None:
        return f"{prefix}H_{rule.value.upper()}"
    return f"{prefix}X_{rule.id.encode().hex().upper()}"


def policy_guid(name: str) -> str:
    """The braced upper-case ``PolicyID`` exported for a policy of this name."""
    return "{" + str(uuid.uuid5(POLICY_ID_NAMESPACE, name)).upper() + "}"


@dataclass(frozen=True, slots=True)
class _Unmapped:
    """A file rule that cannot be carried over, and why (reported if a scenario uses it)."""

    description: str
    reason: str
    severity: Severity = Severity.UNMAPPED


def _describe(tag: str, attrib: dict[str, str]) -> str:
    parts = [tag]
    for key in ("ID", "FriendlyName", "Value", "Name"):
        if key in attrib:
            parts.append(f"{key}={attrib[key][:120]!r}")
    return " ".join(parts)


def import_wdac(
    path: str | os.PathLike[str], *, name: str | None = None, version: int | None = None
) -> ImportResult:
    """Read a SiPolicy XML file; :class:`InteropError` when it is not one at all."""
    out = RuleCollector()
    file_rules: dict[str, tuple[int, Rule | _Unmapped]] = {}
    scenarios: dict[str, set[str]] = {"12": set(), "131": set()}
    scenario: str | None = None
    ref_lines: dict[str, int] = {}
    mode = Mode.ENFORCE
    options: set[str] = set()
    policy_type = "Base Policy"
    found_name: str | None = None
    found_version: int | None = None
    root_seen = False
    for item in iter_xml(path, _WHOLE):
        where = f"line {item.line}"
        depth = len(item.path)
        element = item.element
        if not root_seen:
            if item.tag != "SiPolicy":
                raise InteropError(
                    f"{os.fspath(path)}: the root element is {item.tag}, not SiPolicy"
                )
            root_seen = True
            policy_type = item.attrib.get("PolicyType", policy_type)
            found_name = item.attrib.get("FriendlyName") or None
            continue
        description = _describe(item.tag, item.attrib)
        if element is None:
            if depth == 1 and item.tag not in _KNOWN_SECTIONS:
                out.report(where, item.tag, "unknown element: left out")
            elif item.tag == "SigningScenario":
                scenario = item.attrib.get("Value", "")
                if scenario not in scenarios:
                    out.report(where, description, "unknown signing scenario", Severity.ERROR)
            elif item.path[-1:] == ("SigningScenario",) and item.tag in (
                "TestSigners",
                "TestSigningSigners",
                "ArtifactSigners",
                "AppIDTags",
            ):
                out.report(where, description, "scenario setting with no exewhitelist equivalent")
            continue
        tag = item.tag
        text = (element.text or "").strip()
        if tag in _FILE_RULES and item.path[-1:] == ("FileRules",):
            xml_id = item.attrib.get("ID", "")
            if xml_id in file_rules:
                out.report(where, description, "a second file rule with this ID", Severity.ERROR)
            supplemental = policy_type == "Supplemental Policy"
            file_rules[xml_id] = (item.line, _file_rule(tag, item.attrib, supplemental))
        elif tag == "FileRuleRef":
            rule_id = item.attrib.get("RuleID", "")
            if "ProductSigners" not in item.path:
                out.report(
                    where,
                    description,
                    "test-signing and other non-product signers have no exewhitelist equivalent",
                )
                continue
            if rule_id not in file_rules:
                ref_lines.setdefault(rule_id, item.line)  # defined later (xs:all), or never
            if scenario in scenarios:
                scenarios[scenario].add(rule_id)
        elif tag in ("AllowedSigner", "DeniedSigner", "Signer"):
            out.report(where, description, "signer rules are not representable yet (issue 13)")
        elif tag == "Rule":
            option = "".join((child.text or "").strip() for child in element)
            options.add(option)
            if option == AUDIT_OPTION:
                mode = Mode.AUDIT
            elif option not in _NO_EFFECT_OPTIONS:
                out.report(
                    where,
                    f"Rule Option={option!r}",
                    "rule option with no exewhitelist equivalent: left out",
                )
        elif tag == "Setting":
            attrs = item.attrib
            if (attrs.get("Provider"), attrs.get("Key")) == ("PolicyInfo", "Information"):
                if attrs.get("ValueName") == "Name":
                    string = element.find(".//String")
                    found_name = (string.text if string is not None else None) or found_name
                continue
            out.report(where, description, "a setting with no exewhitelist equivalent")
        elif tag == "VersionEx":
            found_version = _version(text, where, out)
        elif tag in ("PolicyID", "BasePolicyID", "PolicyTypeID", "PlatformID"):
            continue
        elif tag == "HvciOptions":
            if text not in ("", "0"):
                out.report(
                    where,
                    f"HvciOptions {text!r}",
                    "HVCI is configured by Windows, not by exewhitelist",
                )
        elif tag in ("CiSigner", "UpdatePolicySigner", "SupplementalPolicySigner", "EKU"):
            out.report(where, description, "signed-policy and EKU signers are not representable")
        else:
            out.report(
                where,
                description,
                "no exewhitelist equivalent (host scoping, app settings, artifact rules): left out",
            )
    if not root_seen:
        raise InteropError(f"{os.fspath(path)}: no SiPolicy element")
    supplemental = policy_type == "Supplemental Policy"
    if policy_type == "AppID Tagging Policy":
        out.report(
            "line 1",
            "SiPolicy PolicyType='AppID Tagging Policy'",
            "an AppID tagging policy tags processes, it allows and denies nothing",
            Severity.ERROR,
        )
    elif supplemental:
        out.report(
            "line 1",
            "SiPolicy PolicyType='Supplemental Policy'",
            "a supplemental "
            "policy only extends its base: imported as a policy of its own; merge it "
            "with the base's import (exewhitelist policy merge)",
        )
    elif policy_type != "Base Policy":
        out.report(
            "line 1", f"SiPolicy PolicyType={policy_type!r}", "unknown policy type", Severity.ERROR
        )
    if "Enabled:UMCI" not in options:
        out.report(
            "policy",
            "Rules",
            "without Enabled:UMCI WDAC checks only kernel drivers; "
            "the imported rules apply to programs",
        )
    for rule_id, line in ref_lines.items():
        if rule_id not in file_rules:
            out.report(
                f"line {line}",
                f"FileRuleRef RuleID={rule_id!r}",
                "refers to no file rule",
                Severity.ERROR,
            )
    user, kernel = scenarios["12"], scenarios["131"]
    joined = _program_files_pairs(file_rules, user)
    for xml_id, (line, mapped) in file_rules.items():
        where = f"line {line}"
        if xml_id in joined:
            joined_rule = joined[xml_id]
            if joined_rule is not None:
                out.add(joined_rule, where)
            continue
        if xml_id in user:
            if isinstance(mapped, _Unmapped):
                out.report(where, mapped.description, mapped.reason, mapped.severity)
            else:
                out.add(mapped, where)
            continue
        description = (
            mapped.description
            if isinstance(mapped, _Unmapped)
            else f"{'Allow' if mapped.action is Action.ALLOW else 'Deny'} ID={xml_id!r}"
        )
        if xml_id in kernel:
            out.report(
                where,
                description,
                "kernel-mode (signing scenario 131, drivers): exewhitelist decides programs only",
            )
        else:
            out.report(
                where,
                description,
                "referenced by no signing scenario: has no effect in WDAC either",
            )
    out.findings.sort(key=_finding_line)
    file_rules.clear()  # before the policy is built: 100,000 entries are megabytes
    scenarios.clear()
    if out.rule_count == 0:
        out.report("policy", "FileRules", "no rule carried over: the policy denies every program")
    final_name = policy_name(name or found_name, Path(path).stem)
    policy = out.finish(final_name, version if version is not None else (found_version or 0), mode)
    if any(f.severity is Severity.ERROR for f in out.findings):
        policy = None
    return ImportResult(ForeignFormat.WDAC, policy, tuple(out.findings))


_PF_ID = re.compile(r"(ID_(?:ALLOW|DENY)_X_(?:[0-9A-F]{2})+)_PF([12])")
_PF_PREFIXES = ("%OSDRIVE%\\Program Files", "%OSDRIVE%\\Program Files (x86)")


def _program_files_pairs(
    file_rules: dict[str, tuple[int, Rule | _Unmapped]], user: set[str]
) -> dict[str, Rule | None]:
    """Our export's two rules for one ``%PROGRAMFILES%`` rule, joined again.

    Maps the first rule's WDAC ID to the joined rule and the second's to None;
    rules that do not pair up exactly are not in the result.
    """
    halves: dict[str, dict[int, tuple[str, PathRule, str]]] = {}
    for xml_id in user:
        m = _PF_ID.fullmatch(xml_id)
        entry = file_rules.get(xml_id)
        if m is None or entry is None or not isinstance(entry[1], PathRule):
            continue
        number = int(m.group(2))
        rule = entry[1]
        prefix = _PF_PREFIXES[number - 1]
        if rule.value.startswith(prefix):
            halves.setdefault(m.group(1), {})[number] = (xml_id, rule, rule.value[len(prefix) :])
    joined: dict[str, Rule | None] = {}
    for base, pair in halves.items():
        if set(pair) != {1, 2}:
            continue
        (id1, rule1, rest1), (id2, rule2, rest2) = pair[1], pair[2]
        rule_id = _ids(base, None)
        if rest1 != rest2 or rule1.action is not rule2.action or rule1.name != rule2.name:
            continue
        if rule_id is None or rule_id == base:
            continue
        joined[id1] = PathRule(
            action=rule1.action,
            value="%PROGRAMFILES%" + rest1,
            explicit_id=rule_id,
            name=rule1.name,
        )
        joined[id2] = None
    return joined


def _finding_line(finding: Finding) -> int:
    where = finding.position
    return int(where[5:]) if where.startswith("line ") and where[5:].isdigit() else 1 << 62


def _version(text: str, where: str, out: RuleCollector) -> int:
    m = _VERSION.fullmatch(text)
    if m is None or any(int(part) > 0xFFFF for part in m.groups()):
        out.report(
            where, f"VersionEx {text!r}", "not a version a.b.c.d (each 0..65535)", Severity.ERROR
        )
        return 0
    a, b, c, d = (int(part) for part in m.groups())
    value = (a << 48) | (b << 32) | (c << 16) | d
    if value > MAX_POLICY_VERSION:
        out.report(
            where,
            f"VersionEx {text!r}",
            "larger than a policy version can be "
            f"(0..{MAX_POLICY_VERSION}, written 0.0.c.d): version 0; give --version",
        )
        return 0
    return value


def _ids(xml_id: str, digest: str | None) -> str | None:
    """Our explicit id for a WDAC rule ID: None for our default-id export, else the id."""
    m = _OUR_HASH_ID.fullmatch(xml_id)
    if m is not None and digest is not None and m.group(1).lower() == digest:
        return None
    m = _OUR_ID.fullmatch(xml_id)
    if m is not None:
        try:
            decoded = bytes.fromhex(m.group(1)).decode("utf-8")
        except UnicodeDecodeError:
            decoded = ""
        if decoded and id_problem(decoded) is None:
            return decoded
    return xml_id if xml_id and id_problem(xml_id) is None else None


def _file_rule(tag: str, attrs: dict[str, str], supplemental: bool) -> Rule | _Unmapped:
    """The rule a WDAC file rule maps to, or why it does not."""
    description = _describe(tag, attrs)
    xml_id = attrs.get("ID", "")
    if tag not in ("Allow", "Deny"):
        return _Unmapped(
            description,
            "file attribute rules (FileAttrib, FileRule) are not representable yet (issue 13)",
        )
    action = Action.ALLOW if tag == "Allow" else Action.DENY
    if supplemental and action is Action.DENY:
        return _Unmapped(description, "WDAC ignores deny rules in supplemental policies: left out")
    friendly = attrs.get("FriendlyName", "")
    if "Hash" in attrs:
        value = attrs["Hash"]
        if not _HEX.fullmatch(value) or len(value) % 2:
            return _Unmapped(
                description, f"Hash is not hexadecimal: {value[:80]!r}", Severity.ERROR
            )
        size = len(value) // 2
        if "page" in friendly.lower():
            return _Unmapped(
                description,
                "a page hash (of the first page): exewhitelist "
                "matches the whole image's Authenticode SHA-256",
            )
        if size == 20:
            return _Unmapped(
                description,
                "a SHA-1 Authenticode hash: exewhitelist matches "
                "SHA-256 only (the same file's SHA-256 rule, when present, is imported)",
            )
        if size != 32:
            return _Unmapped(
                description,
                f"a {size}-byte Hash is neither SHA-1 nor SHA-256",
                Severity.ERROR,
            )
        digest = value.lower()  # other attributes, if any: the hash decides, in WDAC too
        return AuthenticodeRule(
            action=action, value=digest, explicit_id=_ids(xml_id, digest), name=friendly
        )
    if "FilePath" in attrs or set(attrs) - {"ID", "FriendlyName"} == {"FileName"}:
        if "FilePath" in attrs:
            pattern = attrs["FilePath"]
            extra = sorted(set(attrs) - _PATH_OK)
            if attrs.get("MinimumFileVersion", "0.0.0.0") != "0.0.0.0":  # noqa: S104 - a version
                extra.append("MinimumFileVersion")
            if extra:
                return _Unmapped(
                    description,
                    f"a path rule with {', '.join(extra)}: not representable yet (issue 13)",
                )
        elif attrs["FileName"] == "*":
            pattern = "*"
        else:
            return _Unmapped(description, "a file name rule is not representable yet (issue 13)")
        problem = pattern_problem(pattern)
        if problem is not None:
            return _Unmapped(description, f"path {pattern!r}: {problem}")
        rule_id = _ids(xml_id, None) or "wdac-rule"
        return PathRule(action=action, value=pattern, explicit_id=rule_id, name=friendly)
    return _Unmapped(
        description,
        "file attribute rules (FileName, versions, package) are not representable yet (issue 13)",
    )


def _file_rule_xml(rule: Rule, xml_id: str, value_attr: str) -> str:
    tag = "Allow" if rule.action is Action.ALLOW else "Deny"
    friendly = attr("FriendlyName", rule.name) if rule.name else ""
    return f"    <{tag}{attr('ID', xml_id)}{friendly}{value_attr} />"


def export_wdac(policy: Policy) -> ExportResult:
    """The policy as an unsigned base SiPolicy (UTF-8, deterministic)."""
    findings: list[Finding] = []
    file_rules: list[str] = []
    refs: list[str] = []
    for rule in canonical_order(policy.rules):
        where = f"rule {rule.id!r}"
        what = f"{rule.kind.value} {rule.value}"
        if rule.comment:
            findings.append(Finding(where, what, "WDAC file rules have no comment: left out"))
        if xml_unsafe(rule.name):
            findings.append(Finding(where, what, "characters XML cannot hold became U+FFFD"))
        xml_id = rule_xml_id(rule)
        if isinstance(rule, AuthenticodeRule):
            file_rules.append(_file_rule_xml(rule, xml_id, f' Hash="{rule.value.upper()}"'))
            refs.append(xml_id)
        elif isinstance(rule, HashRule):
            findings.append(
                Finding(
                    where,
                    what,
                    "WDAC has no flat-hash rule (it falls back to "
                    "the flat hash only for files it cannot Authenticode-hash): "
                    "left out",
                )
            )
        else:
            for n, pattern in enumerate(_wdac_paths(rule.value), 1):
                rule_id = xml_id if pattern == rule.value else f"{xml_id}_PF{n}"
                file_rules.append(_file_rule_xml(rule, rule_id, attr("FilePath", pattern)))
                refs.append(rule_id)
            if "%PROGRAMFILES%" in rule.value.upper():
                findings.append(
                    Finding(
                        where,
                        what,
                        "WDAC has no %PROGRAMFILES%: written as "
                        "two rules, Program Files and Program Files (x86) on "
                        "%OSDRIVE%",
                    )
                )
            body = rule.value.lstrip("*")
            if "?" in rule.value or "*" in body.rstrip("*"):
                findings.append(
                    Finding(
                        where,
                        what,
                        "a wildcard other than one leading or "
                        "trailing *: WDAC needs Windows 11 for it",
                    )
                )
    guid = policy_guid(policy.name)
    options = sorted(REQUIRED_OPTIONS + ((AUDIT_OPTION,) if policy.mode is Mode.AUDIT else ()))
    head = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<SiPolicy xmlns="{SIPOLICY_NAMESPACE}"{attr("FriendlyName", policy.name)} '
        'PolicyType="Base Policy">',
        f"  <VersionEx>0.0.{policy.version >> 16}.{policy.version & 0xFFFF}</VersionEx>",
        f"  <PlatformID>{PLATFORM_ID}</PlatformID>",
        f"  <PolicyID>{guid}</PolicyID>",
        f"  <BasePolicyID>{guid}</BasePolicyID>",
        "  <Rules>",
        *(f"    <Rule><Option>{option}</Option></Rule>" for option in options),
        "  </Rules>",
        "  <EKUs />",
        "  <FileRules>" if file_rules else "  <FileRules />",
    ]
    scenario_refs: Iterable[str] = (f'        <FileRuleRef RuleID="{ref}" />' for ref in refs)
    tail = [
        *(["  </FileRules>"] if file_rules else []),
        "  <Signers />",
        "  <SigningScenarios>",
        '    <SigningScenario Value="131" ID="ID_SIGNINGSCENARIO_DRIVERS_1" '
        'FriendlyName="Kernel mode">',
        "      <ProductSigners />",
        "    </SigningScenario>",
        '    <SigningScenario Value="12" ID="ID_SIGNINGSCENARIO_WINDOWS" FriendlyName="User mode">',
        "      <ProductSigners>" if refs else "      <ProductSigners />",
        *(["        <FileRulesRef>"] if refs else []),
    ]
    end = [
        *(["        </FileRulesRef>", "      </ProductSigners>"] if refs else []),
        "    </SigningScenario>",
        "  </SigningScenarios>",
        "  <UpdatePolicySigners />",
        "  <CiSigners />",
        "  <HvciOptions>0</HvciOptions>",
        "  <Settings>",
        '    <Setting Provider="PolicyInfo" Key="Information" ValueName="Name">',
        f"      <Value><String>{_text(policy.name)}</String></Value>",
        "    </Setting>",
        '    <Setting Provider="PolicyInfo" Key="Information" ValueName="Id">',
        f"      <Value><String>{guid.strip('{}')}</String></Value>",
        "    </Setting>",
        "  </Settings>",
        "</SiPolicy>",
        "",
    ]
    text = "\n".join([*head, *file_rules, *tail, *scenario_refs, *end])
    return ExportResult(ForeignFormat.WDAC, text.encode(), tuple(findings))


def _text(value: str) -> str:
    return attr("x", value)[4:-1]


def _wdac_paths(pattern: str) -> list[str]:
    """WDAC's spelling of a pattern: %PROGRAMFILES% becomes both Program Files folders."""
    if pattern.upper().startswith("%PROGRAMFILES%"):
        rest = pattern[len("%PROGRAMFILES%") :]
        return [f"%OSDRIVE%\\Program Files{rest}", f"%OSDRIVE%\\Program Files (x86){rest}"]
    return [pattern]
