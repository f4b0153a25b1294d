"""Exact and near copies of images: candidates from embeddings and thumbnails, decided on the pixels.

- **Exact** copies have the same decoded pixels, whatever their names or formats: files
  with the same bytes (sha256) are copies outright; images whose embeddings are nearly the
  same, or whose small working copies are equal, are decoded and compared by a hash of
  their pixels.
- **Near** copies (re-encoded, resized, slightly cropped, brightened) are found among
  candidate pairs: each image's nearest embedding neighbours, and its nearest neighbours
  by an 8 x 8 signature that brightness and contrast do not change (brightening a gray
  image can move its embedding far from its original's). A candidate is a copy when it
  passes two checks: the coarse one (:mod:`.thumbnails`: the best-aligned crop of one
  32 px view, after a brightness curve, explains nearly all of the other's variance) and
  the fine one (:mod:`.fine_detail`: laid over each other at the smaller image's full
  resolution, no patch of fine detail differs). Look-alike images that are not copies
  (two writers' "7", two scans of the same digit) pass the first but not the second.

Groups are the connected pairs; in each the image kept is the one with the most pixels,
then the largest file, then the first path, so the choice does not depend on file order.
"""

from __future__ import annotations

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np

from .fine_detail import DETAIL, detail_difference, fine_copy
from .kept_checks import KeptChecks, KeptCrops, image_keys
from .neighbours import nearest
from .pair_pool import cores, in_order
from .thumbnails import (ALIGNED, NO_ALIGNMENT, SIGNATURE, THUMB, WORK, Alignment, align, align_many,
                         all_views, best_crops, look_at, misalignment_slack, pixel_digest, unit, whole,
                         work_digest, working_copy)
from .thumbnails import signatures as all_signatures

T = TypeVar("T")

CANDIDATE_NEIGHBOURS = 10
CANDIDATE_SIMILARITY = 0.5  # cosine of centred embeddings below which a pair is no candidate
SIGNATURE_NEIGHBOURS = 3  # nearest images by signature that are candidates too
SIGNATURE_SIMILARITY = 0.9  # cosine of signatures below which those are not
EXACT_SIMILARITY = 0.995  # embeddings this alike are worth hashing the full pixels of
MATCH = 0.995  # share of one view's variance a monotone curve of the other explains
FINE_TEXTURE = 0.04  # misalignment slack of both images above which a pair's fine check is refined however far off
READERS = 4  # threads decoding images
LOOKS_CHUNK = 256  # images a worker looks at at a time (kept as they come back)
DIGEST_CHUNK = 64  # images whose decoded pixels a worker hashes at a time (kept as they come back)
PREPARE_CHUNK = 1024  # images whose whole views and slack a worker makes at a time (about 0.2 s)
CROPS_CHUNK = 256  # images whose crops a worker matches at a time (about 0.1 s)
ALIGN_CHUNK = 128  # pairs a worker aligns at a time, their crops refined together (about 0.1 s)
ALIGN_KEEPS_FREED = 64 << 20  # what an aligning worker keeps of the arrays it frees (it makes ~10 MB a chunk)
FINE_CHUNK = 32  # pairs a worker compares in fine detail at a time (about 0.2 s; neighbours share fine copies)
FINE_COPIES = 256  # fine copies each worker keeps decoded (64 px gray: 16 KB; 256 px: 256 KB)
COARSE_NEEDS = ("scipy.optimize",)  # what the checks import as they run: imported before forking
LOOK_NEEDS = ("flowclass.userfiles.pictures", "PIL.ImageOps",  # and the formats it registers:
              *(f"PIL.{name}ImagePlugin" for name in ("Bmp", "Gif", "Jpeg", "Png", "Tiff", "WebP")))
FINE_NEEDS = (*COARSE_NEEDS, "scipy.ndimage", "PIL.Image", "flowclass.userfiles.pictures")


@dataclass(frozen=True)
class Copies:
    """The images that have a copy: their group, exact or near, and which one is kept."""

    index: np.ndarray  # int, into the collection
    group: np.ndarray  # int, 1.. in order of the group's first image
    kind: np.ndarray  # "exact" or "near"
    keep: np.ndarray  # bool, one per group


def _union_find(n: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) for i in range(n)])


def candidate_pairs(rows: np.ndarray, neighbours: int = CANDIDATE_NEIGHBOURS,
                    similarity: float = CANDIDATE_SIMILARITY,
                    threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of neighbours among ``rows`` at least ``similarity`` alike, and how alike
    (searched on at most ``threads`` of faiss's threads)."""
    sims, idx = nearest(rows, neighbours, threads=threads)
    i = np.repeat(np.arange(len(rows)), idx.shape[1])
    j, s = idx.ravel(), sims.ravel()
    ok = (j >= 0) & (s >= similarity)
    a, b = np.minimum(i[ok], j[ok]), np.maximum(i[ok], j[ok])
    pairs, first = unique_pairs(a, b)
    return pairs, s[ok][first]


def unique_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique`` of the pairs (``first``, ``second``: non-negative ints) as rows, and
    where each first occurs: the same answer, in the same order, as ``axis=0`` gives, from
    one int64 key per pair (first * m + second), a tenth of the time at 1,000,000 pairs."""
    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)
    m = int(max(first.max(initial=0), second.max(initial=0))) + 1
    if m > 2**31:  # the key would overflow: as rows
        return np.unique(np.stack([first, second], axis=1), axis=0, return_index=True)
    keys, at = np.unique(first * m + second, return_index=True)
    return np.stack([keys // m, keys % m], axis=1), at


@dataclass(frozen=True)
class Looks:
    """Every image's working copy and signature, as arrays (100,000 images: about 430 MB)."""

    works: np.ndarray  # (n, WORK, WORK) uint8
    signatures: np.ndarray  # (n, SIGNATURE ** 2) float32
    digests: np.ndarray  # (n,) object: a hash of the working copy; None: not decodable

    @property
    def readable(self) -> np.ndarray:
        return np.array([d is not None for d in self.digests], dtype=bool)


def look_at_all(paths: Sequence[str], progress: Callable[[int, int], None],
                hashes: Sequence[str] | None = None, kept: KeptChecks | None = None,
                threads: int = READERS, workers: int = 1,
                meanwhile: Callable[[], T] = lambda: None) -> tuple[Looks, T]:
    """Every image's look; with ``kept`` (and the images' ``hashes``), working copies kept
    by an earlier run are reused and new ones kept, LOOKS_CHUNK at a time, as they are made.
    Decoding a small image is mostly Python and PIL work under Python's lock, so ``workers``
    processes share the images (:mod:`.pair_pool`); reading waits on the disk and decoding
    leaves the lock, so each runs ``threads`` // ``workers`` threads. A chunk's looks come
    back as arrays (:func:`_look_at_chunk`) and go to their rows.
    The looking leaves about a third of two cores idle: ``meanwhile`` runs on a thread here
    as the workers look (started once they are forked: a thread running at a fork can leave
    a lock held in the worker) and its answer comes back with the looks."""
    n = len(paths)
    works = np.zeros((n, WORK, WORK), dtype=np.uint8)
    signatures = np.zeros((n, SIGNATURE * SIGNATURE), dtype=np.float32)
    digests = np.full(n, None, dtype=object)

    def take(chunk: Sequence[int], looked: _Looked) -> None:
        works[chunk], signatures[chunk] = looked.works, looked.signatures
        for i, digest in zip(chunk, looked.digests):  # one by one: bytes stay bytes in an object array
            digests[i] = digest

    known = kept.works(hashes) if kept is not None else {}
    todo, reused = [], []
    for i in range(n):
        if kept is not None and hashes[i] in known:
            reused.append(i)
        else:
            todo.append(i)
    for start in range(0, len(reused), LOOKS_CHUNK):
        chunk = reused[start:start + LOOKS_CHUNK]
        take(chunk, _Looked.of([known[hashes[i]] for i in chunk]))
    chunks = [todo[start:start + LOOKS_CHUNK] for start in range(0, len(todo), LOOKS_CHUNK)]
    looking = functools.partial(_look_at_chunk, paths, max(1, threads // max(1, workers)))
    done = n - len(todo)
    with in_order(looking, chunks, workers, LOOK_NEEDS) as results, ThreadPoolExecutor(1) as beside:
        besides = beside.submit(meanwhile)
        for chunk, looked in zip(chunks, results):
            progress(done, n)
            take(chunk, looked)
            if kept is not None:
                kept.keep_works([(hashes[i], work if decoded else None)
                                 for i, work, decoded in zip(chunk, looked.works, looked.decoded)])
            done += len(chunk)
        answer = besides.result()
    progress(n, n)
    return Looks(works, signatures, digests), answer


@dataclass(frozen=True)
class _Looked:
    """A chunk of images' looks, as arrays: what a worker sends back (a Look per image took a
    pickled object each), zeros and None where an image could not be decoded."""

    works: np.ndarray  # (k, WORK, WORK) uint8
    decoded: np.ndarray  # (k,) bool
    signatures: np.ndarray  # (k, SIGNATURE ** 2) float32
    digests: list[bytes | None]

    @classmethod
    def of(cls, works: Sequence[np.ndarray | None]) -> _Looked:
        decoded = np.array([work is not None for work in works], dtype=bool)
        stacked = np.zeros((len(works), WORK, WORK), dtype=np.uint8)
        for at, work in enumerate(works):
            if work is not None:
                stacked[at] = work
        signed = np.zeros((len(works), SIGNATURE * SIGNATURE), dtype=np.float32)
        signed[decoded] = all_signatures(stacked[decoded])
        return cls(stacked, decoded, signed, [work_digest(w) if ok else None for w, ok in zip(stacked, decoded)])


def _look_at_chunk(paths: Sequence[str], threads: int, chunk: list[int]) -> _Looked:
    """:func:`.thumbnails.working_copy` of the images ``chunk``, on ``threads`` threads, and
    what they contribute."""
    if threads < 2:
        return _Looked.of([working_copy(paths[i]) for i in chunk])
    with ThreadPoolExecutor(threads) as pool:
        return _Looked.of(list(pool.map(working_copy, [paths[i] for i in chunk])))


def _similarities(rows: np.ndarray, pairs: np.ndarray, block: int = 65_536) -> np.ndarray:
    """Each pair's inner product of ``rows``, ``block`` pairs at a time: gathered all at once,
    the two rows of each pair took 500 MB at 100,000 images, the run's peak."""
    sims = np.zeros(len(pairs), dtype=rows.dtype)
    for start in range(0, len(pairs), block):
        part = pairs[start:start + block]
        sims[start:start + block] = np.einsum("ij,ij->i", rows[part[:, 0]], rows[part[:, 1]])
    return sims


def files_of(hashes: np.ndarray) -> np.ndarray:
    """Each image's number for its bytes (int64): the same for the same sha256."""
    return np.unique(hashes, return_inverse=True)[1].astype(np.int64).ravel()


def _checkable(pairs: np.ndarray, readable: np.ndarray, files: np.ndarray) -> np.ndarray:
    """Which ``pairs`` are compared: both images readable and not the same bytes (``files``:
    :func:`files_of`). By number, not by sha256: the 64-character strings of both sides
    gathered took 512 bytes a pair, 330 MB at 100,000 images, while the workers preparing
    the images beside the signature search held their pages (the run's peak)."""
    return readable[pairs[:, 0]] & readable[pairs[:, 1]] & (files[pairs[:, 0]] != files[pairs[:, 1]])


def _unique_pairs(*pair_arrays: np.ndarray) -> np.ndarray:
    pairs = np.concatenate([p.reshape(-1, 2) for p in pair_arrays]).astype(np.int64)
    return unique_pairs(pairs[:, 0], pairs[:, 1])[0] if len(pairs) else np.zeros((0, 2), dtype=np.int64)


Progress = Callable[[int, int, str, str], None]


def find_copies(paths: Sequence[str], hashes: Sequence[str], rows: np.ndarray, *,
                near: bool = True, match_above: float = MATCH, detail_below: float = DETAIL,
                neighbours: int = CANDIDATE_NEIGHBOURS, candidate_similarity: float = CANDIDATE_SIMILARITY,
                sizes: Callable[[str], int] = os.path.getsize,
                areas: Sequence[int] | None = None,
                progress: Progress = lambda done, total, unit, message: None,
                keep_chosen: dict[int, int] | None = None,
                kept: KeptChecks | None = None, workers: int | None = None) -> tuple[Copies, np.ndarray]:
    """The copies among the images (``rows``: their unit-length embeddings) and, per
    candidate pair examined, rows of (i, j, coarse match, fine difference) (NaN: not
    checked that far; exact copies: 1 and 0).

    ``areas`` are the images' pixel counts (read from the files when not given).
    ``keep_chosen`` maps images the user chose to keep to the order of that choice; in a
    group with several, the latest choice wins. ``kept``: where the costly answers (working
    copies, pixel hashes, pair verdicts) are kept as they are made and reused, so a run
    stopped half-way resumes (:mod:`.kept_checks`). ``workers``: processes checking the
    candidate pairs (default: one per core; the answer is the same for any number).
    """
    n = len(paths)
    hashes = np.asarray(hashes, dtype=str)
    workers = workers or cores()
    settings = f"{match_above!r}:{detail_below!r}"  # what the kept verdicts were judged under
    exact_pairs: list[tuple[int, int]] = []
    # same bytes: copies without looking
    order = np.argsort(hashes, kind="stable")
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
    exact_pairs += [(int(order[k]), int(order[k + 1])) for k in same]
    none = np.zeros((0, 2), dtype=np.int64)
    pairs, sims, looks = none, np.zeros(0), None
    if near and n > 1:  # the embedding's neighbours searched while the images are looked at, on the
        # core the looking leaves idle (a second faiss thread waited on busy cores: 1.5 times the CPU)
        looks, (pairs, sims) = look_at_all(
            paths, lambda done, total: progress(done, total, "images", "looking at images"), hashes.tolist(), kept,
            workers=workers, meanwhile=lambda: candidate_pairs(rows, neighbours, candidate_similarity, 1))
        prepared, readable, files = _Prepared.none(n), looks.readable, files_of(hashes)
        checkable = _checkable(pairs, readable, files)

        def with_signatures(threads: int | None = None, by_embedding: np.ndarray = pairs) -> np.ndarray:
            by_signature, _ = candidate_pairs(looks.signatures, min(SIGNATURE_NEIGHBOURS, n - 1),
                                              SIGNATURE_SIMILARITY, threads)
            both = _unique_pairs(by_embedding, by_signature)
            return both[_checkable(both, readable, files)]

        # the images of the embedding's pairs prepared for the coarse check while the signatures are
        # searched (that search on one core, serial, cost 5 to 7 s at 100,000 images); not where a
        # stopped run kept verdicts: those pairs need no preparing
        if kept is None or not kept.any_pair_chunks(settings):
            pairs = prepared.make(looks.works, np.unique(pairs[checkable]), workers,
                                  lambda: progress(0, n, "images", "comparing thumbnails"), lambda: with_signatures(1))
        else:
            pairs = with_signatures()
        sims = _similarities(rows, pairs)
    elif n > 1:
        pairs, sims = candidate_pairs(rows, neighbours, candidate_similarity)
        wanted = (sims >= EXACT_SIMILARITY) & _checkable(pairs, np.ones(n, dtype=bool), files_of(hashes))
        pairs, sims = pairs[wanted], sims[wanted]
    scores = np.full((len(pairs), 2), np.nan)
    # same pixels: hash them where embeddings or working copies say they may be
    worth = sims >= EXACT_SIMILARITY
    if looks is not None and len(pairs):
        worth |= looks.digests[pairs[:, 0]] == looks.digests[pairs[:, 1]]
    digest = _digests(paths, hashes, pairs[worth], kept, workers)
    exact = np.zeros(len(pairs), dtype=bool)
    for k in np.flatnonzero(worth):
        a, b = (int(v) for v in pairs[k])
        if digest(a) is not None and digest(a) == digest(b):
            exact[k] = True
            exact_pairs.append((a, b))
            scores[k] = (1.0, 0.0)
    near_pairs: list[tuple[int, int]] = []
    if looks is not None:  # no BLAS thread limit here: it is the whole process's (see pair_pool)
        near_pairs = _near(pairs, np.flatnonzero(~exact), looks, prepared, paths, scores, match_above,
                           detail_below, progress, _Verdicts(kept, hashes, settings), workers)
    area_of = (lambda i: int(areas[i])) if areas is not None else (lambda i: _area(paths[i]))
    copies = _group(n, exact_pairs, near_pairs, paths, area_of, sizes, keep_chosen or {})
    return copies, np.column_stack([pairs, scores]) if len(pairs) else np.zeros((0, 4))


def _digests(paths: Sequence[str], hashes: np.ndarray, pairs: np.ndarray, kept: KeptChecks | None,
             workers: int) -> Callable[[int], str | None]:
    """The pixel hash of image i, for the images of ``pairs``: kept ones reused, new ones made
    by ``workers`` processes (:mod:`.pair_pool`), DIGEST_CHUNK images at a time, each chunk
    kept in one write as it comes back: made here and kept one write each, 19,200 images'
    took 4.5 to 5.9 s of CPU and 17 to 19 s (load 10), against 3.3 to 3.5 and 5 to 14 s."""
    images = np.unique(pairs)
    known = kept.digests(hashes[images].tolist()) if kept is not None and len(pairs) else {}
    todo = [int(i) for i in images if str(hashes[i]) not in known]
    chunks = [todo[start:start + DIGEST_CHUNK] for start in range(0, len(todo), DIGEST_CHUNK)]
    made: dict[int, str | None] = {}
    with in_order(functools.partial(_pixel_digests, paths), chunks, workers, LOOK_NEEDS) as results:
        for chunk, digests in zip(chunks, results):
            made.update(zip(chunk, digests))
            if kept is not None:
                kept.keep_digests([(str(hashes[i]), found) for i, found in zip(chunk, digests)])

    def digest(i: int) -> str | None:
        sha = str(hashes[i])
        return (known[sha] or None) if sha in known else made[i]
    return digest


def _pixel_digests(paths: Sequence[str], chunk: list[int]) -> list[str | None]:
    return [pixel_digest(paths[i]) for i in chunk]


@dataclass(frozen=True)
class _Verdicts:
    """Pair verdicts kept in ``kept`` under the check's ``settings`` (none kept: None)."""

    kept: KeptChecks | None
    hashes: np.ndarray
    settings: str

    def key(self, pair: np.ndarray) -> tuple[str, str]:
        return str(self.hashes[pair[0]]), str(self.hashes[pair[1]])

    def known(self, pairs: np.ndarray) -> dict[tuple[str, str], tuple[float, float]]:
        """The verdicts kept of ``pairs`` (their keys made only where some are kept: 640,000
        pairs' took 2 s)."""
        if self.kept is None or not len(pairs) or not self.kept.any_pair_chunks(self.settings):
            return {}
        return self.kept.verdicts(self.settings, [self.key(p) for p in pairs])

    def keep(self, pairs: np.ndarray, scores: np.ndarray, at: np.ndarray | None = None,
             passed: Sequence[tuple[int, Alignment]] = ()) -> None:
        """The verdicts ``scores[at]`` of ``pairs[at]`` (default: all), and the alignments of
        the pairs ``passed`` (indices into ``pairs``) that their fine checks need."""
        at = np.arange(len(pairs)) if at is None else at
        if self.kept is not None:
            ks = np.array([k for k, _ in passed], dtype=np.int64)
            self.kept.keep_verdict_rows(self.settings, self._pair_keys(pairs[at]), scores[at],
                                        self._pair_keys(pairs[ks]), [found for _, found in passed])

    def _pair_keys(self, pairs: np.ndarray) -> np.ndarray:
        """(k, 32) uint8: the pairs' keys as the store keeps them (:func:`.kept_checks.image_keys`)."""
        keys = self._image_keys
        return np.concatenate([keys[pairs[:, 0]], keys[pairs[:, 1]]], axis=1)

    @functools.cached_property
    def _image_keys(self) -> np.ndarray:
        return image_keys(self.hashes.tolist())

    def aligned(self, pairs: np.ndarray, at: np.ndarray) -> list[tuple[int, Alignment]]:
        """Of ``pairs[at]``, those a stopped run aligned (they passed the coarse check), with their alignment."""
        if self.kept is None or not len(at) or not self.kept.any_alignments(self.settings):
            return []
        found = self.kept.alignments(self.settings, [self.key(pairs[k]) for k in at])
        return [(int(k), found[key]) for k in at if (key := self.key(pairs[k])) in found]

    def crops(self) -> KeptCrops | None:
        return None if self.kept is None else KeptCrops(self.kept, self.hashes)


def _near(pairs: np.ndarray, to_check: np.ndarray, looks: Looks, prepared: _Prepared, paths: Sequence[str],
          scores: np.ndarray, match_above: float, detail_below: float,
          progress: Progress, verdicts: _Verdicts, workers: int) -> list[tuple[int, int]]:
    """The pairs ``pairs[to_check]`` that pass the coarse and then the fine check; their
    scores go into ``scores`` (coarse match, fine difference). Verdicts kept by an earlier
    run are reused; new ones are kept as they are made, a chunk of pairs at a time (the
    fine checks' chunk kept in one write as it comes back: a write per pair made 50,000 of
    them at 100,000 images). ``prepared``: the images' views and slack made so far (the rest
    are made as the coarse check needs them). Before that the coarse check keeps
    its best crops and the alignments its fine checks need (:mod:`.kept_checks`), so a run
    stopped while comparing or aligning thumbnails resumes there too. ``workers`` processes
    check them (:mod:`.pair_pool`)."""
    known = verdicts.known(pairs[to_check])
    stored = np.zeros(len(to_check), dtype=bool)  # (keys made only where verdicts are kept: 1 s at 640,000 pairs)
    if known:
        stored = np.array([verdicts.key(pairs[k]) in known for k in to_check], dtype=bool)
    for k in to_check[stored]:
        scores[k] = known[verdicts.key(pairs[k])]
    fresh = to_check[~stored]
    passed = verdicts.aligned(pairs, fresh)  # by a run stopped before their fine checks
    for k, found in passed:
        scores[k, 0] = found.score
    fresh = fresh[~np.isin(fresh, [k for k, _ in passed])]
    with contextlib.closing(_coarse(pairs[fresh], looks.works, prepared, match_above, progress, workers,
                                    verdicts.crops())) as coarse:
        for chunk, found in coarse:
            ks = fresh[chunk]
            scores[ks, 0] = [f.score for f in found]
            made = [(k, f) for k, f in zip(ks.tolist(), found) if f.score >= match_above]
            passed += made
            settled = ks[scores[ks, 0] < match_above]
            verdicts.keep(pairs, scores, settled, made)
    prepared.drop_views()
    passed = _by_group(passed, pairs)
    fine = functools.lru_cache(maxsize=FINE_COPIES)(lambda i: fine_copy(paths[i]))

    def fine_checks(chunk: list[tuple[int, Alignment]]) -> list[float]:
        return [_fine_check(found, fine(int(pairs[k, 0])), fine(int(pairs[k, 1])), detail_below,
                            functools.partial(_textures, looks.works[pairs[k]], prepared.texture[pairs[k]]))
                for k, found in chunk]

    before = int(np.sum(scores[to_check[stored], 0] >= match_above))  # fine checks kept
    size = FINE_CHUNK if workers > 1 else 1  # here: each verdict kept as soon as it is made
    chunks = [passed[start:start + size] for start in range(0, len(passed), size)]
    done = before
    progress(done, before + len(passed), "pairs", "comparing fine detail")
    with in_order(fine_checks, chunks, workers, FINE_NEEDS) as results:
        for chunk, differences in zip(chunks, results):
            ks = np.array([k for k, _ in chunk], dtype=np.int64)
            scores[ks, 1] = differences
            verdicts.keep(pairs, scores, ks)  # a chunk's verdicts in one write, before any Cancel
            for _ in chunk:
                done += 1
                progress(done, before + len(passed), "pairs", "comparing fine detail")  # Cancel: here
    return [(int(pairs[k, 0]), int(pairs[k, 1])) for k in to_check if scores[k, 1] <= detail_below]


def _by_group(passed: list[tuple[int, Alignment]], pairs: np.ndarray) -> list[tuple[int, Alignment]]:
    """``passed`` (index into ``pairs``, alignment) in the order of the groups its pairs connect
    (:func:`scipy.sparse.csgraph.connected_components`), in their order within each: a
    group's images are then decoded for the fine check while each worker still has them
    (FINE_COPIES), not once per pair where a group's pairs lie far apart (they do: pairs are
    in the order of their first image, and a look-alike's partners are anywhere)."""
    if len(passed) < 2:
        return passed
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ends = pairs[[k for k, _ in passed]]
    images, at = np.unique(ends, return_inverse=True)
    at = at.reshape(ends.shape)
    links = coo_matrix((np.ones(len(at)), (at[:, 0], at[:, 1])), shape=(len(images), len(images)))
    group = connected_components(links, directed=False)[1][at[:, 0]]
    return [passed[i] for i in np.argsort(group, kind="stable")]


def _textures(works: np.ndarray, slack: np.ndarray) -> bool:
    """Whether both working copies are fine textures: their misalignment slack for a pixel
    off (``slack``, as the coarse check prepared them; NaN: not prepared, as for pairs a
    stopped run aligned) above FINE_TEXTURE. Asked of most pairs that reach the fine check,
    so made again only where not prepared (0.3 ms a pair: a sixth of the fine check)."""
    missing = np.isnan(slack)
    if missing.any():
        slack = np.where(missing, misalignment_slack(works)[:, 0], slack)
    return float(slack.min()) > FINE_TEXTURE


def _fine_check(found: Alignment, first, second, enough: float,
                texture: Callable[[], bool] = lambda: False) -> float:
    """:func:`.fine_detail.detail_difference` of two fine copies aligned as ``found`` says
    (``texture()``: whether both are fine textures)."""
    cropped, other = (first, second) if found.cropped == 0 else (second, first)
    if cropped is None or other is None:
        return np.inf
    return detail_difference(cropped, other, found.box, enough=enough, texture=texture)


def compare(first: str, second: str, enough: float = DETAIL) -> tuple[float, float]:
    """Two image files' coarse match (0..1) and fine difference (inf when the coarse check
    fails), as :func:`find_copies` judges a candidate pair."""
    looks = look_at(first), look_at(second)
    if None in looks:
        return 0.0, np.inf
    found = align(looks[0].work, looks[1].work)
    if not found.score:
        return 0.0, np.inf
    texture = functools.partial(_textures, np.stack([looks[0].work, looks[1].work]), np.full(2, np.nan))
    return found.score, _fine_check(found, fine_copy(first), fine_copy(second), enough, texture)


def _prepared(works: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unit whole views (float16) and :func:`.thumbnails.misalignment_slack` of ``images``."""
    return unit(np.stack([whole(works[i]) for i in images])).astype(np.float16), misalignment_slack(works[images])


@dataclass
class _Prepared:
    """What the coarse check needs of each image once, made in the workers as needed
    (:func:`_prepared`), and the fine check's question whether it is a fine texture."""

    wholes: np.ndarray  # (n, THUMB ** 2) float16: unit whole views (2 KB each)
    slack: np.ndarray  # (n, 2) float32: what misalignment alone costs each image, as the coarse check adds it
    texture: np.ndarray  # (n,) float64: its slack for a pixel off as made; NaN: not prepared
    done: np.ndarray  # (n,) bool

    def drop_views(self) -> None:
        """Let the whole views go once the coarse check is done (200 MB at 100,000 images,
        which the fine check's workers would otherwise hold beside their own)."""
        self.wholes = np.zeros((0, THUMB * THUMB), dtype=np.float16)  # not a slice: that would keep them

    @classmethod
    def none(cls, n: int) -> _Prepared:
        return cls(np.zeros((n, THUMB * THUMB), dtype=np.float16), np.zeros((n, 2), dtype=np.float32),
                   np.full(n, np.nan), np.zeros(n, dtype=bool))

    def make(self, works: np.ndarray, images: np.ndarray, workers: int,
             progress: Callable[[], None] = lambda: None, meanwhile: Callable[[], T] = lambda: None) -> T:
        """Those of ``images`` not yet prepared, PREPARE_CHUNK at a time by ``workers``
        processes; ``meanwhile`` runs on a thread here as they work (started once they are
        forked, as :func:`look_at_all`'s) and its answer is returned."""
        todo = images[~self.done[images]]
        parts = [todo[start:start + PREPARE_CHUNK] for start in range(0, len(todo), PREPARE_CHUNK)]
        with in_order(functools.partial(_prepared, works), parts, workers) as results, \
                ThreadPoolExecutor(1) as beside:
            besides = beside.submit(meanwhile)
            for part, (part_wholes, part_slack) in zip(parts, results):
                progress()
                self.wholes[part], self.slack[part], self.texture[part] = part_wholes, part_slack, part_slack[:, 0]
                self.done[part] = True
            return besides.result()


def _coarse(pairs: np.ndarray, works: np.ndarray, prepared: _Prepared, wanted: float, progress: Progress,
            workers: int, kept_crops: KeptCrops | None = None) -> Iterator[tuple[np.ndarray, list[Alignment]]]:
    """:func:`.thumbnails.align` of every pair, each image's 49 views made once (not once per
    pair), and refined only where a crop correlates at least ALIGNED (less the slack of
    fine textures, :func:`.thumbnails.misalignment_slack`): (indices into ``pairs``, their
    alignments), a chunk at a time, in order, checked by ``workers`` processes. ``kept_crops``:
    where the best crops are kept as they are made, and those a stopped run made reused.
    ``prepared``: the images' whole views and slack, those not yet made made here."""
    if not len(pairs):
        return
    wholes, slack = prepared.wholes, prepared.slack
    best = np.full((len(pairs), 2), -1.0)  # per direction: correlation of the best crop
    which = np.zeros((len(pairs), 2), dtype=np.int64)
    # crops of one image against the wholes of its partners, image by image
    first = np.concatenate([pairs[:, 0], pairs[:, 1]])
    other = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.argsort(first, kind="stable")
    if kept_crops is not None:  # entries (k + side * len(pairs)) a stopped run kept are not made again
        kept, boxes, correlations = kept_crops.known(first, other)
        done = np.flatnonzero(kept)
        which[done % len(pairs), done // len(pairs)] = boxes[done]
        best[done % len(pairs), done // len(pairs)] = correlations[done]
        order = order[~kept[order]]
    starts = np.flatnonzero(np.r_[True, first[order][1:] != first[order][:-1]][:len(order)])
    ends = np.r_[starts[1:], len(order)]
    prepared.make(works, np.unique(pairs), workers, lambda: progress(0, len(starts), "images", "comparing thumbnails"))

    def crops(span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        found = [best_crops(unit(all_views(works[first[order[begin]]])), wholes[other[order[begin:end]]]
                            .astype(np.float32)) for begin, end in zip(starts[span[0]:span[1]], ends[span[0]:span[1]])]
        return np.concatenate([k for k, _ in found]), np.concatenate([c for _, c in found])

    spans = [(start, min(start + CROPS_CHUNK, len(starts))) for start in range(0, len(starts), CROPS_CHUNK)]
    with in_order(crops, spans, workers) as results:
        for (begin, end), (k, correlation) in zip(spans, results):
            progress(begin, len(starts), "images", "comparing thumbnails")
            rows = order[starts[begin]:ends[end - 1]]  # entries k + side * len(pairs)
            which[rows % len(pairs), rows // len(pairs)] = k
            best[rows % len(pairs), rows // len(pairs)] = correlation
            if kept_crops is not None:
                kept_crops.keep(first[rows], other[rows], k, correlation)
    progress(len(starts), len(starts), "images", "comparing thumbnails")

    loose = np.minimum(slack[pairs[:, 0]], slack[pairs[:, 1]])  # :func:`.thumbnails.pair_slack` of each pair

    def aligned(chunk: np.ndarray) -> list[Alignment]:
        found = [NO_ALIGNMENT] * len(chunk)
        worth = np.flatnonzero(best[chunk].max(axis=1) + loose[chunk, 0] >= ALIGNED)
        ks = chunk[worth]
        for at, alignment in zip(worth, align_many(works, pairs[ks], which[ks], best[ks], loose[ks], wanted)):
            found[at] = alignment
        return found

    chunks = np.array_split(np.arange(len(pairs)), max(1, -(-len(pairs) // ALIGN_CHUNK)))
    with in_order(aligned, chunks, workers, COARSE_NEEDS, keep_freed=ALIGN_KEEPS_FREED) as results:
        for chunk, found in zip(chunks, results):
            progress(int(chunk[0]), len(pairs), "pairs", "aligning thumbnails")
            yield chunk, found
    progress(len(pairs), len(pairs), "pairs", "aligning thumbnails")


def _area(path: str) -> int:
    from flowclass.userfiles.pictures import open_picture

    try:
        with open_picture(path) as image:
            return image.width * image.height
    except Exception:  # noqa: BLE001 - an unreadable image is never the one kept
        return 0


def _group(n: int, exact_pairs: list[tuple[int, int]], near_pairs: list[tuple[int, int]],
           paths: Sequence[str], area_of: Callable[[int], int], sizes: Callable[[str], int],
           keep_chosen: dict[int, int]) -> Copies:
    roots = _union_find(n, exact_pairs + near_pairs)
    exact_roots = _union_find(n, exact_pairs)
    members = np.flatnonzero(np.bincount(roots, minlength=n)[roots] > 1)
    if not len(members):
        empty = np.zeros(0, dtype=np.int64)
        return Copies(empty, empty, np.array([], dtype=str), np.zeros(0, dtype=bool))
    # kind: exact when the image has an exact copy in its group, else near
    exact_sizes = np.bincount(exact_roots, minlength=n)
    kind = np.where(exact_sizes[exact_roots[members]] > 1, "exact", "near")
    group_of_root: dict[int, int] = {}
    for i in members:  # numbered in the order of each group's first image
        group_of_root.setdefault(int(roots[i]), len(group_of_root) + 1)
    group = np.array([group_of_root[int(roots[i])] for i in members])
    keep = np.zeros(len(members), dtype=bool)
    for g in range(1, len(group_of_root) + 1):
        rows = np.flatnonzero(group == g)
        chosen = [r for r in rows if int(members[r]) in keep_chosen]
        if chosen:
            keep[max(chosen, key=lambda r: keep_chosen[int(members[r])])] = True
            continue

        def preference(r: int) -> tuple:
            i = int(members[r])
            try:
                size = sizes(paths[i])
            except OSError:
                size = 0
            return (-area_of(i), -size, paths[i])

        keep[min(rows, key=preference)] = True
    return Copies(members, group, kind.astype(str), keep)
