"""Label masks: PNG files where each colour is a class, matched to images by file name.

A mask may be painted in any paint program (with anti-aliasing off, so every pixel has
one of the legend's colours). Transparent pixels, and colours the legend calls
``ignore``, are unlabelled. ``coffee.png`` labels the image ``coffee.jpg`` (any image
whose file name has the same stem), so a folder of masks can label a folder of images.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

from flowclass.fsutil import file_stamp, is_text
from flowclass.userfiles.pictures import describe_error, open_picture

from .legend import Legend, hex_colour

UNLABELLED = -1
_UNKNOWN = -2
MASK_EXTENSIONS = (".png",)


class MaskError(ValueError):
    """A mask that cannot be used; the message names the file and what is wrong."""


def mask_files(path: str | os.PathLike[str], may_read: Callable[[str], bool] | None = None) -> dict[str, Path]:
    """``{image stem: mask file}`` for a mask file, or for every PNG in a folder; with
    ``may_read`` (the canvas's roots) not a link of the folder that leads outside them."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in MASK_EXTENSIONS and not p.name.startswith(".")
                       and is_text(p.name)  # as Import, which passes over an image of such a name
                       and (may_read is None or not p.is_symlink() or may_read(str(p))))
    else:
        raise MaskError(f"no mask file or folder at {path}")
    return {p.stem: p for p in files}


def masks_fingerprint(path: str, may_read: Callable[[str], bool] | None = None) -> str:
    """Changes when a mask is added, removed or edited (size and mtime of each file)."""
    digest = hashlib.sha256(f"{path}\n".encode())
    try:
        files = mask_files(path, may_read)
    except MaskError:
        return "missing:" + path
    for stem, file in sorted(files.items()):
        stamp = file_stamp(file)
        digest.update(f"{stem}\t{stamp.size}\t{stamp.mtime_ns}\n".encode())
    return digest.hexdigest()


def colour_codes(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's colour as one 24-bit integer, r << 16 | g << 8 | b."""
    return (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]


def read_mask(path: str | os.PathLike[str], legend: Legend,
              size: tuple[int, int] | None = None) -> np.ndarray:
    """Class index per pixel (int16), ``UNLABELLED`` (-1) where nothing is labelled.

    ``size`` (width, height) is the image the mask labels; a mask of another size is
    refused. So is any colour missing from the legend, named with how many pixels have it.
    """
    try:
        with open_picture(path) as image:
            width, height = image.size  # compared before decoding: a 20 KB mask may be 169 megapixels
            if size is not None and (width, height) != tuple(size):
                raise MaskError(f"mask {path} is {width}x{height} pixels but its image is "
                                f"{size[0]}x{size[1]}; paint the mask on the image itself")
            rgba = np.asarray(image.convert("RGBA"))
    except MaskError:
        raise
    except Exception as exc:  # PIL raises many kinds of errors for broken files
        raise MaskError(f"mask {path}: {describe_error(exc)}") from None
    lookup = np.full(1 << 24, _UNKNOWN, dtype=np.int16)
    for rgb, index in legend.colour_class.items():
        lookup[(rgb[0] << 16) | (rgb[1] << 8) | rgb[2]] = index
    codes = colour_codes(rgba)
    labels = lookup[codes]
    labels[rgba[..., 3] == 0] = UNLABELLED
    unknown = labels == _UNKNOWN
    if unknown.any():
        found, counts = np.unique(codes[unknown], return_counts=True)
        order = np.argsort(-counts)[:5]
        named = ", ".join(f"{hex_colour(((c >> 16) & 255, (c >> 8) & 255, c & 255))} "
                          f"({n} pixels)" for c, n in zip(found[order], counts[order]))
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise MaskError(f"mask {path} has colours that are not in the legend: {named}{more}. "
                        "Add them to the legend (as a class, or as 'ignore'), or repaint "
                        "with anti-aliasing off")
    return labels

