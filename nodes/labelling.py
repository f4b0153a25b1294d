"""Where labels come from besides folder names, and a single image to classify.

Label Overrides applies a label file kept beside the workflow (the canvas writes the
corrections made on a confusion matrix into it; people may also give a whole label
table). Image File makes a one-image set, for "what is this picture?" (seed 003).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.fsutil import file_stamp
from flowclass.node import Input, Output, node
from flowclass.params import Bool, Choice, Path as PathParam
from flowclass.safe_tables import refuse_huge
from flowclass.userfiles.pictures import IMAGE_EXTENSIONS, BadImage, probe

from .datatypes import IMAGES, ImageSet
from .lib.classify.label_overrides import DEFAULT_FILE, apply_labels, read_label_file
from .lib.images.filestate import sha256_of_file
from .lib.images.sample_images import PHOTOS, sample_folder


def _label_file_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    """Changes whenever the label file's content does (small files: hash them)."""
    path = params["file"]
    if not path or not os.path.isfile(path):
        return "absent"
    refuse_huge(Path(path), "label file", "file")  # a shared 20 GB 'label file' is not hashed first
    return sha256_of_file(path)


@node(
    type="label_overrides", title="Label Overrides", category="Supervised",
    inputs=[Input("images", IMAGES)],
    outputs=[Output("images", IMAGES, help="The same images with the file's labels applied.")],
    params=[
        PathParam(name="file", default=DEFAULT_FILE, target="file", role="input",
                  extensions=(".csv",), missing_ok=True,
                  help="CSV of labels (columns sha256 and/or path, and label), relative to the "
                       "workflow's folder. Corrections made in the canvas are saved here. A "
                       "missing file changes nothing."),
        Bool(name="keep_folder_labels", default=True,
             help="Images the file does not list keep their subfolder label; off: only the "
                  "file's labels count (a label table)."),
    ],
    fingerprint=_label_file_fingerprint,
)
def label_overrides(ctx: RunContext, *, images: ImageSet, file, keep_folder_labels):
    """Relabel images from a label file beside the workflow; the images are never moved."""
    table = read_label_file(Path(file))  # no file (or none given): no rows
    relabelled, changed, unmatched, nameless = apply_labels(images, table, keep_folder_labels)
    if unmatched:
        ctx.warn(f"{len(unmatched)} row(s) of {file} match no image, e.g. {unmatched[0]}")
    if nameless:
        ctx.warn(f"{len(nameless)} row(s) of {file} have no sha256 or path, so name no image "
                 f"and are ignored: line {', '.join(map(str, nameless[:5]))}"
                 + (" ..." if len(nameless) > 5 else ""))
    ctx.record("label_overrides", {"file": file, "rows": len(table), "changed": changed})
    return {"images": relabelled}


SAMPLE_IMAGES = PHOTOS


def _image_path(ctx: RunContext, file: str, sample: str) -> Path:
    if file:
        path = Path(file)
        if not path.is_file():
            raise NodeError(f"image file not found: {path}", field="file")
        return path
    return sample_folder("photos", ctx.store_dir("samples")) / f"{sample}.png"


def _image_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    if params["folder"]:
        from .images import fingerprint_folder

        return fingerprint_folder(_folder(params["folder"]), True, IMAGE_EXTENSIONS, ctx.scan_budget)
    path = _image_path(ctx, params["file"], params["sample"])
    return f"{path}:{file_stamp(path)}"


def _folder(folder: str) -> Path:
    if not Path(folder).is_dir():
        raise NodeError(f"folder not found: {folder}", field="folder",
                        hint="pick an existing folder of images, or clear it to use the File field")
    return Path(folder)


def _file_or_folder(params: Mapping[str, Any]):
    if params["file"] and params["folder"]:
        yield "folder", "give a file or a folder, not both"


@node(
    type="image_file", title="Image File", category="Input",
    outputs=[Output("images", IMAGES, help="A set of one image, or of a folder's images.")],
    params=[
        PathParam(name="file", default="", target="file", role="input", optional=True,
                  extensions=tuple(f".{e}" for e in IMAGE_EXTENSIONS), folder_goes_in="folder",
                  help="One image to classify. Empty: a built-in sample photograph."),
        Choice(name="sample", default="astronaut", choices=SAMPLE_IMAGES,
               help="The sample photograph used when no file is given."),
        PathParam(name="folder", default="", target="folder", role="input", optional=True,
                  help="Or a folder: every image in it and its subfolders (then 'file' stays "
                       "empty)."),
    ],
    check=_file_or_folder,
    fingerprint=_image_fingerprint,
    version=2,
    migrations={1: lambda params: {"folder": "", **params}},
)
def image_file(ctx: RunContext, *, file, sample, folder):
    """One image (or a folder of them), e.g. new pictures to ask a trained classifier about."""
    if folder:
        from .images import read_images

        return {"images": read_images(ctx, _folder(folder), recursive=True,
                                      extensions=IMAGE_EXTENSIONS, labels_from="none",
                                      max_per_label=0)["images"]}
    from .images import too_large_to_read

    path = _image_path(ctx, file, sample)
    try:
        if too_large := too_large_to_read(path):
            raise BadImage(too_large)
        width, height = probe(path)
    except BadImage as exc:
        raise NodeError(f"{path} is not a usable image: {exc}", field="file") from None
    images = ImageSet(paths=np.array([str(path)]), labels=np.array([""]),
                      hashes=np.array([sha256_of_file(path)]),
                      widths=np.array([width], dtype=np.int32),
                      heights=np.array([height], dtype=np.int32), root=str(path.parent))
    return {"images": images}


NODES = [label_overrides, image_file]
