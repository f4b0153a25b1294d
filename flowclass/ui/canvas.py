"""The workflow canvas as a NiceGUI element.

State lives in Python: the element gets the node catalogue, the graph and the
selection as props, and the browser only draws them and reports what the user
asked for (``add_node``, ``connect``, ``move``, ...). A handler decides and
answers by assigning a new :attr:`FlowCanvas.graph`; the canvas never edits
the graph on its own.

The browser side is a Vue Flow component built from ``frontend/`` into
``static/dist/`` (not in git). NiceGUI serves that folder as the ES module
``flowclass-canvas`` and as a resource folder for its CSS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments, Handler

DIST = Path(__file__).parent / "static" / "dist"
FRONTEND = Path(__file__).resolve().parents[2] / "frontend"  # there only in a source checkout
BUNDLE_FILES = ("index.js", "flowclass-canvas.css")
DRAG_MIME = "application/flowclass-node"
EVENTS = ("add_node", "connect", "connect_refused", "move", "select", "delete", "shortcut", "help", "viewport")


class CanvasBundleMissing(RuntimeError):
    """The canvas's browser bundle has not been built, so the editor cannot be shown."""


def ensure_canvas_bundle() -> Path:
    """Return the bundle folder, or raise :class:`CanvasBundleMissing` saying how to build it.

    Call it when the app starts, so a missing build fails loudly at once rather
    than as an empty canvas in the browser.
    """
    missing = [name for name in BUNDLE_FILES if not (DIST / name).is_file()]
    if missing:
        raise CanvasBundleMissing(
            f"The FlowClass canvas bundle is not built ({', '.join(missing)} missing in {DIST}). "
            "Build it with `npm ci && npm run build` in the frontend/ folder (needs Node.js and npm), "
            "or reinstall FlowClass (`pip install -e .` or a wheel), which builds it when npm is available."
        )
    return DIST


def stale_bundle_warning() -> str | None:
    """What to tell when a source checkout's bundle is older than its frontend sources, else None.

    An editable install builds the bundle once; sources pulled later are not in it, and the
    canvas then silently shows the old component (styles and behaviour the code no longer has).
    """
    sources = [p for p in (FRONTEND / "src").rglob("*") if p.is_file()] if (FRONTEND / "src").is_dir() else []
    built = [DIST / name for name in BUNDLE_FILES]
    if not sources or not all(p.is_file() for p in built):
        return None
    newest = max(sources, key=lambda p: p.stat().st_mtime)
    if newest.stat().st_mtime <= min(p.stat().st_mtime for p in built):
        return None
    return (f"the canvas bundle in {DIST} is older than {newest}, so the canvas would look and behave "
            f"as an older FlowClass. Rebuild it: cd {FRONTEND} && npx vite build")


def empty_catalogue() -> dict[str, Any]:
    return {"node_types": [], "data_types": {}, "compatible": {}}


def empty_graph() -> dict[str, Any]:
    return {"nodes": [], "edges": []}


class FlowCanvas(
    ui.element,
    component="flow_canvas.js",
    esm={"flowclass-canvas": "static/dist"},
    default_style="width: 100%; height: 600px",
):
    """Node editor canvas: props in, user intents out (see module docstring).

    Events (``e.args`` payloads):

    - ``add_node``: ``{"type", "position": {"x", "y"} | None}`` (palette item dropped or picked in the
      search box, in flow coordinates; None: the search was opened with ``/``, add beside the selection)
    - ``connect``: ``{"from": {"node", "port"}, "to": {"node", "port"}}`` (already type-checked)
    - ``connect_refused``: ``{"from", "to", "reason"}`` (user dropped an invalid connection)
    - ``move``: ``{"moves": [{"id", "position": {"x", "y"}}]}`` (after a drag)
    - ``select``: ``{"id": str | None}``
    - ``delete``: ``{"nodes": [id, ...], "edges": [{"from", "to"}, ...]}`` (Delete/Backspace)
    - ``shortcut``: ``{"key": "undo" | "redo" | "duplicate" | "save"}``
    - ``help``: ``{"id"}`` (the node's "?" was clicked)
    - ``viewport``: ``{"x", "y", "zoom"}`` (after each pan or zoom: where the user looks)

    ``viewport`` (the prop) is the view shown first instead of framing the graph: a reloaded
    tab's own.
    """

    def __init__(
        self,
        catalogue: dict[str, Any] | None = None,
        graph: dict[str, Any] | None = None,
        *,
        selected: str | None = None,
        viewport: dict[str, float] | None = None,
        on_add_node: Handler[GenericEventArguments] | None = None,
        on_connect: Handler[GenericEventArguments] | None = None,
        on_connect_refused: Handler[GenericEventArguments] | None = None,
        on_move: Handler[GenericEventArguments] | None = None,
        on_select: Handler[GenericEventArguments] | None = None,
        on_delete: Handler[GenericEventArguments] | None = None,
        on_shortcut: Handler[GenericEventArguments] | None = None,
        on_help: Handler[GenericEventArguments] | None = None,
    ) -> None:
        dist = ensure_canvas_bundle()
        super().__init__()
        self.add_resource(dist)  # gives the component `resourcePath`, from which it loads the CSS
        self._props["catalogue"] = catalogue if catalogue is not None else empty_catalogue()
        self._props["graph"] = graph if graph is not None else empty_graph()
        self._props["selected"] = selected
        self._props["viewport"] = viewport
        handlers = (on_add_node, on_connect, on_connect_refused, on_move, on_select, on_delete, on_shortcut,
                    on_help)
        for event, handler in zip(EVENTS, handlers):
            if handler is not None:
                self.on(event, handler)

    # Assigning a prop pushes it to the browser (NiceGUI props are observed).
    @property
    def catalogue(self) -> dict[str, Any]:
        return self._props["catalogue"]

    @catalogue.setter
    def catalogue(self, value: dict[str, Any]) -> None:
        self._props["catalogue"] = value

    @property
    def graph(self) -> dict[str, Any]:
        return self._props["graph"]

    @graph.setter
    def graph(self, value: dict[str, Any]) -> None:
        self._props["graph"] = value

    @property
    def selected(self) -> str | None:
        return self._props["selected"]

    @selected.setter
    def selected(self, value: str | None) -> None:
        self._props["selected"] = value

    def fit_view(self, readable: bool = False) -> None:
        """Zoom (never past 1) and pan so that every node is visible; with ``readable``, never
        below the zoom where node text stays readable: a wide graph is shown from its start."""
        self.run_method("fit_view", readable)

    def open_search(self) -> None:
        """Open the search-to-add box, as ``/`` does."""
        self.run_method("open_search")

    def zoom_in(self) -> None:
        self.run_method("zoom_in")

    def zoom_out(self) -> None:
        self.run_method("zoom_out")


def palette_item(element: ui.element, node_type: str) -> ui.element:
    """Make any element a palette entry that can be dragged onto a :class:`FlowCanvas`.

    The drag carries the node type id under ``application/flowclass-node``;
    dropping it on the canvas emits ``add_node``. Handled entirely in the browser.
    """
    element._props["draggable"] = "true"  # pylint: disable=protected-access
    element.on(
        "dragstart",
        js_handler=(
            f"(e) => {{ e.dataTransfer.setData({json.dumps(DRAG_MIME)}, {json.dumps(node_type)});"
            " e.dataTransfer.effectAllowed = 'copy'; }"
        ),
    )
    return element
