"""Commands the documentation tells a reader to type work as written."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_driver_build_command_names_a_python_with_pefile() -> None:
    """Issue 18: docs/driver.md's ``make -C driver`` ran the pefile gate with the system's
    ``python3`` (the Makefile's default), which has no pefile on a fresh machine."""
    text = (ROOT / "docs/driver.md").read_text()
    block = text.split("## Building on Linux", 1)[1].split("```", 2)[1]
    (line,) = [line for line in block.splitlines() if re.match(r"make -C driver\b(?! clean)", line)]
    words = shlex.split(line.split("#", 1)[0].replace("$PWD", str(ROOT)))
    python = next((w.split("=", 1)[1] for w in words if w.startswith("PYTHON=")), "python3")
    # As make runs it: in driver/, so a relative path would be looked up there.
    proc = subprocess.run(
        [python, "-c", "import pefile"], cwd=ROOT / "driver", capture_output=True, check=False
    )
    assert proc.returncode == 0, (python, proc.stderr)
