"""Cleaning a collection: duplicates, likely-wrong labels and outliers, as nodes.

What practitioners ask of a real collection: the same photo saved three times, images in
the wrong folder, images unlike the rest. Each node reads the embeddings (and so the
images and their labels) and gives a value the canvas shows and a table a headless run
writes: ``duplicates.csv``, ``label_issues.csv``, ``outliers.csv``. Nothing in the
user's folders is moved or deleted; a cleaned copy is an export of Find Duplicates'
``kept`` images (one folder per label, one image per duplicate group). The user's
decisions live in files beside the workflow: the kept copy of a group in
``duplicates-keep.csv`` (read here), corrected labels in the label file Label Overrides
reads. The algorithms are in :mod:`nodes.lib.cleaning`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Bool, Float, Int, Path as PathParam
from flowclass.safe_tables import refuse_huge, write_csv

from .cleaning_types import (DUPLICATES, LABEL_ISSUES, OUTLIERS, DuplicateGroups, LabelIssues,
                             OutlierScores)
from .datatypes import EMBEDDINGS, LABELS, Embeddings, Labelling
from .lib.cleaning import duplicates as dup
from .lib.cleaning import label_issues as issues
from .lib.cleaning import outliers as out
from .lib.cleaning.kept_checks import KeptChecks
from .lib.cleaning.kept_copies import DEFAULT_FILE, chosen, read_keep_file
from .lib.cleaning.neighbours import unit_rows
from .lib.images.filestate import sha256_of_file
from .lib.results import report_names


def _keep_file_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    """Changes whenever the kept-copies file's content does."""
    path = params["keep_file"]
    if not path or not Path(path).is_file():
        return "absent"
    refuse_huge(Path(path), "kept-copies file", "keep_file")  # a shared 20 GB one is not hashed first
    return sha256_of_file(path)


def _report(port: str, name: str):
    def reports(source: Any) -> dict[str, Any]:
        value = source.output(port)  # labels are folder names: '=HYPERLINK(...)' stays text
        return {name: lambda path: write_csv(value.to_table(), path)}
    return reports


def _kept_labelling(embeddings: Embeddings, dropped: np.ndarray) -> Labelling:
    keep = np.setdiff1d(np.arange(len(embeddings)), dropped)
    images = embeddings.images.subset(keep)
    return Labelling(images, images.labels.astype(str), np.full(len(keep), np.nan), kind="label",
                     classes=tuple(sorted(set(images.labels.astype(str).tolist()) - {""})))


@node(
    type="find_duplicates", title="Find Duplicates", category="Cleaning",
    inputs=[Input("embeddings", EMBEDDINGS, help="Embeddings of the collection; near copies "
                  "are looked for among embedding neighbours.")],
    outputs=[Output("duplicates", DUPLICATES, help="Each group of copies, exact or near, with "
                    "the image kept of it (duplicates.csv)."),
             Output("kept", LABELS, help="The collection with one image per group: export it "
                    "for a cleaned copy, one folder per label.")],
    params=[
        Bool(name="near", default=True, help="Also find near copies (re-encoded, resized, "
             "slightly cropped, brightened); off: only the same pixels."),
        Float(name="match", default=dup.MATCH, min=0.5, max=1.0, step=0.001, shown_when={"near": (True,)},
              help="How closely two images' small gray thumbnails must match, after "
                   "aligning them, to be near copies (1: identical)."),
        Float(name="detail", default=dup.DETAIL, min=0.0, max=1.0, step=0.005, shown_when={"near": (True,)},
              help="How much fine detail may differ between near copies, laid over each other "
                   "at the smaller one's full size (share of its range of grays; 0: identical). "
                   "Look-alikes that are not copies, such as two scans of one digit, differ more."),
        Float(name="candidates", default=dup.CANDIDATE_SIMILARITY, min=0.0, max=1.0, step=0.05,
              shown_when={"near": (True,)},
              help="How alike two images' embeddings must be (cosine) to be compared at all; "
                   "lower finds more edited copies, slower."),
        Int(name="neighbours", default=dup.CANDIDATE_NEIGHBOURS, min=1, max=100,
            help="How many embedding neighbours of each image are compared with it."),
        PathParam(name="keep_file", default=DEFAULT_FILE, target="file", role="input",
                  extensions=(".csv",), missing_ok=True,
                  help="CSV of the copies chosen to keep (columns sha256 and/or path), beside "
                       "the workflow; the canvas writes it. Otherwise the largest image is kept."),
    ],
    reports=_report("duplicates", report_names.DUPLICATES),
    fingerprint=_keep_file_fingerprint,
    # what these phases count is kept as it is made (kept_checks), so a stopped run resumes
    # there and the canvas says so; the thumbnails compared and aligned in between are kept as
    # they are made too, but those phases count what is left to compare, not what is kept
    keeps_progress=("looking at images", "comparing fine detail"),
)
def find_duplicates(ctx: RunContext, *, embeddings: Embeddings, near, match, detail, candidates, neighbours,
                    keep_file):
    """Exact and near copies grouped, one of each group kept; look-alikes are left apart."""
    images = embeddings.images
    choices, unmatched = chosen(images, read_keep_file(Path(keep_file)))  # none: no rows
    if unmatched:
        ctx.warn(f"{len(unmatched)} row(s) of {keep_file} match no image, e.g. {unmatched[0]}")
    rows = unit_rows(embeddings.vectors) if len(images) > 1 else embeddings.vectors
    kept = KeptChecks(ctx.store_dir("duplicates"))  # a stopped run's comparisons are reused
    try:
        copies, _ = dup.find_copies(
            images.paths.tolist(), images.hashes.tolist(), rows, near=near, match_above=match,
            detail_below=detail, neighbours=neighbours, candidate_similarity=candidates,
            areas=np.asarray(images.widths, np.int64) * np.asarray(images.heights, np.int64), keep_chosen=choices,
            progress=lambda done, total, unit, message: ctx.progress(done, total, unit=unit, message=message),
            kept=kept)
    finally:
        kept.close()
    order = np.lexsort((copies.index, copies.group))
    groups = DuplicateGroups(images, copies.index[order], copies.group[order], copies.kind[order],
                             copies.keep[order])
    ctx.record("duplicates", {"groups": groups.groups, "images": len(groups),
                              "exact": int(np.sum(groups.kind == "exact")),
                              "near": int(np.sum(groups.kind == "near")),
                              "not_kept": int(np.sum(~groups.keep))})
    return {"duplicates": groups, "kept": _kept_labelling(embeddings, groups.dropped())}


def _labelled(embeddings: Embeddings, ctx: RunContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = embeddings.images.labels.astype(str)
    rows = np.flatnonzero(labels != "")
    if len(rows) < len(labels):
        ctx.warn(f"{len(labels) - len(rows)} image(s) have no label and are not checked")
    classes, codes = np.unique(labels[rows], return_inverse=True)
    if len(classes) < 2:
        found = f"only '{classes[0]}'" if len(classes) else "no labelled images"
        raise NodeError(f"checking labels needs at least 2 classes; found {found}",
                        field="embeddings", hint="put each class's images in its own subfolder, "
                        "or give a label file")
    return rows, classes, codes


@node(
    type="find_label_issues", title="Find Label Issues", category="Cleaning",
    inputs=[Input("embeddings", EMBEDDINGS, help="Embeddings of labelled images (labels from "
                  "subfolders or a label file).")],
    outputs=[Output("issues", LABEL_ISSUES, help="Every labelled image, most suspect first: "
                    "its label, the suggested one, a score and whether it is flagged "
                    "(label_issues.csv).")],
    params=[
        Int(name="folds", default=issues.FOLDS, min=2, max=20,
            help="Cross-validation folds: each image is judged by a model that never saw it."),
        Int(name="seed", default=0, min=0, max=2**32 - 1, help="Seed of the folds."),
    ],
    reports=_report("issues", report_names.LABEL_ISSUES),
)
def find_label_issues(ctx: RunContext, *, embeddings: Embeddings, folds, seed):
    """Score every label by how likely it is wrong, suggest the likely one, flag the suspects."""
    rows, classes, codes = _labelled(embeddings, ctx)
    if len(rows) == len(classes):  # each image a class of its own: none to compare it with
        raise NodeError(f"checking labels needs at least 2 images of some class; each of the {len(classes)} "
                        "classes has one", field="embeddings",
                        hint="a label is checked against the other images labelled alike")
    lone = classes[np.bincount(codes, minlength=len(classes)) == 1]
    if len(lone):
        ctx.warn(f"{len(lone)} class(es) have a single image (e.g. '{lone[0]}'): its label is judged by "
                 "the other classes alone, so it is likely flagged; add images of it to check it fairly")
    ctx.progress(0, 1, unit="steps", message="cross-validating")
    features = unit_rows(embeddings.vectors[rows], dimensions=issues.DIMENSIONS)
    found = issues.find_label_issues(features, codes, len(classes), folds, seed)
    order = found.ranking
    result = LabelIssues(embeddings.images.subset(rows[order]), classes[found.suggested[order]],
                         found.score[order], found.flagged[order], tuple(classes.tolist()))
    ctx.progress(1, 1, unit="steps")
    ctx.record("label_issues", {"images": len(result), "flagged": int(result.flagged.sum())})
    return {"issues": result}


@node(
    type="find_outliers", title="Find Outliers", category="Cleaning",
    inputs=[Input("embeddings", EMBEDDINGS)],
    outputs=[Output("outliers", OUTLIERS, help="Every image's outlier score (0 typical, 0.5 at "
                    "the flag threshold) and whether it is flagged (outliers.csv).")],
    params=[
        Int(name="neighbours", default=out.NEIGHBOURS, min=1, max=100,
            help="How many nearest images an image is compared with."),
        Float(name="flag_above", default=out.FLAG_ABOVE, min=0.5, max=20.0, step=0.5,
              help="How far from typical (robust z of the neighbour distance) an image must "
                   "be to be flagged; larger flags fewer."),
    ],
    reports=_report("outliers", report_names.OUTLIERS),
)
def find_outliers(ctx: RunContext, *, embeddings: Embeddings, neighbours, flag_above):
    """Images unlike the rest of the collection, scored and flagged."""
    if len(embeddings) < 3:
        raise NodeError(f"outliers need at least 3 images; got {len(embeddings)}", field="embeddings")
    found = out.find_outliers(out.reduced(embeddings.vectors), neighbours, flag_above)
    ctx.record("outliers", {"images": len(embeddings), "flagged": int(found.flagged.sum())})
    return {"outliers": OutlierScores(embeddings.images, found.score, found.flagged)}


NODES = [find_duplicates, find_label_issues, find_outliers]
VIEWERS = ["nodes.viewers.cleaning", "nodes.viewers.cleaning_duplicates",  # tables, the groups,
           "nodes.viewers.cleaning_labels"]  # the label-issue queue
