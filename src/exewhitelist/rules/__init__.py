"""Rule kinds: one type per kind, behind one registry.

Every kind is a frozen, slotted subclass of :class:`Rule` in a module of its
own, and is listed once in :data:`RULE_TYPES` under its :class:`RuleKind`
(the key a policy file uses). What the rest of the package needs of a kind,
the kind's type says: its value's validation, its default id, what it
matches, its place in canonical order and what makes two rules duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import PolicyError
from ._base import (
    MAX_EXCEPTIONS,
    MAX_ID_BYTES,
    Action,
    Condition,
    Image,
    MatchKey,
    Need,
    Rule,
    RuleKind,
    id_problem,
    text_problem,
    valid_rule_id_text,
)
from .conditions import CONDITION_KINDS, HashCondition, PathCondition, make_condition
from .hashes import AuthenticodeRule, FileHashRule, HashRule, default_id, digest_problem
from .path import (
    DEFAULT_VARIABLES,
    MAX_PATTERN_UNITS,
    TOKEN_BASE,
    VARIABLES,
    PathPattern,
    PathRule,
    code_units,
    concrete_windows_path,
    covers,
    fold,
    glob_match,
    path_index_key,
    pattern_problem,
    pattern_text,
    variable_token,
)
from .publisher import (
    PIN_CODES,
    PUBLISHER_KEYS,
    TBS_ALGORITHMS,
    CertificateId,
    FileAttribute,
    FileVersion,
    Pin,
    Publisher,
    PublisherRule,
    Signer,
    SignerFacts,
    signer_facts,
)

__all__ = [
    "CONDITION_KINDS",
    "DEFAULT_VARIABLES",
    "MAX_EXCEPTIONS",
    "MAX_ID_BYTES",
    "MAX_PATTERN_UNITS",
    "PIN_CODES",
    "PUBLISHER_KEYS",
    "RULE_TYPES",
    "TBS_ALGORITHMS",
    "TOKEN_BASE",
    "VARIABLES",
    "Action",
    "AuthenticodeRule",
    "CertificateId",
    "Condition",
    "FileAttribute",
    "FileHashRule",
    "FileVersion",
    "HashCondition",
    "HashRule",
    "Image",
    "MatchKey",
    "Need",
    "PathCondition",
    "PathPattern",
    "PathRule",
    "Pin",
    "Publisher",
    "PublisherRule",
    "Rule",
    "RuleKind",
    "Signer",
    "SignerFacts",
    "code_units",
    "concrete_windows_path",
    "covers",
    "default_id",
    "digest_problem",
    "fold",
    "glob_match",
    "hash_rule",
    "id_problem",
    "make_condition",
    "make_rule",
    "path_index_key",
    "pattern_problem",
    "pattern_text",
    "signer_facts",
    "text_problem",
    "valid_rule_id_text",
    "variable_token",
]

RULE_TYPES: Mapping[RuleKind, type[Rule]] = {
    cls.kind: cls for cls in (AuthenticodeRule, FileHashRule, PathRule, PublisherRule)
}
"""Each kind's type; its order is canonical order's."""


def make_rule(
    id: str,
    action: Action,
    kind: RuleKind,
    value: str | Publisher,
    name: str = "",
    comment: str = "",
    exceptions: Iterable[Condition] = (),
) -> Rule:
    """A rule of the kind ``kind`` names (for code that has the kind as data).

    ``value`` is what the policy file holds under the kind's key: a digest,
    a pattern, or (for a publisher rule) the :class:`Publisher`.
    """
    if not isinstance(kind, RuleKind):
        raise PolicyError(f"rule {id}: unknown kind {kind!r}")
    if kind is RuleKind.PUBLISHER:
        if not isinstance(value, Publisher):
            raise PolicyError(f"rule {id}: a publisher rule's value is a Publisher")
        return PublisherRule.of(
            id, action, value, exceptions=exceptions, name=name, comment=comment
        )
    if not isinstance(value, str):
        raise PolicyError(f"rule {id}: {kind.value} must be a string: {value!r}")
    return RULE_TYPES[kind](
        action=action,
        value=value,
        explicit_id=id,
        name=name,
        comment=comment,
        exceptions=tuple(exceptions),
    )


def hash_rule(
    kind: RuleKind,
    digest: str,
    action: Action = Action.ALLOW,
    *,
    id: str | None = None,
    name: str = "",
    comment: str = "",
) -> HashRule:
    """A hash rule; its id defaults to ``kind:digest`` (which the blob stores for free)."""
    cls = RULE_TYPES.get(kind)
    if cls is None or not issubclass(cls, HashRule):
        raise PolicyError(f"not a hash rule kind: {kind!r}")
    return cls(action=action, value=digest, explicit_id=id, name=name, comment=comment)
