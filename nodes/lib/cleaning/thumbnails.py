"""Small gray copies of images, and how well two of them line up: the coarse copy check.

Each image is decoded once into a 64 px gray working copy. From it come:

- a **signature**: the 8 x 8 average, centred and at unit length, so brightness and
  contrast do not change it. Near neighbours by signature are candidates besides the
  embedding's (a brightened gray image's embedding can move far from its original's);
- 32 px **views**: the whole, and 48 crops cutting up to 6 % off a side at its start,
  middle or end. The crop of one image that best correlates with the other's whole is
  refined (each edge moved a pixel, then half a pixel, while that helps), then a
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
    work = working_copy(path)
    return None if work is None else look_of(work)


def working_copy(path: str) -> np.ndarray | None:
    """The image's (WORK, WORK) uint8 gray working copy; None when it cannot be decoded.
    An image already gray at that size is taken as it is: Pillow's convert and resize would
    each return a copy of it, a third of the time to look at a small gray PNG."""
    from PIL import Image

    from flowclass.userfiles.pictures import BadImage, open_upright

    try:  # a large JPEG decodes at a reduced scale, still at least 2 x WORK a side
        image = open_upright(path, draft=2 * WORK)
    except BadImage:
        return None
    if image.mode != "L":
        image = image.convert("L")
    if image.size != (WORK, WORK):
        image = image.resize((WORK, WORK), Image.BILINEAR, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8)


def look_of(work: np.ndarray) -> Look:
    """What a working copy contributes (one kept from an earlier run, too)."""
    return Look(work, signature(work), work_digest(work))


def work_digest(work: np.ndarray) -> bytes:
    return hashlib.blake2b(work.tobytes(), digest_size=16).digest()


def pixel_digest(path: str) -> str | None:
    """A hash of the image's decoded pixels (and size): equal for exact copies."""
    from flowclass.userfiles.pictures import BadImage, open_upright

    try:
        rgb = open_upright(path).convert("RGB")
    except BadImage:
        return None
    return hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()


def signature(work: np.ndarray) -> np.ndarray:
    return signatures(work[None])[0]


def signatures(works: np.ndarray) -> np.ndarray:
    """(n, SIGNATURE ** 2) float32: the signature of each of ``works`` ((n, WORK, WORK)), all
    at once (one at a time cost as much as decoding a small PNG). The same numbers as one at a
    time: each 8 x 8 block's sum of uint8 values is exact in float32, whatever the order."""
    step = WORK // SIGNATURE
    small = works.astype(np.float32).reshape(len(works), SIGNATURE, step, SIGNATURE, step).mean(axis=(2, 4))
    return _normalised(small.reshape(len(works), SIGNATURE * SIGNATURE))


@functools.lru_cache(maxsize=4096)  # boxes are refined in half pixels: few distinct ranges
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


def whole(work: np.ndarray) -> np.ndarray:
    return view(work, BOXES[0])


def _normalised(rows: np.ndarray) -> np.ndarray:
    """Rows centred and at unit length (flat ones: zeros). One scaling multiplication per
    row, not a masked division per value: about three times quicker (the coarse check
    normalises every view it compares)."""
    rows = rows - rows.mean(axis=1, keepdims=True)
    squares = np.einsum("ij,ij->i", rows, rows)
    scale = np.zeros_like(squares)
    np.divide(1.0, np.sqrt(squares), out=scale, where=squares > 1e-6)
    rows *= scale[:, None]
    return rows


@functools.lru_cache(maxsize=4096)
def _resampling_across(start: float, stop: float) -> np.ndarray:
    """:func:`resampling` transposed, (WORK, THUMB), laid out so batched products use BLAS."""
    weights = np.ascontiguousarray(resampling(start, stop).T)
    weights.flags.writeable = False  # shared by every caller
    return weights


class _Resamplings:
    """:func:`resampling` of many ranges at once, (n, THUMB, WORK), or transposed (``across``:
    (n, WORK, THUMB), laid out so batched products use BLAS). Boxes move in half pixels, so
    ranges repeat: each distinct one is made once and kept in one stacked table, and a
    batch is one gather from it (finding the distinct ones in each batch and stacking them
    again was a third of refining's time, profiled)."""

    LIMIT = 2048  # ranges kept (8 KB each: at most 16 MB a table); more start the table afresh

    def __init__(self, across: bool):
        self._make = _resampling_across if across else resampling
        self._row: dict[tuple[float, float], int] = {}
        self._table = np.empty((64, WORK, THUMB) if across else (64, THUMB, WORK), dtype=np.float32)

    def __call__(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        keys = list(zip(np.ravel(starts).tolist(), np.ravel(stops).tolist()))
        if len(self._row) + len(keys) > self.LIMIT:
            self._row = {}
        new = [key for key in dict.fromkeys(keys) if key not in self._row]
        if new:
            made = len(self._row)
            if made + len(new) > len(self._table):  # room doubled (up to LIMIT): rows are not copied each time
                room = min(2 * (made + len(new)), max(self.LIMIT, made + len(new)))
                grown = np.empty((room, *self._table.shape[1:]), dtype=np.float32)
                grown[:made] = self._table[:made]
                self._table = grown
            self._table[made:made + len(new)] = [self._make(*key) for key in new]
            self._row.update(zip(new, range(made, made + len(new))))
        return np.take(self._table, np.fromiter(map(self._row.__getitem__, keys), np.intp, len(keys)), axis=0)


_DOWN, _ACROSS = _Resamplings(across=False), _Resamplings(across=True)


def _resamplings(starts: np.ndarray, stops: np.ndarray, across: bool = False) -> np.ndarray:
    """(n, THUMB, WORK): :func:`resampling` of each range; ``across``: transposed, (n, WORK,
    THUMB)."""
    return (_ACROSS if across else _DOWN)(np.asarray(starts, np.float64), np.asarray(stops, np.float64))


def views_of(works: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n, THUMB * THUMB): :func:`view` of box i of working copy i (``works``: (n, WORK, WORK))."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return (_resamplings(boxes[:, 1], boxes[:, 3]) @ np.asarray(works, np.float32)
            @ _resamplings(boxes[:, 0], boxes[:, 2], across=True)).reshape(len(boxes), -1)


def crop_views(works: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n, THUMB * THUMB): :func:`view` of box i of working copy i, bit for bit (the same
    products, batched: a call per distinct box, as the crops tried are of BOXES, not a call
    per view)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    works = np.asarray(works, np.float32)
    views = np.empty((len(boxes), THUMB * THUMB), dtype=np.float32)
    distinct, which = np.unique(boxes, axis=0, return_inverse=True)
    for k, (x0, y0, x1, y1) in enumerate(distinct.tolist()):
        at = np.flatnonzero(which.ravel() == k)
        views[at] = ((resampling(y0, y1) @ works[at]) @ resampling(x0, x1).T).reshape(len(at), -1)
    return views


def _whole_views(works: np.ndarray) -> np.ndarray:
    """:func:`views_of` the whole of each working copy, bit for bit, the one pair of
    resampling matrices shared by all (not gathered per image)."""
    works = np.asarray(works, np.float32)
    return ((resampling(0.0, float(WORK)) @ works) @ _resampling_across(0.0, float(WORK))).reshape(len(works), -1)

# working-copy pixels each edge of a crop moves by, in turn, while that helps. A further
# quarter-pixel round cost an eighth to a sixth of aligning at 100,000 images and found no
# copy more (benchmarks/README.md); the fine check refines at full size where it matters.
REFINE_STEPS = (1.0, 0.5)
_X_MOVES, _Y_MOVES = [0, 1, 4, 5], [2, 3, 6, 7]  # of the 8 moves (edge, sign): those of x0/x1, of y0/y1


def refined_many(works: np.ndarray, targets: np.ndarray, boxes: np.ndarray,
                 steps: tuple[float, ...] = REFINE_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The crop of each of ``works`` (n, WORK, WORK) near its box (``boxes``: (n, 4)) that
    best correlates with its target (``targets``: (n, THUMB * THUMB) raw views): each edge
    moved a pixel, then half a pixel (``steps``), while that helps; (views, boxes). The crops
    still improving move together, in batched products: a move of x0 or x1 keeps the box's
    rows, so the views of those four moves are (rows @ work) times each moved columns, and
    the reverse for y0 and y1: half the arithmetic of making each view whole, no Python per
    crop, and each view comes out in its place (no copies to reorder them)."""
    works = np.asarray(works, np.float32)
    units = _normalised(np.asarray(targets, np.float32))
    box = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    best_view = views_of(works, box)
    best = np.einsum("ij,ij->i", _normalised(best_view), units)
    for step in steps:
        active = np.arange(len(box))
        while len(active):
            now, work, n = box[active], works[active], len(active)
            moves = np.repeat(now[:, None, :], 8, axis=1)  # (n, 8 moves, 4)
            for edge in range(4):
                for side, sign in enumerate((-step, step)):
                    moves[:, 2 * edge + side, edge] = np.clip(now[:, edge] + sign, 0.0, float(WORK))
            valid = (moves[..., 2] - moves[..., 0] > WORK / 2) & (moves[..., 3] - moves[..., 1] > WORK / 2)
            x, y = moves[:, _X_MOVES].reshape(-1, 4), moves[:, _Y_MOVES].reshape(-1, 4)
            columns = _resamplings(x[:, 0], x[:, 2], across=True).reshape(n, 4, WORK, THUMB)
            rows = _resamplings(y[:, 1], y[:, 3]).reshape(n, 4, THUMB, WORK)
            moved = np.empty((n, 8, THUMB, THUMB), dtype=np.float32)
            moved[:, _X_MOVES] = (_resamplings(now[:, 1], now[:, 3]) @ work)[:, None] @ columns
            moved[:, _Y_MOVES] = rows @ (work @ _resamplings(now[:, 0], now[:, 2], across=True))[:, None]
            moved = moved.reshape(n, 8, THUMB * THUMB)
            scores = (_normalised(moved.reshape(n * 8, -1)).reshape(n, 8, -1) @ units[active, :, None])[..., 0]
            scores[~valid] = -np.inf
            k = scores.argmax(axis=1)
            top = scores[np.arange(n), k]
            better = top > best[active] + 1e-6
            active, k = active[better], k[better]
            best[active], box[active] = top[better], moves[better, k]
            best_view[active] = moved[better, k]
    return best_view, box


def stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, axis=-1, kind="stable")`` of float32 ``values``, three times
    quicker. NumPy sorts 16-bit integers by radix, so the values' bits (the sign bit set, or
    all bits flipped where negative: they then sort as the numbers do) are sorted by their
    lower half, then, keeping that order among equals, by their upper half (-0.0 made 0.0
    first)."""
    bits = (np.asarray(values, np.float32) + np.float32(0.0)).view(np.uint32)
    ranked = np.where(bits >> 31, ~bits, bits | 0x80000000)
    low = np.argsort(ranked.astype(np.uint16), axis=-1, kind="stable")
    high = (np.take_along_axis(ranked, low, axis=-1) >> 16).astype(np.uint16)
    return np.take_along_axis(low, np.argsort(high, axis=-1, kind="stable"), axis=-1)


class Curves:
    """Non-decreasing curves of several fixed ``xs`` (rows, each of the same length), fitted
    to any ``y``: each row's distinct values are sorted once, however many views are compared
    with it, and the views compared with any of them are fitted together (:meth:`explained`),
    so aligning a chunk of pairs makes a few array steps and one PAVA call per view, not a
    dozen small numpy calls each (aligning: about a third of its time was that overhead)."""

    def __init__(self, xs: np.ndarray):
        """Per row, ``np.unique(x, return_inverse=True, return_counts=True)``, sorted stably:
        on 1,024 values numpy's default (vectorised) argsort, which np.unique uses, took two
        to three times as long on this machine, and its stable one (float32 views: by radix,
        :func:`stable_order`) a tenth of aligning."""
        xs = np.asarray(xs)
        xs = xs.reshape(len(xs), -1)
        order = stable_order(xs) if xs.dtype == np.float32 else np.argsort(xs, axis=1, kind="stable")
        ordered = np.take_along_axis(xs, order, axis=1)
        new = np.empty(xs.shape, dtype=bool)
        new[:, :1], new[:, 1:] = True, ordered[:, 1:] != ordered[:, :-1]
        groups = np.cumsum(new, axis=1) - 1
        self.inverses = np.empty(xs.shape, dtype=np.intp)  # of each value: its group, in order of value
        np.put_along_axis(self.inverses, order, groups, axis=1)
        self.sizes = groups[:, -1] + 1  # groups per row
        self.starts = np.cumsum(self.sizes) - self.sizes  # where each row's groups start in ``counts``
        self.counts = np.bincount((self.inverses + self.starts[:, None]).ravel()).astype(np.float64)

    def fit(self, which: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """(len(which), length): per row of ``ys``, the non-decreasing function of row
        ``which[i]`` of ``xs`` closest to it (least squares); equal x share one value."""
        which = np.asarray(which, dtype=np.intp)
        ys = np.asarray(ys, np.float64).reshape(len(which), -1)
        sizes = self.sizes[which]
        starts = np.cumsum(sizes) - sizes  # each fit's groups, side by side
        at = np.take(self.inverses, which, axis=0)
        at += starts[:, None]
        groups = np.arange(int(sizes.sum())) - np.repeat(starts - self.starts[which], sizes)
        counts = np.take(self.counts, groups)
        fitted = np.bincount(at.ravel(), weights=ys.ravel(), minlength=len(groups))
        fitted /= counts
        pava = _pava()
        blocks = np.empty(int(sizes.max(initial=0)) + 1, dtype=np.intp)  # pava writes each entry it reads
        for start, size in zip(starts.tolist(), sizes.tolist()):  # in place, one stretch at a time
            if pava is None:  # scipy moved it: the public function, slower, same answer
                fitted[start:start + size] = isotonic(fitted[start:start + size], counts[start:start + size])
            else:
                pava(fitted[start:start + size], counts[start:start + size], blocks)
        return np.take(fitted, at)

    def explained(self, which: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Per row of ``ys``, how much of its variance the curve of row ``which[i]`` of ``xs``
        explains (0..1). (Sums by ``np.add.reduce``, as ``mean`` and ``sum`` sum.)"""
        ys = np.asarray(ys, np.float64).reshape(len(which), -1)
        squares = ys - (np.add.reduce(ys, axis=1) / ys.shape[1])[:, None]
        total = np.add.reduce(np.multiply(squares, squares, out=squares), axis=1)
        left = self.fit(which, ys)  # then what it leaves, squared: in place, as each is made
        np.multiply(np.subtract(ys, left, out=left), left, out=left)
        flat = total <= 1e-6
        return np.where(flat, 0.0, 1.0 - np.add.reduce(left, axis=1) / np.where(flat, 1.0, total))


class MonotoneCurves:
    """The curves of one ``x`` (:class:`Curves` of one row)."""

    _ONE = np.zeros(1, dtype=np.intp)

    def __init__(self, x: np.ndarray):
        self._curves = Curves(np.asarray(x).ravel()[None])
        self.inverse = self._curves.inverses[0]  # of each value of x: its group of equal values, in order
        self.counts = self._curves.counts  # per group: how many values

    def fit(self, y: np.ndarray) -> np.ndarray:
        """The non-decreasing function of ``x`` closest to ``y`` (least squares), at each x."""
        return self._curves.fit(self._ONE, y)[0]

    def explained(self, y: np.ndarray) -> float:
        """How much of ``y``'s variance the curve explains (0..1)."""
        return float(self._curves.explained(self._ONE, y)[0])


@functools.cache  # resolved once: an import statement per call cost a quarter of a fit
def _pava():
    try:
        from scipy.optimize._pava_pybind import pava
    except ImportError:
        return None
    return pava


def isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``scipy.optimize.isotonic_regression(values, weights=weights).x`` (10 times quicker
    than scikit-learn's here). Where scipy has it, its PAVA core is called as that function
    calls it, without the checks and result object that took half the time on 1,024 values
    (tests/test_cleaning.py compares the two); elsewhere, the function itself."""
    pava = _pava()
    if pava is None:  # scipy moved it: the public function, slower, same answer
        from scipy.optimize import isotonic_regression

        return isotonic_regression(values, weights=weights).x
    fitted = np.array(values, dtype=np.float64, order="C", copy=True)  # pava works in place
    pava(fitted, np.array(weights, dtype=np.float64, order="C", copy=True), np.full(len(fitted) + 1, -1, np.intp))
    return fitted


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
    of one against the other's whole view, either way round (the better-correlating of the
    two refined), then how much of it a
    monotone curve of the other explains, plus what misalignment alone costs pictures this
    fine (``slack``, :func:`pair_slack`; at most 1). ``best_crops`` (index of the best box,
    its correlation), per direction, when already known. A crop whose score is too far below
    ``wanted`` for refining to lift it there is not refined (refining is the costly part)."""
    works = np.stack([np.asarray(first, np.float32), np.asarray(second, np.float32)])
    if slack is None:
        slack = pair_slack(*misalignment_slack(works))
    if best_crops is None:
        wholes = (whole(works[0]), whole(works[1]))
        best_crops = tuple(best_crop(all_views(works[side]), wholes[1 - side]) for side in (0, 1))
    return align_many(works, np.array([[0, 1]]), np.array([[k for k, _ in best_crops]]),
                      np.array([[c for _, c in best_crops]]), np.array([slack]), wanted)[0]


def align_many(works: np.ndarray, pairs: np.ndarray, crops: np.ndarray, correlations: np.ndarray,
               slacks: np.ndarray, wanted: float = 0.0) -> list[Alignment]:
    """:func:`align` of each of ``pairs`` (rows of two indices into ``works``), given the
    index of its best crop each way round (``crops``), that crop's ``correlations`` and the
    pair's slack (``slacks``), all (len(pairs), 2): each image's whole view and curves are
    made once for all its pairs, and the crops to refine are refined together
    (:func:`refined_many`)."""
    if not len(pairs):
        return []
    images = np.unique(pairs)
    wholes = _whole_views(works[images])
    curves = Curves(wholes)  # of each image's whole
    row_of = {image: row for row, image in enumerate(images.tolist())}
    pairs = np.asarray(pairs)
    # the crops worth trying, per pair and side: (pair, side, box, target row), their views made together
    tries: list[tuple[int, int, tuple[float, ...], int]] = []
    cut: list[tuple[int, int]] = []  # per try: (image cropped, index of its box), or (-1, row of its whole)
    for p, (a, b) in enumerate(pairs.tolist()):
        for side, (cropped, target) in enumerate(((a, b), (b, a))):
            k = int(crops[p, side])
            if correlations[p, side] + slacks[p, 0] < ALIGNED:
                continue
            row = row_of[target]
            tries.append((p, side, BOXES[k], row))
            cut.append((cropped, k))
            if k != 0:  # correlation can miss a brightened whole
                tries.append((p, side, BOXES[0], row))
                cut.append((-1, row_of[cropped]))
    tried_views = np.zeros((len(tries), THUMB * THUMB), dtype=np.float32)
    if tries:
        cut_images, cut_boxes = np.array(cut).T
        crop = cut_images >= 0
        tried_views[crop] = crop_views(works[cut_images[crop]], np.array(BOXES)[cut_boxes[crop]])
        tried_views[~crop] = wholes[cut_boxes[~crop]]
    scores = _explained(curves, [t[3] for t in tries], tried_views)
    # per pair, the side to refine, (pair, side, image cropped, target row, box): of those that
    # may reach ``wanted``, the one whose crop correlates best
    worth: dict[int, tuple] = {}
    first = {}  # per (pair, side), the score of its best crop (tried first)
    for (p, side, box, row), score in zip(tries, scores):
        if (p, side) in first:
            continue
        first[p, side] = score
        if score + slacks[p, 0] >= wanted - REFINING_GAINS and (
                p not in worth or correlations[p, side] > correlations[p, worth[p][1]]):
            worth[p] = (p, side, int(pairs[p, side]), row, box)
    refine = [worth[p] for p in sorted(worth)]  # refining is the costly part; of a cropped copy, the original's
    if refine:  # crop correlates best (the curve of the copy's whole may fit either)
        views, boxes = refined_many(works[[r[2] for r in refine]], wholes[[r[3] for r in refine]],
                                    np.array([r[4] for r in refine]))
        refined = _explained(curves, [r[3] for r in refine], views)
        tries += [(p, side, tuple(box.tolist()), row) for (p, side, _, row, _), box in zip(refine, boxes)]
        scores = np.concatenate([scores, refined])
    best = [NO_ALIGNMENT] * len(pairs)
    for at in sorted(range(len(tries)), key=lambda t: (tries[t][0], tries[t][1], t)):  # in the order tried
        p, side, box, _ = tries[at]
        if scores[at] > best[p].score:
            best[p] = Alignment(float(scores[at]), side, box)
    return [found if found is NO_ALIGNMENT else
            Alignment(min(found.score + float(slacks[p, 1]), 1.0), found.cropped, found.box)
            for p, found in enumerate(best)]


def _explained(curves: Curves, rows: list[int], views: list[np.ndarray] | np.ndarray) -> np.ndarray:
    if not len(rows):
        return np.zeros(0)
    return curves.explained(np.array(rows, dtype=np.intp), np.stack(views))


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

