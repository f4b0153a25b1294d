"""The cache key: one function of a node's identity, the same keys as before it was pulled out."""

import json
from dataclasses import replace

from flowclass.cache_key import cache_key
from flowclass.engine import Engine
from flowclass.workflow_file import loads


def chain(registry):
    doc = {"schema_version": 1, "name": "t", "nodes": [
        {"id": "a", "type": "toy.number", "params": {"value": 2}},
        {"id": "b", "type": "toy.number", "params": {"value": 10}},
        {"id": "s", "type": "toy.add", "params": {"scale": 1.0}},
        {"id": "d", "type": "toy.describe"}], "edges": [
        {"from": {"node": a, "port": b}, "to": {"node": c, "port": d}} for a, b, c, d in
        [("a", "number", "s", "a"), ("b", "number", "s", "b"), ("s", "sum", "d", "number")]]}
    return loads(json.dumps(doc), registry)


def test_results_cached_before_keep_their_keys(registry, cache, tmp_path):
    """Pinned: the keys the engine made before cache_key() existed (a changed key makes every
    user's cache cold, so it must come with a new KEY_SCHEME)."""
    result = Engine(registry, cache).run(chain(registry), out_dir=tmp_path, manifest=False)
    assert result.outcomes["a"].key == "b06f1ae210076e6956f0dae08695a04aa298b9ff6b05a00fd2bad77602cc9325"
    assert result.outcomes["d"].key == "07899df92c065e4bc0009c135d7f911e79f62a465f2bfc40c7833fa80f723bd9"


def test_the_engine_keys_each_node_with_cache_key(registry, cache, tmp_path):
    result = Engine(registry, cache).run(chain(registry), out_dir=tmp_path, manifest=False)
    add, keys = registry.get("toy.add"), {n: o.key for n, o in result.outcomes.items()}
    sources = {"a": (keys["a"], "number"), "b": (keys["b"], "number")}
    assert keys["s"] == cache_key(add, result.outcomes["s"].params, sources, None)


def test_every_part_of_the_identity_changes_the_key(registry):
    add = registry.get("toy.add")
    params, sources = {"scale": 1.0}, {"a": ("k1", "number"), "b": None}
    key = cache_key(add, params, sources, None)
    assert cache_key(add, dict(params), dict(sources), None) == key
    variants = [
        cache_key(replace(add, version=add.version + 1, migrations={add.version: dict}), params, sources, None),
        cache_key(replace(add, revision=add.revision + 1), params, sources, None),
        cache_key(replace(add, type="toy.other"), params, sources, None),
        cache_key(add, {"scale": 2.0}, sources, None),
        cache_key(add, params, {"a": ("k2", "number"), "b": None}, None),
        cache_key(add, params, {"a": ("k1", "other"), "b": None}, None),
        cache_key(add, params, {"a": ("k1", "number"), "b": ("k1", "number")}, None),
        cache_key(add, params, sources, "files changed"),
    ]
    assert len({key, *variants}) == len(variants) + 1
