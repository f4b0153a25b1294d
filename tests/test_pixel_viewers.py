"""Pixel classification in the canvas: drawing labels, and the views of classified images.

Drawing is tested in the whole app: strokes painted in the "Draw labels" view (simulated
user, then a real Chromium) are saved as a mask PNG next to the workflow, and the saved
workflow then runs from the command line on exactly those labels.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from nicegui import ui
from nicegui.testing import Screen, User
from nicegui.testing.user_interaction import UserInteraction
from PIL import Image
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from ui_helpers import make_app, page_of, until

from flowclass.cli import main
from flowclass.library import default_registry
from flowclass.ui.canvas import FlowCanvas
from flowclass.viewers import ViewerContext
from flowclass.viewers.registry import default_viewers
from nodes.viewers.pixels import areas_of_maps, original_and_classified
from flowclass.workflow import Edge, PortRef, Workflow
from flowclass.workflow_file import new_node, save

LEGEND = "sky=#aec7e8, water=#1f77b4, trees=#2ca02c, building=#d62728"
# One stroke per land type of china.jpg (640 x 427), in image pixels.
STROKES = {"sky": [(380, 20), (480, 30), (600, 25)], "water": [(380, 265), (450, 270), (520, 262)],
           "trees": [(590, 200), (600, 260), (595, 320)], "building": [(140, 205), (200, 210), (290, 205)]}
ERASE = [(440, 262), (440, 278)]  # cuts the water stroke in two
UNDONE = [(20, 20), (60, 60)]  # a stroke painted, then undone


@pytest.fixture
def workspace(tmp_path: Path, registry) -> Path:
    """A folder with china.jpg and a workflow that has no labels yet."""
    from sklearn.datasets import load_sample_images

    folder = tmp_path / "work"
    (folder / "photos").mkdir(parents=True)
    source = next(p for p in load_sample_images().filenames if p.endswith("china.jpg"))
    shutil.copyfile(source, folder / "photos" / "china.jpg")
    workflow = Workflow(name="labels")
    for x, (node_id, node_type, params) in enumerate([
            ("photos", "import_images", {"folder": "photos"}),
            ("regions", "pixel_samples_mask", {"legend": LEGEND}),
            ("train", "train_pixel_classifier", {"model": "nearest_centroid"}),
            ("classify", "classify_pixels", {})]):
        spec = new_node(workflow, registry.get(node_type), (300 * x, 150 * (x % 2)), node_id)
        workflow = workflow.with_node(spec).with_params(node_id, **params)
    for a, b, c, d in [("photos", "images", "regions", "images"), ("regions", "samples", "train", "samples"),
                       ("train", "model", "classify", "model"), ("photos", "images", "classify", "images")]:
        workflow = workflow.with_edge(Edge(PortRef(a, b), PortRef(c, d)))
    save(workflow, folder / "labels.json")
    return folder


def check_mask_and_run_cli(workspace: Path, cache, tmp_path: Path) -> None:
    """The saved mask holds the strokes, and `flowclass run` trains on exactly it."""
    mask = np.asarray(Image.open(workspace / "regions_masks" / "china.png").convert("RGBA"))
    assert mask.shape == (427, 640, 4)
    assert tuple(mask[25, 480]) == (0xae, 0xc7, 0xe8, 255)  # on the sky stroke
    assert tuple(mask[205, 200]) == (0xd6, 0x27, 0x28, 255)  # on the building stroke
    assert mask[270, 440, 3] == 0 and mask[268, 400, 3] == 255  # erased / kept part of the water
    assert mask[40, 40, 3] == 0  # the undone stroke is not there
    out = tmp_path / "cli"
    assert main(["run", str(workspace / "labels.json"), "--out", str(out), "--cache", str(cache.root),
                 "-q"]) == 0
    nodes = json.loads((out / "run.json").read_text())["nodes"]
    painted = {name: int(np.sum(np.all(mask == (*bytes.fromhex(colour[1:]), 255), axis=2)))
               for name, colour in (e.split("=") for e in LEGEND.split(", "))}
    assert nodes["regions"]["records"]["samples_per_class"] == painted  # every painted pixel, no more
    assert nodes["train"]["records"]["holdout_accuracy"] > 0.9


def draw(user: User, points: list[tuple[int, int]]) -> None:
    canvas = user.find(ui.interactive_image)
    canvas.trigger("mouse", {"mouse_event_type": "mousedown", "image_x": points[0][0],
                             "image_y": points[0][1], "button": 0, "buttons": 1})
    for x, y in points[1:]:
        canvas.trigger("mouse", {"mouse_event_type": "mousemove", "image_x": x, "image_y": y,
                                 "button": 0, "buttons": 1})
    canvas.trigger("mouse", {"mouse_event_type": "mouseup", "image_x": points[-1][0],
                             "image_y": points[-1][1], "button": 0, "buttons": 0})


async def draw_labels_view(user: User, registry, cache, workspace: Path):
    """The workflow open, its samples node run and selected: its Draw labels view shows."""
    make_app(registry, cache, workspace, workspace / "labels.json")
    await user.open("/")
    page = page_of(user)
    page.start_run(["regions"])
    await until(lambda: page.summary.text.startswith("Last run"), what="the samples node")
    user.find(FlowCanvas).trigger("select", {"id": "regions"})
    return page


async def paint_and_save(user: User, names: tuple[str, ...]) -> None:
    """Strokes of ``names`` painted in the open Draw labels view, and saved."""
    await user.should_see("Paint with the left mouse button.")
    (tool,) = user.find(marker="label-tool").elements
    for name in names:
        tool.value = name
        draw(user, STROKES[name])
    user.find(marker="label-save").click()
    await user.should_see("Labels saved in")


def another_tab_recolours_water(workspace: Path, new: str, legend: str, old: str = "#1f77b4") -> None:
    """What another tab does meanwhile: water (or the class of colour ``old``) repainted ``new``
    in the masks, and the workflow file saved with ``legend``."""
    from flowclass.workflow_file import load
    from nodes.viewers.pixel_labels import recolour_masks

    flow = workspace / "labels.json"
    masks = recolour_masks(workspace / "regions_masks", workspace, "regions", old, new)
    save(load(flow).with_params("regions", legend=legend, masks=masks), flow)


def regions_samples(flow: Path, cache, out: Path) -> dict[str, int]:
    """`flowclass run --node regions` on the saved ``flow``: the training pixels per class."""
    assert main(["run", str(flow), "--out", str(out), "--cache", str(cache.root), "-q", "--node", "regions"]) == 0
    return json.loads((out / "run.json").read_text())["nodes"]["regions"]["records"]["samples_per_class"]


async def recolour_first_class_over_the_file(user: User, colour: str) -> None:
    """This tab, behind another that saved the file, recolours its old legend's first class,
    takes the file's legend as it is told the file changed on disk, and adds its colour."""
    first = sorted(user.find(ui.color_picker).elements, key=lambda e: e.id)[0]
    UserInteraction(user, {first.q_color}, None).trigger("change", colour)
    await user.should_see("changed on disk")  # the file A saved: this tab now agrees with it and adds its colour
    user.find(marker="conflict-overwrite").click()
    await user.should_see(f"is now {colour}")


@pytest.mark.anyio
@pytest.mark.slow
async def test_drawn_strokes_become_the_mask_the_cli_uses(user: User, registry, cache, workspace: Path,
                                                          tmp_path: Path) -> None:
    page = await draw_labels_view(user, registry, cache, workspace)
    await user.should_see("no labels yet")
    await user.should_see("Paint with the left mouse button.")
    (tool,) = user.find(marker="label-tool").elements
    (brush,) = user.find(marker="label-brush").elements
    brush.value = 12
    for name, points in STROKES.items():
        tool.value = name
        draw(user, points)
    tool.value = "eraser"
    draw(user, ERASE)
    tool.value = "sky"
    draw(user, UNDONE)
    await user.should_see("6 stroke(s) not saved")
    user.find(marker="label-undo").click()
    (canvas,) = user.find(ui.interactive_image).elements
    assert canvas.content.count("<polyline") == 5  # 4 strokes and the eraser (in its mask)
    assert 'stroke="#aec7e8"' in canvas.content and "fc-erase-4" in canvas.content
    user.find(marker="label-save").click()
    await user.should_see("Labels saved in")
    assert page.state.workflow.node("regions").params["masks"] == "regions_masks"
    # no File > Save: saving the labels saved the workflow file that names them
    assert not page.state.dirty
    check_mask_and_run_cli(workspace, cache, tmp_path)


@pytest.mark.anyio
@pytest.mark.slow
async def test_strokes_not_saved_yet_outlive_another_node_selected_a_reload_and_a_restart(
        create_user, registry, cache, workspace: Path, tmp_path: Path) -> None:
    """Strokes painted but not saved were kept by the view alone: selecting another node (to
    look at its results), a reload (F5) or a restarted server dropped them without a word, and
    a page with only unsaved strokes did not ask before it was left. They belong to the tab:
    still there after each, marked unsaved, and saved as if never interrupted."""
    from test_ui_keep_work import leave

    make_app(registry, cache, workspace, workspace / "labels.json")
    user = create_user()
    await user.open("/?tab=painting-tab")
    page = page_of(user)
    page.start_run(["regions"])
    await until(lambda: page.summary.text.startswith("Last run"), what="the samples node")
    user.find(FlowCanvas).trigger("select", {"id": "regions"})
    await user.should_see("Paint with the left mouse button.")
    (tool,) = user.find(marker="label-tool").elements
    for name in ("sky", "building"):
        tool.value = name
        draw(user, STROKES[name])
    await user.should_see("2 stroke(s) not saved")
    await user.should_see("unsaved changes")  # the leave warning's mark, though the workflow is as saved

    def strokes_shown(who: User) -> int:
        (canvas,) = who.find(ui.interactive_image).elements
        return canvas.content.count("<polyline")

    user.find(FlowCanvas).trigger("select", {"id": "photos"})  # a look at another node's results
    await user.should_not_see("stroke(s) not saved")
    user.find(FlowCanvas).trigger("select", {"id": "regions"})
    await user.should_see("2 stroke(s) not saved")
    assert strokes_shown(user) == 2

    leave(user)
    reloaded = create_user()  # F5
    await reloaded.open("/?tab=painting-tab")
    await reloaded.should_see("2 stroke(s) not saved")
    assert strokes_shown(reloaded) == 2
    reloaded.find(marker="file-new").click()  # File > New asks first, as for the workflow's edits
    await reloaded.should_see("has unsaved changes. Discard them?")
    reloaded.find(marker="confirm-cancel").click()
    await reloaded.should_see("2 stroke(s) not saved")

    draft = cache.store_dir("drafts") / "painting-tab.json"
    await until(lambda: draft.is_file() and "#d62728" in draft.read_text(encoding="utf-8"), what="the draft")
    page_of(reloaded).tab.lock.release()  # a server killed (the OS drops its locks) and started again
    make_app(registry, cache, workspace, workspace / "labels.json")
    restarted = create_user()
    await restarted.open("/?tab=painting-tab")
    again = page_of(restarted)
    assert again.tab.id == "painting-tab"
    await restarted.should_see("unsaved changes")
    again.start_run(["regions"])  # results are the running server's: answered from the cache
    await until(lambda: again.summary.text.startswith("Last run"), what="the samples node again")
    await restarted.should_see("2 stroke(s) not saved")
    assert not (workspace / "regions_masks").exists()  # nothing was written on the way
    restarted.find(marker="label-save").click()
    await restarted.should_see("Labels saved in")
    mask = np.asarray(Image.open(workspace / "regions_masks" / "china.png").convert("RGBA"))
    assert tuple(mask[25, 480]) == (0xae, 0xc7, 0xe8, 255)  # on the sky stroke
    assert tuple(mask[205, 200]) == (0xd6, 0x27, 0x28, 255)  # on the building stroke
    assert mask[265, 450, 3] == 0  # water was never painted
    await restarted.should_not_see("stroke(s) not saved")
    await until(lambda: json.loads(draft.read_text(encoding="utf-8"))["view_work"] is None,
                what="the draft without the saved strokes")


@pytest.mark.anyio
@pytest.mark.slow
async def test_saved_labels_whose_workflow_file_was_not_saved_say_so(user: User, registry, cache,
                                                                     workspace: Path) -> None:
    """Saving labels saves the workflow file too; when that file changed elsewhere and its
    question is cancelled, the masks are written but the file is not: the view said *Labels
    saved* all the same, and ``flowclass run`` of the file then read other masks."""
    await draw_labels_view(user, registry, cache, workspace)
    await user.should_see("Paint with the left mouse button.")
    flow = workspace / "labels.json"
    flow.write_text(flow.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # an editor saved it
    (tool,) = user.find(marker="label-tool").elements
    tool.value = "sky"
    draw(user, STROKES["sky"])
    user.find(marker="label-save").click()
    await user.should_see("changed on disk")
    user.find(marker="conflict-cancel").click()
    await user.should_see("but the workflow file was not saved")
    assert (workspace / "regions_masks" / "china.png").is_file()  # the masks were written
    assert "regions_masks" not in flow.read_text(encoding="utf-8")


@pytest.mark.anyio
@pytest.mark.slow
async def test_strokes_painted_while_another_tab_recoloured_their_class_follow_the_new_colour(
        user: User, registry, cache, workspace: Path, tmp_path: Path) -> None:
    """Tab A recoloured *water* (its masks repainted, its file saved with the new legend) while
    tab B had water strokes not yet saved: B's save painted them in the old blue, a colour the
    file's legend no longer has, so ``flowclass run`` stopped on the mask (and keeping B's file
    would have lost every recoloured pixel instead). B's save now follows the file's legend."""
    page = await draw_labels_view(user, registry, cache, workspace)
    await paint_and_save(user, ("water",))
    draw(user, [(380, 300), (520, 300)])  # a second water stroke, not saved yet

    # tab A, meanwhile: water is now cyan, in its masks and its saved file
    flow = workspace / "labels.json"
    recoloured = LEGEND.replace("#1f77b4", "#00ffff")
    another_tab_recolours_water(workspace, "#00ffff", recoloured)

    user.find(marker="label-save").click()
    await user.should_see("A class was recoloured meanwhile")
    mask = np.asarray(Image.open(workspace / "regions_masks" / "china.png").convert("RGBA"))
    cyan, blue = (np.all(mask == colour, axis=2) for colour in ((0, 255, 255, 255), (0x1f, 0x77, 0xb4, 255)))
    assert cyan[268, 450] and cyan[300, 450] and not blue.any()  # both strokes, in the new colour
    assert page.state.workflow.node("regions").params["legend"] == recoloured
    await user.should_see("changed on disk")  # the file A saved: this tab now agrees with it
    user.find(marker="conflict-overwrite").click()
    await user.should_see("Labels saved in")
    samples = regions_samples(flow, cache, tmp_path / "cli")
    assert samples["water"] == int(cyan.sum())


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_tab_behind_another_recolours_from_the_file_s_legend_and_follows_a_rename(
        user: User, registry, cache, workspace: Path, tmp_path: Path) -> None:
    """Tab A recoloured *water* (its masks repainted) and renamed *sky* to *air*, and saved;
    tab B, behind, then recoloured its *sky*: it started from its old legend, so the file it
    saved said water was blue again (its masks' cyan pixels then unknown: ``flowclass run``
    stopped) and put *sky* back. B now takes the file's legend first, recolours *air*, and
    keeps A's cyan water."""
    from flowclass.workflow_file import load

    page = await draw_labels_view(user, registry, cache, workspace)
    await paint_and_save(user, ("sky", "water"))

    # tab A, meanwhile: water is now cyan in its masks and file, and sky is called air
    flow = workspace / "labels.json"
    theirs = LEGEND.replace("#1f77b4", "#00ffff").replace("sky=", "air=")
    another_tab_recolours_water(workspace, "#00ffff", theirs)

    await recolour_first_class_over_the_file(user, "#ff00ff")
    ours = theirs.replace("#aec7e8", "#ff00ff")
    assert load(flow).node("regions").params["legend"] == ours
    assert page.state.workflow.node("regions").params["legend"] == ours
    mask = np.asarray(Image.open(workspace / "regions_masks" / "china.png").convert("RGBA"))
    cyan, magenta = (np.all(mask == colour, axis=2) for colour in ((0, 255, 255, 255), (255, 0, 255, 255)))
    assert cyan[268, 450] and magenta[25, 480]
    samples = regions_samples(flow, cache, tmp_path / "cli")
    assert samples["water"] == int(cyan.sum()) and samples["air"] == int(magenta.sum())


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_tab_behind_another_recolours_a_class_that_tab_renamed_and_recoloured(
        user: User, registry, cache, workspace: Path, tmp_path: Path) -> None:
    """Tab A renamed *sky* to *air* and made it green (its masks repainted), and saved; tab B,
    behind, then recoloured its *sky*: neither the name nor the colour told which class it had
    become, so B refused (*renamed and recoloured meanwhile ... pick it again*). The class keeps
    its place in the legend: B now recolours *air*, in the file and in the masks."""
    from flowclass.workflow_file import load

    page = await draw_labels_view(user, registry, cache, workspace)
    await paint_and_save(user, ("sky", "water"))
    flow = workspace / "labels.json"
    theirs = LEGEND.replace("sky=#aec7e8", "air=#00ff00")
    another_tab_recolours_water(workspace, "#00ff00", theirs, old="#aec7e8")  # tab A, meanwhile

    await recolour_first_class_over_the_file(user, "#ff00ff")
    ours = LEGEND.replace("sky=#aec7e8", "air=#ff00ff")
    assert load(flow).node("regions").params["legend"] == ours
    assert page.state.workflow.node("regions").params["legend"] == ours
    mask = np.asarray(Image.open(workspace / "regions_masks" / "china.png").convert("RGBA"))
    magenta, green = (np.all(mask == colour, axis=2) for colour in ((255, 0, 255, 255), (0, 255, 0, 255)))
    assert magenta[25, 480] and not green.any()
    samples = regions_samples(flow, cache, tmp_path / "cli")
    assert samples["air"] == int(magenta.sum()) > 0 and "sky" not in samples


@pytest.mark.anyio
@pytest.mark.slow
async def test_strokes_of_a_class_another_tab_renamed_and_recoloured_follow_it(
        user: User, registry, cache, workspace: Path, tmp_path: Path) -> None:
    """Tab B had *sky* strokes not yet saved while tab A renamed *sky* to *air* and made it
    green: B's save painted them in sky's old colour, which the file's legend no longer has, so
    ``flowclass run`` stopped on the mask. They now take air's colour."""
    page = await draw_labels_view(user, registry, cache, workspace)
    await paint_and_save(user, ("water",))
    (tool,) = user.find(marker="label-tool").elements
    tool.value = "sky"
    draw(user, STROKES["sky"])  # not saved yet
    flow = workspace / "labels.json"
    theirs = LEGEND.replace("sky=#aec7e8", "air=#00ff00")
    another_tab_recolours_water(workspace, "#00ff00", theirs, old="#aec7e8")  # tab A, meanwhile

    user.find(marker="label-save").click()
    await user.should_see("A class was recoloured meanwhile")
    await user.should_see("changed on disk")
    user.find(marker="conflict-overwrite").click()
    await user.should_see("Labels saved in")
    assert page.state.workflow.node("regions").params["legend"] == theirs
    mask = np.asarray(Image.open(workspace / "regions_masks" / "china.png").convert("RGBA"))
    green, old_sky = (np.all(mask == colour, axis=2) for colour in ((0, 255, 0, 255), (0xae, 0xc7, 0xe8, 255)))
    assert green[25, 480] and not old_sky.any()
    samples = regions_samples(flow, cache, tmp_path / "cli")
    assert samples["air"] == int(green.sum()) > 0


@pytest.mark.anyio
@pytest.mark.slow
async def test_plus_class_adds_a_class_the_saved_file_and_the_cli_know(user: User, registry, cache,
                                                                        workspace: Path, tmp_path: Path) -> None:
    """'+ class' instead of typing ', road=#ff7f0e' into the Legend field: the class gets a
    free colour, is ready to paint, and the saved workflow trains on it."""
    page = await draw_labels_view(user, registry, cache, workspace)
    await user.should_see("Paint with the left mouse button.")
    user.find(marker="label-add-class").click()
    await user.should_see("A new class to paint")
    user.find(marker="new-class-name").type("water")  # taken: said, nothing changes
    user.find(marker="new-class-add").click()
    await user.should_see("there is a class called 'water' already")
    assert page.state.workflow.node("regions").params["legend"] == LEGEND
    user.find(marker="label-add-class").click()
    await user.should_see("A new class to paint")
    user.find(marker="new-class-name").type("road")
    user.find(marker="new-class-add").click()
    await user.should_see("Class 'road' added")
    legend = LEGEND + ", road=#ff7f0e"  # the first palette colour the legend does not use
    saved = json.loads((workspace / "labels.json").read_text())["nodes"][1]["params"]
    assert saved["legend"] == legend and not page.state.dirty
    await until(lambda: user.find(marker="label-tool").elements and
                next(iter(user.find(marker="label-tool").elements)).value == "road", what="the road tool")
    (tool,) = user.find(marker="label-tool").elements
    (brush,) = user.find(marker="label-brush").elements
    brush.value = 12
    for name, points in {**STROKES, "road": [(20, 400), (200, 400)]}.items():
        tool.value = name
        draw(user, points)
    user.find(marker="label-save").click()
    await user.should_see("Labels saved in")
    samples = regions_samples(workspace / "labels.json", cache, tmp_path / "cli")
    assert list(samples) == ["sky", "water", "trees", "building", "road"] and samples["road"] > 0


@pytest.mark.anyio
@pytest.mark.slow
async def test_plus_class_in_a_tab_behind_another_adds_to_the_file_s_legend(user: User, registry, cache,
                                                                            workspace: Path, tmp_path: Path) -> None:
    """Tab A recoloured *water* orange (#ff7f0e) and saved; tab B, behind, then added *road*
    to its old legend: water was blue again in the file B saved (its masks' orange pixels then
    unknown) and road took orange, water's colour now. B now adds to the file's legend."""
    from flowclass.workflow_file import load
    from nodes.lib.pixels.legend import parse_legend

    await draw_labels_view(user, registry, cache, workspace)
    await paint_and_save(user, ("water",))
    flow = workspace / "labels.json"
    theirs = LEGEND.replace("#1f77b4", "#ff7f0e")
    another_tab_recolours_water(workspace, "#ff7f0e", theirs)  # tab A, meanwhile

    user.find(marker="label-add-class").click()
    await user.should_see("A new class to paint")
    user.find(marker="new-class-name").type("road")
    user.find(marker="new-class-add").click()
    await user.should_see("changed on disk")  # the file A saved: this tab now agrees with it and adds road
    user.find(marker="conflict-overwrite").click()
    await user.should_see("Class 'road' added")
    legend = load(flow).node("regions").params["legend"]
    assert legend.startswith(theirs + ", road=")
    assert len(set(parse_legend(legend).class_colours())) == 5  # road has a colour of its own
    samples = regions_samples(flow, cache, tmp_path / "cli")
    mask = np.asarray(Image.open(workspace / "regions_masks" / "china.png").convert("RGBA"))
    assert samples["water"] == int(np.all(mask == (0xff, 0x7f, 0x0e, 255), axis=2).sum()) > 0


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_class_name_that_reverses_text_shows_as_its_escape(user: User, registry, cache,
                                                                   workspace: Path) -> None:
    """A legend from a stranger's workflow with a class ``cat\u202egpj``: the Draw labels
    legend and tools showed it reversing what followed; they show its escape, as the other
    viewers do (tests/test_terminal_text.py)."""
    from flowclass.workflow_file import load

    flow = workspace / "labels.json"
    save(load(flow).with_params("regions", legend=LEGEND.replace("sky=", "cat\u202egpj=")), flow)
    await draw_labels_view(user, registry, cache, workspace)
    await user.should_see("Paint with the left mouse button.")
    await user.should_see("cat\\u202egpj")
    (tool,) = user.find(marker="label-tool").elements
    assert tool._props["options"][0]["label"] == "cat\\u202egpj"
    assert not any("\u202e" in str(e.props.get("label", "")) + getattr(e, "text", "")
                   for e in user.find(ui.label).elements)


def test_with_class_picks_a_free_colour_and_refuses_what_cannot_be_a_class() -> None:
    from nodes.lib.pixels.legend import LegendError, parse_legend, with_class

    assert with_class(LEGEND, "red") == LEGEND + ", red=#ff0000"  # named after a colour: that one
    assert with_class("a=#1f77b4, b=#ff7f0e", "c") == "a=#1f77b4, b=#ff7f0e, c=#2ca02c"
    assert parse_legend(with_class(LEGEND + ",", "road")).classes[-1] == "road"
    for bad, why in (("sky", "already"), ("ignore", "reserved"), ("a=b", "cannot be a class name"),
                     ("  ", "cannot be a class name")):
        with pytest.raises(LegendError, match=why):
            with_class(LEGEND, bad)


@pytest.fixture(scope="module")
def clashifier(registry, shared_cache, tmp_path_factory):
    """The ready Clashifier workflow's run (its maps and area table)."""
    from flowclass.engine import Engine
    from flowclass.library import ready_workflows_dir
    from flowclass.workflow_file import load

    path = ready_workflows_dir() / "clashifier_regions.json"
    result = Engine(registry, shared_cache).run(load(path, registry), base_dir=path.parent,
                                                out_dir=tmp_path_factory.mktemp("out"), manifest=False)
    assert result.ok
    return result


def context(tmp_path: Path) -> ViewerContext:
    return ViewerContext(node_id="classify", port="maps", data_type="pixel_maps", workflow_dir=None,
                         out_dir=tmp_path, image_url=lambda path, sha256=None, size=160: str(path),
                         upstream=lambda name: None, set_params=lambda node, params: None,
                         run=lambda nodes: None, refresh=lambda: None, store_dir=lambda name: tmp_path)


@pytest.mark.slow
def test_viewers_are_registered(clashifier) -> None:
    viewers = default_viewers(default_registry())
    maps, areas = clashifier.output("classify", "maps"), clashifier.output("classify", "areas")
    assert [v.title for v in viewers.for_value("pixel_maps", maps)] == [
        "Original and classified", "Areas", "Table"]
    assert [v.title for v in viewers.for_value("table", areas)][0] == "Areas chart"
    samples = clashifier.output("regions", "samples")
    assert [v.title for v in viewers.for_value("pixel_samples", samples)][0] == "Draw labels"


@pytest.mark.anyio
@pytest.mark.slow
async def test_original_beside_classified_with_opacity_and_area_bars(user: User, clashifier,
                                                                      tmp_path: Path) -> None:
    maps = clashifier.output("classify", "maps")
    china = [i for i, p in enumerate(maps.images.paths) if p.endswith("china.jpg")][0]

    @ui.page("/")
    def page() -> None:
        original_and_classified.show(maps, context(tmp_path))
        areas_of_maps.show(maps, context(tmp_path))

    await user.open("/")
    (select,) = user.find(marker="pixel-image").elements
    select.value = china
    await user.should_see("sky")
    images = [e for e in user.find(ui.image).elements]
    assert [e.source for e in images if "fc-pixel-original" in e.classes] == [maps.images.paths[china]]
    (top,) = [e for e in images if "fc-pixel-classified" in e.classes]
    assert top.source == maps.maps[china] and top.style["opacity"] == "0.7"
    (opacity,) = user.find(marker="pixel-opacity").elements
    opacity.value = 0.25
    assert top.style["opacity"] == "0.25"
    (chart,) = user.find(ui.echart).elements
    series = chart.options["series"]
    assert [s["name"] for s in series] == ["sky", "water", "trees", "building"]
    assert [s["itemStyle"]["color"] for s in series] == ["#aec7e8", "#1f77b4", "#2ca02c", "#d62728"]
    row = chart.options["yAxis"]["data"].index("china.jpg")
    assert sum(s["data"][row] for s in series) == pytest.approx(100, abs=0.05)


# ---- real browser -------------------------------------------------------------------------

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
TOGGLE = "//*[contains(@class, 'q-btn-toggle')]//button[.//*[text()='{}']]"
BUTTON = "//button[.//*[text()='{}']]"


def browser_draw(screen: Screen, points: list[tuple[int, int]]) -> None:
    """Paint one stroke over china.jpg (640 px wide; points in its pixels)."""
    from canvas_helpers import paint_stroke

    paint_stroke(screen, ".fc-label-canvas img", 640, points)


@pytest.mark.browser
@pytest.mark.slow
def test_drawing_labels_in_the_browser(screen: Screen, registry, cache, workspace: Path, tmp_path: Path) -> None:
    """Every part of the picture can be painted: it fits in the results panel under the tools,
    which stay in view, so no press lands on the toolbar (a stroke begun at the top of the
    picture was lost when the picture was taller than the room under the toolbar)."""
    from canvas_helpers import console_problems, covered_parts, wait_until
    from selenium.webdriver.common.keys import Keys

    from flowclass.ui.app import setup
    from flowclass.ui.browse import Roots
    from flowclass.ui.page import AppConfig

    flow = workspace / "labels.json"
    setup(AppConfig(registry=registry, cache=cache, roots=Roots([workspace]), workflow=flow))
    driver = screen.selenium
    driver.set_window_size(1600, 1400)
    screen.open("/", timeout=20)
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 4, timeout=10,
               what="the workflow's nodes")
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()  # train fails: nothing is labelled yet
    screen.should_contain("failed")
    driver.find_element(By.CSS_SELECTOR, '.vue-flow__node[data-id="regions"] .fc-title').click()
    screen.should_contain("no labels yet")
    loaded = "const i = document.querySelector('.fc-label-canvas img'); return !!i && i.complete && i.naturalWidth > 0;"
    wait_until(lambda: driver.execute_script(loaded), timeout=10, what="the picture to draw on")
    assert covered_parts(screen, ".fc-label-canvas img") == {}
    for name, points in STROKES.items():
        driver.find_element(By.XPATH, TOGGLE.format(name)).click()
        browser_draw(screen, points)
    driver.find_element(By.XPATH, TOGGLE.format("Eraser")).click()
    browser_draw(screen, ERASE)
    driver.find_element(By.XPATH, TOGGLE.format("sky")).click()
    browser_draw(screen, UNDONE)
    screen.should_contain("6 stroke(s) not saved")
    driver.find_element(By.XPATH, BUTTON.format("Undo")).click()
    screen.should_contain("5 stroke(s) not saved")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".fc-label-canvas svg polyline")) == 5,
               what="the strokes drawn over the picture")
    SHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SHOTS / "pixel_draw_labels.png"))
    driver.set_window_size(1280, 720)  # a laptop: the picture fits the smaller panel too
    wait_until(lambda: covered_parts(screen, ".fc-label-canvas img") == {}, what="the picture to fit")
    driver.set_window_size(1600, 1400)
    driver.find_element(By.XPATH, BUTTON.format("Save labels")).click()
    screen.should_contain("Labels saved in")
    driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane").click()
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    wait_until(lambda: '"masks": "regions_masks"' in flow.read_text(), what="the saved workflow")
    assert console_problems(screen) == []
    check_mask_and_run_cli(workspace, cache, tmp_path)


def test_saving_labels_never_overwrites_a_mask_the_user_painted(tmp_path: Path) -> None:
    from nodes.viewers.pixel_labels import Painting, save_painting

    mine = tmp_path / "my_masks"
    mine.mkdir()
    painted = np.zeros((427, 640, 4), dtype=np.uint8)
    painted[:50, :50] = (0x1f, 0x77, 0xb4, 255)  # the user's own water, top left
    Image.fromarray(painted, "RGBA").save(mine / "china.png")
    Image.fromarray(painted, "RGBA").save(mine / "flower.png")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    painting = Painting("/photos/china.jpg", (640, 427), tmp_path / "preview.jpg", (320, 213), base=painted)
    painting.press(200, 100, "#2ca02c", 10)  # preview pixels: image (400, 200), 20 px wide
    painting.move(260, 100)
    path, value = save_painting(painting, mine, tmp_path, "regions")
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before  # untouched
    assert value == "regions_masks" and path == tmp_path / "regions_masks" / "china.png"
    assert (tmp_path / "regions_masks" / "flower.png").read_bytes() == before["flower.png"]
    saved = np.asarray(Image.open(path))
    assert tuple(saved[10, 10]) == (0x1f, 0x77, 0xb4, 255) and tuple(saved[200, 460]) == (0x2c, 0xa0, 0x2c, 255)
    painting.press(200, 100, None, 30)  # erase where the stroke began; saving again replaces our file
    again, value = save_painting(painting, tmp_path / value, tmp_path, "regions")
    assert again == path and value == "regions_masks"
    assert np.asarray(Image.open(path))[200, 400, 3] == 0


def test_two_tabs_painting_one_mask_keep_each_others_labels(tmp_path: Path) -> None:
    """Two tabs (or a tab and another program) labelling the same photo: each saved its own
    strokes over the mask as it had opened it, so the second save dropped every label of the
    first. A save now finds the file changed since and paints its new strokes on top of it."""
    from nodes.viewers.pixel_labels import Painting, save_painting

    WATER, TREES = (0x1f, 0x77, 0xb4, 255), (0x2c, 0xa0, 0x2c, 255)
    first, second = (Painting("/photos/china.jpg", (640, 427), tmp_path / "preview.jpg", (320, 213))
                     for _ in range(2))
    first.press(20, 20, "#1f77b4", 10)  # water, top left (image pixels 40, 40)
    first.move(60, 20)
    path, value = save_painting(first, None, tmp_path, "regions")
    first.saved = len(first.strokes)
    second.press(200, 150, "#2ca02c", 10)  # trees, bottom right: opened before the first saved
    second.move(260, 150)
    assert save_painting(second, None, tmp_path, "regions")[0] == path
    saved = np.asarray(Image.open(path))
    assert tuple(saved[40, 80]) == WATER and tuple(saved[300, 460]) == TREES  # the first tab's water stays
    assert second.taken_in
    second.saved = len(second.strokes)
    first.press(20, 150, "#1f77b4", 10)  # the first tab goes on, and saves again
    first.move(60, 150)
    save_painting(first, tmp_path / value, tmp_path, "regions")
    assert first.taken_in and first.strokes[0].points[0] == (40.0, 300.0)  # its earlier stroke is in the file
    saved = np.asarray(Image.open(path))
    assert tuple(saved[40, 80]) == WATER and tuple(saved[300, 460]) == TREES and tuple(saved[300, 80]) == WATER
    save_painting(first, tmp_path / value, tmp_path, "regions")
    assert not first.taken_in  # in step with the file now


def test_a_new_legend_colour_repaints_the_masks_never_the_users(tmp_path: Path) -> None:
    from nodes.lib.pixels.legend import LegendError, with_colour
    from nodes.viewers.pixel_labels import recolour_masks

    mine = tmp_path / "my_masks"
    mine.mkdir()
    painted = np.zeros((40, 60, 4), dtype=np.uint8)
    painted[:10] = (0x1f, 0x77, 0xb4, 255)  # water
    painted[10:20] = (0x2c, 0xa0, 0x2c, 255)  # trees
    Image.fromarray(painted, "RGBA").save(mine / "lake.png")
    before = (mine / "lake.png").read_bytes()
    assert with_colour(LEGEND, "water", "#1f77b4", "#00ffff") == LEGEND.replace("#1f77b4", "#00ffff")
    with pytest.raises(LegendError, match="already in the legend"):
        with_colour(LEGEND, "water", "#1f77b4", "#2ca02c")
    value = recolour_masks(mine, tmp_path, "regions", "#1f77b4", "#00ffff")
    assert (mine / "lake.png").read_bytes() == before  # the user's mask is untouched
    assert value == "regions_masks"
    copy = np.asarray(Image.open(tmp_path / value / "lake.png"))
    assert tuple(copy[5, 5]) == (0, 255, 255, 255) and tuple(copy[15, 5]) == (0x2c, 0xa0, 0x2c, 255)
    assert tuple(copy[30, 5]) == (0, 0, 0, 0)
    # FlowClass's own copy is repainted in place the next time
    again = recolour_masks(tmp_path / value, tmp_path, "regions", "#2ca02c", "#006400")
    assert again == value and tuple(np.asarray(Image.open(tmp_path / value / "lake.png"))[15, 5]) == (0, 100, 0, 255)
