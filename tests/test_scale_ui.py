"""The canvas and export at 100,000 images: what the browser gets stays small, export
reports every file. Sizes are asserted, never times (benchmarks/canvas_scale.py times them)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from nodes.viewers import maps
from nodes.viewers.clustering import MAX_LEAVES, dendrogram_links
from nodes.viewers.maps import MAX_POINTS, chart_options, map_points, map_sample


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


def random_linkage(n: int, seed: int = 0) -> np.ndarray:
    """A valid SciPy linkage of ``n`` leaves: random pairs merged at rising heights."""
    rng = np.random.default_rng(seed)
    ids, sizes = list(range(n)), np.ones(2 * n - 1)
    z = np.empty((n - 1, 4))
    for k in range(n - 1):
        a = int(rng.integers(len(ids)))
        ids[a], ids[-1] = ids[-1], ids[a]
        i = ids.pop()
        b = int(rng.integers(len(ids)))
        ids[b], ids[-1] = ids[-1], ids[b]
        j = ids.pop()
        sizes[n + k] = sizes[i] + sizes[j]
        z[k] = (min(i, j), max(i, j), k + 1.0, sizes[n + k])
        ids.append(n + k)
    return z


def test_the_dendrogram_of_100000_images_shows_the_top_of_the_tree() -> None:
    n = 100_000
    z = random_linkage(n)
    labels = groups_of(n, count=5)
    links, leaves = dendrogram_links(z, labels, cut=n - 10.0)
    assert leaves == MAX_LEAVES and len(links) == MAX_LEAVES - 1  # the last merges only
    drawn = sorted(max(y for _x, y in link["coords"]) for link in links)
    assert drawn == sorted(z[-(MAX_LEAVES - 1):, 2].tolist())  # exactly the top merges


def test_export_reports_progress_for_every_file_and_appends_its_journal(tmp_path, monkeypatch) -> None:
    import hashlib

    from PIL import Image
    from skimage.data import astronaut

    from flowclass.context import RunContext
    from nodes.datatypes import ImageSet, Labelling
    from nodes.export import export_folders
    from nodes.lib.owned_files import OwnedFolder

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
