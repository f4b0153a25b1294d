"""The canvas and export at 100,000 images: what the browser gets stays small, export
reports every file. Sizes are asserted, never times (benchmarks/canvas_scale.py times them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster
from linkages import random_linkage
from sklearn.datasets import load_digits

from nodes.lib.clustering.tree_top import MERGES, tree_top
from nodes.viewers import maps
from nodes.viewers.clustering import clusters_at, dendrogram_options
from nodes.viewers.maps import MAX_POINTS, chart_options, map_points, map_sample

pytestmark = pytest.mark.slow  # 100,000 images: the full suite, not the quick loop


def groups_of(n: int, count: int = 46) -> np.ndarray:
    return np.array([f"C{k}" for k in np.random.default_rng(1).integers(1, count + 1, n)])


def test_a_map_of_100000_images_draws_a_sample_with_every_group() -> None:
    groups = groups_of(100_000)
    groups[12_345] = "rare"  # one image alone in its group still shows
    keep = map_sample(groups, MAX_POINTS)
    assert MAX_POINTS <= len(keep) <= MAX_POINTS + 47
    assert np.all(np.diff(keep) > 0) and keep[-1] < 100_000
    assert set(groups[keep].tolist()) == set(groups.tolist())
    smaller = map_sample(groups, 5_000)
    assert set(smaller.tolist()) <= set(keep.tolist())  # the t-SNE sample is part of the PCA one
    small = groups_of(300)
    assert map_sample(small, MAX_POINTS).tolist() == list(range(300))


def test_the_chart_of_a_big_map_holds_only_the_drawn_points() -> None:
    groups = groups_of(100_000, count=3)
    keep = map_sample(groups, MAX_POINTS)
    points = np.random.default_rng(0).normal(size=(len(keep), 2))
    names = [f"i{i}.png" for i in keep]
    options = chart_options(points, groups[keep], ["C1", "C2", "C3"], [f"/u/{i}" for i in keep], names, "Cluster")
    series = options["series"]
    assert sum(len(s["data"]) for s in series) == len(keep) < 100_000
    assert all(s["progressive"] for s in series)  # thousands of points per group: drawn in chunks
    first = series[0]["data"][0]
    assert first[2].startswith("/u/") and first[3].endswith(".png")  # hovering still shows an image


def test_slow_projections_are_fitted_on_a_sample(tmp_path, monkeypatch) -> None:
    digits = load_digits()
    vectors, groups = digits.data, digits.target.astype(str)
    monkeypatch.setattr(maps, "MAX_POINTS", 600)
    monkeypatch.setattr(maps, "MAX_FITTED", {"tsne": 200, "umap": 200})
    placed = map_points(vectors, groups, "pca", tmp_path)
    keep, points = placed.keep, placed.points
    assert 600 <= len(keep) <= 610 and points.shape == (len(keep), 2)
    again = maps.project(vectors[keep], "pca")
    np.testing.assert_allclose(points, again, rtol=1e-4, atol=1e-3)  # fitted on the hoverable points
    # every image is placed by that fit: the digits' classes stay apart on the whole map
    assert placed.every.shape == (len(vectors), 2)
    np.testing.assert_array_equal(placed.every[keep], points)
    centres = np.array([placed.every[groups == g].mean(axis=0) for g in sorted(set(groups))])
    spread = np.mean([placed.every[groups == g].std(axis=0).mean() for g in sorted(set(groups))])
    assert np.linalg.norm(centres - centres.mean(axis=0), axis=1).mean() > 0.5 * spread
    assert np.array_equal(map_points(vectors, groups, "pca", tmp_path).every, placed.every)  # from disk
    placed = map_points(vectors, groups, "tsne", tmp_path)
    keep = placed.keep
    assert 200 <= len(keep) <= 210 and placed.points.shape == (len(keep), 2)
    assert placed.every is None  # t-SNE cannot place the others: only the sample is drawn
    assert set(groups[keep].tolist()) == set(groups.tolist())


def test_the_chart_of_a_big_pca_map_draws_every_image_under_the_hoverable_sample() -> None:
    groups = groups_of(100_000, count=3)
    keep = map_sample(groups, MAX_POINTS)
    every = np.random.default_rng(0).normal(size=(100_000, 2)).astype(np.float32)
    names = [f"i{i}.png" for i in keep]
    options = chart_options(every[keep], groups[keep], ["C1", "C2", "C3"], [f"/u/{i}" for i in keep],
                            names, "Cluster", every, groups)
    hoverable = [s for s in options["series"] if not s.get("silent")]
    under = [s for s in options["series"] if s.get("silent")]
    assert sum(len(s["data"]) for s in hoverable) == len(keep)
    assert sum(len(s["data"]) for s in under) == 100_000 and all(s["large"] for s in under)
    assert [s["name"] for s in under] == [s["name"] for s in hoverable]  # one legend entry each
    assert all(len(point) == 2 for s in under for point in s["data"][:5])  # no URLs for the many
    # the wheel zooms and a drag pans, on both axes, never hiding points beyond one axis
    zooms = options["dataZoom"]
    assert {(z["type"], "xAxisIndex" in z, "yAxisIndex" in z) for z in zooms} == \
        {("inside", True, False), ("inside", False, True)}
    assert all(z["filterMode"] == "none" for z in zooms)


@pytest.fixture(scope="module")
def big_tree() -> np.ndarray:
    return random_linkage(100_000)


def drawn_leaf_of_each_image(z: np.ndarray, top) -> np.ndarray:
    """Which drawn leaf each image falls under, found by cutting the whole tree (SciPy's
    fcluster) into as many clusters as leaves are drawn: independent of the drawing."""
    flat = fcluster(z, len(top.leaves), "maxclust")
    leaf_of_flat = {flat[image]: i for i, image in enumerate(top.firsts)}
    assert len(leaf_of_flat) == len(top.leaves)  # one image of each leaf, each in its own cluster
    return np.array([leaf_of_flat[c] for c in flat])


def test_the_dendrogram_of_100000_images_shows_its_last_1000_merges_with_their_sizes(big_tree) -> None:
    z, n = big_tree, 100_000
    top = tree_top(z)
    assert top.truncated and len(top.leaves) == MERGES + 1 == 1_001 and len(top.links) == MERGES
    drawn = sorted(max(ys) for _xs, ys in top.links)
    assert drawn == sorted(z[-MERGES:, 2].tolist())  # exactly the last 1,000 merges
    # each branch cut off at the foot holds the images SciPy's own cut puts together
    leaf = drawn_leaf_of_each_image(z, top)
    assert top.sizes.tolist() == np.bincount(leaf, minlength=len(top.leaves)).tolist()
    assert top.sizes.sum() == n and top.sizes.max() > 1


def test_the_chart_of_a_big_dendrogram_shows_the_sizes_and_stays_small(big_tree) -> None:
    z = big_tree
    labels = np.array([f"C{c}" for c in fcluster(z, 12, "maxclust")])
    cut = float(z[-12, 2] + z[-11, 2]) / 2
    options = dendrogram_options(z, labels, cut)
    top = tree_top(z)
    (links,) = [s for s in options["series"] if s["type"] == "lines"]
    (bars,) = [s for s in options["series"] if s.get("name") == "images"]
    assert len(links["data"]) == MERGES and len(bars["data"]) == MERGES + 1
    assert [bar[1] for bar in bars["data"]] == top.sizes.tolist()  # a bar per branch: its images
    tips = [bar[2] for bar in bars["data"]]
    big = int(np.argmax(top.sizes))
    assert tips[big] == f"{top.sizes[big]:,} images"  # what hovering the bar says
    assert [bar[3] for bar in bars["data"]] == labels[top.firsts].tolist()  # and its cluster
    (names,) = [s for s in options["series"] if s.get("name") == "clusters"]
    shown = {item["name"] for item in names["data"]}
    counts = {c: int(np.sum(labels == c)) for c in set(labels.tolist())}
    assert shown == {f"{c} · {k:,}" for c, k in counts.items()}  # every cluster with its size
    assert len(json.dumps(options)) < 200_000  # what the browser gets for 100,000 images
    fine = float(z[-5_000, 2] + z[-4_999, 2]) / 2  # a cut below the foot splits some branches
    options = dendrogram_options(z, np.array([f"C{c}" for c in fcluster(z, 5_000, "maxclust")]), fine)
    split = top.heights() > fine
    assert 0 < split.sum() < len(split)
    assert [bar[3] == "" for bar in options["series"][2]["data"]] == split.tolist()  # no one cluster to name
    assert options["series"][-1]["data"] == []  # nor names under the tree


@pytest.mark.parametrize("k", [2, 12, 300, 1_001])
def test_cutting_the_drawn_top_makes_the_clusters_of_the_whole_tree(big_tree, k: int) -> None:
    z = big_tree
    height = float(z[-k, 2] + z[-k + 1, 2]) / 2
    whole = fcluster(z, height, "distance")
    top = tree_top(z)
    runs = top.runs_at(height)
    assert len(runs) == k == clusters_at(z, height) == len(set(whole.tolist()))
    run_of_leaf = np.empty(len(top.leaves), dtype=np.int64)
    for r, (start, stop) in enumerate(runs):
        run_of_leaf[start:stop] = r
    drawn = run_of_leaf[drawn_leaf_of_each_image(z, top)]
    pairs = set(zip(drawn.tolist(), whole.tolist()))
    assert len(pairs) == k  # each run of drawn branches is one cluster of the whole tree, and back


def test_a_chain_of_100000_merges_draws_without_running_out_of_stack() -> None:
    n = 100_000  # single linkage can add one image at a time: a tree 99,999 merges deep
    z = np.column_stack([np.r_[0, np.arange(2, n)], np.r_[1, np.arange(n, 2 * n - 2)],
                         np.arange(1, n, dtype=np.float64), np.arange(2, n + 1, dtype=np.float64)])
    top = tree_top(z)
    assert len(top.leaves) == MERGES + 1 and top.sizes.sum() == n
    assert sorted(top.sizes.tolist())[-1] == n - MERGES
    paths = [f"/photos/p{i:06d}.png" for i in range(n)]
    options = dendrogram_options(z, np.full(n, "C1"), float(z[-1, 2]) + 1, paths)
    tips = {bar[2] for bar in options["series"][2]["data"] if bar[1] == 1}
    assert tips == {f"p{i:06d}.png" for i in top.leaves if i < n} and len(tips) == MERGES  # one image: its name


def test_a_tree_of_fewer_than_1000_images_shows_every_image() -> None:
    from scipy.cluster.hierarchy import linkage

    z = linkage(load_digits().data[:900], "ward")
    top = tree_top(z)
    assert not top.truncated and sorted(top.leaves.tolist()) == list(range(900))
    assert set(top.sizes.tolist()) == {1}
    labels = np.array([f"C{c}" for c in fcluster(z, 5, "maxclust")])
    options = dendrogram_options(z, labels, float(z[-5, 2] + z[-4, 2]) / 2)
    assert not [s for s in options["series"] if s.get("name") == "images"]  # no size bars: each is one image


def test_dendrogram_png_of_100000_images_shows_the_same_top_with_sizes(big_tree, tmp_path) -> None:
    from nodes.lib.results.figures import dendrogram_figure, dendrogram_png

    z = big_tree
    labels = np.array([f"C{c}" for c in fcluster(z, 8, "maxclust")])
    cut = float(z[-8, 2] + z[-7, 2]) / 2
    figure = dendrogram_figure(z, cut, labels)
    tree_axes, size_axes = figure.axes
    assert "last 1,000 merges" in tree_axes.get_title() and "8 clusters" in tree_axes.get_title()
    heights = sorted(bar.get_height() for bar in size_axes.patches)
    assert heights == sorted(tree_top(z).sizes.tolist())
    texts = {t.get_text() for t in size_axes.texts}
    counts = {c: int(np.sum(labels == c)) for c in set(labels.tolist())}
    assert {f"{c}\n{k:,}" for c, k in counts.items() if k > 10_000} <= texts  # the big ones fit
    dendrogram_png(z, cut, labels, tmp_path / "dendrogram.png")
    assert (tmp_path / "dendrogram.png").stat().st_size > 10_000


def test_export_reports_progress_for_every_file_and_appends_its_journal(tmp_path, monkeypatch) -> None:
    import hashlib

    from PIL import Image
    from skimage.data import astronaut

    from flowclass.context import RunContext
    from nodes.datatypes import ImageSet, Labelling
    from nodes.export import export_folders
    from flowclass.userfiles.owned_folder import OwnedFolder

    photo, paths = astronaut(), []
    for i in range(12):
        path = tmp_path / "source" / f"img{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(photo[i * 30:i * 30 + 48, :48]).save(path)
        paths.append(str(path))
    shas = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]
    images = ImageSet(np.array(paths), np.array([""] * 12), np.array(shas), np.full(12, 48, dtype=np.int32),
                      np.full(12, 48, dtype=np.int32), str(tmp_path / "source"))
    labelling = Labelling(images, np.array(["a", "b"] * 6), np.linspace(0, 1, 12), kind="cluster")
    (tmp_path / "source" / "img4.png").unlink()  # gone since the import: skipped, still counted
    calls, events, rewrites = [], [], []
    ctx = RunContext("export", tmp_path, tmp_path, lambda name: tmp_path / name, emit=events.append)
    real_progress = ctx.progress
    monkeypatch.setattr(ctx, "progress", lambda done, total=None, **kw: (calls.append((done, total)),
                                                                          real_progress(done, total, **kw)))
    real_compact = OwnedFolder.compact
    monkeypatch.setattr(OwnedFolder, "compact", lambda self: (rewrites.append(1), real_compact(self)))
    result = export_folders(ctx, labels=labelling, folder=str(tmp_path / "out"), mode="copy", table="csv")
    assert len(result["exported"]) == 11
    assert [done for done, _ in calls] == list(range(13)) and {t for _, t in calls} == {12}
    assert events[-1].state == "progress" and (events[-1].done, events[-1].total) == (12, 12)
    assert len(rewrites) <= 2  # the journal is appended per file, compacted once at the end


def test_a_grid_of_100000_images_builds_one_page_only() -> None:
    from types import SimpleNamespace

    from flowclass.viewers.images import ALL, PER_PAGE, gallery_of_labelling, grid_html

    n = 100_000
    groups = groups_of(n)
    images = SimpleNamespace(paths=np.array([f"/photos/p{i:06d}.png" for i in range(n)]),
                             hashes=np.array([f"{i:064x}" for i in range(n)]), labels=np.full(n, ""))
    labelling = SimpleNamespace(images=images, labels=groups, scores=np.linspace(0, 1, n), kind="cluster",
                                classes=tuple(sorted(set(groups.tolist()))))
    gallery = gallery_of_labelling(labelling)
    counts = gallery.counts()
    assert sum(counts.values()) == n and counts["C7"] == int(np.sum(groups == "C7"))
    urls = []
    ctx = SimpleNamespace(image_url=lambda path, sha, size=160: urls.append(path) or f"/i/{sha[-6:]}")
    page = grid_html(gallery, gallery.members(ALL)[-PER_PAGE:], ctx, headed=True)
    assert page.count('class="fc-thumb"') == PER_PAGE == len(urls)  # thumbnails of one page only
