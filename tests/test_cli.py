"""The flowclass command: run, validate, nodes, cache — exit codes and messages."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from disk_helpers import sample_digits
from flowclass.cli import main
from tests.conftest import REPO

CLUSTER = str(REPO / "workflows" / "cluster_folder.json")


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """120 of the sample digits (12 per class) in a user folder."""
    full = sample_digits()
    small = tmp_path_factory.mktemp("user") / "digits"
    for label in sorted(os.listdir(full)):
        (small / label).mkdir(parents=True)
        for name in sorted(os.listdir(full / label))[:12]:
            (small / label / name).write_bytes((full / label / name).read_bytes())
    return small


def test_run_the_ready_workflow_on_a_users_folder(tmp_path, digits_folder, shared_cache, capsys):
    out = tmp_path / "out"
    args = ["run", CLUSTER, "--out", str(out), "--cache", str(shared_cache.root), "-q",
            "--set", f"import.folder={digits_folder}"]
    assert main(args) == 0
    clusters = sorted(p.name for p in (out / "clusters").iterdir() if p.is_dir())
    assert clusters == sorted(f"C{i}" for i in range(1, 11))
    assert sum(len(list((out / "clusters" / c).iterdir())) for c in clusters) == 120
    table = pd.read_csv(out / "clusters.csv")
    assert len(table) == 120 and {"path", "folder_label", "cluster", "score"} <= set(table.columns)
    assert adjusted_rand_score(table["folder_label"], table["cluster"]) > 0.27  # beats Orange's 0.27
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["ok"] and manifest["nodes"]["embed"]["records"]["embedder"]["weights_sha256"]
    assert manifest["workflow"]["overrides"] == [f"import.folder={digits_folder}"]
    assert "ok: 6 node(s), 0 from cache" in capsys.readouterr().out
    assert main(args) == 0
    assert "6 from cache" in capsys.readouterr().out


def test_a_journal_in_out_that_is_a_folder_is_an_error_naming_it(tmp_path, digits_folder,
                                                                 shared_cache, capsys):
    from flowclass.userfiles.owned_folder import JOURNAL

    out = tmp_path / "out"
    (out / JOURNAL).mkdir(parents=True)
    code = main(["run", CLUSTER, "--out", str(out), "--cache", str(shared_cache.root), "-q",
                 "--set", f"import.folder={digits_folder}"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert f"{out / JOURNAL} is a folder" in err and "move or rename" in err, err
    assert (out / "clusters").is_dir()  # the export into its own folder still ran


def test_set_changes_parameters_and_relative_paths_mean_the_current_folder(
        tmp_path, digits_folder, shared_cache, monkeypatch):
    monkeypatch.chdir(digits_folder.parent)
    out = tmp_path / "out"
    assert main(["run", CLUSTER, "--out", str(out), "--cache", str(shared_cache.root), "-q",
                 "--set", "import.folder=digits", "--set", "cluster.n_clusters=3",
                 "--set", "export.folder=three"]) == 0
    assert sorted(p.name for p in (out / "three").iterdir() if p.is_dir()) == ["C1", "C2", "C3"]


def test_bad_overrides_and_invalid_workflows_exit_2_naming_node_and_field(tmp_path, capsys):
    assert main(["run", CLUSTER, "--set", "cluster.n_clusters=zero", "--set", "nope.x=1",
                 "--set", "embed.colour=red", "--set", "garbage"]) == 2
    err = capsys.readouterr().err
    assert "node 'cluster', 'n_clusters': --set: expected an integer" in err
    assert "no node 'nope'" in err and "no parameter 'colour'" in err and "NODE.PARAM=VALUE" in err
    broken = json.loads(open(CLUSTER).read())
    broken["edges"].append({"from": {"node": "import", "port": "images"},
                            "to": {"node": "cluster", "port": "distances"}})
    broken["nodes"][0]["params"]["max_per_label"] = -1
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "node 'import', 'max_per_label'" in err and "multiple_edges" not in err
    assert "input 'distances' takes Distances but 'import.images' gives Images" in err


def test_validate_every_ready_workflow(capsys):
    for path in sorted((REPO / "workflows").glob("*.json")):
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def readme_examples() -> list[tuple[str, list[str]]]:
    """(workflow, the --set words) of each example in README's table of ready workflows."""
    import re
    import shlex

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Ready workflows", 1)[1].split("\n## ", 1)[0]
    examples = []
    for name, column in re.findall(r"^\| `(\w+\.json)` \|.*\| (`--set .*`) \|$", table, re.M):
        for example in re.findall(r"`(--set [^`]*)`", column):
            examples.append((name, shlex.split(example)))
    return examples


def test_readmes_set_examples_for_the_ready_workflows_are_valid(tmp_path, monkeypatch, capsys):
    """Each `--set` line README gives for running a ready workflow on your data names nodes and
    parameters the workflow has, with values they take (its PHOTOS, MASKS... made here)."""
    from PIL import Image

    examples = readme_examples()
    assert {name for name, _ in examples} == {p.name for p in (REPO / "workflows").glob("*.json")}
    monkeypatch.chdir(tmp_path)
    for name, words in examples:
        for word in words:
            value = word.rpartition("=")[2]
            if value == "PHOTO.jpg" and not (tmp_path / value).exists():
                Image.new("RGB", (8, 8)).save(tmp_path / value)
            elif value.isupper():
                (tmp_path / value).mkdir(exist_ok=True)
        assert main(["validate", str(REPO / "workflows" / name), *words]) == 0, (name, words, capsys.readouterr())

def test_nodes_lists_every_node_with_ports_and_parameters(capsys, registry):
    assert main(["nodes"]) == 0
    text = capsys.readouterr().out
    for node_type in registry:
        if not node_type.type.startswith("toy."):
            assert node_type.type in text
    assert "n_clusters: an integer in [1, 100000]; default 10" in text
    assert main(["nodes", "--json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    embed = next(t for t in catalogue["node_types"] if t["type"] == "embed")
    assert embed["params"][0]["choices"][0] == "efficientnet_lite0"


def test_nodes_with_types_lists_only_their_sections_and_names_a_misspelt_one(capsys):
    """`flowclass nodes embed` printed every category heading, empty; a misspelt type printed
    only those headings and exited 0."""
    assert main(["nodes", "embed"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Embedding\n") and "Output" not in text and "Input" not in text
    assert main(["nodes", "embedd"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "embedd" in captured.err and "did you mean 'embed'?" in captured.err


def test_running_a_folder_of_photos_or_a_photo_says_how_to_run_a_workflow_on_it(tmp_path, capsys):
    """A newcomer types `flowclass run PHOTOS` (or a photo): 'cannot read the workflow file: Is a
    directory' / 'not UTF-8 text' left them there; say what to type instead."""
    import skimage.data
    from PIL import Image

    photos = tmp_path / "my photos"
    photos.mkdir()
    Image.fromarray(skimage.data.coffee()).save(photos / "coffee.jpg")
    for given, folder in ((photos, photos), (photos / "coffee.jpg", photos)):
        assert main(["run", str(given)]) == 2
        error = capsys.readouterr().err
        assert "not a workflow" in error and "cluster_folder.json --set import.folder=" in error
        assert str(folder) in error


def test_a_misspelt_set_names_the_node_or_parameter_meant(capsys):
    """README's `--set import.folder=PHOTOS` typed as `imports.folder` or `import.foldr`."""
    for typed, meant in (("imports.folder=/tmp", "did you mean 'import'?"),
                         ("import.foldr=/tmp", "did you mean 'folder'?")):
        assert main(["validate", CLUSTER, "--set", typed]) == 2
        assert meant in capsys.readouterr().err


def test_cache_info_and_clear_leave_other_files_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FLOWCLASS_CACHE", str(tmp_path / "c"))
    wf = REPO / "tests" / "plugins"
    toy = tmp_path / "toy.json"
    toy.write_text(json.dumps({"schema_version": 1, "nodes": [{"id": "a", "type": "toy.number"}]}))
    assert main(["run", str(toy), "--plugins", str(wf), "--out", str(tmp_path / "o"), "-q"]) == 0
    (tmp_path / "c" / "mine.txt").write_text("keep me")
    assert main(["cache", "info"]) == 0
    assert "1 node result(s)" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert (tmp_path / "c" / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "c" / "results").exists()


def test_the_console_script_is_installed(tmp_path):
    out = subprocess.run([sys.executable, "-m", "flowclass.cli", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("flowclass ")


def test_a_folder_set_as_transfer_learnings_image_file_points_to_image_folder(tmp_path, capsys, monkeypatch):
    """`--set image.file=PHOTOS` (a folder) said only 'expected a path to a file ending in
    .jpg/...'; it says where a folder goes."""
    photos = tmp_path / "photos"
    photos.mkdir()
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = main(["validate", "workflows/transfer_learning.json", "--set", f"image.file={photos}"])
    said = capsys.readouterr()
    assert code == 2, said.out + said.err
    assert "node 'image', 'file'" in said.err and "a folder goes in 'folder' instead" in said.err
