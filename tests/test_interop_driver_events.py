"""The driver's own ETW events into rules (docs/interop.md §5, docs/driver.md "ETW").

The events are built from the schema tests/test_driver_emulation.py pins against the
emulated driver (``ETW_SCHEMA``, ``IMAGE_LOAD_SCHEMA``: names, field order and
types, levels, keywords), so a change of the driver's schema breaks these too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from interop_samples import ci_event, driver_event, signature_event, tracerpt_xml
from test_driver_emulation import ETW_SCHEMA, IMAGE_LOAD_SCHEMA, PROVIDER_GUID, PROVIDER_NAME

from exewhitelist.cli import main
from exewhitelist.errors import InteropError
from exewhitelist.interop import driverevents
from exewhitelist.interop.events import Level, rules_from_events
from exewhitelist.policyfile import load_policy
from exewhitelist.rules import AuthenticodeRule, FileHashRule

SCHEMA = {**ETW_SCHEMA, **IMAGE_LOAD_SCHEMA}
A1 = "30688df7" + "a" * 53 + "afb"
A2 = "eb9bf3da" + "1" * 52 + "1a74"
F1 = "98ea6e4f" + "2" * 52 + "7be4"
NO_HASH_TEXT = "(no hash: needed to allow or to check deny hash rules)"


def deny(
    name: str,
    path: str,
    sha256: str = "",
    kind: str = "authenticode",
    *,
    reason: str = "rule",
    rule_id: str = "(default deny)",
    hash_status: int = 0,
) -> dict[str, object]:
    """A deny event's fields, in the schema's order, with the schema's names only."""
    types = SCHEMA[name][2]
    enforced = not name.endswith("AuditDenied")
    values: dict[str, object] = {
        "ProcessId": 4668,
        "ParentProcessId": 124,
        "ProcessImage": "\\Device\\HarddiskVolume3\\Windows\\System32\\rundll32.exe",
        "CriticalProcess": False,
        "ImagePath": path,
        "PathStatus": "0x0",
        "Sha256": sha256,
        "Sha256Kind": kind if sha256 else "",
        "HashStatus": f"0x{hash_status:X}",
        "SignerStatus": "0xC0000225",
        "Signers": 0,
        "Signer": "",
        "RuleId": rule_id,
        "Reason": reason,
        "Enforced": enforced,
    }
    return {field: values[field] for field in types}


def event(name: str, fields: dict[str, object], form: str = "winevent") -> str:
    level, keyword, _ = SCHEMA[name]
    return driver_event(
        name, fields, level=level, keyword=None if form == "tracerpt" else keyword, form=form
    )


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_the_reader_knows_the_driver_schema() -> None:
    assert (PROVIDER_NAME, str(PROVIDER_GUID)) == (
        driverevents.PROVIDER_NAME,
        driverevents.PROVIDER_GUID,
    )
    for name, (keyword, image_load, enforced) in driverevents.DENY_EVENTS.items():
        _, pinned, fields = SCHEMA[name]
        assert keyword == pinned
        assert image_load == ("ProcessImage" in fields)
        assert enforced == (not name.endswith("AuditDenied"))
    assert set(SCHEMA) == set(driverevents.DENY_EVENTS) | set(driverevents.OTHER_EVENTS)


@pytest.mark.parametrize("form", ["winevent", "tracerpt"])
def test_deny_events_become_hash_rules(tmp_path: Path, form: str) -> None:
    cli = "C:\\Apps\\cli-64.exe"
    events = [
        event("ProcessAuditDenied", deny("ProcessAuditDenied", cli, A1), form),
        event("ProcessDenied", deny("ProcessDenied", "D:\\copy\\cli-64.exe", A1), form),
        event(
            "ImageLoadAuditDenied",
            deny("ImageLoadAuditDenied", "C:\\u\\evil.dll", F1, "file"),
            form,
        ),
        event("ImageLoadDenied", deny("ImageLoadDenied", "C:\\u\\evil.dll", F1, "file"), form),
        event(
            "ProcessDenied",
            deny(
                "ProcessDenied",
                "C:\\w.exe",
                reason="no_hash",
                rule_id=NO_HASH_TEXT,
                hash_status=0xC0000043,
            ),
            form,
        ),
        event("ProcessDenied", deny("ProcessDenied", "C:\\bad.exe", A2, rule_id="bad"), form),
        event("PolicyLoaded", {f: 0 for f in ETW_SCHEMA["PolicyLoaded"][2]}, form),
        event("PolicyRejected", {f: 0 for f in ETW_SCHEMA["PolicyRejected"][2]}, form),
    ]
    text = tracerpt_xml(events) if form == "tracerpt" else "\r\n".join(events)
    log = _write(tmp_path, "ewl.xml", text, "utf-16" if form == "winevent" else "utf-8")
    result = rules_from_events([log])
    assert result.policy is not None
    got = sorted((type(r).__name__, r.value, r.name) for r in result.policy.rules)
    assert got == [
        (AuthenticodeRule.__name__, A1, "cli-64.exe"),
        (FileHashRule.__name__, F1, "evil.dll"),
    ]
    counts = {k: v for k, v in result.event_counts.items() if k != "0"}  # tracerpt's header
    assert counts == {
        "ProcessAuditDenied": 1,
        "ProcessDenied": 3,
        "ImageLoadAuditDenied": 1,
        "ImageLoadDenied": 1,
        "PolicyLoaded": 1,
        "PolicyRejected": 1,
    }
    cli_rule = next(r for r in result.policy.rules if r.value == A1)
    assert "ProcessAuditDenied x1, ProcessDenied x1" in cli_rule.comment
    assert cli in cli_rule.comment and "D:\\copy\\cli-64.exe" in cli_rule.comment
    assert cli + " x" not in cli_rule.comment  # one event each: no count
    dll_rule = next(r for r in result.policy.rules if r.value == F1)
    assert dll_rule.comment.endswith("; C:\\u\\evil.dll x2")  # events by path
    findings = "\n".join(str(f) for f in result.findings)
    assert "C:\\\\w.exe" in findings and "fail-closed deny (no_hash" in findings
    assert "HashStatus 0xC0000043" in findings
    assert "denied by the rule 'bad'" in findings
    assert "ewl.xml: line" in findings
    assert len(result.findings) == 2


def test_name_from_fields_alone(tmp_path: Path) -> None:
    """No name, no keyword: the field set and ``Enforced`` say which event it is."""
    fields = deny("ImageLoadDenied", "C:\\u\\evil.dll", A2)
    text = driver_event("ImageLoadDenied", fields, keyword=None)
    result = rules_from_events([_write(tmp_path, "e.xml", text)])
    assert result.event_counts == {"ImageLoadDenied": 1}
    assert result.policy is not None and [r.value for r in result.policy.rules] == [A2]


def test_mixed_with_code_integrity_and_publisher_level(tmp_path: Path) -> None:
    activity = "6a5b2c1d-0000-0000-0000-000000000001"
    ci = _write(
        tmp_path,
        "ci.xml",
        "\n".join(
            [
                ci_event(3076, "\\Device\\HarddiskVolume3\\Tools\\tool.exe", A2),
                signature_event(activity),
            ]
        ),
    )
    ours = _write(
        tmp_path,
        "ewl.xml",
        "\n".join(
            [
                event("ProcessAuditDenied", deny("ProcessAuditDenied", "C:\\a.exe", A1)),
                event("ProcessAuditDenied", deny("ProcessAuditDenied", "C:\\b.exe", F1, "file")),
            ]
        ),
    )
    result = rules_from_events([ci, ours], level=Level.PUBLISHER)
    assert result.policy is not None
    kinds = sorted(r.kind.value for r in result.policy.rules)
    assert kinds == ["authenticode_sha256", "file_sha256", "publisher"]
    findings = [str(f) for f in result.findings]
    assert sum("carry no signer facts" in f for f in findings) == 1  # said once
    hashed = rules_from_events([ci, ours])
    assert hashed.policy is not None and len(hashed.policy.rules) == 3
    assert hashed.event_counts == {"3076": 1, "3089": 1, "ProcessAuditDenied": 2}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Sha256": "xyz"}, "is not a digest"),
        ({"Sha256": "0" * 64}, "is not a digest"),
        ({"Sha256Kind": "md5"}, "want authenticode or file"),
        ({"Enforced": "maybe"}, "not a boolean"),
        ({"Enforced": True}, "contradicts"),
        ({"Reason": "because"}, "not one the driver writes"),
        ({"RuleId": None}, "missing: RuleId"),
        ({"Sha256": None, "ImagePath": None}, "missing: ImagePath, Sha256"),
    ],
)
def test_garbled_driver_events_are_reported(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    fields = deny("ProcessAuditDenied", "C:\\a.exe", A1)
    for key, value in change.items():
        if value is None:
            del fields[key]
        else:
            fields[key] = value
    good = event("ProcessAuditDenied", deny("ProcessAuditDenied", "C:\\b.exe", A2))
    text = "\n".join([good, event("ProcessAuditDenied", fields), ci_event(3077, "C:\\c.exe", F1)])
    result = rules_from_events([_write(tmp_path, "e.xml", text)])
    assert result.policy is not None
    assert sorted(r.value for r in result.policy.rules) == sorted([A2, F1])
    (finding,) = [str(f) for f in result.findings]
    assert "e.xml: line 2" in finding and problem in finding and "no rule" in finding


def test_unidentifiable_event_of_ours(tmp_path: Path) -> None:
    text = driver_event("X", {"Something": 1}, keyword=None)
    result = rules_from_events([_write(tmp_path, "e.xml", text)])
    assert result.event_counts == {"(unknown)": 1}
    assert "no name, keyword or field set identifies" in str(result.findings[0])


def test_other_providers_with_event_id_0_are_not_ours(tmp_path: Path) -> None:
    fields = deny("ProcessDenied", "C:\\a.exe", A1)
    text = driver_event("ProcessDenied", fields, keyword=1, provider=("Other.Provider", "1" * 32))
    result = rules_from_events([_write(tmp_path, "e.xml", text)])
    assert result.event_counts == {"0": 1} and result.policy is not None
    assert result.policy.rules == ()


def test_csv_and_binary_inputs_are_refused_with_a_hint(tmp_path: Path) -> None:
    csv = _write(
        tmp_path,
        "ewl.csv",
        "Event Name,  Type,  Event ID,  Version,  Channel,  Level\r\nProcessDenied, 0, 0\r\n",
    )
    with pytest.raises(InteropError, match=r"line 1: CSV.*by position.*-of XML"):
        rules_from_events([csv])
    etl = tmp_path / "ewl.etl"
    etl.write_bytes(bytes(8) + b"\x01\x00\x02\x00" + bytes(500))
    with pytest.raises(InteropError, match=r"binary file.*\.etl.*Get-WinEvent"):
        rules_from_events([etl])
    assert main(["policy", "from-events", str(csv), "-o", str(tmp_path / "o.toml")]) == 2
    assert not (tmp_path / "o.toml").exists()


def test_cli_reads_both_forms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path, "a.xml", event("ProcessDenied", deny("ProcessDenied", "C:\\a.exe", A1)))
    b = _write(
        tmp_path,
        "b.xml",
        tracerpt_xml([event("ProcessDenied", deny("ProcessDenied", "C:\\a.exe", A1), "tracerpt")]),
    )
    out = tmp_path / "out.toml"
    assert main(["policy", "from-events", str(a), str(b), "-o", str(out)]) == 0
    policy = load_policy(out)
    assert [(r.kind.value, r.value) for r in policy.rules] == [("authenticode_sha256", A1)]
    err = capsys.readouterr().err
    assert "ProcessDenied x2" in err and "1 rule(s) written" in err
