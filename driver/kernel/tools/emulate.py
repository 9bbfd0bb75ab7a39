#!/usr/bin/env python3
"""Run the real exewhitelist.sys under Speakeasy (pinned: speakeasy-emulator 1.5.11).

Usage: ``emulate.py SPEC.json`` in a venv holding speakeasy-emulator; prints a
JSON result on stdout. Runs in its own venv (speakeasy pins unicorn 1.0.2), so
it imports nothing from exewhitelist: tests/test_driver_emulation.py compiles
the policies and compares the results with exewhitelist's own decisions.

SPEC: {"sys": path, "count_instructions": bool, "cases": [{
    "name": str,
    "policy": null | {"type": int, "hex": str,        # the Parameters\\Policy value
                      "claim_size": int},              # (optional: its size, oversized)
    "system_root": str,                                # SharedUserData->NtSystemRoot
    "current_version": {name: str},                    # REG_SZ values of the CurrentVersion
                                                       #   key (absent: it cannot be opened)
    "dos_devices": {volume device name: DOS name},     # what IoVolumeDeviceToDosName says
    "no_pool2": bool,                                  # ExAllocatePool2 not on this system
    "calls": [{"image_name": str, "file": null | path,
               "file_name": null | str,                # the normalized NT name Filter
                                                       #   Manager gives (null: it fails)
               "status": int,                          # CreationStatus on entry
               "open_name_available": bool, "writable": bool,
               "delete_pending": bool, "transaction": bool}
              | {"reload": {"policy": null | {...},    # the value after the change
                            "key": str, "value_name": str,
                            "operation": "set" | "delete", "status": int}}],
    "ignore_frees": bool,                              # negative control of the leak check
    "fail_cm_register": bool,                          # CmRegisterCallbackEx fails
    "fail_etw_register": bool,                         # EtwRegister fails
    "ignore_etw_unregister": bool}]}                   # negative control: a provider leaks

Per case a fresh emulator: DriverEntry (its registry read is served from
"policy"), one callback run per call with a PS_CREATE_NOTIFY_INFO and a fake
FILE_OBJECT, then DriverUnload. The kernel APIs the driver imports are served
by the hooks below (Speakeasy's own are missing or wrong for several, see
../shared/reference/driver-toolchain.md); they track pool, handles, hash
objects, locks and ETW provider registrations, so the result can show a leak.
The driver's DbgPrintEx lines are formatted here (Speakeasy's formatter
rejects %wZ and %.*s). Its ETW events are decoded here from the raw data
descriptors with decode_tracelogging, written from the TraceLogging format
documentation (not from the driver's C), so an encoding mistake shows as an
undecodable event or a wrong value.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import sys
import uuid
from typing import Any

import speakeasy  # type: ignore[import-not-found]
from speakeasy.profiler import Run  # type: ignore[import-not-found]

STATUS_SUCCESS = 0
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_BUFFER_TOO_SMALL = 0xC0000023
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_INVALID_HANDLE = 0xC0000008
STATUS_END_OF_FILE = 0xC0000011
STATUS_INVALID_PARAMETER = 0xC000000D
STATUS_OBJECT_NAME_INVALID = 0xC0000033
STATUS_INSUFFICIENT_RESOURCES = 0xC000009A
REG_SZ = 1
FILE_STANDARD_INFORMATION = 5
REG_BINARY = 3
REG_NT_POST_SET_VALUE_KEY = 16
REG_NT_POST_DELETE_VALUE_KEY = 17

# PS_CREATE_NOTIFY_INFO (x64): Size 0x00, Flags 0x08, ParentProcessId 0x10,
# CreatingThreadId 0x18, FileObject 0x28, ImageFileName 0x30, CommandLine 0x38,
# CreationStatus 0x40; size 0x48. FILE_OBJECT: DeviceObject 0x08,
# SectionObjectPointer 0x28, DeletePending 0x49.
CREATE_INFO_SIZE = 0x48
KUSER_SHARED_DATA = 0xFFFFF78000000000
NT_SYSTEM_ROOT = KUSER_SHARED_DATA + 0x30  # WCHAR[260]
CURRENT_VERSION_KEY = "\\REGISTRY\\MACHINE\\SOFTWARE\\MICROSOFT\\WINDOWS\\CURRENTVERSION"
FLT_NAME_OPTIONS = 0x0101  # FLT_FILE_NAME_NORMALIZED | FLT_FILE_NAME_QUERY_DEFAULT
# FLT_FILE_NAME_INFORMATION: Size, NamesParsed, Format, then UNICODE_STRINGs
# Name 0x08, Volume 0x18, Share 0x28, Extension 0x38, Stream 0x48,
# FinalComponent 0x58, ParentDir 0x68; size 0x78.
FLT_NAME_INFO_SIZE = 0x78
REDIRECTORS = ("\\DEVICE\\MUP", "\\DEVICE\\LANMANREDIRECTOR")
PARENT_PID = 0x7C
STATUS_PENDING = 0x103
STATUS_IO_TIMEOUT = 0xC00000B5
STATUS_FILE_CLOSED = 0xC0000128
STATUS_FILE_LOCK_CONFLICT = 0xC0000054
STATUS_NOT_FOUND = 0xC0000225
STATUS_FLT_CONTEXT_ALREADY_DEFINED = 0xC01C0012
STATUS_FLT_INSTANCE_NOT_FOUND = 0xC01C0016
STATUS_FLT_DO_NOT_ATTACH = 0xC01C000F
# Filter Manager (fltKernel.h, x64): the layouts the driver declares itself
# (driver/kernel/ewl_flt.h) and _Static_asserts against these offsets.
IRP_MJ_CREATE, IRP_MJ_WRITE, IRP_MJ_SET_INFORMATION, IRP_MJ_CLEANUP = 0x00, 0x04, 0x06, 0x12
IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION = 0xFF
IRP_MJ_OPERATION_END = 0x80
FLT_CONTEXT_END = 0xFFFF
FLT_INSTANCE_CONTEXT, FLT_STREAM_CONTEXT, FLT_STREAMHANDLE_CONTEXT = 0x02, 0x10, 0x20
FILE_DEVICE_DISK_FILE_SYSTEM, FILE_DEVICE_NETWORK_FILE_SYSTEM = 0x08, 0x14
FILE_DEVICE_NAMED_PIPE = 0x11
PAGE_EXECUTE, PAGE_READWRITE = 0x10, 0x04
SEC_IMAGE = 0x1000000
# what the driver's own open must ask for (docs/driver.md, "Own reads")
OWN_OPEN_OPTIONS = (
    0x20 | 0x40 | 0x100
)  # SYNCHRONOUS_IO_NONALERT | NON_DIRECTORY | COMPLETE_IF_OPLOCKED
OBJ_KERNEL_HANDLE, OBJ_DONT_REPARSE = 0x200, 0x1000
IO_IGNORE_SHARE_ACCESS_CHECK = 0x0800
WRITE_ACCESS = 0x2 | 0x4 | 0x40000000  # FILE_WRITE_DATA | FILE_APPEND_DATA | GENERIC_WRITE


def u16(emu: Any, addr: int) -> int:
    return int.from_bytes(emu.mem_read(addr, 2), "little")


def u32(emu: Any, addr: int) -> int:
    return int.from_bytes(emu.mem_read(addr, 4), "little")


def u64(emu: Any, addr: int) -> int:
    return int.from_bytes(emu.mem_read(addr, 8), "little")


def read_unicode_string(emu: Any, addr: int) -> str:
    """A UNICODE_STRING by its Length (not up to a NUL)."""
    length, buffer = u16(emu, addr), u64(emu, addr + 8)
    return bytes(emu.mem_read(buffer, length)).decode("utf-16le") if length else ""


def read_cstring(emu: Any, addr: int, limit: int = 4096) -> bytes:
    out = bytearray()
    while len(out) < limit:
        b = bytes(emu.mem_read(addr + len(out), 1))
        if b == b"\0":
            break
        out += b
    return bytes(out)


_FORMAT = re.compile(rb"%(\.\*)?(l|ll|I64|w|h)?([sdiuxXpZS%])|%0?(\d+)(l)?([xX])")


class Harness:
    def __init__(self, sys_path: str, case: dict[str, Any], count_instructions: bool) -> None:
        self.case = case
        self.count = count_instructions
        self.se = speakeasy.Speakeasy()
        self.module = self.se.load_module(sys_path)
        self.pool: dict[int, tuple[int, int, int]] = {}  # addr -> (type, size, tag)
        self.bad_frees: list[str] = []
        self.handles: dict[int, tuple[str, Any]] = {}
        self.next_handle = 0x1000
        self.hashes: dict[int, Any] = {}
        self.providers: set[int] = set()
        self.etw_providers: dict[int, str] = {}  # registration handle -> provider GUID
        self.etw_registrations: list[dict[str, Any]] = []
        self.etw_events: list[dict[str, Any]] = []
        self.etw_errors: list[str] = []
        self.locks_held = 0
        self.prints: list[str] = []
        self.routine: int | None = None
        self.removed = False
        self.params_path: str | None = None
        self.calls: list[dict[str, Any]] = []  # per call: create_info address, run
        self.unload_run: Any = None
        self.instructions = 0
        self.per_run: dict[int, int] = {}
        self.hook_errors: list[str] = []
        self.reg_callback: tuple[int, int] | None = None  # (function, context)
        self.reg_unregistered = False
        self.key_names: dict[int, int] = {}  # fake key object -> UNICODE_STRING
        self.value_for_run: dict[int, Any] = {}  # id(reload run) -> the value then
        self.name_infos: dict[int, str] = {}  # FLT_FILE_NAME_INFORMATION -> name
        self.devices: dict[str, int] = {}  # volume device name -> fake DEVICE_OBJECT
        self.pool2_calls = 0
        self.name_queries = 0
        self.ret_stub = int(self.se.emu.mem_map(0x1000, tag="ewl.retstub"))
        self.se.emu.mem_write(self.ret_stub, b"\xc3")
        self.fs = FileSystem(self, case)
        emu = self.se.emu
        exec_run, run_complete = emu._exec_run, emu.on_run_complete

        def _exec_run(run: Any) -> Any:
            self.fs.before_run(run)
            return exec_run(run)

        def on_run_complete() -> Any:
            run = emu.curr_run
            run.ret_val = emu.get_return_val()
            done = getattr(run, "ewl_done", None)
            if done is not None:
                done(run)
            return run_complete()

        emu._exec_run = _exec_run
        emu.on_run_complete = on_run_complete
        root = case.get("system_root", "C:\\Windows").encode("utf-16le") + b"\0\0"
        self.se.emu.mem_write(NT_SYSTEM_ROOT, root[:520])
        self._hooks()

    # ---- plumbing -------------------------------------------------------

    def _hook(self, module: str, name: str, argc: int, fn: Any) -> None:
        # argv holds whole 64-bit slots: a ULONG/BOOLEAN/enum argument is only
        # its low bits (the rest is whatever the caller left), so mask them.
        def cb(emu: Any, api: str, orig: Any, argv: list[int]) -> int:
            try:
                return int(fn(emu, argv))
            except Exception as e:  # a harness bug: reported, never a silent crash
                self.hook_errors.append(f"{name}({', '.join(map(hex, argv))}): {e!r}")
                raise

        self.se.add_api_hook(cb, module, name, argc=argc)

    def _new_handle(self, kind: str, obj: Any) -> int:
        self.next_handle += 4
        self.handles[self.next_handle] = (kind, obj)
        return self.next_handle

    def _hooks(self) -> None:
        h = self._hook
        h("ntoskrnl", "ExAllocatePoolWithTag", 3, self.alloc)
        h("ntoskrnl", "ExFreePoolWithTag", 2, self.free)
        h("ntoskrnl", "ExFreePool", 1, lambda e, a: self.free(e, [a[0], -1]))
        h("ntoskrnl", "ExAllocatePool2", 3, self.alloc2)
        h("ntoskrnl", "MmGetSystemRoutineAddress", 1, self.routine_address)
        h("ntoskrnl", "RtlInitUnicodeString", 2, self.init_string)
        h("ntoskrnl", "IoVolumeDeviceToDosName", 2, self.dos_name)
        h("ntoskrnl", "IoGetTransactionParameterBlock", 1, self.transaction)
        h("fltmgr", "FltGetFileNameInformationUnsafe", 4, self.get_name)
        h("fltmgr", "FltParseFileNameInformation", 1, self.parse_name)
        h("fltmgr", "FltReleaseFileNameInformation", 1, self.release_name)
        h("ntoskrnl", "ExInitializeResourceLite", 1, lambda e, a: 0)
        h("ntoskrnl", "ExDeleteResourceLite", 1, lambda e, a: 0)
        h("ntoskrnl", "ExAcquireResourceSharedLite", 2, self.lock)
        h("ntoskrnl", "ExAcquireResourceExclusiveLite", 2, self.lock)
        h("ntoskrnl", "ExReleaseResourceLite", 1, self.unlock)
        h("ntoskrnl", "KeEnterCriticalRegion", 0, lambda e, a: 0)
        h("ntoskrnl", "KeLeaveCriticalRegion", 0, lambda e, a: 0)
        h("ntoskrnl", "PsSetCreateProcessNotifyRoutineEx", 2, self.set_notify)
        h("ntoskrnl", "ZwOpenKey", 3, self.open_key)
        h("ntoskrnl", "ZwQueryValueKey", 6, self.query_value)
        h("ntoskrnl", "ZwClose", 1, self.close)
        h("ntoskrnl", "RtlUpcaseUnicodeString", 3, self.upcase)
        h("ntoskrnl", "MmDoesFileHaveUserWritableReferences", 1, self.writable)
        h("ntoskrnl", "ObOpenObjectByPointer", 7, self.open_object)
        h("ntoskrnl", "ZwQueryInformationFile", 5, self.query_file)
        h("ntoskrnl", "ZwReadFile", 9, self.read_file)
        h("ntoskrnl", "ZwWaitForSingleObject", 3, lambda e, a: 0)
        h("ntoskrnl", "DbgPrintEx", 3, self.dbgprint)
        h("ntoskrnl", "RtlEqualUnicodeString", 3, self.equal_strings)
        h("ntoskrnl", "CmRegisterCallbackEx", 6, self.cm_register)
        h("ntoskrnl", "CmUnRegisterCallback", 1, self.cm_unregister)
        h("ntoskrnl", "CmCallbackGetKeyObjectID", 4, self.cm_key_name)
        h("ntoskrnl", "EtwRegister", 4, self.etw_register)
        h("ntoskrnl", "EtwUnregister", 1, self.etw_unregister)
        h("ntoskrnl", "EtwWriteTransfer", 6, self.etw_write)
        self.fs.hooks(h)
        h("cng", "BCryptOpenAlgorithmProvider", 4, self.open_provider)
        h("cng", "BCryptCloseAlgorithmProvider", 2, self.close_provider)
        h("cng", "BCryptCreateHash", 7, self.create_hash)
        h("cng", "BCryptHashData", 4, self.hash_data)
        h("cng", "BCryptFinishHash", 4, self.finish_hash)
        h("cng", "BCryptDestroyHash", 1, self.destroy_hash)

    # ---- pool and locks -------------------------------------------------

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
        if name != "ExAllocatePool2" or self.case.get("no_pool2"):
            return 0
        # The import hook's stub for ntoskrnl!ExAllocatePool2: calling it runs alloc2.
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

    # ---- the callback ---------------------------------------------------

    def set_notify(self, emu: Any, a: list[int]) -> int:
        routine, remove = a[0], a[1] & 0xFF
        if remove:
            if routine != self.routine:
                return STATUS_INVALID_PARAMETER
            self.removed = True
            return 0
        self.routine = routine
        drv = next(d for d in emu.drivers if d.pe is self.module)
        self.fs.queue_instance_setups(emu)
        for call in self.case["calls"]:
            if "reload" in call:
                self.calls.append(self._queue_reload(emu, call["reload"]))
            else:
                self.calls.append(self._queue_call(emu, call))
        run = Run()
        if self.fs.filter is not None and self.fs.filter["unload"]:
            run.type = "filter_unload"  # FilterUnloadCallback(Flags): Filter Manager's unload
            run.start_addr = self.fs.filter["unload"]
            run.args = [1]  # FLTFL_FILTER_UNLOAD_MANDATORY
        else:
            run.type = "driver_unload"
            run.start_addr = u64(emu, drv.address + 0x68)
            run.args = [drv.address]
        emu.add_run(run)
        self.unload_run = run
        return 0

    def _queue_call(self, emu: Any, call: dict[str, Any]) -> dict[str, Any]:
        name = call["image_name"].encode("utf-16le")
        mem = emu.mem_map(0x1000 + len(name), tag="ewl.callinfo")
        eprocess, info, _fobj, ustr, buf = mem, mem + 0x100, mem + 0x200, mem + 0x300, mem + 0x1000
        emu.mem_write(buf, name)
        emu.mem_write(ustr, struct.pack("<HHIQ", len(name), len(name), 0, buf))
        file_object, state = self.fs.queue_call(emu, call, len(self.calls))
        flags = 1 if call.get("open_name_available", True) else 0
        emu.mem_write(
            info,
            struct.pack(
                "<QIIQQQQQQI",
                CREATE_INFO_SIZE,
                flags,
                0,
                PARENT_PID,
                4,  # CreatingThreadId 4/8: distinct from the parent, so a mix-up shows
                8,
                file_object,
                ustr,
                0,
                call.get("status", 0) & 0xFFFFFFFF,
            ),
        )
        run = Run()
        run.type = "process_notify"
        run.start_addr = self.routine
        run.args = [eprocess, 0x1234 + 4 * len(self.calls), info]
        run.ewl_start = lambda r: setattr(self.fs, "current", state)  # type: ignore[attr-defined]
        emu.add_run(run)
        return {"info": info, "run": run, "file_object": file_object, "state": state}

    def _device(self, emu: Any, name: str) -> int:
        """The fake DEVICE_OBJECT of the volume that holds NT name ``name``."""
        volume = "\\".join(name.split("\\")[:3])
        if volume not in self.devices:
            self.devices[volume] = int(emu.mem_map(0x100, tag="ewl.device"))
        return self.devices[volume]

    def _unicode_string(self, emu: Any, text: str) -> int:
        data = text.encode("utf-16le")
        mem = emu.mem_map(0x20 + len(data), tag="ewl.string")
        emu.mem_write(mem + 0x20, data)
        emu.mem_write(mem, struct.pack("<HHIQ", len(data), len(data), 0, mem + 0x20))
        return int(mem)

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

    def equal_strings(self, emu: Any, a: list[int]) -> int:
        x, y = read_unicode_string(emu, a[0]), read_unicode_string(emu, a[1])
        if a[2] & 0xFF:
            x, y = x.upper(), y.upper()
        return 1 if x == y else 0

    # ---- registry -------------------------------------------------------

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

    # ---- strings and printing -------------------------------------------

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
        folded = "".join(c.upper() if len(c.upper()) == 1 else c for c in text)
        data = folded.encode("utf-16le")
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

    # ---- ETW --------------------------------------------------------------

    def etw_register(self, emu: Any, a: list[int]) -> int:
        guid, callback, phandle = a[0], a[1], a[3]
        provider = str(uuid.UUID(bytes_le=bytes(emu.mem_read(guid, 16))))
        self.etw_registrations.append({"guid": provider, "enable_callback": callback != 0})
        if self.case.get("fail_etw_register"):
            return STATUS_INSUFFICIENT_RESOURCES
        handle = 0xE7E000 + len(self.etw_registrations)
        self.etw_providers[handle] = provider
        emu.mem_write(phandle, struct.pack("<Q", handle))
        return 0

    def etw_unregister(self, emu: Any, a: list[int]) -> int:
        if self.case.get("ignore_etw_unregister"):  # negative control: "forgotten"
            return 0
        if self.etw_providers.pop(a[0], None) is None:
            self.etw_errors.append(f"EtwUnregister of unknown handle 0x{a[0]:x}")
            return STATUS_INVALID_HANDLE
        return 0

    def etw_write(self, emu: Any, a: list[int]) -> int:
        handle, descriptor, count, data = a[0], a[1], a[4] & 0xFFFFFFFF, a[5]
        if handle not in self.etw_providers:
            self.etw_errors.append(f"EtwWriteTransfer on unregistered handle 0x{handle:x}")
            return STATUS_INVALID_HANDLE
        event_id, version, channel, level, opcode, task, keyword = struct.unpack(
            "<HBBBBHQ", bytes(emu.mem_read(descriptor, 16))
        )
        chunks = []
        for i in range(count):  # EVENT_DATA_DESCRIPTOR: Ptr, Size, Reserved (low byte: Type)
            ptr, size, reserved = struct.unpack("<QII", bytes(emu.mem_read(data + 16 * i, 16)))
            chunks.append((reserved, bytes(emu.mem_read(ptr, size)) if size else b""))
        try:
            event = decode_tracelogging(chunks)
        except ValueError as e:
            self.etw_errors.append(f"undecodable event: {e}")
            return STATUS_INVALID_PARAMETER
        event.update(
            provider_guid=self.etw_providers[handle],
            id=event_id,
            version=version,
            channel=channel,
            level=level,
            opcode=opcode,
            task=task,
            keyword=keyword,
        )
        self.etw_events.append(event)
        return 0

    # ---- files ----------------------------------------------------------

    def writable(self, emu: Any, a: list[int]) -> int:
        stream = next((t for t in self.fs.streams.values() if t["sop"] == a[0]), None)
        return 1 if stream is not None and stream.get("writable") else 0

    def open_object(self, emu: Any, a: list[int]) -> int:
        obj, phandle = a[0], a[6]
        f = self.fs.fos.get(obj)
        if f is None:
            return STATUS_INVALID_HANDLE
        if f["kind"] == "creator":
            self.fs.creator_io.append("ObOpenObjectByPointer")
            if f.get("cleaned_up"):  # 0 -> 1 -> 0 handles: a second IRP_MJ_CLEANUP
                self.fs.errors.append("a handle to a cleaned-up file object: second cleanup")
        emu.mem_write(phandle, struct.pack("<Q", self._new_handle("file", obj)))
        return 0

    def transaction(self, emu: Any, a: list[int]) -> int:
        f = self.fs.fos.get(a[0])
        return 0x7A000 if f is not None and f.get("transaction") else 0

    def get_name(self, emu: Any, a: list[int]) -> int:
        fobj, instance, options, pinfo = a[0], a[1], a[2] & 0xFFFFFFFF, a[3]
        f = self.fs.fos.get(fobj)
        if f is None or f["stream"] is None or options != FLT_NAME_OPTIONS:
            return STATUS_INVALID_PARAMETER
        if instance and not any(v["instance"] == instance for v in self.fs.volumes.values()):
            return STATUS_INVALID_PARAMETER
        self.name_queries += 1
        name = f["stream"].get("query_name", f["stream"]["name"])
        if name is None:
            return STATUS_OBJECT_NAME_NOT_FOUND
        data = name.encode("utf-16le")
        info = int(emu.mem_map(FLT_NAME_INFO_SIZE + len(data), tag="ewl.fltname"))
        emu.mem_write(info + FLT_NAME_INFO_SIZE, data)
        emu.mem_write(info, struct.pack("<HHI", FLT_NAME_INFO_SIZE, 0, 1))
        emu.mem_write(info + 0x08, struct.pack("<HHIQ", len(data), len(data), 0, info + 0x78))
        self.name_infos[info] = name
        emu.mem_write(pinfo, struct.pack("<Q", info))
        return 0

    def parse_name(self, emu: Any, a: list[int]) -> int:
        """FltParseFileNameInformation as documented: Name is
        [Volume][Share][ParentDir][FinalComponent][Stream]; every part a
        substring of Name (the same buffer)."""
        info = a[0]
        if info not in self.name_infos:
            return STATUS_INVALID_PARAMETER
        name = self.name_infos[info]
        parts = name.split("\\")  # "", "Device", volume, ...
        if len(parts) < 4 or parts[0] or parts[1].upper() != "DEVICE":
            return STATUS_OBJECT_NAME_INVALID
        volume = "\\".join(parts[:3])
        share = ""
        rest = name[len(volume) :]
        if volume.upper() in REDIRECTORS:
            share = "\\".join(rest.split("\\")[:3])
        final_at = name.rindex("\\") + 1
        colon = name.find(":", final_at)
        stream_at = colon if colon >= 0 else len(name)
        final = name[final_at:stream_at]
        dot = final.rfind(".")
        base = info + FLT_NAME_INFO_SIZE

        def part(offset: int, start: int, end: int) -> None:
            n = 2 * (end - start)
            emu.mem_write(
                info + offset, struct.pack("<HHIQ", n, n, 0, base + 2 * start if n else 0)
            )

        part(0x18, 0, len(volume))
        part(0x28, len(volume), len(volume) + len(share))
        part(0x38, final_at + dot + 1 if dot >= 0 else stream_at, stream_at)
        part(0x48, stream_at, len(name))
        part(0x58, final_at, stream_at)
        part(0x68, len(volume) + len(share), final_at)
        emu.mem_write(info + 2, struct.pack("<H", 0xF))
        return 0

    def release_name(self, emu: Any, a: list[int]) -> int:
        if self.name_infos.pop(a[0], None) is None:
            self.bad_frees.append(f"release of unknown name information 0x{a[0]:x}")
        return 0

    def dos_name(self, emu: Any, a: list[int]) -> int:
        device, out = a[0], a[1]
        volume = next((v for v, d in self.devices.items() if d == device), None)
        dos = self.case.get("dos_devices", {}).get(volume) if volume else None
        if dos is None:
            return STATUS_OBJECT_NAME_NOT_FOUND
        data = dos.encode("utf-16le")
        buf = self.alloc(emu, [1, len(data) + 2, 0])  # ExAllocatePool: freed by ExFreePool
        emu.mem_write(buf, data + b"\0\0")
        emu.mem_write(out, struct.pack("<HHIQ", len(data), len(data) + 2, 0, buf))
        return 0

    def _fo(self, handle: int) -> int | None:
        kind, obj = self.handles.get(handle, ("", None))
        return int(obj) if kind == "file" else None

    def query_file(self, emu: Any, a: list[int]) -> int:
        handle, iosb, buf = a[:3]
        length, cls = a[3] & 0xFFFFFFFF, a[4] & 0xFFFFFFFF
        fo = self._fo(handle)
        if fo is None:
            return STATUS_INVALID_HANDLE
        if cls != FILE_STANDARD_INFORMATION or length < 24:
            return STATUS_INVALID_PARAMETER
        stream = self.fs.fos[fo]["stream"]
        size = stream.get("claim_size", len(stream["data"]))
        emu.mem_write(buf, struct.pack("<qqIBB2x", size, size, 1, 0, 0))
        emu.mem_write(iosb, struct.pack("<QQ", 0, 24))
        return 0

    def read_file(self, emu: Any, a: list[int]) -> int:
        handle, iosb, buf, length, offset_ptr = a[0], a[4], a[5], a[6] & 0xFFFFFFFF, a[7]
        fo = self._fo(handle)
        if fo is None or not offset_ptr:
            return STATUS_INVALID_PARAMETER
        f = self.fs.fos[fo]
        return self.fs._creator_read(
            emu, f, fo, u64(emu, offset_ptr), length, buf, iosb, "ZwReadFile"
        )

    # ---- CNG ------------------------------------------------------------

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

    # ---- running ----------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if self.count:
            self.se.add_code_hook(self._count)
        self.se.run_module(self.module)
        emu = self.se.emu
        runs = emu.runs
        entry = runs[0]
        result: dict[str, Any] = {
            "name": self.case["name"],
            "entry_status": (entry.ret_val or 0) & 0xFFFFFFFF,
            "registered": self.routine is not None,
            "params_path": self.params_path,
            "calls": [],
            "prints": self.prints,
            "errors": [r.error for r in runs if r.error],
            "hook_errors": self.hook_errors,
        }
        for call in self.calls:
            if call.get("reload"):
                run = call["run"]
                result["calls"].append(
                    {
                        "reload": True,
                        "delivered": run is not None,
                        "errors": bool(run is not None and run.error),
                    }
                )
                continue
            status = u32(emu, call["info"] + 0x40)
            result["calls"].append(
                {
                    "status": status,
                    "reads": call["state"]["reads"],
                    "own_reads": call["state"]["own_reads"],
                    "creator_io": call["state"]["creator_io"],
                    "creator_position": self.fs.position(call["file_object"])
                    if call["file_object"]
                    else 0,
                    "instructions": self.per_run.get(id(call["run"])),
                    "filter_instructions": sum(
                        self.per_run.get(id(r), 0) for r in call["state"].get("runs", [])
                    ),
                }
            )
        result["unloaded"] = self.unload_run is not None and self.unload_run in runs
        result["removed"] = self.removed
        result["registry_callback_removed"] = self.reg_unregistered
        result["pool2_calls"] = self.pool2_calls
        result["name_queries"] = self.name_queries
        result["fltmgr"] = {
            "registered": self.fs.filter is not None,
            "flags": self.fs.filter["flags"] if self.fs.filter else None,
            "operations": sorted(self.fs.filter["ops"]) if self.fs.filter else [],
            "started": self.fs.started,
            "unregistered": self.fs.unregistered,
            "instance_setups": self.fs.instance_setups,
            "events": self.fs.event_results,
            "own_opens": self.fs.own_opens,
            "creator_io": self.fs.creator_io,
            "late_completions": self.fs.late_completions,
            "errors": self.fs.errors,
        }
        result["etw"] = {
            "registrations": self.etw_registrations,
            "events": self.etw_events,
            "errors": self.etw_errors,
        }
        result["leaks"] = {
            "pool": [f"0x{a:x} size {s} tag 0x{t:x}" for a, (_, s, t) in self.pool.items()],
            "names": sorted(self.name_infos.values()),
            "bad_frees": self.bad_frees,
            "handles": sorted(k for k, _ in self.handles.values()),
            "hashes": len(self.hashes),
            "providers": len(self.providers),
            "etw_providers": len(self.etw_providers),
            "locks_held": self.locks_held,
            **self.fs.leaks(),
        }
        return result

    def _count(self, emu: Any, addr: int, size: int, ctx: Any) -> bool:
        run = emu.curr_run
        self.per_run[id(run)] = self.per_run.get(id(run), 0) + 1
        return True


# ---- Filter Manager and the file system ---------------------------------------
#
# A small model of what a minifilter sees: volumes (each with a fake
# DEVICE_OBJECT, FLT_VOLUME and, once InstanceSetup accepted it, FLT_INSTANCE),
# streams (bytes, an NT name, an FsContext and a SECTION_OBJECT_POINTERS, the
# image bytes an executable section was made from) and file objects on them.
# A call's "events" are delivered to the filter's registered callbacks as runs
# before its process-notify run; their effect on the stream (a write, a new
# image section) applies when the run starts, so a stream shared by several
# calls changes in order. The driver's own I/O (FltCreateFileEx2, FltReadFileEx)
# is checked against what docs/driver.md promises, and any I/O through the
# creator's file object is recorded ("creator_io"), with what it does to that
# file object: an asynchronous one completes after the callback returned (into
# freed pool or a dead stack: "late_completions"), a cleaned-up one fails, a
# non-buffered one fails unaligned reads, a synchronous one has its position
# moved.

FO_SIZE = 0xD8
FO_FSCONTEXT, FO_SOP, FO_DELETE_PENDING, FO_FLAGS, FO_POSITION = 0x18, 0x28, 0x49, 0x50, 0x68
FO_SYNCHRONOUS_IO, FO_NO_INTERMEDIATE_BUFFERING, FO_CLEANUP_COMPLETE = 0x2, 0x8, 0x4000


class FileSystem:
    def __init__(self, harness: Harness, case: dict[str, Any]) -> None:
        self.h = harness
        self.case = case
        self.streams: dict[str, dict[str, Any]] = {}
        self.fos: dict[int, dict[str, Any]] = {}  # FILE_OBJECT -> {"stream", "kind", ...}
        self.named_fos: dict[str, int] = {}  # event "fo" id -> FILE_OBJECT (per call)
        self.volumes: dict[str, dict[str, Any]] = {}
        self.freed: list[tuple[int, int]] = []
        self.filter: dict[str, Any] | None = None
        self.filter_handle = 0xF17E0000
        self.started = False
        self.unregistered = False
        self.contexts: dict[int, dict[str, Any]] = {}  # context -> {"type", "refs", "size"}
        self.stream_ctx: dict[tuple[int, int], int] = {}  # (instance, FsContext) -> context
        self.handle_ctx: dict[tuple[int, int], int] = {}  # (instance, FILE_OBJECT) -> context
        self.instance_ctx: dict[int, int] = {}
        self.object_refs: dict[int, int] = {}  # FLT_VOLUME/FLT_INSTANCE -> references taken
        self.fo_refs: dict[int, int] = {}  # own FILE_OBJECTs -> references
        self.own_handles: set[int] = set()
        self.creator_io: list[str] = []
        self.errors: list[str] = []
        self.pending: list[dict[str, Any]] = []
        self.late_completions: list[str] = []
        self.current: dict[str, Any] | None = None  # the call whose runs are running
        self.event_results: list[dict[str, Any]] = []
        self.instance_setups: list[dict[str, Any]] = []
        self.own_opens: list[dict[str, Any]] = []
        self.flt_reads = 0
        for sid, spec in case.get("streams", {}).items():
            self._stream(sid, spec)

    def hooks(self, h: Any) -> None:
        h("fltmgr", "FltRegisterFilter", 3, self.register)
        h("fltmgr", "FltStartFiltering", 1, self.start)
        h("fltmgr", "FltUnregisterFilter", 1, self.unregister)
        h("fltmgr", "FltAllocateContext", 5, self.allocate_context)
        h("fltmgr", "FltReleaseContext", 1, self.release_context)
        h("fltmgr", "FltGetStreamContext", 3, self.get_stream_context)
        h("fltmgr", "FltSetStreamContext", 5, self.set_stream_context)
        h("fltmgr", "FltGetStreamHandleContext", 3, self.get_handle_context)
        h("fltmgr", "FltSetStreamHandleContext", 5, self.set_handle_context)
        h("fltmgr", "FltGetInstanceContext", 2, self.get_instance_context)
        h("fltmgr", "FltSetInstanceContext", 4, self.set_instance_context)
        h("fltmgr", "FltGetVolumeFromFileObject", 3, self.volume_from_fo)
        h("fltmgr", "FltGetVolumeInstanceFromName", 4, self.instance_from_volume)
        h("fltmgr", "FltObjectDereference", 1, self.dereference)
        h("fltmgr", "FltCreateFileEx2", 16, self.create_file)
        h("fltmgr", "FltClose", 1, self.flt_close)
        h("fltmgr", "FltReadFileEx", 11, self.flt_read)
        h("fltmgr", "FltQueryInformationFile", 6, self.flt_query)
        h("ntoskrnl", "ObfDereferenceObject", 1, self.ob_dereference)
        h("ntoskrnl", "KeAcquireSpinLockRaiseToDpc", 1, lambda e, a: 0)
        h("ntoskrnl", "KeReleaseSpinLock", 2, lambda e, a: 0)

    # ---- the world ------------------------------------------------------------

    def _stream(self, sid: str, spec: dict[str, Any]) -> dict[str, Any]:
        emu = self.h.se.emu
        if sid in self.streams:
            return self.streams[sid]
        data = b""
        if spec.get("file"):
            with open(spec["file"], "rb") as f:
                data = f.read()
        mem = int(emu.mem_map(0x100, tag="ewl.stream"))
        name = spec.get("name")
        stream = {
            "id": sid,
            "data": data,
            "name": name,
            "fscontext": mem,
            "sop": mem + 0x80,
            "image": None,
            "volume": self._volume(name)["name"] if name else None,
            **{k: v for k, v in spec.items() if k not in ("file", "name")},
        }
        self.streams[sid] = stream
        return stream

    def _volume(self, name: str) -> dict[str, Any]:
        emu = self.h.se.emu
        volume = "\\".join(name.split("\\")[:3])
        if volume not in self.volumes:
            mem = int(emu.mem_map(0x400, tag="ewl.volume"))
            network = volume.upper() in REDIRECTORS
            self.volumes[volume] = {
                "name": volume,
                "device": mem,
                "volume": mem + 0x100,
                "instance": mem + 0x200,
                "network": network,
                "type": FILE_DEVICE_NETWORK_FILE_SYSTEM
                if network
                else FILE_DEVICE_DISK_FILE_SYSTEM,
                "attached": False,
            }
            self.h.devices[volume] = mem
        return self.volumes[volume]

    def file_object(self, stream: dict[str, Any] | None, kind: str, **flags: Any) -> int:
        emu = self.h.se.emu
        fo = int(emu.mem_map(FO_SIZE + 0x28, tag="ewl.fileobject"))
        bits = FO_SYNCHRONOUS_IO
        if flags.get("async"):
            bits = 0
        if flags.get("non_buffered"):
            bits |= FO_NO_INTERMEDIATE_BUFFERING
        if flags.get("cleaned_up"):
            bits |= FO_CLEANUP_COMPLETE
        if stream is not None:
            device = self._volume(stream["name"])["device"] if stream["name"] else 0
            emu.mem_write(fo + 0x08, struct.pack("<Q", device))
            emu.mem_write(fo + FO_FSCONTEXT, struct.pack("<Q", stream["fscontext"]))
            emu.mem_write(fo + FO_SOP, struct.pack("<Q", stream["sop"]))
        emu.mem_write(fo + FO_DELETE_PENDING, bytes([1 if flags.get("delete_pending") else 0]))
        emu.mem_write(fo + FO_FLAGS, struct.pack("<I", bits))
        self.fos[fo] = {"stream": stream, "kind": kind, "reads": 0, **flags}
        return fo

    def position(self, fo: int) -> int:
        return u64(self.h.se.emu, fo + FO_POSITION)

    # ---- registration ------------------------------------------------------------

    def register(self, emu: Any, a: list[int]) -> int:
        _driver, reg, pfilter = a
        size, version, flags = struct.unpack("<HHI", bytes(emu.mem_read(reg, 8)))
        ctx_reg, op_reg, unload, setup = struct.unpack("<QQQQ", bytes(emu.mem_read(reg + 8, 32)))
        if size != 0x70 or version != 0x0202:
            self.errors.append(f"FLT_REGISTRATION size 0x{size:x} version 0x{version:x}")
            return STATUS_INVALID_PARAMETER
        contexts = {}
        while ctx_reg:
            ctype, _, _, cleanup, csize, tag = struct.unpack(
                "<HHIQQI", bytes(emu.mem_read(ctx_reg, 0x1C))
            )
            if ctype == FLT_CONTEXT_END:
                break
            contexts[ctype] = {"size": csize, "tag": tag & 0xFFFFFFFF, "cleanup": cleanup}
            ctx_reg += 0x38
        ops = {}
        while op_reg:
            major = bytes(emu.mem_read(op_reg, 1))[0]
            if major == IRP_MJ_OPERATION_END:
                break
            pre, post = struct.unpack("<QQ", bytes(emu.mem_read(op_reg + 8, 16)))
            ops[major] = (pre, post)
            op_reg += 0x20
        self.filter = {
            "flags": flags,
            "contexts": contexts,
            "ops": ops,
            "unload": unload,
            "setup": setup,
        }
        emu.mem_write(pfilter, struct.pack("<Q", self.filter_handle))
        return 0

    def start(self, emu: Any, a: list[int]) -> int:
        if self.filter is None or a[0] != self.filter_handle:
            return STATUS_INVALID_PARAMETER
        self.started = True
        return 0

    def unregister(self, emu: Any, a: list[int]) -> int:
        if a[0] != self.filter_handle or self.unregistered:
            self.errors.append("FltUnregisterFilter of an unknown or unregistered filter")
            return 0
        self.unregistered = True
        # Filter Manager tears the instances down: their contexts go
        for table in (self.stream_ctx, self.handle_ctx, self.instance_ctx):
            for ctx in list(table.values()):
                self._deref_context(ctx)
            table.clear()
        return 0

    def queue_instance_setups(self, emu: Any) -> None:
        """InstanceSetupCallback for every volume the case names (and a named-pipe
        volume, which a whitelist filter must refuse)."""
        if self.filter is None or not self.filter["setup"]:
            return
        for sid, spec in list(self.case.get("streams", {}).items()):
            self._stream(sid, spec)
        for call in self.case["calls"]:
            if call.get("file_name"):
                self._volume(call["file_name"])
        self._volume("\\Device\\NamedPipe\\x")["type"] = FILE_DEVICE_NAMED_PIPE
        for volume in self.volumes.values():
            objects = int(emu.mem_map(0x100, tag="ewl.fltobjects"))
            emu.mem_write(
                objects,
                struct.pack(
                    "<HHIQQQQQ",
                    0x30,
                    0,
                    0,
                    self.filter_handle,
                    volume["volume"],
                    volume["instance"],
                    0,
                    0,
                ),
            )
            run = Run()
            run.type = f"instance_setup:{volume['name']}"
            run.start_addr = self.filter["setup"]
            run.args = [objects, 1, volume["type"], 0]
            run.ewl_done = lambda r, v=volume: self._setup_done(r, v)  # type: ignore[attr-defined]
            emu.add_run(run)

    def _setup_done(self, run: Any, volume: dict[str, Any]) -> None:
        status = (run.ret_val or 0) & 0xFFFFFFFF
        volume["attached"] = status == 0
        self.instance_setups.append({"volume": volume["name"], "status": status})

    # ---- events -----------------------------------------------------------------

    def queue_call(self, emu: Any, call: dict[str, Any], index: int) -> tuple[int, dict[str, Any]]:
        """The creator's FILE_OBJECT (0: none) and the call's state; queues the
        filter events that precede the process creation."""
        state: dict[str, Any] = {"reads": 0, "own_reads": 0, "creator_io": 0}
        if not call.get("file") and not call.get("stream"):
            return 0, state
        sid = call.get("stream") or f"#{index}"
        stream = self._stream(
            sid,
            {
                "file": call.get("file"),
                "name": call.get("file_name"),
                "writable": call.get("writable", False),
            },
        )
        creator = self.file_object(
            stream,
            "creator",
            delete_pending=call.get("delete_pending", False),
            transaction=call.get("transaction", False),
            **call.get("creator", {}),
        )
        state["stream"] = stream
        state["creator"] = creator
        fos = {"creator": creator}
        events = call.get("events")
        if events is None:
            # NtCreateUserProcess: the creator's open, then its image section
            events = [] if call.get("unseen") else [{"op": "section", "fo": "creator"}]
        for event in events:
            self._queue_event(emu, event, fos, stream, state)
        return creator, state

    def _queue_event(
        self,
        emu: Any,
        event: dict[str, Any],
        fos: dict[str, int],
        stream: dict[str, Any],
        state: dict[str, Any],
    ) -> None:
        op = event["op"]
        target = self.streams[event["stream"]] if "stream" in event else stream
        fo_id = event.get("fo", "creator")
        if op == "open":
            fos[fo_id] = self.file_object(target, "writer" if event.get("write") else "reader")
        fo = fos[fo_id]
        major = {
            "open": IRP_MJ_CREATE,
            "write": IRP_MJ_WRITE,
            "truncate": IRP_MJ_SET_INFORMATION,
            "rename": IRP_MJ_SET_INFORMATION,
            "cleanup": IRP_MJ_CLEANUP,
            "section": IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION,
        }[op]
        mem = int(emu.mem_map(0x400, tag="ewl.callbackdata"))
        data, iopb, objects, security, params = (
            mem,
            mem + 0x80,
            mem + 0x100,
            mem + 0x180,
            mem + 0x98,
        )
        volume = self._volume(target["name"]) if target["name"] else None
        instance = volume["instance"] if volume else 0
        emu.mem_write(data, struct.pack("<IIQQ", 0, 0, 0, iopb))
        emu.mem_write(iopb, struct.pack("<IBBBBQQ", 0, major, 0, 0, 0, fo, instance))
        emu.mem_write(
            objects,
            struct.pack(
                "<HHIQQQQQ",
                0x30,
                0,
                0,
                self.filter_handle,
                volume["volume"] if volume else 0,
                instance,
                fo,
                0,
            ),
        )
        if op == "open":
            access = WRITE_ACCESS & 0x2 if event.get("write") else 0x1  # FILE_READ_DATA
            emu.mem_write(security, struct.pack("<QQI", 0, 0, access | 0x00100000))
            emu.mem_write(params, struct.pack("<Q", security))
        elif op == "truncate":
            emu.mem_write(params, struct.pack("<IIQ", 8, 0, 20))  # FileEndOfFileInformation
        elif op == "rename":
            emu.mem_write(params, struct.pack("<IIQ", 0x20, 0, 10))  # FileRenameInformation
        elif op == "section":
            protection = event.get("protection", PAGE_EXECUTE)
            attributes = event.get("attributes", SEC_IMAGE if protection & 0xF0 else 0)
            emu.mem_write(params, struct.pack("<IIQII", 1, protection, 0, 0, attributes))

        def apply(run: Any) -> None:
            self.current = state
            if op == "write":
                with open(event["file"], "rb") as f:
                    target["data"] = f.read()
            elif op == "truncate":
                target["data"] = target["data"][: event.get("size", 0)]
            elif op == "rename":
                if event.get("stale_name_cache"):  # name queries still give the old name
                    target["query_name"] = target["name"]
                target["name"] = event["name"]
            elif op == "section" and event.get("protection", PAGE_EXECUTE) & 0xF0:
                target["image"] = target["data"]

        filt = self.filter
        pre, post = (0, 0)
        if filt is not None and volume is not None:
            pre, post = filt["ops"].get(major, (0, 0))
        if op == "open":
            pre = 0  # only the post-create matters: the file object exists
        queued = False
        for addr, args in ((pre, [data, objects, mem + 0x3F0]), (post, [data, objects, 0, 0])):
            if not addr:
                continue
            run = Run()
            run.type = f"{'pre' if addr == pre else 'post'}:{op}"
            run.start_addr = addr
            run.args = args
            if not queued:
                run.ewl_start = apply  # type: ignore[attr-defined]
            queued = True
            state.setdefault("runs", []).append(run)
            run.ewl_done = lambda r, o=op: self.event_results.append(  # type: ignore[attr-defined]
                {"op": o, "status": (r.ret_val or 0) & 0xFFFFFFFF, "error": bool(r.error)}
            )
            emu.add_run(run)
        if not queued:  # nobody filters: the event still happens
            run = Run()
            run.type = f"unfiltered:{op}"
            run.start_addr = self.h.ret_stub
            run.args = []
            run.ewl_start = apply  # type: ignore[attr-defined]
            emu.add_run(run)

    def before_run(self, run: Any) -> None:
        """A run starts: what was pending completes now (after its caller returned)."""
        for p in self.pending:
            self._complete_late(p)
        self.pending.clear()
        start = getattr(run, "ewl_start", None)
        if start is not None:
            start(run)

    def _complete_late(self, p: dict[str, Any]) -> None:
        freed = any(a <= p["buffer"] < a + n for a, n in self.freed)
        where = "freed pool" if freed else "live memory"
        self.late_completions.append(
            f"a read of {p['length']} bytes completed after the wait returned, into {where}"
        )

    # ---- contexts -----------------------------------------------------------------

    def allocate_context(self, emu: Any, a: list[int]) -> int:
        ctype, size, pctx = a[1] & 0xFFFF, a[2], a[4]
        if self.filter is None or ctype not in self.filter["contexts"]:
            return STATUS_INVALID_PARAMETER
        if self.case.get("fail_context_allocation"):
            return STATUS_INSUFFICIENT_RESOURCES
        ctx = int(emu.mem_map(max(size, 1), tag="ewl.context"))
        self.contexts[ctx] = {"type": ctype, "refs": 1, "size": size}
        emu.mem_write(pctx, struct.pack("<Q", ctx))
        return 0

    def _deref_context(self, ctx: int) -> None:
        c = self.contexts.get(ctx)
        if c is None or c["refs"] <= 0:
            self.errors.append(f"context 0x{ctx:x} released too often")
            return
        c["refs"] -= 1
        if c["refs"] == 0:
            del self.contexts[ctx]

    def release_context(self, emu: Any, a: list[int]) -> int:
        self._deref_context(a[0])
        return 0

    def _get(self, emu: Any, table: dict[Any, int], key: Any, out: int) -> int:
        ctx = table.get(key)
        if ctx is None:
            return STATUS_NOT_FOUND
        self.contexts[ctx]["refs"] += 1
        emu.mem_write(out, struct.pack("<Q", ctx))
        return 0

    def _set(self, emu: Any, table: dict[Any, int], key: Any, a: list[int]) -> int:
        operation, new, pold = a[2] & 0xFFFFFFFF, a[3], a[4]
        if new not in self.contexts:
            self.errors.append("set of an unknown context")
            return STATUS_INVALID_PARAMETER
        old = table.get(key)
        if old is not None and operation == 1:  # FLT_SET_CONTEXT_KEEP_IF_EXISTS
            if pold:
                self.contexts[old]["refs"] += 1
                emu.mem_write(pold, struct.pack("<Q", old))
            return STATUS_FLT_CONTEXT_ALREADY_DEFINED
        if old is not None:
            self._deref_context(old)
        table[key] = new
        self.contexts[new]["refs"] += 1
        return 0

    def _fscontext(self, fo: int) -> int:
        return u64(self.h.se.emu, fo + FO_FSCONTEXT)

    def get_stream_context(self, emu: Any, a: list[int]) -> int:
        return self._get(emu, self.stream_ctx, (a[0], self._fscontext(a[1])), a[2])

    def set_stream_context(self, emu: Any, a: list[int]) -> int:
        return self._set(emu, self.stream_ctx, (a[0], self._fscontext(a[1])), a)

    def get_handle_context(self, emu: Any, a: list[int]) -> int:
        return self._get(emu, self.handle_ctx, (a[0], a[1]), a[2])

    def set_handle_context(self, emu: Any, a: list[int]) -> int:
        return self._set(emu, self.handle_ctx, (a[0], a[1]), a)

    def get_instance_context(self, emu: Any, a: list[int]) -> int:
        return self._get(emu, self.instance_ctx, a[0], a[1])

    def set_instance_context(self, emu: Any, a: list[int]) -> int:
        operation, new, pold = a[1] & 0xFFFFFFFF, a[2], a[3]
        return self._set(emu, self.instance_ctx, a[0], [0, 0, operation, new, pold])

    # ---- objects ----------------------------------------------------------------

    def volume_from_fo(self, emu: Any, a: list[int]) -> int:
        fo, out = a[1], a[2]
        f = self.fos.get(fo)
        if f is None or f["stream"] is None or not f["stream"]["name"]:
            return STATUS_INVALID_PARAMETER
        volume = self._volume(f["stream"]["name"])["volume"]
        self.object_refs[volume] = self.object_refs.get(volume, 0) + 1
        emu.mem_write(out, struct.pack("<Q", volume))
        return 0

    def instance_from_volume(self, emu: Any, a: list[int]) -> int:
        volume_obj, name, out = a[1], a[2], a[3]
        volume = next((v for v in self.volumes.values() if v["volume"] == volume_obj), None)
        if volume is None or name:
            return STATUS_INVALID_PARAMETER
        if not volume["attached"]:
            return STATUS_FLT_INSTANCE_NOT_FOUND
        self.object_refs[volume["instance"]] = self.object_refs.get(volume["instance"], 0) + 1
        emu.mem_write(out, struct.pack("<Q", volume["instance"]))
        return 0

    def dereference(self, emu: Any, a: list[int]) -> int:
        if self.object_refs.get(a[0], 0) <= 0:
            self.errors.append(f"FltObjectDereference of 0x{a[0]:x} without a reference")
            return 0
        self.object_refs[a[0]] -= 1
        return 0

    # ---- the driver's own I/O --------------------------------------------------

    def create_file(self, emu: Any, a: list[int]) -> int:
        instance, phandle, pfo, access, attributes, iosb = a[1], a[2], a[3], a[4], a[5], a[6]
        share, disposition, options = a[9] & 0xFFFFFFFF, a[10] & 0xFFFFFFFF, a[11] & 0xFFFFFFFF
        flags = a[14] & 0xFFFFFFFF
        name = read_unicode_string(emu, u64(emu, attributes + 0x10))
        obj_flags = u32(emu, attributes + 0x18)
        record = {"name": name, "access": access & 0xFFFFFFFF, "options": options, "flags": flags}
        self.own_opens.append(record)
        problems = []
        if not any(v["instance"] == instance and v["attached"] for v in self.volumes.values()):
            problems.append("no instance of ours: the open would re-enter the filter")
        if access & WRITE_ACCESS or access & 0x00010000:  # write or DELETE
            problems.append(f"access 0x{access:x}")
        if options & OWN_OPEN_OPTIONS != OWN_OPEN_OPTIONS or disposition != 1:
            problems.append(f"options 0x{options:x} disposition {disposition}")
        if (
            obj_flags & (OBJ_KERNEL_HANDLE | OBJ_DONT_REPARSE)
            != OBJ_KERNEL_HANDLE | OBJ_DONT_REPARSE
        ):
            problems.append(f"object attributes 0x{obj_flags:x}")
        if not flags & IO_IGNORE_SHARE_ACCESS_CHECK or share != 7:
            problems.append(f"flags 0x{flags:x} share {share}")
        if problems:
            self.errors.append(f"FltCreateFileEx2({name}): " + "; ".join(problems))
        # the name leads to the current call's file when it still has that name
        # (calls may reuse one path for different files), else to any that has it
        candidates = [self.current.get("stream")] if self.current else []
        candidates += list(self.streams.values())
        stream = next(
            (t for t in candidates if t and t["name"] and t["name"].upper() == name.upper()),
            None,
        )
        if stream is None:
            return STATUS_OBJECT_NAME_NOT_FOUND
        status = stream.get("open_status", 0)
        if status and status & 0xC0000000:
            return int(status)
        fo = self.file_object(stream, "own")
        handle = self.h._new_handle("ownfile", fo)
        self.own_handles.add(handle)
        self.fo_refs[fo] = 1
        emu.mem_write(phandle, struct.pack("<Q", handle))
        emu.mem_write(pfo, struct.pack("<Q", fo))
        emu.mem_write(iosb, struct.pack("<QQ", status, 1))
        return int(status)  # STATUS_OPLOCK_BREAK_IN_PROGRESS is a success code

    def flt_close(self, emu: Any, a: list[int]) -> int:
        if a[0] not in self.own_handles:
            self.errors.append(f"FltClose of unknown handle 0x{a[0]:x}")
            return STATUS_INVALID_HANDLE
        self.own_handles.discard(a[0])
        self.h.handles.pop(a[0], None)
        return 0

    def ob_dereference(self, emu: Any, a: list[int]) -> int:
        if self.fo_refs.get(a[0], 0) <= 0:
            self.errors.append(f"ObDereferenceObject of 0x{a[0]:x} without a reference")
            return 0
        self.fo_refs[a[0]] -= 1
        return 0

    def flt_query(self, emu: Any, a: list[int]) -> int:
        fo, buf, length, cls, pret = a[1], a[2], a[3] & 0xFFFFFFFF, a[4] & 0xFFFFFFFF, a[5]
        f = self.fos.get(fo)
        if f is None or f["kind"] != "own":
            self.errors.append("FltQueryInformationFile on a file object the driver does not own")
            return STATUS_INVALID_PARAMETER
        if cls != FILE_STANDARD_INFORMATION or length < 24:
            return STATUS_INVALID_PARAMETER
        size = f["stream"].get("claim_size", len(f["stream"]["data"]))
        emu.mem_write(buf, struct.pack("<qqIBB2x", size, size, 1, 0, 0))
        if pret:
            emu.mem_write(pret, struct.pack("<I", 24))
        return 0

    def flt_read(self, emu: Any, a: list[int]) -> int:
        _instance, fo, offset_ptr, length, buf = a[0], a[1], a[2], a[3] & 0xFFFFFFFF, a[4]
        flags, pread, callback = a[5] & 0xFFFFFFFF, a[6], a[7]
        f = self.fos.get(fo)
        if f is None:
            return STATUS_INVALID_PARAMETER
        if f["kind"] != "own":
            return self._creator_read(
                emu, f, fo, u64(emu, offset_ptr), length, buf, 0, "FltReadFileEx"
            )
        if callback:
            self.errors.append("FltReadFileEx with a completion routine: not modelled")
        if not flags & 0x4:  # FLTFL_IO_OPERATION_DO_NOT_UPDATE_BYTE_OFFSET
            self.errors.append(f"FltReadFileEx flags 0x{flags:x}")
        stream = f["stream"]
        self.flt_reads += 1
        if self.current is not None:
            self.current["reads"] += 1
            self.current["own_reads"] += 1
        if pread:
            emu.mem_write(pread, struct.pack("<I", 0))
        if stream.get("hang"):
            self.errors.append("a read that never completes was waited for without a bound")
            return STATUS_IO_TIMEOUT
        if stream.get("locked") and not flags & 0x2:  # byte-range lock; paging I/O ignores it
            return STATUS_FILE_LOCK_CONFLICT
        if stream.get("read_status"):
            return int(stream["read_status"])
        offset = u64(emu, offset_ptr)
        data = stream["data"][offset : offset + length]
        if stream.get("short_read") and len(data) > 1:
            data = data[: len(data) // 2]
        if not data:
            return STATUS_END_OF_FILE
        emu.mem_write(buf, data)
        if pread:
            emu.mem_write(pread, struct.pack("<I", len(data)))
        return 0

    def _creator_read(
        self,
        emu: Any,
        f: dict[str, Any],
        fo: int,
        offset: int,
        length: int,
        buf: int,
        iosb: int,
        how: str,
    ) -> int:
        """I/O through the creator's file object, with its owner's flags."""
        if self.current is not None:
            self.current["reads"] += 1
            self.current["creator_io"] += 1
        self.creator_io.append(how)
        stream = f["stream"]
        if f.get("cleaned_up"):
            return STATUS_FILE_CLOSED
        if f.get("non_buffered") and (offset % 512 or length % 512):
            return STATUS_INVALID_PARAMETER
        if stream.get("locked"):
            return STATUS_FILE_LOCK_CONFLICT
        if stream.get("hang"):
            self.errors.append("a read that never completes was waited for without a bound")
            return STATUS_IO_TIMEOUT
        data = stream["data"][offset : offset + length]
        if f.get("async"):
            self.pending.append({"buffer": buf, "length": len(data)})
            return STATUS_PENDING
        # a synchronous file object: the explicit offset still moves its position
        emu.mem_write(fo + FO_POSITION, struct.pack("<Q", offset + len(data)))
        if not data:
            if iosb:
                emu.mem_write(iosb, struct.pack("<QQ", STATUS_END_OF_FILE, 0))
            return STATUS_END_OF_FILE
        emu.mem_write(buf, data)
        if iosb:
            emu.mem_write(iosb, struct.pack("<QQ", 0, len(data)))
        return 0

    def leaks(self) -> dict[str, Any]:
        return {
            "contexts": sorted(
                f"type 0x{c['type']:x} refs {c['refs']}" for c in self.contexts.values()
            ),
            "object_refs": sum(self.object_refs.values()),
            "own_file_objects": sum(self.fo_refs.values()),
            "own_handles": len(self.own_handles),
        }


def _sz(text: str) -> bytes:
    """A REG_SZ value's bytes: UTF-16LE with its terminating NUL."""
    return (text + "\0").encode("utf-16le")


# ---- TraceLogging decoding ---------------------------------------------------
#
# Written from the format's documentation: the comments of the Windows SDK's
# TraceLoggingProvider.h and microsoft/tracelogging (TraceLoggingDynamic.h,
# traceloggingdynamic.py), and EVENT_DATA_DESCRIPTOR in evntprov.h. An event is
# a list of data descriptors; the low byte of Reserved is the descriptor type:
#   2 (PROVIDER_METADATA): UINT16 size, provider name (UTF-8, NUL), traits
#       (each: UINT16 size, UINT8 type, data);
#   1 (EVENT_METADATA): UINT16 size, event tag bytes (continued while the high
#       bit is set), event name (UTF-8, NUL), then per field: name (NUL),
#       InType byte (0x80: an OutType byte follows; 0x20/0x40: an array), and
#       when the OutType has 0x80, field tag bytes like the event's;
#   0: the field values, concatenated in field order.
# Arrays and structs are refused: the decoder needs no more than the fields a
# driver writes, and an unexpected encoding must fail loudly.

_TLG_IN_CHAIN, _TLG_IN_COUNTS, _TLG_IN_TYPE = 0x80, 0x60, 0x1F
_TLG_OUT_CHAIN, _TLG_OUT_BOOLEAN, _TLG_OUT_UTF8 = 0x80, 3, 35
_TLG_FIXED = {  # InType -> struct format
    3: "<b", 4: "<B", 5: "<h", 6: "<H", 7: "<i", 8: "<I", 9: "<q", 10: "<Q",
    11: "<f", 12: "<d", 13: "<I", 17: "<Q", 20: "<I", 21: "<Q",
}  # fmt: skip
_TLG_BOOL32, _TLG_BINARY, _TLG_GUID, _TLG_STRUCT, _TLG_COUNTED_BINARY = 13, 14, 15, 24, 25
_TLG_ZSTRING16, _TLG_ZSTRING8, _TLG_COUNTED16, _TLG_COUNTED8 = 1, 2, 22, 23


def _cstr(data: bytes, pos: int, what: str) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise ValueError(f"{what}: no NUL")
    return data[pos:end].decode("utf-8"), end + 1


def _skip_tags(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise ValueError("metadata ends in a tag")
        pos += 1
        if not data[pos - 1] & 0x80:
            return pos


def _sized(data: bytes, what: str) -> bytes:
    if len(data) < 2 or struct.unpack_from("<H", data)[0] != len(data):
        raise ValueError(f"{what}: the UINT16 size is not the descriptor's size")
    return data


def _event_fields(meta: bytes) -> tuple[str, list[tuple[str, int, int]]]:
    pos = _skip_tags(meta, 2)
    name, pos = _cstr(meta, pos, "event name")
    fields = []
    while pos < len(meta):
        field, pos = _cstr(meta, pos, "field name")
        if pos >= len(meta):
            raise ValueError(f"field {field}: no InType")
        in_type, out_type = meta[pos], 0
        pos += 1
        if in_type & _TLG_IN_CHAIN:
            if pos >= len(meta):
                raise ValueError(f"field {field}: no OutType")
            out_type = meta[pos]
            pos += 1
            if out_type & _TLG_OUT_CHAIN:
                pos = _skip_tags(meta, pos)
        if in_type & _TLG_IN_COUNTS or in_type & _TLG_IN_TYPE == _TLG_STRUCT:
            raise ValueError(f"field {field}: arrays and structs are not decoded")
        fields.append((field, in_type & _TLG_IN_TYPE, out_type & ~_TLG_OUT_CHAIN))
    return name, fields


def _field_value(data: bytes, pos: int, in_type: int, out_type: int) -> tuple[Any, int]:
    """One value at data[pos:] and the position after it (JSON-friendly)."""

    def take(n: int) -> bytes:
        if pos + n > len(data):
            raise ValueError(f"payload too short for InType {in_type}")
        return data[pos : pos + n]

    text8 = "utf-8" if out_type == _TLG_OUT_UTF8 else "cp1252"
    if in_type in _TLG_FIXED:
        fmt = _TLG_FIXED[in_type]
        (value,) = struct.unpack(fmt, take(struct.calcsize(fmt)))
        if in_type == _TLG_BOOL32 or (in_type == 4 and out_type == _TLG_OUT_BOOLEAN):
            value = bool(value)
        return value, pos + struct.calcsize(fmt)
    if in_type == _TLG_GUID:
        return str(uuid.UUID(bytes_le=take(16))), pos + 16
    if in_type in (_TLG_COUNTED16, _TLG_COUNTED8, _TLG_BINARY, _TLG_COUNTED_BINARY):
        (size,) = struct.unpack("<H", take(2))
        pos += 2
        raw = take(size)
        if in_type == _TLG_COUNTED16:
            if size % 2:
                raise ValueError("counted UTF-16 string of odd size")
            return raw.decode("utf-16le"), pos + size
        if in_type == _TLG_COUNTED8:
            return raw.decode(text8), pos + size
        return raw.hex(), pos + size
    if in_type in (_TLG_ZSTRING16, _TLG_ZSTRING8):
        unit = 2 if in_type == _TLG_ZSTRING16 else 1
        end = pos
        while data[end : end + unit] != bytes(unit):
            if end + unit > len(data):
                raise ValueError("unterminated string")
            end += unit
        raw = data[pos:end]
        return raw.decode("utf-16le" if unit == 2 else text8), end + unit
    raise ValueError(f"InType {in_type} is not decoded")


def decode_tracelogging(chunks: list[tuple[int, bytes]]) -> dict[str, Any]:
    """A TraceLogging event from its data descriptors, as (Reserved, bytes) pairs:
    {"provider", "name", "fields": {name: value}, "types": {name: [InType, OutType]}}."""
    kinds = [reserved & 0xFF for reserved, _ in chunks]
    if any(reserved & ~0xFF for reserved, _ in chunks) or not set(kinds) <= {0, 1, 2}:
        raise ValueError(f"descriptor types {kinds}")
    if kinds.count(1) != 1 or kinds.count(2) != 1:
        raise ValueError(f"want one provider and one event metadata descriptor: {kinds}")
    provider = _sized(next(d for (r, d) in chunks if r == 2), "provider metadata")
    provider_name, pos = _cstr(provider, 2, "provider name")
    while pos < len(provider):  # traits
        if pos + 3 > len(provider) or struct.unpack_from("<H", provider, pos)[0] < 3:
            raise ValueError("bad provider trait")
        pos += struct.unpack_from("<H", provider, pos)[0]
    if pos != len(provider):
        raise ValueError("provider traits overrun")
    name, fields = _event_fields(_sized(next(d for (r, d) in chunks if r == 1), "event metadata"))
    payload = b"".join(d for (r, d) in chunks if r == 0)
    values: dict[str, Any] = {}
    pos = 0
    for field, in_type, out_type in fields:
        if field in values:
            raise ValueError(f"field {field} twice")
        values[field], pos = _field_value(payload, pos, in_type, out_type)
    if pos != len(payload):
        raise ValueError(f"{len(payload) - pos} payload bytes left over")
    return {
        "provider": provider_name,
        "name": name,
        "fields": values,
        "types": {field: [i, o] for field, i, o in fields},
    }


def read_unicode_z(emu: Any, addr: int) -> str:
    out = bytearray()
    while len(out) < 512:
        c = bytes(emu.mem_read(addr + len(out), 2))
        if c == b"\0\0":
            break
        out += c
    return out.decode("utf-16le")


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results = [
        Harness(spec["sys"], case, spec.get("count_instructions", False)).run()
        for case in spec["cases"]
    ]
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
