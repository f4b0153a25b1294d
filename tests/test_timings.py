"""The whole run's time left, on real recorded runs (benchmarks/time_left.py records them).

cluster_folder.json ran on 100 and on 200 faces, each on a cache of its own; every engine
event was kept with its time (tests/timings/). Replayed through the RunClock, the pace each
node type showed on 100 faces predicts the run on 200; with a fresh history the clock says
which nodes nobody has timed, and what it does say is a lower bound.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Iterator

import pytest

from flowclass.events import NodeEvent
from flowclass.progress import TerminalProgress
from flowclass.run_clock import RunClock, in_all
from flowclass.states import PROGRESS, NodeState
from flowclass.timings import Pace, Sample, TimingHistory

TRACES = Path(__file__).parent / "timings"


def trace(images: int) -> dict:
    return json.loads((TRACES / f"cluster_faces_{images}.json").read_text())


class Replay:
    """A recorded run fed to a RunClock, its clock set to each event's time."""

    def __init__(self, recorded: dict, history: TimingHistory):
        self.now = 0.0
        self.events = recorded["events"]
        self.end = self.events[-1][0]
        self.clock = RunClock(recorded["kinds"], history, clock=lambda: self.now)

    def __iter__(self) -> Iterator[NodeEvent]:
        for t, node, state, done, total, unit, message, seconds in self.events:
            self.now = t
            event = NodeEvent(node, state if state in (PROGRESS, "warning") else NodeState(state), done=done,
                              total=total, unit=unit, message=message, seconds=seconds)
            self.clock(event)
            yield event

    def left(self) -> tuple[float, tuple[str, ...]]:
        left = self.clock.left(*self.clock.position())
        return left.seconds, left.untimed


def predictions(learnt: dict, predicted: dict) -> list[tuple[str, float, float]]:
    """(moment, seconds left as predicted, seconds that were left) over the ``predicted``
    run, with a history that learnt from the ``learnt`` run only."""
    history = TimingHistory(None)
    for _ in Replay(learnt, history):
        pass
    replay, found, quarters = Replay(predicted, history), [], [0.25, 0.5, 0.75]
    for event in replay:
        if event.state != PROGRESS or not event.total:
            continue
        if not found and event.unit:
            found.append(("the folder counted", *replay.left()[:1], replay.end - replay.now))
        elif event.node == "embed" and event.message == "embedding" and quarters \
                and event.done >= quarters[0] * event.total:
            found.append((f"embedding {quarters.pop(0):.0%} done", *replay.left()[:1], replay.end - replay.now))
    return found


def test_the_pace_learnt_on_100_faces_predicts_the_run_on_200():
    found = predictions(trace(100), trace(200))
    assert [moment for moment, _, _ in found] == ["the folder counted", "embedding 25% done",
                                                  "embedding 50% done", "embedding 75% done"]
    for moment, predicted, actual in found:
        assert 0.7 < predicted / actual < 1.4, (moment, predicted, actual)


def test_a_fresh_history_names_the_nodes_not_timed_and_gives_a_lower_bound():
    replay = Replay(trace(200), TimingHistory(None))
    said = []
    for event in replay:
        if event.node == "embed" and event.message == "embedding" and event.done >= event.total // 2:
            said.append((*replay.left(), replay.end - replay.now, in_all(replay.clock.left(*replay.clock.position()))))
    seconds, untimed, actual, text = said[0]
    assert untimed == ("distances", "cluster", "export", "table")  # all that come after Embed
    assert 0 < seconds <= actual
    assert text.endswith("(distances, cluster, export, table not timed yet)")


def test_a_node_teaches_its_type_for_the_next_run(tmp_path):
    """After the 100-face run, a fresh RunClock (a new run, another workflow) knows every
    node type of it: nothing is untimed, and the history is on disk."""
    for _ in Replay(trace(100), TimingHistory(tmp_path)):
        pass
    history = TimingHistory(tmp_path)
    recorded = trace(200)
    assert set(history.paces) == set(recorded["kinds"].values())
    clock = RunClock(recorded["kinds"], history)
    assert clock.left(recorded["events"][0][1], list(recorded["kinds"])[1:]).untimed == ()
    assert history.paces["embed@3"].per_item > 0 and history.paces["embed@3"].fixed > 0


def test_a_damaged_history_is_ignored_and_rewritten(tmp_path):
    (tmp_path / "timings.json").write_text('{"paces": {"embed@3": {"fixed": "x"}, "a@1": {"fixed": -1, '
                                           '"per_item": 0, "runs": 1}, "b@1": [1]}}')
    history = TimingHistory(tmp_path)
    assert history.paces == {}
    history.learn("embed@3", Sample(10.0, 100, 2.0, 0.08))
    assert TimingHistory(tmp_path).paces == {"embed@3": Pace(2.0, 0.08, 1, 100)}
    (tmp_path / "timings.json").write_text("not json")
    assert TimingHistory(tmp_path).paces == {}


@pytest.mark.parametrize("images, expected", [(100, 10.0), (None, 10.0), (300, 26.0)])
def test_a_pace_scales_with_the_runs_items(images, expected):
    """2 s fixed + 0.08 s an item; a run whose count is not known yet is as big as the last."""
    assert Pace(2.0, 0.08, 1, 100).seconds(images) == pytest.approx(expected)


def test_flowclass_run_says_the_time_left_in_all_and_learns_for_the_next_run(tmp_path, capsys):
    """A log (not a terminal) gets it on each node's line: the first time, the nodes nobody
    timed are named; the next run (another output folder, so not from its run.json) knows them."""
    from flowclass.cli import main

    nodes = [("n", "toy.number", {}), ("w1", "toy.wait", {"steps": 200}), ("w2", "toy.wait", {"steps": 200}),
             ("say", "toy.describe", {})]
    flow = tmp_path / "toy.json"
    flow.write_text(json.dumps({"schema_version": 1, "nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes],
                                "edges": [{"from": {"node": a, "port": "number"}, "to": {"node": b, "port": "number"}}
                                          for a, b in (("n", "w1"), ("w1", "w2"), ("w2", "say"))]}))
    run = ["run", str(flow), "--plugins", str(Path(__file__).parent / "plugins"), "--cache", str(tmp_path / "c")]
    assert main([*run, "--out", str(tmp_path / "first")]) == 0
    first = capsys.readouterr().err
    assert "n: done in" in first and "(w1, w2, say not timed yet)" in first, first
    assert (tmp_path / "c" / "stores" / "timings" / "timings.json").exists()
    assert main([*run, "--out", str(tmp_path / "second"), "--set", "n.value=2"]) == 0
    second = capsys.readouterr().err
    assert re.search(r"n: done in [\d.]+s · about \d+ s left in all\n", second), second
    assert "not timed yet" not in second



def test_quiet_leaves_out_the_progress_and_a_log_says_each_node_done_once(tmp_path, capsys):
    """README's `-q`: no progress, the summary still; without it a log (not a terminal) has
    one 'done in' line per node that ran."""
    from flowclass.cli import main

    flow = tmp_path / "toy.json"
    flow.write_text(json.dumps({"schema_version": 1, "nodes": [
        {"id": "n", "type": "toy.number", "params": {}}, {"id": "w", "type": "toy.describe", "params": {}}],
        "edges": [{"from": {"node": "n", "port": "number"}, "to": {"node": "w", "port": "number"}}]}))
    run = ["run", str(flow), "--plugins", str(Path(__file__).parent / "plugins"), "--cache", str(tmp_path / "c")]
    assert main([*run, "--out", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr()
    assert [line.split(":")[0].strip() for line in loud.err.splitlines() if ": done in" in line] == ["n", "w"], loud
    assert main([*run, "--out", str(tmp_path / "quiet"), "--set", "n.value=3", "-q"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out.startswith("ok: 2 node(s), 0 from cache"), quiet

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_terminal_bar_of_a_node_says_the_time_left_in_all(tmp_path):
    """On a terminal, the running node's bar ends with the whole run's time left: Embed's 8 s
    at its pace, and the 1 s Export took in an earlier run."""
    history = TimingHistory(tmp_path)
    history.learn("export_folders@1", Sample(1.0, 100, 1.0, 0.0))
    now = [0.0]
    clock = RunClock({"embed": "embed@3", "export": "export_folders@1"}, history, clock=lambda: now[0])
    screen = Terminal()
    progress = TerminalProgress(screen, clock=clock)
    for node in ("embed", "export"):
        progress(NodeEvent(node, NodeState.PENDING))
    progress(NodeEvent("embed", NodeState.RUNNING))
    for now[0], done in ((1.0, 0), (2.0, 100), (3.0, 200)):  # 100 images a second: 8 s to go
        progress(NodeEvent("embed", PROGRESS, done, 1000, "images", "embedding"))
    assert screen.getvalue().rstrip().endswith("embedding · about 10 s left in all]"), screen.getvalue()[-200:]
