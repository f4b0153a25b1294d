"""Exact and near copies of images: candidates from embeddings, decided on the pixels.

- **Exact** copies have the same decoded pixels, whatever their names or formats: files
  with the same bytes (sha256) are copies outright; images whose embeddings are nearly the
  same are decoded and compared by a hash of their pixels.
- **Near** copies (re-encoded, resized, slightly cropped, brightened) are pairs of
  embedding neighbours whose small gray thumbnails match: the crop of one (of 49, cut up
  to 6 % a side) that best correlates with the other's whole thumbnail is found, then a
  non-decreasing curve of one must explain nearly all of the other's variance (so
  brightening, contrast and clipped highlights do not matter, but a different picture
  does). Look-alike images that are not copies (two writers' "7", the same digit
  shifted, turned and scanned again) match the embedding but not the pixels: on the
  benchmark's digits no such pair explains more than 0.988, no copy less than 0.996
  (two of the 1,797 scikit-learn digits, drawn nearly alike, reach 0.996).

Groups are the connected pairs; in each the image kept is the one with the most pixels,
then the largest file, then the first path, so the choice does not depend on file order.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .neighbours import nearest

THUMB = 32  # side of the gray thumbnails compared
WORK = 64  # side of the decoded working copy the crops are cut from
CUTS = (0.0, 0.03, 0.06)  # share of a side cut off, at the start, middle or end of it
CANDIDATE_NEIGHBOURS = 10
CANDIDATE_SIMILARITY = 0.5  # cosine of centred embeddings below which a pair is no candidate
EXACT_SIMILARITY = 0.995  # with near copies off, pairs at least this close are still hashed
ALIGNED = 0.975  # correlation of the best-aligned thumbnails below which a pair is no copy
MATCH = 0.995  # share of one thumbnail's variance a monotone curve of the other explains


@dataclass(frozen=True)
class Look:
    """What one decoded image contributes: a hash of its pixels and its working copy."""

    pixels: str
    work: np.ndarray  # (WORK, WORK) uint8 gray
    area: int


def look_at(path: str) -> Look | None:
    """The image's pixel hash and gray working copy; None when it cannot be decoded."""
    from PIL import Image

    from flowclass.userfiles.pictures import BadImage, open_upright

    try:
        image = open_upright(path)
    except BadImage:
        return None
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()
    gray = image.convert("L").resize((WORK, WORK), Image.BILINEAR, reducing_gap=3.0)
    return Look(digest, np.asarray(gray, dtype=np.uint8), image.width * image.height)


def _boxes() -> list[tuple[float, float, float, float]]:
    """Crop boxes of the working copy: the whole, and each cut placed at start/middle/end."""
    boxes = []
    for cut_x in CUTS:
        for cut_y in CUTS:
            for at_x in ((0.0,) if not cut_x else (0.0, 0.5, 1.0)):
                for at_y in ((0.0,) if not cut_y else (0.0, 0.5, 1.0)):
                    left, top = cut_x * WORK * at_x, cut_y * WORK * at_y
                    boxes.append((left, top, left + WORK * (1 - cut_x), top + WORK * (1 - cut_y)))
    return boxes


BOXES = _boxes()


def _raw_views(work: np.ndarray, boxes: list = BOXES) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(work.astype(np.float32), mode="F")
    return np.stack([np.asarray(image.resize((THUMB, THUMB), Image.BILINEAR, box=box)).ravel()
                     for box in boxes])


def _normalised(rows: np.ndarray) -> np.ndarray:
    rows = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 1e-3)


def refined(work: np.ndarray, whole: np.ndarray, box: tuple[float, ...],
            steps: tuple[float, ...] = (1.0, 0.5, 0.25)) -> np.ndarray:
    """The crop of ``work`` near ``box`` that best correlates with ``whole`` (raw thumbnail),
    each edge moved a pixel, then half, then a quarter, while that helps."""
    target = _normalised(whole[None])[0]
    box = list(box)
    best_view = _raw_views(work, [tuple(box)])[0]
    best = float(_normalised(best_view[None])[0] @ target)
    for step in steps:
        improved = True
        while improved:
            improved = False
            moves = []
            for edge in range(4):
                for sign in (-step, step):
                    moved = box.copy()
                    moved[edge] = min(max(moved[edge] + sign, 0.0), float(WORK))
                    if moved[2] - moved[0] > WORK / 2 and moved[3] - moved[1] > WORK / 2:
                        moves.append(moved)
            views = _raw_views(work, [tuple(m) for m in moves])
            scores = _normalised(views) @ target
            k = int(scores.argmax())
            if scores[k] > best + 1e-6:
                best, box, best_view, improved = float(scores[k]), moves[k], views[k], True
    return best_view


def explained(x: np.ndarray, y: np.ndarray) -> float:
    """How much of ``y``'s variance a non-decreasing curve of ``x`` explains (0..1): 1 for the
    same picture brightened or contrast-stretched, even where bright pixels clip."""
    from sklearn.isotonic import IsotonicRegression

    total = float(((y - y.mean()) ** 2).sum())
    if total <= 1e-6:
        return 0.0
    fitted = IsotonicRegression(out_of_bounds="clip").fit(x, y).predict(x)
    return 1.0 - float(((y - fitted) ** 2).sum()) / total


def match(a: np.ndarray, b: np.ndarray) -> float:
    """How well two working copies match (1: the same picture): the best-aligned crop of
    one against the other's whole thumbnail, either way round, then how much of it a
    monotone curve of the other explains."""
    best = 0.0
    for p, q in ((a, b), (b, a)):
        views = _raw_views(p)
        whole = _raw_views(q, BOXES[:1])[0]
        aligned = _normalised(views) @ _normalised(whole[None])[0]
        k = int(aligned.argmax())
        if aligned[k] >= ALIGNED:
            best = max(best, explained(whole, refined(p, whole, BOXES[k])))
    return best


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
                    similarity: float = CANDIDATE_SIMILARITY) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of embedding neighbours at least ``similarity`` alike, and how alike."""
    sims, idx = nearest(rows, neighbours)
    i = np.repeat(np.arange(len(rows)), idx.shape[1])
    j, s = idx.ravel(), sims.ravel()
    ok = (j >= 0) & (s >= similarity)
    a, b = np.minimum(i[ok], j[ok]), np.maximum(i[ok], j[ok])
    pairs, first = np.unique(np.stack([a, b], axis=1), axis=0, return_index=True)
    return pairs, s[ok][first]


def find_copies(paths: Sequence[str], hashes: Sequence[str], rows: np.ndarray, *,
                near: bool = True, match_above: float = MATCH,
                neighbours: int = CANDIDATE_NEIGHBOURS, candidate_similarity: float = CANDIDATE_SIMILARITY,
                sizes: Callable[[str], int] = os.path.getsize,
                progress: Callable[[int, int], None] = lambda done, total: None,
                keep_chosen: dict[int, int] | None = None) -> tuple[Copies, np.ndarray]:
    """The copies among the images (``rows``: their unit-length embeddings) and, per
    candidate pair examined, its pixel match (rows of (i, j, match)).

    ``keep_chosen`` maps images the user chose to keep to the order of that choice; in a
    group with several, the latest choice wins.
    """
    n = len(paths)
    hashes = np.asarray(hashes, dtype=str)
    exact_pairs: list[tuple[int, int]] = []
    # same bytes: copies without looking
    order = np.argsort(hashes, kind="stable")
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
    exact_pairs += [(int(order[k]), int(order[k + 1])) for k in same]
    pairs, sims = candidate_pairs(rows, neighbours, candidate_similarity) if n > 1 else \
        (np.zeros((0, 2), dtype=np.int64), np.zeros(0))
    if not near:
        keep = sims >= EXACT_SIMILARITY
        pairs, sims = pairs[keep], sims[keep]
    looks: dict[int, Look | None] = {}
    wanted = np.unique(pairs)
    for done, i in enumerate(wanted):
        progress(done, len(wanted))
        looks[int(i)] = look_at(paths[int(i)])
    progress(len(wanted), len(wanted))
    near_pairs: list[tuple[int, int]] = []
    scores = np.full(len(pairs), np.nan)
    to_compare: list[int] = []
    for k, (a, b) in enumerate(pairs.tolist()):
        la, lb = looks[a], looks[b]
        if la is None or lb is None or hashes[a] == hashes[b]:
            continue
        if la.pixels == lb.pixels:
            exact_pairs.append((a, b))
            scores[k] = 1.0
        elif near:
            to_compare.append(k)
    for k, score in zip(to_compare, _verify(pairs[to_compare], looks)):
        scores[k] = score
        if score >= match_above:
            near_pairs.append(tuple(pairs[k].tolist()))
    copies = _group(n, exact_pairs, near_pairs, paths, looks, sizes, keep_chosen or {})
    return copies, np.column_stack([pairs, scores]) if len(pairs) else np.zeros((0, 3))


def _verify(pairs: np.ndarray, looks: dict[int, Look | None]) -> np.ndarray:
    """:func:`match` of every pair, each image's crops made once (not once per pair)."""
    if not len(pairs):
        return np.zeros(0)
    wholes = {i: _raw_views(looks[i].work, BOXES[:1])[0] for i in np.unique(pairs).tolist()}
    unit = {i: _normalised(w[None])[0] for i, w in wholes.items()}
    best = np.full((len(pairs), 2), -1.0)  # per direction: correlation of the best crop
    which = np.zeros((len(pairs), 2), dtype=np.int64)
    by_image: dict[int, list[tuple[int, int, int]]] = {}
    for k, (a, b) in enumerate(pairs.tolist()):
        by_image.setdefault(a, []).append((k, 0, b))  # crops of a against the whole of b
        by_image.setdefault(b, []).append((k, 1, a))
    for i, rows in by_image.items():
        views = _normalised(_raw_views(looks[i].work))
        for k, side, other in rows:
            aligned = views @ unit[other]
            which[k, side] = int(aligned.argmax())
            best[k, side] = aligned[which[k, side]]
    out = np.zeros(len(pairs))
    for k, (a, b) in enumerate(pairs.tolist()):
        for side, (cropped, whole) in enumerate(((a, b), (b, a))):
            if best[k, side] >= ALIGNED:
                view = refined(looks[cropped].work, wholes[whole], BOXES[which[k, side]])
                out[k] = max(out[k], explained(wholes[whole], view))
    return out


def _group(n: int, exact_pairs: list[tuple[int, int]], near_pairs: list[tuple[int, int]],
           paths: Sequence[str], looks: dict[int, Look | None], sizes: Callable[[str], int],
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
            look = looks.get(i)
            try:
                size = sizes(paths[i])
            except OSError:
                size = 0
            return (-(look.area if look else 0), -size, paths[i])

        keep[min(rows, key=preference)] = True
    return Copies(members, group, kind.astype(str), keep)
