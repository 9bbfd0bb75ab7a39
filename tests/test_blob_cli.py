"""``compile``, ``inspect`` and ``check`` end to end, on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist import hash_file
from exewhitelist.blob import read_blob
from exewhitelist.blob._format import Status
from exewhitelist.rules import make_rule
from exewhitelist.staging import REASON_TEXTS, Reason


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def policy_file(tmp_path: Path, sample_files: dict[str, Path]) -> Path:
    signed = hash_file(sample_files["mingw/hello64-signed.exe"])
    text_file = tmp_path / "notes.txt"
    text_file.write_text("notes\n")
    path = tmp_path / "p.toml"
    path.write_text(
        f"""[policy]
name = "real files"
version = 5
mode = "enforce"

[[rule]]
action = "allow"
authenticode_sha256 = "{signed.authenticode_sha256}"
name = "hello64 (signed)"

[[rule]]
id = "notes"
action = "allow"
file_sha256 = "{hash_file(text_file).sha256}"

[[rule]]
id = "tools"
action = "allow"
path = '%PROGRAMFILES%\\Tools\\*'

[[rule]]
id = "no-temp"
action = "deny"
path = '*\\Temp\\*'
"""
    )
    return path


def test_compile_inspect_check(
    tmp_path: Path, policy_file: Path, sample_files: dict[str, Path]
) -> None:
    blob_path = tmp_path / "rules.bin"
    proc = run("compile", "--allow-unbootable", str(policy_file), "-o", str(blob_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""
    again = tmp_path / "again.bin"
    assert run("compile", "--allow-unbootable", str(policy_file), "-o", str(again)).returncode == 0
    assert again.read_bytes() == blob_path.read_bytes()

    info = json.loads(run("inspect", "--json", str(blob_path)).stdout)
    assert (info["name"], info["policy_version"], info["mode"]) == ("real files", 5, "enforce")
    assert {r["id"] for r in info["rules"]} >= {"notes", "tools", "no-temp"}
    human = run("inspect", str(blob_path)).stdout
    assert "policy 'real files' version 5, mode enforce" in human

    signed = sample_files["mingw/hello64-signed.exe"]
    # The Authenticode digest ignores the signature: the unsigned build is allowed too.
    assert (
        json.loads(
            run("check", "--json", str(blob_path), str(sample_files["mingw/hello64.exe"])).stdout
        )["decision"]
        == "allow"
    )
    unsigned = sample_files["mingw/hello32.exe"]
    notes = tmp_path / "notes.txt"
    proc = run("check", "--json", str(blob_path), str(signed), str(notes))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["decision"] == "allow" and first["decided_by"] == "authenticode_sha256"
    assert first["rule"].startswith("authenticode_sha256:") and first["enforced"] is True
    assert (second["decision"], second["rule"]) == ("allow", "notes")

    proc = run("check", "--json", str(blob_path), str(unsigned))
    assert proc.returncode == 1
    record = json.loads(proc.stdout)
    assert (record["decision"], record["rule"]) == ("deny", None)

    # Path rules: by the Windows path given with --as; deny beats the allow by hash.
    proc = run(
        "check", "--json", str(blob_path), str(unsigned), "--as", "C:\\Program Files\\Tools\\"
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["rule"] == "tools"
    proc = run("check", "--json", str(blob_path), str(signed), "--as", "C:\\Temp\\hello.exe")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["rule"] == "no-temp"
    proc = run(
        "check",
        str(blob_path),
        str(unsigned),
        "--as",
        "D:\\Apps\\Tools\\a.exe",
        "--var",
        "PROGRAMFILES=D:\\Apps",
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ALLOW")


def test_audit_mode_reports_but_exit_code_still_says_denied(
    tmp_path: Path, policy_file: Path, sample_files: dict[str, Path]
) -> None:
    audit = tmp_path / "audit.toml"
    audit.write_text(policy_file.read_text().replace('mode = "enforce"', 'mode = "audit"'))
    blob_path = tmp_path / "audit.bin"
    assert run("compile", "--allow-unbootable", str(audit), "-o", str(blob_path)).returncode == 0
    proc = run("check", "--json", str(blob_path), str(sample_files["mingw/hello32.exe"]))
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["enforced"] is False
    assert run("check", str(blob_path), str(sample_files["mingw/hello32.exe"])).stdout.startswith(
        "DENY (audit)"
    )


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path, policy_file: Path) -> None:
    bad_policy = tmp_path / "bad.toml"
    bad_policy.write_text(
        '[policy]\nname = "x"\nversion = 1\n\n'
        '[[rule]]\naction = "allow"\npath = "relative.exe"\nid = "r"\n'
    )
    proc = run("compile", "--allow-unbootable", str(bad_policy), "-o", str(tmp_path / "x.bin"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert not (tmp_path / "x.bin").exists()

    blob_path = tmp_path / "rules.bin"
    assert (
        run("compile", "--allow-unbootable", str(policy_file), "-o", str(blob_path)).returncode == 0
    )
    damaged = bytearray(blob_path.read_bytes())
    damaged[100] ^= 1
    broken = tmp_path / "broken.bin"
    broken.write_bytes(bytes(damaged))
    for command in (("inspect", str(broken)), ("check", str(broken), str(policy_file))):
        proc = run(*command)
        assert proc.returncode == 2
        assert f"CHECKSUM ({int(Status.CHECKSUM)})" in proc.stderr and proc.stderr.count("\n") == 1

    proc = run("check", str(blob_path), str(tmp_path / "missing.exe"))
    assert proc.returncode == 2
    proc = run("check", str(blob_path), str(policy_file), str(policy_file), "--as", "C:\\one.exe")
    assert proc.returncode == 2 and "folder" in proc.stderr
    proc = run("check", str(blob_path), str(policy_file), "--var", "NOPE=x")
    assert proc.returncode == 2


def test_compile_to_stdout(tmp_path: Path, policy_file: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "exewhitelist",
            "compile",
            "--allow-unbootable",
            str(policy_file),
            "-o",
            "-",
        ],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0
    assert read_blob(proc.stdout).name == "real files"


def test_inspect_shows_a_pattern_no_policy_can_hold(tmp_path: Path) -> None:
    """Readers do not check what only writers must (docs/blob-format.md §7): a
    valid blob with a pattern the policy model refuses is inspected as stored,
    and decompiling it says why it cannot be a policy."""
    from exewhitelist.blob import compile_policy
    from exewhitelist.blob.compile import set_checksum
    from exewhitelist.errors import BlobError, BlobFormatError
    from exewhitelist.policy import Action, Mode, Policy, RuleKind

    rule = make_rule("apps", Action.ALLOW, RuleKind.PATH, "C:\\Apps\\*")
    blob = bytearray(compile_policy(Policy("odd", 1, Mode.ENFORCE, (rule,))))
    at = blob.index("C:\\APPS\\*".encode("utf-16-le"))
    blob[at : at + 4] = "QQ".encode("utf-16-le")  # "QQ\APPS\*": not a full path
    set_checksum(blob)
    reader = read_blob(bytes(blob))
    assert reader.decide(path="QQ\\APPS\\x.exe").rule_id == "apps"
    with pytest.raises(BlobError, match=r"cannot be decompiled.*not a full path") as e:
        reader.to_policy()
    assert not isinstance(e.value, BlobFormatError)
    path = tmp_path / "odd.bin"
    path.write_bytes(bytes(blob))
    proc = run("inspect", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    rules = json.loads(proc.stdout)["rules"]
    assert rules == [{"id": "apps", "action": "allow", "kind": "path", "value": "QQ\\APPS\\*"}]


def test_compile_reports_warnings_on_stderr(tmp_path: Path) -> None:
    """Warnings do not stop the compile; each is a line on stderr, as validate says it."""
    for suffix, text in (
        (
            ".toml",
            '[policy]\nname = "p"\nversion = 1\n\n[[rule]]\nid = "windir"\n'
            "action = \"allow\"\npath = '%WINDIR%\\*'\n",
        ),
        (
            ".json",
            '{"policy": {"name": "p", "version": 1}, "rule": [{"id": "windir", '
            '"action": "allow", "path": "%WINDIR%\\\\*"}]}',
        ),
    ):
        policy = tmp_path / f"p{suffix}"
        policy.write_text(text, encoding="utf-8")
        proc = run("compile", "--allow-unbootable", str(policy), "-o", str(tmp_path / "p.bin"))
        assert proc.returncode == 0, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith(f"{policy}: ") and "id 'windir': warning: allows programs" in line
        validate = run("policy", "validate", str(policy))
        assert line.removeprefix(f"{policy}: ") in validate.stdout


def test_check_decides_as_the_driver_stage_by_stage(
    tmp_path: Path, sample_files: dict[str, Path]
) -> None:
    """The driver's order and its answers when it cannot get the path or the digests."""
    hello32 = sample_files["mingw/hello32.exe"]
    hello64 = sample_files["mingw/hello64.exe"]
    policy = tmp_path / "staged.toml"
    policy.write_text(
        f"""[policy]
name = "staged"
version = 1
mode = "enforce"

[[rule]]
id = "windows"
action = "allow"
path = '%WINDIR%\\*'

[[rule]]
id = "no-temp"
action = "deny"
path = '*\\Temp\\*'

[[rule]]
id = "no-hello32"
action = "deny"
authenticode_sha256 = "{hash_file(hello32).authenticode_sha256}"

[[rule]]
id = "hello64"
action = "allow"
authenticode_sha256 = "{hash_file(hello64).authenticode_sha256}"
"""
    )
    blob = tmp_path / "staged.bin"
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(blob)).returncode == 0

    def check(file: Path, *flags: str) -> tuple[int, dict[str, object]]:
        proc = run("check", "--json", str(blob), str(file), *flags)
        return proc.returncode, json.loads(proc.stdout)

    # An allow path rule cannot override a deny hash rule: the digests decide.
    rc, record = check(hello32, "--as", "C:\\Windows\\hello32.exe")
    assert (rc, record["rule"], record["reason"]) == (1, "no-hello32", "rule")
    # ...and without the digests (a locked file, a failed read) it is denied.
    rc, record = check(hello32, "--as", "C:\\Windows\\hello32.exe", "--no-hash")
    assert (rc, record["decision"], record["rule"], record["reason"]) == (
        1,
        "deny",
        None,
        "no_hash",
    )
    rc, record = check(hello64, "--as", "C:\\Windows\\hello64.exe", "--no-hash")
    assert (rc, record["reason"]) == (1, "no_hash")
    # A deny path rule decides before any digest is read, and is the one named.
    rc, record = check(hello32, "--as", "C:\\Temp\\hello32.exe")
    assert (rc, record["rule"], record["decided_by"]) == (1, "no-temp", "path")
    # Allowed by its digest, but with no path the deny path rules cannot be checked.
    rc, record = check(hello64, "--no-path")
    assert (rc, record["decision"], record["reason"]) == (1, "deny", "no_path")
    rc, record = check(hello64, "--as", "C:\\Apps\\hello64.exe")
    assert (rc, record["rule"], record["path_checked"]) == (0, "hello64", True)
    # No Windows path given: the digests decide alone, and stderr says so.
    proc = run("check", "--json", str(blob), str(hello64))
    record = json.loads(proc.stdout)
    assert (proc.returncode, record["rule"], record["path_checked"]) == (0, "hello64", False)
    assert "path rules not checked" in proc.stderr
    human = run("check", str(blob), str(hello64), "--no-path").stdout
    assert human.startswith("DENY") and REASON_TEXTS[Reason.NO_PATH] in human
    proc = run("check", str(blob), str(hello64), "--no-path", "--as", "C:\\x.exe")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


@pytest.fixture
def windows_blob(tmp_path: Path) -> Path:
    """Allows ``%SYSTEM32%\\*`` and ``%PROGRAMFILES%\\*``; denies ``%OSDRIVE%\\Temp\\*``."""
    policy = tmp_path / "windows.toml"
    policy.write_text(
        """[policy]
name = "windows"
version = 1
mode = "enforce"

[[rule]]
id = "system32"
action = "allow"
path = '%SYSTEM32%\\*'

[[rule]]
id = "programs"
action = "allow"
path = '%PROGRAMFILES%\\*'

[[rule]]
id = "no-temp"
action = "deny"
path = '%OSDRIVE%\\Temp\\*'
"""
    )
    blob = tmp_path / "windows.bin"
    assert run("compile", "--allow-unbootable", str(policy), "-o", str(blob)).returncode == 0
    return blob


@pytest.mark.parametrize(
    ("windows_path", "rule"),
    [
        ("D:\\WINNT\\System32\\mshta.exe", "system32"),
        ("C:\\Windows\\System32\\mshta.exe", None),
        ("D:\\Program Files\\App\\app.exe", "programs"),
    ],
)
def test_var_windir_derives_system32_and_osdrive(
    windows_blob: Path, sample_files: dict[str, Path], windows_path: str, rule: str | None
) -> None:
    """Issue 18: ``--var WINDIR=D:\\WINNT`` left %SYSTEM32% and %OSDRIVE% on C:; the driver
    derives them (and, without the registry's values, %PROGRAMFILES%) from the Windows folder."""
    exe = sample_files["mingw/hello64.exe"]
    proc = run(
        "check", "--json", str(windows_blob), str(exe), "--var", "WINDIR=D:\\WINNT",
        "--as", windows_path,
    )  # fmt: skip
    assert json.loads(proc.stdout)["rule"] == rule
    assert proc.returncode == (0 if rule else 1)


def test_var_given_wins_over_derived(windows_blob: Path, sample_files: dict[str, Path]) -> None:
    exe = sample_files["mingw/hello64.exe"]
    args = ["--var", "WINDIR=D:\\WINNT", "--var", "OSDRIVE=E:", "--as", "E:\\Temp\\x.exe"]
    proc = run("check", "--json", str(windows_blob), str(exe), *args)
    assert (proc.returncode, json.loads(proc.stdout)["rule"]) == (1, "no-temp")


def test_check_as_is_normalized_as_the_driver_names_the_file(
    windows_blob: Path, sample_files: dict[str, Path]
) -> None:
    """Issue 18: ``..`` let a Program Files rule allow a file the driver sees in System32."""
    exe = sample_files["mingw/hello64.exe"]
    sneaky = "C:\\Program Files\\..\\Temp\\mshta.exe"
    proc = run("check", "--json", str(windows_blob), str(exe), "--as", sneaky)
    record = json.loads(proc.stdout)
    assert (proc.returncode, record["rule"]) == (1, "no-temp")
    assert record["windows_path"] == "C:\\Temp\\mshta.exe"
    folder = run("check", "--json", str(windows_blob), str(exe), "--as", "C:\\Program Files\\.\\")
    assert json.loads(folder.stdout)["windows_path"] == "C:\\Program Files\\hello64.exe"


@pytest.mark.parametrize("windows_path", ["C:", "hello.exe", "C:\\Apps\\*.exe", "%WINDIR%\\x.exe"])
def test_check_as_is_validated_like_scan_as(
    windows_blob: Path, sample_files: dict[str, Path], windows_path: str
) -> None:
    exe = sample_files["mingw/hello64.exe"]
    proc = run("check", str(windows_blob), str(exe), "--as", windows_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"exewhitelist: --as {windows_path!r}: ")


def test_dash_is_stdin_or_stdout_or_refused(
    windows_blob: Path, sample_files: dict[str, Path], tmp_path: Path
) -> None:
    """Issue 18: ``-`` was a file named ``-`` for inspect, check and deploy --reg-file."""
    data = windows_blob.read_bytes()

    def piped(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "exewhitelist", *args]
        return subprocess.run(command, input=data, capture_output=True, check=False)

    inspected = piped("inspect", "--json", "-")
    assert inspected.returncode == 0 and json.loads(inspected.stdout)["name"] == "windows"
    exe = str(sample_files["mingw/hello64.exe"])
    checked = piped("check", "--json", "-", exe, "--as", "C:\\Windows\\System32\\a.exe")
    assert (checked.returncode, json.loads(checked.stdout)["rule"]) == (0, "system32")
    reg = piped("deploy", "-", "--reg-file", "-")
    assert reg.returncode == 0
    written = tmp_path / "p.reg"
    assert run("deploy", str(windows_blob), "--reg-file", str(written)).returncode == 0
    assert reg.stdout == written.read_bytes()
    assert not (Path.cwd() / "-").exists()
    for refused in (["hash", "-"], ["check", str(windows_blob), "-"], ["policy", "validate", "-"]):
        proc = run(*refused)
        assert proc.returncode == 2 and proc.stdout == ""
        assert "'-' is not read as stdin here" in proc.stderr
