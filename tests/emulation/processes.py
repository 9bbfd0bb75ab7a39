"""The process-creation callback: one run per call, then the unload."""

from __future__ import annotations

import struct
from typing import Any

from speakeasy.profiler import Run  # type: ignore[import-not-found]

from .common import (
    CREATE_INFO_SIZE,
    PARENT_PID,
    STATUS_INVALID_PARAMETER,
    HarnessBase,
    u64,
)


class ProcessesMixin(HarnessBase):
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
        run.ewl_start = lambda r: setattr(self.fs, "current", state)
        emu.add_run(run)
        return {"info": info, "run": run, "file_object": file_object, "state": state}
