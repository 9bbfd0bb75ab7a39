"""The reference reader: validate a blob completely, then decide from it.

Written to follow ``docs/blob-format.md`` section by section, in the order
the spec checks things, so the first violation gives the same pinned code
here as in the driver's C core.  After :func:`read_blob` returns, every
lookup is safe without further checks (the C core makes the same promise).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import BlobError, BlobFormatError, BlobVersionError, PolicyError
from ..policy import (
    DEFAULT_VARIABLES,
    VARIABLES,
    Action,
    Mode,
    Policy,
    RuleKind,
    canonical_order,
    default_id,
    fold,
    glob_match,
    make_rule,
    pattern_text,
    valid_rule_id_text,
    variable_token,
)
from ..rules import Need
from ..staging import Fact, Facts, StageState, Verdict, stage
from ._format import (
    ALIGNMENT,
    FIRST_OPTIONAL_SECTION,
    FLAG_AUDIT,
    HASH_SECTIONS,
    HASH_SIZE,
    HEADER,
    HEADER_SIZE,
    KNOWN_FLAGS,
    MAGIC,
    MAX_BLOB_SIZE,
    MAX_ID_BYTES,
    MAX_NAME_BYTES,
    MAX_PATTERN_UNITS,
    MAX_SECTIONS,
    NO_PARENT,
    PATH_RULE,
    PATH_RULE_SIZE,
    REQUIRED_SECTIONS,
    RULE_ID_ENTRY,
    RULE_ID_ENTRY_SIZE,
    SECTION_ENTRY,
    SECTION_ENTRY_SIZE,
    VARIABLE_TOKEN_BASE,
    VARIABLE_TOKEN_LAST,
    VERSION_MAJOR,
    Decided,
    PathAction,
    PathGroup,
    Section,
    Status,
)
from .compile import checksum

__all__ = ["Blob", "BlobDecision", "PathEntry", "read_blob"]

_HASH_SECTIONS = tuple(HASH_SECTIONS)
_HASH_KIND = {
    section: (RuleKind(kind), Action(action)) for section, (kind, action) in HASH_SECTIONS.items()
}
_WILDCARDS = ("*", "?")


def _fail(status: Status, detail: str) -> BlobFormatError:
    return BlobFormatError(int(status), status.name, detail)


@dataclass(frozen=True)
class PathEntry:
    """One decoded PATH_RULES entry (``tokens`` has one character per UTF-16 code unit)."""

    tokens: str
    key_units: int
    action: Action
    group: PathGroup
    parent: int
    rule_id: str

    @property
    def key(self) -> str:
        if self.group is PathGroup.SUFFIX:
            return self.tokens[len(self.tokens) - self.key_units :][::-1]
        return self.tokens[: self.key_units]


@dataclass(frozen=True)
class BlobDecision:
    """A decision made from a blob, as the driver makes it."""

    action: Action
    decided_by: Decided
    index: int
    """The deciding entry's index in its section (-1 for the default deny)."""
    rule_id: str | None
    enforced: bool


@functools.lru_cache(maxsize=16)
def _variable_prefixes(
    variables: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[tuple[str, str], ...]:
    """Each variable value's token and folded prefix: folded once, not for every decision
    (a whole-image check decides ~10^5 paths against the same values)."""
    return tuple(
        (variable_token(name), fold(value)) for name, values in variables for value in values
    )


@dataclass(frozen=True)
class Blob:
    """A validated blob. Build it with :func:`read_blob`."""

    data: bytes
    name: str
    policy_version: int
    version_minor: int
    mode: Mode
    sections: Mapping[int, tuple[int, int, int]]
    """Section id → (offset, size, count), for every known and optional section."""
    path_rules: tuple[PathEntry, ...]
    hash_rule_ids: Mapping[tuple[int, int], str]
    group_bounds: Mapping[PathGroup, tuple[int, int]]
    """Each path group's entries: [start, end) in ``path_rules``."""

    def hash_count(self, section: Section) -> int:
        return self.sections[section][2]

    def digest(self, section: Section, index: int) -> bytes:
        offset = self.sections[section][0] + index * HASH_SIZE
        return self.data[offset : offset + HASH_SIZE]

    def find_hash(self, section: Section, digest: bytes) -> int:
        """Binary search in a sorted hash section: the index, or -1."""
        lo, hi = 0, self.hash_count(section)
        while lo < hi:
            mid = (lo + hi) // 2
            probe = self.digest(section, mid)
            if probe < digest:
                lo = mid + 1
            elif probe > digest:
                hi = mid
            else:
                return mid
        return -1

    def hash_rule_id(self, section: Section, index: int) -> str:
        kind, _ = _HASH_KIND[section]
        stored = self.hash_rule_ids.get((int(section), index))
        return stored if stored is not None else default_id(kind, self.digest(section, index).hex())

    def matching_path_rules(
        self, path: str, variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES
    ) -> list[int]:
        """Indexes of the path entries matching a Windows path (folded here), ascending."""
        key = tuple((name, tuple(variables.get(name, ()))) for name in VARIABLES)
        return list(self._matching_path_rules(path, key))

    def _matching_path_rules(
        self, path: str, variables: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> tuple[int, ...]:
        folded = fold(path)
        queries = [folded]
        for token, prefix in _variable_prefixes(variables):
            if folded.startswith(prefix):
                queries.append(token + folded[len(prefix) :])
        if folded and VARIABLE_TOKEN_BASE <= ord(folded[0]) <= VARIABLE_TOKEN_LAST:
            # Only a variable rule's key starts with such a unit, and it matches
            # through a variable's value, never the unit itself (spec §5.1).
            queries.pop(0)
        found: set[int] = set()
        for query in queries:
            found.update(self._indexed(PathGroup.PREFIX, query, query))
        found.update(self._indexed(PathGroup.SUFFIX, folded[::-1], folded))
        lo, hi = self.group_bounds[PathGroup.SCAN]
        found.update(i for i in range(lo, hi) if glob_match(self.path_rules[i].tokens, folded))
        return tuple(sorted(found))

    def _indexed(self, group: PathGroup, key: str, text: str) -> list[int]:
        """Entries of ``group`` whose key is a prefix of ``key`` and whose pattern matches."""
        entries = self.path_rules
        lo, hi = self.group_bounds[group]
        # The last entry whose key is <= the query key: every key that is a prefix
        # of the query is on its parent chain (docs/blob-format.md, "Path index").
        a, b = lo, hi
        while a < b:
            mid = (a + b) // 2
            if entries[mid].key <= key:
                a = mid + 1
            else:
                b = mid
        matched = []
        i = a - 1
        while i >= lo:
            entry = entries[i]
            if key.startswith(entry.key) and glob_match(entry.tokens, text):
                matched.append(i)
            i = -1 if entry.parent == NO_PARENT else entry.parent
        return matched

    def decide(
        self,
        *,
        path: str | None = None,
        authenticode_sha256: str | None = None,
        file_sha256: str | None = None,
        variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES,
    ) -> BlobDecision:
        """Deny beats allow; path rules before hash rules (Authenticode, then file hash);
        else default deny (docs/blob-format.md §8)."""
        enforced = self.mode is Mode.ENFORCE
        paths = self.matching_path_rules(path, variables) if path is not None else ()
        for action in (Action.DENY, Action.ALLOW):
            found = self._first_path(paths, action) or self._first_hash(
                action, authenticode_sha256, file_sha256
            )
            if found is not None:
                return self._decision(action, found, enforced)
        return BlobDecision(Action.DENY, Decided.DEFAULT_DENY, -1, None, enforced)

    def _first_path(self, paths: Sequence[int], action: Action) -> tuple[Decided, int] | None:
        for index in paths:
            if self.path_rules[index].action is action:
                return Decided.PATH, index
        return None

    def _first_hash(
        self, action: Action, authenticode_sha256: str | None, file_sha256: str | None
    ) -> tuple[Decided, int] | None:
        digests = {
            RuleKind.AUTHENTICODE_SHA256: bytes.fromhex(authenticode_sha256 or ""),
            RuleKind.FILE_SHA256: bytes.fromhex(file_sha256 or ""),
        }
        # The action's hash sections, in blob order: Authenticode first.
        for section, (kind, section_action) in _HASH_KIND.items():
            digest = digests[kind]
            if section_action is action and digest:
                index = self.find_hash(section, digest)
                if index >= 0:
                    return Decided(int(section)), index
        return None

    def _decision(self, action: Action, found: tuple[Decided, int], enforced: bool) -> BlobDecision:
        decided, index = found
        if decided is Decided.PATH:
            rule_id = self.path_rules[index].rule_id
        else:
            rule_id = self.hash_rule_id(Section(int(decided)), index)
        return BlobDecision(action, decided, index, rule_id, enforced)

    @functools.cached_property
    def uses(self) -> frozenset[Need]:
        """The inputs the blob's rules test (for the staged decision)."""
        uses = set()
        if self.path_rules:
            uses.add(Need.PATH)
        if any(self.hash_count(s) for s in _HASH_SECTIONS):
            uses.add(Need.HASH)
        return frozenset(uses)

    def _has(self, action: Action, need: Need) -> bool:
        if need is Need.PATH:
            return any(e.action is action for e in self.path_rules)
        if need is Need.HASH:
            return any(self.hash_count(s) for s, (_, a) in _HASH_KIND.items() if a is action)
        return False

    def decide_staged(
        self, facts: Facts, variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES
    ) -> Verdict[BlobDecision]:
        """The driver's decision on what is known so far (:mod:`exewhitelist.staging`)."""
        enforced = self.mode is Mode.ENFORCE
        paths = self.matching_path_rules(facts.path, variables) if facts.path is not None else ()

        def table(action: Action, need: Need) -> StageState[tuple[Decided, int]]:
            if not self._has(action, need):
                return StageState()
            if facts.state(need) is not Fact.KNOWN:
                return StageState(None, frozenset({need}))
            if need is Need.PATH:
                return StageState(self._first_path(paths, action))
            return StageState(
                self._first_hash(action, facts.authenticode_sha256, facts.file_sha256)
            )

        def decide(action: Action, found: tuple[Decided, int] | None) -> BlobDecision:
            if found is None:
                return BlobDecision(Action.DENY, Decided.DEFAULT_DENY, -1, None, enforced)
            return self._decision(action, found, enforced)

        return stage(facts, self.uses, table, decide)

    def rule_records(self) -> list[tuple[str, Action, RuleKind, str]]:
        """Every rule as (id, action, kind, value), in the blob's order, as stored.

        A valid blob may hold a path pattern the policy model would not author
        (readers do not check what only writers must, docs/blob-format.md §7):
        this lists it anyway, where :meth:`to_policy` cannot.
        """
        records = []
        for section in _HASH_SECTIONS:
            kind, action = _HASH_KIND[section]
            for index in range(self.hash_count(section)):
                records.append(
                    (
                        self.hash_rule_id(section, index),
                        action,
                        kind,
                        self.digest(section, index).hex(),
                    )
                )
        for entry in self.path_rules:
            records.append((entry.rule_id, entry.action, RuleKind.PATH, pattern_text(entry.tokens)))
        return records

    def to_policy(self) -> Policy:
        """Decompile. Dropped by the blob: rule names, comments, and the case of path patterns.

        Raises :class:`BlobError` when a rule is one no policy can hold (a
        blob not written by :func:`compile_policy`).
        """
        try:
            rules = [make_rule(*record) for record in self.rule_records()]
            return Policy(self.name, self.policy_version, self.mode, tuple(canonical_order(rules)))
        except PolicyError as e:
            raise BlobError(f"the blob cannot be decompiled into a policy: {e}") from None


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<H", data, offset)[0])


def _utf8(data: bytes, status: Status, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(status, f"{what} is not valid UTF-8 ({e.reason})") from None


def _rule_id(data: bytes, what: str) -> str:
    text = _utf8(data, Status.RULE_ID, what)
    if not valid_rule_id_text(text):
        raise _fail(Status.RULE_ID, f"{what} has a control character")
    return text


def read_blob(data: bytes) -> Blob:
    """Validate ``data`` completely (``docs/blob-format.md`` §7) and return the blob.

    Raises :class:`BlobFormatError` with the pinned code of the first
    violation, :class:`BlobVersionError` (a subclass) for another major version.
    """
    data = bytes(data)
    size = len(data)
    # 1-7: the header.
    if size < HEADER_SIZE:
        raise _fail(Status.TRUNCATED, f"{size} bytes, shorter than the {HEADER_SIZE}-byte header")
    (
        magic,
        major,
        minor,
        header_size,
        blob_size,
        stored,
        flags,
        policy_version,
        count,
        reserved,
    ) = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise _fail(Status.BAD_MAGIC, f"magic {magic.hex()} is not {MAGIC.hex()}")
    if major != VERSION_MAJOR:
        raise BlobVersionError(
            int(Status.VERSION),
            Status.VERSION.name,
            f"major version {major}; this reader reads {VERSION_MAJOR}",
        )
    if header_size != HEADER_SIZE:
        raise _fail(Status.HEADER_SIZE, f"header size {header_size} is not {HEADER_SIZE}")
    if blob_size != size or size > MAX_BLOB_SIZE:
        raise _fail(
            Status.SIZE_MISMATCH,
            f"header says {blob_size} bytes, got {size} (limit {MAX_BLOB_SIZE})",
        )
    computed = checksum(data)
    if stored != computed:
        raise _fail(Status.CHECKSUM, f"CRC-32 {stored:08x} stored, {computed:08x} computed")
    if flags & ~KNOWN_FLAGS or any(reserved):
        raise _fail(Status.RESERVED, "undefined flag bits or reserved header bytes are not zero")

    # 8-11: the section directory and layout.
    if count > MAX_SECTIONS or HEADER_SIZE + SECTION_ENTRY_SIZE * count > size:
        raise _fail(Status.SECTION_DIRECTORY, f"{count} sections do not fit")
    entries = [
        SECTION_ENTRY.unpack_from(data, HEADER_SIZE + SECTION_ENTRY_SIZE * i) for i in range(count)
    ]
    previous = 0
    for section_id, _, _, _ in entries:
        if section_id <= previous or not (
            section_id in Section._value2member_map_ or section_id >= FIRST_OPTIONAL_SECTION
        ):
            raise _fail(Status.SECTION_ORDER, f"section id {section_id} unknown or out of order")
        previous = section_id
    missing = set(REQUIRED_SECTIONS) - {e[0] for e in entries}
    if missing:
        raise _fail(Status.SECTION_ORDER, f"missing sections {sorted(int(m) for m in missing)}")
    expected = HEADER_SIZE + SECTION_ENTRY_SIZE * count
    expected += -expected % ALIGNMENT
    for section_id, offset, length, _ in entries:
        if offset != expected or offset + length > size:
            raise _fail(
                Status.SECTION_LAYOUT,
                f"section {section_id} at {offset}+{length}, expected {expected}",
            )
        expected = offset + length + (-length % ALIGNMENT)
    if expected != size:
        raise _fail(Status.SECTION_LAYOUT, f"blob ends at {size}, sections at {expected}")
    padding_start = HEADER_SIZE + SECTION_ENTRY_SIZE * count
    for section_id, offset, length, _ in entries:
        if any(data[padding_start:offset]):
            raise _fail(Status.SECTION_LAYOUT, f"padding before section {section_id} is not zero")
        padding_start = offset + length
    if any(data[padding_start:]):
        raise _fail(Status.SECTION_LAYOUT, "padding after the last section is not zero")
    sections = {e[0]: (e[1], e[2], e[3]) for e in entries}
    for section in Section:
        _, length, n = sections[section]
        entry_size = {
            Section.PATH_RULES: PATH_RULE_SIZE,
            Section.HASH_RULE_IDS: RULE_ID_ENTRY_SIZE,
            **dict.fromkeys(_HASH_SECTIONS, HASH_SIZE),
        }.get(section)
        if entry_size is None:
            if n != 0:
                raise _fail(Status.SECTION_SIZE, f"section {section.name} has count {n}, not 0")
        elif length != n * entry_size:
            raise _fail(
                Status.SECTION_SIZE, f"section {section.name}: {length} bytes for {n} entries"
            )

    # 12: metadata.
    offset, length, _ = sections[Section.METADATA]
    if not 1 <= length <= MAX_NAME_BYTES:
        raise _fail(Status.METADATA, f"policy name of {length} bytes (1 to {MAX_NAME_BYTES})")
    name = _utf8(data[offset : offset + length], Status.METADATA, "the policy name")

    # 13: hash sections, strictly ascending.
    for section in _HASH_SECTIONS:
        offset, _, n = sections[section]
        for i in range(1, n):
            a = offset + (i - 1) * HASH_SIZE
            if data[a : a + HASH_SIZE] >= data[a + HASH_SIZE : a + 2 * HASH_SIZE]:
                raise _fail(Status.HASH_ORDER, f"{section.name}[{i}] is not above [{i - 1}]")

    # 14-17: path rules, entry by entry.
    s_offset, s_length, _ = sections[Section.STRINGS]
    strings = data[s_offset : s_offset + s_length]
    offset, _, n = sections[Section.PATH_RULES]
    path_rules: list[PathEntry] = []
    strings_end = 0
    for i in range(n):
        (pattern_at, units, key_units, action, group, reserved, parent, id_at, id_len) = (
            PATH_RULE.unpack_from(data, offset + i * PATH_RULE_SIZE)
        )
        # In order and not overlapping, as the writer lays them out: validation
        # (and every decision) then costs no more than the blob's size.
        if (
            pattern_at % 2
            or not 1 <= units <= MAX_PATTERN_UNITS
            or pattern_at < strings_end
            or pattern_at + 2 * units > s_length
            or not 1 <= id_len <= MAX_ID_BYTES
            or id_at < pattern_at + 2 * units
            or id_at + id_len > s_length
        ):
            raise _fail(
                Status.STRING_REF, f"path rule {i}: a string reference is out of bounds or order"
            )
        strings_end = id_at + id_len
        raw = strings[pattern_at : pattern_at + 2 * units]
        tokens = "".join(chr(_u16(raw, 2 * k)) for k in range(units))
        _check_path_entry(
            i, tokens, key_units=key_units, action=action, group=group, reserved=reserved
        )
        rule_id = _rule_id(strings[id_at : id_at + id_len], f"path rule {i}'s id")
        entry = PathEntry(
            tokens,
            key_units,
            Action.ALLOW if action == PathAction.ALLOW else Action.DENY,
            PathGroup(group),
            parent,
            rule_id,
        )
        if path_rules:
            last = path_rules[-1]
            if entry.group < last.group or (
                entry.group == last.group
                and entry.group is not PathGroup.SCAN
                and entry.key < last.key
            ):
                raise _fail(Status.PATH_ORDER, f"path rule {i} sorts before rule {i - 1}")
        if parent != _expected_parent(path_rules, entry):
            raise _fail(Status.PATH_PARENT, f"path rule {i}: parent {parent} is wrong")
        path_rules.append(entry)

    # 18: ids of hash rules that do not use the default id.
    offset, _, n = sections[Section.HASH_RULE_IDS]
    hash_rule_ids: dict[tuple[int, int], str] = {}
    previous_key = (-1, -1)
    for i in range(n):
        section_id, index, id_at, id_len = RULE_ID_ENTRY.unpack_from(
            data, offset + i * RULE_ID_ENTRY_SIZE
        )
        if section_id not in _HASH_SECTIONS or index >= sections[section_id][2]:
            raise _fail(Status.RULE_ID, f"rule id {i} names no hash rule")
        if (section_id, index) <= previous_key:
            raise _fail(Status.RULE_ID, f"rule id {i} is out of order")
        previous_key = (section_id, index)
        if not 1 <= id_len <= MAX_ID_BYTES or id_at < strings_end or id_at + id_len > s_length:
            raise _fail(Status.STRING_REF, f"rule id {i}: the string is out of bounds or order")
        strings_end = id_at + id_len
        hash_rule_ids[(section_id, index)] = _rule_id(
            strings[id_at : id_at + id_len], f"rule id {i}"
        )

    return Blob(
        data=data,
        name=name,
        policy_version=policy_version,
        version_minor=minor,
        mode=Mode.AUDIT if flags & FLAG_AUDIT else Mode.ENFORCE,
        sections=sections,
        path_rules=tuple(path_rules),
        hash_rule_ids=hash_rule_ids,
        group_bounds={
            group: (
                sum(1 for e in path_rules if e.group < group),
                sum(1 for e in path_rules if e.group <= group),
            )
            for group in PathGroup
        },
    )


def _check_path_entry(
    i: int, tokens: str, *, key_units: int, action: int, group: int, reserved: int
) -> None:
    def bad(why: str) -> BlobFormatError:
        return _fail(Status.PATH_RULE, f"path rule {i}: {why}")

    if action not in (PathAction.ALLOW, PathAction.DENY):
        raise bad(f"action {action}")
    if group not in (PathGroup.PREFIX, PathGroup.SUFFIX, PathGroup.SCAN):
        raise bad(f"group {group}")
    if reserved:
        raise bad("reserved field is not zero")
    for k, ch in enumerate(tokens):
        unit = ord(ch)
        if unit < 0x20:
            raise bad(f"control character at {k}")
        if VARIABLE_TOKEN_BASE <= unit <= VARIABLE_TOKEN_LAST and (
            k != 0 or unit == VARIABLE_TOKEN_BASE or unit > VARIABLE_TOKEN_BASE + len(VARIABLES)
        ):
            raise bad(f"invalid variable token at {k}")
    units = len(tokens)
    if group == PathGroup.PREFIX:
        ok = (
            1 <= key_units <= units
            and not any(c in _WILDCARDS for c in tokens[:key_units])
            and (key_units == units or tokens[key_units] in _WILDCARDS)
        )
    elif group == PathGroup.SUFFIX:
        start = units - key_units
        ok = (
            1 <= key_units < units
            and tokens[0] in _WILDCARDS
            and not any(c in _WILDCARDS for c in tokens[start:])
            and tokens[start - 1] in _WILDCARDS
        )
    else:
        ok = key_units == 0 and tokens[0] in _WILDCARDS and tokens[-1] in _WILDCARDS
    if not ok:
        raise bad(f"key of {key_units} units does not fit group {group} and pattern")


def _expected_parent(previous: Sequence[PathEntry], entry: PathEntry) -> int:
    """The last earlier entry of the same group whose key is a prefix of this one's."""
    if entry.group is PathGroup.SCAN:
        return NO_PARENT
    j = len(previous) - 1
    while j >= 0 and previous[j].group is entry.group:
        if entry.key.startswith(previous[j].key):
            return j
        j = NO_PARENT if previous[j].parent == NO_PARENT else previous[j].parent
        if j == NO_PARENT:
            break
    return NO_PARENT
