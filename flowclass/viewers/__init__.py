"""Result viewers: how the results panel shows a node's output value, per data type.

A viewer is a function ``show(value, ctx)`` that builds NiceGUI elements (into the
current container) for one output value. The results panel looks up every viewer
registered for the output's data type and shows each as a tab; a value of a type with
no viewer gets a table (if it has a table form) or a short summary.

Adding a viewer for a new data type
-----------------------------------
1. Write one module per family of viewers in this folder, e.g. ``classification.py``::

       from nicegui import ui
       from . import ViewerContext, viewer

       @viewer("confusion", title="Confusion matrix")
       def confusion_matrix(value, ctx: ViewerContext) -> None:
           ui.echart({...})

       # a viewer may apply to some values of a type only:
       @viewer("table", title="Skipped files", applies=lambda t: list(t.columns) == ["path", "reason"])
       def skipped(table, ctx): ...

       VIEWERS = [confusion_matrix, skipped]

2. Add the module's name to :data:`FAMILIES` below. Nothing else in the UI changes.

The first argument of :func:`viewer` is the :class:`~flowclass.datatypes.DataType`
name (``"labels"``, ``"embeddings"``...). ``order`` sorts the tabs (lower first). A
viewer may be ``async``; the panel shows a spinner until it returns. Heavy work (a
t-SNE, a big image) belongs off the event loop: ``await nicegui.run.io_bound(f, ...)``.
Show images through :meth:`ViewerContext.image_url` (thumbnails cached on disk, served
by the app with its access check), never by embedding file paths in the page.

Actions: a viewer that changes the workflow
-------------------------------------------
A viewer may offer buttons that act on the workflow; the context carries what it may do.
For example a paint tool that edits a label mask kept next to the workflow::

    def save(mask) -> None:
        folder = ctx.workflow_dir or ctx.out_dir      # None while the workflow is unsaved
        ...write it with nodes.lib.owned_files.OwnedFolder (never overwrite user files)...
        ctx.set_params(ctx.node_id, {"masks": "masks"})  # an undoable edit, like the inspector
        ctx.refresh()          # re-check the badges: the node reading that file turns "stale"
        ctx.run([ctx.node_id]) # or run it (and its ancestors) right away

``set_params`` goes through the editor (undo, dirty marker, validation); ``run`` is the
same background run as the Run button. A viewer never edits files the user owns.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

# Viewer modules, each with a VIEWERS list: add yours here.
FAMILIES: tuple[str, ...] = (
    "flowclass.viewers.tables",
    "flowclass.viewers.images",
    "nodes.viewers.maps",
    "nodes.viewers.clustering",
    "nodes.viewers.classification",
    "nodes.viewers.pixels",
)

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
    #: ``set_params(node_id, {name: value})``: change parameters as the inspector does.
    set_params: Callable[[str, Mapping[str, Any]], None]
    #: ``run(node_ids)``: run these nodes and what they need (None: the whole workflow).
    run: Callable[[Sequence[str] | None], None]
    #: ``refresh()``: re-check which results are cached or stale (after changing a file).
    refresh: Callable[[], None]
    #: ``store_dir(name)``: a persistent cache folder for a viewer family's own files.
    store_dir: Callable[[str], Path]
    #: The node's parameters as they are now (an action checks the ones it sets exist).
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


def viewer(data_type: str, title: str, *, applies: Callable[[Any], bool] | None = None,
           order: int = 50) -> Callable[[ShowFunction], Viewer]:
    """Declare a viewer around its ``show(value, ctx)`` function (see the module docstring)."""

    def wrap(show: ShowFunction) -> Viewer:
        return Viewer(data_type=data_type, title=title, show=show, applies=applies, order=order)

    return wrap


@dataclass
class ViewerRegistry:
    """The viewers the results panel may use, looked up by data type name."""

    viewers: list[Viewer]
    fallback: Callable[[str, Any], list[Viewer]] | None = None

    @classmethod
    def from_modules(cls, names: Iterable[str] = FAMILIES) -> "ViewerRegistry":
        viewers: list[Viewer] = []
        for name in names:
            declared = getattr(importlib.import_module(name), "VIEWERS", None)
            if not isinstance(declared, (list, tuple)) or not all(isinstance(v, Viewer) for v in declared):
                raise ValueError(f"viewer module {name} must have a VIEWERS list of Viewer objects")
            viewers.extend(declared)
        from .tables import fallback_viewers

        return cls(viewers, fallback_viewers)

    def for_value(self, data_type: str, value: Any) -> list[Viewer]:
        """The viewers to show ``value`` of ``data_type`` with, as ordered tabs."""
        found = [v for v in self.viewers if v.data_type == data_type and v.fits(value)]
        if not found and self.fallback is not None:
            found = self.fallback(data_type, value)
        return sorted(found, key=lambda v: (v.order, v.title))


def default_viewers() -> ViewerRegistry:
    return ViewerRegistry.from_modules(FAMILIES)
