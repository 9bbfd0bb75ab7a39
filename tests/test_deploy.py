"""``exewhitelist deploy``: the .reg file carries exactly the blob, and refuses a bad one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.deploy import registry_key
from exewhitelist.errors import DeployError, ExewhitelistError
from exewhitelist.policy import Action, Mode, Policy, RuleKind
from exewhitelist.policyfile import save_policy
from exewhitelist.rules import CertificateId, Publisher, hash_rule, make_rule


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exewhitelist", *args], capture_output=True, text=True, check=False
    )


def parse_reg(data: bytes) -> tuple[str, str, bytes]:
    """(key, value name, REG_BINARY bytes), read the way regedit reads version 5.00 files."""
    assert data.startswith(b"\xff\xfe"), "regedit 5.00 files are UTF-16LE with a BOM"
    text = data[2:].decode("utf-16-le")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[0] == "Windows Registry Editor Version 5.00"
    assert all(len(line) <= 80 for line in lines)
    key = next(line[1:-1] for line in lines if line.startswith("["))
    body = "".join(line.strip().rstrip("\\") for line in lines if not line.startswith(("[", "W")))
    name, _, value = body.partition("=hex:")
    return key, name.strip('"'), bytes(int(b, 16) for b in value.split(",") if b)


def test_reg_file_holds_the_blob(tmp_path: Path) -> None:
    policy = Policy(
        "deploy",
        9,
        Mode.AUDIT,
        (
            hash_rule(RuleKind.AUTHENTICODE_SHA256, "ab" * 32),
            make_rule("tools", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\Tools\\*"),
        ),
    )
    blob = tmp_path / "rules.bin"
    blob.write_bytes(compile_policy(policy))
    out = tmp_path / "policy.reg"
    proc = run("deploy", str(blob), "--reg-file", str(out), "--service", "ewl-test")
    assert proc.returncode == 0, proc.stderr
    key, name, value = parse_reg(out.read_bytes())
    assert key == "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\ewl-test\\Parameters"
    assert name == "Policy"
    assert value == blob.read_bytes()
    assert read_blob(value).to_policy().name == "deploy"


def test_invalid_blob_or_service_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "rules.bin"
    good = compile_policy(Policy("x", 1))
    blob.write_bytes(good[:-8])
    out = tmp_path / "policy.reg"
    proc = run("deploy", str(blob), "--reg-file", str(out))
    assert proc.returncode == 2 and "SIZE_MISMATCH" in proc.stderr and not out.exists()
    blob.write_bytes(good)
    proc = run("deploy", str(blob), "--reg-file", str(out), "--service", "a\\b")
    assert proc.returncode == 2 and "service name" in proc.stderr and not out.exists()


def test_bad_service_name_is_a_deploy_error() -> None:
    with pytest.raises(DeployError, match="not a service name") as info:
        registry_key("a\\b")
    assert isinstance(info.value, ExewhitelistError) and isinstance(info.value, ValueError)


def test_a_policy_with_publisher_rules_compiles_and_deploys(tmp_path: Path) -> None:
    """The driver verifies signers itself (docs/driver.md, "Signers"): no warning, no
    refusal (both were there while it could not)."""
    publisher = Publisher(CertificateId("sha256", "cd" * 32), common_name="Contoso")
    signed = make_rule("contoso", Action.ALLOW, RuleKind.PUBLISHER, publisher)
    apps = make_rule("apps", Action.ALLOW, RuleKind.PATH, "%PROGRAMFILES%\\Contoso\\*")
    source = tmp_path / "p.toml"
    save_policy(Policy("signers", 1, Mode.AUDIT, (apps, signed)), source)
    blob, out = tmp_path / "p.bin", tmp_path / "p.reg"
    proc = run("compile", str(source), "-o", str(blob))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert read_blob(blob.read_bytes()).needs_signers
    proc = run("deploy", str(blob), "--reg-file", str(out))
    assert proc.returncode == 0 and proc.stderr == "" and out.exists(), proc.stderr
