"""A stranger's pass over the canvas's promises about the user's work (simulated users).

Each test tries to lose or damage work the way a newcomer would: Save As onto the ready
workflows, a Save As that fails half-way, a Cancel that arrives as the run ends, a workflow
file that is not what it seems. The real-browser and killed-process passes are in
test_hostile_work_browser.py.
"""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
from pathlib import Path

import pytest
from nicegui.testing import User
from ui_helpers import CLUSTER_FOLDER, make_app, page_of, run_asking_to_save_first, toy_chain, until

from flowclass import fsutil
from flowclass.library import ready_workflows_dir
from flowclass.protected import Protected
from flowclass.ui.app import canvas_roots, setup
from flowclass.ui.confine import CODE as OUTSIDE_ROOTS
from flowclass.ui.page import AppConfig
from flowclass.ui.session import EditorSession

pytestmark = pytest.mark.anyio


def clusters_in(flow: Path) -> int:
    doc = json.loads(flow.read_text(encoding="utf-8"))
    return next(n for n in doc["nodes"] if n["id"] == "cluster")["params"]["n_clusters"]


async def save_as_named(user: User, name: str, folder: Path | None = None, up: bool = False) -> None:
    """File ▸ Save As…, into ``folder`` (one of the roots) when given, or the folder above the
    workflow's (``up``), under ``name``."""
    user.find(marker="file-save-as").click()
    await user.should_see("Save the workflow as")
    if folder is not None:
        (roots,) = user.find(marker="file-root").elements
        roots.value = str(folder)
    if up:
        user.find(marker="file-up").click()
    (field,) = user.find(marker="file-name").elements
    field.value = name
    user.find(marker="dialog-ok").click()


async def test_save_as_never_writes_over_a_ready_workflow(user: User, registry, cache, tmp_path: Path) -> None:
    """`flowclass ui workflows/cluster_folder.json` makes the ready workflows' folder one the
    dialogs may use (and a checkout under the home folder lies in the default root); Save As
    onto the shipped file, even with "Replace", must still write nothing there."""
    shipped = CLUSTER_FOLDER.read_bytes()
    roots = canvas_roots([str(tmp_path)], CLUSTER_FOLDER, Protected.here())
    assert roots.allows(CLUSTER_FOLDER)  # the situation of the command line above
    setup(AppConfig(registry=registry, cache=cache, roots=roots, workflow=CLUSTER_FOLDER))
    try:
        await user.open("/")
        page = page_of(user)
        page.set_param("cluster", "n_clusters", 3)
        await save_as_named(user, CLUSTER_FOLDER.name, ready_workflows_dir())
        await user.should_see("FlowClass's ready workflows are never written")  # told, in the dialog
        await user.should_not_see("Replace the workflow")  # no question to say yes to
        user.find(marker="dialog-ok").click()  # insisting changes nothing
        await user.should_see("Save the workflow as")
        assert CLUSTER_FOLDER.read_bytes() == shipped
        assert page.state.path is None and page.state.dirty  # still an unsaved copy, edit kept
    finally:
        if CLUSTER_FOLDER.read_bytes() != shipped:
            CLUSTER_FOLDER.write_bytes(shipped)


def refuse_new_files_in(monkeypatch, folder: Path) -> None:
    """``folder`` without write permission, as its owner's ``chmod a-w`` makes it for anyone but
    root (the tests run as root): creating a file there fails with EACCES."""
    create = fsutil._create_temp

    def create_temp(where: Path) -> Path:
        if Path(where).resolve() == folder.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(where))
        return create(where)

    monkeypatch.setattr(fsutil, "_create_temp", create_temp)


async def test_a_save_as_into_a_folder_without_permission_changes_nothing(user: User, registry, cache,
                                                                         tmp_path: Path, monkeypatch) -> None:
    """Save As into the folder above the workflow's, which may not be written. The workflow's
    relative folder must still name the same photos: before, the failed save had already
    rewritten it for the new folder (``proj/photos``), so the tab's Import pointed at
    ``proj/proj/photos``, which does not exist, and the next Save wrote that into the file."""
    project = tmp_path / "proj"
    (project / "photos").mkdir(parents=True)
    flow = project / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    refuse_new_files_in(monkeypatch, tmp_path)
    await user.open("/")
    page = page_of(user)
    page.set_param("import", "folder", "photos")
    before = page.state.workflow
    await save_as_named(user, "elsewhere", up=True)
    await user.should_see("no permission to write")
    assert page.state.workflow == before and page.state.path == flow
    assert page.input_path("import", "folder") == project / "photos"
    assert page.state.dirty and not (tmp_path / "elsewhere.json").exists()
    user.find(marker="file-save").click()  # where it may write: the same photos
    await until(lambda: not page.state.dirty, what="the save")
    assert json.loads(flow.read_text())["nodes"][0]["params"]["folder"] == "photos"


async def test_a_name_too_long_for_the_disk_is_told(user: User, registry, cache, tmp_path: Path) -> None:
    """A 300-character name: the dialog said nothing and saved nothing (the error went to the
    server's log only), so the user believed the work saved."""
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    page.set_param("cluster", "n_clusters", 3)
    await save_as_named(user, "x" * 300)
    await user.should_see("The name is too long")
    assert page.state.dirty and page.state.path == flow and clusters_in(flow) != 3


async def test_a_cancel_that_arrives_as_the_run_ends_leaves_its_summary(user: User, registry, cache,
                                                                        tmp_path: Path) -> None:
    """The Cancel button is still on the screen when the run ends; its click reaches the server
    a moment later. The footer said "Cancelling…" from then on, over the run's own line, and
    the next run's line started from a cancelled state."""
    page = await toy_chain(user, registry, cache, tmp_path, steps=30)
    page.start_run(None)
    await until(lambda: not page.runner.running, what="the end of the run")
    await until(lambda: page.summary.text.startswith("Last run"), what="the run's line")
    finished = page.summary.text
    page.cancel_run()  # what the late click calls
    page.cancel_run()  # and a second, double-clicked
    await user.should_not_see("Cancelling")
    assert page.summary.text == finished and "cancelled" not in finished
    page.set_param("toy_wait", "steps", 31)
    page.start_run(None)  # the next run is not born cancelled
    await until(lambda: not page.runner.running, what="the next run")
    await until(lambda: page.summary.text != "Running…", what="its line")
    assert "(cancelled)" not in page.summary.text and page.status("toy_wait").state.value == "done"


async def test_save_as_onto_a_link_that_leads_out_of_the_roots_writes_nothing_there(
        user: User, registry, cache, tmp_path: Path) -> None:
    """A folder from elsewhere (an unpacked archive) holds ``flow.json``, a link to a file
    outside the folders the canvas may use. The dialog does not list it, but typing its name
    wrote through the link, outside the roots: a new file where it led nowhere yet, and, after
    "Replace", over a workflow there."""
    root, outside = tmp_path / "home", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (outside / "theirs.json").write_bytes(CLUSTER_FOLDER.read_bytes())
    (root / "new.json").symlink_to(outside / "new.json")  # leads nowhere yet
    (root / "flow.json").symlink_to(outside / "theirs.json")
    make_app(registry, cache, root)
    await user.open("/")
    page = page_of(user)
    page.files.open_path(CLUSTER_FOLDER, as_copy=True)
    page.set_param("cluster", "n_clusters", 3)
    for name in ("new.json", "flow.json"):
        await save_as_named(user, name)
        await user.should_see("outside the folders this canvas may use")
    assert sorted(p.name for p in outside.iterdir()) == ["theirs.json"]
    assert (outside / "theirs.json").read_bytes() == CLUSTER_FOLDER.read_bytes()
    assert page.state.path is None and page.state.dirty


async def test_an_edit_is_on_disk_before_the_server_can_be_killed(user: User, registry, cache,
                                                                  tmp_path: Path) -> None:
    """The promise is a draft written on each change, and kill -9 comes without warning: the
    draft was written by a timer, twice a second, so a server killed (or crashing) within half
    a second of an edit came back without it. Now the edit, the selection and a Save are in
    the draft by the time the event that made them is handled."""
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    config = make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    tab_id = next(iter(config.tabs.tabs))
    kept = lambda: config.tabs.drafts.read(tab_id)  # noqa: E731  what a restarted server reads

    page.set_param("cluster", "n_clusters", 3)  # no await: nothing else ran since
    assert '"n_clusters": 3' in kept().workflow and kept().dirty
    page.select("embed")
    assert kept().selected == "embed"
    await page.files.save()
    assert not kept().dirty and kept().disk_sha == page.state.disk_sha


def test_runs_never_write_into_the_ready_workflows_folder(registry, cache, tmp_path: Path) -> None:
    """With that folder among the roots (`flowclass ui workflows/X.json`), Change in the
    footer could make it the output folder (or an output path could point there), and a run
    then wrote clusters/, tables and run.json beside the shipped workflows."""
    roots = canvas_roots([str(tmp_path)], CLUSTER_FOLDER, Protected.here())
    told: list[str] = []
    session = EditorSession(registry, cache, roots=roots, notify=lambda message, kind: told.append(message))
    session.state.open_copy(CLUSTER_FOLDER)
    session.set_out_dir(ready_workflows_dir() / "out")
    assert any(p.code == OUTSIDE_ROOTS and p.node is None and "ready workflows" in p.message
               for p in session.problems)
    session.start_run(None)
    assert not session.runner.running and told and "ready workflows" in told[-1]
    session.set_out_dir(tmp_path / "out")
    session.set_params("export", {"folder": str(ready_workflows_dir() / "clusters")})
    assert [p.field for p in session.problems if p.code == OUTSIDE_ROOTS] == ["folder"]
    assert not (ready_workflows_dir() / "out").exists()


async def test_a_reload_while_run_asks_to_save_first_starts_no_run(create_user, registry, cache,
                                                                   tmp_path: Path) -> None:
    """Run on a workflow without a file asks "Save it before running?"; the user reloads (F5)
    instead of answering. The page going away answers every open dialog with None, which the
    question takes for "Not now": only an error from the dialog's clean-up (logged by the
    server; it deleted a dialog the page had deleted already) kept a run from starting unseen
    into a new untitled folder, and the reloaded page's Run no longer asked. Now the clean-up
    is quiet, no run starts, and the question is asked again."""
    user = create_user()
    page = await run_asking_to_save_first(user, registry, cache, tmp_path)
    tab = page.tab.id
    user.client.delete()  # what the page's going away comes to (F5, or the tab closed)
    await asyncio.sleep(0.5)
    assert not page.runner.running and page.summary.text == ""
    assert not (tmp_path / "flowclass-out").exists()
    again = create_user()  # the reloaded page: Run asks again, nobody having answered
    await again.open(f"/?tab={tab}")
    again.find(marker="run-all").click()
    await again.should_see("no file yet")
