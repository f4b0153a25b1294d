"""The canvas's plain-Python parts: editor state, badges, folders, thumbnails, projections."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowclass.engine import Engine
from flowclass.library import ready_workflows_dir
from flowclass.ui.browse import OutsideRoots, Roots, count_images
from flowclass.ui.editor import EditorState, EditRefused
from flowclass.states import NodeState
from flowclass.ui.runner import RunController, runnable_part
from flowclass.ui.thumbnails import ImageServer, fitting_size
from nodes.viewers.clustering import clusters_at, dendrogram_links
from nodes.viewers.maps import cached_projection, project
from flowclass.workflow import PortRef
from flowclass.workflow_file import dumps, load, save

CLUSTER_FOLDER = ready_workflows_dir() / "cluster_folder.json"


# --- editor -------------------------------------------------------------------------------

def toy_chain(registry) -> EditorState:
    state = EditorState(registry)
    state.add_node("toy.number", (0, 0))
    state.add_node("toy.add", (200, 0))
    state.add_node("toy.describe", (400, 0))
    state.connect(PortRef("toy_number", "number"), PortRef("toy_add", "a"))
    state.connect(PortRef("toy_add", "sum"), PortRef("toy_describe", "number"))
    return state


def test_editor_refuses_bad_connections_and_loops(registry) -> None:
    state = toy_chain(registry)
    with pytest.raises(EditRefused, match="gives Words, but input 'A' takes Number"):
        state.add_node("toy.read", (0, 200))
        state.connect(PortRef("toy_read", "words"), PortRef("toy_add", "a"))
    state.add_node("toy.add", (600, 0))
    state.connect(PortRef("toy_add", "sum"), PortRef("toy_add_2", "a"))
    with pytest.raises(EditRefused, match="loop"):
        state.connect(PortRef("toy_add_2", "sum"), PortRef("toy_add", "b"))
    with pytest.raises(EditRefused, match="itself"):
        state.connect(PortRef("toy_add", "sum"), PortRef("toy_add", "b"))
    assert state.problems() == [p for p in state.problems() if p.node == "toy_read"]


def test_undo_redo_and_the_dirty_marker_follow_snapshots(registry) -> None:
    state = EditorState(registry)
    state.open(CLUSTER_FOLDER)
    clean = state.workflow
    assert not state.dirty and dumps(clean) == CLUSTER_FOLDER.read_text()
    for value in (3, 4, 5):  # typing into one field: one undo step
        state.set_params("cluster", {"n_clusters": value})
    state.move({"embed": (10, 20)})
    assert state.dirty
    assert state.undo() and state.workflow.node("embed").position == clean.node("embed").position
    assert state.undo() and state.workflow == clean and not state.dirty
    assert not state.undo()
    assert state.redo() and state.workflow.node("cluster").params["n_clusters"] == 5
    state.rename("cluster", "Group them")
    assert not state.redo()  # a new edit drops the redo list


def test_a_title_pasted_past_what_a_file_takes_is_cut_so_the_file_opens_again(registry, tmp_path) -> None:
    """Workflow files refuse a node title of more than 1,000 characters (a stranger's 10 MB
    one); the inspector's title field cuts a longer paste, so the saved file opens again."""
    from flowclass.workflow_file import MAX_LINE, load

    state = toy_chain(registry)
    state.rename("toy_add", "x" * 5_000)
    assert state.workflow.node("toy_add").title == "x" * MAX_LINE
    state.save(tmp_path / "pasted.json")
    assert load(tmp_path / "pasted.json", registry).node("toy_add").title == "x" * MAX_LINE


def test_duplicate_copies_params_and_feeding_edges(registry) -> None:
    state = toy_chain(registry)
    state.set_params("toy_add", {"scale": 3.0})
    (copy,) = state.duplicate(["toy_add"])
    assert copy == "toy_add_2" and state.selected == copy
    spec = state.workflow.node(copy)
    assert spec.params["scale"] == 3.0 and spec.position == (240.0, 60.0)
    assert [str(e) for e in state.workflow.edges_into(copy)] == ["toy_number.number -> toy_add_2.a"]
    assert state.workflow.edges_from(copy) == ()
    state.delete([copy])
    assert state.workflow.node(copy) is None and len(state.workflow.edges) == 2


# --- what may run, and its badges ---------------------------------------------------------

def test_runnable_part_leaves_out_problem_nodes_and_their_descendants(registry) -> None:
    state = toy_chain(registry)
    state.add_node("toy.number", (0, 300))
    state.set_params("toy_add", {"scale": 99.0})  # out of range
    runnable, left_out = runnable_part(state.workflow, state.problems())
    assert left_out == {"toy_add", "toy_describe"}
    assert [n.id for n in runnable.nodes] == ["toy_number", "toy_number_2"]


def test_staleness_is_the_engines_cache_key_changing_with_what_feeds_a_node_only(registry, cache,
                                                                                  tmp_path: Path) -> None:
    state = toy_chain(registry)
    engine = Engine(registry, cache)

    def keys() -> dict[str, str | None]:
        return {n: p.key for n, p in engine.plan(state.workflow, base_dir=tmp_path, out_dir=tmp_path).items()}

    before = keys()
    assert all(before.values())
    state.move({"toy_add": (5, 5)})
    state.rename("toy_describe", "Say it")
    assert keys() == before
    state.set_params("toy_number", {"value": 7})
    after = keys()
    assert all(after[n] != before[n] for n in before)  # every descendant changed too
    state.set_params("toy_describe", {"style": "loud"})
    assert keys()["toy_add"] == after["toy_add"]


def drain(controller: RunController, done) -> None:
    import time

    deadline = time.time() + 30
    while not done():
        controller.poll()
        assert time.time() < deadline, "the worker did not report"
        time.sleep(0.02)


def test_badges_after_run_edit_and_check(registry, cache, tmp_path: Path) -> None:
    state = toy_chain(registry)
    finished = []
    controller = RunController(Engine(registry, cache), on_change=lambda: None,
                               on_finished=lambda result, error: finished.append((result, error)))
    controller.start(state.workflow, base_dir=tmp_path, out_dir=tmp_path / "out")
    drain(controller, lambda: finished)
    assert {n: s.state for n, s in controller.statuses.items()} == dict.fromkeys(
        ["toy_number", "toy_add", "toy_describe"], "done")
    (result, error), = finished
    assert error is None and result.output("toy_describe", "words") == "the number is 1.0"

    state.set_params("toy_add", {"scale": 2.0})
    controller.check(state.workflow, base_dir=tmp_path, out_dir=tmp_path / "out",
                     had_result={"toy_number", "toy_add", "toy_describe"})
    drain(controller, lambda: not controller.checking)
    assert {n: s.state for n, s in controller.statuses.items()} == {
        "toy_number": "done", "toy_add": "stale", "toy_describe": "stale"}

    state.undo()  # back to what ran: its results are in the cache
    controller.check(state.workflow, base_dir=tmp_path, out_dir=tmp_path / "out", had_result=set())
    drain(controller, lambda: not controller.checking)
    assert {s.state for s in controller.statuses.values()} <= {"done", "cached"}


def test_failure_badge_carries_message_and_field(registry, cache, tmp_path: Path) -> None:
    state = EditorState(registry)
    state.add_node("toy.number", (0, 0))
    state.add_node("toy.fail", (200, 0))
    state.connect(PortRef("toy_number", "number"), PortRef("toy_fail", "number"))
    finished = []
    controller = RunController(Engine(registry, cache), on_change=lambda: None,
                               on_finished=lambda result, error: finished.append(result))
    controller.start(state.workflow, base_dir=tmp_path, out_dir=tmp_path / "out", targets=["toy_fail"])
    drain(controller, lambda: finished)
    status = controller.status("toy_fail")
    assert status.state == NodeState.FAILED and status.field == "why"
    assert status.message == "failed because it had to — change 'why'"
    assert status.describe()["label"] == "error"


# --- folders --------------------------------------------------------------------------------

def test_roots_keep_listings_inside(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    for folder in (root / "b_photos", root / "a_more", root / ".hidden", outside):
        folder.mkdir(parents=True)
    (root / "notes.json").write_text("{}")
    os.symlink(outside, root / "escape")
    roots = Roots([root])
    assert [e.name for e in roots.listing(root)] == ["a_more", "b_photos"]  # no link out, no hidden
    assert [e.name for e in roots.listing(root, (".json",))] == ["a_more", "b_photos", "notes.json"]
    with pytest.raises(OutsideRoots, match="outside the folders"):
        roots.listing(root / "escape")
    with pytest.raises(OutsideRoots):
        roots.check(root / "..")
    assert roots.start(str(outside)) == root.resolve()
    assert roots.start(str(root / "b_photos" / "nope.jpg")) == (root / "b_photos").resolve()


def test_image_counts(photos_dir: Path) -> None:
    assert str(count_images(photos_dir)) == "0 images here, 5 in all"
    assert str(count_images(photos_dir / "things")) == "3 images"
    partial = count_images(photos_dir, limit=2)
    assert not partial.complete and str(partial).endswith("+ in all")


# --- thumbnails -------------------------------------------------------------------------------

def test_thumbnails_are_made_once_upright_and_only_for_registered_images(tmp_path: Path,
                                                                           photos_dir: Path) -> None:
    server = ImageServer(tmp_path / "thumbs")
    photo = photos_dir / "animals" / "chelsea.jpg"
    url = server.url(photo, "a" * 64, size=150)
    assert url == f"/flowclass/image/{'a' * 64}/160"
    thumb = server.file_for("a" * 64, 160)
    with Image.open(thumb) as image:
        assert max(image.size) == 160 and image.format == "JPEG"
        assert image.size[0] > image.size[1]  # the cat photo is landscape
    made = thumb.stat().st_mtime_ns
    assert server.file_for("a" * 64, 160).stat().st_mtime_ns == made
    assert server.file_for("b" * 64, 160) is None
    assert server.file_for("a" * 64, 0) == photo  # full size: the file itself
    assert fitting_size(2000) == 1024 and fitting_size(None) == 0


def test_a_tiny_image_is_enlarged_with_sharp_pixels_and_a_photo_never_grows(tmp_path: Path,
                                                                          photos_dir) -> None:
    from sklearn.datasets import load_digits

    digit = tmp_path / "digit.png"
    pixels = (load_digits().images[0] * 255 / 16).astype(np.uint8)  # 8 x 8
    Image.fromarray(pixels).save(digit)
    server = ImageServer(tmp_path / "thumbs")
    server.register(digit, "d" * 64)
    with Image.open(server.file_for("d" * 64, 1024)) as image:
        assert image.size == (1024, 1024)
        big = np.asarray(image.convert("L"), dtype=float)
    blocks = big.reshape(8, 128, 8, 128).transpose(0, 2, 1, 3).reshape(8, 8, -1)
    assert blocks.std(axis=2).max() < 6  # each digit pixel is one flat block (JPEG noise aside)
    assert np.abs(blocks.mean(axis=2) - pixels).max() < 8
    photo = photos_dir / "animals" / "chelsea.jpg"
    server.register(photo, "c" * 64)
    with Image.open(photo) as original, Image.open(server.file_for("c" * 64, 1024)) as shown:
        assert max(shown.size) <= max(max(original.size), 1024) and max(shown.size) <= 1024


def test_thumbnail_honours_exif_orientation(tmp_path: Path) -> None:
    source = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: a 200 x 100 file shows as 100 x 200
    Image.new("RGB", (200, 100), "red").save(source, exif=exif)
    server = ImageServer(tmp_path / "thumbs")
    image_id = server.register(source)
    with Image.open(server.file_for(image_id, 64)) as thumb:
        assert thumb.size == (32, 64)


# --- viewers' computations ----------------------------------------------------------------------

def neighbours_agree(points: np.ndarray, labels: np.ndarray) -> float:
    """How often a point's nearest neighbour on the map has its label."""
    distance = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(len(points)) * 1e9
    return float(np.mean(labels[distance.argmin(axis=1)] == labels))


@pytest.mark.slow
def test_projections_are_deterministic_and_cached(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    vectors, labels = digits.data[:120], digits.target[:120]
    assert project(vectors, "pca").shape == (120, 2)
    tsne = cached_projection(vectors, "tsne", tmp_path)
    assert np.array_equal(tsne, cached_projection(vectors, "tsne", tmp_path))
    assert len(list(tmp_path.glob("*-tsne-*.npy"))) == 1
    assert neighbours_agree(tsne, labels) > 0.85  # t-SNE keeps each digit together
    with pytest.raises(ValueError, match="unknown projection"):
        project(vectors, "mds")


@pytest.mark.slow
def test_umap_map_keeps_digits_together() -> None:
    """UMAP compiles itself with numba on first use (about half a minute here)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    points = project(digits.data[:120], "umap")
    assert points.shape == (120, 2)
    assert neighbours_agree(points, digits.target[:120]) > 0.85


def test_dendrogram_links_colour_clusters_below_the_cut(registry) -> None:
    from scipy.cluster import hierarchy

    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    z = hierarchy.linkage(points, "ward")
    labels = np.where(hierarchy.fcluster(z, 2, "maxclust") == 1, "C1", "C2")
    cut = float(z[-1, 2]) / 2
    links, leaves = dendrogram_links(z, labels, cut)
    assert leaves == 40 and len(links) == 39
    colours = {link["lineStyle"]["color"] for link in links}
    assert len(colours) == 3  # two clusters and the grey above the cut
    assert clusters_at(z, cut) == 2
    links, leaves = dendrogram_links(z, labels, cut, max_leaves=10)
    assert leaves == 10 and len(links) == 9


def test_saving_elsewhere_keeps_relative_inputs_pointing_at_the_same_files(registry, tmp_path: Path) -> None:
    shipped, mine = tmp_path / "ready", tmp_path / "mine"
    (shipped / "data").mkdir(parents=True)
    (shipped / "data" / "words.txt").write_text("hello")
    state = EditorState(registry)
    state.add_node("toy.read", (0, 0))
    state.set_params("toy_read", {"path": "data/words.txt"})
    state.add_node("toy.write", (200, 0))  # an output path: relative to the run's output folder
    state.set_params("toy_write", {"path": "out/said.txt"})
    save(state.workflow, shipped / "ready.json")  # shipped with its data beside it

    state.open_copy(shipped / "ready.json")  # as the canvas opens a ready workflow
    assert state.path is None and state.base_dir == shipped.resolve()
    state.save(mine / "copy.json")
    saved = load(mine / "copy.json", registry)
    assert saved.node("toy_read").params["path"] == str((shipped / "data" / "words.txt").resolve())
    assert saved.node("toy_write").params["path"] == "out/said.txt"

    state.save(mine / "copy.json")  # same folder again: nothing to rewrite
    assert (mine / "copy.json").read_text() == dumps(saved)
    state.set_params("toy_read", {"path": "sub/words.txt"})
    state.save(tmp_path / "up.json")  # a folder above: still relative, one level deeper
    assert load(tmp_path / "up.json", registry).node("toy_read").params["path"] == "mine/sub/words.txt"
