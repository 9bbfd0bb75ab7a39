"""``exewhitelist policy ...`` end to end, as a subprocess: output and exit codes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist.policy import Action, Mode, Policy, Rule, RuleKind
from exewhitelist.policyfile import dumps_toml, load_policy, loads_json, loads_toml, save_policy
from exewhitelist.rules import hash_rule, make_rule

A, B = "a" * 64, "b" * 64


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args],
        capture_output=True,
        text=True,
        check=False,
        input=stdin,
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


VALID = f"""[policy]
name = "Build agents"
version = 3
mode = "audit"

[[rule]]
action = "allow"
file_sha256 = "{A}"

[[rule]]
id = "tools"
action = "allow"
path = "%PROGRAMFILES%\\\\Tools\\\\*"
"""

# --- validate ---------------------------------------------------------------------


def test_validate_valid(tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.toml", VALID)
    proc = run("policy", "validate", str(path))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"{path}: valid: 2 rule(s), mode audit, 0 warning(s)\n"


def test_validate_warnings_exit_0(tmp_path: Path) -> None:
    text = VALID + '\n[[rule]]\nid = "all"\naction = "deny"\npath = "*"\n'
    path = _write(tmp_path / "warn.toml", text)
    proc = run("policy", "validate", str(path))
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        f"{path}: line 10, rule 2, id 'tools': warning: never applies: "
        "rule 3 (id 'all') denies every path it matches",
        f"{path}: valid: 3 rule(s), mode audit, 1 warning(s)",
    ]


def test_validate_errors_exit_1(tmp_path: Path) -> None:
    text = (
        VALID.replace('"audit"', '"strict"') + f'\n[[rule]]\naction = "deny"\nfile_sha256 = "{A}"\n'
    )
    path = _write(tmp_path / "bad.toml", text)
    proc = run("policy", "validate", str(path))
    assert (proc.returncode, proc.stderr) == (1, "")
    assert proc.stdout.splitlines() == [
        f"{path}: policy: error: policy mode must be 'enforce' or 'audit': 'strict'",
        f"{path}: line 15, rule 3, id 'file_sha256:{A}': error: rule 1 allows the same "
        "file_sha256: a hash is either allowed or denied",
        f"{path}: invalid: 2 error(s), 0 warning(s)",
    ]


def test_validate_json_output(tmp_path: Path) -> None:
    text = VALID.replace('id = "tools"\n', "")
    path = _write(tmp_path / "bad.toml", text)
    proc = run("policy", "validate", "--json", str(path))
    assert proc.returncode == 1
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [
        {
            "file": str(path),
            "line": 10,
            "rule_index": 2,
            "rule_id": None,
            "severity": "error",
            "message": "a path rule needs an id (only hash rules have a default)",
        }
    ]


def test_validate_json_file_syntax_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.json", '{"policy": ')
    proc = run("policy", "validate", str(path))
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{path}: policy: error: invalid JSON: Expecting value")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing.toml", "{path}: No such file or directory"),
        ("policy.yaml", "{path}: unknown policy file extension '.yaml' (use .toml or .json)"),
    ],
)
def test_validate_unusable_input_exit_2(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    if name.endswith(".yaml"):
        path.write_text(VALID)
    proc = run("policy", "validate", str(path))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == f"exewhitelist: {reason.format(path=path)}\n"


# --- from-hashes ------------------------------------------------------------------


@pytest.fixture
def hash_output(sample_files: dict[str, Path], tmp_path: Path) -> tuple[str, list[Path]]:
    """Real ``hash --json`` output: two PE files, a text file, one unreadable path."""
    text = tmp_path / "readme.txt"
    text.write_text("not a program\n")
    files = [sample_files["mingw/hello64.exe"], sample_files["mingw/hello32-dual.exe"], text]
    proc = run("hash", "--json", *map(str, files), str(tmp_path / "gone.exe"))
    assert proc.returncode == 1  # the missing file
    return proc.stdout, files


def _digests(stdout: str) -> set[tuple[RuleKind, str]]:
    records = [json.loads(line) for line in stdout.splitlines()]
    return {
        (RuleKind.AUTHENTICODE_SHA256, r["authenticode_sha256"])
        if r["authenticode_sha256"]
        else (RuleKind.FILE_SHA256, r["sha256"])
        for r in records
        if "error" not in r
    }


def test_from_hashes_stdin_to_stdout(hash_output: tuple[str, list[Path]], tmp_path: Path) -> None:
    stdout, files = hash_output
    proc = run("policy", "from-hashes", "-", "--name", "Agents", "--version", "7", stdin=stdout)
    assert proc.returncode == 0
    assert proc.stderr == (
        f"exewhitelist: warning: no rule: {tmp_path / 'gone.exe'}: No such file or directory\n"
    )
    policy = loads_toml(proc.stdout)
    assert (policy.name, policy.version, policy.mode) == ("Agents", 7, Mode.ENFORCE)
    assert {(r.kind, r.value) for r in policy.rules} == _digests(stdout)
    # Named after their paths (here in unrelated folders: the whole path).
    assert {r.name for r in policy.rules} == {str(f) for f in files}
    text_rule = next(r for r in policy.rules if r.name == str(files[2]))
    assert text_rule.kind is RuleKind.FILE_SHA256
    assert text_rule.value == hashlib.sha256(files[2].read_bytes()).hexdigest()


def test_from_hashes_file_to_json(hash_output: tuple[str, list[Path]], tmp_path: Path) -> None:
    stdout, _ = hash_output
    hashes = _write(tmp_path / "agents.jsonl", stdout)
    out = tmp_path / "agents.json"
    proc = run("policy", "from-hashes", str(hashes), "-o", str(out), "--mode", "audit")
    assert (proc.returncode, proc.stdout) == (0, "")
    policy = loads_json(out.read_text(encoding="utf-8"))
    assert (policy.name, policy.version, policy.mode) == ("agents", 1, Mode.AUDIT)
    assert {(r.kind, r.value) for r in policy.rules} == _digests(stdout)


def test_from_hashes_format_overrides_extension(
    hash_output: tuple[str, list[Path]], tmp_path: Path
) -> None:
    out = tmp_path / "policy.txt"
    proc = run(
        "policy", "from-hashes", "-", "--format", "json", "-o", str(out), stdin=hash_output[0]
    )
    assert proc.returncode == 0
    assert json.loads(out.read_text(encoding="utf-8"))["policy"]["name"] == "stdin"
    stdout_json = run("policy", "from-hashes", "-", "--format", "json", stdin=hash_output[0])
    assert loads_json(stdout_json.stdout) == loads_json(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("stdin", "reason"),
    [
        ('{"path": "x"\n', "stdin: line 1: not JSON: Expecting ',' delimiter"),
        ("\n[1]\n", "stdin: line 2: not a JSON object"),
        ('{"path": "x"}\n', "hash record 1: not a record of 'exewhitelist hash --json'"),
    ],
)
def test_from_hashes_bad_input_exit_2(stdin: str, reason: str) -> None:
    proc = run("policy", "from-hashes", "-", stdin=stdin)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(f"exewhitelist: {reason}")
    assert proc.stderr.count("\n") == 1


def test_from_hashes_bad_output_extension(
    hash_output: tuple[str, list[Path]], tmp_path: Path
) -> None:
    proc = run("policy", "from-hashes", "-", "-o", str(tmp_path / "p.yml"), stdin=hash_output[0])
    assert proc.returncode == 2
    assert "unknown policy file extension '.yml'" in proc.stderr


# --- merge ------------------------------------------------------------------------


def _save(path: Path, *rules: Rule, name: str = "p", version: int = 1) -> Path:
    save_policy(Policy(name, version, Mode.ENFORCE, rules), path)
    return path


def test_merge(tmp_path: Path) -> None:
    one = _save(tmp_path / "one.toml", hash_rule(RuleKind.FILE_SHA256, A), name="one")
    two = _save(
        tmp_path / "two.json",
        hash_rule(RuleKind.FILE_SHA256, A, id="same-hash"),
        make_rule("t", Action.DENY, RuleKind.PATH, "C:\\Temp\\*"),
        name="two",
        version=5,
    )
    out = tmp_path / "merged.toml"
    proc = run("policy", "merge", str(one), str(two), "-o", str(out))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    merged = load_policy(out)
    assert (merged.name, merged.version) == ("one", 5)
    assert [r.id for r in merged.rules] == [f"file_sha256:{A}", "t"]

    proc = run("policy", "merge", str(one), str(two), "--name", "all", "--version", "9")
    assert proc.returncode == 0
    named = loads_toml(proc.stdout)
    assert (named.name, named.version, named.rules) == ("all", 9, merged.rules)


def test_merge_one_policy_converts_it(tmp_path: Path) -> None:
    source = _write(tmp_path / "p.toml", VALID)
    out = tmp_path / "p.json"
    assert run("policy", "merge", str(source), "-o", str(out)).returncode == 0
    assert load_policy(out) == load_policy(source)


def test_merge_conflict_exit_2(tmp_path: Path) -> None:
    one = _save(tmp_path / "one.toml", make_rule("x", Action.ALLOW, RuleKind.PATH, "C:\\a"))
    two = _save(tmp_path / "two.toml", make_rule("x", Action.ALLOW, RuleKind.PATH, "C:\\b"))
    out = tmp_path / "merged.toml"
    proc = run("policy", "merge", str(one), str(two), "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr == (
        "exewhitelist: rule id 'x' means different rules: allow path C:\\a in policy 1, "
        "allow path C:\\b in policy 2\n"
    )
    assert not out.exists()


def test_merge_invalid_input_exit_2(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.toml", VALID)
    bad = _write(tmp_path / "bad.toml", VALID.replace("version = 3", "version = -3"))
    proc = run("policy", "merge", str(good), str(bad))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"exewhitelist: {bad}: policy: error: policy version must be an integer in "
        "0..4294967295: -3\n"
    )


# --- diff -------------------------------------------------------------------------


def test_diff_identical_exit_0(tmp_path: Path) -> None:
    toml = _write(tmp_path / "p.toml", VALID)
    as_json = tmp_path / "p.json"
    save_policy(load_policy(toml), as_json)
    proc = run("policy", "diff", str(toml), str(as_json))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_diff_different_exit_1(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.toml", VALID)
    new_text = VALID.replace("version = 3", "version = 4").replace("Tools", "Tools2")
    new_text += f'\n[[rule]]\naction = "deny"\nfile_sha256 = "{B}"\nname = "bad.exe"\n'
    new = _write(
        tmp_path / "new.toml",
        new_text.replace(f'file_sha256 = "{A}"\n', "path = 'C:\\x'\nid='x'\n"),
    )
    proc = run("policy", "diff", str(old), str(new))
    assert (proc.returncode, proc.stderr) == (1, "")
    assert proc.stdout.splitlines() == [
        "~ policy version: 3 -> 4",
        f"- file_sha256:{A}: allow",
        f"+ file_sha256:{B}: deny  (bad.exe)",
        "+ x: allow path C:\\x",
        "~ tools: path '%PROGRAMFILES%\\\\Tools\\\\*' -> '%PROGRAMFILES%\\\\Tools2\\\\*'",
    ]
    as_json = run("policy", "diff", "--json", str(old), str(new))
    assert as_json.returncode == 1
    record = json.loads(as_json.stdout)
    assert record["identical"] is False
    assert [r["id"] for r in record["added"]] == [f"file_sha256:{B}", "x"]
    assert record["changed"][0]["new"]["path"] == "%PROGRAMFILES%\\Tools2\\*"


def test_diff_bad_file_exit_2(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.toml", VALID)
    bad = _write(tmp_path / "bad.toml", "[policy\n")
    proc = run("policy", "diff", str(good), str(bad))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(f"exewhitelist: {bad}: policy: error: invalid TOML: ")
    assert proc.stderr.count("\n") == 1
    missing = run("policy", "diff", str(tmp_path / "nope.json"), str(good))
    assert missing.returncode == 2
    assert missing.stderr == f"exewhitelist: {tmp_path / 'nope.json'}: No such file or directory\n"


def test_policy_needs_a_subcommand() -> None:
    proc = run("policy")
    assert proc.returncode == 2
    assert "SUBCOMMAND" in proc.stderr


def test_written_policy_is_what_dumps_gives(tmp_path: Path) -> None:
    """The CLI writes exactly the canonical text (LF newlines, UTF-8) on every platform."""
    source = _write(tmp_path / "p.toml", VALID.replace("Build agents", "Büild ägents Ω"))
    out = tmp_path / "out.toml"
    assert run("policy", "merge", str(source), "-o", str(out)).returncode == 0
    assert out.read_bytes() == dumps_toml(load_policy(source)).encode("utf-8")
