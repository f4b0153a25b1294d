"""Find Duplicates' costly answers, kept in the cache as they are made, so a run stopped
half-way (Cancel, a crash, kill -9) is resumed, not started over.

Five answers are kept, each keyed by the images' content (sha256), never their paths:

- each image's 64 px gray working copy (decoding is the costly part of looking at images),
  a chunk of images at a time in one row, appended (until version 4 a row per image in
  the table ``works``, left unread since);
- each image's hash of its decoded pixels (the exact-copy check);
- each image's best crop against each partner's whole view ("comparing thumbnails"), a
  chunk of images at a time in one row, appended (images named by the first 8 bytes of
  their sha256): the 1.3 million of 100,000 images cost 0.2 to 0.3 s to keep, where a row
  per image, put in order of its key, cost 7 s;
- each candidate pair's verdict: the coarse match and the fine difference (the pixel
  comparisons), also keyed by the check's settings (``match``, ``detail``); the pair's
  key is the first 16 bytes of each image's sha256, which keeps 1,000,000 verdicts in
  48 MB;
- the alignment of each pair that passed the coarse check ("aligning thumbnails"), which
  its fine check needs, under the same key, until that check is made.

Verdicts and alignments are appended a chunk of pairs at a time, one row per chunk, and
found again in memory when a run starts (a pair kept twice: the later counts).

A run stopped while comparing or aligning thumbnails thus resumes with what those stages
had made, as one stopped in the fine checks does. (Best crops and alignments came after
version 3 in tables of their own; verdicts and alignments, a row per pair in the tables
``verdicts`` and ``alignments`` until version 4, then moved to ``pair_chunks``: caches
made before stay valid, what those old tables hold is left unread and made again.)

Every key holds :data:`VERSION`: change it whenever :mod:`.thumbnails` or
:mod:`.fine_detail` answer differently, so old answers are not reused. Answers are stored
exactly (floats as 8-byte reals), so a resumed run gives the same output as one
never stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..images.filestate import full_disk_as_oserror, open_database
from .thumbnails import WORK, Alignment

VERSION = "4"  # of the working copies, pixel hashes and verdicts kept (2: one side of a pair refined; 3: to half a pixel; 4: fine textures refined however far off)
_SCHEMA = ("CREATE TABLE IF NOT EXISTS work_chunks (version TEXT, keys BLOB, decoded BLOB, works BLOB);"
           "CREATE TABLE IF NOT EXISTS digests (version TEXT, sha256 TEXT, digest TEXT, "
           "PRIMARY KEY (version, sha256));"
           "CREATE TABLE IF NOT EXISTS crops (version TEXT, made BLOB);"
           "CREATE TABLE IF NOT EXISTS pair_chunks (version TEXT, verdicts BLOB, alignments BLOB)")
# one pair's verdict and one aligned pair, as kept in pair_chunks: the pair's key (the first
# 16 bytes of each image's sha256), then the coarse match and fine difference (NaN: not
# checked that far), or the alignment
VERDICT = np.dtype([("pair", "V32"), ("coarse", "<f8"), ("fine", "<f8")])
ALIGNED = np.dtype([("pair", "V32"), ("score", "<f8"), ("cropped", "u1"), ("box", "<f8", (4,))])
# one image's best crop against one partner's whole: the two images (the first 8 bytes of
# their sha256, as numbers), the index of the box (thumbnails.BOXES) and its correlation
CROP = np.dtype([("image", "<u8"), ("partner", "<u8"), ("box", "u1"), ("correlation", "<f4")])
_CHUNK = 500  # SQLite's limit on the parameters of one statement is 999 (older builds)


class KeptChecks:
    """The duplicate checks' store, one SQLite file in the cache's ``duplicates`` store."""

    def __init__(self, folder: Path):
        self.path = folder / "checks.sqlite"
        self._db = open_database(self.path, _SCHEMA)

    # working copies: (WORK, WORK) uint8, or None for an image that cannot be decoded
    def works(self, hashes: Sequence[str]) -> dict[str, np.ndarray | None]:
        """The working copies kept of ``hashes``, read from every chunk kept (an image kept
        twice: the later counts)."""
        wanted, found = set(hashes), {}
        for keys, decoded, works in self._db.execute(
                "SELECT keys, decoded, works FROM work_chunks WHERE version=? ORDER BY rowid", (VERSION,)):
            works, keys = np.frombuffer(works, np.uint8).reshape(-1, WORK, WORK), keys.hex()
            for at, readable in enumerate(decoded):
                sha = keys[64 * at:64 * at + 64]
                if sha in wanted:
                    found[sha] = works[at] if readable else None
        return found

    def keep_works(self, items: Iterable[tuple[str, np.ndarray | None]]) -> None:
        """A chunk of working copies appended as one row (its images' sha256s, which of them
        decoded, their copies, zeros where not): 100,000 kept a row per image took 5.8 s,
        a row per chunk of 256 1.7 s."""
        items = list(items)
        if not items:
            return
        works = np.zeros((len(items), WORK, WORK), dtype=np.uint8)
        for at, (_, work) in enumerate(items):
            if work is not None:
                works[at] = work
        keys = b"".join(bytes.fromhex(sha) for sha, _ in items)
        decoded = bytes(work is not None for _, work in items)
        self._insert(("INSERT INTO work_chunks VALUES (?, ?, ?, ?)", [(VERSION, keys, decoded, works.tobytes())]))

    # hashes of decoded pixels ("" for an image that cannot be decoded)
    def digests(self, hashes: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for rows in self._select("SELECT sha256, digest FROM digests WHERE version=? AND sha256 IN ({})", hashes):
            found.update(rows)
        return found

    def keep_digests(self, items: Iterable[tuple[str, str | None]]) -> None:
        """(sha256, digest) of some images, in one write."""
        self._insert(("INSERT OR REPLACE INTO digests VALUES (?, ?, ?)",
                      [(VERSION, sha, digest or "") for sha, digest in items]))

    # best crops: CROP records, in the order kept
    def crops(self) -> np.ndarray:
        return self._records("SELECT made FROM crops WHERE version=? ORDER BY rowid", VERSION, CROP)

    def keep_crops(self, made: np.ndarray) -> None:
        self._insert(("INSERT INTO crops VALUES (?, ?)", [(VERSION, np.ascontiguousarray(made, CROP).tobytes())]))

    # verdicts: (coarse match, fine difference; NaN: not checked that far) per ordered pair
    def verdicts(self, settings: str, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[float, float]]:
        kept = self._pair_chunks("verdicts", VERDICT, settings)
        return {pair: (float(kept["coarse"][at]), float(kept["fine"][at]))
                for pair, at in _found(kept["pair"], pairs).items()}

    def keep_verdicts(self, settings: str, items: Iterable[tuple[str, str, float, float]],
                      aligned: Iterable[tuple[str, str, Alignment]] = ()) -> None:
        """Verdicts and the alignments of pairs that passed the coarse check (``aligned``),
        appended as one row: one write per chunk of pairs aligned, where a row per pair, put
        in order of its key, cost 4 s of the 10 s aligning 20,000 images' pairs."""
        items, aligned = list(items), list(aligned)
        self.keep_verdict_rows(settings, pair_keys(items), np.reshape([(c, f) for _, _, c, f in items], (-1, 2)),
                               pair_keys(aligned), [f for _, _, f in aligned])

    def keep_verdict_rows(self, settings: str, keys: np.ndarray, scores: np.ndarray, aligned_keys: np.ndarray,
                          aligned: Sequence[Alignment]) -> None:
        """:meth:`keep_verdicts` of pairs given by their keys ((k, 32) uint8: the halves from
        :func:`image_keys`), made a chunk at a time, not one pair at a time (640,000 pairs'
        took 2 s of the run's one process while its workers aligned)."""
        if not len(scores) and not len(aligned):
            return
        verdicts = np.zeros(len(scores), dtype=VERDICT)
        verdicts["pair"] = np.ascontiguousarray(keys, np.uint8).reshape(-1, 32).view("V32").ravel()
        verdicts["coarse"], verdicts["fine"] = scores[:, 0], scores[:, 1]
        found = np.zeros(len(aligned), dtype=ALIGNED)
        found["pair"] = np.ascontiguousarray(aligned_keys, np.uint8).reshape(-1, 32).view("V32").ravel()
        found["score"], found["cropped"] = [f.score for f in aligned], [f.cropped for f in aligned]
        found["box"] = np.reshape([f.box for f in aligned], (len(aligned), 4))
        self._insert(("INSERT INTO pair_chunks VALUES (?, ?, ?)",
                      [(f"{VERSION}:{settings}", verdicts.tobytes(), found.tobytes())]))

    # alignments of the pairs that passed the coarse check
    def alignments(self, settings: str, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Alignment]:
        kept = self._pair_chunks("alignments", ALIGNED, settings)
        return {pair: Alignment(float(kept["score"][at]), int(kept["cropped"][at]),
                                tuple(float(v) for v in kept["box"][at]))
                for pair, at in _found(kept["pair"], pairs).items()}

    def any_alignments(self, settings: str) -> bool:
        """Whether any alignment is kept under these settings (keys of 640,000 pairs take a second)."""
        return self._db.execute("SELECT 1 FROM pair_chunks WHERE version=? AND length(alignments) > 0 LIMIT 1",
                                (f"{VERSION}:{settings}",)).fetchone() is not None

    def any_pair_chunks(self, settings: str) -> bool:
        """Whether any verdict or alignment is kept under these settings."""
        return self._db.execute("SELECT 1 FROM pair_chunks WHERE version=? LIMIT 1",
                                (f"{VERSION}:{settings}",)).fetchone() is not None

    def _pair_chunks(self, column: str, dtype: np.dtype, settings: str) -> np.ndarray:
        """Every record of ``column`` kept under these settings, in the order kept."""
        return self._records(f"SELECT {column} FROM pair_chunks WHERE version=? ORDER BY rowid",
                             f"{VERSION}:{settings}", dtype)

    def _records(self, query: str, version: str, dtype: np.dtype) -> np.ndarray:
        """The records of every chunk ``query`` selects (one blob column), in the order kept."""
        rows = self._db.execute(query, (version,)).fetchall()
        return np.frombuffer(b"".join(made for made, in rows), dtype)

    def close(self) -> None:
        self._db.close()

    def _select(self, query: str, hashes: Sequence[str]):
        wanted = list(dict.fromkeys(hashes))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            yield self._db.execute(query.format(",".join("?" * len(chunk))), (VERSION, *chunk)).fetchall()

    def _insert(self, *batches: tuple[str, list[tuple]]) -> None:
        """The rows of every (statement, rows) in one transaction: kept together, or (killed
        half-way) none of them."""
        batches = tuple((statement, rows) for statement, rows in batches if rows)
        if not batches:
            return
        with full_disk_as_oserror(self.path):
            self._db.execute("BEGIN")
            try:
                for statement, rows in batches:
                    self._db.executemany(statement, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def image_keys(hashes: Sequence[str]) -> np.ndarray:
    """(n, 16) uint8: the first 16 bytes of each sha256 (hex), each image's half of a pair's key."""
    return np.frombuffer(b"".join(bytes.fromhex(sha[:32]) for sha in hashes), np.uint8).reshape(-1, 16)


def pair_keys(pairs: Sequence[Sequence]) -> np.ndarray:
    """(k, 32) uint8: the keys of ``pairs`` (each starts with its two images' sha256s), their
    two halves (:func:`image_keys`) side by side: a pair's key in a third of the room."""
    return image_keys([sha for pair in pairs for sha in pair[:2]]).reshape(-1, 32)


def _found(keys: np.ndarray, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Where each of ``pairs`` is in ``keys`` (pair keys, in the order kept; a pair kept
    twice: the later), for those found."""
    if not len(keys) or not len(pairs):
        return {}
    places = {key: at for at, key in enumerate(keys.tolist())}  # later ones win
    found = {}
    for pair, key in zip(pairs, pair_keys(pairs).view("V32").ravel().tolist()):
        at = places.get(key)
        if at is not None:
            found[pair] = at
    return found


class KeptCrops:
    """The best crops of one collection's candidate pairs (``hashes``: its images' sha256s),
    kept in ``kept`` as they are made and found again by index: an entry is one image
    cropped (``first``) against a partner's whole view (``other``). Here the first 8 bytes
    of a sha256 name an image: should two of the collection's share them, nothing is kept."""

    def __init__(self, kept: KeptChecks, hashes: Sequence[str]):
        import pandas as pd

        self.kept = kept
        self.ids = np.array([int(sha[:16], 16) for sha in hashes], dtype=np.uint64)
        self.images = pd.Index(np.unique(self.ids))  # each distinct image's number here: its place
        self.usable = len(self.images) == len(set(hashes))
        self.places = self.images.get_indexer(self.ids)

    def known(self, first: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which entries are kept (bool), and their box index and correlation (0 where not)."""
        import pandas as pd

        found = np.zeros(len(first), dtype=bool)
        boxes, correlations = np.zeros(len(first), dtype=np.int64), np.zeros(len(first), dtype=np.float64)
        kept = self.kept.crops() if self.usable and len(first) else np.zeros(0, dtype=CROP)
        if not len(kept):
            return found, boxes, correlations
        n = len(self.images)
        image, partner = self.images.get_indexer(kept["image"]), self.images.get_indexer(kept["partner"])
        ours = (image >= 0) & (partner >= 0)  # images of another collection are left out
        keys = pd.Index(image[ours].astype(np.int64) * n + partner[ours])
        last = ~keys.duplicated(keep="last")  # an entry kept twice: the later counts
        keys, kept = keys[last], kept[ours][last]
        at = keys.get_indexer(self.places[first].astype(np.int64) * n + self.places[other])
        found = at >= 0
        boxes[found], correlations[found] = kept["box"][at[found]], kept["correlation"][at[found]]
        return found, boxes, correlations

    def keep(self, first: np.ndarray, other: np.ndarray, boxes: np.ndarray, correlations: np.ndarray) -> None:
        """The entries (``first``, ``other``) just made: their best box and its correlation."""
        if self.usable and len(first):
            made = np.empty(len(first), dtype=CROP)
            made["image"], made["partner"] = self.ids[first], self.ids[other]
            made["box"], made["correlation"] = boxes, correlations
            self.kept.keep_crops(made)
