"""A weakly labelled colour-name set made from real photo pixels (seed 001 without Flickr).

Seed 001 learns colour names from photos tagged with a colour: a photo tagged "red" is
mostly red, but its background is not. This module builds such a set offline from the
photographs scikit-image and scikit-learn ship:

- a *reference naming* of pixels by hue, saturation and brightness (:func:`name_pixels`),
  which leaves out pixels near a boundary between two names;
- *weak images* (:func:`write_weak_set`): one folder per colour name, each image made of
  real pixels of that colour with blobs of one other colour painted in (the "background"
  of a tagged photo), covering ``noise`` of the image;
- a *golden set* (:func:`write_golden_set`): real photos, shrunk, with a mask of the
  reference names of the pixels that are clearly one colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .legend import hex_colour, parse_colour

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
# Hue ranges in degrees (start, end) of the chromatic names; the gaps are ambiguous.
HUES = {"red": (345, 12), "orange": (20, 38), "yellow": (48, 68), "green": (85, 160),
        "blue": (195, 250), "purple": (270, 320)}
LEGEND = ", ".join(f"{name}={hex_colour(parse_colour(name))}" for name in COLOURS)
# Weak images are made from the pixels of some photos, the golden set from others.
WEAK_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "colorwheel")
GOLDEN_SOURCES = ("motorcycle", "china", "flower")


def name_pixels(rgb: np.ndarray) -> np.ndarray:
    """Reference colour name index of each (n, 3) uint8 pixel; -1 where it is not clear."""
    from skimage.color import rgb2hsv

    hsv = rgb2hsv(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    hue, sat, val = hsv[:, 0] * 360, hsv[:, 1], hsv[:, 2]
    names = np.full(len(hsv), -1, dtype=np.int16)
    chromatic = (sat > 0.4) & (val > 0.35)
    for index, name in enumerate(COLOURS):
        if name in HUES:
            start, end = HUES[name]
            inside = (hue >= start) & (hue < end) if start < end else (hue >= start) | (hue < end)
            names[chromatic & inside] = index
    names[(sat < 0.12) & (val > 0.85)] = COLOURS.index("white")
    names[val < 0.15] = COLOURS.index("black")
    return names


def photo(name: str) -> np.ndarray:
    """One of the photographs the packages ship, as (h, w, 3) uint8."""
    import skimage.data

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()[..., :3]


def pixels_by_name(sources: tuple[str, ...] = WEAK_SOURCES) -> dict[str, np.ndarray]:
    """Every clearly named pixel of these photos, grouped by colour name."""
    pools: dict[str, list[np.ndarray]] = {name: [] for name in COLOURS}
    for name in sources:
        rgb = photo(name).reshape(-1, 3)
        names = name_pixels(rgb)
        for index, colour in enumerate(COLOURS):
            pools[colour].append(rgb[names == index])
    return {colour: np.concatenate(parts) for colour, parts in pools.items()}


def weak_image(colour: str, pools: dict[str, np.ndarray], size: int, noise: float,
               rng: np.random.Generator) -> np.ndarray:
    """A ``size`` x ``size`` image of ``colour``'s pixels with blobs of one other colour."""
    image = pools[colour][rng.integers(0, len(pools[colour]), size * size)].reshape(size, size, 3)
    other = rng.choice([c for c in COLOURS if c != colour])
    blobs = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(blobs)
    covered = np.zeros((size, size), dtype=bool)
    while covered.mean() < noise:
        x, y = rng.integers(0, size, 2)
        rx, ry = rng.integers(size // 10, size // 3, 2)
        pen.ellipse((x - rx, y - ry, x + rx, y + ry), fill=255)
        covered = np.asarray(blobs) > 0
    filler = pools[other][rng.integers(0, len(pools[other]), int(covered.sum()))]
    image[covered] = filler
    return image


def write_weak_set(folder: Path, *, per_colour: int = 12, size: int = 40, noise: float = 0.35,
                   seed: int = 0) -> None:
    """``folder/<colour>/<colour>_NN.png``: weakly labelled images with injected noise."""
    rng = np.random.default_rng(seed)
    pools = pixels_by_name()
    for colour in COLOURS:
        (folder / colour).mkdir(parents=True, exist_ok=True)
        for k in range(per_colour):
            Image.fromarray(weak_image(colour, pools, size, noise, rng)).save(
                folder / colour / f"{colour}_{k:02d}.png")


def golden_mask(rgb: np.ndarray) -> Image.Image:
    """The reference names of an image as a mask: legend colours, transparent where unclear."""
    names = name_pixels(rgb.reshape(-1, 3)).reshape(rgb.shape[:2])
    table = np.array([parse_colour(c) + (255,) for c in COLOURS] + [(0, 0, 0, 0)], dtype=np.uint8)
    return Image.fromarray(table[names], mode="RGBA")


def write_golden_set(folder: Path, width: int = 200) -> None:
    """``folder/images/<photo>.png`` (shrunk to ``width``) and ``folder/masks/<photo>.png``."""
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name in GOLDEN_SOURCES:
        image = Image.fromarray(photo(name))
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        image.save(folder / "images" / f"{name}.png", optimize=True)
        golden_mask(np.asarray(image)).save(folder / "masks" / f"{name}.png", optimize=True)
