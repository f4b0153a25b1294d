"""One tab's editor state: the workflow being edited, its file, undo/redo and the selection.

Plain Python, no NiceGUI: every edit takes the current immutable
:class:`~flowclass.workflow.Workflow` and puts a new one in its place, so undo/redo is
a list of snapshots and the canvas, the inspector and the file all show one model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Mapping

from ..problems import Problem
from ..fsutil import clear_dead_temps, expand_user
from ..params import Path as PathParam, absolute
from ..registry import Registry
from ..validation import validate
from ..workflow import Edge, NodeSpec, PortRef, Workflow
from ..workflow_file import MAX_LINE, compact_dumps, dumps, load, new_node, save
from .file_guard import file_sha, text_sha

HISTORY_LIMIT = 200
DUPLICATE_OFFSET = (40.0, 60.0)


class EditRefused(ValueError):
    """An edit the editor will not make; the message says why, for the user."""


@dataclass
class EditorState:
    registry: Registry
    workflow: Workflow = field(default_factory=Workflow)
    path: Path | None = None
    #: The file text at the last open or save: the workflow is dirty when it differs.
    saved_text: str = field(default_factory=lambda: dumps(Workflow()))
    selected: str | None = None
    #: sha256 of the file as last opened or saved: Save checks it was not changed elsewhere since.
    disk_sha: str | None = None
    #: Where relative input paths point while the workflow has no file (a ready workflow's folder).
    origin: Path | None = None
    undo_stack: list[Workflow] = field(default_factory=list)
    redo_stack: list[Workflow] = field(default_factory=list)
    _merge_key: Any = None
    #: ids a new node must not take: a deleted node's unsaved work (strokes) kept under its id
    #: for an Undo would otherwise become the new node's
    reserved_ids: Callable[[], Collection[str]] = field(default=lambda: (), compare=False, repr=False)
    #: each snapshot's file text, by id (the snapshot held beside it, so the id is not reused)
    _texts: dict[int, tuple[Workflow, str]] = field(default_factory=dict, compare=False, repr=False)

    # --- files ------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return dumps(self.workflow) != self.saved_text

    @property
    def base_dir(self) -> Path:
        """The folder relative input paths resolve against, as ``flowclass run`` does."""
        if self.path is not None:
            return self.path.parent
        return self.origin if self.origin is not None else Path.cwd()

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else (self.workflow.name or "Untitled workflow")

    def reset(self, workflow: Workflow, path: Path | None, *, clean: bool = True) -> None:
        """Start over on ``workflow`` (New, Open, a ready workflow): history is cleared."""
        self.workflow, self.path, self.origin, self.disk_sha = workflow, path, None, None
        self.saved_text = dumps(workflow) if clean else dumps(Workflow())
        self.selected = None
        self.undo_stack.clear()
        self.redo_stack.clear()
        self._merge_key = None

    def open(self, path: Path) -> None:
        """Open a workflow file (raises WorkflowInvalid for a broken one; nothing changes then)."""
        path = Path(path).resolve()
        loaded_sha = file_sha(path)  # first: a file rewritten meanwhile is then seen as changed
        self.reset(load(path, self.registry), path)
        self.disk_sha = loaded_sha
        clear_dead_temps(path.parent)  # a save killed there (this canvas's or another's) left its file

    def reload(self) -> None:
        """Open its own file again as it is now (Save's *Reload the file*): the version that
        replaces is one Undo away, so a reload chosen by mistake loses nothing."""
        mine = self.workflow
        self.open(self.path)
        self.undo_stack.append(mine)

    def open_copy(self, path: Path) -> None:
        """Open a ready workflow as a new, unsaved one (so Save asks where it goes)."""
        path = Path(path).resolve()
        self.reset(load(path, self.registry), None, clean=False)
        self.origin = path.parent  # its data files stay where they are

    def save(self, path: Path | None = None) -> Path:
        target = Path(path).resolve() if path is not None else self.path
        if target is None:
            raise EditRefused("this workflow has no file yet; use Save As")
        workflow = self.workflow
        if target.parent != self.base_dir:  # keep relative input paths pointing at the same files
            # a ready copy's first save: files it names that do not exist yet (its label file)
            # are to be made beside the new file, not in the folder it came from (the install)
            workflow = rebased(workflow, self.registry, self.base_dir, target.parent,
                               keep_missing=self.path is None)
        save(workflow, target)  # first: a save that fails leaves the tab's paths as they were
        self.workflow, self.path, self.saved_text = workflow, target, dumps(workflow)
        self.disk_sha = text_sha(self.saved_text)
        return target

    # --- history ----------------------------------------------------------------------
    def apply(self, workflow: Workflow, merge_key: Any = None) -> None:
        """Make ``workflow`` current. Edits with the same non-None ``merge_key`` in a row
        (typing into one parameter) become one undo step."""
        if workflow == self.workflow:
            return
        if merge_key is None or merge_key != self._merge_key or not self.undo_stack:
            self.undo_stack.append(self.workflow)
            del self.undo_stack[:-HISTORY_LIMIT]
        self.redo_stack.clear()
        self.workflow = workflow
        self._merge_key = merge_key
        self._drop_stale_selection()

    def undo(self) -> bool:
        return self._step(self.undo_stack, self.redo_stack)

    def redo(self) -> bool:
        return self._step(self.redo_stack, self.undo_stack)

    def _step(self, back: list[Workflow], forth: list[Workflow]) -> bool:
        """Make the last snapshot of ``back`` current, keeping the current one on ``forth``."""
        if not back:
            return False
        forth.append(self.workflow)
        self.workflow = back.pop()
        self._merge_key = None
        self._drop_stale_selection()
        return True

    def history_texts(self, steps: int, chars: int) -> tuple[list[str], list[str]]:
        """The undo and redo snapshots nearest the current one as compact JSON (oldest first,
        as the stacks): at most ``steps`` of each and ``chars`` characters in all, redo's first
        then undo's. Each snapshot is written once (a draft asks for them on every keep)."""
        known, self._texts = self._texts, {}
        left = chars

        def text_of(workflow: Workflow) -> str:
            entry = known.get(id(workflow))
            text = entry[1] if entry is not None and entry[0] is workflow else compact_dumps(workflow)
            self._texts[id(workflow)] = (workflow, text)
            return text

        kept: list[list[str]] = []
        for stack in (self.redo_stack, self.undo_stack):
            texts: list[str] = []
            for workflow in reversed(stack[-steps:] if steps else []):
                text = text_of(workflow)
                if len(text) > left:
                    break
                left -= len(text)
                texts.append(text)
            kept.append(texts[::-1])
        return kept[1], kept[0]

    def restore_history(self, undo: list[Workflow], redo: list[Workflow]) -> None:
        """Put back a kept history (a restarted server's tab): Undo goes on where it was."""
        self.undo_stack[:] = undo[-HISTORY_LIMIT:]
        self.redo_stack[:] = redo[-HISTORY_LIMIT:]
        self._merge_key = None

    def _drop_stale_selection(self) -> None:
        if self.selected is not None and self.workflow.node(self.selected) is None:
            self.selected = None

    # --- queries ----------------------------------------------------------------------
    def problems(self) -> list[Problem]:
        return validate(self.workflow, self.registry)

    def node_title(self, spec: NodeSpec) -> str:
        """The title a node shows: its own, else its type's."""
        return self.registry.title(spec)

    # --- edits ------------------------------------------------------------------------
    def add_node(self, type_id: str, position: tuple[float, float],
                 feeds: Mapping[str, PortRef] | None = None) -> str:
        """Add a node (selected), fed by ``feeds`` ({its input: an output}) in the same undo step."""
        node_type = self.registry.get(type_id)
        if node_type is None:
            raise EditRefused(f"unknown node type '{type_id}'")
        spec = new_node(self.workflow, node_type, position=(float(position[0]), float(position[1])),
                        node_id=self.workflow.new_id(node_type.type, self.reserved_ids()))
        workflow = self.workflow.with_node(spec)
        for name, source in (feeds or {}).items():
            workflow = workflow.with_edge(Edge(source, PortRef(spec.id, name)))
        self.apply(workflow)
        self.selected = spec.id
        return spec.id

    def connect(self, source: PortRef, target: PortRef) -> Edge:
        """Add an edge after checking the ports exist and their types fit."""
        out = self._port(source.node, source.port, "output")
        inp = self._port(target.node, target.port, "input")
        if source.node == target.node:
            raise EditRefused("a node cannot be connected to itself")
        if not inp.type.takes(out.type):
            raise EditRefused(f"output '{out.label}' gives {out.type.title}, but input "
                              f"'{inp.label}' takes {inp.type.title}")
        edge = Edge(source, target)
        candidate = self.workflow.with_edge(edge)
        if any(p.code == "cycle" for p in validate(candidate, self.registry)):
            raise EditRefused("this connection would make a loop")
        self.apply(candidate)
        return edge

    def _port(self, node_id: str, port: str, side: str) -> Any:
        spec = self.workflow.node(node_id)
        node_type = self.registry.get(spec.type) if spec else None
        if node_type is None:
            raise EditRefused(f"node '{node_id}' is unknown to this FlowClass")
        found = node_type.output(port) if side == "output" else node_type.input(port)
        if found is None:
            raise EditRefused(f"node '{node_id}' has no {side} '{port}'")
        return found

    def delete(self, node_ids: Iterable[str] = (), edges: Iterable[Edge] = ()) -> None:
        workflow = self.workflow.without_nodes(set(node_ids))
        for edge in edges:
            workflow = workflow.without_edge(edge)
        self.apply(workflow)

    def duplicate(self, node_ids: Iterable[str]) -> list[str]:
        """Copy nodes with their parameters, the edges among them and the edges feeding them."""
        ids = [n for n in node_ids if self.workflow.node(n) is not None]
        workflow, renamed = self.workflow, {}
        for node_id in ids:
            spec = workflow.node(node_id)
            copy = replace(spec, id=workflow.new_id(re.sub(r"_\d+$", "", spec.id), self.reserved_ids()),
                           position=(spec.position[0] + DUPLICATE_OFFSET[0],
                                     spec.position[1] + DUPLICATE_OFFSET[1]))
            workflow = workflow.with_node(copy)
            renamed[node_id] = copy.id
        for edge in self.workflow.edges:
            if edge.target.node in renamed:
                source = PortRef(renamed.get(edge.source.node, edge.source.node), edge.source.port)
                workflow = workflow.with_edge(Edge(source, PortRef(renamed[edge.target.node], edge.target.port)))
        self.apply(workflow)
        if renamed:
            self.selected = renamed[ids[-1]]
        return list(renamed.values())

    def move(self, moves: Mapping[str, tuple[float, float]]) -> None:
        workflow = self.workflow
        for node_id, (x, y) in moves.items():
            if workflow.node(node_id) is not None:
                workflow = workflow.moved(node_id, x, y)
        self.apply(workflow)

    def set_params(self, node_id: str, params: Mapping[str, Any]) -> None:
        self.apply(self.workflow.with_params(node_id, **params), merge_key=("params", node_id, tuple(params)))

    def rename(self, node_id: str, title: str) -> None:
        spec = self.workflow.node(node_id)
        if spec is None:
            raise KeyError(node_id)
        # cut to what a workflow file takes, so that a long paste leaves a file that opens
        self.apply(self.workflow.replace_node(replace(spec, title=title.strip()[:MAX_LINE])),
                   merge_key=("title", node_id))


def rebased(workflow: Workflow, registry: Registry, old: Path, new: Path, *,
            keep_missing: bool = False) -> Workflow:
    """``workflow`` with relative input paths rewritten for a file in folder ``new``.

    Each still names the same file or folder: relative to ``new`` when it lies below it,
    absolute otherwise. With ``keep_missing``, a relative path that names nothing yet (a
    label file the canvas creates on the first correction) stays relative: it means "beside
    the workflow", and pointing it back at the old folder (a ready workflow's, inside the
    install) would make the canvas read one file and write another. Output paths are
    relative to the run's output folder, not the workflow's, so they stay as they are.
    """
    for spec in workflow.nodes:
        node_type = registry.get(spec.type)
        for param in node_type.params if node_type else ():
            value = spec.params.get(param.name)
            if not (isinstance(param, PathParam) and param.role == "input" and isinstance(value, str)
                    and value and not expand_user(value).is_absolute()):
                continue
            target = Path(absolute(value, old))
            if keep_missing and not target.exists():
                continue
            try:
                moved = str(target.relative_to(new.resolve()))
            except ValueError:
                moved = str(target)
            workflow = workflow.with_params(spec.id, **{param.name: moved})
    return workflow
