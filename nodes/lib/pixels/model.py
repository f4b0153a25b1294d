"""Training, saving and applying pixel classifiers.

Three models, from simplest to most flexible: *nearest centroid* (each class is its mean
colour and a pixel goes to the closest one: seed 000's plain colour distance), *logistic
regression* and a *random forest* (seed 001's). Features are standardised first, so RGB
and CIELAB weigh alike. The fitted model is saved with skops, never pickle, by
:func:`nodes.lib.classify.estimators.dump_estimator`, which loads back only trusted types.

Applying a colour-only model is a table lookup: each distinct colour of an image is
classified once, into a 16.7-million-entry table shared by every image of a run, so a
12-megapixel photo costs one prediction per distinct colour plus one array lookup.
"""

from __future__ import annotations

import numpy as np

from ..classify.estimators import FOREST, PIPELINE, UntrustedModel, family, load_estimator
from .features import FeatureSpec, code_rgb, colour_features, context_features, distinct_colours, strips
from .masks import colour_codes

MODELS = ("nearest_centroid", "logistic_regression", "random_forest")
# What each of MODELS is built of (make_estimator): a model is rebuilt from these types alone.
FAMILIES = {
    "nearest_centroid": family("Nearest centroid", *PIPELINE, "sklearn.neighbors._nearest_centroid.NearestCentroid"),
    "logistic_regression": family("Logistic regression", *PIPELINE,
                                  "sklearn.linear_model._logistic.LogisticRegression"),
    "random_forest": family("Random forest", *PIPELINE, *FOREST),
}
PREDICT_CHUNK = 1 << 19  # rows per predict_proba call, to bound memory


def load_model_estimator(payload: np.ndarray, kind: str):
    """The fitted estimator of a pixel model of ``kind``, rebuilt from the types its family is
    built of alone (:class:`UntrustedModel` otherwise)."""
    if kind not in FAMILIES:
        raise UntrustedModel(f"a pixel model of kind {kind!r} is none FlowClass has ({', '.join(MODELS)})")
    return load_estimator(payload, FAMILIES[kind])


def make_estimator(kind: str, *, seed: int, n_trees: int, max_depth: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import NearestCentroid
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "nearest_centroid":
        model = NearestCentroid()
    elif kind == "logistic_regression":
        model = LogisticRegression(max_iter=2000)
    elif kind == "random_forest":
        model = RandomForestClassifier(n_estimators=n_trees, max_depth=max_depth or None,
                                       min_samples_leaf=2, random_state=seed)
    else:
        raise ValueError(f"unknown model {kind!r}; choose from {', '.join(MODELS)}")
    return make_pipeline(StandardScaler(), model)


def predict(estimator, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class index (uint8) and confidence (uint8, probability x 255) for each row."""
    labels = np.empty(len(features), dtype=np.uint8)
    confidence = np.empty(len(features), dtype=np.uint8)
    classes = estimator.classes_.astype(np.uint8)
    for start in range(0, len(features), PREDICT_CHUNK):
        proba = estimator.predict_proba(features[start:start + PREDICT_CHUNK])
        best = proba.argmax(axis=1)
        labels[start:start + len(best)] = classes[best]
        confidence[start:start + len(best)] = np.floor(
            proba[np.arange(len(best)), best] * 255).astype(np.uint8)
    return labels, confidence


class PixelClassifier:
    """A loaded model that labels whole images, remembering colours it has already seen."""

    def __init__(self, estimator, spec: FeatureSpec):
        self.estimator, self.spec = estimator, spec
        self._known: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._confidence: np.ndarray | None = None

    def label_image(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(h, w, 3) uint8 image -> class index and confidence per pixel, both (h, w) uint8."""
        codes = colour_codes(image)
        if self.spec.colour_only:
            return self._by_lookup(codes)
        return self._by_strips(image, codes)

    def _by_lookup(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._known is None:
            self._known = np.zeros(1 << 24, dtype=bool)
            self._labels = np.zeros(1 << 24, dtype=np.uint8)
            self._confidence = np.zeros(1 << 24, dtype=np.uint8)
        colours = distinct_colours(codes)
        new = colours[~self._known[colours]]
        if len(new):
            labels, confidence = predict(self.estimator, colour_features(code_rgb(new), self.spec))
            self._labels[new], self._confidence[new] = labels, confidence
            self._known[new] = True
        return self._labels[codes], self._confidence[codes]

    def _by_strips(self, image: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        colours = distinct_colours(codes)
        table = colour_features(code_rgb(colours), self.spec)
        row_of = np.empty(1 << 24, dtype=np.int32)  # colour code -> its row of ``table``
        row_of[colours] = np.arange(len(colours), dtype=np.int32)
        labels = np.empty(codes.shape, dtype=np.uint8)
        confidence = np.empty(codes.shape, dtype=np.uint8)
        for start, stop in strips(*codes.shape):
            features = np.hstack([table[row_of[codes[start:stop].ravel()]],
                                  context_features(image, self.spec, start, stop)])
            strip_labels, strip_confidence = predict(self.estimator, features)
            labels[start:stop] = strip_labels.reshape(stop - start, -1)
            confidence[start:stop] = strip_confidence.reshape(stop - start, -1)
        return labels, confidence


def features_at(image: np.ndarray, spec: FeatureSpec, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Features of the pixels at (rows, cols) of one image, as a classifier sees them."""
    out = np.empty((len(rows), len(spec.names())), dtype=np.float32)
    colour = colour_features(image[rows, cols], spec)
    out[:, :colour.shape[1]] = colour
    if spec.colour_only:
        return out
    width = image.shape[1]
    for start, stop in strips(image.shape[0], width):
        inside = np.flatnonzero((rows >= start) & (rows < stop))
        if len(inside):
            context = context_features(image, spec, start, stop)
            out[inside, colour.shape[1]:] = context[(rows[inside] - start) * width + cols[inside]]
    return out
