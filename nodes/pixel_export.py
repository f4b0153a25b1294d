"""Saving classified images: the coloured class maps, optionally beside the originals.

Written only through :mod:`flowclass.userfiles.owned_folder`, like every export: a file of the
user's is never replaced (FlowClass writes beside it under another name), a re-run
replaces its own earlier files, and files of images no longer classified are removed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from PIL import Image

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Bool, Path as PathParam
from flowclass.userfiles.owned_folder import OwnedFolder, new_file, owned_folder
from flowclass.userfiles.pictures import BadImage, open_rgb

from .datatypes import TABLE
from .export import write_beside, write_table
from .lib.pixels.class_maps import colourise, read_class_map
from .lib.results.label_folders import safe_file_name
from .pixel_datatypes import PIXEL_MAPS, PixelMaps

AREAS = "areas.csv"


def _put(owned: OwnedFolder, rel: str, write: Callable[[Path], None], taken: set[str]) -> str:
    """Write ``rel`` (or ``stem (2).ext``... if something of the user's has that name)."""
    rel = owned.put(rel, new_file(write), taken)
    taken.add(rel)
    return rel


def _side_by_side(source: str, class_map: str, colours: tuple[str, ...]) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        original = np.asarray(open_rgb(source))
        classified = colourise(read_class_map(class_map), colours)
        Image.fromarray(np.hstack([original, classified])).save(tmp, format="JPEG", quality=90)
    return write


def _saved_exist(outputs: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    table = outputs["saved"]
    files = [f for column in ("classified", "side_by_side") if column in table
             for f in table[column].tolist() if isinstance(f, str)]
    return all(os.path.isfile(f) for f in files) and (Path(params["folder"]) / AREAS).is_file()


@node(
    type="save_pixel_maps", title="Save Pixel Maps", category="Output",
    inputs=[Input("maps", PIXEL_MAPS)],
    outputs=[Output("saved", TABLE, help="Each image and the files written for it.")],
    params=[
        PathParam(name="folder", default="pixel_maps", target="folder", role="output",
                  help="Where the coloured class maps go (relative: inside the run's output folder)."),
        Bool(name="side_by_side", default=False,
             help="Also write each original beside its classified version (JPEG)."),
    ],
    writes_files=True,
    outputs_exist=_saved_exist,
    revision=1,  # 1: files named as they read (a cached run's under the old names is run again)
)
def save_pixel_maps(ctx: RunContext, *, maps: PixelMaps, folder, side_by_side):
    """Write each class map as a coloured PNG (named like its image) and the area table."""
    import pandas as pd

    root = Path(folder)
    with owned_folder(root, ctx, field="folder") as owned:
        before = {rel for rel, entry in owned.entries.items() if entry.kind != "dir"}
        taken = {AREAS}  # the area table's name, whatever images are called
        rows = []
        for i, (source, rel) in enumerate(zip(maps.images.paths.tolist(), maps.images.relpaths)):
            stem = "/".join(map(safe_file_name, Path(rel).with_suffix("").parts))  # as they read: no \u202e
            row = {"image": source, "classified": str(root / _put(
                owned, f"{stem}.png", lambda tmp, m=maps.maps[i]: shutil.copyfile(m, tmp), taken))}
            if side_by_side:
                try:
                    row["side_by_side"] = str(root / _put(
                        owned, f"{stem}_beside.jpg",
                        _side_by_side(source, maps.maps[i], maps.colours), taken))
                except BadImage as exc:
                    ctx.warn(f"{source}: {exc}; no side-by-side picture")
            rows.append(row)
            ctx.progress(i + 1, len(maps), unit="images")
        taken.discard(AREAS)
        write_beside(ctx, owned, AREAS, lambda tmp: write_table(maps.to_table(), tmp, "csv"),
                             taken)
        for stale in sorted(before - taken):
            owned.remove_if_owned(stale)  # from an earlier run with other images
    return {"saved": pd.DataFrame(rows)}


NODES = [save_pixel_maps]
