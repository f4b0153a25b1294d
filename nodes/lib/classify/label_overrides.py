"""Label files: corrections (and whole label tables) kept beside the workflow, not in folders.

A label file is a CSV with a ``label`` column and a ``sha256`` and/or ``path`` column::

    sha256,path,label
    9f2c...e1,cats/IMG_0042.jpg,dogs
    ,birds/blurred.jpg,

A row names an image by its content hash (``sha256``, which survives renaming and
moving the folder) or, when that is empty, by its ``path`` relative to the imported
folder (or absolute). An empty label takes the image out of training. The canvas writes
rows with both columns; people may write either. The user's images are never touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from flowclass.errors import NodeError
from flowclass.safe_tables import as_written, read_text_table, write_decisions
from flowclass.userfiles.decisions import changing

from ...datatypes import ImageSet

if TYPE_CHECKING:  # pandas is imported where tables are made, so cached runs start fast
    import pandas as pd

COLUMNS = ("sha256", "path", "label")
DEFAULT_FILE = "label-overrides.csv"


def read_label_file(path: Path, field: str = "file") -> "pd.DataFrame":
    """The rows of a label file as text (sha256, path, label, and any other columns).

    A file that does not exist has no rows: the canvas creates it on the first correction.
    """
    table = read_text_table(path, COLUMNS, "label file", field, hint="it must be a CSV file with a header row")
    if "label" not in table.columns or not {"sha256", "path"} & set(table.columns):
        raise NodeError(f"the label file {path} has columns {list(table.columns)}; it needs "
                        "'label' and 'sha256' or 'path'", field=field,
                        hint="e.g. a header line 'path,label', then one image per line")
    return as_written(table, COLUMNS)  # as set_label was given them


class ImageLookup:
    """The images a row of a decisions file names: by ``sha256`` (every byte copy), else by
    ``path`` relative to the imported folder or absolute. Made once per file, so a file of
    100,000 rows over 100,000 images is one pass, not a scan of every image per row."""

    def __init__(self, images: ImageSet):
        self.by_sha: dict[str, list[int]] = {}
        for i, sha in enumerate(images.hashes.tolist()):
            self.by_sha.setdefault(str(sha), []).append(i)
        self.by_path = {os.path.normpath(p): i for i, p in enumerate(images.relpaths)}
        self.by_path.update({os.path.normpath(p): i for i, p in enumerate(images.paths.tolist())})

    def named(self, sha: str, path: str) -> list[int]:
        if sha:
            return self.by_sha.get(sha, [])
        index = self.by_path.get(os.path.normpath(path)) if path else None
        return [] if index is None else [index]


def apply_labels(images: ImageSet, table: "pd.DataFrame",
                 keep_unlisted: bool) -> tuple[ImageSet, int, list[str], list[int]]:
    """Relabel ``images`` by the file's rows; later rows win.

    Returns the relabelled images, how many labels changed, the rows that matched no
    image (as 'sha256 or path' strings), and the line numbers of rows that name no image
    at all (neither sha256 nor path), both for warnings.
    """
    lookup = ImageLookup(images)
    labels = images.labels.astype(object).copy() if keep_unlisted else \
        np.full(len(images), "", dtype=object)
    unmatched: list[str] = []
    nameless: list[int] = []
    for line, (sha, path, label) in enumerate(table[list(COLUMNS)].itertuples(index=False), start=2):
        if not sha and not path:  # line 1 is the header
            nameless.append(line)
            continue
        hits = lookup.named(sha, path)
        if not hits:
            unmatched.append(sha or path)
        labels[hits] = label
    changed = int(np.sum(labels.astype(str) != images.labels))
    return images.with_labels(labels.astype(str)), changed, unmatched, nameless


def set_label(path: Path, sha256: str, relpath: str, label: str, *,
              still: Callable[[], bool] = lambda: True) -> bool:
    """Record one image's label in the file (atomically), replacing its earlier row.

    Other rows and columns stay as they are, so a file people also edit by hand keeps
    their work. The file is locked from reading to writing, so a decision another process
    records meanwhile is kept (:func:`flowclass.userfiles.decisions.changing`). ``still()``
    is asked once the lock is held: False (the canvas's view is behind the file) writes
    nothing and returns False.
    """
    import pandas as pd

    with changing(path, "label file", "file"):
        if not still():
            return False
        table = read_label_file(path)  # none yet: no rows; a folder or pipe there: a NodeError naming it
        same = ((table["sha256"] == sha256) & (sha256 != "")) | ((table["sha256"] == "") & (table["path"] == relpath))
        row = pd.DataFrame([{"sha256": sha256, "path": relpath, "label": label}])
        table = pd.concat([table[~same], row], ignore_index=True)
        write_decisions(table, path)
    return True
