"""Small gray copies of images, and how well two of them line up: the coarse copy check.

Each image is decoded once into a 64 px gray working copy. From it come:

- a **signature**: the 8 x 8 average, centred and at unit length, so brightness and
  contrast do not change it. Near neighbours by signature are candidates besides the
  embedding's (a brightened gray image's embedding can move far from its original's);
- 32 px **views**: the whole, and 48 crops cutting up to 6 % off a side at its start,
  middle or end. The crop of one image that best correlates with the other's whole is
  refined (each edge moved a pixel, then half, then a quarter, while that helps), then a
  non-decreasing curve of one must explain nearly all of the other's variance
  (:func:`match`), so brightening, contrast and clipped highlights do not matter.

A 32 px view of a fine texture (grass, gravel, brick, a star field) changes with any shift:
moved by one working-copy pixel (the crop grid's step) such a view correlates only 0.78 to
0.88 with itself, and by half a pixel a curve of it explains only 0.87 to 0.94 of it, where a
photograph with larger forms loses under 0.03 and a digit scan under 0.01. So what one
image's own views lose to such a shift (:func:`misalignment_slack`) is added back: to the
best crop's correlation before refining and to the refined score. Copies of a texture
slightly cropped are then laid over finely; telling them from look-alikes is the fine
check's job (:mod:`.fine_detail`), which compares at full size.

Views are made by multiplying with resampling matrices (bilinear, widened when reducing,
as PIL does), which makes all 49 views of an image in two small matrix products.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

THUMB = 32  # side of the gray views compared
WORK = 64  # side of the decoded working copy the crops are cut from
SIGNATURE = 8  # side of the signature
CUTS = (0.0, 0.03, 0.06)  # share of a side cut off, at the start, middle or end of it
ALIGNED = 0.975  # correlation of the best-aligned views below which a pair is no copy


@dataclass(frozen=True)
class Look:
    """What one decoded image contributes to the coarse check."""

    work: np.ndarray  # (WORK, WORK) uint8 gray
    signature: np.ndarray  # (SIGNATURE ** 2,) float32, centred, unit length (zeros if flat)
    work_digest: bytes  # equal working copies are worth hashing the full pixels of


def look_at(path: str) -> Look | None:
    """The image's gray working copy and signature; None when it cannot be decoded."""
    from PIL import Image

    from flowclass.userfiles.pictures import BadImage, open_upright

    try:  # a large JPEG decodes at a reduced scale, still at least 2 x WORK a side
        image = open_upright(path, draft=2 * WORK)
    except BadImage:
        return None
    gray = image.convert("L").resize((WORK, WORK), Image.BILINEAR, reducing_gap=3.0)
    return look_of(np.asarray(gray, dtype=np.uint8))


def look_of(work: np.ndarray) -> Look:
    """What a working copy contributes (one kept from an earlier run, too)."""
    return Look(work, signature(work), hashlib.blake2b(work.tobytes(), digest_size=16).digest())


def pixel_digest(path: str) -> str | None:
    """A hash of the image's decoded pixels (and size): equal for exact copies."""
    from flowclass.userfiles.pictures import BadImage, open_upright

    try:
        rgb = open_upright(path).convert("RGB")
    except BadImage:
        return None
    return hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()


def signature(work: np.ndarray) -> np.ndarray:
    step = WORK // SIGNATURE
    small = work.astype(np.float32).reshape(SIGNATURE, step, SIGNATURE, step).mean(axis=(1, 3)).ravel()
    return _normalised(small[None])[0]


@functools.lru_cache(maxsize=4096)  # boxes are refined in quarter pixels: few distinct ranges
def resampling(start: float, stop: float, size: int = WORK, out: int = THUMB) -> np.ndarray:
    """(out, size) weights that resample pixels ``start``..``stop`` of a row of ``size``
    pixels to ``out`` pixels: a triangle filter, widened when reducing, cut at the edges."""
    scale = (stop - start) / out
    support = max(scale, 1.0)
    centres = start + (np.arange(out) + 0.5) * scale
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(size) + 0.5 - centres[:, None]) / support)
    total = weights.sum(axis=1, keepdims=True)
    weights = (weights / np.where(total > 0, total, 1.0)).astype(np.float32)
    weights.flags.writeable = False  # shared by every caller
    return weights


def _intervals() -> list[tuple[float, float]]:
    """Each side's ranges: the whole, and each cut placed at start/middle/end."""
    ranges = [(0.0, float(WORK))]
    for cut in CUTS[1:]:
        for at in (0.0, 0.5, 1.0):
            ranges.append((cut * WORK * at, cut * WORK * at + WORK * (1 - cut)))
    return ranges


INTERVALS = _intervals()
BOXES = [(x0, y0, x1, y1) for y0, y1 in INTERVALS for x0, x1 in INTERVALS]  # BOXES[0]: whole


@functools.cache
def _all_resampling() -> np.ndarray:
    return np.concatenate([resampling(a, b) for a, b in INTERVALS])


def all_views(work: np.ndarray) -> np.ndarray:
    """(len(BOXES), THUMB * THUMB): the view of every box, in the order of BOXES."""
    r = _all_resampling()
    k = len(INTERVALS)
    grid = r @ work.astype(np.float32) @ r.T  # (k * THUMB, k * THUMB): block (y, x)
    return grid.reshape(k, THUMB, k, THUMB).transpose(0, 2, 1, 3).reshape(k * k, THUMB * THUMB)


def view(work: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    """(THUMB * THUMB,): the box (left, top, right, bottom) of the working copy, resampled."""
    return (resampling(float(box[1]), float(box[3])) @ np.asarray(work, np.float32)
            @ resampling(float(box[0]), float(box[2])).T).ravel()


def views(work: np.ndarray, boxes: list[list[float]]) -> np.ndarray:
    """(len(boxes), THUMB * THUMB): :func:`view` of several boxes, in one batched product."""
    rows = np.concatenate([resampling(float(b[1]), float(b[3])) for b in boxes])  # (n * THUMB, WORK)
    columns = np.stack([resampling(float(b[0]), float(b[2])) for b in boxes])
    cut = (rows @ np.asarray(work, np.float32)).reshape(len(boxes), THUMB, WORK)
    return (cut @ columns.transpose(0, 2, 1)).reshape(len(boxes), -1)


def whole(work: np.ndarray) -> np.ndarray:
    return view(work, BOXES[0])


def _normalised(rows: np.ndarray) -> np.ndarray:
    rows = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 1e-3)


def refined(work: np.ndarray, target: np.ndarray, box: tuple[float, ...],
            steps: tuple[float, ...] = (1.0, 0.5, 0.25)) -> tuple[np.ndarray, tuple[float, ...]]:
    """The crop of ``work`` near ``box`` that best correlates with ``target`` (a raw view),
    each edge moved a pixel, then half, then a quarter, while that helps; (view, box)."""
    unit = _normalised(target[None])[0]
    work = np.asarray(work, np.float32)
    box = list(box)
    best_view = view(work, box)
    best = float(_normalised(best_view[None])[0] @ unit)
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
            moved_views = views(work, moves)
            scores = _normalised(moved_views) @ unit
            k = int(scores.argmax())
            if scores[k] > best + 1e-6:
                best, box, best_view, improved = float(scores[k]), moves[k], moved_views[k], True
    return best_view, tuple(box)


class MonotoneCurves:
    """Non-decreasing curves of one fixed ``x`` fitted to any ``y``: ``x``'s distinct values
    are sorted once, however many views are compared with it (align compares several crops
    with one target)."""

    def __init__(self, x: np.ndarray):
        _, self.inverse, counts = np.unique(np.asarray(x, np.float64).ravel(), return_inverse=True,
                                            return_counts=True)
        self.inverse = self.inverse.ravel()
        self.counts = counts.astype(np.float64)

    def fit(self, y: np.ndarray) -> np.ndarray:
        """The non-decreasing function of ``x`` closest to ``y`` (least squares), at each x;
        equal x share one value."""
        from scipy.optimize import isotonic_regression  # 10 times quicker than scikit-learn's here

        means = np.bincount(self.inverse, weights=y, minlength=len(self.counts)) / self.counts
        return isotonic_regression(means, weights=self.counts).x[self.inverse]

    def explained(self, y: np.ndarray) -> float:
        """How much of ``y``'s variance the curve explains (0..1)."""
        y = np.asarray(y, np.float64).ravel()
        total = float(((y - y.mean()) ** 2).sum())
        if total <= 1e-6:
            return 0.0
        return 1.0 - float(((y - self.fit(y)) ** 2).sum()) / total


def monotone_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The non-decreasing function of ``x`` closest to ``y`` (least squares), at each x;
    equal x share one value."""
    return MonotoneCurves(x).fit(np.asarray(y, np.float64).ravel())


def explained(x: np.ndarray, y: np.ndarray) -> float:
    """How much of ``y``'s variance a non-decreasing curve of ``x`` explains (0..1): 1 for the
    same picture brightened or contrast-stretched, even where bright pixels clip."""
    return MonotoneCurves(x).explained(y)


@dataclass(frozen=True)
class Alignment:
    """The best way found to lay one image over the other."""

    score: float  # share of the whole's variance a monotone curve of the crop explains
    cropped: int  # 0: the first image is cropped to fit the second's whole; 1: the reverse
    box: tuple[float, ...]  # the crop, in working-copy pixels


NO_ALIGNMENT = Alignment(0.0, 0, BOXES[0])
SLACK_AT_MOST = 0.25  # a picture of noise would otherwise pass every crop on to refining


def misalignment_slack(works: np.ndarray) -> np.ndarray:
    """(n, 2): what misalignment alone costs a copy of each working copy (``works``: (n,
    WORK, WORK)): 1 minus the correlation of its whole view with the view moved one pixel
    (the crop grid's step), and 1 minus its square moved half a pixel (the share a curve
    explains, more than refining leaves); the worse diagonal, each at most SLACK_AT_MOST."""
    works = np.asarray(works, dtype=np.float32).reshape(-1, WORK, WORK)
    rows = works.reshape(-1, WORK)

    def views(r: np.ndarray) -> np.ndarray:  # every image's view through r, in two products
        across = (rows @ r.T).reshape(len(works), WORK, THUMB).transpose(1, 0, 2).reshape(WORK, -1)
        down = (r @ across).reshape(THUMB, len(works), THUMB).transpose(1, 0, 2)
        return _normalised(down.reshape(len(works), -1))

    target = views(resampling(0.0, float(WORK)))
    worst = np.zeros((len(works), 2))
    for column, shift in enumerate((1.0, 0.5)):
        for start, stop in ((shift, float(WORK)), (0.0, WORK - shift)):
            correlation = np.einsum("ij,ij->i", views(resampling(start, stop)), target)
            loss = 1.0 - (correlation if column == 0 else correlation ** 2)
            worst[:, column] = np.maximum(worst[:, column], loss)
    return np.minimum(worst, SLACK_AT_MOST)


def pair_slack(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """The slack of a pair: the smaller of the two images' (a copy has its original's)."""
    return float(min(first[0], second[0])), float(min(first[1], second[1]))


REFINING_GAINS = 0.015  # most that refining a crop added to a copy's score (0.011 measured)


def align(first: np.ndarray, second: np.ndarray, best_crops: tuple[tuple[int, float], ...] | None = None,
          wanted: float = 0.0, slack: tuple[float, float] | None = None) -> Alignment:
    """How well two working copies match (score 1: the same picture): the best-aligned crop
    of one against the other's whole view, either way round, refined, then how much of it a
    monotone curve of the other explains, plus what misalignment alone costs pictures this
    fine (``slack``, :func:`pair_slack`; at most 1). ``best_crops`` (index of the best box,
    its correlation), per direction, when already known. A crop whose score is too far below
    ``wanted`` for refining to lift it there is not refined (refining is the costly part)."""
    works = (np.asarray(first, np.float32), np.asarray(second, np.float32))
    wholes = (whole(works[0]), whole(works[1]))
    if slack is None:
        slack = pair_slack(*misalignment_slack(np.stack(works)))
    if best_crops is None:
        best_crops = tuple(best_crop(all_views(works[side]), wholes[1 - side]) for side in (0, 1))
    found = NO_ALIGNMENT
    for side, (k, correlation) in enumerate(best_crops):
        if correlation + slack[0] < ALIGNED:
            continue
        target = wholes[1 - side]
        curves = MonotoneCurves(target)
        tries = [(BOXES[k], curves.explained(view(works[side], BOXES[k])))]
        if k != 0:  # correlation can miss a brightened whole
            tries.append((BOXES[0], curves.explained(wholes[side])))
        if tries[0][1] + slack[0] >= wanted - REFINING_GAINS:
            cropped_view, box = refined(works[side], target, BOXES[k])
            tries.append((box, curves.explained(cropped_view)))
        for box, score in tries:
            if score > found.score:
                found = Alignment(score, side, box)
    if found is NO_ALIGNMENT:
        return found
    return Alignment(min(found.score + slack[1], 1.0), found.cropped, found.box)


def best_crop(views: np.ndarray, target: np.ndarray) -> tuple[int, float]:
    """The box whose view best correlates with ``target`` (a raw view), and how well."""
    k, correlation = best_crops(_normalised(views), _normalised(target[None]))
    return int(k[0]), float(correlation[0])


def best_crops(unit_views: np.ndarray, unit_targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per target (rows of normalised views), the best of ``unit_views`` and its correlation."""
    aligned = unit_views @ unit_targets.T  # (boxes, targets)
    k = aligned.argmax(axis=0)
    return k, aligned[k, np.arange(aligned.shape[1])]


def unit(rows: np.ndarray) -> np.ndarray:
    """Views centred and at unit length: their inner products are correlations."""
    return _normalised(rows)

