"""Issue 16 items 2, 3 and 5 end to end under emulation: never brick, survive
a lost policy, a hardened live reload (docs/driver.md, "Boot safety" and
"Live reload").

Every behaviour has a check that passes on the built driver and fails on a
mutant with the defence removed (``test_negative_control``); each check also
failed on the driver before this work (main at 6674b9f: the report lists
them).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_driver_emulation import (
    CLI,
    DENIED,
    HELLO,
    PARAMETERS_KEY,
    _check_clean,
    _digests,
    _policy,
    _reports,
    run_emulation,
)
from test_driver_enforcement import _build_mutant, _call, _statuses
from test_driver_enforcement import _case as _blob_case

from exewhitelist.policy import Action, RuleKind
from exewhitelist.rules import Rule, hash_rule, make_rule

Check = Callable[[dict[str, dict[str, Any]]], None]
SERVICE_KEY = PARAMETERS_KEY.rsplit("\\", 1)[0]
DECOY_KEY = PARAMETERS_KEY.replace(
    "\\Services\\exewhitelist\\", "\\Services\\Foo\\Services\\exewhitelist\\"
)


def _case(
    name: str, blob: bytes | None, calls: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    case = _blob_case(name, blob or b"", calls, **extra)
    if blob is None:
        case["policy"] = None
    return case


def _dword(value: int) -> dict[str, Any]:
    return {"type": 4, "hex": struct.pack("<I", value).hex()}


def _binary(blob: bytes) -> dict[str, Any]:
    return {"type": 3, "hex": blob.hex()}


FILES: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _files(sample_files: dict[str, Path]) -> None:
    FILES.update(sample_files)


def _allow_hello() -> bytes:
    auth, _ = _digests(str(FILES[HELLO]))
    return _policy("hello", [make_rule("hello", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, auth)])


def _allow_cli() -> bytes:
    auth, _ = _digests(str(FILES[CLI]))
    return _policy("cli", [make_rule("cli", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, auth)])


def _corrupt(blob: bytes) -> bytes:
    return blob[:100] + bytes([blob[100] ^ 0x40]) + blob[101:]


def _launches(files: dict[str, Path]) -> list[dict[str, Any]]:
    """cli-64.exe (denied by _allow_hello) then hello64.exe (allowed)."""
    return [_call("C:\\x\\cli-64.exe", CLI, files), _call("C:\\x\\hello64.exe", HELLO, files)]


def _reload(value: bytes | None, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "policy": None if value is None else _binary(value),
        "key": PARAMETERS_KEY,
        "value_name": "Policy",
        "operation": "set" if value is not None else "delete",
        "status": 0,
    }
    step.update(extra)
    return {"reload": step}


def _prints(result: dict[str, Any], text: str) -> list[str]:
    return [p for p in result["prints"] if text in p]


def _written(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [w for w in result["written"] if w["name"] == name]


def _run(cases: list[dict[str, Any]], tmp: Path, sys_path: Path | None = None) -> dict[str, Any]:
    return {r["name"]: r for r in run_emulation(cases, tmp, sys_path=sys_path)}


# ---- never brick: the kill switch ----------------------------------------------


def _kill_switch_cases(files: dict[str, Path]) -> list[dict[str, Any]]:
    blob = _allow_hello()
    return [
        _case("kill_switch", blob, _launches(files), parameters={"ForceAudit": 1}),
        _case("kill_switch_off", blob, _launches(files), parameters={"ForceAudit": 0}),
    ]


def _kill_switch_check(r: dict[str, dict[str, Any]]) -> None:
    on, off = r["kill_switch"], r["kill_switch_off"]
    for result in (on, off):
        _check_clean(result)
    assert _statuses(on) == [0, 0]  # reported, not denied
    (report,) = _reports(on)
    assert report.startswith("exewhitelist: AUDIT-DENY ") and "cli-64.exe" in report
    assert _prints(on, "AUDIT MODE: kill switch ForceAudit=1")
    assert _statuses(off) == [DENIED, 0] and not _prints(off, "AUDIT MODE")


def test_kill_switch(sample_files: dict[str, Path], tmp_path: Path) -> None:
    _kill_switch_check(_run(_kill_switch_cases(sample_files), tmp_path))


# ---- never brick: the boot-complete mark and the boot fallback -----------------


def _boot_cases(files: dict[str, Path]) -> list[dict[str, Any]]:
    blob = _allow_hello()
    userinit = _call("C:\\Windows\\System32\\userinit.exe", HELLO, files)
    denied_userinit = _call("C:\\Windows\\System32\\userinit.exe", CLI, files)
    return [
        # The last boot set BootStatus=1 and never reached a logon: audit.
        _case("boot_failed", blob, _launches(files), values={"BootStatus": _dword(1)}),
        # It did: enforce; this boot is marked started, then complete at userinit.
        _case(
            "boot_ok",
            blob,
            [*_launches(files), userinit, userinit],
            values={"BootStatus": _dword(2)},
        ),
        # A denied userinit.exe is no logon: the mark stays at "started".
        _case("boot_userinit_denied", blob, [denied_userinit]),
    ]


def _boot_check(r: dict[str, dict[str, Any]]) -> None:
    failed, ok, denied = r["boot_failed"], r["boot_ok"], r["boot_userinit_denied"]
    for result in (failed, ok, denied):
        _check_clean(result)
    assert _statuses(failed) == [0, 0]
    assert _prints(failed, "AUDIT MODE: the last boot did not reach the boot-complete mark")
    assert any("AUDIT-DENY" in p and "cli-64.exe" in p for p in failed["prints"])
    assert [w["dword"] for w in _written(failed, "BootStatus")] == [1]
    assert _statuses(ok) == [DENIED, 0, 0, 0] and not _prints(ok, "AUDIT MODE")
    assert [w["dword"] for w in _written(ok, "BootStatus")] == [1, 2]  # once per boot
    assert _statuses(denied) == [DENIED]
    assert [w["dword"] for w in _written(denied, "BootStatus")] == [1]


def test_boot_complete_mark_and_fallback(sample_files: dict[str, Path], tmp_path: Path) -> None:
    _boot_check(_run(_boot_cases(sample_files), tmp_path))


# ---- never brick: what the kernel creates --------------------------------------


def _kernel_cases(files: dict[str, Path]) -> list[dict[str, Any]]:
    deny_all = _policy("nothing", [])
    smss = _call("C:\\Windows\\System32\\smss.exe", CLI, files, parent_pid=4)
    minimal = {**_call("C:\\x\\none", None, files), "no_image_name": True, "file_name": None}
    registry = {**minimal, "parent_pid": 4}
    normal = _call("C:\\x\\cli-64.exe", CLI, files)
    return [_case("kernel_created", deny_all, [smss, minimal, registry, normal])]


def _kernel_check(r: dict[str, dict[str, Any]]) -> None:
    result = r["kernel_created"]
    _check_clean(result)
    assert _statuses(result) == [0, 0, 0, DENIED]
    (report,) = _reports(result)
    assert "cli-64.exe" in report


def test_kernel_created_processes_are_never_denied(
    sample_files: dict[str, Path], tmp_path: Path
) -> None:
    _kernel_check(_run(_kernel_cases(sample_files), tmp_path))


# ---- policy loss: the last known good ------------------------------------------


def _lkg_cases(files: dict[str, Path]) -> list[dict[str, Any]]:
    blob = _allow_hello()
    lkg = {"PolicyLastKnownGood": _binary(blob)}
    corrupt = _case("lkg_corrupt_value", None, _launches(files), values=lkg)
    corrupt["policy"] = _binary(_corrupt(_allow_cli()))
    return [
        _case("lkg_written", blob, _launches(files)),
        _case("lkg_already", blob, _launches(files), values=lkg),
        corrupt,
        _case("lkg_missing_value", None, _launches(files), values=lkg),
        _case(
            "lkg_corrupt_too",
            None,
            _launches(files),
            values={"PolicyLastKnownGood": _binary(_corrupt(blob))},
        ),
        # Deleted while running: the policy in force stays; not the LKG's business.
        _case("lkg_deleted_live", _allow_cli(), [*_launches(files), _reload(None)], values=lkg),
    ]


def _lkg_check(r: dict[str, dict[str, Any]]) -> None:
    for result in r.values():
        _check_clean(result)
    blob_sha = hashlib.sha256(_allow_hello()).hexdigest()
    (kept,) = _written(r["lkg_written"], "PolicyLastKnownGood")
    assert kept["type"] == 3 and kept["sha256"] == blob_sha
    assert _written(r["lkg_already"], "PolicyLastKnownGood") == []  # not rewritten
    for name in ("lkg_corrupt_value", "lkg_missing_value"):
        result = r[name]
        assert _statuses(result) == [DENIED, 0], name  # enforced, not "allow all"
        assert _prints(result, "policy not loaded")
        assert _prints(result, "policy loaded from the last known good copy")
        assert _written(result, "PolicyLastKnownGood") == []  # only "Policy" is kept
    bad = r["lkg_corrupt_too"]
    assert _statuses(bad) == [0, 0] and _prints(bad, "no last known good policy")
    live = r["lkg_deleted_live"]
    assert _statuses(live) == [0, DENIED] and not _prints(live, "last known good copy")


def test_last_known_good_policy(sample_files: dict[str, Path], tmp_path: Path) -> None:
    _lkg_check(_run(_lkg_cases(sample_files), tmp_path))


# ---- policy loss: RequirePolicy -------------------------------------------------


def _require_cases(files: dict[str, Path]) -> list[dict[str, Any]]:
    calls = [
        _call("C:\\Windows\\System32\\userinit.exe", CLI, files),
        _call("C:\\x\\hello64.exe", HELLO, files),
        _call("C:\\WindowsApps\\cli-64.exe", CLI, files),  # a look-alike prefix
    ]
    return [
        _case("require_policy", None, calls, parameters={"RequirePolicy": 1}),
        _case("require_policy_off", None, calls),
        _case(
            "require_policy_lkg",
            None,
            calls,
            parameters={"RequirePolicy": 1},
            values={"PolicyLastKnownGood": _binary(_allow_hello())},
        ),
    ]


def _require_check(r: dict[str, dict[str, Any]]) -> None:
    for result in r.values():
        _check_clean(result)
    on = r["require_policy"]
    assert _statuses(on) == [0, DENIED, DENIED]
    assert all("reason=no_policy" in p or "no_policy" in p for p in _reports(on))
    assert _prints(on, "RequirePolicy: only Windows images run")
    assert _statuses(r["require_policy_off"]) == [0, 0, 0]
    # A last known good is a policy: RequirePolicy does not apply.
    assert _statuses(r["require_policy_lkg"]) == [DENIED, 0, DENIED]


def test_require_policy(sample_files: dict[str, Path], tmp_path: Path) -> None:
    _require_check(_run(_require_cases(sample_files), tmp_path))


# ---- reload: the exact key, restore/replace/rename --------------------------------


def _key_cases(files: dict[str, Path]) -> list[dict[str, Any]]:
    hello, cli = _allow_hello(), _allow_cli()
    cli_call = _call("C:\\x\\cli-64.exe", CLI, files)
    return [
        _case(
            "reload_decoys",
            hello,
            [
                _reload(cli, key=DECOY_KEY, writes_ours=False),
                _reload(cli, key=PARAMETERS_KEY + "X", writes_ours=False),
                _reload(cli, key=PARAMETERS_KEY.replace("ControlSet001", "ControlSet0012")),
                _reload(cli, key=PARAMETERS_KEY.replace("SYSTEM", "SOFTWARE")),
                cli_call,
            ],
        ),
        _case(
            "reload_restore",
            hello,
            [
                cli_call,
                _reload(cli, key=SERVICE_KEY, operation="restore", writes_ours=True),
                cli_call,
            ],
        ),
        _case(
            "reload_replace",
            hello,
            [cli_call, _reload(cli, key=PARAMETERS_KEY, operation="replace"), cli_call],
        ),
        _case(
            "reload_rename",
            hello,
            [
                cli_call,
                _reload(
                    cli,
                    key=SERVICE_KEY + "\\NewParameters",
                    operation="rename",
                    new_name="Parameters",
                    writes_ours=True,
                ),
                cli_call,
            ],
        ),
    ]


def _key_check(r: dict[str, dict[str, Any]]) -> None:
    for result in r.values():
        _check_clean(result)
    decoys = r["reload_decoys"]
    assert _statuses(decoys) == [DENIED] and not _prints(decoys, "reloading")
    assert len(_prints(decoys, "policy loaded")) == 1  # the load at start only
    for name in ("reload_restore", "reload_replace", "reload_rename"):
        result = r[name]
        assert _statuses(result) == [DENIED, 0], name
        assert len(_prints(result, "reloading")) == 1, name


def test_reload_matches_the_exact_key(sample_files: dict[str, Path], tmp_path: Path) -> None:
    _key_check(_run(_key_cases(sample_files), tmp_path))


# ---- reload: coalesced off the writer's thread -------------------------------------

STORM = 200


def _storm_cases(files: dict[str, Path]) -> list[dict[str, Any]]:
    hello, cli = _allow_hello(), _allow_cli()
    cli_call = _call("C:\\x\\cli-64.exe", CLI, files)
    return [
        _case(
            "reload_storm",
            hello,
            [
                cli_call,
                _reload(_corrupt(cli), repeat=STORM // 2),
                _reload(cli, repeat=STORM // 2),
                cli_call,
                _reload(hello),  # a second settled value: a second load
                cli_call,
            ],
        )
    ]


def _validations(result: dict[str, Any]) -> int:
    return len(_prints(result, "(validation "))


def _storm_check(r: dict[str, dict[str, Any]]) -> None:
    result = r["reload_storm"]
    _check_clean(result)
    assert _statuses(result) == [DENIED, 0, DENIED]
    # one validation at load, one per settled value: not one per write
    assert _validations(result) == 3, _validations(result)
    assert len(result["work_items"]) == 2
    assert len(_prints(result, "reloading")) == 2


def test_reload_storm_costs_one_validation_per_settled_value(
    sample_files: dict[str, Path], tmp_path: Path
) -> None:
    _storm_check(_run(_storm_cases(sample_files), tmp_path))


def test_instructions_per_reload_of_a_large_policy(
    sample_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Emulated instructions of one reload (the work item: read, validate in
    place, index, install) of a policy of Authenticode rules: 1 MiB in the
    suite; EWL_BIG_RELOAD_MIB=32 measures the issue's 32 MiB (minutes)."""
    mib = int(os.environ.get("EWL_BIG_RELOAD_MIB", "1"))
    # default ids: 32 bytes a rule, so the blob is the size asked for
    rules: list[Rule] = [
        hash_rule(RuleKind.AUTHENTICODE_SHA256, f"{i:064x}") for i in range(mib << 15)
    ]
    big = _policy("big", rules)
    small = _allow_hello()
    case = _case("big_reload", small, [_reload(big)], timeout=3600)
    (result,) = run_emulation([case], tmp_path, count_instructions=True)
    _check_clean(result)
    (work,) = result["work_items"]
    assert _prints(result, f"{len(big)} bytes")
    with capsys.disabled():
        print(
            f"\ninstructions per reload of a {len(big) / 2**20:.1f} MiB policy: "
            f"{work['instructions']}"
        )


# ---- negative controls ----------------------------------------------------------

MUTANTS: dict[
    str, tuple[str, str, str, Callable[[dict[str, Path]], list[dict[str, Any]]], Check]
] = {
    "no_kill_switch": (
        "kernel/policy.c",
        'EwlReadDword(key, L"ForceAudit", &value)',
        '0 && EwlReadDword(key, L"ForceAudit", &value)',
        _kill_switch_cases,
        _kill_switch_check,
    ),
    "no_boot_fallback": (
        "kernel/policy.c",
        "g_EwlSettings.BootFallback = TRUE;",
        "(VOID)0;",
        _boot_cases,
        _boot_check,
    ),
    "denies_kernel_processes": (
        "kernel/notify.c",
        "    if (EwlKernelCreated(CreateInfo)) {",
        "    if (0 && EwlKernelCreated(CreateInfo)) {",
        _kernel_cases,
        _kernel_check,
    ),
    "no_last_known_good": (
        "kernel/policy.c",
        "if (!AtLoad || g_Policy != NULL) {",
        "if (1) {",
        _lkg_cases,
        _lkg_check,
    ),
    "no_require_policy": (
        "kernel/notify.c",
        "        if (g_EwlSettings.RequirePolicy) {",
        "        if (0) {",
        _require_cases,
        _require_check,
    ),
    "suffix_key_match": (
        "kernel/reload.c",
        "    if (rest.Length == g_KeySuffix.Length) {\n",
        "    if (rest.Length >= g_KeySuffix.Length) {\n"
        "        rest.Buffer += (rest.Length - g_KeySuffix.Length) / sizeof(WCHAR);\n"
        "        rest.Length = g_KeySuffix.Length;\n",
        _key_cases,
        _key_check,
    ),
    "reload_in_writer_thread": (
        "kernel/reload.c",
        "    EwlReloadRequest();\n",
        "    (VOID)EwlReloadRequest; /* unused */\n    (VOID)EwlPolicyLoad(FALSE);\n",
        _storm_cases,
        _storm_check,
    ),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_negative_control(sample_files: dict[str, Path], tmp_path: Path, mutant: str) -> None:
    """Each check fails on a driver with its defence removed."""
    source, old, new, cases, check = MUTANTS[mutant]
    image = _build_mutant(mutant, tmp_path, (source, old, new))
    results = _run(cases(sample_files), tmp_path, sys_path=image)
    with pytest.raises(AssertionError):
        check(results)
