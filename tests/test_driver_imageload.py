"""Issue 16 items 1 and 4, under emulation: image loads decided at section
creation (driver/kernel/imageload.c) and subsystem (WSL1 Pico) processes
(notify.c), as docs/driver.md "Image loads" and "Subsystem processes" say.

An image load is a call with ``"image_load": true``: only its section event
(IRP_MJ_ACQUIRE_FOR_SECTION_SYNCHRONIZATION, SyncTypeCreateSection,
PAGE_EXECUTE, SEC_IMAGE) is delivered to the filter, in the loading process
(``loader_pid``, ``loader_image``, ``critical``), as LoadLibrary's
NtCreateSection makes it; no process is created. Its result says whether the
filter completed the operation (``refused``) and with which status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_driver_emulation import (
    CLI,
    DENIED,
    HELLO,
    IMAGE_LOAD_SCHEMA,
    _digests,
    _events,
    _policy,
    _reports,
    run_emulation,
)
from test_driver_enforcement import _build_mutant, _call, _case, _run, _stream

from exewhitelist.policy import Action, Mode, RuleKind
from exewhitelist.rules import make_rule

ACCESS_DENIED = 0xC0000022  # what a refused image section returns (docs/driver.md)
EVIL_DLL = "mingw/hello64.dll"  # IMAGE_FILE_DLL set; no rule allows it
GOOD_DLL = "msvc-runtime-win_amd64/vcruntime140_1.dll"  # allowed by its Authenticode hash
RUNDLL32 = "\\Device\\HarddiskVolume3\\Windows\\System32\\rundll32.exe"
LOADER_PID = 0x2A0
IMAGE_EVENTS = ("ImageLoadDenied", "ImageLoadAuditDenied")
IMAGE_LOAD_FIELDS = [
    "ProcessId",
    "ProcessImage",
    "CriticalProcess",
    "ImagePath",
    "PathStatus",
    "Sha256",
    "Sha256Kind",
    "HashStatus",
    "SignerStatus",
    "Signers",
    "Signer",
    "RuleId",
    "Reason",
    "Enforced",
]


def _load(path: str, sample: str | None, files: dict[str, Path], **extra: Any) -> dict[str, Any]:
    """``rundll32.exe <path>,Entry``: the loader maps the DLL (an image section)."""
    call = _call(path, sample, files, image_load=True, loader_pid=LOADER_PID)
    call["loader_image"] = RUNDLL32
    call.update(extra)
    return call


def _blob(files: dict[str, Path], mode: Mode = Mode.ENFORCE) -> bytes:
    good = _digests(str(files[GOOD_DLL]))[0]
    hello = _digests(str(files[HELLO]))[0]
    return _policy(
        "dlls",
        [
            make_rule("allow-vcruntime", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, good),
            make_rule("allow-hello", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, hello),
        ],
        mode,
    )


def _loads(files: dict[str, Path]) -> list[dict[str, Any]]:
    return [
        _load("C:\\Users\\u\\evil.dll", EVIL_DLL, files),
        _load("C:\\Apps\\vcruntime140_1.dll", GOOD_DLL, files),
    ]


def _image_calls(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in result["calls"] if c.get("image_load")]


def _image_reports(result: dict[str, Any]) -> list[str]:
    return [p for p in result["prints"] if " IMAGE-DENY " in p or " IMAGE-AUDIT-DENY " in p]


@pytest.fixture(scope="module")
def modes(sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    files = sample_files
    blob = _blob(files)
    cases = [
        _case("enforce", blob, _loads(files), parameters={"ImageLoads": 2}),
        _case("audit_default", blob, _loads(files)),
        _case("off", blob, _loads(files), parameters={"ImageLoads": 0}),
        _case(
            "policy_in_audit_mode",
            _blob(files, Mode.AUDIT),
            _loads(files),
            parameters={"ImageLoads": 2},
        ),
        _case("kill_switch", blob, _loads(files), parameters={"ImageLoads": 2, "ForceAudit": 1}),
        _case(
            "critical",
            blob,
            [_load("C:\\Users\\u\\evil.dll", EVIL_DLL, files, critical=True)],
            parameters={"ImageLoads": 2},
        ),
        _case(
            "critical_enforced",
            blob,
            [_load("C:\\Users\\u\\evil.dll", EVIL_DLL, files, critical=True)],
            parameters={"ImageLoads": 2, "EnforceImageLoadsInCriticalProcesses": 1},
        ),
        _case(
            "untrusted_program",  # a program whose header cannot be trusted: decided here
            blob,
            [_load("C:\\Users\\u\\tool.exe", CLI, files, writable=True)],
            parameters={"ImageLoads": 2},
        ),
        _case(
            "written_while_mapped",  # a writer open while the image section is made
            blob,
            [
                _load(
                    "C:\\Apps\\vcruntime140_1.dll",
                    GOOD_DLL,
                    files,
                    events=[
                        {"op": "open", "fo": "w", "write": True},
                        {"op": "section", "fo": "creator"},
                    ],
                )
            ],
            parameters={"ImageLoads": 2},
        ),
        _case(
            "no_policy",
            blob,
            [_load("C:\\Users\\u\\evil.dll", EVIL_DLL, files)],
            parameters={"ImageLoads": 2},
        ),
    ]
    cases[-1]["policy"] = None
    results = _run(cases, tmp_path_factory.mktemp("imageload"))
    for result in results.values():  # the critical-process query was asked as documented
        assert result["query_process_errors"] == []
    return results


def test_rundll32_load_of_a_dll_no_rule_allows_is_refused_in_enforce_mode(modes: Any) -> None:
    result = modes["enforce"]
    evil, good = _image_calls(result)
    assert (evil["refused"], evil["status"]) == (True, ACCESS_DENIED)
    assert (good["refused"], good["status"]) == (False, 0)  # an allowed DLL loads
    (report,) = _image_reports(result)
    assert f" IMAGE-DENY pid={LOADER_PID} process={RUNDLL32} critical=0 " in report
    assert "image=C:\\Users\\u\\evil.dll " in report and "rule=(default deny)" in report
    (event,) = _events(result, *IMAGE_EVENTS)
    assert event["name"] == "ImageLoadDenied"
    fields = event["fields"]
    assert list(fields) == IMAGE_LOAD_FIELDS
    assert fields["ProcessId"] == LOADER_PID and fields["ProcessImage"] == RUNDLL32
    assert fields["ImagePath"] == "C:\\Users\\u\\evil.dll"
    assert fields["Sha256Kind"] == "authenticode" and len(fields["Sha256"]) == 64
    assert (fields["Reason"], fields["Enforced"], fields["CriticalProcess"]) == (
        "rule",
        True,
        False,
    )
    assert (event["level"], event["keyword"], event["types"]) == IMAGE_LOAD_SCHEMA[event["name"]]
    assert not _reports(result)  # no process event for an image load


def test_audit_is_the_default_reported_never_refused(modes: Any) -> None:
    result = modes["audit_default"]
    assert [c["refused"] for c in _image_calls(result)] == [False, False]
    (report,) = _image_reports(result)
    assert " IMAGE-AUDIT-DENY " in report and "image=C:\\Users\\u\\evil.dll " in report
    (event,) = _events(result, *IMAGE_EVENTS)
    assert event["name"] == "ImageLoadAuditDenied" and event["keyword"] == 0x10
    assert event["fields"]["Enforced"] is False
    assert any("ImageLoads=1 " in p for p in result["prints"])


def test_setting_off_decides_nothing(modes: Any) -> None:
    result = modes["off"]
    calls = _image_calls(result)
    assert [c["refused"] for c in calls] == [False, False]
    assert all(c["reads"] == 0 and c["name_queries"] == 0 for c in calls)
    assert not _image_reports(result) and not _events(result, *IMAGE_EVENTS)


@pytest.mark.parametrize("name", ["policy_in_audit_mode", "kill_switch"])
def test_audit_policy_or_kill_switch_never_refuses(modes: Any, name: str) -> None:
    result = modes[name]
    assert [c["refused"] for c in _image_calls(result)] == [False, False]
    (report,) = _image_reports(result)
    assert " IMAGE-AUDIT-DENY " in report


def test_critical_process_is_audit_only_by_default(modes: Any) -> None:
    (call,) = _image_calls(modes["critical"])
    assert not call["refused"]
    (report,) = _image_reports(modes["critical"])
    assert " IMAGE-AUDIT-DENY " in report and " critical=1 " in report
    (event,) = _events(modes["critical"], *IMAGE_EVENTS)
    assert event["fields"]["CriticalProcess"] is True
    (call,) = _image_calls(modes["critical_enforced"])
    assert (call["refused"], call["status"]) == (True, ACCESS_DENIED)


# ---- programs mapped as images: LoadLibrary("tool.exe") and process starts ------

SERVICES = "\\Device\\HarddiskVolume3\\Windows\\System32\\services.exe"
EXPLORER = "\\Device\\HarddiskVolume3\\Windows\\explorer.exe"
TOOL = "C:\\Users\\u\\tool.exe"  # CLI: a program (IMAGE_FILE_DLL clear) no rule allows
CLOSE = {"op": "cleanup", "fo": "creator"}  # the caller's NtClose of its file handle


def _library(path: str, sample: str | None, files: dict[str, Path], **extra: Any) -> dict[str, Any]:
    """``LoadLibrary(path)`` of a program: its image section, then the loader
    closes its file handle (the section keeps the file object)."""
    return _load(path, sample, files, events=[{"op": "section", "fo": "creator"}, CLOSE], **extra)


def _start(path: str, sample: str | None, files: dict[str, Path], **extra: Any) -> dict[str, Any]:
    """``CreateProcess(path)`` from explorer: NtCreateUserProcess makes the
    image section in the creator, the process callback follows, then the
    creator closes the file handle NtCreateUserProcess gave it."""
    call = _call(path, sample, files, after=[CLOSE], loader_image=EXPLORER)
    call.update(extra)
    return call


@pytest.fixture(scope="module")
def programs(sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    files = sample_files
    blob = _blob(files)
    enforce = {"ImageLoads": 2}
    cases = [
        _case("library_audit", blob, [_library(TOOL, CLI, files)]),
        _case("library_enforce", blob, [_library(TOOL, CLI, files)], parameters=enforce),
        _case(
            "allowed_library",
            blob,
            [_library("C:\\Apps\\hello.exe", HELLO, files)],
            parameters=enforce,
        ),
        _case("allowed_library_audit", blob, [_library("C:\\Apps\\hello.exe", HELLO, files)]),
        _case("start_audit", blob, [_start(TOOL, CLI, files)]),
        _case("start_enforce", blob, [_start(TOOL, CLI, files)], parameters=enforce),
        _case(
            "start_by_critical_creator",  # services.exe starting a denied service program
            blob,
            [_start(TOOL, CLI, files, critical=True, loader_image=SERVICES)],
            parameters=enforce,
        ),
        _case(
            "start_allowed",
            blob,
            [_start("C:\\Apps\\hello.exe", HELLO, files)],
            parameters=enforce,
        ),
        _case(
            "policy_in_audit_mode",
            _blob(files, Mode.AUDIT),
            [_library(TOOL, CLI, files), _start(TOOL, CLI, files)],
            parameters=enforce,
        ),
    ]
    return _run(cases, tmp_path_factory.mktemp("programs"))


def test_program_loaded_as_a_library_is_reported_with_the_loader_by_default(
    programs: Any,
) -> None:
    """LoadLibrary("tool.exe") of a program no rule allows, ImageLoads=1: it
    maps code no rule allowed, and no process callback will ever see it."""
    result = programs["library_audit"]
    (call,) = _image_calls(result)
    assert not call["refused"]
    (report,) = _image_reports(result)
    assert f" IMAGE-AUDIT-DENY pid={LOADER_PID} process={RUNDLL32} critical=0 " in report
    assert f"image={TOOL} " in report and "rule=(default deny)" in report
    (event,) = _events(result, *IMAGE_EVENTS)
    assert event["name"] == "ImageLoadAuditDenied"
    assert (event["fields"]["ProcessId"], event["fields"]["ImagePath"]) == (LOADER_PID, TOOL)
    assert not _reports(result)  # no process


def test_program_loaded_as_a_library_is_refused_in_enforce_mode(programs: Any) -> None:
    result = programs["library_enforce"]
    (call,) = _image_calls(result)
    assert (call["refused"], call["status"]) == (True, ACCESS_DENIED)
    (report,) = _image_reports(result)
    assert f" IMAGE-DENY pid={LOADER_PID} process={RUNDLL32} " in report
    assert f"image={TOOL} " in report
    (event,) = _events(result, *IMAGE_EVENTS)
    assert event["name"] == "ImageLoadDenied" and event["fields"]["Enforced"] is True


@pytest.mark.parametrize("name", ["allowed_library", "allowed_library_audit"])
def test_allowed_program_mapped_as_an_image_loads_unreported(programs: Any, name: str) -> None:
    (call,) = _image_calls(programs[name])
    assert not call["refused"]
    assert not _image_reports(programs[name]) and not _events(programs[name], *IMAGE_EVENTS)


def test_process_start_in_audit_is_decided_and_reported_once_by_the_process_callback(
    programs: Any,
) -> None:
    """ImageLoads=1: the section of a process start is not reported as a
    load; the process callback denies and reports it, once."""
    result = programs["start_audit"]
    (call,) = result["calls"]
    assert call["status"] == DENIED and not call["refused_at_section"]
    (report,) = _reports(result)
    assert " DENY " in report and f"image={TOOL} " in report
    assert not _image_reports(result) and not _events(result, *IMAGE_EVENTS)


def test_process_start_with_image_loads_enforced_is_refused_at_its_section(programs: Any) -> None:
    """ImageLoads=2: a denied program is refused when its section is made,
    whatever maps it; the process never exists, so it is reported once, as
    the refused section of its creator."""
    result = programs["start_enforce"]
    (call,) = result["calls"]
    assert call["refused_at_section"] and call["status"] == ACCESS_DENIED
    (report,) = _image_reports(result)
    assert f" IMAGE-DENY pid={0x7C} process={EXPLORER} " in report and f"image={TOOL} " in report
    assert not _reports(result)


def test_process_start_by_a_critical_creator_is_decided_once_then_cached(programs: Any) -> None:
    """ImageLoads=2 in a critical creator (audit-only at the section): the
    section decides, the process callback reuses the cached verdict, denies
    and is the only report."""
    result = programs["start_by_critical_creator"]
    (call,) = result["calls"]
    assert call["status"] == DENIED and not call["refused_at_section"]
    assert call["filter_reads"] > 2 and call["reads"] == 0  # hashed at the section, then cached
    (report,) = _reports(result)
    assert " DENY " in report
    assert not _image_reports(result) and not _events(result, *IMAGE_EVENTS)


def test_allowed_process_start_is_decided_at_its_section_then_cached(programs: Any) -> None:
    (call,) = programs["start_allowed"]["calls"]
    assert call["status"] == 0 and not call["refused_at_section"]
    assert call["filter_reads"] > 2 and call["reads"] == 0
    assert not _reports(programs["start_allowed"]) and not _image_reports(programs["start_allowed"])


def test_audit_mode_policy_reports_a_program_load_and_a_start_once_each(programs: Any) -> None:
    result = programs["policy_in_audit_mode"]
    load, start = result["calls"]
    assert not load["refused"] and start["status"] == 0
    (image,) = _image_reports(result)
    assert " IMAGE-AUDIT-DENY " in image
    (report,) = _reports(result)
    assert " AUDIT-DENY " in report


def test_program_with_an_untrusted_header_is_decided_as_an_image_load(modes: Any) -> None:
    """Fail closed: with user-writable references the header read cannot be
    trusted (the DLL bit could change), so the section is decided here."""
    (call,) = _image_calls(modes["untrusted_program"])
    assert (call["refused"], call["status"]) == (True, ACCESS_DENIED)
    (event,) = _events(modes["untrusted_program"], *IMAGE_EVENTS)
    assert event["fields"]["Reason"] == "no_hash" and event["fields"]["HashStatus"] == 0xC0000043


def test_image_written_while_its_section_is_made_is_refused(modes: Any) -> None:
    (call,) = _image_calls(modes["written_while_mapped"])
    assert (call["refused"], call["status"]) == (True, ACCESS_DENIED)
    (event,) = _events(modes["written_while_mapped"], *IMAGE_EVENTS)
    assert event["fields"]["Reason"] == "image_changed"


def test_no_policy_decides_no_image_load(modes: Any) -> None:
    (call,) = _image_calls(modes["no_policy"])
    assert not call["refused"] and not _image_reports(modes["no_policy"])


def test_cached_second_load_is_cheap(
    sample_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same DLL loaded twice from one unchanged stream: the second
    decision is the stream's cached verdict (goal: at most 500 instructions)."""
    files = sample_files
    path = "C:\\Apps\\vcruntime140_1.dll"
    evil = "C:\\Users\\u\\evil.dll"
    streams = {"g": _stream(path, GOOD_DLL, files), "e": _stream(evil, EVIL_DLL, files)}
    calls = [
        _load(path, None, files, stream="g"),
        _load(path, None, files, stream="g"),
        _load(evil, None, files, stream="e"),
        _load(evil, None, files, stream="e"),
    ]
    case = _case("cached", _blob(files), calls, streams=streams, parameters={"ImageLoads": 2})
    # A program mapped as an image twice, then started: enforced, every
    # section is decided (the second one cached); ImageLoads=1, a section is
    # only marked and the decision waits for the process callback or the
    # cleanup.
    hello = "C:\\Apps\\hello.exe"
    tool = {"h": _stream(hello, HELLO, files), "t": _stream(TOOL, CLI, files)}
    programs = [
        _library(hello, None, files, stream="h"),
        _library(hello, None, files, stream="h"),
        _start(hello, None, files, stream="h"),
        _library(TOOL, None, files, stream="t"),
        _library(TOOL, None, files, stream="t"),
    ]
    cases = [
        case,
        _case("enforced", _blob(files), programs, streams=tool, parameters={"ImageLoads": 2}),
        _case("audited", _blob(files), programs, streams=tool),
    ]
    results = _run(cases, tmp_path, count=True)
    result = results["cached"]
    first, second, deny_first, deny_second = _image_calls(result)
    assert [c["refused"] for c in (first, second, deny_first, deny_second)] == [
        False,
        False,
        True,
        True,
    ]
    assert first["reads"] > 0 and second["reads"] == 0 and deny_second["reads"] == 0
    lines = [
        f"DLL load: first {first['instructions']} instructions ({first['reads']} reads), "
        f"cached {second['instructions']}; denied: first {deny_first['instructions']}, "
        f"cached {deny_second['instructions']} (with the report)"
    ]
    assert second["instructions"] <= 500
    for name in ("enforced", "audited"):
        load, again, start, deny, deny_again = results[name]["calls"]
        assert again["reads"] == 0 and start["reads"] == 0 and deny_again["reads"] == 0
        lines.append(
            f"program mapped ({name}): section first {load['section_instructions']} "
            f"(cleanup {load['cleanup_instructions']}), cached {again['section_instructions']} "
            f"(cleanup {again['cleanup_instructions']}); start: section and cleanup "
            f"{start['filter_instructions']}, process callback {start['instructions']}; "
            f"denied: section {deny['section_instructions']}, "
            f"cleanup {deny['cleanup_instructions']}, cached section "
            f"{deny_again['section_instructions']} cleanup {deny_again['cleanup_instructions']}"
        )
        assert again["section_instructions"] <= 500
        assert again["cleanup_instructions"] <= 500  # audited: the decision is the cleanup's
    assert [c["refused"] for c in _image_calls(results["enforced"])] == [False, False, True, True]
    assert len(_image_reports(results["audited"])) == 2  # the two loads of the denied program
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# Each defence removed in a mutant driver: the matching check fails on it.
IMAGE_MUTANTS = {
    # a deny is reported but never refused
    "never_refuses": ("kernel/imageload.c", "        result = FLT_PREOP_COMPLETE;\n", ""),
    # the gap this closed: a program's section left to the process callback
    "programs_left_to_process": (
        "kernel/imageload.c",
        "    if (kind != EWL_KIND_DLL && !EwlImageLoadsEnforced(policy) &&",
        "    if (kind == EWL_KIND_PROGRAM) {\n        goto Exit;\n    }\n"
        "    if (kind != EWL_KIND_DLL && !EwlImageLoadsEnforced(policy) &&",
    ),
    # the process callback does not claim its section: a start reported twice
    "no_claim": (
        "kernel/notify.c",
        "        EwlImageReportClaim(stream.Instance, fileObject);\n",
        "",
    ),
    # an unclaimed program section is never reported
    "no_deferred_report": (
        "kernel/filter.c",
        "        EwlImageLoadDeferredReport(FltObjects, stream); /* no process claimed"
        " the section */\n",
        "",
    ),
}


def _mutant_case(mutant: str, files: dict[str, Path]) -> tuple[dict[str, Any], Any]:
    blob = _blob(files)
    if mutant == "never_refuses":
        case = _case("m", blob, _loads(files), parameters={"ImageLoads": 2})

        def check(result: dict[str, Any]) -> None:
            assert _image_calls(result)[0]["refused"]

    elif mutant == "programs_left_to_process":
        case = _case("m", blob, [_library(TOOL, CLI, files)], parameters={"ImageLoads": 2})

        def check(result: dict[str, Any]) -> None:
            assert _image_calls(result)[0]["refused"]

    elif mutant == "no_claim":
        case = _case("m", blob, [_start(TOOL, CLI, files)])

        def check(result: dict[str, Any]) -> None:
            assert len(_reports(result)) == 1 and not _image_reports(result)

    else:
        case = _case("m", blob, [_library(TOOL, CLI, files)])

        def check(result: dict[str, Any]) -> None:
            assert len(_image_reports(result)) == 1

    return case, check


@pytest.mark.parametrize("mutant", sorted(IMAGE_MUTANTS))
def test_negative_control(sample_files: dict[str, Path], tmp_path: Path, mutant: str) -> None:
    case, check = _mutant_case(mutant, sample_files)
    good = tmp_path / "good"
    good.mkdir()
    check(_run([case], good)["m"])  # the real driver passes
    image = _build_mutant(mutant, tmp_path, IMAGE_MUTANTS[mutant])
    (result,) = run_emulation([case], tmp_path, sys_path=image)
    with pytest.raises(AssertionError):
        check(result)


# ---- subsystem (WSL1 Pico) processes ------------------------------------------


def _pico(files: dict[str, Path]) -> dict[str, Any]:
    """wsl.exe -e /bin/true under WSL1: a Pico process. Its FileObject is the
    ELF file in the distribution's root file system (no rule allows it)."""
    root = "C:\\Users\\u\\AppData\\Local\\Packages\\Distro\\LocalState\\rootfs"
    return _call(root + "\\bin\\true", CLI, files, subsystem=True, image_name="/bin/true")


@pytest.fixture(scope="module")
def pico(sample_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    files = sample_files
    blob = _blob(files)
    hello = _call("C:\\Apps\\hello.exe", HELLO, files)
    cases = [
        _case("rules_default", blob, [_pico(files), hello]),
        _case("allow", blob, [_pico(files)], parameters={"SubsystemProcesses": 0}),
        _case("audit", blob, [_pico(files)], parameters={"SubsystemProcesses": 1}),
        _case(
            "nameless",  # a Pico process with neither FileObject nor name: decided
            blob,
            [_call("C:\\x", None, files, subsystem=True, no_image_name=True, file_name=None)],
        ),
        _case(
            "flat_hash",  # the ELF file's flat SHA-256 allows it
            _policy(
                "elf",
                [
                    make_rule(
                        "elf", Action.ALLOW, RuleKind.FILE_SHA256, _digests(str(files[CLI]))[1]
                    )
                ],
            ),
            [_pico(files)],
        ),
        _case("no_ex2", blob, [_pico(files), hello], no_notify_ex2=True),
        _case("ex2_fails", blob, [_pico(files), hello], fail_notify_ex2=True),
    ]
    return _run(cases, tmp_path_factory.mktemp("pico"))


def test_subsystem_process_decided_by_the_rules_by_default(pico: Any) -> None:
    result = pico["rules_default"]
    assert result["notify_kind"] == "ex2"
    wsl, hello = result["calls"]
    assert (wsl["status"], hello["status"]) == (DENIED, 0)
    (report,) = _reports(result)
    assert "\\rootfs\\bin\\true " in report


def test_subsystem_process_without_file_or_name_is_not_exempt(pico: Any) -> None:
    """The kernel-created exemption (no image at all) is not a Pico process's."""
    (call,) = pico["nameless"]["calls"]
    assert call["status"] == DENIED
    (report,) = _reports(pico["nameless"])
    assert "reason=no_hash" in report


def test_subsystem_process_allowed_by_the_elf_files_flat_hash(pico: Any) -> None:
    (call,) = pico["flat_hash"]["calls"]
    assert call["status"] == 0 and not _reports(pico["flat_hash"])


def test_subsystem_process_allow_and_audit_settings(pico: Any) -> None:
    (call,) = pico["allow"]["calls"]
    assert call["status"] == 0 and not _reports(pico["allow"])
    (call,) = pico["audit"]["calls"]
    assert call["status"] == 0
    (report,) = _reports(pico["audit"])
    assert " AUDIT-DENY " in report


@pytest.mark.parametrize("name", ["no_ex2", "ex2_fails"])
def test_without_ex2_the_ex_routine_is_registered(pico: Any, name: str) -> None:
    result = pico[name]
    assert result["notify_kind"] == "ex"
    wsl, hello = result["calls"]
    assert not wsl["delivered"] and wsl["status"] == 0  # never seen: documented
    assert hello["status"] == 0
    assert any("subsystem processes are not seen" in p for p in result["prints"])
