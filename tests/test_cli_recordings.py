"""Every command's output, recorded: stdout and stderr byte for byte, the exit code, and the
files it writes, on representative inputs, compared with ``tests/vectors/cli/recordings.json``.

It guards refactorings of :mod:`exewhitelist.cli` (the result objects that print
themselves): a change of output is a change of the recording, seen in review.
The inputs are the pinned samples (PyPI wheels, Debian's signed shim: the same
bytes on every machine) and files the test writes; commands run in order in one
folder (the edits and the outputs of one are the inputs of the next) with
relative names, so the recording names no temporary folder. What a run cannot
repeat (a scan's inodes and times, its speed) is replaced by a placeholder.

After a deliberate change of output::

    EXEWHITELIST_RECORD_CLI=1 pytest tests/test_cli_recordings.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import samples

from exewhitelist.cli import build_parser

RECORDINGS = Path(__file__).parent / "vectors" / "cli" / "recordings.json"
_RECORD = os.environ.get("EXEWHITELIST_RECORD_CLI") == "1"

_POLICY = """\
[policy]
name = "tools"
version = 3
mode = "enforce"

[[rule]]
id = "windows"
action = "allow"
path = '%WINDIR%\\*'

[[rule]]
id = "tools"
action = "allow"
path = 'C:\\Tools\\*'
exceptions = [{ path = 'C:\\Tools\\Temp\\*' }]

[[rule]]
id = "temp"
action = "deny"
path = '*\\Temp\\*'

[[rule]]
id = "microsoft"
action = "allow"
publisher = { certificate = "sha256:CERT", pin = "issuer", common_name = "CN" }
""".replace("CERT", "c55ee44c6de86fa9ac3fc90f84ef0d4a6cad5aac6a112047c88b997e7547aed1").replace(
    "CN", "Microsoft Windows Software Compatibility Publisher"
)

_BAD_POLICY = """\
[policy]
name = "bad"
version = 1
mode = "enforce"

[[rule]]
id = "a"
action = "allow"
path = 'C:\\Tools\\*'

[[rule]]
id = "a"
action = "allow"
authenticode_sha256 = "zz"
"""

_SCRUB = (
    (re.compile(rb'"(mtime|mtime_ns|inode)": ("[^"]*"|\d+)'), rb'"\1": "*"'),
    (re.compile(rb"hashed in [0-9.]+ s \([0-9]+ MB/s\)"), rb"hashed in * s (* MB/s)"),
)


def _scrub(data: bytes) -> bytes:
    for pattern, replacement in _SCRUB:
        data = pattern.sub(replacement, data)
    return data


def _text(data: bytes) -> str:
    """Text as itself; bytes that are not UTF-8 (a blob on stdout) as hex."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + data.hex()


def _help_commands() -> list[list[str]]:
    """``--help`` of the top level and of every command and subcommand."""
    found: list[list[str]] = [[]]

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in getattr(parser, "_actions", []):
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    found.append(["scan", "diff"])
    return [[*command, "--help"] for command in found]


_SIGNED = "vc.dll"
_COMMANDS: list[list[str]] = [
    *_help_commands(),
    [],
    ["bogus"],
    ["hash", "app.exe", "vc.dll", "shim.efi", "readme.txt", "trunc.exe", "missing.exe"],
    ["hash", "--json", "app.exe", "vc.dll", "readme.txt", "trunc.exe", "missing.exe"],
    ["hash", "-"],
    ["signers", "vc.dll", "shim.efi", "app.exe", "missing.exe"],
    ["signers", "--json", "vc.dll", "app.exe"],
    ["scan", "image", "--as", "C:\\", "-o", "image.jsonl", "--jobs", "1"],
    ["scan", "image", "--jobs", "1", "--exclude", "nothing*"],
    ["scan", "image", "--as", "C:", "--jobs", "1"],
    ["policy", "new", "-o", "new.toml"],
    ["policy", "new", "--format", "json", "--mode", "enforce", "--name", "x"],
    ["policy", "from-hashes", "hashes.jsonl", "-o", "from-hashes.toml"],
    [
        "policy",
        "from-scan",
        "image.jsonl",
        "--path-rule-folder",
        "C:\\Windows",
        "--var",
        "WINDIR=C:\\Windows",
    ],
    [
        "policy",
        "from-scan",
        "image.jsonl",
        "--level",
        "publisher",
        "--fallback",
        "hash",
        "--format",
        "json",
    ],
    ["policy", "from-scan", "image.jsonl", "-o", "from-scan.toml"],
    ["policy", "validate", "policy.toml"],
    ["policy", "validate", "--json", "policy.toml"],
    ["policy", "validate", "bad.toml"],
    ["policy", "validate", "--json", "bad.toml"],
    ["policy", "validate", "policy.toml", "--image", "image.jsonl"],
    ["policy", "validate", "new.toml"],
    ["policy", "validate", "missing.toml"],
    ["compile", "policy.toml", "-o", "policy.bin"],
    ["compile", "policy.toml", "-o", "-"],
    ["compile", "bad.toml", "-o", "bad.bin"],
    ["compile", "from-scan.toml", "-o", "from-scan.bin", "--allow-unbootable"],
    ["compile", "from-scan.toml", "-o", "unbootable.bin"],
    ["inspect", "policy.bin"],
    ["inspect", "--json", "policy.bin"],
    ["inspect", "from-scan.bin"],
    ["inspect", "readme.txt"],
    ["inspect", "-"],
    ["deploy", "from-scan.bin", "--reg-file", "-"],
    ["deploy", "policy.bin", "--reg-file", "-"],
    ["check", "policy.toml", "app.exe", "vc.dll", "--as", "C:\\Tools\\"],
    ["check", "policy.toml", "app.exe", "vc.dll", "--as", "C:\\Tools\\Temp\\", "--json"],
    ["check", "policy.toml", "vc.dll", "readme.txt", "missing.exe", "trunc.exe"],
    ["check", "policy.toml", "vc.dll", "missing.exe", "--json"],
    ["check", "from-scan.bin", "app.exe", "shim.efi", "--as", "C:\\Windows\\"],
    ["check", "from-scan.bin", "app.exe", "--as", "C:\\Program Files\\..\\Windows\\a.exe"],
    ["check", "from-scan.bin", "app.exe", "--no-path", "--json"],
    ["check", "from-scan.bin", "app.exe", "--no-hash", "--as", "C:\\Users\\a.exe", "--json"],
    ["check", "from-scan.bin", "app.exe", "vc.dll", "--as", "C:\\x.exe"],
    [
        "check",
        "policy.toml",
        "app.exe",
        "--var",
        "WINDIR=D:\\WINNT",
        "--as",
        "D:\\WINNT\\System32\\a.exe",
        "--json",
    ],
    ["check", "new.toml", "app.exe", "--as", "C:\\Users\\u\\"],
    ["check", "from-scan.bin"],
    ["check", "from-scan.bin", "--scan", "image.jsonl"],
    ["check", "from-scan.bin", "--scan", "image.jsonl", "--json"],
    ["check", "policy.toml", "--scan", "image.jsonl"],
    ["check", "policy.toml", "--scan", "image.jsonl", "--json"],
    ["check", "new.toml", "--scan", "image-noas.jsonl"],
    ["check", "new.toml", "--scan", "image-noas.jsonl", "--json"],
    ["check", "policy.bin", "--scan", "broken.jsonl"],
    ["check", "policy.bin", "--scan", "broken.jsonl", "--json"],
    ["check", "policy.bin", "app.exe", "--scan", "image.jsonl"],
    ["policy", "diff", "policy.toml", "new.toml"],
    ["policy", "diff", "--json", "policy.toml", "new.toml"],
    ["policy", "diff", "policy.toml", "policy.toml"],
    ["policy", "merge", "policy.toml", "new.toml", "--name", "merged"],
    ["policy", "merge", "policy.toml", "bad.toml"],
    ["scan", "diff", "image.jsonl", "image2.jsonl"],
    ["scan", "diff", "--json", "image.jsonl", "image2.jsonl"],
    ["scan", "diff", "image.jsonl", "image.jsonl"],
    [
        "policy",
        "rule",
        "add",
        "edit.toml",
        "--id",
        "tmp",
        "--action",
        "deny",
        "--path",
        "C:\\Tmp\\*",
    ],
    ["policy", "rule", "add", "edit.toml", "--authenticode-sha256", "ab" * 32, "--name", "ab"],
    ["policy", "rule", "set", "edit.toml", "tools", "--comment", "the tools"],
    ["policy", "rule", "remove", "edit.toml", "temp"],
    ["policy", "rule", "remove", "edit.toml", "nothing"],
    ["policy", "set-mode", "edit.toml", "audit"],
    ["policy", "export", "policy.toml", "--format", "applocker"],
    ["policy", "export", "from-hashes.toml", "--format", "santa"],
    ["policy", "export", "policy.toml", "--format", "applocker", "--strict"],
    ["policy", "export", "policy.toml", "--format", "applocker", "-o", "applocker.xml"],
    ["policy", "export", "from-hashes.toml", "--format", "wdac", "-o", "wdac.xml"],
    ["policy", "import", "applocker.xml"],
    ["policy", "import", "wdac.xml", "--format", "wdac", "--strict", "-o", "imported.toml"],
    ["policy", "import", "readme.txt"],
    ["check", "-", "app.exe"],
    ["check", "policy.toml", "-"],
]
"""Each command, run in this order in the same folder."""


def _folder(tmp: Path) -> None:
    """The inputs: a launcher (unsigned), a Microsoft-signed DLL, Debian's shim (signed by
    Microsoft's UEFI CA), a text file, a truncated PE; an image of them."""
    found = samples()
    app = found["setuptools-win_amd64/cli-64.exe"]
    signed = found["msvc-runtime-win_amd64/vcruntime140.dll"]
    shim = found["shim-signed/shimx64.efi.signed"]
    shutil.copyfile(app, tmp / "app.exe")
    shutil.copyfile(signed, tmp / _SIGNED)
    shutil.copyfile(shim, tmp / "shim.efi")
    (tmp / "readme.txt").write_text("not a program\n")
    (tmp / "trunc.exe").write_bytes(app.read_bytes()[:700])
    (tmp / "policy.toml").write_text(_POLICY)
    (tmp / "edit.toml").write_text(_POLICY)
    (tmp / "bad.toml").write_text(_BAD_POLICY)
    image = tmp / "image"
    for folder, name, source in (
        ("Windows/System32", "vcruntime140.dll", signed),
        ("Windows/System32", "shim.efi", shim),
        ("Tools", "app.exe", app),
        ("Tools/Temp", "app.exe", app),
        ("Users/u/Desktop", "launcher.exe", app),
    ):
        (image / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, image / folder / name)
    os.link(image / "Tools" / "app.exe", image / "Users" / "u" / "Desktop" / "app-link.exe")
    (image / "Tools" / "notes.txt").write_text("not scanned\n")
    for path in image.rglob("*"):
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))


def _prepare_after(tmp: Path, argv: list[str]) -> None:
    """Inputs made from earlier commands' outputs."""
    if argv[:2] == ["scan", "image"] and "-o" in argv:
        records = (tmp / "image.jsonl").read_text().splitlines()
        (tmp / "image-noas.jsonl").write_text(
            "".join(
                json.dumps({k: v for k, v in json.loads(line).items() if k != "windows_path"})
                + "\n"
                for line in records
            )
        )
        changed = [json.loads(line) for line in records[1:]]
        changed[0]["sha256"] = "00" * 32
        changed.append({**changed[-1], "windows_path": "C:\\New\\new.exe", "paths": None})
        (tmp / "image2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in changed))
        keep = ("path", "sha256", "authenticode_sha256", "error")
        (tmp / "hashes.jsonl").write_text(
            "".join(json.dumps({k: r[k] for k in keep}) + "\n" for r in map(json.loads, records))
        )
        (tmp / "broken.jsonl").write_text(
            records[0] + "\n" + json.dumps({"path": "x", "error": "unreadable"}) + "\n"
        )


_STDIN: dict[tuple[str, ...], bytes] = {
    ("hash", "-"): b"",
    ("inspect", "-"): b"not a blob",
}


def _run(tmp: Path, argv: list[str]) -> dict[str, object]:
    before = {p: p.read_bytes() for p in tmp.iterdir() if p.is_file()}
    proc = subprocess.run(
        [sys.executable, "-m", "exewhitelist", *argv],
        cwd=tmp,
        input=_STDIN.get(tuple(argv), b""),
        capture_output=True,
        env={**os.environ, "COLUMNS": "100", "LC_ALL": "C.UTF-8"},
        check=False,
    )
    written = {
        p.name: _text(_scrub(p.read_bytes()))
        for p in sorted(tmp.iterdir())
        if p.is_file() and before.get(p) != p.read_bytes()
    }
    return {
        "argv": argv,
        "rc": proc.returncode,
        "stdout": _text(_scrub(proc.stdout)),
        "stderr": _text(_scrub(proc.stderr)),
        "written": written,
    }


def test_every_command_output_as_recorded(tmp_path: Path) -> None:
    _folder(tmp_path)
    got = []
    for argv in _COMMANDS:
        got.append(_run(tmp_path, argv))
        _prepare_after(tmp_path, argv)
    if _RECORD:
        RECORDINGS.parent.mkdir(parents=True, exist_ok=True)
        RECORDINGS.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
        pytest.skip("recorded")
    expected = json.loads(RECORDINGS.read_text())
    assert [r["argv"] for r in got] == [r["argv"] for r in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs, mine["argv"]
