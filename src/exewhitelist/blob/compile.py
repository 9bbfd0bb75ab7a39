"""Policy → blob (``docs/blob-format.md``): deterministic, whatever the rule order."""

from __future__ import annotations

import operator
import struct
import zlib

from ..errors import PolicyError
from ..policy import (
    Action,
    Mode,
    Policy,
    Rule,
    RuleKind,
    canonical_order,
    is_vouched,
    path_index_key,
)
from ..policyfile import check_policy
from ._format import (
    ALIGNMENT,
    FLAG_AUDIT,
    HEADER_SIZE,
    MAGIC,
    MAX_BLOB_SIZE,
    NO_PARENT,
    SECTION_ENTRY_SIZE,
    VERSION_MAJOR,
    VERSION_MINOR,
    PathAction,
    PathGroup,
    Section,
)

__all__ = ["compile_policy"]

_HASH_SECTIONS = {
    (RuleKind.AUTHENTICODE_SHA256, Action.ALLOW): Section.AUTHENTICODE_ALLOW,
    (RuleKind.AUTHENTICODE_SHA256, Action.DENY): Section.AUTHENTICODE_DENY,
    (RuleKind.FILE_SHA256, Action.ALLOW): Section.FILE_ALLOW,
    (RuleKind.FILE_SHA256, Action.DENY): Section.FILE_DENY,
}


_VALUE = operator.attrgetter("value")


def _align(n: int, to: int = ALIGNMENT) -> int:
    return -n % to


def compile_policy(policy: Policy) -> bytes:
    """The blob the driver loads.

    Raises :class:`PolicyError` when the policy has errors (duplicate ids or
    rules, a hash both allowed and denied: :func:`~exewhitelist.policyfile.check_policy`).
    """
    if is_vouched(policy):
        rules = list(policy.rules)
    else:
        errors = [p for p in check_policy(policy) if p.severity == "error"]
        if errors:
            raise PolicyError(
                f"{len(errors)} problem(s) prevent compiling: {errors[0]}", tuple(errors)
            )
        rules = canonical_order(policy.rules)

    hashes: dict[Section, list[Rule]] = {s: [] for s in _HASH_SECTIONS.values()}
    path_rules: list[Rule] = []
    for rule in rules:
        if rule.kind is RuleKind.PATH:
            path_rules.append(rule)
        else:
            hashes[_HASH_SECTIONS[(rule.kind, rule.action)]].append(rule)

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
        path_section += struct.pack(
            "<IHHBBHIII",
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
    for section, section_rules in hashes.items():
        for index, rule in enumerate(section_rules):
            if rule.explicit_id is not None:
                id_bytes = rule.explicit_id.encode()
                id_section += struct.pack("<IIII", section, index, len(strings), len(id_bytes))
                strings += id_bytes

    bodies: dict[Section, tuple[bytes, int]] = {
        Section.METADATA: (policy.name.encode(), 0),
        **{
            s: (bytes.fromhex("".join(map(_VALUE, section_rules))), len(section_rules))
            for s, section_rules in hashes.items()
        },
        Section.PATH_RULES: (bytes(path_section), len(path_rules)),
        Section.STRINGS: (bytes(strings), 0),
        Section.HASH_RULE_IDS: (bytes(id_section), len(id_section) // 16),
    }

    directory = bytearray()
    body = bytearray()
    offset = HEADER_SIZE + SECTION_ENTRY_SIZE * len(Section)
    offset += _align(offset)
    start = offset
    for section in Section:
        content, count = bodies[section]
        directory += struct.pack("<IIII", section, offset, len(content), count)
        body += content + bytes(_align(len(content)))
        offset += len(content) + _align(len(content))
    size = start + len(body)
    if size > MAX_BLOB_SIZE:
        raise PolicyError(
            f"the compiled policy would be {size} bytes; the limit is {MAX_BLOB_SIZE}"
        )

    header = bytearray(HEADER_SIZE)
    header[0:8] = MAGIC
    flags = FLAG_AUDIT if policy.mode is Mode.AUDIT else 0
    struct.pack_into(
        "<HHIIIIII",
        header,
        8,
        VERSION_MAJOR,
        VERSION_MINOR,
        HEADER_SIZE,
        size,
        0,
        flags,
        policy.version,
        len(Section),
    )
    blob = header + directory + bytes(start - HEADER_SIZE - len(directory)) + body
    struct.pack_into("<I", blob, 20, checksum(blob))
    return bytes(blob)


def checksum(blob: bytes | bytearray) -> int:
    """CRC-32 (zlib's) of the blob without its own 4 bytes at offset 20."""
    return zlib.crc32(memoryview(blob)[24:], zlib.crc32(memoryview(blob)[:20]))
