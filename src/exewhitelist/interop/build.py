"""From rules read out of a foreign policy to one of ours: duplicates folded, conflicts resolved
the way the source format resolves them, ids made unique, the result checked."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import PolicyError
from ..policy import MAX_NAME_BYTES, Mode, Policy, canonical_order
from ..policycheck import CheckedPolicy
from ..rules import Action, HashRule, Rule, text_problem
from .report import Finding, Severity

__all__ = ["RuleCollector", "policy_name"]


def policy_name(text: str | None, fallback: str) -> str:
    """``text`` when it can be a policy name, else ``fallback`` (cut to fit)."""
    for candidate in (text, fallback, "imported"):
        if not candidate:
            continue
        if text_problem("name", candidate) is not None:
            continue
        data = candidate.encode()[:MAX_NAME_BYTES]
        return data.decode("utf-8", "ignore")
    return "imported"


@dataclass
class RuleCollector:
    """The rules of one import, each with where it came from, and the findings so far."""

    findings: list[Finding] = field(default_factory=list)
    _rules: dict[tuple[object, ...], dict[str, Rule]] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set)
    _count: int = 0

    def report(
        self,
        position: str,
        element: str,
        reason: str,
        severity: Severity = Severity.UNMAPPED,
    ) -> None:
        self.findings.append(Finding(position, element, reason, severity))

    def add(self, rule: Rule, position: str) -> None:
        """Keep ``rule``; a duplicate of one kept already (same kind, value, action) folds
        into it, and a hash both allowed and denied keeps the deny (deny wins everywhere).

        Memory per rule is the rule and a dict entry: imports of 100,000 rules add up.
        """
        kind, value, action, exceptions = rule.match_key()
        if exceptions:  # two rules that differ only in their exceptions are two rules
            value = f"{value} {exceptions!r}"
        column = self._rules.setdefault((kind, action), {})
        if value in column:
            return
        if isinstance(rule, HashRule):
            other = self._rules.get((kind, _other(action)), {})
            if value in other:
                allow = rule if action is Action.ALLOW else other[value]
                self.report(
                    position,
                    f"{allow.kind.value} {allow.value}",
                    f"allowed (rule {allow.id!r}) and denied by another rule: deny wins, the "
                    "allow is left out",
                )
                if action is Action.ALLOW:
                    return
                del other[value]
                self._count -= 1
        if rule.explicit_id is not None:  # default ids are distinct by their digests
            rule_id = rule.explicit_id
            if rule_id in self._ids:
                number = 2
                while f"{rule_id}:{number}" in self._ids:
                    number += 1
                rule = replace(rule, explicit_id=f"{rule_id}:{number}")
                rule_id = f"{rule_id}:{number}"
            self._ids.add(rule_id)
        column[value] = rule
        self._count += 1

    @property
    def rule_count(self) -> int:
        return self._count

    def finish(self, name: str, version: int, mode: Mode) -> Policy | None:
        """The checked policy, or None after turning its errors into findings."""
        rules = canonical_order(rule for column in self._rules.values() for rule in column.values())
        self._rules.clear()  # the rules live on in the list: the indexes go before the checks
        self._ids.clear()
        try:
            return CheckedPolicy(name=name, version=version, mode=mode, rules=tuple(rules))
        except PolicyError as e:
            problems = e.problems or ()
            if not problems:
                self.report("policy", "policy", e.message, Severity.ERROR)
            for problem in problems:
                self.report(problem.where(), "rule", problem.message, Severity.ERROR)
            return None


def _other(action: Action) -> Action:
    return Action.DENY if action is Action.ALLOW else Action.ALLOW
