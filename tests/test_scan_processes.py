"""``ScanOptions(processes=True)``: worker processes give the records threads give, in order.

The rest of the scan tests run on threads (the API's default), where they can
watch a worker from inside; here the same trees go through worker processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import FrameType

import pytest
from scan_trees import mixed_tree, put

import exewhitelist.scan as scan_module
from exewhitelist import ScanError, ScanOptions
from exewhitelist.scan import scan


def lines(root: Path, **options: object) -> list[str]:
    return [json.dumps(r.to_json()) for r in scan([root], ScanOptions(**options))]  # type: ignore[arg-type]


@pytest.fixture
def samples_tree(tmp_path: Path, sample_files: dict[str, Path]) -> Path:
    """Every real sample, three times (more files than one chunk, hard links and all)."""
    root = mixed_tree(tmp_path / "tree", sample_files)
    for copy in range(3):
        for name, path in sorted(sample_files.items()):
            put(root, f"copies/{copy}/{name}", path)
    return root


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_processes_give_the_thread_records_in_order(samples_tree: Path, jobs: int) -> None:
    threads = lines(samples_tree, jobs=2)
    assert len(threads) > 3 * 16  # several chunks
    assert lines(samples_tree, jobs=jobs, processes=True) == threads
    without = lines(samples_tree, jobs=jobs, processes=True, signatures=False)
    assert without == lines(samples_tree, jobs=2, signatures=False)


def test_summary_and_errors(
    tmp_path: Path, sample_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = mixed_tree(tmp_path / "tree", sample_files)
    whole = (root / "bin/lib.dll").read_bytes()
    put(root, "bin/cut.dll", whole[: len(whole) // 2])
    real_listing = scan_module._listing

    def listing(path: str) -> list[os.DirEntry[str]]:
        entries = real_listing(path)
        if path.endswith("bin"):
            os.unlink(os.path.join(path, "tool.EXE"))  # listed, then gone
        return entries

    monkeypatch.setattr(scan_module, "_listing", listing)  # the walk runs in this process
    result = scan([root], ScanOptions(jobs=2, processes=True))
    scanned = list(result)
    errors = {Path(r.path).name: r.error for r in scanned if r.error}
    assert errors == {
        "cut.dll": f"{root / 'bin/cut.dll'}: truncated PE image (section_past_end_of_file)",
        "tool.EXE": f"{root / 'bin/tool.EXE'}: No such file or directory",
    }
    summary = result.summary
    assert summary.complete and summary.errors == 2
    assert summary.bytes_hashed == sum(r.hashes.size for r in scanned if r.hashes)


def test_a_worker_that_dies_stops_the_scan_with_a_clear_error(samples_tree: Path) -> None:
    result = scan([samples_tree], ScanOptions(jobs=2, processes=True))
    next(result)
    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(ScanError, match="a worker process died"):
        list(result)


_KILL_WORKERS = """
import multiprocessing, os, signal, sys
from exewhitelist.errors import ScanError
from exewhitelist.scan import ScanOptions, scan

if __name__ == "__main__":
    for _ in range(int(sys.argv[2])):
        result = scan([sys.argv[1]], ScanOptions(jobs=2, processes=True))
        next(result)
        for worker in multiprocessing.active_children():
            os.kill(worker.pid, signal.SIGKILL)
        try:
            list(result)
        except ScanError:
            continue
        sys.exit("the scan went on after its workers died")
"""


def test_workers_killed_while_writing_never_hang_the_scan(
    samples_tree: Path, tmp_path: Path
) -> None:
    """A worker killed while it writes a result leaves half a message on the result pipe,
    on which CPython's executor waited for ever (about one kill in ten on a loaded
    machine): the scan must end with its error every time. In a child process, so that a
    hang fails the test instead of the suite."""
    script = tmp_path / "kill_workers.py"
    script.write_text(_KILL_WORKERS)
    proc = subprocess.run(
        [sys.executable, str(script), str(samples_tree), "30"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def _half_a_result() -> None:
    """In a worker: half of a result message on the pool's result pipe (a length, then
    fewer bytes), then the worker's death, as a kill in the middle of a write leaves it."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and "result_queue" not in frame.f_locals:
        frame = frame.f_back  # up to concurrent.futures' _process_worker
    assert frame is not None
    writer = frame.f_locals["result_queue"]._writer
    writer._send(struct.pack("!i", 1000) + b"x" * 10)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_in_the_middle_of_its_result_breaks_the_pool() -> None:
    """The scan's pool fails the future instead of waiting for the rest of a half-written
    result, as CPython's executor alone does (for ever)."""
    pool = scan_module._executor(ScanOptions(jobs=1, processes=True))
    try:
        future = pool.submit(_half_a_result)
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=60)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
