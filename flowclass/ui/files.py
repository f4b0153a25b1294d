"""File actions of a tab: New, Open, Save, Save As and the ready workflows.

The workflow file is exactly what ``flowclass run`` takes: it is written by
:func:`flowclass.workflow_file.save`, so opening and saving an unchanged workflow gives
the same bytes. Opening a ready workflow makes an unsaved copy, so Save asks where to
put it and the shipped file is never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from .. import safe_json
from ..errors import WorkflowInvalid
from ..library import ready_workflows_dir
from ..workflow import Workflow
from .messages import CLOSED_WORK, tell
from .browse import Roots
from .dialogs import (COPY, OVERWRITE, READ_ONLY, RELOAD, ask, ask_about_changed_file, choose_file, choose_save_path,
                      confirm)
from .editor import EditorState
from .file_guard import changed_on_disk
from .session_runs import explain


@dataclass(frozen=True)
class ReadyWorkflow:
    path: Path
    name: str
    description: str
    doc: dict = field(default_factory=dict, compare=False)  # the file's JSON, as shipped


def ready_workflows(folder: Path | None = None) -> list[ReadyWorkflow]:
    """The ready workflows shipped with FlowClass, by name."""
    folder = folder or ready_workflows_dir()
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            doc = safe_json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.append(ReadyWorkflow(path, doc.get("name") or path.stem, doc.get("description", ""), doc))
    return found


def file_name_for(state: EditorState) -> str:
    if state.path is not None:
        return state.path.name
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", state.workflow.name.strip().lower()).strip("_")
    return f"{stem or 'workflow'}.json"


def copy_name(path: Path) -> str:
    """A name beside ``path`` that no file has: ``flow (copy).json``, ``flow (copy 2).json``..."""
    for n in range(1, 1000):
        name = f"{path.stem} (copy{'' if n == 1 else f' {n}'}){path.suffix}"
        if not (path.parent / name).exists():
            return name
    return path.name  # a thousand copies: Save As asks before replacing anything


def installed(path: Path) -> bool:
    """Whether ``path`` lies in FlowClass's installed ready workflows (never written)."""
    return Path(path).resolve().is_relative_to(ready_workflows_dir().resolve())


STOPS = "stops the run (what it finished is kept)"  # what opening another workflow does to a run


class FileActions:
    """Runs the file commands of one tab; ``on_loaded`` re-draws after a new workflow."""

    def __init__(self, state: EditorState, roots: Roots, on_loaded: Callable[[], None],
                 on_saved: Callable[[], None], unsaved: Callable[[], bool] | None = None,
                 running: Callable[[], bool] = lambda: False,
                 set_aside: Callable[[], Callable[[], None] | None] = lambda: None):
        self.state, self.roots, self.on_loaded, self.on_saved = state, roots, on_loaded, on_saved
        # whether the tab holds unsaved work: the workflow's edits, or a results view's (strokes)
        self.unsaved = unsaved or (lambda: self.state.dirty)
        self.running = running  # whether a run of the workflow is going on (another workflow stops it)
        self.offered = False  # Save As was offered for the workflow now open
        # the tab's unsaved work as it is, to keep among the closed tabs' once another workflow
        # replaces it (None: nothing unsaved; see Tabs.set_aside)
        self.set_aside = set_aside

    async def _may_discard(self, leaving: str = "opening another workflow") -> bool:
        """Whether the user lets the workflow go: its unsaved changes, and a run going on (a
        long embedding's progress in flight), are never dropped unasked; one question for both."""
        name, back = self.state.display_name, self._back_later()
        if not self.running():
            return not self.unsaved() or await confirm(f"{name} has unsaved changes. Discard them?{back}")
        if self.unsaved():
            return await confirm(f"{name} has unsaved changes, and a run of it is going on: {leaving} "
                                 f"discards the changes and {STOPS}.{back}", "Discard and stop",
                                 cancel="Keep running")
        return await self._may_stop_run(leaving)

    def _back_later(self) -> str:
        """Where discarded work goes: users click through questions."""
        return "" if self.set_aside() is None else f" (you can bring them back from File ▸ {CLOSED_WORK})"

    async def _may_stop_run(self, leaving: str) -> bool:
        """Whether the user lets a run going on stop (none going on: yes, unasked)."""
        return not self.running() or await confirm(
            f"A run of {self.state.display_name} is going on: {leaving} {STOPS}.", "Stop the run",
            cancel="Keep running")

    async def new(self) -> None:
        if await self._may_discard("a new workflow"):
            self._replace(lambda: self.state.reset(Workflow(), None))

    async def open(self) -> None:
        if not await self._may_discard():
            return
        path = await choose_file(self.roots, start=self.state.path)
        if path is not None:
            self.open_path(path)

    def open_path(self, path: Path, *, as_copy: bool = False, reload: bool = False) -> bool:
        """Open ``path``; a ready workflow of the install always as a copy (it is never written);
        ``reload``: the tab's own file again, its version one Undo away."""
        as_copy = as_copy or Path(path).resolve().parent == ready_workflows_dir().resolve()
        state = self.state
        try:
            self._replace(lambda: state.open_copy(path) if as_copy else state.reload() if reload else state.open(path))
        except WorkflowInvalid as exc:
            tell(f"Cannot open {path.name}:\n{explain(exc)}", "negative")
            return False
        return True

    def _replace(self, load: Callable[[], None]) -> None:
        """Another workflow in the tab (``load`` raises and changes nothing when it cannot).
        The work it had unsaved (edits, strokes) is kept first among the closed tabs': a
        Discard clicked through, or *Reload the file* chosen, can be taken back from there."""
        aside = self.set_aside()
        load()
        if aside is not None:
            aside()
        self.offered = False
        self.on_loaded()

    async def open_ready(self, ready: ReadyWorkflow) -> None:
        if await self._may_discard() and self.open_path(ready.path, as_copy=True):
            await self.offer_save_as(f"This is a new copy of the ready workflow '{ready.name}'. Save it first?")

    async def offer_save_as(self, question: str) -> bool:
        """Offer Save As for a workflow without a file; returns whether it has one now.

        Saved, its runs write into flowclass-out/ beside it and corrections are kept with it;
        unsaved, runs go into a new folder of its own (shown in the footer)."""
        if self.state.path is not None or self.offered:
            return self.state.path is not None
        wanted = await ask(f"{question} Then its runs write into flowclass-out/ beside the saved file, and "
                           "corrections stay with it; otherwise outputs go into a new folder of its own, "
                           "shown at the bottom of the page.", "Save As…", cancel="Not now", color="primary")
        if wanted is None:  # no answer (the page went away, or Escape): nothing goes on, asked again next time
            return False
        if wanted and not await self.save_as():
            return False  # Save As cancelled: not a "Not now" (whoever asked goes no further)
        self.offered = True  # once per workflow: "Not now" is not asked again at each run
        return self.state.path is not None

    async def save(self) -> bool:
        """Save to the workflow's file; one changed elsewhere since it was opened or saved
        (another tab, program or editor) is never overwritten without asking. Whether this
        tab's workflow was written (a reload of the file, or Cancel, writes nothing)."""
        if self.state.path is None:
            return await self.save_as()
        if not changed_on_disk(self.state.path, self.state.disk_sha):
            return self._write(None)
        choice = await ask_about_changed_file(self.state.path.name)
        if choice == OVERWRITE:
            return self._write(None)
        if choice == COPY:  # under a name of its own: the file's is the other's changes
            return await self.save_as(filename=copy_name(self.state.path))
        if choice == RELOAD and await self._may_stop_run("reloading the file"):  # its changes: chosen to drop
            self.open_path(self.state.path, reload=True)
        return False

    async def save_as(self, filename: str | None = None) -> bool:
        start = self.state.path.parent if self.state.path else None
        path = await choose_save_path(self.roots, start, filename or file_name_for(self.state))
        if path is not None and path.resolve() == self.state.path:
            # onto its own file: Save's, which asks when the file changed elsewhere ("Replace?"
            # is answered yes for one's own file, not for another tab's changes in it)
            return await self.save()
        return path is not None and self._write(path)

    def _write(self, path: Path | None) -> bool:
        target = Path(path).resolve() if path is not None else self.state.path
        if target is not None and installed(target):
            tell(READ_ONLY, "negative")  # whatever asked: the shipped files stay as shipped
            return False
        if target is not None and not self.roots.allows(target):  # the file became a link out
            tell(f"Not saved: {target} is outside the folders this canvas may use.", "negative")
            return False
        try:
            saved = self.state.save(path)
        except OSError as exc:
            tell(f"Could not save: {exc}", "negative")
            return False
        tell(f"Saved {saved}", "positive")
        self.on_saved()
        return True
