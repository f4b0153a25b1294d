"""Distances and hierarchical clustering, checked against SciPy and scikit-learn."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, silhouette_samples

from flowclass.context import RunContext
from nodes.clustering import cut_height, hierarchical_clustering, name_clusters, silhouettes
from nodes.datatypes import Distances, Embeddings, ImageSet
from nodes.distances import distances
from nodes.lib.clustering.condensed import condensed_rows, pairwise_condensed


def ctx(tmp_path):
    return RunContext("n", tmp_path, tmp_path, lambda name: tmp_path / name)


def images(n, labels=None):
    text = np.array([f"/x/{i}.png" for i in range(n)])
    return ImageSet(text, np.array(labels if labels is not None else [""] * n), text,
                    np.ones(n, dtype=np.int32), np.ones(n, dtype=np.int32), "/x")


EXACT = {"method": "auto", "exact_up_to": 10_000}


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.data[:400], data.target[:400]


@pytest.mark.parametrize("metric,scipy_name", [("cosine", "cosine"), ("euclidean", "euclidean"),
                                               ("manhattan", "cityblock")])
def test_block_distances_equal_scipy(digits, metric, scipy_name):
    x, _ = digits
    got = pairwise_condensed(x, metric, block=64)
    assert np.allclose(got, pdist(x, scipy_name), atol=1e-9)
    square = condensed_rows(got, len(x), np.arange(len(x)))
    assert np.allclose(square, square.T) and np.all(np.diag(square) == 0)


def test_all_zero_rows_do_not_break_cosine(tmp_path):
    vectors = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=np.float32)
    c = ctx(tmp_path)
    out = distances(c, embeddings=Embeddings(images(4), vectors), metric="cosine", centre=False)
    square = out["distances"].square()
    assert np.isfinite(square).all()
    assert square[0, 1] == 1.0 and square[1, 3] == 0.0 and square[0, 2] == pytest.approx(1.0)
    assert c.warnings and "all-zero" in c.warnings[0]


def test_centring_changes_cosine_but_not_euclidean(digits, tmp_path):
    x, _ = digits
    emb = Embeddings(images(len(x)), x.astype(np.float32))
    plain = distances(ctx(tmp_path), embeddings=emb, metric="cosine", centre=False)["distances"]
    centred = distances(ctx(tmp_path), embeddings=emb, metric="cosine", centre=True)["distances"]
    assert np.allclose(centred.condensed(), pdist(x - x.mean(0), "cosine"))
    assert not np.allclose(plain.condensed(), centred.condensed())
    e1 = distances(ctx(tmp_path), embeddings=emb, metric="euclidean", centre=False)["distances"]
    e2 = distances(ctx(tmp_path), embeddings=emb, metric="euclidean", centre=True)["distances"]
    assert np.allclose(e1.condensed(), e2.condensed())


def test_clusters_match_scipy_and_are_named_by_size(digits, tmp_path):
    x, y = digits
    condensed = pdist(x, "euclidean")
    d = Distances(images(len(x), [str(v) for v in y]), x, "euclidean", centre=False)
    out = hierarchical_clustering(ctx(tmp_path), distances=d, linkage="ward", cut="n_clusters",
                                  n_clusters=10, height_ratio=0.7, distance=1.0, **EXACT)
    clusters = out["clusters"]
    expected = fcluster(linkage(condensed, "ward"), 10, "maxclust")
    assert adjusted_rand_score(expected, clusters.labels) == 1.0
    assert adjusted_rand_score(y, clusters.labels) > 0.6  # ward on raw digit pixels is decent
    sizes = out["sizes"]
    assert sizes["cluster"].tolist() == [f"C{i}" for i in range(1, 11)]
    assert sizes["size"].is_monotonic_decreasing and sizes["size"].sum() == len(x)
    assert np.allclose(clusters.scores, silhouette_samples(
        condensed_rows(condensed, len(x), np.arange(len(x))), clusters.labels, metric="precomputed"))
    tree = out["dendrogram"]
    z = tree.linkage
    assert z[-10, 2] <= tree.cut_height <= z[-9, 2]


def test_cut_by_height_ratio_and_distance(digits, tmp_path):
    x, _ = digits
    condensed = pdist(x, "euclidean")
    d = Distances(images(len(x)), x, "euclidean", centre=False)
    z = linkage(condensed, "average")
    top = hierarchical_clustering(ctx(tmp_path), distances=d, linkage="average", cut="height_ratio",
                                  n_clusters=2, height_ratio=0.99, distance=1.0, **EXACT)["clusters"]
    assert len(set(top.labels)) == len(set(fcluster(z, 0.99 * z[-1, 2], "distance")))
    fine = hierarchical_clustering(ctx(tmp_path), distances=d, linkage="average", cut="distance",
                                   n_clusters=2, height_ratio=0.5, distance=10.0, **EXACT)["clusters"]
    assert len(set(fine.labels)) == len(set(fcluster(z, 10.0, "distance"))) > 10


def test_naming_helpers():
    assert name_clusters(np.array([3, 3, 1, 2, 2, 2])).tolist() == ["C2", "C2", "C3", "C1", "C1", "C1"]
    z = linkage(pdist(np.arange(5.0)[:, None]), "single")
    assert cut_height(z, 1) > z[-1, 2] and cut_height(z, 5) == 0.0
    assert np.isnan(silhouettes(np.array([1.0]), np.array(["C1", "C1"]))).all()


def test_more_clusters_than_images_is_a_clear_error(tmp_path):
    from flowclass.errors import NodeError

    d = Distances(images(3), np.eye(3), "euclidean")
    with pytest.raises(NodeError) as info:
        hierarchical_clustering(ctx(tmp_path), distances=d, linkage="ward", cut="n_clusters",
                                n_clusters=5, height_ratio=0.7, distance=1.0, **EXACT)
    assert info.value.field == "n_clusters"


def test_agreement_of_clusters_with_folder_labels():
    """Purity and ARI against labels, on a real split of sklearn's digits."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits
    from sklearn.metrics import adjusted_rand_score

    from nodes.lib.clustering.agreement import agreement, has_known_labels

    digits = load_digits()
    x, y = digits.data[:300], digits.target[:300].astype(str)
    clusters = np.array([f"C{k + 1}" for k in KMeans(10, n_init=3, random_state=0).fit_predict(x)])
    labels = y.copy()
    labels[:10] = ""  # unlabelled images are left out
    found = agreement(clusters, labels, order=[f"C{k}" for k in range(1, 11)])
    assert found.images == 290
    assert found.table["cluster"].tolist() == [f"C{k}" for k in range(1, 11)]
    assert found.ari == pytest.approx(adjusted_rand_score(y[10:], clusters[10:]))
    assert 0.5 < found.purity <= 1
    per_cluster = found.table.set_index("cluster")
    biggest = per_cluster[sorted(set(y))].max(axis=1)
    assert (per_cluster["purity"] == (biggest / per_cluster["images"]).round(4)).all()
    assert found.table["images"].sum() == 290
    # the same clusters as the labels: pure and perfect
    same = agreement(y, y)
    assert same.purity == 1.0 and same.ari == 1.0
    assert has_known_labels(y) and not has_known_labels(np.array(["", "", "a"]))


def cluster_digits(tmp_path, x, y, method, exact_up_to=10_000, linkage_name="ward"):
    c = ctx(tmp_path)
    d = distances(c, embeddings=Embeddings(images(len(x), [str(v) for v in y]), x.astype(np.float32)),
                  metric="cosine", centre=True)["distances"]
    out = hierarchical_clustering(c, distances=d, linkage=linkage_name, cut="n_clusters",
                                  n_clusters=10, height_ratio=0.7, distance=1.0, method=method,
                                  exact_up_to=exact_up_to)
    return out, c


def test_a_shared_workflow_cannot_ask_for_an_exact_tree_of_any_size(registry, tmp_path, monkeypatch):
    """Exact clustering holds all n(n-1)/2 distances and SciPy's copy of them (measured 9 bytes
    per n squared): a shared workflow's ``exact_up_to`` of a billion (or the exact method) made
    100,000 images cost some 86 GB. ``exact_up_to`` is refused before anything runs, naming the
    node, the field and what is allowed; the exact method on more images than that stops before
    a distance is computed, naming the field and what to choose."""
    import json

    from flowclass.errors import NodeError
    from flowclass.validation import validate
    from flowclass.workflow_file import loads
    from nodes.clustering import EXACT_AT_MOST

    doc = {"schema_version": 1, "nodes": [{"id": "c", "type": "hierarchical_clustering",
                                           "params": {"exact_up_to": 10**9}}]}
    problems = [p for p in validate(loads(json.dumps(doc), registry), registry) if p.code == "bad_value"]
    assert [(p.node, p.field) for p in problems] == [("c", "exact_up_to")]
    assert f"[2, {EXACT_AT_MOST}]" in str(problems[0]) and "1000000000" in str(problems[0])

    n = EXACT_AT_MOST + 1
    many = Distances(images(n), np.zeros((n, 2), dtype=np.float32), metric="euclidean")
    monkeypatch.setattr(Distances, "condensed", lambda *a, **k: pytest.fail("computed the distances"))
    with pytest.raises(NodeError) as refused:
        hierarchical_clustering(ctx(tmp_path), distances=many, linkage="ward", cut="n_clusters", n_clusters=10,
                                height_ratio=0.7, distance=1.0, method="exact", exact_up_to=10_000)
    assert refused.value.field == "method" and f"{n:,} images" in refused.value.message
    assert "nearest_neighbours" in refused.value.hint or "Scalable" in refused.value.hint


def test_automatic_method_switches_above_the_limit(tmp_path):
    """Up to ``exact_up_to`` images the tree is exact (equal to SciPy's); one image more and
    the scalable method runs, says so, records it, and still finds the digit classes."""
    data = load_digits()
    x, y = data.data[:600], data.target[:600]
    exact, c_exact = cluster_digits(tmp_path, x, y, "auto", exact_up_to=600)
    assert c_exact.records["method"] == "exact" and exact["dendrogram"].algorithm == "exact"
    assert not c_exact.warnings
    xc = x - x.mean(0)
    expected = fcluster(linkage(pdist(xc, "cosine"), "ward"), 10, "maxclust")
    assert adjusted_rand_score(expected, exact["clusters"].labels) == 1.0

    scalable, c_scal = cluster_digits(tmp_path, x, y, "auto", exact_up_to=599)
    assert c_scal.records["method"] == "nearest_neighbours"
    assert scalable["dendrogram"].algorithm == "nearest_neighbours"
    assert any("scalable" in w for w in c_scal.warnings)
    labels = scalable["clusters"].labels
    assert len(set(labels)) == 10 and adjusted_rand_score(y, labels) > 0.6
    # a tree over every image, with non-decreasing merge heights, cut where asked
    z = scalable["dendrogram"].linkage
    assert z.shape == (599, 4) and z[-1, 3] == 600 and np.all(np.diff(z[:, 2]) >= 0)
    assert len(set(fcluster(z, scalable["dendrogram"].cut_height, "distance"))) == 10
    # silhouettes estimated on a sample track the exact ones
    exact_scores = silhouette_samples(xc / np.linalg.norm(xc, axis=1, keepdims=True), labels)
    assert np.corrcoef(exact_scores, scalable["clusters"].scores)[0, 1] > 0.8


@pytest.mark.parametrize("linkage_name", ["average", "complete", "single", "weighted"])
def test_scalable_method_builds_a_full_tree_for_every_linkage(tmp_path, linkage_name):
    data = load_digits()
    x, y = data.data[:300], data.target[:300]
    out, c = cluster_digits(tmp_path, x, y, "nearest_neighbours", linkage_name=linkage_name)
    z = out["dendrogram"].linkage
    assert z.shape == (299, 4) and z[-1, 3] == 300 and np.all(np.diff(z[:, 2]) >= 0)
    assert len(out["clusters"].classes) == 10


@pytest.mark.slow
def test_approximate_neighbour_search_is_repeatable_and_finds_the_digits():
    """Above its size limit the neighbour graph is searched approximately (HNSW): the same
    features give the same tree, whatever OpenMP's thread count (which is left as it was),
    it finds nearly every true nearest neighbour, and the digits cluster as well as with
    the exact graph and about as well as exact Ward."""
    import faiss

    from nodes.lib.clustering.large_linkage import neighbour_graph, neighbour_linkage, project

    data = load_digits()
    x, y = data.data, data.target
    features = project(x, "cosine", True)
    threads = faiss.omp_get_max_threads()
    first = neighbour_linkage(features, "ward", exact_search_up_to=0)
    faiss.omp_set_num_threads(1)
    try:
        again = neighbour_linkage(features, "ward", exact_search_up_to=0)
    finally:
        faiss.omp_set_num_threads(threads)
    assert faiss.omp_get_max_threads() == threads
    assert np.array_equal(first, again)
    approximate, exact = neighbour_graph(features, exact_up_to=0), neighbour_graph(features)
    assert approximate.shape == exact.shape and approximate.nnz == exact.nnz == 10 * len(x)
    assert approximate.diagonal().sum() == 0  # nobody is its own neighbour
    assert approximate.multiply(exact).sum() / exact.sum() > 0.98
    xc = x - x.mean(0)
    ward = adjusted_rand_score(y, fcluster(linkage(pdist(xc, "cosine"), "ward"), 10, "maxclust"))
    graph = adjusted_rand_score(y, fcluster(neighbour_linkage(features, "ward"), 10, "maxclust"))
    found = adjusted_rand_score(y, fcluster(first, 10, "maxclust"))
    assert found > 0.7 and found >= graph - 0.02 and found >= ward - 0.05


@pytest.mark.slow
def test_projection_is_fitted_on_a_sample_and_copies_no_input_whole():
    """PCA fitted on a seeded sample, rows projected a block at a time: the projection
    needs a fraction of the input's memory (a copy would be all of it) and captures
    nearly the variance of a PCA fitted on every row."""
    import tracemalloc

    from nodes.lib.clustering.large_linkage import project

    data = load_digits()
    upsampled = np.kron(data.images, np.ones((2, 2))).reshape(len(data.images), -1)  # 256 values
    noise = np.random.default_rng(0).normal(0, 1, (5,) + upsampled.shape)
    x = (upsampled[None] + noise).reshape(-1, upsampled.shape[1]).astype(np.float32)  # 8,985 rows
    project(x[:700], "cosine", True, dimensions=32, fit_on=600, block=400)  # the modules it imports lazily
    tracemalloc.start()
    try:
        sampled = project(x, "cosine", True, dimensions=32, fit_on=600, block=400)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sampled.shape == (len(x), 32) and sampled.dtype == np.float32
    assert peak < 0.5 * x.nbytes
    assert np.array_equal(sampled, project(x, "cosine", True, dimensions=32, fit_on=600, block=400))
    whole = project(x, "cosine", True, dimensions=32, fit_on=len(x))
    assert sampled.var(axis=0).sum() > 0.98 * whole.var(axis=0).sum()


def test_sampled_silhouettes_equal_exact_ones_when_the_sample_is_everything():
    from nodes.lib.clustering.large_linkage import sampled_silhouettes

    data = load_digits()
    x = data.data[:500]
    labels = fcluster(linkage(x, "ward"), 8, "maxclust").astype(str)
    assert np.allclose(sampled_silhouettes(x, labels, reference=500), silhouette_samples(x, labels))


def test_distances_are_not_materialised_by_the_node(tmp_path):
    """The Distances value holds the vectors (no n^2 array); a huge one refuses a table."""
    x = np.random.default_rng(0).normal(size=(6000, 4)).astype(np.float32)
    d = distances(ctx(tmp_path), embeddings=Embeddings(images(len(x)), x), metric="cosine",
                  centre=True)["distances"]
    assert d.vectors is x
    with pytest.raises(ValueError, match="6,000 images"):
        d.to_table()


@pytest.mark.slow
def test_fewer_clusters_than_asked_is_said(tmp_path):
    """A folder of duplicates (the same photo saved six times, and another six times): asked for
    3 clusters, the tree can only give 2, and the export said nothing about the missing one."""
    import json

    import skimage.data
    from PIL import Image

    from flowclass.cli import main
    from flowclass.library import ready_workflows_dir

    folder = tmp_path / "duplicates"
    folder.mkdir()
    for name in ("coffee", "chelsea"):
        for copy in range(6):
            Image.fromarray(getattr(skimage.data, name)()).save(folder / f"{name} {copy}.png")
    out = tmp_path / "out"
    assert main(["run", str(ready_workflows_dir() / "cluster_folder.json"), "--set", f"import.folder={folder}",
                 "--set", "embed.backend=pixels", "--set", "cluster.n_clusters=3", "--out", str(out),
                 "--cache", str(tmp_path / "cache"), "-q"]) == 0
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))["nodes"]["cluster"]
    assert sorted(p.name for p in (out / "clusters").iterdir() if p.is_dir()) == ["C1", "C2"]
    assert any("asked for 3 clusters" in w and "2" in w and "identical" in w for w in run["warnings"]), run["warnings"]


def test_a_folder_of_one_photo_copied_clusters_without_warnings_from_the_libraries(tmp_path):
    """Four copies of one photo: matplotlib ('identical low and high ylims') and scikit-learn
    ('invalid value encountered in divide') printed warnings with source lines to the terminal."""
    import warnings

    import skimage.data
    from PIL import Image

    from flowclass.cli import main
    from flowclass.library import ready_workflows_dir

    folder = tmp_path / "copies"
    folder.mkdir()
    for copy in range(4):
        Image.fromarray(skimage.data.coffee()).save(folder / f"coffee {copy}.png")
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["run", str(ready_workflows_dir() / "cluster_folder.json"), "--set", f"import.folder={folder}",
                     "--set", "embed.backend=pixels", "--set", "cluster.n_clusters=1", "--out", str(out),
                     "--cache", str(tmp_path / "cache"), "-q"]) == 0
    assert (out / "dendrogram.png").is_file() and (out / "map.png").is_file()
    assert [str(w.message) for w in caught] == []


def test_distance_blocks_are_one_phase_a_log_tells_once(tmp_path):
    """An exact tree's distances, computed 512 rows at a time, are one phase counted in
    images: a log gets one line for them (it got one per block, about 40 at 20,000 images)
    and the terminal bar's rate and time left do not start over at each block."""
    import io

    from flowclass.progress import TerminalProgress

    data = load_digits()
    x = data.data[:1300]  # three blocks of rows
    events = []
    c = RunContext("cluster", tmp_path, tmp_path, lambda name: tmp_path / name, emit=events.append)
    hierarchical_clustering(c, distances=Distances(images(len(x)), x, "euclidean", centre=False),
                            linkage="ward", cut="n_clusters", n_clusters=10, height_ratio=0.7,
                            distance=1.0, **EXACT)
    phases = [e.message for e in events if e.message]
    assert [m for i, m in enumerate(phases) if i == 0 or phases[i - 1] != m] == ["distances", "linking", "scoring"]
    counted = [(e.done, e.total, e.unit) for e in events if e.message == "distances"]
    assert counted[-1] == (1300, 1300, "images") and all(t == 1300 for _, t, _ in counted)
    log = io.StringIO()  # not a terminal: one line a phase
    printer = TerminalProgress(stream=log)
    for event in events:
        printer(event)
    assert sum("distances" in line for line in log.getvalue().splitlines()) == 1
