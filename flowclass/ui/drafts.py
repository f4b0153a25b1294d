"""A tab's work on disk, so that a reload, a closed tab or a server restart loses nothing.

Each browser tab has an id (in its address, ``/?tab=...``). Whatever the tab shows that
the user made is kept in ``drafts/<id>.json`` in FlowClass's data folder: the workflow as
edited (saved or not), its file and what that file held, the selection, the view, the
output folder. It is written atomically whenever it changed, and read back when a page
for that id opens and the server no longer holds the tab (it was restarted).

A draft with nothing unsaved in it is only a convenience (the file holds the workflow), so
one that no server has written or kept fresh for :data:`CLEAN_KEEP` is removed; a draft with
unsaved work stays until it is reopened or discarded. A server keeps the drafts of the tabs
it holds fresh (:meth:`DraftStore.keep_fresh`), so another server sharing the folder never
removes them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import UnionType
from typing import Any, Container, Union, get_args, get_origin, get_type_hints

from .. import safe_json
from ..errors import WorkflowInvalid
from ..fsutil import RemovedFlock, atomic_write_text, flock_api
from ..workflow import Workflow
from ..workflow_file import dumps, loads
from .editor import HISTORY_LIMIT
from .file_guard import file_sha, text_sha

TAB_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
CLEAN_KEEP = 14 * 86400.0  # seconds a draft with nothing unsaved outlives its last change or showing
FRESH_EVERY = 86400.0  # how often a server marks the clean drafts of its tabs as still held
HISTORY_STEPS = HISTORY_LIMIT  # undo (and redo) steps a draft keeps for a restarted server: as many as in memory
HISTORY_CHARS = 1_000_000  # and at most this much workflow text in all (each edit writes the draft)
DRAFT_BYTES = 16_000_000  # a draft bigger than this is not written (each change writes it whole)
# a history file bigger than FlowClass writes (JSON escapes, the draft beside it) is not read
HISTORY_BYTES = 8 * HISTORY_CHARS + DRAFT_BYTES


_LINK_TIMES = os.utime in os.supports_follow_symlinks  # a link's own time can be set (not on Windows)


class DraftTooBig(OSError):
    """A draft over :data:`DRAFT_BYTES`: not written, and the user is told what to do instead."""


@dataclass
class Draft:
    """What one tab holds of the user's work (paths as text, the workflow in the file format)."""

    workflow: str
    path: str | None = None
    saved_text: str = ""  # the file as last opened or saved: the workflow is dirty when it differs
    disk_sha: str | None = None  # the file's hash then (Save checks it was not changed elsewhere)
    origin: str | None = None  # where an unsaved copy's relative paths point
    selected: str | None = None
    viewport: dict[str, float] | None = None  # {x, y, zoom} as the canvas reported it
    out_choice: str | None = None
    untitled_out: str | None = None
    offered: bool = False  # Save As was offered (and declined) for this workflow
    run_going: bool = False  # a run went on when this was written
    run_node: str | None = None  # the node it was at
    run_kept: list | None = None  # [done, total, unit]: what that node had stored (Embed's vectors)
    typed: list | None = None  # [[node, parameter, value]]: what the user typed (their own output paths)
    view_work: dict | None = None  # {node: {key: value}}: results views' unsaved work (painted strokes)
    undo: list | None = None  # [workflow text]: the undo steps nearest now, oldest first
    redo: list | None = None  # the same for redo

    @property
    def dirty(self) -> bool:
        """As the tab's toolbar says (``EditorSession.unsaved``): the workflow's edits, or a
        view's work of a node the workflow has. A deleted node's strokes are kept (an undo of
        the delete brings them back) but are not unsaved work on their own."""
        if self.workflow != self.saved_text:
            return True
        if not isinstance(self.view_work, dict) or not self.view_work:
            return False  # nothing to look for among the nodes (the workflow is not read)
        return bool(self.view_work.keys() & self._node_ids())

    def _node_ids(self) -> set[str]:
        try:
            nodes = safe_json.loads(self.workflow).get("nodes")
            return {node.get("id") for node in nodes if isinstance(node, dict)}
        except (ValueError, AttributeError, TypeError):
            return set()

    @property
    def title(self) -> str:
        """What the user calls it: the file's name, else the workflow's."""
        if self.path:
            return Path(self.path).name
        try:
            name = safe_json.loads(self.workflow).get("name")
        except (ValueError, AttributeError):
            name = None
        return name or "Untitled workflow"


_KINDS = get_type_hints(Draft)


def _as_kind(name: str, value: Any) -> Any:
    """A draft's field as read, or None (as if absent) when it is not of its kind: a draft is
    data that anyone may have edited, and the tab must open whatever it holds."""
    hint = _KINDS[name]
    kinds = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    if not any(isinstance(value, get_origin(kind) or kind) for kind in kinds if kind is not type(None)):
        return None
    if name == "viewport":
        numbers = [value.get(key) for key in ("x", "y", "zoom")]
        fits = all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers)
        return dict(zip(("x", "y", "zoom"), numbers)) if fits else None
    if name == "typed":
        return [entry for entry in value if isinstance(entry, list) and len(entry) == 3
                and isinstance(entry[0], str) and isinstance(entry[1], str)] or None
    if name == "view_work":
        return {node: entries for node, entries in value.items() if isinstance(entries, dict) and entries} or None
    return value


def capture(session: Any, offered: bool) -> Draft:
    """The draft of an :class:`~flowclass.ui.session.EditorSession` as it is now."""
    state, runner = session.state, session.runner
    text = lambda value: str(value) if value is not None else None  # noqa: E731
    where = runner.where_the_run_is()
    kept = runner.reached.get(where.node) if where else None
    undo, redo = state.history_texts(HISTORY_STEPS, HISTORY_CHARS)
    return Draft(workflow=dumps(state.workflow), path=text(state.path), saved_text=state.saved_text,
                 disk_sha=state.disk_sha, origin=text(state.origin), selected=state.selected,
                 viewport=session.viewport, out_choice=text(session.out_choice),
                 untitled_out=text(session.untitled_out), offered=offered, run_going=runner.going,
                 run_node=where.node if where else None,
                 run_kept=[kept.done, kept.total, kept.unit] if kept else None,
                 typed=[[node, name, value] for (node, name), value in session.typed.items()] or None,
                 view_work={node: dict(entries) for node, entries in session.view_work.items()} or None,
                 undo=undo or None, redo=redo or None)


def restore(session: Any, draft: Draft) -> None:
    """Put a draft back into a fresh session (raises WorkflowInvalid if its workflow is broken)."""
    state = session.state
    path = lambda value: Path(value) if value else None  # noqa: E731
    state.reset(loads(draft.workflow, session.registry), path(draft.path))
    state.saved_text, state.disk_sha, state.origin = draft.saved_text, draft.disk_sha, path(draft.origin)
    state.selected = draft.selected if draft.selected and state.workflow.node(draft.selected) else None
    session.viewport = draft.viewport
    session.out_choice = path(draft.out_choice)
    session.untitled_out = path(draft.untitled_out)
    # a draft read from disk has its fields checked already (_as_kind)
    session.typed = {(node, name): value for node, name, value in draft.typed or []}
    session.view_work = {node: dict(entries) for node, entries in (draft.view_work or {}).items()}
    state.restore_history(_history(draft.undo, session.registry), _history(draft.redo, session.registry))
    _confine(session)
    _saved_meanwhile(state, draft.workflow)
    if draft.run_going:  # only a stopped server leaves that on disk (a tab in memory has its run)
        session.run_interrupted(draft.run_node, draft.run_kept)


def _history(texts: Any, registry: Any) -> list[Workflow]:
    """A draft's undo (or redo) steps, as far back as they read as workflows: a draft is
    read as data (a hand-edited or a newer FlowClass's may hold anything), and a step that
    does not load ends the history there, so Undo never skips one."""
    steps: list[Workflow] = []
    for text in reversed(texts[-HISTORY_STEPS:] if isinstance(texts, list) else []):
        if not isinstance(text, str) or len(text) > HISTORY_CHARS:
            break
        try:
            steps.append(loads(text, registry))
        except (WorkflowInvalid, ValueError, TypeError, KeyError, AttributeError):
            break
    return steps[::-1]


def _saved_meanwhile(state: Any, workflow: str) -> None:
    """A server killed between a Save and the draft's next write: the file holds the tab's
    own workflow, so it is saved, not changed elsewhere (Save would ask before replacing it)."""
    sha = text_sha(workflow)
    if state.path is not None and state.disk_sha != sha and file_sha(state.path) == sha:
        state.saved_text, state.disk_sha = workflow, sha


def _confine(session: Any) -> None:
    """A server restarted with other ``--root`` folders writes nothing outside them: a
    draft's file outside them comes back as an unsaved copy (Save asks where), and its
    untitled output folder is chosen anew."""
    roots, state = getattr(session, "roots", None), session.state
    if roots is None:
        return
    if state.path is not None and not roots.allows(state.path):
        state.origin, state.path, state.disk_sha = state.path.parent, None, None
        state.saved_text = dumps(Workflow())
    if session.untitled_out is not None and not roots.allows(session.untitled_out):
        session.untitled_out = None


SPACE_HINT = "free some space in FlowClass's data folder"


def _written(doc: Any) -> int | None:
    """When a draft's file says it was written (ns), or None (an older FlowClass's)."""
    written = doc.get("written") if isinstance(doc, dict) else None
    return written if isinstance(written, int) and not isinstance(written, bool) else None


class DraftStore:
    """The drafts folder: one JSON file per tab id."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._histories: dict[str, dict] = {}  # the history last written, by tab id
        self._stamped = 0  # when this store last wrote, in ns (the draft's "written")

    def file(self, tab_id: str) -> Path:
        if not TAB_ID.fullmatch(tab_id):
            raise ValueError(f"not a tab id: {tab_id!r}")
        return self.folder / f"{tab_id}.json"

    def history_file(self, tab_id: str) -> Path:
        """The tab's undo history, beside its draft (``.undo``: not a draft to list or prune)."""
        return self.file(tab_id).with_suffix(".undo")

    def write(self, tab_id: str, draft: Draft) -> None:
        """Whole or not at all; no fsync per edit (a reload or a killed server keeps the page
        cache; only a power cut could lose the last edit). The undo history goes into a file
        of its own, first, when it changed: listing the closed tabs' work reads every draft,
        and a history is ten times a draft (200 drafts read in 184 ms with theirs, 18 ms
        without). The history file holds the whole draft too, and both carry when they were
        written, so that a server killed between the two writes loses neither the newest
        edit nor the history (:meth:`_with_history`). A history that cannot be written
        (a full disk) does not keep the draft from being written: the error comes after."""
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = {**asdict(replace(draft, undo=None, redo=None)), "written": self._stamp()}
        text = json.dumps(doc, indent=1)  # ASCII: as many bytes as characters
        if len(text) > DRAFT_BYTES:
            raise DraftTooBig(
                f"This tab's unsaved work is too big to keep for a reload or a restart ({len(text) / 1e6:.0f} MB; "
                f"FlowClass keeps up to {DRAFT_BYTES / 1e6:.0f} MB). Save the workflow to a file "
                "(File ▸ Save or Save As) to keep your changes.")
        history_failed = None
        try:
            self._write_history(tab_id, draft, doc)
        except OSError as exc:
            history_failed = exc
        doc["history"] = None if history_failed else self._history_seen(tab_id)  # the history it goes with
        atomic_write_text(self.file(tab_id), json.dumps(doc, indent=1), fsync=False, hint=SPACE_HINT)
        if history_failed is not None:
            raise history_failed

    def _stamp(self) -> int:
        """When a write happened, in ns, always later than this store's last one."""
        self._stamped = max(time.time_ns(), self._stamped + 1)
        return self._stamped

    def _write_history(self, tab_id: str, draft: Draft, doc: dict) -> None:
        """The history file, when the history changed (not at each key typed into a field,
        which changes only the workflow): with the draft as it is now (``doc``, written next
        beside it, which names the history file it goes with)."""
        history = {"undo": draft.undo, "redo": draft.redo}
        if self._histories.get(tab_id) == history:
            return
        atomic_write_text(self.history_file(tab_id), json.dumps(
            {"workflow": text_sha(draft.workflow), **history, "draft": doc}), fsync=False, hint=SPACE_HINT)
        self._histories[tab_id] = history

    def _with_history(self, tab_id: str, draft: Draft | None, doc: dict | None) -> Draft | None:
        """The newest of ``draft`` (read from ``doc``) and the draft in its history file, with
        an undo history that leads to it. The draft names the history file it was written
        beside: that one is its own. A server killed between the two writes leaves the history
        file one step ahead: its draft is the newest. A draft written after a history that is
        not its own (that history could not be written) gets the history's workflow as its
        newest undo step. A history that leads elsewhere is not used."""
        history = self._load(self.history_file(tab_id), HISTORY_BYTES)
        if history is None:
            return draft
        self._histories[tab_id] = {key: history.get(key) for key in ("undo", "redo")}
        undo, redo = _as_kind("undo", history.get("undo")), _as_kind("redo", history.get("redo"))
        if draft is not None and doc.get("history") is not None and not self._history_changed(tab_id, doc):
            return replace(draft, undo=undo, redo=redo)
        ahead, ahead_written, written = self._draft(history.get("draft")), _written(history.get("draft")), \
            _written(doc)
        if ahead is not None and ahead_written is not None and (
                draft is None or written is None or ahead_written > written):
            return replace(ahead, undo=undo, redo=redo) if history.get("workflow") == text_sha(ahead.workflow) \
                else ahead
        if draft is None:
            return None
        if history.get("workflow") == text_sha(draft.workflow):  # one an older FlowClass wrote
            return replace(draft, undo=undo, redo=redo)
        if ahead is not None and history.get("workflow") == text_sha(ahead.workflow):
            return replace(draft, undo=(undo or []) + [ahead.workflow], redo=None)
        return draft

    def _held_file(self, tab_id: str) -> Path:
        """The tab's lock file, beside the drafts folder (which holds only drafts)."""
        return self.folder.with_name(f"{self.folder.name}_held") / tab_id

    def hold(self, tab_id: str) -> RemovedFlock | None:
        """An OS lock saying that this server holds the tab, released when it lets go of the
        tab or dies, however it dies: another server sharing the folder (a second `flowclass
        ui`) then does not offer its work as a closed tab's, nor opens the tab by its address.
        None when another server holds it. Where none can be taken (no ``flock``, a full
        disk) the lock returned is not held. Its file goes as it is let go
        (:class:`flowclass.fsutil.RemovedFlock`, safe against another taker)."""
        lock = RemovedFlock(self._held_file(tab_id))
        if flock_api() is not None:
            try:
                lock.path.parent.mkdir(parents=True, exist_ok=True)
                if not lock.try_acquire():
                    return None
            except OSError:
                pass
        return lock

    def held_elsewhere(self, tab_id: str) -> bool:
        """Whether another server (any other holder of :meth:`hold`'s lock) holds the tab."""
        if flock_api() is None or not self._held_file(tab_id).exists():
            return False
        lock = RemovedFlock(self._held_file(tab_id))
        try:
            taken = lock.try_acquire()
        except OSError:
            return False
        lock.release()
        return not taken

    def _drop_held(self, tab_id: str) -> None:
        """The tab's lock file goes with its draft, unless a server holds it (one left by a
        server that died: taking and letting go of it removes it)."""
        lock = RemovedFlock(self._held_file(tab_id))
        try:
            if lock.path.exists():
                lock.try_acquire()
        except OSError:
            pass
        finally:
            lock.release()

    def read(self, tab_id: str, *, history: bool = False) -> Draft | None:
        """The tab's draft, or None when there is none or it cannot be read; with ``history``,
        with its undo history. Without, the history file's draft all the same where that
        file is the newer (a server killed between the two writes), so that no list of
        closed tabs' work misses its newest edit."""
        doc = self._load(self.file(tab_id))
        draft = self._draft(doc)
        if history or self._history_changed(tab_id, doc) or doc is None and not self.file(tab_id).exists():
            draft = self._with_history(tab_id, draft, doc)  # (or killed before its first draft)
        if draft is None:
            return None
        return draft if history else replace(draft, undo=None, redo=None)

    def _history_seen(self, tab_id: str) -> list[int] | None:
        """The history file's inode, size and time (None: there is none). Each write of it
        makes a new file; a draft keeps what it saw, so a read can tell cheaply (a stat)
        whether the history was written after it, whatever the clock's grain."""
        try:
            seen = self.history_file(tab_id).stat()
        except OSError:
            return None
        return [seen.st_ino, seen.st_size, seen.st_mtime_ns]

    def _history_changed(self, tab_id: str, doc: dict | None) -> bool:
        """Whether the history file is not the one the draft ``doc`` was written beside."""
        return self._history_seen(tab_id) != (doc.get("history") if doc else None)

    def _ahead_in_history(self, tab_id: str) -> bool:
        """Whether the history file holds a newer draft than the draft's own file."""
        doc = self._load(self.file(tab_id))
        if not self._history_changed(tab_id, doc):
            return False
        history = self._load(self.history_file(tab_id), HISTORY_BYTES)
        ahead, written = _written(history and history.get("draft")), _written(doc)
        return ahead is not None and (written is None or ahead > written)

    @staticmethod
    def _load(file: Path, limit: int | None = None) -> dict | None:
        """A JSON object from ``file``, or None (missing, too big, not JSON, not an object)."""
        try:
            if limit is not None and file.stat().st_size > limit:  # not one FlowClass wrote
                return None
            doc = safe_json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, or not JSON (too deep is a ValueError too)
            return None
        return doc if isinstance(doc, dict) else None

    @staticmethod
    def _draft(doc: Any) -> Draft | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("workflow"), str):
            return None
        return Draft(**{name: kept for name, value in doc.items()
                        if name in _KINDS and (kept := _as_kind(name, value)) is not None})

    def _read(self, file: Path) -> Draft | None:
        return self._draft(self._load(file))

    def unsaved(self) -> list[tuple[str, Draft, float]]:
        """(tab id, draft, when written) of every draft with unsaved changes, newest first."""
        found = []
        for file in self.folder.glob("*.json"):
            draft = self.read(file.stem) if TAB_ID.fullmatch(file.stem) else None
            if draft is not None and draft.dirty:
                try:
                    found.append((file.stem, draft, file.stat().st_mtime))
                except OSError:
                    continue
        return sorted(found, key=lambda item: -item[2])

    def discard(self, tab_id: str) -> None:
        """The history first: it holds a copy of the draft, which must not outlive it."""
        self.history_file(tab_id).unlink(missing_ok=True)
        self.file(tab_id).unlink(missing_ok=True)
        self._histories.pop(tab_id, None)
        self._drop_held(tab_id)

    def keep_fresh(self, tab_id: str) -> None:
        """Mark a tab this server holds as held (its draft's time is now), so that no server
        sharing the folder takes its draft for a forgotten one. A link where the draft goes
        (not FlowClass's) has its own time set, never its target's."""
        try:
            os.utime(self.file(tab_id), follow_symlinks=not _LINK_TIMES)
        except OSError:
            pass

    def prune(self, held: Container[str], now: float | None = None) -> list[str]:
        """Remove the drafts with nothing unsaved that nobody wrote or kept fresh for
        :data:`CLEAN_KEEP` and that are not ``held`` (tabs of this server, asked as each draft
        is looked at: a tab taken up meanwhile counts); the tab ids removed.

        A draft with unsaved work, or one that cannot be read, is never removed. A draft is
        first moved aside and looked at again there: one written meanwhile (a server took the
        tab up again) goes back where it was."""
        now = time.time() if now is None else now
        self._put_back_aside()
        removed = []
        for file in self.folder.glob("*.json"):
            tab_id = file.stem
            if not TAB_ID.fullmatch(tab_id) or tab_id in held or not self._forgotten(file, now) \
                    or self._ahead_in_history(tab_id):  # a killed server's newest edit is there
                continue
            aside = file.with_name(f".{tab_id}.{secrets.token_hex(4)}.pruned")
            try:
                os.rename(file, aside)
            except OSError:
                continue
            if self._forgotten(aside, now):
                self.history_file(tab_id).unlink(missing_ok=True)  # first, as in discard
                aside.unlink(missing_ok=True)
                self._histories.pop(tab_id, None)
                self._drop_held(tab_id)
                removed.append(tab_id)
                continue
            self._put_back(aside, file)  # written meanwhile
        self._drop_lone_histories(held, now)
        return removed

    def _drop_lone_histories(self, held: Container[str], now: float) -> None:
        """Histories whose draft is gone (pruned by a FlowClass that knew no history files)
        and untouched for :data:`CLEAN_KEEP`; not one whose draft is aside just now."""
        for history in self.folder.glob("*.undo"):
            tab_id = history.stem
            if not TAB_ID.fullmatch(tab_id) or tab_id in held or self.file(tab_id).exists() \
                    or any(self.folder.glob(f".{tab_id}.*.pruned")):
                continue
            try:
                if now - history.stat().st_mtime >= CLEAN_KEEP:
                    history.unlink()
            except OSError:
                continue

    def _put_back_aside(self) -> None:
        """Drafts a pruning process left aside when it was killed go back where they were."""
        for aside in self.folder.glob(".*.pruned"):
            tab_id = aside.name.split(".")[1]
            if TAB_ID.fullmatch(tab_id):
                self._put_back(aside, self.file(tab_id))

    @staticmethod
    def _put_back(aside: Path, file: Path) -> None:
        """``aside`` back at ``file``, unless a newer draft took that name since (then it goes)."""
        try:
            os.link(aside, file)
        except FileExistsError:
            pass
        except OSError:  # no hard links here (or it went back already): moved, if the name is free
            if not file.exists():
                try:
                    os.rename(aside, file)
                except OSError:
                    pass
            return
        aside.unlink(missing_ok=True)

    def _forgotten(self, file: Path, now: float) -> bool:
        """Whether ``file`` is a readable draft with nothing unsaved, untouched for CLEAN_KEEP."""
        try:
            if now - file.stat().st_mtime < CLEAN_KEEP:
                return False
        except OSError:
            return False
        draft = self._read(file)
        return draft is not None and not draft.dirty

    def restore_into(self, tab_id: str, session: Any) -> Draft | None:
        """Put the tab's draft back into ``session``; the draft, or None when there is none.
        Raises WorkflowInvalid when its workflow does not load here (a newer FlowClass wrote
        it): the draft is left as it is, for the caller never to write over."""
        draft = self.read(tab_id, history=True)
        if draft is not None:
            restore(session, draft)
        return draft
