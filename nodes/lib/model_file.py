"""Model files (``.fcmodel``): a classifier to share, that loads without running code.

The file is the safe codec's zip (``flowclass.codec.to_bytes``): ``value.json`` holds the
class names, the exact embedder spec and how the model was trained, in plain JSON;
``arrays.npz`` (read with ``allow_pickle=False``) holds the estimator as skops bytes,
which :func:`nodes.lib.models.load_estimator` rebuilds only from trusted types. A pickle,
an edited or truncated file, or a payload naming other types is refused with the reason.
"""

from __future__ import annotations

from flowclass import codec

from ..classify_types import MODEL_FORMAT, Classifier
from .models import UntrustedModel, load_estimator

EXTENSION = ".fcmodel"


class ModelFileError(ValueError):
    """A file that is not a usable FlowClass model; the message says why."""


def model_bytes(model: Classifier) -> bytes:
    return codec.to_bytes(model)


def read_model(data: bytes, name: str = "the model file") -> Classifier:
    """The classifier in ``data``, checked all the way down; :class:`ModelFileError` if not."""
    try:
        value = codec.from_bytes(data)
    except (codec.CodecError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{name} is not a FlowClass model file ({exc})") from None
    if not isinstance(value, Classifier):
        raise ModelFileError(f"{name} holds a {type(value).__name__}, not a classifier")
    if value.format > MODEL_FORMAT:
        raise ModelFileError(f"{name} was written by a newer FlowClass (model format "
                             f"{value.format}); please upgrade FlowClass")
    try:
        estimator = load_estimator(value.estimator)
    except UntrustedModel as exc:
        raise ModelFileError(f"{name} was refused: {exc}") from None
    if sorted(map(str, getattr(estimator, "classes_", []))) != sorted(value.classes):
        raise ModelFileError(f"{name} was modified: its class names {list(value.classes)} do "
                             "not match the classifier inside")
    return value
