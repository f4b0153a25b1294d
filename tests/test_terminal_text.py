"""What `flowclass` prints of names that come from outside never drives the terminal.

A folder from a stranger (a downloaded data set) holding a file named with terminal escape
sequences, printed as it was among the skipped files, had the terminal act on it: ``ESC[2J``
cleared the screen, ``ESC]0;...BEL`` retitled the window, and ``ESC]52`` could put a command on
the clipboard for the user to paste. A node id in a stranger's workflow, refused by name,
did the same. They are now printed as their escapes (``\\x1b``), as are characters that
reverse text (U+202E makes ``evil\\u202egnp.exe`` look like ``evilexe.png``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowclass.cli import main
from flowclass.terminal import printable

EVIL = "evil\x1b[2J\x1b]0;owned\x07\u202egnp.png"


def test_a_strangers_file_name_is_printed_as_its_escapes(tmp_path: Path, capsys) -> None:
    (tmp_path / "pics" / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "pics" / "a" / "ok.png")
    (tmp_path / "pics" / "a" / EVIL).write_bytes(b"not an image")
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"schema_version": 1, "name": "x", "nodes": [
        {"id": "import", "type": "import_images", "version": 2, "params": {"folder": "pics"},
         "position": {"x": 0, "y": 0}}], "edges": []}), encoding="utf-8")
    assert main(["run", str(flow), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr()
    assert "evil\\x1b[2J\\x1b]0;owned\\x07\\u202egnp.png: not an image" in printed.err
    assert not any(ch in printed.err + printed.out for ch in "\x1b\x07\u202e")


def test_a_strangers_node_id_is_printed_as_its_escapes(tmp_path: Path, capsys) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"schema_version": 1, "name": "x", "nodes": [
        {"id": "imp\x1b]52;c;cm0gLXJmIH4=\x07", "type": "import_images", "version": 2, "params": {},
         "position": {"x": 0, "y": 0}}], "edges": []}), encoding="utf-8")
    assert main(["validate", str(flow), "--cache", str(tmp_path / "cache")]) == 2
    printed = capsys.readouterr()
    assert "imp\\x1b]52;c;cm0gLXJmIH4=\\x07" in printed.err
    assert not any(ch in printed.err + printed.out for ch in "\x1b\x07")


def test_lines_tabs_and_any_script_stay_as_they_are() -> None:
    text = "naïve café 猫 ✓\n\ttwo lines"
    assert printable(text) == text
    assert printable("a\rb\x00c\x9bd") == "a\\rb\\x00c\\x9bd"



def test_a_name_whose_bytes_are_not_utf8_is_printed_as_its_escape() -> None:
    """A path under a folder a Latin-1 system named (b'caf\\xe9', held by Python as a lone
    surrogate) in an error message ended the CLI in a UnicodeEncodeError while printing it."""
    assert printable("/tmp/caf\udce9/wf.json") == "/tmp/caf\\udce9/wf.json"
    assert printable("caf\udce9").encode("utf-8") == b"caf\\udce9"  # prints on any terminal


# --- the same names on the page (flowclass/viewers/names.py) -----------------------------------

REVERSED = "cat\u202egpj.exe"
ESCAPED = "cat\\u202egpj.exe"


@pytest.mark.anyio
async def test_viewers_show_a_label_or_file_name_that_reverses_text_as_its_escape(user, tmp_path):
    """The label queue, the groups of copies and the image grid showed a stranger's label or
    file name with its U+202E, which reversed what followed it on the page (the queue's
    *suggested dog* read *god detseggus*); the real browser's view of it is
    tests/test_bidi_names_browser.py. Persian's zero-width non-joiner stays as it is."""
    from nicegui import ui
    from test_ui_cleaning import context, queue_context

    from nodes.cleaning_types import DuplicateGroups, LabelIssues
    from nodes.datatypes import ImageSet

    from flowclass.viewers.images import gallery_of_images, grid_html
    from nodes.viewers.cleaning_duplicates import duplicate_groups
    from nodes.viewers.cleaning_labels import label_queue

    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    images = ImageSet(np.array([str(tmp_path / "a" / f"{REVERSED}.png")] * 2), np.array([REVERSED] * 2),
                      np.array(["0" * 64, "1" * 64]), np.full(2, 8), np.full(2, 8), str(tmp_path))
    issues = LabelIssues(images, np.array([persian] * 2), np.array([0.9, 0.8]), np.array([True, False]),
                         (REVERSED, persian))
    groups = DuplicateGroups(images, np.arange(2), np.array([1, 1]), np.array(["near"] * 2), np.array([True, False]))

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, []))
        duplicate_groups.show(groups, context(tmp_path, []))

    await user.open("/")
    await user.should_see(f"labelled {ESCAPED} · suggested {persian}")
    await user.should_see(f"Keep {ESCAPED}")
    await user.should_see(f"{ESCAPED}.png")
    await user.should_see(f"label {ESCAPED} · 8×8")
    html = grid_html(gallery_of_images(issues.images), [0], queue_context(tmp_path, []), headed=True)
    assert f">{ESCAPED}.png</span>" in html and f">{ESCAPED} <span" in html  # its name, and its group's heading
    assert f">{REVERSED}" not in html and f"title=\"{REVERSED}" not in html


@pytest.mark.anyio
async def test_tables_charts_and_the_pixel_legend_show_such_a_name_as_its_escape(user, tmp_path):
    """The table viewer (predictions, label issues, duplicates... as tables), the map's and the
    size bars' tooltips, the area chart and the pixel classifier's class chips showed a
    stranger's U+202E as it was: a table row's *cat\\u202egpj.exe | dog* read otherwise than
    it was. The CSV download keeps the names as they were."""
    from types import SimpleNamespace

    import pandas as pd
    from nicegui import ui
    from test_ui_cleaning import context

    from flowclass.viewers.tables import csv_bytes, show_table
    from nodes.lib.clustering.tree_top import tree_top
    from nodes.viewers.clustering import size_bars
    from nodes.viewers.maps import chart_options
    from nodes.viewers.pixels import area_chart, class_chips

    table = pd.DataFrame({"path": [str(tmp_path / f"{REVERSED}.png")], "label": [REVERSED],
                          f"p({REVERSED})": [0.5]})
    maps = SimpleNamespace(names=[REVERSED, "sky"], colours=["#ff0000", "#0000ff"], counts=np.array([[3, 1]]))

    @ui.page("/")
    def page() -> None:
        show_table(table, context(tmp_path, []))
        class_chips(maps, 0)
        area_chart(pd.DataFrame({"image": [f"{REVERSED}.png"], "class": [REVERSED], "colour": ["#ff0000"],
                                 "percent": [75.0]}))

    await user.open("/")
    grid = user.find(ui.table).elements.pop()
    assert grid.rows == [{"path": str(tmp_path / f"{ESCAPED}.png"), "label": ESCAPED, f"p({REVERSED})": 0.5}]
    assert [c["label"] for c in grid.columns] == ["path", "label", f"p({ESCAPED})"]
    assert REVERSED in csv_bytes(table).decode("utf-8")
    await user.should_see(f"{ESCAPED} 75.0 %")
    areas = user.find(ui.echart).elements.pop().options
    assert areas["series"][0]["name"] == ESCAPED and areas["yAxis"]["data"] == [f"{ESCAPED}.png"]

    options = chart_options(np.zeros((1, 2)), np.array([REVERSED]), [REVERSED], ["u"], [f"{ESCAPED}.png"], "t")
    assert options["series"][0]["name"] == ESCAPED  # the legend's and the tooltip's group
    from scipy.cluster.hierarchy import linkage

    top = tree_top(linkage(np.array([[0.0], [1.0], [5.0]]), "ward"))
    bars = size_bars(top, np.array(["1", "1", "2"]), np.zeros(len(top.leaves), bool), [f"/p/{REVERSED}.png"] * 3)
    assert f"{ESCAPED}.png" in [bar[2] for bar in bars] and not any(REVERSED in str(bar[2]) for bar in bars)
