"""Santa rule JSON (``santactl rule --export`` / ``--import``) in and out.

In: ``BINARY`` rules (the SHA-256 of the whole file) -> file SHA-256 rules;
``ALLOWLIST`` allows, ``BLOCKLIST`` and ``SILENT_BLOCKLIST`` deny. Findings:
``CERTIFICATE`` (the SHA-256 of the leaf certificate's DER encoding, its
thumbprint: not the TBS hash publisher rules pin),
``TEAMID``/``SIGNINGID``/``CDHASH`` (macOS code signing only), ``CEL`` and
``REMOVE`` policies, compiler rules (their transitive part is lost).

Out: file SHA-256 rules as ``BINARY`` rules; the rule's name is Santa's
``comment``, its comment the ``custom_msg`` shown on a block. Authenticode,
path and publisher rules cannot be written (Santa has no Authenticode hash, no
path rule, and pins leaf thumbprints, not TBS hashes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InteropError
from ..fileio import read_regular_file
from ..policy import Mode, Policy, canonical_order
from ..rules import Action, FileHashRule, digest_problem, text_problem
from .build import RuleCollector, policy_name
from .report import ExportResult, Finding, ForeignFormat, ImportResult, Severity

__all__ = ["MAX_SANTA_FILE_BYTES", "export_santa", "import_santa"]

MAX_SANTA_FILE_BYTES = 1 << 30
_POLICIES = {
    "ALLOWLIST": Action.ALLOW,
    "ALLOWLIST_COMPILER": Action.ALLOW,
    "BLOCKLIST": Action.DENY,
    "SILENT_BLOCKLIST": Action.DENY,
}
_MACOS = {
    "TEAMID": "a TEAMID rule (an Apple Developer team): macOS code signing only",
    "SIGNINGID": "a SIGNINGID rule (team and bundle id): macOS code signing only",
    "CDHASH": "a CDHASH rule (a Mach-O code directory hash): macOS only",
}
_KNOWN_KEYS = {"policy", "rule_type", "identifier", "custom_msg", "custom_url", "comment"}


def import_santa(
    path: str | os.PathLike[str], *, name: str | None = None, version: int = 1
) -> ImportResult:
    """Read a Santa rule export; :class:`InteropError` when it is not one."""
    source = os.fspath(path)
    data = read_regular_file(source, MAX_SANTA_FILE_BYTES, "Santa rule file")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise InteropError(f"{source}: not UTF-8: invalid byte at offset {e.start}") from None
    except json.JSONDecodeError as e:
        raise InteropError(
            f"{source}: line {e.lineno}, column {e.colno}: not JSON: {e.msg}"
        ) from None
    except RecursionError:
        raise InteropError(f"{source}: not a Santa rule file: nested too deeply") from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise InteropError(f'{source}: not a Santa rule file: no {{"rules": [...]}}')
    out = RuleCollector()
    for key in document:
        if key != "rules":
            out.report("document", f"key {key!r}", "unknown key: left out")
    for index, raw in enumerate(document["rules"], 1):
        _import_rule(raw, f"rule {index}", out)
    if out.rule_count == 0:
        out.report("policy", "rules", "no rule carried over: the policy denies every program")
    policy = out.finish(policy_name(name, Path(source).stem), version, Mode.ENFORCE)
    if any(f.severity is Severity.ERROR for f in out.findings):
        policy = None
    return ImportResult(ForeignFormat.SANTA, policy, tuple(out.findings))


def _import_rule(raw: Any, where: str, out: RuleCollector) -> None:
    if not isinstance(raw, dict):
        out.report(where, "rule", "a rule must be an object", Severity.ERROR)
        return
    rule_type = raw.get("rule_type")
    policy = raw.get("policy")
    identifier = raw.get("identifier")
    what = f"{rule_type} {policy} {str(identifier)[:80]}"
    for key in sorted(set(raw) - _KNOWN_KEYS, key=str):
        out.report(where, what, f"unknown key {key!r}: left out")
    if rule_type in _MACOS:
        out.report(where, what, _MACOS[rule_type])
        return
    if rule_type == "CERTIFICATE":
        out.report(
            where,
            what,
            "a CERTIFICATE rule pins the SHA-256 of the leaf certificate "
            "(its thumbprint, over the whole certificate); exewhitelist's publisher "
            "rules pin a TBS hash (WDAC's identity), which a thumbprint does not give: "
            "not representable (make publisher rules from the files' signatures: "
            "exewhitelist signers shows both)",
        )
        return
    if rule_type != "BINARY":
        out.report(where, what, f"unknown rule_type {rule_type!r}", Severity.ERROR)
        return
    if policy in ("CEL", "REMOVE"):
        out.report(where, what, f"a {policy} rule has no exewhitelist equivalent")
        return
    action = _POLICIES.get(policy) if isinstance(policy, str) else None
    if action is None:
        out.report(where, what, f"unknown policy {policy!r}", Severity.ERROR)
        return
    if policy == "ALLOWLIST_COMPILER":
        out.report(
            where,
            what,
            "a compiler rule: the binary is allowed, but what it writes "
            "is not (exewhitelist has no transitive rules)",
        )
    elif policy == "SILENT_BLOCKLIST":
        out.report(where, what, "denied, but not silently: exewhitelist reports every block")
    digest = identifier.lower() if isinstance(identifier, str) else ""
    problem = digest_problem(FileHashRule.kind, digest)
    if problem is not None:
        out.report(where, what, f"identifier: {problem}", Severity.ERROR)
        return
    texts = {k: raw.get(k, "") for k in ("comment", "custom_msg")}
    if any(text_problem(k, v) is not None for k, v in texts.items()):
        out.report(where, what, "comment and custom_msg must be strings", Severity.ERROR)
        return
    if raw.get("custom_url"):
        out.report(where, what, "custom_url (the block dialog's link) is left out")
    out.add(
        FileHashRule(
            action=action,
            value=digest,
            name=str(texts["comment"]),
            comment=str(texts["custom_msg"]),
        ),
        where,
    )


def export_santa(policy: Policy) -> ExportResult:
    """The policy's file SHA-256 rules as Santa ``BINARY`` rules (sorted, deterministic)."""
    findings: list[Finding] = []
    rules: list[dict[str, str]] = []
    for rule in canonical_order(policy.rules):
        where = f"rule {rule.id!r}"
        what = f"{rule.kind.value} {rule.value}"
        if not isinstance(rule, FileHashRule):
            reason = {
                "path": "Santa has no path rule (path regexes are client configuration)",
                "publisher": "Santa's CERTIFICATE pins the leaf certificate's thumbprint "
                "(SHA-256 of its DER), not a TBS hash, and has no issuer, name or version "
                "conditions",
            }.get(
                rule.kind.value,
                "Santa has no Authenticode hash (BINARY is the whole file's SHA-256)",
            )
            findings.append(Finding(where, what, f"{reason}: left out"))
            continue
        if rule.explicit_id is not None:
            findings.append(Finding(where, what, "Santa rules have no id: the id is left out"))
        entry = {
            "identifier": rule.value,
            "policy": "ALLOWLIST" if rule.action is Action.ALLOW else "BLOCKLIST",
            "rule_type": "BINARY",
        }
        if rule.name:
            entry["comment"] = rule.name
        if rule.comment:
            entry["custom_msg"] = rule.comment
        rules.append(entry)
    if policy.mode is Mode.AUDIT:
        findings.append(
            Finding(
                "policy",
                "mode audit",
                "Santa's audit mode (MONITOR) is client "
                "configuration, not a rule: set it on the clients",
            )
        )
    text = json.dumps({"rules": rules}, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return ExportResult(ForeignFormat.SANTA, text.encode(), tuple(findings))
