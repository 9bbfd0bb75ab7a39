"""Events -> rules, from event XML built from the documented fields (interop.md §5)."""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_samples import applocker_event, ci_event

from exewhitelist.cli import main
from exewhitelist.errors import InteropError
from exewhitelist.interop.events import EVTX_MAGIC, rules_from_events
from exewhitelist.policyfile import load_policy, save_policy
from exewhitelist.rules import Action, AuthenticodeRule, FileHashRule

A1 = "5b321ef9c9b4229ffbf4ffdb906e1c1f7e83f8dd15b61b64b0f06273330ebce9"
A2 = "eb9bf3da" + "1" * 52 + "1a74"
F1 = "98ea6e4f" + "2" * 52 + "7be4"


def _log(tmp_path: Path, events: list[str], name: str = "ci.xml", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes("\r\n".join(events).encode(encoding))
    return path


def test_events_become_one_rule_per_program(tmp_path: Path) -> None:
    tool = "\\Device\\HarddiskVolume3\\Tools\\tool.exe"
    ci = _log(
        tmp_path,
        [
            ci_event(3076, tool, A1, F1),
            ci_event(3076, tool, A1, F1),
            ci_event(3077, "\\Device\\HarddiskVolume3\\Tools\\copy\\tool.exe", A1),
            ci_event(3076, "\\Device\\HarddiskVolume3\\x.ps1", "", F1),
            ci_event(3089, tool),
        ],
    )
    al = _log(
        tmp_path,
        [
            applocker_event(8003, "%OSDRIVE%\\USERS\\PUBLIC\\TEST8003.EXE", "0x" + A2.upper()),
            applocker_event(8004, "%OSDRIVE%\\USERS\\PUBLIC\\B.EXE", ""),
            applocker_event(8003, "%SYSTEM32%\\X.DLL", A1, policy="DLL"),
            applocker_event(8002, "%WINDIR%\\A.EXE", A1),
        ],
        "al.xml",
        "utf-16",
    )
    result = rules_from_events([ci, al])
    assert result.event_counts == {"3076": 3, "3077": 1, "3089": 1, "8003": 2, "8004": 1, "8002": 1}
    policy = result.policy
    assert policy is not None
    got = sorted((type(r).__name__, r.value, r.name) for r in policy.rules)
    assert got == sorted(
        [
            ("AuthenticodeRule", A1, "tool.exe"),
            ("AuthenticodeRule", A2, "TEST8003.EXE"),
            ("FileHashRule", F1, "x.ps1"),
        ]
    )
    assert all(r.action is Action.ALLOW for r in policy.rules)
    tool_rule = next(r for r in policy.rules if r.value == A1)
    assert "3076 x2, 3077 x1" in tool_rule.comment and "copy" in tool_rule.comment
    reasons = "\n".join(str(f) for f in result.findings)
    assert "no SHA-256 in the event" in reasons and "B.EXE" in reasons
    assert "only EXE events" in reasons
    assert "al.xml: line" in reasons


def test_cli_from_events_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _log(tmp_path, [ci_event(3077, "C:\\a.exe", A1), ci_event(3077, "C:\\b.exe", A2)])
    base = tmp_path / "base.toml"
    from exewhitelist.policy import Policy

    save_policy(
        Policy(
            "base", 4, rules=(AuthenticodeRule(Action.DENY, A2), FileHashRule(Action.ALLOW, F1))
        ),
        base,
    )
    out = tmp_path / "out.toml"
    assert main(["policy", "from-events", str(log), "--merge", str(base), "-o", str(out)]) == 0
    merged = load_policy(out)
    assert merged.name == "base" and merged.version == 4
    assert sorted((r.value, r.action.value) for r in merged.rules) == sorted(
        [(A1, "allow"), (A2, "deny"), (F1, "allow")]
    )
    err = capsys.readouterr().err
    assert "denied by" in err and "2 event(s) read (3077 x2)" in err


def test_hostile_event_files(tmp_path: Path) -> None:
    path = tmp_path / "e.xml"
    path.write_text('<!DOCTYPE x [<!ENTITY a "b">]><Event>&a;</Event>')
    with pytest.raises(InteropError, match=r"refused|not XML"):  # a DTD cannot be inside the root
        rules_from_events([path])
    path.write_text(ci_event(3076, "C:\\a.exe", A1)[:-20])
    with pytest.raises(InteropError, match="not XML"):
        rules_from_events([path])
    path.write_bytes(b"\xff\xfe<\x00E\x00\x00\xd8")
    with pytest.raises(InteropError):
        rules_from_events([path])
    assert main(["policy", "from-events", str(path), "-o", str(tmp_path / "o.toml")]) == 2
    assert not (tmp_path / "o.toml").exists()


class _FakeParser:
    """What ``evtx.PyEvtxParser(f, skip_errors=True).records()`` yields (checked by hand
    against the real package on omerbenamram/evtx's samples, see docs/interop.md §5)."""

    def __init__(self, f: object, skip_errors: bool = False) -> None:
        assert skip_errors

    def records(self) -> Iterator[dict[str, object]]:
        yield {
            "event_record_id": 1,
            "data": '<?xml version="1.0" encoding="utf-8"?>\n' + ci_event(3077, "C:\\a.exe", A1),
        }
        warnings.warn(
            "Skipping EVTX data: RuntimeError: Failed to parse chunk number 6",
            RuntimeWarning,
            stacklevel=1,
        )
        yield {"event_record_id": 55, "data": "<Event><System>"}
        yield {"event_record_id": 56, "data": ci_event(3076, "C:\\b.exe", A2)}


def test_evtx_through_the_evtx_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "ci.evtx"
    log.write_bytes(EVTX_MAGIC + bytes(4088))
    monkeypatch.setitem(sys.modules, "evtx", types.SimpleNamespace(PyEvtxParser=_FakeParser))
    result = rules_from_events([log])
    assert result.policy is not None
    assert sorted(r.value for r in result.policy.rules) == sorted([A1, A2])
    assert result.event_counts == {"3077": 1, "3076": 1}
    reasons = "\n".join(str(f) for f in result.findings)
    assert "unreadable part skipped" in reasons and "chunk number 6" in reasons
    assert "record 55: unmapped: record: not XML" in reasons


def test_evtx_without_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "ci.evtx"
    log.write_bytes(EVTX_MAGIC + bytes(4088))
    monkeypatch.setitem(sys.modules, "evtx", None)
    with pytest.raises(InteropError, match=r"exewhitelist\[evtx\].*wevtutil qe"):
        rules_from_events([log])
