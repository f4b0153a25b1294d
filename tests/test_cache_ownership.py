"""A folder is a FlowClass cache only if FlowClass made it; nothing else is ever removed.

`cache clear`, `cache prune`, the prune after a run and a run's writes all refuse a folder
of the user's (naming it), and in a cache FlowClass made they remove only its own entries.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from flowclass.cache import MARKER, TAG, Cache, NotACache
from flowclass.cli import main
from tests.conftest import REPO

PLUGINS = str(REPO / "tests" / "plugins")


def _users_project(root):
    """A folder of the user's whose subfolders happen to be named like the cache's."""
    (root / "results" / "2024").mkdir(parents=True)
    (root / "results" / "2024" / "table.csv").write_text("a,b\n1,2\n")
    (root / "results" / "exp1" / "run_a").mkdir(parents=True)
    (root / "results" / "exp1" / "run_a" / "data.bin").write_bytes(b"\1" * 2_000_000)
    (root / "stores").mkdir()
    (root / "stores" / "list.txt").write_text("mine")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _toy_workflow(tmp_path, values=(1, 2, 3)):
    doc = {"schema_version": 1, "nodes": [{"id": f"n{v}", "type": "toy.number",
                                           "params": {"value": v}} for v in values]}
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("command", [["cache", "clear"], ["cache", "prune", "--cache-size", "1MB"],
                                     ["cache", "info"]])
def test_cache_commands_refuse_a_folder_flowclass_did_not_make(tmp_path, capsys, command):
    project = tmp_path / "project"
    before = _users_project(project)
    assert main([*command, "--cache", str(project)]) == 2
    err = capsys.readouterr().err
    assert str(project) in err and "not a FlowClass cache" in err, err
    assert _listing(project) == before


def test_a_cachedir_tag_is_not_a_flowclass_marker(tmp_path, capsys):
    """An earlier FlowClass wrote CACHEDIR.TAG into folders of the user's: that is no proof."""
    project = tmp_path / "project"
    _users_project(project)
    (project / "CACHEDIR.TAG").write_text(TAG)
    before = _listing(project)
    assert main(["cache", "clear", "--cache", str(project)]) == 2
    assert "not a FlowClass cache" in capsys.readouterr().err
    assert _listing(project) == before


def test_a_run_refuses_a_users_folder_as_cache_and_writes_nothing_into_it(tmp_path, capsys):
    project = tmp_path / "project"
    before = _users_project(project)
    code = main(["run", _toy_workflow(tmp_path), "--plugins", PLUGINS, "-q", "--out",
                 str(tmp_path / "out"), "--cache", str(project), "--cache-size", "1MB"])
    assert code == 2
    assert str(project) in capsys.readouterr().err
    assert _listing(project) == before  # no CACHEDIR.TAG, no marker, nothing pruned


def test_a_new_or_empty_folder_becomes_a_cache_with_a_versioned_marker(tmp_path):
    for folder in (tmp_path / "new", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        assert main(["run", _toy_workflow(tmp_path), "--plugins", PLUGINS, "-q", "--out",
                     str(tmp_path / "out"), "--cache", str(folder)]) == 0
        marker = json.loads((folder / MARKER).read_text())
        assert marker["flowclass_cache"] == 1 and marker["made_by"].startswith("FlowClass")
        assert (folder / "CACHEDIR.TAG").read_text() == TAG
        assert len(Cache(folder)._results()) == 3


def test_a_marker_copied_into_another_folder_proves_nothing(tmp_path, capsys):
    """A shared bundle may carry a flowclass-cache.json: it names the folder it was made in."""
    made = tmp_path / "made"
    Cache(made).put("ab" * 32, {"x": 1}, {})
    project = tmp_path / "project"
    before = _users_project(project)
    (project / MARKER).write_bytes((made / MARKER).read_bytes())
    before.append(MARKER)
    assert main(["cache", "clear", "--cache", str(project)]) == 2
    assert "written for another folder" in capsys.readouterr().err
    assert _listing(project) == sorted(before)


def test_a_cache_of_a_newer_layout_is_refused_naming_it(tmp_path):
    folder = tmp_path / "c"
    Cache(folder).put("ab" * 32, {"x": 1}, {})
    (folder / MARKER).write_text(json.dumps({"flowclass_cache": 7}))
    with pytest.raises(NotACache, match="newer FlowClass.*layout 7"):
        Cache(folder).check()
    with pytest.raises(NotACache, match=str(folder)):
        Cache(folder).clear()


def test_prune_and_clear_remove_only_entries_they_recognise(tmp_path, capsys, monkeypatch):
    """Files of the user's put inside a real cache, even named like its parts, stay."""
    monkeypatch.delenv("FLOWCLASS_CACHE_SIZE", raising=False)
    folder = tmp_path / "c"
    cache = Cache(folder)
    for i in range(3):
        cache.put(f"{i:02x}" * 32, {"x": np.arange(1000.0)}, {})
    cache.store_dir("family")
    theirs = [folder / "results" / "exp1" / "run_a" / "data.bin",  # not a shard
              folder / "results" / "ab" / "notes.txt",  # a file in a shard
              folder / "results" / "ab" / ("ab" * 32) / "data.bin",  # a key-named folder without meta.json
              folder / "results" / "cd" / ("ef" * 32) / "meta.json",  # in the wrong shard
              folder / "stores" / "list.txt",  # a file, not a store folder
              folder / "mine.txt"]
    for path in theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": path.parent.name, "bytes": 1}))
    assert main(["cache", "prune", "--cache", str(folder), "--cache-size", "0"]) == 0
    assert "removed 3 node result(s)" in capsys.readouterr().out
    assert all(path.exists() for path in theirs)
    cache.put("12" * 32, {"x": 1}, {})
    assert main(["cache", "clear", "--cache", str(folder)]) == 0
    assert all(path.exists() for path in theirs), _listing(folder)
    assert Cache(folder)._results() == [] and not (folder / "stores" / "family").exists()
    assert (folder / MARKER).exists()  # still a cache, and still FlowClass's


def test_the_default_cache_made_before_markers_is_adopted_and_no_other_folder_is(tmp_path, monkeypatch):
    """FlowClass's own default folder with the tag an earlier FlowClass wrote is its cache;
    the same tag in any other folder proves nothing."""
    import flowclass.cache

    default = tmp_path / "user-cache" / "flowclass"
    monkeypatch.setattr(flowclass.cache, "user_cache_dir", lambda name: str(tmp_path / "user-cache" / name))
    for folder in (default, tmp_path / "elsewhere"):
        (folder / "results").mkdir(parents=True)
        (folder / "CACHEDIR.TAG").write_text(TAG)
    Cache(default).put("ab" * 32, {"x": 1}, {})
    assert json.loads((default / MARKER).read_text())["flowclass_cache"] == 1
    with pytest.raises(NotACache, match="elsewhere"):
        Cache(tmp_path / "elsewhere").put("ab" * 32, {"x": 1}, {})


KILLED_PUT = """
import os, signal, sys
from pathlib import Path
import numpy as np
from flowclass.cache import Cache
rename = os.rename
def killed(source, target, *args, **kwargs):  # kill -9 as the finished result is moved into place
    if Path(source).name.startswith(".tmp-"):
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(source, target, *args, **kwargs)
os.rename = killed
Cache(Path(sys.argv[1])).put("ab" * 32, {"x": np.arange(10)}, {})
"""


@pytest.mark.slow  # a process killed mid-write and a whole run: 1.5 s at load 9
def test_what_a_killed_write_leaves_in_the_cache_goes_once_an_hour_old_and_nothing_of_yours(tmp_path, capsys):
    """README: the cache's own leftovers (.tmp-... result folders) are removed by `flowclass
    cache prune` and the prune after a run once an hour old (younger, a live run may be
    writing them); a folder of yours beside them stays."""
    import os
    import subprocess
    import sys
    import time

    root = tmp_path / "cache"
    killed = subprocess.run([sys.executable, "-c", KILLED_PUT, str(root)], env={**os.environ, "PYTHONPATH": str(REPO)})
    assert killed.returncode == -9
    (leftover,) = (root / "results" / "ab").iterdir()
    assert leftover.name.startswith(".tmp-abababababab-") and (leftover / "outputs").is_dir()
    mine = root / "results" / "ab" / ".tmp-my-notes"
    mine.mkdir()
    assert main(["cache", "prune", "--cache", str(root)]) == 0
    assert leftover.is_dir() and mine.is_dir()  # it may be a live run's
    an_hour_ago = time.time() - 3700
    for folder in (leftover, mine):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    assert main(["run", _toy_workflow(tmp_path), "--plugins", PLUGINS, "--cache", str(root),
                 "--out", str(tmp_path / "out"), "-q"]) == 0  # the prune after a run
    assert not leftover.exists() and mine.is_dir()
    capsys.readouterr()
