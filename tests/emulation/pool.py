"""Pool allocations and ERESOURCE locks."""

from __future__ import annotations

from typing import Any

from .common import HarnessBase, read_unicode_string


class PoolMixin(HarnessBase):
    def alloc(self, emu: Any, a: list[int]) -> int:
        pool_type, size, tag = a[0] & 0xFFFFFFFF, a[1], a[2] & 0xFFFFFFFF
        addr = emu.mem_map(max(size, 1), tag="ewl.pool")
        self.pool[addr] = (pool_type, size, tag)
        return int(addr)

    def alloc2(self, emu: Any, a: list[int]) -> int:
        flags, size, tag = a[0], a[1], a[2] & 0xFFFFFFFF
        self.pool2_calls += 1
        if flags & ~0x142 or not flags & 0x140:  # PAGED / NON_PAGED [| UNINITIALIZED]
            return 0
        return self.alloc(emu, [0 if flags & 0x40 else 1, size, tag])

    def routine_address(self, emu: Any, a: list[int]) -> int:
        name = read_unicode_string(emu, a[0])
        if name == "ExAllocatePool2" and self.case.get("no_pool2"):
            return 0
        if name == "PsSetCreateProcessNotifyRoutineEx2" and self.case.get("no_notify_ex2"):
            return 0
        if name not in ("ExAllocatePool2", "PsSetCreateProcessNotifyRoutineEx2"):
            return 0
        # The import hook's stub for ntoskrnl!<name>: calling it runs its hook.
        return int(emu.get_proc("ntoskrnl", name))

    def free(self, emu: Any, a: list[int]) -> int:
        addr, tag = a[0], a[1] & 0xFFFFFFFF if a[1] >= 0 else None
        if self.case.get("ignore_frees"):  # negative control: every free "forgotten"
            return 0
        entry = self.pool.pop(addr, None)
        if entry is not None:
            self.fs.freed.append((addr, entry[1]))
        if entry is None:
            self.bad_frees.append(f"free of unknown 0x{addr:x}")
        elif tag is not None and entry[2] != tag:
            self.bad_frees.append(
                f"free of 0x{addr:x} with tag 0x{tag:x}, allocated 0x{entry[2]:x}"
            )
        return 0

    def lock(self, emu: Any, a: list[int]) -> int:
        self.locks_held += 1
        return 1

    def unlock(self, emu: Any, a: list[int]) -> int:
        self.locks_held -= 1
        return 0
