"""The reference reader: validate a blob completely, then decide from it.

Written to follow ``docs/blob-format.md`` section by section, in the order
the spec checks things, so the first violation gives the same pinned code
here as in the driver's C core.  After :func:`read_blob` returns, every
lookup is safe without further checks (the C core makes the same promise).
"""

from __future__ import annotations

import bisect
import functools
import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

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
from ..rules import (
    PIN_CODES,
    TBS_ALGORITHMS,
    CertificateId,
    Condition,
    FileAttribute,
    FileVersion,
    HashCondition,
    Image,
    Need,
    PathCondition,
    Pin,
    Publisher,
    SignerFacts,
    code_units,
)
from ..staging import Fact, Facts, StageState, Verdict, stage
from ._format import (
    ALIGNMENT,
    CERTIFICATE,
    CERTIFICATE_SIZE,
    EXCEPTION,
    EXCEPTION_LIST,
    EXCEPTION_LIST_SIZE,
    EXCEPTION_SIZE,
    FIRST_OPTIONAL_SECTION,
    FLAG_AUDIT,
    HASH_SECTIONS,
    HASH_SIZE,
    HEADER,
    HEADER_SIZE,
    KNOWN_FLAGS,
    KNOWN_VERSION_FLAGS,
    MAGIC,
    MAX_BLOB_SIZE,
    MAX_ID_BYTES,
    MAX_NAME_BYTES,
    MAX_PATTERN_UNITS,
    MAX_RULE_EXCEPTIONS,
    MAX_SECTIONS,
    MAX_TEXT_UNITS,
    NO_PARENT,
    NONE_INDEX,
    PATH_RULE,
    PATH_RULE_SIZE,
    PUBLISHER,
    PUBLISHER_RULE,
    PUBLISHER_RULE_SIZE,
    PUBLISHER_SIZE,
    REQUIRED_SECTIONS,
    RULE_ID_ENTRY,
    RULE_ID_ENTRY_SIZE,
    SECTION_ENTRY,
    SECTION_ENTRY_SIZE,
    SIGNER_SECTIONS,
    TBS_SIZES,
    TEXT_ENTRY,
    TEXT_ENTRY_SIZE,
    VARIABLE_TOKEN_BASE,
    VARIABLE_TOKEN_LAST,
    VERSION_HAS_MAX,
    VERSION_HAS_MIN,
    VERSION_MAJOR,
    Attribute,
    Decided,
    ExceptionKind,
    PathAction,
    PathGroup,
    Section,
    Status,
    TbsAlgorithm,
)
from .compile import checksum

__all__ = [
    "Blob",
    "BlobDecision",
    "ExceptionEntry",
    "PathEntry",
    "PublisherEntry",
    "PublisherRuleEntry",
    "RuleRecord",
    "read_blob",
]

_HASH_SECTIONS = tuple(HASH_SECTIONS)
_HASH_KIND = {
    section: (RuleKind(kind), Action(action)) for section, (kind, action) in HASH_SECTIONS.items()
}
_WILDCARDS = ("*", "?")
_TBS_NAMES = {TbsAlgorithm[name.upper()]: name for name in TBS_ALGORITHMS}
_ATTRIBUTES = {Attribute(a.code): a for a in FileAttribute}
_PIN_OF = {code: pin for pin, code in PIN_CODES.items()}
_NO_RULES: StageState[tuple[Decided, int]] = StageState()
_UNDECIDED: dict[Need, StageState[tuple[Decided, int]]] = {
    need: StageState(None, frozenset({need})) for need in Need
}
"""The state of rules whose own input is not known (they are undecided, needing it)."""
_EXCEPTION_NEEDS = {
    ExceptionKind.PATH: Need.PATH,
    ExceptionKind.AUTHENTICODE: Need.HASH,
    ExceptionKind.FILE: Need.HASH,
    ExceptionKind.PUBLISHER: Need.SIGNER,
}
_ACTION = {PathAction.ALLOW: Action.ALLOW, PathAction.DENY: Action.DENY}


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
class PublisherEntry:
    """One decoded PUBLISHERS entry: a publisher condition (indexes as stored)."""

    certificate: int
    pin: int
    attribute: Attribute
    version_flags: int
    common_name: int
    """Index into TEXTS, or NONE_INDEX."""
    attribute_value: int
    """Index into TEXTS (the folded value), or NONE_INDEX (exactly when ``attribute`` is NONE)."""
    min_version: int
    max_version: int


@dataclass(frozen=True)
class PublisherRuleEntry:
    """One decoded PUBLISHER_RULES entry."""

    publisher: int
    action: Action
    rule_id: str


@dataclass(frozen=True)
class ExceptionEntry:
    """One decoded EXCEPTIONS entry: what it tests and the index of its value."""

    kind: ExceptionKind
    index: int
    """Into TEXTS (PATH), EXCEPTION_HASHES (AUTHENTICODE, FILE) or PUBLISHERS (PUBLISHER)."""

    @property
    def needs(self) -> Need:
        return _EXCEPTION_NEEDS[self.kind]


@dataclass(frozen=True)
class RuleRecord:
    """A rule as the blob stores it, with its exceptions (:meth:`Blob.records`)."""

    rule_id: str
    action: Action
    kind: RuleKind
    value: str | Publisher
    """A digest (hex), a path pattern (folded) or a publisher condition (attribute folded)."""
    exceptions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class BlobDecision:
    """A decision made from a blob, as the driver makes it."""

    action: Action
    decided_by: Decided
    index: int
    """The deciding entry's index in its section (-1 for the default deny)."""
    rule_id: str | None
    enforced: bool


_VariablesKey = tuple[tuple[str, tuple[str, ...]], ...]
"""The path variables' values, hashable: the key of :func:`_variable_prefixes`'s cache."""


_FOLDER_MATCHES_KEPT = 1 << 16
"""The most folders whose path matches a blob keeps (an image has ~10^4)."""
_DECISIONS_KEPT = 1 << 16
"""The most decisions a blob keeps to hand out again (one per deciding rule)."""


def _variables_key(variables: Mapping[str, Sequence[str]]) -> _VariablesKey:
    return tuple([(name, tuple(variables.get(name, ()))) for name in VARIABLES])


def _digest_bytes(image: Image) -> dict[RuleKind, bytes]:
    """The image's digests as the hash sections hold them (empty: not known)."""
    return {
        RuleKind.AUTHENTICODE_SHA256: bytes.fromhex(image.authenticode_sha256 or ""),
        RuleKind.FILE_SHA256: bytes.fromhex(image.file_sha256 or ""),
    }


@functools.lru_cache(maxsize=16)
def _variable_prefixes(
    variables: _VariablesKey,
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
    certificates: tuple[tuple[TbsAlgorithm, bytes], ...] = ()
    """CERTIFICATES: (algorithm, TBS digest), ascending (format 1.1; empty in 1.0)."""
    texts: tuple[str, ...] = ()
    """TEXTS, one character per UTF-16 code unit, ascending."""
    publishers: tuple[PublisherEntry, ...] = ()
    publisher_rules: tuple[PublisherRuleEntry, ...] = ()
    exception_lists: Mapping[tuple[int, int], tuple[ExceptionEntry, ...]] = field(
        default_factory=dict
    )
    """(section, rule index) → the rule's exceptions, for the rules that have any."""
    exception_hashes: tuple[bytes, ...] = ()

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
        return list(self._matching_folded(fold(path), _variables_key(variables)))

    def _matching_folded(self, folded: str, variables: _VariablesKey) -> tuple[int, ...]:
        if not self._folder_patterns_only:
            return self._search_folded(folded, variables)
        # Every pattern ends with \*: P\* matches a path when P matches what precedes one of
        # its backslashes, all of which are in its folder (a name has none), and a variable's
        # value that reaches into the name leaves no backslash after it. So the paths of one
        # folder match the same entries: searched once per folder of a whole image.
        folder = folded[: folded.rfind("\\") + 1]
        cache = self._folder_matches
        key = (folder, variables)
        found = cache.get(key)
        if found is None:
            if len(cache) >= _FOLDER_MATCHES_KEPT:
                cache.clear()
            found = cache[key] = self._search_folded(folded, variables)
        return found

    @functools.cached_property
    def _folder_patterns_only(self) -> bool:
        return all(entry.tokens.endswith("\\*") for entry in self.path_rules)

    @functools.cached_property
    def _folder_matches(self) -> dict[tuple[str, _VariablesKey], tuple[int, ...]]:
        """(folder, variables) → the path entries its paths match (:meth:`_matching_folded`)."""
        return {}

    def _search_folded(self, folded: str, variables: _VariablesKey) -> tuple[int, ...]:
        queries = [folded]
        for token, prefix in _variable_prefixes(variables):
            if folded.startswith(prefix):
                queries.append(token + folded[len(prefix) :])
        if folded and VARIABLE_TOKEN_BASE <= ord(folded[0]) <= VARIABLE_TOKEN_LAST:
            # Only a variable rule's key starts with such a unit, and it matches
            # through a variable's value, never the unit itself (spec §5.1).
            queries.pop(0)
        found: list[int] = []
        for query in queries:
            found += self._indexed(PathGroup.PREFIX, query, query)
        found += self._indexed(PathGroup.SUFFIX, folded[::-1], folded)
        lo, hi = self.group_bounds[PathGroup.SCAN]
        entries = self.path_rules
        found += [i for i in range(lo, hi) if glob_match(entries[i].tokens, folded)]
        # Most paths match no rule or one: no set to build then.
        return tuple(found) if len(found) < 2 else tuple(sorted(set(found)))

    @functools.cached_property
    def _path_keys(self) -> tuple[str, ...]:
        """Each path entry's key, computed once: a whole-image check searches them ~10^5 times."""
        return tuple(entry.key for entry in self.path_rules)

    def _indexed(self, group: PathGroup, key: str, text: str) -> list[int]:
        """Entries of ``group`` whose key is a prefix of ``key`` and whose pattern matches."""
        entries = self.path_rules
        keys = self._path_keys
        lo, hi = self.group_bounds[group]
        # The last entry whose key is <= the query key: every key that is a prefix
        # of the query is on its parent chain (docs/blob-format.md, "Path index").
        matched = []
        i = bisect.bisect_right(keys, key, lo, hi) - 1
        while i >= lo:
            entry = entries[i]
            if key.startswith(keys[i]) and glob_match(entry.tokens, text):
                matched.append(i)
            i = -1 if entry.parent == NO_PARENT else entry.parent
        return matched

    def decide(
        self,
        *,
        path: str | None = None,
        authenticode_sha256: str | None = None,
        file_sha256: str | None = None,
        signer_facts: SignerFacts | None = None,
        variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES,
    ) -> BlobDecision:
        """Deny beats allow; within an action path rules, then hash rules (Authenticode, then
        file hash), then publisher rules, each without a matching exception; else default deny
        (docs/blob-format.md §8)."""
        enforced = self.mode is Mode.ENFORCE
        image = Image(
            folded_path=fold(path) if path is not None else None,
            authenticode_sha256=authenticode_sha256.lower() if authenticode_sha256 else None,
            file_sha256=file_sha256.lower() if file_sha256 else None,
            signer_facts=signer_facts,
        )
        paths = (
            self._matching_folded(image.folded_path, _variables_key(variables))
            if image.folded_path is not None
            else ()
        )
        digests = _digest_bytes(image)
        publishers = self._publisher_candidates(signer_facts)
        for action in (Action.DENY, Action.ALLOW):
            # Each input's rules only when there are candidates: a whole-image check makes
            # ~10^5 decisions, most decided by one input.
            found = None
            if paths:
                found = self._scan(
                    Section.PATH_RULES, paths, action, image, None, variables, stop=True
                )[0]
            if found is None:
                found = self._first_hash(action, digests)
            if found is None and publishers:
                found = self._scan(
                    Section.PUBLISHER_RULES, publishers, action, image, None, variables, stop=True
                )[0]
            if found is not None:
                return self._decision(action, found, enforced)
        return BlobDecision(Action.DENY, Decided.DEFAULT_DENY, -1, None, enforced)

    # -- rules with exceptions (path and publisher rules)

    def _rule_action(self, section: Section, index: int) -> Action:
        if section is Section.PATH_RULES:
            return self.path_rules[index].action
        return self.publisher_rules[index].action

    def _condition_holds(self, section: Section, index: int, image: Image) -> bool:
        """The rule's own condition (a path rule's candidates matched already)."""
        if section is Section.PATH_RULES:
            return True
        rule = self.publisher_rules[index]
        return self.publisher_holds(rule.publisher, image.signer_facts, rule.action is Action.DENY)

    def _scan(
        self,
        section: Section,
        candidates: Iterable[int],
        action: Action,
        image: Image,
        facts: Facts | None,
        variables: Mapping[str, Sequence[str]],
        *,
        stop: bool = False,
    ) -> tuple[tuple[Decided, int] | None, frozenset[Need]]:
        """The first candidate rule of ``action`` (ascending index) that matches, and what the
        undecided ones need (``staging.rule_state``; ``facts`` None: every input is known).

        With ``stop`` the scan ends at the first match (the full-facts decision)."""
        first: tuple[Decided, int] | None = None
        undecided: set[Need] = set()
        decided = Decided.PATH if section is Section.PATH_RULES else Decided.PUBLISHER
        for index in candidates:
            if self._rule_action(section, index) is not action:
                continue
            if not self._condition_holds(section, index, image):
                continue
            excluded, needs = self._exception_state(section, index, image, facts, variables)
            if excluded:
                continue
            if needs:
                undecided |= needs
                continue
            if first is None:
                first = (decided, index)
                if stop:
                    break
        return first, frozenset(undecided)

    def _exception_state(
        self,
        section: Section,
        index: int,
        image: Image,
        facts: Facts | None,
        variables: Mapping[str, Sequence[str]],
    ) -> tuple[bool, frozenset[Need]]:
        """(a known exception matches, the inputs of the exceptions not known)."""
        undecided: set[Need] = set()
        for exception in self.exception_lists.get((int(section), index), ()):
            if facts is not None and facts.state(exception.needs) is not Fact.KNOWN:
                undecided.add(exception.needs)
            elif self.exception_matches(exception, image, variables):
                return True, frozenset()
        return False, frozenset(undecided)

    def exception_matches(
        self, exception: ExceptionEntry, image: Image, variables: Mapping[str, Sequence[str]]
    ) -> bool:
        """Whether an exception holds for the image (as an allow rule of its kind would)."""
        kind = exception.kind
        if kind is ExceptionKind.PATH:
            return image.folded_path is not None and _pattern_matches(
                self.texts[exception.index], image.folded_path, variables
            )
        if kind is ExceptionKind.PUBLISHER:
            return self.publisher_holds(exception.index, image.signer_facts, deny=False)
        digest = (
            image.authenticode_sha256 if kind is ExceptionKind.AUTHENTICODE else image.file_sha256
        )
        return digest is not None and digest == self.exception_hashes[exception.index].hex()

    # -- publisher conditions

    def find_certificate(self, certificate: CertificateId) -> int:
        """Binary search in CERTIFICATES: the index, or -1."""
        key = _certificate_key(certificate)
        if key is None:
            return -1
        lo, hi = 0, len(self.certificates)
        while lo < hi:
            mid = (lo + hi) // 2
            probe = self.certificates[mid]
            if probe < key:
                lo = mid + 1
            elif probe > key:
                hi = mid
            else:
                return mid
        return -1

    def _publisher_candidates(self, facts: SignerFacts | None) -> list[int]:
        """The publisher rules whose condition pins a certificate of a signer's chain, ascending
        (a superset of those that hold)."""
        if facts is None or not self.publisher_rules:
            return []
        found: set[int] = set()
        for signer in facts.signers:
            for certificate in signer.chain:
                index = self.find_certificate(certificate)
                if index < 0:
                    continue
                # PUBLISHERS are sorted by certificate: its conditions are one range, and
                # PUBLISHER_RULES sorted by condition: each condition's rules are one range.
                p = _lower_bound(
                    len(self.publishers), lambda i: self.publishers[i].certificate, index
                )
                while p < len(self.publishers) and self.publishers[p].certificate == index:
                    r = _lower_bound(
                        len(self.publisher_rules), lambda i: self.publisher_rules[i].publisher, p
                    )
                    while r < len(self.publisher_rules) and self.publisher_rules[r].publisher == p:
                        found.add(r)
                        r += 1
                    p += 1
        return sorted(found)

    def publisher_holds(self, index: int, facts: SignerFacts | None, deny: bool) -> bool:
        """Whether PUBLISHERS[index] holds for the signer facts, for a rule of that action
        (``Publisher.matches_as``: a lone version bound of a deny rule points the other way)."""
        if facts is None or not facts.signers:
            return False
        entry = self.publishers[index]
        if entry.attribute is not Attribute.NONE:
            value = facts.attributes.get(_ATTRIBUTES[entry.attribute])
            if value is None or fold(value) != self.texts[entry.attribute_value]:
                return False
        if not _version_ok(entry, facts.version, deny):
            return False
        certificate = self.certificates[entry.certificate]
        for signer in facts.signers:
            if entry.common_name != NONE_INDEX and (
                signer.common_name is None
                or code_units(signer.common_name) != self.texts[entry.common_name]
            ):
                continue
            pin = _PIN_OF[entry.pin]
            if pin is Pin.LEAF:
                chain = signer.chain[:1]
            elif pin is Pin.ISSUER:
                chain = signer.chain[1:]
            else:
                chain = signer.chain
            if any(_certificate_key(c) == certificate for c in chain):
                return True
        return False

    # -- hash rules and decisions

    def _first_hash(
        self, action: Action, digests: Mapping[RuleKind, bytes]
    ) -> tuple[Decided, int] | None:
        for section, kind in self._hash_sections[action]:
            digest = digests[kind]
            if digest:
                index = self.find_hash(section, digest)
                if index >= 0:
                    return Decided(int(section)), index
        return None

    @functools.cached_property
    def _hash_sections(self) -> Mapping[Action, tuple[tuple[Section, RuleKind], ...]]:
        """Each action's hash sections that hold a digest, in blob order (Authenticode first):
        an empty one is not searched."""
        sections: dict[Action, list[tuple[Section, RuleKind]]] = {a: [] for a in Action}
        for section, (kind, action) in _HASH_KIND.items():
            if self.hash_count(section):
                sections[action].append((section, kind))
        return {action: tuple(found) for action, found in sections.items()}

    def _decision(self, action: Action, found: tuple[Decided, int], enforced: bool) -> BlobDecision:
        # The files of an image are decided by a few rules: one (immutable) decision each,
        # made once, rule id and all.
        key = (action, found, enforced)
        decision = self._decisions.get(key)
        if decision is None:
            if len(self._decisions) >= _DECISIONS_KEPT:
                self._decisions.clear()
            decision = self._decisions[key] = self._new_decision(action, found, enforced)
        return decision

    @functools.cached_property
    def _decisions(self) -> dict[tuple[Action, tuple[Decided, int], bool], BlobDecision]:
        return {}

    def _new_decision(
        self, action: Action, found: tuple[Decided, int], enforced: bool
    ) -> BlobDecision:
        decided, index = found
        if decided is Decided.PATH:
            rule_id = self.path_rules[index].rule_id
        elif decided is Decided.PUBLISHER:
            rule_id = self.publisher_rules[index].rule_id
        else:
            rule_id = self.hash_rule_id(Section(int(decided)), index)
        return BlobDecision(action, decided, index, rule_id, enforced)

    @functools.cached_property
    def _exception_needs(self) -> frozenset[Need]:
        return frozenset(e.needs for entries in self.exception_lists.values() for e in entries)

    @functools.cached_property
    def uses(self) -> frozenset[Need]:
        """The inputs the blob's rules and exceptions test (for the staged decision)."""
        uses = set(self._exception_needs)
        if self.path_rules:
            uses.add(Need.PATH)
        if any(self.hash_count(s) for s in _HASH_SECTIONS):
            uses.add(Need.HASH)
        if self.publisher_rules:
            uses.add(Need.SIGNER)
        return frozenset(uses)

    @property
    def needs_signers(self) -> bool:
        """Whether a decision may need signer facts: a publisher rule or a PUBLISHER exception
        (what a driver that cannot verify signatures yet must refuse)."""
        return Need.SIGNER in self.uses

    @functools.cached_property
    def _kinds(self) -> frozenset[tuple[Action, Need]]:
        """(action, input) of the rules the blob has (asked on every staged decision)."""
        kinds = {(e.action, Need.PATH) for e in self.path_rules}
        kinds.update((a, Need.HASH) for s, (_, a) in _HASH_KIND.items() if self.hash_count(s))
        kinds.update((r.action, Need.SIGNER) for r in self.publisher_rules)
        return frozenset(kinds)

    def decide_staged(
        self, facts: Facts, variables: Mapping[str, Sequence[str]] = DEFAULT_VARIABLES
    ) -> Verdict[BlobDecision]:
        """The driver's decision on what is known so far (:mod:`exewhitelist.staging`)."""
        enforced = self.mode is Mode.ENFORCE
        image = facts.image()
        paths = (
            self._matching_folded(image.folded_path, _variables_key(variables))
            if image.folded_path is not None
            else ()
        )

        kinds = self._kinds

        def table(action: Action, need: Need) -> StageState[tuple[Decided, int]]:
            if (action, need) not in kinds:
                return _NO_RULES
            if facts.state(need) is not Fact.KNOWN:
                return _UNDECIDED[need]
            if need is Need.PATH:
                first, undecided = self._scan(
                    Section.PATH_RULES, paths, action, image, facts, variables
                )
                return StageState(first, undecided)
            if need is Need.HASH:
                return StageState(self._first_hash(action, _digest_bytes(image)))
            first, undecided = self._scan(
                Section.PUBLISHER_RULES,
                self._publisher_candidates(image.signer_facts),
                action,
                image,
                facts,
                variables,
            )
            return StageState(first, undecided)

        def decide(action: Action, found: tuple[Decided, int] | None) -> BlobDecision:
            if found is None:
                return BlobDecision(Action.DENY, Decided.DEFAULT_DENY, -1, None, enforced)
            return self._decision(action, found, enforced)

        return stage(facts, self.uses, table, decide)

    # -- decompiling

    def publisher_data(self, index: int) -> dict[str, str]:
        """PUBLISHERS[index] as a policy file's publisher table (attribute value folded)."""
        entry = self.publishers[index]
        algorithm, digest = self.certificates[entry.certificate]
        out = {
            "certificate": f"{_TBS_NAMES[algorithm]}:{digest.hex()}",
            "pin": _PIN_OF[entry.pin].value,
        }
        if entry.common_name != NONE_INDEX:
            out["common_name"] = _text(self.texts[entry.common_name])
        if entry.attribute is not Attribute.NONE:
            out[_ATTRIBUTES[entry.attribute].value] = _text(self.texts[entry.attribute_value])
        if entry.version_flags & VERSION_HAS_MIN:
            out["min_version"] = str(_unpack_version(entry.min_version))
        if entry.version_flags & VERSION_HAS_MAX:
            out["max_version"] = str(_unpack_version(entry.max_version))
        return out

    def publisher_text(self, index: int) -> str:
        """PUBLISHERS[index] in ``Publisher.text`` form (for any valid blob, even one whose
        texts no policy could hold)."""
        return json.dumps(self.publisher_data(index), ensure_ascii=False, separators=(",", ":"))

    def exceptions_of(self, section: Section, index: int) -> tuple[ExceptionEntry, ...]:
        """The exceptions of PATH_RULES or PUBLISHER_RULES[index], in their order."""
        return self.exception_lists.get((int(section), index), ())

    def exception_text(self, exception: ExceptionEntry) -> tuple[RuleKind, str]:
        """An exception as (kind, value): a folded pattern, a hex digest, a publisher's text."""
        if exception.kind is ExceptionKind.PATH:
            return RuleKind.PATH, pattern_text(self.texts[exception.index])
        if exception.kind is ExceptionKind.PUBLISHER:
            return RuleKind.PUBLISHER, self.publisher_text(exception.index)
        kind = (
            RuleKind.AUTHENTICODE_SHA256
            if exception.kind is ExceptionKind.AUTHENTICODE
            else RuleKind.FILE_SHA256
        )
        return kind, self.exception_hashes[exception.index].hex()

    def rule_records(self) -> list[tuple[str, Action, RuleKind, str]]:
        """Every rule as (id, action, kind, value), in the blob's order, as stored.

        A publisher rule's value is its condition's text (``Publisher.text``), its
        attribute value folded; exceptions are not listed (:meth:`records` has them).
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
        for rule in self.publisher_rules:
            records.append(
                (rule.rule_id, rule.action, RuleKind.PUBLISHER, self.publisher_text(rule.publisher))
            )
        return records

    def _condition(self, exception: ExceptionEntry) -> Condition:
        kind, value = self.exception_text(exception)
        if kind is RuleKind.PATH:
            return PathCondition(value)
        if kind is RuleKind.PUBLISHER:
            return self._publisher(exception.index)
        return HashCondition(kind, value)

    def _publisher(self, index: int) -> Publisher:
        return Publisher.from_data(self.publisher_data(index))

    def records(self) -> list[RuleRecord]:
        """Every rule with its exceptions, as conditions of the policy model, in the blob's
        order. Raises :class:`PolicyError` for a value no policy can hold."""
        out = []
        for index, (rule_id, action, kind, value) in enumerate(self.rule_records()):
            if kind is RuleKind.PATH:
                section, at = (
                    Section.PATH_RULES,
                    index - sum(self.hash_count(s) for s in _HASH_SECTIONS),
                )
            elif kind is RuleKind.PUBLISHER:
                section, at = (
                    Section.PUBLISHER_RULES,
                    index - sum(self.hash_count(s) for s in _HASH_SECTIONS) - len(self.path_rules),
                )
            else:
                out.append(RuleRecord(rule_id, action, kind, value))
                continue
            exceptions = tuple(self._condition(e) for e in self.exceptions_of(section, at))
            stored: str | Publisher = (
                self._publisher(self.publisher_rules[at].publisher)
                if kind is RuleKind.PUBLISHER
                else value
            )
            out.append(RuleRecord(rule_id, action, kind, stored, exceptions))
        return out

    def to_policy(self) -> Policy:
        """Decompile. Dropped by the blob: rule names, comments, and the case of path patterns
        (rules' and exceptions') and of publisher conditions' file attribute values, which
        come back folded (upper-cased, as Windows compares them).

        Raises :class:`BlobError` when a rule is one no policy can hold (a
        blob not written by :func:`compile_policy`).
        """
        try:
            rules = [
                make_rule(r.rule_id, r.action, r.kind, r.value, exceptions=r.exceptions)
                for r in self.records()
            ]
            return Policy(self.name, self.policy_version, self.mode, tuple(canonical_order(rules)))
        except PolicyError as e:
            raise BlobError(f"the blob cannot be decompiled into a policy: {e}") from None


def _lower_bound(n: int, key: Callable[[int], int], value: int) -> int:
    """The first i in [0, n) with key(i) >= value (key non-decreasing), else n."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if key(mid) < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _certificate_key(certificate: CertificateId) -> tuple[TbsAlgorithm, bytes] | None:
    """A chain certificate as CERTIFICATES stores it, or None if no entry can equal it."""
    if not isinstance(certificate, CertificateId) or certificate.problem() is not None:
        return None
    return TbsAlgorithm[certificate.algorithm.upper()], bytes.fromhex(certificate.tbs_hash)


def _unpack_version(packed: int) -> FileVersion:
    return FileVersion(
        ((packed >> 48) & 0xFFFF, (packed >> 32) & 0xFFFF, (packed >> 16) & 0xFFFF, packed & 0xFFFF)
    )


def _version_ok(entry: PublisherEntry, version: FileVersion | None, deny: bool) -> bool:
    """``Publisher._version_ok`` on the packed bounds."""
    has_min = bool(entry.version_flags & VERSION_HAS_MIN)
    has_max = bool(entry.version_flags & VERSION_HAS_MAX)
    if not has_min and not has_max:
        return True
    if version is None:
        return False
    v = version.packed
    if has_min and has_max:
        return entry.min_version <= v <= entry.max_version
    if has_min:
        return v <= entry.min_version if deny else v >= entry.min_version
    return v >= entry.max_version if deny else v <= entry.max_version


def _text(units: str) -> str:
    """Code units (one character each) back to text: surrogate pairs joined."""
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _pattern_matches(tokens: str, folded_path: str, variables: Mapping[str, Sequence[str]]) -> bool:
    """A stored (folded) pattern against a folded path: ``PathPattern.matches``."""
    if tokens and VARIABLE_TOKEN_BASE < ord(tokens[0]) <= VARIABLE_TOKEN_BASE + len(VARIABLES):
        name = VARIABLES[ord(tokens[0]) - VARIABLE_TOKEN_BASE - 1]
        for value in variables.get(name, ()):
            prefix = fold(value)
            if folded_path.startswith(prefix) and glob_match(
                tokens[1:], folded_path[len(prefix) :]
            ):
                return True
        return False
    return glob_match(tokens, folded_path)


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
    signer_present = [s for s in SIGNER_SECTIONS if s in {e[0] for e in entries}]
    if signer_present and len(signer_present) != len(SIGNER_SECTIONS):
        # 16: the signer sections (format 1.1) come all together or not at all.
        raise _fail(Status.SECTION_ORDER, "sections 9-16 must be all present or all absent")
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
    for section in REQUIRED_SECTIONS:
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

    signer: dict[str, object] = {}
    if signer_present:
        signer = _read_signer_sections(data, sections, strings, strings_end)

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
        **signer,  # type: ignore[arg-type]
    )


_SIGNER_ENTRY_SIZES = {
    Section.PUBLISHER_RULES: PUBLISHER_RULE_SIZE,
    Section.PUBLISHERS: PUBLISHER_SIZE,
    Section.CERTIFICATES: CERTIFICATE_SIZE,
    Section.TEXTS: TEXT_ENTRY_SIZE,
    Section.EXCEPTION_LISTS: EXCEPTION_LIST_SIZE,
    Section.EXCEPTIONS: EXCEPTION_SIZE,
    Section.EXCEPTION_HASHES: HASH_SIZE,
}


def _read_signer_sections(
    data: bytes,
    sections: Mapping[int, tuple[int, int, int]],
    strings: bytes,
    strings_end: int,
) -> dict[str, object]:
    """Steps 17-23 of the validation: the signer sections of format 1.1, in order."""
    # 17: sizes.
    for section in SIGNER_SECTIONS:
        _, length, n = sections[section]
        entry_size = _SIGNER_ENTRY_SIZES.get(section)
        if entry_size is None:  # TEXT_DATA: code units
            if n != 0 or length % 2:
                raise _fail(
                    Status.SECTION_SIZE, f"section {section.name}: count {n}, {length} bytes"
                )
        elif length != n * entry_size:
            raise _fail(
                Status.SECTION_SIZE, f"section {section.name}: {length} bytes for {n} entries"
            )

    # 18: certificates.
    offset, _, n = sections[Section.CERTIFICATES]
    certificates: list[tuple[TbsAlgorithm, bytes]] = []
    for i in range(n):
        algorithm, reserved, digest = CERTIFICATE.unpack_from(data, offset + i * CERTIFICATE_SIZE)
        if algorithm not in TbsAlgorithm._value2member_map_:
            raise _fail(Status.CERTIFICATE, f"certificate {i}: algorithm {algorithm}")
        if any(reserved):
            raise _fail(Status.CERTIFICATE, f"certificate {i}: reserved bytes are not zero")
        size = TBS_SIZES[TbsAlgorithm(algorithm)]
        if any(digest[size:]):
            raise _fail(Status.CERTIFICATE, f"certificate {i}: bytes after the digest not zero")
        key = (TbsAlgorithm(algorithm), bytes(digest[:size]))
        if certificates and key <= certificates[-1]:
            raise _fail(Status.CERTIFICATE, f"certificate {i} is not above certificate {i - 1}")
        certificates.append(key)

    # 19: texts.
    data_at, data_size, _ = sections[Section.TEXT_DATA]
    offset, _, n = sections[Section.TEXTS]
    texts: list[str] = []
    expected = 0
    for i in range(n):
        at, units = TEXT_ENTRY.unpack_from(data, offset + i * TEXT_ENTRY_SIZE)
        if at != expected or not 1 <= units <= MAX_TEXT_UNITS or at + 2 * units > data_size:
            raise _fail(Status.TEXT, f"text {i}: at {at}, {units} units (expected at {expected})")
        raw = data[data_at + at : data_at + at + 2 * units]
        text = "".join(chr(_u16(raw, 2 * k)) for k in range(units))
        if any(ord(c) < 0x20 for c in text):
            raise _fail(Status.TEXT, f"text {i} has a control character")
        if texts and text <= texts[-1]:
            raise _fail(Status.TEXT, f"text {i} is not above text {i - 1}")
        texts.append(text)
        expected = at + 2 * units
    if expected != data_size:
        raise _fail(Status.TEXT, f"the texts end at {expected}, TEXT_DATA at {data_size}")

    # 20: publisher conditions.
    offset, _, n = sections[Section.PUBLISHERS]
    publishers: list[PublisherEntry] = []
    previous_key: tuple[int, ...] | None = None
    for i in range(n):
        (cert, pin, attribute, flags, reserved, cn, value, low, high) = PUBLISHER.unpack_from(
            data, offset + i * PUBLISHER_SIZE
        )

        def bad(why: str, i: int = i) -> BlobFormatError:
            return _fail(Status.PUBLISHER, f"publisher {i}: {why}")

        if cert >= len(certificates):
            raise bad(f"certificate {cert} out of bounds")
        if pin not in _PIN_OF:
            raise bad(f"pin {pin}")
        if attribute not in Attribute._value2member_map_:
            raise bad(f"attribute {attribute}")
        if flags & ~KNOWN_VERSION_FLAGS or reserved:
            raise bad("undefined version flags or reserved byte")
        if cn != NONE_INDEX and cn >= len(texts):
            raise bad(f"common name {cn} out of bounds")
        if (attribute == Attribute.NONE) != (value == NONE_INDEX) or (
            value != NONE_INDEX and value >= len(texts)
        ):
            raise bad(f"attribute value {value} does not fit attribute {attribute}")
        has_min, has_max = bool(flags & VERSION_HAS_MIN), bool(flags & VERSION_HAS_MAX)
        if (not has_min and low) or (not has_max and high):
            raise bad("a version bound without its flag is not zero")
        if has_min and has_max and low > high:
            raise bad("min version above max version")
        order = (
            cert,
            pin,
            -1 if cn == NONE_INDEX else cn,
            attribute,
            -1 if value == NONE_INDEX else value,
            has_min,
            low,
            has_max,
            high,
        )
        if previous_key is not None and order <= previous_key:
            raise bad(f"not above publisher {i - 1}")
        previous_key = order
        publishers.append(
            PublisherEntry(cert, pin, Attribute(attribute), flags, cn, value, low, high)
        )

    # 21: publisher rules (their ids follow the hash rule ids in STRINGS).
    offset, _, n = sections[Section.PUBLISHER_RULES]
    publisher_rules: list[PublisherRuleEntry] = []
    for i in range(n):
        publisher, action, reserved, id_at, id_len = PUBLISHER_RULE.unpack_from(
            data, offset + i * PUBLISHER_RULE_SIZE
        )
        if (
            publisher >= len(publishers)
            or action not in _ACTION
            or any(reserved)
            or (publisher_rules and publisher < publisher_rules[-1].publisher)
        ):
            raise _fail(Status.PUBLISHER_RULE, f"publisher rule {i} is malformed or out of order")
        if not 1 <= id_len <= MAX_ID_BYTES or id_at < strings_end or id_at + id_len > len(strings):
            raise _fail(Status.STRING_REF, f"publisher rule {i}: the id is out of bounds or order")
        strings_end = id_at + id_len
        rule_id = _rule_id(strings[id_at:strings_end], f"publisher rule {i}'s id")
        publisher_rules.append(PublisherRuleEntry(publisher, _ACTION[PathAction(action)], rule_id))

    # 22: exception digests.
    offset, _, n = sections[Section.EXCEPTION_HASHES]
    hashes = [data[offset + i * HASH_SIZE : offset + (i + 1) * HASH_SIZE] for i in range(n)]
    for i in range(1, n):
        if hashes[i] <= hashes[i - 1]:
            raise _fail(Status.EXCEPTION, f"exception hash {i} is not above {i - 1}")

    # 23: exception lists, then the exceptions.
    offset, _, n = sections[Section.EXCEPTION_LISTS]
    exceptions_at, _, exception_count = sections[Section.EXCEPTIONS]
    lists: list[tuple[int, int, int, int]] = []
    first_expected = 0
    for i in range(n):
        listed, index, first, count = EXCEPTION_LIST.unpack_from(
            data, offset + i * EXCEPTION_LIST_SIZE
        )
        if (
            listed not in (Section.PATH_RULES, Section.PUBLISHER_RULES)
            or index >= sections[listed][2]
            or (lists and (listed, index) <= lists[-1][:2])
            or first != first_expected
            or not 1 <= count <= MAX_RULE_EXCEPTIONS
        ):
            raise _fail(Status.EXCEPTION, f"exception list {i} is malformed or out of order")
        lists.append((listed, index, first, count))
        first_expected = first + count
    if first_expected != exception_count:
        raise _fail(
            Status.EXCEPTION, f"the lists hold {first_expected} exceptions, not {exception_count}"
        )
    bounds = {
        ExceptionKind.PATH: len(texts),
        ExceptionKind.AUTHENTICODE: len(hashes),
        ExceptionKind.FILE: len(hashes),
        ExceptionKind.PUBLISHER: len(publishers),
    }
    exception_lists: dict[tuple[int, int], tuple[ExceptionEntry, ...]] = {}
    for listed, index, first, count in lists:
        entries: list[ExceptionEntry] = []
        for k in range(first, first + count):
            kind, reserved, target = EXCEPTION.unpack_from(data, exceptions_at + k * EXCEPTION_SIZE)
            if kind not in ExceptionKind._value2member_map_ or any(reserved):
                raise _fail(Status.EXCEPTION, f"exception {k}: kind {kind} or reserved bytes")
            entry = ExceptionEntry(ExceptionKind(kind), target)
            if target >= bounds[entry.kind]:
                raise _fail(Status.EXCEPTION, f"exception {k}: index {target} out of bounds")
            if entry.kind is ExceptionKind.PATH and not _valid_pattern_units(texts[target]):
                raise _fail(Status.EXCEPTION, f"exception {k}: text {target} is not a pattern")
            if entries and (entry.kind, entry.index) <= (entries[-1].kind, entries[-1].index):
                raise _fail(Status.EXCEPTION, f"exception {k} is not above exception {k - 1}")
            entries.append(entry)
        exception_lists[(listed, index)] = tuple(entries)

    return {
        "certificates": tuple(certificates),
        "texts": tuple(texts),
        "publishers": tuple(publishers),
        "publisher_rules": tuple(publisher_rules),
        "exception_lists": exception_lists,
        "exception_hashes": tuple(hashes),
    }


def _valid_pattern_units(tokens: str) -> bool:
    """Rule 14b's units: none below 0x20, a variable unit only first and only a known one."""
    for k, ch in enumerate(tokens):
        unit = ord(ch)
        if unit < 0x20:
            return False
        if VARIABLE_TOKEN_BASE <= unit <= VARIABLE_TOKEN_LAST and (
            k != 0 or unit == VARIABLE_TOKEN_BASE or unit > VARIABLE_TOKEN_BASE + len(VARIABLES)
        ):
            return False
    return True


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
