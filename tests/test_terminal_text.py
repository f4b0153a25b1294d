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
