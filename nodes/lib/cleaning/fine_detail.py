"""The fine copy check: do two aligned images agree in their fine detail?

Small thumbnails cannot tell a copy from a look-alike when the images carry little
detail: two scans of the same digit (8 x 8 pixels, enlarged) that differ by a few gray
levels in one cell match a copy's thumbnails to 99.5 %. So a pair that passes the
coarse check (:mod:`.thumbnails`) is compared again at the smaller image's own
resolution (up to ``FINE`` pixels a side): the crop found there is laid over the other
image, a non-decreasing curve takes out brightness and contrast, and what is left is
smoothed a little (so JPEG noise and resampling, which move gray around without adding
or removing any, average out) and its largest value, away from the borders, is compared
with the image's range of grays. A copy leaves almost nothing (at most 0.016 of the range
on the benchmark's re-encoded, resized, cropped and brightened digits, 0.036 on edited
copies of the sample photographs); another scan of the same digit leaves a patch where a
cell differs (at least 0.047 on the benchmark's look-alikes, 0.075 on scikit-learn's 1,797
digits), and a photograph with a patch of it replaced 0.066, so the threshold sits between.

The larger image is brought to the smaller one's size with a bicubic filter: editors resize
copies with sharp filters (bicubic, Lanczos), and a softer one here left their fine texture
as a difference (a grass photo reduced to 0.3 x with Lanczos: 0.043 bilinear, 0.026 bicubic).
When the first laying-over leaves more than half the threshold, it is refined at this
resolution (each edge moved a pixel, half, a quarter, while the correlation grows) and tried
again: the coarse alignment is good to half a working-copy pixel, two pixels here, and on
sharp edges a quarter of one alone left up to 0.039 on a cropped, resized, brightened,
re-encoded copy.

The answers are those of the plain computation (tests/test_fine_detail.py), found with
less work: each compared array is put in order once (a radix sort), for both curves of it
and its range of grays; the two residuals are smoothed by two matrix products; the whole
image's side is prepared once for all the views laid over it; and refining resamples no
box twice.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from .thumbnails import WORK, isotonic, stable_order

FINE = 256  # the largest side compared
DETAIL = 0.045  # largest smoothed difference a copy leaves, as a share of the range of grays
SMOOTH = 1 / 48  # width (sigma) of the smoothing, as a share of the compared side
MARGIN = 1 / 20  # band along the borders left out, as a share of the side (resampling edges)
REFINE_ABOVE = 0.5  # share of the threshold above which the laying-over is refined
REFINING_GAINS = 1.5  # most that refining divided a difference by (1.2 measured on look-alikes)


def fine_copy(path: str):
    """The image as 32-bit float gray (PIL), at most FINE pixels a side; None when it
    cannot be decoded."""
    from PIL import Image

    from flowclass.userfiles.pictures import BadImage, open_upright

    try:
        image = open_upright(path, draft=FINE).convert("F")
    except BadImage:
        return None
    scale = FINE / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BILINEAR, reducing_gap=None)
    return image


def _view(image, box, size) -> np.ndarray:
    from PIL import Image

    return np.asarray(image.resize(size, Image.BICUBIC, box=tuple(box), reducing_gap=None), np.float32)


def _order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` of the float32 ``values``, flattened, three times
    quicker (:func:`.thumbnails.stable_order`)."""
    return stable_order(np.asarray(values, np.float32).ravel())


class _Grays:
    """One compared array's values put in order once: both the non-decreasing curves of it
    and its range of grays come from that order (sorting is most of a curve's cost)."""

    def __init__(self, values: np.ndarray):
        flat = values.ravel()
        order = _order(values)
        ordered = flat[order]
        new = np.empty(len(flat), dtype=bool)
        new[0], new[1:] = True, ordered[1:] != ordered[:-1]
        self.group = np.empty(len(flat), dtype=np.intp)  # of each value: groups of equal values, in order
        self.group[order] = np.cumsum(new) - 1
        self.counts = np.bincount(self.group).astype(np.float64)
        low, high = np.interp([0.01 * (len(flat) - 1), 0.99 * (len(flat) - 1)], np.arange(len(flat)), ordered)
        self.range = max(high - low, 1.0)  # np.percentile(values, [1, 99]), from the order

    def curve(self, y: np.ndarray) -> np.ndarray:
        """The non-decreasing function of these values closest to ``y`` (least squares), at
        each value; equal values share one."""
        means = np.bincount(self.group, weights=y.ravel(), minlength=len(self.counts)) / self.counts
        return isotonic(means, self.counts)[self.group].reshape(y.shape)


@functools.lru_cache(maxsize=16)
def _smoothing(n: int, sigma: float) -> np.ndarray:
    """(n, n): scipy's Gaussian smoothing of n values (the ends repeated) as a matrix: two
    matrix products smooth an image quicker than filtering it row by row."""
    from scipy.ndimage import gaussian_filter1d

    smoothing = gaussian_filter1d(np.eye(n), sigma, axis=0, mode="nearest")
    smoothing.flags.writeable = False
    return smoothing


class _Target:
    """The array every view of a pair is compared with: its order of grays and its centred
    values are found once for all the views (the laying-over, the whole, the refining)."""

    def __init__(self, values: np.ndarray):
        self.values, self.grays = values, _Grays(values)
        side = max(values.shape)
        self.sigma, self.margin = side * SMOOTH, int(np.ceil(side * MARGIN))

    @functools.cached_property
    def centred(self) -> np.ndarray:  # only refining needs it
        return (self.values - self.values.mean(dtype=np.float64)).ravel()

    def difference(self, view: np.ndarray) -> float:
        """:func:`difference` of ``view`` (the cropped side) and this target."""
        grays = _Grays(view)
        left = np.stack([self.values - grays.curve(self.values), view - self.grays.curve(view)])
        h, w = self.values.shape
        down, across = _smoothing(h, self.sigma), _smoothing(w, self.sigma)
        margin = self.margin
        if margin and min(view.shape) > 2 * margin:  # only the rows and columns kept are made
            down, across = down[margin:-margin], across[margin:-margin]
        smooth = down @ left @ across.T  # each apart
        peaks = np.abs(smooth).reshape(2, -1).max(axis=1)
        return float(min(peaks[0] / self.grays.range, peaks[1] / grays.range))

    def correlations(self, views: np.ndarray) -> np.ndarray:
        """The correlation of each of ``views`` (stacked) with this target."""
        centred = views.reshape(len(views), -1).astype(np.float64)
        centred = centred - centred.mean(axis=1, keepdims=True)
        products = (centred * self.centred).sum(axis=1)
        energy = (self.centred * self.centred).sum()
        return products / np.maximum(np.sqrt((centred * centred).sum(axis=1) * energy), 1e-9)


def difference(cropped: np.ndarray, whole: np.ndarray) -> float:
    """The largest smoothed difference left between two aligned gray arrays once a
    non-decreasing curve of either explains the other, as a share of its range of grays
    (0: the same picture); the smaller of the two ways round. Grays are compared as 32-bit
    floats, as fine copies hold them."""
    return _Target(np.asarray(whole, np.float32)).difference(np.asarray(cropped, np.float32))


def detail_difference(cropped, whole, box: tuple[float, ...], enough: float = DETAIL,
                      steps: tuple[float, ...] = (1.0, 0.5, 0.25),
                      texture: Callable[[], bool] = lambda: False) -> float:
    """:func:`difference` of ``cropped``'s ``box`` (in working-copy pixels) and ``whole``
    (fine copies), compared at the smaller one's resolution. Only when the box as given (or
    the whole image) leaves more than half of ``enough``, but not so much more that refining
    could not bring it down to ``enough``, is the box refined at this resolution. A fine
    texture (``texture()``, asked only then: :func:`.thumbnails.misalignment_slack`) is
    refined however much is left: laid a pixel or two off, its tiles or blades fall between
    each other."""
    sx, sy = cropped.width / WORK, cropped.height / WORK
    box = [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]
    size = (max(2, round(min(box[2] - box[0], whole.width))), max(2, round(min(box[3] - box[1], whole.height))))
    target = _Target(_view(whole, (0, 0, whole.width, whole.height), size))
    laid = _view(cropped, box, size)
    found = target.difference(laid)
    if found <= REFINE_ABOVE * enough:
        return found
    # a brightened copy can shift the best correlation off its true alignment: the whole
    everything = [0.0, 0.0, float(cropped.width), float(cropped.height)]
    if box != everything:
        on_everything = _view(cropped, everything, size)
        on_whole = target.difference(on_everything)
        if on_whole < found:
            found, box, laid = on_whole, everything, on_everything
        if found <= REFINE_ABOVE * enough:
            return found
    if found > REFINING_GAINS * enough and not texture():
        return found  # refining never took a difference down by this much, but a texture's:
        # the temple roof of scikit-learn's china.jpg cropped 5 %, 0.28 to 0.030
    refined = _refined(cropped, target, box, laid, size, steps)
    if refined is not None:
        found = min(found, target.difference(refined))
    return found


def _refined(cropped, target: _Target, box: list[float], laid: np.ndarray, size: tuple[int, int],
             steps: tuple[float, ...]) -> np.ndarray | None:
    """The view of ``cropped`` near ``box`` (whose view is ``laid``) that best correlates
    with ``target``: each edge moved a compared pixel, half, a quarter, while that helps;
    None when no move helps. A box tried before (a move undone, an edge moved then the box
    shifted) is not resampled again: its correlation is known."""
    unit = ((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1])  # a compared pixel
    limits = (cropped.width, cropped.height)
    best = float(target.correlations(laid[None])[0])
    tried = {tuple(box): (best, laid)}  # box: its correlation and view
    refined = None
    for step in steps:
        improved = True
        while improved:
            improved = False
            trials = list(_moves(box, step, unit, limits))
            new = list({tuple(trial) for trial in trials} - tried.keys())
            if new:
                views = np.stack([_view(cropped, trial, size) for trial in new])
                tried.update(zip(new, zip(target.correlations(views).tolist(), views)))
            for trial in trials:  # as one after the other: the last that beats the best so far
                score, view = tried[tuple(trial)]
                if score > best + 1e-7:
                    best, box, refined, improved = score, trial, view, True
    return refined


def _moves(box: list[float], step: float, unit: tuple[float, float], limits: tuple[int, int]):
    """The box with one edge moved, or shifted along one axis, by ``step`` compared pixels."""
    for edge in range(4):
        axis = edge % 2
        for sign in (-step, step):
            moved = box.copy()
            moved[edge] = min(max(moved[edge] + sign * unit[axis], 0.0), float(limits[axis]))
            if moved[2] - moved[0] > 1 and moved[3] - moved[1] > 1:
                yield moved
    for axis in (0, 1):
        for sign in (-step, step):
            moved = box.copy()
            moved[axis] += sign * unit[axis]
            moved[axis + 2] += sign * unit[axis]
            if moved[axis] >= 0 and moved[axis + 2] <= limits[axis]:
                yield moved
