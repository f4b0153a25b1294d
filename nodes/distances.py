"""Distances between images' embeddings: cosine (default), euclidean or manhattan.

Centring (subtracting the mean vector first) is on by default because it was measured to
matter: raw CNN features all share a large common component, so under cosine everything
looks alike and average linkage collapses into one giant cluster. Centred, the ARI of the
default clustering on the digit samples roughly triples (see README, "Quality, measured").

The distances themselves are computed by whoever needs them (see ``Distances``): all
n(n-1)/2 of them only for exact clustering of up to some thousands of images.
"""

from __future__ import annotations

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Bool, Choice

from .datatypes import DISTANCES, EMBEDDINGS, Distances, Embeddings

METRICS = ("cosine", "euclidean", "manhattan")


def zero_vectors(vectors: np.ndarray, centre: bool, block: int = 8192) -> int:
    """How many vectors are all zero (after centring): cosine cannot compare them."""
    mean = vectors.mean(axis=0, dtype=np.float64) if centre else 0.0
    return sum(int((np.abs(vectors[start:start + block] - mean).sum(axis=1) == 0).sum())
               for start in range(0, len(vectors), block))


@node(
    type="distances", title="Distances", category="Unsupervised", version=2,
    # v2 computes distances lazily (the value holds the vectors); parameters are unchanged
    migrations={1: dict},
    cache=False,  # the value only points at the embeddings: storing it would copy them
    inputs=[Input("embeddings", EMBEDDINGS)],
    outputs=[Output("distances", DISTANCES)],
    params=[
        Choice(name="metric", default="cosine", choices=METRICS,
               help="How unlike two images' vectors are."),
        Bool(name="centre", default=True,
             help="Subtract the mean vector first, so what all images share does not hide "
                  "what sets them apart."),
    ],
)
def distances(ctx: RunContext, *, embeddings: Embeddings, metric, centre):
    """Pairwise distances between images, for hierarchical clustering."""
    n = len(embeddings)
    if n < 2:
        raise NodeError(f"need at least 2 images to compare; got {n}", hint="check the import")
    if metric == "cosine":
        zero = zero_vectors(embeddings.vectors, centre)
        if zero:
            ctx.warn(f"{zero} image(s) have an all-zero vector; cosine treats them as unlike "
                     "every other image")
    return {"distances": Distances(embeddings.images, embeddings.vectors, metric, centre)}


NODES = [distances]
VIEWERS = ["nodes.viewers.clustering"]  # the distance matrix
