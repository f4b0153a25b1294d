"""Embeddings without a neural network: raw pixels and colour histograms.

Raw pixels are seed 002's normalisation: resize to N x N, grayscale as the mean of R, G
and B, optionally binarised at a threshold (dark = 0, light = 1), scaled to [0, 1].
Colour histograms are what the pixel-colour seeds (000, 001) compare images by: a joint
3-D histogram in RGB, HSV or CIELAB, normalised to sum to 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

PIXELS_VERSION = 2  # 2: JPEGs decoded at a reduced scale when that keeps enough pixels
HISTOGRAM_VERSION = 2


class RawPixels:
    def __init__(self, size: int, grayscale: bool, binarize: bool, threshold: int):
        self.size, self.grayscale, self.binarize, self.threshold = size, grayscale, binarize, threshold
        self.draft_size = size
        channels = 1 if grayscale or binarize else 3
        self.spec: dict[str, Any] = {
            "backend": "pixels", "model": "raw-pixels",
            "preprocessing": {"version": PIXELS_VERSION, "size": size,
                              "grayscale": grayscale or binarize, "binarize": binarize,
                              "threshold": threshold if binarize else None,
                              "resample": "bicubic", "gray": "mean-rgb"},
            "dim": size * size * channels,
        }

    def preprocess(self, image: Image.Image) -> np.ndarray:
        # resized first: 8-bit gray (a 1-bit picture's too) is made RGB at N x N, not whole
        pixels = np.asarray(image.resize((self.size, self.size), Image.BICUBIC).convert("RGB"),
                            dtype=np.float32)
        if self.grayscale or self.binarize:
            pixels = pixels.mean(axis=2)
        if self.binarize:
            return (pixels >= self.threshold).astype(np.float32).ravel()
        return (pixels / 255.0).ravel()

    def forward(self, batch: np.ndarray) -> np.ndarray:
        return batch


class ColourHistogram:
    MAX_SIDE = 256  # histograms barely change when photos are shrunk first; speed does

    def __init__(self, space: str, bins: int):
        self.space, self.bins = space, bins
        self.draft_size = self.MAX_SIDE
        self.spec: dict[str, Any] = {
            "backend": "colour_histogram", "model": f"joint-{space}",
            "preprocessing": {"version": HISTOGRAM_VERSION, "space": space, "bins": bins,
                              "max_side": self.MAX_SIDE},
            "dim": bins ** 3,
        }

    def _channels(self, image: Image.Image) -> tuple[np.ndarray, list[tuple[float, float]]]:
        image = image.copy()  # shrunk in place, then made RGB: gray is not expanded whole
        image.thumbnail((self.MAX_SIDE, self.MAX_SIDE), Image.BILINEAR)
        image = image.convert("RGB")
        if self.space == "hsv":
            return np.asarray(image.convert("HSV")).reshape(-1, 3), [(0, 256)] * 3
        if self.space == "lab":
            from skimage.color import rgb2lab

            lab = rgb2lab(np.asarray(image)).reshape(-1, 3)
            return lab, [(0, 100), (-128, 128), (-128, 128)]
        return np.asarray(image).reshape(-1, 3), [(0, 256)] * 3

    def preprocess(self, image: Image.Image) -> np.ndarray:
        values, ranges = self._channels(image)
        hist, _ = np.histogramdd(values, bins=self.bins, range=ranges)
        return (hist / max(1, values.shape[0])).astype(np.float32).ravel()

    def forward(self, batch: np.ndarray) -> np.ndarray:
        return batch
