"""The cache has a cap: least recently used results go first, a run's own results stay."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from flowclass.cache import Cache, parse_size
from flowclass.cli import main
from tests.conftest import REPO

PLUGINS = str(REPO / "tests" / "plugins")


def _noise(kb: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(kb * 1000 // 8)  # incompressible


def _results_bytes(cache: Cache) -> int:
    return sum(size for _, size, _, _ in cache._results())


def test_sizes_are_read_like_people_write_them():
    assert parse_size("10GB") == 10**10 and parse_size("500 mb") == 5 * 10**8
    assert parse_size("2GiB") == 2**31 and parse_size("1000") == 1000
    for bad in ("", "ten GB", "5 parsecs", "-1GB"):
        with pytest.raises(ValueError, match="expected a size"):
            parse_size(bad)


def test_least_recently_used_results_are_removed_first(tmp_path):
    cache = Cache(tmp_path, max_bytes=450_000)
    for i in range(4):
        cache.put(f"{i:02d}" + "c" * 62, {"x": _noise(100, i)}, {})
        time.sleep(0.02)
    assert cache.get("00" + "c" * 62) is not None  # used again: now the most recent
    time.sleep(0.02)
    cache.put("04" + "c" * 62, {"x": _noise(100, 4)}, {})
    done = cache.prune()
    assert done["removed"] == 1 and done["left"] <= 450_000
    kept = {key[:2] for _, _, key, _ in cache._results()}
    assert kept == {"00", "02", "03", "04"}  # 01 was the least recently used
    assert cache.get("01" + "c" * 62) is None and cache.get("00" + "c" * 62).output("x").shape


def test_a_result_larger_than_the_cap_is_not_kept(tmp_path):
    cache = Cache(tmp_path, max_bytes=50_000)
    with pytest.raises(OSError, match="larger than the whole cache"):
        cache.put("ab" * 32, {"x": _noise(100, 0)}, {})
    assert cache.get("ab" * 32) is None
    assert not [p for p in (tmp_path / "results").rglob("*") if p.is_dir() and len(p.name) > 2]


def _toy_run(tmp_path, values, cache_dir, size):
    """One run of the toy plugin's nodes that each store a result; returns the CLI exit code."""
    doc = {"schema_version": 1, "nodes": [{"id": f"n{v}", "type": "toy.number",
                                           "params": {"value": v}} for v in values]}
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(doc))
    return main(["run", str(path), "--plugins", PLUGINS, "--out", str(tmp_path / "o"), "-q",
                 "--cache", str(cache_dir), "--cache-size", size])


def test_runs_keep_the_cache_under_its_cap_and_their_own_results(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FLOWCLASS_CACHE_SIZE", raising=False)
    cache_dir = tmp_path / "c"
    assert _toy_run(tmp_path, range(10, 16), cache_dir, "100GB") == 0
    each = _results_bytes(Cache(cache_dir)) / 6
    cap = int(each * 8.5)  # room for 8 results
    for start in (16, 22):  # two more runs of 6 new results each
        assert _toy_run(tmp_path, range(start, start + 6), cache_dir, str(cap)) == 0
        assert _results_bytes(Cache(cache_dir)) <= cap
        assert len(Cache(cache_dir)._results()) == 8
    capsys.readouterr()
    assert _toy_run(tmp_path, range(22, 28), cache_dir, str(cap)) == 0
    assert "6 from cache" in capsys.readouterr().out  # the last run's results all stayed
    assert "FLOWCLASS_CACHE_SIZE" not in os.environ  # --cache-size held for that command only


def test_cache_prune_and_info_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FLOWCLASS_CACHE_SIZE", raising=False)
    cache_dir = tmp_path / "c"
    assert _toy_run(tmp_path, range(5), cache_dir, "100GB") == 0
    (cache_dir / "mine.txt").write_text("keep me")
    store = Cache(cache_dir).store_dir("family")
    (store / "data.bin").write_bytes(b"x" * 1000)
    capsys.readouterr()
    monkeypatch.setenv("FLOWCLASS_CACHE_SIZE", "0")
    assert main(["cache", "info", "--cache", str(cache_dir)]) == 0
    assert "5 node result(s), at most 0 MB" in capsys.readouterr().out
    assert main(["cache", "prune", "--cache", str(cache_dir)]) == 0
    assert "removed 5 node result(s)" in capsys.readouterr().out
    assert Cache(cache_dir)._results() == []
    assert (cache_dir / "mine.txt").read_text() == "keep me"
    assert (store / "data.bin").stat().st_size == 1000
    monkeypatch.setenv("FLOWCLASS_CACHE_SIZE", "lots")
    assert main(["cache", "info", "--cache", str(cache_dir)]) == 2
    assert "FLOWCLASS_CACHE_SIZE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cache", "prune", "--cache-size", "5 parsecs"])
