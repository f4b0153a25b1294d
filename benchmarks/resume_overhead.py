"""What keeping embeddings batch by batch costs: the store's writes per batch of 8 against
one write of all the vectors at the end (how it was before a Cancel kept finished work).

Run: python benchmarks/resume_overhead.py [--images 4000] [--dim 1280] [--repeat 3]

Prints both times (alternately measured, medians) and the extra time per batch as a share
of embedding one batch at the Embed node's measured speed (benchmarks/README.md, speed.py).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from nodes.lib.embedders.store import EmbeddingStore

EMBED_IMAGES_PER_S = 189  # speed.py: the Embed node end to end, 2 CPU cores


def write(vectors: np.ndarray, hashes: list[str], batch: int | None) -> float:
    with tempfile.TemporaryDirectory() as folder:
        store = EmbeddingStore(Path(folder))
        start = time.perf_counter()
        step = batch or len(hashes)
        for i in range(0, len(hashes), step):
            store.put_many("bench", zip(hashes[i:i + step], vectors[i:i + step]))
        seconds = time.perf_counter() - start
        store.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vectors = np.random.default_rng(0).random((args.images, args.dim), dtype=np.float32)
    hashes = [f"{i:064x}" for i in range(args.images)]
    per_batch, at_end = [], []
    for _ in range(args.repeat):  # alternately, so both see the same machine
        per_batch.append(write(vectors, hashes, args.batch))
        at_end.append(write(vectors, hashes, None))
    batches = args.images / args.batch
    a, b = statistics.median(per_batch), statistics.median(at_end)
    extra_ms = (a - b) / batches * 1000
    embed_ms = args.batch / EMBED_IMAGES_PER_S * 1000
    print(f"{args.images} vectors of {args.dim} floats, batches of {args.batch}, medians of {args.repeat}")
    print(f"  kept batch by batch: {a:.2f} s ({a / batches * 1000:.2f} ms per batch)")
    print(f"  kept at the end:     {b:.2f} s")
    print(f"  extra per batch: {extra_ms:.2f} ms = {100 * extra_ms / embed_ms:.1f}% of embedding a batch "
          f"({embed_ms:.0f} ms at {EMBED_IMAGES_PER_S} images/s)")


if __name__ == "__main__":
    main()
