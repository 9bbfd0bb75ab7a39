"""A stand-in for Speakeasy's emulator object, for unit tests of the harness
hooks (tests/emulation) without Speakeasy: flat memory over one bytearray, with
the calls the hooks make (mem_read, mem_write, mem_map) and helpers to lay out
the arguments a driver would pass."""

from __future__ import annotations

import struct


class FakeEmu:
    """Memory from ``BASE`` up; address 0 and everything outside are unmapped
    (reading them raises, as an unmapped read ends an emulated run)."""

    BASE = 0x10000

    def __init__(self, size: int = 1 << 20) -> None:
        self.memory = bytearray(size)
        self.top = self.BASE

    def _offset(self, addr: int, size: int) -> int:
        offset = addr - self.BASE
        if addr < self.BASE or size < 0 or offset + size > len(self.memory):
            raise MemoryError(f"unmapped: 0x{addr:x} + {size}")
        return offset

    def mem_read(self, addr: int, size: int) -> bytearray:
        offset = self._offset(addr, size)
        return self.memory[offset : offset + size]

    def mem_write(self, addr: int, data: bytes) -> None:
        offset = self._offset(addr, len(data))
        self.memory[offset : offset + len(data)] = data

    def mem_map(self, size: int, tag: str | None = None) -> int:
        """Fresh zeroed memory, 16-byte aligned, never reused."""
        addr = self.top
        self.top += (max(size, 1) + 15) & ~15
        self._offset(addr, size)
        return addr

    def put(self, data: bytes) -> int:
        addr = self.mem_map(len(data))
        self.mem_write(addr, data)
        return addr

    def wstr(self, text: str) -> int:
        """A NUL-terminated UTF-16LE string (LPCWSTR)."""
        return self.put((text + "\0").encode("utf-16le"))

    def u32(self, addr: int) -> int:
        value: int = struct.unpack("<I", self.mem_read(addr, 4))[0]
        return value

    def u64(self, addr: int) -> int:
        value: int = struct.unpack("<Q", self.mem_read(addr, 8))[0]
        return value
