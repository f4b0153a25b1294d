"""Where click-added nodes go and what feeds them, and node help's examples (no browser)."""

from __future__ import annotations

import shlex

from ui_helpers import CLUSTER_FOLDER

from flowclass.cli import main
from flowclass.library import ready_workflows_dir
from flowclass.ui.node_help import examples
from flowclass.ui.placement import NODE_WIDTH, anchor_of, feeding_edges, free_spot, node_height
from flowclass.workflow import PortRef
from flowclass.workflow_file import load


def test_a_click_added_node_goes_right_of_the_anchor_on_a_free_spot(registry) -> None:
    workflow = load(CLUSTER_FOLDER, registry)
    embed = workflow.node("embed")
    distances = registry.get("distances")
    x, y = free_spot(workflow, registry, distances, embed)
    assert x > embed.position[0] + NODE_WIDTH
    # the ready workflow's own Distances node sits right of embed: the new one goes below it
    taken = workflow.node("distances")
    assert x == taken.position[0] and y >= taken.position[1] + node_height(distances)
    assert free_spot(workflow.without_nodes({"distances"}), registry, distances, embed) == (x, embed.position[1])
    assert anchor_of(workflow, None) is workflow.nodes[-1] and anchor_of(workflow, "embed") is embed


def test_the_anchor_feeds_the_inputs_its_outputs_fit(registry) -> None:
    workflow = load(CLUSTER_FOLDER, registry)
    assert feeding_edges(workflow, registry, registry.get("distances"), workflow.node("embed")) == {
        "embeddings": PortRef("embed", "embeddings")}
    assert feeding_edges(workflow, registry, registry.get("sample_images"), workflow.node("embed")) == {}
    assert feeding_edges(workflow, registry, registry.get("distances"), None) == {}


def test_node_help_examples_come_from_the_ready_workflows(registry) -> None:
    found = {e.workflow: e for e in examples(registry.get("hierarchical_clustering"))}
    assert found["cluster_folder.json"].node_id == "cluster"
    assert found["cluster_folder.json"].command.startswith(
        f"flowclass run {ready_workflows_dir() / 'cluster_folder.json'} --set cluster.")


def test_every_node_help_command_line_pastes_into_a_shell(registry, tmp_path, monkeypatch) -> None:
    """The examples are quoted ('regions.legend=sky=#aec7e8, water=...' was split by the shell at
    its spaces) and name the ready workflow wherever the shell is: each, split as a shell splits
    it, is a command line `flowclass validate` accepts."""
    monkeypatch.chdir(tmp_path)
    commands = {e.command for node_type in registry for e in examples(node_type)}
    assert any("--set 'regions.legend=sky=#aec7e8, " in c for c in commands)
    for command in sorted(commands):
        argv = shlex.split(command)
        assert argv[:2] == ["flowclass", "run"], command
        assert main(["validate", *argv[2:]]) == 0, command
