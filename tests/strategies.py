"""Hypothesis strategies for valid policies: every rule kind, awkward text everywhere.

"Valid" means what a policy file must be to load: ids unique, no two rules
matching the same thing (so no duplicate and no hash both allowed and
denied).  Path patterns are built from the pieces Windows paths are made of,
with the characters folding gets wrong when it is done naively (``ß`` has no
one-character uppercase, ``Ω``/``Ж`` are non-Latin, a non-BMP letter is two
UTF-16 code units).
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from exewhitelist.policy import VARIABLES, Action, Mode, Policy, Rule, RuleKind
from exewhitelist.rules import (
    TBS_ALGORITHMS,
    CertificateId,
    FileAttribute,
    FileVersion,
    HashCondition,
    PathCondition,
    Pin,
    Publisher,
    hash_rule,
    make_rule,
)

NON_BMP = "\U0001d518"  # MATHEMATICAL FRAKTUR CAPITAL U: a surrogate pair in UTF-16
FOLD_TRAPS = "éÉßΩωЖж" + NON_BMP + "😀"

digests = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)

_SEGMENT_ALPHABET = string.ascii_letters + string.digits + " .-_()[]{}'!#$&+,;=@^~" + FOLD_TRAPS

segments = st.text(alphabet=_SEGMENT_ALPHABET + "*?", min_size=1, max_size=10)


@st.composite
def variables(draw: st.DrawFn) -> str:
    """``%NAME%`` with the name in random case (variable names are case-insensitive)."""
    name = draw(st.sampled_from(VARIABLES))
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "%" + "".join(c.lower() if f else c for c, f in zip(name, flips, strict=True)) + "%"


_starts = st.one_of(
    variables(),
    st.sampled_from(["C:", "c:", "D:", "z:"]),
    st.builds(
        lambda server, share: f"\\\\{server}\\{share}",
        st.text(alphabet=string.ascii_letters + "é", min_size=1, max_size=6),
        st.text(alphabet=string.ascii_letters + "$", min_size=1, max_size=6),
    ),
    st.sampled_from(["*", "?", "**", "*?"]),
)


@st.composite
def path_patterns(draw: st.DrawFn) -> str:
    """A pattern ``PathPattern.parse`` accepts: a full-path start, then ``\\``-separated parts."""
    start = draw(_starts)
    parts = draw(st.lists(segments, max_size=4))
    if start.endswith(":") and not parts:
        return start + "\\"  # a drive alone is not a full path
    return start + "".join("\\" + part for part in parts)


ids = st.text(
    alphabet=st.characters(categories=("L", "M", "N", "P", "S"), include_characters=" "),
    min_size=1,
    max_size=40,
).filter(lambda s: s.isprintable() and len(s.encode()) <= 256)

labels = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            'say "hi"',
            "back\\slash \\n not a newline",
            "two\nlines\r\nand a tab\t",
            "'''triple''' \"\"\"quotes\"\"\"",
            "[[rule]]",
            "\n[[rule]]\n",
            FOLD_TRAPS,
            "nul \x00 del \x7f line sep \u2028",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)


versions = st.tuples(*[st.integers(0, 0xFFFF)] * 4).map(FileVersion)


@st.composite
def publishers(draw: st.DrawFn) -> Publisher:
    """A valid publisher condition of any shape (pins, names, attributes, version bounds)."""
    algorithm = draw(st.sampled_from(list(TBS_ALGORITHMS)))
    tbs = draw(st.binary(min_size=TBS_ALGORITHMS[algorithm], max_size=TBS_ALGORITHMS[algorithm]))
    attribute = draw(st.none() | st.sampled_from(FileAttribute))
    text = st.text(
        alphabet=st.characters(codec="utf-8", min_codepoint=0x20), min_size=1, max_size=20
    )
    low, high = draw(st.none() | versions), draw(st.none() | versions)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Publisher(
        CertificateId(algorithm, tbs.hex()),
        draw(st.sampled_from(Pin)),
        draw(st.none() | text),
        attribute,
        draw(text) if attribute is not None else None,
        low,
        high,
    )


conditions = st.one_of(
    path_patterns().map(PathCondition),
    st.tuples(st.sampled_from([RuleKind.AUTHENTICODE_SHA256, RuleKind.FILE_SHA256]), digests).map(
        lambda kd: HashCondition(*kd)
    ),
    publishers(),
)
"""An exception of any kind."""


@st.composite
def rules(draw: st.DrawFn, signers: bool = False) -> Rule:
    """A valid rule; with ``signers``, publisher rules and exceptions too (blob 1.1)."""
    kinds = [k for k in RuleKind if signers or k is not RuleKind.PUBLISHER]
    kind = draw(st.sampled_from(kinds))
    action = draw(st.sampled_from(Action))
    name, comment = draw(labels), draw(labels)
    exceptions = (
        draw(st.lists(conditions, max_size=3, unique_by=lambda c: c.exception_key()))
        if signers and kind in (RuleKind.PATH, RuleKind.PUBLISHER)
        else []
    )
    if kind is RuleKind.PATH:
        pattern = draw(path_patterns())
        return make_rule(draw(ids), action, kind, pattern, name, comment, exceptions)
    if kind is RuleKind.PUBLISHER:
        return make_rule(draw(ids), action, kind, draw(publishers()), name, comment, exceptions)
    rule_id = draw(st.none() | ids)
    return hash_rule(kind, draw(digests), action, id=rule_id, name=name, comment=comment)


policy_names = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60).filter(
    lambda s: len(s.encode()) <= 256
)


@st.composite
def policies(draw: st.DrawFn, max_rules: int = 12, signers: bool = False) -> Policy:
    """A valid policy, its rules in random (not canonical) order."""
    rule_list = draw(
        st.lists(
            rules(signers),
            max_size=max_rules,
            unique_by=(lambda r: r.id, lambda r: r.match_key()[:2]),
        )
    )
    return Policy(
        name=draw(policy_names),
        version=draw(st.integers(0, 0xFFFF_FFFF)),
        mode=draw(st.sampled_from(Mode)),
        rules=tuple(rule_list),
    )
