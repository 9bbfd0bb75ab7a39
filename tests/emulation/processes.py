"""The process-creation callback: one run per call, then the unload."""

from __future__ import annotations

import struct
from typing import Any

from speakeasy.profiler import Run  # type: ignore[import-not-found]

EPROCESS_CURRENT = 0xFFFFFA8000C0FFEE  # what IoGetCurrentProcess gives
PROCESS_BREAK_ON_TERMINATION = 29

from .common import (  # noqa: E402
    CREATE_INFO_SIZE,
    PARENT_PID,
    STATUS_INVALID_PARAMETER,
    HarnessBase,
    u64,
)


class ProcessesMixin(HarnessBase):
    notify_kind: str | None = None  # "ex" or "ex2": how the routine was registered

    def set_notify2(self, emu: Any, a: list[int]) -> int:
        """PsSetCreateProcessNotifyRoutineEx2(NotifyType, Routine, Remove)."""
        kind, routine, remove = a[0] & 0xFFFFFFFF, a[1], a[2] & 0xFF
        if kind != 0:  # PsCreateProcessNotifySubsystems is the only type
            return STATUS_INVALID_PARAMETER
        if self.case.get("fail_notify_ex2") and not remove:
            return 0xC0000022  # STATUS_ACCESS_DENIED (no FORCE_INTEGRITY, for example)
        if not remove and self.notify_kind is not None:
            return STATUS_INVALID_PARAMETER  # registered twice
        if remove and self.notify_kind != "ex2":
            return STATUS_INVALID_PARAMETER
        return self._set_notify(emu, routine, bool(remove), "ex2")

    def set_notify(self, emu: Any, a: list[int]) -> int:
        routine, remove = a[0], a[1] & 0xFF
        if not remove and self.notify_kind is not None:
            return STATUS_INVALID_PARAMETER  # registered twice
        if remove and self.notify_kind != "ex":
            return STATUS_INVALID_PARAMETER
        return self._set_notify(emu, routine, bool(remove), "ex")

    def _set_notify(self, emu: Any, routine: int, remove: bool, kind: str) -> int:
        if remove:
            if routine != self.routine:
                return STATUS_INVALID_PARAMETER
            self.removed = True
            return 0
        self.notify_kind = kind
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
        if call.get("image_load"):  # an image section alone (LoadLibrary): no process
            file_object, state = self.fs.queue_call(emu, call, len(self.calls))
            return {"image_load": True, "file_object": file_object, "state": state}
        name = call["image_name"].encode("utf-16le")
        mem = emu.mem_map(0x1000 + len(name), tag="ewl.callinfo")
        eprocess, info, _fobj, ustr, buf = mem, mem + 0x100, mem + 0x200, mem + 0x300, mem + 0x1000
        emu.mem_write(buf, name)
        emu.mem_write(ustr, struct.pack("<HHIQ", len(name), len(name), 0, buf))
        file_object, state = self.fs.queue_call(emu, call, len(self.calls))
        flags = 1 if call.get("open_name_available", True) else 0
        if call.get("subsystem"):  # IsSubsystemProcess (a WSL1 Pico process)
            flags |= 2
        emu.mem_write(
            info,
            struct.pack(
                "<QIIQQQQQQI",
                CREATE_INFO_SIZE,
                flags,
                0,
                call.get("parent_pid", PARENT_PID),
                4,  # CreatingThreadId 4/8: distinct from the parent, so a mix-up shows
                8,
                file_object,
                0 if call.get("no_image_name") else ustr,
                0,
                call.get("status", 0) & 0xFFFFFFFF,
            ),
        )
        run = Run()
        run.type = "process_notify"
        run.start_addr = self.routine
        run.args = [eprocess, 0x1234 + 4 * len(self.calls), info]

        def start(r: Any) -> None:
            self.fs.current = state
            refused = next(
                (e for e in state["event_results"] if e["op"] == "section" and e["status"] == 4),
                None,  # FLT_PREOP_COMPLETE: the filter refused the image section
            )
            if refused is not None:
                # NtCreateUserProcess fails at its section: no process, no callback
                state["refused_at_section"] = True
                r.start_addr, r.args = self.ret_stub, []
                emu.mem_write(info + 0x40, struct.pack("<I", refused["io_status"]))

        run.ewl_start = start
        if call.get("subsystem") and self.notify_kind != "ex2":
            # ...Ex routines are never called for subsystem processes
            return {"info": info, "run": None, "file_object": file_object, "state": state}
        emu.add_run(run)
        if call.get("after"):
            self.fs.queue_after(emu, call, state)
        return {"info": info, "run": run, "file_object": file_object, "state": state}

    # ---- the current process (image loads ask whose section it is) ---------------

    def current_pid(self, emu: Any, a: list[int]) -> int:
        state = self.fs.current
        return int(state["pid"]) if state else PARENT_PID

    def current_process(self, emu: Any, a: list[int]) -> int:
        return EPROCESS_CURRENT

    def locate_image_name(self, emu: Any, a: list[int]) -> int:
        """SeLocateProcessImageName: a UNICODE_STRING and its buffer in one
        pool block the caller frees with ExFreePool."""
        process, out = a[0], a[1]
        state = self.fs.current
        if process != EPROCESS_CURRENT or state is None or not state.get("process_image"):
            return STATUS_INVALID_PARAMETER
        data = state["process_image"].encode("utf-16le")
        block = self.alloc(emu, [1, 16 + len(data), 0x6D4E6553])  # "SeNm": the kernel's tag
        emu.mem_write(block + 16, data)
        emu.mem_write(block, struct.pack("<HHIQ", len(data), len(data), 0, block + 16))
        emu.mem_write(out, struct.pack("<Q", block))
        return 0

    def query_process(self, emu: Any, a: list[int]) -> int:
        """ZwQueryInformationProcess(NtCurrentProcess(), ProcessBreakOnTermination)."""
        handle, cls, buf, length = a[0], a[1] & 0xFFFFFFFF, a[2], a[3] & 0xFFFFFFFF
        if handle != 0xFFFFFFFFFFFFFFFF or cls != PROCESS_BREAK_ON_TERMINATION or length != 4:
            self.query_process_errors.append(f"ZwQueryInformationProcess({handle:x}, {cls})")
            return STATUS_INVALID_PARAMETER
        state = self.fs.current
        emu.mem_write(buf, struct.pack("<I", 1 if state and state.get("critical") else 0))
        if a[4]:
            emu.mem_write(a[4], struct.pack("<I", 4))
        return 0
