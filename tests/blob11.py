"""A second, test-only writer of blob format 1.1 (publisher rules and exceptions).

It follows the 1.1 design (``docs/blob-format.md`` once it lands) section by
section, independently of ``exewhitelist.blob.compile``'s 1.1 code: sections
1-8 come from :func:`exewhitelist.blob.compile_policy` on the policy without
its publisher rules and exceptions (they are the 1.0 sections, unchanged by
1.1 but for the publisher rule ids appended to STRINGS), and sections 9-16
are built here from the policy model. The C core's 1.1 tests decide on these
blobs and compare with the model; when the real compiler writes 1.1, the two
writers must give the same bytes (:func:`write` is then a cross-check).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import replace

from exewhitelist.blob import compile_policy
from exewhitelist.blob._format import (
    ALIGNMENT,
    CERTIFICATE,
    EXCEPTION,
    EXCEPTION_LIST,
    HEADER_SIZE,
    NONE_INDEX,
    PUBLISHER,
    PUBLISHER_RULE,
    SECTION_ENTRY,
    SECTION_ENTRY_SIZE,
    TBS_DIGEST_BYTES,
    TEXT_ENTRY,
    VERSION_HAS_MAX,
    VERSION_HAS_MIN,
    VERSION_MINOR_SIGNERS,
    ExceptionKind,
    HeaderField,
    Section,
    TbsAlgorithm,
)
from exewhitelist.blob.compile import set_checksum
from exewhitelist.policy import Policy, canonical_order
from exewhitelist.rules import (
    CertificateId,
    Condition,
    HashCondition,
    PathCondition,
    PathRule,
    Publisher,
    PublisherRule,
    Rule,
    RuleKind,
    code_units,
    fold,
)
from exewhitelist.rules.publisher import PIN_CODES

_ALGORITHMS = {
    "sha1": TbsAlgorithm.SHA1,
    "sha256": TbsAlgorithm.SHA256,
    "sha384": TbsAlgorithm.SHA384,
    "sha512": TbsAlgorithm.SHA512,
}
_EXCEPTION_KINDS = {
    RuleKind.PATH: ExceptionKind.PATH,
    RuleKind.AUTHENTICODE_SHA256: ExceptionKind.AUTHENTICODE,
    RuleKind.FILE_SHA256: ExceptionKind.FILE,
    RuleKind.PUBLISHER: ExceptionKind.PUBLISHER,
}


def units(text: str) -> tuple[int, ...]:
    """A string of one character per code unit (``code_units``/``fold`` output) as units."""
    return tuple(ord(c) for c in text)


def _certificate_key(cert: CertificateId) -> tuple[int, bytes]:
    return int(_ALGORITHMS[cert.algorithm]), bytes.fromhex(cert.tbs_hash)


def needs_signer_sections(policy: Policy) -> bool:
    """Whether a writer writes minor 1: a publisher rule or any exception."""
    return any(isinstance(r, PublisherRule) or r.exceptions for r in policy.rules)


def _sections(blob: bytes) -> dict[int, tuple[bytes, int]]:
    """A blob's sections: id -> (content, count)."""
    n = HeaderField.SECTION_COUNT.read(blob)
    out = {}
    for i in range(n):
        sid, at, size, count = SECTION_ENTRY.unpack_from(blob, HEADER_SIZE + i * SECTION_ENTRY_SIZE)
        out[sid] = (blob[at : at + size], count)
    return out


def _pad(n: int) -> int:
    return -n % ALIGNMENT


def assemble(header: bytes, sections: Sequence[tuple[int, bytes, int]], minor: int) -> bytes:
    """A canonical blob: the 1.0 header's fields, then (id, content, count) in id order."""
    directory_end = HEADER_SIZE + SECTION_ENTRY_SIZE * len(sections)
    at = directory_end + _pad(directory_end)
    entries, body = [], bytearray()
    for sid, content, count in sections:
        entries.append(SECTION_ENTRY.pack(sid, at, len(content), count))
        body += content + bytes(_pad(len(content)))
        at += len(content) + _pad(len(content))
    out = bytearray(header[:HEADER_SIZE])
    struct.pack_into("<H", out, HeaderField.VERSION_MINOR.offset, minor)
    struct.pack_into("<I", out, HeaderField.BLOB_SIZE.offset, at)
    struct.pack_into("<I", out, HeaderField.SECTION_COUNT.offset, len(sections))
    out += b"".join(entries) + bytes(_pad(directory_end)) + body
    assert len(out) == at
    set_checksum(out)
    return bytes(out)


def _stripped(rule: Rule) -> Rule:
    return replace(rule, exceptions=()) if isinstance(rule, PathRule) else rule


def write(policy: Policy) -> bytes:
    """The 1.1 blob of ``policy`` (1.0 when it has no publisher rule and no exception)."""
    base_rules = tuple(_stripped(r) for r in policy.rules if not isinstance(r, PublisherRule))
    base = compile_policy(Policy(policy.name, policy.version, policy.mode, base_rules))
    if not needs_signer_sections(policy):
        return base
    old = _sections(base)

    ordered = canonical_order(policy.rules)
    path_rules = [r for r in ordered if isinstance(r, PathRule)]
    publisher_rules = [r for r in ordered if isinstance(r, PublisherRule)]
    exceptions: list[Condition] = [e for r in ordered for e in r.exceptions]

    # PUBLISHERS (interned, Publisher.sort_key order), CERTIFICATES, TEXTS, EXCEPTION_HASHES.
    conditions: list[Publisher] = [r.condition for r in publisher_rules]
    conditions += [e for e in exceptions if isinstance(e, Publisher)]
    # Interned by what the blob stores: conditions that differ only in an attribute
    # value's case are one entry.
    by_key: dict[tuple[object, ...], Publisher] = {}
    for condition in conditions:
        by_key.setdefault(condition.sort_key(), condition)
    publishers = sorted(by_key.values(), key=Publisher.sort_key)
    texts_of: dict[tuple[object, ...], set[tuple[str, str]]] = {}
    for r in publisher_rules:
        texts_of.setdefault(r.condition.sort_key(), set()).add((r.action.value, r.value))
    if any(len({a for a, _ in t}) != len(t) for t in texts_of.values()):
        # The model orders such rules by their text; the blob cannot (as compile refuses).
        raise ValueError("publisher rules of one action whose conditions differ only in case")
    certificates = sorted({p.certificate for p in publishers}, key=_certificate_key)
    texts_set: set[tuple[int, ...]] = set()
    for p in publishers:
        if p.common_name is not None:
            texts_set.add(units(code_units(p.common_name)))
        if p.attribute_value is not None:
            texts_set.add(units(fold(p.attribute_value)))
    for e in exceptions:
        if isinstance(e, PathCondition):
            texts_set.add(units(e.parsed.tokens))
    texts = sorted(texts_set)
    hashes = sorted({bytes.fromhex(e.digest) for e in exceptions if isinstance(e, HashCondition)})
    cert_index = {c: i for i, c in enumerate(certificates)}
    text_index = {t: i for i, t in enumerate(texts)}
    pub_key_index = {p.sort_key(): i for i, p in enumerate(publishers)}
    hash_index = {h: i for i, h in enumerate(hashes)}

    def text_of(text: str | None, folded: bool) -> int:
        if text is None:
            return NONE_INDEX
        return text_index[units(fold(text) if folded else code_units(text))]

    publisher_bytes = b"".join(
        PUBLISHER.pack(
            cert_index[p.certificate],
            PIN_CODES[p.pin],
            0 if p.attribute is None else p.attribute.code,
            (VERSION_HAS_MIN if p.min_version is not None else 0)
            | (VERSION_HAS_MAX if p.max_version is not None else 0),
            0,
            text_of(p.common_name, folded=False),
            text_of(p.attribute_value, folded=True),
            p.min_version.packed if p.min_version is not None else 0,
            p.max_version.packed if p.max_version is not None else 0,
        )
        for p in publishers
    )
    certificate_bytes = b"".join(
        CERTIFICATE.pack(
            int(_ALGORITHMS[c.algorithm]),
            bytes(7),
            bytes.fromhex(c.tbs_hash).ljust(TBS_DIGEST_BYTES, b"\0"),
        )
        for c in certificates
    )
    text_entries, text_data, at = [], bytearray(), 0
    for t in texts:
        text_entries.append(TEXT_ENTRY.pack(at, len(t)))
        text_data += struct.pack(f"<{len(t)}H", *t)
        at += 2 * len(t)

    # PUBLISHER_RULES, ids appended to STRINGS.
    strings = bytearray(old[Section.STRINGS][0])
    rule_bytes = []
    for r in publisher_rules:
        rid = r.id.encode()
        rule_bytes.append(
            PUBLISHER_RULE.pack(
                pub_key_index[r.condition.sort_key()],
                1 if r.action.value == "allow" else 2,
                bytes(3),
                len(strings),
                len(rid),
            )
        )
        strings += rid

    # EXCEPTION_LISTS and EXCEPTIONS: path rules', then publisher rules'.
    def encode(e: Condition) -> tuple[int, int]:
        kind = _EXCEPTION_KINDS[e.kind]
        if isinstance(e, PathCondition):
            return kind, text_index[units(e.parsed.tokens)]
        if isinstance(e, HashCondition):
            return kind, hash_index[bytes.fromhex(e.digest)]
        assert isinstance(e, Publisher)
        return kind, pub_key_index[e.sort_key()]

    lists: list[bytes] = []
    entries: list[bytes] = []
    listed: tuple[tuple[Section, Sequence[Rule]], ...] = (
        (Section.PATH_RULES, path_rules),
        (Section.PUBLISHER_RULES, publisher_rules),
    )
    for section, rules in listed:
        for index, rule in enumerate(rules):
            if rule.exceptions:
                encoded = sorted({encode(e) for e in rule.exceptions})
                lists.append(EXCEPTION_LIST.pack(section, index, len(entries), len(encoded)))
                entries += [EXCEPTION.pack(kind, bytes(3), i) for kind, i in encoded]

    sections = [
        (sid, content, count)
        for sid, (content, count) in sorted(old.items())
        if sid <= Section.HASH_RULE_IDS
    ]
    sections[Section.STRINGS - 1] = (Section.STRINGS, bytes(strings), 0)
    sections += [
        (Section.PUBLISHER_RULES, b"".join(rule_bytes), len(rule_bytes)),
        (Section.PUBLISHERS, publisher_bytes, len(publishers)),
        (Section.CERTIFICATES, certificate_bytes, len(certificates)),
        (Section.TEXTS, b"".join(text_entries), len(texts)),
        (Section.TEXT_DATA, bytes(text_data), 0),
        (Section.EXCEPTION_LISTS, b"".join(lists), len(lists)),
        (Section.EXCEPTIONS, b"".join(entries), len(entries)),
        (Section.EXCEPTION_HASHES, b"".join(hashes), len(hashes)),
    ]
    return assemble(base, sections, VERSION_MINOR_SIGNERS)


def section_of(blob: bytes, sid: int) -> tuple[int, int, int]:
    """(offset, size, count) of a section of a well-formed blob."""
    n = HeaderField.SECTION_COUNT.read(blob)
    for i in range(n):
        s, at, size, count = SECTION_ENTRY.unpack_from(blob, HEADER_SIZE + i * SECTION_ENTRY_SIZE)
        if s == sid:
            return at, size, count
    raise KeyError(sid)


def rebuild(blob: bytes, changes: Iterable[tuple[int, bytes, int | None]]) -> bytes:
    """The blob with some sections' content (and count, unless None) replaced, re-laid out."""
    old = _sections(blob)
    for sid, content, count in changes:
        old[sid] = (content, old[sid][1] if count is None else count)
    return assemble(
        blob,
        [(sid, c, n) for sid, (c, n) in sorted(old.items())],
        HeaderField.VERSION_MINOR.read(blob),
    )
