"""The picture of FlowClass's imports, by layer: ``python docs/imports.py`` writes docs/imports.svg.

grimp reads the import graph of ``flowclass`` and ``nodes`` (imports inside functions
included); each module falls into one layer, top to bottom. An import may only point
down (or stay in its layer): ``tests/test_layers.py`` asserts it with the same rules, and
Graphviz's ``dot`` draws the layers with the number of imports between them.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import grimp

# Top to bottom. A module's layer is the first whose test matches it.
LAYERS: tuple[tuple[str, str], ...] = (
    ("entry", "command line (flowclass.cli)"),
    ("ui", "canvas app (flowclass.ui)"),
    ("root", "composition root (flowclass.library)"),
    ("families", "node families: NODES and VIEWERS (nodes, nodes.viewers)"),
    ("node_lib", "node helpers and data types (nodes.lib, nodes.*datatypes)"),
    ("viewer_kit", "generic viewers (flowclass.viewers.*)"),
    ("userfiles", "the user's files: pictures read, folders written safely (flowclass.userfiles)"),
    ("core", "core: declarations, engine, cache, viewer protocol (flowclass)"),
)
DATA_TYPE_MODULES = ("nodes.datatypes", "nodes.classify_types", "nodes.pixel_datatypes")


def layer_of(module: str) -> str:
    """Which layer a module of flowclass or nodes belongs to."""
    if module in ("flowclass.cli", "flowclass.__main__"):
        return "entry"
    if module == "flowclass.ui" or module.startswith("flowclass.ui."):
        return "ui"
    if module == "flowclass.library":
        return "root"
    if module.startswith("nodes.lib") or module in DATA_TYPE_MODULES:
        return "node_lib"
    if module == "nodes" or module.startswith("nodes."):
        return "families"
    if module.startswith("flowclass.viewers."):
        return "viewer_kit"
    if module == "flowclass.userfiles" or module.startswith("flowclass.userfiles."):
        return "userfiles"
    return "core"


RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def import_graph() -> grimp.ImportGraph:
    return grimp.build_graph("flowclass", "nodes", include_external_packages=False)


def imports(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """Every direct import between two modules of the project, as (importer, imported)."""
    return sorted((importer, imported) for importer in graph.modules
                  for imported in graph.find_modules_directly_imported_by(importer))


def upward(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """The imports that point up a layer (there should be none)."""
    return [(a, b) for a, b in imports(graph) if RANK[layer_of(a)] > RANK[layer_of(b)]]


def dot_source(graph: grimp.ImportGraph) -> str:
    """The layers as boxes, top to bottom, with an arrow per pair of layers that import each other."""
    counts = Counter((layer_of(a), layer_of(b)) for a, b in imports(graph) if layer_of(a) != layer_of(b))
    sizes = Counter(layer_of(m) for m in graph.modules)
    lines = ["digraph imports {", '  rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#f4f6fb",'
             ' fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10, color="#555555"];']
    for name, title in LAYERS:
        plural = "" if sizes[name] == 1 else "s"
        lines.append(f'  {name} [label="{title}\\n{sizes[name]} module{plural}"];')
    for (a, b), n in sorted(counts.items(), key=lambda item: (RANK[item[0][0]], RANK[item[0][1]])):
        colour = ', color="#dc2626", fontcolor="#dc2626", penwidth=2' if RANK[a] > RANK[b] else ""
        lines.append(f'  {a} -> {b} [label="{n}"{colour}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(out: Path = Path(__file__).with_name("imports.svg")) -> None:
    graph = import_graph()
    svg = subprocess.run(["dot", "-Tsvg"], input=dot_source(graph), capture_output=True, text=True,
                         check=True).stdout
    out.write_text(svg)
    wrong = upward(graph)
    print(f"wrote {out}: {len(graph.modules)} modules, {len(imports(graph))} imports, {len(wrong)} upward")
    for a, b in wrong:
        print(f"  upward: {a} -> {b}")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
