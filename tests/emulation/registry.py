"""The registry: the policy value, CurrentVersion, and the registry callback."""

from __future__ import annotations

import struct
from typing import Any

from speakeasy.profiler import Run  # type: ignore[import-not-found]

from .common import (
    CURRENT_VERSION_KEY,
    REG_NT_POST_DELETE_VALUE_KEY,
    REG_NT_POST_SET_VALUE_KEY,
    REG_SZ,
    STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_OBJECT_NAME_NOT_FOUND,
    HarnessBase,
    _sz,
    read_unicode_string,
    u64,
)


class RegistryMixin(HarnessBase):
    def _queue_reload(self, emu: Any, step: dict[str, Any]) -> dict[str, Any]:
        if self.reg_callback is None:  # nobody watching: the change goes unseen
            return {"run": None, "reload": True}
        mem = emu.mem_map(0x1000, tag="ewl.reginfo")
        post, pre, key_object = mem, mem + 0x100, mem + 0x200
        self.key_names[key_object] = self._unicode_string(emu, step["key"])
        name = self._unicode_string(emu, step["value_name"])
        emu.mem_write(pre, struct.pack("<QQ", key_object, name))
        emu.mem_write(post, struct.pack("<QIIQ", key_object, step.get("status", 0), 0, pre))
        operation = {"set": REG_NT_POST_SET_VALUE_KEY, "delete": REG_NT_POST_DELETE_VALUE_KEY}
        run = Run()
        run.type = "registry_callback"
        run.start_addr = self.reg_callback[0]
        run.args = [self.reg_callback[1], operation[step.get("operation", "set")], post]
        emu.add_run(run)
        self.value_for_run[id(run)] = step["policy"]
        return {"run": run, "reload": True}

    def cm_register(self, emu: Any, a: list[int]) -> int:
        function, altitude, context, cookie = a[0], a[1], a[3], a[4]
        if self.case.get("fail_cm_register"):
            return 0xC01C0011  # STATUS_FLT_INSTANCE_ALTITUDE_COLLISION
        if not read_unicode_string(emu, altitude):
            return STATUS_INVALID_PARAMETER
        self.reg_callback = (function, context)
        emu.mem_write(cookie, struct.pack("<Q", 0xC00C1E))
        return 0

    def cm_unregister(self, emu: Any, a: list[int]) -> int:
        if self.reg_callback is None or a[0] != 0xC00C1E:
            return STATUS_INVALID_PARAMETER
        self.reg_unregistered = True
        return 0

    def cm_key_name(self, emu: Any, a: list[int]) -> int:
        cookie_ptr, key_object, pid, pname = a[:4]
        if u64(emu, cookie_ptr) != 0xC00C1E or key_object not in self.key_names:
            return STATUS_INVALID_PARAMETER
        if pid:
            emu.mem_write(pid, struct.pack("<Q", key_object))
        emu.mem_write(pname, struct.pack("<Q", self.key_names[key_object]))
        return 0

    def open_key(self, emu: Any, a: list[int]) -> int:
        phandle, attributes = a[0], a[2]
        path = read_unicode_string(emu, u64(emu, attributes + 0x10))
        if path.upper() == CURRENT_VERSION_KEY and "current_version" in self.case:
            pass
        elif path.lower().endswith("\\parameters"):
            self.params_path = path
        else:
            return STATUS_OBJECT_NAME_NOT_FOUND
        emu.mem_write(phandle, struct.pack("<Q", self._new_handle("key", path)))
        return 0

    def query_value(self, emu: Any, a: list[int]) -> int:
        handle, name_ptr, buf, result = a[0], a[1], a[3], a[5]
        cls, length = a[2] & 0xFFFFFFFF, a[4] & 0xFFFFFFFF  # ULONG: the high half is junk
        kind, key = self.handles.get(handle, ("", None))
        if kind != "key":
            return STATUS_INVALID_HANDLE
        name = read_unicode_string(emu, name_ptr)
        value: dict[str, Any] | None
        if key.upper() == CURRENT_VERSION_KEY:
            text = self.case["current_version"].get(name)
            value = None if text is None else {"type": REG_SZ, "hex": _sz(text).hex()}
        elif name.lower() == "policy":
            value = self.value_for_run.get(id(emu.curr_run), self.case["policy"])
        elif name in self.case.get("parameters", {}):  # REG_DWORD service parameters
            value = {"type": 4, "hex": struct.pack("<I", self.case["parameters"][name]).hex()}
        else:
            value = None
        if value is None:
            return STATUS_OBJECT_NAME_NOT_FOUND
        if cls != 2:  # KeyValuePartialInformation
            return STATUS_INVALID_PARAMETER
        value_type = value["type"]
        data = bytes.fromhex(value["hex"])
        size = value.get("claim_size", len(data))  # an oversized value, without the bytes
        header = struct.pack("<III", 0, value_type, size)
        needed = len(header) + size
        emu.mem_write(result, struct.pack("<I", needed))
        if length < len(header):
            return STATUS_BUFFER_TOO_SMALL
        if length < needed:
            emu.mem_write(buf, header)
            return STATUS_BUFFER_OVERFLOW
        emu.mem_write(buf, header + data)
        return 0

    def close(self, emu: Any, a: list[int]) -> int:
        return 0 if self.handles.pop(a[0], None) is not None else STATUS_INVALID_HANDLE
