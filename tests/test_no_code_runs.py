"""A workflow and its data can never make FlowClass run code (issue 15, item 1).

The attack: a shared bundle (a workflow and an "images" folder) whose files are valid X11
bitmaps and valid Python. Import read them as images (extensions ["py"]), a classifier
labelled them 'plugins', Export wrote them to ~/.config/flowclass/plugins/, and the next
``flowclass nodes`` ran them. Three defences, each tested alone and then together:
Import reads image formats only; no node writes into FlowClass's folders or the home
folder's dot-folders; plugins load only from places the user named.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_export_hardening import labelling, photos

from flowclass.context import RunContext
from flowclass.engine import Engine
from flowclass.errors import WorkflowInvalid
from flowclass.library import default_registry
from flowclass.protected import Protected
from flowclass.workflow_file import loads
from nodes.export import export_folders

REPO = Path(__file__).resolve().parent.parent
PLANTED = "PWNED"  # the file a planted plugin makes in the home folder when it runs


def bitmap_that_is_python(path: Path, code: str, byte: int) -> None:
    """An X11 bitmap Pillow decodes (8x2 pixels) that is also a Python module running ``code``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#define {path.stem}_width 8\n#define {path.stem}_height 2\n"
                    f"{code} #_bits[] = {{\n# 0x{byte:02x}, 0x{byte ^ 0xff:02x} }};\n")


PLANT = f"import os;open(os.path.expanduser('~/{PLANTED}'),'w')"

ATTACK = {
    "schema_version": 1, "name": "nice photos",
    "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": "images", "extensions": ["py"]}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels", "pixel_size": 8, "grayscale": True}},
        {"id": "train", "type": "train_classifier",
         "params": {"model": "knn", "n_neighbors": 1, "validation": "kfold", "folds": 2,
                    "final_model": "all_images", "calibration": "none"}},
        {"id": "predict", "type": "predict", "params": {}},
        {"id": "export", "type": "export_folders", "params": {"folder": "~/.config/flowclass", "table": "none"}}],
    "edges": [{"from": {"node": a, "port": p}, "to": {"node": b, "port": q}} for a, p, b, q in [
        ("import", "images", "embed", "images"), ("embed", "embeddings", "train", "embeddings"),
        ("train", "model", "predict", "model"), ("embed", "embeddings", "predict", "embeddings"),
        ("predict", "predictions", "export", "labels")]],
}


def attack_bundle(folder: Path) -> Path:
    """The shared bundle: six bitmaps labelled 'plugins' that plant code, six harmless ones."""
    for label, byte, code in (("plugins", 0x0F, PLANT), ("other", 0xF0, "x = 1")):
        for i in range(6):
            bitmap_that_is_python(folder / "images" / label / f"{label[0]}{i}.py", code, byte ^ i)
    (folder / "workflow.json").write_text(json.dumps(ATTACK))
    return folder / "workflow.json"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh home folder, for this process and the flowclass processes it starts."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "FLOWCLASS_PLUGINS",
                 "FLOWCLASS_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return home


def flowclass(*args: str, cwd: Path, path: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (REPO, *path)))}
    return subprocess.run([sys.executable, "-m", "flowclass.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


# --- the whole attack, through `flowclass run` and then `flowclass nodes` ------------------

@pytest.mark.slow
def test_a_shared_bundle_cannot_plant_a_plugin_that_flowclass_nodes_runs(tmp_path, home):
    workflow = attack_bundle(tmp_path / "bundle")
    done = flowclass("run", str(workflow), "-q", "--cache", str(tmp_path / "cache"),
                     "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "node 'import', 'extensions'" in done.stderr and "'py' is not one of them" in done.stderr
    assert "node 'export', 'folder'" in done.stderr and "FlowClass's settings folder" in done.stderr
    assert list(home.iterdir()) == []  # nothing written into the home folder

    # even the bundle's images in the old plugin folder (put there by hand) are not run
    for source in (tmp_path / "bundle" / "images" / "plugins").iterdir():
        target = home / ".config" / "flowclass" / "plugins" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    listed = flowclass("nodes", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert not (home / PLANTED).exists()
    assert "p0.py" not in listed.stderr


# --- 1. Import reads image formats only -----------------------------------------------------

def test_import_extensions_are_a_choice_among_image_formats(registry, tmp_path):
    for extensions in (["py"], ["png", "pth"], ["PY"], ["sh"]):
        doc = {"schema_version": 1, "nodes": [{"id": "import", "type": "import_images",
                                               "params": {"folder": str(tmp_path), "extensions": extensions}}]}
        with pytest.raises(WorkflowInvalid) as caught:
            Engine(registry).run(loads(json.dumps(doc), registry), out_dir=tmp_path / "out")
        (problem,) = caught.value.problems
        assert (problem.node, problem.field) == ("import", "extensions")
        assert "among jpg, jpeg, png, bmp, gif, tif, tiff, webp" in problem.message


def test_a_file_named_like_an_image_is_read_only_in_an_image_format(registry, cache, tmp_path):
    from classify_helpers import run

    photos(tmp_path / "photos" / "real", 2)
    bitmap_that_is_python(tmp_path / "photos" / "fake" / "f0.png", PLANT, 0x0F)
    Image.open(tmp_path / "photos" / "fake" / "f0.png").load()  # Pillow alone would read it
    result = run(registry, cache, [("import", "import_images", {"folder": str(tmp_path / "photos")})], [],
                 tmp_path / "out")
    images = result.output("import", "images")
    assert sorted(Path(p).name for p in images.paths) == ["img000.png", "img001.png"]
    (skipped,) = [s for s in result.skipped_files if s[1].endswith("f0.png")]
    assert "not an image in a format FlowClass reads" in skipped[2]


def postscript_named_png(path: Path) -> None:
    """An EPS file named like a PNG: Pillow, asked for any format, hands it to Ghostscript."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n0 0 moveto showpage\n")


@pytest.fixture
def ghostscript(tmp_path, monkeypatch) -> Path:
    """A `gs` first on PATH that only writes down that it was run (a real Ghostscript would run
    the file's PostScript, which has escaped its -dSAFER sandbox more than once)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    marker = tmp_path / "ghostscript-ran"
    (folder / "gs").write_text(f"#!/bin/sh\necho \"$@\" >> '{marker}'\nexit 1\n")
    (folder / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return marker


@pytest.mark.slow
def test_a_mask_or_a_thumbnail_is_read_only_in_an_image_format(registry, cache, tmp_path, ghostscript):
    """A shared bundle's mask ``masks/m0.png`` (Pixel Samples from Mask, Evaluate Pixels' golden
    masks, the Draw labels view) and a picture the canvas makes a thumbnail of were opened in
    any format Pillow knows: an EPS named like a PNG ran Ghostscript. They are now read as the
    images are: JPEG, PNG, BMP, GIF, TIFF or WebP, else refused with the reason."""
    from classify_helpers import run

    from flowclass.ui.thumbnails import ImageServer
    from nodes.lib.pixels.legend import parse_legend
    from nodes.lib.pixels.masks import MaskError, read_mask
    from nodes.viewers.pixel_labels import existing_mask

    photos(tmp_path / "photos", 1)  # img000.png
    postscript_named_png(tmp_path / "masks" / "img000.png")
    result = run(registry, cache, [("import", "import_images", {"folder": str(tmp_path / "photos")}),
                                   ("regions", "pixel_samples_mask",
                                    {"masks": str(tmp_path / "masks"), "legend": "a=#ff0000, b=#0000ff"})],
                 [("import.images", "regions.images")], tmp_path / "out")
    outcome = result.outcomes["regions"]
    assert outcome.state == "failed" and "not an image in a format FlowClass reads" in outcome.error, outcome.error
    assert existing_mask(tmp_path / "masks", "img000") is not None  # what Draw labels opens, below
    with pytest.raises(MaskError, match="not an image in a format FlowClass reads"):
        read_mask(tmp_path / "masks" / "img000.png", parse_legend("a=#ff0000, b=#0000ff"))
    server = ImageServer(tmp_path / "thumbnails")
    url = server.url(tmp_path / "masks" / "img000.png")
    image_id = url.split("/")[-2]
    with pytest.raises(Exception, match="cannot identify image file"):  # the route answers 404
        server.file_for(image_id, 160)
    assert not ghostscript.exists()


# --- 2. No node writes into FlowClass's folders or the home folder's dot-folders ------------

def protected_targets(home: Path, tmp_path: Path) -> dict[str, Path]:
    plugins = tmp_path / "my-nodes"
    plugins.mkdir()
    link = tmp_path / "innocent"
    (home / ".config").mkdir()
    link.symlink_to(home / ".config")
    return {"settings": home / ".config" / "flowclass", "plugins_default": home / ".config/flowclass/plugins",
            "ssh": home / ".ssh", "local": home / ".local" / "lib", "named_plugins": plugins / "sub",
            "cache": tmp_path / "cache" / "results", "installation": REPO / "flowclass" / "x",
            "python": Path(sys.prefix) / "lib", "link_to_dot_folder": link / "autostart"}


def _output_params() -> list[tuple[str, str]]:
    from flowclass.params import Path as PathParam

    return [(t.type, p.name) for t in default_registry() for p in t.params
            if isinstance(p, PathParam) and p.role == "output"]


@pytest.mark.parametrize("node,field", [*_output_params(), ("--out", "")])
def test_no_output_may_name_a_protected_place(home, tmp_path, node, field):
    """Every output path parameter of every node type, and the run's output folder."""
    from flowclass.cache import Cache

    registry = default_registry([tmp_path / "my-nodes"])
    engine = Engine(registry, Cache(tmp_path / "cache"))
    for name, target in protected_targets(home, tmp_path).items():
        nodes = []
        if node != "--out":
            param = next(p for p in registry.get(node).params if p.name == field)
            value = str(target / f"x{param.extensions[0]}") if param.extensions else str(target)
            nodes = [{"id": "write", "type": node, "params": {field: value}}]
        doc = {"schema_version": 1, "nodes": nodes, "edges": []}
        out = target if node == "--out" else tmp_path / "out"
        with pytest.raises(WorkflowInvalid) as caught:
            engine.run(loads(json.dumps(doc), registry), out_dir=out, base_dir=tmp_path)
        found = [p for p in caught.value.problems if p.code == "protected"]
        assert len(found) == 1, (name, caught.value.problems)
        assert (found[0].node, found[0].field) == ((None, None) if node == "--out" else ("write", field))
        assert "FlowClass does not write there" in found[0].message, name
    leftovers = [p for p in home.rglob("*") if p != home / ".config"]
    assert leftovers == []


def test_an_export_does_not_make_a_label_folder_inside_a_protected_place(tmp_path):
    """A label folder below an allowed export folder is checked too: here the label names a
    plugin folder the user keeps inside the export folder. The images go beside it, as
    beside any folder FlowClass may not use."""
    images = photos(tmp_path / "source", 2)
    root = tmp_path / "out"
    (root / "my-nodes").mkdir(parents=True)
    ctx = RunContext("export", tmp_path, tmp_path, lambda name: tmp_path / name,
                     protected=Protected.here([root / "my-nodes"]))
    exported = export_folders(ctx, labels=labelling(images, ["my-nodes", "my-nodes"]), folder=str(root),
                              mode="copy", table="none")["exported"]
    assert list((root / "my-nodes").iterdir()) == []
    assert sorted(exported["exported"]) == [str(root / "my-nodes (2)" / p.name) for p in images]


# --- 3. Plugins load only from places the user named, and say where they came from ----------

PLUGIN = ("from flowclass.datatypes import DataType\nfrom flowclass.node import node, Output\n"
          "X = DataType('plugin_{name}', 'X', '#123456')\n"
          "@node(type='plugin.{name}', title='{name}', category='Plugins', outputs=[Output('x', X)])\n"
          "def run(ctx):\n    return {{'x': 1}}\nNODES = [run]\n")


def test_plugins_load_only_from_folders_the_user_named_and_say_where_from(home, tmp_path):
    config = home / ".config" / "flowclass"
    (config / "plugins").mkdir(parents=True)
    (config / "plugins" / "found.py").write_text(PLUGIN.format(name="found"))  # not named anywhere
    named = tmp_path / "named"
    named.mkdir()
    (named / "listed.py").write_text(PLUGIN.format(name="listed"))
    (config / "config.toml").write_text(f'plugins = ["{named}"]\n')
    given = tmp_path / "given"
    given.mkdir()
    (given / "given.py").write_text(PLUGIN.format(name="given"))

    installed = tmp_path / "site"  # an installed package declaring a flowclass.nodes entry point
    (installed / "myplug-1.0.dist-info").mkdir(parents=True)
    (installed / "myplug-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 1.0\n")
    (installed / "myplug-1.0.dist-info" / "entry_points.txt").write_text("[flowclass.nodes]\nmine = myplug_nodes\n")
    (installed / "myplug_nodes.py").write_text(PLUGIN.format(name="installed"))

    listed = flowclass("nodes", "--plugins", str(given), cwd=tmp_path, path=(installed,))
    assert listed.returncode == 0, listed.stderr
    text = listed.stdout
    assert "plugin.found" not in text
    assert f"from: plugin {named / 'listed.py'} (its folder named by {config / 'config.toml'})" in text
    assert f"from: plugin {given / 'given.py'} (its folder named by --plugins)" in text
    assert "from: built-in (nodes.images)" in text
    assert "plugin.installed" in text and "from: entry point 'mine' of myplug" in text
    catalogue = json.loads(flowclass("nodes", "--json", cwd=tmp_path).stdout)
    origins = {t["type"]: t["origin"] for t in catalogue["node_types"]}
    assert origins["import_images"] == "built-in (nodes.images)" and "plugin.listed" in origins


def test_a_broken_config_file_is_reported_and_loads_nothing(home, tmp_path):
    config = home / ".config" / "flowclass"
    config.mkdir(parents=True)
    (config / "config.toml").write_text("plugins = 'not a list'\n")
    registry = default_registry()
    assert any("config.toml" in str(e) and "must be a list" in str(e) for e in registry.plugin_errors)


# --- the canvas: its default roots leave the protected places out ---------------------------

def test_the_canvas_default_roots_leave_out_protected_places(home, tmp_path):
    from flowclass.ui.app import canvas_roots

    (home / "photos").mkdir()
    (home / ".config" / "flowclass" / "plugins").mkdir(parents=True)
    (home / ".ssh").mkdir()
    roots = canvas_roots([], None, Protected.here())
    assert roots.allows(home / "photos") and roots.allows(home)
    for place in (home / ".config" / "flowclass" / "plugins", home / ".ssh" / "id_rsa", home / ".bashrc.d"):
        assert not roots.allows(place), place
    # a root the user names inside a dot-folder is theirs to use
    assert canvas_roots([str(home / ".ssh")], None, Protected.here()).allows(home / ".ssh" / "x")


def test_a_nodes_folder_in_the_current_folder_is_not_run_by_python_m(tmp_path):
    """A bundle unpacked with its own ``nodes/`` package, and ``python -m flowclass.cli``
    run inside it: Python would put that folder first on the import path."""
    planted = tmp_path / "bundle" / "nodes"
    planted.mkdir(parents=True)
    marker = tmp_path / "ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('planted code ran')\n")
    workflow = Path(__file__).resolve().parent.parent / "workflows" / "cluster_folder.json"
    for command in (["nodes"], ["validate", str(workflow)]):
        done = subprocess.run([sys.executable, "-m", "flowclass.cli", *command], cwd=planted.parent,
                              capture_output=True, text=True, timeout=120)
        assert not marker.exists(), command
        assert done.returncode == 0, done.stderr
    assert "embed" in subprocess.run([sys.executable, "-m", "flowclass.cli", "nodes"], cwd=planted.parent,
                                     capture_output=True, text=True, timeout=120).stdout


def test_protected_places_kept_by_name_are_those_found_here(home, tmp_path):
    """An unchanged re-run into a new --out keeps the protected places as named (its
    witnesses, flowclass/new_out.py) and resolves them again: the places here() finds."""
    from flowclass.protected import wanted

    named = json.loads(json.dumps(wanted([str(tmp_path / "plugins")], str(tmp_path / "cache"))))
    assert Protected.of(named) == Protected.here([tmp_path / "plugins"], tmp_path / "cache")
    assert "the cache FlowClass uses" in Protected.of(named).why(tmp_path / "cache" / "out")
    assert "a hidden folder of your home" in Protected.of(named).why(home / ".config" / "x")


def test_a_protected_place_holds_what_is_below_it_by_whole_folder_names(home, tmp_path):
    """Protected.why compares whole folder names (as ``folder in path.parents`` does): a
    sibling whose name only starts with the place's is not inside it, nor is the folder above."""
    cache = tmp_path / "cache"
    protected = Protected.here([], cache)
    assert protected.why(cache) == f"{cache} is the cache FlowClass uses"
    assert protected.why(cache / "a" / "b") == f"{cache / 'a' / 'b'} is inside {cache}, the cache FlowClass uses"
    for free in (tmp_path / "cache2", tmp_path / "cach", tmp_path, home, home / "photos" / ".thumbs"):
        assert protected.why(free) is None, free
    assert "a hidden folder of your home" in protected.why(home / ".cache2" / "x")
    root = Protected.of([("/", "the root")])
    assert root.why("/") == "/ is the root" and root.why(tmp_path) == f"{tmp_path} is inside /, the root"


@pytest.mark.parametrize("text", ["plugins = " + "[" * 100_000 + "]" * 100_000 + "\n",
                                  "plugins = " + "{a=" * 100_000 + "1" + "}" * 100_000 + "\n"],
                         ids=["arrays", "inline-tables"])
def test_a_config_file_nested_too_deep_is_reported_and_loads_nothing(home, text):
    config = home / ".config" / "flowclass"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(text)
    registry = default_registry()
    problems = [str(e) for e in registry.plugin_errors]
    assert any("config.toml" in p and "nested too deep" in p for p in problems), problems


def test_a_huge_config_file_is_refused_unread(home):
    config = home / ".config" / "flowclass"
    config.mkdir(parents=True)
    with open(config / "config.toml", "wb") as f:
        f.truncate(64 << 20)  # sparse: 64 MB of NUL that would be read whole
    registry = default_registry()
    problems = [str(e) for e in registry.plugin_errors]
    assert any("config.toml" in p and "larger than" in p for p in problems), problems


def test_a_config_file_naming_countless_plugin_folders_is_one_warning(home):
    """A config.toml of 50,000 plugin folders (880 KB) printed 50,000 warnings at every
    command; a list longer than any person keeps is one problem, and no folder is read."""
    config = home / ".config" / "flowclass"
    config.mkdir(parents=True)
    folders = ", ".join(f'"/nowhere/{i}"' for i in range(1_000))
    (config / "config.toml").write_text(f"plugins = [{folders}]\n")
    registry = default_registry()
    problems = [str(e) for e in registry.plugin_errors]
    assert len(problems) == 1 and "config.toml" in problems[0] and "1,000 folders" in problems[0], problems[:3]


def test_a_plugin_folder_under_a_home_that_does_not_exist_is_no_folder(home, monkeypatch):
    """``plugins = ["~nobody-here/nodes"]`` (a user of another computer): expanding it raised
    RuntimeError('Could not determine home directory.'), a traceback at every command, even
    ``flowclass nodes``. It is a folder that is not there, like any other, and so is the same
    in FLOWCLASS_PLUGINS."""
    config = home / ".config" / "flowclass"
    config.mkdir(parents=True)
    (config / "config.toml").write_text('plugins = ["~nobody-here-s6/nodes"]\n')
    monkeypatch.setenv("FLOWCLASS_PLUGINS", "~nobody-here-s6/more")
    problems = [str(e) for e in default_registry().plugin_errors]
    for folder in ("~nobody-here-s6/nodes", "~nobody-here-s6/more"):
        assert any(folder in p and "is not a folder" in p for p in problems), problems
