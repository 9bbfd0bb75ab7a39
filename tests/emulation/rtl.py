"""Strings and DbgPrintEx."""

from __future__ import annotations

import importlib.util
import re
import struct
from pathlib import Path
from typing import Any

from .common import (
    STATUS_BUFFER_OVERFLOW,
    STATUS_INVALID_PARAMETER,
    HarnessBase,
    read_cstring,
    read_unicode_string,
    read_unicode_z,
    u16,
    u64,
)

_FORMAT = re.compile(rb"%(\.\*)?(l|ll|I64|w|h)?([sdiuxXpZS%])|%0?(\d+)(l)?([xX])")


def _load_upcase() -> dict[int, int]:
    """The compiler's table (src/exewhitelist/rules/_upcase.py, checked against Wine's
    l_intl.nls), loaded by path: the emulator's venv does not have exewhitelist."""
    path = Path(__file__).resolve().parents[2] / "src" / "exewhitelist" / "rules" / "_upcase.py"
    spec = importlib.util.spec_from_file_location("_exewhitelist_upcase", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: dict[int, int] = module.UPCASE
    return table


_UPCASE = _load_upcase()


def _upcase_units(text: str) -> bytes:
    """``text`` as UTF-16LE, each code unit upcased by Windows' table (surrogates as they are)."""
    units = text.encode("utf-16le", "surrogatepass")
    codes = struct.unpack(f"<{len(units) // 2}H", units)
    return struct.pack(f"<{len(codes)}H", *(_UPCASE.get(c, c) for c in codes))


class RtlMixin(HarnessBase):
    def equal_strings(self, emu: Any, a: list[int]) -> int:
        x, y = read_unicode_string(emu, a[0]), read_unicode_string(emu, a[1])
        if a[2] & 0xFF:
            return 1 if _upcase_units(x) == _upcase_units(y) else 0
        return 1 if x == y else 0

    def init_string(self, emu: Any, a: list[int]) -> int:
        dst, src = a[0], a[1]
        n = len(read_unicode_z(emu, src).encode("utf-16le")) if src else 0
        emu.mem_write(dst, struct.pack("<HHIQ", n, n + 2 if src else 0, 0, src))
        return 0

    def upcase(self, emu: Any, a: list[int]) -> int:
        dst, src, allocate = a[0], a[1], a[2] & 0xFF
        if allocate:
            return STATUS_INVALID_PARAMETER  # the driver never asks for it
        text = read_unicode_string(emu, src)
        # Windows' table per UTF-16 code unit: not str.upper, which also cases
        # letters outside the BMP (surrogates are left alone, as Windows does).
        data = _upcase_units(text)
        if len(data) > u16(emu, dst + 2):
            return STATUS_BUFFER_OVERFLOW
        emu.mem_write(u64(emu, dst + 8), data)
        emu.mem_write(dst, struct.pack("<H", len(data)))
        return 0

    def dbgprint(self, emu: Any, a: list[int]) -> int:
        fmt = read_cstring(emu, a[2])
        n = len(_FORMAT.findall(fmt)) * 2 + 3
        args = self._varargs(emu, n)[3:]
        out, pos, i = bytearray(), 0, 0
        for m in _FORMAT.finditer(fmt):
            out += fmt[pos : m.start()]
            pos = m.end()
            star, size, conv = m.group(1), m.group(2), m.group(3)
            if m.group(6):  # %08lx
                out += f"{args[i] & 0xFFFFFFFF:0{int(m.group(4))}x}".encode()
                i += 1
                continue
            if conv == b"%":
                out += b"%"
                continue
            width = None
            if star:
                width = args[i] & 0xFFFFFFFF
                i += 1
            value = args[i]
            i += 1
            if conv == b"Z" and size == b"w":  # %wZ: UNICODE_STRING
                out += read_unicode_string(emu, value).encode()
            elif conv == b"Z":  # %Z: ANSI_STRING
                n, buffer = u16(emu, value), u64(emu, value + 8)
                out += bytes(emu.mem_read(buffer, n)) if n else b""
            elif conv == b"s" and size == b"w":  # %.*ws: width in UTF-16 units
                out += bytes(emu.mem_read(value, 2 * (width or 0))).decode("utf-16le").encode()
            elif conv == b"s":
                out += (
                    bytes(emu.mem_read(value, width))
                    if width is not None
                    else read_cstring(emu, value)
                )
            elif conv in (b"d", b"i"):
                out += str(struct.unpack("<i", struct.pack("<I", value & 0xFFFFFFFF))[0]).encode()
            elif conv == b"u":
                out += str(value & (0xFFFFFFFF if size != b"ll" else (1 << 64) - 1)).encode()
            else:
                out += f"{value:x}".encode()
        out += fmt[pos:]
        self.prints.append(out.decode(errors="replace"))
        return len(out)

    def _varargs(self, emu: Any, n: int) -> list[int]:
        # x64: rcx, rdx, r8, r9, then the stack above the 0x20-byte home area.
        regs = [emu.reg_read(r) for r in ("rcx", "rdx", "r8", "r9")]
        sp = emu.reg_read("rsp")
        return (regs + [u64(emu, sp + 0x28 + 8 * k) for k in range(max(0, n - 4))])[:n]
