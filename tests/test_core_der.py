"""The core's bounded DER reader (``driver/core/ewl_der.h``) against a reference in Python.

The reference (:func:`reference_walk`) is Python's own strict reader,
:mod:`exewhitelist.der`, which signatures.py reads the signed bytes with: the
rules of signers.md §9, low tag numbers, definite lengths of at most 4 octets
in minimal form, every element inside its parent, at most
``EWL_DER_MAX_DEPTH`` levels entered. The C reader, called through
``libewlcore.so`` (gcc and clang) and walked the same way, must accept
exactly what the reference accepts and report the same elements: on DER that
asn1crypto writes (hypothesis trees), on mutations of it, on random bytes and
on real certificate tables.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import pytest
from asn1crypto import core
from core_signatures import table_entries
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_build import COMPILERS, library

from exewhitelist.der import MAX_DEPTH, DerError, Reader

OK, END, ERROR = 0, 1, 2

Walk = tuple[tuple[int, int, int, int, int], ...] | None
"""(depth, tag, offset, header, length) of every element in reading order, or None: rejected."""


class Der(ctypes.Structure):
    _fields_ = (
        ("buf", ctypes.c_void_p),
        ("pos", ctypes.c_size_t),
        ("end", ctypes.c_size_t),
        ("depth", ctypes.c_uint),
    )


class Tlv(ctypes.Structure):
    _fields_ = (
        ("tag", ctypes.c_uint),
        ("off", ctypes.c_size_t),
        ("hdr", ctypes.c_size_t),
        ("len", ctypes.c_size_t),
    )


class View(ctypes.Structure):
    _fields_ = (("off", ctypes.c_size_t), ("len", ctypes.c_size_t))


@functools.cache
def _lib(compiler: str) -> ctypes.CDLL:
    lib = library(compiler)
    lib.ewl_der_init.argtypes = (
        ctypes.POINTER(Der),
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
    )
    lib.ewl_der_init.restype = None
    lib.ewl_der_read.argtypes = (ctypes.POINTER(Der), ctypes.POINTER(Tlv))
    lib.ewl_der_read.restype = ctypes.c_int
    lib.ewl_der_enter.argtypes = (ctypes.POINTER(Der), ctypes.POINTER(Tlv), ctypes.POINTER(Der))
    lib.ewl_der_enter.restype = ctypes.c_int
    lib.ewl_der_integer.argtypes = (
        ctypes.c_char_p,
        ctypes.POINTER(Tlv),
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(View),
    )
    lib.ewl_der_integer.restype = ctypes.c_int
    return lib


def c_walk(data: bytes, compiler: str) -> Walk:
    """The C reader's walk: every element, entering each constructed one."""
    lib = _lib(compiler)
    buf = ctypes.create_string_buffer(data, len(data))
    top = Der()
    lib.ewl_der_init(ctypes.byref(top), buf, 0, len(data))
    out: list[tuple[int, int, int, int, int]] = []
    stack = [top]
    while stack:
        d = stack[-1]
        t = Tlv()
        r = lib.ewl_der_read(ctypes.byref(d), ctypes.byref(t))
        if r == END:
            stack.pop()
            continue
        if r != OK:
            return None
        out.append((d.depth, t.tag, t.off, t.hdr, t.len))
        if t.tag & 0x20:
            inner = Der()
            if lib.ewl_der_enter(ctypes.byref(d), ctypes.byref(t), ctypes.byref(inner)) != OK:
                return None
            stack.append(inner)
    return tuple(out)


def reference_walk(data: bytes, max_depth: int = MAX_DEPTH) -> Walk:
    """The same walk with :class:`exewhitelist.der.Reader` (what signatures.py reads the
    signed bytes with), or None: rejected."""
    out: list[tuple[int, int, int, int, int]] = []
    stack = [Reader(data, max_depth=max_depth)]  # each open reader
    try:
        while stack:
            r = stack.pop()
            if r.at_end():
                continue
            t = r.read()
            out.append((r.depth, t.tag, t.offset, t.header, t.length))
            stack.append(r)  # the rest of this level, after
            if t.tag & 0x20:
                stack.append(r.enter(t))
    except DerError:
        return None
    return tuple(out)


def _agree(data: bytes) -> Walk:
    expected = reference_walk(data)
    for compiler in COMPILERS:
        assert c_walk(data, compiler) == expected, (compiler, data.hex())
    return expected


# DER trees written by asn1crypto.
_leaves = st.one_of(
    st.integers(-(1 << 80), 1 << 80).map(core.Integer),
    st.binary(max_size=300).map(core.OctetString),
    st.text(max_size=40).map(core.UTF8String),
    st.just(core.Null()),
    st.lists(st.integers(0, 1 << 40), min_size=2, max_size=6).map(
        lambda arcs: core.ObjectIdentifier(".".join(map(str, [1, min(arcs[0], 39), *arcs[1:]])))
    ),
)


def _sequence(children: list[core.Asn1Value]) -> core.Asn1Value:
    return core.Sequence(contents=b"".join(c.dump() for c in children))


def _tagged(children: list[core.Asn1Value]) -> core.Asn1Value:
    return core.Asn1Value(class_=2, tag=0, method=1, contents=b"".join(c.dump() for c in children))


_trees = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=5).flatmap(
        lambda kids: st.sampled_from([_sequence(kids), _tagged(kids)])
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(tree=_trees)
def test_asn1crypto_der_is_read_back(tree: core.Asn1Value) -> None:
    data = tree.dump()
    walk = _agree(data)
    if reference_walk(data) is not None:  # deeper than 16 levels is refused by both
        assert walk is not None and walk[0][2:] == (0, len(data) - walk[0][4], walk[0][4])


@settings(max_examples=500, deadline=None)
@given(tree=_trees, data=st.data())
def test_mutated_der(tree: core.Asn1Value, data: st.DataObject) -> None:
    raw = bytearray(tree.dump())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        if kind == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif kind == "cut":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=5))
        else:
            raw[at] = data.draw(st.sampled_from([0x80, 0x81, 0x82, 0x84, 0x85, 0x1F, 0x00, 0xFF]))
        if not raw:
            break
    _agree(bytes(raw))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_random_bytes(data: bytes) -> None:
    _agree(data)


def _nested(depth: int) -> bytes:
    """NULL inside ``depth`` SEQUENCEs: entering the last needs ``depth`` levels."""
    inner = b"\x05\x00"
    for _ in range(depth):
        inner = bytes([0x30, len(inner)]) + inner
    return inner


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        (b"", True),
        (b"\x05\x00", True),
        (b"\x04\x81\x80" + b"\0" * 128, True),
        (b"\x04\x81\x7f" + b"\0" * 127, False),  # long form for a short length
        (b"\x04\x82\x00\x80" + b"\0" * 128, False),  # a leading zero length octet
        (b"\x30\x80\x00\x00", False),  # indefinite
        (b"\x04\x85\x00\x00\x00\x00\x01\x00", False),  # five length octets
        (b"\x1f\x01\x00", False),  # high tag number
        (b"\x30\x03\x04\x02\x00", False),  # child past its parent
        (b"\x30\x00\x05", False),  # a truncated second element
        (_nested(MAX_DEPTH), True),
        (_nested(MAX_DEPTH + 1), False),  # one level too deep
    ],
)
def test_rules(data: bytes, accepted: bool) -> None:
    assert (_agree(data) is not None) is accepted


@pytest.mark.parametrize(
    ("content", "ok", "negative", "magnitude"),
    [
        (b"\x00", True, False, b"\x00"),
        (b"\x7f", True, False, b"\x7f"),
        (b"\x00\x80", True, False, b"\x80"),
        (b"\x00\x7f", False, False, b""),  # redundant 0x00
        (b"\xff\x80", False, False, b""),  # redundant 0xff
        (b"\xff\x7f", True, True, b"\xff\x7f"),
        (b"", False, False, b""),
    ],
)
def test_integer(content: bytes, ok: bool, negative: bool, magnitude: bytes) -> None:
    data = bytes([0x02, len(content)]) + content
    for compiler in COMPILERS:
        lib = _lib(compiler)
        t = Tlv(0x02, 0, 2, len(content))
        neg = ctypes.c_int(-1)
        view = View()
        r = lib.ewl_der_integer(data, ctypes.byref(t), ctypes.byref(neg), ctypes.byref(view))
        assert (r == OK) is ok
        if ok:
            assert bool(neg.value) is negative
            assert data[view.off : view.off + view.len] == magnitude


def test_real_tables(sample_files: dict[str, Path]) -> None:
    """Every signature of the real samples is DER by these rules, and C agrees on it.

    Walked whole, some are deeper than 16 levels (timestamps inside nested
    signatures, signers.md §9): the core parses each piece on its own.
    """
    walked = 0
    for path in sorted(sample_files.values()):
        for entry in table_entries(path.read_bytes()):
            length = int.from_bytes(entry[:4], "little")
            first = entry[9]
            header = 2 + (first & 0x7F if first & 0x80 else 0)
            size = int.from_bytes(entry[10 : 8 + header], "big") if first & 0x80 else first
            der = entry[8 : 8 + header + size]
            assert not any(entry[8 + header + size : length])
            _agree(der)  # a whole real table may be deeper than one parse's 16 levels
            walk = reference_walk(der, max_depth=64)
            assert walk is not None and walk[0][3] + walk[0][4] == len(der), path
            walked += len(walk)
    assert walked > 10_000
