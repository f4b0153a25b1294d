"""Find Duplicates' fine check computed the quick way gives what the plain computation gives.

Real images: scikit-learn's digits (as the sample set writes them, 64 px) and scikit-image's
photographs, laid over each other as the coarse check leaves them, a little off.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from nodes.lib.cleaning import fine_detail
from nodes.lib.cleaning.fine_detail import MARGIN, SMOOTH, _moves, _order, _refined, _Target, _view, fine_copy
from tests.test_cleaning import SECOND_SCANS, _edited, _patched, _photo, digit


def _saved(image: Image.Image, path) -> Image.Image:
    image.save(path)
    return fine_copy(str(path))


@pytest.fixture(scope="module")
def laid_over(tmp_path_factory) -> list[tuple[np.ndarray, np.ndarray]]:
    """(cropped view, whole view) pairs as the fine check compares them: digit copies and
    another scan of the same digit, a photograph's edited copy and its patched look-alike."""
    folder = tmp_path_factory.mktemp("laid")
    pairs = []

    def lay(cropped: Image.Image, whole: Image.Image, box: tuple[float, ...]) -> None:
        size = whole.size
        pairs.append((_view(cropped, box, size), _view(whole, (0, 0, *size), size)))

    for a, b in SECOND_SCANS[:2]:
        lay(_saved(digit(a), folder / f"{a}.png"), _saved(digit(b), folder / f"{b}.png"), (0.4, 0.0, 63.7, 64.0))
    original = _saved(digit(7), folder / "7.png")
    lay(_saved(ImageEnhance.Brightness(digit(7)).enhance(1.3), folder / "b7.png"), original, (0, 0, 64, 64))
    lay(original, _saved(digit(7).crop((3, 2, 62, 63)), folder / "c7.png"), (2.7, 2.2, 62.1, 63.0))
    camera = _photo("camera")
    edited = _saved(_edited(camera).convert("L"), folder / "camera_edited.png")
    lay(_saved(camera, folder / "camera.png"), edited, (8.0, 13.5, 253.4, 251.0))
    lay(_saved(_patched(camera, 2), folder / "camera_patched.png"), edited, (8.0, 13.5, 253.4, 251.0))
    return pairs


def test_the_quick_order_is_numpys_stable_order_on_real_views(laid_over):
    """Bicubic views overshoot below 0 (negative floats), hold runs of equal grays (white
    backgrounds) and +0.0 beside -0.0: the radix order puts them as np.argsort does."""
    views = [view for pair in laid_over for view in pair]
    assert any(view.min() < 0 for view in views) and any(np.any(view == 0) for view in views)
    for view in views + [np.array([[0.0, -0.0, -2.5, 1e-30, -1e-30, 255.0, -0.0, 0.0]], np.float32)]:
        assert np.array_equal(_order(view), np.argsort(view.ravel(), kind="stable"))


def _plain_difference(cropped: np.ndarray, whole: np.ndarray) -> float:
    """The fine difference computed directly: a curve fitted each way round, each residual
    smoothed on its own, each range of grays by np.percentile."""
    from scipy.ndimage import gaussian_filter

    from nodes.lib.cleaning.thumbnails import monotone_fit

    side = max(whole.shape)
    margin = math.ceil(side * MARGIN)
    found = []
    for x, y in ((cropped, whole), (whole, cropped)):
        x, y = x.astype(np.float64), y.astype(np.float64)
        left = y - monotone_fit(x.ravel(), y.ravel()).reshape(y.shape)
        smooth = gaussian_filter(left, side * SMOOTH, mode="nearest")[margin:-margin, margin:-margin]
        low, high = np.percentile(y, [1, 99])
        found.append(float(np.abs(smooth).max()) / max(high - low, 1.0))
    return min(found)


def test_the_fine_difference_is_the_plain_computation_on_copies_and_look_alikes(laid_over):
    found = [fine_detail.difference(cropped, whole) for cropped, whole in laid_over]
    plain = [_plain_difference(cropped, whole) for cropped, whole in laid_over]
    np.testing.assert_allclose(found, plain, rtol=1e-12)
    # the pairs span both sides of the threshold: copies well below, look-alikes above
    assert min(found) < fine_detail.DETAIL / 2 and max(found) > fine_detail.DETAIL


def _plain_refined(cropped, target: np.ndarray, box: list[float], size, steps) -> np.ndarray | None:
    """Refining as first written: every move of the box resampled and correlated in turn."""

    def correlation(view: np.ndarray) -> float:
        x, y = view - view.mean(dtype=np.float64), target - target.mean(dtype=np.float64)
        return float((x * y).sum() / max(np.sqrt((x * x).sum() * (y * y).sum()), 1e-9))

    unit = ((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1])
    best, refined = correlation(_view(cropped, box, size)), None
    for step in steps:
        improved = True
        while improved:
            improved = False
            for trial in _moves(box, step, unit, (cropped.width, cropped.height)):
                view = _view(cropped, trial, size)
                if correlation(view) > best + 1e-7:
                    best, box, refined, improved = correlation(view), trial, view, True
    return refined


def test_refining_without_resampling_tried_boxes_ends_where_trying_every_box_does(tmp_path):
    """A crop laid over 1 to 2 compared pixels off: refining moves it, to the very view that
    resampling every move in turn finds."""
    steps = (1.0, 0.5, 0.25)
    for k, (name, image) in enumerate((("digit", digit(1237)), ("text", _photo("text").crop((0, 0, 200, 172))))):
        cropped = _saved(image, tmp_path / f"{name}.png")
        w, h = cropped.size
        whole = _saved(image.crop((5, 3, w - 2, h - 4)), tmp_path / f"{name}_crop.png")
        size = whole.size
        target = _view(whole, (0, 0, *size), size)
        for box in ([3.6, 4.1, w - 1.0, h - 2.3], [6.2, 1.8, w - 3.1, h - 5.5]):
            quick = _refined(cropped, _Target(target), list(box), _view(cropped, box, size), size, steps)
            plain = _plain_refined(cropped, target, list(box), size, steps)
            assert quick is not None and plain is not None, (name, box)
            np.testing.assert_array_equal(quick, plain)
