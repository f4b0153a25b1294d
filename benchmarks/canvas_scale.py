"""How the canvas copes with a big folder: 10,000 images by default.

Prints what a user would feel: building one page of the cluster grid, making thumbnails
(first time, then from the disk cache), counting images in the folder browser, and the
2-D map (PCA; t-SNE and UMAP with --slow). Images are scikit-learn's digits, written
as 64 px PNGs in several rotations so every file is distinct.

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

from flowclass.ui.browse import count_images
from flowclass.ui.thumbnails import ImageServer
from flowclass.viewers.images import ALL, PER_PAGE, gallery_of_labelling, grid_html
from nodes.viewers.maps import chart_options, project


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
        hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
        rng = np.random.default_rng(0)
        labels = np.array([f"C{k}" for k in rng.integers(1, 47, n)])
        clusters = SimpleNamespace(
            images=SimpleNamespace(paths=np.array([str(p) for p in paths]), hashes=np.array(hashes)),
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
        pca = timed(f"PCA of {n:,} x 1280", lambda: project(vectors, "pca"))
        points = project(vectors, "pca")
        urls = [server.url(p, h, size=128) for p, h in zip(paths, hashes)]
        names = [p.name for p in paths]
        order = list(clusters.classes)
        timed(f"chart of {n:,} points with thumbnail links",
              lambda: chart_options(points, labels, order, urls, names, "Cluster"))
        sent = len(json.dumps(chart_options(points, labels, order, urls, names, "Cluster")))
        print(f"  {'sent to the browser':<52} {sent / 1e6:10.2f} MB")
        if args.slow:
            timed(f"t-SNE of {n:,} (after PCA to 50)", lambda: project(vectors, "tsne"))
            timed(f"UMAP of {n:,} (after PCA to 50)", lambda: project(vectors, "umap"))

        print("\nsummary")
        print(f"  a grid page renders in {page * 1000:.1f} ms (last page {last * 1000:.1f} ms); "
              f"{len(ids) / cold:,.0f} thumbnails/s cold, {len(ids) / warm:,.0f}/s cached "
              f"({cold / warm:,.0f}x faster)")
        print(f"  grouping {n:,} images: {build * 1000:.0f} ms; counting them: {counting * 1000:.0f} ms; "
              f"PCA map: {pca:.2f} s")


if __name__ == "__main__":
    main()
