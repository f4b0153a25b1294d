"""Which node results cost more to read back from the cache than to compute again.

For n images with 1280-number embeddings (EfficientNet-Lite0's size), prints for each
large derived result: the time to compute it from its input, the time to store it in the
cache, the time to read it back (warm: the file is in the page cache, the best case for
the cache) and cold (its pages dropped with posix_fadvise, so it comes from the disk), the
bytes it takes, and the ratio of the slower read-back to recomputing. A ratio above 1 means
the cache makes re-runs slower and only fills the disk.

    python benchmarks/cache_tradeoffs.py [--sizes 1000 3000 6000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowclass import codec  # noqa: E402
from nodes.datatypes import Distances, Embeddings, ImageSet  # noqa: E402


def images(n: int) -> ImageSet:
    paths = np.array([f"/photos/c{i % 10}/img_{i:06d}.jpg" for i in range(n)])
    return ImageSet(paths, np.array([f"c{i % 10}" for i in range(n)]),
                    np.array([f"{i:064x}" for i in range(n)]), np.full(n, 64, np.int32),
                    np.full(n, 64, np.int32), root="/photos")


def embeddings(n: int, dim: int = 1280) -> Embeddings:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, dim))
    vectors = centres[np.arange(n) % 10] + rng.normal(scale=2.0, size=(n, dim))
    return Embeddings(images(n), np.maximum(vectors, 0).astype(np.float32), {"backend": "bench"})


def distances_from(emb: Embeddings) -> np.ndarray:
    """The condensed distance matrix exact clustering computes (cosine, centred)."""
    return Distances(emb.images, emb.vectors, "cosine", centre=True).condensed()


def timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def drop_from_page_cache(folder: Path) -> None:
    """Ask the kernel to forget the files' pages, so the next read comes from the disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def cold_load(target: Path) -> object:
    drop_from_page_cache(target)
    return codec.load(target)


def measure(name: str, compute, repeat: int, scratch: Path) -> dict:
    compute_s, value = timed(compute, repeat)
    target = scratch / name
    store_s, _ = timed(lambda: (shutil.rmtree(target, ignore_errors=True), codec.save(value, target)),
                       repeat)
    load_s, _ = timed(lambda: codec.load(target), repeat)
    cold_s, _ = timed(lambda: cold_load(target), repeat)
    return {"result": name, "compute_s": compute_s, "store_s": store_s, "load_s": load_s,
            "cold_s": cold_s, "mb": folder_bytes(target) / 1e6,
            "ratio": max(load_s, cold_s) / compute_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 6000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'n':>6} {'result':<12} {'compute s':>10} {'store s':>9} {'read warm s':>12} "
          f"{'read cold s':>12} {'MB':>8} {'read/compute':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            emb = embeddings(n)
            rows = [measure("distances", lambda: distances_from(emb), args.repeat, Path(tmp)),
                    measure("embeddings", lambda: emb, 1, Path(tmp))]
            for row in rows:
                compute = "(model)" if row["result"] == "embeddings" else f"{row['compute_s']:.3f}"
                ratio = "-" if row["result"] == "embeddings" else f"{row['ratio']:.2f}"
                print(f"{n:>6} {row['result']:<12} {compute:>10} {row['store_s']:>9.3f} "
                      f"{row['load_s']:>12.3f} {row['cold_s']:>12.3f} {row['mb']:>8.1f} {ratio:>13}")


if __name__ == "__main__":
    main()
