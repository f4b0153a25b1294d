"""What FlowClass knows about a file, remembered by (path, size, mtime).

Importing a folder hashes and checks every file once; afterwards an unchanged file costs
one ``stat`` call. The memory is a small SQLite database in the cache's ``files`` store.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import sqlite3


@dataclass(frozen=True)
class FileState:
    sha256: str
    width: int
    height: int
    error: str  # "" when the file is a usable image


_SQLITE_WRITE_ERRORS = {"full": (errno.ENOSPC, "No space left on device"),
                        "unable to open": (errno.EACCES, "cannot create or open the file"),
                        "readonly": (errno.EROFS, "the database is read-only"),
                        "disk I/O error": (errno.EIO, "input/output error")}


@contextmanager
def full_disk_as_oserror(database: Path) -> Iterator[None]:
    """SQLite says "database or disk is full" (or cannot open, or is read-only) without a
    path; say it as an OSError that has one, so the cache's trouble is told as such."""
    import sqlite3  # when a store is opened: a re-run served from the cache opens none

    try:
        yield
    except sqlite3.OperationalError as exc:
        for words, (code, text) in _SQLITE_WRITE_ERRORS.items():
            if words in str(exc):
                grown = _at_size_limit(database) if code == errno.EIO else None
                if grown is not None:
                    raise OSError(errno.EFBIG, "File too large", str(grown)) from exc
                raise OSError(code, text, str(database)) from exc
        raise


# SQLite grows a file by one page (at most 64 KiB) a write: within this of the limit, a
# write that failed hit it
_SIZE_MARGIN = 1 << 20


def _at_size_limit(database: Path) -> Path | None:
    """The file of ``database`` (itself, its write-ahead log or journal) that has grown to the
    largest size allowed, if one has: SQLite tells that failure (EFBIG: a ``ulimit -f``, a
    FAT32 disk's 4 GiB) as a "disk I/O error" and keeps the errno to itself."""
    largest = _largest_file(database.parent)
    for suffix in ("-wal", "-journal", ""):
        path = Path(f"{database}{suffix}")
        try:
            if largest is not None and path.stat().st_size + _SIZE_MARGIN >= largest:
                return path
        except OSError:
            continue
    return None


def _largest_file(folder: Path) -> int | None:
    """The largest file this process may write in ``folder``: its ``ulimit -f`` or what the
    file system allows, whichever is less; None when neither says."""
    limits = []
    try:
        import resource  # not on Windows

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    try:
        bits = os.pathconf(folder, "PC_FILESIZEBITS")  # the signed size's bits: 32 on FAT32
        if 0 < bits < 64:
            limits.append(2 ** (bits - 1))
    except (AttributeError, OSError, ValueError):
        pass
    return min(limits, default=None)


def open_database(path: Path, schema: str, **options) -> sqlite3.Connection:
    """Open (or make) one of the cache's SQLite files in WAL mode with ``schema`` (one or
    more statements). One that cannot be made (a full disk) leaves no file behind, not even
    an empty one."""
    import sqlite3

    existed = path.exists()
    db = None
    try:
        with full_disk_as_oserror(path):
            db = sqlite3.connect(path, isolation_level=None, timeout=30, **options)
            # a cache: a row may be lost on a power cut (it is made again), but no fsync per
            # write, which would make the disk wait once per file or vector. Set before WAL:
            # switching a new file to WAL then waits for the disk once less (a new store
            # opens about 4 ms sooner on this machine's loaded disk, benchmarks/README.md)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(schema)
        return db
    except BaseException:
        if db is not None:
            db.close()
        if not existed:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        raise


HASH_CHUNK = 1 << 20


def sha256_of_file(path: str | Path) -> str:
    """The content hash of a file, read a megabyte at a time: memory does not grow with
    the file's size (a 3 GB file named .jpg costs 1 MB, not 3 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileStateStore:
    """Thread-safe lookups and inserts of :class:`FileState` rows."""

    def __init__(self, folder: Path):
        self.path = folder / "files.sqlite"
        self._db = open_database(
            self.path, "CREATE TABLE IF NOT EXISTS files (path TEXT, size INTEGER, mtime INTEGER, "
            "version INTEGER, sha256 TEXT, width INTEGER, height INTEGER, error TEXT, "
            "PRIMARY KEY (path, size, mtime, version))", check_same_thread=False)
        self._lock = threading.Lock()

    def get(self, path: str, size: int, mtime: int, version: int) -> FileState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sha256, width, height, error FROM files WHERE path=? AND size=? AND "
                "mtime=? AND version=?", (path, size, mtime, version)).fetchone()
        return FileState(*row) if row else None

    def put(self, path: str, size: int, mtime: int, version: int, state: FileState) -> None:
        with self._lock, full_disk_as_oserror(self.path):
            self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (path, size, mtime, version, state.sha256, state.width,
                              state.height, state.error))

    def close(self) -> None:
        with self._lock:
            self._db.close()
