"""Every registered node type, built-in or plugin, checked the same way.

For each node type: its declaration and defaults are valid; generated bad values are
refused with a problem naming the node and the field; it runs on tiny real fixtures (one
factory per data type below, so a new node needs no new test code; a node that reads a
file of the user's names it in EXAMPLE_FILES); its outputs are exactly those declared;
every output survives the result codec (a missing ``@serializable`` fails here, not as a
"result not cached" warning); and every output type has a viewer.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from flowclass import codec
from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.library import default_registry
from flowclass.params import Param
from flowclass.validation import validate
from flowclass.workflow import Workflow
from flowclass.workflow_file import new_node

PLUGINS = Path(__file__).parent / "plugins"
REGISTRY = default_registry([PLUGINS])
TYPES = sorted(t.type for t in REGISTRY)

# Nodes that must fail, and how: the test plugin's deliberate failures, and Zero-shot
# Classify, whose open_clip weights are never downloaded (none are installed here).
EXPECTED_FAILURES: dict[str, tuple[type[BaseException], str | None]] = {
    "toy.fail": (NodeError, "why"),
    "toy.crash": (ZeroDivisionError, None),
    "zero_shot_classify": (NodeError, None),
}
# Path parameters that name a file of the user's: which fixture file they get.
EXAMPLE_FILES: dict[tuple[str, str], str] = {
    ("import_images", "folder"): "images_folder",
    ("pixel_samples_mask", "masks"): "masks_folder",
    ("evaluate_pixels", "masks"): "masks_folder",
    ("load_model", "file"): "model_file",
    ("label_overrides", "file"): "overrides_file",
    ("toy.read", "path"): "text_file",
}
LEGEND = {"water": (31, 119, 180), "land": (44, 160, 44)}  # the pixel nodes' default legend


# --- fixtures: files, and one factory per data type ---------------------------------------------
class Fixtures:
    """Tiny real inputs, each made once: files on disk and values of every data type."""

    def __init__(self, folder: Path, store_dir: Callable[[str], Path]):
        self.folder, self.store_dir = folder, store_dir
        self.values: dict[str, Any] = {}
        self.files: dict[str, Path] = {}

    def value(self, data_type: str) -> Any:
        if data_type not in self.values:
            make = VALUE_FACTORIES.get(data_type)
            assert make is not None, f"no fixture factory for data type '{data_type}': add one to VALUE_FACTORIES"
            self.values[data_type] = make(self)
        return self.values[data_type]

    def file(self, name: str) -> Path:
        if name not in self.files:
            self.files[name] = FILE_FACTORIES[name](self)
        return self.files[name]

    def run(self, type_id: str, inputs: dict[str, Any], params: dict[str, Any] | None = None,
            node_id: str = "n") -> dict[str, Any]:
        """Run a node type's function as the engine does: validated params, resolved paths."""
        node_type = REGISTRY.get(type_id)
        values = {**node_type.default_params(), **(params or {})}
        for (owner, name), fixture in EXAMPLE_FILES.items():
            if owner == type_id and name not in (params or {}):
                values[name] = str(self.file(fixture))
        work = self.folder / "runs" / node_id
        work.mkdir(parents=True, exist_ok=True)
        resolved = {p.name: p.validate(values[p.name]) for p in node_type.params}
        for p in node_type.params:
            if p.kind == "path" and resolved[p.name] and not Path(resolved[p.name]).is_absolute():
                resolved[p.name] = str(work / resolved[p.name])
        ctx = RunContext(node_id=node_id, base_dir=work, out_dir=work,
                         store_dir=self.store_dir)
        return dict(node_type.run(ctx, **inputs, **resolved))


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def photos_folder(fx: Fixtures) -> Path:
    """Twelve small real photos in two labelled subfolders: two crops of each of six of
    scikit-image's sample photos (enough for ten clusters and a 50/50 hold-out)."""
    from skimage import data

    folder = _folder(fx.folder / "photos")
    groups = {"animals": ("chelsea", "coffee", "astronaut"), "things": ("rocket", "camera", "horse")}
    for label, names in groups.items():
        for name in names:
            picture = Image.fromarray(np.asarray(getattr(data, name)()).astype(np.uint8)).convert("RGB")
            width, height = picture.size
            for side, box in (("left", (0, 0, width // 2, height)), ("right", (width // 2, 0, width, height))):
                picture.crop(box).resize((48, 40)).save(_folder(folder / label) / f"{name}_{side}.png")
    return folder


def masks_folder(fx: Fixtures) -> Path:
    """A mask per photo in the legend's colours: water on the left, land on the right."""
    folder = _folder(fx.folder / "masks")
    for photo in sorted(fx.file("images_folder").rglob("*.png")):
        mask = np.zeros((40, 48, 4), dtype=np.uint8)
        mask[:, :20, :3], mask[:, 28:, :3] = LEGEND["water"], LEGEND["land"]
        mask[:, :20, 3] = mask[:, 28:, 3] = 255
        Image.fromarray(mask, "RGBA").save(folder / photo.name)
    return folder


def model_file(fx: Fixtures) -> Path:
    saved = fx.run("save_model", {"model": fx.value("classifier")},
                   {"path": str(fx.folder / "model.fcmodel")}, node_id="save")
    assert saved and (fx.folder / "model.fcmodel").is_file()
    return fx.folder / "model.fcmodel"


def overrides_file(fx: Fixtures) -> Path:
    path = fx.folder / "label-overrides.csv"
    photo = sorted(fx.file("images_folder").rglob("*.png"))[0]
    path.write_text(f"path,label\n{photo},things\n")
    return path


def text_file(fx: Fixtures) -> Path:
    path = fx.folder / "words.txt"
    path.write_text("a few words")
    return path


FILE_FACTORIES: dict[str, Callable[[Fixtures], Path]] = {
    "images_folder": photos_folder, "masks_folder": masks_folder, "model_file": model_file,
    "overrides_file": overrides_file, "text_file": text_file,
}


def _images(fx: Fixtures) -> Any:
    return fx.run("import_images", {}, {"folder": str(fx.file("images_folder"))}, node_id="import")["images"]


def _embeddings(fx: Fixtures) -> Any:
    return fx.run("embed", {"images": fx.value("images")}, {"backend": "colour_histogram"}, node_id="embed")["embeddings"]


def _trained(fx: Fixtures) -> dict[str, Any]:
    if "trained" not in fx.values:
        fx.values["trained"] = fx.run("train_classifier", {"embeddings": fx.value("embeddings")},
                                      {"test_fraction": 0.5}, node_id="train")
    return fx.values["trained"]


def _pixel_samples(fx: Fixtures) -> Any:
    return fx.run("pixel_samples_mask", {"images": fx.value("images")}, node_id="samples")["samples"]


def _pixel_model(fx: Fixtures) -> Any:
    return fx.run("train_pixel_classifier", {"samples": fx.value("pixel_samples")},
                  {"n_trees": 5}, node_id="pixel_train")["model"]


VALUE_FACTORIES: dict[str, Callable[[Fixtures], Any]] = {
    "images": _images,
    "table": lambda fx: fx.run("import_images", {}, node_id="import")["skipped"].assign(n=1),
    "embeddings": _embeddings,
    "distances": lambda fx: fx.run("distances", {"embeddings": fx.value("embeddings")}, node_id="dist")["distances"],
    "labels": lambda fx: _trained(fx)["validation"],  # predictions beside true labels
    "dendrogram": lambda fx: fx.run("hierarchical_clustering", {"distances": fx.value("distances")},
                                    {"n_clusters": 2}, node_id="cluster")["dendrogram"],
    "classifier": lambda fx: _trained(fx)["model"],
    "evaluation": lambda fx: fx.run("evaluate", {"predictions": _trained(fx)["validation"]},
                                    node_id="evaluate")["evaluation"],
    "pixel_samples": _pixel_samples,
    "pixel_model": _pixel_model,
    "pixel_maps": lambda fx: fx.run("classify_pixels", {"model": fx.value("pixel_model"), "images": fx.value("images")},
                                    node_id="pixel_classify")["maps"],
    "toy_number": lambda fx: 3,
    "toy_words": lambda fx: "three little words",
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory, shared_cache) -> Fixtures:
    return Fixtures(tmp_path_factory.mktemp("conformance"), shared_cache.store_dir)


# --- the checks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("type_id", TYPES)
def test_declaration_and_defaults_are_valid(type_id: str) -> None:
    node_type = REGISTRY.get(type_id)
    json.dumps(node_type.describe())
    assert node_type.title and node_type.category and node_type.outputs
    for param in node_type.params:
        assert isinstance(param, Param) and param.expected()
        assert param.validate(param.default) == param.default, f"{type_id}: default of '{param.name}'"
    workflow = Workflow(nodes=(new_node(Workflow(), node_type, node_id="n"),))
    unconnected = {f"input '{i.name}'" for i in node_type.inputs if not i.optional}
    problems = [p for p in validate(workflow, REGISTRY) if not any(u in p.message for u in unconnected)]
    assert [p for p in problems if p.field in {q.name for q in node_type.params}] == []


BUILT_IN = sorted(t.type for t in REGISTRY if t.run.__module__.startswith("nodes."))


@pytest.mark.parametrize("type_id", BUILT_IN)
def test_built_in_nodes_declare_their_context_as_run_context(type_id: str) -> None:
    """The node contract is typed: run(ctx: RunContext, ...) and fingerprint(ctx: RunContext, params)."""
    node_type = REGISTRY.get(type_id)
    for function in filter(None, (node_type.run, node_type.fingerprint)):
        first = next(iter(inspect.signature(function).parameters.values()))
        named = first.annotation
        resolved = function.__globals__.get(named) if isinstance(named, str) else named
        assert resolved is RunContext, f"{type_id}: {function.__name__}({first.name}: {named!r})"


def bad_values(param: Param) -> list[Any]:
    """Values each kind of parameter must refuse."""
    bad: list[Any] = [object()]
    if param.kind == "int":
        bad += ["ten", 2.5, *([param.min - 1] if param.min is not None else []),
                *([param.max + 1] if param.max is not None else [])]
    elif param.kind == "float":
        bad += ["ten", math.nan, *([param.min - 1] if param.min is not None else []),
                *([param.max + 1] if param.max is not None else [])]
    elif param.kind == "bool":
        bad += ["maybe", 2]
    elif param.kind == "choice":
        bad += ["no such choice", 3]
    elif param.kind in ("text", "path"):
        bad += [42, *([""] if getattr(param, "allow_empty", True) is False else [])]
    return bad


@pytest.mark.parametrize("type_id", TYPES)
def test_bad_values_are_refused_naming_node_and_field(type_id: str) -> None:
    node_type = REGISTRY.get(type_id)
    spec = new_node(Workflow(), node_type, node_id="under_test")
    for param in node_type.params:
        for value in bad_values(param):
            workflow = Workflow(nodes=(spec.__class__(**{**spec.__dict__, "params": {**spec.params, param.name: value}}),))
            problems = validate(workflow, REGISTRY)
            assert any(p.node == "under_test" and p.field == param.name for p in problems), (
                f"{type_id}: {param.name}={value!r} was not refused by name: {[str(p) for p in problems]}")


@pytest.mark.parametrize("type_id", TYPES)
def test_runs_on_tiny_fixtures_with_outputs_as_declared(type_id: str, fixtures: Fixtures) -> None:
    from flowclass.viewers.registry import default_viewers

    node_type = REGISTRY.get(type_id)
    inputs = {i.name: fixtures.value(i.type.name) for i in node_type.inputs}
    expected = EXPECTED_FAILURES.get(type_id)
    if expected is not None:
        with pytest.raises(expected[0]) as failure:
            fixtures.run(type_id, inputs, node_id=type_id.replace(".", "_"))
        if expected[1] is not None:
            assert failure.value.field == expected[1]
        return
    outputs = fixtures.run(type_id, inputs, node_id=type_id.replace(".", "_"))
    assert sorted(outputs) == sorted(o.name for o in node_type.outputs)
    viewers = default_viewers(REGISTRY)
    for output in node_type.outputs:
        value = outputs[output.name]
        again = codec.from_bytes(codec.to_bytes(value))
        assert type(again) is type(value), f"{type_id}.{output.name} does not survive the codec"
        assert codec.to_bytes(again) == codec.to_bytes(value), f"{type_id}.{output.name} changes in the codec"
        own = [v.title for v in viewers.viewers if v.data_type == output.type.name and v.fits(value)]
        assert own, f"{type_id}.{output.name}: no viewer for data type '{output.type.name}' fits this value"
    if node_type.reports is not None and type_id in LIBRARY_TYPES:
        assert_reports_named_as_export_avoids(type_id, node_type, outputs, fixtures)


LIBRARY_TYPES = {t.type for t in default_registry()}  # FlowClass's own node families


def assert_reports_named_as_export_avoids(type_id: str, node_type: Any, outputs: dict[str, Any],
                                          fixtures: Fixtures) -> None:
    """A report a node of the library saves at the top of the output folder has a name that
    Export to Folders keeps its label folders off (report_names.REPORT_NAMES): a report named
    otherwise would find a label folder of that name in its place and not be saved."""
    from flowclass.reports import ReportSource
    from nodes.lib.results.report_names import REPORT_NAMES

    def upstream(data_type: str) -> Any:
        return fixtures.value(data_type) if data_type in VALUE_FACTORIES else None

    names = node_type.reports(ReportSource(type_id, outputs.__getitem__, upstream))
    assert names, f"{type_id} declares reports but makes none on its fixtures"
    unlisted = sorted(set(names) - set(REPORT_NAMES))
    assert not unlisted, f"{type_id}'s reports {unlisted} are not in nodes/lib/results/report_names.py"
