"""What a user sees of a ready workflow on the canvas tells its nodes apart."""

from __future__ import annotations

import pytest

from flowclass.library import ready_workflows_dir
from flowclass.ui.canvas_graph import canvas_graph
from flowclass.workflow_file import load

READY = sorted(ready_workflows_dir().glob("*.json"))


@pytest.mark.parametrize("path", READY, ids=[p.stem for p in READY])
def test_no_two_nodes_of_a_ready_workflow_look_alike(path, registry) -> None:
    """Lobe's copy showed two boxes both called 'Import Images': which one takes the training
    folders and which the new images was anybody's guess (their ids, import and new, are small
    grey text in the settings only)."""
    graph = canvas_graph(load(path, registry), registry, [], {})
    titles = [node["title"] for node in graph["nodes"]]
    twins = sorted({title for title in titles if titles.count(title) > 1})
    assert twins == [], f"{path.name}: several nodes are called {twins}"
