"""What a pixel classifier looks at: a pixel's colour, and optionally its surroundings.

Colour features depend on the colour alone (RGB; HSV with hue as an angle, so that red
at 359 degrees is next to red at 1 degree and grey has no hue; CIELAB, where distances
follow perceived difference). They are computed once per distinct colour of an image,
not per pixel. Neighbourhood features (the mean colour of a window around the pixel)
and texture (the standard deviation of brightness in that window) tell grass from a
green car of the same colour; they are computed in strips of rows, so memory stays
bounded however large the photo.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator

import numpy as np

STRIP_PIXELS = 1 << 20  # pixels per strip when features are computed per pixel


@dataclass(frozen=True)
class FeatureSpec:
    rgb: bool = True
    hsv: bool = False
    lab: bool = True
    neighbourhood: bool = False
    texture: bool = False
    window: int = 7  # side of the square window, in pixels (odd)

    @property
    def colour_only(self) -> bool:
        """Whether a pixel's features depend on its colour alone (then a lookup table works)."""
        return not (self.neighbourhood or self.texture)

    def names(self) -> list[str]:
        names = []
        if self.rgb:
            names += ["red", "green", "blue"]
        if self.hsv:
            names += ["hue_x_saturation", "hue_y_saturation", "value"]
        if self.lab:
            names += ["lightness", "green_red", "blue_yellow"]
        if self.neighbourhood:
            names += [f"mean_{c}_{self.window}px" for c in ("red", "green", "blue")]
        if self.texture:
            names += [f"brightness_std_{self.window}px"]
        return names

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "FeatureSpec":
        return FeatureSpec(**data)


def colour_features(rgb: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(n, 3) uint8 colours -> (n, f) float32 colour features."""
    from skimage.color import rgb2hsv, rgb2lab

    unit = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    parts = []
    if spec.rgb:
        parts.append(unit)
    if spec.hsv:
        hsv = rgb2hsv(unit).astype(np.float32)
        angle = 2 * np.pi * hsv[:, 0]
        parts.append(np.stack([hsv[:, 1] * np.cos(angle), hsv[:, 1] * np.sin(angle), hsv[:, 2]], 1))
    if spec.lab:
        parts.append(rgb2lab(unit).astype(np.float32) / 100.0)
    return np.hstack(parts).astype(np.float32) if parts else np.zeros((len(unit), 0), np.float32)


def distinct_colours(codes: np.ndarray) -> np.ndarray:
    """The sorted distinct 24-bit colour codes of an image, without sorting its pixels."""
    present = np.zeros(1 << 24, dtype=bool)
    present[codes.ravel()] = True
    return np.flatnonzero(present).astype(np.uint32)


def code_rgb(codes: np.ndarray) -> np.ndarray:
    """24-bit colour codes back to (n, 3) uint8 colours."""
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1).astype(np.uint8)


def strips(height: int, width: int) -> Iterator[tuple[int, int]]:
    """Row ranges holding about ``STRIP_PIXELS`` pixels each."""
    rows = max(1, STRIP_PIXELS // max(1, width))
    for start in range(0, height, rows):
        yield start, min(height, start + rows)


def context_features(image: np.ndarray, spec: FeatureSpec, start: int, stop: int) -> np.ndarray:
    """Neighbourhood and texture features of rows ``start:stop``, as (pixels, f) float32.

    The window reaches ``window // 2`` rows beyond the strip, so strips give the same
    values as the whole image would; at the image's edges the image is mirrored.
    """
    from scipy.ndimage import uniform_filter

    half = spec.window // 2
    top, bottom = max(0, start - half), min(image.shape[0], stop + half)
    block = image[top:bottom].astype(np.float32) / 255.0
    inner = slice(start - top, start - top + (stop - start))
    parts = []
    if spec.neighbourhood:
        for channel in range(3):
            mean = uniform_filter(block[..., channel], spec.window, mode="reflect")
            parts.append(mean[inner].ravel())
    if spec.texture:
        brightness = block @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        mean = uniform_filter(brightness, spec.window, mode="reflect")
        square = uniform_filter(brightness * brightness, spec.window, mode="reflect")
        parts.append(np.sqrt(np.maximum(square - mean * mean, 0.0))[inner].ravel())
    return np.stack(parts, axis=1)
