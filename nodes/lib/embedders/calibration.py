"""The pictures int8 models are calibrated on: photographs and drawings that installed
packages ship (scikit-image, scikit-learn), so preparing a model downloads nothing and
gives the same model on every machine.

Static quantisation measures the range of each activation on these images once; the
more their kinds resemble what people embed (photos, scans, micrographs, gray drawings,
handwritten digits), the closer the int8 vectors stay to the float ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

# scikit-image's own photographs (shipped inside the package, not fetched on demand)
SKIMAGE = ("astronaut", "chelsea", "coffee", "rocket", "camera", "hubble_deep_field",
           "immunohistochemistry", "retina", "coins", "page", "horse", "moon", "text",
           "colorwheel", "brick", "grass", "gravel")
SKLEARN = ("china.jpg", "flower.jpg")
DIGITS = range(0, 40, 4)  # ten handwritten digits, dark ink on white, as the sample set has them


def calibration_images() -> Iterator[Image.Image]:
    """The calibration pictures, always the same ones in the same order."""
    import skimage.data
    import sklearn.datasets

    for name in SKIMAGE:
        yield Image.fromarray(getattr(skimage.data, name)())
    folder = Path(sklearn.datasets.__file__).parent / "images"
    for name in SKLEARN:
        with Image.open(folder / name) as image:
            yield image.convert("RGB")
    digits = sklearn.datasets.load_digits().images
    for index in DIGITS:
        ink = (255 - digits[index] * 255 / 16).astype(np.uint8)
        yield Image.fromarray(ink).resize((64, 64), Image.BICUBIC)
