"""ETW: provider registration and TraceLogging events, decoded independently."""

from __future__ import annotations

import struct
import uuid
from typing import Any

from .common import (
    STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER,
    HarnessBase,
)


class EtwMixin(HarnessBase):
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
