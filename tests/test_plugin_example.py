"""The README's plugin example, as printed there: one file that adds a node and its viewer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from flowclass.cache import Cache
from flowclass.cli import main
from flowclass.engine import Engine
from flowclass.library import default_registry
from flowclass.viewers import ViewerContext
from flowclass.viewers.registry import default_viewers
from flowclass.workflow import Edge, PortRef, Workflow
from flowclass.workflow_file import new_node, save

README = Path(__file__).resolve().parent.parent / "README.md"


def plugin_source() -> str:
    section = README.read_text().split("## Plugins: writing a node and its viewer", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


@pytest.fixture
def plugin_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "brightness.py").write_text(plugin_source())
    return folder


def brightness_workflow(registry) -> Workflow:
    images = new_node(Workflow(), registry.get("sample_images"), node_id="digits")
    images = images.__class__(**{**images.__dict__, "params": {**images.params, "max_per_label": 2}})
    measure = new_node(Workflow(), registry.get("my.brightness"), node_id="measure")
    return Workflow(name="Brightness", nodes=(images, measure),
                    edges=(Edge(PortRef("digits", "images"), PortRef("measure", "images")),))


def test_the_readme_plugin_runs_from_the_command_line(plugin_folder: Path, tmp_path: Path, shared_cache) -> None:
    registry = default_registry([plugin_folder])
    assert registry.plugin_errors == [] and "my.brightness" in registry
    path = tmp_path / "brightness.json"
    save(brightness_workflow(registry), path)
    out = tmp_path / "out"
    assert main(["run", str(path), "--plugins", str(plugin_folder), "--out", str(out),
                 "--cache", str(shared_cache.root), "-q"]) == 0
    manifest = json.loads((out / "run.json").read_text())
    measured = manifest["nodes"]["measure"]
    assert (measured["type"], measured["state"], measured["params"]["size"]) == ("my.brightness", "done", 64)


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_readme_plugin_viewer_shows_its_values(user: User, plugin_folder: Path, tmp_path: Path) -> None:
    registry = default_registry([plugin_folder])
    result = Engine(registry, Cache(tmp_path / "cache")).run(brightness_workflow(registry), out_dir=tmp_path)
    values = result.output("measure", "brightness")
    assert len(values) == 20 and all(0 < v < 255 for v in values.values())  # 2 of each digit, grey levels
    (chart,) = default_viewers(registry).for_value("my_brightness", values)
    assert chart.title == "Brightness"
    ctx = ViewerContext(node_id="measure", port="brightness", data_type="my_brightness", workflow_dir=None,
                        out_dir=tmp_path, image_url=lambda *a, **k: "", upstream=lambda name: None,
                        set_params=lambda *a: None, run=lambda nodes: None, refresh=lambda: None,
                        store_dir=lambda name: tmp_path)

    @ui.page("/")
    def page() -> None:
        chart.show(values, ctx)

    await user.open("/")
    (element,) = user.find(ui.echart).elements
    assert element.options["series"][0]["data"] == list(values.values())
    assert element.options["xAxis"]["data"][0].endswith(".png")
