"""A one-line progress display for ``exewhitelist scan`` on a terminal (no dependency).

The line is redrawn in place (``\\r``, then erase to the end of the line) a
few times a second by a thread, from :attr:`Scan.summary <exewhitelist.scan.Scan.summary>`
snapshots, so it moves even while the scan walks files that give no record.
When the number of files to walk is known (a second thread counts them, see
:func:`~exewhitelist.scan.count_files`) it shows the fraction done and an
estimate of the time left.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TextIO

from .scan import ScanSummary

__all__ = ["ProgressLine"]

_ERASE = "\r\x1b[K"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _render(summary: ScanSummary, total: int | None) -> str:
    """The progress text (without control characters) for a snapshot and the known total."""
    files = f"{summary.files}/{total} files" if total else f"{summary.files} files"
    text = (
        f"{files}  {summary.executables + summary.errors} records  {summary.errors} errors  "
        f"{summary.bytes_hashed / 1e6:.0f} MB  {summary.mb_per_s:.0f} MB/s"
    )
    if total and summary.files:
        left = summary.seconds * max(total - summary.files, 0) / summary.files
        text += f"  ETA {_clock(left)}"
    return text


class ProgressLine:
    """Redraw :func:`_render` of ``snapshot()`` on ``stream`` every ``interval`` seconds."""

    def __init__(
        self,
        stream: TextIO,
        snapshot: Callable[[], ScanSummary],
        count: Callable[[], int] | None = None,
        interval: float = 0.2,
    ) -> None:
        self._stream = stream
        self._snapshot = snapshot
        self._count = count
        self._total: int | None = None
        self._interval = interval
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._draw_loop, daemon=True)]
        if count is not None:
            self._threads.append(threading.Thread(target=self._count_loop, daemon=True))

    def __enter__(self) -> ProgressLine:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._threads[0].join()
        self._stream.write(_ERASE)
        self._stream.flush()

    def _count_loop(self) -> None:
        if self._count is not None:
            self._total = self._count()

    def _draw_loop(self) -> None:
        while True:
            self._stream.write(_ERASE + _render(self._snapshot(), self._total)[: self._width()])
            self._stream.flush()
            if self._stop.wait(self._interval):
                return

    def _width(self) -> int:
        """Leave the last column free: writing there wraps on some terminals."""
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        return columns - 1 if columns > 1 else 79  # a new pty says 0 columns
