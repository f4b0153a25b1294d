"""The tab's EditorSession without a browser: change notices, normalised values, debounced checks."""

from __future__ import annotations

import re

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from flowclass.library import ready_workflows_dir
from flowclass.ui.session import EditorSession
from flowclass.ui.session_checks import CHECK_DELAY
from flowclass.workflow import PortRef

CLUSTER_FOLDER = ready_workflows_dir() / "cluster_folder.json"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def session_of(registry, cache, clock: Clock | None = None) -> tuple[EditorSession, list[frozenset[str]]]:
    session = EditorSession(registry, cache, clock=clock or Clock())
    seen: list[frozenset[str]] = []
    session.subscribe(seen.append)
    return session, seen


def count_calls(obj, name: str, monkeypatch=None) -> list[int]:
    """Wrap ``obj.name`` to count its calls; the list's length is the count."""
    calls: list[int] = []
    original = getattr(obj, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    if monkeypatch is not None:
        monkeypatch.setattr(obj, name, counted)
    else:
        setattr(obj, name, counted)
    return calls


def wait_for_check(session: EditorSession, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while session.runner.checking or session.runner._check_wanted is not None:  # pylint: disable=protected-access
        assert time.monotonic() < deadline, "the status check did not end"
        time.sleep(0.005)
        session.tick()
    session.tick()


def test_the_session_imports_no_nicegui() -> None:
    code = "import sys, flowclass.ui.session; print('nicegui' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_edits_notify_what_changed(registry, cache) -> None:
    session, seen = session_of(registry, cache)
    session.loaded()
    assert "loaded" in seen[-1]
    session.add_node("toy.number", (0, 0))
    assert {"graph", "params", "selection"} <= seen[-1] and session.selected == "toy_number"
    session.move({"toy_number": (50, 60)})
    assert seen[-1] == {"layout", "file"}
    session.rename("toy_number", "Seven")
    assert "graph" in seen[-1] and "selection" not in seen[-1]  # the inspector keeps its widgets
    session.select(None)
    assert seen[-1] == {"selection"}
    seen.clear()
    session.connect(PortRef("toy_number", "number"), PortRef("toy_number", "number"))
    assert seen == []  # refused: nothing changed


def test_a_refused_edit_is_told_to_the_user(registry, cache) -> None:
    told: list[tuple[str, str]] = []
    session = EditorSession(registry, cache, notify=lambda message, kind: told.append((message, kind)))
    session.add_node("toy.number", (0, 0))
    session.add_node("toy.read", (0, 200))
    assert not session.connect(PortRef("toy_read", "words"), PortRef("toy_number", "number"))
    assert told and told[-1][1] == "warning" and "has no input 'number'" in told[-1][0]


def test_values_are_stored_normalised(registry, cache) -> None:
    session, _ = session_of(registry, cache)
    session.add_node("toy.number", (0, 0))
    session.set_param("toy_number", "value", 7.0)  # what a number widget sends
    stored = session.workflow.node("toy_number").params["value"]
    assert stored == 7 and type(stored) is int
    session.set_param("toy_number", "value", 7.5)  # invalid: kept as typed, reported on the field
    assert session.workflow.node("toy_number").params["value"] == 7.5
    assert [(p.node, p.field) for p in session.problems] == [("toy_number", "value")]


def test_moving_nodes_neither_validates_nor_checks(registry, cache, monkeypatch) -> None:
    from flowclass.ui import session as session_module

    clock = Clock()
    session, _ = session_of(registry, cache, clock)
    session.state.open(CLUSTER_FOLDER)
    session.loaded()
    wait_for_check(session)
    validations = count_calls(session_module, "resolve", monkeypatch)
    statuses = count_calls(session.runner.engine, "plan")
    for x in range(20):
        session.move({"embed": (float(x), 0.0)})
        session.rename("embed", f"Embed {x}")
        clock.now += 1
        session.tick()
    wait_for_check(session)
    assert validations == [] and statuses == []


def test_status_checks_are_debounced(registry, cache) -> None:
    clock = Clock()
    session, _ = session_of(registry, cache, clock)
    session.state.open(CLUSTER_FOLDER)
    session.loaded()
    wait_for_check(session)
    statuses = count_calls(session.runner.engine, "plan")
    for value in range(3, 12):  # typing: one keystroke every 50 ms
        session.set_param("cluster", "n_clusters", value)
        clock.now += CHECK_DELAY / 6
        session.tick()
    wait_for_check(session)
    assert statuses == []  # still typing
    clock.now += CHECK_DELAY
    session.tick()
    wait_for_check(session)
    assert len(statuses) == 1


def test_out_dir_follows_the_file_then_the_choice(registry, cache, tmp_path: Path) -> None:
    session, seen = session_of(registry, cache)
    flow = tmp_path / "mine.json"
    flow.write_text(CLUSTER_FOLDER.read_text())
    session.state.open(flow)
    session.loaded()
    assert session.out_dir() == tmp_path / "flowclass-out" / "mine"
    session.set_out_dir(tmp_path / "elsewhere")
    assert session.out_dir() == tmp_path / "elsewhere" and seen[-1] == {"out_dir"}


def test_run_from_runs_the_node_and_what_it_feeds_not_its_neighbours(registry, cache) -> None:
    """Apply this cut's run: the changed node and every node downstream of it (an export after
    it must follow), not a branch that does not depend on it."""
    session, _ = session_of(registry, cache)
    session.loaded()
    session.add_node("toy.number", (0, 0))  # toy_number
    session.add_node("toy.add", (200, 0))  # toy_add, fed by toy_number
    session.add_node("toy.describe", (400, 0))  # toy_describe, fed by toy_add
    session.add_node("toy.number", (0, 300))  # toy_number_2: a branch of its own
    session.connect(PortRef("toy_number", "number"), PortRef("toy_add", "a"))
    session.connect(PortRef("toy_add", "sum"), PortRef("toy_describe", "number"))
    started: list = []
    session.runner.start = lambda workflow, **kw: started.append(kw["targets"])
    session.run_from("toy_add")
    assert started == [["toy_add", "toy_describe"]]


def run_to_end(session: EditorSession, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while session.runner.running:
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.01)
        session.tick()


def test_an_untitled_tab_without_roots_makes_its_folder_only_when_a_run_writes_there(
        registry, cache, tmp_path: Path, monkeypatch) -> None:
    """Without roots (scripts, tests) an unsaved workflow's folder is a new name in the
    temporary folder. It used to be made at once (mkdtemp), so every tab that never ran left
    an empty /tmp/flowclass-untitled-*: the test suite leaked one per session."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    session, _ = session_of(registry, cache)
    session.loaded()
    out = session.out_dir()
    assert out.parent == tmp_path and out.name.startswith("flowclass-untitled-")
    assert not os.path.lexists(out) and session.out_dir() == out  # one folder for all its runs
    session.add_node("toy.number", (0, 0))
    session.run_from("toy_number")
    run_to_end(session)
    assert (out / "run.json").is_file()


@pytest.mark.slow  # over a second; the quick loop keeps its 90 s budget
def test_saving_after_a_run_keeps_its_badges_on_a_folder_too_big_to_check(registry, cache,
                                                                          tmp_path: Path) -> None:
    """A folder larger than a status check looks at: the run's badges ("done") hold after
    File > Save; they turned "not checked" though nothing had changed."""
    from ui_helpers import small_cluster_workflow

    flow = small_cluster_workflow(registry, tmp_path)
    session = EditorSession(registry, cache, clock=time.monotonic, scan_files=5)
    session.state.open(flow)
    session.set_params("embed", {"backend": "pixels"})
    session.loaded()
    wait_for_check(session)
    assert session.status("import").label == "not checked"
    session.start_run(None)
    run_to_end(session)
    assert {n: session.status(n).state for n in ("import", "cluster")} == {"import": "done", "cluster": "done"}
    session.state.save()
    session.saved()
    session.clock = lambda: time.monotonic() + 10  # past the debounce
    session.tick()
    wait_for_check(session)
    assert {n: session.status(n).state for n in ("import", "cluster")} == {"import": "done", "cluster": "done"}
    assert session.status("cluster").label != "not checked"


def footer_lines(session: EditorSession) -> set[str]:
    """Run the workflow; what the footer said while it ran."""
    session.start_run(None)
    lines = set()
    while session.runner.running:
        time.sleep(0.01)
        session.tick()
        lines.add(session.run_line())
    return lines


@pytest.mark.slow
def test_the_footer_says_which_node_runs_and_the_time_left_in_all(registry, cache, tmp_path: Path) -> None:
    """``Running node 2 of 3 (1 more after it · about 10 s left in all), Wait: 700 / 1,500 ·
    about 5 s left``: the nodes after the running one count with the time they took last,
    or, the first time (a fresh timing history), at the pace of the running node of their type."""
    from flowclass.workflow_file import save

    session, _ = session_of(registry, cache)
    session.clock = time.monotonic
    session.add_node("toy.number", (0, 0))
    session.add_node("toy.wait", (200, 0))
    session.add_node("toy.wait", (400, 0))
    session.connect(PortRef("toy_number", "number"), PortRef("toy_wait", "number"))
    session.connect(PortRef("toy_wait", "number"), PortRef("toy_wait_2", "number"))
    for node in ("toy_wait", "toy_wait_2"):
        session.set_param(node, "steps", 1500)
    save(session.workflow, tmp_path / "flow.json")
    session.state.open(tmp_path / "flow.json")
    session.loaded()
    assert not (cache.root / "stores" / "timings").exists()  # a fresh timing history
    lines = footer_lines(session)
    in_all = re.compile(r"Running node 2 of 3 \(1 more after it · about \d+ s left in all\), Wait: "
                        r"[\d,]+ / 1,500 · about \d+ s left$")
    assert any(in_all.match(line) for line in lines), lines
    session.set_param("toy_number", "value", 2)  # both waits run again, as long as the last time
    lines = footer_lines(session)
    assert any(in_all.match(line) for line in lines), lines
