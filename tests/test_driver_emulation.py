"""The real ``exewhitelist.sys`` end to end under Speakeasy (docs/driver.md).

The policies are compiled by exewhitelist, written into the emulated registry
value ``Parameters\\Policy``; the emulated driver runs DriverEntry, its
process-creation callback is called with PS_CREATE_NOTIFY_INFO structures for
real PE files, CreationStatus is read back, then DriverUnload runs and the
harness checks for pool, handle, CNG-object, lock and ETW-provider leaks. Every
decision is compared with ``read_blob(blob).decide(...)``, which is what
``exewhitelist check`` runs, and so is every ETW event the driver writes (the
harness decodes them from the raw TraceLogging data descriptors).

Speakeasy pins unicorn 1.0.2, so it lives in its own venv,
``driver/build/speakeasy-venv`` (created on first use with pip; ignored by
git); the harness is the package ``tests/emulation`` (``python -m emulation``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_driver_build import DRIVER, build_driver

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.blob._format import Section
from exewhitelist.errors import BlobFormatError
from exewhitelist.hashing import hash_file
from exewhitelist.policy import Action, Mode, Policy, Rule, RuleKind
from exewhitelist.rules import make_rule
from exewhitelist.staging import REASON_TEXTS, Fact, Facts, Reason

HARNESS = Path(__file__).parent  # holds the emulation package
VENV = DRIVER / "build" / "speakeasy-venv"
SPEAKEASY = "speakeasy-emulator==1.5.11"
PEFILE = "pefile==2024.8.26"
# the CNG hooks verify signatures with cryptography: the version this venv runs
CRYPTOGRAPHY = f"cryptography=={importlib.metadata.version('cryptography')}"
DENIED = 0xC0000361  # STATUS_ACCESS_DISABLED_BY_POLICY_DEFAULT
NOT_ASKED = 0xC0000225  # STATUS_NOT_FOUND: the signer stage did not run
ACCESS_DENIED = 0xC0000022
NOT_HASHED = 0xC0000225  # STATUS_NOT_FOUND: the path decided
WRITABLE = 0xC0000043  # STATUS_SHARING_VIOLATION: user-writable references
NAME_NOT_FOUND = 0xC0000034
TYPE_MISMATCH = 0xC0000024
INVALID_BUFFER_SIZE = 0xC0000206
INVALID_IMAGE_FORMAT = 0xC000007B
PARENT_PID = 0x7C  # what the harness puts in PS_CREATE_NOTIFY_INFO.ParentProcessId
REG_SZ, REG_BINARY = 1, 3

HELLO = "mingw/hello64.exe"
HELLO_SIGNED = "mingw/hello64-signed.exe"  # same Authenticode digest, other flat digest
CLI = "setuptools-win_amd64/cli-64.exe"


def speakeasy_python() -> Path:
    """The pinned Speakeasy's venv, created once (pip; fails loudly offline)."""
    python = VENV / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import cryptography, speakeasy, unicorn; assert unicorn.__version__ == '1.0.2'",
    ]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", SPEAKEASY, PEFILE, CRYPTOGRAPHY],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {SPEAKEASY} failed:\n{proc.stdout}\n{proc.stderr}")
    return python


# The emulated machine's volumes: what Filter Manager names them, and the DOS
# names IoVolumeDeviceToDosName gives back.
VOLUMES = {"C:": "\\Device\\HarddiskVolume3", "D:": "\\Device\\HarddiskVolume4"}
MUP = "\\Device\\Mup"
NO_PATH = REASON_TEXTS[Reason.NO_PATH]
NO_HASH = REASON_TEXTS[Reason.NO_HASH]
CHANGED = "(image stream changed)"


@dataclass
class Call:
    """One process creation. ``image_name`` is the name its creator passed
    (ImageFileName: any spelling, only reported); ``path`` is the file's real
    Win32 long path ("": image_name without its \\??\\ or \\\\?\\ prefix;
    None: Filter Manager cannot name the file); ``nt_name`` overrides the NT
    name derived from ``path`` (streams, volumes without a DOS name)."""

    image_name: str
    sample: str | None
    status: int = 0
    open_name_available: bool = True
    writable: bool = False
    path: str | None = ""
    nt_name: str | None = None
    delete_pending: bool = False
    transaction: bool = False

    def real_path(self) -> str | None:
        if self.path != "":
            return self.path
        name = self.image_name
        for prefix in ("\\??\\", "\\\\?\\"):
            name = name.removeprefix(prefix)
        return name

    def file_name(self) -> str | None:
        """The normalized NT name Filter Manager gives for the file object."""
        if self.nt_name is not None:
            return self.nt_name
        path = self.real_path()
        if path is None:
            return None
        if path.startswith("\\\\"):
            return MUP + path[1:]
        return VOLUMES[path[:2].upper()] + path[2:]


PARAMETERS_KEY = "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Services\\exewhitelist\\Parameters"


@dataclass
class Reload:
    """A change of the registry value while the driver runs (its registry callback)."""

    value: bytes | None  # the value afterwards; None: no value
    key: str = PARAMETERS_KEY
    value_name: str = "Policy"
    operation: str = "set"
    status: int = 0
    value_type: int = REG_BINARY

    def applies(self) -> bool:
        """Whether the driver must reload (then only a valid blob is taken)."""
        return (
            self.value_name.lower() == "policy"
            and self.status == 0
            and self.key.upper().startswith("\\REGISTRY\\MACHINE\\SYSTEM\\")
            and self.key.upper().endswith("\\SERVICES\\EXEWHITELIST\\PARAMETERS")
        )


@dataclass
class Case:
    name: str
    blob: bytes | None
    calls: Sequence[Call | Reload]
    value_type: int = REG_BINARY
    value: bytes | None = None  # the raw value when not the blob itself
    ignore_frees: bool = False
    claim_size: int | None = None  # the value's size as the registry reports it
    fail_cm_register: bool = False
    system_root: str = "C:\\Windows"  # SharedUserData->NtSystemRoot
    current_version: dict[str, str] | None = None  # None: the SOFTWARE key cannot be opened
    no_pool2: bool = False  # a Windows without ExAllocatePool2
    fail_etw_register: bool = False
    ignore_etw_unregister: bool = False
    result: dict[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, tuple[str, ...]]:
        """The path variables' values the driver must take (docs/driver.md)."""
        root, drive = self.system_root, self.system_root[:2]
        # values that are drive paths, without a trailing backslash
        values = {
            k: v.rstrip("\\")
            for k, v in (self.current_version or {}).items()
            if v[1:3] == ":\\" and v[:1].isalpha()
        }
        return {
            "WINDIR": (root,),
            "SYSTEM32": (root + "\\System32",),
            "PROGRAMFILES": (
                values.get("ProgramFilesDir", drive + "\\Program Files"),
                values.get("ProgramFilesDir (x86)", drive + "\\Program Files (x86)"),
            ),
            "OSDRIVE": (drive,),
        }


def _policy(name: str, rules: list[Rule], mode: Mode = Mode.ENFORCE) -> bytes:
    return compile_policy(Policy(name=name, version=7, mode=mode, rules=tuple(rules)))


@functools.cache
def _digests(path: str) -> tuple[str, str]:
    h = hash_file(path)
    assert h.authenticode_sha256 is not None
    return h.authenticode_sha256, h.sha256


def _cases(files: dict[str, Path]) -> dict[str, Case]:
    hello_auth, _ = _digests(str(files[HELLO]))
    _, cli_flat = _digests(str(files[CLI]))
    allow_hello = make_rule("allow-hello", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, hello_auth)
    by_hash = _policy("hash", [allow_hello])
    tools = make_rule("tools", Action.ALLOW, RuleKind.PATH, "C:\\Tools\\*")
    cases = [
        Case(
            "authenticode",
            by_hash,
            [
                Call("\\??\\C:\\Apps\\hello64.exe", HELLO),
                Call("\\??\\C:\\Apps\\hello64-signed.exe", HELLO_SIGNED),
                Call("\\??\\C:\\Apps\\cli-64.exe", CLI),
                # herpaderping / doppelgänging: a writable image is not trusted
                Call("\\??\\C:\\Apps\\hello64.exe", HELLO, writable=True),
                # an earlier failure is never overwritten, allowed or denied
                Call("\\??\\C:\\Apps\\cli-64.exe", CLI, status=ACCESS_DENIED),
                Call("\\??\\C:\\Apps\\hello64.exe", HELLO, status=ACCESS_DENIED),
            ],
        ),
        Case(
            "flat",
            _policy("flat", [make_rule("cli", Action.ALLOW, RuleKind.FILE_SHA256, cli_flat)]),
            [Call("\\??\\C:\\x\\cli-64.exe", CLI), Call("\\??\\C:\\x\\hello64.exe", HELLO)],
        ),
        Case(
            "path",
            _policy(
                "path",
                [
                    tools,
                    make_rule("pf", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\App\\*.exe"),
                    make_rule("no-evil", Action.DENY, RuleKind.PATH, "*\\evil.exe"),
                ],
            ),
            [
                Call("\\??\\C:\\Tools\\hello64.exe", HELLO),
                Call("\\\\?\\c:\\tools\\sub\\HELLO64.EXE", HELLO),
                Call("C:\\Tools\\x.exe", HELLO),
                Call("\\??\\C:\\Program Files (x86)\\App\\a.exe", HELLO),
                Call("\\??\\C:\\Program Files\\App\\b.exe", CLI),
                Call("\\??\\C:\\Program Files\\App\\b.dll", CLI),
                Call("\\??\\C:\\Tools\\evil.exe", HELLO),
                Call("\\??\\C:\\Elsewhere\\hello64.exe", HELLO),
                # a device spelling, or no usable open name: the file's own name
                Call(
                    "\\Device\\HarddiskVolume3\\Tools\\hello64.exe", HELLO, path="C:\\Tools\\h.exe"
                ),
                Call("\\??\\C:\\Tools\\hello64.exe", HELLO, open_name_available=False),
            ],
        ),
        Case(
            "spellings",
            _policy(
                "spellings",
                [
                    tools,
                    make_rule("no-bad", Action.DENY, RuleKind.PATH, "C:\\Tools\\bad.exe"),
                    make_rule("pf", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\App\\*"),
                    make_rule("share", Action.ALLOW, RuleKind.PATH, "\\\\server\\share\\tools\\*"),
                    allow_hello,
                ],
            ),
            [
                # 8.3 short names: the file system's long name decides
                Call("\\??\\C:\\Tools\\BAD~1.EXE", HELLO, path="C:\\Tools\\bad.exe"),
                Call("\\??\\C:\\TOOLS~1\\BAD~1.EXE", CLI, path="C:\\Tools\\bad.exe"),
                Call("\\??\\C:\\PROGRA~1\\App\\a.exe", CLI, path="C:\\Program Files\\App\\a.exe"),
                # relative segments, device and volume-GUID spellings
                Call("\\??\\C:\\Apps\\..\\Tools\\bad.exe", CLI, path="C:\\Tools\\bad.exe"),
                Call("\\Device\\HarddiskVolume3\\Tools\\bad.exe", CLI, path="C:\\Tools\\bad.exe"),
                Call("\\\\?\\Volume{0d2c}\\Tools\\ok.exe", CLI, path="C:\\Tools\\ok.exe"),
                # a network share, spelled through UNC or a mapped drive letter
                Call(
                    "\\??\\UNC\\server\\share\\tools\\x.exe",
                    CLI,
                    path="\\\\server\\share\\tools\\x.exe",
                ),
                Call("\\??\\Z:\\tools\\x.exe", CLI, path="\\\\server\\share\\tools\\x.exe"),
                # an alternate data stream is not the file in the folder: no path
                Call(
                    "\\??\\C:\\Tools\\notes.txt:run.exe",
                    CLI,
                    nt_name=VOLUMES["C:"] + "\\Tools\\notes.txt:run.exe",
                ),
                # the unnamed stream is the file itself
                Call(
                    "\\??\\C:\\Tools\\ok.exe::$DATA",
                    CLI,
                    nt_name=VOLUMES["C:"] + "\\Tools\\ok.exe::$DATA",
                ),
                # no DOS name for the volume, or no name at all: no path, and the
                # deny path rules cannot be checked: denied even when hash-allowed
                Call(
                    "\\??\\C:\\mnt\\hello64.exe", HELLO, nt_name="\\Device\\HarddiskVolume9\\a.exe"
                ),
                Call("\\??\\C:\\Tools\\hello64.exe", HELLO, path=None),
                Call("\\??\\C:\\Tools\\hello64.exe", None),  # no FileObject
            ],
        ),
        Case(
            "no_path_without_deny_path_rules",
            by_hash,
            [
                Call("\\??\\C:\\Tools\\hello64.exe", HELLO, path=None),
                Call("\\??\\C:\\Tools\\cli-64.exe", CLI, path=None),
            ],
        ),
        Case(
            "untrusted_image_files",
            by_hash,
            [
                Call("\\??\\C:\\Apps\\hello64.exe", HELLO),
                Call("\\??\\C:\\Apps\\hello64.exe", HELLO, delete_pending=True),  # ghosting
                Call("\\??\\C:\\Apps\\hello64.exe", HELLO, transaction=True),  # doppelgänging
            ],
        ),
        Case(
            "system_variables",
            _policy(
                "variables",
                [
                    make_rule("win", Action.ALLOW, RuleKind.PATH, "%WINDIR%\\*"),
                    make_rule("sys-deny", Action.DENY, RuleKind.PATH, "%SYSTEM32%\\mshta.exe"),
                    make_rule("pf", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\*"),
                    make_rule("drive", Action.ALLOW, RuleKind.PATH, "%OSDRIVE%\\Tools\\*"),
                ],
            ),
            [
                Call("\\??\\D:\\WINNT\\notepad.exe", CLI),
                Call("\\??\\D:\\WINNT\\System32\\mshta.exe", CLI),
                Call("\\??\\C:\\Windows\\notepad.exe", CLI),
                Call("\\??\\D:\\Apps\\x.exe", CLI),
                Call("\\??\\D:\\Apps (32)\\x.exe", CLI),
                Call("\\??\\C:\\Program Files\\x.exe", CLI),
                Call("\\??\\D:\\Tools\\x.exe", CLI),
                Call("\\??\\C:\\Tools\\x.exe", CLI),
            ],
            system_root="D:\\WINNT",
            current_version={
                "ProgramFilesDir": "D:\\Apps",
                "ProgramFilesDir (x86)": "D:\\Apps (32)\\",
            },
        ),
        Case(
            "system_variables_defaults",
            _policy(
                "variables",
                [
                    make_rule("win", Action.ALLOW, RuleKind.PATH, "%WINDIR%\\*"),
                    make_rule("pf", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\*"),
                ],
            ),
            [
                Call("\\??\\D:\\Windows\\a.exe", CLI),
                Call("\\??\\D:\\Program Files\\a.exe", CLI),
                Call("\\??\\D:\\Program Files (x86)\\a.exe", CLI),
                Call("\\??\\C:\\Program Files\\a.exe", CLI),
            ],
            # boot start: the SOFTWARE hive is not loaded yet, the key cannot be opened
            system_root="D:\\Windows",
        ),
        Case(
            "system_variables_bad_values",
            _policy(
                "variables", [make_rule("pf", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\*")]
            ),
            [
                Call("\\??\\C:\\Program Files\\a.exe", CLI),
                Call("\\??\\C:\\Program Files (x86)\\a.exe", CLI),
                Call("\\??\\C:\\Apps\\a.exe", CLI),
            ],
            current_version={"ProgramFilesDir": "Apps", "ProgramFilesDir (x86)": "%X%"},
        ),
        Case(
            "no_pool2",
            by_hash,
            [Call("\\??\\C:\\Apps\\hello64.exe", HELLO), Call("\\??\\C:\\x\\cli.exe", CLI)],
            no_pool2=True,
        ),
        Case(
            "deny_hash_beats_allow_path",
            _policy(
                "deny-beats",
                [tools, make_rule("bad", Action.DENY, RuleKind.AUTHENTICODE_SHA256, hello_auth)],
            ),
            [Call("\\??\\C:\\Tools\\hello64.exe", HELLO), Call("\\??\\C:\\Tools\\cli.exe", CLI)],
        ),
        Case(
            "deny_path_beats_allow_hash",
            _policy(
                "deny-path",
                [allow_hello, make_rule("no-tools", Action.DENY, RuleKind.PATH, "C:\\Tools\\*")],
            ),
            [Call("\\??\\C:\\Tools\\hello64.exe", HELLO), Call("\\??\\C:\\Apps\\hello.exe", HELLO)],
        ),
        Case(
            "audit",
            _policy("audit", [allow_hello], Mode.AUDIT),
            [Call("\\??\\C:\\x\\hello64.exe", HELLO), Call("\\??\\C:\\x\\cli-64.exe", CLI)],
        ),
    ]
    unloaded: list[Call | Reload] = [
        Call("\\??\\C:\\x\\cli-64.exe", CLI),
        Call("\\??\\C:\\x\\hello64.exe", HELLO),
    ]
    bad = {
        "missing": Case("missing", None, unloaded),
        "wrong_type": Case("wrong_type", by_hash, unloaded, value_type=REG_SZ),
        "empty": Case("empty", None, unloaded, value=b""),
        "truncated": Case("truncated", None, unloaded, value=by_hash[:-9]),
        "corrupted": Case(
            "corrupted",
            None,
            unloaded,
            value=by_hash[:100] + bytes([by_hash[100] ^ 0x40]) + by_hash[101:],
        ),
        "not_a_blob": Case("not_a_blob", None, unloaded, value=b"MZ" + bytes(200)),
        # 64 MiB + 1: refused before any allocation of that size
        "oversized": Case("oversized", None, unloaded, value=b"", claim_size=(64 << 20) + 1),
    }
    flat = _policy("flat", [make_rule("cli", Action.ALLOW, RuleKind.FILE_SHA256, cli_flat)])
    audit = _policy("audit", [allow_hello], Mode.AUDIT)
    corrupted = bad["corrupted"].value
    cli = Call("\\??\\C:\\x\\cli-64.exe", CLI)
    hello = Call("\\??\\C:\\x\\hello64.exe", HELLO)
    reload = Case(
        "reload",
        by_hash,
        [
            cli,
            hello,
            Reload(flat),  # a valid new policy: swapped in
            cli,
            hello,
            Reload(corrupted),  # invalid: rejected, flat stays
            cli,
            Reload(None, operation="delete"),  # deleted: flat stays
            cli,
            Reload(by_hash, value_name="Other"),  # another value: ignored
            cli,
            Reload(by_hash, key=PARAMETERS_KEY.replace("exewhitelist", "other")),  # ignored
            cli,
            Reload(by_hash, status=0xC0000022),  # a failed write: ignored
            cli,
            Reload(by_hash, value_type=REG_SZ),  # wrong type: rejected
            cli,
            Reload(audit, key=PARAMETERS_KEY.replace("ControlSet001", "CurrentControlSet").lower()),
            cli,
            hello,
        ],
    )
    from_nothing = Case("reload_from_nothing", None, [cli, Reload(by_hash), cli, hello])
    no_reload = Case(
        "no_live_reload", by_hash, [cli, hello, Reload(flat), cli], fail_cm_register=True
    )
    control = Case("leak_control", by_hash, unloaded[:1], ignore_frees=True)
    no_etw = Case("no_etw", by_hash, [cli, hello], fail_etw_register=True)
    etw_control = Case("etw_leak_control", by_hash, [cli], ignore_etw_unregister=True)
    extra = [reload, from_nothing, no_reload, control, no_etw, etw_control]
    return {c.name: c for c in [*cases, *bad.values(), *extra]}


def _spec(case: Case, files: dict[str, Path]) -> dict[str, Any]:
    value = case.value if case.value is not None else case.blob
    return {
        "name": case.name,
        "policy": None
        if value is None
        else {
            "type": case.value_type,
            "hex": value.hex(),
            **({} if case.claim_size is None else {"claim_size": case.claim_size}),
        },
        "ignore_frees": case.ignore_frees,
        "fail_cm_register": case.fail_cm_register,
        "system_root": case.system_root,
        **({} if case.current_version is None else {"current_version": case.current_version}),
        "dos_devices": {device: dos for dos, device in VOLUMES.items()},
        "no_pool2": case.no_pool2,
        "fail_etw_register": case.fail_etw_register,
        "ignore_etw_unregister": case.ignore_etw_unregister,
        "calls": [_call_spec(c, files) for c in case.calls],
    }


def _call_spec(c: Call | Reload, files: dict[str, Path]) -> dict[str, Any]:
    if isinstance(c, Reload):
        return {
            "reload": {
                "policy": None if c.value is None else {"type": c.value_type, "hex": c.value.hex()},
                "key": c.key,
                "value_name": c.value_name,
                "operation": c.operation,
                "status": c.status,
            }
        }
    return {
        "image_name": c.image_name,
        "file": str(files[c.sample]) if c.sample else None,
        "file_name": c.file_name(),
        "status": c.status,
        "open_name_available": c.open_name_available,
        "writable": c.writable,
        "delete_pending": c.delete_pending,
        "transaction": c.transaction,
    }


def run_emulation(
    cases: list[dict[str, Any]],
    tmp: Path,
    count_instructions: bool = False,
    sys_path: Path | None = None,
) -> list[dict[str, Any]]:
    """Run the cases on the built driver, or on ``sys_path`` (a negative
    control), or on $EWL_DRIVER_SYS (another build: an older commit's, to show
    which tests it fails)."""
    spec = tmp / "spec.json"
    other = os.environ.get("EWL_DRIVER_SYS")
    if sys_path is not None:
        image = sys_path
    elif other:
        image = Path(other)
    else:
        image = build_driver()
    spec.write_text(
        json.dumps({"sys": str(image), "cases": cases, "count_instructions": count_instructions})
    )
    proc = subprocess.run(
        [str(speakeasy_python()), "-m", "emulation", str(spec)],
        cwd=HARNESS,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"emulation failed:\n{proc.stderr[-4000:]}")
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


@pytest.fixture(scope="module")
def emulated(
    sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Case]:
    cases = _cases(sample_files)
    start = time.monotonic()
    results = run_emulation(
        [_spec(c, sample_files) for c in cases.values()], tmp_path_factory.mktemp("emu")
    )
    elapsed = time.monotonic() - start
    print(f"\n{len(cases)} emulated driver runs in {elapsed:.1f} s")
    for case, result in zip(cases.values(), results, strict=True):
        assert result["name"] == case.name
        case.result = result
    return cases


def _win32_path(call: Call) -> str | None:
    """The path the driver matches (docs/driver.md, "Which path is matched"):
    the file's normalized NT name in its Win32 spelling; none without a file
    object, a name, a DOS name for its volume, or in a named stream."""
    name = call.file_name()
    if call.sample is None or name is None:
        return None
    final = name.rsplit("\\", 1)[1]
    if ":" in final and final[final.index(":") :].upper() != "::$DATA":
        return None
    name = name.split(":", 1)[0]
    if name.upper().startswith(MUP.upper() + "\\"):
        return "\\" + name[len(MUP) :]
    for dos, device in VOLUMES.items():
        if name.upper().startswith(device.upper() + "\\"):
            return dos + name[len(device) :]
    return None


def _valid(value: bytes | None, value_type: int) -> bytes | None:
    """The blob the driver takes from this registry value, or None."""
    if not value or value_type != REG_BINARY:
        return None
    try:
        read_blob(value)
    except Exception:
        return None
    return value


def _expected(
    blob: bytes | None, call: Call, files: dict[str, Path], case: Case
) -> tuple[int, str | None]:
    """CreationStatus and deciding rule per exewhitelist's staged decision, the
    reader's twin of the driver's (None: no report); ``blob`` is the policy in
    force (None: none, allow all). The facts are what the driver can have: the
    path when the file has a Win32 name; the digests unless it has no file
    object, no name to open it by, or cannot stand for the image (writable,
    transacted, delete-pending)."""
    if call.status != 0:
        return call.status, None
    if blob is None:
        return 0, None
    trusted = not (call.writable or call.delete_pending or call.transaction)
    path = _win32_path(call)
    facts = Facts(
        path_state=Fact.KNOWN if path is not None else Fact.MISSING,
        path=path,
        hash_state=Fact.MISSING,
    )
    if call.sample is not None and trusted and call.file_name() is not None:
        auth, flat = _digests(str(files[call.sample]))
        facts = dataclasses.replace(
            facts, hash_state=Fact.KNOWN, authenticode_sha256=auth, file_sha256=flat
        )
    verdict = read_blob(blob).decide_staged(facts, case.variables())
    decision = verdict.decision
    assert decision is not None
    if decision.action is Action.ALLOW:
        return 0, None
    status = DENIED if decision.enforced else 0
    if verdict.reason is not Reason.RULE:
        return status, NO_PATH if verdict.reason is Reason.NO_PATH else NO_HASH
    return status, decision.rule_id or "(default deny)"


def _reason(rule: str) -> str:
    """The ETW Reason of a deny report with this rule text."""
    return {NO_HASH: "no_hash", NO_PATH: "no_path", CHANGED: "image_changed"}.get(rule, "rule")


def etw_provider_id(name: str) -> uuid.UUID:
    """The ETW name hash (.NET EventSource, TraceLogging tools, ``tracelog -guid *Name``):
    SHA-1 over a namespace GUID's bytes and the upper-cased name in UTF-16BE, the
    first 16 bytes as a little-endian GUID with version nibble 5."""
    namespace = bytes.fromhex("482C2DB2C39047C887F81A15BFC130FB")
    text = name.upper().encode("utf-16-be")
    digest = bytearray(hashlib.sha1(namespace + text, usedforsecurity=False).digest()[:16])
    digest[7] = (digest[7] & 0x0F) | 0x50
    return uuid.UUID(bytes_le=bytes(digest))


def _etw_source() -> tuple[str, uuid.UUID]:
    """The provider name and GUID as driver/kernel/etw.c spells them."""
    source = (DRIVER / "kernel" / "etw.c").read_text()
    name = re.search(r'^#define EWL_ETW_PROVIDER_NAME "([^"]+)"$', source, re.MULTILINE)
    guid = re.search(r"g_ProviderId = \{([^;]*)\};", source)
    assert name is not None and guid is not None
    n = [int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]+)", guid.group(1))]
    assert len(n) == 11
    return name.group(1), uuid.UUID(
        f"{n[0]:08x}-{n[1]:04x}-{n[2]:04x}-{n[3]:02x}{n[4]:02x}-{bytes(n[5:]).hex()}"
    )


PROVIDER_NAME, PROVIDER_GUID = _etw_source()
DENY_EVENTS = ("ProcessDenied", "ProcessAuditDenied")


def _policy_event(
    value: bytes | None, value_type: int, claim_size: int | None, kept: bool
) -> tuple[str, dict[str, Any]]:
    """The event a load of this registry value gives (the checks in policy.c's
    order: present, size, type, then the core's validation)."""
    if value is None:
        return "PolicyRejected", {
            "Status": NAME_NOT_FOUND,
            "BlobCheck": 0,
            "PreviousPolicyKept": kept,
        }
    if not value or (claim_size or 0) > 64 << 20:
        return "PolicyRejected", {
            "Status": INVALID_BUFFER_SIZE,
            "BlobCheck": 0,
            "PreviousPolicyKept": kept,
        }
    if value_type != REG_BINARY:
        return "PolicyRejected", {
            "Status": TYPE_MISMATCH,
            "BlobCheck": 0,
            "PreviousPolicyKept": kept,
        }
    try:
        reader = read_blob(value)
    except BlobFormatError as e:
        return "PolicyRejected", {
            "Status": INVALID_IMAGE_FORMAT,
            "BlobCheck": e.code,
            "PreviousPolicyKept": kept,
        }
    return "PolicyLoaded", {
        "BlobSize": len(value),
        "PolicyVersion": reader.policy_version,
        "Enforced": reader.mode is Mode.ENFORCE,
        "AuthenticodeAllowRules": reader.hash_count(Section.AUTHENTICODE_ALLOW),
        "AuthenticodeDenyRules": reader.hash_count(Section.AUTHENTICODE_DENY),
        "FileAllowRules": reader.hash_count(Section.FILE_ALLOW),
        "FileDenyRules": reader.hash_count(Section.FILE_DENY),
        "PathRules": len(reader.path_rules),
    }


def _events(result: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    return [e for e in result["etw"]["events"] if not names or e["name"] in names]


def _reports(result: dict[str, Any]) -> list[str]:
    return [p for p in result["prints"] if " DENY " in p or " AUDIT-DENY " in p]


def _check_clean(result: dict[str, Any]) -> None:
    assert result["hook_errors"] == []
    assert result["errors"] == []
    assert result["entry_status"] == 0
    assert result["registered"] and result["unloaded"] and result["removed"]
    assert result["registry_callback_removed"] or any(
        "no live reload" in p for p in result["prints"]
    )
    assert result["params_path"].endswith("\\Services\\exewhitelist\\Parameters")
    assert result["work_items_left"] == 0 and all(
        w["ran"] and not w["errors"] for w in result["work_items"]
    )
    leaks = result["leaks"]
    assert leaks == {
        "pool": [],
        "names": [],
        "bad_frees": [],
        "handles": [],
        "hashes": 0,
        "providers": 0,
        "keys": 0,
        "locks_held": 0,
        "etw_providers": 0,
        "contexts": [],
        "object_refs": 0,
        "own_file_objects": 0,
        "own_handles": 0,
    }
    flt = result["fltmgr"]
    assert flt["errors"] == [] and flt["late_completions"] == []
    # the minifilter is registered, started, and unregistered by its unload
    assert flt["registered"] and flt["started"] and flt["unregistered"]
    etw = result["etw"]
    assert etw["errors"] == []
    assert etw["registrations"] == [{"guid": str(PROVIDER_GUID), "enable_callback": False}]
    for event in etw["events"]:
        assert event["provider"] == PROVIDER_NAME and event["provider_guid"] == str(PROVIDER_GUID)
        assert (event["channel"], event["id"], event["opcode"], event["task"]) == (11, 0, 0, 0)


CASES = [
    "authenticode",
    "flat",
    "path",
    "deny_hash_beats_allow_path",
    "deny_path_beats_allow_hash",
    "audit",
    "missing",
    "wrong_type",
    "empty",
    "truncated",
    "corrupted",
    "not_a_blob",
    "oversized",
    "reload",
    "reload_from_nothing",
    "spellings",
    "no_path_without_deny_path_rules",
    "untrusted_image_files",
    "system_variables",
    "system_variables_defaults",
    "system_variables_bad_values",
    "no_pool2",
]


@pytest.mark.parametrize("name", CASES)
def test_decisions_equal_the_reader(
    emulated: dict[str, Case], sample_files: dict[str, Path], name: str
) -> None:
    case = emulated[name]
    result = case.result
    _check_clean(result)
    reports = _reports(result)
    expected_reports = []
    value = case.value if case.value is not None else case.blob
    in_force = _valid(value, case.value_type)
    # The ETW events: the load's, then per call a deny event or none, per reload one.
    expected_events = [_policy_event(value, case.value_type, case.claim_size, kept=False)]
    for i, (call, got) in enumerate(zip(case.calls, result["calls"], strict=True)):
        if isinstance(call, Reload):
            assert got == {"reload": True, "delivered": True, "errors": False}
            if call.applies():
                kept = in_force is not None
                expected_events.append(_policy_event(call.value, call.value_type, None, kept))
                in_force = _valid(call.value, call.value_type) or in_force
            continue
        status, rule = _expected(in_force, call, sample_files, case)
        assert got["status"] == status, (call, got, result["prints"])
        if rule is not None:
            expected_reports.append(rule)
            expected_events.append(
                (
                    "ProcessDenied" if status == DENIED else "ProcessAuditDenied",
                    {
                        "ProcessId": 0x1234 + 4 * i,  # the harness's pid for call i
                        "ParentProcessId": PARENT_PID,
                        # the matched path, else the creator's name
                        "ImagePath": _win32_path(call) or call.image_name,
                        "RuleId": rule,
                        "Reason": _reason(rule),
                        "Enforced": status == DENIED,
                    },
                )
            )
    assert [r.rsplit(" rule=", 1)[1].rstrip("\n") for r in reports] == expected_reports
    # image-load events (a program whose header cannot be trusted is decided at
    # section creation too): tests/test_driver_imageload.py checks them
    events = [e for e in _events(result) if e["name"] not in IMAGE_LOAD_SCHEMA]
    assert [e["name"] for e in events] == [name for name, _ in expected_events]
    got_events = [
        (e["name"], {k: e["fields"][k] for k in want})
        for e, (_, want) in zip(events, expected_events, strict=True)
    ]
    assert got_events == expected_events
    # The digest and hashing status of each deny event are the DbgPrintEx line's.
    denies = _events(result, *DENY_EVENTS)
    for report, event in zip(reports, denies, strict=True):
        fields = event["fields"]
        assert f" sha256={fields['Sha256'] or '-'} " in report
        assert f" path_status=0x{fields['PathStatus']:08x} " in report
        assert f" hash_status=0x{fields['HashStatus']:08x} " in report
        assert fields["Sha256Kind"] in (("",) if not fields["Sha256"] else ("authenticode", "file"))


def test_authenticode_cases(emulated: dict[str, Case]) -> None:
    calls = emulated["authenticode"].result["calls"]
    assert [c["status"] for c in calls] == [0, 0, DENIED, DENIED, ACCESS_DENIED, ACCESS_DENIED]
    assert all(c["reads"] > 0 for c in calls[:3])
    assert calls[3]["reads"] == 0  # writable: refused before reading
    assert calls[4]["reads"] == calls[5]["reads"] == 0  # failed already: not even looked at
    report = _reports(emulated["authenticode"].result)[0]
    # the file's own Win32 name, not the creator's \\??\\ spelling
    assert "pid=" in report and "image=C:\\Apps\\cli-64.exe path_status=0x00000000" in report
    assert "rule=(default deny)" in report and "sha256=30688df7" in report


def test_name_queried_only_when_path_rules_or_a_report_need_it(emulated: dict[str, Case]) -> None:
    # no path rules: the name is asked for once per call that needs the driver's
    # own open (the four that hash), and the denied ones' reports reuse it
    assert emulated["authenticode"].result["name_queries"] == 4
    # a policy decided by path alone needs no name for calls that failed already
    assert emulated["path"].result["name_queries"] == len(emulated["path"].calls)
    # path rules: every call with a file object whose creation had not failed
    spellings = emulated["spellings"]
    assert spellings.result["name_queries"] == sum(
        1 for c in spellings.calls if isinstance(c, Call) and c.sample and c.status == 0
    )


def test_other_spellings_get_the_same_answer(emulated: dict[str, Case]) -> None:
    """8.3 short names, ``..``, device, volume-GUID and mapped-drive spellings
    of one file are decided on the file's own long name (the bypass of deny
    path rules through short names, docs/threat-model.md)."""
    result = emulated["spellings"].result
    statuses = [c["status"] for c in result["calls"]]
    assert statuses == [DENIED] * 2 + [0] + [DENIED] * 2 + [0, 0, 0, DENIED, 0] + [DENIED] * 3
    rules = [r.rsplit(" rule=", 1)[1].strip() for r in _reports(result)]
    # the stream: no path, and an allow path rule could have allowed it (it is not
    # hash-allowed either); no name at all, or no file object: no own open, no hash
    # either (the reason names the earliest missing input)
    assert rules == ["no-bad"] * 4 + [NO_PATH] * 4
    assert "image=C:\\Tools\\bad.exe " in _reports(result)[0]  # not BAD~1.EXE
    stream = _reports(result)[4]
    assert "image=\\??\\C:\\Tools\\notes.txt:run.exe path_status=0xc0000033" in stream
    assert "path_status=0xc0000034" in _reports(result)[6]  # the name query failed


def test_no_name_means_no_hash(emulated: dict[str, Case]) -> None:
    """Filter Manager cannot name the file: the driver has nothing to open it
    by, so no digest; a hash-allowed image is denied with the reason (before,
    it was hashed through the creator's file object and allowed)."""
    result = emulated["no_path_without_deny_path_rules"].result
    assert [c["status"] for c in result["calls"]] == [DENIED, DENIED]
    assert [r.rsplit(" rule=", 1)[1].strip() for r in _reports(result)] == [NO_HASH] * 2


def test_untrusted_image_files_get_no_digest(emulated: dict[str, Case]) -> None:
    """Ghosting (delete pending) and doppelgänging (a transacted file object):
    the bytes on disk do not stand for the mapped image, so no hash rule
    applies; the file is not even read."""
    result = emulated["untrusted_image_files"].result
    calls = result["calls"]
    assert [c["status"] for c in calls] == [0, DENIED, DENIED]
    assert calls[0]["reads"] > 0 and calls[1]["reads"] == calls[2]["reads"] == 0
    reports = _reports(result)
    assert "hash_status=0xc0000056" in reports[0]  # STATUS_DELETE_PENDING
    assert "hash_status=0xc0190001" in reports[1]  # STATUS_TRANSACTIONAL_CONFLICT


def test_path_variables_from_the_running_system(emulated: dict[str, Case]) -> None:
    result = emulated["system_variables"].result
    assert [c["status"] for c in result["calls"]] == [0, DENIED, DENIED, 0, 0, DENIED, 0, DENIED]
    assert (
        "exewhitelist: path variables: WINDIR=D:\\WINNT SYSTEM32=D:\\WINNT\\SYSTEM32 "
        "PROGRAMFILES=D:\\APPS;D:\\APPS (32) OSDRIVE=D:\n"
    ) in result["prints"]
    defaults = [c["status"] for c in emulated["system_variables_defaults"].result["calls"]]
    assert defaults == [0, 0, 0, DENIED]
    bad = [c["status"] for c in emulated["system_variables_bad_values"].result["calls"]]
    assert bad == [0, 0, DENIED]


def test_pool_allocations_with_and_without_exallocatepool2(emulated: dict[str, Case]) -> None:
    assert emulated["authenticode"].result["pool2_calls"] > 0
    assert emulated["no_pool2"].result["pool2_calls"] == 0
    assert [c["status"] for c in emulated["no_pool2"].result["calls"]] == [0, DENIED]


def test_hash_only_when_it_can_matter(emulated: dict[str, Case]) -> None:
    # no hash rules at all: never hashed
    assert all(c["reads"] == 0 for c in emulated["path"].result["calls"])
    # a deny path rule decides without hashing; an allow path rule does not when
    # the policy has deny hash rules
    deny_path = emulated["deny_path_beats_allow_hash"].result["calls"]
    assert deny_path[0]["status"] == DENIED and deny_path[0]["reads"] == 0
    assert deny_path[1]["status"] == 0 and deny_path[1]["reads"] > 0
    beats = emulated["deny_hash_beats_allow_path"].result["calls"]
    assert [c["status"] for c in beats] == [DENIED, 0]
    assert all(c["reads"] > 0 for c in beats)


def test_audit_never_blocks_but_reports(emulated: dict[str, Case]) -> None:
    result = emulated["audit"].result
    assert [c["status"] for c in result["calls"]] == [0, 0]
    (report,) = _reports(result)
    assert report.startswith("exewhitelist: AUDIT-DENY ") and "cli-64.exe" in report
    assert any("mode audit" in p for p in result["prints"])


@pytest.mark.parametrize(
    "name", ["missing", "wrong_type", "empty", "truncated", "corrupted", "not_a_blob", "oversized"]
)
def test_bad_policy_value_loads_allows_and_says_why(emulated: dict[str, Case], name: str) -> None:
    result = emulated[name].result
    assert [c["status"] for c in result["calls"]] == [0, 0]
    assert any("policy not loaded" in p for p in result["prints"])
    assert not any("policy loaded" in p for p in result["prints"])


def test_corrupted_value_is_rejected_by_the_core(emulated: dict[str, Case]) -> None:
    """The blob check code in the report is the core's pinned status (6: checksum)."""
    (line,) = [p for p in emulated["corrupted"].result["prints"] if "not loaded" in p]
    assert "blob check 6;" in line
    (line,) = [p for p in emulated["truncated"].result["prints"] if "not loaded" in p]
    assert "blob check 5;" in line or "blob check 1;" in line


def test_oversized_value_refused_before_allocation(emulated: dict[str, Case]) -> None:
    (line,) = [p for p in emulated["oversized"].result["prints"] if "not loaded" in p]
    assert "status 0xc0000206" in line  # STATUS_INVALID_BUFFER_SIZE, blob never read


def test_loads_and_enforces_without_live_reload(emulated: dict[str, Case]) -> None:
    """CmRegisterCallbackEx failing (say an altitude collision) costs live
    reload, not enforcement; the change then waits for a restart."""
    result = emulated["no_live_reload"].result
    _check_clean(result)
    assert any("no live reload: CmRegisterCallbackEx 0xc01c0011" in p for p in result["prints"])
    assert not result["registry_callback_removed"]
    assert [c.get("status") for c in result["calls"]] == [DENIED, 0, None, DENIED]


def test_leak_check_negative_control(emulated: dict[str, Case]) -> None:
    leaks = emulated["leak_control"].result["leaks"]
    assert leaks["pool"], "a forgotten free must show as a pool leak"


def test_instructions_per_callback(
    sample_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Emulated instructions in the driver per callback, on a 1 MiB image and a
    policy of 1000 Authenticode and 200 path rules. SHA-256 itself runs in the
    CNG hooks (hashlib), so "hashed" counts the driver's share only: the PE
    walk, the read loop and the lookups (docs/driver.md, Performance)."""
    rules = [
        make_rule(f"h{i}", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, f"{i:064x}")
        for i in range(1000)
    ]
    rules += [
        make_rule(f"p{i}", Action.ALLOW, RuleKind.PATH, f"C:\\Vendor{i}\\*") for i in range(200)
    ]
    shim = "shim-signed/shimx64.efi.signed"
    assert sample_files[shim].stat().st_size > 1_000_000  # 1 MiB less 72 bytes
    case = Case(
        "perf",
        _policy("perf", rules),
        [Call("\\??\\C:\\x\\shimx64.efi", shim), Call("\\??\\C:\\Vendor150\\a.exe", shim)],
    )
    (result,) = run_emulation([_spec(case, sample_files)], tmp_path, count_instructions=True)
    _check_clean(result)
    hashed, by_path = result["calls"]
    assert isinstance(case.calls[0], Call)
    assert hashed["status"] == DENIED and hashed["reads"] > 0
    assert by_path["status"] == 0 and by_path["reads"] == 0
    with capsys.disabled():
        print(
            f"\ninstructions per callback: hashed 1 MiB image {hashed['instructions']} "
            f"({hashed['reads']} reads), decided by path {by_path['instructions']}; "
            f"the filter's callbacks for the launch {by_path['filter_instructions']}"
        )
    assert 0 < by_path["instructions"] < 20_000
    assert by_path["instructions"] < hashed["instructions"] < 200_000


def test_live_reload(emulated: dict[str, Case]) -> None:
    result = emulated["reload"].result
    statuses = [c.get("status") for c in result["calls"]]
    # by_hash: cli denied, hello allowed; flat: cli allowed, hello denied; then
    # rejected/ignored changes keep flat; audit: nothing blocked
    assert statuses == [
        *(DENIED, 0),  # by_hash
        *(None, 0, DENIED),  # -> flat
        *(None, 0) * 5,  # corrupted, deleted, other value, other key, failed write: flat stays
        *(None, 0),  # REG_SZ: rejected, flat stays
        *(None, 0, 0),  # -> audit (key spelled through CurrentControlSet, lower case)
    ]
    reloads = [p for p in result["prints"] if "reloading" in p]
    assert len(reloads) == 5  # flat, corrupted, delete, REG_SZ, audit
    loaded = [p for p in result["prints"] if "policy loaded" in p]
    assert len(loaded) == 3 and "mode audit" in loaded[-1]
    assert any("AUDIT-DENY" in p and "cli-64.exe" in p for p in result["prints"])
    nothing = emulated["reload_from_nothing"].result
    assert [c.get("status") for c in nothing["calls"]] == [0, None, DENIED, 0]


def test_equals_exewhitelist_check(
    emulated: dict[str, Case],
    sample_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI itself, on the same blob and files, as the same Windows paths."""
    from exewhitelist.cli import main

    case = emulated["authenticode"]
    assert case.blob is not None
    blob = tmp_path / "rules.bin"
    blob.write_bytes(case.blob)
    calls = [c for c in case.calls[:3] if isinstance(c, Call) and c.sample]
    files = [str(sample_files[c.sample]) for c in calls if c.sample]
    capsys.readouterr()
    main(["check", str(blob), *files, "--as", "C:\\Apps\\", "--json"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["windows_path"] for r in records] == [_win32_path(c) for c in calls]
    emulated_statuses = [c["status"] for c in case.result["calls"][:3]]
    assert [DENIED if r["decision"] == "deny" else 0 for r in records] == emulated_statuses


# ---- ETW events ---------------------------------------------------------------

# The events are an interface (docs/driver.md): level, keyword, and the fields in
# order with their TraceLogging [InType, OutType].
PID, UINT32, HEXINT32, BOOLEAN = [8, 5], [8, 0], [20, 0], [4, 3]
UTF16, ASCII, UTF8 = [22, 0], [23, 0], [23, 35]
DENY_FIELDS = {
    "ProcessId": PID,
    "ParentProcessId": PID,
    "ImagePath": UTF16,
    "PathStatus": HEXINT32,
    "Sha256": ASCII,
    "Sha256Kind": ASCII,
    "HashStatus": HEXINT32,
    "SignerStatus": HEXINT32,
    "Signers": UINT32,
    "Signer": UTF16,
    "RuleId": UTF8,
    "Reason": ASCII,
    "Enforced": BOOLEAN,
}
ETW_SCHEMA: dict[str, tuple[int, int, dict[str, list[int]]]] = {
    "ProcessDenied": (3, 0x1, DENY_FIELDS),
    "ProcessAuditDenied": (3, 0x2, DENY_FIELDS),
    "PolicyLoaded": (
        4,
        0x4,
        {
            "BlobSize": UINT32,
            "PolicyVersion": UINT32,
            "Enforced": BOOLEAN,
            "AuthenticodeAllowRules": UINT32,
            "AuthenticodeDenyRules": UINT32,
            "FileAllowRules": UINT32,
            "FileDenyRules": UINT32,
            "PathRules": UINT32,
        },
    ),
    "PolicyRejected": (
        2,
        0x4,
        {"Status": HEXINT32, "BlobCheck": UINT32, "PreviousPolicyKept": BOOLEAN},
    ),
}
# Image loads (imageload.c; tests/test_driver_imageload.py): a program whose
# header the driver cannot trust (writable, transacted, delete-pending,
# unreadable) is decided at section creation too, so these cases show the
# audit event as well (ImageLoads=1, the default).
IMAGE_LOAD_FIELDS = {
    "ProcessId": PID,
    "ProcessImage": UTF16,
    "CriticalProcess": BOOLEAN,
    "ImagePath": UTF16,
    "PathStatus": HEXINT32,
    "Sha256": ASCII,
    "Sha256Kind": ASCII,
    "HashStatus": HEXINT32,
    "SignerStatus": HEXINT32,
    "Signers": UINT32,
    "Signer": UTF16,
    "RuleId": UTF8,
    "Reason": ASCII,
    "Enforced": BOOLEAN,
}
IMAGE_LOAD_SCHEMA: dict[str, tuple[int, int, dict[str, list[int]]]] = {
    "ImageLoadDenied": (3, 0x8, IMAGE_LOAD_FIELDS),
    "ImageLoadAuditDenied": (3, 0x10, IMAGE_LOAD_FIELDS),
}


def test_provider_guid_is_the_name_hash() -> None:
    """``tracelog -guid *Exewhitelist.Driver`` computes the same GUID as etw.c holds."""
    # the hash itself, on the pair Microsoft's TraceLogging documentation uses
    example = uuid.UUID("ce5fa4ea-ab00-5402-8b76-9f76ac858fb5")
    assert etw_provider_id("MyCompany.MyComponent") == example
    assert PROVIDER_NAME == "Exewhitelist.Driver"
    assert PROVIDER_GUID == etw_provider_id(PROVIDER_NAME) == etw_provider_id(PROVIDER_NAME.lower())
    assert f"{{{PROVIDER_GUID}}}" in (DRIVER / "kernel" / "etw.c").read_text()
    assert str(PROVIDER_GUID) in (DRIVER.parent / "docs" / "driver.md").read_text()


def test_event_schema(emulated: dict[str, Case]) -> None:
    seen: dict[str, tuple[int, int, dict[str, list[int]]]] = {}
    for case in emulated.values():
        for event in case.result["etw"]["events"]:
            shape = (event["level"], event["keyword"], event["types"])
            assert seen.setdefault(event["name"], shape) == shape  # the same every time
    images = {name: seen.pop(name) for name in list(seen) if name in IMAGE_LOAD_SCHEMA}
    assert seen == ETW_SCHEMA
    for name, (_, _, fields) in ETW_SCHEMA.items():
        assert list(seen[name][2]) == list(fields)  # field order too
    for name, shape in images.items():
        assert shape == IMAGE_LOAD_SCHEMA[name]
        assert list(shape[2]) == list(IMAGE_LOAD_SCHEMA[name][2])
    docs = (DRIVER.parent / "docs" / "driver.md").read_text()
    for name, (_, _, fields) in {**ETW_SCHEMA, **IMAGE_LOAD_SCHEMA}.items():
        assert f"`{name}`" in docs
        assert all(f"`{f}`" in docs for f in fields), name


def test_deny_events(emulated: dict[str, Case], sample_files: dict[str, Path]) -> None:
    result = emulated["authenticode"].result
    cli, writable = (e["fields"] for e in _events(result, *DENY_EVENTS))
    # calls 0 and 1 are allowed, 4 and 5 had failed already: no event for them
    assert cli == {
        "ProcessId": 0x1234 + 4 * 2,
        "ParentProcessId": PARENT_PID,
        "ImagePath": "C:\\Apps\\cli-64.exe",
        "PathStatus": 0,
        "Sha256": hash_file(sample_files[CLI]).authenticode_sha256,
        "Sha256Kind": "authenticode",
        "HashStatus": 0,
        "SignerStatus": NOT_ASKED,
        "Signers": 0,
        "Signer": "",
        "RuleId": "(default deny)",
        "Reason": "rule",
        "Enforced": True,
    }
    assert writable["ProcessId"] == 0x1234 + 4 * 3
    assert (writable["Sha256"], writable["Sha256Kind"], writable["HashStatus"]) == (
        "",
        "",
        WRITABLE,
    )
    # a deny hash rule: its id, as the reader decides
    case = emulated["deny_hash_beats_allow_path"]
    assert case.blob is not None
    (event,) = _events(case.result, *DENY_EVENTS)
    hello_auth = hash_file(sample_files[HELLO]).authenticode_sha256
    decision = read_blob(case.blob).decide(
        path="C:\\Tools\\hello64.exe", authenticode_sha256=hello_auth
    )
    assert event["fields"]["RuleId"] == decision.rule_id == "bad"
    assert event["fields"]["Sha256"] == hello_auth
    # a deny path rule decides without hashing: no digest, STATUS_NOT_FOUND
    (event,) = _events(emulated["deny_path_beats_allow_hash"].result, *DENY_EVENTS)
    fields = event["fields"]
    assert (fields["RuleId"], fields["Sha256"], fields["HashStatus"]) == (
        "no-tools",
        "",
        NOT_HASHED,
    )


def test_audit_deny_event(emulated: dict[str, Case], sample_files: dict[str, Path]) -> None:
    result = emulated["audit"].result
    (event,) = _events(result, *DENY_EVENTS)
    assert event["name"] == "ProcessAuditDenied"
    assert event["fields"]["Enforced"] is False
    assert event["fields"]["ImagePath"] == "C:\\x\\cli-64.exe"
    assert event["fields"]["Sha256"] == hash_file(sample_files[CLI]).authenticode_sha256
    (loaded,) = _events(result, "PolicyLoaded")
    assert loaded["fields"]["Enforced"] is False


def test_policy_events(emulated: dict[str, Case]) -> None:
    (loaded,) = _events(emulated["authenticode"].result, "PolicyLoaded", "PolicyRejected")
    blob = emulated["authenticode"].blob
    assert blob is not None
    assert loaded["name"] == "PolicyLoaded"
    assert loaded["fields"] == {
        "BlobSize": len(blob),
        "PolicyVersion": 7,
        "Enforced": True,
        "AuthenticodeAllowRules": 1,
        "AuthenticodeDenyRules": 0,
        "FileAllowRules": 0,
        "FileDenyRules": 0,
        "PathRules": 0,
    }
    (rejected,) = _events(emulated["corrupted"].result, "PolicyLoaded", "PolicyRejected")
    assert rejected["name"] == "PolicyRejected"
    assert rejected["fields"] == {
        "Status": INVALID_IMAGE_FORMAT,
        "BlobCheck": 6,  # the core's checksum code, as in the DbgPrintEx line
        "PreviousPolicyKept": False,
    }
    (missing,) = _events(emulated["missing"].result)
    assert missing["fields"]["Status"] == NAME_NOT_FOUND and missing["fields"]["BlobCheck"] == 0
    # live reload: a rejected value keeps the policy in force, and says so
    policy = _events(emulated["reload"].result, "PolicyLoaded", "PolicyRejected")
    assert [(e["name"], e["fields"].get("PreviousPolicyKept")) for e in policy] == [
        ("PolicyLoaded", None),
        ("PolicyLoaded", None),  # flat
        ("PolicyRejected", True),  # corrupted
        ("PolicyRejected", True),  # deleted
        ("PolicyRejected", True),  # REG_SZ
        ("PolicyLoaded", None),  # audit
    ]


def test_loads_and_enforces_without_etw(emulated: dict[str, Case]) -> None:
    """EtwRegister failing costs the events, not enforcement or the DbgPrintEx lines."""
    result = emulated["no_etw"].result
    _check_clean(result)
    assert any("no ETW events: EtwRegister 0xc000009a" in p for p in result["prints"])
    assert [c["status"] for c in result["calls"]] == [DENIED, 0]
    assert len(_reports(result)) == 1
    assert result["etw"]["events"] == []


def test_provider_unregistered_at_unload(emulated: dict[str, Case]) -> None:
    """Every other case ends with no provider registered (_check_clean); this
    negative control shows the check sees one left behind."""
    result = emulated["etw_leak_control"].result
    assert result["unloaded"]
    assert result["leaks"]["etw_providers"] == 1
