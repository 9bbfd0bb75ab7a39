"""A large policy file straight to the compiler: hash rules as columns, not objects.

:func:`load_policy_columns` reads a valid policy file into what the blob
needs: four sorted byte strings of digests instead of a
:class:`~exewhitelist.rules.Rule` per hash rule (a million rules compile in
seconds). It parses rules with :mod:`exewhitelist.policyfile`'s parser and
checks them with :mod:`exewhitelist.policycheck`'s checks; anything unusual
returns None and is left to :func:`~exewhitelist.policyfile.load_policy`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from . import tomlfast
from .errors import PolicyProblem
from .policy import Mode
from .policycheck import HASH_COLUMNS, hash_columns_clean, rule_problems
from .policyfile import (
    LOWER_HEX_DIGITS,
    TOP_KEYS,
    parse_header,
    parse_rule,
    plain_hash_rule,
    policy_format,
    read_policy_file,
    rule_header_lines,
)
from .rules import HashRule, PathRule, PublisherRule, Rule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["PolicyColumns", "load_policy_columns"]


@dataclass(frozen=True)
class PolicyColumns:
    """A valid policy file as the compiler needs it, without a :class:`Rule` per hash rule.

    What :func:`load_policy` returns for the same file, less what the blob does
    not keep (the names and comments of hash rules): a million hash rules are
    four byte strings here, not a million objects.
    """

    name: str
    version: int
    mode: Mode
    digests: tuple[bytes, ...]
    """One per :data:`HASH_COLUMNS` entry: its digests, 32 bytes each, sorted (canonical order)."""
    explicit_ids: tuple[list[tuple[int, str]], ...]
    """One per column: (index in the column, id) of the rules whose id is not the default."""
    path_rules: list[PathRule]
    """The path rules, in canonical order."""
    publisher_rules: list[PublisherRule]
    """The publisher rules, in canonical order."""
    problems: list[PolicyProblem]
    """Warnings, as :func:`validate_policy_file` reports them (with errors there are no columns)."""


_PREFIXES = tuple(a + b for a in LOWER_HEX_DIGITS for b in LOWER_HEX_DIGITS)
"""The buckets of a column while it is read: every two-digit lowercase hex prefix, in order.

Sorting 256 buckets of a few thousand digests, each within the processor's
cache, takes a fraction of the time of one sort of a million strings spread
over the heap."""

_Buckets = tuple[dict[str, list[str]], ...]


def load_policy_columns(path: str | os.PathLike[str]) -> PolicyColumns | None:
    """The columns of a valid policy file; None when :func:`load_policy` must decide.

    None means the file has an error (load_policy raises the
    :class:`PolicyError` that lists them) or something this fast path leaves
    to it (hex digits in upper case, say); it never stands for a different
    policy.  Errors reading the file propagate as from load_policy.
    """
    fmt = policy_format(path)
    data = read_policy_file(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    del data  # the text and the parsed document are what must fit in memory together
    colons: int | None = None
    rule_lines: list[int] | None = None
    try:
        if fmt == "toml":
            document: Any
            document, rule_lines = tomlfast.loads(text)
            if rule_lines is None:
                rule_lines = rule_header_lines(text)
        else:
            if "\\u003a" in text or "\\u003A" in text:
                return None  # an escaped ':' would upset the count of pairs below
            colons = text.count(":")
            # No object_pairs_hook: a Python call per object doubles the time of
            # parsing.  Duplicate keys are found by counting instead (below).
            document = json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError, ValueError):
        return None  # the general loader reports it
    del text
    buckets: _Buckets = tuple({prefix: [] for prefix in _PREFIXES} for _ in HASH_COLUMNS)
    explicit: list[tuple[int, str, str]] = []
    try:
        gathered = _gather_columns(document, rule_lines, colons, buckets, explicit)
    except RecursionError:
        gathered = None  # a value nested too deeply: the general loader reports it
    del document  # frees every rule's table; the digests live on in the buckets
    if gathered is None:
        return None
    header, paths = gathered
    return _finish_columns(header, paths, rule_lines, buckets, explicit)


def _gather_columns(
    document: Any,
    rule_lines: list[int] | None,
    colons: int | None,
    buckets: _Buckets,
    explicit: list[tuple[int, str, str]],
) -> tuple[tuple[str, int, Mode], list[tuple[int, Rule]]] | None:
    """The header and the other rules, path and publisher (with their positions); hash rules
    go into ``buckets``.

    None when anything in the document is an error: the general loader is
    left to report it.  ``colons`` is the number of ``:`` in the JSON text
    (None for TOML).

    A digest taken here is known to be a string of 64 characters starting
    with two lowercase hex digits; :func:`_finish_columns` checks the rest
    of them, all at once.
    """
    if type(document) is not dict or any(key not in TOP_KEYS for key in document):
        return None
    problems: list[PolicyProblem] = []
    header = parse_header(document.get("policy"), problems)
    if header is None or problems:
        return None
    raw_rules = document.get("rule", [])
    if type(raw_rules) is not list:
        return None
    if rule_lines is not None and len(rule_lines) != len(raw_rules):
        rule_lines = None
    paths: list[tuple[int, Rule]] = []
    text_colons = header[0].count(":")  # in the strings of the document
    nested_pairs = 0  # of the tables inside rules (publisher conditions, exceptions)
    allow_authenticode, deny_authenticode, allow_file, deny_file = (c.get for c in buckets)
    for index, raw in enumerate(raw_rules, 1):
        if type(raw) is dict and len(raw) == 2:
            # The plain rule, two keys: a million of them take this path.
            action = raw.get("action")
            digest = raw.get("authenticode_sha256")
            if digest is not None:
                lookup = (
                    allow_authenticode
                    if action == "allow"
                    else deny_authenticode
                    if action == "deny"
                    else None
                )
            else:
                digest = raw.get("file_sha256")
                lookup = (
                    allow_file if action == "allow" else deny_file if action == "deny" else None
                )
            if lookup is not None and type(digest) is str and len(digest) == 64:
                bucket = lookup(digest[:2])
                if bucket is not None:
                    bucket.append(digest)
                    continue
        plain = plain_hash_rule(raw)
        if plain is None:
            line = rule_lines[index - 1] if rule_lines is not None else None
            rule = parse_rule(raw, index, line, problems)
            if rule is None:
                return None
            if isinstance(rule, HashRule):
                plain = HASH_COLUMNS.index((rule.kind, rule.action)), rule.value, rule.explicit_id
            else:
                paths.append((index, rule))
                plain = None
        if colons is not None and plain is None:  # nested values: publisher, exceptions
            in_strings, pairs = _colons_and_pairs(list(raw.values()))
            text_colons += in_strings
            nested_pairs += pairs
        elif colons is not None:  # a hash rule's values are all strings
            text_colons += sum(map(str.count, raw.values(), itertools.repeat(":")))
        if plain is not None:
            column, digest, rule_id = plain
            buckets[column][digest[:2]].append(digest)
            if rule_id is not None:
                explicit.append((column, digest, rule_id))
    if colons is not None:
        # JSON keeps the last of duplicate keys silently, and the general loader
        # refuses them: a ':' outside strings is one key-value pair, so the
        # document has none exactly when its tables hold as many pairs as
        # there are such colons (a duplicate pair would be missing, and its
        # strings' colons with it).  The keys of a valid document have no ':'.
        pairs = len(document) + len(document["policy"]) + sum(map(len, raw_rules))
        if colons - text_colons != pairs + nested_pairs:
            return None
    return header, paths


def _colons_and_pairs(value: Any) -> tuple[int, int]:
    """The ``:`` in the strings of a JSON value, and the key-value pairs of its objects."""
    if isinstance(value, str):
        return value.count(":"), 0
    colons = pairs = 0
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    if isinstance(value, dict):
        pairs += len(value)
    for item in items:
        more_colons, more_pairs = _colons_and_pairs(item)
        colons += more_colons
        pairs += more_pairs
    return colons, pairs


def _finish_columns(
    header: tuple[str, int, Mode],
    paths: list[tuple[int, Rule]],
    rule_lines: list[int] | None,
    buckets: _Buckets,
    explicit: list[tuple[int, str, str]],
) -> PolicyColumns | None:
    """The checks between rules, on the columns; None if any finds an error.

    The same checks as :func:`~exewhitelist.policycheck.rule_problems`:
    :func:`~exewhitelist.policycheck.hash_columns_clean` on the columns, then
    the path rules alone (what it checks when no hash rule takes part in a
    problem).
    """
    ids = [rule_id for _, _, rule_id in explicit]
    ids += [rule.id for _, rule in paths]
    if not hash_columns_clean(buckets, ids):
        return None
    packed: list[bytes] = []
    for column in buckets:
        digests = bytearray()
        for bucket in column.values():  # in prefix order
            bucket.sort()
            # Packed a bucket at a time, while its digests are in the cache.
            hex_digits = "".join(bucket)
            try:
                binary = bytes.fromhex(hex_digits)
            except ValueError:
                return None
            if binary.hex() != hex_digits:  # not all lowercase hex digits (whitespace, say)
                return None
            digests += binary
        packed.append(bytes(digests))
    lines = dict(enumerate(rule_lines or (), 1))
    problems = rule_problems(paths, lines.get)
    if any(p.severity == "error" for p in problems):
        return None
    problems.sort(key=lambda p: p.rule_index or 0)
    explicit_ids: tuple[list[tuple[int, str]], ...] = ([], [], [], [])
    if explicit:
        starts = []  # of each bucket, in its column
        for column in buckets:
            sizes = itertools.accumulate(map(len, column.values()), initial=0)
            starts.append(dict(zip(column, sizes, strict=False)))
        for column_number, digest, rule_id in explicit:
            index = _index_in_bucket(buckets[column_number], digest)
            explicit_ids[column_number].append((starts[column_number][digest[:2]] + index, rule_id))
        for ids_of_column in explicit_ids:
            ids_of_column.sort()
    name, version, mode = header
    return PolicyColumns(
        name=name,
        version=version,
        mode=mode,
        digests=tuple(packed),
        explicit_ids=explicit_ids,
        path_rules=sorted(  # canonical order
            (rule for _, rule in paths if isinstance(rule, PathRule)), key=PathRule.sort_key
        ),
        publisher_rules=sorted(
            (rule for _, rule in paths if isinstance(rule, PublisherRule)),
            key=PublisherRule.sort_key,
        ),
        problems=problems,
    )


def _index_in_bucket(column: dict[str, list[str]], digest: str) -> int:
    """The index of ``digest`` in its (sorted) bucket of a column, or -1."""
    bucket = column.get(digest[:2], [])
    i = bisect.bisect_left(bucket, digest)
    return i if i < len(bucket) and bucket[i] == digest else -1
