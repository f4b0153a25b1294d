"""Writing results out: images into one folder per label, tables as CSV, XLSX or Parquet.

Both nodes write only through :mod:`flowclass.userfiles.owned_folder`: nothing the user owns is
moved, overwritten or deleted, re-running gives the same tree (not duplicates), and an
interrupted export leaves no half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.manifest import MANIFEST_NAME, SKIPPED_NAME
from flowclass.node import Input, Output, node
from flowclass.params import Choice, Path as PathParam
from flowclass.safe_tables import write_csv, write_xlsx
from flowclass.userfiles.owned_folder import JOURNAL, OwnedFolder, copy_of, new_file, owned_folder

from .datatypes import EMBEDDINGS, LABELS, TABLE, Embeddings, Labelling, table_column
from .lib.results.label_folders import folder_names, safe_file_name
from .lib.results.relocated import TABLE_NAMES, relocate_export, relocate_table
from .lib.results.report_names import REPORT_NAMES

if TYPE_CHECKING:  # pandas is imported inside the nodes, so cached runs start fast
    import pandas as pd

TABLE_FORMATS = {"csv": ("csv",), "xlsx": ("xlsx",), "csv+xlsx": ("csv", "xlsx"), "none": ()}


def write_table(table: "pd.DataFrame", path: Path, fmt: str) -> None:
    """Write ``table`` as CSV, XLSX or Parquet; no text cell can run as a formula in a
    spreadsheet (:mod:`flowclass.safe_tables`)."""
    if fmt == "csv":
        write_csv(table, path)
    elif fmt == "xlsx":
        write_xlsx(table, path)
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


def label_folders(owned: OwnedFolder, labels: list[str]) -> dict[str, str]:
    """The folder each label's images go to: its safe name, or ``name (2)``... when a file,
    a link or a table of the export is already at that path, or when it is named as a file a
    run writes into its output folder (which the export folder may be: a shared bundle's
    subfolder ``run.json`` stopped the run as it ended, and every re-run there; one named as a
    node's report, ``duplicates.csv``, left that report unsaved)."""
    bases = folder_names(labels)
    reserved = {name.casefold() for name in (*TABLE_NAMES, JOURNAL, MANIFEST_NAME, SKIPPED_NAME,
                                               *REPORT_NAMES)}
    wanted = {base.casefold() for base in bases.values()}
    chosen: dict[str, str] = {}
    for label in sorted(bases):
        taken = reserved | (wanted - {bases[label].casefold()}) | \
            {name.casefold() for name in chosen.values()}
        chosen[label] = owned.claim_dir(bases[label], taken)
    return chosen


def write_beside(ctx: RunContext, owned: OwnedFolder, name: str, write, taken: set[str]) -> str:
    """Write the file ``name``, or ``name (2)``... (saying so) when ``name`` is the user's."""
    rel = owned.put(name, new_file(write), taken)
    taken.add(rel)
    if rel != name:
        ctx.warn(f"{owned.root / name} is not FlowClass's; wrote {owned.root / rel} instead")
    return rel


def _same_copy(source: str, sha: str, mode: str):
    def same(entry) -> bool:
        if entry.kind == "symlink":
            return mode == "symlink" and entry.target == source
        return entry.sha256 == sha and mode != "symlink"
    return same


@node(
    type="export_folders", title="Export to Folders", category="Output",
    revision=1,  # 1: a label folder named as a file the run writes at the top of --out is numbered
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
    relocate=relocate_export,
)
def export_folders(ctx: RunContext, *, labels: Labelling, folder, mode, table):
    """Copy (or link) each image into <folder>/<label>/, with a table of what went where."""
    root = Path(folder)
    source_root = labels.images.root
    if source_root and _is_inside(root, Path(source_root)):
        raise NodeError(f"the export folder {root} is inside the imported folder {source_root}",
                        field="folder", hint="export somewhere else, or a re-import would "
                        "read the copies too")
    import pandas as pd

    with owned_folder(root, ctx, field="folder") as owned:
        before = {rel for rel, e in owned.entries.items() if e.kind != "dir"}
        dirs = label_folders(owned, labels.labels.tolist())
        taken: set[str] = set()
        exported = []
        paths, hashes = labels.images.paths.tolist(), labels.images.hashes.tolist()
        for i, (source, sha, label) in enumerate(zip(paths, hashes, labels.labels.tolist())):
            ctx.progress(i, len(paths), unit="images")  # every file, exported or not
            if not os.path.isfile(source):
                ctx.warn(f"{source} no longer exists; not exported")
                exported.append(None)
                continue
            try:
                rel = owned.put(f"{dirs[label]}/{safe_file_name(os.path.basename(source))}", copy_of(source, mode),
                                taken, sha256=sha, same=_same_copy(source, sha, mode))
            except OSError as exc:
                if exc.filename != source:
                    raise
                ctx.warn(f"{source}: cannot be read ({exc.strerror or exc}); not exported")
                exported.append(None)
                continue
            taken.add(rel)
            exported.append(str(root / rel))
        ctx.progress(len(paths), len(paths), unit="images")
        keep = np.array([e is not None for e in exported], dtype=bool)
        result = pd.DataFrame({
            "source": np.array(paths, dtype=object)[keep],
            "exported": [e for e in exported if e is not None],
            "folder_label": labels.images.labels[keep].astype(str),
            labels.kind: labels.labels[keep].astype(str),
            labels.score_name: labels.scores[keep],
            **{name: table_column(np.asarray(values)[keep]) for name, values in labels.columns.items()},
        })
        tables = [write_beside(ctx, owned, f"images.{fmt}",
                               lambda tmp, fmt=fmt: write_table(result, tmp, fmt), taken)
                  for fmt in TABLE_FORMATS[table]]
        for stale in sorted(before - taken):
            owned.remove_if_owned(stale)  # from an earlier run with other labels
        for rel in sorted((r for r, e in owned.entries.items() if e.kind == "dir"), reverse=True):
            if not any(t.startswith(rel + "/") for t in taken):
                owned.remove_if_owned(rel)  # only removes it if empty
    ctx.wrote(*result["exported"], *(root / name for name in tables))
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
    relocate=relocate_table,
)
def save_table(ctx: RunContext, *, data: "pd.DataFrame", embeddings: Embeddings | None, path):
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
    fmt = target.suffix.lower().lstrip(".")
    with owned_folder(target.parent, ctx, field="path") as owned:
        try:
            owned.write_file(target.name, lambda tmp: write_table(table, tmp, fmt))
        except FileExistsError as exc:
            raise NodeError(str(exc), field="path", hint="choose another file name") from None
    ctx.wrote(target)
    return {"table": table}


NODES = [export_folders, save_table]
