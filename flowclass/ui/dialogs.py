"""Server-side file dialogs: choose a folder (with image counts), open or save a file.

Everything listed comes from :class:`~flowclass.ui.browse.Roots`, so the dialogs never
show or accept a path outside the folders the user allowed. Each function opens a
dialog and returns the chosen path, or None when cancelled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from nicegui import background_tasks, run, ui

from .. import safe_json
from ..errors import WorkflowInvalid
from ..library import ready_workflows_dir
from ..workflow_file import read_text
from .messages import tell
from .browse import Entry, OutsideRoots, Roots, count_images
from ..viewers.dialog import answer, ask, confirm, page_dialog  # noqa: F401 (ask, confirm: for the page)

READ_ONLY = "FlowClass's ready workflows are never written; choose another folder for your copy."
RELOAD, OVERWRITE, COPY, CANCEL = "reload", "overwrite", "copy", "cancel"  # ask_about_changed_file
NAME_MAX = 255  # bytes in a file name, on every common file system
DIALOG_COUNT_LIMIT = 20_000  # entries scanned per subfolder while counting its images
DIALOG_ENTRY_LIMIT = 1_000  # rows a folder's listing shows (a shared bundle's may hold 200,000)


class FileBrowser:
    """One dialog for three jobs: pick a folder, pick a file, or name a file to save."""

    def __init__(self, roots: Roots, *, mode: str, title: str, start: str | Path | None = None,
                 suffixes: Sequence[str] = (), filename: str = "", read_only: Sequence[Path] = ()):
        assert mode in ("folder", "file", "save")
        self.roots, self.mode, self.suffixes = roots, mode, tuple(suffixes)
        self.read_only = tuple(Path(folder).resolve() for folder in read_only)  # never saved into
        self.folder = roots.start(start)
        with page_dialog() as self.dialog, ui.card().classes("w-[44rem] max-w-full fc-file-browser"):
            ui.label(title).classes("text-h6")
            with ui.row().classes("items-center w-full no-wrap gap-1"):
                self.up_button = ui.button(icon="arrow_upward", on_click=self.go_up).props("flat dense").mark("file-up")
                self.path_label = ui.label().classes("text-sm font-mono grow truncate")
                if len(roots.roots) > 1:
                    ui.select({str(r): str(r) for r in roots.roots}, value=str(self.root),
                              on_change=lambda e: self.go(Path(e.value))).props("dense").mark("file-root")
                if mode != "file":  # a folder of its own for a workshop's workflow, or an export
                    ui.button("New folder", icon="create_new_folder",
                              on_click=lambda: self.new_folder.set_visibility(True)) \
                        .props("flat dense no-caps").mark("file-new-folder")
            self.count_label = ui.label().classes("text-xs text-gray-600")
            self.entries = ui.list().props("dense bordered separator").classes(
                "w-full h-80 overflow-auto")
            self.name_input = ui.input("File name", value=filename).classes("w-full").mark("file-name") \
                if mode == "save" else None
            # below the file name: the dialog's first field stays the name to save under
            with ui.row().classes("items-center w-full no-wrap gap-2") as self.new_folder:
                self.new_folder_name = ui.input("New folder name").props("dense").classes("grow") \
                    .on("keydown.enter", self.make_folder).mark("new-folder-name")
                ui.button("Make it", on_click=self.make_folder).props("dense flat").mark("new-folder-make")
            self.new_folder.set_visibility(False)
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=lambda: self.dialog.submit(None)).props("flat").mark("dialog-cancel")
                label = {"folder": "Choose this folder", "file": "Open", "save": "Save"}[mode]
                self.ok = ui.button(label, on_click=self.accept).mark("dialog-ok")
                if mode == "file":
                    self.ok.disable()
        self.chosen_file: Path | None = None
        self.go(self.folder)

    @property
    def root(self) -> Path:
        return self.roots.root_of(self.folder)

    async def result(self) -> Path | None:
        return await answer(self.dialog)

    def go_up(self) -> None:
        if self.folder != self.root:
            self.go(self.folder.parent)

    def go(self, folder: Path) -> None:
        try:
            entries = self.roots.listing(folder, self.suffixes if self.mode != "folder" else ())
        except (OutsideRoots, OSError) as exc:
            tell(str(exc), "warning")
            return
        self.folder = self.roots.check(folder)
        self.chosen_file = None
        self.path_label.text = str(self.folder)
        self.up_button.set_enabled(self.folder != self.root)
        self.entries.clear()
        counts = {}
        with self.entries:
            if not entries:
                ui.item("(empty)").classes("text-gray-500")
            for entry in entries[:DIALOG_ENTRY_LIMIT]:
                counts[entry.path] = self._entry_row(entry)
            if len(entries) > DIALOG_ENTRY_LIMIT:  # a page of 200,000 rows froze the server
                ui.item(f"… and {len(entries) - DIALOG_ENTRY_LIMIT:,} more, not listed; type the "
                        "path into the node's field instead").classes("text-gray-500").mark("entries-more")
        self.count_label.text = ""
        if self.mode == "folder":
            background_tasks.create(self._count(self.folder, counts), name="count images")

    def _entry_row(self, entry: Entry) -> ui.label | None:
        with ui.item(on_click=lambda e=entry: self._pick(e)).props("clickable") as item:
            item.mark(f"entry-{entry.name}")
            with ui.item_section().props("avatar"):
                ui.icon("folder" if entry.is_dir else "description").classes(
                    "text-amber-600" if entry.is_dir else "text-gray-500")
            with ui.item_section():
                ui.item_label(entry.name)
            if entry.is_dir and self.mode == "folder":
                with ui.item_section().props("side"):
                    return ui.label("…").classes("text-xs text-gray-500")
        return None

    async def _count(self, folder: Path, labels: dict[Path, ui.label | None]) -> None:
        total = await run.io_bound(count_images, folder, DIALOG_COUNT_LIMIT * 5)
        if folder != self.folder:
            return  # the user moved on meanwhile
        self.count_label.text = f"This folder: {total}"
        for path, label in labels.items():
            if label is None:
                continue
            count = await run.io_bound(count_images, path, DIALOG_COUNT_LIMIT)
            if folder != self.folder:
                return
            label.text = str(count)

    def _pick(self, entry: Entry) -> None:
        if entry.is_dir:
            self.go(entry.path)
        elif self.mode == "file":
            self.chosen_file = entry.path
            self.path_label.text = str(entry.path)
            self.ok.enable()
        elif self.name_input is not None:
            self.name_input.value = entry.name

    def make_folder(self) -> None:
        """Make a new folder where the dialog is (never over anything there), and go into it."""
        name = (self.new_folder_name.value or "").strip()
        if not name or "/" in name or "\\" in name or name.startswith("."):
            tell("A folder name cannot hold '/' or '\\', nor start with '.': type a plain name.", "warning")
            return
        if any(self.folder.is_relative_to(folder) for folder in self.read_only):
            tell(READ_ONLY, "warning")
            return
        try:
            folder = self.roots.check(self.folder / name)
            folder.mkdir()
        except FileExistsError:
            tell(f"{name} is there already; choose it in the list, or another name.", "warning")
            return
        except (OutsideRoots, OSError) as exc:
            tell(f"Could not make the folder {name}: {getattr(exc, 'strerror', None) or exc}", "warning")
            return
        self.new_folder_name.value = ""
        self.new_folder.set_visibility(False)
        self.go(folder)

    def accept(self) -> None:
        if self.mode == "folder":
            self.dialog.submit(self.folder)
        elif self.mode == "file":
            self.dialog.submit(self.chosen_file)
        else:
            name = (self.name_input.value or "").strip()
            if not name or "/" in name or "\\" in name or name.startswith("."):
                tell("Give a file name (no folders, not starting with '.')", "warning")
                return
            if self.suffixes and not name.lower().endswith(self.suffixes):
                name += self.suffixes[0]
            if len(os.fsencode(name)) > NAME_MAX:
                tell(f"The name is too long for the file system (at most {NAME_MAX} bytes); "
                     "choose a shorter one.", "warning")
                return
            if any(self.folder.is_relative_to(folder) for folder in self.read_only):
                tell(READ_ONLY, "warning")
                return
            try:  # a link of that name may lead out of the roots (the list hides it)
                self.roots.check(self.folder / name)
            except OutsideRoots as exc:
                tell(f"Not saved there: {exc}", "warning")
                return
            self.dialog.submit(self.folder / name)


async def choose_folder(roots: Roots, start: str | Path | None = None,
                        title: str = "Choose a folder") -> Path | None:
    return await FileBrowser(roots, mode="folder", title=title, start=start).result()


async def choose_file(roots: Roots, start: str | Path | None = None, suffixes: Sequence[str] = (".json",),
                      title: str = "Open a workflow") -> Path | None:
    return await FileBrowser(roots, mode="file", title=title, start=start, suffixes=suffixes).result()


async def choose_save_path(roots: Roots, start: str | Path | None, filename: str,
                           title: str = "Save the workflow as") -> Path | None:
    """A new path to save to; an existing file is replaced only if it is a workflow and the user
    agrees, and never one of FlowClass's ready workflows (they may lie inside the roots)."""
    path = await FileBrowser(roots, mode="save", title=title, start=start, suffixes=(".json",),
                             filename=filename, read_only=[ready_workflows_dir()]).result()
    if path is None or not path.exists():
        return path
    if not is_workflow_file(path):
        tell(f"{path.name} exists and is not a FlowClass workflow; FlowClass will not "
             "overwrite it. Choose another name.", "negative")
        return None
    return path if await confirm(f"Replace the workflow {path.name}?", "Replace") else None


def is_workflow_file(path: Path) -> bool:
    try:  # as a workflow is read: a pipe named x.json must not hang the server
        doc = safe_json.loads(read_text(path))
    except (WorkflowInvalid, ValueError):
        return False
    return isinstance(doc, dict) and "schema_version" in doc and "nodes" in doc


async def ask_about_changed_file(name: str) -> str:
    """What to do about a file changed elsewhere: RELOAD, OVERWRITE, COPY or CANCEL."""
    with page_dialog() as dialog, ui.card().classes("max-w-xl fc-file-conflict"):
        ui.label(f"{name} changed on disk since this tab opened or saved it (in another tab, "
                 "another program or an editor).")
        ui.label("Saving now would replace those changes with this tab's version.").classes("text-sm")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=lambda: dialog.submit(CANCEL)).props("flat").mark("conflict-cancel")
            ui.button("Reload the file", on_click=lambda: dialog.submit(RELOAD)).props("flat") \
                .mark("conflict-reload").tooltip("Open the file as it is now; this tab's version stays one Undo away")
            ui.button("Save as a copy…", on_click=lambda: dialog.submit(COPY)).props("flat") \
                .mark("conflict-copy")
            ui.button("Overwrite", on_click=lambda: dialog.submit(OVERWRITE)).props("color=negative") \
                .mark("conflict-overwrite")
    return (await answer(dialog)) or CANCEL
