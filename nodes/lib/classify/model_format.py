"""Model files (``.fcmodel``): a classifier to share, that loads without running code.

The file is the safe codec's zip (``flowclass.codec.to_bytes``): ``value.json`` holds the
class names, the exact embedder spec and how the model was trained, in plain JSON;
``arrays.npz`` (read with ``allow_pickle=False``) holds the estimator as skops bytes,
which :func:`nodes.lib.classify.estimators.load_estimator` rebuilds only from trusted types. A pickle,
an edited or truncated file, or a payload naming other types is refused with the reason.

A model file is something people share, so it is read as hostile: its size and what it
would inflate to are bounded before anything is inflated (:data:`LIMITS`, the estimator's
own zip included), and every refusal names the file.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Callable

from flowclass import codec

from ...classify_types import MODEL_FORMAT, Classifier
from .estimators import FAMILIES, UntrustedModel, load_estimator

EXTENSION = ".fcmodel"
LIMITS = codec.ZipLimits()  # a k-NN model of 30,000 embeddings is about 150 MB


class ModelFileError(ValueError):
    """A file that is not a usable FlowClass model; the message says why."""


def model_bytes(model: Classifier) -> bytes:
    return codec.to_bytes(model)


Check = Callable[[Classifier], Classifier]


def read_model_file(path: str | os.PathLike[str], check: Check = lambda value: value) -> Classifier:
    """The classifier in the file at ``path``; its size is checked before it is read, and
    ``check`` (see :func:`read_model`) holds its fields to the nodes' constraints."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > LIMITS.max_bytes:
            raise ModelFileError(f"{path} is {size / 2**20:.0f} MB, larger than FlowClass "
                                 f"reads ({LIMITS.max_bytes / 2**20:.0f} MB): not a model file")
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read the model file {path}: {exc.strerror or exc}") from None
    return read_model(data, name=str(path), check=check)


def read_model(data: bytes, name: str = "the model file", check: Check = lambda value: value) -> Classifier:
    """The classifier in ``data``, checked all the way down; :class:`ModelFileError` if not.

    ``check`` gets the decoded value before anything else uses it (its format compared, its
    classifier rebuilt) and returns it normalised, or raises :class:`ModelFileError` naming
    the field; the message then gets the file's name in front.
    """
    try:
        value = codec.from_bytes(data, LIMITS)
    except (codec.CodecError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{name} is not a FlowClass model file ({exc})") from None
    if not isinstance(value, Classifier):
        raise ModelFileError(f"{name} holds a {type(value).__name__}, not a classifier")
    try:
        value = check(value)
    except ModelFileError as exc:
        raise ModelFileError(f"{name} was refused: {exc}") from None
    if value.format > MODEL_FORMAT:
        raise ModelFileError(f"{name} was written by a newer FlowClass (model format "
                             f"{value.format}); please upgrade FlowClass")
    try:
        with codec.open_zip(bytes(value.estimator), LIMITS):
            pass
    except codec.CodecError as exc:
        raise ModelFileError(f"{name} was refused: its classifier {exc}") from None
    except (zipfile.BadZipFile, ValueError, TypeError):
        pass  # load_estimator says what is wrong with it
    try:
        dim = value.embedder.get("dim") if isinstance(value.embedder, dict) else None
        family = FAMILIES.get(value.model)
        if family is None:  # ``check`` holds it to MODELS; a caller without one is told here
            raise UntrustedModel(f"it names no model family FlowClass has ({value.model!r})")
        estimator = load_estimator(value.estimator, family, dim if type(dim) is int else None)
    except UntrustedModel as exc:
        raise ModelFileError(f"{name} was refused: {exc}") from None
    if sorted(map(str, getattr(estimator, "classes_", []))) != sorted(value.classes):
        raise ModelFileError(f"{name} was modified: its class names {list(value.classes)} do "
                             "not match the classifier inside")
    return value
