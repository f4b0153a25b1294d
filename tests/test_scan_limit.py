"""A status check never walks a huge tree: it looks at so many files, then says so.

Typing a folder key by key checks each prefix ("/", "/tmp", ...) and a check takes the
fingerprint of the folder (every file in it, recursively). A check past its budget stops
looking: the node shows "not checked yet", and the run, which has no budget, reads every
file. The tree here is generated: real PNGs in nested folders, more than the small cap
the tests set.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowclass.engine import Engine
from flowclass.scanning import ScanBudget, ScanLimitReached, walk
from flowclass.states import NodeState
from flowclass.ui.session import EditorSession
from flowclass.workflow import Edge, PortRef, Workflow
from flowclass.workflow_file import new_node, save
from test_ui_session import wait_for_check

CAP = 40
FILES = 10 * 5 * 5  # 10 folders of 5 folders of 5 images: 250 images, 310 entries


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """250 real PNG digits (scikit-learn's) in nested folders labelled by digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path / "photos" / "tree"
    for k in range(FILES):
        folder = root / f"d{k % 10}" / f"part{k // 50}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[k] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{k:04d}.png")
    return root


def workflow(registry, folder: str) -> Workflow:
    """Import Images, then Embed Images (the raw pixels) after it."""
    flow = Workflow(name="scan")
    flow = flow.with_node(new_node(flow, registry.get("import_images"), (0, 0), "photos")) \
        .with_params("photos", folder=folder)
    flow = flow.with_node(new_node(flow, registry.get("embed"), (300, 0), "embed")) \
        .with_params("embed", backend="pixels")
    return flow.with_edge(Edge(PortRef("photos", "images"), PortRef("embed", "images")))


@pytest.fixture
def listed(monkeypatch) -> list[int]:
    """Every directory entry this test's walks get from the disk (os.scandir), counted; not
    those of threads an earlier test left behind (a status check still finishing)."""
    seen: list[int] = []
    original = os.scandir
    earlier = {t for t in threading.enumerate() if t is not threading.main_thread()}

    class Counted:
        def __init__(self, path):
            self.entries = original(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.entries.close()

        def __iter__(self):
            for entry in self.entries:
                if threading.current_thread() not in earlier:
                    seen.append(1)
                yield entry

    monkeypatch.setattr(os, "scandir", Counted)
    return seen


def test_a_walk_stops_past_its_budget_of_files(tree: Path, listed: list[int]) -> None:
    found = [name for _, _, names in walk(tree) for name in names]
    assert len(found) == FILES and len(listed) == FILES + 60  # unbounded: every file, and the folders
    listed.clear()
    budget = ScanBudget(files=CAP)
    with pytest.raises(ScanLimitReached, match=f"more than {CAP:,} files"):
        list(walk(tree, budget=budget))
    assert len(listed) <= CAP + 1  # the one past the cap shows there are more


def test_a_walk_stops_past_its_time() -> None:
    ticks = iter(np.arange(0, 100, 0.25))  # every look at the clock, a quarter second later
    budget = ScanBudget(files=10**9, seconds=2.0, clock=lambda: float(next(ticks)))
    with pytest.raises(ScanLimitReached, match="2 s"):
        list(walk(Path(np.__file__).parent, budget=budget))  # numpy's own files: thousands
    assert budget.visited == 10  # the tenth entry, looked at 2.25 s after the first, stops it


def test_the_check_is_capped_and_the_run_is_not(registry, cache, tree: Path, listed: list[int],
                                                tmp_path: Path) -> None:
    flow, engine = workflow(registry, str(tree)), Engine(registry, cache)
    planned = engine.plan(flow, base_dir=tmp_path, out_dir=tmp_path / "out", scan_budget=ScanBudget(files=CAP))
    assert len(listed) <= CAP + 1
    assert planned["photos"].state == NodeState.IDLE and planned["photos"].key is None
    assert planned["photos"].note == (f"not checked yet: more than {CAP:,} files to look at while editing; "
                                      "it is checked when run")
    assert planned["embed"].state == NodeState.IDLE and planned["embed"].note.startswith("not checked yet")
    result = engine.run(flow, base_dir=tmp_path, out_dir=tmp_path / "out", manifest=False)
    assert result.ok and len(result.output("photos", "images")) == FILES  # every image
    assert len(result.output("embed", "embeddings").vectors) == FILES
    roomy = engine.plan(flow, base_dir=tmp_path, out_dir=tmp_path / "out", scan_budget=ScanBudget(files=FILES * 2))
    assert {n: p.state for n, p in roomy.items()} == {"photos": NodeState.CACHED, "embed": NodeState.CACHED}


def test_typing_a_folder_key_by_key_never_walks_more_than_the_cap(registry, cache, tree: Path,
                                                                  listed: list[int], tmp_path: Path) -> None:
    save(workflow(registry, ""), tmp_path / "scan.json")
    session = EditorSession(registry, cache, scan_files=CAP)
    session.state.open(tmp_path / "scan.json")
    session.loaded()
    per_check = []
    typed = str(tree)
    for k in range(1, len(typed) + 1):  # a pause after each key: "/", "/t", "/tm", "/tmp", ...
        session.set_param("photos", "folder", typed[:k])
        listed.clear()
        session.check_now()
        wait_for_check(session)
        per_check.append((typed[:k], len(listed)))
    assert max(count for _, count in per_check) <= CAP + 1, per_check
    status = session.status("photos").describe()
    assert status["label"] == "not checked" and status["message"].startswith("not checked yet")
    session.start_run(None)
    deadline = time.monotonic() + 120
    while session.runner.running:
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.01)
        session.tick()
    assert session.status("photos").state == NodeState.DONE
    assert len(session.store.value("photos", "images")) == FILES

