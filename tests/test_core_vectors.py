"""The golden blob vectors (tests/vectors/blob) through the C core.

Every invalid vector gives its pinned code, every valid one validates, and
every manifest query gives the manifest's decision and rule id: through
``libewlcore.so`` built by gcc and by clang (ctypes), compared with the
reference reader too, and through ``test_core`` built with ASan and UBSan by
both compilers, which reads a line-based rendering of the manifest.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from test_core_build import (
    BUILD,
    COMPILERS,
    build,
    decide_signed,
    library,
    signer_lines,
    split_query,
    units,
    validate,
)

from exewhitelist.blob import read_blob
from exewhitelist.errors import BlobFormatError
from exewhitelist.policy import DEFAULT_VARIABLES, VARIABLES, fold

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "blob"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("name", sorted(MANIFEST["invalid"]))
def test_invalid_vector_gives_its_pinned_code(compiler: str, name: str) -> None:
    data = (VECTORS / "invalid" / f"{name}.bin").read_bytes()
    expected = MANIFEST["invalid"][name]["code"]
    with pytest.raises(BlobFormatError) as info:
        read_blob(data)
    assert info.value.code == expected
    assert validate(library(compiler), data) == expected


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("name", sorted(MANIFEST["valid"]))
def test_valid_vector_decides_as_the_manifest(compiler: str, name: str) -> None:
    lib = library(compiler)
    data = (VECTORS / "valid" / f"{name}.bin").read_bytes()
    assert validate(lib, data) == 0
    blob = read_blob(data)
    for case in MANIFEST["valid"][name]:
        query, signers = split_query(case["query"])
        c = decide_signed(lib, data, signers, variables=None, **query)
        if signers is None:
            assert c == blob.decide(variables=DEFAULT_VARIABLES, **query), case
        assert (c.action.value, c.rule_id, c.enforced) == (
            case["decision"],
            case["rule"],
            case["enforced"],
        ), case


def _hex_units(text: str) -> str:
    return "".join(f"{u:04x}" for u in units(fold(text))) or "="


def vectors_text() -> str:
    """The manifest as test_core.c reads it (see its header comment)."""
    lines = [
        f"var {VARIABLES.index(name) + 1} {_hex_units(value)}"
        for name in VARIABLES
        for value in DEFAULT_VARIABLES[name]
    ]
    for name, expected in sorted(MANIFEST["invalid"].items()):
        lines.append(f"invalid {VECTORS / 'invalid' / name}.bin {expected['code']}")
    for name, cases in sorted(MANIFEST["valid"].items()):
        lines.append(f"valid {VECTORS / 'valid' / name}.bin")
        for case in cases:
            q, signers = split_query(case["query"])
            path = q.get("path")
            lines += signer_lines(signers)
            lines.append(
                " ".join(
                    (
                        "query",
                        q.get("authenticode_sha256") or "-",
                        q.get("file_sha256") or "-",
                        "-" if path is None else _hex_units(path),
                        case["decision"],
                        case["rule"].encode().hex() if case["rule"] else "-",
                        "1" if case["enforced"] else "0",
                    )
                )
            )
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("compiler", COMPILERS)
def test_vectors_under_sanitizers(compiler: str, tmp_path: Path) -> None:
    build("all")
    text = tmp_path / "vectors.txt"
    text.write_text(vectors_text())
    proc = subprocess.run(
        [str(BUILD / f"asan-{compiler}" / "test_core"), str(text)],
        capture_output=True,
        text=True,
        check=False,
    )
    print(proc.stdout.splitlines()[-1] if proc.stdout else "")
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    cases = len(MANIFEST["invalid"]) + sum(1 + len(c) for c in MANIFEST["valid"].values())
    summary = re.search(r"^test_core: (\d+) passed, 0 failed$", proc.stdout, re.MULTILINE)
    # The vectors, and test_core's own checks of ewl_pe_digest's failure paths.
    assert summary is not None and int(summary.group(1)) > cases, proc.stdout
