"""Case folding is Windows': the table against Wine's ``l_intl.nls``, unit by unit.

The driver folds the image's path with ``RtlUpcaseUnicodeString`` and the
compiler folds patterns with :func:`exewhitelist.rules.fold`: if the two
differ on a character, a rule with it silently never matches. Debian's
libwine carries Wine's reconstruction of Windows' casing table; it is fetched
here (``tests/samples.py``) and read with an independent decoder of its
three-level format.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from samples import wine_casing_table

from exewhitelist.blob import compile_policy, read_blob
from exewhitelist.policy import Mode, Policy
from exewhitelist.rules import Action, RuleKind, code_units, fold, make_rule

ROOT = Path(__file__).resolve().parent.parent


def _windows_upper() -> list[int]:
    data = wine_casing_table().read_bytes()
    words = struct.unpack_from("<2H", data)
    table = struct.unpack_from(f"<{words[1]}H", data, 4)

    def upper(c: int) -> int:
        level1 = table[c >> 8]
        level2 = table[level1 + ((c >> 4) & 0xF)]
        return int(c + table[level2 + (c & 0xF)]) & 0xFFFF

    return [upper(c) for c in range(0x10000)]


WINDOWS_UPPER = _windows_upper()


def test_every_bmp_unit_folds_as_windows_does() -> None:
    units = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    assert len(units) == 63_488  # every non-surrogate BMP unit
    wrong = [
        (hex(c), hex(ord(fold(chr(c)))), hex(WINDOWS_UPPER[c]))
        for c in units
        if ord(fold(chr(c))) != WINDOWS_UPPER[c]
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u0131", "\u0131"),  # dotless i: Windows keeps it (Python: I)
        ("\u017f", "\u017f"),  # long s
        ("\u00b5", "\u00b5"),  # micro sign
        ("\u01c5", "\u01c5"),  # titlecase digraph
        ("\u03c2", "\u03c2"),  # final sigma
        ("\u1f80", "\u1f88"),  # Greek with ypogegrammeni: Windows uppers it (Python: two units)
        ("\u00df", "\u00df"),  # sharp s: no one-unit uppercase
        ("\U00010428", "\U00010428"),  # outside the BMP: two surrogates, left alone
        ("c:\\tools\\bin\\a.exe", "C:\\TOOLS\\BIN\\A.EXE"),
    ],
)
def test_known_differences_from_python(text: str, expected: str) -> None:
    assert fold(text) == code_units(expected)


@given(st.text(max_size=40))
def test_fold_is_the_table_applied_per_code_unit(text: str) -> None:
    data = text.encode("utf-16-le", "surrogatepass")
    units = struct.unpack(f"<{len(data) // 2}H", data)
    expected = "".join(chr(u if 0xD800 <= u <= 0xDFFF else WINDOWS_UPPER[u]) for u in units)
    assert fold(text) == expected


def test_a_deny_rule_with_dotless_i_matches_as_the_driver_folds() -> None:
    """The issue's reproducer: a deny rule for a folder spelled with U+0131 (dotless i)."""
    rule = make_rule("no-bin", Action.DENY, RuleKind.PATH, "C:\\Tools\\b\u0131n\\*")
    allow = make_rule("tools", Action.ALLOW, RuleKind.PATH, "C:\\Tools\\*")
    blob = read_blob(compile_policy(Policy("p", 1, Mode.ENFORCE, (rule, allow))))
    assert blob.decide(path="C:\\TOOLS\\B\u0131N\\x.exe").rule_id == "no-bin"
    # Windows does not fold ı to I: the plain BIN folder is another folder.
    assert blob.decide(path="C:\\Tools\\BIN\\x.exe").rule_id == "tools"


def test_the_committed_table_is_generated_from_wines() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gen_upcase.py"),
            str(wine_casing_table()),
            "--check",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
