"""``exewhitelist policy rule add|remove|set`` and ``policy set-mode``: a policy file
edited in place (:mod:`exewhitelist.policyedit`), one rule given by options."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import PolicyError, PolicyProblem
from ..policy import Action, Mode, RuleKind
from ..policyedit import add_rule, remove_rules, replace_rule, set_mode
from ..policyfile import load_policy, publisher_from_data
from ..rules import (
    Condition,
    HashRule,
    Publisher,
    PublisherRule,
    Rule,
    hash_rule,
    make_condition,
    make_rule,
)
from ._common import Subparsers, input_errors
from ._output import emit
from ._results.policy import Problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["add_parsers"]


_KIND_OPTIONS = {
    "path": RuleKind.PATH,
    "authenticode_sha256": RuleKind.AUTHENTICODE_SHA256,
    "file_sha256": RuleKind.FILE_SHA256,
    "publisher": RuleKind.PUBLISHER,
}


def _table_arg(text: str, what: str) -> Any:
    """A table given on the command line: JSON (``{"certificate": "sha256:…"}``) or a TOML
    inline table (``{ certificate = "sha256:…" }``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        raise PolicyError(f"{what}: not a JSON object or a TOML inline table: {text!r}") from None


def _publisher_arg(text: str, what: str) -> Publisher:
    reasons: list[str] = []
    publisher = publisher_from_data(_table_arg(text, what), reasons, what)
    if publisher is None:
        raise PolicyError("; ".join(reasons))
    return publisher


def _exceptions_from_args(args: argparse.Namespace, old: Rule | None) -> tuple[Condition, ...]:
    """``--exception KIND=VALUE`` (all of them replace the old rule's), ``--no-exceptions``."""
    given: list[str] = getattr(args, "exception", None) or []
    if getattr(args, "no_exceptions", False):
        if given:
            raise PolicyError("--exception and --no-exceptions: give one of them")
        return ()
    if not given:
        return old.exceptions if old is not None else ()
    conditions: list[Condition] = []
    for number, text in enumerate(given, 1):
        key, sep, value = text.partition("=")
        key = key.strip().replace("-", "_")
        where = f"--exception {number}"
        if not sep or key not in _KIND_OPTIONS:
            raise PolicyError(
                f"{where}: write KIND=VALUE with KIND one of {', '.join(_KIND_OPTIONS)}: {text!r}"
            )
        kind = _KIND_OPTIONS[key]
        try:
            if kind is RuleKind.PUBLISHER:
                conditions.append(_publisher_arg(value, f"{where}: publisher"))
            else:
                conditions.append(make_condition(kind, value))
        except PolicyError as e:
            raise PolicyError(f"{where}: {e.message}") from None
    return tuple(conditions)


def _rule_from_args(args: argparse.Namespace, old: Rule | None = None) -> Rule:
    """The rule the options describe; for ``set``, the old rule's fields where not given."""
    given = [(kind, getattr(args, key)) for key, kind in _KIND_OPTIONS.items()]
    given = [(kind, value) for kind, value in given if value is not None]
    if len(given) > 1:
        raise PolicyError("give one of --path, --authenticode-sha256, --file-sha256, --publisher")
    value: str | Publisher
    if given:
        kind, text = given[0]
        value = _publisher_arg(text, "--publisher") if kind is RuleKind.PUBLISHER else text
    elif old is not None:
        kind = old.kind
        value = old.condition if isinstance(old, PublisherRule) else old.value
    else:
        raise PolicyError(
            "give what the rule matches: --path, --authenticode-sha256, --file-sha256 or "
            "--publisher"
        )
    action = Action(args.action) if args.action else (old.action if old else Action.ALLOW)
    explicit = getattr(args, "id", None) or getattr(args, "new_id", None)
    if (
        explicit is None
        and old is not None
        and not (isinstance(old, HashRule) and old.explicit_id is None)
    ):
        explicit = old.id
    name = args.rule_name if args.rule_name is not None else (old.name if old else "")
    comment = args.comment if args.comment is not None else (old.comment if old else "")
    exceptions = _exceptions_from_args(args, old if old is not None and old.kind is kind else None)
    if kind in (RuleKind.PATH, RuleKind.PUBLISHER):
        if explicit is None:
            raise PolicyError(f"a {kind.value} rule needs an id: give --id")
        return make_rule(explicit, action, kind, value, name, comment, exceptions)
    if exceptions:
        raise PolicyError("a hash rule has no exceptions (only path and publisher rules do)")
    assert isinstance(value, str)  # noqa: S101 - a hash kind's value
    return hash_rule(kind, value.lower(), action, id=explicit, name=name, comment=comment)


def _report_edit(path: str, what: str, problems: Sequence[PolicyProblem]) -> int:
    return emit([Problems(path, tuple(problems), what)], as_json=False)


def _cmd_rule_add(args: argparse.Namespace) -> int:
    rule = _rule_from_args(args)
    _, problems = add_rule(args.policy, rule)
    return _report_edit(args.policy, f"added rule {rule.id}", problems)


def _cmd_rule_remove(args: argparse.Namespace) -> int:
    _, problems = remove_rules(args.policy, args.ids)
    return _report_edit(args.policy, f"removed {len(args.ids)} rule(s)", problems)


def _cmd_rule_set(args: argparse.Namespace) -> int:
    old = next((r for r in load_policy(args.policy).rules if r.id == args.rule_id), None)
    if old is None:
        raise PolicyError(f"{args.policy}: no rule with id {args.rule_id!r}")
    rule = _rule_from_args(args, old)
    _, problems = replace_rule(args.policy, args.rule_id, rule)
    return _report_edit(args.policy, f"changed rule {args.rule_id}", problems)


def _cmd_set_mode(args: argparse.Namespace) -> int:
    _, problems = set_mode(args.policy, Mode(args.mode))
    return _report_edit(args.policy, f"mode {args.mode}", problems)


def _rule_fields(p: argparse.ArgumentParser, action_default: str | None) -> None:
    p.add_argument("--path", metavar="PATTERN", help="a path rule (docs/policy.md, path patterns)")
    p.add_argument("--authenticode-sha256", metavar="HEX", help="an Authenticode hash rule")
    p.add_argument("--file-sha256", metavar="HEX", help="a file hash rule")
    p.add_argument(
        "--publisher",
        metavar="TABLE",
        help="a publisher rule: its table as JSON or a TOML inline table, say "
        '\'{ certificate = "sha256:…", common_name = "Contoso Ltd" }\' (docs/policy.md, '
        "'Publisher rules')",
    )
    p.add_argument(
        "--exception",
        action="append",
        metavar="KIND=VALUE",
        help="an exception of a path or publisher rule (repeatable; for 'set', they replace "
        "the rule's): path=PATTERN, authenticode_sha256=HEX, file_sha256=HEX, "
        "publisher=TABLE",
    )
    p.add_argument(
        "--no-exceptions", action="store_true", help="'set': remove the rule's exceptions"
    )
    p.add_argument(
        "--action",
        choices=[a.value for a in Action],
        default=action_default,
        help="allow or deny" + (" (default: allow)" if action_default else ""),
    )
    p.add_argument("--name", dest="rule_name", metavar="TEXT", help="the rule's name")
    p.add_argument("--comment", metavar="TEXT", help="the rule's comment")


def add_parsers(psub: Subparsers) -> None:
    """``policy rule add|remove|set`` and ``policy set-mode``."""
    edits = (
        "The file is edited in place, atomically, only when the result validates (errors: "
        "exit 2, nothing written; warnings go to stderr). A TOML file keeps its rule order, "
        "# comments and layout; a JSON file its rule order (docs/policy.md, 'Editing')."
    )
    p_rule = psub.add_parser(
        "rule",
        help="add, remove or change one rule of a policy file",
        description="Edit the rules of a policy file. " + edits,
    )
    rsub = p_rule.add_subparsers(dest="rule_command", required=True, metavar="SUBCOMMAND")
    p = rsub.add_parser(
        "add",
        help="append a rule",
        description="Append a rule at the end of POLICY. A hash rule's id defaults to "
        "KIND:DIGEST; a path rule needs --id. " + edits,
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--id", metavar="ID", help="the rule's id")
    _rule_fields(p, Action.ALLOW.value)
    p.set_defaults(func=input_errors(_cmd_rule_add))

    p = rsub.add_parser(
        "remove", help="remove rules by id", description="Remove rules by id. " + edits
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(func=input_errors(_cmd_rule_remove))

    p = rsub.add_parser(
        "set",
        help="change fields of a rule",
        description="Change the fields given of the rule ID, where it is in the file; the "
        "others stay. " + edits,
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("rule_id", metavar="ID")
    p.add_argument("--new-id", metavar="ID", help="rename the rule")
    _rule_fields(p, None)
    p.set_defaults(func=input_errors(_cmd_rule_set))

    p = psub.add_parser(
        "set-mode",
        help="switch a policy between audit and enforce",
        description="Set POLICY's mode: audit (decisions reported, nothing blocked) or "
        "enforce. " + edits,
    )
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("mode", choices=[m.value for m in Mode])
    p.set_defaults(func=input_errors(_cmd_set_mode))
