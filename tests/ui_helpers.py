"""Helpers for the canvas app's simulated-user tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

from nicegui.testing import User

from flowclass.library import ready_workflows_dir
from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.canvas import FlowCanvas
from flowclass.ui.page import AppConfig, EditorPage
from flowclass.workflow import PortRef
from flowclass.workflow_file import load, save

CLUSTER_FOLDER = ready_workflows_dir() / "cluster_folder.json"
LOADS = 100  # should_see retries (0.1 s each) for what loads off the event loop: results, maps, counts


def small_cluster_workflow(registry, folder: Path, name: str = "cluster.json") -> Path:
    """cluster_folder.json on 3 digits per label (30 images) in 4 clusters: quick to run."""
    workflow = load(CLUSTER_FOLDER, registry).with_params("import", max_per_label=3) \
        .with_params("cluster", n_clusters=4)
    save(workflow, folder / name)
    return folder / name


def make_app(registry, cache, workspace: Path, workflow: Path | None = None) -> AppConfig:
    config = AppConfig(registry=registry, cache=cache, roots=Roots([workspace]), workflow=workflow)
    setup(config)
    return config


def canvas_of(user: User) -> FlowCanvas:
    (canvas,) = user.find(FlowCanvas).elements
    return canvas


def page_of(user: User) -> EditorPage:
    """The tab's EditorPage, reached through its canvas."""
    page = getattr(canvas_of(user), "editor_page", None)
    if not isinstance(page, EditorPage):
        raise AssertionError("no EditorPage behind the canvas")
    return page


def drop(user: User, node_type: str, x: float = 0, y: float = 0) -> None:
    """What the canvas sends when a palette entry is dropped on it."""
    user.find(FlowCanvas).trigger("add_node", {"type": node_type, "position": {"x": x, "y": y}})


def wire(user: User, source: str, target: str) -> None:
    """What the canvas sends for a drag from output ``node.port`` to input ``node.port``."""
    (a, out), (b, inp) = source.split("."), target.split(".")
    user.find(FlowCanvas).trigger("connect", {"from": {"node": a, "port": out}, "to": {"node": b, "port": inp}})


def graph_nodes(user: User) -> dict[str, dict]:
    return {n["id"]: n for n in canvas_of(user).graph["nodes"]}


async def until(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def toy_chain(user: User, registry, cache, folder: Path, steps: int) -> EditorPage:
    """A fresh tab with toy.number -> toy.wait (``steps`` steps of 1 ms), not run yet."""
    make_app(registry, cache, folder)
    await user.open("/")
    page = page_of(user)
    page.add_node("toy.number", (0, 0))
    page.add_node("toy.wait", (300, 0))
    page.connect(PortRef("toy_number", "number"), PortRef("toy_wait", "number"))
    page.set_param("toy_wait", "steps", steps)
    return page


async def run_slow_chain(user: User, registry, cache, folder: Path, steps: int, number: int = 1) -> EditorPage:
    """A fresh tab with toy.number (``number``) -> toy.wait (``steps`` steps of 1 ms), running
    unsaved (Save As declined), its wait node already reporting progress."""
    make_app(registry, cache, folder)
    await user.open("/")
    drop(user, "toy.number")
    drop(user, "toy.wait", 300)
    wire(user, "toy_number.number", "toy_wait.number")
    page = page_of(user)
    page.set_param("toy_number", "value", number)
    page.set_param("toy_wait", "steps", steps)
    user.find(marker="run-all").click()
    await user.should_see("no file yet")  # offered Save As first
    user.find(marker="confirm-cancel").click()
    await until(lambda: (graph_nodes(user)["toy_wait"]["status"]["progress"] or 0) > 0, what="progress")
    return page


async def run_asking_to_save_first(user: User, registry, cache, folder: Path) -> EditorPage:
    """A fresh tab with one Number node, Run pressed: the question "no file yet, save it
    before running?" is on the screen, unanswered. Returns the page."""
    make_app(registry, cache, folder)
    await user.open("/")
    page = page_of(user)
    page.add_node("toy.number", (0, 0))
    user.find(marker="run-all").click()
    await user.should_see("no file yet")
    return page
