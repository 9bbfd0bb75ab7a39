"""Constants, memory helpers and the state every kernel subsystem of the
harness shares (``HarnessBase``); the subsystems are mixins over it."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cng import HashObject
    from .fltmgr import FileSystem

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
REG_NT_POST_RENAME_KEY = 19
REG_NT_POST_RESTORE_KEY = 42
REG_NT_POST_REPLACE_KEY = 46

# PS_CREATE_NOTIFY_INFO (x64): Size 0x00, Flags 0x08, ParentProcessId 0x10,
# CreatingThreadId 0x18, FileObject 0x28, ImageFileName 0x30, CommandLine 0x38,
# CreationStatus 0x40; size 0x48. FILE_OBJECT: DeviceObject 0x08,
# SectionObjectPointer 0x28, DeletePending 0x49.
CREATE_INFO_SIZE = 0x48
KUSER_SHARED_DATA = 0xFFFFF78000000000
NT_SYSTEM_ROOT = KUSER_SHARED_DATA + 0x30  # WCHAR[260]
INTERRUPT_TIME = KUSER_SHARED_DATA + 0x8  # KeQueryInterruptTime() on x64 (100 ns)
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
STATUS_NOT_SUPPORTED = 0xC00000BB
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


def read_unicode_z(emu: Any, addr: int) -> str:
    out = bytearray()
    while len(out) < 512:
        c = bytes(emu.mem_read(addr + len(out), 2))
        if c == b"\0\0":
            break
        out += c
    return out.decode("utf-16le")


def _sz(text: str) -> bytes:
    """A REG_SZ value's bytes: UTF-16LE with its terminating NUL."""
    return (text + "\0").encode("utf-16le")


class HarnessBase:
    """What the subsystem mixins share: filled in by ``Harness.__init__``."""

    case: dict[str, Any]
    count: bool
    se: Any
    module: Any
    pool: dict[int, tuple[int, int, int]]
    bad_frees: list[str]
    handles: dict[int, tuple[str, Any]]
    next_handle: int
    hashes: dict[int, HashObject]
    providers: dict[int, str]
    etw_providers: dict[int, str]
    etw_registrations: list[dict[str, Any]]
    etw_events: list[dict[str, Any]]
    etw_errors: list[str]
    locks_held: int
    prints: list[str]
    routine: int | None
    removed: bool
    params_path: str | None
    calls: list[dict[str, Any]]
    unload_run: Any
    per_run: dict[int, int]
    hook_errors: list[str]
    reg_callback: tuple[int, int] | None
    reg_unregistered: bool
    key_names: dict[int, int]
    values: dict[str, dict[str, Any]]
    written: list[dict[str, Any]]
    work_items: dict[int, int]
    worker_runs: list[Any]
    name_infos: dict[int, str]
    devices: dict[str, int]
    pool2_calls: int
    name_queries: int
    query_process_errors: list[str]
    ret_stub: int
    fs: FileSystem

    def _new_handle(self, kind: str, obj: Any) -> int:
        self.next_handle += 4
        self.handles[self.next_handle] = (kind, obj)
        return self.next_handle

    def alloc(self, emu: Any, a: list[int]) -> int:
        raise NotImplementedError  # PoolMixin

    def _unicode_string(self, emu: Any, text: str) -> int:
        data = text.encode("utf-16le")
        mem = emu.mem_map(0x20 + len(data), tag="ewl.string")
        emu.mem_write(mem + 0x20, data)
        emu.mem_write(mem, struct.pack("<HHIQ", len(data), len(data), 0, mem + 0x20))
        return int(mem)

    def _queue_reload(self, emu: Any, step: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError  # RegistryMixin
