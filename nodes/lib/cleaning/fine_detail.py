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
again: the coarse alignment is good to a quarter of a working-copy pixel, a pixel here, and
on sharp edges that alone left up to 0.039 on a cropped, resized, brightened, re-encoded copy.
"""

from __future__ import annotations

import numpy as np

from .thumbnails import WORK, monotone_fit

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

    return np.asarray(image.resize(size, Image.BICUBIC, box=tuple(box), reducing_gap=None), np.float64)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / max(np.sqrt((x * x).sum() * (y * y).sum()), 1e-9))


def difference(cropped: np.ndarray, whole: np.ndarray) -> float:
    """The largest smoothed difference left between two aligned gray arrays once a
    non-decreasing curve of either explains the other, as a share of its range of grays
    (0: the same picture); the smaller of the two ways round."""
    from scipy.ndimage import gaussian_filter

    side = max(whole.shape)
    sigma, margin = side * SMOOTH, int(np.ceil(side * MARGIN))
    found = np.inf
    for x, y in ((cropped, whole), (whole, cropped)):
        left = y - monotone_fit(x.ravel(), y.ravel()).reshape(y.shape)
        smooth = gaussian_filter(left, sigma, mode="nearest")
        if margin and min(smooth.shape) > 2 * margin:
            smooth = smooth[margin:-margin, margin:-margin]
        low, high = np.percentile(y, [1, 99])
        found = min(found, float(np.abs(smooth).max()) / max(high - low, 1.0))
    return found


def detail_difference(cropped, whole, box: tuple[float, ...], enough: float = DETAIL,
                      steps: tuple[float, ...] = (1.0, 0.5, 0.25)) -> float:
    """:func:`difference` of ``cropped``'s ``box`` (in working-copy pixels) and ``whole``
    (fine copies), compared at the smaller one's resolution. Only when the box as given (or
    the whole image) leaves more than half of ``enough``, but not so much more that refining
    could not bring it down to ``enough``, is the box refined at this resolution."""
    sx, sy = cropped.width / WORK, cropped.height / WORK
    box = [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]
    size = (max(2, round(min(box[2] - box[0], whole.width))), max(2, round(min(box[3] - box[1], whole.height))))
    target = _view(whole, (0, 0, whole.width, whole.height), size)
    found = difference(_view(cropped, box, size), target)
    if found <= REFINE_ABOVE * enough:
        return found
    # a brightened copy can shift the best correlation off its true alignment: the whole
    everything = [0.0, 0.0, float(cropped.width), float(cropped.height)]
    if box != everything:
        on_whole = difference(_view(cropped, everything, size), target)
        if on_whole < found:
            found, box = on_whole, everything
        if found <= REFINE_ABOVE * enough:
            return found
    if found > REFINING_GAINS * enough:
        return found  # refining never took a difference down by this much
    unit = ((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1])  # a compared pixel
    limits = (cropped.width, cropped.height)
    best = _correlation(_view(cropped, box, size), target)
    moved = False
    for step in steps:
        improved = True
        while improved:
            improved = False
            for trial in _moves(box, step, unit, limits):
                score = _correlation(_view(cropped, trial, size), target)
                if score > best + 1e-7:
                    best, box, improved, moved = score, trial, True, True
    if moved:
        found = min(found, difference(_view(cropped, box, size), target))
    return found


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
