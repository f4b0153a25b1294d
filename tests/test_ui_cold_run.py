"""Feedback during a long first run: each node's phase, counts and time left, and results
that can be looked at as soon as their node is done (not when the whole run ends)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nicegui.testing import User
from ui_helpers import graph_nodes, run_slow_chain, until

from flowclass.events import NodeEvent
from flowclass.engine import Engine
from flowclass.ui.canvas import FlowCanvas
from flowclass.ui.runner import RunController, time_left


def test_progress_says_phase_counts_and_time_left(registry, cache) -> None:
    now = [100.0]
    runner = RunController(Engine(registry, cache), on_change=lambda: None, on_finished=lambda r, e: None,
                           clock=lambda: now[0])
    runner._apply_event(NodeEvent("embed", "progress", 0, 1000, "images", "preparing the model (only the first time)"))
    assert runner.status("embed").message == "preparing the model (only the first time): 0 / 1,000 images"
    now[0] = 130.0  # the model took 30 s: that is no measure of embedding speed
    runner._apply_event(NodeEvent("embed", "progress", 0, 1000, "images", "embedding"))
    now[0] = 140.0
    runner._apply_event(NodeEvent("embed", "progress", 200, 1000, "images", "embedding"))
    status = runner.status("embed")
    assert status.state == "running" and status.progress == pytest.approx(0.2)
    assert status.message == "embedding: 200 / 1,000 images · about 40 s left"
    assert time_left(7.2) == "about 10 s left" and time_left(150) == "about 3 min left"



@pytest.mark.anyio
@pytest.mark.slow
async def test_a_node_s_results_show_while_the_run_goes_on(user: User, registry, cache, tmp_path: Path) -> None:
    page = await run_slow_chain(user, registry, cache, tmp_path, 400_000, number=41)
    await until(lambda: "left" in graph_nodes(user)["toy_wait"]["status"]["message"], what="time left")
    assert page.runner.running
    user.find(FlowCanvas).trigger("select", {"id": "toy_number"})
    await user.should_see("Results of")
    await user.should_see("41")
    assert page.runner.running  # seen before the run ended
    user.find(marker="cancel-run").click()
    await until(lambda: not page.runner.running, timeout=20, what="the run to stop")


def test_the_terminal_names_each_phase_once(tmp_path: Path) -> None:
    import io

    from flowclass.progress import TerminalProgress

    log = io.StringIO()  # not a terminal: one line per phase, then the node's end
    progress = TerminalProgress(log)
    progress(NodeEvent("embed", "running"))
    progress(NodeEvent("embed", "progress", 0, 1000, "images", "preparing the model (only on the first run)"))
    for done in (0, 8, 16):
        progress(NodeEvent("embed", "progress", done, 1000, "images", "embedding"))
    progress(NodeEvent("embed", "done", seconds=3.0))
    lines = log.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "preparing the model (only on the first run) (0 / 1,000 images)", "embedding (0 / 1,000 images)",
        "done in 3.00s (1000 images)"]


def test_embed_reports_its_phases(registry, cache, photos_dir: Path, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from flowclass.workflow import Edge, NodeSpec, PortRef, Workflow
    from nodes.embed import preparing

    # a cache without the exported model: the first run says it prepares it, once
    fresh = SimpleNamespace(store_dir=lambda name: tmp_path / name)
    assert preparing(fresh, "efficientnet_lite0") == "preparing the model (only on the first run)"
    assert preparing(fresh, "pixels") == "starting"

    workflow = Workflow(nodes=(
        NodeSpec("import", "import_images", 1, {**registry.get("import_images").default_params(),
                                                 "folder": str(photos_dir)}),
        NodeSpec("embed", "embed", 1, {**registry.get("embed").default_params(), "backend": "pixels",
                                       "batch_size": 1})),
        edges=(Edge(PortRef("import", "images"), PortRef("embed", "images")),))
    events: list[NodeEvent] = []
    result = Engine(registry, cache).run(workflow, base_dir=tmp_path, out_dir=tmp_path / "out",
                                         on_event=events.append)
    assert result.ok
    phases = [e.message for e in events if e.node == "embed" and e.state == "progress"]
    assert phases[0] == "starting" and phases[-1] == "embedding"
    done = [e for e in events if e.state in ("done", "cached")]
    assert all(e.key == result.outcomes[e.node].key for e in done) and len(done) == 2


def test_a_phase_counted_in_steps_has_no_stray_space() -> None:
    """Hierarchical Clustering's phases count steps without a unit: the log read
    'cluster: linking (0 / 3 )'."""
    import io

    from flowclass.progress import TerminalProgress

    log = io.StringIO()
    progress = TerminalProgress(log)
    progress(NodeEvent("cluster", "running"))
    progress(NodeEvent("cluster", "progress", 0, 3, "", "linking"))
    assert log.getvalue().splitlines() == ["     cluster: linking (0 / 3)"]


def test_a_cold_run_never_calls_distances_cached(registry, cache, tmp_path: Path) -> None:
    """Distances is never stored (it hands on the vectors): on a cold run the terminal said
    'distances: cached' and then 'distances: done'. It says when it is made instead."""
    import io

    from classify_helpers import DIGITS_PIXELS, workflow

    from flowclass.engine import Engine
    from flowclass.progress import TerminalProgress

    flow = workflow(registry, [("images", "sample_images", {"dataset": "digits", "max_per_label": 3}),
                               ("embed", "embed", DIGITS_PIXELS), ("distances", "distances", {}),
                               ("cluster", "hierarchical_clustering", {"n_clusters": 3})],
                    [("images.images", "embed.images"), ("embed.embeddings", "distances.embeddings"),
                     ("distances.distances", "cluster.distances")])
    log = io.StringIO()
    result = Engine(registry, cache).run(flow, out_dir=tmp_path, on_event=TerminalProgress(log))
    assert result.ok
    said = [line.split(": ", 1)[1] for line in log.getvalue().splitlines()
            if line.strip().startswith("distances:")]
    assert said[0] == "made from its inputs when a later node needs it"
    assert said[-1].startswith("done in") and "cached" not in said
