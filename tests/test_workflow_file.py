"""Workflow files: deterministic, atomic saving; migrations of schema and node versions."""

import json
import os

import pytest

from flowclass.errors import WorkflowInvalid
from flowclass.workflow import Edge, PortRef, Workflow
from flowclass.workflow_file import (SCHEMA_VERSION, dumps, load, loads, migrate_document, save,
                                     new_node)
from tests.conftest import REPO


def _toy(registry):
    wf = Workflow(name="toy", description="adds")
    wf = wf.with_node(new_node(wf, registry.get("toy.number"), (0, 0), "a"))
    wf = wf.with_node(new_node(wf, registry.get("toy.add"), (200, 50.5), "sum"))
    return wf.with_edge(Edge(PortRef("a", "number"), PortRef("sum", "a")))


def test_ready_workflows_round_trip_byte_identical(registry, tmp_path):
    for path in sorted((REPO / "workflows").glob("*.json")):
        text = path.read_text(encoding="utf-8")
        workflow = load(path, registry)
        save(workflow, tmp_path / path.name)
        assert (tmp_path / path.name).read_text(encoding="utf-8") == text, path.name


def test_saving_is_deterministic_and_atomic(registry, tmp_path):
    wf = _toy(registry)
    target = tmp_path / "wf.json"
    save(wf, target)
    first = target.read_bytes()
    save(loads(first.decode(), registry), target)
    assert target.read_bytes() == first
    assert os.listdir(tmp_path) == ["wf.json"]  # no temporary file left behind
    doc = json.loads(first)
    assert list(doc) == ["schema_version", "name", "description", "nodes", "edges"]
    assert doc["nodes"][1]["params"] == {"scale": 1.0}  # defaults are written, by name
    assert doc["nodes"][1]["position"] == {"x": 200, "y": 50.5}


def test_node_type_migration_opens_a_file_of_an_older_version(registry):
    old = {"schema_version": 1, "nodes": [{"id": "v", "type": "toy.versioned", "version": 1,
                                           "params": {"k": 5}}], "edges": []}
    wf = loads(json.dumps(old), registry)
    spec = wf.node("v")
    assert spec.version == 2 and dict(spec.params) == {"count": 5}


def test_schema_migrations_run_in_order_and_newer_files_are_refused():
    # Schema 1 is the first published format; the mechanism is tested with a made-up
    # schema 2 whose migration renames a field, as the next real schema change will.
    def one_to_two(doc):
        doc["title"] = doc.pop("name", "")
        return doc

    doc = migrate_document({"schema_version": 1, "name": "x"}, {1: one_to_two}, current=2)
    assert doc == {"schema_version": 2, "title": "x"}
    with pytest.raises(WorkflowInvalid, match="newer FlowClass"):
        migrate_document({"schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(WorkflowInvalid, match="schema_version"):
        migrate_document({"nodes": []})


def test_broken_files_are_rejected_with_a_clear_message(tmp_path, registry):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1,\n "nodes": [}')
    with pytest.raises(WorkflowInvalid) as info:
        load(bad, registry)
    assert "not valid JSON" in str(info.value) and "line 2" in str(info.value)
    assert str(bad) in str(info.value)
    with pytest.raises(WorkflowInvalid, match="cannot read"):
        load(tmp_path / "missing.json", registry)
    structural = {"schema_version": 1, "nodes": [{"type": "toy.number"}, "x"], "edges": [{"from": "a"}]}
    with pytest.raises(WorkflowInvalid) as info:
        loads(json.dumps(structural))
    assert len(info.value.problems) == 3


def test_unknown_node_types_survive_a_round_trip(registry):
    doc = {"schema_version": 1, "nodes": [{"id": "x", "type": "someone.elses_node", "version": 3,
                                           "params": {"anything": [1, 2]}}], "edges": []}
    wf = loads(json.dumps(doc), registry)
    assert json.loads(dumps(wf))["nodes"][0]["params"] == {"anything": [1, 2]}


def test_edits_return_new_workflows(registry):
    wf = _toy(registry)
    moved = wf.moved("a", 10, 20)
    assert wf.node("a").position == (0.0, 0.0) and moved.node("a").position == (10.0, 20.0)
    assert moved.without_nodes({"a"}).edges == ()
    assert wf.new_id("a") == "a_2"
    replaced = wf.with_edge(Edge(PortRef("sum", "sum"), PortRef("sum", "a")))
    assert len(replaced.edges) == 1  # an input takes one edge: the old one is replaced
