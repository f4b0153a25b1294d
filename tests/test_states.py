"""One vocabulary for node states: the engine, its events, run.json, the canvas and its CSS."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flowclass.engine import Engine
from flowclass.states import PROGRESS, WARNING, NodeState
from flowclass.ui.canvas_graph import canvas_graph
from flowclass.ui.editor import EditorState
from flowclass.ui.runner import NodeStatus
from flowclass.workflow import PortRef

CSS = Path(__file__).resolve().parent.parent / "frontend" / "src" / "canvas.css"


def chain(registry, last: str = "toy.describe") -> EditorState:
    state = EditorState(registry)
    state.add_node("toy.number", (0, 0))
    state.add_node(last, (200, 0))
    state.connect(PortRef("toy_number", "number"), PortRef(state.workflow.nodes[-1].id, "number"))
    return state


def test_the_engine_speaks_node_states_only(registry, cache, tmp_path: Path) -> None:
    state = chain(registry, "toy.fail")
    events = []
    result = Engine(registry, cache).run(state.workflow, base_dir=tmp_path, out_dir=tmp_path / "out",
                                         on_event=events.append)
    assert {e.state for e in events} - {PROGRESS, WARNING} <= set(NodeState)
    assert all(isinstance(e.state, NodeState) for e in events if e.state not in (PROGRESS, WARNING))
    assert {n: o.state for n, o in result.outcomes.items()} == {"toy_number": NodeState.DONE,
                                                                 "toy_fail": NodeState.FAILED}
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["nodes"]["toy_fail"]["state"] == "failed"  # written as the plain value
    planned = Engine(registry, cache).status(state.workflow, base_dir=tmp_path, out_dir=tmp_path / "out")
    assert planned == {"toy_number": NodeState.CACHED, "toy_fail": NodeState.PENDING}


def test_the_canvas_styles_exactly_the_node_states() -> None:
    styled = set(re.findall(r"\.fc-state-([a-z]+)", CSS.read_text()))
    assert styled == {s.value for s in NodeState} - {NodeState.IDLE}  # idle: the plain node


def test_a_failed_node_is_failed_on_the_canvas_and_says_error(registry) -> None:
    state = chain(registry)
    graph = canvas_graph(state.workflow, registry, [],
                         {"toy_describe": NodeStatus(NodeState.FAILED, message="no", field="style")})
    status = {n["id"]: n["status"] for n in graph["nodes"]}["toy_describe"]
    assert (status["state"], status["label"]) == ("failed", "error")
    json.dumps(graph)
