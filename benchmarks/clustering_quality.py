"""Clustering quality of the ready workflow on the sample sets, and why its defaults are what they are.

Runs workflows/cluster_folder.json's embedder once per sample set, then scores every
distance/linkage combination by the adjusted Rand index (ARI) between the clusters and the
true labels (digit classes, face/non-face). Prints a markdown table; the README quotes it.

    python benchmarks/clustering_quality.py [--cache DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from flowclass.cache import Cache
from flowclass.context import RunContext
from flowclass.engine import Engine
from flowclass.library import default_registry, ready_workflows_dir
from flowclass.overrides import apply_overrides
from flowclass.workflow_file import load
from nodes.clustering import hierarchical_clustering
from nodes.distances import distances

SETS = [  # (name, overrides for the import node, number of clusters)
    ("digits, 600 (60 per class)", ["import.sample=digits", "import.max_per_label=60"], 10),
    ("digits, all 1,797", ["import.sample=digits"], 10),
    ("lfw_subset faces / non-faces, 200", ["import.sample=faces"], 2),
]
GRID = [(metric, centre, link) for metric in ("cosine", "euclidean") for centre in (False, True)
        for link in ("average", "complete", "ward")]


def embeddings_of(engine: Engine, registry, overrides: list[str], out: Path):
    workflow = load(ready_workflows_dir() / "cluster_folder.json", registry)
    workflow = apply_overrides(workflow, registry, overrides)
    result = engine.run(workflow, out_dir=out, targets=["embed"], manifest=False)
    return result.output("embed", "embeddings")


def ari(embeddings, metric: str, centre: bool, link: str, k: int, scratch: Path) -> float:
    ctx = RunContext("bench", scratch, scratch, lambda name: scratch / name)
    d = distances(ctx, embeddings=embeddings, metric=metric, centre=centre)["distances"]
    clusters = hierarchical_clustering(ctx, distances=d, linkage=link, cut="n_clusters",
                                       n_clusters=k, height_ratio=0.7, distance=1.0,
                                       method="exact", exact_up_to=len(embeddings))["clusters"]
    return adjusted_rand_score(embeddings.images.labels, clusters.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="cache folder (default: the user's FlowClass cache)")
    args = parser.parse_args()
    registry = default_registry()
    engine = Engine(registry, Cache(args.cache))
    defaults = load(ready_workflows_dir() / "cluster_folder.json", registry)
    chosen = (defaults.node("distances").params["metric"], defaults.node("distances").params["centre"],
              defaults.node("cluster").params["linkage"])
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        columns = [name for name, _, _ in SETS]
        scores = {}
        for name, overrides, k in SETS:
            emb = embeddings_of(engine, registry, overrides, scratch / "out")
            for setting in GRID:
                scores[(setting, name)] = ari(emb, *setting, k, scratch)
        print("| distance | centred | linkage | " + " | ".join(columns) + " |")
        print("|---|---|---|" + "---|" * len(columns))
        for setting in GRID:
            metric, centre, link = setting
            mark = " **(default)**" if setting == chosen else ""
            cells = " | ".join(f"{scores[(setting, c)]:.3f}" for c in columns)
            print(f"| {metric} | {'yes' if centre else 'no'} | {link}{mark} | {cells} |")
        mean = {s: np.mean([scores[(s, c)] for c in columns]) for s in GRID}
        best = max(GRID, key=mean.get)
        print(f"\nbest mean ARI: {best} = {mean[best]:.3f}; default {chosen} = {mean[chosen]:.3f}")


if __name__ == "__main__":
    main()
