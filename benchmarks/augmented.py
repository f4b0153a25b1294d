"""Large labelled image sets for the scale benchmarks: augmented copies of scikit-learn's digits.

Each copy of a digit is shifted, rotated and noised (seeded), so N images keep the 10 true
classes of the 1,797 originals. ``write_folder`` writes them as PNGs in a subfolder per
class (what Import Images reads); ``efficientnet_embeddings`` embeds them in memory with the
default embedder and keeps the result in an ``.npz`` for the next run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image


def augmented_digits(n: int, seed: int = 0) -> Iterator[tuple[Image.Image, int]]:
    """``n`` 64 px gray digit images with their classes; the first 1,797 are the originals."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    base = [Image.fromarray((255 - p * 16).clip(0, 255).astype(np.uint8)).resize((64, 64), Image.BICUBIC)
            for p in digits.images]
    for i in range(n):
        k = i % len(base)
        image = base[k]
        if i >= len(base):
            image = image.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR, fillcolor=255,
                                 translate=tuple(int(t) for t in rng.integers(-4, 5, 2)))
            noisy = np.asarray(image, np.float32) + rng.normal(0, 12, (64, 64))
            image = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
        yield image, int(digits.target[k])


def write_folder(n: int, folder: Path) -> Path:
    """``folder``/<class>/dNNNNNN.png for ``n`` augmented digits (kept if already complete)."""
    done = folder / f".complete-{n}"
    if done.exists():
        return folder
    for i, (image, label) in enumerate(augmented_digits(n)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        image.save(folder / str(label) / f"d{i:06d}.png")
    done.touch()
    return folder


def efficientnet_embeddings(n: int, scratch: Path, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(vectors float32 (n, 1280), classes) of ``n`` augmented digits, cached in ``scratch``."""
    cached = scratch / f"digits-efficientnet-{n}.npz"
    larger = sorted(scratch.glob("digits-efficientnet-*.npz"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    for path in [cached] + larger:  # the first n of a larger set are the same n images
        if path.exists() and int(path.stem.rsplit("-", 1)[1]) >= n:
            with np.load(path) as saved:
                return saved["x"][:n], saved["y"][:n]
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    (scratch / "models").mkdir(parents=True, exist_ok=True)
    model = EfficientNetLite0(scratch / "models", side_by_side=False)  # one batch at a time, all threads
    vectors, classes, pending = [], [], []
    for image, label in augmented_digits(n):
        pending.append(model.preprocess(image.convert("RGB")))
        classes.append(label)
        if len(pending) == batch:
            vectors.append(model.forward(np.stack(pending)))
            pending = []
    if pending:
        vectors.append(model.forward(np.stack(pending)))
    x, y = np.concatenate(vectors).astype(np.float32), np.array(classes)
    np.savez(cached, x=x, y=y)
    return x, y
