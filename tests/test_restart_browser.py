"""A tab's work survives its server being killed, in a real Chromium on a real ``flowclass ui``.

The server is started as README says a user starts it (``flowclass ui WORKFLOW --root DIR
--port P --token T``), in a process of its own, and killed with ``kill -9`` (no shutdown
handler runs: a crash, a closed terminal, a reboot). Started again on the same cache folder,
the tab reloaded shows the same workflow, unsaved edit, selection and view, and Save writes
the edit. A run going on when the server was killed is said to be interrupted, and Run
resumes it from the embeddings stored before the kill. Screenshots: screenshots/restart_*.png.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from canvas_helpers import wait_until
from selenium.webdriver import ActionChains
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from server_helpers import CanvasServer
from test_journeys_browser import MENU_ITEM, SUMMARY, TEXT, click
from test_keep_work_browser import (BADGE, DIRTY, NOTE, embedded, faces_workflow, field, retype, same_view,
                                    saved_param, view_of, WOULD_WARN, workspace)
from test_resume import stored_vectors

from flowclass.cache import Cache
from flowclass.ui.recover import MENU_LABEL as CLOSED_WORK
from tests.conftest import CHROMEDRIVER, REPO

TOKEN = "r7Tq-2xWmK9pLbZv"  # 16 varied characters
SHOTS = REPO / "screenshots"
DIGITS = 1797  # scikit-learn's digits, written by `flowclass sample`
pytestmark = [pytest.mark.browser, pytest.mark.slow]

NODE_AT = "const r = document.querySelector(`.vue-flow__node[data-id='${arguments[0]}']`)" \
          ".getBoundingClientRect(); return [r.left, r.top];"


@pytest.fixture
def browser(nicegui_driver):
    """The session's Chromium, as the journey helpers take it (they use its ``selenium``)."""
    nicegui_driver.set_window_size(1600, 1000)
    yield SimpleNamespace(selenium=nicegui_driver)
    nicegui_driver.get("about:blank")


@pytest.fixture
def asking_browser(nicegui_chrome_options):
    """A Chromium of its own that leaves the page's leave-page question (beforeunload) open for
    the test to answer, Leave or Stay, as a user does: WebDriver otherwise answers it itself."""
    options = webdriver.ChromeOptions()
    options.binary_location = nicegui_chrome_options.binary_location
    for argument in nicegui_chrome_options.arguments:
        options.add_argument(argument)
    options.set_capability("webSocketUrl", True)  # the prompt handler below needs a BiDi session
    options.set_capability("unhandledPromptBehavior", {"default": "dismiss and notify", "beforeUnload": "ignore"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(4)
    driver.set_window_size(1600, 1000)
    yield SimpleNamespace(selenium=driver)
    driver.quit()


@pytest.fixture
def dataset() -> str:
    """The sample set the served workflow clusters; a test parametrizes it to take another."""
    return "faces"


@pytest.fixture
def server(workspace: Path, tmp_path: Path, registry, dataset: str):
    """``flowclass ui mine/faces.json --root home`` (200 faces, or ``dataset``; EfficientNet in
    batches of 8; the model prepared once for the test run, $FLOWCLASS_PREPARED)."""
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    flow = faces_workflow(registry, workspace, dataset=dataset)
    EfficientNetLite0(Cache(tmp_path / "cache").store_dir("models")).prepare()
    started = CanvasServer(workspace, tmp_path / "cache", TOKEN, workflow=flow)
    started.start()
    yield started
    started.stop()


def shot(browser, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    browser.selenium.save_screenshot(str(SHOTS / f"restart_{name}.png"))


def open_tab(browser, server: CanvasServer) -> str:
    """The printed link, in the browser: the canvas with the workflow; the tab's address."""
    driver = browser.selenium
    driver.get(f"{server.base}/?token={TOKEN}")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 6, timeout=20,
               what="the workflow's nodes")
    wait_until(lambda: "tab=" in driver.current_url, what="the tab's id in its address")
    return driver.current_url


def draft(server: CanvasServer, address: str) -> dict:
    """The tab's draft as the server keeps it on disk ({} before the first)."""
    tab = address.split("tab=")[1].split("&")[0]
    try:
        return json.loads((server.cache / "stores" / "drafts" / f"{tab}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def restart(browser, server: CanvasServer, address: str) -> None:
    """kill -9 the server, start it again on the same port and cache folder, reload the tab."""
    driver = browser.selenium
    server.kill()
    server.start()
    driver.get(address)  # F5: the page's own reconnection may have reloaded it already
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 6, timeout=20,
               what="the workflow after the restart")


def drag_node(browser, node_id: str, dx: int, dy: int) -> None:
    """Press on the node's title and move it, in steps as a hand does."""
    title = browser.selenium.find_element(By.CSS_SELECTOR, f'.vue-flow__node[data-id="{node_id}"] .fc-title')
    actions = ActionChains(browser.selenium, duration=50).click_and_hold(title)
    for _ in range(4):
        actions.move_by_offset(dx // 4, dy // 4)
    actions.release().perform()


def saved_position(flow: Path, node: str) -> dict:
    return next(n for n in json.loads(flow.read_text(encoding="utf-8"))["nodes"] if n["id"] == node)["position"]


def test_kill_9_and_restart_keeps_the_tabs_unsaved_work(browser, server: CanvasServer, workspace: Path) -> None:
    driver, flow = browser.selenium, workspace / "mine" / "faces.json"
    address = open_tab(browser, server)
    retype(field(browser, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
    wait_until(lambda: driver.execute_script(DIRTY), what="the unsaved-changes mark")
    before, zoom = saved_position(flow, "distances"), view_of(browser)[2]
    at = driver.execute_script(NODE_AT, "distances")
    drag_node(browser, "distances", 80, 120)  # moved (and selected)
    time.sleep(0.3)
    shift = [(b - a) / zoom for a, b in zip(at, driver.execute_script(NODE_AT, "distances"))]  # workflow units
    assert shift[0] > 40 and shift[1] > 40
    driver.find_element(By.CSS_SELECTOR, ".vue-flow__controls-zoomout").click()  # the user zooms out
    time.sleep(0.5)  # the zoom's animation
    view, moved_to = view_of(browser), driver.execute_script(NODE_AT, "distances")
    assert len(view) == 3 and view[2] < 1
    wait_until(lambda: draft(server, address).get("selected") == "distances"
               and '"n_clusters": 3' in draft(server, address).get("workflow", "")
               and draft(server, address).get("viewport", {}).get("zoom") == pytest.approx(view[2], abs=2e-3),
               what="the tab's work kept on disk")
    shot(browser, "before_kill")

    restart(browser, server, address)
    assert driver.current_url == address
    wait_until(lambda: same_view(view_of(browser), view), what="the same view")
    shot(browser, "after_restart")
    assert driver.execute_script(NODE_AT, "distances") == pytest.approx(moved_to, abs=1.5)  # where it was moved
    assert driver.execute_script("return document.querySelector('.fc-inspector')?.textContent"
                                 ".includes('distances · ')"), "the selection is lost"
    assert driver.execute_script(DIRTY), "the edits no longer count as unsaved"
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"
    assert saved_param(flow, "cluster", "n_clusters") == 2 and saved_position(flow, "distances") == before

    ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()  # File > Save
    wait_until(lambda: saved_param(flow, "cluster", "n_clusters") == 3, what="the save")
    after = saved_position(flow, "distances")
    assert (after["x"] - before["x"], after["y"] - before["y"]) == pytest.approx(shift, abs=6)
    wait_until(lambda: not driver.execute_script(DIRTY), what="the clean mark")
    assert "changed on disk" not in driver.page_source  # the file was the one the tab opened


def drafts_with_kept(cache_root: Path) -> list[Path]:
    """The tab drafts that record a running node's kept count."""
    found = []
    for path in cache_root.rglob("drafts/*.json"):
        try:
            if (json.loads(path.read_text()).get("run_kept") or [0])[0]:
                found.append(path)
        except (OSError, ValueError):
            pass  # being replaced right now
    return found


@pytest.mark.parametrize("dataset", ["digits"])  # a run long enough to kill the server in, with a fast model
def test_a_run_killed_with_its_server_is_said_interrupted_and_resumes(browser, server: CanvasServer,
                                                                       workspace: Path) -> None:
    driver = browser.selenium
    cache = Cache(server.cache)
    address = open_tab(browser, server)
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: stored_vectors(cache.root) >= 24, timeout=180, what="three batches embedded")
    # the tab writes down what the running node has kept with its draft (every half second):
    # kill the server once it has, as a user's server would be killed at any later moment
    wait_until(lambda: drafts_with_kept(Path(server.cache)), timeout=30, what="the draft's kept count")
    shot(browser, "run_before_kill")

    restart(browser, server, address)
    kept = stored_vectors(cache.root)
    assert 24 <= kept < DIGITS
    wait_until(lambda: "interrupted" in driver.execute_script(SUMMARY), what="the interrupted run said")
    summary = driver.execute_script(SUMMARY)
    assert "Run" in summary, summary  # and what to do
    time.sleep(1)
    assert driver.execute_script(BADGE, "embed") == "partly done"  # no spinner waiting forever
    # under it, what the tab had written down of the stored batches (at most what is stored)
    note = re.fullmatch(rf"([\d,]+) of {DIGITS:,} images kept", driver.execute_script(NOTE, "embed") or "")
    assert note and 0 < int(note[1].replace(",", "")) <= kept, driver.execute_script(NOTE, "embed")
    assert not [b for b in driver.find_elements(By.XPATH, "//button[.//*[text()='Cancel']]") if b.is_displayed()]
    shot(browser, "run_interrupted")

    seen: list[int] = []
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    deadline = time.monotonic() + 300
    while not driver.execute_script(SUMMARY).startswith("Last run"):
        count = embedded(browser)
        if count is not None and (not seen or seen[-1] != count):
            seen.append(count)
        assert time.monotonic() < deadline, "the resumed run did not end"
        time.sleep(0.02)
    assert " 0 failed" in driver.execute_script(SUMMARY)
    # resumed, never counted from 0 again (the few images left may embed between two looks)
    assert all(kept <= count <= DIGITS for count in seen), (kept, seen)
    assert stored_vectors(cache.root) == DIGITS
    out = workspace / "mine" / "flowclass-out" / "faces"
    assert len((out / "clusters" / "images.csv").read_text().splitlines()) == DIGITS + 1
    shot(browser, "run_resumed")


def leave_page(driver, accept: bool) -> str:
    """Go elsewhere as a user does (a typed address, a link): the browser asks first when the page
    says so in beforeunload. ``accept``: Leave, else Stay. Returns what the browser asked."""
    driver.execute_script("setTimeout(() => { location.href = 'about:blank'; }, 0)")
    alert = wait_until(lambda: _alert(driver), what="the browser's leave-page question")
    asked = alert.text
    alert.accept() if accept else alert.dismiss()
    return asked


def _alert(driver):
    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None


def test_a_closed_tabs_unsaved_work_is_offered_back_to_a_new_tab(asking_browser, server: CanvasServer,
                                                                workspace: Path) -> None:
    browser = asking_browser
    driver, flow = browser.selenium, workspace / "mine" / "faces.json"
    address = open_tab(browser, server)
    retype(field(browser, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
    wait_until(lambda: driver.execute_script(DIRTY), what="the unsaved-changes mark")
    wait_until(lambda: '"n_clusters": 3' in draft(server, address).get("workflow", ""), what="the draft")

    leave_page(driver, accept=False)  # the browser's own question (beforeunload), answered Stay
    assert driver.current_url == address and driver.execute_script(DIRTY)
    leave_page(driver, accept=True)  # Leave
    wait_until(lambda: driver.current_url == "about:blank", what="the page left")

    driver.get(f"{server.base}/")  # a new tab on the same server, as from a bookmark
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 6, timeout=20,
               what="the new tab's workflow")
    assert driver.current_url != address  # a tab of its own, showing the file as saved
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "2"
    wait_until(lambda: "1 closed tab(s) left unsaved work" in driver.page_source, what="the offer")
    shot(browser, "closed_tab_offer")
    click(browser, TEXT.format("File"))
    click(browser, MENU_ITEM.format(CLOSED_WORK))
    browser_dialog = "//*[contains(@class, 'fc-closed-work')]"
    wait_until(lambda: driver.find_elements(By.XPATH, browser_dialog + "//*[normalize-space(text())='faces.json']"),
               what="the closed tab's work listed")
    click(browser, browser_dialog + "//button[.//*[text()='Open']]")
    wait_until(lambda: driver.current_url == address, what="the closed tab's address")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 6, timeout=20,
               what="the closed tab's workflow")
    assert driver.execute_script(DIRTY)
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"
    shot(browser, "closed_tab_reopened")
    assert saved_param(flow, "cluster", "n_clusters") == 2
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()  # File > Save
    wait_until(lambda: saved_param(flow, "cluster", "n_clusters") == 3, what="the save")
    wait_until(lambda: not driver.execute_script(DIRTY), what="the clean mark")
    assert not driver.execute_script(WOULD_WARN)  # saved: leaving asks nothing


def test_a_page_that_reloads_itself_after_a_restart_does_not_ask_to_leave(asking_browser, server: CanvasServer,
                                                                          workspace: Path) -> None:
    """A server restarted (or a tab left open overnight, its connection gone for longer than the
    server waits): the page's own reconnection reloads it, and with unsaved changes the browser
    asked *Reload site? Changes you made may not be saved*. They are kept (the draft); Cancel
    left a page with no server behind it, whose edits went nowhere, and the question came again
    at each try. The page reloads without asking and shows the work."""
    driver = asking_browser.selenium
    address = open_tab(asking_browser, server)
    retype(field(asking_browser, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
    wait_until(lambda: driver.execute_script(DIRTY), what="the unsaved-changes mark")
    wait_until(lambda: '"n_clusters": 3' in draft(server, address).get("workflow", ""), what="the draft")
    driver.execute_script("window.fcBeforeReload = true")  # gone once the page has reloaded
    server.kill()
    server.start()
    asked = []

    def reloaded() -> bool:
        alert = _alert(driver)
        if alert is not None:  # the question a user would be asked: noted, then answered Leave
            asked.append(alert.text or "Reload site?")
            alert.accept()
            return False
        try:
            return driver.execute_script("return !window.fcBeforeReload && !!document.querySelector('.vue-flow__node')")
        except Exception:  # noqa: BLE001  (the page is being replaced)
            return False

    wait_until(reloaded, timeout=40, what="the page reloaded by itself")
    assert asked == []
    assert driver.current_url == address
    wait_until(lambda: driver.execute_script(DIRTY), what="the unsaved work shown again")
    assert field(asking_browser, "cluster", "n_clusters").get_attribute("value") == "3"
    assert driver.execute_script(WOULD_WARN)  # leaving it by hand still asks


def test_back_and_forward_show_each_tab_live_with_its_own_work(browser, server: CanvasServer,
                                                               workspace: Path) -> None:
    """A tab with unsaved work, left for the canvas's plain address in the same browser tab (a
    new tab, the file as saved), then Back: the first tab's work, and a page that still edits it
    (not a dead copy from the browser's back-forward cache); Forward: the second tab's."""
    driver = browser.selenium
    first = open_tab(browser, server)
    retype(field(browser, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
    wait_until(lambda: '"n_clusters": 3' in draft(server, first).get("workflow", ""), what="the draft")

    driver.get(f"{server.base}/")  # the plain address (the leave-page question answered Leave)
    wait_until(lambda: "tab=" in driver.current_url and driver.current_url != first, timeout=20,
               what="a new tab's address")
    second = driver.current_url
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 6, timeout=20,
               what="the new tab's workflow")
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "2"

    driver.back()
    wait_until(lambda: driver.current_url == first, what="the first tab's address")
    wait_until(lambda: driver.execute_script(DIRTY), timeout=20, what="the first tab's unsaved work")
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"
    retype(field(browser, "cluster", "n_clusters"), "4")  # a live page: the edit reaches the tab
    wait_until(lambda: '"n_clusters": 4' in draft(server, first).get("workflow", ""), what="the edit kept")
    shot(browser, "back")

    driver.forward()
    wait_until(lambda: driver.current_url == second, what="the second tab's address")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 6, timeout=20,
               what="the second tab's workflow")
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "2"
    assert '"n_clusters": 4' in draft(server, first)["workflow"]


OFFLINE = "const o = document.getElementById('fc-offline'); return !!o && getComputedStyle(o).display !== 'none'"
RELOADED = "return !window.fcBeforeReload && document.querySelectorAll('.vue-flow__node').length === 6"


def try_to_edit(browser) -> None:
    """A drag of a node, a value typed into its field, Ctrl+Z: what a user does without
    knowing the server is gone. Each may be refused by the page (that is the point)."""
    driver = browser.selenium
    drag_node(browser, "distances", 80, 120)
    box = driver.find_element(By.CSS_SELECTOR, '[data-field="n_clusters"] input')
    try:
        box.send_keys(Keys.BACKSPACE, "7")
    except Exception:  # noqa: BLE001  (refused as not interactable: nothing typed either)
        pass
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    time.sleep(0.3)


def test_a_page_without_its_server_pauses_editing_until_it_is_back(browser, server: CanvasServer,
                                                                   workspace: Path) -> None:
    """The server killed (restarting, a laptop asleep): the page went on taking edits, a node
    dragged, a value typed, which never reached any server and were gone at the reload, the
    canvas having shown them as made. The page says it is reconnecting and takes no edit
    until its server is back; then it shows the tab's work as the server kept it."""
    driver = browser.selenium
    address = open_tab(browser, server)
    retype(field(browser, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
    wait_until(lambda: '"n_clusters": 3' in draft(server, address).get("workflow", ""), what="the draft")
    at = driver.execute_script(NODE_AT, "distances")
    driver.execute_script("window.fcBeforeReload = true")  # gone once the page has reloaded
    assert not driver.execute_script(OFFLINE)
    server.kill()
    wait_until(lambda: driver.execute_script(OFFLINE), timeout=15, what="the page saying it reconnects")
    time.sleep(1)  # its words fade in
    shot(browser, "offline")
    assert "Reconnecting" in driver.find_element(By.ID, "fc-offline").text
    try_to_edit(browser)
    assert driver.execute_script(NODE_AT, "distances") == pytest.approx(at, abs=1.5)  # not moved
    assert driver.find_element(By.CSS_SELECTOR, '[data-field="n_clusters"] input').get_attribute("value") == "3"

    server.start()
    wait_until(lambda: driver.execute_script(RELOADED), timeout=40, what="the page back with its server")
    assert driver.current_url == address and not driver.execute_script(OFFLINE)
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"
    assert '"n_clusters": 3' in draft(server, address)["workflow"]
    shot(browser, "back_online")


DROP_EVENTS = """const emit = window.socket.emit.bind(window.socket);
window.fcDropped = 0;
window.socket.emit = (name, ...args) => { if (name === "event") { window.fcDropped++; return window.socket; }
                                          return emit(name, ...args); };
window.fcRestoreEmit = () => { window.socket.emit = emit; };"""


def test_an_edit_lost_on_a_dead_connection_is_not_shown_as_made(browser, server: CanvasServer,
                                                                workspace: Path) -> None:
    """A network blip the browser has not noticed yet: what the page sends goes nowhere (here
    dropped on purpose), and the node dragged meanwhile stayed where it was dropped after the
    connection came back, though the server never moved it (its Save wrote the old place). The
    page, back with its server, shows the tab as the server holds it."""
    driver = browser.selenium
    address = open_tab(browser, server)
    at = driver.execute_script(NODE_AT, "distances")
    driver.execute_script("window.fcBeforeReload = true")
    driver.execute_script(DROP_EVENTS)
    drag_node(browser, "distances", 80, 120)
    time.sleep(0.3)
    assert driver.execute_script("return window.fcDropped") > 0
    assert driver.execute_script(NODE_AT, "distances") != pytest.approx(at, abs=1.5)  # shown moved
    driver.execute_script("window.fcRestoreEmit(); window.socket.io.engine.close()")  # the blip is noticed
    wait_until(lambda: driver.execute_script(RELOADED), timeout=40, what="the page back with its server")
    assert driver.current_url == address
    assert driver.execute_script(NODE_AT, "distances") == pytest.approx(at, abs=1.5)  # as the server has it
