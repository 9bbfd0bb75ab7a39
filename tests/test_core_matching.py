"""The wildcard matcher (issue 19 item 12): its answers and its cost.

Answers: ``glob_match`` and ``covers`` in Python, and a one-rule decision of
the C core through the ctypes wrapper, against a reference definition, a
regular expression built from the pattern (``*`` is ``.*``, ``?`` one unit;
covering, one unit that is not ``*``) with ``re.fullmatch``.

Cost, counted rather than timed (wall-clock numbers are in
``benchmarks/bench_core.py``): the instructions of one ``ewl_decide`` under
callgrind, and the lines Python executes in the matcher, on the reproducer
of the issue (one rule ``*`` + 4,000 x ``a`` + ``b*`` against a path of
32,000 ``a``). Both failed on the old matcher (backtracking: pattern x path):
about 5 x 10^8 instructions, and Python's loop passed any line budget.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_core_build import BUILD, COMPILERS, build, decide, library

from exewhitelist.blob import compile_policy
from exewhitelist.policy import Action, Mode, Policy, RuleKind, fold
from exewhitelist.rules import make_rule
from exewhitelist.rules import path as path_module
from exewhitelist.rules.path import PathPattern, covers, glob_match

DECIDE_COST = BUILD / "cost" / "decide_cost"


def reference(pattern: str, text: str, covering: bool = False) -> bool:
    """The definition: ``*`` any run, ``?`` one unit (covering: not a ``*``)."""
    one = "[^*]" if covering else "."
    regex = "".join(".*" if u == "*" else one if u == "?" else re.escape(u) for u in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


# Few letters: segments recur in the text, and periodic needles (the two-way
# search's harder case) are common.
_units = st.text(alphabet="ab\\*?", max_size=16)


@settings(max_examples=3000, deadline=None)
@given(pattern=_units, text=_units)
@example(pattern="*a*", text="*")
@example(pattern="*?", text="*")
@example(pattern="a*a", text="a")
@example(pattern="*aab*ab", text="aabab")
def test_python_matcher_is_the_definition(pattern: str, text: str) -> None:
    assert glob_match(pattern, text) is reference(pattern, text)
    assert covers(pattern, text) is reference(pattern, text, covering=True)


_periodic = st.builds(
    lambda unit, times, rest: unit * times + rest,
    st.text(alphabet="ab", min_size=1, max_size=4),
    st.integers(1, 6),
    st.text(alphabet="ab?", max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    segments=st.lists(st.one_of(_periodic, st.text(alphabet="ab?\\", max_size=6)), max_size=4),
    start=st.sampled_from(("*", "?", "*\\")),
    text=st.one_of(
        st.text(alphabet="ab", max_size=40),
        st.builds(
            lambda u, n: u * n, st.text(alphabet="ab", min_size=1, max_size=5), st.integers(0, 12)
        ),
        st.text(alphabet="ab\\*?", max_size=20),
    ),
    end_star=st.booleans(),
)
@example(segments=["abaab"], start="*", text="abaabaab", end_star=True)
@example(segments=["aab", "ab"], start="*", text="aabab", end_star=False)
# Near matches everywhere: the plain search runs out of budget and the
# two-way search takes over (periodic needles and not), finding or not.
@example(segments=["a" * 10 + "b"], start="*", text="a" * 40 + "b", end_star=True)
@example(segments=["a" * 10 + "b"], start="*", text="a" * 40 + "ba", end_star=True)
@example(segments=["a" * 10 + "b"], start="*", text="a" * 40, end_star=True)
@example(
    segments=["ab" * 12 + "a"],
    start="*",
    text=("ab" * 12 + "b") * 3 + "ab" * 12 + "a",
    end_star=True,
)
@example(
    segments=["ab" * 12 + "a"], start="*", text=("ab" * 12 + "b") * 3 + "ab" * 12, end_star=True
)
@example(segments=["aab" * 8], start="*", text=("aab" * 7 + "aaab") * 3 + "aab" * 8, end_star=True)
@example(segments=["aab" * 8], start="*", text=("aab" * 7 + "aaab") * 3 + "aab" * 7, end_star=True)
@example(
    segments=["aaaaaaab" * 2], start="*", text="aaaaaaab" + "a" * 30 + "aaaaaaab" * 2, end_star=True
)
@example(segments=["a" * 10 + "b", "a" * 3], start="*", text="a" * 40 + "ba" * 2, end_star=False)
# Each branch of the two-way search (found with a Python port of it): the
# factorization by the reversed order, a shift by the period, and by the
# period keeping what a periodic needle is known to match.
@example(segments=["aaaaabaaaaaa"], start="*", text="a" * 60, end_star=True)
@example(segments=["aaaaabaaaaaa"], start="*", text="a" * 60 + "aaaaabaaaaaa", end_star=True)
@example(
    segments=["ab" * 7 + "a"], start="*", text="abababababababbbababababababababbbab", end_star=True
)
@example(
    segments=["baaa" * 7],
    start="*",
    text="baaabaaabaaabaaabaaabaaabaabbaaabaaabaaabaaaba",
    end_star=True,
)
def test_c_matcher_is_the_definition(
    segments: list[str], start: str, text: str, end_star: bool
) -> None:
    """One rule, decided by the C core: each segment between two ``*`` is searched
    (plainly, then by two-way past a budget of comparisons)."""
    pattern = start + "*".join(segments) + ("*" if end_star else "")
    blob = compile_policy(
        Policy("glob", 1, Mode.ENFORCE, (make_rule("g", Action.ALLOW, RuleKind.PATH, pattern),))
    )
    expected = reference(PathPattern.parse(pattern).tokens, fold(text))
    for compiler in COMPILERS:
        assert (decide(library(compiler), blob, path=text).rule_id == "g") is expected, pattern


def _reproducer(a_units: int, path_units: int) -> tuple[str, str]:
    return "*" + "a" * a_units + "b*", "a" * path_units


def _decide_cost(tmp_path: Path, pattern: str, path: str, repeat: int = 1) -> dict[str, Any]:
    """decide_cost's JSON for one rule ``pattern`` and ``path``."""
    build("cost")
    blob = compile_policy(
        Policy("cost", 1, Mode.ENFORCE, (make_rule("r", Action.ALLOW, RuleKind.PATH, pattern),))
    )
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "path.bin").write_bytes(fold(path).encode("utf-16-le"))
    proc = subprocess.run(
        [str(DECIDE_COST), str(tmp_path / "blob.bin"), str(tmp_path / "path.bin"), str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _instructions(tmp_path: Path, pattern: str, path: str) -> int:
    """The instructions one ewl_decide executes (callgrind, collecting inside it only)."""
    _decide_cost(tmp_path, pattern, path)
    out = tmp_path / "callgrind.out"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--collect-atstart=no",
            "--toggle-collect=ewl_decide",
            str(DECIDE_COST),
            str(tmp_path / "blob.bin"),
            str(tmp_path / "path.bin"),
        ],
        capture_output=True,
        check=True,
    )
    totals = re.search(r"^summary: (\d+)$", out.read_text(), re.MULTILINE)
    assert totals is not None
    return int(totals.group(1))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.parametrize(("a_units", "path_units"), [(4000, 32000), (16000, 32767), (2, 32767)])
def test_c_decision_cost_is_linear_in_the_path(
    tmp_path: Path, a_units: int, path_units: int
) -> None:
    """At most 100 instructions per path unit (about 30 now; the old loop: 4,000 x that)."""
    pattern, path = _reproducer(a_units, path_units)
    assert _decide_cost(tmp_path, pattern, path)["decided"] == 0  # the default deny
    assert _instructions(tmp_path, pattern, path) <= 100 * path_units


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_c_decision_cost_with_question_marks_is_path_times_segment(tmp_path: Path) -> None:
    """The stated bound (docs/policy.md, 'Matching cost'): O(path x segment) for a
    segment with ``?`` between two ``*``; 64 units is where ``policy validate`` warns."""
    path = "a" * 32767
    for segment in ("a?" * 32, "?" * 63 + "b", "\\" + "?" * 8 + "\\tool.exe"):
        limit = len(path) * (100 + 16 * len(segment))
        assert _instructions(tmp_path, "*" + segment + "*", path) <= limit, segment


class _LineBudget:
    """A tracer counting the lines run in the matcher's module; raises past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines = 0

    def __call__(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != path_module.__file__:
            return None
        if event == "line":
            self.lines += 1
            if self.lines > self.limit:
                raise AssertionError(f"more than {self.limit} lines")
        return self


def _lines(pattern: str, text: str, limit: int) -> int:
    budget = _LineBudget(limit)
    sys.settrace(budget)
    try:
        glob_match(pattern, text)
    finally:
        sys.settrace(None)
    return budget.lines


def test_python_matcher_cost_does_not_grow_with_the_pattern() -> None:
    """The reproducer: a few dozen lines (str.find does the search), whatever the sizes."""
    for a_units, path_units in ((4000, 32000), (32764, 32767), (2, 32767)):
        pattern, path = _reproducer(a_units, path_units)
        assert _lines(fold(pattern), fold(path), 200) <= 200


def test_python_matcher_cost_with_question_marks_is_linear_in_the_path() -> None:
    """A segment with ``?``: shift-and, a few lines per path and pattern unit."""
    path = "A" * 32000
    for segment in ("A?" * 2000 + "B", "?B", "?" * 16000 + "B"):
        limit = 5 * (len(path) + len(segment))
        assert _lines("*" + segment + "*", path, limit) <= limit
