"""The house's layering: the canvas on top, the node families under it, the core at the bottom.

docs/imports.py sorts every module of flowclass and nodes into a layer (the same rules draw
docs/imports.svg); grimp reads the imports, those inside functions included.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import grimp
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
COMPOSITION_ROOT = ("flowclass.library",)


@pytest.fixture(scope="module")
def layers():
    spec = importlib.util.spec_from_file_location("flowclass_docs_imports", DOCS / "imports.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph(layers):
    return layers.import_graph()


def test_no_import_points_up_a_layer(layers, graph):
    assert layers.upward(graph) == []


def test_the_rules_see_an_upward_import(layers):
    graph = layers.import_graph()
    graph.add_import(importer="flowclass.engine", imported="nodes.images")
    graph.add_import(importer="nodes.images", imported="flowclass.ui.page")
    assert set(layers.upward(graph)) == {("flowclass.engine", "nodes.images"),
                                         ("nodes.images", "flowclass.ui.page")}


def test_only_the_composition_root_imports_the_node_library(layers, graph):
    reaching = [(a, b) for a, b in layers.imports(graph)
                if a.split(".")[0] == "flowclass" and b.split(".")[0] == "nodes" and a not in COMPOSITION_ROOT]
    assert reaching == []


def test_the_users_files_lie_between_the_node_helpers_and_the_core(layers):
    """Nodes and the canvas read pictures and write folders through flowclass.userfiles; the
    engine, which knows nothing about images, may not."""
    order = [layers.layer_of(m) for m in ("nodes.lib.images.sample_images", "flowclass.userfiles.pictures",
                                          "flowclass.engine")]
    assert [layers.RANK[name] for name in order] == sorted(layers.RANK[name] for name in order)
    assert order[1] == "userfiles" and len(set(order)) == 3


def test_the_core_and_the_node_families_never_import_the_canvas_toolkit_at_load():
    graph = grimp.build_graph("flowclass", "nodes", include_external_packages=True)
    heavy_ui = [m for m in ("nicegui",) if m in graph.modules]
    assert heavy_ui == ["nicegui"]
    core = [m for m in graph.modules if m.startswith("flowclass.") and not m.startswith(("flowclass.ui", "flowclass.viewers."))]
    assert [m for m in core if "nicegui" in graph.find_modules_directly_imported_by(m)] == []
