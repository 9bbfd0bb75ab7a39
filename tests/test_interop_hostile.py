"""Hostile and broken foreign policies: a clear error with a position, never a traceback,
never an entity expanded, nothing written to -o; and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from interop_samples import H1, applocker, applocker_rule, hash_condition, path_condition, wdac

from exewhitelist.cli import main
from exewhitelist.errors import InteropError
from exewhitelist.interop import ForeignFormat, import_policy

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<AppLockerPolicy Version="1"><RuleCollection Type="Exe">&lol3;</RuleCollection></AppLockerPolicy>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<SiPolicy xmlns="urn:schemas-microsoft-com:sipolicy"><VersionEx>&xxe;</VersionEx></SiPolicy>
"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE SiPolicy SYSTEM "http://example.invalid/evil.dtd">
<SiPolicy xmlns="urn:schemas-microsoft-com:sipolicy"/>
"""
PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY % pe SYSTEM "http://example.invalid/x"> %pe;]>
<AppLockerPolicy Version="1"/>
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (BILLION_LAUGHS, "refused"),
        (EXTERNAL_ENTITY, "refused"),
        (EXTERNAL_DTD, "refused"),
        (PARAMETER_ENTITY, "refused"),
        (applocker({"Exe": []})[:-30], "not XML"),
        ('<AppLockerPolicy Version="1"><RuleCollection></AppLockerPolicy>', "not XML"),
        ("<SomethingElse/>", "not an AppLocker policy"),
        ("", "not an AppLocker policy"),
        ("{not json", "not JSON"),
        ('{"rules": 3}', "not a Santa rule file"),
        ("[" * 100_000, "not an AppLocker policy"),
        ("{" * 100_000, "not"),
    ],
)
def test_unusable_input_is_an_error_with_a_position(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "in.xml"
    path.write_text(text)
    with pytest.raises(InteropError, match=needle):
        import_policy(path)


@pytest.mark.parametrize("fmt", ["applocker", "wdac"])
def test_entities_are_refused_whatever_format_is_named(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "in.xml"
    path.write_text(BILLION_LAUGHS.replace("AppLockerPolicy", "SiPolicy"))
    out = tmp_path / "out.toml"
    assert main(["policy", "import", str(path), "--format", fmt, "-o", str(out)]) == 2
    assert not out.exists()


def test_truncated_utf16_file(tmp_path: Path) -> None:
    text = applocker({"Exe": [applocker_rule("FileHashRule", hash_condition(H1))]})
    path = tmp_path / "a.xml"
    path.write_bytes(text.encode("utf-16")[:-41])
    with pytest.raises(InteropError, match=r"line 1, column \d+"):
        import_policy(path)


def test_wrong_root_for_the_named_format(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_text(applocker({"Exe": []}))
    with pytest.raises(InteropError, match="not SiPolicy"):
        import_policy(path, ForeignFormat.WDAC)


def test_cli_exit_codes_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "al.xml"
    good.write_bytes(
        applocker(
            {
                "Exe": [
                    applocker_rule("FilePathRule", path_condition("%WINDIR%\\*")),
                    applocker_rule(
                        "FilePathRule",
                        path_condition("%HOT%\\*"),
                        rule_id="00000000-0000-0000-0000-000000000001",
                    ),
                ]
            }
        ).encode("utf-16")
    )
    out = tmp_path / "out.toml"
    assert main(["policy", "import", str(good), "--strict", "-o", str(out)]) == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "line 1: unmapped" in err and "nothing written (--strict)" in err
    assert main(["policy", "import", str(good), "-o", str(out)]) == 0
    assert "%WINDIR%" in out.read_text()

    bad = tmp_path / "bad.xml"
    bad.write_text(wdac([f'<Allow ID="ID_ALLOW_A" Hash="{H1[:-1]}X" />'], ["ID_ALLOW_A"]))
    out2 = tmp_path / "out2.toml"
    assert main(["policy", "import", str(bad), "-o", str(out2)]) == 1
    assert not out2.exists()
    assert "error: Allow ID='ID_ALLOW_A'" in capsys.readouterr().err

    assert main(["policy", "import", str(tmp_path / "missing.xml")]) == 2

    exported = tmp_path / "p.wdac.xml"
    assert main(["policy", "export", str(out), "--format", "wdac", "-o", str(exported)]) == 0
    assert main(["policy", "import", str(exported), "-o", str(tmp_path / "back.json")]) == 0
    back = json.loads((tmp_path / "back.json").read_text())
    assert back["rule"][0]["path"] == "%WINDIR%\\*"
    santa = tmp_path / "s.json"
    assert (
        main(["policy", "export", str(out), "--format", "santa", "-o", str(santa), "--strict"]) == 1
    )
    assert not santa.exists()
