"""Validation: every kind of problem is found, all at once, naming node and field."""

import json

from flowclass.validation import validate
from flowclass.workflow_file import loads


def _problems(registry, nodes, edges=()):
    doc = {"schema_version": 1, "nodes": nodes, "edges": [
        {"from": {"node": a, "port": b}, "to": {"node": c, "port": d}} for a, b, c, d in edges]}
    return validate(loads(json.dumps(doc), registry), registry)


def codes(problems):
    return sorted((p.code, p.node, p.field) for p in problems)


def test_a_valid_workflow_has_no_problems(registry):
    assert _problems(registry, [{"id": "a", "type": "toy.number"}, {"id": "s", "type": "toy.add"}],
                     [("a", "number", "s", "a")]) == []


def test_every_problem_is_reported_at_once(registry):
    problems = _problems(
        registry,
        [
            {"id": "a", "type": "toy.number", "params": {"value": 5000, "colour": "red"}},
            {"id": "s", "type": "toy.add", "params": {"scale": "big"}},
            {"id": "w", "type": "toy.describe"},
            {"id": "ghost", "type": "no.such_type"},
            {"id": "r", "type": "toy.read", "params": {"path": 3}},
            {"id": "p", "type": "toy.describe", "params": {"style": "whisper"}},
        ],
        [
            ("a", "number", "s", "a"),
            ("a", "digits", "s", "b"),  # unknown output port
            ("a", "number", "w", "nope"),  # unknown input port
            ("r", "words", "s", "b"),  # incompatible: words -> number
            ("nowhere", "x", "w", "number"),  # dangling edge
        ],
    )
    found = codes(problems)
    assert ("bad_value", "a", "value") in found  # out of range
    assert ("unknown_param", "a", "colour") in found
    assert ("bad_value", "s", "scale") in found  # wrong type
    assert ("unknown_type", "ghost", "type") in found
    assert ("bad_value", "r", "path") in found
    assert ("bad_value", "p", "style") in found  # not a choice
    assert ("unknown_port", "a", "digits") in found
    assert ("unknown_port", "w", "nope") in found
    assert ("incompatible_ports", "s", "b") in found
    assert ("dangling_edge", "nowhere", None) in found
    assert ("missing_input", "w", "number") in found
    assert ("missing_input", "p", "number") in found
    message = next(str(p) for p in problems if p.code == "incompatible_ports")
    assert "node 's'" in message and "Number" in message and "Words" in message


def test_cycles_duplicates_and_double_inputs(registry):
    problems = _problems(
        registry,
        [{"id": "x", "type": "toy.add"}, {"id": "y", "type": "toy.add"}, {"id": "y", "type": "toy.add"},
         {"id": "1bad", "type": "toy.number"}],
        [("x", "sum", "y", "a"), ("y", "sum", "x", "a"), ("1bad", "number", "x", "b"),
         ("y", "sum", "x", "b")],
    )
    found = codes(problems)
    assert ("cycle", "x", None) in found or ("cycle", "y", None) in found
    assert ("duplicate_id", "y", None) in found
    assert ("bad_id", "1bad", None) in found
    assert ("multiple_edges", "x", "b") in found


def test_missing_required_parameter(registry, tmp_path):
    from flowclass.library import default_registry

    (tmp_path / "req.py").write_text(
        "from flowclass.datatypes import DataType\nfrom flowclass.node import node, Output\n"
        "from flowclass.params import Text\nT = DataType('req_t', 'T', '#000000')\n"
        "@node(type='req.node', title='R', category='C', outputs=[Output('o', T)],"
        " params=[Text(name='name')])\ndef req(ctx, *, name):\n    return {'o': name}\nNODES = [req]\n")
    reg = default_registry([tmp_path])
    problems = _problems(reg, [{"id": "n", "type": "req.node"}])
    assert codes(problems) == [("missing_param", "n", "name")]


def test_a_misspelt_parameter_names_the_one_meant_and_keeps_its_value_in_sight(registry, tmp_path, capsys):
    """A workflow edited by hand with 'foldr' for 'folder': the canvas shows an empty Folder
    field and 'unknown parameter', so the folder typed is lost from sight; say which parameter
    was meant and what the value was."""
    from flowclass.cli import main
    from flowclass.library import ready_workflows_dir

    doc = json.loads((ready_workflows_dir() / "cluster_folder.json").read_text(encoding="utf-8"))
    photos = tmp_path / "my photos"
    photos.mkdir()
    doc["nodes"][0]["params"]["foldr"] = str(photos)
    flow = tmp_path / "typo.json"
    flow.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["validate", str(flow)]) == 2
    error = capsys.readouterr().err
    assert "'foldr'" in error and "did you mean 'folder'?" in error and str(photos) in error


def test_a_misspelt_node_type_names_the_one_meant(registry, tmp_path, capsys):
    """'hierarchical_clusterin' in a hand-edited workflow read 'unknown node type', and the canvas
    advised installing a plugin."""
    from flowclass.cli import main
    from flowclass.library import ready_workflows_dir

    doc = json.loads((ready_workflows_dir() / "cluster_folder.json").read_text(encoding="utf-8"))
    doc["nodes"][3]["type"] = "hierarchical_clusterin"
    flow = tmp_path / "typo.json"
    flow.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["validate", str(flow)]) == 2
    assert "did you mean 'hierarchical_clustering'?" in capsys.readouterr().err


class _CountedEdges(tuple):
    """A workflow's edges that count how often they are walked through."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_checking_a_workflow_walks_its_edges_a_few_times_not_once_per_node(registry):
    """A shared workflow of 4,000 Predict nodes (900 KB) took 2.4 s to validate, each node's
    wiring check looking up its inputs by walking every edge: quadratic, some 45 minutes for a
    32 MiB file, in `flowclass validate` and the canvas's check alike."""
    from dataclasses import replace

    nodes = [{"id": "imp", "type": "import_images", "params": {"sample": "digits"}},
             {"id": "model", "type": "load_model", "params": {"file": "m.fcmodel"}}]
    edges = []
    for i in range(200):
        nodes.append({"id": f"p{i}", "type": "predict", "params": {}})
        edges += [{"from": {"node": "imp", "port": "images"}, "to": {"node": f"p{i}", "port": "images"}},
                  {"from": {"node": "model", "port": "model"}, "to": {"node": f"p{i}", "port": "model"}}]
    workflow = loads(json.dumps({"schema_version": 1, "nodes": nodes, "edges": edges}), registry)
    counted = replace(workflow, edges=_CountedEdges(workflow.edges))
    assert validate(counted, registry) == []
    assert _CountedEdges.walks < 20, _CountedEdges.walks
