"""How the canvas copes with a big folder: 10,000 images by default, 100,000 with --images.

Prints what a user would feel: importing the folder (probing every file, then again from
the probe cache), building one page of the cluster grid, making thumbnails (first time,
then from the disk cache), counting images in the folder browser, the 2-D map (PCA; t-SNE
and UMAP with --slow; only a sample of a big map is drawn), the dendrogram's top merges,
and Export to Folders. Images are scikit-learn's digits, written as 64 px PNGs in several
rotations so every file is distinct.

    python benchmarks/canvas_scale.py [--images 10000] [--slow]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from flowclass.context import RunContext
from flowclass.ui.browse import count_images
from flowclass.ui.thumbnails import ImageServer
from flowclass.viewers.images import ALL, PER_PAGE, gallery_of_labelling, grid_html
from nodes.datatypes import Labelling
from nodes.export import export_folders
from nodes.images import import_images
from nodes.viewers.clustering import dendrogram_links
from nodes.viewers.maps import chart_options, map_points


def write_images(folder: Path, count: int) -> list[Path]:
    digits = load_digits()
    paths = []
    for i in range(count):
        pixels = digits.images[i % len(digits.images)]
        ink = (255 - pixels * (255 / 16)).astype(np.uint8)
        turn = 7 * (i // len(digits.images))  # a different angle each time round the digits
        image = Image.fromarray(ink, mode="L").resize((64, 64)).rotate(turn, fillcolor=255)
        path = folder / str(digits.target[i % len(digits.target)]) / f"d{i:05d}.png"
        path.parent.mkdir(exist_ok=True)
        image.save(path)
        paths.append(path)
    return paths


def random_linkage(n: int, seed: int = 0) -> np.ndarray:
    """A valid SciPy linkage of ``n`` leaves: random pairs merged at rising heights (the
    dendrogram's cost depends on the tree's size, not on how it was found)."""
    rng = np.random.default_rng(seed)
    ids, sizes = list(range(n)), np.ones(2 * n - 1)
    z = np.empty((n - 1, 4))
    for k in range(n - 1):
        pair = []
        for _ in range(2):
            a = int(rng.integers(len(ids)))
            ids[a], ids[-1] = ids[-1], ids[a]
            pair.append(ids.pop())
        i, j = sorted(pair)
        sizes[n + k] = sizes[i] + sizes[j]
        z[k] = (i, j, k + 1.0, sizes[n + k])
        ids.append(n + k)
    return z


def timed(label: str, work, repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        work()
    seconds = (time.perf_counter() - started) / repeat
    print(f"  {label:<52} {seconds * 1000:10.1f} ms")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--thumbnails", type=int, default=600, help="how many thumbnails to time")
    parser.add_argument("--slow", action="store_true", help="also time t-SNE and UMAP maps")
    args = parser.parse_args()
    n = args.images
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        started = time.perf_counter()
        paths = write_images(folder, n)
        print(f"wrote {n:,} images in {time.perf_counter() - started:.1f} s\n")
        print("import (probe every file; then again, from the probe cache)")
        ctx = RunContext("import", Path(tmp), Path(tmp), lambda name: store_dir(Path(tmp) / "store" / name))
        params = dict(folder=str(folder), sample="none", recursive=True, extensions=["png"],
                      labels_from="subfolder", max_per_label=0)
        found = {}
        probe_cold = timed(f"import {n:,} PNGs", lambda: found.update(import_images(ctx, **params)))
        probe_warm = timed(f"import {n:,} PNGs again", lambda: import_images(ctx, **params))
        imported = found["images"]
        order = np.argsort(imported.paths)
        assert len(imported.paths) == n
        paths = [Path(p) for p in imported.paths[order]]
        hashes = imported.hashes[order].tolist()
        rng = np.random.default_rng(0)
        labels = np.array([f"C{k}" for k in rng.integers(1, 47, n)])
        clusters = SimpleNamespace(
            images=SimpleNamespace(paths=np.array([str(p) for p in paths]), hashes=np.array(hashes),
                                   labels=imported.labels[order]),
            labels=labels, scores=rng.uniform(-1, 1, n), kind="cluster",
            classes=tuple(f"C{k}" for k in range(1, 47)))
        server = ImageServer(Path(tmp) / "thumbnails")
        ctx = SimpleNamespace(image_url=server.url)

        print("cluster grid (46 clusters)")
        build = timed("group and order the images", lambda: gallery_of_labelling(clusters))
        gallery = gallery_of_labelling(clusters)
        page = timed(f"one page ({PER_PAGE} thumbnails, all groups)",
                     lambda: grid_html(gallery, gallery.members(ALL)[:PER_PAGE], ctx, headed=True), repeat=20)
        last = timed("the last page", lambda: grid_html(gallery, gallery.members(ALL)[-PER_PAGE:], ctx, True),
                     repeat=20)

        print("\nthumbnails (160 px JPEG, cached on disk)")
        some = range(min(args.thumbnails, n))
        ids = [server.register(paths[i], hashes[i]) for i in some]
        cold = timed(f"make {len(ids)} thumbnails", lambda: [server.file_for(i, 160) for i in ids])
        warm = timed(f"serve the same {len(ids)} again", lambda: [server.file_for(i, 160) for i in ids])

        print("\nfolder browser")
        counting = timed(f"count the images of {n:,} files", lambda: count_images(folder))

        print("\nmap")
        vectors = rng.normal(size=(n, 1280)).astype(np.float32)
        store = Path(tmp) / "projections"
        store.mkdir()
        found = {}
        pca = timed(f"PCA map of {n:,} x 1280 (first time)",
                    lambda: found.update(placed=map_points(vectors, labels, "pca", store)))
        keep = found["placed"].keep
        urls = [server.url(str(paths[i]), hashes[i], size=128) for i in keep]
        names = [paths[i].name for i in keep]
        order = list(clusters.classes)

        def build_chart() -> dict:
            placed = map_points(vectors, labels, "pca", store)  # PCA from its disk cache
            return chart_options(placed.points, labels[placed.keep], order, urls, names, "Cluster",
                                 placed.every, labels)

        chart = timed(f"chart of {len(keep):,} drawn points (cached PCA)", build_chart)
        sent = len(json.dumps(build_chart()))
        print(f"  {'sent to the browser':<52} {sent / 1e6:10.2f} MB")
        if args.slow:
            timed(f"t-SNE map of {n:,} (fitted on a sample)", lambda: map_points(vectors, labels, "tsne", store))
            timed(f"UMAP map of {n:,} (fitted on a sample)", lambda: map_points(vectors, labels, "umap", store))

        print("\ndendrogram (top merges of a {n:,}-leaf tree)".replace("{n:,}", f"{n:,}"))
        z = random_linkage(n)
        dendrogram = timed("the links drawn", lambda: dendrogram_links(z, labels, float(n - 40)))
        print(f"  {'leaves drawn':<52} {dendrogram_links(z, labels, float(n - 40))[1]:10,d}")

        print("\nexport to folders (copy, table as CSV)")
        export_ctx = RunContext("export", Path(tmp), Path(tmp), lambda name: store_dir(Path(tmp) / "store" / name))
        labelled = Labelling(imported, labels[order_of(imported.paths, paths)],
                             rng.uniform(-1, 1, n), kind="cluster")
        export = timed(f"export {n:,} images", lambda: export_folders(
            export_ctx, labels=labelled, folder=str(Path(tmp) / "exported"), mode="copy", table="csv"))

        print("\nsummary")
        print(f"  a grid page renders in {page * 1000:.1f} ms (last page {last * 1000:.1f} ms); "
              f"{len(ids) / cold:,.0f} thumbnails/s cold, {len(ids) / warm:,.0f}/s cached "
              f"({cold / warm:,.0f}x faster)")
        print(f"  grouping {n:,} images: {build * 1000:.0f} ms; counting them: {counting * 1000:.0f} ms; "
              f"PCA map: {pca:.2f} s, its chart {chart * 1000:.0f} ms; dendrogram {dendrogram * 1000:.0f} ms")
        print(f"  import {n / probe_cold:,.0f} images/s ({n / probe_warm:,.0f}/s from the probe cache); "
              f"export {n / export:,.0f} images/s")


def store_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def order_of(paths: np.ndarray, ordered: list[Path]) -> np.ndarray:
    """For each of ``paths``, its position in ``ordered``."""
    where = {str(p): i for i, p in enumerate(ordered)}
    return np.array([where[p] for p in paths.tolist()])


if __name__ == "__main__":
    main()
