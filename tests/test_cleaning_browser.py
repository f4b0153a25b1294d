"""Cleaning a collection in a real Chromium, then headless: issue 17's journey.

File > Ready workflows > clean_collection (a copy), its import pointed at the user's folder
(1,809 digits, 30 in a wrong folder, 12 copies under new names), Save As into a fresh
folder, Run; in the label-issue queue accept three suggested labels, in the duplicate
groups keep another copy of one group; Retrain. Then ``flowclass run`` of the saved file
with README's ``--set`` form finds the same decisions in label_issues.csv, duplicates.csv
and cleaned/, and the user's folder is as it was. Then Lobe's train-and-predict, trained on digits, predicts a
folder of digits and faces: the faces are the unfamiliar ones, on screen and in unfamiliar/. Screenshots at 1280x720 and 1920x1080
(screenshots/journey_clean_*.png); README's pictures docs/journey-clean-collection.png and journey-clean-duplicates.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from canvas_helpers import wait_until
from journey_helpers import (familiar_and_foreign, flowclass_run, install_snapshot, listing, messy_digits,
                             sample_data)
from nicegui.testing import Screen
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from test_journeys_browser import (MENU_ITEM, SHOTS, browser_errors, click, open_ready, run_and_wait, save_as,
                                   select_node, shot, show_results, thumbnails_shown, type_into)
from test_journeys_browser import workspace  # noqa: F401 (the fixture: a home with mine/ in it)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
RUN_TIMEOUT = 900  # 1,809 images through EfficientNet on a busy two-core machine
QUEUE_CARDS = "return [...document.querySelectorAll('.fc-queue-item')].map(c => c.innerText)"
PROGRESS = "return document.querySelector('.fc-queue-progress')?.textContent || ''"


def queue_head(screen: Screen) -> tuple[str, str, str]:
    """The first card of the queue: the image's name, its given and its suggested label."""
    text = wait_until(lambda: screen.selenium.execute_script(QUEUE_CARDS), timeout=20, what="the queue")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name, labels = lines[0], next(line for line in lines if line.startswith("labelled "))
    given, suggested = labels.removeprefix("labelled ").split(" · suggested ")
    return name, given, suggested


def kept_names(screen: Screen) -> list[str]:
    return screen.selenium.execute_script(
        "return [...document.querySelectorAll('.fc-duplicate-group')].map(g => "
        "g.querySelector('.fc-kept .fc-duplicate-name')?.textContent.trim())")


def frames(screen: Screen, name: str) -> None:
    """screenshots/journey_clean_NAME_1280.png and _1920.png: a laptop's and a full-HD window."""
    driver = screen.selenium
    size = driver.get_window_size()
    for width, height in ((1280, 720), (1920, 1080)):
        driver.set_window_size(width, height)
        time.sleep(0.8)  # the panels settle, thumbnails in view load
        driver.save_screenshot(str(SHOTS / f"journey_clean_{name}_{width}.png"))
    driver.set_window_size(size["width"], size["height"])


def test_clean_a_collection_in_the_browser_then_headless(screen: Screen, registry, shared_cache,
                                                         workspace: Path) -> None:
    installed = install_snapshot()
    photos, moved, copies = messy_digits(workspace / "PHOTOS", 30)
    before = listing(photos)
    assert len(before) >= 1_000
    open_ready(screen, registry, shared_cache, workspace, "clean_collection")
    driver = screen.selenium
    type_into(screen, "import", "folder", str(photos))
    save_as(screen, "clean")
    flow = workspace / "mine" / "clean.json"
    wait_until(flow.is_file, what="the saved workflow")
    run_and_wait(screen, timeout=RUN_TIMEOUT)
    out = workspace / "mine" / "flowclass-out" / "clean"
    issues = pd.read_csv(out / "label_issues.csv", dtype=str, keep_default_na=False)
    issues["name"] = issues["path"].map(lambda p: Path(p).name)

    # the queue: the three most suspect images' suggestions accepted
    select_node(screen, "issues")
    accepted = {}
    for k in range(3):
        name, given, suggested = queue_head(screen)
        row = issues.set_index("name").loc[name]
        assert (row["label"], row["suggested"], row["flagged"]) == (given, suggested, "true")
        if k < 2:
            click(screen, f"(//*[contains(@class, 'fc-queue-item')])[1]//button[.//*[text()='Accept {suggested}']]")
        else:  # the third by the keyboard: A accepts the first suggestion
            ActionChains(driver).send_keys("a").perform()
        wait_until(lambda: driver.execute_script(PROGRESS).startswith(f"{k + 1} decided"), what="the decision")
        accepted[name] = suggested
    assert len(set(accepted) & set(moved)) >= 2  # the head of the queue holds the moved digits
    overrides = pd.read_csv(workspace / "mine" / "label-overrides.csv", dtype=str)
    assert [Path(p).name for p in overrides["path"]] == list(accepted)
    assert overrides["label"].tolist() == list(accepted.values())
    assert queue_head(screen)[0] not in accepted  # decided images left the queue
    shot(screen, "clean_queue", docs="journey-clean-collection.png", show=".fc-queue-progress")
    frames(screen, "queue")

    # the duplicate groups: another copy of the first group kept
    select_node(screen, "duplicates")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".fc-duplicate-group .fc-kept"), timeout=20,
               what="the groups")
    frames(screen, "groups")
    first_kept = kept_names(screen)[0]
    group = driver.find_elements(By.CSS_SELECTOR, ".fc-duplicate-group")[0]
    other = group.find_element(By.XPATH, ".//*[contains(@class, 'fc-duplicate')][not(contains(@class, 'fc-kept'))]")
    chosen = other.find_element(By.CSS_SELECTOR, ".fc-duplicate-name").text.strip()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", other)
    other.find_element(By.XPATH, ".//button[.//*[text()='Keep this']]").click()
    wait_until(lambda: kept_names(screen)[0] == chosen, what="the kept mark to move")  # at once, no run
    keep_file = pd.read_csv(workspace / "mine" / "duplicates-keep.csv", dtype=str, keep_default_na=False)
    assert [Path(p).name for p in keep_file["path"]] == [chosen]
    assert chosen != first_kept
    shot(screen, "clean_groups_changed", docs="journey-clean-duplicates.png", show=".fc-duplicates-summary")

    run_and_wait(screen, "//button[.//*[text()='Re-run with these choices']]", timeout=RUN_TIMEOUT)
    # the canvas's own run wrote them: the chosen copy in its cleaned copy
    canvas_kept = pd.read_csv(out / "duplicates.csv", dtype=str).assign(name=lambda t: t["path"].map(
        lambda p: Path(p).name)).set_index("name")["keep"]
    assert canvas_kept[chosen] == "true" and canvas_kept[first_kept] == "false"

    # headless, from the saved file, README's --set form: the same decisions
    cli_out = workspace / "OUT"
    flowclass_run(flow, cli_out, shared_cache.root, f"import.folder={photos}")
    again = pd.read_csv(cli_out / "label_issues.csv", dtype=str, keep_default_na=False)
    labels = dict(zip(again["path"].map(lambda p: Path(p).name), again["label"]))
    assert {name: labels[name] for name in accepted} == accepted
    duplicates = pd.read_csv(cli_out / "duplicates.csv", dtype=str)
    duplicates["name"] = duplicates["path"].map(lambda p: Path(p).name)
    kept = duplicates.set_index("name")["keep"]
    assert kept[chosen] == "true" and kept[first_kept] == "false"
    cleaned = {p.name: p.parent.name for p in (cli_out / "cleaned").rglob("*")
               if p.is_file() and p.suffix != ".csv" and not p.name.startswith(".")}
    assert chosen in cleaned and first_kept not in cleaned
    assert {name: cleaned[name] for name in accepted} == accepted  # in their accepted label's folder
    assert len(cleaned) == len(before) - int((kept == "false").sum())
    assert listing(photos) == before  # nothing in the user's folder moved or changed
    assert install_snapshot() == installed
    problems = browser_errors(screen)
    assert problems == [], problems[0]["message"]


def test_predict_a_folder_and_find_the_foreign_images_unfamiliar_in_the_browser(
        screen: Screen, registry, shared_cache, workspace: Path) -> None:
    installed = install_snapshot()
    digits = sample_data(workspace / "sample", "digits")
    mixed, faces = familiar_and_foreign(digits, workspace / "NEW")
    open_ready(screen, registry, shared_cache, workspace, "lobe_train_predict")
    driver = screen.selenium
    type_into(screen, "import", "folder", str(digits))
    type_into(screen, "new", "folder", str(mixed))
    save_as(screen, "digits")
    wait_until((workspace / "mine" / "digits.json").is_file, what="the saved workflow")
    run_and_wait(screen, timeout=RUN_TIMEOUT)
    out = workspace / "mine" / "flowclass-out" / "digits"
    unfamiliar = {p.name for p in (out / "by_prediction" / "unfamiliar").glob("*.png")}
    assert len(unfamiliar & faces) >= 0.9 * len(faces)
    assert len(unfamiliar - faces) <= 5  # of 100 digits like those it was trained on

    show_results(screen, "predict")
    click(screen, "//*[contains(@class, 'fc-results')]//*[contains(@class, 'q-select')]")
    click(screen, MENU_ITEM.format(f"unfamiliar ({len(unfamiliar)})"))
    thumbnails_shown(screen, len(unfamiliar))
    shown = driver.execute_script("return [...document.querySelectorAll('.fc-gallery .fc-thumb')]"
                                  ".map(t => t.title.split(' · ')[0])")
    assert set(shown) == unfamiliar  # the canvas shows what the export put in unfamiliar/
    frames(screen, "unfamiliar")
    assert install_snapshot() == installed
    problems = browser_errors(screen)
    assert problems == [], problems[0]["message"]
