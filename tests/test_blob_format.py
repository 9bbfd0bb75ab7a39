"""``blob/_format.py``, the one source of the format's numbers: self-contained, as specified."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from exewhitelist.blob import _format
from exewhitelist.blob._format import HASH_SECTIONS, Fields, PathRuleField
from exewhitelist.policycheck import HASH_COLUMNS
from exewhitelist.rules import RULE_TYPES, Action, HashRule, RuleKind

ROOT = Path(__file__).resolve().parent.parent
FORMAT = Path(_format.__file__)
SPEC = (ROOT / "docs" / "blob-format.md").read_text()

RECORDS: dict[type[Fields], tuple[int, str]] = {
    _format.HeaderField: (_format.HEADER_SIZE, "## 3. Header"),
    _format.SectionEntryField: (_format.SECTION_ENTRY_SIZE, "## 4. Section directory"),
    PathRuleField: (_format.PATH_RULE_SIZE, "### 5.1 Path rules"),
    _format.RuleIdEntryField: (_format.RULE_ID_ENTRY_SIZE, "### 5.3 Rule ids"),
    _format.PublisherRuleField: (_format.PUBLISHER_RULE_SIZE, "### 5.5 Publisher rules"),
    _format.PublisherField: (_format.PUBLISHER_SIZE, "### 5.6 Publisher conditions"),
    _format.CertificateField: (_format.CERTIFICATE_SIZE, "### 5.7 Certificates"),
    _format.TextField: (_format.TEXT_ENTRY_SIZE, "### 5.8 Texts"),
    _format.ExceptionListField: (_format.EXCEPTION_LIST_SIZE, "### 5.9 Exception lists"),
    _format.ExceptionField: (_format.EXCEPTION_SIZE, "### 5.10 Exceptions"),
}


def test_format_imports_nothing_from_the_package() -> None:
    for node in ast.walk(ast.parse(FORMAT.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("exewhitelist"), (
                ast.unparse(node)
            )
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("exewhitelist") for a in node.names), ast.unparse(node)


def test_format_runs_without_the_package() -> None:
    # -I -S: neither the working directory nor site-packages (the installed
    # package) on the path, so any import of the package fails.
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import runpy; runpy.run_path({str(FORMAT)!r})"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("fields", list(RECORDS), ids=lambda f: f.__name__)
def test_fields_are_contiguous_and_fill_the_record(fields: type[Fields]) -> None:
    size, _ = RECORDS[fields]
    end = 0
    for field in fields:
        assert field.offset == end, field
        end += field.size
    assert end == size


def _spec_table(heading: str) -> list[tuple[int, int]]:
    """The (offset, size) rows of the first table after ``heading`` in docs/blob-format.md."""
    section = SPEC[SPEC.index(heading) :]
    table = section[section.index("| offset | size |") :].split("\n\n", 1)[0]
    return [(int(m[1]), int(m[2])) for m in re.finditer(r"^\| (\d+) \| (\d+) \|", table, re.M)]


@pytest.mark.parametrize("fields", list(RECORDS), ids=lambda f: f.__name__)
def test_fields_are_the_specified_ones(fields: type[Fields]) -> None:
    _, heading = RECORDS[fields]
    assert [f.value for f in fields] == _spec_table(heading)


def test_field_read() -> None:
    record = bytes(range(_format.PATH_RULE_SIZE))
    assert PathRuleField.ACTION.read(record) == 8
    assert PathRuleField.KEY_UNITS.read(record) == 0x0706
    assert PathRuleField.PARENT.read(b"\0" + record, 1) == 0x0F0E0D0C


def test_hash_sections_name_the_model_kinds_and_actions() -> None:
    assert all(isinstance(s, _format.Section) for s in HASH_SECTIONS)
    assert [(RuleKind(k), Action(a)) for k, a in HASH_SECTIONS.values()] == list(HASH_COLUMNS)
    # Every hash rule type has its sections, and nothing else has any.
    hash_kinds = {kind for kind, cls in RULE_TYPES.items() if issubclass(cls, HashRule)}
    assert {kind for kind, _ in HASH_COLUMNS} == hash_kinds


def test_sections_are_the_specified_ones() -> None:
    """§4's table: every section's id, name and entry size as the module has them."""
    section = SPEC[SPEC.index("## 4. Section directory") :]
    table = section[section.index("| id | name |") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (\w+) \| [^|]* \| (\d+|—) \|", table, re.M)
    sizes = {
        _format.Section.AUTHENTICODE_ALLOW: _format.HASH_SIZE,
        _format.Section.AUTHENTICODE_DENY: _format.HASH_SIZE,
        _format.Section.FILE_ALLOW: _format.HASH_SIZE,
        _format.Section.FILE_DENY: _format.HASH_SIZE,
        _format.Section.PATH_RULES: _format.PATH_RULE_SIZE,
        _format.Section.HASH_RULE_IDS: _format.RULE_ID_ENTRY_SIZE,
        _format.Section.PUBLISHER_RULES: _format.PUBLISHER_RULE_SIZE,
        _format.Section.PUBLISHERS: _format.PUBLISHER_SIZE,
        _format.Section.CERTIFICATES: _format.CERTIFICATE_SIZE,
        _format.Section.TEXTS: _format.TEXT_ENTRY_SIZE,
        _format.Section.EXCEPTION_LISTS: _format.EXCEPTION_LIST_SIZE,
        _format.Section.EXCEPTIONS: _format.EXCEPTION_SIZE,
        _format.Section.EXCEPTION_HASHES: _format.HASH_SIZE,
    }
    assert [(int(i), n, size) for i, n, size in rows] == [
        (int(s), s.name, str(sizes[s]) if s in sizes else "—") for s in _format.Section
    ]


def test_every_status_is_in_the_validation_table() -> None:
    """§7: every code and name in the last two columns, as the module numbers them."""
    section = SPEC[SPEC.index("## 7. Validation") :].split("\n\n## ")[0]
    pairs: set[tuple[int, str]] = set()
    for codes, names in re.findall(r"\| ([\d /]+) \| ([A-Z_ /]+) \|$", section, re.M):
        pairs.update(
            zip(
                (int(c) for c in codes.split(" / ")),
                (n.strip() for n in names.split(" / ")),
                strict=True,
            )
        )
    assert pairs == {(int(s), s.name) for s in _format.Status if s is not _format.Status.OK}
