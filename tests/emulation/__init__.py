"""Run the real exewhitelist.sys under Speakeasy (pinned: speakeasy-emulator 1.5.11).

Usage: ``python -m emulation SPEC.json`` from ``tests/``, in a venv holding
speakeasy-emulator; prints a JSON result on stdout. Runs in its own venv
(speakeasy pins unicorn 1.0.2), so it imports nothing from exewhitelist:
tests/test_driver_emulation.py compiles the policies and compares the results
with exewhitelist's own decisions.

SPEC: {"sys": path, "count_instructions": bool, "cases": [{
    "name": str,
    "policy": null | {"type": int, "hex": str,        # the Parameters\\Policy value
                      "claim_size": int},              # (optional: its size, oversized)
    "system_root": str,                                # SharedUserData->NtSystemRoot
    "current_version": {name: str},                    # REG_SZ values of the CurrentVersion
                                                       #   key (absent: it cannot be opened)
    "dos_devices": {volume device name: DOS name},     # what IoVolumeDeviceToDosName says
    "no_pool2": bool,                                  # ExAllocatePool2 not on this system
    "parameters": {name: int},                         # REG_DWORD values of Parameters
    "streams": {id: {"file": path, "name": NT name,    # files shared by calls (fltmgr.py)
                     "locked": bool, "hang": bool, "short_read": bool,
                     "read_status": int, "open_status": int, "claim_size": int}},
    "calls": [{"image_name": str, "file": null | path,
               "file_name": null | str,                # the normalized NT name Filter
                                                       #   Manager gives (null: it fails)
               "status": int,                          # CreationStatus on entry
               "open_name_available": bool, "writable": bool,
               "delete_pending": bool, "transaction": bool,
               "stream": id,                           # the image's stream (else its own)
               "link": NT name,                        # opened by this hard link's name
               "creator": {"async" | "cleaned_up" | "non_buffered": bool},
               "events": [{"op": "open" | "write" | "truncate" | "rename" | "cleanup"
                                 | "section", "fo": id, ...}],  # before the creation
               "unseen": bool,                         # no section event: never seen
               "parent_pid": int, "no_image_name": bool,  # (ImageFileName NULL)
               "subsystem": bool,                      # IsSubsystemProcess (WSL1 Pico):
                                                       #   delivered only to an ...Ex2 routine
               "image_load": bool,                     # only the section event (LoadLibrary's
                                                       #   NtCreateSection), no process
               "loader_pid": int, "loader_image": str, # the process the section is made in
               "critical": bool}                       #   (ProcessBreakOnTermination)
              | {"reload": {"policy": null | {...},    # the value after the change
                            "key": str, "value_name": str,
                            "operation": "set" | "delete" | "rename" | "restore"
                                         | "replace", "status": int,
                            "new_name": str,           # rename: the key's new name
                            "repeat": int,             # that many writes (a storm)
                            "writes_ours": bool}}],    # default: the key is ours
    "values": {name: {"type": int, "hex": str}},       # more Parameters values
    "timeout": int,                                    # seconds of emulation (default 60)
    "ignore_frees": bool,                              # negative control of the leak check
    "fail_cm_register": bool,                          # CmRegisterCallbackEx fails
    "fail_etw_register": bool,                         # EtwRegister fails
    "no_notify_ex2": bool,                             # no PsSetCreateProcessNotifyRoutineEx2
    "fail_notify_ex2": bool,                           # ...Ex2 returns STATUS_ACCESS_DENIED
    "ignore_etw_unregister": bool}]}                   # negative control: a provider leaks

Per case a fresh emulator: DriverEntry (its registry read is served from
"policy"), the filter's instance setups, per call its filter events (by
default the image section's creation) and one callback run with a
PS_CREATE_NOTIFY_INFO and the creator's FILE_OBJECT, then the filter's unload
(DriverUnload without a filter). The kernel APIs the driver imports are served
by the subsystem modules (Speakeasy's own are missing or wrong for several, see
../shared/reference/driver-toolchain.md); they track pool, handles, hash
objects, locks and ETW provider registrations, so the result can show a leak.
The driver's DbgPrintEx lines are formatted here (Speakeasy's formatter
rejects %wZ and %.*s). Its ETW events are decoded here from the raw data
descriptors with decode_tracelogging, written from the TraceLogging format
documentation (not from the driver's C), so an encoding mistake shows as an
undecodable event or a wrong value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .harness import Harness

__all__ = ["Harness"]


def __getattr__(name: str) -> type[Harness]:
    # Harness needs speakeasy (its own venv); imported on first use, so the
    # hook modules (cng.py...) stay importable, and unit-testable, without it.
    if name == "Harness":
        from .harness import Harness

        return Harness
    raise AttributeError(name)
