"""CNG (cng.sys) backed by hashlib."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from .common import (
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    HarnessBase,
    read_unicode_z,
)


class CngMixin(HarnessBase):
    def open_provider(self, emu: Any, a: list[int]) -> int:
        if read_unicode_z(emu, a[1]) != "SHA256":
            return STATUS_INVALID_PARAMETER
        handle = 0x5A000 + len(self.providers) + 1
        self.providers.add(handle)
        emu.mem_write(a[0], struct.pack("<Q", handle))
        return 0

    def close_provider(self, emu: Any, a: list[int]) -> int:
        self.providers.discard(a[0])
        return 0

    def create_hash(self, emu: Any, a: list[int]) -> int:
        if a[0] not in self.providers:
            return STATUS_INVALID_HANDLE
        handle = 0x6B0000 + len(self.hashes) + 16 * self.next_handle
        self.next_handle += 1
        self.hashes[handle] = hashlib.sha256()
        emu.mem_write(a[1], struct.pack("<Q", handle))
        return 0

    def hash_data(self, emu: Any, a: list[int]) -> int:
        h = self.hashes.get(a[0])
        if h is None:
            return STATUS_INVALID_HANDLE
        h.update(bytes(emu.mem_read(a[1], a[2] & 0xFFFFFFFF)))
        return 0

    def finish_hash(self, emu: Any, a: list[int]) -> int:
        h = self.hashes.get(a[0])
        if h is None or (a[2] & 0xFFFFFFFF) != 32:
            return STATUS_INVALID_PARAMETER
        emu.mem_write(a[1], h.digest())
        return 0

    def destroy_hash(self, emu: Any, a: list[int]) -> int:
        return 0 if self.hashes.pop(a[0], None) is not None else STATUS_INVALID_HANDLE
