"""Small builders for classification tests: a workflow from (id, type, params) and edges."""

from __future__ import annotations

import json
from pathlib import Path

from flowclass.engine import Engine
from flowclass.workflow_file import loads

DIGITS_PIXELS = {"backend": "pixels", "pixel_size": 8, "grayscale": True}


def workflow(registry, nodes: list[tuple[str, str, dict]], edges: list[tuple[str, str]]):
    doc = {"schema_version": 1,
           "nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes],
           "edges": [{"from": dict(zip(("node", "port"), a.split("."))),
                      "to": dict(zip(("node", "port"), b.split(".")))} for a, b in edges]}
    return loads(json.dumps(doc), registry)


def run(registry, cache, nodes, edges, out: Path, base_dir: Path | None = None):
    return Engine(registry, cache).run(workflow(registry, nodes, edges), out_dir=out,
                                       base_dir=base_dir or out)


def digits_training(per_label: int = 40, train: dict | None = None, embed: dict | None = None):
    """Nodes and edges: digit samples -> pixels -> Train Classifier -> Evaluate."""
    nodes = [("images", "sample_images", {"dataset": "digits", "max_per_label": per_label}),
             ("embed", "embed", {**DIGITS_PIXELS, **(embed or {})}),
             ("train", "train_classifier", {"model": "knn", "n_neighbors": 3, **(train or {})}),
             ("evaluate", "evaluate", {})]
    edges = [("images.images", "embed.images"), ("embed.embeddings", "train.embeddings"),
             ("train.validation", "evaluate.predictions")]
    return nodes, edges
