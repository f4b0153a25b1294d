"""Brush strokes painted over an image, turned into a label mask (and into SVG to show them).

The canvas's "Draw labels" view keeps the strokes of a session in order; painting them
onto the mask that was there before gives the mask PNG the nodes read. An eraser stroke
makes pixels unlabelled (transparent) again. Strokes are in the image's own pixels, with
round ends, and drawn without anti-aliasing so every pixel has exactly a legend colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .legend import parse_colour

ERASER = None


@dataclass
class Stroke:
    colour: str | None  # "#rrggbb" of a class, or ERASER
    width: float  # in image pixels
    points: list[tuple[float, float]] = field(default_factory=list)

    def box(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The stroke's bounding box (with its width), clipped to the image."""
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        pad = self.width / 2 + 2
        return (max(0, int(min(xs) - pad)), max(0, int(min(ys) - pad)),
                min(size[0], int(max(xs) + pad) + 1), min(size[1], int(max(ys) + pad) + 1))

    def footprint(self, size: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """Which pixels of its bounding box the stroke covers (bool array)."""
        left, top, right, bottom = self.box(size)
        layer = Image.new("1", (max(1, right - left), max(1, bottom - top)), 0)
        pen = ImageDraw.Draw(layer)
        points = [(x - left, y - top) for x, y in self.points]
        radius = self.width / 2
        if len(points) > 1:
            pen.line(points, fill=1, width=max(1, round(self.width)))
        for x, y in points:  # round ends and joints, and a dab for a single click
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=1)
        return (left, top, right, bottom), np.asarray(layer, dtype=bool)


def paint(strokes: list[Stroke], size: tuple[int, int], base: np.ndarray | None = None) -> np.ndarray:
    """The (h, w, 4) RGBA mask: ``base`` (or nothing labelled) with the strokes on top."""
    mask = np.zeros((size[1], size[0], 4), dtype=np.uint8) if base is None else base.copy()
    for stroke in strokes:
        if not stroke.points:
            continue
        (left, top, right, bottom), covered = stroke.footprint(size)
        colour = (0, 0, 0, 0) if stroke.colour is ERASER else parse_colour(stroke.colour) + (255,)
        mask[top:bottom, left:right][covered[:bottom - top, :right - left]] = colour
    return mask


def svg(strokes: list[Stroke], scale: float, size: tuple[int, int], base_url: str = "",
        opacity: float = 0.7) -> str:
    """SVG showing the strokes over a ``size`` (display pixels) picture, in painting order.

    Display coordinates are image coordinates times ``scale``. An eraser hides everything
    painted before it (an SVG mask around what came before), as painting the mask does.
    """
    width, height = size
    defs: list[str] = []
    content = f'<image href="{base_url}" width="{width}" height="{height}"/>' if base_url else ""
    for i, stroke in enumerate(strokes):
        if not stroke.points:
            continue
        points = " ".join(f"{x * scale:.1f},{y * scale:.1f}" for x, y in stroke.points)
        if len(stroke.points) == 1:
            points += f" {stroke.points[0][0] * scale + 0.01:.2f},{stroke.points[0][1] * scale:.1f}"
        line = (f'<polyline points="{points}" fill="none" stroke-width="{stroke.width * scale:.1f}" '
                f'stroke-linecap="round" stroke-linejoin="round" stroke="{{}}"/>')
        if stroke.colour is ERASER:
            defs.append(f'<mask id="fc-erase-{i}" maskUnits="userSpaceOnUse" x="0" y="0" '
                        f'width="{width}" height="{height}"><rect width="{width}" height="{height}" '
                        f'fill="white"/>{line.format("black")}</mask>')
            content = f'<g mask="url(#fc-erase-{i})">{content}</g>'
        else:
            content += line.format(stroke.colour)
    return f'<defs>{"".join(defs)}</defs><g opacity="{opacity}">{content}</g>'


def classes_in(mask: np.ndarray | None, colours: dict[str, str]) -> set[str]:
    """The classes (name -> "#rrggbb") that have at least one pixel in an RGBA mask."""
    if mask is None:
        return set()
    painted = mask[..., 3] > 0
    codes = np.unique((mask[..., 0].astype(np.int64) << 16 | mask[..., 1].astype(np.int64) << 8
                       | mask[..., 2])[painted])
    present = set(codes.tolist())
    return {name for name, colour in colours.items()
            if int.from_bytes(bytes(parse_colour(colour)), "big") in present}


def recolour(mask: np.ndarray, old: str, new: str) -> np.ndarray:
    """A copy of an RGBA mask with the pixels painted ``old`` ("#rrggbb") painted ``new``."""
    out = mask.copy()
    hit = np.all(mask[..., :3] == parse_colour(old), axis=2) & (mask[..., 3] > 0)
    out[hit, :3] = parse_colour(new)
    return out
