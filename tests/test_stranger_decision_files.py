"""A decisions file named by a workflow from a stranger is never written unasked.

The canvas writes each correction, queue decision and kept copy into the file the workflow
names (Label Overrides' ``file``, Find Duplicates' ``keep_file``, both ``.csv`` files). That
path is an input path, so it was held only to the canvas's roots (the home folder by
default): a shared workflow naming ``../../labels.csv`` had the label queue's *Accept* add
the stranger's labels to a label file of the user's other project, and one naming
``../../notes.csv`` had *Keep this* rewrite a CSV of the user's. Now a file the workflow
file names is written only when it is a ``.csv`` file, not hidden, in the workflow's folder
or below; another only once the user names it (typed into the field, or *Write to this
file* in the view).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from nicegui.testing import User
from sklearn.datasets import load_digits
from PIL import Image
from ui_helpers import make_app, page_of, until

from flowclass.library import ready_workflows_dir
from flowclass.ui.canvas import FlowCanvas
from flowclass.viewers import ViewerContext



def strangers_bundle(home: Path) -> Path:
    """~/Downloads/bundle: the cleaning workflow and a collection with a copy, whose workflow
    names its label file ``../../labels.csv`` and its kept-copies file ``../../notes.csv``."""
    bundle = home / "Downloads" / "bundle"
    digits = load_digits()
    for i in range(36):
        label = "012"[i % 3]
        folder = bundle / "PHOTOS" / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * 16).astype("uint8")).resize((32, 32)).save(folder / f"d{i:02d}.png")
    shutil.copyfile(bundle / "PHOTOS" / "0" / "d00.png", bundle / "PHOTOS" / "1" / "copy.png")
    flow = json.loads((ready_workflows_dir() / "clean_collection.json").read_text(encoding="utf-8"))
    params = {"import": {"folder": "PHOTOS"}, "labels": {"file": "../../labels.csv"},
              "embed": {"backend": "pixels", "pixel_size": 8}, "duplicates": {"keep_file": "../../notes.csv"}}
    for node in flow["nodes"]:
        node["params"].update(params.get(node["id"], {}))
    (bundle / "flow.json").write_text(json.dumps(flow), encoding="utf-8")
    return bundle / "flow.json"


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_strangers_workflow_cannot_make_the_canvas_write_its_files_outside_its_folder(
        user: User, registry, cache, tmp_path: Path):
    home = tmp_path / "home"
    flow = strangers_bundle(home)
    notes = home / "notes.csv"  # the user's own files, which read as a kept-copies and a label file
    notes.write_text("sha256,path\n,mine/keep.png\n", encoding="utf-8")
    labels = home / "labels.csv"
    labels.write_text("sha256,path,label\n,mine/cat.png,cat\n", encoding="utf-8")
    make_app(registry, cache, home, flow)
    await user.open("/")
    page = page_of(user)
    page.start_run(["issues", "duplicates"])
    await until(lambda: page.summary.text.startswith("Last run"), what=f"the run {page.session.problems}")

    user.find(FlowCanvas).trigger("select", {"id": "issues"})
    await user.should_see(f"Nothing is written to {labels}: the workflow file named it")
    accept = user.find(marker="accept-0").elements.pop()
    assert not accept.enabled
    user.find(marker="accept-0").click()  # a click that arrives all the same writes nothing
    user.find(FlowCanvas).trigger("select", {"id": "duplicates"})
    await user.should_see(f"Nothing is written to {notes}: the workflow file named it, and it lies outside")
    await user.should_see("type another path into the field 'Keep file' of Find Duplicates (duplicates).")
    (keep,) = keep_buttons(user)
    assert not keep.enabled
    assert labels.read_text(encoding="utf-8") == "sha256,path,label\n,mine/cat.png,cat\n"
    assert notes.read_text(encoding="utf-8") == "sha256,path\n,mine/keep.png\n"

    user.find(marker="adopt-decisions-file").click()  # the user takes notes.csv as theirs
    await user.should_see(f"Choices go to {notes}, not beside the workflow.")
    (keep,) = keep_buttons(user)
    assert keep.enabled
    user.find(marker=next(iter(keep._markers))).click()
    await until(lambda: notes.read_text(encoding="utf-8").count("\n") == 3, what="the choice in notes.csv")
    assert notes.read_text(encoding="utf-8").startswith("sha256,path\n,mine/keep.png\n")
    assert ("duplicates", "keep_file") in page.session.named  # kept in the tab's draft too
    assert labels.read_text(encoding="utf-8") == "sha256,path,label\n,mine/cat.png,cat\n"


def keep_buttons(user: User) -> list:
    """The groups' *Keep this* buttons (one per image not kept)."""
    return [e for e in user.client.elements.values() if any(m.startswith("keep-") for m in e._markers)]


def context(workflow: Path, named: bool = False) -> ViewerContext:
    return ViewerContext(node_id="labels", port="images", data_type="images", workflow_dir=workflow.parent,
                         out_dir=workflow.parent, image_url=lambda *a, **k: "", upstream=lambda name: None,
                         set_params=lambda node, params: None, run=lambda nodes: None, refresh=lambda: None,
                         store_dir=lambda name: workflow.parent, workflow_path=lambda: workflow,
                         named=lambda node, name: named)


@pytest.mark.parametrize("where, why", [("../../.profile", "outside the workflow's folder"),
                                        ("/etc/cron.d/x.csv", "outside the workflow's folder"),
                                        (".hidden.csv", "hidden"), ("data/.git/labels.csv", "hidden"),
                                        ("conftest.py", "not a .csv file"), ("run.sh", "not a .csv file"),
                                        ("link/labels.csv", "outside the workflow's folder")])
def test_a_file_the_workflow_names_is_written_only_as_a_csv_in_its_folder(tmp_path: Path, where: str, why: str):
    workflow = tmp_path / "home" / "bundle" / "flow.json"
    workflow.parent.mkdir(parents=True)
    (workflow.parent / "link").symlink_to(tmp_path)  # a folder of the bundle that leads out of it
    path = Path(workflow.parent, where).absolute()
    refused = context(workflow).stranger_file(path, "labels", "file")
    assert why in refused and str(path) in refused and "'file' of node 'labels'" in refused
    assert context(workflow, named=True).stranger_file(path, "labels", "file") == ""  # the user named it


@pytest.mark.parametrize("where", ["label-overrides.csv", "decisions/Labels.CSV", "a/../keep.csv"])
def test_a_csv_file_in_the_workflows_folder_is_written(tmp_path: Path, where: str):
    workflow = tmp_path / "bundle" / "flow.json"
    workflow.parent.mkdir()
    assert context(workflow).stranger_file(Path(workflow.parent, where), "labels", "file") == ""
