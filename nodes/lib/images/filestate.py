"""What FlowClass knows about a file, remembered by (path, size, mtime).

Importing a folder hashes and checks every file once; afterwards an unchanged file costs
one ``stat`` call. The memory is a small SQLite database in the cache's ``files`` store.
"""

from __future__ import annotations

import errno
import hashlib
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class FileState:
    sha256: str
    width: int
    height: int
    error: str  # "" when the file is a usable image


@contextmanager
def full_disk_as_oserror(database: Path) -> Iterator[None]:
    """SQLite says "database or disk is full" without a path; say it as an OSError that has one."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "full" not in str(exc):
            raise
        raise OSError(errno.ENOSPC, "No space left on device", str(database)) from exc


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
        self._db = sqlite3.connect(self.path, check_same_thread=False,
                                   isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        with self._lock, full_disk_as_oserror(self.path):
            self._db.execute("PRAGMA journal_mode=WAL")
            # a remembered probe may be lost on a power cut (the file is probed again), but no
            # fsync per file: with one, probing 100,000 files waits on the disk 100,000 times
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT, size INTEGER, mtime INTEGER, "
                "version INTEGER, sha256 TEXT, width INTEGER, height INTEGER, error TEXT, "
                "PRIMARY KEY (path, size, mtime, version))")

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
