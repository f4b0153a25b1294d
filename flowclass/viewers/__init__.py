"""Result viewers: how the results panel shows a node's output value, per data type.

This package is the viewer *protocol* (:class:`Viewer`, :class:`ViewerContext`,
:func:`viewer`; plain data, no NiceGUI, so node modules and the registry may import it)
and the *generic* viewers every data type may use (``tables``: any table; ``images``: an
image grid). Viewers of a family's own data types live with the family, in ``nodes/``.

A viewer is a function ``show(value, ctx)`` that builds NiceGUI elements (into the
current container) for one output value. The results panel looks up every viewer
registered for the output's data type and shows each as a tab; a value of a type with
no viewer gets a table (if it has a table form) or a short summary.

Adding a viewer for a new data type
-----------------------------------
A node family module lists its viewers beside its nodes, and the registry collects both
(plugins included)::

    from flowclass.viewers import ViewerContext, viewer

    @viewer(CONFUSION, title="Confusion matrix")      # a DataType, or its name
    def confusion_matrix(value, ctx: ViewerContext) -> None:
        from nicegui import ui          # inside: a headless run never imports NiceGUI
        ui.echart({...})

    NODES = [evaluate]
    VIEWERS = [confusion_matrix]        # Viewer objects, or names of modules that hold them

A family whose viewers are long keeps them in a module of their own and names it, so the
node module stays light: ``VIEWERS = ["nodes.viewers.classification"]`` (that module has
its own ``VIEWERS`` list of :class:`Viewer` objects and is imported by the canvas only).

``order`` sorts the tabs (lower first); ``applies`` limits a viewer to some values of its
type. A viewer may be ``async``; the panel shows a spinner until it returns. Heavy work
(a t-SNE, a big image) belongs off the event loop: ``await nicegui.run.io_bound(f, ...)``.
Show images through :meth:`ViewerContext.image_url` (thumbnails cached on disk, served
by the app with its access check), never by embedding file paths in the page.

Actions: a viewer that changes the workflow
-------------------------------------------
A viewer may offer buttons that act on the workflow; the context carries what it may do.
Parameters are named by their declarations (the ``Param`` objects of the node type), so a
renamed parameter fails loudly instead of writing a name nobody reads::

    if ctx.declares(CUT, DISTANCE):                   # the node has these parameters
        ctx.apply_params((CUT, "distance"), (DISTANCE, 0.8))  # an undoable edit, like the inspector
        ctx.refresh()          # re-check the badges: the node reading that file turns "stale"
        ctx.run([ctx.node_id]) # or run it (and its ancestors) right away
        ctx.run_downstream()   # or it and every node it feeds (an export follows the change)

``apply_params`` goes through the editor (undo, dirty marker, validation); ``run`` is the
same background run as the Run button. A viewer never edits files the user owns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Sequence

from ..datatypes import DataType
from ..params import Param

def plain_field_title(node_id: str, name: str) -> str:
    """A parameter named as the workflow file names it, where its declaration is not known."""
    return f"the field '{name}' of node '{node_id}'"


ShowFunction = Callable[[Any, "ViewerContext"], "None | Awaitable[None]"]

THUMBNAIL_SIZE = 160


@dataclass(frozen=True)
class ViewerContext:
    """What a viewer may use besides the value it shows.

    Every callable is provided by the tab that shows the viewer, so a viewer works on
    that tab's workflow only (tabs never see each other's graphs).
    """

    node_id: str
    port: str
    data_type: str
    #: Folder of the saved workflow file (where relative input paths point); None while unsaved.
    workflow_dir: Path | None
    #: This tab's output folder for runs (shown and changeable in the page's footer).
    out_dir: Path
    #: ``image_url(path, sha256=None, size=THUMBNAIL_SIZE)``: URL of an image file, scaled
    #: to fit ``size`` px (cached on disk by content); ``size=None`` gives it full size.
    image_url: Callable[..., str]
    #: ``upstream(data_type)``: the nearest ancestor's output of that data type from the
    #: last run (e.g. the embeddings behind a clustering), or None.
    upstream: Callable[[str], Any]
    #: ``set_params(node_id, {name: value})``: the editor's edit, as the inspector makes it
    #: (viewers call :meth:`apply_params`, which names parameters by their declarations).
    set_params: Callable[[str, Mapping[str, Any]], None]
    #: ``run(node_ids)``: run these nodes and what they need (None: the whole workflow).
    run: Callable[[Sequence[str] | None], None]
    #: ``refresh()``: re-check which results are cached or stale (after changing a file).
    refresh: Callable[[], None]
    #: ``store_dir(name)``: a persistent cache folder for a viewer family's own files.
    store_dir: Callable[[str], Path]
    #: The node's parameters as they are now, by name (read them with :meth:`param`).
    node_params: Mapping[str, Any] = field(default_factory=dict)
    #: ``upstream_node(node_type)``: the nearest node of that type feeding this one (or this
    #: node itself), e.g. the Label Overrides node whose file corrections go to; or None.
    upstream_node: Callable[[str], str | None] = lambda node_type: None
    #: ``input_path(node_id, param)``: a path parameter as a run reads it now (a relative
    #: path resolved against the workflow's folder), or None when it is empty.
    input_path: Callable[[str, str], Path | None] = lambda node_id, name: None
    #: ``workflow_path()``: the workflow's file now (None while unsaved).
    workflow_path: Callable[[], Path | None] = lambda: None
    #: ``save()``: File > Save (Save As while unsaved); returns the file, None if not saved.
    save: Callable[[], Awaitable[Path | None]] | None = None
    #: ``run_from(node_id)``: run this node and every node downstream of it, so what follows
    #: an applied change (an export's folders) matches it; None: a tab that cannot (tests).
    run_from: Callable[[str], None] | None = None
    #: ``installed(path)``: whether a path lies in FlowClass's installed ready workflows,
    #: which a viewer never writes into (a ready copy's masks or label file are copied out).
    installed: Callable[[Path], bool] = lambda path: False
    #: ``named(node_id, param)``: whether the user gave this parameter's value in this tab
    #: (typed it, or took the file's value as theirs with :attr:`adopt`), not the workflow file.
    named: Callable[[str, str], bool] = lambda node_id, name: False
    #: ``adopt(node_id, param)``: the user takes the workflow file's value of this parameter as
    #: their own, as if typed; None: a tab that cannot (tests).
    adopt: Callable[[str, str], None] | None = None
    #: ``field_title(node_id, param)``: the parameter as the inspector shows it, for messages
    #: that tell the user which field to change ("the field 'File' of Label Overrides (labels)").
    field_title: Callable[[str, str], str] = lambda node_id, name: plain_field_title(node_id, name)
    #: ``work(key)``: what this viewer kept under ``key`` for this node of the user's work that
    #: is in no file yet (strokes painted, not saved), else None. The tab keeps it, not the page:
    #: another node selected, a reload or a restarted server (its draft) gives it back.
    work: Callable[[str], Any] = lambda key: None
    #: ``keep_work(key, value)``: keep that work (JSON values: lists, numbers, text), None once
    #: it is saved; while any is kept the tab says it has unsaved changes.
    keep_work: Callable[[str, Any], None] = lambda key, value: None

    def stranger_file(self, path: Path, node_id: str, name: str) -> str:
        """Why a viewer may not write its decisions into ``path``, the file parameter ``name`` of
        node ``node_id`` names; "" when it may. A workflow file may be a stranger's, so a file it
        names is written only when it is a ``.csv`` file, not hidden, in the workflow's folder or
        below it (its folders' links resolved): never ``~/.profile``, which a shell runs, nor a
        file of the user's elsewhere. A file the user named is theirs to write."""
        workflow = self.workflow_path()
        if workflow is None or self.named(node_id, name):
            return ""
        folder = Path(os.path.realpath(workflow.parent))
        real = Path(os.path.realpath(path.parent)) / path.name  # a link as the file itself is refused on writing
        if not real.is_relative_to(folder):
            why = f"it lies outside the workflow's folder ({folder})"
        elif any(part.startswith(".") for part in real.relative_to(folder).parts):
            why = "its name is hidden (it starts with '.')"
        elif real.suffix.lower() != ".csv":
            why = "it is not a .csv file"
        else:
            return ""
        return (f"Nothing is written to {path}: the workflow file named it, and {why}. A workflow "
                "file may be someone else's, so FlowClass writes decisions only into a .csv file in the "
                "workflow's folder, or into a file you name: click 'Write to this file', or type another "
                f"path into {self.field_title(node_id, name)}.")

    def run_downstream(self) -> None:
        """Run this node and what follows it: after an action changed it (Apply this cut), the
        nodes fed by it (an export) must not keep showing, or leave on disk, the old result."""
        if self.run_from is not None:
            self.run_from(self.node_id)
        else:
            self.run([self.node_id])

    def declares(self, *params: Param) -> bool:
        """Whether this node has all these declared parameters (an action offers itself only then)."""
        return all(_declared(p).name in self.node_params for p in params)

    def param(self, param: Param) -> Any:
        """The node's value of a declared parameter now (its default when not set)."""
        return self.node_params.get(_declared(param).name, param.default)

    def apply_params(self, *changes: tuple[Param, Any]) -> None:
        """Change this node's parameters, each named by its declaration, as the inspector does:
        ``ctx.apply_params((CUT, "distance"), (DISTANCE, 0.8))``."""
        missing = [p.name for p, _ in changes if not self.declares(p)]
        if missing:
            raise ValueError(f"node '{self.node_id}' has no parameter {', '.join(map(repr, missing))}")
        self.set_params(self.node_id, {p.name: value for p, value in changes})


def _declared(param: Any) -> Param:
    if not isinstance(param, Param):
        raise TypeError(f"a viewer names a parameter by its declaration (a Param object); got {param!r}")
    return param


@dataclass(frozen=True)
class Viewer:
    """One way to show values of one data type (a tab in the results panel)."""

    data_type: str
    title: str
    show: ShowFunction
    applies: Callable[[Any], bool] | None = None
    order: int = 50

    def fits(self, value: Any) -> bool:
        return self.applies is None or bool(self.applies(value))


def viewer(data_type: str | DataType, title: str, *, applies: Callable[[Any], bool] | None = None,
           order: int = 50) -> Callable[[ShowFunction], Viewer]:
    """Declare a viewer around its ``show(value, ctx)`` function (see the module docstring)."""
    name = data_type.name if isinstance(data_type, DataType) else data_type

    def wrap(show: ShowFunction) -> Viewer:
        return Viewer(data_type=name, title=title, show=show, applies=applies, order=order)

    return wrap
