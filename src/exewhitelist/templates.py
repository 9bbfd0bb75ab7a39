"""Policies to start from: ``exewhitelist policy new --template NAME``.

``default`` is AppLocker's default executable rules in the form this product
can enforce (docs/policy.md, "Templates", lists it rule by rule):

- allow ``%WINDIR%\\*``, except the folders under it that ordinary users can
  write to (:data:`~exewhitelist.policylint.USER_WRITABLE_FOLDERS`), so that
  a program a user drops there is not allowed by the Windows rule;
- allow ``%PROGRAMFILES%\\*`` (both Program Files folders: only
  administrators write there on a default installation).

AppLocker's third default rule, "Administrators may run everything", needs a
user or group condition, which this product does not have: it is left out.
Together the two rules allow every boot-critical image
(:mod:`exewhitelist.bootsafety`), so an enforce-mode policy built on the
template boots. New policies start in audit mode: run, collect what would be
denied (``policy from-events``), then switch with ``policy set-mode``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .errors import PolicyError
from .policy import Mode, Policy
from .policylint import USER_WRITABLE_FOLDERS
from .rules import Action, PathCondition, Rule, RuleKind, make_rule

__all__ = ["TEMPLATES", "default_rules", "template_policy"]


def default_rules() -> tuple[Rule, ...]:
    """The ``default`` template's rules."""
    writable = [PathCondition(folder + "\\*") for folder in USER_WRITABLE_FOLDERS]
    return (
        make_rule(
            "windows",
            Action.ALLOW,
            RuleKind.PATH,
            "%WINDIR%\\*",
            name="Windows",
            comment="AppLocker's default rule, less the folders ordinary users can write to",
            exceptions=writable,
        ),
        make_rule(
            "program-files",
            Action.ALLOW,
            RuleKind.PATH,
            "%PROGRAMFILES%\\*",
            name="Program Files",
            comment="AppLocker's default rule: both Program Files folders",
        ),
    )


TEMPLATES: Mapping[str, Callable[[], tuple[Rule, ...]]] = {"default": default_rules}
"""Each template's name and the function that gives its rules."""


def template_policy(
    template: str, name: str = "default", version: int = 1, mode: Mode = Mode.AUDIT
) -> Policy:
    """A new policy holding ``template``'s rules; :class:`PolicyError` for an unknown one."""
    rules = TEMPLATES.get(template)
    if rules is None:
        raise PolicyError(f"unknown template {template!r} (known: {', '.join(TEMPLATES)})")
    return Policy(name, version, mode, rules())
