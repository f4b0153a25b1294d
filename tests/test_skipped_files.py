"""Every run lists the files it passed over, with reasons: skipped.csv, run.json and the CLI."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys

import pytest
from PIL import Image

from disk_helpers import digits_folder
from flowclass.fsutil import NOT_UTF8


@pytest.fixture(scope="module")
def broken_folder(tmp_path_factory):
    """20 good digit images, plus 7 that cannot be read: cut short, not images, empty."""
    folder = digits_folder(tmp_path_factory.mktemp("broken"))
    good = next((folder / "0").iterdir()).read_bytes()
    bad = {"0/cut.png": good[: len(good) // 2], "0/text.png": b"not an image at all",
           "1/empty.png": b"", "1/zeros.jpg": bytes(500), "1/half.png": good[:40],
           "1/junk.gif": b"GIF89a" + bytes(30), "1/tiny.bmp": b"BM"}
    for rel, data in bad.items():
        (folder / rel).write_bytes(data)
    return folder, sorted(str(folder / rel) for rel in bad)


def _workflow(tmp_path, folder):
    doc = {"schema_version": 1, "name": "embed", "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder)}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels", "pixel_size": 8}}],
        "edges": [{"from": {"node": "import", "port": "images"},
                   "to": {"node": "embed", "port": "images"}}]}
    path = tmp_path / "embed.json"
    path.write_text(json.dumps(doc))
    return path


def _run(workflow, out, cache, umask=0o022):
    old = os.umask(umask)  # the run inherits it
    try:
        return _run_cli(workflow, out, cache)
    finally:
        os.umask(old)


def _run_cli(workflow, out, cache):
    return subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(workflow), "-q",
                           "--out", str(out), "--cache", str(cache)],
                          capture_output=True, text=True, timeout=300)


def _run_here(workflow, out, cache, capsys) -> tuple[int, str]:
    """``flowclass run`` in this process (no process start): its exit status and stderr."""
    from flowclass.cli import main

    capsys.readouterr()
    code = main(["run", str(workflow), "-q", "--out", str(out), "--cache", str(cache)])
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_skipped_files_are_listed_in_out_in_run_json_and_on_the_console(broken_folder, tmp_path):
    folder, bad = broken_folder
    workflow, out = _workflow(tmp_path, folder), tmp_path / "out"
    for attempt in range(2):  # the second run is served from cache and lists them all the same
        done = _run(workflow, out, tmp_path / "cache")
        assert done.returncode == 0, done.stderr
        with open(out / "skipped.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert sorted(r["path"] for r in rows) == bad
        assert all(r["reason"] and r["node"] == "import" for r in rows)
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["skipped"]["count"] == 7 and manifest["skipped"]["file"] == "skipped.csv"
        assert sorted(f["path"] for f in manifest["skipped"]["files"]) == bad
        assert "7 file(s) skipped" in done.stderr
        shown = [line for line in done.stderr.splitlines() if line.strip().startswith(str(folder))]
        assert len(shown) == 5 and all(": " in line for line in shown)
        assert "and 2 more" in done.stderr and str(out / "skipped.csv") in done.stderr
    assert "2 from cache" in done.stdout


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_what_a_run_writes_honours_the_umask(broken_folder, tmp_path, capsys, umask, mode):
    folder, _ = broken_folder
    out = tmp_path / "out"
    old = os.umask(umask)  # this process's, as a command's own process inherits it
    try:
        code, said = _run_here(_workflow(tmp_path, folder), out, tmp_path / "cache", capsys)
    finally:
        os.umask(old)
    assert code == 0, said
    for name in ("run.json", "skipped.csv"):
        assert stat.S_IMODE((out / name).stat().st_mode) == mode, name


def test_a_run_with_nothing_skipped_writes_an_empty_list(broken_folder, tmp_path, capsys):
    folder, _ = broken_folder
    clean = tmp_path / "clean"
    clean.mkdir()
    for image in sorted((folder / "0").glob("digit_*.png"))[:4]:
        (clean / image.name).write_bytes(image.read_bytes())
    code, said = _run_here(_workflow(tmp_path, clean), tmp_path / "out", tmp_path / "c", capsys)
    assert code == 0, said
    assert (tmp_path / "out" / "skipped.csv").read_text() == "node,path,reason\n"
    assert json.loads((tmp_path / "out" / "run.json").read_text())["skipped"]["count"] == 0
    assert "skipped" not in said
    # an unchanged re-run (a command's own process, which the run record answers) keeps the
    # file that already says so, and still knows it as its own
    before = os.stat(tmp_path / "out" / "skipped.csv")
    again = _run(_workflow(tmp_path, clean), tmp_path / "out", tmp_path / "c")
    after = os.stat(tmp_path / "out" / "skipped.csv")
    assert again.returncode == 0 and (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    (clean / "broken.png").write_bytes(b"not an image")
    code, said = _run_here(_workflow(tmp_path, clean), tmp_path / "out", tmp_path / "c", capsys)
    assert code == 0 and "broken.png" in (tmp_path / "out" / "skipped.csv").read_text()


def test_a_users_skipped_csv_is_never_replaced(broken_folder, tmp_path, capsys):
    folder, bad = broken_folder
    out = tmp_path / "out"
    out.mkdir()
    (out / "skipped.csv").write_text("my,own\nnotes,here\n")
    code, said = _run_here(_workflow(tmp_path, folder), out, tmp_path / "cache", capsys)
    assert code == 0, said
    assert (out / "skipped.csv").read_text() == "my,own\nnotes,here\n"
    manifest = json.loads((out / "run.json").read_text())
    assert sorted(f["path"] for f in manifest["skipped"]["files"]) == bad
    assert "not written by FlowClass" in said


def _with_strangers(broken_folder, tmp_path, strangers: dict[str, object]):
    """A few good images and, named like images, what a shared archive can hold besides
    files (a tar keeps pipes and links): ``strangers`` maps each name to a link's target,
    or to None for a pipe."""
    folder, _ = broken_folder
    shared = tmp_path / "shared"
    shared.mkdir()
    for image in sorted((folder / "0").glob("digit_*.png"))[:4]:
        (shared / image.name).write_bytes(image.read_bytes())
    for name, target in strangers.items():
        if target is None:
            os.mkfifo(shared / name)
        else:
            (shared / name).symlink_to(target)
    return shared


def _skipped_reasons(out) -> dict[str, str]:
    with open(out / "skipped.csv", newline="") as handle:
        return {os.path.basename(r["path"]): r["reason"] for r in csv.DictReader(handle)}


def test_a_pipe_named_like_an_image_is_skipped_not_waited_on(broken_folder, tmp_path, capsys):
    """A pipe named photo.png in a shared folder had Import open it to hash it, and the run
    waited forever, saying nothing (the canvas's run too); a link to /dev/null was called an
    empty file. Both are skipped, named as what they are."""
    import threading

    shared = _with_strangers(broken_folder, tmp_path, {"pipe.png": None, "null.png": "/dev/null"})
    blocked, done = threading.Event(), threading.Event()

    def unblock() -> None:  # ends each wait, so that the bug fails the test instead of hanging it
        while not done.wait(0.2 if blocked.is_set() else 20.0):
            blocked.set()
            try:
                os.close(os.open(shared / "pipe.png", os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # nobody is reading it now
                pass

    watchdog = threading.Thread(target=unblock, daemon=True)
    watchdog.start()
    try:
        code, said = _run_here(_workflow(tmp_path, shared), tmp_path / "out", tmp_path / "cache", capsys)
    finally:
        done.set()
        watchdog.join()
    assert not blocked.is_set(), "the run waited on the pipe"
    assert code == 0, said
    reasons = _skipped_reasons(tmp_path / "out")
    assert reasons == {"pipe.png": "not a regular file (a pipe, a device or a socket)",
                       "null.png": "not a regular file (a pipe, a device or a socket)"}


@pytest.mark.slow
def test_a_link_to_an_endless_device_is_skipped_not_read_forever(broken_folder, tmp_path):
    """A link named photo.png to /dev/zero had Import hash it a megabyte at a time, for ever,
    on one core, saying nothing."""
    shared = _with_strangers(broken_folder, tmp_path, {"zero.png": "/dev/zero"})
    try:
        done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(_workflow(tmp_path, shared)),
                               "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the run was still reading /dev/zero after 60 s")
    assert done.returncode == 0, done.stderr
    assert _skipped_reasons(tmp_path / "out") == {"zero.png": "not a regular file (a pipe, a device or a socket)"}


def test_a_name_that_is_not_utf8_is_skipped_with_the_reason_not_a_crash(broken_folder, tmp_path, capsys):
    """A shared archive's file (or folder) whose name is not UTF-8 (bytes a Latin-1 system
    wrote, b'caf\\xe9.png') failed the whole Import with a UnicodeEncodeError (the folder's
    fingerprint encoded each name). It is passed over, named with U+FFFD where its name is not
    text, and the other images are read."""
    shared = _with_strangers(broken_folder, tmp_path, {})
    good = next(shared.iterdir()).read_bytes()
    os.makedirs(os.fsencode(shared) + b"/caf\xe9")
    for name in (b"/caf\xe9.png", b"/caf\xe9/inside.png"):
        with open(os.fsencode(shared) + name, "wb") as handle:
            handle.write(good)
    code, said = _run_here(_workflow(tmp_path, shared), tmp_path / "out", tmp_path / "cache", capsys)
    assert code == 0, said
    reasons = _skipped_reasons(tmp_path / "out")
    assert reasons == {"caf\ufffd.png": NOT_UTF8, "caf\ufffd": NOT_UTF8}


def test_a_skipped_name_with_a_line_break_stays_on_its_line_of_the_console(broken_folder, tmp_path, capsys):
    """The console's list of skipped files printed a stranger's name as it is: a file named
    'x.png: truncated\\n  payroll.png' forged a line of its own, naming a file that is not there."""
    shared = _with_strangers(broken_folder, tmp_path, {})
    (shared / "x.png: truncated\n  payroll.png").write_bytes(b"not an image")
    code, said = _run_here(_workflow(tmp_path, shared), tmp_path / "out", tmp_path / "cache", capsys)
    assert code == 0, said
    assert not any(line.startswith("  payroll.png") for line in said.splitlines()), said
    assert "x.png: truncated\\n  payroll.png:" in said


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative-in-its-folder"])
def test_an_image_folder_whose_own_name_is_not_utf8_is_refused_naming_node_and_field(tmp_path, capsys, relative):
    """A chosen folder named b'caf\\xe9' (a Latin-1 system's name) ended Import in an
    unexpected UnicodeEncodeError (its fingerprint encoded the path); so did a workflow saved
    in such a folder naming its images relatively. The files inside could not be named in
    any table either, so the run is refused before anything runs, naming node and field (or,
    where the workflow's text holds the name, the field's place in the file)."""
    base = os.fsencode(tmp_path) + b"/caf\xe9"
    os.makedirs(base + b"/images")
    Image.new("RGB", (8, 8)).save(base + b"/images/a.png")
    folder = "images" if relative else os.fsdecode(base + b"/images")
    doc = {"schema_version": 1, "name": "embed", "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": folder}}], "edges": []}
    workflow = os.fsdecode(base + b"/wf.json")
    with open(workflow, "w") as handle:
        json.dump(doc, handle)
    code, said = _run_here(workflow, tmp_path / "out", tmp_path / "cache", capsys)
    assert code == 2, said
    if relative:
        assert "import" in said and "folder" in said and "not UTF-8" in said and "caf\ufffd" in said, said
    else:  # the file's own text holds it: JSON's escape of a lone surrogate
        assert "nodes[0].params.folder holds \\udce9" in said, said
    assert "Traceback" not in said and "UnicodeEncodeError" not in said


def test_a_sparse_file_of_terabytes_named_jpg_is_skipped_unhashed(tmp_path, monkeypatch):
    """A stranger's archive can hold a sparse 'photo.jpg' of terabytes (no disk used): Import
    hashed it a megabyte at a time, for hours. A file larger than any picture FlowClass decodes
    is skipped with its size and the limit, before it is read."""
    from nodes import images

    path = tmp_path / "photo.jpg"
    with open(path, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0")
        handle.truncate(2**40)
    monkeypatch.setattr(images, "sha256_of_file", lambda path: pytest.fail(f"{path} was hashed"))
    state = images._read_and_probe(str(path))
    assert state.sha256 == "" and "1,024 GB" in state.error and "at most 16 GB" in state.error, state


@pytest.mark.slow  # a second of the engine; the quick loop has Import's test above
def test_image_file_refuses_a_photo_with_a_terabyte_behind_it_unhashed(registry, cache, tmp_path, monkeypatch):
    """A real photo, then a sparse terabyte: it probes as a JPEG, and Image File then hashed it
    all. It stops the node naming the file, its size and the limit."""
    import io

    from flowclass.engine import Engine
    from flowclass.workflow_file import from_document
    from nodes import labelling

    photo = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(photo, "JPEG")
    path = tmp_path / "photo.jpg"
    with open(path, "wb") as handle:
        handle.write(photo.getvalue())
        handle.truncate(2**40)
    monkeypatch.setattr(labelling, "sha256_of_file", lambda path: pytest.fail(f"{path} was hashed"))
    doc = {"schema_version": 1, "nodes": [{"id": "n", "type": "image_file", "params": {"file": str(path)}}]}
    outcome = Engine(registry, cache).run(from_document(doc), manifest=False).outcomes["n"]
    assert outcome.state == "failed" and outcome.field == "file", outcome
    assert f"{path} is not a usable image: a file of 1,024 GB" in outcome.error and "at most 16 GB" in outcome.error
