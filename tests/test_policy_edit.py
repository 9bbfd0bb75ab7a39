"""``policy rule add|remove|set`` and ``policy set-mode``: edits in place, validated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist import hash_file
from exewhitelist.policy import Action, Mode, RuleKind
from exewhitelist.policyfile import load_policy

TEXT = """# The agents' policy: reviewed by Ops.
[policy]
name = "agents"
version = 3
mode = "enforce"  # blocks

[[rule]]
id = "tools"
action = "allow"
path = '%PROGRAMFILES%\\Tools\\*'

# Nothing from a temporary folder.
[[rule]]
id = "temp"
action = "deny"
path = '*\\Temp\\*'

[[rule]]
id = "last"
action = "allow"
path = 'C:\\Last\\*'
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "agents.toml"
    path.write_text(TEXT)
    return path


def test_edits_keep_order_comments_and_layout(policy: Path, sample_files: dict[str, Path]) -> None:
    digest = hash_file(sample_files["mingw/hello64.exe"]).authenticode_sha256
    assert digest is not None
    steps = [
        ["rule", "set", str(policy), "tools", "--path", "%PROGRAMFILES%\\Tools2\\*"],
        ["rule", "remove", str(policy), "last"],
        ["rule", "add", str(policy), "--authenticode-sha256", digest.upper(), "--name", "hello"],
        ["set-mode", str(policy), "audit"],
    ]
    for step in steps:
        proc = run("policy", *step)
        assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr
    assert policy.read_text() == (
        TEXT.replace("'%PROGRAMFILES%\\Tools\\*'", '"%PROGRAMFILES%\\\\Tools2\\\\*"')
        .replace('mode = "enforce"  # blocks', 'mode = "audit"  # blocks')
        .split('\n\n[[rule]]\nid = "last"')[0]
        + f'\n\n[[rule]]\naction = "allow"\nauthenticode_sha256 = "{digest}"\nname = "hello"\n'
    )
    loaded = load_policy(policy)
    assert loaded.mode is Mode.AUDIT
    assert {r.id for r in loaded.rules} == {"tools", "temp", f"authenticode_sha256:{digest}"}


def test_set_changes_only_the_fields_given(policy: Path) -> None:
    proc = run("policy", "rule", "set", str(policy), "temp", "--action", "allow", "--comment", "x")
    assert proc.returncode == 0, proc.stderr
    (temp,) = [r for r in load_policy(policy).rules if r.id == "temp"]
    assert (temp.action, temp.kind, temp.value, temp.comment) == (
        Action.ALLOW, RuleKind.PATH, "*\\Temp\\*", "x",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rule", "add", "{p}", "--id", "temp", "--path", "C:\\X\\*"], "duplicate id"),
        (["rule", "add", "{p}", "--path", "C:\\X\\*"], "a path rule needs an id"),
        (["rule", "add", "{p}", "--id", "x", "--path", "Temp\\*"], "not a full path"),
        (["rule", "add", "{p}", "--file-sha256", "abc"], "64 lowercase hex digits"),
        (["rule", "remove", "{p}", "nope"], "no rule with id 'nope'"),
        (["rule", "set", "{p}", "nope", "--name", "x"], "no rule with id 'nope'"),
        (["rule", "add", "{p}", "--id", "x", "--path", "C:\\X\\*", "--file-sha256", "a"], "one of"),
    ],
)
def test_invalid_edits_write_nothing(policy: Path, args: list[str], message: str) -> None:
    proc = run("policy", *(a.format(p=policy) for a in args))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert policy.read_text() == TEXT


def test_json_keeps_its_rule_order(tmp_path: Path, policy: Path) -> None:
    as_json = tmp_path / "agents.json"
    assert run("policy", "merge", str(policy), "-o", str(as_json)).returncode == 0
    doc = json.loads(as_json.read_text())
    doc["rule"].reverse()  # not the canonical order: the edit keeps it
    as_json.write_text(json.dumps(doc, indent=2) + "\n")
    assert (
        run("policy", "rule", "add", str(as_json), "--id", "a", "--path", "C:\\A\\*").returncode
        == 0
    )
    assert run("policy", "set-mode", str(as_json), "audit").returncode == 0
    edited = json.loads(as_json.read_text())
    assert [r["id"] for r in edited["rule"]] == [*(r["id"] for r in doc["rule"]), "a"]
    assert edited["policy"]["mode"] == "audit"
