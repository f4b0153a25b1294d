"""Orange3 + Image Analytics baseline for the "Orange workshop" clustering job.

Why this exists: FlowClass's benchmark compares itself against what an Orange
workshop user does, timed in the same run on the same machine (timings are
noisy; only ratios measured together mean anything).  The workflow is

    Import Images -> Image Embedding (SqueezeNet, local) -> Distances (cosine)
    -> Hierarchical Clustering (Ward, top-N clusters)

done with the same library calls the Orange widgets make, without any GUI.
Run it with the Orange virtualenv's python (see benchmarks/ORANGE.md), e.g.

    /work/orange-venv/bin/python benchmarks/orange_baseline.py --folder DIR --n-clusters 10

It prints one JSON line.  SqueezeNet runs locally (weights ship in the `ndf`
package); nothing here touches the network.  Orange's on-disk embedding cache
is pointed at a fresh temporary directory and cleared, so every run embeds
from scratch, like a user's first run.
"""
import time

T_PROCESS = time.perf_counter()

import argparse
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # QImageReader, no display
CACHE = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="orange-cache-")

T_IMPORTS = time.perf_counter()
from importlib.metadata import version

import numpy as np
import Orange
from Orange.clustering.hierarchical import (dist_matrix_linkage, leaves,
                                            top_clusters, tree_from_linkage)
from Orange.distance import Cosine
from orangecontrib.imageanalytics.image_embedder import ImageEmbedder
from orangecontrib.imageanalytics.import_images import ImportImages
from sklearn.metrics import adjusted_rand_score

SECONDS_IMPORTS = time.perf_counter() - T_IMPORTS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True,
                        help="image folder; each subfolder is a class")
    parser.add_argument("--n-clusters", type=int, default=10)
    args = parser.parse_args()
    folder = os.path.abspath(args.folder)

    embedder = ImageEmbedder(model="squeezenet")  # local: no server involved
    embedder.clear_cache()                        # cold run, every time

    # Import Images widget: ImportImages()(dir); subfolder -> "category" class.
    t0 = time.perf_counter()
    images, _n_skipped = ImportImages()(folder)
    t1 = time.perf_counter()

    # Image Embedding widget: embedder(table, col=<image attribute>).
    image_var = images.domain["image"]
    embedded, _skipped, n_skipped = embedder(images, col=image_var)
    t2 = time.perf_counter()

    # Distances widget (rows, cosine) + Hierarchical Clustering widget (Ward,
    # "Top N" selection, clusters numbered by dendrogram order as the widget).
    dist = Cosine(embedded, axis=1, impute=True)
    root = tree_from_linkage(dist_matrix_linkage(dist, linkage="ward"))
    order = [leaf.value.index for leaf in leaves(root)]
    selection = sorted(top_clusters(root, args.n_clusters),
                       key=lambda node: node.value.first)
    clusters = np.full(len(embedded), -1)
    for c, node in enumerate(selection):
        clusters[order[node.value.first:node.value.last]] = c
    t3 = time.perf_counter()

    print(json.dumps({
        "tool": "orange",
        "images": len(embedded),
        "skipped": int(n_skipped),
        "clusters": len(selection),
        "seconds_total": round(t3 - t0, 3),
        "seconds_import": round(t1 - t0, 3),
        "seconds_embed": round(t2 - t1, 3),
        "seconds_cluster": round(t3 - t2, 3),
        "seconds_python_imports": round(SECONDS_IMPORTS, 3),
        "seconds_process": round(time.perf_counter() - T_PROCESS, 3),
        "ari": round(adjusted_rand_score(embedded.Y, clusters), 4),
        "orange_version": Orange.version.version,
        "imageanalytics_version": version("orange3-imageanalytics"),
        "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(CACHE, ignore_errors=True)
