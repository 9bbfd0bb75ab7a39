"""Scanning file trees: one record per executable, in a deterministic order, on every core.

:func:`scan` walks directory trees (a mounted golden image, a software share,
an application folder) and yields a :class:`ScanRecord` for every file a
whitelist must think about: each PE image (picked by its ``MZ`` header, not
its name) and each file with one of :data:`EXTENSIONS`.  ``docs/scan.md`` is
the specification: record fields, selection, links and loops, the cache.

- The walk never follows a symbolic link (they are counted and skipped, as
  WDAC's scans skip reparse points), skips a directory that is its own
  ancestor (a bind-mount loop), and reads a hard-linked file once, listing
  all its paths on one record.
- Files are read by ``options.jobs`` threads (hashlib releases the GIL) or,
  with ``options.processes``, worker processes (the parsing, version strings
  and signatures then run in parallel too); records come out in walk order
  whatever the number of workers: depth first, each directory's entries
  sorted by name.
- With ``options.cache`` an SQLite database remembers each file's digests
  under its (path, size, mtime_ns, inode, ctime_ns): a file whose key did not
  change is not opened again.
- A file that cannot be read, vanishes, changes while it is read, or is a
  truncated PE image becomes a record with ``error``; the scan goes on.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import multiprocessing
import os
import queue
import re
import signal
import sqlite3
import stat
import threading
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from .catalog import CatalogIndex
from .errors import FileReadError, PolicyError, ScanCacheError, ScanError, VersionResourceError
from .hashing import FileHashes, HashedFile, hash_open_file, open_file
from .pe import Anomaly
from .versioninfo import VERSION_STRINGS, VersionInfo, read_version_info
from .winpath import normalized_windows_path

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "EXTENSIONS",
    "RACY_NS",
    "VERSION_INFO_MAX_SIZE",
    "VERSION_STRINGS",
    "Scan",
    "ScanOptions",
    "ScanRecord",
    "ScanSummary",
    "VersionInfo",
    "count_files",
    "examine_file",
    "iso_utc",
    "scan",
]

EXTENSIONS = frozenset(
    {
        ".exe", ".dll", ".sys", ".scr", ".cpl", ".ocx", ".com", ".efi",
        ".msi", ".ps1", ".bat", ".cmd", ".vbs", ".js",
    }
)  # fmt: skip
"""File types a whitelist must think about whatever their content (compared case-insensitively)."""

_MIN_PE_SIZE = 64
"""A file shorter than a DOS header is not opened to look for ``MZ``."""

VERSION_INFO_MAX_SIZE = 256 << 20
"""Larger PE images get no version information (``version_error`` says so)."""

_TRUNCATED = (
    Anomaly.TRUNCATED_HEADERS,
    Anomaly.HEADERS_PAST_END_OF_FILE,
    Anomaly.SECTION_PAST_END_OF_FILE,
)
"""Anomalies that make a scan call a PE image truncated (an error record)."""

CACHE_SCHEMA_VERSION = 4
"""Bump on any change of what the cache stores or of the digests: older caches are rebuilt."""

RACY_NS = 2_000_000_000
"""A file modified less than this before it was read is not cached (see docs/scan.md)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CACHE_MAGIC = b"SQLite format 3\x00"
_CACHE_META = "exewhitelist_scan_cache"
_CACHE_BATCH = 1000


def _default_jobs() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ScanOptions:
    """How to scan; ``ScanError`` when an option is invalid."""

    jobs: int = field(default_factory=_default_jobs)
    """Files read at the same time (threads or processes); default: the number of CPUs."""
    processes: bool = False
    """Read files in ``jobs`` worker processes instead of threads (``docs/scan.md`` §8).
    Threads by default in the API: a caller's patches and state stay in its process."""
    windows_root: str | None = None
    """The Windows path of the (single) root, such as ``C:\\``: records get ``windows_path``."""
    exclude: tuple[str, ...] = ()
    """``fnmatch`` patterns on the path relative to the root (``/``-separated); prune dirs."""
    all_files: bool = False
    """Hash every regular file, not only executables and :data:`EXTENSIONS`."""
    cache: str | None = None
    """SQLite cache file: unchanged files are not read again."""
    signatures: bool = True
    """Parse and verify embedded signatures (records get ``signatures``; else it is None)."""
    catalogs: str | None = None
    r"""Folder of ``.cat`` files that sign files by digest (records get ``catalog``).  Default:
    the image's ``Windows\System32\CatRoot`` when ``windows_root`` maps a Windows root."""

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ScanError(f"jobs must be at least 1, not {self.jobs}")
        if self.windows_root is not None:
            try:
                normalized_windows_path(self.windows_root)
            except PolicyError as e:
                raise ScanError(e.message) from None


_HASH_KEYS = tuple(FileHashes(path="", size=0, sha256="").to_json())


def iso_utc(ns: int) -> str | None:
    """``ns`` since the epoch as ISO 8601 UTC with microseconds; None outside years 1-9999."""
    try:
        moment = _EPOCH + timedelta(microseconds=ns // 1000)
    except OverflowError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ScanRecord:
    """One scanned file: its digests (``hashes``) and what the walk and the version resource say.

    ``hashes`` is None only for a file that could not be read; ``error`` is set
    then, and also for a truncated PE image (whose digests are kept).
    """

    path: str
    paths: tuple[str, ...]
    """Every path of this file in the scan (hard links), the first one being ``path``."""
    hashes: FileHashes | None
    windows_path: str | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    links: int | None = None
    """The file system's hard-link count (links outside the scan included)."""
    version: VersionInfo | None = None
    version_error: str | None = None
    error: str | None = None

    @property
    def mtime(self) -> str | None:
        return None if self.mtime_ns is None else iso_utc(self.mtime_ns)

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines record of ``exewhitelist scan`` (docs/scan.md, field by field)."""
        record = self.hashes.to_json() if self.hashes else dict.fromkeys(_HASH_KEYS)
        record["path"] = self.path
        if self.windows_path is not None:
            record["windows_path"] = self.windows_path
        record.update(
            mtime=self.mtime,
            mtime_ns=self.mtime_ns,
            inode=self.inode,
            links=self.links,
            paths=list(self.paths),
            version_strings=self.version.strings_json() if self.version else None,
            fixed_file_version=self.version.fixed_file_version if self.version else None,
            version_error=self.version_error,
            error=self.error,
        )
        return record


@dataclass(frozen=True)
class ScanSummary:
    """Counts of a scan so far; final once the iterator is exhausted (``complete``)."""

    files: int
    """Regular files walked (excluded ones not counted)."""
    executables: int
    """Records with digests and no error."""
    errors: int
    """Records with ``error``: files (or directories) that could not be read, truncated PEs."""
    bytes_hashed: int
    """Bytes read and hashed by this scan (files served from the cache not counted)."""
    cached: int
    """Files the cache answered for: not opened."""
    symlinks: int
    loops: int
    """Directories skipped because they are their own ancestor (bind mounts)."""
    excluded: int
    special: int
    """Sockets, FIFOs and devices: skipped."""
    directories: int
    seconds: float
    complete: bool

    @property
    def mb_per_s(self) -> float:
        """Hashing throughput in MB (10^6 bytes) per second of wall time."""
        return self.bytes_hashed / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one human line ``exewhitelist scan`` prints on stderr at the end."""
        skipped = [
            f"{n} {what}"
            for n, what in (
                (self.symlinks, "symlinks"),
                (self.loops, "loops"),
                (self.excluded, "excluded"),
                (self.special, "special files"),
            )
            if n
        ]
        return (
            # The cache answers for files, executables or not: its count goes with the files.
            f"scan: {self.files} files ({self.cached} from the cache),"
            f" {self.executables} executables, {self.errors} errors;"
            f" {self.bytes_hashed / 1e6:.1f} MB hashed in {self.seconds:.2f} s"
            f" ({self.mb_per_s:.0f} MB/s)" + (f"; skipped {', '.join(skipped)}" if skipped else "")
        )


# ------------------------------------------------------------------------------- the walk


@dataclass
class _Counts:
    files: int = 0
    executables: int = 0
    errors: int = 0
    cached: int = 0
    symlinks: int = 0
    loops: int = 0
    excluded: int = 0
    special: int = 0
    directories: int = 0


@dataclass(frozen=True)
class _Found:
    """A regular file the walk found, with its ``lstat``."""

    path: str
    rel: str
    """Relative to the root, ``/``-separated; empty when the root is the file."""
    stat: os.stat_result


@dataclass(frozen=True)
class _Unreadable:
    """A path the walk could not stat or list: it becomes an error record."""

    path: str
    error: str


class _Excluder:
    """The ``--exclude`` patterns, and which of them matched something."""

    def __init__(self, patterns: Sequence[str], ignore_case: bool) -> None:
        # A Windows image (--as) has case-insensitive names: "windows/winsxs" is Windows/WinSxS.
        flags = re.IGNORECASE if ignore_case else 0
        self._each = [re.compile(fnmatch.translate(p), flags) for p in patterns]
        self._any = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), flags)
        self.used = [False] * len(patterns)

    def match(self, rel: str) -> bool:
        if not self._any.match(rel):
            return False
        for number, pattern in enumerate(self._each):  # rare: only for what is excluded
            self.used[number] = self.used[number] or bool(pattern.match(rel))
        return True


def _excluder(options: ScanOptions) -> _Excluder | None:
    if not options.exclude:
        return None
    return _Excluder(options.exclude, ignore_case=options.windows_root is not None)


def _listing(path: str) -> list[os.DirEntry[str]]:
    with os.scandir(path) as entries:
        return sorted(entries, key=lambda e: e.name)


def _walk(
    root: str, exclude: _Excluder | None, counts: _Counts, want_stat: bool
) -> Iterator[_Found | _Unreadable]:
    """Regular files under ``root`` in order: depth first, entries sorted by name."""
    try:
        root_stat = os.stat(root)
    except OSError as e:
        yield _Unreadable(root, f"{root}: {e.strerror or e}")
        return
    if not stat.S_ISDIR(root_stat.st_mode):
        counts.files += 1
        yield _Found(root, "", root_stat)
        return
    root_key = (root_stat.st_dev, root_stat.st_ino)
    ancestors = {root_key}
    stack: list[tuple[Iterator[os.DirEntry[str]], str, tuple[int, int]]] = []
    try:
        stack.append((iter(_listing(root)), "", root_key))
    except OSError as e:
        yield _Unreadable(root, f"{root}: {e.strerror or e}")
    while stack:
        entries, prefix, directory = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            ancestors.discard(directory)
            continue
        rel = prefix + entry.name
        if exclude is not None and exclude.match(rel):
            counts.excluded += 1
            continue
        try:
            if entry.is_symlink():
                counts.symlinks += 1
            elif entry.is_dir(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    counts.loops += 1
                    continue
                listing = _listing(entry.path)
                counts.directories += 1
                ancestors.add(key)
                stack.append((iter(listing), rel + "/", key))
            elif entry.is_file(follow_symlinks=False):
                counts.files += 1
                if want_stat:
                    yield _Found(entry.path, rel, entry.stat(follow_symlinks=False))
            else:
                counts.special += 1
        except OSError as e:
            reason = e.strerror or str(e)
            yield _Unreadable(entry.path, f"{entry.path}: {reason}")


def count_files(roots: Iterable[str], options: ScanOptions) -> int:
    """How many regular files :func:`scan` will walk (no ``stat`` of files: fast).

    What a progress display needs for an estimate of the time left.
    """
    counts = _Counts()
    exclude = _excluder(options)
    for root in roots:
        for _ in _walk(root, exclude, counts, want_stat=False):
            pass
    return counts.files


# -------------------------------------------------------------------- one file, in a worker


@dataclass(frozen=True)
class _Content:
    """What a file's bytes say: the part of a record the cache can keep."""

    hashes: FileHashes
    version: VersionInfo | None
    version_error: str | None

    def to_cache(self) -> str:
        record = self.hashes.to_json()
        del record["path"]
        del record["catalog"]  # depends on the scan's catalogs, not on the file
        record["version_strings"] = self.version.strings_json() if self.version else None
        record["fixed_file_version"] = self.version.fixed_file_version if self.version else None
        record["version_error"] = self.version_error
        return json.dumps(record, separators=(",", ":"))

    @classmethod
    def from_cache(cls, path: str, text: str) -> _Content:
        record = json.loads(text)
        version = VersionInfo.from_json(
            record.pop("version_strings"), record.pop("fixed_file_version")
        )
        version_error = record.pop("version_error")
        hashes = FileHashes.from_json({**record, "path": path, "catalog": None})
        return cls(hashes, version, version_error)


@dataclass(frozen=True)
class _Outcome:
    """A worker's answer for one file."""

    stat: os.stat_result | None = None
    """``fstat`` of what was read (None when the file could not be opened)."""
    mz: bool = False
    content: _Content | None = None
    """None: not an executable (or an error)."""
    error: str | None = None
    read_at_ns: int = 0


def _version_info(fd: int, hashed: HashedFile) -> tuple[VersionInfo | None, str | None]:
    layout = hashed.layout
    if layout is None or not all(layout.resource_directory):
        return None, None
    size = hashed.hashes.size
    if size > VERSION_INFO_MAX_SIZE:
        return None, f"not read: the file is larger than {VERSION_INFO_MAX_SIZE >> 20} MiB"
    try:
        return read_version_info(fd, size, layout), None
    except VersionResourceError as e:  # the digests stand
        return None, str(e)


def examine_file(path: str) -> tuple[FileHashes, VersionInfo | None]:
    """One file read as ``scan`` reads it: its digests and signatures, and its version
    resource (None when it has none, or one that cannot be read: the digests stand).
    :class:`~exewhitelist.errors.FileReadError` when it cannot be read."""
    fd = open_file(path)
    try:
        hashed = hash_open_file(fd, path)
        version, _ = _version_info(fd, hashed)
        return hashed.hashes, version
    finally:
        os.close(fd)


def _truncation(path: str, hashes: FileHashes) -> str | None:
    cut = [a.value for a in hashes.anomalies if a in _TRUNCATED]
    if not cut:
        return None
    return f"{path}: truncated PE image ({', '.join(cut)})"


def _examine(path: str, sniff: bool, signatures: bool) -> _Outcome:
    """Read one file: with ``sniff``, only when it starts with ``MZ`` (else: not executable)."""
    read_at = time.time_ns()
    try:
        fd = open_file(path, follow_symlinks=False)
    except FileReadError as e:
        return _Outcome(error=str(e))
    try:
        mz = os.pread(fd, 2, 0) == b"MZ"
        if sniff and not mz:
            return _Outcome(stat=os.fstat(fd), read_at_ns=read_at)
        hashed = hash_open_file(fd, path, signatures=signatures)
        version, version_error = _version_info(fd, hashed)
        return _Outcome(
            stat=hashed.stat,
            mz=mz,
            content=_Content(hashed.hashes, version, version_error),
            read_at_ns=read_at,
        )
    except FileReadError as e:
        return _Outcome(error=str(e))
    except OSError as e:
        return _Outcome(error=str(FileReadError(path, e.strerror or str(e), e.errno)))
    finally:
        os.close(fd)


_CHUNK = 16
"""Files a worker process is sent at a time: one round trip (and pickle) for several files."""


def _examine_chunk(work: Sequence[tuple[str, bool]], signatures: bool) -> list[_Outcome]:
    """:func:`_examine` for each ``(path, sniff)``: the task a worker process runs."""
    return [_examine(path, sniff, signatures) for path, sniff in work]


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the scan (the parent) stops, and stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _executor(options: ScanOptions) -> Executor:
    if not options.processes:
        return ThreadPoolExecutor(options.jobs, thread_name_prefix="exewhitelist-scan")
    # forkserver, not fork: the scan's process has other threads (the cache writer, a progress
    # line) that may hold locks when it forks; the server is a clean process, started once,
    # with this module imported once for every pool.  spawn where there is no fork (Windows).
    context: multiprocessing.context.BaseContext = multiprocessing.get_context("spawn")
    if "forkserver" in multiprocessing.get_all_start_methods():
        server = multiprocessing.get_context("forkserver")
        server.set_forkserver_preload([__name__])
        context = server
    return _Pool(options.jobs, mp_context=context, initializer=_ignore_interrupts)


class _Pool(ProcessPoolExecutor):
    """A process pool that always notices a worker's death.

    CPython's manager thread waits on the result pipe and on the workers' sentinels; a
    worker killed while it writes a result leaves half a message, and the manager then
    blocks in ``recv()`` for good (seen with SIGKILL on a loaded machine, what the OOM
    killer does): every future stays pending and ``shutdown()`` never returns. A watchdog
    thread polls the workers; when one ends abnormally it kills the others (the scan is
    over: their chunks are lost with it) and closes this process's end of the result pipe,
    so that the manager reads the end of the pipe, marks the pool broken and fails every
    future with ``BrokenProcessPool`` (the scan's clear error). Uses two attributes of
    CPython's executor (``_processes``, ``_result_queue``); without them the watchdog
    only watches.
    """

    _POLL = 0.2  # seconds between looks at the workers

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopped = threading.Event()
        self._watchdog = threading.Thread(
            target=self._watch, name="exewhitelist-scan-watchdog", daemon=True
        )
        self._watchdog.start()

    def _watch(self) -> None:
        while not self._stopped.wait(self._POLL):
            workers = list(getattr(self, "_processes", {}).values())
            if any(w.exitcode not in (None, 0) for w in workers):
                for worker in workers:
                    if worker.exitcode is None:
                        worker.kill()
                writer = getattr(getattr(self, "_result_queue", None), "_writer", None)
                if writer is not None:
                    writer.close()
                return

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # The watchdog first: it may be closing the pipe end that shutdown closes too.
        self._stopped.set()
        self._watchdog.join()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


# -------------------------------------------------------------------------------- the cache


def _seal(
    path: bytes, size: int, mtime_ns: int, inode: int, ctime_ns: int, mz: int, content: str | None
) -> str:
    """A checksum over a cache row: a damaged row (a flipped bit) is never served."""
    h = hashlib.sha256(path)
    h.update(f"\0{size}\0{mtime_ns}\0{inode}\0{ctime_ns}\0{mz}\0".encode())
    h.update(b"-" if content is None else content.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class _CacheRow:
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int
    mz: bool
    content: str | None
    """The :class:`_Content` as JSON; None when the file was not hashed."""

    def matches(self, st: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.inode, self.ctime_ns) == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
            st.st_ctime_ns,
        )


_CACHE_LOCK_SECONDS = 30
"""How long a scan waits for another one's lock on the cache."""


class _Cache:
    """The ``--cache`` database: read by the walking thread, written by one writer thread."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._check_magic()
        try:
            self._reader = sqlite3.connect(path, timeout=_CACHE_LOCK_SECONDS)
            self._prepare()
        except sqlite3.Error as e:
            raise ScanCacheError(f"{path}: not a usable scan cache ({e}); delete it") from None
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._failure: BaseException | None = None
        self._writer = threading.Thread(
            target=self._write_loop, name="exewhitelist-scan-cache", daemon=True
        )
        self._writer.start()

    def _check_magic(self) -> None:
        try:
            with open(self._path, "rb") as f:
                magic = f.read(len(_CACHE_MAGIC))
        except FileNotFoundError:
            return
        except OSError as e:
            raise ScanCacheError(f"{self._path}: {e.strerror or e}") from None
        if magic and magic != _CACHE_MAGIC:
            raise ScanCacheError(
                f"{self._path}: not a scan cache (not an SQLite database); left untouched"
            )

    def _prepare(self) -> None:
        db = self._reader
        db.isolation_level = None  # transactions below are explicit
        # Switching a new database to WAL needs a lock SQLite may refuse at once, without
        # its busy handler, while another scan does the same: retried, as the timeout would.
        deadline = time.monotonic() + _CACHE_LOCK_SECONDS
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # Looking and creating in one write transaction: scans started together
        # on one new cache wait for each other instead of racing to create it.
        db.execute("BEGIN IMMEDIATE")
        try:
            self._create_or_check(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _create_or_check(self, db: sqlite3.Connection) -> None:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and _CACHE_META not in tables:
            raise ScanCacheError(
                f"{self._path}: an SQLite database but not a scan cache; left untouched"
            )
        version = None
        if tables:
            row = db.execute(f"SELECT value FROM {_CACHE_META} WHERE key='schema'").fetchone()  # noqa: S608
            version = row[0] if row else None
        if version != str(CACHE_SCHEMA_VERSION):
            db.execute(f"DROP TABLE IF EXISTS {_CACHE_META}")
            db.execute("DROP TABLE IF EXISTS files")
            db.execute(f"CREATE TABLE {_CACHE_META} (key TEXT PRIMARY KEY, value TEXT)")
            db.execute(
                f"INSERT INTO {_CACHE_META} VALUES ('schema', ?)",  # noqa: S608
                (str(CACHE_SCHEMA_VERSION),),
            )
            db.execute(
                "CREATE TABLE files (path BLOB PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                " inode INTEGER, ctime_ns INTEGER, mz INTEGER, content TEXT, seal TEXT)"
                " WITHOUT ROWID"
            )

    def get(self, path: str) -> _CacheRow | None:
        """The row of ``path``; None when there is none, or when it is damaged (its seal
        does not match its content): the file is then read again, never served from it."""
        key = os.fsencode(path)
        try:
            row = self._reader.execute(
                "SELECT size, mtime_ns, inode, ctime_ns, mz, content, seal FROM files WHERE path=?",
                (key,),
            ).fetchone()
        except sqlite3.Error as e:
            raise ScanCacheError(f"{self._path}: {e}; delete it") from None
        if row is None or row[6] != _seal(key, *row[:6]):
            return None
        size, mtime_ns, inode, ctime_ns, mz, content, _ = row
        return _CacheRow(size, mtime_ns, inode, ctime_ns, bool(mz), content)

    def put(self, path: str, outcome: _Outcome) -> None:
        st = outcome.stat
        if st is None or st.st_mtime_ns >= outcome.read_at_ns - RACY_NS:
            return  # modified too recently: a change within the clock's resolution could hide
        content = outcome.content.to_cache() if outcome.content else None
        row = (os.fsencode(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        mz = int(outcome.mz)
        self._queue.put((*row, mz, content, _seal(*row, mz, content)))

    def _write_loop(self) -> None:
        try:
            db = sqlite3.connect(self._path, timeout=_CACHE_LOCK_SECONDS)
            db.execute("PRAGMA synchronous=NORMAL")
            batch: list[tuple[Any, ...]] = []
            while True:
                try:
                    item = self._queue.get(timeout=1.0) if batch else self._queue.get()
                except queue.Empty:
                    item = ()
                if item:
                    batch.append(item)
                if batch and (item is None or not item or len(batch) >= _CACHE_BATCH):
                    with db:
                        db.executemany(
                            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?)", batch
                        )
                    batch.clear()
                if item is None:
                    break
            db.close()
        except sqlite3.Error as e:
            self._failure = e

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
        self._reader.close()
        if self._failure is not None:
            raise ScanCacheError(f"{self._path}: could not be written: {self._failure}")


# ------------------------------------------------------------------------------------ scan


class _Batch:
    """Files sent to a worker together (one with threads); their outcomes come back as a list."""

    __slots__ = ("future", "work")

    def __init__(self) -> None:
        self.work: list[tuple[str, bool]] = []
        """``(path, sniff)`` for :func:`_examine`."""
        self.future: Future[list[_Outcome]] | None = None
        """None until submitted."""

    def submit(self, executor: Executor, signatures: bool) -> Future[list[_Outcome]]:
        try:
            self.future = executor.submit(_examine_chunk, self.work, signatures)
        except BrokenProcessPool as e:
            raise self._died(e) from None
        return self.future

    def outcome(self, index: int) -> _Outcome:
        assert self.future is not None  # noqa: S101 - asked for once ready or submitted at the end
        try:
            return self.future.result()[index]
        except BrokenProcessPool as e:
            raise self._died(e) from None

    def _died(self, e: BrokenProcessPool) -> ScanError:
        # Which file killed it cannot be told: every chunk in flight is lost with it.
        return ScanError(
            f"a worker process died (reading {self.work[0][0]} or a file after it): {e}"
        )


class _Slot:
    """A file waiting for its turn in the output, in walk order."""

    __slots__ = ("missing_links", "outcome", "paths", "stat", "windows_path")

    def __init__(
        self,
        path: str,
        windows_path: str | None,
        st: os.stat_result | None,
        outcome: _Outcome | tuple[_Batch, int],
    ) -> None:
        self.paths = [path]
        self.windows_path = windows_path
        self.stat = st
        self.outcome = outcome
        """Known (an error, a cache hit), or its place in a batch being worked out."""
        self.missing_links = st.st_nlink - 1 if st is not None else 0

    def ready(self) -> bool:
        """Its record can be written: every link seen (or the walk done) and the file read."""
        if self.missing_links > 0:
            return False
        if isinstance(self.outcome, _Outcome):
            return True
        future = self.outcome[0].future
        return future is not None and future.done()

    def result(self) -> _Outcome:
        if isinstance(self.outcome, _Outcome):
            return self.outcome
        batch, index = self.outcome
        return batch.outcome(index)


class Scan(Iterator[ScanRecord]):
    """The records of a scan, as an iterator; :attr:`summary` counts what it did.

    Made by :func:`scan`.  The walk and the hashing start with the first
    ``next()``; the workers and the cache are released when the iterator is
    exhausted or :meth:`close` is called.
    """

    def __init__(self, roots: Sequence[str], options: ScanOptions) -> None:
        if not roots:
            raise ScanError("no root to scan")
        if options.windows_root is not None and len(roots) > 1:
            raise ScanError("--as maps one root to its Windows path: give a single root")
        for root in roots:
            if not os.path.isdir(root) and not os.path.isfile(root):
                reason = (
                    "No such file or directory"
                    if not os.path.lexists(root)
                    else "not a directory or a regular file"
                )
                raise ScanError(f"{root}: {reason}")
        self._roots = tuple(roots)
        self._options = options
        windows_root = options.windows_root
        windows_folder = None if windows_root is None else normalized_windows_path(windows_root)
        self._windows_folder = windows_folder
        self._catalog_folder = options.catalogs
        if self._catalog_folder is None and windows_folder is not None:
            self._catalog_folder = _catroot(roots[0], windows_folder)
        elif self._catalog_folder is not None and not os.path.isdir(self._catalog_folder):
            raise ScanError(f"--catalogs {self._catalog_folder}: not a directory")
        self._catalogs: CatalogIndex | None = None
        self._exclude = _excluder(options)
        self._counts = _Counts()
        self._bytes = 0
        self._started: float | None = None
        self._seconds: float | None = None
        self._records: Generator[ScanRecord, None, None] = self._run()

    def __iter__(self) -> Scan:
        return self

    def __next__(self) -> ScanRecord:
        return next(self._records)

    def close(self) -> None:
        """Stop early: waits for the files being hashed, closes the cache."""
        self._records.close()

    @property
    def summary(self) -> ScanSummary:
        c = self._counts
        if self._seconds is not None:
            seconds = self._seconds
        elif self._started is not None:
            seconds = time.perf_counter() - self._started
        else:
            seconds = 0.0
        return ScanSummary(
            files=c.files,
            executables=c.executables,
            errors=c.errors,
            bytes_hashed=self._bytes,
            cached=c.cached,
            symlinks=c.symlinks,
            loops=c.loops,
            excluded=c.excluded,
            special=c.special,
            directories=c.directories,
            seconds=seconds,
            complete=self._seconds is not None,
        )

    @property
    def unused_excludes(self) -> tuple[str, ...]:
        """The ``exclude`` patterns that matched nothing so far (a typo, or the wrong case
        on a scan without ``windows_root``)."""
        exclude = self._exclude
        if exclude is None:
            return ()
        return tuple(
            p for p, used in zip(self._options.exclude, exclude.used, strict=True) if not used
        )

    @property
    def catalogs(self) -> CatalogIndex | None:
        """The catalogs files are matched against, once the first record was asked for."""
        return self._catalogs

    def _windows_path(self, rel: str) -> str | None:
        if self._windows_folder is None or not rel:
            return self._windows_folder
        return self._windows_folder + "\\" + rel.replace("/", "\\")

    def _run(self) -> Generator[ScanRecord, None, None]:
        self._started = time.perf_counter()
        options = self._options
        if self._catalog_folder is not None:
            self._catalogs = CatalogIndex.of_directory(self._catalog_folder)
        cache = _Cache(options.cache) if options.cache else None
        exclude = self._exclude
        pending: deque[_Slot] = deque()
        linked: dict[tuple[int, int], _Slot] = {}
        inflight: set[Future[list[_Outcome]]] = set()
        window = 4 * options.jobs
        chunk = _CHUNK if options.processes else 1
        batch = _Batch()
        completed = False
        executor = _executor(options)
        try:
            for root in self._roots:
                for found in _walk(root, exclude, self._counts, want_stat=True):
                    if isinstance(found, _Unreadable):
                        failed = _Outcome(error=found.error)
                        pending.append(_Slot(found.path, None, None, failed))
                        continue
                    st = found.stat
                    if st.st_nlink > 1:
                        first = linked.get((st.st_dev, st.st_ino))
                        if first is not None:
                            first.paths.append(found.path)
                            first.missing_links -= 1
                            yield from self._emit(pending, linked, cache, walk_done=False)
                            continue
                    listed = options.all_files or os.path.splitext(found.rel)[1].lower() in (
                        EXTENSIONS
                    )
                    if not listed and st.st_size < _MIN_PE_SIZE:
                        continue
                    row = cache.get(os.path.abspath(found.path)) if cache else None
                    outcome: _Outcome | tuple[_Batch, int]
                    if row is not None and row.matches(st) and not listed and not row.mz:
                        self._counts.cached += 1  # known not to be an executable
                        continue
                    content = None
                    if row is not None and row.matches(st) and row.content is not None:
                        content = _Content.from_cache(found.path, row.content)
                        if options.signatures and content.hashes.signatures is None:
                            content = None  # cached by a scan that did not read signatures
                    if content is not None:
                        self._counts.cached += 1
                        outcome = _Outcome(stat=st, mz=bool(row and row.mz), content=content)
                    else:
                        outcome = (batch, len(batch.work))
                        batch.work.append((found.path, not listed))
                    slot = _Slot(found.path, self._windows_path(found.rel), st, outcome)
                    if st.st_nlink > 1:
                        linked[(st.st_dev, st.st_ino)] = slot
                    pending.append(slot)
                    if len(batch.work) >= chunk:
                        inflight.add(batch.submit(executor, options.signatures))
                        batch = _Batch()
                    if len(inflight) >= window:
                        inflight = {f for f in inflight if not f.done()}
                        if len(inflight) >= window:
                            inflight = wait(inflight, return_when=FIRST_COMPLETED).not_done
                    yield from self._emit(pending, linked, cache, walk_done=False)
            if batch.work:
                batch.submit(executor, options.signatures)
            yield from self._emit(pending, linked, cache, walk_done=True)
            completed = True
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            try:
                if cache is not None:
                    cache.close()
            finally:
                if completed:
                    self._seconds = time.perf_counter() - self._started

    def _emit(
        self,
        pending: deque[_Slot],
        linked: dict[tuple[int, int], _Slot],
        cache: _Cache | None,
        *,
        walk_done: bool,
    ) -> Iterator[ScanRecord]:
        while pending and (walk_done or pending[0].ready()):
            slot = pending.popleft()
            fresh = not isinstance(slot.outcome, _Outcome)
            outcome = slot.result()
            if fresh and outcome.content is not None:
                self._bytes += outcome.content.hashes.size
            st = slot.stat
            if st is not None and st.st_nlink > 1:
                linked.pop((st.st_dev, st.st_ino), None)
            if fresh and cache is not None and outcome.error is None:
                cache.put(os.path.abspath(slot.paths[0]), outcome)
            record = self._record(slot, outcome)
            if record is not None:
                yield record

    def _record(self, slot: _Slot, outcome: _Outcome) -> ScanRecord | None:
        content = outcome.content
        if content is None and outcome.error is None:
            return None  # not an executable
        st = outcome.stat or slot.stat
        path = slot.paths[0]
        error = outcome.error
        if content is not None:
            error = _truncation(path, content.hashes)
        if error is None:
            self._counts.executables += 1
        else:
            self._counts.errors += 1
        hashes = content.hashes if content else None
        if hashes is not None and self._catalogs is not None:
            found = self._catalogs.lookup(
                (hashes.authenticode_sha256, hashes.authenticode_sha1, hashes.sha256)
            )
            if found is not None:
                hashes = replace(hashes, catalog=found)
        return ScanRecord(
            path=path,
            paths=tuple(slot.paths),
            hashes=hashes,
            windows_path=slot.windows_path,
            mtime_ns=st.st_mtime_ns if st else None,
            inode=st.st_ino if st else None,
            links=st.st_nlink if st else None,
            version=content.version if content else None,
            version_error=content.version_error if content else None,
            error=error,
        )


def _catroot(root: str, windows_root: str) -> str | None:
    r"""The image's ``Windows\System32\CatRoot`` under ``root`` mapped to ``windows_root``.

    Names are matched case-insensitively, as Windows does, on a case-sensitive mount.
    """
    below = windows_root.lower().split("\\")[1:]  # below the drive: [], ["windows"]...
    names = ("Windows", "System32", "CatRoot")
    if below != [n.lower() for n in names[: len(below)]] or not os.path.isdir(root):
        return None
    folder = root
    for name in names[len(below) :]:
        try:
            with os.scandir(folder) as entries:
                match = next(
                    (e.path for e in entries if e.name.lower() == name.lower() and e.is_dir()),
                    None,
                )
        except OSError:
            return None
        if match is None:
            return None
        folder = match
    return folder


def scan(roots: Sequence[str | os.PathLike[str]], options: ScanOptions | None = None) -> Scan:
    """Scan ``roots`` (directories, or files); iterate the result for :class:`ScanRecord` s.

    Raises :class:`~exewhitelist.errors.ScanError` at once when a root does
    not exist or ``--as`` is given with several roots, and
    :class:`~exewhitelist.errors.ScanCacheError` on the first ``next()``
    when the cache file is not a scan cache.
    """
    return Scan([os.fspath(r) for r in roots], options or ScanOptions())
