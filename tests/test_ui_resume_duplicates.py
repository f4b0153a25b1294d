"""A cancelled Find Duplicates says on the canvas what it kept, and the next Run resumes there.

Find Duplicates keeps each image's working copy and each pair's verdict as it makes them
(test_resume_duplicates.py); here the canvas says so, as it does for Embed: after a Cancel
in the middle of the fine checks the node's badge reads *partly done* with the verdicts kept
under it, Run again looks at no image again and checks only the pairs left, and the run
writes the same files as ``flowclass run`` never interrupted. Real images: edited copies of
the sample photographs. The simulated ``user``; the real browser is in
test_resume_duplicates_browser.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nicegui.testing import User
from test_resume import files_of, finish, start_run
from test_resume_duplicates import edited_photos, kept_verdicts
from ui_helpers import graph_nodes, make_app, page_of, until

from flowclass.events import NodeEvent
from flowclass.engine import Engine
from flowclass.library import ready_workflows_dir
from flowclass.ui.runner import RunController
from flowclass.workflow_file import load, save

pytestmark = pytest.mark.anyio


def clean_collection_on(registry, folder: Path, flow: Path) -> Path:
    """clean_collection.json on ``folder`` with raw-pixel embeddings (quick), saved as ``flow``."""
    workflow = load(ready_workflows_dir() / "clean_collection.json", registry) \
        .with_params("import", folder=str(folder)).with_params("embed", backend="pixels")
    flow.parent.mkdir(parents=True, exist_ok=True)
    save(workflow, flow)
    return flow


class CountedChecks:
    """Counts Find Duplicates' looks at images and fine checks (made in this process, not in
    worker processes); with ``cancel`` given, calls it during the fine check number
    ``cancel_at`` (that check's verdict is still kept)."""

    def __init__(self, monkeypatch):
        import nodes.lib.cleaning.duplicates as dup

        self.looks, self.fine, self.cancel, self.cancel_at = 0, 0, None, 0
        working_copy, fine_check = dup.working_copy, dup._fine_check  # pylint: disable=protected-access

        def counted_look(*args, **kwargs):
            self.looks += 1
            return working_copy(*args, **kwargs)

        def counted_fine(*args, **kwargs):
            self.fine += 1
            if self.cancel is not None and self.fine == self.cancel_at:
                self.cancel()
            return fine_check(*args, **kwargs)

        monkeypatch.setattr(dup, "working_copy", counted_look)
        monkeypatch.setattr(dup, "_fine_check", counted_fine)
        monkeypatch.setattr(dup, "cores", lambda: 1)  # checked in this process, where they are counted


@pytest.mark.slow
async def test_a_cancelled_find_duplicates_says_partly_done_and_run_resumes_it_with_new_decisions(user: User, registry, cache,
                                                                             tmp_path: Path, monkeypatch) -> None:
    from nodes.lib.classify.label_overrides import set_label
    from nodes.lib.cleaning.kept_copies import set_kept
    from nodes.lib.images.filestate import sha256_of_file

    written = edited_photos(tmp_path, photos=6)
    images = len(written)
    flow = clean_collection_on(registry, tmp_path / "collection", tmp_path / "mine" / "clean.json")
    out = tmp_path / "mine" / "flowclass-out" / "clean"
    # the decisions made after the Cancel below: the first photo's JPEG copy kept (not the
    # largest), and the photo itself labelled b
    original, copy = written[0], written[1]
    assert (original.parent.name, copy.name) == ("a", f"{original.stem}_jpeg.jpg")
    decisions = {tmp_path / "mine" / "duplicates-keep.csv": lambda path: set_kept(
                     path, sha256_of_file(copy), f"b/{copy.name}", []),
                 tmp_path / "mine" / "label-overrides.csv": lambda path: set_label(
                     path, sha256_of_file(original), f"a/{original.name}", "b")}
    for path, decide in decisions.items():
        decide(path)
    finish(start_run(flow, out, tmp_path / "cache_whole"))  # never interrupted, in a cache of its own
    whole, pairs = files_of(out), kept_verdicts(tmp_path / "cache_whole")
    assert "duplicates.csv" in whole and pairs > 10
    assert f"{copy},near,true" in whole["duplicates.csv"].decode()
    assert f"\n{original},b," in whole["label_issues.csv"].decode()
    shutil.rmtree(out)
    for path in decisions:
        path.unlink()

    checks = CountedChecks(monkeypatch)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    checks.cancel, checks.cancel_at = page.runner.cancel, 5  # Cancel pressed during the fifth check
    page.start_run(None)
    await until(lambda: not page.runner.running, timeout=120, what="the cancelled run's end")
    assert kept_verdicts(cache.root) == 5 and checks.looks == images

    badge = lambda: (lambda s: (s["state"], s["label"], s["note"]))(graph_nodes(user)["duplicates"]["status"])  # noqa: E731
    assert badge() == ("cancelled", "partly done", f"5 of {pairs} pairs kept")
    page.select("duplicates")
    await user.should_see(f"Find Duplicates: stopped part way: 5 of {pairs} pairs are kept; Run resumes from there.")
    page.refresh()  # the badges asked again (as after any edit): what is kept still shows
    await until(lambda: not page.runner.checking, what="the status check")
    assert badge() == ("cancelled", "partly done", f"5 of {pairs} pairs kept")

    for path, decide in decisions.items():  # decided after the Cancel, as the viewers write
        decide(path)
    checks.cancel, checks.looks, checks.fine = None, 0, 0
    page.start_run(None)
    await until(lambda: not page.runner.running, timeout=120, what="the second run's end")
    assert page.session.summary.startswith("Last run") and " 0 failed" in page.session.summary, page.session.summary
    assert checks.looks == 0  # every working copy was kept
    assert checks.fine == pairs - 5  # only the pairs left
    assert kept_verdicts(cache.root) == pairs
    assert graph_nodes(user)["duplicates"]["status"]["state"] == "done"
    resumed = files_of(out)
    assert resumed.keys() == whole.keys()
    assert [name for name in resumed if resumed[name] != whole[name]] == []  # bit for bit


LOOK, THUMBS, FINE = "looking at images", "comparing thumbnails", "comparing fine detail"


@pytest.mark.parametrize("reports, badge, note", [
    ([(LOOK, 0, 1000), (LOOK, 256, 1000)], "partly done", "256 of 1,000 images kept"),
    # that phase counts the thumbnails left to compare, not those kept: the looks at images are what is kept
    ([(LOOK, 1000, 1000), (THUMBS, 0, 1000), (THUMBS, 512, 1000)], "partly done", "1,000 of 1,000 images kept"),
    ([(LOOK, 1000, 1000), (THUMBS, 1000, 1000), (FINE, 0, 90)], "partly done", "1,000 of 1,000 images kept"),
    ([(LOOK, 1000, 1000), (THUMBS, 1000, 1000), (FINE, 0, 90), (FINE, 12, 90)], "partly done", "12 of 90 pairs kept"),
    ([(LOOK, 0, 1000)], "cancelled", ""),  # stopped before anything was kept
])
def test_a_stopped_find_duplicates_says_what_its_phases_kept(registry, cache, reports, badge, note) -> None:
    runner = RunController(Engine(registry, cache), on_change=lambda: None, on_finished=lambda r, e: None)
    runner._keeps = {"duplicates": registry.get("find_duplicates")}  # pylint: disable=protected-access
    for message, done, total in reports:
        runner._apply_event(NodeEvent("duplicates", "progress", done, total,  # pylint: disable=protected-access
                                      "pairs" if message == FINE else "images", message))
    runner._apply_event(NodeEvent("duplicates", "cancelled"))  # pylint: disable=protected-access
    status = runner.status("duplicates").describe()
    assert (status["state"], status["label"], status["note"]) == ("cancelled", badge, note)
