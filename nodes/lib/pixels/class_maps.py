"""Class maps as palette PNGs: each pixel holds a class index, the palette its colour.

One file is both the machine-readable map (read back with :func:`read_class_map`) and
the coloured picture a person opens in any image viewer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from flowclass.fsutil import atomic_path
from flowclass.userfiles.pictures import open_picture

from .legend import parse_colour


def palette(colours: tuple[str, ...]) -> list[int]:
    flat = [c for colour in colours for c in parse_colour(colour)]
    return flat + [0] * (768 - len(flat))


def save_class_map(labels: np.ndarray, colours: tuple[str, ...], path: Path) -> None:
    """Write atomically: a reader sees the whole file or none (compress level 1: fast)."""
    image = Image.fromarray(labels, mode="P")
    image.putpalette(palette(colours))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=1)


def read_class_map(path: str | os.PathLike[str]) -> np.ndarray:
    with open_picture(path) as image:
        if image.mode != "P":
            raise ValueError(f"{path} is not a class map (palette PNG)")
        return np.asarray(image)


def colourise(labels: np.ndarray, colours: tuple[str, ...]) -> np.ndarray:
    """The (h, w, 3) RGB picture of a class map."""
    table = np.array([parse_colour(c) for c in colours], dtype=np.uint8)
    return table[labels]


def class_counts(labels: np.ndarray, n: int) -> np.ndarray:
    """Pixels of each class index 0..n-1 (a pass per class beats bincount's int64 copy)."""
    if n > 16:
        return np.bincount(labels.ravel(), minlength=n)[:n].astype(np.int64)
    return np.array([np.count_nonzero(labels == k) for k in range(n)], dtype=np.int64)
