"""A self-contained canvas fixture for the element's own tests: a hard-coded
catalogue and graph, and a tiny in-memory controller (intent -> decide -> assign
a new graph), so FlowCanvas is tested apart from the app (flowclass/ui/page.py).
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, Callable

from nicegui import ui

from flowclass.ui.canvas import FlowCanvas, palette_item


def _port(name: str, type_: str, title: str, optional: bool = False) -> dict[str, Any]:
    return {"name": name, "type": type_, "title": title, "optional": optional}


DEMO_CATALOGUE: dict[str, Any] = {
    "node_types": [
        {"type": "import_images", "version": 1, "title": "Import images", "category": "Input",
         "description": "Read a folder of images.", "inputs": [],
         "outputs": [_port("images", "image_set", "Images")], "params": []},
        {"type": "embed", "version": 1, "title": "Embed", "category": "Features",
         "description": "Image embeddings from a pretrained network.",
         "inputs": [_port("images", "image_set", "Images")],
         "outputs": [_port("embeddings", "embeddings", "Embeddings")], "params": []},
        {"type": "distances", "version": 1, "title": "Distances", "category": "Analysis",
         "description": "Pairwise distances.", "inputs": [_port("embeddings", "embeddings", "Embeddings")],
         "outputs": [_port("distances", "matrix", "Distances")], "params": []},
        {"type": "cluster", "version": 1, "title": "Cluster", "category": "Analysis",
         "description": "Group similar images.",
         "inputs": [_port("embeddings", "embeddings", "Embeddings"),
                    _port("distances", "matrix", "Distances", optional=True)],
         "outputs": [_port("clusters", "clusters", "Clusters")], "params": []},
        {"type": "export_table", "version": 1, "title": "Export table", "category": "Output",
         "description": "Save a table as CSV or Excel.", "inputs": [_port("table", "table", "Table")],
         "outputs": [], "params": []},
    ],
    "data_types": {
        "image_set": {"title": "Images", "color": "#f59e0b"},
        "embeddings": {"title": "Embeddings", "color": "#8b5cf6"},
        "matrix": {"title": "Matrix", "color": "#06b6d4"},
        "clusters": {"title": "Clusters", "color": "#10b981"},
        "table": {"title": "Table", "color": "#64748b"},
    },
    "compatible": {"clusters": ["table"], "embeddings": ["table"], "matrix": ["table"]},
}


def _status(state: str, progress: float | None = None, message: str = "") -> dict[str, Any]:
    return {"state": state, "progress": progress, "message": message}


def _node(id_: str, type_: str, title: str, x: float, y: float, status: dict[str, Any],
          placeholder: bool = False, message: str = "") -> dict[str, Any]:
    return {"id": id_, "type": type_, "title": title, "position": {"x": x, "y": y},
            "placeholder": placeholder, "message": message, "status": status}


def _edge(a: str, out: str, b: str, inp: str) -> dict[str, Any]:
    return {"from": {"node": a, "port": out}, "to": {"node": b, "port": inp}}


DEMO_GRAPH: dict[str, Any] = {
    "nodes": [
        _node("n1", "import_images", "Import images", 0, 0, _status("done")),
        _node("n2", "embed", "Embed (ResNet)", 300, 0, _status("running", 0.4, "batch 4/10")),
        _node("n3", "distances", "Distances", 600, -100, _status("idle")),
        _node("n4", "cluster", "Cluster", 600, 100, _status("failed", message="k must be at least 2")),
        _node("n5", "old_plugin", "Old plugin", 300, 200, _status("skipped"), placeholder=True,
              message='Unknown node type "old_plugin" (plugin not installed).'),
    ],
    "edges": [_edge("n1", "images", "n2", "images"), _edge("n2", "embeddings", "n3", "embeddings"),
              _edge("n1", "images", "n5", "images")],  # into the placeholder: drawn with an "unknown" port
}


class DemoController:
    """Applies canvas intents to an in-memory graph, as the real workflow will."""

    def __init__(self, canvas: FlowCanvas, graph: dict[str, Any],
                 log: Callable[[str, Any], None] | None = None) -> None:
        self.canvas = canvas
        self.graph = copy.deepcopy(graph)
        self.log = log or (lambda name, args: None)
        self._ids = itertools.count(len(self.graph["nodes"]) + 1)
        titles = {t["type"]: t["title"] for t in canvas.catalogue["node_types"]}
        handlers = {
            "add_node": lambda a: self.graph["nodes"].append(
                _node(f"n{next(self._ids)}", a["type"], titles.get(a["type"], a["type"]),
                      a["position"]["x"], a["position"]["y"], _status("idle"))),
            "connect": lambda a: self.graph["edges"].append({"from": a["from"], "to": a["to"]}),
            "connect_refused": lambda a: ui.notify(a["reason"], type="warning"),
            "move": self._move,
            "select": lambda a: setattr(self.canvas, "selected", a["id"]),
            "delete": self._delete,
            "shortcut": lambda a: ui.notify(f"shortcut: {a['key']}"),
        }
        for name, apply in handlers.items():
            canvas.on(name, lambda e, name=name, apply=apply: self._handle(name, apply, e.args))

    def _handle(self, name: str, apply: Callable[[Any], Any], args: Any) -> None:
        self.log(name, args)
        apply(args)
        if name not in ("select", "connect_refused", "shortcut"):
            self.canvas.graph = copy.deepcopy(self.graph)

    def _move(self, args: dict[str, Any]) -> None:
        nodes = {n["id"]: n for n in self.graph["nodes"]}
        for move in args["moves"]:
            if move["id"] in nodes:
                nodes[move["id"]]["position"] = move["position"]

    def _delete(self, args: dict[str, Any]) -> None:
        gone = set(args["nodes"])
        dropped = [(e["from"], e["to"]) for e in args["edges"]]
        self.graph["nodes"] = [n for n in self.graph["nodes"] if n["id"] not in gone]
        self.graph["edges"] = [e for e in self.graph["edges"]
                               if e["from"]["node"] not in gone and e["to"]["node"] not in gone
                               and (e["from"], e["to"]) not in dropped]


def build_demo(log: Callable[[str, Any], None] | None = None) -> FlowCanvas:
    """Palette on the left, canvas on the right; returns the canvas."""
    with ui.row().classes("w-full no-wrap gap-2"):
        with ui.column().classes("w-48 gap-1"):
            ui.label("Nodes").classes("text-bold")
            for spec in DEMO_CATALOGUE["node_types"]:
                item = ui.label(spec["title"]).classes(
                    "w-full px-2 py-1 rounded border bg-white cursor-grab select-none")
                item.props(f"data-node-type={spec['type']}")
                palette_item(item, spec["type"])
        with ui.column().classes("grow gap-1"):
            with ui.row().classes("gap-1"):
                ui.button("Fit", on_click=lambda: canvas.fit_view()).props("flat dense")
                ui.button("Zoom in", on_click=lambda: canvas.zoom_in()).props("flat dense")
                ui.button("Zoom out", on_click=lambda: canvas.zoom_out()).props("flat dense")
            canvas = FlowCanvas(DEMO_CATALOGUE, copy.deepcopy(DEMO_GRAPH)).style("height: 640px")
    DemoController(canvas, DEMO_GRAPH, log)
    return canvas

