"""The canvas reads and writes inside its --root folders only: paths typed into the inspector
(absolute, relative with '..', through a symlink) and the run's output folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from nicegui import ui
from nicegui.testing import User
from ui_helpers import CLUSTER_FOLDER, graph_nodes, make_app, page_of, until

from flowclass.ui.canvas import FlowCanvas

pytestmark = pytest.mark.anyio


def path_input(user: User, label: str) -> ui.input:
    return next(e for e in user.find(ui.input).elements if e.props.get("label") == label)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A root folder with a workflow, and a folder of images beside it (outside the root)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "images").mkdir(parents=True)
    (outside / "secret").mkdir(parents=True)
    shutil.copyfile(CLUSTER_FOLDER, root / "flow.json")
    return root, outside


@pytest.mark.slow
async def test_inspector_paths_outside_the_roots_are_refused(user: User, registry, cache, layout) -> None:
    root, outside = layout
    os.symlink(outside / "secret", root / "link")
    make_app(registry, cache, root, root / "flow.json")
    await user.open("/")
    page = page_of(user)
    user.find(FlowCanvas).trigger("select", {"id": "import"})
    folder = path_input(user, "Folder")

    for typed in (str(outside / "secret"), "../outside/secret", "link", "~"):
        folder.value = typed
        await user.should_see("is outside the folders this canvas may read")
        assert graph_nodes(user)["import"]["status"]["state"] == "invalid", typed
        problem = next(p for p in page.session.problems if p.node == "import")
        assert problem.field == "folder" and str(root) in problem.message, typed

    folder.value = "images"  # inside the root: fine
    await user.should_not_see("is outside the folders")
    assert not [p for p in page.session.problems if p.code == "outside_roots"]

    # an output path: the export folder written outside
    user.find(FlowCanvas).trigger("select", {"id": "export"})
    path_input(user, "Folder").value = str(outside / "written")
    await user.should_see("is outside the folders this canvas may write")
    problem = next(p for p in page.session.problems if p.node == "export")
    assert problem.field == "folder"

    # Run: the export node is left out and nothing is written outside
    page.session.start_run(["export"])
    await user.should_see("cannot run until these are fixed")
    assert not (outside / "written").exists()


@pytest.mark.slow
async def test_an_output_folder_outside_the_roots_stops_the_run(user: User, registry, cache, layout) -> None:
    root, outside = layout
    make_app(registry, cache, root, root / "flow.json")
    await user.open("/")
    page = page_of(user)
    page.session.out_choice = outside / "out"
    page.session.start_run(None)
    await user.should_see("Cannot run: the output folder")
    assert not page.session.runner.running
    assert not (outside / "out").exists()


@pytest.mark.slow
async def test_ready_workflows_read_their_shipped_data(user: User, registry, cache, layout) -> None:
    """A ready workflow opened as a copy reads its own data folder, which lies outside the roots."""
    root, _ = layout
    make_app(registry, cache, root)
    await user.open("/")
    page = page_of(user)
    ready = next(p for p in (CLUSTER_FOLDER.parent).glob("clashifier*.json"))
    assert page.files.open_path(ready, as_copy=True)
    await until(lambda: graph_nodes(user), what="the workflow")
    assert not [p for p in page.session.problems if p.code == "outside_roots"]


# --- issue 15, item 8: every path through the one check, links resolved first ------------------

def test_clip_weights_are_paths_held_to_the_roots_and_never_an_existence_oracle(registry, tmp_path) -> None:
    """Embed's and Zero-shot's weights may be a file: a path outside the roots is refused like
    any path (it was plain text, so the canvas opened and hashed it). The refusal reads the
    same whether the file exists or not, and names the path as typed, not where a link leads."""
    from flowclass.ui.browse import Roots
    from flowclass.ui.confine import outside_roots
    from flowclass.workflow_file import loads

    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "real.pt").write_bytes(b"weights")
    os.symlink(outside / "real.pt", root / "innocent.pt")
    messages = {}
    for node_type in ("embed", "zero_shot_classify"):
        for typed in (str(outside / "real.pt"), str(outside / "missing.pt"), "innocent.pt", "../outside/real.pt"):
            params = {"clip_weights": typed, **({"backend": "open_clip"} if node_type == "embed" else {})}
            doc = {"schema_version": 1, "nodes": [{"id": "n", "type": node_type, "params": params}]}
            (problem,) = outside_roots(loads(__import__("json").dumps(doc), registry), registry, Roots([root]),
                                       base_dir=root, out_dir=root / "out")
            assert (problem.node, problem.field) == ("n", "clip_weights"), typed
            messages[node_type, typed] = problem.message
        for tag in ("laion2b_s34b_b79k", "random"):  # names, not paths: nothing to confine
            params = {"clip_weights": tag, **({"backend": "open_clip"} if node_type == "embed" else {})}
            doc = {"schema_version": 1, "nodes": [{"id": "n", "type": node_type, "params": params}]}
            assert outside_roots(loads(__import__("json").dumps(doc), registry), registry, Roots([root]),
                                 base_dir=root, out_dir=root / "out") == []
    exists, missing = messages["embed", str(outside / "real.pt")], messages["embed", str(outside / "missing.pt")]
    assert exists.replace("real.pt", "X") == missing.replace("missing.pt", "X")
    assert messages["embed", "innocent.pt"].startswith(str(root / "innocent.pt"))  # not the link's target


def _linked_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A root whose image folder holds two photos and a link to a photo outside the root."""
    from PIL import Image

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "photos").mkdir(parents=True)
    outside.mkdir()
    for i, folder in enumerate((root / "photos", root / "photos", outside)):
        Image.new("RGB", (16, 16), (i * 80, 0, 0)).save(folder / f"p{i}.png")
    os.symlink(outside / "p2.png", root / "photos" / "linked.png")
    return root, outside


def test_a_link_inside_the_root_to_a_file_outside_is_not_imported_by_the_canvas(registry, cache, tmp_path) -> None:
    from classify_helpers import workflow

    from flowclass.engine import Engine
    from flowclass.ui.browse import Roots

    root, outside = _linked_folder(tmp_path)
    flow = workflow(registry, [("import", "import_images", {"folder": str(root / "photos")})], [])
    # the command line reads what the user points it at, links included; its result is cached
    cli = Engine(registry, cache).run(flow, out_dir=tmp_path / "cli")
    assert "linked.png" in [Path(p).name for p in cli.output("import", "images").paths]
    # the canvas, on the same cache, does not reuse that result: the link is refused, and said so
    canvas = Engine(registry, cache, may_read=Roots([root]).allows).run(flow, out_dir=root / "out")
    outcome = canvas.outcomes["import"]
    assert outcome.state == "done"
    assert sorted(Path(p).name for p in canvas.output("import", "images").paths) == ["p0.png", "p1.png"]
    assert any("outside the folders this canvas may read" in w for w in outcome.warnings)
    assert any(p.endswith("linked.png") and "outside" in r for _, p, r in canvas.skipped_files)


async def test_the_canvas_does_not_serve_a_linked_file_from_outside_its_roots(user: User, registry, cache,
                                                                             tmp_path) -> None:
    from flowclass.ui.thumbnails import FULL, ROUTE

    root, _ = _linked_folder(tmp_path)
    config = make_app(registry, cache, root)
    inside = config.images.register(root / "photos" / "p0.png")
    linked = config.images.register(root / "photos" / "linked.png")
    for size in (FULL, 160):
        assert (await user.http_client.get(f"{ROUTE}/{inside}/{size}")).status_code == 200
        assert (await user.http_client.get(f"{ROUTE}/{linked}/{size}")).status_code == 404


def test_the_file_browser_leaves_out_names_that_are_not_utf8(tmp_path) -> None:
    """A shared folder's b'caf\\xe9' (a Latin-1 system's name) was listed as a lone surrogate,
    which no page can be sent, and Import refuses it anyway: it is left out, as Import leaves it."""
    from flowclass.ui.browse import Roots

    os.makedirs(os.fsencode(tmp_path) + b"/caf\xe9")
    open(os.fsencode(tmp_path) + b"/na\xefve.json", "wb").close()
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain.json").write_text("{}")
    names = [e.name for e in Roots([tmp_path]).listing(tmp_path, (".json",))]
    assert names == ["plain", "plain.json"]


def test_a_root_whose_name_is_not_utf8_is_refused_before_the_canvas_starts(tmp_path, capsys) -> None:
    from flowclass.cli import main

    root = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    os.mkdir(root)
    assert main(["ui", "--root", root, "--no-browser", "--cache", str(tmp_path / "cache")]) == 2
    said = capsys.readouterr().err
    assert "--root" in said and "not UTF-8" in said and "caf\ufffd" in said, said


def test_the_folder_dialog_counts_the_images_of_a_folder_nested_deeper_than_pythons_stack(tmp_path) -> None:
    """A shared bundle's folder nested 1,100 deep (2 KB of path): the dialog's image count
    walked it with os.walk, which recurses once per level, and ended in a RecursionError.
    Here the tree is 300 deep and Python's limit 100 frames above the test's own: pytest
    removes old temporary folders with shutil.rmtree, which recurses once a level too, and
    a tree 1,100 deep left behind ended a later session's start in a RecursionError."""
    import inspect
    import sys

    from flowclass.ui.browse import count_images

    folder = os.fsencode(tmp_path / "deep")
    os.mkdir(folder)
    for _ in range(300):  # one level at a time: os.makedirs recurses too
        folder += b"/d"
        os.mkdir(folder)
    Image.new("L", (2, 2)).save(folder + b"/x.png")
    (tmp_path / "deep" / "top.png").write_bytes(b"")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 100)
    try:
        counted = count_images(tmp_path / "deep")
    finally:
        sys.setrecursionlimit(limit)
    assert str(counted) == "1 images here, 2 in all"
