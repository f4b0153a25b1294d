"""Model and workflow files made to hurt: zip bombs, damaged bytes, absurd nesting.

Each is refused with an error that names the file, without a traceback and without
spending memory on what the file only claims to hold.
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from classify_helpers import digits_training, run
from flowclass import codec

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def model_file(registry, shared_cache, tmp_path_factory):
    """A real .fcmodel (logistic regression on digit pixels) written by Save Model."""
    out = tmp_path_factory.mktemp("model")
    nodes, edges = digits_training(per_label=8, train={"model": "logistic_regression"})
    nodes.append(("save", "save_model", {"path": "digits.fcmodel"}))
    edges.append(("train.model", "save.model"))
    result = run(registry, shared_cache, nodes, edges, out)
    assert result.ok, [o.error for o in result.failed]
    return out / "digits.fcmodel"


def test_a_saved_model_file_is_readable_by_the_group_and_others_under_umask_022(model_file):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(model_file.stat().st_mode) == 0o666 & ~umask


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _npz_bomb(megabytes: int) -> bytes:
    """An npz whose one array of zeros inflates to ``megabytes`` MB from about a thousandth of that."""
    count = megabytes * 2**20 // 8
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (count,)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("a0.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            entry.write(header.getvalue())
            zeros = bytes(2**20)
            for _ in range(megabytes):
                entry.write(zeros)
    return buffer.getvalue()


def _load(registry, cache, tmp_path, path):
    return run(registry, cache, [("load", "load_model", {"file": str(path)})], [],
               tmp_path / "run").outcomes["load"]


@pytest.mark.slow
def test_a_zip_bomb_model_is_refused_before_it_is_inflated(registry, cache, tmp_path):
    tree = {"__dataclass__": "flowclass.Classifier", "fields": {"estimator": {"__array__": "a0"}}}
    bomb = tmp_path / "bomb.fcmodel"
    bomb.write_bytes(_zip({"value.json": json.dumps(tree).encode(), "arrays.npz": _npz_bomb(300)}))
    assert bomb.stat().st_size < 2 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(codec.CodecError, match="inflate|larger"):
            codec.from_bytes(bomb.read_bytes())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MB spent on a refused file"
    outcome = _load(registry, cache, tmp_path, bomb)
    assert outcome.state == "failed" and str(bomb) in outcome.error
    assert outcome.traceback is None


def _zip_of_many_entries(count: int) -> bytes:
    """A zip whose directory lists ``count`` empty entries (all one local entry: ZipFile reads
    the directory, not the entries, when it opens), about 50 bytes each."""
    one = io.BytesIO()
    with zipfile.ZipFile(one, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a", b"")
    data = one.getvalue()
    end = data[-zipfile.sizeEndCentDir:]
    directory_size, directory_at = struct.unpack("<4s4H2LH", end)[5:7]
    local, record = data[:directory_at], data[directory_at:directory_at + directory_size]
    directory = record * count
    end64_at = len(local) + len(directory)
    end64 = struct.pack(zipfile.structEndArchive64, zipfile.stringEndArchive64, 44, 45, 45, 0, 0,
                        count, count, len(directory), len(local))
    locator = struct.pack(zipfile.structEndArchive64Locator, zipfile.stringEndArchive64Locator,
                          0, end64_at, 1)
    end = struct.pack(zipfile.structEndArchive, zipfile.stringEndArchive, 0, 0, 0xFFFF, 0xFFFF,
                      0xFFFFFFFF, 0xFFFFFFFF, 0)
    return local + directory + end64 + locator + end


def test_a_model_of_countless_empty_entries_is_refused_before_its_directory_is_read(
        registry, cache, tmp_path):
    """Opening a zip makes a Python object of every entry its directory lists: 300,000 empty
    entries (24 MB) took 180 MB, a 1 GB file would take gigabytes, before any size check."""
    many = tmp_path / "many.fcmodel"
    many.write_bytes(_zip_of_many_entries(codec.LIMITS.max_entries + 1))
    tracemalloc.start()
    try:
        with pytest.raises(codec.CodecError, match="100,001 entries"):
            codec.from_bytes(many.read_bytes())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * many.stat().st_size, f"{peak / 2**20:.0f} MB spent on a refused file"
    outcome = _load(registry, cache, tmp_path, many)
    assert outcome.state == "failed" and str(many) in outcome.error and "entries" in outcome.error
    assert codec.from_bytes(codec.to_bytes({"x": 1})) == {"x": 1}  # a real file opens


def test_a_value_json_bomb_is_refused(tmp_path):
    spaces = b" " * (64 * 2**20) + b"1"
    with pytest.raises(codec.CodecError, match="inflate"):
        codec.from_bytes(_zip({"value.json": spaces, "arrays.npz": _zip({})}))


def test_an_absolute_bound_holds_for_incompressible_data():
    big = codec.to_bytes({"x": np.random.default_rng(0).random(300_000)})  # 2.4 MB of noise
    assert codec.from_bytes(big)["x"].shape == (300_000,)
    with pytest.raises(codec.CodecError, match="larger"):
        codec.from_bytes(big, limits=codec.ZipLimits(max_bytes=2**20))


def test_an_array_header_that_claims_more_than_the_entry_holds_is_refused():
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12,)})
    npz = _zip({"a0.npy": header.getvalue() + bytes(80)})
    data = _zip({"value.json": b'{"__array__": "a0"}', "arrays.npz": npz})
    with pytest.raises(codec.CodecError, match="a0"):
        codec.from_bytes(data)


def test_every_damaged_model_file_is_refused_naming_it(model_file, tmp_path):
    """Flipped bytes all over the file and cuts at many lengths: a ModelFileError that names
    the file, or (a byte nobody reads, like a zip date) the same model; nothing else."""
    from nodes.lib.classify.model_format import ModelFileError, read_model

    data = model_file.read_bytes()
    name = str(tmp_path / "damaged.fcmodel")
    intact = read_model(data, name=name)
    positions = sorted(set(np.linspace(0, len(data) - 1, 90).astype(int)) |
                       set(range(0, 60)) | set(range(len(data) - 60, len(data))))
    damaged = [data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:] for i in positions]
    damaged += [data[:n] for n in np.linspace(0, len(data) - 1, 40).astype(int)]
    refused = 0
    for blob in damaged:
        try:
            model = read_model(blob, name=name)
        except ModelFileError as exc:
            assert name in str(exc), str(exc)
            refused += 1
        else:
            assert model.classes == intact.classes
    assert refused > len(damaged) // 2


def test_load_model_refuses_a_file_too_large_to_be_a_model_without_reading_it(
        registry, cache, tmp_path, monkeypatch):
    from nodes.lib.classify import model_format as lib

    big = tmp_path / "big.fcmodel"
    with open(big, "wb") as handle:
        handle.truncate(3 * 2**20)  # sparse: no disk used
    monkeypatch.setattr(lib, "LIMITS", codec.ZipLimits(max_bytes=2**20))
    outcome = _load(registry, cache, tmp_path, big)
    assert outcome.state == "failed" and str(big) in outcome.error and "larger" in outcome.error


def test_a_deeply_nested_model_is_refused_naming_it(tmp_path):
    from nodes.lib.classify.model_format import ModelFileError, read_model

    deep = _zip({"value.json": DEEP.encode(), "arrays.npz": _zip({})})
    with pytest.raises(ModelFileError, match="deep.fcmodel.*nested"):
        read_model(deep, name="deep.fcmodel")
    just_under = _zip({"value.json": ("[" * 900 + "]" * 900).encode(), "arrays.npz": _zip({})})
    with pytest.raises(ModelFileError, match="nested"):
        read_model(just_under, name="deep.fcmodel")


@pytest.mark.parametrize("text", [
    DEEP,
    '{"schema_version": 1, "nodes": [{"id": "a", "type": "import_images", "params": {"folder": '
    + "[" * 5000 + "]" * 5000 + "}}], \"edges\": []}",
    '{"schema_version": 1, "name": ' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}",
], ids=["brackets", "nested-param", "nested-objects"])
def test_a_deeply_nested_workflow_is_a_clear_error_naming_the_file(tmp_path, text, capsys):
    from flowclass.cli import main

    path = tmp_path / "nested.json"
    path.write_text(text)
    # validate and run read the file the same way: validate is tried on every shape in this
    # process (under pytest's frames, a deeper stack than a command's own), run on one shape
    # in a process of its own, as a user starts it
    assert main(["validate", str(path), "--cache", str(tmp_path / "cache")]) == 2
    said = capsys.readouterr().err
    assert str(path) in said and "nested" in said
    assert "Traceback" not in said and "RecursionError" not in said
    if text is not DEEP:
        return
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run", "--out", str(tmp_path / "out"),
                           str(path), "--cache", str(tmp_path / "cache")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert str(path) in done.stderr and "nested" in done.stderr
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr


def test_a_deeply_nested_cache_entry_counts_as_missing(tmp_path):
    from flowclass.cache import Cache

    cache = Cache(tmp_path / "cache")
    stored = cache.put("ab" * 32, {"out": [1, 2]}, {})
    (stored.folder / "meta.json").write_text(DEEP)
    assert cache.get("ab" * 32) is None


def test_json_nesting_is_bounded_exactly():
    from flowclass import safe_json

    assert safe_json.loads("[" * 100 + "]" * 100) == eval("[" * 100 + "]" * 100)
    for text in ("[" * 101 + "]" * 101, '{"a":' * 101 + "1" + "}" * 101, DEEP):
        with pytest.raises(safe_json.TooDeep):
            safe_json.loads(text)


def test_a_deeply_nested_journal_line_is_skipped(tmp_path):
    from flowclass.userfiles.owned_folder import JOURNAL, OwnedFolder

    (tmp_path / "a.png").write_bytes(b"x")
    OwnedFolder(tmp_path).record("a.png")
    with open(tmp_path / JOURNAL, "a") as journal:
        journal.write(DEEP + "\n")
    assert OwnedFolder(tmp_path).owns("a.png")


def test_a_journal_planted_far_larger_than_any_is_refused_unread(tmp_path):
    """A stranger's bundle can hold ``flowclass-out/<name>/`` with a journal in it, which a run
    there reads: one of 2 GB (sparse) was read whole, and 1 GB of line breaks split into a
    list of 8 GB. One larger than any FlowClass writes, or of more lines, names the file and
    the limit."""
    from flowclass.userfiles.journal import MAX_JOURNAL_BYTES, MAX_JOURNAL_LINES, JournalError
    from flowclass.userfiles.owned_folder import JOURNAL, OwnedFolder

    with open(tmp_path / JOURNAL, "wb") as journal:
        journal.truncate(MAX_JOURNAL_BYTES + 1)
    with pytest.raises(JournalError, match=f"{JOURNAL} is 1,024 MB; FlowClass writes at most"):
        OwnedFolder(tmp_path).owns("a.png")
    (tmp_path / JOURNAL).write_bytes(b"\n" * (MAX_JOURNAL_LINES + 1))
    with pytest.raises(JournalError, match=f"more than {MAX_JOURNAL_LINES:,} lines"):
        OwnedFolder(tmp_path).owns("a.png")


def test_a_journal_line_longer_than_any_entry_is_skipped_not_held(tmp_path):
    """A line of a megabyte is no entry FlowClass wrote (a path is at most 4,096 bytes): it is
    a problem of its own, read a piece at a time, and the lines after it still count."""
    from flowclass.userfiles.journal import read_journal
    from flowclass.userfiles.owned_folder import JOURNAL, OwnedFolder

    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / JOURNAL).write_bytes(b'{"path": "' + b"x" * 2**20 + b'"}\n')
    OwnedFolder(tmp_path).record("a.png")
    assert OwnedFolder(tmp_path).owns("a.png")
    assert read_journal(tmp_path).problems == ["line 1: longer than 64 KiB, which no entry is"]
