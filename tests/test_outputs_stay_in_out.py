"""A shared workflow's outputs stay inside the run's output folder (``--out``).

A workflow file may be a stranger's: an output path with ``..`` or an absolute one would
make files wherever the user may write. Such a path is refused before anything runs,
naming the node and field; the user may still name a place outside themselves (``--set``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from flowclass.cache import Cache
from flowclass.engine import Engine
from flowclass.errors import WorkflowInvalid
from flowclass.library import default_registry
from flowclass.params import Path as PathParam
from flowclass.workflow_file import loads

REPO = Path(__file__).resolve().parents[1]


def _output_params() -> list[tuple[str, str]]:
    return [(t.type, p.name) for t in default_registry() for p in t.params
            if isinstance(p, PathParam) and p.role == "output"]


def _value(node: str, field: str, where: Path | str) -> str:
    param = next(p for p in default_registry().get(node).params if p.name == field)
    return f"{where}/x{param.extensions[0]}" if param.extensions else str(where)


@pytest.mark.parametrize("node,field", _output_params())
def test_a_workflow_file_output_outside_out_is_refused_naming_node_and_field(tmp_path, node, field):
    registry = default_registry()
    engine = Engine(registry, Cache(tmp_path / "cache"))
    (tmp_path / "out").mkdir()
    for where in ("../../escaped", str(tmp_path / "elsewhere"), "inside/../../escaped"):
        doc = {"schema_version": 1, "nodes": [{"id": "write", "type": node, "params": {field: _value(node, field, where)}}],
               "edges": []}
        with pytest.raises(WorkflowInvalid) as caught:
            engine.run(loads(json.dumps(doc), registry), out_dir=tmp_path / "out", base_dir=tmp_path)
        found = [p for p in caught.value.problems if p.code == "outside_out"]
        assert [(p.node, p.field) for p in found] == [("write", field)], (where, caught.value.problems)
        assert f"--set write.{field}=PATH" in found[0].message
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["out"]


@pytest.mark.parametrize("node,field", _output_params())
def test_paths_inside_out_and_paths_the_user_named_are_taken(tmp_path, node, field):
    from flowclass.resolution import Dirs, resolve

    registry = default_registry()
    out = tmp_path / "out"
    for value, named in ((_value(node, field, "sub/../sub"), ()), (_value(node, field, out / "deep"), ()),
                         (_value(node, field, tmp_path / "elsewhere"), {("write", field)})):
        doc = {"schema_version": 1, "nodes": [{"id": "write", "type": node, "params": {field: value}}], "edges": []}
        dirs = Dirs(tmp_path, out, named=frozenset(named))
        problems = resolve(loads(json.dumps(doc), registry), registry, dirs).problems
        assert [p for p in problems if p.code == "outside_out"] == [], (value, problems)


def _bundle(folder: Path, table: str) -> Path:
    """A stranger's bundle: a folder of images and a workflow saving a table at ``table``."""
    (folder / "images" / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(folder / "images" / "a" / "one.png")
    (folder / "images" / "a" / "broken.png").write_bytes(b"not an image")
    doc = {"schema_version": 1,
           "nodes": [{"id": "import", "type": "import_images", "params": {"folder": "images"}},
                     {"id": "table", "type": "save_table", "params": {"path": table}}],
           "edges": [{"from": {"node": "import", "port": "skipped"}, "to": {"node": "table", "port": "data"}}]}
    (folder / "workflow.json").write_text(json.dumps(doc))
    return folder / "workflow.json"


def _flowclass(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "flowclass.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_flowclass_run_keeps_a_shared_workflow_in_out_unless_the_user_names_a_place(tmp_path):
    workflow = _bundle(tmp_path / "bundle", "../../../escaped.csv")
    common = ("--cache", str(tmp_path / "cache"), "-q")
    for command in ("validate", "run"):
        done = _flowclass(command, str(workflow), "--out", str(tmp_path / "work" / "out"),
                          *(common if command == "run" else ()), cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "node 'table', 'path'" in done.stderr and "outside the output folder" in done.stderr
        assert "--set table.path=PATH" in done.stderr
    assert not (tmp_path / "escaped.csv").exists() and not (tmp_path / "work" / "out").exists()

    mine = tmp_path / "mine" / "skipped.csv"
    done = _flowclass("run", str(workflow), "--out", str(tmp_path / "out"), "--set", f"table.path={mine}",
                      *common, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken.png" in mine.read_text()
    # and again, unchanged: answered from the run record, still where the user named
    done = _flowclass("run", str(workflow), "--out", str(tmp_path / "out"), "--set", f"table.path={mine}",
                      *common, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.anyio
async def test_the_canvas_flags_a_workflow_files_output_outside_its_output_folder_until_the_user_types_one(
        user, registry, cache, tmp_path):
    """The same rule in the canvas: the file's ``../`` path is flagged on its node and field
    and not run; a path the user types there (inside the canvas's roots) is theirs."""
    from nicegui import ui
    from ui_helpers import graph_nodes, make_app, page_of, until

    from flowclass.ui.canvas import FlowCanvas

    root = tmp_path / "root"
    workflow = _bundle(root / "bundle", "../../../../escaped.csv")
    make_app(registry, cache, root, workflow)
    await user.open("/")
    page = page_of(user)
    user.find(FlowCanvas).trigger("select", {"id": "table"})
    await user.should_see("is outside the output folder")
    problem = next(p for p in page.session.problems if p.code == "outside_out")
    assert (problem.node, problem.field) == ("table", "path")
    assert graph_nodes(user)["table"]["status"]["state"] == "invalid"
    page.session.start_run(["table"])
    await user.should_see("cannot run until these are fixed")
    assert not (tmp_path / "escaped.csv").exists()

    typed = str(root / "elsewhere" / "mine.csv")
    next(e for e in user.find(ui.input).elements if e.props.get("label") == "Path").value = typed
    await until(lambda: graph_nodes(user)["table"]["status"]["state"] != "invalid", what="the node valid")
    await user.should_not_see(content="is outside the output folder")
    assert not [p for p in page.session.problems if p.code in ("outside_out", "outside_roots")]


def test_a_path_the_user_typed_stays_theirs_after_a_restart_and_in_a_duplicated_tab(registry, cache, tmp_path):
    """What the user typed is kept with the tab's draft (a restarted server, a duplicated tab
    start from it); a file's own path there is still the file's."""
    from flowclass.ui.browse import Roots
    from flowclass.ui.drafts import DraftStore, capture, restore
    from flowclass.ui.session import EditorSession

    root = tmp_path / "root"
    workflow = _bundle(root / "bundle", "../../../../escaped.csv")

    def opened() -> EditorSession:
        session = EditorSession(registry, cache, roots=Roots([root]))
        session.state.open(workflow)
        session.loaded()
        return session

    def outside(session: EditorSession) -> list:
        return [(p.node, p.field) for p in session.problems if p.code == "outside_out"]

    first = opened()
    assert outside(first) == [("table", "path")]
    first.set_param("table", "path", str(root / "elsewhere" / "mine.csv"))
    assert outside(first) == []
    store = DraftStore(tmp_path / "drafts")
    store.write("tab-00001", capture(first, offered=False))
    again = opened()
    restore(again, store.read("tab-00001"))
    assert outside(again) == []
    again.state.set_params("table", {"path": "../../../../escaped.csv"})  # an undo to the file's value
    assert outside(again) == [("table", "path")]


def _run_file_names() -> list[tuple[str, str, str]]:
    """(node, output field, name) for each of the run's own files such a field can be given:
    a folder any, a file those its extensions allow."""
    params = {(t.type, p.name): p for t in default_registry() for p in t.params
              if isinstance(p, PathParam) and p.role == "output"}
    return [(node, field, name) for (node, field), param in params.items() for name in ("run.json", "skipped.csv")
            if not param.extensions or name.endswith(tuple(param.extensions))]


@pytest.mark.parametrize("node,field,value", _run_file_names())
def test_an_output_named_as_the_runs_own_files_is_refused_before_anything_runs(tmp_path, node, field, value):
    """A shared workflow whose export folder was `run.json` ran every node, made that folder,
    and then stopped on 'run.json exists and was not written by FlowClass; choose another
    output folder', naming neither node nor field, and refused every re-run into that folder;
    a table saved as `skipped.csv` took the place of the run's list of skipped files."""
    registry = default_registry()
    engine = Engine(registry, Cache(tmp_path / "cache"))
    (tmp_path / "out").mkdir()
    doc = {"schema_version": 1, "nodes": [{"id": "write", "type": node, "params": {field: value}}], "edges": []}
    with pytest.raises(WorkflowInvalid) as caught:
        engine.run(loads(json.dumps(doc), registry), out_dir=tmp_path / "out", base_dir=tmp_path)
    found = [p for p in caught.value.problems if p.code == "run_file"]
    assert [(p.node, p.field) for p in found] == [("write", field)], caught.value.problems
    assert value in found[0].message
    assert list((tmp_path / "out").iterdir()) == []


def test_label_folders_named_as_the_runs_own_files_are_written_beside_them(tmp_path):
    """A shared bundle's subfolders `run.json` and `skipped.csv`, exported into the output
    folder itself (folder '.'): the export made folders of those names, every node ran, and
    the run then stopped on 'run.json exists and was not written by FlowClass', naming no node,
    and refused every re-run there. The label folders are numbered instead, as beside a file."""
    photos = tmp_path / "photos"
    for label in ("run.json", "skipped.csv"):
        (photos / label).mkdir(parents=True)
        for i in range(2):
            shade = 40 * i + (120 if label == "run.json" else 0)
            Image.new("RGB", (16, 16), (shade, 255 - shade, i * 90)).save(photos / label / f"{i}.png")
    registry = default_registry()
    doc = {"schema_version": 1, "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(photos)}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels"}},
        {"id": "copies", "type": "find_duplicates", "params": {}},
        {"id": "export", "type": "export_folders", "params": {"folder": "."}}],
        "edges": [{"from": {"node": a, "port": p}, "to": {"node": b, "port": q}} for a, p, b, q in (
            ("import", "images", "embed", "images"), ("embed", "embeddings", "copies", "embeddings"),
            ("copies", "kept", "export", "labels"))]}
    out = tmp_path / "out"
    result = Engine(registry, Cache(tmp_path / "cache")).run(loads(json.dumps(doc), registry), out_dir=out,
                                                             base_dir=tmp_path)
    assert result.ok, [o.error for o in result.failed]
    assert json.loads((out / "run.json").read_text())["nodes"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["run.json (2)", "skipped.csv (2)"]
    assert (out / "skipped.csv").is_file()


def test_a_label_folder_named_as_a_report_of_the_run_leaves_the_report_its_name(tmp_path):
    """A shared bundle's subfolder `duplicates.csv`, exported into the output folder itself
    (folder '.') by a workflow whose Find Duplicates saves the report duplicates.csv there:
    the label folder took the name and the report was 'not saved'. The label folder is
    numbered instead, and an unchanged re-run leaves the same tree, touching neither."""
    from flowclass.reports import Reports
    from flowclass.userfiles.owned_folder import owned_folder

    photos = tmp_path / "photos"
    for label, shade, step in (("duplicates.csv", 200, 60), ("cats", 30, 0)):  # the cats: one picture twice
        (photos / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (16, 16), (shade, step * i, 255 - shade)).save(photos / label / f"{i}.png")
    registry = default_registry()
    doc = {"schema_version": 1, "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(photos)}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels"}},
        {"id": "copies", "type": "find_duplicates", "params": {}},
        {"id": "export", "type": "export_folders", "params": {"folder": ".", "table": "none"}}],
        "edges": [{"from": {"node": a, "port": p}, "to": {"node": b, "port": q}} for a, p, b, q in (
            ("import", "images", "embed", "images"), ("embed", "embeddings", "copies", "embeddings"),
            ("copies", "kept", "export", "labels"))]}
    out, cache = tmp_path / "out", Cache(tmp_path / "cache")
    trees = []
    for _ in range(2):
        workflow = loads(json.dumps(doc), registry)
        result = Engine(registry, cache).run(workflow, out_dir=out, base_dir=tmp_path)
        assert result.ok, [o.error for o in result.failed]
        saved = Reports(workflow, registry, cache).save(result, out, owned_folder)
        assert saved.problems == [] and saved.present == ["duplicates.csv"], saved
        rows = (out / "duplicates.csv").read_text().splitlines()
        assert len(rows) == 3 and all("cats" in row for row in rows[1:]), rows  # the group of two cats
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["cats", "duplicates.csv (2)"]
        assert sorted(p.name for p in (out / "duplicates.csv (2)").iterdir()) == ["0.png", "1.png"]
        assert len(list((out / "cats").iterdir())) == 1
        trees.append(sorted((str(p.relative_to(out)), p.stat().st_mtime_ns) for p in out.rglob("*")
                            if p.name not in ("run.json", ".flowclass-owned.jsonl")))  # rewritten each run
    assert trees[0] == trees[1]
