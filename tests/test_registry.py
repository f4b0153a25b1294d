"""The registry: declarations, plugins, and the catalogue every front end draws from."""

import json

import pytest

from flowclass.datatypes import DataType
from flowclass.library import default_registry
from flowclass.node import Input, NodeType, Output, node
from flowclass.params import Int
from flowclass.registry import Registry

T = DataType("t", "T", "#000000")


def test_built_in_nodes_are_registered_and_described(registry):
    for type_id in ("import_images", "sample_images", "embed", "distances",
                    "hierarchical_clustering", "export_folders", "save_table"):
        assert type_id in registry
    catalogue = registry.describe()
    json.dumps(catalogue)  # JSON-able, as the canvas needs
    titles = [t["title"] for t in catalogue["node_types"]]
    assert "Import Images" in titles and "Hierarchical Clustering" in titles
    assert "labels" in catalogue["compatible"]["labels"]
    assert "table" in catalogue["compatible"]["labels"]  # clusters can be saved as a table
    assert "images" in catalogue["compatible"]["labels"]  # clusters can become labels
    assert "distances" not in catalogue["compatible"]["embeddings"]


def test_declaration_errors_are_caught_up_front():
    run = lambda ctx, **kw: {}
    with pytest.raises(ValueError, match="distinct names"):
        NodeType(type="x", title="X", category="C", run=run, inputs=(Input("a", T),),
                 outputs=(Output("o", T),), params=(Int(name="a", default=1),))
    with pytest.raises(ValueError, match="lower_snake_case"):
        NodeType(type="Bad Id", title="X", category="C", run=run, outputs=(Output("o", T),))
    with pytest.raises(ValueError, match="migrations must cover"):
        NodeType(type="x", title="X", category="C", run=run, version=3, outputs=(Output("o", T),),
                 migrations={1: dict})


def test_run_signature_must_match_the_declaration():
    def run(ctx, *, a, count):
        return {"o": a * count}

    declared = dict(title="X", category="C", run=run, inputs=(Input("a", T),), outputs=(Output("o", T),))
    NodeType(type="fits", params=(Int(name="count", default=1),), **declared)  # fits
    with pytest.raises(ValueError, match=r"node type 'renamed'.*no argument for declared input/parameter 'n'"):
        NodeType(type="renamed", params=(Int(name="n", default=1),), **declared)
    with pytest.raises(ValueError, match=r"node type 'forgot'.*run\(\) needs 'count'"):
        NodeType(type="forgot", **declared)
    with pytest.raises(ValueError, match="run context as its first argument"):
        NodeType(type="no_ctx", title="X", category="C", run=lambda: {}, outputs=(Output("o", T),))

    @node(type="extra_default", title="X", category="C", outputs=[Output("o", T)])
    def extra(ctx, *, verbose=False):  # an undeclared argument with a default is fine
        return {"o": verbose}

    assert extra.type == "extra_default"


def test_duplicate_type_ids_are_refused():
    @node(type="dup", title="Dup", category="C", outputs=[Output("o", T)])
    def dup(ctx):
        return {"o": 1}

    with pytest.raises(ValueError, match="declared twice"):
        Registry.of([dup, dup])


def test_plugin_folder_adds_nodes_and_a_broken_plugin_is_reported(tmp_path):
    (tmp_path / "good.py").write_text(
        "from flowclass.datatypes import DataType\n"
        "from flowclass.node import node, Output\n"
        "X = DataType('plugin_x', 'X', '#123456')\n"
        "@node(type='plugin.hello', title='Hello', category='Plugins', outputs=[Output('x', X)])\n"
        "def hello(ctx):\n    return {'x': 1}\n"
        "NODES = [hello]\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('oops')\n")
    registry = default_registry([tmp_path])
    assert "plugin.hello" in registry
    assert len(registry.plugin_errors) == 1
    assert "broken.py" in str(registry.plugin_errors[0]) and "oops" in str(registry.plugin_errors[0])
    assert any(t.type == "plugin.hello" for _, types in registry.by_category() for t in types)


def test_families_list_their_viewers_beside_their_nodes(registry):
    import nodes.clustering
    import nodes.images

    assert nodes.clustering.VIEWERS == ["nodes.viewers.clustering"]
    assert not hasattr(nodes.images, "VIEWERS")  # images and tables use the generic viewers
    for name in ("nodes.viewers.clustering", "nodes.viewers.classification", "nodes.viewers.maps",
                 "nodes.viewers.pixels", "nodes.viewers.pixel_labels"):
        assert registry.viewers.count(name) == 1  # named by two families, collected once


def test_a_plugin_adds_a_viewer_and_a_bad_viewers_list_is_reported(tmp_path):
    (tmp_path / "shout.py").write_text(
        "from flowclass.datatypes import DataType\n"
        "from flowclass.node import Output, node\n"
        "from flowclass.viewers import viewer\n"
        "LOUD = DataType('plugin_loud', 'Loud', '#123456')\n"
        "@node(type='plugin.shout', title='Shout', category='Plugins', outputs=[Output('x', LOUD)])\n"
        "def shout(ctx):\n    return {'x': 'HI'}\n"
        "@viewer(LOUD, 'Shout')\n"
        "def show(value, ctx):\n    pass\n"
        "NODES = [shout]\nVIEWERS = [show]\n")
    (tmp_path / "mumble.py").write_text(
        "from flowclass.node import Output, node\n"
        "from flowclass.datatypes import DataType\n"
        "Q = DataType('plugin_quiet', 'Quiet', '#654321')\n"
        "@node(type='plugin.mumble', title='Mumble', category='Plugins', outputs=[Output('x', Q)])\n"
        "def mumble(ctx):\n    return {'x': '...'}\n"
        "NODES = [mumble]\nVIEWERS = [42]\n")
    registry = Registry()
    registry.add_plugin_folder(tmp_path)
    (shout,) = [v for v in registry.viewers if not isinstance(v, str)]
    assert (shout.data_type, shout.title) == ("plugin_loud", "Shout")
    assert "plugin.shout" in registry and "plugin.mumble" not in registry  # nothing half-added
    (error,) = registry.plugin_errors
    assert "mumble.py" in str(error) and "VIEWERS" in str(error)
