"""Find Duplicates' costly answers, kept in the cache as they are made, so a run stopped
half-way (Cancel, a crash, kill -9) is resumed, not started over.

Three answers are kept, each keyed by the images' content (sha256), never their paths:

- each image's 64 px gray working copy (decoding is the costly part of looking at images);
- each image's hash of its decoded pixels (the exact-copy check);
- each candidate pair's verdict: the coarse match and the fine difference (the pixel
  comparisons), also keyed by the check's settings (``match``, ``detail``); the pair's
  key is the first 16 bytes of each image's sha256, which keeps 1,000,000 verdicts in
  about 60 MB.

Every key holds :data:`VERSION`: change it whenever :mod:`.thumbnails` or
:mod:`.fine_detail` answer differently, so old answers are not reused. Answers are stored
exactly (floats as SQLite's 8-byte reals), so a resumed run gives the same output as one
never stopped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..images.filestate import full_disk_as_oserror, open_database
from .thumbnails import WORK

VERSION = "3"  # of the working copies, pixel hashes and verdicts kept (2: one side of a pair refined; 3: to half a pixel)
_SCHEMA = ("CREATE TABLE IF NOT EXISTS works (version TEXT, sha256 TEXT, work BLOB, "
           "PRIMARY KEY (version, sha256));"
           "CREATE TABLE IF NOT EXISTS digests (version TEXT, sha256 TEXT, digest TEXT, "
           "PRIMARY KEY (version, sha256));"
           "CREATE TABLE IF NOT EXISTS verdicts (version TEXT, first BLOB, second BLOB, coarse REAL, "
           "fine REAL, PRIMARY KEY (version, first, second)) WITHOUT ROWID")
_CHUNK = 500  # SQLite's limit on the parameters of one statement is 999 (older builds)


class KeptChecks:
    """The duplicate checks' store, one SQLite file in the cache's ``duplicates`` store."""

    def __init__(self, folder: Path):
        self.path = folder / "checks.sqlite"
        self._db = open_database(self.path, _SCHEMA)

    # working copies: (WORK, WORK) uint8, or None for an image that cannot be decoded
    def works(self, hashes: Sequence[str]) -> dict[str, np.ndarray | None]:
        found: dict[str, np.ndarray | None] = {}
        for rows in self._select("SELECT sha256, work FROM works WHERE version=? AND sha256 IN ({})", hashes):
            found.update((sha, None if blob is None else np.frombuffer(blob, np.uint8).reshape(WORK, WORK))
                         for sha, blob in rows)
        return found

    def keep_works(self, items: Iterable[tuple[str, np.ndarray | None]]) -> None:
        self._insert("INSERT OR REPLACE INTO works VALUES (?, ?, ?)",
                     [(VERSION, sha, None if work is None else np.ascontiguousarray(work, np.uint8).tobytes())
                      for sha, work in items])

    # hashes of decoded pixels ("" for an image that cannot be decoded)
    def digests(self, hashes: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for rows in self._select("SELECT sha256, digest FROM digests WHERE version=? AND sha256 IN ({})", hashes):
            found.update(rows)
        return found

    def keep_digest(self, sha: str, digest: str | None) -> None:
        self._insert("INSERT OR REPLACE INTO digests VALUES (?, ?, ?)", [(VERSION, sha, digest or "")])

    # verdicts: (coarse match, fine difference; NaN: not checked that far) per ordered pair
    def verdicts(self, settings: str, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[float, float]]:
        version = f"{VERSION}:{settings}"
        found: dict[tuple[str, str], tuple[float, float]] = {}
        wanted = {(_short(a), _short(b)): (a, b) for a, b in pairs}
        firsts = sorted({a for a, _ in wanted})
        for start in range(0, len(firsts), _CHUNK):
            chunk = firsts[start:start + _CHUNK]
            rows = self._db.execute(
                f"SELECT first, second, coarse, fine FROM verdicts WHERE version=? AND first IN "
                f"({','.join('?' * len(chunk))})", (version, *chunk)).fetchall()
            found.update((wanted[a, b], (_number(c), _number(f))) for a, b, c, f in rows if (a, b) in wanted)
        return found

    def keep_verdicts(self, settings: str, items: Iterable[tuple[str, str, float, float]]) -> None:
        version = f"{VERSION}:{settings}"
        self._insert("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?)",
                     [(version, _short(a), _short(b), _stored(c), _stored(f)) for a, b, c, f in items])

    def close(self) -> None:
        self._db.close()

    def _select(self, query: str, hashes: Sequence[str]):
        wanted = list(dict.fromkeys(hashes))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            yield self._db.execute(query.format(",".join("?" * len(chunk))), (VERSION, *chunk)).fetchall()

    def _insert(self, statement: str, rows: list[tuple]) -> None:
        """All ``rows`` in one transaction: kept together, or (killed half-way) none of them."""
        if not rows:
            return
        with full_disk_as_oserror(self.path):
            self._db.execute("BEGIN")
            try:
                self._db.executemany(statement, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def _short(sha: str) -> bytes:
    """The first 16 bytes of a sha256 (hex): a pair's key in a third of the room."""
    return bytes.fromhex(sha[:32])


def _stored(value: float) -> float | None:
    """NaN as NULL; infinity is a real SQLite keeps."""
    return None if value is None or math.isnan(value) else float(value)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)
