"""Workflow files from a stranger, given to `flowclass validate`/`run` and to the canvas's
File ▸ Open: each is read, or refused with an error naming the file, and nothing hangs.

A pipe named ``x.json`` made `flowclass` and the canvas's whole server wait forever (every
tab froze); a position of 10**400 ended `flowclass` in a traceback; a file saved by
Notepad or PowerShell (a byte order mark, UTF-16) was refused; a file of hundreds of MB
was held in memory several times over. Deep nesting is in test_hostile_files.py.
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from nicegui.testing import User
from ui_helpers import CLUSTER_FOLDER, make_app, page_of

from flowclass.errors import WorkflowInvalid
from flowclass import workflow_file
from flowclass.workflow_file import MAX_EDGES, MAX_FILE_BYTES, MAX_NODES, MAX_PARAMS, dumps, load


def validate(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowclass.cli", "validate", str(path),
                           "--cache", str(tmp_path / "cache")], capture_output=True, text=True, timeout=60)


def with_position(tmp_path: Path, x) -> Path:
    doc = json.loads(CLUSTER_FOLDER.read_text(encoding="utf-8"))
    doc["nodes"][0]["position"] = {"x": x, "y": 0}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc), encoding="utf-8")  # NaN and 10**400 are written as Python does
    return path


def with_long_number(tmp_path: Path) -> Path:
    """A workflow with a number of 5,000 digits, more than Python converts to an integer."""
    doc = json.loads(CLUSTER_FOLDER.read_text(encoding="utf-8"))
    doc["nodes"][0]["params"]["max_per_label"] = 1
    path = tmp_path / "digits.json"
    path.write_text(json.dumps(doc).replace('"max_per_label": 1', '"max_per_label": ' + "9" * 5_000),
                    encoding="utf-8")
    return path


def with_lone_surrogate(tmp_path: Path) -> Path:
    """A workflow whose texts hold ``\\udce9``: JSON's escape of half a UTF-16 pair, no character
    (what Python makes of a Latin-1 name's byte); no page, table or UTF-8 file can hold it."""
    doc = json.loads(CLUSTER_FOLDER.read_text(encoding="utf-8"))
    doc["name"] = "caf\udce9"
    doc["nodes"][0]["params"]["folder"] = "caf\udce9"
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(doc), encoding="utf-8")  # ASCII: the escape as it is
    return path


def test_a_text_holding_half_a_surrogate_pair_is_refused_naming_the_file(tmp_path: Path, registry) -> None:
    """The canvas's page failed to open (its messages to the browser cannot hold the text);
    a real pair, an emoji written as two escapes, is read."""
    with pytest.raises(WorkflowInvalid, match="surrogate") as refused:
        load(with_lone_surrogate(tmp_path), registry)
    assert refused.value.source == str(tmp_path / "surrogate.json")
    emoji = tmp_path / "emoji.json"
    emoji.write_text(CLUSTER_FOLDER.read_text(encoding="utf-8").replace(
        '"name": "', '"name": "\\ud83d\\ude00 ', 1), encoding="utf-8")
    assert load(emoji, registry).name.startswith("\U0001f600 ")


def test_a_key_given_twice_is_refused_naming_it(tmp_path: Path, registry) -> None:
    """``{"folder": "photos", "folder": "/home/me/.ssh"}``: a reader (a person, another JSON
    library) may take the first where Python took the last, silently; the file is refused."""
    text = CLUSTER_FOLDER.read_text(encoding="utf-8")
    doc = json.loads(text)
    folder = json.dumps(doc["nodes"][0]["params"]["folder"])
    twice = tmp_path / "twice.json"
    twice.write_text(text.replace(f'"folder": {folder}', f'"folder": {folder}, "folder": "/etc"', 1),
                     encoding="utf-8")
    assert twice.read_text(encoding="utf-8") != text
    with pytest.raises(WorkflowInvalid, match="'folder' is given twice") as refused:
        load(twice, registry)
    assert refused.value.source == str(twice)


class Unblock:
    """Opens the pipe for writing after a while, so that a reader stuck on it (the bug) ends
    and the test fails instead of hanging."""

    def __init__(self, pipe: Path, after: float = 10.0):
        self.pipe, self.blocked = pipe, threading.Event()
        self.timer = threading.Timer(after, self._open)

    def _open(self) -> None:
        self.blocked.set()
        fd = os.open(self.pipe, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)

    def __enter__(self) -> "Unblock":
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()


@pytest.mark.slow
def test_a_pipe_named_like_a_workflow_is_refused_not_waited_on(tmp_path: Path) -> None:
    pipe = tmp_path / "flow.json"
    os.mkfifo(pipe)
    with Unblock(pipe) as unblock:
        done = validate(pipe, tmp_path)
    assert not unblock.blocked.is_set(), "flowclass waited on the pipe"
    assert done.returncode == 2 and str(pipe) in done.stderr and "pipe" in done.stderr


@pytest.mark.parametrize("x", [10 ** 400, float("nan"), float("inf")], ids=["huge-int", "nan", "infinity"])
def test_a_position_that_is_no_number_is_a_problem_naming_the_node(tmp_path: Path, registry, x) -> None:
    with pytest.raises(WorkflowInvalid) as refused:
        load(with_position(tmp_path, x), registry)
    (problem,) = refused.value.problems
    assert problem.node == "import" and problem.field == "position"


@pytest.mark.slow
def test_validate_names_the_file_of_a_huge_position_without_a_traceback(tmp_path: Path) -> None:
    done = validate(with_position(tmp_path, 10 ** 400), tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "odd.json" in done.stderr and "'position'" in done.stderr


@pytest.mark.parametrize("bom, encoding", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                           (codecs.BOM_UTF16_BE, "utf-16-be")], ids=["utf-8", "utf-16le", "utf-16be"])
def test_a_file_saved_with_a_byte_order_mark_reads_as_the_same_workflow(tmp_path: Path, registry, bom,
                                                                        encoding) -> None:
    path = tmp_path / "notepad.json"
    path.write_bytes(bom + CLUSTER_FOLDER.read_text(encoding="utf-8").encode(encoding))
    assert dumps(load(path, registry)) == dumps(load(CLUSTER_FOLDER, registry))


def test_a_file_too_big_to_be_a_workflow_is_refused_before_it_is_read(tmp_path: Path, registry,
                                                                      monkeypatch) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: its size without writing it
        handle.truncate(MAX_FILE_BYTES + 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read"))
    with pytest.raises(WorkflowInvalid, match="MiB") as refused:
        load(path, registry)
    assert refused.value.source == str(path)


@pytest.mark.anyio
async def test_the_canvas_opens_none_of_them_and_keeps_its_work(user: User, registry, cache,
                                                                tmp_path: Path, monkeypatch) -> None:
    """File ▸ Open (and Save As onto an existing name, which looks inside) of each: the tab
    says why, keeps the workflow it had, and the server still answers. A file of gigabytes is
    not read: the canvas hashed the whole of it (into memory) before finding it too big."""
    flow = tmp_path / "mine.json"
    flow.write_bytes(CLUSTER_FOLDER.read_bytes())
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    odd = with_position(tmp_path, 10 ** 400)
    long_number = with_long_number(tmp_path)
    surrogate = with_lone_surrogate(tmp_path)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:  # sparse: its size without writing it
        handle.truncate(64 * 2**30)
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read") if self.name == huge.name
                        else read_bytes(self))
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    page.set_param("cluster", "n_clusters", 3)
    with Unblock(pipe) as unblock:
        for stranger in (pipe, odd, long_number, surrogate, huge):
            assert not page.files.open_path(stranger)
            await user.should_see(f"Cannot open {stranger.name}")
        from flowclass.ui.dialogs import is_workflow_file
        assert not is_workflow_file(long_number)
        assert not is_workflow_file(pipe)  # Save As onto it asks no "Replace?" and waits on nothing
    assert not unblock.blocked.is_set(), "the server waited on the pipe"
    assert page.state.path == flow and page.workflow.node("cluster").params["n_clusters"] == 3


@pytest.mark.parametrize("node_id", ["cluster\n", "cluster\r\n", "../cluster", "clu\tster", "cluster\x00"])
def test_a_node_id_with_a_line_break_or_a_path_in_it_is_refused_by_name(tmp_path: Path, registry, node_id) -> None:
    """A node's id goes into the names of files a run writes into the output folder (two
    nodes making ``dendrogram.png``: ``cluster-dendrogram.png``). An id ending in a line break
    passed the check (a ``$`` that matches before a final newline), so a stranger's workflow
    would have a run write ``cluster\\n-dendrogram.png`` among the user's files."""
    from flowclass.validation import validate as problems_of

    doc = json.loads(CLUSTER_FOLDER.read_text(encoding="utf-8"))
    for node in doc["nodes"]:
        node["id"] = node_id if node["id"] == "cluster" else node["id"]
    for edge in doc["edges"]:
        for end in (edge["from"], edge["to"]):
            end["node"] = node_id if end["node"] == "cluster" else end["node"]
    path = tmp_path / "stranger.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    found = [p for p in problems_of(load(path, registry), registry) if p.node == node_id]
    assert [p.code for p in found] == ["bad_id"]


def test_node_ids_that_differ_only_in_case_are_refused_naming_both(tmp_path: Path, registry) -> None:
    """Two clustering nodes both make ``dendrogram.png``, saved as ``cluster-dendrogram.png``
    and ``Cluster-dendrogram.png``: one file on a file system that ignores case (macOS,
    Windows, a FAT stick), where the second replaced the first (and two Draw-labels nodes'
    ``cluster_masks`` folders would be one). Such ids are refused before anything runs."""
    from flowclass.validation import validate as problems_of

    doc = json.loads(CLUSTER_FOLDER.read_text(encoding="utf-8"))
    twin = next(dict(node, id="Cluster") for node in doc["nodes"] if node["id"] == "cluster")
    doc["nodes"].append(twin)
    doc["edges"].append({"from": {"node": "distances", "port": "distances"},
                         "to": {"node": "Cluster", "port": "distances"}})
    path = tmp_path / "stranger.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    (problem,) = problems_of(load(path, registry), registry)
    assert problem.node == "Cluster" and "'cluster' and 'Cluster' differ only in case" in problem.message


@pytest.mark.parametrize("node_type", ["train_classifier", "find_label_issues"])
def test_a_seed_numpy_cannot_take_is_refused_before_anything_runs(registry, node_type) -> None:
    """A seed of 2**32 or more passed validation, so a stranger's workflow ran every node
    before Train Classifier (embedding thousands of images) and then failed there with
    scikit-learn's message; it is now refused up front, by node and field."""
    import numpy as np

    from flowclass.validation import validate as problems_of
    from flowclass.workflow import NodeSpec, Workflow

    version = registry.get(node_type).version
    for seed, refused in ((2**32, True), (2**32 - 1, False)):
        workflow = Workflow(nodes=(NodeSpec(id="n", type=node_type, version=version, params={"seed": seed},
                                            position=(0.0, 0.0), title=""),), edges=())
        assert any(p.field == "seed" for p in problems_of(workflow, registry)) == refused
    with pytest.raises(ValueError):  # what the run met, after every node before it had run
        np.random.RandomState(2**32)
    np.random.RandomState(2**32 - 1)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_where_a_node_reads_a_file_is_refused_by_validate(tmp_path: Path, capsys) -> None:
    """A pipe named like a model file or a photo passed `flowclass validate` ("is valid"), and
    the run then said *model file not found* for a file that is there, after the nodes before
    it had run; validate (and so the canvas and the run, before anything runs) now says
    what it is."""
    from flowclass.cli import main

    os.mkfifo(tmp_path / "shared.fcmodel")
    os.mkfifo(tmp_path / "photo.jpg")
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"schema_version": 1, "name": "x", "nodes": [
        {"id": "load", "type": "load_model", "version": 1, "params": {"file": "shared.fcmodel"},
         "position": {"x": 0, "y": 0}},
        {"id": "image", "type": "image_file", "version": 1, "params": {"file": "photo.jpg"},
         "position": {"x": 0, "y": 200}}], "edges": []}), encoding="utf-8")
    assert main(["validate", str(flow), "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    for name in ("shared.fcmodel", "photo.jpg"):
        assert f"{tmp_path / name} is not a regular file" in err


def test_a_value_of_megabytes_is_named_not_printed_whole(tmp_path: Path, capsys) -> None:
    """A stranger's workflow with a 2 MB string where a choice goes (or under a misspelt name)
    printed the whole value in its problem: megabytes on the terminal, and under the field in
    the canvas. The problem now shows its start and says how long it is."""
    from flowclass.cli import main

    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"schema_version": 1, "name": "x", "nodes": [
        {"id": "import", "type": "import_images", "version": 2,
         "params": {"sample": "x" * 2_000_000, "sampel": "y" * 2_000_000}, "position": {"x": 0, "y": 0}}],
        "edges": []}), encoding="utf-8")
    assert main(["validate", str(flow), "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert len(err) < 2_000
    assert "got 'xxxxxxxx" in err and "... (2,000,002 characters)" in err
    assert "unknown parameter 'sampel' = 'yyyy" in err


@pytest.mark.parametrize("node, field, value", [("import", "folder", "b" * 300),  # one name over 255 bytes
                                                ("import", "folder", "a/" * 3000 + "x"),  # a path over 4,096
                                                ("table", "path", "a/" * 3000 + "t.csv")])
def test_a_path_too_long_for_the_system_is_a_problem_naming_the_node_not_a_traceback(
        tmp_path: Path, capsys, node, field, value) -> None:
    """A stranger's workflow with a folder name of 300 bytes, or a path of 6,000 characters:
    `flowclass validate` (and the canvas's check of what the disk says) stopped on
    ``OSError: [Errno 36] File name too long`` with a traceback. It is now the node's
    problem, naming its field, and the path is shown cut."""
    from flowclass.cli import main

    (tmp_path / "photos").mkdir()
    params = {"import": {"folder": "photos"}, "table": {"path": "t.csv"}}
    params[node][field] = value
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"schema_version": 1, "name": "x", "nodes": [
        {"id": "import", "type": "import_images", "params": params["import"], "position": {"x": 0, "y": 0}},
        {"id": "table", "type": "save_table", "params": params["table"], "position": {"x": 300, "y": 0}}],
        "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "table", "port": "data"}}]}),
        encoding="utf-8")
    assert main(["validate", str(flow), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"node '{node}', '{field}'" in err and "too long for the system" in err and "Traceback" not in err
    assert len(err) < 1_000


def test_a_number_of_thousands_of_digits_is_refused_naming_the_file(tmp_path: Path, registry, capsys) -> None:
    """Python refuses to read an integer of more than 4,300 digits (a guard against slow
    conversions), with a ValueError that is not a JSON error: a stranger's workflow with
    such a number where a parameter goes ended `flowclass validate` in a traceback (exit 1)
    that advised calling sys.set_int_max_str_digits()."""
    from flowclass.cli import main

    flow = with_long_number(tmp_path)
    with pytest.raises(WorkflowInvalid, match=f"more than {sys.get_int_max_str_digits():,} digits") as refused:
        load(flow, registry)
    assert refused.value.source == str(flow)
    assert main(["validate", str(flow), "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert str(flow) in err and "Traceback" not in err and "set_int_max_str_digits" not in err


def test_a_legend_of_countless_classes_is_refused_at_its_255th(tmp_path: Path, capsys) -> None:
    """A shared workflow's legend of 200,000 classes (a 3 MB file): the legend was read whole,
    looking each class up in a list of those before it, about 6 minutes of one core in
    'flowclass validate' and in the canvas's check of the field (20,000 classes took 3.8 s).
    It is refused at the 255th class, naming the node and field."""
    from flowclass.cli import main

    legend = ", ".join(f"c{i}=#{i:06x}" for i in range(20_000))
    flow = tmp_path / "legend.json"
    flow.write_text(json.dumps({"schema_version": 1, "nodes": [
        {"id": "regions", "type": "pixel_samples_mask", "params": {"legend": legend}}]}))
    assert main(["validate", str(flow), "--cache", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert "node 'regions', 'legend': 'c254' is a 255th class; at most 254 are supported" in err


def test_a_path_under_a_home_that_does_not_exist_is_a_problem_not_a_traceback(tmp_path: Path, capsys,
                                                                              monkeypatch) -> None:
    """A workflow from another computer naming ``~alice/photos`` (no such user here): Python's
    pathlib raised RuntimeError('Could not determine home directory.') and ``flowclass
    validate`` and ``run`` ended in a traceback; so did ``--out ~alice/out``. The path is a
    relative one, as os.path.expanduser leaves it, and missing like any other."""
    from flowclass.cli import main
    from flowclass.ui.browse import Roots

    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"schema_version": 1, "name": "x", "nodes": [
        {"id": "imp", "type": "import_images", "params": {"folder": "~nobody-here-s6/photos"}}], "edges": []}))
    assert main(["validate", str(flow), "--cache", str(tmp_path / "cache")]) == 2
    said = capsys.readouterr().err
    assert "node 'imp', 'folder'" in said and "not found" in said and "~nobody-here-s6" in said, said
    monkeypatch.chdir(tmp_path)  # where a relative --out goes
    assert main(["run", str(flow), "--out", "~nobody-here-s6/out", "--cache", str(tmp_path / "cache")]) == 1
    said = capsys.readouterr().err
    assert "~nobody-here-s6/photos" in said and "Traceback" not in said, said
    assert (tmp_path / "~nobody-here-s6" / "out" / "run.json").is_file()
    assert Roots([tmp_path]).allows("~nobody-here-s6/photos")  # relative: in the folder it is run from


@pytest.mark.parametrize("where", ["name", "title", "description"])
def test_a_name_or_title_of_megabytes_is_refused_naming_it(tmp_path: Path, registry, where) -> None:
    """A workflow named with 10 MB (or a node titled so): the canvas sent it to the page with
    every change of the graph and run.json copied it three times (30 MB). A name or title is
    a line, a description a few paragraphs: longer ones are refused naming the field."""
    doc = json.loads(CLUSTER_FOLDER.read_text(encoding="utf-8"))
    if where == "title":
        doc["nodes"][0]["title"] = "x" * 10_000_000
    else:
        doc[where] = "x" * 10_000_000
    path = tmp_path / "long.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(WorkflowInvalid) as refused:
        load(path, registry)
    (problem,) = refused.value.problems
    assert problem.field == where and "10,000,000 characters" in problem.message, problem
    assert len(str(refused.value)) < 1_000


@pytest.mark.parametrize("part, count", [("nodes", MAX_NODES + 1), ("edges", MAX_EDGES + 1)])
def test_a_workflow_of_absurdly_many_nodes_or_edges_is_refused_before_any_other_work(
        tmp_path: Path, registry, monkeypatch, part, count) -> None:
    """400,000 nodes (a 21 MB file, under the size limit) took 61 s of CPU to validate and printed
    400,000 problems: a count far beyond any canvas is refused naming the count and the limit,
    before a single node or edge is looked at."""
    node = {"id": "n", "type": "save_table", "params": {}}
    edge = {"from": {"node": "a", "port": "b"}, "to": {"node": "c", "port": "d"}}
    doc = {"schema_version": 1, "nodes": [node] * (count if part == "nodes" else 1),
           "edges": [edge] * (count if part == "edges" else 0)}
    path = tmp_path / "many.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(workflow_file, "_parse_node", lambda *_: pytest.fail("a node was looked at"))
    with pytest.raises(WorkflowInvalid) as refused:
        load(path, registry)
    (problem,) = refused.value.problems
    limit = MAX_NODES if part == "nodes" else MAX_EDGES
    assert problem.field == part and f"{count:,} {part}" in problem.message and f"at most {limit:,}" in problem.message
    assert refused.value.source == str(path)


def test_a_node_of_countless_parameters_is_one_problem_naming_the_count(tmp_path: Path, registry) -> None:
    """200,000 unknown parameters on one node (a 2.7 MB file) took 6.6 s of CPU to validate, each
    looked up among the known names, and printed 200,000 problems. A node has at most 13
    parameters: more than MAX_PARAMS is one problem naming the node, the count and the limit."""
    params = {f"k{i}": 0 for i in range(MAX_PARAMS + 1)}
    doc = {"schema_version": 1, "nodes": [{"id": "table", "type": "save_table", "params": params}]}
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(WorkflowInvalid) as refused:
        load(path, registry)
    (problem,) = refused.value.problems
    assert (problem.node, problem.field) == ("table", "params")
    assert f"{MAX_PARAMS + 1:,} parameters" in problem.message and f"at most {MAX_PARAMS:,}" in problem.message


def test_a_node_of_many_unknown_parameters_names_the_first_few_and_counts_the_rest(registry) -> None:
    """Each unknown parameter is looked up among the known names: 10,000 nodes of 100 took 14 s
    of CPU and printed 1,000,000 problems. A node's first ten are named, the rest counted."""
    from flowclass.validation import MAX_UNKNOWN_SHOWN, validate as problems_of
    from flowclass.workflow_file import from_document

    params = {"path": "t.csv", **{f"k{i}": 0 for i in range(MAX_PARAMS - 1)}}
    doc = {"schema_version": 1, "nodes": [{"id": "table", "type": "save_table", "params": params}]}
    found = [p for p in problems_of(from_document(doc), registry) if p.code == "unknown_param"]
    assert [p.field for p in found] == [f"k{i}" for i in range(MAX_UNKNOWN_SHOWN + 1)]
    assert found[-1].message == f"and {MAX_PARAMS - 1 - MAX_UNKNOWN_SHOWN:,} more unknown parameters"
