"""Files as the process callback sees them: names, DOS names, the creator's file object."""

from __future__ import annotations

import struct
from typing import Any

from .common import (
    FILE_STANDARD_INFORMATION,
    FLT_NAME_INFO_SIZE,
    FLT_NAME_OPTIONS,
    REDIRECTORS,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    STATUS_OBJECT_NAME_INVALID,
    STATUS_OBJECT_NAME_NOT_FOUND,
    HarnessBase,
    u64,
)


class FilesMixin(HarnessBase):
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
        if self.fs.in_filter_run() and self.fs.current is not None:
            self.fs.current["filter_name_queries"] += 1  # the section callback's
        else:
            self.name_queries += 1
        name = f.get("link") or f["stream"].get("query_name", f["stream"]["name"])
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
