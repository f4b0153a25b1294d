"""Training pixels for pixel classifiers: from painted masks, or from a folder per class.

*Pixel Samples from Mask* is Clashifier's (seed 000) "draw on an example image": a PNG
painted over an image, each colour a class. *Pixel Samples from Folders* is seed 001's
weak labelling: every pixel of an image in folder ``red/`` is called red, then pixels
unlike their class are dropped (see :mod:`nodes.lib.pixels.sampling`). Both draw a
seeded sample of at most ``max_per_class`` pixels per class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Bool, Choice, Float, Int, Path as PathParam, Text
from flowclass.userfiles.pictures import BadImage, open_rgb

from .datatypes import IMAGES, TABLE, ImageSet
from .lib.pixels.legend import LegendError, default_colour, parse_legend
from .lib.pixels.masks import MaskError, mask_files, masks_fingerprint, read_mask
from .lib.pixels.sampling import capped, main_colours, spread
from .pixel_datatypes import PIXEL_SAMPLES, PixelSamples

DEFAULT_LEGEND = "water=#1f77b4, land=#2ca02c"
DENOISE = {"denoise": ("main_colours",)}
MAX_PER_CLASS = Int(name="max_per_class", default=5000, min=10, max=1_000_000,
                    help="Use at most this many pixels of each class (a random sample).")
SEED = Int(name="seed", default=0, min=0, max=2**31 - 1,
           help="Seed of the random sample: the same seed gives the same pixels.")
OUTPUTS = [Output("samples", PIXEL_SAMPLES, help="The sampled pixels with their class."),
           Output("summary", TABLE, help="Pixels found and used per class.")]


def load_array(path: str, field: str) -> np.ndarray:
    try:
        return np.asarray(open_rgb(path))
    except BadImage as exc:
        raise NodeError(f"cannot read image {path}: {exc}", field=field) from None


def legend_problems(params: Mapping[str, Any], field: str = "legend") -> Iterable[tuple[str, str]]:
    try:
        parse_legend(params[field])
    except LegendError as exc:
        yield field, str(exc)


def pair_masks(ctx: RunContext, images: ImageSet, masks: str, *,
               required: bool = True) -> list[tuple[int, Path]]:
    """(image index, mask file) for each mask, matched by file stem; unmatched masks warn.

    Without ``required``, no mask at all is not an error (labels not drawn yet): no pairs.
    """
    if not masks:
        if not required:
            return []
        raise NodeError("no mask given", field="masks", hint="choose a mask PNG or a folder of them")
    try:
        files = mask_files(masks, ctx.may_read)
        outside = sorted(set(mask_files(masks)) - set(files)) if ctx.may_read is not None else []
    except MaskError as exc:
        raise NodeError(str(exc), field="masks") from None
    if outside:
        ctx.warn(f"{len(outside)} mask(s) in {masks} are links to files outside the folders this canvas "
                 f"may read, not used: {', '.join(outside[:5])}")
    by_stem: dict[str, list[int]] = {}
    for i, path in enumerate(images.paths.tolist()):
        by_stem.setdefault(Path(path).stem, []).append(i)
    pairs = []
    for stem, file in sorted(files.items()):
        found = by_stem.get(stem, [])
        if len(found) > 1:
            raise NodeError(f"mask {file.name} could label {len(found)} images: "
                            + ", ".join(images.paths[found].tolist()), field="masks",
                            hint="give the images distinct file names")
        if not found:
            ctx.warn(f"mask {file} matches no input image (none is called '{stem}.*'); not used")
            continue
        pairs.append((found[0], file))
    if not pairs:
        raise NodeError(f"no mask in {masks} matches an input image", field="masks",
                        hint="a mask is named like its image: coffee.png labels coffee.jpg")
    return pairs


def _summary(classes, colours, found, samples: PixelSamples, **extra):
    import pandas as pd

    table = pd.DataFrame({"class": list(classes), "colour": list(colours), "pixels": found, **extra})
    table["samples"] = list(samples.counts().values())
    return table


# Named here because the Draw labels viewer reads the legend and sets the masks it saves.
MASKS = PathParam(name="masks", default="", target="any", role="input", optional=True,
                  help="A mask PNG, or a folder of them: coffee.png labels the image coffee.jpg. "
                       "Each colour is a class; transparent pixels are unlabelled.")
LEGEND = Text(name="legend", default=DEFAULT_LEGEND,
              help="Which mask colour is which class: 'water=#1f77b4, trees=#2ca02c'. The name "
                   "'ignore' marks a colour as unlabelled.")


def masks_param_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    """Changes whenever a mask file named by the 'masks' parameter does."""
    return masks_fingerprint(params["masks"], ctx.may_read)


@node(
    type="pixel_samples_mask", title="Pixel Samples from Mask", category="Pixels",
    inputs=[Input("images", IMAGES, help="The images the masks label (matched by file name).")],
    outputs=OUTPUTS,
    params=[
        MASKS,
        LEGEND,
        MAX_PER_CLASS,
        Bool(name="balance", default=False,
             help="Take as many pixels of each class as of the least painted one."),
        SEED,
    ],
    check=legend_problems,
    fingerprint=masks_param_fingerprint,
)
def pixel_samples_mask(ctx: RunContext, *, images: ImageSet, masks, legend, max_per_class, balance, seed):
    """Training pixels from a mask painted over an image: each colour is a class."""
    parsed = parse_legend(legend)
    n_classes = len(parsed.classes)
    rng = np.random.default_rng(seed)
    pairs = pair_masks(ctx, images, masks, required=False)
    if not pairs:
        ctx.warn("no labels yet: paint some in this node's 'Draw labels' view, or choose a mask "
                 "PNG (or a folder of them) painted in any paint program")
    # Per image and class: how many pixels are labelled, and a random subset of them.
    counts = np.zeros((len(pairs), n_classes), dtype=np.int64)
    subsets: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for n, (i, file) in enumerate(pairs):
        image = load_array(images.paths[i], "images")
        try:
            labels = read_mask(file, parsed, size=(image.shape[1], image.shape[0])).ravel()
        except MaskError as exc:
            raise NodeError(str(exc), field="masks") from None
        row = []
        for k in range(n_classes):
            where = np.flatnonzero(labels == k)
            counts[n, k] = len(where)
            pick = np.sort(rng.choice(where, min(len(where), max_per_class), replace=False))
            row.append((pick, image.reshape(-1, 3)[pick]))
        subsets.append(row)
        ctx.progress(n + 1, len(pairs), unit="masks")
    totals = counts.sum(axis=0)
    for name, total in zip(parsed.classes, totals):
        if pairs and not total:
            ctx.warn(f"class '{name}' is in the legend but no mask has any of its pixels")
    take = np.minimum(totals, max_per_class)
    if balance and take.any():
        take = np.minimum(take, take[take > 0].min())
    parts = []
    for k in np.flatnonzero(take):
        for n, count in enumerate(spread(counts[:, k], int(take[k]), rng)):
            pick, rgb = subsets[n][k]
            chosen = np.sort(rng.choice(len(pick), count, replace=False))
            width = int(images.widths[pairs[n][0]])
            parts.append((np.full(count, k), rgb[chosen], np.full(count, n),
                          pick[chosen] // width, pick[chosen] % width))
    samples = _assemble(parsed.classes, parsed.class_colours(), parts,
                        np.array([str(images.paths[i]) for i, _ in pairs], dtype=str), "mask")
    ctx.record("samples_per_class", samples.counts())
    return {"samples": samples,
            "summary": _summary(parsed.classes, parsed.class_colours(), totals, samples)}


def _assemble(classes, colours, parts, paths, source: str) -> PixelSamples:
    columns = list(zip(*parts)) if parts else [[np.zeros(0)]] * 5
    labels, rgb, image, rows, cols = (np.concatenate(c) for c in columns)
    return PixelSamples(tuple(classes), tuple(colours), labels.astype(np.int16),
                        rgb.reshape(-1, 3).astype(np.uint8), image.astype(np.int32),
                        rows.astype(np.int32), cols.astype(np.int32), paths, source)


@node(
    type="pixel_samples_folders", title="Pixel Samples from Folders", category="Pixels",
    inputs=[Input("images", IMAGES, help="Images in one folder per class (red/, blue/...): "
                  "every pixel is taken to be of its folder's class.")],
    outputs=OUTPUTS,
    params=[
        Int(name="pixels_per_image", default=2000, min=10, max=1_000_000,
            help="Random pixels read from each image."),
        Choice(name="denoise", default="main_colours", choices=("main_colours", "none"),
               choice_titles={"main_colours": "Keep each class's main colours",
                              "none": "Keep every pixel"},
               help="Drop pixels unlike their class: group each class's pixels into colours "
                    "(k-means in CIELAB) and drop the groups that hold few of its pixels."),
        Int(name="clusters", default=5, min=2, max=12, shown_when=DENOISE,
            help="Colour groups per class."),
        Float(name="min_share", default=0.2, min=0.01, max=1.0, step=0.05, shown_when=DENOISE,
              help="Drop a colour group holding less than this share of its class's pixels."),
        MAX_PER_CLASS,
        Bool(name="balance", default=True,
             help="Take as many pixels of each class as of the smallest one."),
        SEED,
    ],
)
def pixel_samples_folders(ctx: RunContext, *, images: ImageSet, pixels_per_image, denoise, clusters,
                          min_share, max_per_class, balance, seed):
    """Training pixels from weakly labelled images (a folder per class), denoised and balanced."""
    labelled = np.flatnonzero(images.labels != "")
    if len(labelled) < len(images):
        ctx.warn(f"{len(images) - len(labelled)} image(s) outside a class folder are not used")
    classes = tuple(sorted(set(images.labels[labelled].tolist())))
    if len(classes) < 2:
        raise NodeError(f"found {len(classes)} class folder(s); at least two are needed",
                        field="images", hint="put the images in one subfolder per class "
                        "(red/, blue/...) and import the parent folder")
    rng = np.random.default_rng(seed)
    parts, paths = [], []
    for n, i in enumerate(labelled):
        try:
            image = np.asarray(open_rgb(images.paths[i]))
        except BadImage as exc:
            ctx.warn(f"{images.paths[i]} skipped: {exc}")
            ctx.skip([(images.paths[i], str(exc))])
            continue
        height, width = image.shape[:2]
        pick = np.sort(rng.choice(height * width, min(height * width, pixels_per_image),
                                  replace=False))
        parts.append((np.full(len(pick), classes.index(images.labels[i])),
                      image.reshape(-1, 3)[pick], np.full(len(pick), len(paths)),
                      pick // width, pick % width))
        paths.append(str(images.paths[i]))
        ctx.progress(n + 1, len(labelled), unit="images")
    if not parts:
        raise NodeError("none of the class images could be read", field="images")
    colours = tuple(default_colour(name, k) for k, name in enumerate(classes))
    pooled = _assemble(classes, colours, parts, np.array(paths, dtype=str), "folders")
    keep = np.ones(len(pooled), dtype=bool)
    if denoise == "main_colours":
        for k in range(len(classes)):
            members = np.flatnonzero(pooled.labels == k)
            keep[members] = main_colours(pooled.rgb[members], clusters, min_share, seed + k)
    kept = np.flatnonzero(keep)
    chosen = kept[capped(pooled.labels[kept], len(classes), max_per_class, balance, rng)]
    samples = PixelSamples(classes, colours, pooled.labels[chosen], pooled.rgb[chosen],
                           pooled.image[chosen], pooled.rows[chosen], pooled.cols[chosen],
                           pooled.paths, "folders")
    found = np.bincount(pooled.labels, minlength=len(classes))
    denoised = np.bincount(pooled.labels[kept], minlength=len(classes))
    ctx.record("kept_after_denoising", dict(zip(classes, denoised.tolist())))
    return {"samples": samples,
            "summary": _summary(classes, colours, found, samples, after_denoising=denoised)}


NODES = [pixel_samples_mask, pixel_samples_folders]
VIEWERS = ["nodes.viewers.pixel_labels"]  # Draw labels
