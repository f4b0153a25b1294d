"""Which copy of each duplicate group to keep, as the user chose: a CSV beside the workflow.

A row names an image, by content hash (``sha256``) or by ``path`` relative to the
imported folder (or absolute), as label files do (:mod:`nodes.lib.classify.label_overrides`); the
image it names is kept in its group. When several rows name images of one group, the
last row wins, so choosing again only appends or replaces. The user's images are never
touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from flowclass.errors import NodeError
from flowclass.safe_tables import as_written, read_text_table, write_decisions
from flowclass.userfiles.decisions import changing

from ...datatypes import ImageSet
from ..classify.label_overrides import ImageLookup

if TYPE_CHECKING:  # pandas is imported where tables are made, so cached runs start fast
    import pandas as pd

COLUMNS = ("sha256", "path")
DEFAULT_FILE = "duplicates-keep.csv"


def read_keep_file(path: Path, field: str = "keep_file") -> "pd.DataFrame":
    table = read_text_table(path, COLUMNS, "kept-copies file", field,
                            hint="it must be a CSV file with a header row 'sha256,path'")
    if not set(COLUMNS) & set(table.columns):
        raise NodeError(f"the kept-copies file {path} has columns {list(table.columns)}; it "
                        "needs 'sha256' or 'path'", field=field)
    return as_written(table, COLUMNS)  # as set_kept was given them


def chosen(images: ImageSet, table: "pd.DataFrame") -> tuple[dict[int, int], list[str]]:
    """Image index -> the row (later wins) that chose it; and the rows that match no image."""
    lookup = ImageLookup(images)
    out: dict[int, int] = {}
    unmatched: list[str] = []
    for row, (sha, path) in enumerate(table[list(COLUMNS)].itertuples(index=False)):
        hits = lookup.named(sha, path)
        if not hits and (sha or path):
            unmatched.append(sha or path)
        for i in hits:
            out[int(i)] = row
    return out, unmatched


def set_kept(path: Path, sha256: str, relpath: str, others: list[tuple[str, str]], *,
             still: Callable[[], bool] = lambda: True) -> bool:
    """Record that this image is the one kept of its group; rows of the group's ``others``
    (sha256, relpath) are removed. Other rows stay as they are. Locked and asking
    ``still()`` first, as :func:`nodes.lib.classify.label_overrides.set_label` does."""
    import pandas as pd

    with changing(path, "kept-copies file", "keep_file"):
        if not still():
            return False
        table = read_keep_file(path)
        drop = {(sha256, relpath), *others}
        same = table.apply(lambda r: any((r["sha256"] and r["sha256"] == s) or
                                         (not r["sha256"] and r["path"] == p) for s, p in drop), axis=1) \
            if len(table) else pd.Series([], dtype=bool)
        table = pd.concat([table[~same.astype(bool)] if len(table) else table,
                           pd.DataFrame([{"sha256": sha256, "path": relpath}])], ignore_index=True)
        write_decisions(table, path)
    return True
