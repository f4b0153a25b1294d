"""What the canvas says when a run cannot start, in the words on the screen: a newcomer typed a
wrong folder, or left an input unconnected, and was told ``node 'import', 'folder': ...`` or
``embeddings: required input 'embeddings' (Embeddings) is not connected`` (ids and port names
that the canvas shows nowhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowclass.resolution import path_problems
from flowclass.ui.canvas_graph import canvas_graph, in_words
from flowclass.ui.runner import plan_run
from flowclass.validation import validate
from flowclass.workflow_file import load
from ui_helpers import CLUSTER_FOLDER


def _problems(workflow, registry):
    found = validate(workflow, registry)
    spec = workflow.node("import")
    return found + path_problems("import", registry.get(spec.type), spec.params)


def test_a_missing_folder_is_named_by_node_title_and_field_label(registry, tmp_path: Path) -> None:
    workflow = load(CLUSTER_FOLDER, registry).with_params("import", folder=str(tmp_path / "fcaes"))
    problems = _problems(workflow, registry)
    plan = plan_run(workflow, problems, None, describe=lambda p: in_words(p, workflow, registry))
    assert plan.workflow is None
    assert f"Import Images ▸ Folder: folder not found: {tmp_path / 'fcaes'}" in plan.message
    assert "node 'import'" not in plan.message and "'folder'" not in plan.message
    assert "then press Run again" in plan.message  # what to do, not only what is wrong


def test_an_unconnected_input_says_which_and_what_to_connect(registry) -> None:
    workflow = load(CLUSTER_FOLDER, registry)
    (edge,) = [e for e in workflow.edges if e.target.node == "distances"]
    workflow = workflow.without_edge(edge)
    problems = _problems(workflow, registry)
    plan = plan_run(workflow, problems, None, describe=lambda p: in_words(p, workflow, registry))
    assert plan.workflow is not None and {n.id for n in plan.workflow.nodes} == {"import", "embed"}
    # which node holds the rest back, why, and how many wait on it
    assert plan.message.startswith("Running all but 4 nodes:")
    assert "Distances ▸ Embeddings: nothing is connected to this input" in plan.message
    assert "connect an output giving Embeddings to it" in plan.message
    badge = {n["id"]: n for n in canvas_graph(workflow, registry, problems, {})["nodes"]}["distances"]
    assert badge["status"]["message"] == ("Embeddings: nothing is connected to this input; "
                                          "connect an output giving Embeddings to it")


@pytest.mark.anyio
@pytest.mark.slow  # 0.4 s
async def test_the_results_panel_calls_a_renamed_node_by_its_new_title(user, registry, cache, tmp_path: Path) -> None:
    """A newcomer renamed Train Classifier "My model" on the canvas; its results panel went on
    saying "Train Classifier: failed ..." and "Results of Train Classifier", a name the canvas no
    longer showed anywhere. Typed key by key, the heading follows without the panel being rebuilt."""
    from nicegui import ui

    from flowclass.ui.canvas import FlowCanvas
    from ui_helpers import page_of, toy_chain, until

    page = await toy_chain(user, registry, cache, tmp_path, steps=1)
    user.find(FlowCanvas).trigger("select", {"id": "toy_wait"})
    await user.should_see("no results yet")
    title = next(e for e in user.find(ui.input).elements if e.props.get("label") == "Title on the canvas")
    title.value = "My wait"
    await user.should_see("My wait: no results yet.")
    page.start_run(None)
    await until(lambda: page.summary.text.startswith("Last run"), what="the run")
    await user.should_see("Results of My wait (toy_wait)")
    shown = page_of(user).results_view.panel.container.default_slot.children[:]
    title.value = "My waiting"
    await user.should_see("Results of My waiting (toy_wait)")
    assert page_of(user).results_view.panel.container.default_slot.children == shown  # the same views, not new ones


def test_a_pasted_folder_with_a_space_or_quotes_says_so(tmp_path: Path) -> None:
    """A folder pasted with a space after it, or in quotes (a file manager's "Copy as path"), was
    "folder not found: /x/faces", for a folder the newcomer could see was there."""
    from flowclass.resolution import input_problem

    (tmp_path / "faces").mkdir()
    (tmp_path / "Bob's photos").mkdir()
    code, said = input_problem(tmp_path / "faces ", "folder")
    assert code == "input_missing" and "begins or ends with a space" in said
    quoted = tmp_path / f'"{tmp_path / "faces"}"'  # typed in quotes: relative, so put under the workflow's folder
    assert "remove the quotes" in input_problem(quoted, "folder")[1]
    assert input_problem(tmp_path / "Bob's photos", "folder") is None
    assert input_problem(tmp_path / "Bob's", "folder")[1] == "folder not found: " + str(tmp_path / "Bob's")


@pytest.mark.anyio
async def test_save_as_makes_a_new_folder_for_the_workflow(user, registry, cache, tmp_path: Path) -> None:
    """A newcomer wanted their workshop's workflow in a folder of its own: Save As had no way to
    make one, and 'workshop/flow.json' was refused ("no folders"), so they left FlowClass for a
    file manager. New folder makes it where the dialog is, and goes into it."""
    from ui_helpers import make_app, until

    make_app(registry, cache, tmp_path)
    await user.open("/")
    user.find(marker="file-save-as").click()
    await user.should_see("Save the workflow as")
    user.find(marker="file-new-folder").click()
    (name,) = user.find(marker="new-folder-name").elements
    name.value = "a/b"
    user.find(marker="new-folder-make").click()
    await user.should_see("A folder name cannot hold '/'")
    assert not (tmp_path / "a").exists()
    name.value = "workshop"
    user.find(marker="new-folder-make").click()
    await until((tmp_path / "workshop").is_dir, what="the new folder")
    await user.should_see(str(tmp_path / "workshop"))  # the dialog is in it
    (file_name,) = user.find(marker="file-name").elements
    file_name.value = "flow.json"
    user.find(marker="dialog-ok").click()
    await until((tmp_path / "workshop" / "flow.json").is_file, what="the workflow saved in it")


def test_predict_fed_embeddings_made_otherwise_names_both_embed_nodes_as_the_canvas_shows_them(registry):
    """Predict given embeddings of another Embed than the model learned from: the problem
    names the two Embed nodes by their titles on the canvas, each with the id --set takes."""
    import json

    from flowclass.workflow_file import loads

    def node(node_id, node_type, params, title=""):
        return {"id": node_id, "type": node_type, "params": params, "title": title}

    def edge(source, target):
        (a, p), (b, q) = source.split("."), target.split(".")
        return {"from": {"node": a, "port": p}, "to": {"node": b, "port": q}}

    pixels = {"backend": "pixels", "grayscale": True}
    doc = {"schema_version": 1, "nodes": [
        node("images", "sample_images", {"dataset": "digits"}),
        node("embed", "embed", {**pixels, "pixel_size": 8}, title="Training pixels"),
        node("embed_new", "embed", {**pixels, "pixel_size": 16}),
        node("train", "train_classifier", {"model": "knn"}),
        node("predict", "predict", {})],
        "edges": [edge("images.images", "embed.images"), edge("images.images", "embed_new.images"),
                  edge("embed.embeddings", "train.embeddings"), edge("train.model", "predict.model"),
                  edge("embed_new.embeddings", "predict.embeddings")]}
    problems = [p for p in validate(loads(json.dumps(doc), registry), registry) if p.node == "predict"]
    assert len(problems) == 1 and problems[0].field == "embeddings", problems
    message = problems[0].message
    assert "by 'Embed Images' (embed_new) with" in message, message
    assert "from 'Training pixels' (embed) with" in message, message
