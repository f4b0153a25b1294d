"""The values that flow between pixel-classification nodes, and their port data types.

Pixel samples are small (a capped number of pixels per class). Class maps of whole
photos are not passed around: Classify Pixels writes each one as a PNG file (its palette
is the class colours, so any image viewer shows it coloured) and passes the paths, with
the pixel count of each class per image.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flowclass.codec import serializable
from flowclass.datatypes import DataType

from .datatypes import ImageSet

if TYPE_CHECKING:  # pandas is imported where tables are made, to keep start-up fast
    import pandas as pd


@serializable("flowclass.PixelSamples")
@dataclass(frozen=True, eq=False)
class PixelSamples:
    """Labelled pixels: their colour, class and where they come from (image, row, column)."""

    classes: tuple[str, ...]
    colours: tuple[str, ...]  # how each class is drawn, "#rrggbb"
    labels: np.ndarray  # (n,) int16 class index
    rgb: np.ndarray  # (n, 3) uint8
    image: np.ndarray  # (n,) int32 index into ``paths``
    rows: np.ndarray  # (n,) int32
    cols: np.ndarray  # (n,) int32
    paths: np.ndarray  # source images (str)
    source: str = ""  # "mask" (painted regions) or "folders" (weak labels)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.labels, minlength=len(self.classes))
        return dict(zip(self.classes, found.tolist()))

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({
            "class": np.asarray(self.classes, dtype=object)[self.labels],
            "red": self.rgb[:, 0], "green": self.rgb[:, 1], "blue": self.rgb[:, 2],
            "image": self.paths[self.image].astype(str) if len(self.paths) else [],
            "x": self.cols, "y": self.rows,
        })


@serializable("flowclass.PixelModel")
@dataclass(frozen=True, eq=False)
class PixelModel:
    """A trained pixel classifier: classes, features, and the estimator saved with skops."""

    classes: tuple[str, ...]
    colours: tuple[str, ...]
    features: dict[str, Any]  # FeatureSpec.to_dict()
    kind: str  # nearest_centroid | logistic_regression | random_forest
    estimator: np.ndarray  # skops bytes as uint8, never pickle
    holdout_accuracy: float = float("nan")
    trained_on: int = 0  # pixels

    @property
    def digest(self) -> str:
        """Identifies the model's behaviour (names of classes, features, fitted estimator)."""
        text = repr((self.classes, sorted(self.features.items()), self.kind))
        return hashlib.sha256(text.encode() + self.estimator.tobytes()).hexdigest()

    def to_table(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame({"class": list(self.classes), "colour": list(self.colours)})


@serializable("flowclass.PixelMaps")
@dataclass(frozen=True, eq=False)
class PixelMaps:
    """Classified images: a class-map PNG per image and the pixels of each class.

    ``counts`` has a column per class and a last one for ``unknown`` (pixels no class
    was sure enough of); ``colours`` likewise ends with the colour of ``unknown``.
    """

    images: ImageSet
    maps: np.ndarray  # (n,) paths of palette PNGs: pixel value = class index
    classes: tuple[str, ...]
    colours: tuple[str, ...]
    counts: np.ndarray  # (n, classes + 1) int64
    unknown_below: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.maps)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names as they appear in a map, ``unknown`` last."""
        return self.classes + ("unknown",)

    def to_table(self) -> "pd.DataFrame":
        """Area of each class in each image, in pixels and percent (one row per pair)."""
        import pandas as pd

        shown = len(self.names) if self.unknown_below > 0 else len(self.classes)
        rows = []
        for i, path in enumerate(self.images.paths.tolist()):
            total = int(self.counts[i].sum())
            for k in range(shown):
                pixels = int(self.counts[i, k])
                rows.append((path, os.path.basename(path), self.names[k], self.colours[k], pixels,
                             100.0 * pixels / total if total else 0.0))
        return pd.DataFrame(rows, columns=["path", "image", "class", "colour", "pixels", "percent"])


PIXEL_SAMPLES = DataType("pixel_samples", "Pixel samples", "#b07aa1",
                         "Labelled pixels (colour, class, position) to train a pixel classifier.",
                         tabular=True)
PIXEL_MODEL = DataType("pixel_model", "Pixel classifier", "#ff9da7",
                       "A trained model that labels every pixel of an image.", tabular=True)
PIXEL_MAPS = DataType("pixel_maps", "Classified pixels", "#edc948",
                      "A class map per image (PNG files) and the area of each class.",
                      tabular=True)
