"""The registry: the Parameters key's values, CurrentVersion, the registry
callback, and the reload work item.

The Parameters key is one store (``self.values``): "Policy" from the case's
"policy", its REG_DWORD "parameters" and any other "values"; a reload step
changes it when it writes that key (after CurrentControlSet is resolved to
ControlSet001) and succeeded, before its callback runs, as the configuration
manager does. The driver's own writes (ZwSetValueKey) land there too and are
listed in "written". A work item (IoQueueWorkItemEx) runs after the registry
callbacks queued right after the current run: a burst of writes settles
before the worker reads the value, as when writers outpace a worker thread."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from speakeasy.profiler import Run  # type: ignore[import-not-found]

from .common import (
    CURRENT_VERSION_KEY,
    REG_NT_POST_DELETE_VALUE_KEY,
    REG_NT_POST_RENAME_KEY,
    REG_NT_POST_REPLACE_KEY,
    REG_NT_POST_RESTORE_KEY,
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
    def init_values(self) -> None:
        self.values = {}
        if self.case.get("policy") is not None:
            self.values["policy"] = self.case["policy"]
        for name, number in self.case.get("parameters", {}).items():
            self.values[name.lower()] = {"type": 4, "hex": struct.pack("<I", number).hex()}
        for name, value in self.case.get("values", {}).items():
            self.values[name.lower()] = value
        self.written = []
        self.work_items = {}
        self.worker_runs = []

    def _queue_reload(self, emu: Any, step: dict[str, Any]) -> dict[str, Any]:
        if self.reg_callback is None:  # nobody watching: the change goes unseen
            return {"run": None, "reload": True}
        runs = [self._queue_one(emu, step) for _ in range(step.get("repeat", 1))]
        return {"run": runs[-1], "runs": runs, "reload": True}

    def _writes_ours(self, step: dict[str, Any]) -> bool:
        if "writes_ours" in step:
            return bool(step["writes_ours"])
        key = step["key"].lower().replace("\\currentcontrolset\\", "\\controlset001\\")
        ours = "\\registry\\machine\\system\\controlset001\\services\\exewhitelist\\parameters"
        name = str(step.get("value_name", "Policy"))
        return key == ours and name.lower() == "policy"

    def _queue_one(self, emu: Any, step: dict[str, Any]) -> Any:
        assert self.reg_callback is not None
        mem = emu.mem_map(0x1000, tag="ewl.reginfo")
        post, pre, key_object = mem, mem + 0x100, mem + 0x200
        self.key_names[key_object] = self._unicode_string(emu, step["key"])
        name = self._unicode_string(emu, step.get("new_name", step["value_name"]))
        emu.mem_write(pre, struct.pack("<QQ", key_object, name))
        emu.mem_write(post, struct.pack("<QIIQ", key_object, step.get("status", 0), 0, pre))
        operation = {
            "set": REG_NT_POST_SET_VALUE_KEY,
            "delete": REG_NT_POST_DELETE_VALUE_KEY,
            "rename": REG_NT_POST_RENAME_KEY,
            "restore": REG_NT_POST_RESTORE_KEY,
            "replace": REG_NT_POST_REPLACE_KEY,
        }
        run = Run()
        run.type = "registry_callback"
        run.start_addr = self.reg_callback[0]
        run.args = [self.reg_callback[1], operation[step.get("operation", "set")], post]

        def write(r: Any) -> None:
            if step.get("status", 0) == 0 and self._writes_ours(step):
                if step["policy"] is None:
                    self.values.pop("policy", None)
                else:
                    self.values["policy"] = step["policy"]

        run.ewl_start = write
        emu.add_run(run)
        return run

    def set_value(self, emu: Any, a: list[int]) -> int:
        handle, name_ptr, value_type, data, size = a[0], a[1], a[3] & 0xFFFFFFFF, a[4], a[5]
        size &= 0xFFFFFFFF
        kind, key = self.handles.get(handle, ("", None))
        if kind != "key" or not str(key).lower().endswith("\\parameters"):
            return STATUS_INVALID_HANDLE
        name = read_unicode_string(emu, name_ptr)
        raw = bytes(emu.mem_read(data, size)) if size else b""
        self.values[name.lower()] = {"type": value_type, "hex": raw.hex()}
        record: dict[str, Any] = {"name": name, "type": value_type, "size": size}
        record["sha256"] = hashlib.sha256(raw).hexdigest()
        if value_type == 4 and size == 4:
            record["dword"] = struct.unpack("<I", raw)[0]
        self.written.append(record)
        return 0

    def work_item_size(self, emu: Any, a: list[int]) -> int:
        return 0x58

    def work_item_init(self, emu: Any, a: list[int]) -> int:
        self.work_items[a[1]] = a[0]
        return 0

    def work_item_uninit(self, emu: Any, a: list[int]) -> int:
        if self.work_items.pop(a[0], None) is None:
            self.hook_errors.append("IoUninitializeWorkItem of an unknown work item")
        return 0

    def work_item_queue(self, emu: Any, a: list[int]) -> int:
        item, routine, context = a[0], a[1], a[3]
        if item not in self.work_items:
            self.hook_errors.append("IoQueueWorkItemEx of an uninitialized work item")
            return 0
        run = Run()
        run.type = "work_item"
        run.start_addr = routine
        run.args = [self.work_items[item], context, item]
        queue = emu.run_queue
        at = 0
        while at < len(queue) and queue[at].type == "registry_callback":
            at += 1
        queue.insert(at, run)
        self.worker_runs.append(run)
        return 0

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
        else:
            value = self.values.get(name.lower())
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
        if length < needed:  # the header and as much data as fits, as Windows does
            emu.mem_write(buf, header + data[: length - len(header)])
            return STATUS_BUFFER_OVERFLOW
        emu.mem_write(buf, header + data)
        return 0

    def close(self, emu: Any, a: list[int]) -> int:
        return 0 if self.handles.pop(a[0], None) is not None else STATUS_INVALID_HANDLE
