"""The engine: order, caching, invalidation, failures, cancellation and the manifest."""

import json
from contextlib import contextmanager
from pathlib import Path
import threading

import pytest

from flowclass.engine import Engine
from flowclass.errors import WorkflowInvalid
from flowclass.workflow_file import loads


def workflow(registry, nodes, edges=()):
    doc = {"schema_version": 1, "name": "t", "nodes": nodes, "edges": [
        {"from": {"node": a, "port": b}, "to": {"node": c, "port": d}} for a, b, c, d in edges]}
    return loads(json.dumps(doc), registry)


def calls(cache):
    log = cache.root / "stores" / "toy" / "calls.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def engine(registry, cache):
    return Engine(registry, cache)


def chain(registry, value=2, scale=1.0):
    return workflow(registry, [
        {"id": "a", "type": "toy.number", "params": {"value": value}},
        {"id": "b", "type": "toy.number", "params": {"value": 10}},
        {"id": "s", "type": "toy.add", "params": {"scale": scale}},
        {"id": "d", "type": "toy.describe"},
    ], [("a", "number", "s", "a"), ("b", "number", "s", "b"), ("s", "sum", "d", "number")])


def test_runs_in_order_and_a_rerun_is_all_cache(engine, registry, cache, tmp_path):
    result = engine.run(chain(registry), out_dir=tmp_path / "out")
    assert result.ok and result.output("d", "words") == "the number is 12.0"
    assert calls(cache) == ["a", "b", "s", "d"]
    again = engine.run(chain(registry), out_dir=tmp_path / "out")
    assert again.ok and {o.state for o in again.outcomes.values()} == {"cached"}
    assert calls(cache) == ["a", "b", "s", "d"]  # nothing ran again
    assert again.output("d", "words") == "the number is 12.0"  # loaded from disk


def test_a_parameter_change_reruns_that_node_and_its_descendants_only(engine, registry, cache, tmp_path):
    engine.run(chain(registry), out_dir=tmp_path)
    result = engine.run(chain(registry, scale=2.0), out_dir=tmp_path)
    assert calls(cache)[4:] == ["s", "d"]
    assert result.outcomes["a"].state == "cached" and result.outcomes["s"].state == "done"
    assert result.output("d", "words") == "the number is 24.0"


def test_the_cache_survives_a_new_engine(registry, cache, tmp_path):
    Engine(registry, cache).run(chain(registry), out_dir=tmp_path)
    from flowclass.cache import Cache

    result = Engine(registry, Cache(cache.root)).run(chain(registry), out_dir=tmp_path)
    assert all(o.state == "cached" for o in result.outcomes.values())


def test_a_new_revision_of_a_node_type_reruns_it_and_what_follows(registry, cache, tmp_path):
    """A node whose results change with a new FlowClass (a better algorithm, the same
    parameters) declares a higher ``revision``: old cached results are not served for it."""
    import dataclasses

    from flowclass.registry import Registry

    Engine(registry, cache).run(chain(registry), out_dir=tmp_path)
    assert dataclasses.replace(registry.get("toy.number"), revision=0).revision == 0
    revised = Registry.of([dataclasses.replace(t, revision=2) if t.type == "toy.add" else t
                           for t in registry])
    result = Engine(revised, cache).run(chain(revised), out_dir=tmp_path)
    assert {n: o.state for n, o in result.outcomes.items()} == \
        {"a": "cached", "b": "cached", "s": "done", "d": "done"}
    again = Engine(revised, cache).run(chain(revised), out_dir=tmp_path)
    assert {o.state for o in again.outcomes.values()} == {"cached"}
    with pytest.raises(ValueError, match="revision"):
        dataclasses.replace(registry.get("toy.add"), revision=-1)


def test_a_changed_file_invalidates_the_node_that_reads_it(engine, registry, cache, tmp_path):
    source = tmp_path / "words.txt"
    source.write_text("hello")
    wf = workflow(registry, [{"id": "r", "type": "toy.read", "params": {"path": str(source)}}])
    assert engine.run(wf, out_dir=tmp_path).output("r", "words") == "hello"
    assert engine.run(wf, out_dir=tmp_path).outcomes["r"].state == "cached"
    source.write_text("hello, world")
    result = engine.run(wf, out_dir=tmp_path)
    assert result.outcomes["r"].state == "done" and result.output("r", "words") == "hello, world"


def test_relative_input_paths_resolve_against_the_workflow_folder(engine, registry, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "w.txt").write_text("shared with the workflow")
    wf = workflow(registry, [{"id": "r", "type": "toy.read", "params": {"path": "data/w.txt"}},
                             {"id": "w", "type": "toy.write", "params": {"path": "sub/out.txt"}}],
                  [("r", "words", "w", "words")])
    result = engine.run(wf, base_dir=tmp_path, out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "sub" / "out.txt").read_text() == "shared with the workflow"
    assert result.outcomes["r"].params["path"] == str((tmp_path / "data" / "w.txt").resolve())


def test_a_failure_names_the_node_and_independent_branches_finish(engine, registry, cache, tmp_path):
    wf = workflow(registry, [
        {"id": "a", "type": "toy.number"},
        {"id": "bad", "type": "toy.fail", "params": {"why": "testing"}},
        {"id": "after", "type": "toy.describe"},
        {"id": "boom", "type": "toy.crash"},
        {"id": "fine", "type": "toy.describe"},
    ], [("a", "number", "bad", "number"), ("bad", "number", "after", "number"),
        ("a", "number", "boom", "number"), ("a", "number", "fine", "number")])
    events = []
    result = engine.run(wf, out_dir=tmp_path, on_event=events.append)
    assert not result.ok
    bad = result.outcomes["bad"]
    assert (bad.state, bad.error, bad.field, bad.hint) == ("failed", "failed because testing", "why",
                                                            "change 'why'")
    assert result.outcomes["after"].state == "skipped"
    boom = result.outcomes["boom"]
    assert boom.state == "failed" and "ZeroDivisionError" in boom.error and "Traceback" in boom.traceback
    assert result.outcomes["fine"].state == "done"
    assert ("bad", "failed") in [(e.node, e.state) for e in events]
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["ok"] is False and manifest["nodes"]["boom"]["traceback"]


def test_a_node_left_out_names_the_one_it_waited_for_by_its_title(engine, registry, tmp_path):
    """The canvas showed "not run because 'train' did not finish" under Predict, where the node
    that failed reads "My model" (its title; its type's, untitled): the id is shown nowhere."""
    toy_fail = registry.get("toy.fail").title
    wf = workflow(registry, [
        {"id": "a", "type": "toy.number"},
        {"id": "bad", "type": "toy.fail", "params": {"why": "testing"}, "title": "My step"},
        {"id": "after", "type": "toy.describe"},
        {"id": "bad2", "type": "toy.fail", "params": {"why": "testing"}},
        {"id": "after2", "type": "toy.describe"},
    ], [("a", "number", "bad", "number"), ("bad", "number", "after", "number"),
        ("a", "number", "bad2", "number"), ("bad2", "number", "after2", "number")])
    result = engine.run(wf, out_dir=tmp_path)
    assert result.outcomes["after"].error == "not run because My step did not finish"
    assert result.outcomes["after2"].error == f"not run because {toy_fail} did not finish"


def test_an_invalid_workflow_runs_nothing(engine, registry, cache, tmp_path):
    wf = workflow(registry, [{"id": "a", "type": "toy.number", "params": {"value": "x"}},
                             {"id": "d", "type": "toy.describe"}])
    with pytest.raises(WorkflowInvalid) as info:
        engine.run(wf, out_dir=tmp_path)
    assert len(info.value.problems) == 2
    assert calls(cache) == [] and not (tmp_path / "run.json").exists()


def test_targets_run_only_what_they_need(engine, registry, cache, tmp_path):
    result = engine.run(chain(registry), out_dir=tmp_path, targets=["s"])
    assert set(result.outcomes) == {"a", "b", "s"} and calls(cache) == ["a", "b", "s"]


def test_manifest_records_versions_timings_and_cache_hits(engine, registry, tmp_path):
    engine.run(chain(registry), out_dir=tmp_path, source="chain.json", overrides=["a.value=2"])
    result = engine.run(chain(registry), out_dir=tmp_path, source="chain.json")
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["generator"] == "flowclass" and manifest["packages"]["numpy"]
    assert manifest["workflow"]["path"] == "chain.json"
    assert manifest["nodes"]["s"]["state"] == "cached"
    assert manifest["nodes"]["s"]["key"] == result.outcomes["s"].key
    assert "seconds" in manifest["nodes"]["a"] and manifest["workflow"]["document"]["nodes"]


def test_a_foreign_run_json_is_never_overwritten(engine, registry, cache, tmp_path):
    (tmp_path / "run.json").write_text('{"mine": true}')
    with pytest.raises(FileExistsError):
        engine.run(chain(registry), out_dir=tmp_path)
    assert (tmp_path / "run.json").read_text() == '{"mine": true}' and calls(cache) == []


def test_a_run_json_edited_by_hand_is_never_overwritten(engine, registry, cache, tmp_path):
    """A run.json FlowClass wrote is replaced only as it wrote it: one the user added notes to
    was replaced by the next run there as if it were FlowClass's. (Copies, moves and older
    versions' run.json: tests/test_run_json_ownership.py.)"""
    out = tmp_path / "out"
    engine.run(chain(registry), out_dir=out)
    engine.run(chain(registry), out_dir=out)  # an unchanged re-run replaces its own
    manifest = json.loads((out / "run.json").read_text())
    edited = json.dumps({**manifest, "note": "the good run: keep"}, indent=2) + "\n"
    (out / "run.json").write_text(edited)
    with pytest.raises(FileExistsError, match="run.json"):
        engine.run(chain(registry), out_dir=out)
    assert (out / "run.json").read_text() == edited


def test_a_run_json_or_skipped_csv_made_by_someone_else_as_the_run_ends_is_never_replaced(
        engine, registry, cache, tmp_path, monkeypatch):
    """run.json and skipped.csv are looked for, then written: one of the user's (another
    program's) made between the two was replaced by the run's."""
    import flowclass.manifest as manifest

    write, place = manifest.atomic_write_text, manifest.atomic_path

    def theirs_made(path):
        if not Path(path).exists():
            Path(path).write_text("theirs")

    def made_meanwhile(path, text, **options):
        theirs_made(path)
        write(path, text, **options)

    @contextmanager
    def placed_meanwhile(path, **options):
        with place(path, **options) as tmp:
            yield tmp
            theirs_made(path)

    monkeypatch.setattr(manifest, "atomic_write_text", made_meanwhile)
    monkeypatch.setattr(manifest, "atomic_path", placed_meanwhile)
    with pytest.raises(FileExistsError, match="run.json"):
        engine.run(chain(registry), out_dir=tmp_path)
    assert (tmp_path / "run.json").read_text() == (tmp_path / "skipped.csv").read_text() == "theirs"


def test_a_node_that_writes_files_reruns_when_its_files_are_gone(engine, registry, cache, tmp_path):
    wf = workflow(registry, [{"id": "a", "type": "toy.number"}, {"id": "d", "type": "toy.describe"},
                             {"id": "w", "type": "toy.write", "params": {"path": "x.txt"}}],
                  [("a", "number", "d", "number"), ("d", "words", "w", "words")])
    engine.run(wf, out_dir=tmp_path)
    assert engine.run(wf, out_dir=tmp_path).outcomes["w"].state == "cached"
    (tmp_path / "x.txt").unlink()
    result = engine.run(wf, out_dir=tmp_path)
    assert result.outcomes["w"].state == "done" and (tmp_path / "x.txt").exists()
    assert result.outcomes["d"].state == "cached"
    (tmp_path / "x.txt").write_text("changed by hand")
    assert engine.run(wf, out_dir=tmp_path).outcomes["w"].state == "done"
    assert (tmp_path / "x.txt").read_text() == "the number is 1"
    assert engine.run(wf, out_dir=tmp_path).outcomes["w"].state == "cached"


def test_cancel_stops_the_run(engine, registry, tmp_path):
    wf = workflow(registry, [{"id": "a", "type": "toy.number"},
                             {"id": "slow", "type": "toy.wait", "params": {"steps": 5000}},
                             {"id": "d", "type": "toy.describe"}],
                  [("a", "number", "slow", "number"), ("slow", "number", "d", "number")])
    cancel = threading.Event()

    def on_event(event):
        if event.node == "slow" and event.state == "progress" and (event.done or 0) > 10:
            cancel.set()

    result = engine.run(wf, out_dir=tmp_path, on_event=on_event, cancel=cancel)
    assert result.outcomes["slow"].state == "cancelled"
    assert result.outcomes["d"].state == "cancelled" and not result.ok


def test_progress_events_carry_fractions(engine, registry, tmp_path):
    wf = workflow(registry, [{"id": "a", "type": "toy.number"},
                             {"id": "slow", "type": "toy.wait", "params": {"steps": 300}}],
                  [("a", "number", "slow", "number")])
    events = []
    engine.run(wf, out_dir=tmp_path, on_event=events.append)
    fractions = [e.fraction for e in events if e.node == "slow" and e.state == "progress"]
    assert fractions and all(0 <= f <= 1 for f in fractions)
    states = [e.state for e in events if e.node == "slow"]
    assert states[0] == "pending" and "running" in states and states[-1] == "done"


def test_status_tells_what_a_run_would_do_without_running(engine, registry, cache, tmp_path):
    assert engine.status(chain(registry), out_dir=tmp_path) == {
        "a": "pending", "b": "pending", "s": "pending", "d": "pending"}
    engine.run(chain(registry), out_dir=tmp_path)
    before = calls(cache)
    assert set(engine.status(chain(registry), out_dir=tmp_path).values()) == {"cached"}
    assert engine.status(chain(registry, scale=3.0), out_dir=tmp_path) == {
        "a": "cached", "b": "cached", "s": "pending", "d": "pending"}
    assert calls(cache) == before
    missing = workflow(registry, [{"id": "r", "type": "toy.read", "params": {"path": "/no/such"}},
                                  {"id": "w", "type": "toy.write"}], [("r", "words", "w", "words")])
    assert engine.status(missing, out_dir=tmp_path) == {"r": "failed", "w": "skipped"}


def test_release_drops_values_the_cache_can_give_back(engine, registry, tmp_path):
    result = engine.run(chain(registry), out_dir=tmp_path)
    assert result.release("s") and "s" not in result._values
    assert result.output("s", "sum") == 12.0  # read back from disk


def digits_clustering(registry, n_clusters=4):
    return workflow(registry, [
        {"id": "import", "type": "import_images", "params": {"sample": "digits", "max_per_label": 6}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels", "pixel_size": 8}},
        {"id": "distances", "type": "distances"},
        {"id": "cluster", "type": "hierarchical_clustering", "params": {"n_clusters": n_clusters}},
    ], [("import", "images", "embed", "images"), ("embed", "embeddings", "distances", "embeddings"),
        ("distances", "distances", "cluster", "distances")])


def test_a_node_that_is_not_cached_is_made_only_when_wanted(engine, registry, cache, tmp_path):
    """Distances only points at the embeddings (NodeType.cache False): it is never stored, runs
    when clustering needs it, and an unchanged re-run reports it cached without making it."""
    first = engine.run(digits_clustering(registry), out_dir=tmp_path)
    assert first.ok and first.outcomes["distances"].state == "done"
    assert cache.get(first.outcomes["distances"].key) is None  # nothing stored for it
    assert cache.get(first.outcomes["embed"].key) is not None

    again = engine.run(digits_clustering(registry), out_dir=tmp_path)
    assert {o.state for o in again.outcomes.values()} == {"cached"}
    assert "distances" not in again._values  # not made: nobody needed it
    assert engine.status(digits_clustering(registry), out_dir=tmp_path)["distances"] == "cached"
    made = again.output("distances", "distances")  # a viewer asks: made from the cached embeddings
    assert len(made) == 60 and made.vectors.shape == (60, 64)

    changed = engine.run(digits_clustering(registry, n_clusters=5), out_dir=tmp_path)
    assert changed.outcomes["distances"].state == "done"  # made again for the new clustering
    assert changed.outcomes["cluster"].state == "done"
    assert len(changed.output("cluster", "clusters").classes) == 5
    assert engine.status(digits_clustering(registry, n_clusters=6), out_dir=tmp_path) == {
        "import": "cached", "embed": "cached", "distances": "cached", "cluster": "pending"}


def test_a_node_that_is_not_cached_can_be_made_after_the_run_from_what_ran(engine, registry, tmp_path):
    """Run only the clustering on an empty cache: Embed runs and its values are let go; asking
    for Distances afterwards (a viewer) reads the embeddings back from the cache."""
    result = engine.run(digits_clustering(registry), out_dir=tmp_path, targets=["cluster"])
    assert result.ok and result.outcomes["embed"].state == "done"
    assert "embed" not in result._values
    assert len(result.output("distances", "distances")) == 60


@pytest.mark.slow
def test_a_deferred_node_keeps_its_inputs_in_memory_until_its_consumers_ran(engine, registry, cache, tmp_path, monkeypatch):
    """Embed -> Distances (deferred) -> clustering with only the table kept: the embeddings are
    not read back from the cache for Distances; they were held for it."""
    reads = []
    from flowclass.cache import CachedResult

    original = CachedResult.output
    monkeypatch.setattr(CachedResult, "output", lambda self, port: reads.append(port) or original(self, port))
    result = engine.run(digits_clustering(registry), out_dir=tmp_path, targets=["cluster"])
    assert result.ok and "embeddings" not in reads
