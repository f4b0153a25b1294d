"""A path typed into a node's settings is checked as it is typed, before any run.

A user types Import Images' folder key by key: while the path names no folder the node
is flagged (invalid, with a message naming the field, on the node and under the field);
as soon as it names one (typed to the end, or made on disk meanwhile) the flag goes, and
nothing has run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import Screen, User
from selenium.webdriver.common.by import By
from ui_helpers import graph_nodes, make_app, page_of, until

from flowclass.ui.canvas import FlowCanvas
from flowclass.workflow import Workflow
from flowclass.workflow_file import new_node, save


@pytest.fixture
def workspace(tmp_path: Path, registry) -> Path:
    """A workflow with one Import Images node (no folder yet), and a folder of real photos."""
    from sklearn.datasets import load_sample_images

    folder = tmp_path / "work"
    (folder / "photos" / "china").mkdir(parents=True)
    source = next(p for p in load_sample_images().filenames if p.endswith("china.jpg"))
    shutil.copyfile(source, folder / "photos" / "china" / "china.jpg")
    workflow = Workflow(name="typed")
    workflow = workflow.with_node(new_node(workflow, registry.get("import_images"), (0, 0), "photos"))
    save(workflow, folder / "typed.json")
    return folder


def state(user: User) -> dict:
    return graph_nodes(user)["photos"]["status"]


async def folder_field(user: User, registry, cache, workspace: Path):
    """The page of the workspace's workflow, with Import Images selected, and its folder field."""
    make_app(registry, cache, workspace, workspace / "typed.json")
    await user.open("/")
    user.find(FlowCanvas).trigger("select", {"id": "photos"})
    await user.should_see("Folder")
    return page_of(user), user.find(kind=ui.input, content="Folder")


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_folder_typed_key_by_key_is_flagged_until_it_exists(user: User, registry, cache,
                                                                    workspace: Path) -> None:
    page, field = await folder_field(user, registry, cache, workspace)
    error = page.inspector.fields["folder"].error

    def type_keys(text: str) -> None:
        for key in text:  # one change per key, as a browser sends them
            field.type(key)

    missing = workspace / "photos" / "chi"
    type_keys(str(missing))
    await until(lambda: state(user)["state"] == "invalid", what="the node flagged")
    assert state(user)["message"] == f"Folder: folder not found: {missing}"  # names the field
    assert error.visible and error.text == f"folder not found: {missing}"
    type_keys("na")
    await until(lambda: state(user)["state"] != "invalid", what="the flag to go")
    assert state(user) == {"state": "idle", "progress": None, "message": "", "label": "not run", "note": ""}
    assert not error.visible

    later = workspace / "photos" / "later"  # named before it exists: flagged, until it is made
    page.inspector.fields["folder"].widget.value = ""  # all selected and deleted
    type_keys(str(later))
    await until(lambda: state(user)["state"] == "invalid", what="the node flagged")
    assert state(user)["message"] == f"Folder: folder not found: {later}"
    shutil.copytree(workspace / "photos" / "china", later)  # the user makes it, elsewhere
    await until(lambda: state(user)["state"] != "invalid", timeout=10, what="the flag to go")
    assert not error.visible
    assert not page.runner.running and not (page.out_dir() / "run.json").exists()  # nothing ran


@pytest.mark.browser
def test_a_folder_typed_in_the_browser_is_flagged_until_it_exists(screen: Screen, registry, cache,
                                                                  workspace: Path) -> None:
    from canvas_helpers import console_problems, wait_until

    from flowclass.ui.app import setup
    from flowclass.ui.browse import Roots
    from flowclass.ui.page import AppConfig

    setup(AppConfig(registry=registry, cache=cache, roots=Roots([workspace]), workflow=workspace / "typed.json"))
    driver = screen.selenium
    screen.open("/", timeout=20)
    node = '.vue-flow__node[data-id="photos"]'
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, f"{node} .fc-title"), timeout=10, what="the node")
    driver.find_element(By.CSS_SELECTOR, f"{node} .fc-title").click()
    box = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, '[data-field="folder"] input'),
                     what="the folder field")[0]

    def shown(css: str) -> str:
        """The visible text of what ``css`` finds (read in one go: the canvas redraws often)."""
        return driver.execute_script("return [...document.querySelectorAll(arguments[0])]"
                                     ".filter((e) => e.offsetParent).map((e) => e.innerText).join(' ')", css)

    missing = workspace / "photos" / "chi"
    box.send_keys(str(missing))  # key by key
    wait_until(lambda: shown(f"{node} .fc-message") == f"Folder: folder not found: {missing}",
               timeout=10, what="the node flagged, naming the field")
    assert shown(f"{node} .fc-badge") == "invalid"
    assert shown('[data-field="folder"] .fc-field-error') == f"folder not found: {missing}"
    box.send_keys("na")
    wait_until(lambda: shown(f"{node} .fc-badge") == "not run", timeout=10, what="the flag to go")
    assert shown(f"{node} .fc-message") == "" and shown('[data-field="folder"] .fc-field-error') == ""
    assert not (workspace / "flowclass-out").exists()  # nothing ran
    assert console_problems(screen) == []


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_folder_too_large_to_check_while_typing_says_so(user: User, registry, cache,
                                                                workspace: Path) -> None:
    page, field = await folder_field(user, registry, cache, workspace)
    page.runner.scan_files = 1  # photos/ holds 2 entries (china/ and china.jpg): over the cap
    for key in str(workspace / "photos"):
        field.type(key)
    await until(lambda: state(user)["label"] == "not checked", what="the check to give up")
    note = "not checked yet: more than 1 files to look at while editing; it is checked when run"
    assert state(user) == {"state": "idle", "progress": None, "message": note, "label": "not checked", "note": ""}
    await user.should_see(note)  # in the inspector, not only in the badge's tooltip
    assert page.inspector.node_message.text == note and "text-gray-600" in page.inspector.node_message.classes
