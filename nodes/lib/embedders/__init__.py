"""Embedders: turn a decoded image into a vector. One module per backend (``store``
remembers the vectors made).

An embedder has a ``spec`` (a JSON-able dict that says exactly how vectors are made:
backend, model, weights hash, preprocessing version, dimension), a ``preprocess`` that
turns an RGB or gray PIL image into an array (runs in worker threads, in parallel with
inference), and ``forward`` that maps a stacked batch to vectors. Optional: ``draft_size``
(JPEGs may be decoded at a reduced scale keeping this many pixels a side),
``preprocess_into(image, row)`` with ``input_shape`` (write into a batch's row: no
stacking copy) and ``prepare()`` (called once there is work, e.g. to load a model in the
background).
Heavy libraries are imported only when an embedder is built, so a cached run never
imports them.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from PIL import Image


class Embedder(Protocol):
    spec: dict[str, Any]

    def preprocess(self, image: Image.Image) -> np.ndarray: ...

    def forward(self, batch: np.ndarray) -> np.ndarray: ...


def spec_id(spec: dict[str, Any]) -> str:
    """A short stable id of an embedder spec: the key of its per-image embedding cache."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return f"{spec['backend']}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
