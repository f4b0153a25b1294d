"""Pixel classification in the canvas: original beside classified, areas, drawing labels.

- *Original and classified*: the photo, and beside it the class map over the photo with
  an opacity slider, with each class's colour and share of the picture.
- *Areas*: the share of each class in each image as stacked bars (also offered for the
  area table of Classify Pixels).
- *Draw labels* (Pixel Samples from Mask): see :mod:`.pixel_labels`.
"""

from __future__ import annotations

import os
from typing import Any

from nicegui import ui

from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.names import shown
from flowclass.viewers.tables import show_as_table

DISPLAY = 512  # size asked of the image route for the side-by-side view
# the legend and the two pictures under it are never taller than the results panel (cqh: its
# height), so scrolled down to the legend they are seen whole
PICTURE_HEIGHT = "height: min(32rem, calc(100cqh - 2.5rem))"
MAX_BARS = 40  # images shown in the area chart


# --- original and classified -------------------------------------------------------------

def class_chips(maps: Any, index: int) -> None:
    """Each class's colour, name and share of image ``index`` (unknown only if present)."""
    total = max(1, int(maps.counts[index].sum()))
    with ui.row().classes("gap-3 items-center fc-pixel-legend"):
        for name, colour, count in zip(maps.names, maps.colours, maps.counts[index].tolist()):
            if name == "unknown" and not count:
                continue
            with ui.row().classes("gap-1 items-center no-wrap"):
                ui.element("div").classes("w-3 h-3 rounded-sm border").style(f"background: {colour}")
                ui.label(f"{shown(name)} {100 * count / total:.1f} %").classes("text-xs")


@viewer("pixel_maps", "Original and classified", order=10)
def original_and_classified(maps: Any, ctx: ViewerContext) -> None:
    if not len(maps):
        ui.label("No image was classified.").classes("text-sm text-gray-600")
        return
    names = {i: shown(os.path.basename(p)) for i, p in enumerate(maps.images.paths.tolist())}
    with ui.row().classes("items-center gap-4 w-full"):
        if len(names) > 1:
            ui.select(names, value=0, label="Image", on_change=lambda e: show(e.value)) \
                .props("dense options-dense").classes("w-56").mark("pixel-image")
        ui.label("Classes over the photo:").classes("text-xs text-gray-600")
        opacity = ui.slider(min=0, max=1, step=0.05, value=0.7).classes("w-40").mark("pixel-opacity")
    body = ui.column().classes("w-full gap-1")
    on_top: dict[str, Any] = {}

    def show(index: int) -> None:
        body.clear()
        photo = ctx.image_url(maps.images.paths[index], maps.images.hashes[index], size=DISPLAY)
        classes = ctx.image_url(maps.maps[index], size=DISPLAY)
        with body:
            class_chips(maps, index)
            with ui.row().classes("w-full no-wrap gap-2"):
                ui.image(photo).classes("w-1/2 fc-pixel-original").props("fit=contain").style(PICTURE_HEIGHT)
                with ui.element("div").classes("relative w-1/2 fc-pixel-overlay").style(PICTURE_HEIGHT):
                    ui.image(photo).classes("w-full h-full").props("fit=contain")
                    on_top["top"] = ui.image(classes).classes("absolute inset-0 fc-pixel-classified") \
                        .props("fit=contain").style(f"opacity: {opacity.value}")

    opacity.on_value_change(lambda e: on_top["top"].style(replace=f"opacity: {e.value}"))
    show(0)


# --- areas -------------------------------------------------------------------------------

AREA_COLUMNS = {"image", "class", "colour", "percent"}


def area_chart(table: Any) -> None:
    """Stacked bars: one per image, a segment per class, as percent of the picture."""
    images = list(dict.fromkeys(table["image"].tolist()))
    if len(images) > MAX_BARS:
        ui.label(f"The first {MAX_BARS} of {len(images)} images; the table has all.") \
            .classes("text-xs text-gray-500")
        images = images[:MAX_BARS]
    drawn = table[table["image"].isin(images)]
    series = []
    for name, rows in drawn.groupby("class", sort=False):
        by_image = dict(zip(rows["image"], rows["percent"]))
        series.append({"type": "bar", "stack": "area", "name": shown(name),
                       "itemStyle": {"color": rows["colour"].iloc[0]},
                       "data": [round(float(by_image.get(image, 0.0)), 2) for image in images]})
    ui.echart({
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}, ":valueFormatter": "(v) => v + ' %'"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 24, "top": 32, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value", "max": 100, "name": "%"},
        "yAxis": {"type": "category", "data": [shown(image) for image in images], "inverse": True},
        "series": series,
    }).classes("w-full fc-area-chart").style(f"height: {120 + 28 * len(images)}px")


@viewer("pixel_maps", "Areas", order=20)
def areas_of_maps(maps: Any, ctx: ViewerContext) -> None:
    area_chart(maps.to_table())


@viewer("table", "Areas chart", order=10,
        applies=lambda table: AREA_COLUMNS <= set(getattr(table, "columns", ())))
def areas_of_table(table: Any, ctx: ViewerContext) -> None:
    area_chart(table)


VIEWERS = [original_and_classified, areas_of_maps, areas_of_table,
           viewer("pixel_maps", "Table", order=90)(show_as_table),
           viewer("pixel_model", "Table", order=90)(show_as_table),
           viewer("pixel_samples", "Table", applies=lambda samples: samples.source != "mask", order=90)(show_as_table)]
