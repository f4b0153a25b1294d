"""Run on... in the canvas's footer: a user sends runs to a Dask cluster and back, as with
``flowclass ui --scheduler``, and a wrong address changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User
from ui_helpers import make_app, page_of, small_cluster_workflow, until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
SHOT = Path(__file__).resolve().parents[1] / "screenshots" / "run_on_refused.png"


def footer_says(user: User) -> str:
    (label,) = [e for e in user.find(ui.label).elements if "fc-runs-on" in e.classes]
    return label.text


async def choose(user: User, choice: str, address: str = "") -> None:
    user.find(marker="runs-on-change").click()
    user.find(marker="runs-on-choice").elements.pop().value = choice
    if address:
        user.find(marker="runs-on-address").type(address)
    user.find(marker="runs-on-apply").click()


async def test_a_user_sends_runs_to_a_dask_cluster_and_back(user: User, registry, shared_cache,
                                                            tmp_path: Path) -> None:
    config = make_app(registry, shared_cache, tmp_path, small_cluster_workflow(registry, tmp_path))
    await user.open("/")
    page = page_of(user)
    assert footer_says(user) == "this machine"

    await choose(user, "dask", "tcp://127.0.0.1:1")  # nothing listens there
    await until(lambda: "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in
                " ".join(e.text for e in user.find(ui.label).elements
                         if "fc-runs-on-problem" in e.classes), timeout=60, what="the refusal")
    assert footer_says(user) == "this machine" and not config.executor.current.remote
    (said,) = [e.text for e in user.find(ui.label).elements if "fc-runs-on-problem" in e.classes]
    assert said.endswith("Or choose This machine.") and "--scheduler" not in said  # the canvas's way
    user.find(marker="runs-on-cancel").click()

    await choose(user, "dask", "local:1")
    await until(lambda: footer_says(user) != "this machine", timeout=120, what="the cluster")
    assert footer_says(user) == "Dask local:1 (1 worker)"
    user.find(marker="run-all").click()
    await until(lambda: page.summary.text.startswith("Last run"), timeout=300, what="the run")
    assert "0 failed" in page.summary.text, {n: s.message for n, s in page.runner.statuses.items()}
    manifest = json.loads((tmp_path / "flowclass-out" / "cluster" / "run.json").read_text())
    assert manifest["scheduler"] == {"address": "local:1", "workers": 1}

    cluster = config.executor.current
    await choose(user, "here")
    await until(lambda: footer_says(user) == "this machine", timeout=60, what="back here")
    assert cluster.client.status == "closed"  # the cluster it started is shut, not left running


async def test_cancel_while_connecting_keeps_where_runs_went(user: User, registry, shared_cache, tmp_path: Path,
                                                             monkeypatch) -> None:
    """Cancel, pressed while *Use it* was still connecting, closed the dialog, and the
    connection went on: once made, runs went to the cluster after all. Cancel keeps this
    machine, and the cluster started meanwhile is shut."""
    config = make_app(registry, shared_cache, tmp_path)
    made, switch = [], config.executor.switch
    monkeypatch.setattr(config.executor, "switch", lambda address: (switch(address), made.append(
        config.executor.current)))
    await user.open("/")
    await choose(user, "dask", "local:1")
    await until(lambda: any(e.text == "Connecting…" for e in user.find(ui.label).elements), what="connecting")
    user.find(marker="runs-on-cancel").click()
    said = lambda: " ".join(str(m) for m in user.notify.messages)  # noqa: E731
    await until(lambda: "Runs now go to" in said() or "Cancelled" in said(), timeout=120, what="the connection")
    assert footer_says(user) == "this machine" and not config.executor.current.remote
    assert made[0].remote and made[0].client.status == "closed"  # the cluster it started, shut


@pytest.mark.browser
def test_run_on_in_the_browser_refuses_an_unreachable_scheduler(screen, registry, cache,
                                                                tmp_path: Path) -> None:
    """In Chromium: the footer says where runs go; the dialog names a wrong address and
    keeps this machine."""
    from canvas_helpers import wait_until
    from selenium.webdriver.common.by import By

    from flowclass.ui.app import setup
    from flowclass.ui.browse import Roots
    from flowclass.ui.page import AppConfig

    setup(AppConfig(registry=registry, cache=cache, roots=Roots([tmp_path])))
    screen.selenium.set_window_size(1280, 720)
    screen.open("/", timeout=20)
    runs_on = screen.selenium.find_element(By.CSS_SELECTOR, ".fc-runs-on")
    assert runs_on.text == "this machine" and runs_on.is_displayed()
    # the footer's second Change (the first is the output folder's)
    screen.selenium.find_elements(By.XPATH, "//footer//button[.//*[text()='Change']]")[-1].click()
    screen.click("A Dask cluster")
    box = wait_until(lambda: [e for e in screen.selenium.find_elements(
        By.CSS_SELECTOR, "input[aria-label='Scheduler address']") if e.is_displayed()],
        what="the address field")[0]
    box.send_keys("tcp://127.0.0.1:1")
    screen.click("Use it")
    wait_until(lambda: "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in
               screen.selenium.find_element(By.CSS_SELECTOR, ".fc-runs-on-problem").text,
               timeout=60, what="the refusal")
    screen.selenium.save_screenshot(str(SHOT))
    screen.selenium.find_element(By.XPATH, "//*[contains(@class, 'q-dialog')]//button[.//*[text()='Cancel']]").click()
    wait_until(lambda: not screen.selenium.find_elements(By.CSS_SELECTOR, ".q-dialog"), what="the dialog to close")
    assert screen.selenium.find_element(By.CSS_SELECTOR, ".fc-runs-on").text == "this machine"
