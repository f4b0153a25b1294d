"""How a picture file is shown, in one place: the thumbnails show what the nodes compute on."""

from __future__ import annotations

import numpy as np
from PIL import Image


def as_shown(image: Image.Image) -> Image.Image:
    """The picture as viewers show it, in RGB or 8-bit gray.

    16-bit gray (scanners, microscopes) keeps its contrast: 0..65535 becomes 0..255, where a
    plain conversion clips at 255 and makes it nearly white. Floating-point gray (32-bit
    TIFFs of measurements) is read as 0..1 when it lies there, else stretched from its
    smallest to its largest value. Transparent parts are white, as
    the canvas's thumbnails show them, not the colour saved under them (often black).
    """
    if image.mode in ("RGB", "L"):
        return image
    if image.mode.startswith("I"):
        return image.convert("I").point(lambda value: value / 257).convert("L")
    if image.mode == "F":
        return float_as_gray(image)
    if "A" in image.getbands() or "transparency" in image.info:
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


def float_as_gray(image: Image.Image) -> Image.Image:
    """A floating-point gray picture as 8-bit gray: 0..1 as 0..255 (scikit-image's convention
    for float images), any other range stretched to it; missing values (NaN) show black."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    scaled = (np.nan_to_num(values, nan=low, posinf=high, neginf=low) - low) / max(high - low, 1e-12)
    return Image.fromarray(np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8), "L")
