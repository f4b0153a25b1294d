"""The canvas never loses work, in a real headless Chromium, done as a user does it.

F5 in the middle of a run (the run, its progress and the unsaved edits are still there);
Cancel half-way through Embed and Run again (it starts where it stopped, and writes the
same files as ``flowclass run`` uninterrupted); two tabs saving one file (the second is
asked, not silently overwriting); Ctrl+S with the cursor still in a settings field.
Each checks the effect on disk. Screenshots go to screenshots/keep_*.png.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import os
import re
import time
from pathlib import Path

import pytest
from canvas_helpers import wait_until
from journey_helpers import sample_data
from nicegui.testing import Screen
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from test_journeys_browser import SUMMARY, click, select_node, show_results, show_settings
from test_resume import files_of, stored_vectors

from flowclass.cache import Cache
from flowclass.library import ready_workflows_dir
from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.page import AppConfig
from flowclass.workflow_file import load, save
from tests.conftest import REPO

SHOTS = REPO / "screenshots"
FACES = 200
DIGITS = 1797  # scikit-learn's digits, written by `flowclass sample`
pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROGRESS_TEXT = "return document.querySelector(`.vue-flow__node[data-id='${arguments[0]}'] .fc-progress-text`)" \
                "?.textContent.trim() || ''"
BADGE = "return document.querySelector(`.vue-flow__node[data-id='${arguments[0]}'] .fc-badge`)?.textContent.trim()"
NOTE = "return document.querySelector(`.vue-flow__node[data-id='${arguments[0]}'] .fc-note`)?.textContent.trim()"
WOULD_WARN = """const event = new Event("beforeunload", {cancelable: true});
window.dispatchEvent(event); return event.defaultPrevented;"""
DIRTY = "return document.querySelector('[data-fc-dirty=\"1\"]') !== null"


def saved_param(flow: Path, node: str, name: str):
    """A parameter as the workflow file on disk holds it."""
    return next(n for n in json.loads(flow.read_text(encoding="utf-8"))["nodes"] if n["id"] == node)["params"][name]


def shot(screen: Screen, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    screen.selenium.save_screenshot(str(SHOTS / f"keep_{name}.png"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The folder the canvas may browse (its root), with mine/ for the user's workflows."""
    folder = tmp_path / "home"
    (folder / "mine").mkdir(parents=True)
    return folder


@pytest.fixture
def model_cache(cache: Cache) -> Cache:
    """A cache of the test's own (no embeddings yet), the EfficientNet model prepared (it is
    shared by the test run's caches: $FLOWCLASS_PREPARED)."""
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    EfficientNetLite0(cache.store_dir("models")).prepare()
    return cache


def faces_workflow(registry, workspace: Path, clusters: int = 2, dataset: str = "faces") -> Path:
    """cluster_folder.json (EfficientNet, batches of 8) on a sample set (200 faces, or 1,797
    digits for a run long enough to reload in the middle of), saved as mine/faces.json."""
    faces = sample_data(workspace, dataset)
    flow = workspace / "mine" / "faces.json"
    workflow = load(ready_workflows_dir() / "cluster_folder.json", registry) \
        .with_params("import", folder=str(faces)).with_params("cluster", n_clusters=clusters)
    save(workflow, flow)
    return flow


def open_canvas(screen: Screen, registry, cache, workspace: Path, flow: Path | None) -> None:
    setup(AppConfig(registry=registry, cache=cache, roots=Roots([workspace]), workflow=flow))
    screen.selenium.set_window_size(1600, 1000)
    screen.open("/", timeout=20)
    wait_until(lambda: screen.selenium.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=15,
               what="the workflow's nodes")


def field(screen: Screen, node_id: str, name: str):
    show_settings(screen, node_id)
    return wait_until(lambda: screen.selenium.find_elements(By.CSS_SELECTOR, f'[data-field="{name}"] input'),
                      what=f"the field {name}")[0]


def retype(box, text: str) -> None:
    """Select what the field holds and type ``text`` over it, key by key; the cursor stays there."""
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text)


def shown_count(text: str) -> int | None:
    """The count in a node's progress line (``embedding: 48 / 200 images``: 48), or None."""
    found = re.search(r"([\d,]+) / [\d,]+", text)
    return int(found[1].replace(",", "")) if found else None


def embedded(screen: Screen) -> int | None:
    """The count Embed's progress shows now, in whatever phase, or None while it shows none.
    A resumed Embed must never show fewer than it kept: its first phase, getting the model
    ready, showed ``loading the model: 0 / 200`` before it had looked at what is stored."""
    return shown_count(screen.selenium.execute_script(PROGRESS_TEXT, "embed"))


# From now on, every text the node's progress line shows, as the page draws it: a phase shown
# for a moment, between two looks from the test, is caught too.
WATCH_PROGRESS = """const node = document.querySelector(`.vue-flow__node[data-id='${arguments[0]}']`);
window.fcProgressSeen = [];
const note = () => {
  const text = node.querySelector('.fc-progress-text')?.textContent.trim() || '';
  if (text && window.fcProgressSeen.at(-1) !== text) window.fcProgressSeen.push(text);
};
new MutationObserver(note).observe(node, {subtree: true, childList: true, characterData: true});"""


def cli_run(flow: Path, out: Path, cache_root: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(flow), "--out", str(out),
                           "--cache", str(cache_root), "-q"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def test_f5_mid_run_keeps_the_run_its_progress_and_the_unsaved_edit(screen: Screen, registry, model_cache,
                                                                  workspace: Path) -> None:
    flow = faces_workflow(registry, workspace, dataset="digits")
    open_canvas(screen, registry, model_cache, workspace, flow)
    driver = screen.selenium
    retype(field(screen, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
    wait_until(lambda: driver.execute_script(DIRTY), what="the unsaved-changes mark")
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: (embedded(screen) or 0) >= 16, timeout=120, what="Embed under way")
    address = driver.current_url
    assert "tab=" in address

    # the browser would ask "Leave site?" (WebDriver's refresh answers it itself: F5)
    assert driver.execute_script(WOULD_WARN), "leaving a page with unsaved changes does not warn"
    driver.refresh()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=20, what="the page again")
    assert driver.current_url == address
    wait_until(lambda: (embedded(screen) or 0) > 16, timeout=60, what="the run's progress after the reload")
    shot(screen, "reloaded_mid_run")
    assert driver.execute_script(BADGE, "embed") == "running"
    assert [b for b in driver.find_elements(By.XPATH, "//button[.//*[text()='Cancel']]") if b.is_displayed()]
    screen.should_contain("unsaved changes")
    assert field(screen, "cluster", "n_clusters").get_attribute("value") == "3"

    wait_until(lambda: driver.execute_script(SUMMARY).startswith("Last run"), timeout=300, what="the run's end")
    assert " 0 failed" in driver.execute_script(SUMMARY)
    out = workspace / "mine" / "flowclass-out" / "faces"
    clusters = {line.split(",")[3] for line in (out / "clusters" / "images.csv").read_text().splitlines()[1:]}
    assert clusters == {"C1", "C2", "C3"}  # the run used the edit made before the reload
    assert saved_param(flow, "cluster", "n_clusters") == 2  # and nothing was saved
    show_results(screen, "cluster")  # the reloaded page has the run's results
    shot(screen, "reloaded_run_done")


def test_cancel_then_run_again_starts_where_it_stopped(screen: Screen, registry, model_cache, workspace: Path,
                                                       tmp_path: Path) -> None:
    # 1,797 digits: the run outlasts the time a click on Cancel takes to arrive, even with a fast model
    flow = faces_workflow(registry, workspace, dataset="digits")
    open_canvas(screen, registry, model_cache, workspace, flow)
    driver = screen.selenium
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: stored_vectors(model_cache.root) >= 24, timeout=120, what="three batches embedded")
    click(screen, "//button[.//*[text()='Cancel']]")
    wait_until(lambda: "(cancelled)" in driver.execute_script(SUMMARY), timeout=60, what="the Cancel")
    kept = stored_vectors(model_cache.root)
    assert 24 <= kept < DIGITS
    # the node says what is kept, exactly, and its results panel that Run resumes from there
    said = lambda: (driver.execute_script(BADGE, "embed"), driver.execute_script(NOTE, "embed"))  # noqa: E731
    wait_until(lambda: said() == ("partly done", f"{kept:,} of {DIGITS:,} images kept"), timeout=10,
               what=f"the Embed node saying {kept} kept")
    select_node(screen, "embed")
    wait_until(lambda: f"Embed Images: stopped part way: {kept:,} of {DIGITS:,} images are kept; Run resumes from "
               "there." in driver.find_element(By.CSS_SELECTOR, ".fc-results").text,
               what="the results panel saying Run resumes from there")
    shot(screen, "cancelled")

    driver.execute_script(WATCH_PROGRESS, "embed")
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: (line := driver.execute_script(SUMMARY)).startswith("Last run") and "(cancelled)" not in line,
               timeout=300, what="the second run's end")
    assert " 0 failed" in driver.execute_script(SUMMARY)
    shown = driver.execute_script("return window.fcProgressSeen")
    seen = [count for count in map(shown_count, shown) if count is not None]
    # never counted from 0 again, not even while the model loads
    assert seen and seen[0] >= kept and seen[0] < DIGITS and min(seen) >= kept, (kept, shown)
    assert stored_vectors(model_cache.root) == DIGITS

    # the same files as `flowclass run` of the saved workflow, never interrupted (own cache)
    out = workspace / "mine" / "flowclass-out" / "faces"
    resumed = files_of(out)
    shutil.rmtree(out)
    cli_run(flow, out, tmp_path / "cache_whole")
    whole = files_of(out)
    assert resumed.keys() == whole.keys() and len(resumed) > DIGITS
    assert [name for name in resumed if whole[name] != resumed[name]] == []


def test_two_tabs_saving_one_file_are_never_silent(screen: Screen, registry, cache, workspace: Path) -> None:
    flow = faces_workflow(registry, workspace, clusters=6)
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    tab_a = driver.current_window_handle
    driver.switch_to.new_window("tab")  # tab B, the same workflow
    screen.open("/", timeout=20)
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=15, what="tab B")
    box = field(screen, "cluster", "n_clusters")
    retype(box, "4")
    box.send_keys(Keys.CONTROL, "s")  # from the field
    wait_until(lambda: saved_param(flow, "cluster", "n_clusters") == 4, what="B's save")

    driver.switch_to.window(tab_a)
    box = field(screen, "embed", "batch_size")
    retype(box, "16")
    box.send_keys(Keys.CONTROL, "s")
    screen.should_contain("changed on disk since this tab opened or saved it")
    shot(screen, "two_tabs_asked")
    assert (saved_param(flow, "cluster", "n_clusters"), saved_param(flow, "embed", "batch_size")) == (4, 8)

    click(screen, "//button[.//*[text()='Reload the file']]")
    wait_until(lambda: field(screen, "cluster", "n_clusters").get_attribute("value") == "4", what="B's clusters in A")
    box = field(screen, "embed", "batch_size")
    retype(box, "16")
    box.send_keys(Keys.CONTROL, "s")  # A's file is up to date now: no question
    wait_until(lambda: saved_param(flow, "embed", "batch_size") == 16, what="A's save")
    assert saved_param(flow, "cluster", "n_clusters") == 4  # B's change is kept
    screen.should_not_contain("changed on disk")


def test_ctrl_s_in_a_settings_field_commits_it_then_saves(screen: Screen, registry, cache, workspace: Path) -> None:
    flow = faces_workflow(registry, workspace, clusters=6)
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    box = field(screen, "cluster", "n_clusters")
    retype(box, "5")
    assert driver.switch_to.active_element == box  # the cursor is still in the field
    box.send_keys(Keys.CONTROL, "s")
    wait_until(lambda: saved_param(flow, "cluster", "n_clusters") == 5, what="the save")
    screen.should_contain("Saved")
    wait_until(lambda: not driver.execute_script(DIRTY), what="the clean mark")
    shot(screen, "ctrl_s_in_field")
    assert load(flow, registry).node("cluster").params["n_clusters"] == 5


VIEW = "return document.querySelector('.vue-flow__transformationpane')?.style.transform || ''"


def view_of(screen: Screen) -> tuple[float, ...]:
    """(x, y, zoom) of the canvas's view, from its transform: translate(Xpx, Ypx) scale(Z)."""
    text = screen.selenium.execute_script(VIEW)
    return tuple(float(n) for n in re.findall(r"-?[0-9.]+(?:e-?[0-9]+)?", text)) if text else ()


def same_view(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Equal as kept (whole pixels, the zoom to 1/1000)."""
    return len(a) == len(b) == 3 and abs(a[0] - b[0]) < 1.5 and abs(a[1] - b[1]) < 1.5 and abs(a[2] - b[2]) < 2e-3


def test_a_reload_shows_the_same_view_and_selection(screen: Screen, registry, cache, workspace: Path) -> None:
    flow = faces_workflow(registry, workspace, clusters=6)
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    show_settings(screen, "distances")
    driver.find_element(By.CSS_SELECTOR, ".vue-flow__controls-zoomout").click()  # the user zooms out
    time.sleep(0.5)  # the zoom's animation
    view = view_of(screen)
    assert len(view) == 3 and view[2] < 1
    time.sleep(1)  # the tab's draft is kept twice a second
    driver.refresh()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=20, what="the page again")
    wait_until(lambda: same_view(view_of(screen), view), what="the same view")
    screen.should_contain("distances · ")  # the selected node's settings
    shot(screen, "reloaded_view")


def test_save_as_during_a_run_the_footer_names_the_folder_it_writes(screen: Screen, registry, cache,
                                                                    workspace: Path) -> None:
    """Save As while a run goes on: the footer names the folder the run writes, the next
    run's folder beside it, until the run ends. Screenshot: keep_save_as_mid_run.png."""
    from test_journeys_browser import MENU_ITEM, TEXT, settled

    from flowclass.workflow import Edge, PortRef, Workflow
    from flowclass.workflow_file import new_node

    workflow = Workflow(name="chain")  # Number -> Wait, 15,000 steps of 1 ms
    for type_id, node_id, x in (("toy.number", "toy_number", 0.0), ("toy.wait", "toy_wait", 300.0)):
        workflow = workflow.with_node(new_node(workflow, registry.get(type_id), position=(x, 0.0), node_id=node_id))
    workflow = workflow.with_params("toy_wait", steps=15000) \
        .with_edge(Edge(PortRef("toy_number", "number"), PortRef("toy_wait", "number")))
    flow = workspace / "mine" / "chain.json"
    save(workflow, flow)
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    out = "return [document.querySelector('.fc-out-dir').textContent, document.querySelector('.fc-next-out')?.textContent]"
    click(screen, "//button[.//*[text()='Run']]")
    wait_until(lambda: "Running" in driver.find_element(By.CSS_SELECTOR, ".fc-run-summary").text, what="the run")
    click(screen, TEXT.format("File"))
    click(screen, MENU_ITEM.format("Save As…"))
    settled(screen, ".fc-file-browser")  # it opens in the workflow's folder, mine/
    box = driver.find_element(By.CSS_SELECTOR, ".fc-file-browser input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("other")
    click(screen, "//*[contains(@class, 'fc-file-browser')]//button[.//*[text()='Save']]")
    wait_until(lambda: driver.execute_script(out)[1], what="the next run's folder")
    shot(screen, "save_as_mid_run")
    assert driver.execute_script(out) == [str(workspace / "mine" / "flowclass-out" / "chain"),
                                          str(workspace / "mine" / "flowclass-out" / "other")]
    wait_until(lambda: "Last run" in driver.find_element(By.CSS_SELECTOR, ".fc-run-summary").text, timeout=60,
               what="the run's end")
    assert driver.execute_script(out)[0] == str(workspace / "mine" / "flowclass-out" / "other")
    assert not driver.find_element(By.CSS_SELECTOR, ".fc-next-out").is_displayed()
