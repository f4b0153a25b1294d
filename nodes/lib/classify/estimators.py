"""Classifier estimators: how each model family is built, stored and checked on load.

A fitted scikit-learn estimator is kept as skops bytes, never pickle: skops rebuilds only
the types it is told to trust, and :func:`load_estimator` trusts exactly the types that
the families below produce. Anything else in a file (a function, an unknown class) is
refused before a single object is constructed.
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import zipfile
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

MODELS = ("logistic_regression", "knn", "random_forest", "linear_svm", "mlp")
MODEL_TITLES = {
    "logistic_regression": "Logistic regression",
    "knn": "k-nearest neighbours",
    "random_forest": "Random forest",
    "linear_svm": "Linear SVM",
    "mlp": "Small neural network (MLP)",
}
# The types our families produce beyond those skops trusts by default. Nothing else loads.
EXTRA_TRUSTED = (
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Family:
    """A model family and every type its fitted estimators are built of: a file that says it
    holds one is rebuilt from these types alone (skops by itself trusts every scikit-learn
    estimator, a forest's compiled trees or a k-d tree in a k-NN model's place)."""

    title: str
    types: frozenset[str]


# Containers, numbers and arrays, which every family's estimators hold.
PLAIN_TYPES = frozenset({
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int", "builtins.float",
    "builtins.bool", "builtins.NoneType", "numpy.ndarray", "numpy.dtype", "numpy.float64", "numpy.float32",
    "numpy.int64", "numpy.int32", "numpy.bool_", "numpy.random.mtrand.RandomState"})
PIPELINE = ("sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler")
CALIBRATION = ("sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
               "sklearn.calibration._SigmoidCalibration", "sklearn.calibration._TemperatureScaling",
               "sklearn.isotonic.IsotonicRegression")
FOREST = ("sklearn.ensemble._forest.RandomForestClassifier", "sklearn.tree._classes.DecisionTreeClassifier",
          "sklearn.tree._tree.Tree")


def family(title: str, *types: str) -> Family:
    return Family(title, PLAIN_TYPES | frozenset(types))


# What each of MODELS is built of (build_estimator), any calibration included (tests/test_classify.py).
FAMILIES = {
    "logistic_regression": family(MODEL_TITLES["logistic_regression"], *PIPELINE, *CALIBRATION,
                                  "sklearn.linear_model._logistic.LogisticRegression"),
    "knn": family(MODEL_TITLES["knn"], *CALIBRATION, "sklearn.neighbors._classification.KNeighborsClassifier"),
    "random_forest": family(MODEL_TITLES["random_forest"], *CALIBRATION, *FOREST),
    "linear_svm": family(MODEL_TITLES["linear_svm"], *PIPELINE, *CALIBRATION, "sklearn.svm._classes.LinearSVC"),
    "mlp": family(MODEL_TITLES["mlp"], *PIPELINE, *CALIBRATION,
                  "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
                  "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
                  "sklearn.preprocessing._label.LabelBinarizer"),
}


class UntrustedModel(ValueError):
    """A model payload that is damaged or holds something FlowClass will not build."""


CALIBRATIONS = ("auto", "temperature", "sigmoid", "isotonic", "none")
# What "auto" calibrates each family with: the method whose confidences best fitted one
# 'uncertain' threshold in benchmarks/uncertain_threshold.py (figures in benchmarks/README.md).
# Logistic regression, k-NN and the MLP are left as they are: calibrating them measured worse.
AUTO_CALIBRATION = {"logistic_regression": "none", "knn": "none", "random_forest": "sigmoid",
                    "linear_svm": "temperature", "mlp": "none"}


def build_estimator(model: str, settings: Mapping[str, Any], seed: int,
                    smallest_class: int) -> Any:
    """A fresh, unfitted estimator of ``model`` with the user's settings.

    Linear models and the MLP see standardised features (they need it); k-NN compares the
    vectors as they are, as seed 002 does, and forests do not care about scale.

    With ``settings["calibration"]`` other than "none", the model's probabilities are
    calibrated on internal folds (scikit-learn's CalibratedClassifierCV), so that a
    confidence of 0.8 means about 80 % right whatever the model family: a forest's votes
    or k-NN's neighbour shares are not probabilities until then. "auto" picks the method
    per family (:data:`AUTO_CALIBRATION`).
    """
    calibration = settings.get("calibration", "none")
    if calibration == "auto":
        calibration = AUTO_CALIBRATION[model]
    base = _family(model, settings, seed, smallest_class, calibration)
    if calibration == "none" or model == "linear_svm":
        return base
    from sklearn.calibration import CalibratedClassifierCV

    return CalibratedClassifierCV(base, method=calibration, cv=max(2, min(3, smallest_class)),
                                  ensemble=False)


def _family(model: str, settings: Mapping[str, Any], seed: int, smallest_class: int,
            calibration: str) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return make_pipeline(StandardScaler(), LogisticRegression(
            C=settings["c"], max_iter=2000, random_state=seed))
    if model == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=settings["n_neighbors"],
                                    metric=settings["knn_metric"], weights=settings["knn_weights"],
                                    algorithm="brute")
    if model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=settings["n_trees"], random_state=seed, n_jobs=1)
    if model == "linear_svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        # A plain SVM gives no probabilities; Platt scaling on internal folds does.
        svm = LinearSVC(C=settings["c"], max_iter=5000, random_state=seed)
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(
            svm, method="sigmoid" if calibration == "none" else calibration,
            cv=max(2, min(3, smallest_class))))
    if model == "mlp":
        from sklearn.neural_network import MLPClassifier

        return make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(settings["hidden_units"],), max_iter=1000, early_stopping=False,
            random_state=seed))
    raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")


def class_scores(estimator: Any, vectors: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Per-class probabilities (n, len(classes)), columns in the order of ``classes``."""
    probabilities = estimator.predict_proba(np.asarray(vectors, dtype=np.float64))
    order = [list(estimator.classes_).index(c) for c in classes]
    return np.asarray(probabilities, dtype=np.float64)[:, order]


# --- storing ----------------------------------------------------------------------

def canonical_zip(data: bytes) -> bytes:
    """The same skops zip in a form that depends only on the estimator's content.

    skops names each array file and each object's ``__id__`` by the Python object's id(),
    which differs from one process to the next. Those ids are renumbered 1, 2, ... in the
    order the schema first mentions them (a one-to-one renaming, so objects shared inside
    the estimator stay shared), entries are written in name order and dated 1980: equal
    estimators give equal bytes.
    """
    import json

    numbers: dict[int, int] = {}

    def number(old: int) -> int:
        return numbers.setdefault(old, len(numbers) + 1)

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    value = number(value)
                elif key == "file" and isinstance(value, str) and _ARRAY_FILE.fullmatch(value):
                    value = f"{number(int(value[:-4]))}.npy"
                else:
                    value = renumber(value)
                out[key] = value
            return out
        if isinstance(node, list):
            return [renumber(item) for item in node]
        return node

    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = renumber(json.loads(source.read("schema.json")))
        entries = {"schema.json": json.dumps(schema, indent=2).encode("utf-8")}
        for info in source.infolist():
            if info.filename != "schema.json":
                name = info.filename
                if _ARRAY_FILE.fullmatch(name):
                    name = f"{number(int(name[:-4]))}.npy"
                entries[name] = source.read(info)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in sorted(entries):
            target.writestr(zipfile.ZipInfo(name, _ZIP_TIME), entries[name],
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


_ARRAY_FILE = re.compile(r"\d+\.npy")


# scikit-learn's copies of array libraries' adapters: packages that import their library
ARRAY_ADAPTERS = tuple(f"sklearn.externals.array_api_compat.{name}" for name in ("torch", "dask", "cupy"))
_SKOPS_IMPORT = threading.Lock()  # nodes train side by side, in threads


def skops_io() -> Any:
    """``skops.io``, imported without torch or dask (2 to 3 s, each process that trains or
    loads a classifier). skops lists the scikit-learn types it trusts by walking every
    scikit-learn package, and Python's walk imports each package it passes, so
    ``sklearn.externals``'s adapters for torch and dask imported those libraries, though
    the list leaves ``sklearn.externals`` out. They are passed over instead (the list is
    the same), and importable again after."""
    with _SKOPS_IMPORT:
        passed_over = [] if "skops.io" in sys.modules else [n for n in ARRAY_ADAPTERS if n not in sys.modules]
        for name in passed_over:
            sys.modules[name] = None  # importing it fails, and the walk goes on without it
        try:
            import skops.io
        finally:
            for name in passed_over:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
    return skops.io


def dump_estimator(estimator: Any) -> np.ndarray:
    """The estimator as skops bytes (a uint8 array, so the safe codec can carry it)."""
    sio = skops_io()

    data = canonical_zip(sio.dumps(estimator))
    return np.frombuffer(data, dtype=np.uint8).copy()


def load_estimator(payload: np.ndarray | bytes, family: Family, n_features: int | None = None) -> Any:
    """Rebuild an estimator from :func:`dump_estimator` bytes, trusting only known types.

    Raises :class:`UntrustedModel` naming what is wrong; nothing from the payload is
    constructed unless every type in it is one ``family`` is built of, and its decision
    trees are checked whole (:func:`check_trees`; with ``n_features``, the number of numbers
    the vectors it is given hold).
    """
    sio = skops_io()

    data = bytes(payload) if not isinstance(payload, bytes) else payload
    try:
        foreign = sorted(held_types(data) - family.types)
        untrusted = [] if foreign else sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises many kinds of errors for damaged input
        raise UntrustedModel(f"the classifier inside is damaged ({type(exc).__name__}: {exc})") from None
    unknown = sorted(set(untrusted) - set(EXTRA_TRUSTED))
    if unknown or any(not name.startswith(("builtins.", "numpy.", "sklearn.")) for name in foreign):
        raise UntrustedModel("the classifier inside holds types FlowClass does not trust: "
                             + ", ".join(unknown or foreign))
    if foreign:
        raise UntrustedModel(f"the classifier inside holds {', '.join(foreign)}, which a "
                             f"'{family.title}' model is not built of")
    try:
        estimator = sio.loads(data, trusted=list(EXTRA_TRUSTED))
    except Exception as exc:
        raise UntrustedModel(f"the classifier inside is damaged ({type(exc).__name__}: {exc})") from None
    check_trees(estimator, n_features)
    return estimator


def held_types(data: bytes) -> set[str]:
    """Every type skops would build from ``data`` (each object of its schema names its module
    and class), walked without recursion."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if "__class__" in item or "__module__" in item:
                found.add(f"{item.get('__module__')}.{item.get('__class__')}")
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def check_trees(estimator: Any, n_features: int | None = None) -> None:
    """:class:`UntrustedModel` unless every decision tree inside ``estimator`` is whole.

    scikit-learn's trees are compiled code that follows each node's child and feature
    numbers without checking them, and a tree rebuilt from a file takes them as written: a
    shared model file whose forest had a node pointing past the tree's end crashed FlowClass
    (a segmentation fault) when it predicted, one pointing back up the tree looped for ever,
    and one reading a feature past the vector's end read other memory. So each node must be
    a leaf or point to two later nodes of the tree, and split on a feature the vectors have.
    (skops trusts no tree by default for this reason; the forests of our families need one.)
    """
    for number, tree in enumerate(_trees(estimator), start=1):
        def damaged(why: str) -> UntrustedModel:
            return UntrustedModel(f"the classifier inside is damaged (decision tree {number}: {why})")

        count, features = tree.node_count, tree.n_features
        if n_features is not None and features != n_features:
            raise damaged(f"it splits vectors of {features} numbers, not {n_features}")
        # count rows: a tree rebuilt afresh, as skops rebuilds it, counts at most what it holds
        nodes = tree.__getstate__()["nodes"]
        left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
        inner = (left != TREE_LEAF) | (right != TREE_LEAF)
        after = np.arange(count)[inner]
        for name, children in (("left", left[inner]), ("right", right[inner])):
            wrong = (children <= after) | (children >= count)
            if wrong.any():
                at = int(after[wrong.argmax()])
                raise damaged(f"node {at}'s {name} child is node {int(children[wrong.argmax()])}, "
                              f"not a later one of its {count}")
        wrong = (feature[inner] < 0) | (feature[inner] >= features)
        if wrong.any():
            raise damaged(f"node {int(after[wrong.argmax()])} splits on feature "
                          f"{int(feature[inner][wrong.argmax()])} of {features}")


TREE_LEAF = -1  # scikit-learn's child number of a leaf


def _trees(value: Any) -> Any:
    """Every scikit-learn ``Tree`` reachable from ``value`` (its attributes, lists, dicts and
    object arrays), each once, nearest first (a forest's in its order); walked without recursion."""
    from collections import deque

    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    pending = deque([value])
    while pending:
        item = pending.popleft()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Tree):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, np.ndarray):
            if item.dtype == object:
                pending.extend(item.ravel().tolist())
        elif hasattr(item, "__dict__"):
            pending.extend(vars(item).values())


# --- embedder specs -----------------------------------------------------------------

def _flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def spec_differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """Readable differences between two embedder specs ("backend: 'pixels' vs 'open_clip'")."""
    a, b = _flatten(expected), _flatten(actual)
    return [f"{key}: {a.get(key, '(none)')!r} vs {b.get(key, '(none)')!r}"
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def describe_spec(spec: Mapping[str, Any]) -> str:
    """One line naming an embedder, e.g. ``pixels (raw-pixels, 256 numbers)``."""
    if not spec:
        return "an unknown embedder"
    weights = spec.get("weights")
    extra = f", weights {weights}" if weights else ""
    extra += f", {spec['precision']}" if spec.get("precision") else ""
    return f"{spec.get('backend', '?')} ({spec.get('model', '?')}{extra}, {spec.get('dim', '?')} numbers)"
