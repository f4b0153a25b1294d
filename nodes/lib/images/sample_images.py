"""Built-in sample images, taken from what installed packages ship (no download).

- ``digits``: scikit-learn's 1,797 handwritten digits (8x8 scans), as 64 px PNGs with dark
  ink on white paper, one subfolder per digit, so the labels come from folder names.
- ``faces``: scikit-image's ``lfw_subset``: 100 faces and 100 non-faces (25 px).
- ``photos``: scikit-image's and scikit-learn's sample photographs, unlabelled.
- ``colour_names``: weakly labelled colour images, a folder per colour name, made of real
  photo pixels with blobs of a wrong colour (see ``nodes.lib.pixels.colour_names``).

Each set is written once, into a temporary folder renamed into place, so a half-written
set is never used; the temporary folder of a writer that was killed is removed the next time
a set is written into the store.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from flowclass.fsutil import clear_dead_temps, held_temp_folder

SAMPLES_VERSION = 1


def _write_digits(folder: Path) -> None:
    from PIL import Image  # when a set is written: listing the sets needs no Pillow
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (pixels, target) in enumerate(zip(digits.images, digits.target)):
        ink = (255 - pixels * (255 / 16)).round().astype(np.uint8)
        image = Image.fromarray(ink, mode="L").resize((64, 64), Image.BICUBIC)
        sub = folder / str(target)
        sub.mkdir(exist_ok=True)
        image.save(sub / f"digit_{index:04d}.png")


def _write_faces(folder: Path) -> None:
    from PIL import Image
    from skimage.data import lfw_subset

    images = lfw_subset()  # the first 100 are faces, the last 100 are not
    for index, pixels in enumerate(images):
        label = "face" if index < 100 else "non_face"
        (folder / label).mkdir(exist_ok=True)
        Image.fromarray((pixels * 255).round().astype(np.uint8), mode="L").save(
            folder / label / f"{label}_{index % 100:03d}.png")


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
          "retina", "camera", "moon", "coins", "clock", "page", "text", "brick", "grass", "gravel")


def _write_photos(folder: Path) -> None:
    import skimage.data
    from PIL import Image
    from sklearn.datasets import load_sample_images

    for name in PHOTOS:
        Image.fromarray(getattr(skimage.data, name)()).save(folder / f"{name}.png")
    for path in load_sample_images().filenames:
        shutil.copyfile(path, folder / Path(path).name)


def _write_colour_names(folder: Path) -> None:
    from ..pixels.colour_names import write_weak_set

    write_weak_set(folder)


WRITERS: dict[str, Callable[[Path], None]] = {
    "digits": _write_digits,
    "faces": _write_faces,
    "photos": _write_photos,
    "colour_names": _write_colour_names,
}
DATASETS = tuple(WRITERS)


def write_sample(name: str, target: Path) -> Path:
    """Write sample set ``name`` to the new folder ``target``; refuse an existing one."""
    if name not in WRITERS:
        raise ValueError(f"unknown sample set {name!r}; choose from {', '.join(DATASETS)}")
    target = Path(target)
    _refuse_taken(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with held_temp_folder(target.parent) as tmp:
        WRITERS[name](tmp)
        _refuse_taken(target)  # looked for again: a rename replaces an empty folder made meanwhile
        os.rename(tmp, target)
    return target


def _refuse_taken(target: Path) -> None:
    """FileExistsError when anything is at ``target``: a folder, a file, a link (to a folder
    not there yet, too)."""
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists; FlowClass does not write into it")


def sample_folder(name: str, store: Path) -> Path:
    """The folder holding sample set ``name`` in ``store``, written on first use."""
    folder = store / f"{name}-v{SAMPLES_VERSION}"
    if not folder.is_dir():
        clear_dead_temps(store, folders=True)  # a set whose writing was killed: FlowClass's own store
        try:
            write_sample(name, folder)
        except OSError:  # another process wrote it meanwhile (rename onto a full folder)
            if not folder.is_dir():
                raise
    return folder
