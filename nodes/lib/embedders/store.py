"""Per-image embeddings remembered by (embedder id, image content hash).

A second workflow over the same images, or the same images in another folder, reuses
them: only new or changed pictures are embedded again.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable

import numpy as np

from ..images.filestate import full_disk_as_oserror, open_database


class EmbeddingStore:
    FILE = "embeddings.sqlite"

    def __init__(self, folder: Path):
        self.path = folder / self.FILE
        # Embed makes a new store in a thread of its own and uses it in the node's: one
        # thread at a time, handed over when made
        self._db = open_database(self.path, "CREATE TABLE IF NOT EXISTS vectors (embedder TEXT, "
                                 "sha256 TEXT, vector BLOB, PRIMARY KEY (embedder, sha256))",
                                 check_same_thread=False)

    @classmethod
    def made(cls, folder: Path) -> bool:
        """Whether the store exists: until it does, it knows no vector."""
        return (folder / cls.FILE).exists()

    def get_many(self, embedder: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self._db.execute(
                f"SELECT sha256, vector FROM vectors WHERE embedder=? AND sha256 IN "
                f"({','.join('?' * len(chunk))})", (embedder, *chunk)).fetchall()
            found.update((sha, np.frombuffer(blob, dtype=np.float32)) for sha, blob in rows)
        return found

    def put_many(self, embedder: str, items: Iterable[tuple[str, np.ndarray]], chunk: int = 4096) -> None:
        """Remember vectors, a chunk of rows at a time (bytes for all of 100,000 vectors at
        once would double the memory the vectors take), each chunk in one transaction: a
        batch of Embed is stored whole or not at all (a kill leaves no half batch), and its
        rows cost one commit, not one each."""
        items = iter(items)
        with full_disk_as_oserror(self.path):
            while rows := [(embedder, sha, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                           for sha, v in itertools.islice(items, chunk)]:
                with self._db:  # commits, or rolls the chunk back on an error
                    self._db.execute("BEGIN")
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()
