"""The whole run's time left in the canvas, on a first run with a fresh timing history.

NiceGUI's simulated user: Number -> Wait -> Wait -> Describe, never run before on this
cache. While the first Wait runs, the footer and the running node's results panel say how
long the run has left: the second Wait counts as long as the first (its type's pace), and
Describe, which nobody has timed, is named. The next run, Describe has taught its pace.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User
from ui_helpers import drop, make_app, page_of, until, wire

from flowclass.ui.canvas import FlowCanvas

pytestmark = pytest.mark.anyio

# the whole run first: a narrow footer cuts the end of the line
AT_LEAST = re.compile(r"Running node 2 of 4 \(2 more after it · at least \d+ s left in all\), Wait: .*; "
                      r"Describe not timed yet$")
ABOUT = re.compile(r"Running node 2 of 4 \(2 more after it · about \d+ s left in all\), Wait: [^;]*$")


async def footer_while_it_runs(user: User, page) -> list[str]:
    """Run everything; the footer's lines and the running Wait's panel line as they were."""
    page.start_run(None)
    lines: list[str] = []
    while page.runner.running:
        text = page.summary.text
        place = [e.text for e in user.find(ui.label).elements if "fc-node-progress-run" in e.classes]
        for line in (text, *(f"panel: {p}" for p in place)):
            if line and (not lines or lines[-1] != line):
                lines.append(line)
        await asyncio.sleep(0.05)
    return lines


@pytest.mark.slow
async def test_a_first_run_shows_the_time_left_in_all(user: User, registry, cache, tmp_path: Path) -> None:
    make_app(registry, cache, tmp_path)
    await user.open("/")
    drop(user, "toy.number")
    drop(user, "toy.wait", 300)
    drop(user, "toy.wait", 600)
    drop(user, "toy.describe", 900)
    wire(user, "toy_number.number", "toy_wait.number")
    wire(user, "toy_wait.number", "toy_wait_2.number")
    wire(user, "toy_wait_2.number", "toy_describe.number")
    page = page_of(user)
    for node in ("toy_wait", "toy_wait_2"):
        page.set_param(node, "steps", 4000)  # about 5 s each
    user.find(FlowCanvas).trigger("select", {"id": "toy_wait"})  # its results panel shows the run
    assert not (cache.root / "stores" / "timings").exists()  # nothing timed on this computer yet

    lines = await footer_while_it_runs(user, page)
    assert any(AT_LEAST.match(line) for line in lines), lines
    assert any(re.match(r"panel: Node 2 of 4; 2 more after it · at least \d+ s left in all "
                        r"\(Describe not timed yet\)$", line) for line in lines), lines
    assert page.summary.text.startswith("Last run") and " 0 failed" in page.summary.text

    page.set_param("toy_number", "value", 2)  # all run again: now every type has a pace
    lines = await footer_while_it_runs(user, page)
    assert any(ABOUT.match(line) for line in lines), lines
    assert not any("not timed yet" in line for line in lines), lines
