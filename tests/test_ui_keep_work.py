"""The canvas never loses work: two tabs saving one file, unsaved outputs, reloads.

NiceGUI's simulated users (no browser); the real-browser journeys are in
test_keep_work_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from nicegui.testing import User
from ui_helpers import (CLUSTER_FOLDER, canvas_of, drop, graph_nodes, make_app, page_of,
                        run_asking_to_save_first, run_slow_chain, until, wire)

from flowclass.ui.canvas import FlowCanvas

pytestmark = pytest.mark.anyio


def leave(user: User) -> None:
    """The browser unloads the page (F5, or the tab closed): its connection closes."""
    for socket_id in list(user.client._socket_to_document_id):  # pylint: disable=protected-access
        user.client.handle_disconnect(socket_id)


def clusters_in(flow: Path) -> int:
    doc = json.loads(flow.read_text(encoding="utf-8"))
    return next(n for n in doc["nodes"] if n["id"] == "cluster")["params"]["n_clusters"]


def batch_size_in(flow: Path) -> int:
    doc = json.loads(flow.read_text(encoding="utf-8"))
    return next(n for n in doc["nodes"] if n["id"] == "embed")["params"]["batch_size"]


def start_a_long_run(user: User):
    """Number → Wait (1,500 steps), run: a run that goes on a while. Returns the page."""
    page = page_of(user)
    drop(user, "toy.number")
    drop(user, "toy.wait", 300)
    wire(user, "toy_number.number", "toy_wait.number")
    page.set_param("toy_wait", "steps", 1500)
    page.start_run(None)
    return page


async def two_tabs_saving(create_user: Callable[[], User], registry, cache, tmp_path: Path, *,
                          asked: bool = True) -> tuple[User, Path]:
    """Tabs A and B open one workflow; B sets 4 clusters and saves; A sets the batch size and
    presses Save (``asked``: and is asked what to do). Returns A and the file."""
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    a, b = create_user(), create_user()
    await a.open("/")
    await b.open("/")
    page_of(b).set_param("cluster", "n_clusters", 4)
    b.find(marker="file-save").click()
    await until(lambda: clusters_in(flow) == 4, what="B's save")
    page_of(a).set_param("embed", "batch_size", 16)
    if asked:
        a.find(marker="file-save").click()
        await a.should_see("changed on disk since this tab opened or saved it")
    return a, flow


async def test_save_over_a_file_changed_in_another_tab_asks_first(create_user, registry, cache,
                                                                  tmp_path: Path) -> None:
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path)
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8)  # nothing written while it asks
    a.find(marker="conflict-overwrite").click()
    await until(lambda: batch_size_in(flow) == 16, what="the overwrite")
    assert clusters_in(flow) != 4  # the user chose to: A's version, whole
    page_of(a).set_param("embed", "batch_size", 32)  # A's own file now: saved without asking
    a.find(marker="file-save").click()
    await until(lambda: batch_size_in(flow) == 32, what="the second save")


async def test_reload_takes_the_other_tabs_version(create_user, registry, cache, tmp_path: Path) -> None:
    """*Reload the file* shows the file as it is now; this tab's version, which it dropped for
    good, is one Undo away (a reload chosen by mistake loses nothing), and Save then writes it."""
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path)
    a.find(marker="conflict-reload").click()
    page = page_of(a)
    await until(lambda: page.workflow.node("cluster").params["n_clusters"] == 4, what="the reload")
    assert page.workflow.node("embed").params["batch_size"] == 8 and not page.state.dirty
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8)
    assert page.session.undo() and page.workflow.node("embed").params["batch_size"] == 16 and page.state.dirty
    a.find(marker="file-save").click()  # the file is the one reloaded: no question
    await until(lambda: batch_size_in(flow) == 16, what="the save")


@pytest.mark.parametrize("typed, name", [("mine", "mine.json"), (None, "flow (copy).json")])
async def test_save_as_a_copy_keeps_both(create_user, registry, cache, tmp_path: Path, typed: str | None,
                                         name: str) -> None:
    """The copy's name is typed, or the one offered: a free one. The file's own name was offered,
    in its folder: Save there asked only *Replace the workflow flow.json?*, and Replace wrote
    over the other tab's changes, which the user had just chosen to keep."""
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path)
    a.find(marker="conflict-copy").click()
    await a.should_see("Save the workflow as")
    (field,) = a.find(marker="file-name").elements
    assert field.value == "flow (copy).json"
    if typed is not None:
        field.value = typed
    a.find(marker="dialog-ok").click()
    copy = tmp_path / name
    await until(copy.is_file, what="the copy")
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8)
    assert batch_size_in(copy) == 16 and page_of(a).state.path == copy


async def test_save_as_onto_its_own_file_changed_elsewhere_asks_as_save_does(create_user, registry, cache,
                                                                           tmp_path: Path) -> None:
    """Save As… onto the tab's own file (its name is offered) asked *Replace the workflow
    flow.json?*, which a user answers yes for their own file, and then overwrote what another
    tab had saved there meanwhile, unasked. It asks what Save asks."""
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path, asked=False)
    a.find(marker="file-save-as").click()
    await a.should_see("Save the workflow as")
    (name,) = a.find(marker="file-name").elements
    assert name.value == "flow.json"
    a.find(marker="dialog-ok").click()
    await a.should_see("Replace the workflow flow.json?")
    a.find(marker="confirm-ok").click()
    await a.should_see("changed on disk since this tab opened or saved it")
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8)
    a.find(marker="conflict-cancel").click()
    await a.should_not_see("changed on disk")
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8) and page_of(a).state.dirty


async def test_an_editor_changing_the_file_is_noticed_too(user: User, registry, cache, tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    flow.write_text(flow.read_text(encoding="utf-8").replace('"batch_size": 8', '"batch_size": 9'),
                    encoding="utf-8")  # an editor, or `sed -i`
    page.set_param("cluster", "n_clusters", 3)
    user.find(marker="file-save").click()
    await user.should_see("changed on disk")
    user.find(marker="conflict-cancel").click()
    await user.should_not_see("changed on disk")
    assert batch_size_in(flow) == 9 and page.state.dirty


async def test_a_reloaded_tab_shows_its_unsaved_edits_selection_and_view(create_user, registry, cache,
                                                                        tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    before = create_user()
    await before.open("/?tab=reloaded-tab")
    page = page_of(before)
    page.set_param("cluster", "n_clusters", 3)
    before.find(FlowCanvas).trigger("select", {"id": "embed"})
    before.find(FlowCanvas).trigger("viewport", {"x": -120, "y": 40, "zoom": 0.8})

    leave(before)
    after = create_user()  # F5: the same address, a new page
    await after.open("/?tab=reloaded-tab")
    again = page_of(after)
    assert again.session is page.session  # the tab, not the page, holds the work
    assert again.workflow.node("cluster").params["n_clusters"] == 3 and again.state.dirty
    assert again.selected == "embed" and canvas_of(after).selected == "embed"
    assert canvas_of(after).props["viewport"] == {"x": -120, "y": 40, "zoom": 0.8}
    await after.should_see("unsaved changes")
    assert flow.read_text() == CLUSTER_FOLDER.read_text()  # nothing was saved on the way


@pytest.mark.parametrize("edited", [False, True])
async def test_a_reloaded_tab_says_its_file_changed_on_disk_meanwhile(create_user, registry, cache, tmp_path: Path,
                                                                       edited: bool) -> None:
    """A tab reloaded (or restored by a restarted server) shows the workflow as the tab left it;
    an editor had changed the file meanwhile, and nothing said so: the user saw their edit
    gone, and the canvas ran the old version. It says so, and the tab's own work stays."""
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    before = create_user()
    await before.open("/?tab=changed-tab")
    if edited:
        page_of(before).set_param("cluster", "n_clusters", 3)
    leave(before)
    flow.write_text(flow.read_text(encoding="utf-8").replace('"batch_size": 8', '"batch_size": 9'),
                    encoding="utf-8")  # an editor
    after = create_user()
    await after.open("/?tab=changed-tab")
    await after.should_see("flow.json changed on disk since this tab opened or saved it")
    page = page_of(after)
    assert page.workflow.node("embed").params["batch_size"] == 8  # the tab's, until it is told otherwise
    assert page.state.dirty == edited and batch_size_in(flow) == 9


@pytest.mark.slow
async def test_a_restarted_server_restores_the_tab_from_its_draft(user: User, registry, cache,
                                                                 tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    config = make_app(registry, cache, tmp_path, flow)
    await user.open("/?tab=restarted-tab")
    page = page_of(user)
    page.set_param("cluster", "n_clusters", 3)
    user.find(FlowCanvas).trigger("select", {"id": "cluster"})
    user.find(FlowCanvas).trigger("viewport", {"x": 10, "y": 20, "zoom": 1.5})
    draft = cache.store_dir("drafts") / "restarted-tab.json"
    kept = lambda: json.loads(draft.read_text(encoding="utf-8"))["workflow"] if draft.is_file() else ""  # noqa: E731
    await until(lambda: '"n_clusters": 3' in kept(), what="the draft")

    page.tab.lock.release()  # the old server stops: the OS drops its locks
    restarted = make_app(registry, cache, tmp_path, flow)  # a new server: nothing in memory
    assert restarted.tabs.tabs == {} and config.tabs is not restarted.tabs
    await user.open("/?tab=restarted-tab")
    again = page_of(user)
    assert again.session is not page.session and again.tab.id == "restarted-tab"
    assert again.workflow.node("cluster").params["n_clusters"] == 3 and again.state.dirty
    assert again.state.path == flow and again.selected == "cluster"
    assert canvas_of(user).props["viewport"] == {"x": 10, "y": 20, "zoom": 1.5}
    await user.should_see("unsaved changes")


@pytest.mark.slow
async def test_a_run_stays_attached_to_a_reloaded_tab(create_user, registry, cache, tmp_path: Path) -> None:
    make_app(registry, cache, tmp_path)
    before = create_user()
    await before.open("/?tab=running-tab")
    page = start_a_long_run(before)
    await until(lambda: (graph_nodes(before)["toy_wait"]["status"]["progress"] or 0) > 0, what="progress")

    leave(before)
    after = create_user()
    await after.open("/?tab=running-tab")
    again = page_of(after)
    assert again.runner.running
    await until(lambda: (graph_nodes(after)["toy_wait"]["status"]["progress"] or 0) > 0.2,
                what="progress in the new page")
    await after.should_see("Cancel")
    await until(lambda: again.summary.text.startswith("Last run"), what="the run's end in the new page")
    assert graph_nodes(after)["toy_wait"]["status"]["state"] == "done"
    assert again.store.has("toy_wait")


@pytest.mark.slow
async def test_a_run_going_on_when_the_server_stopped_is_said_interrupted(create_user, registry, cache,
                                                                         tmp_path: Path) -> None:
    make_app(registry, cache, tmp_path)
    before = create_user()
    await before.open("/?tab=killed-run-tab")
    page = start_a_long_run(before)
    draft = cache.store_dir("drafts") / "killed-run-tab.json"
    kept = lambda: json.loads(draft.read_text(encoding="utf-8")) if draft.is_file() else {}  # noqa: E731
    await until(lambda: kept().get("run_node") == "toy_wait", what="the run in the draft")

    page.tab.lock.release()  # the old server is killed: the OS drops its locks
    make_app(registry, cache, tmp_path)  # a new server: the old one's run is gone with it
    after = create_user()
    await after.open("/?tab=killed-run-tab")
    again = page_of(after)
    try:
        assert not again.runner.running
        assert again.summary.text == ("The last run was interrupted at Wait when the server stopped; "
                                      "Run resumes it.")
        assert graph_nodes(after)["toy_wait"]["status"]["state"] != "running"
        await until(lambda: not kept().get("run_going"), what="the draft without the run")
    finally:
        page.cancel_run()  # the first server's thread, in this test's process


@pytest.mark.slow
async def test_a_duplicated_browser_tab_gets_a_copy_of_its_own(create_user, registry, cache,
                                                                tmp_path: Path) -> None:
    make_app(registry, cache, tmp_path)
    first = create_user()
    await first.open("/?tab=original-tab")
    drop(first, "toy.number")
    second = create_user()  # the same address, while the first page is still open
    await second.open("/?tab=original-tab")
    await second.should_see(kind=FlowCanvas, retries=30)  # the copy's (the first page left the tab)
    copy = page_of(second)
    assert copy.tab.id != "original-tab"
    assert copy.session is not page_of(first).session
    assert [n.type for n in copy.workflow.nodes] == ["toy.number"]
    drop(second, "toy.number", 300)  # each edits its own
    assert len(page_of(first).workflow.nodes) == 1 and len(copy.workflow.nodes) == 2


async def test_an_edit_at_once_in_a_duplicated_tab_never_reaches_the_original(create_user, registry, cache,
                                                                               tmp_path: Path) -> None:
    """The second page of one address waited 3 s before it took a copy of its own, and edited
    the original tab meanwhile: a node added then appeared in the first tab too. Another
    browser tab (NiceGUI names each) now takes its copy as soon as it connects."""
    make_app(registry, cache, tmp_path)
    first = create_user()
    await first.open("/?tab=original-tab")
    drop(first, "toy.number")
    second = create_user()
    await second.open("/?tab=original-tab")
    await second.should_see(kind=FlowCanvas, retries=30)
    drop(second, "toy.number", 300)  # at once, on whatever canvas the page shows first
    assert page_of(second).tab.id != "original-tab"
    assert len(page_of(first).workflow.nodes) == 1 and len(page_of(second).workflow.nodes) == 2


@pytest.mark.slow
async def test_a_closed_tabs_unsaved_work_is_offered_to_a_new_tab(create_user, registry, cache,
                                                                  tmp_path: Path) -> None:
    make_app(registry, cache, tmp_path)
    closed = create_user()
    await closed.open("/?tab=closed-tab")
    drop(closed, "toy.number")  # unsaved
    await until(lambda: (cache.store_dir("drafts") / "closed-tab.json").is_file(), what="the draft")
    leave(closed)  # the tab is closed; a new one is opened at the plain address

    new = create_user()
    await new.open("/")
    await new.should_see("1 closed tab(s) left unsaved work")
    new.find(marker="file-closed-work").click()
    await new.should_see(marker="reopen-closed-tab")
    await new.should_see("Untitled workflow")
    new.find(marker="reopen-closed-tab").click()  # goes to the closed tab's address
    await until(lambda: page_of(new).tab.id == "closed-tab", what="the closed tab again")
    assert [n.type for n in page_of(new).workflow.nodes] == ["toy.number"]


async def test_discarding_a_closed_tabs_work_asks_first(create_user, registry, cache, tmp_path: Path) -> None:
    """*Discard*, beside *Open* in File > Unsaved work of closed tabs, removed the work at the
    first click, for good. It asks; Cancel keeps it."""
    make_app(registry, cache, tmp_path)
    closed = create_user()
    await closed.open("/?tab=closed-tab")
    drop(closed, "toy.number")  # unsaved
    draft = cache.store_dir("drafts") / "closed-tab.json"
    await until(draft.is_file, what="the draft")
    leave(closed)

    new = create_user()
    await new.open("/")
    new.find(marker="file-closed-work").click()
    await new.should_see(marker="discard-closed-tab")
    new.find(marker="discard-closed-tab").click()
    await new.should_see("Discard the unsaved work of Untitled workflow?")
    new.find(marker="confirm-cancel").click()
    await new.should_not_see("Discard the unsaved work")
    assert draft.is_file()
    await new.should_see(marker="reopen-closed-tab")
    new.find(marker="discard-closed-tab").click()
    await new.should_see("Discard the unsaved work of Untitled workflow?")
    new.find(marker="confirm-ok").click()
    await new.should_see("None: every tab's work is saved or open.")
    assert not draft.exists()


async def test_cancel_in_the_save_as_that_run_offered_runs_nothing(user: User, registry, cache,
                                                                 tmp_path: Path) -> None:
    """Run on a workflow without a file asks *Save it first?*; *Save As…*, then Cancel in the
    file dialog, ran it all the same, into a folder of its own, and did not ask again: a Cancel
    that went on. Nothing runs, and the next Run asks again."""
    page = await run_asking_to_save_first(user, registry, cache, tmp_path)
    user.find(marker="confirm-ok").click()  # Save As…
    await user.should_see("Save the workflow as")
    user.find(marker="dialog-cancel").click()
    await user.should_not_see("Save the workflow as")
    await asyncio.sleep(0.3)  # what the click would have started by now
    assert not page.runner.running and not page.summary.text.startswith("Last run")
    assert not (tmp_path / "flowclass-out").exists()
    user.find(marker="run-all").click()
    await user.should_see("no file yet")  # asked again
    user.find(marker="confirm-cancel").click()  # Not now: runs, in a folder of its own
    await until(lambda: page.summary.text.startswith("Last run"), what="the run")


@pytest.mark.slow
async def test_escape_on_the_save_first_question_runs_nothing_and_asks_again(user: User, registry, cache,
                                                                           tmp_path: Path) -> None:
    """Run's *Save it first?* closed with Escape or a click beside it (no button) counted as
    *Not now*: the run started, into a folder of its own, and Save As was never offered again
    for that workflow. A question put away is no answer: nothing runs, and Run asks again."""
    from nicegui import ui

    page = await run_asking_to_save_first(user, registry, cache, tmp_path)
    (question,) = [d for d in user.find(ui.dialog).elements if d.value]
    question.value = False  # what Escape, or a click on the backdrop, does in the browser
    await user.should_not_see("no file yet")
    await asyncio.sleep(0.3)  # what an answer would have started by now
    assert not page.runner.running and not page.summary.text.startswith("Last run")
    assert not page.files.offered
    user.find(marker="run-all").click()
    await user.should_see("no file yet")  # asked again


async def test_an_unsaved_workflows_outputs_are_reachable_from_the_file_dialogs(user: User, registry, cache,
                                                                               tmp_path: Path) -> None:
    page = await run_asking_to_save_first(user, registry, cache, tmp_path)
    user.find(marker="confirm-cancel").click()  # Not now
    await until(lambda: page.summary.text.startswith("Last run"), what="the run")
    untitled = page.out_dir()
    assert (untitled / "run.json").is_file() and untitled.is_relative_to(tmp_path)
    user.find(marker="file-new").click()
    await user.should_see("Discard them?")
    user.find(marker="confirm-ok").click()  # discard the unsaved workflow: its outputs stay
    await until(lambda: not page.workflow.nodes, what="a new workflow")
    user.find(marker="file-open").click()
    await user.should_see(marker="entry-flowclass-out")
    user.find(marker="entry-flowclass-out").click()
    await user.should_see(marker=f"entry-{untitled.name}")


def embed_a_noise_folder(user: User, folder: Path, count: int) -> None:
    """Import Images of ``count`` distinct 8x8 pictures → Embed Images (raw pixels, batches of 8)."""
    from PIL import Image

    folder.mkdir()
    for index, pixels in enumerate(np.random.default_rng(0).integers(0, 256, (count, 8, 8), dtype=np.uint8)):
        Image.fromarray(pixels).save(folder / f"{index:04d}.png")
    page = page_of(user)
    drop(user, "import_images")
    drop(user, "embed", 300)
    wire(user, "import_images.images", "embed.images")
    page.set_params("import_images", {"folder": str(folder)})
    page.set_params("embed", {"backend": "pixels", "pixel_size": 8, "batch_size": 8})


@pytest.mark.slow
async def test_a_cancelled_embed_says_on_the_node_how_many_images_are_kept(user: User, registry, cache,
                                                                          tmp_path: Path, monkeypatch) -> None:
    import nodes.embed
    from test_resume import CancelledAfter, stored_vectors

    make_app(registry, cache, tmp_path)
    await user.open("/")
    embed_a_noise_folder(user, tmp_path / "pictures", 100)
    page = page_of(user)
    # Cancel is pressed while the sixth batch is embedded: six whole batches are stored
    monkeypatch.setattr(nodes.embed, "make_embedder", lambda ctx, params: CancelledAfter(5, page.runner.cancel_event))
    page.start_run(None)
    await until(lambda: not page.runner.running, what="the run stopped")
    assert stored_vectors(cache.root) == 48

    page.select("embed")
    await user.should_see("Embed Images: stopped part way: 48 of 100 images are kept; Run resumes from there.")
    page.refresh()  # the badges asked again (as after any edit): what is kept still shows
    await until(lambda: not page.runner.checking, what="the status check")
    status = graph_nodes(user)["embed"]["status"]
    assert (status["state"], status["label"], status["note"]) == ("cancelled", "partly done", "48 of 100 images kept")


@pytest.mark.slow
async def test_an_embed_the_server_stopped_says_how_many_images_are_kept(create_user, registry, cache,
                                                                        tmp_path: Path, monkeypatch) -> None:
    import nodes.embed
    from nodes.lib.embedders.classic import RawPixels

    make_app(registry, cache, tmp_path)
    before = create_user()
    await before.open("/?tab=killed-embed-tab")
    embed_a_noise_folder(before, tmp_path / "pictures", 100)
    page = page_of(before)
    held = threading.Event()

    class Stuck(RawPixels):  # the server is killed while the sixth batch is embedded
        batches = 5

        def forward(self, batch):
            self.batches -= 1
            if self.batches < 0:
                held.wait(60)
            time.sleep(0.15)  # each batch's progress is told (they are throttled to ~10 a second)
            return super().forward(batch)

    monkeypatch.setattr(nodes.embed, "make_embedder", lambda ctx, params: Stuck(8, True, False, 128))
    page.start_run(None)
    draft = cache.store_dir("drafts") / "killed-embed-tab.json"
    kept = lambda: json.loads(draft.read_text(encoding="utf-8")) if draft.is_file() else {}  # noqa: E731
    try:
        await until(lambda: kept().get("run_kept") == [40, 100, "images"], what="the kept count in the draft")


        page.tab.lock.release()  # the old server is killed: the OS drops its locks
        make_app(registry, cache, tmp_path)  # a new server: the old one's run is gone with it
        after = create_user()
        await after.open("/?tab=killed-embed-tab")
        again = page_of(after)
        badge = lambda: (lambda s: (s["label"], s["note"]))(graph_nodes(after)["embed"]["status"])  # noqa: E731
        await until(lambda: badge() == ("partly done", "40 of 100 images kept"), what="the node's badge")
        again.refresh()
        await until(lambda: not again.runner.checking, what="the status check")
        assert badge() == ("partly done", "40 of 100 images kept")
    finally:
        page.cancel_run()  # the first server's thread, in this test's process
        held.set()


async def an_endless_run_of_a_saved_workflow(user: User, registry, cache, tmp_path: Path):
    """Number → Wait (minutes: it never ends by itself here) saved as wait.json, its run going
    on. Returns the page and the file."""
    make_app(registry, cache, tmp_path)
    await user.open("/")
    page = page_of(user)
    drop(user, "toy.number")
    drop(user, "toy.wait", 300)
    wire(user, "toy_number.number", "toy_wait.number")
    page.set_param("toy_wait", "steps", 100_000)
    flow = page.state.save(tmp_path / "wait.json")
    page.saved()
    page.start_run(None)
    await until(lambda: (graph_nodes(user)["toy_wait"]["status"]["progress"] or 0) > 0, what="the run")
    return page, flow


@pytest.mark.parametrize("command", ["file-open", "file-new"])
async def test_open_or_new_asks_before_stopping_a_run(user: User, registry, cache, tmp_path: Path,
                                                       command: str) -> None:
    """File > Open or New while a run went on, in a workflow with no unsaved changes, stopped
    the run unasked (a ten-minute embedding lost its progress in flight). Now they ask first:
    Keep running keeps the run and the workflow, with or without unsaved changes (one question
    for both); Stop the run stops it and goes on."""
    page, flow = await an_endless_run_of_a_saved_workflow(user, registry, cache, tmp_path)
    shutil.copyfile(flow, tmp_path / "other.json")
    assert not page.unsaved

    async def keep_running(question: str) -> None:
        user.find(marker=command).click()
        await user.should_see(question)
        user.find(marker="confirm-cancel").click()  # Keep running
        await user.should_not_see(question)
        await asyncio.sleep(0.2)  # what the click would have done by now
        assert page.runner.running and not page.runner.cancel_event.is_set()
        assert page.state.path == flow and len(page.workflow.nodes) == 2
        assert "cancelled" not in page.summary.text

    await keep_running("A run of wait.json is going on")
    page.set_param("toy_number", "value", 7)  # unsaved changes too: asked about both at once
    await keep_running("wait.json has unsaved changes, and a run of it is going on")

    user.find(marker=command).click()
    await user.should_see("wait.json has unsaved changes, and a run of it is going on")
    user.find(marker="confirm-ok").click()  # Stop the run
    if command == "file-open":
        await user.should_see("Open a workflow")
        user.find(marker="entry-other.json").click()
        user.find(marker="dialog-ok").click()
        await until(lambda: page.state.path == (tmp_path / "other.json").resolve(), what="the other workflow")
    else:
        await until(lambda: not page.workflow.nodes, what="a new workflow")
    assert not page.runner.running
    await user.should_see("The run of the previous workflow was cancelled.")


@pytest.mark.slow
async def test_reload_of_a_file_changed_on_disk_asks_before_stopping_a_run(user: User, registry, cache,
                                                                         tmp_path: Path) -> None:
    """Save of a file changed on disk offers *Reload the file*; chosen while a run went on, it
    stopped the run unasked, where New and Open ask. It asks the same question: Keep running
    keeps the run and this tab's version; Stop the run stops it and reloads."""
    page, flow = await an_endless_run_of_a_saved_workflow(user, registry, cache, tmp_path)
    doc = json.loads(flow.read_text(encoding="utf-8"))
    doc["name"] = "Changed elsewhere"
    flow.write_text(json.dumps(doc), encoding="utf-8")  # another program changes the file
    page.set_param("toy_number", "value", 7)
    question = "A run of wait.json is going on: reloading the file stops the run (what it finished is kept)."

    for answer in ("confirm-cancel", "confirm-ok"):  # Keep running, then Stop the run
        user.find(marker="file-save").click()
        await user.should_see("changed on disk since this tab opened or saved it")
        user.find(marker="conflict-reload").click()
        await user.should_see(question)
        user.find(marker=answer).click()
        await user.should_not_see(question)
        await asyncio.sleep(0.2)  # what the click would have done by now
        if answer == "confirm-cancel":
            assert page.runner.running and not page.runner.cancel_event.is_set()
            assert page.workflow.node("toy_number").params["value"] == 7 and page.workflow.name != doc["name"]
    await until(lambda: page.workflow.name == "Changed elsewhere", what="the reload")
    assert not page.runner.running


@pytest.mark.slow
async def test_a_tab_another_server_holds_opens_here_as_a_copy_that_says_so(user: User, registry, cache,
                                                                            tmp_path: Path) -> None:
    """The page side of a tab held by another `flowclass ui` on this cache (here: its lock
    taken as that server takes it): its address shows a copy with the work so far, under an
    address of its own, and says why."""
    from flowclass.ui.drafts import Draft, DraftStore
    from flowclass.workflow import Workflow
    from flowclass.workflow_file import dumps

    make_app(registry, cache, tmp_path)
    drafts = DraftStore(cache.store_dir("drafts"))
    drafts.write("other-servers-tab", Draft(workflow=dumps(Workflow(name="Theirs")), saved_text=""))
    lock = drafts.hold("other-servers-tab")
    try:
        await user.open("/?tab=other-servers-tab")
        await user.should_see("This tab is open in another FlowClass server")
        page = page_of(user)
        assert page.tab.id != "other-servers-tab" and page.workflow.name == "Theirs"
        drop(user, "toy.number")
        await until(lambda: drafts.read(page.tab.id) is not None and "toy.number" in drafts.read(page.tab.id).workflow,
                    what="the copy's draft")
        assert "toy.number" not in drafts.read("other-servers-tab").workflow
    finally:
        lock.release()


@pytest.mark.slow
async def test_save_as_during_a_run_the_footer_names_the_folder_the_run_writes(user: User, registry, cache,
                                                                             tmp_path: Path) -> None:
    """Save As while an unsaved workflow ran: the footer showed the new file's output folder
    at once, while the run went on writing into the untitled one (its results, run.json).
    It names the folder the run writes until the run ends, and says where the next run goes."""
    page = await run_slow_chain(user, registry, cache, tmp_path, steps=1500)
    writing = page.out_dir()
    assert writing.name.startswith("untitled-")
    user.find(marker="file-save-as").click()
    await user.should_see("Save the workflow as")
    (name,) = user.find(marker="file-name").elements
    name.value = "mine"
    user.find(marker="dialog-ok").click()
    await until(lambda: page.state.path == tmp_path / "mine.json", what="the save")
    assert page.runner.running
    after = tmp_path / "flowclass-out" / "mine"
    assert page.footer.out_label.text == str(writing)
    assert page.footer.next_label.text == str(after)
    await user.should_see("Next run:")
    await until(lambda: page.summary.text.startswith("Last run"), what="the run's end")
    assert (writing / "run.json").is_file() and not after.exists()  # where it wrote
    assert page.footer.out_label.text == str(after)
    await user.should_not_see("Next run:")


@pytest.mark.slow
async def test_ctrl_z_after_a_server_restart_undoes_the_edits_made_before_it(user: User, registry, cache,
                                                                            tmp_path: Path) -> None:
    """The tab came back from its draft after a restart with its edits but an empty history:
    Ctrl+Z did nothing. It undoes the edits made before the restart, one by one, back to the
    empty canvas, and Ctrl+Y brings them back."""
    make_app(registry, cache, tmp_path)
    await user.open("/?tab=undo-restart-tab")
    page = page_of(user)
    drop(user, "toy.number")
    drop(user, "toy.wait", 300)
    wire(user, "toy_number.number", "toy_wait.number")
    history = cache.store_dir("drafts") / "undo-restart-tab.undo"
    await until(lambda: history.is_file() and len(json.loads(history.read_text())["undo"]) == 3, what="the history")

    page.tab.lock.release()  # the old server is killed: the OS drops its locks
    make_app(registry, cache, tmp_path)
    await user.open("/?tab=undo-restart-tab")
    canvas = user.find(FlowCanvas)
    assert len(graph_nodes(user)) == 2 and len(canvas_of(user).graph["edges"]) == 1
    canvas.trigger("shortcut", {"key": "undo"})
    await until(lambda: not canvas_of(user).graph["edges"], what="the connection undone")
    for left in (1, 0):
        canvas.trigger("shortcut", {"key": "undo"})
        await until(lambda: len(graph_nodes(user)) == left, what=f"{left} node(s) left")
    canvas.trigger("shortcut", {"key": "redo"})
    await until(lambda: list(graph_nodes(user)) == ["toy_number"], what="the redo")


@pytest.mark.slow
async def test_a_node_deleted_during_a_run_is_named_in_the_runs_summary(user: User, registry, cache,
                                                                      tmp_path: Path) -> None:
    """Deleted while the run went on, a node still ran (the run takes the workflow as it was
    when Run was pressed) and the footer counted it, "Last run: 2 node(s)", under a canvas
    showing one: the footer says which node it ran that the canvas no longer has, and why."""
    page = await run_slow_chain(user, registry, cache, tmp_path, steps=1500)
    page.session.delete(["toy_wait"])
    assert page.runner.running and page.workflow.node("toy_wait") is None
    await until(lambda: page.summary.text.startswith("Last run"), what="the run's end")
    assert page.summary.text.startswith("Last run: 2 node(s)")
    assert ("ran the workflow as it was when Run was pressed, with Wait, deleted since"
            in page.summary.text), page.summary.text
