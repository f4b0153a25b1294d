"""Draw labels: paint example regions of each class over an image (seed 000's Clashifier).

Pick an image and a class, paint strokes with a brush of adjustable size, erase, undo.
Saving paints the strokes onto the image's mask PNG (``<image name>.png``) in a folder
next to the workflow and points the Pixel Samples from Mask node's ``masks`` parameter
there, so ``flowclass run`` trains on exactly these labels. The strokes are kept in
Python and shown as SVG over a preview of the image; only saving touches files. A mask
the user painted elsewhere is never overwritten: the masks are copied into a folder of
FlowClass's own first, and the node is pointed at the copies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nicegui import run, ui
from PIL import Image

from flowclass.fsutil import atomic_path
from flowclass.viewers import ViewerContext, viewer

from ..pixel_samples import LEGEND, MASKS

PREVIEW = 1024  # longest side of the picture shown for drawing, in pixels
ERASER = "eraser"


@dataclass
class Painting:
    """One image being labelled: its preview, the mask it had, and this session's strokes."""

    path: str
    size: tuple[int, int]  # the image's own pixels
    preview: Path
    preview_size: tuple[int, int]
    base: np.ndarray | None = None  # the mask as it was, (h, w, 4)
    base_preview: Path | None = None
    strokes: list = field(default_factory=list)
    drawing: bool = False
    saved: int = 0  # how many strokes are in the file

    @property
    def scale(self) -> float:
        """Preview pixels per image pixel."""
        return self.preview_size[0] / self.size[0]

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    @property
    def unsaved(self) -> int:
        return len(self.strokes) - self.saved

    def press(self, x: float, y: float, colour: str | None, brush: float) -> None:
        """Start a stroke at preview point (x, y), ``brush`` preview pixels wide."""
        from nodes.lib.pixels.strokes import Stroke

        self.strokes.append(Stroke(colour, brush / self.scale, [(x / self.scale, y / self.scale)]))
        self.drawing = True

    def move(self, x: float, y: float) -> bool:
        """Extend the stroke being drawn; False when nothing changed."""
        if not self.drawing:
            return False
        points = self.strokes[-1].points
        point = (x / self.scale, y / self.scale)
        if np.hypot(point[0] - points[-1][0], point[1] - points[-1][1]) * self.scale < 1:
            return False
        points.append(point)
        return True

    def undo(self) -> None:
        if self.strokes:
            self.strokes.pop()
            self.saved = min(self.saved, len(self.strokes))

    def mask(self) -> np.ndarray:
        from nodes.lib.pixels.strokes import paint

        return paint(self.strokes, self.size, self.base)

    def svg(self, base_url: str) -> str:
        from nodes.lib.pixels.strokes import svg

        return svg(self.strokes, self.scale, self.preview_size, base_url)


# --- files --------------------------------------------------------------------------------

def masks_path(value: str, home: Path) -> Path | None:
    """The ``masks`` parameter as a path (relative ones are relative to ``home``)."""
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else home / path


def existing_mask(value: str, home: Path, stem: str) -> Path | None:
    """The mask file the node reads for image ``stem`` now, if there is one."""
    from nodes.lib.pixels.masks import MaskError, mask_files

    path = masks_path(value, home)
    try:
        return mask_files(path).get(stem) if path is not None else None
    except MaskError:
        return None


def label_folder(value: str, home: Path, node_id: str, stem: str) -> Path:
    """Where ``stem``'s mask is saved: the node's folder, unless that file there is the user's."""
    from nodes.lib.owned_files import OwnedFolder

    current = masks_path(value, home)
    candidates = ([current] if current is not None and current.is_dir() else []) + \
        [home / f"{node_id}_masks"] + [home / f"{node_id}_masks_{k}" for k in range(2, 100)]
    for folder in candidates:
        if not (folder / f"{stem}.png").exists() or OwnedFolder(folder).owns(f"{stem}.png"):
            return folder
    raise FileExistsError(f"no free folder for labels next to {home}")


def save_painting(painting: Painting, value: str, home: Path, node_id: str,
                  relative: bool) -> tuple[Path, str]:
    """Write the mask; returns its path and the ``masks`` value that reads it.

    ``relative``: ``home`` is the workflow's folder, so the value may be relative to it.
    """
    from nodes.lib.owned_files import OwnedFolder
    from nodes.lib.pixels.masks import MaskError, mask_files

    folder = label_folder(value, home, node_id, painting.stem)
    folder.mkdir(parents=True, exist_ok=True)
    owned = OwnedFolder(folder)
    current = masks_path(value, home)
    if current is not None and current != folder and current.exists():
        try:
            others = mask_files(current)
        except MaskError:
            others = {}
        for stem, source in others.items():  # the other images' masks come along, as copies
            if stem != painting.stem and not (folder / source.name).exists():
                owned.write_new(source.name, lambda tmp, s=source: shutil.copyfile(s, tmp))
    mask = painting.mask()
    owned.write_file(f"{painting.stem}.png",
                     lambda tmp: Image.fromarray(mask, "RGBA").save(tmp, format="PNG"))
    owned.compact()
    new_value = value if current == folder else (folder.name if relative else str(folder))
    return folder / f"{painting.stem}.png", new_value


def open_painting(images: Any, index: int, value: str, home: Path, store: Path) -> Painting:
    """Make (once) a preview of image ``index`` and load the mask it has, if any."""
    from nodes.lib.imaging import open_rgb

    path, sha = str(images.paths[index]), str(images.hashes[index])
    size = (int(images.widths[index]), int(images.heights[index]))
    preview = store / f"{sha}-{PREVIEW}.jpg"
    if not preview.is_file():
        picture = open_rgb(path)
        picture.thumbnail((PREVIEW, PREVIEW), Image.Resampling.LANCZOS)
        with atomic_path(preview, fsync=False) as tmp:
            picture.save(tmp, "JPEG", quality=90)
    with Image.open(preview) as shown:
        painting = Painting(path, size, preview, shown.size)
    mask_file = existing_mask(value, home, painting.stem)
    if mask_file is not None:
        with Image.open(mask_file) as mask:
            if mask.size == size:
                painting.base = np.asarray(mask.convert("RGBA"))
                digest = hashlib.sha256(painting.base.tobytes()).hexdigest()[:32]
                painting.base_preview = store / f"{digest}-{painting.preview_size[0]}.png"
                if not painting.base_preview.is_file():
                    Image.fromarray(painting.base).resize(painting.preview_size, Image.Resampling.NEAREST) \
                        .save(painting.base_preview)
    return painting


# --- the view -----------------------------------------------------------------------------

class LabelDrawing:
    """The controls and the picture of the Draw labels view, for one node."""

    def __init__(self, images: Any, classes: dict[str, str], ctx: ViewerContext):
        self.images, self.classes, self.ctx = images, classes, ctx
        self.home = ctx.workflow_dir or ctx.out_dir
        self.value = str(ctx.param(MASKS) or "")
        self.store = ctx.store_dir("pixel_labels")
        self.painting: Painting | None = None

    def first_image(self) -> int:
        """The first image that has a mask already, else the first image."""
        stems = [Path(p).stem for p in self.images.paths.tolist()]
        return next((i for i, stem in enumerate(stems) if existing_mask(self.value, self.home, stem)), 0)

    def build(self, start: int) -> None:
        names = {i: os.path.basename(p) for i, p in enumerate(self.images.paths.tolist())}
        if self.ctx.workflow_dir is None:
            ui.label("The workflow is not saved yet: labels go to the output folder. Save the "
                     "workflow to keep them next to it.").classes("text-xs text-amber-800")
        with ui.row().classes("items-center gap-3 w-full"):
            if len(names) > 1:
                ui.select(names, value=start, label="Image", on_change=lambda e: self.switch(e.value)) \
                    .props("dense options-dense").classes("w-48").mark("label-image")
            self.tool = ui.toggle({**{name: name for name in self.classes}, ERASER: "Eraser"},
                                  value=next(iter(self.classes))).props("dense no-caps").mark("label-tool")
            ui.label("Brush").classes("text-xs text-gray-600")
            self.brush = ui.slider(min=2, max=80, step=1, value=16).classes("w-32").mark("label-brush")
            ui.button("Undo", icon="undo", on_click=self.undo).props("flat dense no-caps").mark("label-undo")
            ui.button("Save labels", icon="save", on_click=self.save).props("dense no-caps") \
                .mark("label-save")
            ui.button("Save and run", icon="play_arrow", on_click=lambda: self.save(then_run=True)) \
                .props("flat dense no-caps").mark("label-save-run")
        with ui.row().classes("gap-3 items-center"):
            for name, colour in self.classes.items():
                with ui.row().classes("gap-1 items-center no-wrap"):
                    ui.element("div").classes("w-3 h-3 rounded-sm border").style(f"background: {colour}")
                    ui.label(name).classes("text-xs")
            self.status = ui.label().classes("text-xs text-gray-600 fc-label-status")
        self.canvas = ui.interactive_image(events=["mousedown", "mousemove", "mouseup", "mouseleave"],
                                          on_mouse=self.mouse, sanitize=False) \
            .classes("w-full fc-label-canvas") \
            .style("cursor: crosshair; user-select: none; max-width: 900px")

    async def open(self, index: int) -> None:
        self.painting = await run.io_bound(open_painting, self.images, index, self.value, self.home,
                                           self.store)
        self.canvas.set_source(self.ctx.image_url(self.painting.preview, size=None))
        self.redraw()

    def redraw(self) -> None:
        painting = self.painting
        base = self.ctx.image_url(painting.base_preview, size=None) if painting.base_preview else ""
        # sanitize=False is safe: the SVG is made of numbers and legend colours parsed to #rrggbb
        self.canvas.set_content(painting.svg(base))
        self.status.text = (f"{painting.unsaved} stroke(s) not saved" if painting.unsaved
                            else "Paint with the left mouse button.")

    def mouse(self, e: Any) -> None:
        painting = self.painting
        if painting is None:
            return
        if e.type == "mousedown" and e.button == 0:
            colour = None if self.tool.value == ERASER else self.classes[self.tool.value]
            painting.press(e.image_x, e.image_y, colour, float(self.brush.value))
        elif e.type == "mousemove":
            if not painting.move(e.image_x, e.image_y):
                return
        elif e.type in ("mouseup", "mouseleave") and painting.drawing:
            painting.drawing = False
        else:
            return
        self.redraw()

    def undo(self) -> None:
        if self.painting is not None:
            self.painting.undo()
            self.redraw()

    async def save(self, then_run: bool = False) -> None:
        painting = self.painting
        if painting is None:
            return
        try:
            path, value = await run.io_bound(save_painting, painting, self.value, self.home,
                                             self.ctx.node_id, self.ctx.workflow_dir is not None)
        except (OSError, ValueError) as exc:
            ui.notify(f"Labels not saved: {exc}", type="negative")
            return
        painting.saved = len(painting.strokes)
        if value != self.value:
            self.ctx.apply_params((MASKS, value))
            self.value = value
        self.ctx.refresh()
        self.redraw()
        ui.notify(f"Labels saved in {path}", type="positive")
        if then_run:
            self.ctx.run(None)

    async def switch(self, index: int) -> None:
        if self.painting is not None and self.painting.unsaved:
            await self.save()
        await self.open(index)


@viewer("pixel_samples", "Draw labels", order=10, applies=lambda samples: samples.source == "mask")
async def draw_labels(samples: Any, ctx: ViewerContext) -> None:
    from nodes.lib.pixels.legend import LegendError, parse_legend

    try:
        legend = parse_legend(str(ctx.param(LEGEND)))
    except LegendError as exc:
        ui.label(f"Fix the legend first: {exc}").classes("text-sm text-red-700")
        return
    images = ctx.upstream("images")
    if images is None or not len(images):
        ui.label("Run the images before this node first.").classes("text-sm text-gray-600")
        return
    drawing = LabelDrawing(images, dict(zip(legend.classes, legend.class_colours())), ctx)
    start = drawing.first_image()
    drawing.build(start)
    await drawing.open(start)


VIEWERS = [draw_labels]
