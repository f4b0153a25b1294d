"""One resolution step: what validate, the canvas and a run can know about paths before running.

Each test gives a user's mistake and asserts the message names the node and the field,
and that nothing is written where it should not be.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from flowclass.cli import main
from flowclass.engine import Engine
from flowclass.resolution import Dirs, resolve
from flowclass.workflow_file import load, save
from tests.conftest import REPO

CLUSTER = REPO / "workflows" / "cluster_folder.json"


def small_images(folder: Path, labels=("cats", "dogs"), per_label: int = 2) -> Path:
    for label in labels:
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            Image.new("RGB", (16, 16), (40 * i, 80, 120)).save(folder / label / f"{i}.png")
    return folder


def validate_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["validate", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_or_blank_export_folder_fails_validation_and_writes_nothing(tmp_path, capsys, monkeypatch,
                                                                               value):
    monkeypatch.chdir(tmp_path)
    code, text = validate_cli(capsys, str(CLUSTER), "--set", f"export.folder={value}")
    assert code == 2 and "node 'export', 'folder'" in text and ("empty" in text or "blank" in text)
    code = main(["run", str(CLUSTER), "--set", f"export.folder={value}", "--cache", str(tmp_path / "c"), "-q"])
    assert code == 2
    assert [name for name in os.listdir(tmp_path) if name != "c"] == []  # nothing in the current folder


def test_an_empty_table_path_fails_validation(capsys):
    code, text = validate_cli(capsys, str(CLUSTER), "--set", "table.path=")
    assert code == 2 and "node 'table', 'path'" in text and "not empty" in text


def test_validate_says_an_import_folder_is_a_file(tmp_path, capsys):
    a_file = tmp_path / "photos.jpg"
    a_file.write_bytes(b"not a folder")
    code, text = validate_cli(capsys, str(CLUSTER), "--set", f"import.folder={a_file}")
    assert code == 2 and "node 'import', 'folder'" in text and "is a file, not a folder" in text
    code, text = validate_cli(capsys, str(CLUSTER), "--set", f"import.folder={tmp_path / 'nope'}")
    assert code == 2 and "folder not found" in text


def test_validate_and_run_say_an_export_folder_is_a_file(tmp_path, capsys, registry, shared_cache):
    out = tmp_path / "out"
    out.mkdir()
    (out / "clusters").write_text("the user's notes")
    code, text = validate_cli(capsys, str(CLUSTER), "--out", str(out))
    assert code == 2 and "node 'export', 'folder'" in text and "is a file, not a folder" in text
    # a run fails that node clearly (no raw FileExistsError) and leaves the file alone
    # the export is the point, not the embedder: raw pixels, not EfficientNet (25 s when it
    # was the first test of a run to need the prepared model)
    workflow = (load(CLUSTER, registry).with_params("import", sample="digits", max_per_label=2)
                .with_params("embed", backend="pixels", pixel_size=8))
    result = Engine(registry, shared_cache).run(workflow, base_dir=CLUSTER.parent, out_dir=out)
    outcome = result.outcomes["export"]
    assert outcome.state == "failed" and outcome.field == "folder" and "is a file, not a folder" in outcome.error
    assert (out / "clusters").read_text() == "the user's notes"


def test_an_output_under_a_file_cannot_be_made(tmp_path, registry):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    workflow = load(CLUSTER, registry).with_params("table", path=str(blocker / "sub" / "t.csv"))
    named = frozenset({("table", "path")})  # the user's own path: it may lie outside --out
    problems = resolve(workflow, registry, Dirs(CLUSTER.parent, tmp_path / "out", named=named), files=True).problems
    assert [(p.node, p.field) for p in problems] == [("table", "path")]
    assert f"{blocker} is a file" in problems[0].message


@pytest.mark.parametrize("command", ["run", "validate"])
def test_cache_pointing_at_a_file_is_a_clear_error(tmp_path, capsys, command):
    a_file = tmp_path / "cache.txt"
    a_file.write_text("mine")
    code = main([command, str(CLUSTER), "--cache", str(a_file)] + (["-q"] if command == "run" else []))
    err = capsys.readouterr().err
    assert code == 2 and f"--cache {a_file}" in err and "is a file, not a folder" in err
    assert "output folder" not in err  # it is the cache that must move, not --out
    assert "unexpected" not in err and a_file.read_text() == "mine"


def test_hidden_label_folders_are_reported(tmp_path, registry, cache):
    folder = small_images(tmp_path / "photos", labels=("cats", ".x", "..."))
    workflow = load(CLUSTER, registry).with_params("import", folder=str(folder))
    result = Engine(registry, cache).run(workflow, base_dir=tmp_path, out_dir=tmp_path / "out",
                                         targets=["import"], manifest=False)
    outcome = result.outcomes["import"]
    skipped = result.output("import", "skipped")
    reasons = dict(zip(skipped["path"], skipped["reason"]))
    assert set(reasons) == {str(folder / ".x"), str(folder / "...")}
    assert all("hidden folder" in r for r in reasons.values())
    assert any("hidden" in w and ".x" in w for w in outcome.warnings)
    assert len(result.output("import", "images").paths) == 2


def test_resolve_makes_paths_absolute_in_one_place(tmp_path, registry):
    workflow = load(CLUSTER, registry).with_params("import", folder="photos")
    resolved = resolve(workflow, registry, Dirs(tmp_path / "wf", tmp_path / "out"))
    assert resolved.params["import"]["folder"] == str((tmp_path / "wf" / "photos").resolve())
    assert resolved.params["export"]["folder"] == str((tmp_path / "out" / "clusters").resolve())
    assert resolved.params["cluster"]["n_clusters"] == 10  # defaults filled in
    assert resolve(workflow, registry).params["import"]["folder"] == "photos"  # no dirs: as written


def test_the_canvas_session_shows_path_problems_before_a_run(tmp_path, registry, cache):
    from flowclass.ui.session import EditorSession

    a_file = tmp_path / "photos.jpg"
    a_file.write_bytes(b"x")
    flow = tmp_path / "flow.json"
    save(load(CLUSTER, registry).with_params("import", folder=str(a_file)), flow)
    session = EditorSession(registry, cache)
    session.state.open(flow)
    session.loaded()
    assert [(p.node, p.field) for p in session.problems] == [("import", "folder")]
    assert "is a file, not a folder" in session.problems[0].message


def test_validate_cli_checks_paths_in_a_subprocess(tmp_path):
    """The console path: exit 2 and the sentence, no traceback."""
    flow = tmp_path / "flow.json"
    flow.write_text(CLUSTER.read_text())
    (tmp_path / "not_a_folder").write_text("x")
    out = subprocess.run([sys.executable, "-m", "flowclass.cli", "validate", str(flow), "--set",
                          "import.folder=not_a_folder"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr and "Traceback" not in out.stderr


def test_a_list_parameter_is_validated_normalised_and_parsed():
    from flowclass.errors import ParamValueError
    from flowclass.params import List

    extensions = List(name="extensions", default=["jpg"], item=r"[a-z0-9]+", item_title="file extension",
                      min_items=1, lower=True, strip=".")
    assert extensions.validate([".JPG", "png", "jpg"]) == ["jpg", "png"]
    assert extensions.parse(" .Tif; png ,") == ["tif", "png"]
    for bad in ("jpg, png", [], ["j.pg"], [3]):
        with pytest.raises(ParamValueError, match="a list of file extensions"):
            extensions.validate(bad)


def test_version_1_import_images_files_keep_their_extensions_as_a_list(registry, tmp_path):
    from flowclass.workflow_file import dumps, loads

    doc = {"schema_version": 1, "nodes": [{"id": "i", "type": "import_images", "version": 1,
                                          "params": {"sample": "digits", "extensions": ".JPG; png"}}]}
    import json

    workflow = loads(json.dumps(doc), registry)
    spec = workflow.node("i")
    assert spec.version == 2 and spec.params["extensions"] == ["jpg", "png"]
    assert '"extensions": [' in dumps(workflow)
    code = main(["validate", str(CLUSTER), "--set", "import.extensions=png, tif"])
    assert code == 0
    assert main(["validate", str(CLUSTER), "--set", "import.extensions=p.ng"]) == 2
