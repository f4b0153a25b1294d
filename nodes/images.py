"""Getting images in: a folder of the user's, or a built-in sample set.

Subfolder names become class labels, as in Orange's Import Images. Every file is checked
once (and remembered by path, size and mtime); empty, corrupt, truncated and non-image
files are skipped and listed with the reason on the ``skipped`` output, never a crash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from flowclass.context import RunContext
from flowclass.cores import available_cores
from flowclass.errors import NodeError, ParamValueError
from flowclass.fsutil import NOT_REGULAR, NOT_UTF8, file_stamp, is_regular_file, is_text, shown_name
from flowclass.node import Output, node
from flowclass.params import Bool, Choice, Int, List, Path as PathParam
from flowclass.reads import Reads, stamp_of
from flowclass.scanning import ScanBudget, walk
from flowclass.userfiles.journal import JOURNAL, JournalError
from flowclass.userfiles.owned_folder import OwnedFolder
from flowclass.userfiles.pictures import IMAGE_EXTENSIONS, BadImage, probe

from .datatypes import IMAGES, TABLE, ImageSet
from .lib.images.filestate import FileState, FileStateStore, sha256_of_file
from .lib.images.sample_images import DATASETS, sample_folder

PROBE_VERSION = 2  # 2: truncated JPEGs and other formats are caught at import
SKIPPED_COLUMNS = ["path", "reason"]
WRITTEN_BY_FLOWCLASS = "written by FlowClass (an output of an earlier run, listed in its journal there)"
HIDDEN_FOLDER = "hidden folder (its name starts with '.'): not read; rename it to import its images"
LINK_OUTSIDE = "a link to a file outside the folders this canvas may read: not read"


def skipped_table(rows: list[tuple[str, str]], ctx: RunContext | None = None) -> Any:
    """The 'skipped' output: one row per file passed over, with the reason (also declared to
    ``ctx``, so the run lists them in skipped.csv)."""
    import pandas as pd  # imported here: a fully cached run never needs pandas

    if ctx is not None:
        ctx.skip(rows)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SKIPPED_COLUMNS})
    return pd.DataFrame(rows, columns=SKIPPED_COLUMNS)


EXTENSIONS = List(name="extensions", default=list(IMAGE_EXTENSIONS), item=r"[a-z0-9]+",
                  item_title="file extension", min_items=1, lower=True, strip=".",
                  choices=IMAGE_EXTENSIONS,  # image formats only: never a shared .py or .pth
                  help="Which image formats to read, by file extension, e.g. jpg, png.")


def _extensions_as_list(params: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the extensions as text ("jpg, png"); version 2 as a list."""
    text = params.get("extensions")
    if isinstance(text, str):
        items = EXTENSIONS.split(text)
        try:
            params["extensions"] = EXTENSIONS.validate(items)
        except ParamValueError:  # kept as typed: validation names the bad item
            params["extensions"] = items
    return params


class EarlierOutputs:
    """Files FlowClass wrote below an imported folder (a run's outputs kept inside it): its
    journal there lists them, and they are not the user's images."""

    def __init__(self) -> None:
        self.folders: list[tuple[str, OwnedFolder]] = []

    def look_in(self, folder: str, names: list[str]) -> None:
        if JOURNAL in names:
            try:
                self.folders.append((folder, OwnedFolder(Path(folder), warn=lambda message: None)))
            except JournalError:  # not a journal FlowClass can read: what is there counts as the user's
                pass

    def made(self, path: str) -> bool:
        return any(path.startswith(folder + os.sep)
                   and owned.owns(os.path.relpath(path, folder).replace(os.sep, "/"))
                   for folder, owned in self.folders)


def scan(root: Path, recursive: bool, extensions: tuple[str, ...],
         budget: ScanBudget | None = None,
         may_read: Callable[[str], bool] | None = None,
         reads: Reads | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Relative paths of candidate images, and files passed over with the reason, sorted.
    A status check's ``budget`` stops the walk of a folder too large to look at meanwhile.
    ``may_read`` (the canvas's roots, see RunContext) refuses a link that leads outside them;
    links to folders are never followed. ``reads`` is told each folder listed (and that
    it cannot tell all once a journal of earlier outputs has a say).

    Hidden files (names starting with '.') are ignored: they are system or tool files, and
    FlowClass's own bookkeeping files in export folders are hidden too. Hidden folders are
    not read either, but each is listed (a label folder named '.x' is the user's mistake).
    """
    found: list[str] = []
    passed: list[tuple[str, str]] = []

    def unreadable(error: OSError) -> None:
        passed.append((shown_name(str(error.filename)), f"cannot read folder: {error.strerror}"))

    outputs = EarlierOutputs()
    for dirpath, dirnames, filenames in walk(root, onerror=unreadable, budget=budget):
        if reads is not None:
            reads.listed(dirpath, dirnames, filenames)
        if dirpath != str(root):
            outputs.look_in(dirpath, filenames)
            if outputs.folders and reads is not None:  # its journal's entries had a say
                reads.cannot_tell()
        if recursive:
            passed.extend((shown_name(os.path.join(dirpath, d)), HIDDEN_FOLDER if d.startswith(".") else NOT_UTF8)
                          for d in dirnames if d.startswith(".") or not is_text(d))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and is_text(d)) if recursive else []
        folder = os.path.relpath(dirpath, root)  # once a folder: relpath is slow, a file a time
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            rel = name if folder == os.curdir else os.path.join(folder, name)
            ext = os.path.splitext(name)[1].lstrip(".").lower()
            if not is_text(name):
                passed.append((shown_name(path), NOT_UTF8))
            elif ext in extensions and may_read is not None and os.path.islink(path) and not may_read(path):
                passed.append((path, LINK_OUTSIDE))
            elif ext in extensions and outputs.made(path):
                passed.append((path, WRITTEN_BY_FLOWCLASS))
            elif ext in extensions:
                found.append(rel)
            else:
                passed.append((path, f"extension '.{ext}' is not in the filter" if ext
                               else "no file extension"))
    return sorted(found), sorted(passed)


def _root(ctx: RunContext, folder: str, sample: str) -> Path:
    if folder:
        root = Path(folder)
        if not root.is_dir():
            raise NodeError(f"folder not found: {root}", field="folder",
                            hint="pick an existing folder of images")
        return root
    if sample == "none":
        raise NodeError("no folder given", field="folder",
                        hint="choose a folder of images, or a sample set")
    return sample_folder(sample, ctx.store_dir("samples"))


def fingerprint_folder(root: Path, recursive: bool, extensions: tuple[str, ...],
                       budget: ScanBudget | None = None,
                       may_read: Callable[[str], bool] | None = None,
                       reads: Reads | None = None) -> str:
    """Changes when any candidate file is added, removed, resized or touched (and with
    ``may_read``, so the canvas never reuses a result that read a link it refuses).
    ``reads`` is told every folder listed and file stamped, and that this was all unless a
    journal of earlier outputs or ``may_read`` had a say (flowclass/reads.py)."""
    files, passed = scan(root, recursive, extensions, budget, may_read, reads)
    digest = hashlib.sha256(f"{root}\n".encode())
    for rel in files:
        path = os.path.join(root, rel)
        stamp = stamp_of(path)
        if reads is not None:
            reads.stamped(path, stamp)
        size, mtime = stamp or (-1, -1)
        digest.update(f"{rel}\t{size}\t{mtime}\n".encode())
    digest.update(f"passed:{len(passed)}".encode())
    if reads is not None:
        if may_read is not None:
            reads.cannot_tell()
        reads.all_told()
    return digest.hexdigest()


def _probe_file(path: str, store: FileStateStore) -> FileState:
    try:
        size, mtime = file_stamp(path)
    except OSError as exc:
        return FileState("", 0, 0, f"cannot read file: {exc.strerror}")
    known = store.get(path, size, mtime, PROBE_VERSION)
    if known is not None:
        return known
    state = _read_and_probe(path)
    store.put(path, size, mtime, PROBE_VERSION, state)
    return state


# The largest picture Pillow decodes (179 million pixels, at most 8 bytes each uncompressed) takes
# some 1.4 GB; a microscope's TIFF stack holds more frames (the first is read). A stranger's
# sparse 'photo.jpg' of a terabyte (no disk used) was hashed a megabyte at a time, for hours.
MAX_IMAGE_BYTES = 16 * 2**30


def too_large_to_read(path: str | os.PathLike[str]) -> str:
    """Why the file is not hashed nor read (larger than MAX_IMAGE_BYTES), or ""."""
    size = os.path.getsize(path)
    if size <= MAX_IMAGE_BYTES:
        return ""
    return (f"a file of {size / 2**30:,.0f} GB, larger than any picture FlowClass decodes "
            f"(at most {MAX_IMAGE_BYTES // 2**30} GB); not read")


def _read_and_probe(path: str) -> FileState:
    """Content hash and size of one file, or why it is no usable image. The file is hashed
    a chunk at a time and probed from its header, so memory does not grow with its size.
    A pipe or a device named like an image is not opened: the run would wait on the pipe for
    ever, or read /dev/zero for ever."""
    if not is_regular_file(path) and os.path.exists(path):
        return FileState("", 0, 0, NOT_REGULAR)
    try:
        if too_large := too_large_to_read(path):
            return FileState("", 0, 0, too_large)
        sha = sha256_of_file(path)
    except OSError as exc:
        return FileState("", 0, 0, f"cannot read file: {exc.strerror}")
    try:
        width, height = probe(path)
        return FileState(sha, width, height, "")
    except BadImage as exc:
        return FileState(sha, 0, 0, str(exc))


CLUSTER_TASK_FILES = 256  # files per cluster job of probing


def probe_job(paths: list[str]) -> list[FileState]:
    """A cluster job: read and probe a batch of files on a worker."""
    return [_read_and_probe(path) for path in paths]


def _probe_on_cluster(ctx: RunContext, paths: list[str], store: FileStateStore) -> list[FileState]:
    """The files' states: known ones from the client's store, the others probed by the
    cluster's workers (which read the files at the same paths) and remembered job by job as
    they come back, so a cancelled or killed run keeps what its finished jobs probed."""
    states: list[FileState | None] = [None] * len(paths)
    todo: list[tuple[int, str, int, int]] = []
    for i, path in enumerate(paths):
        try:
            size, mtime = file_stamp(path)
        except OSError as exc:
            states[i] = FileState("", 0, 0, f"cannot read file: {exc.strerror}")
            continue
        states[i] = store.get(path, size, mtime, PROBE_VERSION)
        if states[i] is None:
            todo.append((i, path, size, mtime))
    jobs = [[t[1] for t in todo[start:start + CLUSTER_TASK_FILES]]
            for start in range(0, len(todo), CLUSTER_TASK_FILES)]
    done = [len(paths) - len(todo)]

    def on_done(index: int, result: list[FileState]) -> None:
        for (i, path, size, mtime), state in zip(todo[index * CLUSTER_TASK_FILES:], result):
            store.put(path, size, mtime, PROBE_VERSION, state)
            states[i] = state
        done[0] += len(result)
        ctx.progress(done[0], len(paths), unit="files", message="on the cluster")

    ctx.map(probe_job, jobs, on_done=on_done)
    return states  # type: ignore[return-value]


def read_images(ctx: RunContext, root: Path, *, recursive: bool, extensions: tuple[str, ...],
                labels_from: str, max_per_label: int) -> dict[str, Any]:
    """The shared body of Import Images and Sample Images."""
    files, passed = scan(root, recursive, extensions, may_read=ctx.may_read)
    store = FileStateStore(ctx.store_dir("files"))
    paths = [os.path.join(root, rel) for rel in files]
    states: list[FileState] = []
    try:
        if ctx.remote:
            states = _probe_on_cluster(ctx, paths, store)
        else:
            from concurrent.futures import ThreadPoolExecutor  # imports logging: not for a re-run

            with ThreadPoolExecutor(max_workers=min(8, 2 * available_cores())) as pool:
                for i, state in enumerate(pool.map(lambda p: _probe_file(p, store), paths), 1):
                    states.append(state)
                    ctx.progress(i, len(paths), unit="files")
    finally:
        store.close()
    skipped = list(passed)
    kept: list[tuple[str, str, FileState]] = []
    per_label: dict[str, int] = {}
    capped = 0
    for rel, path, state in zip(files, paths, states):
        if state.error:
            skipped.append((path, state.error))
            continue
        parts = Path(rel).parts
        label = parts[0] if labels_from == "subfolder" and len(parts) > 1 else ""
        if max_per_label and per_label.get(label, 0) >= max_per_label:
            capped += 1
            continue
        per_label[label] = per_label.get(label, 0) + 1
        kept.append((path, label, state))
    if capped:
        ctx.warn(f"{MAX_PER_LABEL.named(max_per_label)}: {capped} of {len(kept) + capped} readable "
                 "image(s) left out; set it to 0 to use every image")
    hidden = [os.path.relpath(s[0], root) for s in skipped if s[1] == HIDDEN_FOLDER]
    if hidden:
        ctx.warn(f"{len(hidden)} hidden folder(s) not read: {', '.join(hidden[:5])}"
                 + (", ..." if len(hidden) > 5 else "") + "; see the 'skipped' output")
    earlier = sum(s[1] == WRITTEN_BY_FLOWCLASS for s in skipped)
    if earlier:
        ctx.warn(f"{earlier} file(s) that FlowClass wrote inside {root} (outputs of an earlier run) were not "
                 "imported; keep outputs outside the imported folder")
    outside = sum(s[1] == LINK_OUTSIDE for s in skipped)
    if outside:
        ctx.warn(f"{outside} link(s) to files outside the folders this canvas may read were not "
                 "imported; see the 'skipped' output")
    bad = [s for s in skipped
           if not s[1].startswith(("extension", "no file extension", HIDDEN_FOLDER, WRITTEN_BY_FLOWCLASS,
                                   LINK_OUTSIDE))]
    if bad:
        ctx.warn(f"{len(bad)} file(s) skipped as unreadable; see the 'skipped' output")
    if not kept:
        raise no_images(root, files, skipped, extensions)
    images = ImageSet(
        paths=np.array([k[0] for k in kept], dtype=str),
        labels=np.array([k[1] for k in kept], dtype=str),
        hashes=np.array([k[2].sha256 for k in kept], dtype=str),
        widths=np.array([k[2].width for k in kept], dtype=np.int32),
        heights=np.array([k[2].height for k in kept], dtype=np.int32),
        root=str(root),
    )
    return {"images": images, "skipped": skipped_table(skipped, ctx)}


def no_images(root: Path, files: list[str], skipped: list[tuple[str, str]],
              extensions: tuple[str, ...]) -> NodeError:
    """Why a folder gave no image, in the user's words: a failed node shows no Skipped list, so
    the error names a few of the files and what was wrong with them."""
    def some(pairs: list[tuple[str, str]], reason: bool) -> str:
        """``a.jpg, b.jpg and 4 more: empty file (0 bytes); c.png: ...``, by reason."""
        by_reason: dict[str, list[str]] = {}
        for path, why in pairs:
            by_reason.setdefault(why if reason else "", []).append(os.path.basename(path))
        return "; ".join(", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                         + (f": {why}" if why else "") for why, names in list(by_reason.items())[:3])

    if files:  # of the right kinds, and none could be opened: they are skipped's last entries
        return NodeError(f"none of the {len(files)} image files in {root} could be opened ({some(skipped[-len(files):], True)})",
                         field="folder", hint="they are empty or damaged: copy them again, or choose another folder")
    if skipped:
        return NodeError(f"no image files in {root}, only files of other kinds ({some(skipped, False)})",
                         field="folder", hint=f"choose a folder of images, or add their kind under Extensions "
                                              f"(now {', '.join(extensions)})")
    return NodeError(f"{root} is empty", field="folder", hint="choose a folder that holds images")


OUTPUTS = [
    Output("images", IMAGES, help="The usable images, labelled by their first-level subfolder."),
    Output("skipped", TABLE, help="Files passed over, with the reason."),
]
MAX_PER_LABEL = Int(name="max_per_label", default=0, min=0,
                    help="Keep at most this many images per label (the first ones in name "
                    "order); 0 keeps all.")


def _import_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    root = _root(ctx, params["folder"], params["sample"])
    return fingerprint_folder(root, params["recursive"], tuple(params["extensions"]), ctx.scan_budget,
                              ctx.may_read, ctx.reads)


@node(
    type="import_images", title="Import Images", category="Input", version=2,
    outputs=OUTPUTS,
    params=[
        PathParam(name="folder", default="", target="folder", role="input", optional=True,
                  help="Folder of images; subfolder names become labels. Empty: use the sample set."),
        Choice(name="sample", default="none", choices=("none",) + DATASETS,
               help="Built-in sample set used when no folder is given."),
        Bool(name="recursive", default=True, help="Also read images in subfolders."),
        EXTENSIONS,
        Choice(name="labels_from", default="subfolder", choices=("subfolder", "none"),
               help="Take each image's label from its first-level subfolder, or leave unlabelled."),
        MAX_PER_LABEL,
    ],
    fingerprint=_import_fingerprint,
    migrations={1: _extensions_as_list},
)
def import_images(ctx: RunContext, *, folder, sample, recursive, extensions, labels_from, max_per_label):
    """Read a folder of images (recursively); subfolder names become class labels."""
    root = _root(ctx, folder, sample)
    return read_images(ctx, root, recursive=recursive, extensions=tuple(extensions),
                       labels_from=labels_from, max_per_label=max_per_label)


def _sample_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    root = sample_folder(params["dataset"], ctx.store_dir("samples"))
    return fingerprint_folder(root, True, IMAGE_EXTENSIONS, ctx.scan_budget, reads=ctx.reads)


@node(
    type="sample_images", title="Sample Images", category="Input",
    outputs=OUTPUTS,
    params=[
        Choice(name="dataset", default="digits", choices=DATASETS,
               choice_titles={"digits": "Handwritten digits (scikit-learn, 1,797)",
                              "faces": "Faces and non-faces (scikit-image lfw_subset, 200)",
                              "photos": "Sample photographs (scikit-image, scikit-learn)",
                              "colour_names": "Colour-named folders, weakly labelled (photo pixels)"},
               help="Which built-in set of real images to use."),
        MAX_PER_LABEL,
    ],
    fingerprint=_sample_fingerprint,
)
def sample_images(ctx: RunContext, *, dataset, max_per_label):
    """Built-in real images from installed packages, so every workflow runs out of the box."""
    root = sample_folder(dataset, ctx.store_dir("samples"))
    return read_images(ctx, root, recursive=True, extensions=IMAGE_EXTENSIONS,
                       labels_from="subfolder", max_per_label=max_per_label)


NODES = [import_images, sample_images]
