"""Entries verified once: a table met again gives the verdicts a fresh verification gives.

``parse_table`` checks each entry without the file's digest and caches that by
the entry's SHA-256; ``verify`` then compares the image digest.  The reference
here is ``verify_signed_data`` given the digests, which compares it along with
every other check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import parser
from pe_edit import offsets

import exewhitelist.signatures as signatures_module
from exewhitelist import Signature, SignatureStatus
from exewhitelist.signatures import SignedContentInfo, parse_table, verify_signed_data

SAMPLES = ["msvc-runtime-win_amd64/vcruntime140.dll", "mingw/hello64-dual.exe"]


def first_entry(path: Path) -> bytes:
    data = path.read_bytes()
    o = offsets(data)
    length = int.from_bytes(data[o.certificate_va : o.certificate_va + 4], "little")
    return data[o.certificate_va + 8 : o.certificate_va + length]


def reference(entry: bytes, digests: dict[str, str]) -> Signature:
    der = entry[: parser.peek(entry)]
    signed_data = SignedContentInfo.load(der, strict=True)["content"]
    return verify_signed_data(signed_data, 0, 0, digests)


def digest_maps(entry: bytes) -> list[dict[str, str]]:
    (theirs,) = [s for s in parse_table([entry]).verify({}) if s.nesting == 0]
    assert theirs.digest_algorithm is not None and theirs.digest is not None
    return [
        {},
        {theirs.digest_algorithm: theirs.digest},
        {theirs.digest_algorithm: "00" * (len(theirs.digest) // 2)},
    ]


@pytest.mark.parametrize("name", SAMPLES)
def test_cached_verdicts_are_fresh_verdicts(name: str, sample_files: dict[str, Path]) -> None:
    """Intact and with a byte flipped every 97: the status, reason and digest match agree."""
    entry = first_entry(sample_files[name])
    end = parser.peek(entry)
    maps = digest_maps(entry)
    compared = set()
    for at in [None, *range(0, end, 97)]:
        mutated = bytearray(entry)
        if at is not None:
            mutated[at] ^= 0x40
        for digests in maps:
            try:
                expected = reference(bytes(mutated), digests)
            except (ValueError, TypeError, KeyError, IndexError):
                continue  # not even a SignedData: nothing to compare with
            for _ in range(2):  # the first verification, then the cached one
                got = parse_table([bytes(mutated)]).verify(digests)[0]
                if got.status is SignatureStatus.MALFORMED and expected.status is not got.status:
                    break  # the table's own parse (nested signatures) failed first
                assert got == expected, (at, digests)
                compared.add(got.status)
    assert {
        SignatureStatus.VALID,
        SignatureStatus.DIGEST_MISMATCH,
        SignatureStatus.BAD_SIGNED_ATTRIBUTES,
    } <= compared


def test_an_entry_is_parsed_once(
    sample_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = first_entry(sample_files[SAMPLES[1]])
    calls = []
    real_collect = signatures_module._collect

    def collect(*args: object) -> None:
        calls.append(args[1:3])
        real_collect(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(signatures_module, "_entries", {})
    monkeypatch.setattr(signatures_module, "_collect", collect)
    first = parse_table([entry]).verify({})
    assert calls == [(0, s.nesting) for s in first] == [(0, 0), (0, 1)]  # dual-signed
    assert parse_table([entry]).verify({}) == first
    assert len(calls) == 2
    second = parse_table([b"\x30\x00", entry]).verify({})  # the same bytes as entry 1
    assert calls[2:] == [(0, 0), (1, 0), (1, 1)]  # b"\x30\x00" is read, and malformed
    assert [s.entry for s in second] == [0, 1, 1]
