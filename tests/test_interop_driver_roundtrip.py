"""End to end: the emulated driver's own ETW events -> ``policy from-events`` -> a policy
the emulated driver then enforces, allowing what it had reported (docs/interop.md §5).

The events the harness decodes from the driver's raw TraceLogging descriptors are
rendered as ``Get-WinEvent -Path x.etl | % ToXml()`` gives them (event id 0, keyword,
named ``Data``), field values as decoders print them (HexInt32 ``0x...``, booleans
``true``/``false``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from interop_samples import driver_event, tracerpt_xml
from test_driver_emulation import (
    CLI,
    HELLO,
    HEXINT32,
    _digests,
    _events,
    _policy,
)
from test_driver_enforcement import _call, _case, _run
from test_driver_imageload import EVIL_DLL, LOADER_PID, RUNDLL32

from exewhitelist.cli import main
from exewhitelist.policy import Action, Mode, RuleKind
from exewhitelist.policyfile import load_policy
from exewhitelist.rules import make_rule


def winevent_xml(event: dict[str, Any], form: str = "winevent") -> str:
    """One decoded event as ``EventRecord.ToXml()`` renders it (``form="tracerpt"``: as
    ``tracerpt -of XML`` does, the name in ``RenderingInfo/Task``, no keyword)."""
    fields = {
        name: f"0x{value:X}" if event["types"][name] == HEXINT32 else value
        for name, value in event["fields"].items()
    }
    return driver_event(
        event["name"],
        fields,
        level=event["level"],
        keyword=event["keyword"] if form == "winevent" else None,
        form=form,
        provider=(event["provider"], event["provider_guid"]),
    )


def _calls(files: dict[str, Path]) -> list[dict[str, Any]]:
    return [
        _call("C:\\Apps\\cli-64.exe", CLI, files),  # no rule: audit deny
        _call("C:\\Tools\\hello64.exe", HELLO, files),  # allowed: no event
        _call("C:\\Apps\\hello64.exe", HELLO, files, writable=True),  # no trusted digest
        _call(
            "C:\\Users\\u\\evil.dll",
            EVIL_DLL,
            files,
            image_load=True,
            loader_pid=LOADER_PID,
            loader_image=RUNDLL32,
        ),
    ]


def test_emulated_events_to_rules_to_enforcement(
    sample_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sample_files
    hello = make_rule(
        "allow-hello", Action.ALLOW, RuleKind.AUTHENTICODE_SHA256, _digests(str(files[HELLO]))[0]
    )
    audit = _run([_case("audit", _policy("base", [hello], Mode.AUDIT), _calls(files))], tmp_path)
    events = _events(audit["audit"])
    names = [e["name"] for e in events]
    assert "ProcessAuditDenied" in names and "ImageLoadAuditDenied" in names
    log = tmp_path / "ewl.xml"  # as PowerShell's > writes it: UTF-16 with a BOM
    log.write_text("\r\n".join(winevent_xml(e) for e in events), encoding="utf-16")

    out = tmp_path / "rules.toml"
    assert main(["policy", "from-events", str(log), "-o", str(out)]) == 0
    made = load_policy(out)
    err = capsys.readouterr().err
    assert "'C:\\\\Apps\\\\hello64.exe'" in err and "fail-closed deny (no_hash" in err
    cli_auth, _ = _digests(str(files[CLI]))
    dll_auth, _ = _digests(str(files[EVIL_DLL]))
    assert sorted((r.kind, r.value) for r in made.rules) == sorted(
        [(RuleKind.AUTHENTICODE_SHA256, cli_auth), (RuleKind.AUTHENTICODE_SHA256, dll_auth)]
    )

    converted = tmp_path / "tracerpt.xml"
    converted.write_text(tracerpt_xml([winevent_xml(e, "tracerpt") for e in events]))
    again_made = tmp_path / "rules2.toml"
    assert main(["policy", "from-events", str(converted), "-o", str(again_made)]) == 0
    assert load_policy(again_made).rules == made.rules  # both forms, the same rules

    enforce = _policy("enforce", [hello, *made.rules], Mode.ENFORCE)
    again = _run(
        [_case("enforce", enforce, _calls(files), parameters={"ImageLoads": 2})], tmp_path
    )["enforce"]
    statuses = [c["status"] for c in again["calls"] if "status" in c]
    assert statuses[0] == 0 and statuses[1] == 0  # cli-64.exe is now allowed
    image = [c for c in again["calls"] if c.get("image_load")]
    assert [c["refused"] for c in image] == [False]  # and so is the DLL
    denied = {e["fields"]["ImagePath"] for e in _events(again) if "ImagePath" in e["fields"]}
    assert denied == {"C:\\Apps\\hello64.exe"}  # only the writable one: no rule for it
