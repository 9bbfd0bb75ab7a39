"""App Control for Business (WDAC) SiPolicy XML in and out.

In: ``Allow``/``Deny`` file rules referenced from the user-mode signing
scenario (``Value="12"``): a 32-byte ``Hash`` -> Authenticode SHA-256, a
``FilePath`` -> a path rule, ``FileName="*"`` alone (the allow-all idiom) ->
the path rule ``*``; its ``AllowedSigners``/``DeniedSigners`` -> publisher
rules (``CertRoot Type="TBS"`` -> the pinned certificate, ``CertPublisher``
-> the common name, each ``FileAttribRef`` -> a file attribute and version
bounds, ``ExceptDenyRule``/``ExceptAllowRule`` -> exceptions when they are
hash or path rules); ``Enabled:Audit Mode`` -> audit. A CertRoot TBS matches
any certificate of the chain, the signer's own included, so a signer becomes
the pin ``any`` (an allowed signer with a CertPublisher, WDAC's Publisher
levels: the pin ``issuer``, as ConfigCI means it). Findings: SHA-1 and page hashes,
Wellknown roots, EKU/issuer/OEM/signing-time conditions (an allow is left
out, a deny kept without them), file rules by name without a signer,
kernel-mode (131) rules, rules no scenario references, options without an
equivalent, supplemental and AppID tagging policies, signed-policy signers.

Out: an unsigned base policy in the multiple-policy format with the options
``ConvertFrom-CIPolicy`` needs (UMCI, unsigned policy), every rule referenced
from scenario 12, IDs derived from our rule ids (``ID_ALLOW_H_<DIGEST>`` for a
hash rule with its default id, ``ID_ALLOW_X_<hex of the id>`` otherwise;
``ID_SIGNER_<pin><named>_<hex of the id>`` for a publisher rule), so
reading our own export gives the ids back. Publisher rules become ``Signer``s
in ``AllowedSigners``/``DeniedSigners``, their hash and path exceptions
``ExceptDenyRule``/``ExceptAllowRule`` file rules referenced from nowhere
else.
"""

from __future__ import annotations

import os
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InteropError, PolicyError
from ..policy import MAX_POLICY_VERSION, Mode, Policy, canonical_order
from ..rules import (
    MAX_ID_BYTES,
    TBS_ALGORITHMS,
    Action,
    AuthenticodeRule,
    CertificateId,
    Condition,
    FileAttribute,
    FileVersion,
    HashCondition,
    HashRule,
    PathCondition,
    PathRule,
    Pin,
    Publisher,
    PublisherRule,
    Rule,
    RuleKind,
    default_id,
    id_problem,
    pattern_problem,
)
from .build import RuleCollector, policy_name
from .report import ExportResult, Finding, ForeignFormat, ImportResult, Severity
from .xmlstream import iter_xml
from .xmlwrite import attr, xml_unsafe

__all__ = [
    "AUDIT_OPTION",
    "MAX_DENIED_SIGNERS",
    "PLATFORM_ID",
    "POLICY_ID_NAMESPACE",
    "REQUIRED_OPTIONS",
    "SIPOLICY_NAMESPACE",
    "export_wdac",
    "import_wdac",
    "policy_guid",
    "rule_xml_id",
    "signer_xml_id",
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
    alias_of: str | None = None
    """For a SHA-1 or page hash: ConfigCI's name of the file (``tool.exe`` of ``tool.exe
    Hash Sha1``), whose SHA-256 rule is the same file's."""


_USER, _KERNEL = 1, 2
_SCENARIO_BITS = {"12": _USER, "131": _KERNEL}
"""The signing scenarios (user mode, kernel mode) as bits of :attr:`_Entry.scenarios`."""


class _Entry:
    """A file rule read, where, and the scenarios that reference it (bits)."""

    __slots__ = ("line", "mapped", "scenarios")

    def __init__(self, line: int, mapped: Rule | _Unmapped, scenarios: int) -> None:
        self.line = line
        self.mapped = mapped
        self.scenarios = scenarios


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
    file_rules: dict[str, _Entry] = {}
    early_refs: dict[str, int] = {}
    """Scenario bits of references to file rules not defined yet (xs:all: any order)."""
    attribs: dict[str, tuple[int, dict[str, str]]] = {}
    signers: dict[str, _SignerDef] = {}
    signer_refs: list[_SignerRef] = []
    scenarios = _SCENARIO_BITS
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
        if element is None:
            if depth == 1 and item.tag not in _KNOWN_SECTIONS:
                out.report(where, item.tag, "unknown element: left out")
            elif item.tag == "SigningScenario":
                scenario = item.attrib.get("Value", "")
                if scenario not in scenarios:
                    out.report(
                        where,
                        _describe(item.tag, item.attrib),
                        "unknown signing scenario",
                        Severity.ERROR,
                    )
            elif item.path[-1:] == ("SigningScenario",) and item.tag in (
                "TestSigners",
                "TestSigningSigners",
                "ArtifactSigners",
                "AppIDTags",
            ):
                out.report(
                    where,
                    _describe(item.tag, item.attrib),
                    "scenario setting with no exewhitelist equivalent",
                )
            continue
        tag = item.tag
        text = (element.text or "").strip()
        if tag in _FILE_RULES and item.path[-1:] == ("FileRules",):
            xml_id = item.attrib.get("ID", "")
            if xml_id in file_rules:
                out.report(
                    where,
                    _describe(item.tag, item.attrib),
                    "a second file rule with this ID",
                    Severity.ERROR,
                )
            supplemental = policy_type == "Supplemental Policy"
            file_rules[xml_id] = _Entry(
                item.line,
                _file_rule(tag, item.attrib, supplemental),
                early_refs.pop(xml_id, 0) if early_refs else 0,
            )
            if tag == "FileAttrib":
                attribs[xml_id] = (item.line, dict(item.attrib))
        elif tag == "FileRuleRef":
            rule_id = item.attrib.get("RuleID", "")
            if "ProductSigners" not in item.path:
                out.report(
                    where,
                    _describe(item.tag, item.attrib),
                    "test-signing and other non-product signers have no exewhitelist equivalent",
                )
                continue
            bit = scenarios.get(scenario or "", 0)
            entry = file_rules.get(rule_id)
            if entry is not None:
                entry.scenarios |= bit  # no set of 100,000 referenced IDs: a bit on the rule
            else:
                ref_lines.setdefault(rule_id, item.line)  # defined later (xs:all), or never
                early_refs[rule_id] = early_refs.get(rule_id, 0) | bit
        elif tag == "Signer":
            signer_id = item.attrib.get("ID", "")
            if signer_id in signers:
                out.report(
                    where,
                    _describe(item.tag, item.attrib),
                    "a second Signer with this ID",
                    Severity.ERROR,
                )
            signers[signer_id] = _signer_def(element, item.line)
        elif tag in ("AllowedSigner", "DeniedSigner"):
            allowed = tag == "AllowedSigner"
            except_tag, except_key = (
                ("ExceptDenyRule", "DenyRuleID") if allowed else ("ExceptAllowRule", "AllowRuleID")
            )
            signer_refs.append(
                _SignerRef(
                    item.line,
                    scenario,
                    Action.ALLOW if allowed else Action.DENY,
                    item.attrib.get("SignerId", ""),
                    tuple(c.attrib.get(except_key, "") for c in element if c.tag == except_tag),
                    "ProductSigners" in item.path,
                )
            )
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
            out.report(
                where, _describe(item.tag, item.attrib), "a setting with no exewhitelist equivalent"
            )
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
            out.report(
                where,
                _describe(item.tag, item.attrib),
                "signed-policy and EKU signers are not representable",
            )
        else:
            out.report(
                where,
                _describe(item.tag, item.attrib),
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
    used = _import_signers(out, signers, signer_refs, file_rules, attribs, supplemental)
    joined = _program_files_pairs(file_rules)
    for xml_id in list(file_rules):
        entry = file_rules.pop(xml_id)  # freed as the policy's rules are collected
        where, mapped = f"line {entry.line}", entry.mapped
        if xml_id in joined:
            joined_rule = joined[xml_id]
            if joined_rule is not None:
                out.add(joined_rule, where)
            continue
        if entry.scenarios & _USER:
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
        if xml_id in used:
            continue  # a signer's file attribute, or an exception
        if entry.scenarios & _KERNEL:
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
    file_rules.clear()
    if out.rule_count == 0:
        out.report("policy", "FileRules", "no rule carried over: the policy denies every program")
    final_name = policy_name(name or found_name, Path(path).stem)
    policy = out.finish(final_name, version if version is not None else (found_version or 0), mode)
    if any(f.severity is Severity.ERROR for f in out.findings):
        policy = None
    return ImportResult(ForeignFormat.WDAC, policy, tuple(out.findings))


_PF_ID = re.compile(r"(ID_(?:ALLOW|DENY)_X_(?:[0-9A-F]{2})+)_PF([12])")
_PF_PREFIXES = ("%OSDRIVE%\\Program Files", "%OSDRIVE%\\Program Files (x86)")


def _program_files_pairs(file_rules: dict[str, _Entry]) -> dict[str, Rule | None]:
    """Our export's two rules for one ``%PROGRAMFILES%`` rule, joined again.

    Maps the first rule's WDAC ID to the joined rule and the second's to None;
    rules that do not pair up exactly are not in the result.
    """
    halves: dict[str, dict[int, tuple[str, PathRule, str]]] = {}
    for xml_id, entry in file_rules.items():
        rule = entry.mapped
        if not isinstance(rule, PathRule) or not entry.scenarios & _USER:
            continue
        m = _PF_ID.fullmatch(xml_id)
        if m is None:
            continue
        number = int(m.group(2))
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
    xml_id = attrs.get("ID", "")
    if tag not in ("Allow", "Deny"):
        return _Unmapped(
            _describe(tag, attrs),
            "a FileAttrib or FileRule in a scenario's FileRulesRef, without a signer: "
            "exewhitelist's file attributes belong to publisher rules (a signer's "
            "FileAttribRef)",
        )
    action = Action.ALLOW if tag == "Allow" else Action.DENY
    if supplemental and action is Action.DENY:
        return _Unmapped(
            _describe(tag, attrs), "WDAC ignores deny rules in supplemental policies: left out"
        )
    friendly = attrs.get("FriendlyName", "")
    if "Hash" in attrs:
        value = attrs["Hash"]
        if not _HEX.fullmatch(value) or len(value) % 2:
            return _Unmapped(
                _describe(tag, attrs), f"Hash is not hexadecimal: {value[:80]!r}", Severity.ERROR
            )
        size = len(value) // 2
        if "page" in friendly.lower():
            return _Unmapped(
                _describe(tag, attrs),
                "a page hash (of the first page): exewhitelist "
                "matches the whole image's Authenticode SHA-256",
                alias_of=_hash_stem(friendly) or None,
            )
        if size == 20:
            return _Unmapped(
                _describe(tag, attrs),
                "a SHA-1 Authenticode hash: exewhitelist matches "
                "SHA-256 only (the same file's SHA-256 rule, when present, is imported)",
                alias_of=_hash_stem(friendly) or None,
            )
        if size != 32:
            return _Unmapped(
                _describe(tag, attrs),
                f"a {size}-byte Hash is neither SHA-1 nor SHA-256",
                Severity.ERROR,
            )
        digest = value.lower()  # other attributes, if any: the hash decides, in WDAC too
        explicit = _ids(xml_id, digest)
        if explicit == default_id(RuleKind.AUTHENTICODE_SHA256, digest):
            explicit = None
        # Checked as the constructor would: the digest (64 hex digits, lowercased), the id
        # (_ids), the name (XML text: no lone surrogates). 100,000 rules skip the checks.
        return AuthenticodeRule.trusted(explicit, action, digest, friendly)
    if "FilePath" in attrs or set(attrs) - {"ID", "FriendlyName"} == {"FileName"}:
        if "FilePath" in attrs:
            pattern = attrs["FilePath"]
            extra = sorted(set(attrs) - _PATH_OK)
            if attrs.get("MinimumFileVersion", "0.0.0.0") != "0.0.0.0":  # noqa: S104 - a version
                extra.append("MinimumFileVersion")
            if extra:
                return _Unmapped(
                    _describe(tag, attrs),
                    f"a path rule with {', '.join(extra)}: not representable",
                )
        elif attrs["FileName"] == "*":
            pattern = "*"
        else:
            return _Unmapped(
                _describe(tag, attrs),
                "a file name rule without a signer: exewhitelist's publisher rules always pin a "
                "certificate: not representable",
            )
        problem = pattern_problem(pattern)
        if problem is not None:
            return _Unmapped(_describe(tag, attrs), f"path {pattern!r}: {problem}")
        rule_id = _ids(xml_id, None) or "wdac-rule"
        return PathRule(action=action, value=pattern, explicit_id=rule_id, name=friendly)
    return _Unmapped(
        _describe(tag, attrs),
        "a file rule by file name, version or package without a signer: exewhitelist's "
        "publisher rules always pin a certificate: not representable",
    )


# --- signers (publisher rules) --------------------------------------------------------

_OUR_SIGNER_ID = re.compile(r"ID_SIGNER_([ILA])([NU])_((?:[0-9A-F]{2})+)")
"""Our export's Signer IDs: the pin (Issuer/Leaf/Any), whether the rule has a name (Named/
Unnamed: then ``Name`` is the id), and the rule id's UTF-8 in hex."""
_OUR_EXCEPTION_ID = re.compile(
    r"ID_(?:ALLOW|DENY)_E(?:H_([0-9A-F]{64})|P_((?:[0-9A-F]{2})+)(?:_PF[12])?)"
)
"""Our export's file rules for exceptions: a hash (``EH``) or a path pattern (``EP``, its
UTF-8 in hex; ``_PF1``/``_PF2`` for the two halves of a ``%PROGRAMFILES%`` pattern)."""
_TBS_BY_SIZE = {size: algorithm for algorithm, size in TBS_ALGORITHMS.items()}
_ATTRIBUTES = {
    "FileName": FileAttribute.ORIGINAL_FILENAME,
    "InternalName": FileAttribute.INTERNAL_NAME,
    "FileDescription": FileAttribute.FILE_DESCRIPTION,
    "ProductName": FileAttribute.PRODUCT_NAME,
}
_XML_ATTRIBUTES = {attribute: name for name, attribute in _ATTRIBUTES.items()}
MAX_DENIED_SIGNERS = 255
"""ConfigCI refuses more DeniedSigners than this (interop notes §1.1)."""


@dataclass
class _SignerDef:
    """A ``Signer``: what a publisher condition can hold of it, and what it cannot."""

    line: int
    name: str
    certificate: CertificateId | None = None
    common_name: str | None = None
    attribs: list[str] = field(default_factory=list)
    """FileAttribRef RuleIDs."""
    fatal: str | None = None
    """Why no rule can stand for it (a Wellknown root, a TBS hash of an unknown size)."""
    extra: list[str] = field(default_factory=list)
    """Conditions a publisher rule cannot hold (EKU, issuer, OEM ID, signing time): without
    them a deny only denies more; an allow would allow more."""


@dataclass(frozen=True, slots=True)
class _SignerRef:
    """An ``AllowedSigner`` or ``DeniedSigner`` of a signing scenario."""

    line: int
    scenario: str | None
    action: Action
    signer_id: str
    exceptions: tuple[str, ...]
    product: bool
    """Under ``ProductSigners`` (test signers are not enforced policy)."""


def _signer_def(element: ET.Element, line: int) -> _SignerDef:
    attrib = element.attrib
    signer = _SignerDef(line, attrib.get("Name", ""))
    if "SignTimeAfter" in attrib:
        signer.extra.append(f"SignTimeAfter {attrib['SignTimeAfter']!r}")
    roots = [child for child in element if child.tag == "CertRoot"]
    if len(roots) != 1:
        signer.fatal = "a Signer needs exactly one CertRoot"
    else:
        root = roots[0].attrib
        kind, value = root.get("Type", ""), root.get("Value", "")
        size = len(value) // 2
        if kind == "Wellknown":
            signer.fatal = (
                f"a Wellknown root ({value!r}) is matched by Windows on the root's public "
                "key, which exewhitelist cannot pin (it pins TBS hashes)"
            )
        elif kind != "TBS":
            signer.fatal = f"unknown CertRoot Type {kind!r}"
        elif not _HEX.fullmatch(value) or len(value) % 2 or size not in _TBS_BY_SIZE:
            signer.fatal = (
                f"a CertRoot TBS hash of {size} bytes ({value[:40]!r}): exewhitelist pins "
                "SHA-1, SHA-256, SHA-384 and SHA-512 TBS hashes (20, 32, 48, 64 bytes)"
            )
        else:
            signer.certificate = CertificateId(_TBS_BY_SIZE[size], value.lower())
    for child in element:
        tag, value = child.tag, child.attrib.get("Value", child.attrib.get("ID", ""))
        if tag == "CertPublisher":
            signer.common_name = child.attrib.get("Value", "")
        elif tag == "FileAttribRef":
            signer.attribs.append(child.attrib.get("RuleID", ""))
        elif tag in ("CertEKU", "CertIssuer", "CertOemID"):
            signer.extra.append(f"{tag} {value[:80]!r}")
        elif tag != "CertRoot":
            signer.extra.append(f"unknown element {tag}")
    return signer


@dataclass(frozen=True, slots=True)
class _Attrib:
    """A ``FileAttrib`` as a publisher condition holds it."""

    attribute: FileAttribute | None
    value: str | None
    min_version: FileVersion | None
    max_version: FileVersion | None
    extra: tuple[str, ...]
    error: str | None = None


def _file_attrib(attrs: dict[str, str]) -> _Attrib:
    # FileName="*" with a version is WDAC's SignedVersion level: any file name.
    names = [
        (key, attrs[key])
        for key in _ATTRIBUTES
        if key in attrs and (key, attrs[key]) != ("FileName", "*")
    ]
    extra = [
        f"{key} {attrs[key][:80]!r}"
        for key in sorted(attrs)
        if key not in _ATTRIBUTES
        and key not in ("ID", "FriendlyName", "MinimumFileVersion", "MaximumFileVersion")
    ]
    extra += [f"{key} {value[:80]!r}" for key, value in names[1:]]
    versions: list[FileVersion | None] = []
    for key in ("MinimumFileVersion", "MaximumFileVersion"):
        try:
            versions.append(FileVersion.parse(attrs[key]) if key in attrs else None)
        except PolicyError as e:
            return _Attrib(None, None, None, None, (), f"{key}: {e.message}")
    attribute, value = (_ATTRIBUTES[names[0][0]], names[0][1]) if names else (None, None)
    return _Attrib(attribute, value, versions[0], versions[1], tuple(extra))


_PIN_LETTERS = {"I": Pin.ISSUER, "L": Pin.LEAF, "A": Pin.ANY}
"""The pin's letter in our export's Signer IDs."""


def _our_signer(signer_id: str, signer_name: str) -> tuple[str, Pin, str] | None:
    """(rule id, pin, rule name) when ``signer_id`` is our export's, else None."""
    m = _OUR_SIGNER_ID.fullmatch(signer_id)
    if m is None:
        return None
    try:
        rule_id = bytes.fromhex(m.group(3)).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if id_problem(rule_id) is not None:
        return None
    named = m.group(2) == "N"
    if not named and signer_name != rule_id:
        return None
    return rule_id, _PIN_LETTERS[m.group(1)], signer_name if named else ""


def _exception(xml_id: str, entry: _Entry | None) -> Condition | str:
    """The exception a referenced file rule stands for, or why there is none."""
    if entry is None:
        return "refers to no file rule"
    mapped = entry.mapped
    if isinstance(mapped, AuthenticodeRule):
        return HashCondition(RuleKind.AUTHENTICODE_SHA256, mapped.value)
    if isinstance(mapped, PathRule):
        pattern = mapped.value
        m = _OUR_EXCEPTION_ID.fullmatch(xml_id)
        if m is not None and m.group(2) is not None:
            try:
                ours = bytes.fromhex(m.group(2)).decode("utf-8")
            except UnicodeDecodeError:
                ours = ""
            if ours and pattern_problem(ours) is None and pattern in _wdac_paths(ours):
                pattern = ours  # as written: a %PROGRAMFILES% pair is one exception
        try:
            return PathCondition(pattern)
        except PolicyError as e:
            return f"path {pattern[:200]!r}: {e.message}"
    if isinstance(mapped, _Unmapped):
        return f"{mapped.description}: {mapped.reason}"
    return f"a {mapped.kind.value} rule"


def _import_signers(
    out: RuleCollector,
    signers: dict[str, _SignerDef],
    refs: Sequence[_SignerRef],
    file_rules: dict[str, _Entry],
    attribs: dict[str, tuple[int, dict[str, str]]],
    supplemental: bool,
) -> set[str]:
    """Publisher rules for the user-mode scenario's allowed and denied signers; returns the
    file rules they use (file attributes and exceptions), which are then not unreferenced."""
    used_rules: set[str] = set()
    used_signers: set[str] = set()
    for ref in refs:
        where = f"line {ref.line}"
        tag = "AllowedSigner" if ref.action is Action.ALLOW else "DeniedSigner"
        description = f"{tag} SignerId={ref.signer_id!r}"
        signer = signers.get(ref.signer_id)
        if signer is None:
            out.report(where, description, "refers to no Signer", Severity.ERROR)
            continue
        used_signers.add(ref.signer_id)
        used_rules.update(signer.attribs)
        used_rules.update(ref.exceptions)
        if not ref.product:
            out.report(
                where,
                description,
                "test-signing and other non-product signers have no exewhitelist equivalent",
            )
            continue
        if ref.scenario == "131":
            out.report(
                where,
                description,
                "kernel-mode (signing scenario 131, drivers): exewhitelist decides programs only",
            )
            continue
        if ref.scenario != "12":
            continue
        if supplemental and ref.action is Action.DENY:
            out.report(
                where, description, "WDAC ignores deny rules in supplemental policies: left out"
            )
            continue
        for rule in _signer_rules(out, where, description, ref, signer, file_rules, attribs):
            out.add(rule, where)
    for signer_id, signer in signers.items():
        if signer_id not in used_signers:
            out.report(
                f"line {signer.line}",
                f"Signer ID={signer_id!r} Name={signer.name[:120]!r}",
                "in no signing scenario's AllowedSigners or DeniedSigners (a policy-signing "
                "signer, or unused): no rule",
            )
    return used_rules


def _signer_rules(
    out: RuleCollector,
    where: str,
    description: str,
    ref: _SignerRef,
    signer: _SignerDef,
    file_rules: dict[str, _Entry],
    attribs: dict[str, tuple[int, dict[str, str]]],
) -> list[Rule]:
    """The publisher rules one allowed or denied signer becomes (none: reported why)."""
    allow = ref.action is Action.ALLOW
    if signer.fatal is not None or signer.certificate is None:
        out.report(where, description, f"{signer.fatal}: no rule")
        return []
    extra = list(signer.extra)
    conditions: list[_Attrib | None] = []
    for attrib_id in signer.attribs:
        attrib_entry = attribs.get(attrib_id)
        if attrib_entry is None:
            out.report(
                where,
                description,
                f"FileAttribRef {attrib_id!r} refers to no FileAttrib",
                Severity.ERROR,
            )
            return []
        parsed = _file_attrib(attrib_entry[1])
        if parsed.error is not None:
            out.report(
                where, description, f"FileAttrib {attrib_id!r}: {parsed.error}", Severity.ERROR
            )
            return []
        extra += [f"FileAttrib {attrib_id!r} {e}" for e in parsed.extra]
        conditions.append(parsed)
    exceptions: list[Condition] = []
    lost: list[str] = []
    stems: set[str] = set()
    aliases: list[tuple[str, str]] = []
    for rule_id in ref.exceptions:
        entry = file_rules.get(rule_id)
        if entry is None:
            out.report(
                where, description, f"exception {rule_id!r} refers to no file rule", Severity.ERROR
            )
            return []
        found = _exception(rule_id, entry)
        mapped = entry.mapped
        if isinstance(mapped, _Unmapped) and mapped.alias_of is not None:
            aliases.append((rule_id, mapped.alias_of))
        elif isinstance(found, str):
            lost.append(f"exception {rule_id!r} ({found})")
        elif all(found.exception_key() != e.exception_key() for e in exceptions):
            exceptions.append(found)
            if isinstance(mapped, AuthenticodeRule):
                stems.add(_hash_stem(mapped.name))
    for rule_id, stem in aliases:
        if stem in stems:  # ConfigCI writes SHA-1 and page hashes beside the SHA-256
            out.report(
                where,
                description,
                f"exception {rule_id!r}: a SHA-1 or page hash of the file whose SHA-256 "
                "exception is kept: left out",
            )
        else:
            lost.append(f"exception {rule_id!r} (a SHA-1 or page hash)")
    unrepresentable = extra + lost
    if unrepresentable:
        what = "; ".join(unrepresentable)
        if allow:
            out.report(
                where,
                description,
                f"not representable: {what}; without it the rule would allow more: left out",
            )
            return []
        out.report(
            where,
            description,
            f"not representable: {what}; kept as a deny without it (stricter than WDAC)",
        )
    ours = _our_signer(ref.signer_id, signer.name)
    if ours is not None:
        base_id, pin, name = ours
    else:
        base_id, name = ref.signer_id or "wdac-signer", signer.name
        # WDAC matches a CertRoot TBS anywhere in the chain, the signer's own certificate
        # included: the pin "any". An allow with a CertPublisher (the Publisher levels)
        # pins the issuer, as ConfigCI writes it (narrower only for a CA that signs code).
        pin = Pin.ISSUER if allow and signer.common_name else Pin.ANY
    rules: list[Rule] = []
    for number, condition in enumerate(conditions or [None]):
        rule_id = base_id
        if len(conditions) > 1 and number:
            rule_id += f":{signer.attribs[number]}"
        try:
            publisher = Publisher(
                certificate=signer.certificate,
                pin=pin,
                common_name=signer.common_name,
                attribute=condition.attribute if condition else None,
                attribute_value=condition.value if condition else None,
                min_version=condition.min_version if condition else None,
                max_version=condition.max_version if condition else None,
            )
            rules.append(
                PublisherRule.of(
                    _fit_id(rule_id), ref.action, publisher, exceptions=exceptions, name=name
                )
            )
        except PolicyError as e:
            out.report(where, description, f"not a publisher condition: {e.message}")
            return []
    return rules


def _hash_stem(friendly: str) -> str:
    """``tool.exe`` of ConfigCI's ``tool.exe Hash Sha256`` / ``Hash Page Sha1``."""
    return friendly.rpartition(" Hash ")[0] if " Hash " in friendly else ""


def _fit_id(text: str) -> str:
    """``text`` cut to an id's length (a foreign ID with suffixes may be longer)."""
    if id_problem(text) is None:
        return text
    cut = text.encode()[:MAX_ID_BYTES].decode("utf-8", "ignore")
    return cut if cut and id_problem(cut) is None else "wdac-signer"


def _file_rule_xml(rule: Rule, xml_id: str, value_attr: str) -> str:
    tag = "Allow" if rule.action is Action.ALLOW else "Deny"
    friendly = attr("FriendlyName", rule.name) if rule.name else ""
    return f"    <{tag}{attr('ID', xml_id)}{friendly}{value_attr} />"


def export_wdac(policy: Policy) -> ExportResult:
    """The policy as an unsigned base SiPolicy (UTF-8, deterministic)."""
    findings: list[Finding] = []
    file_rules: list[str] = []
    refs: list[str] = []
    signers = _SignerExport()
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
        elif isinstance(rule, PublisherRule):
            signers.add(rule, findings)
        else:
            if rule.exceptions:
                if rule.action is Action.ALLOW:
                    findings.append(
                        Finding(
                            where,
                            what,
                            "WDAC file rules have no exceptions (only signers do): "
                            "without them the rule would allow more: left out",
                        )
                    )
                    continue
                findings.append(
                    Finding(
                        where,
                        what,
                        "WDAC file rules have no exceptions (only signers do): "
                        "written without them (denies more)",
                    )
                )
            for n, pattern in enumerate(_wdac_paths(rule.value), 1):
                rule_id = xml_id if pattern == rule.value else f"{xml_id}_PF{n}"
                file_rules.append(_file_rule_xml(rule, rule_id, attr("FilePath", pattern)))
                refs.append(rule_id)
            findings += _path_findings(where, what, rule.value)
    if signers.denied_count > MAX_DENIED_SIGNERS:
        findings.append(
            Finding(
                "policy",
                "DeniedSigners",
                f"{signers.denied_count} denied signers: ConfigCI accepts at most "
                f"{MAX_DENIED_SIGNERS}",
            )
        )
    file_rules += signers.file_rules.values()
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
    product = bool(refs or signers.allowed or signers.denied)
    tail = [
        *(["  </FileRules>"] if file_rules else []),
        *(
            ["  <Signers>", *signers.signers, "  </Signers>"]
            if signers.signers
            else ["  <Signers />"]
        ),
        "  <SigningScenarios>",
        '    <SigningScenario Value="131" ID="ID_SIGNINGSCENARIO_DRIVERS_1" '
        'FriendlyName="Kernel mode">',
        "      <ProductSigners />",
        "    </SigningScenario>",
        '    <SigningScenario Value="12" ID="ID_SIGNINGSCENARIO_WINDOWS" FriendlyName="User mode">',
        "      <ProductSigners>" if product else "      <ProductSigners />",
        *(
            ["        <AllowedSigners>", *signers.allowed, "        </AllowedSigners>"]
            if signers.allowed
            else []
        ),
        *(
            ["        <DeniedSigners>", *signers.denied, "        </DeniedSigners>"]
            if signers.denied
            else []
        ),
        *(["        <FileRulesRef>"] if refs else []),
    ]
    end = [
        *(["        </FileRulesRef>"] if refs else []),
        *(["      </ProductSigners>"] if product else []),
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


def _path_findings(where: str, what: str, pattern: str) -> list[Finding]:
    findings = []
    if "%PROGRAMFILES%" in pattern.upper():
        findings.append(
            Finding(
                where,
                what,
                "WDAC has no %PROGRAMFILES%: written as two rules, Program Files and "
                "Program Files (x86) on %OSDRIVE%",
            )
        )
    body = pattern.lstrip("*")
    if "?" in pattern or "*" in body.rstrip("*"):
        findings.append(
            Finding(
                where,
                what,
                "a wildcard other than one leading or trailing *: WDAC needs Windows 11 for it",
            )
        )
    return findings


def signer_xml_id(rule: PublisherRule) -> str:
    """The WDAC ``Signer ID`` exported for a publisher rule: ``ID_SIGNER_`` + the pin
    (``I``ssuer, ``L``eaf, ``A``ny) + whether the rule has a name (``N``amed, ``U``nnamed: ``Name``
    is the id) + ``_`` + the id's UTF-8 in hex (schema pattern ``ID_SIGNER_[A-Z][_A-Z0-9]*``)."""
    pin = next(letter for letter, p in _PIN_LETTERS.items() if p is rule.condition.pin)
    named = "N" if rule.name else "U"
    return f"ID_SIGNER_{pin}{named}_{rule.id.encode().hex().upper()}"


@dataclass
class _SignerExport:
    """Publisher rules as ``Signer``s, their file attributes and exception file rules."""

    signers: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    file_rules: dict[str, str] = field(default_factory=dict)
    """FileAttribs and the exceptions' file rules, by ID (an exception shared by two rules
    is written once)."""
    denied_count: int = 0

    def add(self, rule: PublisherRule, findings: list[Finding]) -> None:
        where, what = f"rule {rule.id!r}", f"publisher {rule.value}"
        publisher = rule.condition
        allow = rule.action is Action.ALLOW
        texts = [publisher.common_name or "", publisher.attribute_value or ""]
        if any(xml_unsafe(text) for text in texts):
            findings.append(Finding(where, what, "characters XML cannot hold became U+FFFD"))
        if publisher.attribute_value == "*":
            # WDAC reads FileName="*" as any file: an allow would allow more.
            if allow:
                findings.append(
                    Finding(
                        where,
                        what,
                        'a file attribute "*" means any file in WDAC: the rule would allow '
                        "more: left out",
                    )
                )
                return
            findings.append(
                Finding(where, what, 'a file attribute "*" means any file in WDAC (denies more)')
            )
        exceptions: list[str] = []
        lost: list[str] = []
        prefix = "ID_DENY_" if allow else "ID_ALLOW_"
        tag = "Deny" if allow else "Allow"
        for condition in rule.exceptions:
            if (
                isinstance(condition, HashCondition)
                and condition.kind is RuleKind.AUTHENTICODE_SHA256
            ):
                xml_id = f"{prefix}EH_{condition.digest.upper()}"
                self.file_rules[xml_id] = (
                    f'    <{tag}{attr("ID", xml_id)} Hash="{condition.digest.upper()}" />'
                )
                exceptions.append(xml_id)
            elif isinstance(condition, PathCondition):
                pattern = condition.pattern
                base = f"{prefix}EP_{pattern.encode().hex().upper()}"
                paths = _wdac_paths(pattern)
                for n, written in enumerate(paths, 1):
                    xml_id = base if len(paths) == 1 else f"{base}_PF{n}"
                    self.file_rules[xml_id] = (
                        f"    <{tag}{attr('ID', xml_id)}{attr('FilePath', written)} />"
                    )
                    exceptions.append(xml_id)
                findings += _path_findings(where, f"exception path {pattern}", pattern)
            else:
                lost.append(f"{condition.kind.value} {condition.value}")
        if lost:
            why = (
                f"WDAC exceptions are file rules (Authenticode hashes and paths): {'; '.join(lost)}"
            )
            if allow:
                findings.append(
                    Finding(where, what, f"{why}: without them the rule would allow more: left out")
                )
                return
            findings.append(Finding(where, what, f"{why}: written without them (denies more)"))
        signer_id = signer_xml_id(rule)
        body = [f'      <CertRoot Type="TBS" Value="{publisher.certificate.tbs_hash.upper()}" />']
        if publisher.common_name is not None:
            body.append(f"      <CertPublisher{attr('Value', publisher.common_name)} />")
        if (
            publisher.attribute is not None
            or publisher.min_version is not None
            or publisher.max_version is not None
        ):
            attrib_id = f"ID_FILEATTRIB_X_{rule.id.encode().hex().upper()}"
            name = (
                attr(_XML_ATTRIBUTES[publisher.attribute], publisher.attribute_value or "")
                if publisher.attribute is not None
                else ' FileName="*"'
            )
            versions = "".join(
                f' {key}="{bound}"'
                for key, bound in (
                    ("MinimumFileVersion", publisher.min_version),
                    ("MaximumFileVersion", publisher.max_version),
                )
                if bound is not None
            )
            self.file_rules[attrib_id] = (
                f"    <FileAttrib{attr('ID', attrib_id)}{name}{versions} />"
            )
            body.append(f'      <FileAttribRef RuleID="{attrib_id}" />')
        self.signers += [
            f"    <Signer{attr('ID', signer_id)}{attr('Name', rule.name or rule.id)}>",
            *body,
            "    </Signer>",
        ]
        except_tag, except_key = (
            ("ExceptDenyRule", "DenyRuleID") if allow else ("ExceptAllowRule", "AllowRuleID")
        )
        outer = "AllowedSigner" if allow else "DeniedSigner"
        self.denied_count += not allow
        if exceptions:
            (self.allowed if allow else self.denied).extend(
                [
                    f'          <{outer} SignerId="{signer_id}">',
                    *(f'            <{except_tag} {except_key}="{x}" />' for x in exceptions),
                    f"          </{outer}>",
                ]
            )
        else:
            (self.allowed if allow else self.denied).append(
                f'          <{outer} SignerId="{signer_id}" />'
            )


def _text(value: str) -> str:
    return attr("x", value)[4:-1]


def _wdac_paths(pattern: str) -> list[str]:
    """WDAC's spelling of a pattern: %PROGRAMFILES% becomes both Program Files folders."""
    if pattern.upper().startswith("%PROGRAMFILES%"):
        rest = pattern[len("%PROGRAMFILES%") :]
        return [f"%OSDRIVE%\\Program Files{rest}", f"%OSDRIVE%\\Program Files (x86){rest}"]
    return [pattern]
