"""The cleaning viewers in the simulated ``user``: duplicate groups (Keep this) and the
label-issue queue (Accept / Keep / Choose), checked in the files beside the workflow and in
what a re-run of the nodes then gives."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from nicegui import ui
from nicegui.testing import User
from PIL import Image

from flowclass.library import default_registry
from flowclass.viewers import ViewerContext
from flowclass.viewers.registry import default_viewers
from nodes.cleaning_types import DuplicateGroups
from nodes.datatypes import ImageSet
from nodes.lib.cleaning.kept_copies import chosen, read_keep_file
from nodes.lib.images.filestate import sha256_of_file
from nodes.viewers.cleaning_duplicates import GROUPS_PER_PAGE, duplicate_groups
from tests.classify_helpers import run
from tests.ui_helpers import until

PIXELS = {"backend": "pixels", "pixel_size": 16, "grayscale": True}


def digit(index: int) -> Image.Image:
    from sklearn.datasets import load_digits

    pixels = load_digits().images[index]
    return Image.fromarray((255 - pixels * (255 / 16)).round().astype(np.uint8), "L").resize((64, 64))


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Path:
    """12 digits in folders, and copies: a byte copy of d000 and a BMP of it; a JPEG of d001."""
    root = tmp_path_factory.mktemp("copies") / "PHOTOS"
    for i in range(12):
        (root / str(i % 3)).mkdir(parents=True, exist_ok=True)
        digit(i).save(root / str(i % 3) / f"d{i:03d}.png")
    shutil.copyfile(root / "0" / "d000.png", root / "1" / "same_bytes.png")
    digit(0).save(root / "2" / "as_bmp.bmp")
    digit(1).save(root / "2" / "as_jpeg.jpg", quality=90)
    return root


def find_duplicates(registry, cache, folder: Path, workflow_dir: Path) -> DuplicateGroups:
    """Import -> Embed -> Find Duplicates, its kept-copies file read beside ``workflow_dir``."""
    nodes = [("import", "import_images", {"folder": str(folder)}), ("embed", "embed", PIXELS),
             ("duplicates", "find_duplicates", {})]
    result = run(registry, cache, nodes, [("import.images", "embed.images"),
                                          ("embed.embeddings", "duplicates.embeddings")],
                 workflow_dir / "out", workflow_dir)
    assert result.ok, [o.error for o in result.failed]
    return result.output("duplicates", "duplicates")


def context(workflow_dir: Path | None, calls: list, **changes) -> ViewerContext:
    """A saved workflow in ``workflow_dir`` (None: unsaved) whose node reads the default files."""
    fields = dict(
        node_id="duplicates", port="duplicates", data_type="duplicates", workflow_dir=workflow_dir,
        out_dir=workflow_dir or Path("."), image_url=lambda path, sha256=None, size=160: f"/img/{Path(path).name}",
        upstream=lambda name: None, set_params=lambda node, params: None,
        run=lambda nodes: calls.append(("run", nodes)), refresh=lambda: calls.append(("refresh",)),
        store_dir=lambda name: workflow_dir, run_from=lambda node: calls.append(("run_from", node)),
        upstream_node=lambda node_type: "labels" if node_type == "label_overrides" else None,
        input_path=lambda node, name: workflow_dir / {"keep_file": "duplicates-keep.csv",
                                                      "file": "label-overrides.csv"}[name],
        workflow_path=lambda: workflow_dir / "flow.json" if workflow_dir else None)
    fields.update(changes)
    return ViewerContext(**fields)


def names_kept(groups: DuplicateGroups) -> set[str]:
    return {Path(p).name for p in groups.images.paths[groups.index[groups.keep]]}


def row_of(groups: DuplicateGroups, name: str) -> int:
    return next(r for r, i in enumerate(groups.index) if Path(groups.images.paths[i]).name == name)


def test_the_groups_viewer_comes_before_the_table() -> None:
    found = default_viewers(default_registry()).for_value("duplicates", None)
    assert [v.title for v in found] == ["Groups", "Table"]


@pytest.mark.anyio
@pytest.mark.slow
async def test_keep_this_writes_the_choice_that_a_re_run_keeps(user: User, registry, cache, copies, tmp_path):
    groups = find_duplicates(registry, cache, copies, tmp_path)
    table = groups.to_table().assign(name=lambda t: [Path(p).name for p in t["path"]])
    found = {frozenset(g["name"]) for _, g in table.groupby("group")}
    assert found == {frozenset({"d000.png", "same_bytes.png", "as_bmp.bmp"}), frozenset({"d001.png", "as_jpeg.jpg"})}
    jpeg_group = row_of(groups, "as_jpeg.jpg")
    assert "as_jpeg.jpg" not in names_kept(groups)
    calls: list = []

    @ui.page("/")
    def page() -> None:
        duplicate_groups.show(groups, context(tmp_path, calls))

    await user.open("/")
    await user.should_see("2 groups of copies · 5 images (3 exact, 2 near) · 3 left out of the cleaned copy")
    jpeg = int(groups.index[jpeg_group])
    user.find(marker=f"keep-{jpeg}").click()
    # marked at once: the JPEG is kept, its original offers Keep this
    await user.should_see(marker=f"kept-{jpeg}", retries=50)
    original = int(groups.index[row_of(groups, "d001.png")])
    await user.should_see(marker=f"keep-{original}")
    assert calls == [("refresh",)]
    assert user.notify.messages == ["as_jpeg.jpg is kept of group 2 (saved in duplicates-keep.csv); "
                                    "re-run to update the cleaned copy."]
    rows = read_keep_file(tmp_path / "duplicates-keep.csv")
    assert rows.values.tolist() == [[sha256_of_file(copies / "2" / "as_jpeg.jpg"), "2/as_jpeg.jpg"]]

    # the byte copy shares d000's bytes: chosen, it is named by its path alone, and kept
    same = int(groups.index[row_of(groups, "same_bytes.png")])
    user.find(marker=f"keep-{same}").click()
    await user.should_see(marker=f"kept-{same}", retries=50)
    assert chosen(groups.images, read_keep_file(tmp_path / "duplicates-keep.csv"))[0].keys() == {jpeg, same}

    again = find_duplicates(registry, cache, copies, tmp_path)  # what a headless re-run keeps
    assert names_kept(again) == {"as_jpeg.jpg", "same_bytes.png"}
    user.find(marker="rerun-duplicates").click()
    assert calls[-1] == ("run_from", "duplicates")  # the node and the export it feeds


def synthetic_groups(folder: Path, count: int) -> DuplicateGroups:
    """``count`` groups of two images each (no pixels needed: the viewer shows, never decodes)."""
    n = 2 * count
    images = ImageSet(np.array([str(folder / f"g{k // 2:03d}_{k % 2}.png") for k in range(n)]),
                      np.array(["a"] * n), np.array([f"{k:064x}" for k in range(n)]),
                      np.full(n, 8), np.full(n, 8), str(folder))
    return DuplicateGroups(images, np.arange(n), np.repeat(np.arange(1, count + 1), 2),
                           np.array(["near"] * n), np.tile([True, False], count))


@pytest.mark.anyio
async def test_many_groups_come_a_page_at_a_time(user: User, tmp_path):
    groups = synthetic_groups(tmp_path, 3 * GROUPS_PER_PAGE + 1)

    @ui.page("/")
    def page() -> None:
        duplicate_groups.show(groups, context(tmp_path, []))

    await user.open("/")
    await user.should_see(marker="group-1")
    shown = lambda: {int(m[6:]) for column in user.find(ui.column).elements  # noqa: E731
                     for m in column._markers if m.startswith("group-")}
    assert shown() == set(range(1, GROUPS_PER_PAGE + 1))
    (pager,) = user.find(marker="duplicate-pages").elements
    assert pager.max == 4
    pager.set_value(4)
    await user.should_see(marker=f"group-{groups.groups}")
    assert shown() == {groups.groups}
    last = 2 * groups.groups - 1
    user.find(marker=f"picture-{last}").click()  # shown larger, beside the rest of its group
    await user.should_see("2 of 2")
    await user.should_see(str(groups.images.paths[last]))


@pytest.mark.anyio
async def test_an_unsaved_workflow_offers_save_and_writes_nothing(user: User, tmp_path):
    groups = synthetic_groups(tmp_path, 2)
    saved: list = []

    async def save():
        saved.append(True)
        return None  # the user cancelled Save As

    @ui.page("/")
    def page() -> None:
        duplicate_groups.show(groups, context(None, [], save=save))

    await user.open("/")
    await user.should_see("2 groups of copies · 4 images (0 exact, 4 near) · 2 left out of the cleaned copy")
    await user.should_see("Which copy to keep is saved in a file beside the workflow.")
    button = user.find(marker="keep-1").elements.pop()
    assert not button.enabled
    user.find(marker="save-to-choose").click()
    await until(lambda: saved, what="Save As")
    assert saved == [True] and not list(tmp_path.glob("*.csv"))


@pytest.mark.anyio
async def test_an_installed_keep_file_is_never_written(user: User, tmp_path):
    groups = synthetic_groups(tmp_path, 1)
    ctx = replace(context(tmp_path, []), installed=lambda path: True)

    @ui.page("/")
    def page() -> None:
        duplicate_groups.show(groups, ctx)

    await user.open("/")
    await user.should_see("1 group of copies · 2 images (0 exact, 2 near) · 1 left out of the cleaned copy")
    await user.should_see("a file of FlowClass's installed workflows")
    assert not user.find(marker="keep-1").elements.pop().enabled


# --- the label-issue queue ---------------------------------------------------------------


@pytest.fixture(scope="module")
def mislabelled(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """120 digits in a folder per digit, 4 of them in a wrong one; their true digits by name."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("labels") / "PHOTOS"
    target = load_digits().target
    moved = {}
    for i in range(120):
        label = str((target[i] + 3) % 10) if i % 30 == 7 else str(target[i])
        if label != str(target[i]):
            moved[f"d{i:03d}.png"] = str(target[i])
        (root / label).mkdir(parents=True, exist_ok=True)
        digit(i).save(root / label / f"d{i:03d}.png")
    return root, moved


def find_label_issues(registry, cache, folder: Path, workflow_dir: Path):
    """Import -> Label Overrides (label-overrides.csv beside ``workflow_dir``) -> Embed -> Find Label Issues."""
    nodes = [("import", "import_images", {"folder": str(folder)}), ("labels", "label_overrides", {}),
             ("embed", "embed", PIXELS), ("issues", "find_label_issues", {})]
    edges = [("import.images", "labels.images"), ("labels.images", "embed.images"),
             ("embed.embeddings", "issues.embeddings")]
    result = run(registry, cache, nodes, edges, workflow_dir / "out", workflow_dir)
    assert result.ok, [o.error for o in result.failed]
    return result.output("issues", "issues")


def queue_context(workflow_dir: Path | None, calls: list, **changes) -> ViewerContext:
    return context(workflow_dir, calls, node_id="issues", port="issues", data_type="label_issues", **changes)


def shown_in_queue(user: User) -> list[int]:
    """The images of the queue's cards, in their order on the page."""
    cards = sorted(user.find(ui.card).elements, key=lambda card: card.id)
    return [int(m[6:]) for card in cards for m in card._markers if m.startswith("queue-")]


def test_the_queue_comes_before_the_table() -> None:
    found = default_viewers(default_registry()).for_value("label_issues", None)
    assert [v.title for v in found] == ["Queue", "Table"]


@pytest.mark.anyio
@pytest.mark.slow
async def test_accept_keep_and_choose_go_into_the_label_file_that_retraining_reads(
        user: User, registry, cache, mislabelled, tmp_path):
    from nodes.lib.classify.label_overrides import read_label_file
    from nodes.viewers.cleaning_labels import SHOWN, label_queue, queue_order

    folder, moved = mislabelled
    issues = find_label_issues(registry, cache, folder, tmp_path)
    names = [Path(p).name for p in issues.images.paths]
    order = queue_order(issues)
    flagged = int(issues.flagged.sum())
    assert flagged >= 3 and issues.flagged[order[:flagged]].all()  # flagged first
    assert {names[i] for i in order[:len(moved)]} & set(moved)  # the moved digits are near the head
    calls: list = []

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, calls))

    await user.open("/")
    await user.should_see(f"0 decided · {flagged} flagged left", retries=50)
    assert shown_in_queue(user) == [int(i) for i in order[:SHOWN]]
    first, second, third = (int(i) for i in order[:3])
    user.find(marker=f"accept-{first}").click()
    await user.should_see(f"1 decided · {flagged - 1} flagged left", retries=50)
    assert user.notify.messages == [f"{names[first]}: '{issues.suggested[first]}' (saved in label-overrides.csv); "
                                    "retrain to use it."]
    assert first not in shown_in_queue(user) and int(order[SHOWN]) in shown_in_queue(user)  # the next comes in
    user.find(marker=f"keep-label-{second}").click()
    other = next(c for c in issues.classes if c not in (issues.images.labels[third], issues.suggested[third]))
    user.find(marker=f"choose-{third}").elements.pop().set_value(other)
    await user.should_see(f"3 decided · {flagged - 3} flagged left", retries=50)
    rows = read_label_file(tmp_path / "label-overrides.csv")
    images = issues.images
    assert rows[["sha256", "path", "label"]].values.tolist() == [
        [images.hashes[first], images.relpaths[first], issues.suggested[first]],
        [images.hashes[second], images.relpaths[second], images.labels[second]],  # kept: written as given
        [images.hashes[third], images.relpaths[third], other]]
    assert ("refresh",) in calls
    user.find(marker="retrain").click()
    assert calls[-1] == ("run", None)  # the whole workflow: what the decisions changed re-runs

    again = find_label_issues(registry, cache, folder, tmp_path)  # the retrain (or a headless re-run)
    labels = dict(zip(again.images.hashes, again.images.labels))
    assert labels[images.hashes[first]] == issues.suggested[first]
    assert labels[images.hashes[second]] == images.labels[second]
    assert labels[images.hashes[third]] == other

    # the new ranking's queue leaves the three out: they were decided, not asked again
    from nodes.viewers.cleaning_labels import decided

    done = decided(again, tmp_path / "label-overrides.csv")
    assert {again.images.hashes[i] for i in np.flatnonzero(done)} == {images.hashes[k] for k in (first, second, third)}


def synthetic_issues(folder: Path, flagged: list[bool], scores: list[float]):
    from nodes.cleaning_types import LabelIssues

    n = len(scores)
    images = ImageSet(np.array([str(folder / "a" / f"i{k}.png") for k in range(n)]), np.array(["a"] * n),
                      np.array([f"{k:064x}" for k in range(n)]), np.full(n, 8), np.full(n, 8), str(folder))
    return LabelIssues(images, np.array(["b"] * n), np.array(scores), np.array(flagged), ("a", "b", "c"))


@pytest.mark.anyio
async def test_the_queue_starts_with_the_flagged_and_skips_what_the_file_decided(user: User, tmp_path):
    from nodes.lib.classify.label_overrides import set_label
    from nodes.viewers.cleaning_labels import label_queue

    issues = synthetic_issues(tmp_path, [False, True, False, True], [0.9, 0.8, 0.7, 0.6])
    set_label(tmp_path / "label-overrides.csv", "", "a/i1.png", "a")  # decided earlier, by path

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, []))

    await user.open("/")
    await user.should_see("1 decided · 1 flagged left · 3 of 4 labelled images in the queue", retries=50)
    assert shown_in_queue(user) == [3, 0, 2]


@pytest.mark.anyio
async def test_without_a_saved_workflow_the_queue_only_shows(user: User, tmp_path):
    from nodes.viewers.cleaning_labels import label_queue

    issues = synthetic_issues(tmp_path, [True], [0.9])

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(None, []))

    await user.open("/")
    await user.should_see("Save the workflow to correct labels.")
    assert not user.find(marker="accept-0").elements.pop().enabled
    assert not user.find(marker="choose-0").elements.pop().enabled
    assert not list(tmp_path.glob("*.csv"))


def test_one_relative_path_is_the_one_of_all_paths(tmp_path) -> None:
    groups = synthetic_groups(tmp_path, 3)
    images = groups.images
    assert [images.relpath(k) for k in range(len(images))] == images.relpaths == \
        [f"g{k // 2:03d}_{k % 2}.png" for k in range(6)]
    rootless = replace(images, root="")
    assert [rootless.relpath(k) for k in range(len(images))] == rootless.relpaths


@pytest.mark.anyio
async def test_a_second_tab_never_undoes_a_decision_it_did_not_see(create_user, tmp_path):
    """Two tabs show the same queue; A accepts image 1's suggestion. B, a step behind, still
    shows image 1 and clicks Keep on it: the file keeps A's decision, B is told and shows the
    queue as the file has it; B's next decision is written beside A's."""
    from nodes.lib.classify.label_overrides import read_label_file
    from nodes.viewers.cleaning_labels import label_queue

    issues = synthetic_issues(tmp_path, [False, True, False, True], [0.9, 0.8, 0.7, 0.6])

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, []))

    a, b = create_user(), create_user()
    await a.open("/")
    await b.open("/")
    a.find(marker="accept-1").click()
    await a.should_see("1 decided · 1 flagged left", retries=50)
    assert 1 in shown_in_queue(b)
    b.find(marker="keep-label-1").click()
    await b.should_see("1 decided · 1 flagged left", retries=50)
    assert "decided meanwhile, in another tab or program" in b.notify.messages[-1]
    assert shown_in_queue(b) == [3, 0, 2]
    b.find(marker="accept-3").click()
    await b.should_see("2 decided · 0 flagged left", retries=50)
    rows = read_label_file(tmp_path / "label-overrides.csv")
    assert rows[["path", "label"]].values.tolist() == [["a/i1.png", "b"], ["a/i3.png", "b"]]


def group_of_three(folder: Path):
    """One group of near copies c0, c1 and c2 in ``folder``, c0 kept."""
    images = ImageSet(np.array([str(folder / f"c{k}.png") for k in range(3)]), np.array(["a"] * 3),
                      np.array([f"{k:064x}" for k in range(3)]), np.full(3, 8), np.full(3, 8), str(folder))
    return DuplicateGroups(images, np.arange(3), np.ones(3, dtype=np.int64), np.array(["near"] * 3),
                           np.array([True, False, False]))


@pytest.mark.anyio
async def test_a_second_tab_never_undoes_a_kept_copy_it_did_not_see(create_user, tmp_path):
    """Tabs A and B show a group of three, c0 kept; A keeps c1. B, a step behind, still shows
    c0 kept and clicks Keep this on c2: A's choice is not replaced unseen; B is told and shows
    c1 kept. Clicked again, on what B now shows, c2 is kept."""
    groups = group_of_three(tmp_path)

    @ui.page("/")
    def page() -> None:
        duplicate_groups.show(groups, context(tmp_path, []))

    kept = lambda: [Path(p).name for p in read_keep_file(tmp_path / "duplicates-keep.csv")["path"]]  # noqa: E731
    a, b = create_user(), create_user()
    await a.open("/")
    await b.open("/")
    a.find(marker="keep-1").click()
    await a.should_see("c1.png is kept of group 1", retries=50)  # saved off the event loop
    assert kept() == ["c1.png"]
    b.find(marker="keep-2").click()
    await b.should_see("chosen meanwhile, in another tab or program", retries=50)
    assert kept() == ["c1.png"]
    await b.should_see(marker="kept-1")  # A's choice, now shown in B
    b.find(marker="keep-2").click()
    await b.should_see("c2.png is kept of group 1", retries=50)
    assert kept() == ["c2.png"]


@pytest.mark.anyio
async def test_quick_clicks_in_one_tab_are_all_saved_in_the_order_clicked(user: User, tmp_path):
    """Keep on c1, then at once Keep on c2, before the first save (off the event loop) is back:
    the second is the user's last word and is kept; it was dropped as if another tab had chosen."""
    groups = group_of_three(tmp_path)

    @ui.page("/")
    def page() -> None:
        duplicate_groups.show(groups, context(tmp_path, []))

    await user.open("/")
    user.find(marker="keep-1").click()
    user.find(marker="keep-2").click()
    await user.should_see("c2.png is kept of group 1", retries=50)
    await user.should_see(marker="kept-2")
    assert [Path(p).name for p in read_keep_file(tmp_path / "duplicates-keep.csv")["path"]] == ["c2.png"]
    assert not [m for m in user.notify.messages if "meanwhile" in m]


@pytest.mark.anyio
async def test_quick_decisions_in_the_queue_are_all_saved_in_the_order_clicked(user: User, tmp_path):
    from nodes.lib.classify.label_overrides import read_label_file
    from nodes.viewers.cleaning_labels import label_queue

    issues = synthetic_issues(tmp_path, [True, True, True, True], [0.9, 0.8, 0.7, 0.6])

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, []))

    await user.open("/")
    await user.should_see("0 decided · 4 flagged left", retries=50)
    user.find(marker="accept-0").click()
    user.find(marker="keep-label-1").click()
    user.find(marker="accept-2").click()
    await user.should_see("3 decided · 1 flagged left", retries=50)
    rows = read_label_file(tmp_path / "label-overrides.csv")
    assert rows[["path", "label"]].values.tolist() == [["a/i0.png", "b"], ["a/i1.png", "a"], ["a/i2.png", "b"]]
    assert not [m for m in user.notify.messages if "meanwhile" in m]
