"""AppLocker policy XML (``Get-AppLockerPolicy -Xml``, ``Set-AppLockerPolicy``) in and out.

In: the ``Exe`` collection's ``FileHashRule`` (``SHA256`` -> Authenticode
SHA-256, ``SHA256Flat`` -> file SHA-256) and ``FilePathRule`` (the variables
both products share map as they are), with a path rule's ``Exceptions``
(``FilePathCondition`` -> a path exception, each ``FileHash`` of a
``FileHashCondition`` -> a hash exception); everything else is a finding:
other collections, publisher rules (a publisher *name* trusted through the
root store, not a pinned certificate) and publisher exceptions, rules for a
user or group other than Everyone, SHA-1 hashes, ``%REMOVABLE%``/``%HOT%``
paths. A rule that cannot be carried over exactly is left out when keeping
it would allow more than AppLocker does (an allow with an exception it
cannot hold, or for one group), and kept when it only denies more (a deny
without such an exception, or for every group).

Out: one ``Exe`` collection; path rules with their path and hash exceptions
as ``Exceptions``; publisher rules and publisher exceptions are findings (an
allow with one is left out, a deny written without it). Rule ``Id``s are
GUIDs derived from our rule ids (UUID 5), so they are stable; ``Name`` is the
rule's name, or its id; ``Description`` its comment (and, for a rule with
both a name and an explicit id, a last line ``[exewhitelist id: ID]``).
Reading our own export gives back the ids.
"""

from __future__ import annotations

import os
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import InteropError, PolicyError
from ..policy import Mode, Policy, canonical_order
from ..rules import (
    MAX_EXCEPTIONS,
    Action,
    AuthenticodeRule,
    Condition,
    FileHashRule,
    HashCondition,
    HashRule,
    PathCondition,
    PathRule,
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
    "EVERYONE_SID",
    "PUBLISHER_REASON",
    "RULE_ID_NAMESPACE",
    "export_applocker",
    "import_applocker",
    "rule_guid",
]

EVERYONE_SID = "S-1-1-0"
RULE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:exewhitelist:applocker-rule")
"""Rule ``Id`` = UUID 5 of our rule id in this namespace."""

_RULES = ("FileHashRule", "FilePathRule", "FilePublisherRule")
_HASH_KINDS = {"SHA256": RuleKind.AUTHENTICODE_SHA256, "SHA256Flat": RuleKind.FILE_SHA256}
PUBLISHER_REASON = (
    "AppLocker trusts a publisher name (O=, L=, S=, C=) through Windows' root store; "
    "exewhitelist's publisher rules pin a certificate by its TBS hash, which the name does "
    "not give: not representable. Scan the files it allows and make publisher rules from "
    "their signatures (exewhitelist scan, then policy from-scan --level publisher)"
)
_WHOLE = (*_RULES, "RuleCollectionExtensions", "PolicyExtensions")
_HEX64 = re.compile(r"0x[0-9A-Fa-f]{64}")
_NOT_ENFORCED = {
    "Dll": "the Dll collection: image loads (DLLs) are not enforced by exewhitelist yet",
    "Script": "the Script collection: scripts are not enforced by exewhitelist "
    "(it decides process creation)",
    "Msi": "the Msi collection: installers are not enforced by exewhitelist "
    "(msiexec.exe itself is, as a program)",
    "Appx": "the Appx collection: packaged apps are not enforced by exewhitelist",
    "ManagedInstaller": "the ManagedInstaller collection has no exewhitelist equivalent",
}


def rule_guid(rule_id: str) -> str:
    """The AppLocker rule ``Id`` exported for our rule id (lowercase, no braces)."""
    return str(uuid.uuid5(RULE_ID_NAMESPACE, rule_id))


def _describe(tag: str, attrib: dict[str, str]) -> str:
    parts = [tag]
    for key in ("Type", "Id", "Name", "Action"):
        if key in attrib:
            parts.append(f"{key}={attrib[key]!r}")
    return " ".join(parts)


_ID_TRAILER = re.compile(r"\n?\[exewhitelist id: ([^\n]+)\]\Z")
"""Written at the end of ``Description`` when a rule has both an explicit id and a name."""


def _ids(
    guid: str, rule_name: str, default: str | None, description: str
) -> tuple[str | None, str, str]:
    """Our (explicit id, name, comment) for an imported rule: what our export derived them
    from (the GUID is UUID 5 of the id), else the GUID as the id."""
    guid = guid.strip("{}").lower()
    if default is not None and rule_guid(default) == guid:
        return None, "" if rule_name == default else rule_name, description
    m = _ID_TRAILER.search(description)
    if m is not None and id_problem(m.group(1)) is None and rule_guid(m.group(1)) == guid:
        return m.group(1), rule_name, description[: m.start()]
    if rule_name and id_problem(rule_name) is None and rule_guid(rule_name) == guid:
        return rule_name, "", description
    return guid or None, rule_name, description


def import_applocker(
    path: str | os.PathLike[str], *, name: str | None = None, version: int = 1
) -> ImportResult:
    """Read an AppLocker policy (UTF-16 with BOM or UTF-8); :class:`InteropError` if unusable.

    AppLocker policies have no name or version: ``name`` defaults to the file's stem.
    """
    out = RuleCollector()
    mode = Mode.ENFORCE
    exe_seen = False
    root_seen = False
    collection: str | None = None
    for item in iter_xml(path, _WHOLE):
        where = f"line {item.line}"
        if not root_seen:
            if item.tag != "AppLockerPolicy":
                raise InteropError(
                    f"{os.fspath(path)}: the root element is {item.tag}, not AppLockerPolicy"
                )
            root_seen = True
            continue
        depth = len(item.path)
        if depth == 1 and item.tag == "RuleCollection":
            collection = item.attrib.get("Type", "")
            enforcement = item.attrib.get("EnforcementMode", "NotConfigured")
            if collection == "Exe":
                if exe_seen:
                    out.report(
                        where,
                        "RuleCollection Type='Exe'",
                        "a second Exe collection",
                        Severity.ERROR,
                    )
                exe_seen = True
                if enforcement == "AuditOnly":
                    mode = Mode.AUDIT
                elif enforcement not in ("Enabled", "NotConfigured"):
                    out.report(
                        where,
                        "RuleCollection Type='Exe'",
                        f"unknown EnforcementMode {enforcement!r}",
                        Severity.ERROR,
                    )
            elif collection not in _NOT_ENFORCED:
                out.report(where, f"RuleCollection Type={collection!r}", "unknown collection type")
            continue
        if item.element is None:
            if depth <= 2:
                out.report(where, item.tag, "unknown element: left out")
            continue
        element = item.element
        description = _describe(item.tag, item.attrib)
        if item.tag in ("RuleCollectionExtensions", "PolicyExtensions"):
            out.report(
                where,
                description,
                "collection and policy extensions (services, "
                "system apps, plug-ins) have no exewhitelist equivalent",
            )
            continue
        if collection != "Exe":
            reason = _NOT_ENFORCED.get(collection or "", "not in a known collection")
            out.report(where, description, reason)
            continue
        _import_rule(element, where, description, out)
    if not root_seen:
        raise InteropError(f"{os.fspath(path)}: no AppLockerPolicy element")
    if out.rule_count == 0:
        out.report(
            "policy",
            "RuleCollection Type='Exe'",
            "no Exe rule carried over: AppLocker does not enforce an empty collection, "
            "but an exewhitelist policy without rules denies every program",
        )
    policy = out.finish(policy_name(name, Path(path).stem), version, mode)
    if any(f.severity is Severity.ERROR for f in out.findings):
        policy = None
    return ImportResult(ForeignFormat.APPLOCKER, policy, tuple(out.findings))


def _import_rule(element: ET.Element, where: str, description: str, out: RuleCollector) -> None:
    attrib = element.attrib
    tag = element.tag
    try:
        action = Action(attrib.get("Action", "").lower())
    except ValueError:
        out.report(
            where,
            description,
            f"Action must be Allow or Deny: {attrib.get('Action')!r}",
            Severity.ERROR,
        )
        return
    if tag == "FilePublisherRule":
        out.report(where, description, PUBLISHER_REASON)
        return
    sid = attrib.get("UserOrGroupSid", EVERYONE_SID)
    if sid != EVERYONE_SID:
        if action is Action.ALLOW:
            out.report(
                where,
                description,
                f"applies to {sid} only, not Everyone: exewhitelist "
                "rules apply to every user, so this allow is left out",
            )
            return
        out.report(
            where,
            description,
            f"applies to {sid} only: kept as a deny for every user (stricter than AppLocker)",
        )
    exceptions, lost = _exceptions(element.find("Exceptions"))
    if tag == "FileHashRule" and exceptions:
        lost += [f"{c.kind.value} {c.value}" for c in exceptions]
        exceptions = []
        lost.insert(0, "a hash rule has no exceptions (AppLocker's schema gives it none)")
    if lost:
        what = "; ".join(lost)
        if action is Action.ALLOW:
            out.report(
                where,
                description,
                f"has Exceptions exewhitelist cannot hold ({what}): without them the rule "
                "would allow more, so it is left out",
            )
            return
        out.report(
            where,
            description,
            f"has Exceptions exewhitelist cannot hold ({what}): kept as a deny without "
            "them (stricter than AppLocker)",
        )
    conditions = element.find("Conditions")
    children = list(conditions) if conditions is not None else []
    rule_name = attrib.get("Name", "")
    comment = attrib.get("Description", "")
    guid = attrib.get("Id", "")
    if tag == "FileHashRule":
        hashes = [
            h for c in children if c.tag == "FileHashCondition" for h in c if h.tag == "FileHash"
        ]
        if not hashes:
            out.report(where, description, "no FileHash condition", Severity.ERROR)
        for number, file_hash in enumerate(hashes, 1):
            kind_name = file_hash.attrib.get("Type", "")
            data = file_hash.attrib.get("Data", "")
            cls: type[HashRule]
            if kind_name == "SHA256":
                cls = AuthenticodeRule
            elif kind_name == "SHA256Flat":
                cls = FileHashRule
            elif kind_name == "SHA1":
                out.report(
                    where,
                    f"{description} FileHash {number}",
                    "SHA1 hash: exewhitelist matches SHA-256 digests only",
                )
                continue
            else:
                out.report(
                    where,
                    f"{description} FileHash {number}",
                    f"unknown hash Type {kind_name!r}",
                    Severity.ERROR,
                )
                continue
            if not _HEX64.fullmatch(data):
                out.report(
                    where,
                    f"{description} FileHash {number}",
                    f"Data must be 0x and 64 hex digits: {data[:80]!r}",
                    Severity.ERROR,
                )
                continue
            digest = data[2:].lower()
            explicit, kept_name, kept_comment = _ids(
                guid, rule_name, default_id(cls.kind, digest), comment
            )
            rule: Rule = cls(
                action=action,
                value=digest,
                explicit_id=explicit,
                name=kept_name,
                comment=kept_comment,
            )
            out.add(rule, where)
        return
    paths = [c.attrib.get("Path", "") for c in children if c.tag == "FilePathCondition"]
    if len(paths) != 1:
        out.report(where, description, "a path rule needs one FilePathCondition", Severity.ERROR)
        return
    pattern = paths[0]
    problem = pattern_problem(pattern)
    if problem is not None:
        upper = pattern.upper()
        if upper.startswith(("%REMOVABLE%", "%HOT%")):
            problem = (
                "%REMOVABLE% and %HOT% (removable and hot-plugged drives) have no "
                "exewhitelist equivalent"
            )
        out.report(where, description, f"path {pattern!r}: {problem}")
        return
    explicit, kept_name, kept_comment = _ids(guid, rule_name, None, comment)
    out.add(
        PathRule(
            action=action,
            value=pattern,
            explicit_id=explicit or "applocker-rule",
            name=kept_name,
            comment=kept_comment,
            exceptions=tuple(exceptions),
        ),
        where,
    )


def _exceptions(element: ET.Element | None) -> tuple[list[Condition], list[str]]:
    """A rule's ``Exceptions`` as our conditions, and what cannot be one."""
    kept: list[Condition] = []
    lost: list[str] = []
    for condition in element if element is not None else ():
        found: list[Condition | str] = []
        if condition.tag == "FilePathCondition":
            pattern = condition.attrib.get("Path", "")
            try:
                found.append(PathCondition(pattern))
            except PolicyError as e:
                found.append(f"path {pattern[:200]!r}: {e.message}")
        elif condition.tag == "FileHashCondition":
            for file_hash in condition:
                kind = _HASH_KINDS.get(file_hash.attrib.get("Type", ""))
                data = file_hash.attrib.get("Data", "")
                if kind is None or not _HEX64.fullmatch(data):
                    found.append(f"FileHash Type={file_hash.attrib.get('Type')!r} {data[:80]!r}")
                else:
                    found.append(HashCondition(kind, data[2:].lower()))
        elif condition.tag == "FilePublisherCondition":
            found.append(
                "a publisher condition names a publisher (O=, L=, S=, C=), not a pinned "
                f"certificate: {condition.attrib.get('PublisherName', '')[:120]!r}"
            )
        else:
            found.append(f"unknown condition {condition.tag}")
        for item in found:
            if isinstance(item, str):
                lost.append(item)
            elif all(item.exception_key() != k.exception_key() for k in kept):
                kept.append(item)
    if len(kept) > MAX_EXCEPTIONS:
        lost.append(f"{len(kept)} exceptions, more than {MAX_EXCEPTIONS}")
        kept = []
    return kept, lost


def export_applocker(policy: Policy) -> ExportResult:
    """The policy as an AppLocker policy with one Exe collection (UTF-8, deterministic)."""
    findings: list[Finding] = []
    mode = "AuditOnly" if policy.mode is Mode.AUDIT else "Enabled"
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<AppLockerPolicy Version="1">',
        f'  <RuleCollection Type="Exe" EnforcementMode="{mode}">',
    ]
    for rule in canonical_order(policy.rules):
        where = f"rule {rule.id!r}"
        if isinstance(rule, PublisherRule):
            findings.append(
                Finding(
                    where,
                    f"publisher {rule.value}",
                    "AppLocker publisher conditions name a publisher (O=, L=, S=, C=) and "
                    "trust it through Windows' root store; they cannot pin a certificate: "
                    "left out",
                )
            )
            continue
        exceptions, lost = _exception_xml(rule.exceptions)
        if lost:
            why = f"AppLocker exceptions cannot hold {'; '.join(lost)}"
            if rule.action is Action.ALLOW:
                findings.append(
                    Finding(
                        where,
                        f"{rule.kind.value} {rule.value}",
                        f"{why}: without them the rule would allow more: left out",
                    )
                )
                continue
            findings.append(
                Finding(
                    where,
                    f"{rule.kind.value} {rule.value}",
                    f"{why}: written without them (denies more)",
                )
            )
        if any(c.kind is RuleKind.FILE_SHA256 for c in rule.exceptions):
            findings.append(
                Finding(
                    where,
                    f"{rule.kind.value} {rule.value}",
                    "an exception written as a SHA256Flat hash: how AppLocker applies "
                    "flat hashes to PE files is unverified",
                )
            )
        shown = rule.name or rule.id
        description = rule.comment
        if rule.name and rule.explicit_id is not None:
            # Name shows the name; the id, which the GUID cannot give back, ends Description.
            trailer = f"[exewhitelist id: {rule.explicit_id}]"
            description = f"{description}\n{trailer}" if description else trailer
        if len(description) > 1024 or len(shown) > 1024:
            findings.append(
                Finding(
                    where,
                    f"{rule.kind.value} {rule.value}",
                    "Name and Description hold 1024 characters at most: cut",
                )
            )
        for label, text in (("name", rule.name), ("comment", rule.comment)):
            if xml_unsafe(text):
                findings.append(Finding(where, label, "characters XML cannot hold became U+FFFD"))
        head = (
            f"{attr('Id', rule_guid(rule.id))}{attr('Name', shown[:1024])}"
            f"{attr('Description', description[:1024])}"
            f"{attr('UserOrGroupSid', EVERYONE_SID)}"
            f"{attr('Action', rule.action.value.capitalize())}"
        )
        if isinstance(rule, HashRule):
            kind = "SHA256" if isinstance(rule, AuthenticodeRule) else "SHA256Flat"
            if kind == "SHA256Flat":
                findings.append(
                    Finding(
                        where,
                        f"{rule.kind.value} {rule.value}",
                        "written as a SHA256Flat hash: how AppLocker applies "
                        "flat hashes to PE files is unverified",
                    )
                )
            lines += [
                f"    <FileHashRule{head}>",
                "      <Conditions>",
                "        <FileHashCondition>",
                f'          <FileHash Type="{kind}" Data="0x{rule.value.upper()}" />',
                "        </FileHashCondition>",
                "      </Conditions>",
                "    </FileHashRule>",
            ]
        else:
            patterns = [rule.value]
            patterns += [c.pattern for c in rule.exceptions if isinstance(c, PathCondition)]
            for pattern in (p for p in patterns if "?" in p):
                findings.append(
                    Finding(
                        where,
                        f"path {pattern}",
                        "AppLocker documents * as its only wildcard: ? may be taken literally",
                    )
                )
            lines += [
                f"    <FilePathRule{head}>",
                "      <Conditions>",
                f"        <FilePathCondition{attr('Path', rule.value)} />",
                "      </Conditions>",
                *exceptions,
                "    </FilePathRule>",
            ]
    if not policy.rules:
        findings.append(
            Finding(
                "policy",
                "RuleCollection Type='Exe'",
                "no rules: AppLocker "
                "does not enforce an empty collection (exewhitelist denies "
                "everything)",
            )
        )
    lines += ["  </RuleCollection>", "</AppLockerPolicy>", ""]
    return ExportResult(ForeignFormat.APPLOCKER, "\n".join(lines).encode(), tuple(findings))


def _exception_xml(conditions: tuple[Condition, ...]) -> tuple[list[str], list[str]]:
    """A rule's exceptions as an ``Exceptions`` element's lines, and those AppLocker cannot
    hold (publisher conditions: they pin a certificate)."""
    paths: list[str] = []
    hashes: list[str] = []
    lost: list[str] = []
    for condition in conditions:
        if isinstance(condition, PathCondition):
            paths.append(f"        <FilePathCondition{attr('Path', condition.pattern)} />")
        elif isinstance(condition, HashCondition):
            kind = "SHA256" if condition.kind is RuleKind.AUTHENTICODE_SHA256 else "SHA256Flat"
            hashes.append(
                f'          <FileHash Type="{kind}" Data="0x{condition.digest.upper()}" />'
            )
        else:
            lost.append(f"{condition.kind.value} {condition.value}")
    if not paths and not hashes:
        return [], lost
    lines = ["      <Exceptions>", *paths]
    if hashes:
        lines += ["        <FileHashCondition>", *hashes, "        </FileHashCondition>"]
    return [*lines, "      </Exceptions>"], lost
