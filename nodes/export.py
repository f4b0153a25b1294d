"""Writing results out: images into one folder per label, tables as CSV, XLSX or Parquet.

Both nodes write only through :mod:`nodes.lib.owned_files`: nothing the user owns is
moved, overwritten or deleted, re-running gives the same tree (not duplicates), and an
interrupted export leaves no half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

import numpy as np

from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Choice, Path as PathParam

from .datatypes import EMBEDDINGS, LABELS, TABLE, Embeddings, Labelling
from .lib.labels import folder_names
from .lib.owned_files import JOURNAL, OwnedFolder

if TYPE_CHECKING:  # pandas is imported inside the nodes, so cached runs start fast
    import pandas as pd

TABLE_FORMATS = {"csv": ("csv",), "xlsx": ("xlsx",), "csv+xlsx": ("csv", "xlsx"), "none": ()}


def write_table(table: "pd.DataFrame", path: Path, fmt: str) -> None:
    if fmt == "csv":
        table.to_csv(path, index=False)
    elif fmt == "xlsx":
        table.to_excel(path, index=False, engine="openpyxl")
    elif fmt == "parquet":
        table.to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown table format {fmt!r}")


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _place(owned: OwnedFolder, rel: str, source: str, sha: str, mode: str, taken: set[str]) -> str:
    """Put one image at ``rel`` or the first free variant of it; returns where it went."""
    path = PurePath(rel)
    k = 1
    while True:
        candidate = rel if k == 1 else str(path.with_name(f"{path.stem} ({k}){path.suffix}"))
        k += 1
        if candidate in taken:
            continue
        target = owned.root / candidate
        if owned.owns(candidate):
            entry = owned.entries[candidate]
            same = (entry.target == source) if entry.kind == "symlink" else (
                entry.sha256 == sha and mode != "symlink")
            if same:
                return candidate  # already there from an earlier run: no work
            owned.remove_if_owned(candidate)
        elif os.path.lexists(target):
            continue  # the user's file: leave it, use another name
        owned.link_new(candidate, source, mode, sha)
        return candidate


@node(
    type="export_folders", title="Export to Folders", category="Output",
    inputs=[Input("labels", LABELS, help="Clusters or predictions.")],
    outputs=[Output("exported", TABLE, help="Source path, exported path, folder_label, cluster or "
                    "prediction, score or confidence (and top1..topK for predictions).")],
    params=[
        PathParam(name="folder", default="exported", target="folder", role="output",
                  help="Where the label folders go (relative: inside the run's output folder)."),
        Choice(name="mode", default="copy", choices=("copy", "hardlink", "symlink"),
               help="Copy the images, or link to them to save space."),
        Choice(name="table", default="csv+xlsx", choices=tuple(TABLE_FORMATS),
               help="Also write a table of what went where (images.csv / images.xlsx)."),
    ],
    writes_files=True,
)
def export_folders(ctx, *, labels: Labelling, folder, mode, table):
    """Copy (or link) each image into <folder>/<label>/, with a table of what went where."""
    root = Path(folder)
    source_root = labels.images.root
    if source_root and _is_inside(root, Path(source_root)):
        raise NodeError(f"the export folder {root} is inside the imported folder {source_root}",
                        field="folder", hint="export somewhere else, or a re-import would "
                        "read the copies too")
    root.mkdir(parents=True, exist_ok=True)
    owned = OwnedFolder(root)
    before = {rel for rel, e in owned.entries.items() if e.kind != "dir"}
    dirs = folder_names(labels.labels.tolist())
    for name in sorted(set(dirs.values())):
        owned.make_dirs(name)
    taken: set[str] = set()
    exported = []
    paths, hashes = labels.images.paths.tolist(), labels.images.hashes.tolist()
    for i, (source, sha, label) in enumerate(zip(paths, hashes, labels.labels.tolist())):
        if not os.path.isfile(source):
            ctx.warn(f"{source} no longer exists; not exported")
            exported.append(None)
            continue
        rel = _place(owned, f"{dirs[label]}/{os.path.basename(source)}", source, sha, mode, taken)
        taken.add(rel)
        exported.append(str(root / rel))
        ctx.progress(i + 1, len(paths), unit="images")
    import pandas as pd

    keep = np.array([e is not None for e in exported], dtype=bool)
    result = pd.DataFrame({
        "source": np.array(paths, dtype=object)[keep],
        "exported": [e for e in exported if e is not None],
        "folder_label": labels.images.labels[keep].astype(str),
        labels.kind: labels.labels[keep].astype(str),
        labels.score_name: labels.scores[keep],
        **{name: np.asarray(values)[keep] for name, values in labels.columns.items()},
    })
    tables = {f"images.{fmt}" for fmt in TABLE_FORMATS[table]}
    for stale in sorted(before - taken - tables):
        owned.remove_if_owned(stale)  # from an earlier run with other labels
    for rel in sorted((r for r, e in owned.entries.items() if e.kind == "dir"), reverse=True):
        if not any(t.startswith(rel + "/") for t in taken):
            owned.remove_if_owned(rel)  # only removes it if empty
    for name in sorted(tables):
        try:
            owned.write_file(name, lambda tmp, fmt=name.split(".")[1]: write_table(result, tmp, fmt))
        except FileExistsError as exc:
            raise NodeError(str(exc), field="folder") from None
    owned.compact()
    ctx.wrote(*result["exported"], *(root / name for name in sorted(tables)))
    return {"exported": result}


@node(
    type="save_table", title="Save Table", category="Output",
    inputs=[Input("data", TABLE, help="Images, clusters, predictions or any table."),
            Input("embeddings", EMBEDDINGS, optional=True,
                  help="Connect to add the embedding columns (e0, e1, ...) per image.")],
    outputs=[Output("table", TABLE)],
    params=[
        PathParam(name="path", default="table.csv", target="file", role="output",
                  extensions=(".csv", ".xlsx", ".parquet"),
                  help="The file to write; its extension picks the format."),
    ],
    writes_files=True,
)
def save_table(ctx, *, data: "pd.DataFrame", embeddings: Embeddings | None, path):
    """Save per-image rows (path, label, cluster or prediction...) as CSV, XLSX or Parquet."""
    table = data.copy()
    if embeddings is not None:
        if "path" not in table.columns:
            raise NodeError("the data has no 'path' column to match embeddings to", field="embeddings")
        vectors = embeddings.to_table().drop(columns=["relpath", "folder_label", "width", "height"],
                                             errors="ignore")
        table = table.merge(vectors, on="path", how="left")
    target = Path(path)
    if target.name == JOURNAL:
        raise NodeError("that file name is reserved", field="path")
    owned = OwnedFolder(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    fmt = target.suffix.lower().lstrip(".")
    try:
        owned.write_file(target.name, lambda tmp: write_table(table, tmp, fmt))
    except FileExistsError as exc:
        raise NodeError(str(exc), field="path", hint="choose another file name") from None
    owned.compact()
    ctx.wrote(target)
    return {"table": table}


NODES = [export_folders, save_table]
