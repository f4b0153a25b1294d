"""Which run.json is FlowClass's to replace: one it wrote in this very folder, unchanged.

A run into a folder replaces the run.json there (and the skipped.csv it vouches for) only
when it is FlowClass's: sealed, unchanged, and written in this folder. A copy (a results
folder copied elsewhere with files of one's own added, a run.json copied into a folder of
one's own) is the user's: the run stops before anything runs, naming it and saying it was
copied. A folder renamed or moved as a whole on its disk keeps its run.json's identity,
and one plugged in again at the same place (a FAT stick numbers its files anew) keeps its
path; either way the next run takes it. A run.json of an older FlowClass, which had no seal,
is taken only exactly as such a version wrote it, soon after its run.
"""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from flowclass.engine import Engine
from flowclass.workflow_file import loads


def chain(registry):
    doc = {"schema_version": 1, "name": "t", "nodes": [
        {"id": "a", "type": "toy.number", "params": {"value": 2}},
        {"id": "d", "type": "toy.describe"}],
        "edges": [{"from": {"node": "a", "port": "number"}, "to": {"node": "d", "port": "number"}}]}
    return loads(json.dumps(doc), registry)


def calls(cache):
    log = cache.root / "stores" / "toy" / "calls.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def ran(registry, cache, tmp_path):
    """A folder a run wrote into, and how to run there again."""
    engine = Engine(registry, cache)

    def run(out: Path):
        return engine.run(chain(registry), out_dir=out)

    out = tmp_path / "results"
    run(out)
    return out, run


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_results_folder_copied_elsewhere_is_not_taken_for_flowclass(ran, cache, tmp_path):
    """cp -a of a results folder, with a file of one's own added: run.json and skipped.csv
    came along unchanged (times kept) and were replaced as FlowClass's."""
    out, run = ran
    copy = tmp_path / "my-copy"
    shutil.copytree(out, copy)  # copy2: times kept
    (copy / "notes.txt").write_text("mine")
    before, done = contents(copy), len(calls(cache))
    with pytest.raises(FileExistsError) as info:
        run(copy)
    message = str(info.value)
    assert str(copy / "run.json") in message and str(out.resolve()) in message and "copied" in message
    assert contents(copy) == before and len(calls(cache)) == done


@pytest.mark.parametrize("how", [shutil.copy2, os.link])
def test_a_run_json_copied_or_linked_into_a_folder_of_ones_own_is_not_taken(ran, tmp_path, how):
    """A copy (its time kept), or a hard link: the same file as FlowClass wrote (inode, time),
    under a name of the user's elsewhere."""
    out, run = ran
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "photo.txt").write_text("mine")
    for name in ("run.json", "skipped.csv"):
        how(out / name, mine / name)
    before = contents(mine)
    with pytest.raises(FileExistsError, match="copied"):
        run(mine)
    assert contents(mine) == before


def test_a_link_named_run_json_is_not_taken(ran, tmp_path):
    out, run = ran
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "run.json").symlink_to(out / "run.json")
    with pytest.raises(FileExistsError, match="link"):
        run(mine)
    assert os.readlink(mine / "run.json") == str(out / "run.json")


def test_a_folder_renamed_as_a_whole_takes_the_next_run(ran, tmp_path):
    out, run = ran
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    os.rename(out, moved)
    old = json.loads((moved / "run.json").read_text())
    run(moved)
    new = json.loads((moved / "run.json").read_text())
    assert new["written"]["folder"] == str(moved.resolve()) != old["written"]["folder"]


def test_a_folder_whose_files_were_numbered_anew_takes_the_next_run(ran, tmp_path):
    """What a FAT or exFAT stick plugged in again looks like: the same path, new inodes."""
    out, run = ran
    shutil.copytree(out, tmp_path / "stick")
    shutil.rmtree(out)
    os.rename(tmp_path / "stick", out)
    old = json.loads((out / "run.json").read_text())
    assert old["written"]["inode"] != os.stat(out / "run.json").st_ino
    run(out)
    assert json.loads((out / "run.json").read_text())["written"]["inode"] == os.stat(out / "run.json").st_ino


def test_a_stick_mounted_at_another_place_is_refused_saying_why(ran, tmp_path):
    """The stick plugged in again at another mount point (its old one gone): new path, new
    inodes, as a copy would have; the refusal says that it may be the same folder."""
    out, run = ran
    elsewhere = tmp_path / "media" / "STICK1"
    elsewhere.parent.mkdir()
    shutil.copytree(out, elsewhere)
    shutil.rmtree(out)
    with pytest.raises(FileExistsError) as info:
        run(elsewhere)
    message = str(info.value)
    assert str(out.resolve()) in message and "not there now" in message and "mounted at another place" in message


def test_a_run_json_with_its_seal_deleted_is_not_taken(ran):
    """Deleting the seal line (and its comma) left valid JSON that passed for an older
    FlowClass's run.json, and was replaced."""
    out, run = ran
    text = (out / "run.json").read_text()
    unsealed = text[:text.rindex(',\n  "seal"')] + "\n}\n"
    assert json.loads(unsealed)["generator"] == "flowclass"
    (out / "run.json").write_text(unsealed)
    with pytest.raises(FileExistsError, match="changed"):
        run(out)
    assert (out / "run.json").read_text() == unsealed


def legacy(out: Path, **changes) -> str:
    """run.json as FlowClass wrote it before it was sealed (json.dump, indent 2, a newline),
    from the one in ``out``, with ``changes``."""
    document = json.loads((out / "run.json").read_text())
    del document["seal"], document["written"]
    document.update(changes)
    return json.dumps(document, indent=2, default=str) + "\n"


def test_an_older_flowclasss_run_json_is_taken_as_it_wrote_it(ran):
    out, run = ran
    old = legacy(out)
    (out / "run.json").write_text(old)  # written now: as the run ended
    run(out)
    assert "seal" in json.loads((out / "run.json").read_text())


def test_an_older_flowclasss_run_json_copied_with_its_time_kept_is_not_taken(ran, tmp_path):
    """cp -p of a results folder an older FlowClass wrote a day ago, into a folder of one's
    own: its bytes and its time are the original's, and it was taken and replaced."""
    out, run = ran
    day_ago = time.time() - 86400
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(day_ago))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "photo.txt").write_text("mine")
    text = legacy(out, started=started, seconds=1.0)
    (mine / "run.json").write_text(text)
    os.utime(mine / "run.json", (day_ago, day_ago))  # as cp -p leaves it: the copy's ctime is now
    with pytest.raises(FileExistsError, match="older FlowClass"):
        run(mine)
    assert (mine / "run.json").read_text() == text


@pytest.mark.parametrize("how", ["note added", "reformatted", "edited later", "keys reordered"])
def test_an_older_flowclasss_run_json_changed_since_is_not_taken(ran, how):
    out, run = ran
    text = legacy(out)
    if how == "note added":
        text = legacy(out, note="the good run: keep")
    elif how == "reformatted":
        text = json.dumps(json.loads(text), indent=4) + "\n"
    elif how == "keys reordered":
        document = json.loads(text)
        text = json.dumps({"ok": document.pop("ok"), **document}, indent=2) + "\n"
    (out / "run.json").write_text(text)
    if how == "edited later":  # the same bytes, but changed a day after its run
        later = time.time() + 86400
        os.utime(out / "run.json", (later, later))
    with pytest.raises(FileExistsError, match="run.json"):
        run(out)
    assert (out / "run.json").read_text() == text


def test_the_refusal_says_what_to_do(ran, tmp_path):
    out, _ = ran
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    from flowclass.manifest import manifest_path

    with pytest.raises(FileExistsError) as info:
        manifest_path(copy)
    assert "choose another output folder (--out)" in str(info.value)
    assert "move it away" in str(info.value)


def test_a_read_only_run_json_or_skipped_csv_is_not_replaced(ran, cache):
    """Made read-only by its owner (a record of a good run, to keep): a run replaced both."""
    out, run = ran
    (out / "run.json").chmod(0o444)
    before, done = (out / "run.json").read_bytes(), len(calls(cache))
    with pytest.raises(FileExistsError, match="read-only"):
        run(out)
    assert (out / "run.json").read_bytes() == before and len(calls(cache)) == done
    from flowclass.manifest import write_skipped

    previous = json.loads((out / "run.json").read_text())
    (out / "skipped.csv").chmod(0o444)
    kept = (out / "skipped.csv").read_bytes()
    said = write_skipped([("import", "x.png", "cut short")], out, previous)
    assert said["file"] is None and "x.png" in str(said["files"])
    assert (out / "skipped.csv").read_bytes() == kept and (out / "skipped.csv").stat().st_mode & 0o777 == 0o444


def test_folders_of_the_users_where_run_json_and_skipped_csv_go_stay(ran, cache, tmp_path):
    """A folder named run.json stops the run before anything runs; one named skipped.csv is
    left as it is, and run.json says the list was not written there."""
    out, run = ran
    mine = tmp_path / "mine"
    (mine / "run.json").mkdir(parents=True)
    (mine / "run.json" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a regular file"):
        run(mine)
    assert os.listdir(mine) == ["run.json"] and (mine / "run.json" / "notes.txt").read_text() == "mine"
    (out / "skipped.csv").unlink()
    (out / "skipped.csv").mkdir()
    run(out)
    assert json.loads((out / "run.json").read_text())["skipped"]["file"] is None
    assert os.listdir(out / "skipped.csv") == []


@pytest.mark.parametrize("head, size, why", [
    (b'{"log": "', 64 << 20, "not written by FlowClass"),
    (None, 2 << 30, "is 2,048 MB, more than any run.json FlowClass writes")], ids=["a log", "FlowClass's head"])
def test_a_large_file_named_run_json_is_refused_unread(tmp_path, head, size, why):
    """A 64 MB file named run.json (a log of the user's) was read whole, and decoded, before
    it was refused: every FlowClass version began run.json with its generator, so the first
    bytes tell. A stranger's bundle can hold ``flowclass-out/<name>/run.json`` beginning as
    FlowClass begins one and then a sparse 2 GB (4.2 GB to refuse): one larger than any
    run.json FlowClass writes is refused naming its size, unread too."""
    import tracemalloc

    from flowclass.manifest import _HEAD, manifest_path

    with open(tmp_path / "run.json", "wb") as file:
        file.write(head or _HEAD)
        file.truncate(size)  # sparse: nothing is written to the disk
    tracemalloc.start()
    try:
        with pytest.raises(FileExistsError, match=why):
            manifest_path(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
