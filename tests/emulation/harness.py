"""One emulated driver run per case: the subsystems put together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import speakeasy  # type: ignore[import-not-found]

from .cng import CngMixin
from .common import (
    NT_SYSTEM_ROOT,
    u32,
)
from .etw import EtwMixin
from .files import FilesMixin
from .fltmgr import FileSystem
from .pool import PoolMixin
from .processes import ProcessesMixin
from .registry import RegistryMixin
from .rtl import RtlMixin


class Harness(PoolMixin, ProcessesMixin, RegistryMixin, RtlMixin, EtwMixin, FilesMixin, CngMixin):
    def __init__(self, sys_path: str, case: dict[str, Any], count_instructions: bool) -> None:
        self.case = case
        self.count = count_instructions
        config = None
        if "timeout" in case:  # seconds of emulation (Speakeasy's default: 60)
            default = Path(speakeasy.__file__).parent / "configs" / "default.json"
            config = json.loads(default.read_text())
            config["timeout"] = case["timeout"]
        self.se = speakeasy.Speakeasy(config=config)
        self.module = self.se.load_module(sys_path)
        self.pool: dict[int, tuple[int, int, int]] = {}  # addr -> (type, size, tag)
        self.bad_frees: list[str] = []
        self.handles: dict[int, tuple[str, Any]] = {}
        self.next_handle = 0x1000
        self.init_cng()  # hash, provider and key handles (cng.py)
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
        self.init_values()  # the Parameters key (registry.py)
        self.name_infos: dict[int, str] = {}  # FLT_FILE_NAME_INFORMATION -> name
        self.devices: dict[str, int] = {}  # volume device name -> fake DEVICE_OBJECT
        self.pool2_calls = 0
        self.query_process_errors: list[str] = []
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
        h("ntoskrnl", "PsSetCreateProcessNotifyRoutineEx2", 3, self.set_notify2)
        h("ntoskrnl", "PsGetCurrentProcessId", 0, self.current_pid)
        h("ntoskrnl", "IoGetCurrentProcess", 0, self.current_process)
        h("ntoskrnl", "SeLocateProcessImageName", 2, self.locate_image_name)
        h("ntoskrnl", "ZwQueryInformationProcess", 5, self.query_process)
        h("ntoskrnl", "ZwOpenKey", 3, self.open_key)
        h("ntoskrnl", "ZwQueryValueKey", 6, self.query_value)
        h("ntoskrnl", "ZwClose", 1, self.close)
        h("ntoskrnl", "ZwSetValueKey", 6, self.set_value)
        h("ntoskrnl", "IoSizeofWorkItem", 0, self.work_item_size)
        h("ntoskrnl", "IoInitializeWorkItem", 2, self.work_item_init)
        h("ntoskrnl", "IoUninitializeWorkItem", 1, self.work_item_uninit)
        h("ntoskrnl", "IoQueueWorkItemEx", 4, self.work_item_queue)
        h("ntoskrnl", "KeDelayExecutionThread", 3, lambda e, a: 0)
        h("ntoskrnl", "RtlCompareMemory", 3, self.compare_memory)
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
        h("cng", "BCryptImportKeyPair", 7, self.import_key_pair)
        h("cng", "BCryptVerifySignature", 7, self.verify_signature)
        h("cng", "BCryptDestroyKey", 1, self.destroy_key)

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
            if call.get("image_load"):
                state = call["state"]
                section = next((e for e in state["event_results"] if e["op"] == "section"), None)
                refused = section is not None and section["status"] == 4  # FLT_PREOP_COMPLETE
                result["calls"].append(
                    {
                        "image_load": True,
                        "status": section["io_status"] if section and refused else 0,
                        "refused": refused,
                        "reads": state["filter_reads"],
                        "name_queries": state["filter_name_queries"],
                        "instructions": sum(
                            self.per_run.get(id(r), 0) for r in state.get("runs", [])
                        ),
                        "section_instructions": self._op_instructions(state, "section"),
                        "cleanup_instructions": self._op_instructions(state, "cleanup"),
                    }
                )
                continue
            if call.get("reload"):
                run = call["run"]
                result["calls"].append(
                    {
                        "reload": True,
                        "delivered": run is not None,
                        "errors": any(r.error for r in call.get("runs", [])),
                    }
                )
                continue
            status = u32(emu, call["info"] + 0x40)
            result["calls"].append(
                {
                    "status": status,
                    "delivered": call["run"] is not None,
                    "filter_reads": call["state"]["filter_reads"],
                    "filter_name_queries": call["state"]["filter_name_queries"],
                    "reads": call["state"]["reads"],
                    "own_reads": call["state"]["own_reads"],
                    "creator_io": call["state"]["creator_io"],
                    "creator_position": self.fs.position(call["file_object"])
                    if call["file_object"]
                    else 0,
                    "instructions": self.per_run.get(id(call["run"])) if call["run"] else None,
                    "filter_instructions": sum(
                        self.per_run.get(id(r), 0) for r in call["state"].get("runs", [])
                    ),
                    "refused_at_section": call["state"].get("refused_at_section", False),
                }
            )
        result["written"] = self.written
        result["work_items"] = [
            {
                "ran": r in runs,
                "errors": bool(r.error),
                "instructions": self.per_run.get(id(r)),
            }
            for r in self.worker_runs
        ]
        result["work_items_left"] = len(self.work_items)
        result["unloaded"] = self.unload_run is not None and self.unload_run in runs
        result["removed"] = self.removed
        result["registry_callback_removed"] = self.reg_unregistered
        result["pool2_calls"] = self.pool2_calls
        result["notify_kind"] = self.notify_kind
        result["query_process_errors"] = self.query_process_errors
        result["name_queries"] = self.name_queries
        result["verify_calls"] = self.verify_calls
        result["signatures_verified"] = self.signatures_verified
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
            "keys": len(self.keys),
            "etw_providers": len(self.etw_providers),
            "locks_held": self.locks_held,
            **self.fs.leaks(),
        }
        return result

    def _op_instructions(self, state: dict[str, Any], op: str) -> int:
        """The driver's instructions in the filter's runs of one kind of event."""
        return sum(
            self.per_run.get(id(r), 0)
            for r in state.get("runs", [])
            if str(r.type).split(":", 1)[-1] == op
        )

    def compare_memory(self, emu: Any, a: list[int]) -> int:
        n = a[2]
        x, y = bytes(emu.mem_read(a[0], n)), bytes(emu.mem_read(a[1], n))
        same = 0
        while same < n and x[same] == y[same]:
            same += 1
        return same

    def _count(self, emu: Any, addr: int, size: int, ctx: Any) -> bool:
        run = emu.curr_run
        self.per_run[id(run)] = self.per_run.get(id(run), 0) + 1
        return True
