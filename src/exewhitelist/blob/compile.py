"""Policy → blob (``docs/blob-format.md``): deterministic, whatever the rule order."""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence

from ..errors import PolicyError, PolicyProblem
from ..policy import Mode, Policy, canonical_order
from ..policycheck import HASH_COLUMNS, CheckedPolicy, check_policy
from ..policycolumns import load_policy_columns
from ..policyfile import load_policy, validate_policy_file
from ..rules import (
    Action,
    Condition,
    HashCondition,
    HashRule,
    PathCondition,
    PathRule,
    Publisher,
    PublisherRule,
    code_units,
    fold,
    path_index_key,
)
from ..rules._base import EXCEPTION_KIND_CODES
from ..rules.publisher import PIN_CODES
from ._format import (
    ALIGNMENT,
    CERTIFICATE,
    EXCEPTION,
    EXCEPTION_LIST,
    FLAG_AUDIT,
    HASH_SECTIONS,
    HASH_SIZE,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAX_BLOB_SIZE,
    MAX_TEXT_UNITS,
    NO_PARENT,
    NONE_INDEX,
    PATH_RULE,
    PUBLISHER,
    PUBLISHER_RULE,
    RULE_ID_ENTRY,
    RULE_ID_ENTRY_SIZE,
    SECTION_ENTRY,
    SECTION_ENTRY_SIZE,
    TBS_DIGEST_BYTES,
    TEXT_ENTRY,
    VERSION_HAS_MAX,
    VERSION_HAS_MIN,
    VERSION_MAJOR,
    VERSION_MINOR,
    VERSION_MINOR_SIGNERS,
    HeaderField,
    PathAction,
    PathGroup,
    Section,
    TbsAlgorithm,
)

__all__ = [
    "checksum",
    "compile_policy",
    "compile_policy_file",
    "set_checksum",
]

_HASH_SECTIONS = tuple(HASH_SECTIONS)
"""The section of each of :data:`~exewhitelist.policycheck.HASH_COLUMNS`."""


def _align(n: int, to: int = ALIGNMENT) -> int:
    return -n % to


def compile_policy(policy: Policy) -> bytes:
    """The blob the driver loads.

    Raises :class:`PolicyError` when the policy has errors (duplicate ids or
    rules, a hash both allowed and denied: :func:`~exewhitelist.policycheck.check_policy`).
    """
    if isinstance(policy, CheckedPolicy):
        rules = list(policy.rules)
    else:
        errors = [p for p in check_policy(policy) if p.severity == "error"]
        if errors:
            raise PolicyError(
                f"{len(errors)} problem(s) prevent compiling: {errors[0]}", tuple(errors)
            )
        rules = canonical_order(policy.rules)

    digests: tuple[list[str], ...] = tuple([] for _ in HASH_COLUMNS)
    ids: tuple[list[tuple[int, str]], ...] = tuple([] for _ in HASH_COLUMNS)
    path_rules: list[PathRule] = []
    publisher_rules: list[PublisherRule] = []
    column_of = {key: n for n, key in enumerate(HASH_COLUMNS)}
    for rule in rules:
        if isinstance(rule, PathRule):
            path_rules.append(rule)
            continue
        if isinstance(rule, PublisherRule):
            publisher_rules.append(rule)
            continue
        if not isinstance(rule, HashRule):
            raise PolicyError(f"rule {rule.id}: a {rule.kind} rule cannot be compiled (yet)")
        column = column_of[rule.kind, rule.action]
        if rule.explicit_id is not None:
            ids[column].append((len(digests[column]), rule.explicit_id))
        digests[column].append(rule.value)
    packed = [bytes.fromhex("".join(column)) for column in digests]
    del digests
    return _assemble(
        policy.name, policy.version, policy.mode, packed, ids, path_rules, publisher_rules
    )


def compile_policy_file(
    path: str | os.PathLike[str], *, warnings: list[PolicyProblem] | None = None
) -> bytes:
    """``compile_policy(load_policy(path))``, the same bytes and errors, in a fraction of the time.

    A valid file is compiled from :func:`~exewhitelist.policycolumns.load_policy_columns`
    (no :class:`~exewhitelist.rules.Rule` per hash rule); anything else goes
    the general way, which raises the :class:`PolicyError` that lists every
    problem. ``warnings``, if given, receives the file's warnings, as
    ``policy validate`` reports them.
    """
    columns = load_policy_columns(path)
    if columns is None:
        policy, problems = validate_policy_file(path)
        blob = compile_policy(load_policy(path) if policy is None else policy)
    else:
        problems = columns.problems
        blob = _assemble(
            columns.name,
            columns.version,
            columns.mode,
            columns.digests,
            columns.explicit_ids,
            columns.path_rules,
            columns.publisher_rules,
        )
    if warnings is not None:
        warnings.extend(p for p in problems if p.severity == "warning")
    return blob


def _assemble(
    name: str,
    version: int,
    mode: Mode,
    hash_sections: Sequence[bytes],
    hash_ids: Sequence[Sequence[tuple[int, str]]],
    path_rules: Sequence[PathRule],
    publisher_rules: Sequence[PublisherRule] = (),
) -> bytes:
    """The blob from its parts, each in canonical order.

    ``hash_sections`` are the packed, sorted digests of each hash section
    (:data:`_HASH_SECTIONS`); ``hash_ids`` the (index, id) of its rules whose
    id is not the default, by index. A policy with a publisher rule or an
    exception gets the signer sections (9-16) and minor version 1; any other
    is the 1.0 blob, byte for byte.
    """
    strings = bytearray()
    path_section = bytearray()
    keys: list[tuple[PathGroup, str]] = []
    parents: list[int] = []
    for i, rule in enumerate(path_rules):
        pattern = rule.pattern
        tokens = pattern.tokens
        group_number, key = path_index_key(tokens)
        group = PathGroup(group_number)
        strings += bytes(_align(len(strings), 2))
        pattern_offset = len(strings)
        strings += tokens.encode("utf-16-le", "surrogatepass")
        id_bytes = rule.id.encode()
        id_offset = len(strings)
        strings += id_bytes
        parent = NO_PARENT
        if group is not PathGroup.SCAN:
            j = i - 1
            while j >= 0 and keys[j][0] == group and not key.startswith(keys[j][1]):
                j = parents[j] if parents[j] != NO_PARENT else -1
            if j >= 0 and keys[j][0] == group:
                parent = j
        keys.append((group, key))
        parents.append(parent)
        action = PathAction.DENY if rule.action is Action.DENY else PathAction.ALLOW
        path_section += PATH_RULE.pack(
            pattern_offset,
            len(tokens),
            len(key),
            action,
            group,
            0,
            parent,
            id_offset,
            len(id_bytes),
        )

    id_section = bytearray()
    for section, section_ids in zip(_HASH_SECTIONS, hash_ids, strict=True):
        for index, rule_id in section_ids:
            id_bytes = rule_id.encode()
            id_section += RULE_ID_ENTRY.pack(section, index, len(strings), len(id_bytes))
            strings += id_bytes

    bodies: dict[Section, tuple[bytes | bytearray, int]] = {
        Section.METADATA: (name.encode(), 0),
        **{
            section: (content, len(content) // HASH_SIZE)
            for section, content in zip(_HASH_SECTIONS, hash_sections, strict=True)
        },
        Section.PATH_RULES: (path_section, len(path_rules)),
        Section.STRINGS: (strings, 0),
        Section.HASH_RULE_IDS: (id_section, len(id_section) // RULE_ID_ENTRY_SIZE),
    }
    minor = VERSION_MINOR
    if publisher_rules or any(rule.exceptions for rule in path_rules):
        minor = VERSION_MINOR_SIGNERS
        bodies.update(_signer_sections(path_rules, publisher_rules, strings))

    # One buffer of the final size, each body copied in once: a million hash
    # rules make a 32 MB section, and copies of it add up.
    start = HEADER_SIZE + SECTION_ENTRY_SIZE * len(bodies)
    start += _align(start)
    size = start + sum(len(c) + _align(len(c)) for c, _ in bodies.values())
    if size > MAX_BLOB_SIZE:
        raise PolicyError(
            f"the compiled policy would be {size} bytes; the limit is {MAX_BLOB_SIZE}"
        )
    blob = bytearray(size)
    flags = FLAG_AUDIT if mode is Mode.AUDIT else 0
    HEADER.pack_into(
        blob,
        0,
        MAGIC,
        VERSION_MAJOR,
        minor,
        HEADER_SIZE,
        size,
        0,  # the checksum, computed last
        flags,
        version,
        len(bodies),
        bytes(HeaderField.RESERVED.size),
    )
    offset = start
    for number, section in enumerate(bodies):
        content, count = bodies[section]
        entry = HEADER_SIZE + number * SECTION_ENTRY_SIZE
        SECTION_ENTRY.pack_into(blob, entry, section, offset, len(content), count)
        blob[offset : offset + len(content)] = content
        offset += len(content) + _align(len(content))
    del bodies, hash_sections
    set_checksum(blob)
    return bytes(blob)


def _tbs_algorithm(publisher: Publisher) -> TbsAlgorithm:
    return TbsAlgorithm[publisher.certificate.algorithm.upper()]


def _text_units(text: str, what: str) -> str:
    """``text`` (code units) if a TEXTS entry can hold it; :class:`PolicyError` otherwise."""
    if not 1 <= len(text) <= MAX_TEXT_UNITS:
        raise PolicyError(
            f"{what} is {len(text)} UTF-16 code units; the blob holds 1 to {MAX_TEXT_UNITS}"
        )
    return text


def _signer_sections(
    path_rules: Sequence[PathRule],
    publisher_rules: Sequence[PublisherRule],
    strings: bytearray,
) -> dict[Section, tuple[bytes | bytearray, int]]:
    """Sections 9-16 (publisher rules and exceptions); appends publisher rule ids to STRINGS.

    Certificates, texts, publisher conditions and exception digests are
    interned and sorted, so the same policy always gives the same bytes.
    """
    rules_with_exceptions: list[PathRule | PublisherRule] = [*path_rules, *publisher_rules]
    exceptions = [e for rule in rules_with_exceptions for e in rule.exceptions]

    # Publisher conditions, interned by their sort key (attribute values folded).
    conditions: dict[tuple[object, ...], Publisher] = {}
    for publisher in [r.condition for r in publisher_rules] + [
        e for e in exceptions if isinstance(e, Publisher)
    ]:
        conditions.setdefault(publisher.sort_key(), publisher)
    publisher_keys = sorted(conditions)
    publisher_index = {key: i for i, key in enumerate(publisher_keys)}

    certificates = sorted(
        {
            (int(_tbs_algorithm(p)), bytes.fromhex(p.certificate.tbs_hash))
            for p in conditions.values()
        }
    )
    certificate_index = {cert: i for i, cert in enumerate(certificates)}

    texts: set[str] = set()
    for p in conditions.values():
        if p.common_name is not None:
            texts.add(_text_units(code_units(p.common_name), "a common name"))
        if p.attribute_value is not None:
            texts.add(_text_units(fold(p.attribute_value), "a file attribute value"))
    for e in exceptions:
        if isinstance(e, PathCondition):
            shown = e.pattern if len(e.pattern) <= 40 else e.pattern[:40] + "…"
            texts.add(_text_units(e.value, f"the path exception {shown!r}"))
    sorted_texts = sorted(texts)
    text_index = {text: i for i, text in enumerate(sorted_texts)}
    text_entries = bytearray()
    text_data = bytearray()
    for text in sorted_texts:
        text_entries += TEXT_ENTRY.pack(len(text_data), len(text))
        text_data += text.encode("utf-16-le", "surrogatepass")

    publisher_section = bytearray()
    for key in publisher_keys:
        p = conditions[key]
        flags = (VERSION_HAS_MIN if p.min_version is not None else 0) | (
            VERSION_HAS_MAX if p.max_version is not None else 0
        )
        publisher_section += PUBLISHER.pack(
            certificate_index[int(_tbs_algorithm(p)), bytes.fromhex(p.certificate.tbs_hash)],
            PIN_CODES[p.pin],
            0 if p.attribute is None else p.attribute.code,
            flags,
            0,
            NONE_INDEX if p.common_name is None else text_index[code_units(p.common_name)],
            NONE_INDEX if p.attribute_value is None else text_index[fold(p.attribute_value)],
            0 if p.min_version is None else p.min_version.packed,
            0 if p.max_version is None else p.max_version.packed,
        )

    certificate_section = bytearray()
    for algorithm, digest in certificates:
        certificate_section += CERTIFICATE.pack(
            algorithm, bytes(7), digest + bytes(TBS_DIGEST_BYTES - len(digest))
        )

    hashes = sorted({bytes.fromhex(e.value) for e in exceptions if isinstance(e, HashCondition)})
    hash_index = {digest: i for i, digest in enumerate(hashes)}

    def exception_entry(condition: Condition) -> tuple[int, int]:
        kind = EXCEPTION_KIND_CODES[condition.kind]
        if isinstance(condition, PathCondition):
            return kind, text_index[condition.value]
        if isinstance(condition, HashCondition):
            return kind, hash_index[bytes.fromhex(condition.value)]
        if isinstance(condition, Publisher):
            return kind, publisher_index[condition.sort_key()]
        raise PolicyError(f"an exception of kind {condition.kind} cannot be compiled")

    # Publisher rules: by condition, then action, then id (UTF-8 bytes).
    ordered = sorted(
        publisher_rules,
        key=lambda r: (
            publisher_index[r.condition.sort_key()],
            PathAction.DENY if r.action is Action.DENY else PathAction.ALLOW,
            r.id.encode(),
        ),
    )
    publisher_rule_section = bytearray()
    for publisher_rule in ordered:
        id_bytes = publisher_rule.id.encode()
        publisher_rule_section += PUBLISHER_RULE.pack(
            publisher_index[publisher_rule.condition.sort_key()],
            PathAction.DENY if publisher_rule.action is Action.DENY else PathAction.ALLOW,
            bytes(3),
            len(strings),
            len(id_bytes),
        )
        strings += id_bytes

    list_section = bytearray()
    exception_section = bytearray()
    lists = 0
    for section, section_rules in (
        (Section.PATH_RULES, path_rules),
        (Section.PUBLISHER_RULES, ordered),
    ):
        for index, rule in enumerate(section_rules):
            if not rule.exceptions:
                continue
            entries = sorted(exception_entry(e) for e in rule.exceptions)
            list_section += EXCEPTION_LIST.pack(
                section, index, len(exception_section) // EXCEPTION.size, len(entries)
            )
            lists += 1
            for kind, target in entries:
                exception_section += EXCEPTION.pack(kind, bytes(3), target)

    return {
        Section.PUBLISHER_RULES: (publisher_rule_section, len(ordered)),
        Section.PUBLISHERS: (publisher_section, len(publisher_keys)),
        Section.CERTIFICATES: (certificate_section, len(certificates)),
        Section.TEXTS: (text_entries, len(sorted_texts)),
        Section.TEXT_DATA: (text_data, 0),
        Section.EXCEPTION_LISTS: (list_section, lists),
        Section.EXCEPTIONS: (exception_section, len(exception_section) // EXCEPTION.size),
        Section.EXCEPTION_HASHES: (b"".join(hashes), len(hashes)),
    }


_CHECKSUM_AT = HeaderField.CHECKSUM.offset
_AFTER_CHECKSUM = _CHECKSUM_AT + HeaderField.CHECKSUM.size


def checksum(blob: bytes | bytearray) -> int:
    """CRC-32 (zlib's) of the blob without its own 4 bytes (the header's CHECKSUM field)."""
    data = memoryview(blob)
    return zlib.crc32(data[_AFTER_CHECKSUM:], zlib.crc32(data[:_CHECKSUM_AT]))


def set_checksum(blob: bytearray) -> None:
    """Write the blob's checksum into its header."""
    blob[_CHECKSUM_AT:_AFTER_CHECKSUM] = checksum(blob).to_bytes(
        HeaderField.CHECKSUM.size, "little"
    )
