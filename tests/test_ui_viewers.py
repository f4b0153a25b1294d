"""The viewer registry and the result viewers, on real data (user fixture)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from nicegui import ui
from nicegui.testing import User
from sklearn.datasets import load_iris

from flowclass.library import default_registry
from flowclass.viewers import Viewer, ViewerContext, viewer
from flowclass.viewers.registry import ViewerRegistry, default_viewers
from flowclass.viewers.tables import ROWS_PER_PAGE, page_rows


def make_context(tmp_path: Path, **changes) -> ViewerContext:
    fields = dict(node_id="n", port="out", data_type="table", workflow_dir=None, out_dir=tmp_path,
                  image_url=lambda path, sha256=None, size=160: f"/img/{Path(path).name}",
                  upstream=lambda name: None, set_params=lambda node, params: None,
                  run=lambda nodes: None, refresh=lambda: None, store_dir=lambda name: tmp_path)
    fields.update(changes)
    return ViewerContext(**fields)


def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


def test_lookup_by_type_predicate_and_order() -> None:
    shown: list[str] = []
    wide = viewer("table", "Wide", applies=lambda t: t.shape[1] > 3, order=10)(lambda v, c: shown.append("w"))
    narrow = viewer("table", "Narrow", applies=lambda t: t.shape[1] <= 3)(lambda v, c: None)
    registry = ViewerRegistry([narrow, wide])
    found = registry.for_value("table", iris())
    assert [v.title for v in found] == ["Wide"]
    assert [v.title for v in registry.for_value("table", iris().iloc[:, :2])] == ["Narrow"]
    assert registry.for_value("labels", iris()) == []  # no fallback given


def test_default_registry_falls_back_to_table_or_summary() -> None:
    registry = default_viewers(default_registry())
    assert [v.title for v in registry.for_value("table", iris())] == ["Table"]

    class HasTable:
        def to_table(self) -> pd.DataFrame:
            return iris()

    assert [v.title for v in registry.for_value("new_type", HasTable())] == ["Table"]
    assert [v.title for v in registry.for_value("new_type", object())] == ["Value"]


def test_module_without_viewers_list_is_refused() -> None:
    with pytest.raises(ValueError, match="VIEWERS list"):
        ViewerRegistry.of(["flowclass.viewers"])


def test_page_rows_are_json_safe_and_paged() -> None:
    table = iris()
    table.loc[3, "sepal length (cm)"] = float("nan")
    first = page_rows(table, 1)
    assert len(first) == ROWS_PER_PAGE
    assert first[3]["sepal length (cm)"] is None
    last = page_rows(table, 3)
    assert len(last) == len(table) - 2 * ROWS_PER_PAGE
    assert last[-1]["target"] == int(table["target"].iloc[-1])


@pytest.mark.anyio
@pytest.mark.slow
async def test_table_viewer_pages_and_downloads_csv(user: User, tmp_path: Path) -> None:
    table = iris()
    (table_viewer,) = default_viewers(default_registry()).for_value("table", table)
    assert isinstance(table_viewer, Viewer)

    @ui.page("/")
    def page() -> None:
        table_viewer.show(table, make_context(tmp_path))

    await user.open("/")
    await user.should_see("150 rows × 5 columns")
    (grid,) = user.find(ui.table).elements
    assert grid.rows[0]["petal width (cm)"] == pytest.approx(table.iloc[0, 3])
    user.find(ui.pagination).elements.pop().set_value(3)
    assert len(grid.rows) == 150 - 2 * ROWS_PER_PAGE
    user.find("Download CSV").click()
    response = await user.download.next()
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(response.content)), table)


def test_viewer_actions_name_declared_parameters(tmp_path: Path) -> None:
    from nodes.clustering import CUT, DISTANCE, hierarchical_clustering
    from nodes.pixel_samples import MASKS

    edits: list[tuple[str, dict]] = []
    params = hierarchical_clustering.default_params()
    ctx = make_context(tmp_path, node_params=params, set_params=lambda node, p: edits.append((node, p)))
    assert ctx.declares(CUT, DISTANCE) and not ctx.declares(MASKS)
    assert ctx.param(CUT) == "n_clusters"
    ctx.apply_params((CUT, "distance"), (DISTANCE, 2.5))
    assert edits == [("n", {"cut": "distance", "distance": 2.5})]
    with pytest.raises(TypeError, match="declaration"):
        ctx.apply_params(("cut", "distance"))
    with pytest.raises(ValueError, match="node 'n' has no parameter 'masks'"):
        ctx.apply_params((MASKS, "masks"))
    assert len(edits) == 1


def test_every_family_viewer_is_found_through_the_node_registry() -> None:
    viewers = default_viewers(default_registry())
    titles = {(v.data_type, v.title) for v in viewers.viewers}
    assert {("dendrogram", "Dendrogram"), ("evaluation", "Confusion matrix"), ("embeddings", "Map"),
            ("pixel_maps", "Original and classified"), ("pixel_samples", "Draw labels"),
            ("images", "Images"), ("table", "Table")} <= titles
    assert len(titles) == len(viewers.viewers)  # each viewer once
