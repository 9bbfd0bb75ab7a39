"""Filter Manager and the file system below it."""

from __future__ import annotations

import struct
from typing import Any

from speakeasy.profiler import Run  # type: ignore[import-not-found]

from .common import (
    FILE_DEVICE_DISK_FILE_SYSTEM,
    FILE_DEVICE_NAMED_PIPE,
    FILE_DEVICE_NETWORK_FILE_SYSTEM,
    FILE_STANDARD_INFORMATION,
    FLT_CONTEXT_END,
    INTERRUPT_TIME,
    IO_IGNORE_SHARE_ACCESS_CHECK,
    IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION,
    IRP_MJ_CLEANUP,
    IRP_MJ_CREATE,
    IRP_MJ_OPERATION_END,
    IRP_MJ_SET_INFORMATION,
    IRP_MJ_WRITE,
    OBJ_DONT_REPARSE,
    OBJ_KERNEL_HANDLE,
    OWN_OPEN_OPTIONS,
    PAGE_EXECUTE,
    PARENT_PID,
    REDIRECTORS,
    SEC_IMAGE,
    STATUS_END_OF_FILE,
    STATUS_FILE_CLOSED,
    STATUS_FILE_LOCK_CONFLICT,
    STATUS_FLT_CONTEXT_ALREADY_DEFINED,
    STATUS_FLT_INSTANCE_NOT_FOUND,
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_IO_TIMEOUT,
    STATUS_NOT_FOUND,
    STATUS_NOT_SUPPORTED,
    STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_PENDING,
    WRITE_ACCESS,
    HarnessBase,
    read_unicode_string,
    u32,
    u64,
)

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

LOADER_IMAGE = "\\Device\\HarddiskVolume3\\Windows\\System32\\rundll32.exe"
FO_SIZE = 0xD8
FO_FSCONTEXT, FO_SOP, FO_DELETE_PENDING, FO_FLAGS, FO_POSITION = 0x18, 0x28, 0x49, 0x50, 0x68
FO_SYNCHRONOUS_IO, FO_NO_INTERMEDIATE_BUFFERING, FO_CLEANUP_COMPLETE = 0x2, 0x8, 0x4000


class FileSystem:
    def __init__(self, harness: HarnessBase, case: dict[str, Any]) -> None:
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
        if self.case.get("fail_flt_register"):
            return STATUS_INSUFFICIENT_RESOURCES
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
        if self.case.get("fail_flt_start"):
            return STATUS_INSUFFICIENT_RESOURCES
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
            run.ewl_done = lambda r, v=volume: self._setup_done(r, v)
            emu.add_run(run)

    def _setup_done(self, run: Any, volume: dict[str, Any]) -> None:
        status = (run.ret_val or 0) & 0xFFFFFFFF
        volume["attached"] = status == 0
        self.instance_setups.append({"volume": volume["name"], "status": status})

    # ---- events -----------------------------------------------------------------

    def queue_call(self, emu: Any, call: dict[str, Any], index: int) -> tuple[int, dict[str, Any]]:
        """The creator's FILE_OBJECT (0: none) and the call's state; queues the
        filter events that precede the process creation."""
        state: dict[str, Any] = {
            "reads": 0,
            "own_reads": 0,
            "creator_io": 0,
            "filter_reads": 0,
            "filter_name_queries": 0,
            "event_results": [],
            # the process the section is made in: the creator's for a process
            # creation, the loader's for an image load (imageload.c asks)
            "pid": call.get("loader_pid", call.get("parent_pid", PARENT_PID)),
            "process_image": call.get("loader_image", LOADER_IMAGE),
            "critical": call.get("critical", False),
        }
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
            link=call.get("link"),  # opened by another hard link's name
            delete_pending=call.get("delete_pending", False),
            transaction=call.get("transaction", False),
            **call.get("creator", {}),
        )
        state["stream"] = stream
        state["creator"] = creator
        fos = {"creator": creator}
        state["fos"] = fos  # the call's file objects, for its "after" events
        events = call.get("events")
        if events is None:
            # NtCreateUserProcess: the creator's open, then its image section
            events = [] if call.get("unseen") else [{"op": "section", "fo": "creator"}]
        for event in events:
            self._queue_event(emu, event, fos, stream, state)
        return creator, state

    def queue_after(self, emu: Any, call: dict[str, Any], state: dict[str, Any]) -> None:
        """A process call's "after" events: after its process-notify run, as
        the creator's NtClose of the image's file handle (IRP_MJ_CLEANUP)
        follows NtCreateUserProcess."""
        for event in call.get("after", []):
            self._queue_event(emu, event, state["fos"], state["stream"], state)

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
                run.ewl_start = apply
            queued = True
            state.setdefault("runs", []).append(run)
            run.ewl_done = lambda r, o=op, d=data: self._event_done(emu, r, o, d, state)
            emu.add_run(run)
        if not queued:  # nobody filters: the event still happens
            run = Run()
            run.type = f"unfiltered:{op}"
            run.start_addr = self.h.ret_stub
            run.args = []
            run.ewl_start = apply
            emu.add_run(run)

    def _event_done(self, emu: Any, run: Any, op: str, data: int, state: dict[str, Any]) -> None:
        result = {
            "op": op,
            "status": (run.ret_val or 0) & 0xFFFFFFFF,
            "io_status": u32(emu, data + 0x18),  # Data->IoStatus.Status
            "error": bool(run.error),
        }
        self.event_results.append(result)
        state["event_results"].append(result)

    def in_filter_run(self) -> bool:
        """Whether the run now running is one of the filter's callbacks."""
        run = self.h.se.emu.curr_run
        return str(getattr(run, "type", "")).startswith(("pre:", "post:"))

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
        if ctype in self.case.get("fail_contexts", []):  # out of memory for this kind
            return STATUS_INSUFFICIENT_RESOURCES
        ctx = int(emu.mem_map(max(size, 1), tag="ewl.context"))
        emu.mem_write(ctx, b"\xa5" * size)  # Filter Manager does not zero a context
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
        if self.case.get("no_stream_contexts"):  # a file system without them
            return STATUS_NOT_SUPPORTED
        return self._get(emu, self.stream_ctx, (a[0], self._fscontext(a[1])), a[2])

    def set_stream_context(self, emu: Any, a: list[int]) -> int:
        if self.case.get("no_stream_contexts"):
            return STATUS_NOT_SUPPORTED
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
            if self.in_filter_run():  # the section callback's (image loads): kept apart
                self.current["filter_reads"] += 1
            else:
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
        if stream.get("slow_ms"):  # each read takes this long: the clock moves
            now = u64(emu, INTERRUPT_TIME)
            emu.mem_write(INTERRUPT_TIME, struct.pack("<Q", now + stream["slow_ms"] * 10_000))
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
