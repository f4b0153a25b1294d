"""The cache under concurrency and corruption: a run's results are leased against eviction,
a damaged result is discarded with a warning naming it and made again, and a cache that
cannot be used makes the run go on without it, with one warning.

A real full disk (a tmpfs) is in tests/test_disk_full.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from classify_helpers import DIGITS_PIXELS, workflow
from flowclass.cache import Cache
from flowclass.engine import Engine
from flowclass.states import NodeState
from tests.conftest import REPO


def _toy_chain(registry):
    return workflow(registry, [("n", "toy.number", {"value": 7}), ("add", "toy.add", {"scale": 2.0})],
                    [("n.number", "add.a")])


def test_a_prune_during_a_run_never_removes_a_result_the_run_reads(registry, tmp_path):
    """`flowclass cache prune` (another process) between a cache hit and the node that
    reads it: the run used to fail with FileNotFoundError on outputs/.../value.json."""
    cache_dir = tmp_path / "cache"
    engine = Engine(registry, Cache(cache_dir))
    first = workflow(registry, [("n", "toy.number", {"value": 7}), ("other", "toy.number", {"value": 8})], [])
    assert engine.run(first, out_dir=tmp_path).ok
    del first
    pruned = []

    def prune_when_served_from_cache(event):
        if event.node == "n" and event.state == NodeState.CACHED:
            pruned.append(subprocess.run(
                [sys.executable, "-m", "flowclass.cli", "cache", "prune", "--cache", str(cache_dir),
                 "--cache-size", "0"], capture_output=True, text=True, timeout=120,
                env={**os.environ, "PYTHONPATH": str(REPO)}))

    result = Engine(registry, Cache(cache_dir)).run(_toy_chain(registry), out_dir=tmp_path,
                                                    on_event=prune_when_served_from_cache)
    assert pruned and pruned[0].returncode == 0, pruned
    assert "removed 1 node result(s)" in pruned[0].stdout  # 'other', not in use
    assert "kept 1 that a run is using" in pruned[0].stdout, pruned[0].stdout
    assert result.ok, [o.error for o in result.failed]
    assert result.outcomes["n"].state == NodeState.CACHED and result.output("add", "sum") == 14
    assert result.output("n", "number") == 7  # still readable after the run: still leased


def test_a_lease_ends_with_the_result_that_holds_it(tmp_path):
    cache = Cache(tmp_path / "c")
    stored = cache.put("ab" * 32, {"x": 1}, {})
    held = cache.get("ab" * 32)
    assert cache.prune(max_bytes=0)["in_use"] == 1 and cache.get("ab" * 32) is not None
    del stored
    assert cache.prune(max_bytes=0)["in_use"] == 1  # the other holder still reads it
    del held
    assert cache.prune(max_bytes=0)["removed"] == 1 and cache.get("ab" * 32) is None


def _images_workflow(registry, folder):
    return workflow(registry, [("import", "import_images", {"folder": str(folder)}),
                               ("embed", "embed", DIGITS_PIXELS)], [("import.images", "embed.images")])


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Six real digit images (sklearn's), as PNG files in two label folders."""
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    folder = tmp_path_factory.mktemp("digits")
    for i in range(6):
        (folder / str(data.target[i] % 2)).mkdir(exist_ok=True)
        Image.fromarray((data.images[i] * 255 / 16).astype(np.uint8)).save(
            folder / str(data.target[i] % 2) / f"d{i}.png")
    return folder


def _cut_in_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _same_size_garbage(path):
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def _recorded(path):
    """Record ``path``'s new size in its result's meta.json, as a writer that meant it would
    (another FlowClass version, a stranger's cache): only decoding can tell then."""
    entry = path.parents[2]
    meta = json.loads((entry / "meta.json").read_text())
    meta["contents"][path.relative_to(entry).as_posix()] = path.stat().st_size
    (entry / "meta.json").write_text(json.dumps(meta))


def _one_byte_flipped(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def _objects_inside(path):
    """An array of Python objects (a pickle inside the .npz), of its recorded size."""
    with open(path, "wb") as handle:
        np.savez(handle, **{"a0": np.array([{"x": 1}, None], dtype=object)})
    _recorded(path)


def _of_another_version(path):
    """The value of a type this FlowClass does not know, as another version may name it."""
    path.write_text(path.read_text().replace('"flowclass.ImageSet"', '"flowclass.ImageSetV9"'))
    _recorded(path)


DAMAGE = {
    "arrays.npz cut in half": ("outputs/images/arrays.npz", _cut_in_half),
    "value.json garbage": ("outputs/images/value.json", lambda p: p.write_text("{not json")),
    "value.json missing": ("outputs/images/value.json", lambda p: p.unlink()),
    "arrays.npz garbage of the same size": ("outputs/images/arrays.npz", _same_size_garbage),
    "meta.json garbage": ("meta.json", lambda p: p.write_text("\x00\x01 pickled?")),
    "arrays.npz with one byte flipped": ("outputs/images/arrays.npz", _one_byte_flipped),
    "arrays.npz holding Python objects": ("outputs/images/arrays.npz", _objects_inside),
    "value.json of another version": ("outputs/images/value.json", _of_another_version),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_result_is_discarded_with_a_warning_naming_it_and_made_again(
        registry, digits, tmp_path, kind):
    engine = Engine(registry, Cache(tmp_path / "cache"))
    wf = _images_workflow(registry, digits)
    first = engine.run(wf, out_dir=tmp_path)
    assert first.ok
    vectors = first.output("embed", "embeddings").vectors
    entry = first.cache._folder(first.outcomes["import"].key)
    del first
    name, spoil = DAMAGE[kind]
    spoil(entry / name)
    engine.cache.discard(engine.cache._folder(engine.plan(wf, out_dir=tmp_path)["embed"].key))  # embed reads it

    again = engine.run(wf, out_dir=tmp_path)
    assert again.ok, [(o.node, o.error, o.traceback) for o in again.failed]
    warned = [w for o in again.outcomes.values() for w in o.warnings if str(entry) in w]
    assert len(warned) == 1 and "damaged" in warned[0], warned
    assert "ran again" in warned[0] or "runs again" in warned[0], warned
    assert again.outcomes["import"].state == NodeState.DONE  # made again
    np.testing.assert_array_equal(again.output("embed", "embeddings").vectors, vectors)
    third = engine.run(wf, out_dir=tmp_path)  # and stored whole again
    assert third.outcomes["import"].state == NodeState.CACHED
    assert not [w for o in third.outcomes.values() for w in o.warnings if "damaged" in w]


def _edited(path, old: str, new: str) -> None:
    """``path`` edited as a user, a sync tool or a bad disk might: still valid JSON, of the
    same size, with its modification time kept, so no check of size or time can tell."""
    before = path.stat()
    text = path.read_text()
    assert old in text and len(old) == len(new)
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_cached_value_edited_into_other_valid_json_is_not_served_but_made_again(registry, tmp_path):
    """A cached value.json that still parses but says something else (7 became 9) used to be
    served as the node's result: the node after it computed 2 * 9. Its digest tells it
    apart: the edited result is discarded with a warning naming the node, the node runs
    again, and the answer is the one a cold run gives."""
    engine = Engine(registry, Cache(tmp_path / "cache"))
    assert engine.run(_toy_chain(registry), out_dir=tmp_path).ok
    entry = engine.cache._folder(engine.plan(_toy_chain(registry), out_dir=tmp_path)["n"].key)
    _edited(entry / "outputs" / "number" / "value.json", "7", "9")
    changed = workflow(registry, [("n", "toy.number", {"value": 7}), ("add", "toy.add", {"scale": 3.0})],
                       [("n.number", "add.a")])  # so that add reads n's cached value

    again = engine.run(changed, out_dir=tmp_path)
    assert again.ok, [(o.node, o.error) for o in again.failed]
    assert again.output("add", "sum") == 21 and again.output("n", "number") == 7
    warned = [w for o in again.outcomes.values() for w in o.warnings if "damaged" in w]
    assert len(warned) == 1 and str(entry) in warned[0] and "'n' ran again" in warned[0], warned
    assert "value.json was changed" in warned[0], warned
    third = engine.run(changed, out_dir=tmp_path)  # stored whole again: served, no warning
    assert third.outcomes["n"].state == NodeState.CACHED and third.output("add", "sum") == 21
    assert not [w for o in third.outcomes.values() for w in o.warnings]


def test_a_damaged_value_found_by_a_viewer_is_discarded_so_that_the_next_run_makes_it_again(
        registry, tmp_path):
    """The canvas reads a node's value after its run (the results panel): one found damaged
    there used to stay in the cache, so the "Run the node again" its message asks for was a
    cache hit serving the same damaged files, for good. Found damaged, it is discarded."""
    from flowclass.cache_entry import CacheDamaged

    chain = _toy_chain(registry)
    engine = Engine(registry, Cache(tmp_path / "cache"))
    first = engine.run(chain, out_dir=tmp_path)
    entry = engine.cache._folder(first.outcomes["n"].key)
    _edited(entry / "outputs" / "number" / "value.json", "7", "9")
    shown = engine.run(chain, out_dir=tmp_path)  # a re-run answered from the cache
    assert shown.outcomes["n"].state == NodeState.CACHED
    with pytest.raises(CacheDamaged):
        shown.output("n", "number")
    again = engine.run(chain, out_dir=tmp_path)
    assert again.outcomes["n"].state != NodeState.CACHED
    assert again.output("n", "number") == 7


def test_a_result_stored_before_digests_were_kept_is_still_served(tmp_path):
    """Caches written by the previous FlowClass have sizes, no digests: still hits."""
    cache = Cache(tmp_path / "c")
    cache.put("cd" * 32, {"x": {"a": 1}}, {})
    meta_path = cache._folder("cd" * 32) / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["sha256"]
    meta_path.write_text(json.dumps(meta))
    assert cache.get("cd" * 32).output("x") == {"a": 1}


def test_a_cache_that_cannot_be_used_makes_the_run_go_on_without_it_with_one_warning(
        registry, digits, tmp_path):
    """Here a folder of the user's given to the engine as the cache (the command line
    refuses it earlier); a full disk does the same, see test_disk_full.py."""
    foreign = tmp_path / "not-a-cache"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep")
    result = Engine(registry, Cache(foreign)).run(_images_workflow(registry, digits), out_dir=tmp_path)
    assert result.ok, [(o.node, o.error) for o in result.failed]
    warnings = [w for o in result.outcomes.values() for w in o.warnings if "cache" in w]
    assert len(warnings) == 1 and "goes on without it" in warnings[0] and str(foreign) in warnings[0]
    assert sorted(p.name for p in foreign.iterdir()) == ["mine.txt"]
    assert result.output("embed", "embeddings").vectors.shape[0] == 6


def test_an_edited_result_of_a_node_that_writes_files_is_told_when_its_files_are_checked(registry, tmp_path):
    """A node that writes files has its cached outputs read to check its files are there
    (``outputs_exist``, as Export Pixels has): an edited output used to make it run again
    without a word; it is now told as damaged, naming the node, as any other read is."""
    from dataclasses import replace

    from flowclass.node import NodeType, Output
    from flowclass.workflow import NodeSpec, Workflow

    def seven(ctx):
        (ctx.out_dir / "seven.txt").write_text("7")
        ctx.wrote(ctx.out_dir / "seven.txt")
        return {"number": 7}

    number = registry.get("toy.number").output("number").type
    writer = NodeType(type="toy.write_seven", title="Write 7", category="Toy", run=seven,
                      outputs=(Output("number", number),), writes_files=True,
                      outputs_exist=lambda outputs, params: outputs["number"] == 7)
    mine = replace(registry, node_types={**registry.node_types, writer.type: writer})
    wf = Workflow(nodes=(NodeSpec(id="w", type=writer.type),))
    engine = Engine(mine, Cache(tmp_path / "cache"))
    first = engine.run(wf, out_dir=tmp_path)
    assert first.ok and first.outcomes["w"].state == NodeState.DONE
    entry = engine.cache._folder(first.outcomes["w"].key)
    del first
    _edited(entry / "outputs" / "number" / "value.json", "7", "9")

    again = engine.run(wf, out_dir=tmp_path)
    assert again.ok and again.outcomes["w"].state == NodeState.DONE and again.output("w", "number") == 7
    warned = [w for w in again.outcomes["w"].warnings if "damaged" in w]
    assert len(warned) == 1 and str(entry) in warned[0] and "'w' runs again" in warned[0], warned
