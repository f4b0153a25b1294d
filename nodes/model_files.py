"""Save Model and Load Model: classifiers as files to share, that load without running code.

The file format and its checks are in :mod:`nodes.lib.classify.model_format`. Save Model writes only
through :func:`~flowclass.userfiles.owned_folder.owned_folder` (a file FlowClass did not write is
never replaced); Load Model refuses anything but an intact FlowClass classifier.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError, ParamValueError
from flowclass.fsutil import file_stamp
from flowclass.node import Input, Output, node
from flowclass.params import Path as PathParam
from flowclass.userfiles.journal import is_natural
from flowclass.userfiles.owned_folder import owned_folder

from .classify import train_classifier
from .classify_types import MODEL, MODEL_FORMAT, Classifier
from .datatypes import TABLE
from .embed import BACKEND_PARAMS, embed, params_from_spec
from .lib.classify.estimators import describe_spec
from .lib.classify import model_format
from .lib.classify.model_format import EXTENSION, ModelFileError, model_bytes, read_model_file
from .lib.cleaning.familiarity import Familiarity


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@node(
    type="save_model", title="Save Model", category="Supervised",
    inputs=[Input("model", MODEL)],
    outputs=[Output("saved", TABLE, help="The file written, its checksum and what it holds.")],
    params=[PathParam(name="path", default=f"classifier{EXTENSION}", target="file", role="output",
                      extensions=(EXTENSION,),
                      help="Model file to write (relative: inside the run's output folder). An "
                           "existing file FlowClass did not write is never replaced.")],
    writes_files=True,
)
def save_model(ctx: RunContext, *, model: Classifier, path):
    """Write the classifier, its labels and its embedder spec to a file others can load."""
    target = Path(path)
    data = model_bytes(model)
    with owned_folder(target.parent, ctx, field="path") as owned:
        try:
            owned.write_file(target.name, lambda tmp: tmp.write_bytes(data))
        except FileExistsError as exc:
            raise NodeError(str(exc), field="path", hint="choose another file name") from None
    ctx.wrote(target)
    import pandas as pd

    return {"saved": pd.DataFrame({"path": [str(target)], "sha256": [_sha256(data)],
                                   "bytes": [len(data)], "classes": [", ".join(model.classes)],
                                   "embedder": [describe_spec(model.embedder)]})}


def _model_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    """The file's content hash, read in chunks; a file too large to load is known by its stamp."""
    path = Path(params["file"])
    if not path.is_file():
        return "absent"
    if path.stat().st_size > model_format.LIMITS.max_bytes:
        return f"too large:{file_stamp(path)}"
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# Where each Embed parameter is kept in an embedder spec, for messages that name the field.
SPEC_FIELDS = {"backend": "backend", "pixel_size": "preprocessing.size",
               "grayscale": "preprocessing.grayscale", "binarize": "preprocessing.binarize",
               "threshold": "preprocessing.threshold", "histogram_space": "preprocessing.space",
               "histogram_bins": "preprocessing.bins", "clip_model": "model", "clip_weights": "weights"}


def checked_fields(model: Classifier) -> Classifier:
    """A model read from a file, every field held to the constraints the nodes use.

    The embedder settings are Embed's parameters (a pixel size of 40,000 would allocate
    gigabytes per image), the classifier settings Train Classifier's; the classes a list of
    distinct names. Raises :class:`ModelFileError` naming the field; nothing is allocated
    from the file's numbers before this passes.
    """
    def refuse(field: str, message: str) -> ModelFileError:
        return ModelFileError(f"field '{field}': {message}")

    if isinstance(model.format, bool) or not isinstance(model.format, int) or not 1 <= model.format:
        raise refuse("format", f"expected a whole number >= 1; got {model.format!r}")
    if model.format > MODEL_FORMAT:
        return model  # read_model says a newer FlowClass wrote it
    if not isinstance(model.classes, (list, tuple)) or len(model.classes) < 2 or \
            not all(isinstance(c, str) and c for c in model.classes) or len(set(model.classes)) < len(model.classes):
        raise refuse("classes", f"expected a list of at least 2 distinct names; got {model.classes!r}"[:300])
    if not isinstance(model.estimator, np.ndarray) or model.estimator.dtype != np.uint8 or model.estimator.ndim != 1:
        raise refuse("estimator", "expected the classifier's bytes")
    for field in ("embedder", "settings", "training"):
        if not isinstance(getattr(model, field), dict):
            raise refuse(field, f"expected a mapping; got {getattr(model, field)!r}"[:300])
    train = {p.name: p for p in train_classifier.params}
    _validate(train["model"], model.model, "model", refuse)
    for key, value in model.settings.items():
        if key not in train or key in ("model", "validation", "test_fraction", "folds", "final_model", "seed"):
            raise refuse(f"settings.{key}", "not a setting of Train Classifier")
        _validate(train[key], value, f"settings.{key}", refuse)
    settings = {p.name: p for p in embed.params}
    try:
        wanted = params_from_spec(model.embedder)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise refuse("embedder", f"does not say how to embed images ({type(exc).__name__}: {exc})"[:300]) from None
    backend = wanted["backend"]
    for name in ("backend", *BACKEND_PARAMS.get(backend, ())):
        _validate(settings[name], wanted[name], f"embedder.{SPEC_FIELDS[name]}", refuse)
    weights = wanted["clip_weights"]
    if backend == "open_clip" and ("/" in weights or "\\" in weights or weights.startswith(("~", "."))):
        raise refuse("embedder.weights", "a weights file is named by its file name alone (it is looked "
                     f"for beside the workflow); got {weights!r}"[:300])
    for key, (fits, expected) in TRAINING_FIELDS.items():
        if key in model.training and not fits(model.training[key]):
            raise refuse(f"training.{key}", f"expected {expected}; got {model.training[key]!r}"[:300])
    _check_familiarity(model.familiarity, model.embedder.get("dim"), refuse)
    return dataclasses.replace(model, classes=tuple(model.classes))


# What the canvas's view of a model reads of its training figures, as Train Classifier writes
# them: a shared file's accuracy of "high" or counts in a list failed that view.
TRAINING_FIELDS = {
    "images": (is_natural, "a whole number >= 0"),
    "validation_images": (is_natural, "a whole number >= 0"),
    "validation_accuracy": (lambda value: type(value) in (int, float) and 0 <= value <= 1, "a number in [0, 1]"),
    "validation": (lambda value: isinstance(value, str), "text"),
    "class_counts": (lambda value: isinstance(value, dict) and all(map(is_natural, value.values())),
                     "a whole number >= 0 per class"),
}


def _check_familiarity(familiarity: Any, dim: Any, refuse) -> None:
    """Predict's familiarity as learn_familiarity makes it: float32 arrays whose shapes fit
    one another and the embeddings (``dim`` numbers), compared with at least one neighbour.
    A shared file's other shapes or a neighbour count of -1 ended Predict in an unexpected
    AssertionError, IndexError or ValueError, naming neither file nor field. The numbers are
    finite, the spreads >= 0 and the ratios in order, as learn_familiarity makes them."""
    if familiarity is None:  # a model from before FlowClass kept it
        return
    if not isinstance(familiarity, Familiarity):
        raise refuse("familiarity", f"expected how new images compare with the training images; "
                     f"got {familiarity!r}"[:300])
    count = familiarity.neighbours
    if type(count) is not int or count < 1:
        raise refuse("familiarity.neighbours", f"expected a whole number >= 1; got {count!r}"[:300])

    def array(name: str, *shape: int | None) -> np.ndarray:
        value = getattr(familiarity, name)
        if not (isinstance(value, np.ndarray) and value.dtype == np.float32 and value.size > 0
                and value.ndim == len(shape) and all(w in (None, g) for g, w in zip(value.shape, shape))):
            wanted = ", ".join("any" if w is None else str(w) for w in shape)
            got = f"{value.dtype} of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
            raise refuse(f"familiarity.{name}", f"expected float32 numbers of shape ({wanted}); got {got}"[:300])
        return value

    mean = array("mean", dim if type(dim) is int else None)
    axes = array("axes", len(mean), None)
    reference = array("reference", None, axes.shape[1])
    spread = array("spread", len(reference))
    ratios = array("ratios", None)
    for name, value in (("mean", mean), ("axes", axes), ("reference", reference), ("spread", spread),
                        ("ratios", ratios)):
        if not np.isfinite(value).all():  # a NaN made every new image 'unfamiliar', silently
            raise refuse(f"familiarity.{name}", "expected finite numbers; it holds NaN or infinity")
    if (spread < 0).any():
        raise refuse("familiarity.spread", "expected distances (numbers >= 0); it holds a negative one")
    if (np.diff(ratios) < 0).any():  # Predict looks a ratio up among them by bisection
        raise refuse("familiarity.ratios", "expected numbers in increasing order")


def _validate(param: Any, value: Any, field: str, refuse) -> None:
    try:
        param.validate(value)
    except ParamValueError as exc:
        raise refuse(field, str(exc)[:300]) from None


@node(
    type="load_model", title="Load Model", category="Supervised",
    outputs=[Output("model", MODEL)],
    params=[PathParam(name="file", default="", target="file", role="input", extensions=(EXTENSION,), optional=True,
                      help="A model file written by Save Model (relative: next to the workflow).")],
    fingerprint=_model_fingerprint,
    revision=3,  # 1: its forest's trees and familiarity checked; 2: its training figures; 3: its
    # familiarity's numbers finite and in order (each read again)
)
def load_model(ctx: RunContext, *, file):
    """Read a saved classifier; files that are not exactly that are refused, never run."""
    if not file:
        raise NodeError("no model file given", field="file", hint=f"choose a {EXTENSION} file")
    path = Path(file)
    if not path.is_file():
        raise NodeError(f"model file not found: {path}", field="file")
    try:
        model = read_model_file(path, check=checked_fields)
    except ModelFileError as exc:
        raise NodeError(str(exc), field="file") from None
    ctx.record("model", {"classes": list(model.classes), "embedder": model.embedder})
    return {"model": model}


NODES = [save_model, load_model]
VIEWERS = ["nodes.viewers.classification"]  # the classifier a model file holds
