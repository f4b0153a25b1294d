"""Draw labels: paint example regions of each class over an image (seed 000's Clashifier).

Pick an image and a class, paint strokes with a brush of adjustable size, erase, undo.
Saving paints the strokes onto the image's mask PNG (``<image name>.png``) in a folder
next to the workflow, points the Pixel Samples from Mask node's ``masks`` parameter
there and saves the workflow file, so ``flowclass run`` of that file trains on exactly
these labels, in this legend ("+ class" and a recoloured class are saved the same way). A class
recoloured meanwhile in another tab (its workflow file then names another legend) is followed
at the next save: the strokes not yet saved take their classes' new colours, so none is
painted in a colour the legend no longer knows. The strokes are kept in
Python and shown as SVG over a preview of the image; only saving touches files. The strokes
not saved yet are the tab's (:attr:`ViewerContext.keep_work`), not this view's: another node
selected, a reload or a restarted server gives them back. A mask
the user painted elsewhere is never overwritten: the masks are copied into a folder of
FlowClass's own first, and the node is pointed at the copies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from nicegui import run, ui
from PIL import Image

from flowclass.fsutil import atomic_path
from flowclass.userfiles.pictures import open_picture
from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.dialog import confirm, page_dialog
from flowclass.viewers.names import shown

from ..pixel_samples import LEGEND, MASKS

PREVIEW = 1024  # longest side of the picture shown for drawing, in pixels
ERASER = "eraser"

# The picture's height follows the room the results panel (the nearest scrolling ancestor)
# leaves under the sticky toolbar, and follows it when the window or the splitter changes.
# A picture taller than that room slides under the toolbar when scrolled, and a press on
# its top lands on the toolbar: the stroke is lost. Where the room is too small to paint in
# (a laptop's short panel, a toolbar wrapped on two lines) the toolbar stops sticking and
# the picture takes the panel's whole height: the tools scroll away, but nothing covers the
# picture. Vue re-sets the elements' own style on every update, so both go into CSS variables.
FIT_PICTURE = """
(() => {
  const fit = (tries) => {
    const canvas = getHtmlElement(%(canvas)d), toolbar = getHtmlElement(%(toolbar)d);
    if (!canvas || !toolbar) {
      if (tries < 200) requestAnimationFrame(() => fit(tries + 1));
      return;
    }
    let panel = canvas.parentElement;
    while (panel && !/(auto|scroll)/.test(getComputedStyle(panel).overflowY)) panel = panel.parentElement;
    panel = panel || document.scrollingElement;
    const size = () => {
      if (!canvas.isConnected) return observer.disconnect();
      // what lies under the picture, down to the end of what the panel scrolls (paddings too)
      const style = getComputedStyle(panel), end = Math.max(...[...panel.children].map(
        (child) => child.getBoundingClientRect().bottom + parseFloat(getComputedStyle(child).marginBottom)));
      const below = end + parseFloat(style.paddingBottom) - canvas.getBoundingClientRect().bottom;
      // scrolled to its end, the panel shows the picture's top this far from its own top
      const whole = panel.clientHeight - below - %(margin)d;
      const room = whole - parseFloat(style.paddingTop) - toolbar.offsetHeight;
      toolbar.style.setProperty("--fc-toolbar-position", room >= %(least)d ? "sticky" : "static");
      canvas.style.setProperty("--fc-picture-height", `${room >= %(least)d ? room : Math.max(whole, 60)}px`);
    };
    canvas._fcFit?.disconnect();
    const observer = canvas._fcFit = new ResizeObserver(size);
    observer.observe(panel);
    observer.observe(toolbar);
  };
  fit(0);
})();
"""


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
    written: str | None = None  # digest of the mask this painting last wrote
    taken_in: bool = False  # the last save found the file changed elsewhere and painted on top of it

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

    def unsaved_strokes(self) -> list | None:
        """The strokes not saved yet as JSON values (None when there are none)."""
        return [[s.colour, s.width, [[x, y] for x, y in s.points]] for s in self.strokes[self.saved:]] or None

    def take_back(self, kept: Any) -> None:
        """Strokes :meth:`unsaved_strokes` gave, unsaved again on top of the mask as it is now."""
        from nodes.lib.pixels.strokes import Stroke

        try:
            strokes = [Stroke(None if colour is None else str(colour), float(width),
                              [(float(x), float(y)) for x, y in points]) for colour, width, points in kept]
        except (TypeError, ValueError):  # not what this view kept (a draft edited by hand)
            return
        self.strokes, self.saved = [s for s in strokes if s.points], 0

    def svg(self, base_url: str) -> str:
        from nodes.lib.pixels.strokes import svg

        return svg(self.strokes, self.scale, self.preview_size, base_url)


# --- files --------------------------------------------------------------------------------

def existing_mask(folder: Path | None, stem: str) -> Path | None:
    """The mask file the node reads for image ``stem`` now (in ``folder``), if there is one."""
    from nodes.lib.pixels.masks import MaskError, mask_files

    try:
        return mask_files(folder).get(stem) if folder is not None else None
    except MaskError:
        return None


def label_folder(current: Path | None, home: Path, node_id: str, *stems: str,
                 protected: Callable[[Path], bool] = lambda path: False) -> Path:
    """Where the masks of ``stems`` are saved: the node's folder, unless a file there is the
    user's (or the folder is ``protected``, a ready workflow's): then a folder of FlowClass's
    own beside the workflow."""
    from flowclass.userfiles.owned_folder import OwnedFolder

    mine = current is not None and current.is_dir() and not protected(current)
    candidates = ([current] if mine else []) + \
        [home / f"{node_id}_masks"] + [home / f"{node_id}_masks_{k}" for k in range(2, 100)]
    for folder in candidates:
        owned = OwnedFolder(folder)
        if all(not (folder / f"{stem}.png").exists() or owned.owns(f"{stem}.png") for stem in stems):
            return folder
    raise FileExistsError(f"no free folder for labels next to {home}")


def masks_value(folder: Path, home: Path) -> str:
    """The ``masks`` parameter that reads ``folder`` (relative to the workflow's ``home`` below it)."""
    try:
        return str(folder.relative_to(home))
    except ValueError:
        return str(folder)


def recolour_masks(current: Path | None, home: Path, node_id: str, old: str, new: str,
                   protected: Callable[[Path], bool] = lambda path: False) -> str:
    """Repaint a class's pixels in every mask the node reads; returns the ``masks`` value.

    Masks FlowClass wrote are repainted in place; the user's own (or a ready workflow's)
    are never touched: they are copied, repainted, into a folder of FlowClass's own.
    """
    from flowclass.userfiles.owned_folder import OwnedFolder
    from nodes.lib.pixels.masks import MaskError, mask_files
    from nodes.lib.pixels.strokes import recolour

    try:
        files = mask_files(current) if current is not None and current.exists() else {}
    except MaskError:
        files = {}
    folder = label_folder(current, home, node_id, *files, protected=protected)
    folder.mkdir(parents=True, exist_ok=True)
    owned = OwnedFolder(folder)
    for stem, source in files.items():
        with open_picture(source) as picture:
            mask = recolour(np.asarray(picture.convert("RGBA")), old, new)
        owned.write_file(f"{stem}.png", lambda tmp, m=mask: Image.fromarray(m, "RGBA").save(tmp, format="PNG"))
    owned.compact()
    return masks_value(folder, home)


def save_painting(painting: Painting, current: Path | None, home: Path, node_id: str,
                  protected: Callable[[Path], bool] = lambda path: False) -> tuple[Path, str]:
    """Write the mask (the one it had, with the strokes on top) beside the workflow in ``home``.

    ``current`` is the masks folder the node reads now. Returns the mask's path and the
    ``masks`` value that reads it (relative to ``home`` when it lies below it).
    """
    from flowclass.userfiles.owned_folder import OwnedFolder
    from nodes.lib.pixels.masks import MaskError, mask_files

    folder = label_folder(current, home, node_id, painting.stem, protected=protected)
    folder.mkdir(parents=True, exist_ok=True)
    owned = OwnedFolder(folder)
    if current is not None and current != folder and current.exists():
        try:
            others = mask_files(current)
        except MaskError:
            others = {}
        for stem, source in others.items():  # the other images' masks come along, as copies
            if stem != painting.stem and not (folder / source.name).exists():
                owned.write_new(source.name, lambda tmp, s=source: shutil.copyfile(s, tmp))
    painting.taken_in = _take_in(painting, folder / f"{painting.stem}.png")
    mask = painting.mask()
    owned.write_file(f"{painting.stem}.png",
                     lambda tmp: Image.fromarray(mask, "RGBA").save(tmp, format="PNG"))
    owned.compact()
    painting.written = _digest(mask)
    return folder / f"{painting.stem}.png", masks_value(folder, home)


def _digest(mask: np.ndarray | None) -> str | None:
    return None if mask is None else hashlib.sha256(mask.tobytes()).hexdigest()


def _take_in(painting: Painting, target: Path) -> bool:
    """Whether ``target`` holds labels this painting has not seen (another tab, another
    program saved them since it was opened or last saved); then they become its base, under
    its strokes not yet saved, so that a save never drops another's labels. Its own strokes
    saved before are in that file already."""
    try:
        with open_picture(target) as picture:
            if picture.size != painting.size:
                return False
            disk = np.asarray(picture.convert("RGBA"))
    except (OSError, ValueError):  # none there yet, or not a picture: written as it is
        return False
    expected = painting.written if painting.written is not None else _digest(painting.base)
    if _digest(disk) == expected:
        return False
    painting.base, painting.base_preview = disk, None
    painting.strokes, painting.saved = painting.strokes[painting.saved:], 0
    return True


def legend_in_file(workflow: Path | None, node_id: str) -> tuple[str, str] | None:
    """The node's legend and masks as its workflow file holds them now (another tab may have
    saved a class recoloured since); None when there is none to read."""
    from flowclass.errors import WorkflowInvalid
    from flowclass.workflow_file import load

    try:
        spec = load(workflow).node(node_id) if workflow is not None else None
    except (WorkflowInvalid, OSError, ValueError):
        return None
    if spec is None:
        return None
    return str(spec.params.get(LEGEND.name, "")), str(spec.params.get(MASKS.name, ""))


def follow_legend(painting: Painting, old: str, new: str) -> None:
    """The strokes not yet saved, painted in legend ``old``, in their classes' colours of ``new``
    (the class followed by name, else through a rename, a recolour or both: a colour may even
    have passed to another class)."""
    from nodes.lib.pixels.legend import followed_classes, parse_legend

    before, after = (dict(zip(parsed.classes, parsed.class_colours())) for parsed in map(parse_legend, (old, new)))
    moved = {before[name]: after[followed] for name, followed in followed_classes(before, after).items()}
    for stroke in painting.strokes[painting.saved:]:
        stroke.colour = moved.get(stroke.colour, stroke.colour) if stroke.colour is not None else None


def open_painting(images: Any, index: int, folder: Path | None, store: Path) -> Painting:
    """Make (once) a preview of image ``index`` and load the mask it has, if any."""
    from flowclass.userfiles.pictures import open_rgb

    path, sha = str(images.paths[index]), str(images.hashes[index])
    size = (int(images.widths[index]), int(images.heights[index]))
    preview = store / f"{sha}-{PREVIEW}.jpg"
    if not preview.is_file():
        picture = open_rgb(path)
        picture.thumbnail((PREVIEW, PREVIEW), Image.Resampling.LANCZOS)
        with atomic_path(preview, fsync=False) as tmp:
            picture.save(tmp, "JPEG", quality=90)
    with Image.open(preview) as picture:
        painting = Painting(path, size, preview, picture.size)
    mask_file = existing_mask(folder, painting.stem)
    if mask_file is not None:
        with open_picture(mask_file) as mask:
            if mask.size == size:
                painting.base = np.asarray(mask.convert("RGBA"))
                show_base(painting, store)
    return painting


def show_base(painting: Painting, store: Path) -> None:
    """Make (once) the preview of the painting's base mask, shown under its strokes."""
    painting.base_preview = store / f"{_digest(painting.base)[:32]}-{painting.preview_size[0]}.png"
    if not painting.base_preview.is_file():
        Image.fromarray(painting.base).resize(painting.preview_size, Image.Resampling.NEAREST) \
            .save(painting.base_preview)


# --- the view -----------------------------------------------------------------------------

class LabelDrawing:
    """The controls and the picture of the Draw labels view, for one node.

    The masks the node reads now (its ``masks`` parameter resolved as a run resolves it)
    are the base layer the strokes go on; saving writes base and strokes beside the saved
    workflow, never into a temporary folder or FlowClass's installed workflows.
    """

    def __init__(self, images: Any, legend: str, ctx: ViewerContext, rebuild: Any = None):
        from nodes.lib.pixels.legend import parse_legend

        parsed = parse_legend(legend)
        self.images, self.legend, self.ctx, self.rebuild = images, legend, ctx, rebuild
        self.classes = dict(zip(parsed.classes, parsed.class_colours()))
        self.store = ctx.store_dir("pixel_labels")
        self.value = str(ctx.param(MASKS) or "")  # the masks parameter as set
        self.in_file: str | None = None  # the legend the workflow file held when this view was drawn
        self.painting: Painting | None = None
        self.index = 0  # the image shown

    def masks(self) -> Path | None:
        """The folder of masks the node reads now."""
        return self.ctx.input_path(self.ctx.node_id, MASKS.name)

    def first_image(self) -> int:
        """The first image that has a mask already, else the first image."""
        stems, folder = [Path(p).stem for p in self.images.paths.tolist()], self.masks()
        return next((i for i, stem in enumerate(stems) if existing_mask(folder, stem)), 0)

    def build(self, start: int) -> None:
        names = {i: shown(os.path.basename(p)) for i, p in enumerate(self.images.paths.tolist())}
        # the tools stay in view while painting (the results panel scrolls under them)
        self.toolbar = ui.column().classes("w-full gap-1 bg-white fc-label-toolbar") \
            .style("position: var(--fc-toolbar-position, sticky); top: 0; z-index: 5")
        with self.toolbar:
            with ui.row().classes("items-center gap-3 w-full"):
                if len(names) > 1:
                    ui.select(names, value=start, label="Image", on_change=lambda e: self.switch(e.value)) \
                        .props("dense options-dense").classes("w-48").mark("label-image")
                self.tool = ui.toggle({**{name: shown(name) for name in self.classes}, ERASER: "Eraser"},
                                      value=next(iter(self.classes))).props("dense no-caps") \
                    .classes(f"fc-label-tool-{self.ctx.node_id}").mark("label-tool")
                ui.add_css(tool_chips_css(f"fc-label-tool-{self.ctx.node_id}", list(self.classes.values())))
                ui.label("Brush").classes("text-xs text-gray-600")
                self.brush = ui.slider(min=2, max=80, step=1, value=16).classes("w-32").mark("label-brush")
                ui.button("Undo", icon="undo", on_click=self.undo).props("flat dense no-caps").mark("label-undo")
                ui.button("Save labels", icon="save", on_click=self.save).props("dense no-caps") \
                    .mark("label-save")
                ui.button("Save and run", icon="play_arrow", on_click=lambda: self.save(then_run=True)) \
                    .props("flat dense no-caps").mark("label-save-run")
            with ui.row().classes("gap-3 items-center"):
                for name, colour in self.classes.items():  # the legend: pick a class's colour
                    with ui.button().props("flat dense no-caps size=sm").classes("fc-legend-entry") \
                            .mark(f"legend-{name}"):
                        ui.element("div").classes("w-3 h-3 rounded-sm border mr-1").style(f"background: {colour}")
                        ui.label(shown(name)).classes("text-xs")
                        ui.color_picker(on_pick=lambda e, n=name: self.recolour(n, e.color))
                ui.button("+ class", on_click=self.add_class).props("flat dense no-caps size=sm") \
                    .tooltip("Add a class to the legend, in a colour of its own").mark("label-add-class")
                self.status = ui.label().classes("text-xs text-gray-600 fc-label-status")
                self.where = ui.label().classes("text-xs text-gray-500 fc-label-where")
        self.canvas = ui.interactive_image(events=["mousedown", "mousemove", "mouseup", "mouseleave"],
                                          on_mouse=self.mouse, sanitize=False) \
            .classes("fc-label-canvas").style("cursor: crosshair; user-select: none")

    def work_key(self) -> str:
        """Which image's unsaved strokes these are (by content: the same photo moved is the same)."""
        return f"strokes {self.images.hashes[self.index]}"

    def keep(self) -> None:
        """Give the tab the strokes not saved yet (at each stroke's end, undo and save)."""
        if self.painting is not None:
            self.ctx.keep_work(self.work_key(), self.painting.unsaved_strokes())

    async def open(self, index: int) -> None:
        self.index = index
        painting = await run.io_bound(open_painting, self.images, index, self.masks(), self.store)
        if self.canvas.is_deleted:  # the results panel was redrawn meanwhile (a recolour, a run)
            return
        self.painting = painting
        kept = self.ctx.work(self.work_key())
        if kept:
            painting.take_back(kept)
        width, height = self.painting.preview_size
        # the whole picture fits the results panel under the tools (FIT_PICTURE measures the room)
        self.canvas.style(f"width: min(100%, calc(var(--fc-picture-height, 40vh) * {width / height:.4f}))")
        self.canvas.client.run_javascript(FIT_PICTURE % {"canvas": self.canvas.id, "toolbar": self.toolbar.id,
                                                         "margin": 8, "least": 200})
        self.canvas.set_source(self.ctx.image_url(self.painting.preview, size=None))
        self.redraw()

    def redraw(self) -> None:
        painting = self.painting
        base = self.ctx.image_url(painting.base_preview, size=None) if painting.base_preview else ""
        # sanitize=False is safe: the SVG is made of numbers and legend colours parsed to #rrggbb
        self.canvas.set_content(painting.svg(base))
        self.status.text = (f"{painting.unsaved} stroke(s) not saved" if painting.unsaved
                            else "Paint with the left mouse button.")
        folder = self.masks()
        self.where.text = ("no labels yet" if painting.base is None else
                           f"labels of {Path(painting.path).name} from {folder}")

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
            self.keep()
        else:
            return
        self.redraw()

    def undo(self) -> None:
        if self.painting is not None:
            self.painting.undo()
            self.keep()
            self.redraw()

    async def save(self, then_run: bool = False) -> None:
        from nodes.lib.pixels.strokes import classes_in

        painting = self.painting
        if painting is None:
            return
        workflow = self.ctx.workflow_path()
        if workflow is None:  # labels are kept beside the workflow: it needs a file first
            if self.ctx.save is None or (workflow := await self.ctx.save()) is None:
                ui.notify("Labels not saved: save the workflow first; they are kept beside it.",
                          type="warning")
                return
        followed = await self.follow_file(workflow)
        lost = classes_in(painting.base, self.classes) - classes_in(painting.mask(), self.classes)
        if lost and not await confirm(
                f"Saving removes every {', '.join(sorted(lost))} label from {Path(painting.path).name}. "
                "Save anyway?", "Save anyway"):
            return
        try:
            path, value = await run.io_bound(save_painting, painting, self.masks(), workflow.parent,
                                             self.ctx.node_id, self.ctx.installed)
        except (OSError, ValueError) as exc:
            ui.notify(f"Labels not saved: {exc}", type="negative")
            return
        painting.saved = len(painting.strokes)
        self.keep()
        if painting.taken_in:  # another tab or program saved this mask meanwhile: kept, under ours
            await run.io_bound(show_base, painting, self.store)
            ui.notify(f"{Path(path).name} was changed meanwhile (another tab or program): its labels "
                      "are kept, with this tab's new strokes on top.", type="warning")
        if value != self.value:
            self.ctx.apply_params((MASKS, value))
            self.value = value
            ui.notify(f"Masks now reads {value} (a copy beside the workflow).", type="info")
        if followed:
            ui.notify("A class was recoloured meanwhile (another tab): this tab's strokes were saved in "
                      "their classes' new colours, and it shows the workflow file's legend now.", type="warning")
        kept = await self.keep_in_file(f"Labels saved in {path}")
        self.ctx.refresh()
        self.redraw()
        if kept:
            ui.notify(f"Labels saved in {path}", type="positive")
        if followed and self.rebuild is not None:  # the tools and the legend in the new colours
            await self.rebuild(self.legend, self.index)
        if then_run:
            self.ctx.run(None)

    async def follow_file(self, workflow: Path) -> bool:
        """Whether the workflow file's legend changed since this view was drawn (a class recoloured
        in another tab): then this view takes it, and its masks folder, and the strokes not yet
        saved follow their classes' new colours. A legend this tab changed and has not saved in
        the file is its own, kept."""
        from nodes.lib.pixels.legend import LegendError, parse_legend

        found = await run.io_bound(legend_in_file, workflow, self.ctx.node_id)
        if found is None or found[0] in (self.legend, self.in_file) or self.in_file is None:
            return False
        legend, masks = found
        try:
            parsed = parse_legend(legend)
        except LegendError:
            return False
        if self.painting is not None:
            follow_legend(self.painting, self.legend, legend)
        self.legend, self.in_file = legend, legend
        self.classes = dict(zip(parsed.classes, parsed.class_colours()))
        self.ctx.apply_params((LEGEND, legend), (MASKS, masks))
        self.value = masks
        return True

    async def recolour(self, name: str, colour: str) -> None:
        """A new colour for a class: the legend and every mask the node reads follow it."""
        from nodes.lib.pixels.legend import LegendError, followed_classes, hex_colour, parse_colour, with_colour

        try:
            new = hex_colour(parse_colour(colour))
        except LegendError as exc:
            ui.notify(f"Colour not changed: {exc}", type="warning")
            return
        if self.painting is not None and self.painting.unsaved:
            await self.save()
        workflow = self.ctx.workflow_path() or (await self.ctx.save() if self.ctx.save else None)
        if workflow is None:
            ui.notify("Colour not changed: save the workflow first; masks are kept beside it.", type="warning")
            return
        # another tab may have recoloured or renamed classes since: start from its legend and masks
        before = dict(self.classes)
        if await self.follow_file(workflow):
            ui.notify("The legend was changed meanwhile (another tab): this tab follows it.", type="warning")
        name = followed_classes(before, self.classes).get(name)
        if name is None:
            ui.notify("Colour not changed: that class was removed from the legend meanwhile (another tab).",
                      type="warning")
            if self.rebuild is not None:
                await self.rebuild(self.legend, self.index)
            return
        old = self.classes[name]
        try:
            legend = with_colour(self.legend, name, old, new)
        except LegendError as exc:
            ui.notify(f"Colour not changed: {exc}", type="warning")
            return
        try:
            value = await run.io_bound(recolour_masks, self.masks(), workflow.parent, self.ctx.node_id, old, new,
                                       self.ctx.installed)
        except (OSError, ValueError) as exc:
            ui.notify(f"Colour not changed: {exc}", type="negative")
            return
        self.ctx.apply_params((LEGEND, legend), (MASKS, value))
        if await self.keep_in_file(f"'{name}' is now {new}; its painted pixels too"):
            ui.notify(f"'{name}' is now {new}; its painted pixels too.", type="positive")
        self.ctx.refresh()
        if self.rebuild is not None:  # the view again, in the new colours, on the same image
            await self.rebuild(legend, self.index)

    async def add_class(self) -> None:
        """Ask for a name; the legend gets the class in a free colour and it is ready to paint."""
        from nodes.lib.pixels.legend import LegendError, with_class

        with page_dialog() as dialog, ui.card().classes("min-w-72"):
            ui.label("A new class to paint").classes("font-medium")
            name = ui.input("Name", placeholder="road").props("autofocus dense").mark("new-class-name")
            name.on("keydown.enter", lambda: dialog.submit(name.value))
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")
                ui.button("Add", on_click=lambda: dialog.submit(name.value)).mark("new-class-add")
        dialog.open()
        try:
            chosen = await dialog
        finally:
            dialog.delete()
        if not chosen:
            return
        if self.painting is not None and self.painting.unsaved:
            await self.save()
        workflow = self.ctx.workflow_path()  # another tab's legend, saved since, is the one to add to
        if workflow is not None and await self.follow_file(workflow):
            ui.notify("The legend was changed meanwhile (another tab): this tab follows it.", type="warning")
        try:
            legend = with_class(self.legend, str(chosen))
        except LegendError as exc:
            ui.notify(f"Class not added: {exc}", type="warning")
            return
        self.ctx.apply_params((LEGEND, legend))
        if await self.keep_in_file(f"Class '{str(chosen).strip()}' added"):
            ui.notify(f"Class '{str(chosen).strip()}' added: pick it above and paint.", type="positive")
        if self.rebuild is not None:
            await self.rebuild(legend, self.index, tool=str(chosen).strip())

    async def keep_in_file(self, done: str) -> bool:
        """Save the workflow: its file then names the masks and the legend just written, so
        ``flowclass run`` of it trains on exactly what the canvas shows (the masks on disk and
        a file still naming the old ones would disagree). Not saved (the file changed
        elsewhere and that question was cancelled): says so after ``done``, and False."""
        if self.ctx.save is None or self.ctx.workflow_path() is None or await self.ctx.save() is not None:
            return True
        ui.notify(f"{done}, but the workflow file was not saved: flowclass run of it does not "
                  "know this yet (File > Save).", type="warning")
        return False

    async def switch(self, index: int) -> None:
        if self.painting is not None and self.painting.unsaved:
            await self.save()
        await self.open(index)


def tool_chips_css(css_class: str, colours: list[str]) -> str:
    """A colour chip before each class's name on the tool buttons (the eraser comes last)."""
    return "\n".join(
        f".{css_class} > button:nth-child({k}) .q-btn__content::before {{ content: ''; width: 12px; "
        f"height: 12px; margin-right: 6px; border-radius: 2px; border: 1px solid #0003; background: {c}; }}"
        for k, c in enumerate(colours, 1))


@viewer("pixel_samples", "Draw labels", order=10, applies=lambda samples: samples.source == "mask")
async def draw_labels(samples: Any, ctx: ViewerContext) -> None:
    from nodes.lib.pixels.legend import LegendError, parse_legend

    legend = str(ctx.param(LEGEND))
    try:
        parse_legend(legend)
    except LegendError as exc:
        ui.label(f"Fix the legend first: {exc}").classes("text-sm text-red-700")
        return
    images = ctx.upstream("images")
    if images is None or not len(images):
        ui.label("Run the images before this node first.").classes("text-sm text-gray-600")
        return
    box = ui.column().classes("w-full gap-1")

    async def show(legend: str, index: int | None = None, tool: str | None = None) -> None:
        if box.is_deleted:  # the panel was redrawn (its own view is already there)
            return
        box.clear()
        with box:
            drawing = LabelDrawing(images, legend, ctx, rebuild=show)
            found = await run.io_bound(legend_in_file, ctx.workflow_path(), ctx.node_id)
            drawing.in_file = found[0] if found is not None else None
            start = drawing.first_image() if index is None else index
            drawing.build(start)
            if tool in drawing.classes:
                drawing.tool.value = tool
        await drawing.open(start)

    await show(legend)


VIEWERS = [draw_labels]
