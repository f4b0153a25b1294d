"""Commands that make or replace files in folders of the user's leave what is there as it was.

Each test plants what a user may have where FlowClass's names go (a link, an empty folder
made at the last moment, a read-only file) and checks it is left as it was, with an error
that names it, never a traceback.
"""

import os
from pathlib import Path

import pytest

from flowclass.cli import main
from nodes.lib.images import sample_images


@pytest.fixture
def tiny_sample(monkeypatch):
    """The sample set 'digits' as one small file: what is checked is where it goes."""
    def write(folder: Path) -> None:
        (folder / "0").mkdir()
        (folder / "0" / "a.png").write_bytes(b"png")

    monkeypatch.setitem(sample_images.WRITERS, "digits", write)


def test_sample_writes_a_new_folder(tmp_path, capsys, tiny_sample):
    assert main(["sample", str(tmp_path), "--dataset", "digits"]) == 0
    assert (tmp_path / "digits" / "0" / "a.png").read_bytes() == b"png"
    assert os.listdir(tmp_path) == ["digits"]  # its temporary folder gone
    assert main(["sample", str(tmp_path), "--dataset", "digits"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_sample_leaves_a_link_where_its_folder_goes(tmp_path, capsys, tiny_sample):
    """A link of the user's to a folder not there (yet): it ended in a NotADirectoryError
    traceback."""
    (tmp_path / "digits").symlink_to(tmp_path / "elsewhere")
    assert main(["sample", str(tmp_path), "--dataset", "digits"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(tmp_path / "digits") in err
    assert os.readlink(tmp_path / "digits") == str(tmp_path / "elsewhere")
    assert os.listdir(tmp_path) == ["digits"]


def test_sample_never_replaces_a_folder_made_while_it_writes(tmp_path, capsys, monkeypatch):
    """An empty folder the user made while the set was written (after the look): the set's
    folder was renamed over it."""
    def write(folder: Path) -> None:
        (folder / "a.png").write_bytes(b"png")
        (tmp_path / "digits").mkdir()
        (tmp_path / "digits").chmod(0o700)  # the user's own, as made

    monkeypatch.setitem(sample_images.WRITERS, "digits", write)
    made = None
    try:
        assert main(["sample", str(tmp_path), "--dataset", "digits"]) == 1
        made = os.stat(tmp_path / "digits")
    finally:
        assert "already exists" in capsys.readouterr().err
    assert os.listdir(tmp_path / "digits") == [] and made.st_mode & 0o777 == 0o700
    assert os.listdir(tmp_path) == ["digits"]


def test_sample_into_a_folder_it_cannot_write_says_so(tmp_path, capsys, tiny_sample):
    if os.geteuid() == 0:
        target = tmp_path / "file"
        target.write_text("mine")  # a file where the folder would be made: no root bypasses that
        folder = target / "inside"
    else:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o500)
    assert main(["sample", str(folder), "--dataset", "digits"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(folder) in err


def test_saving_a_workflow_over_a_read_only_file_is_refused(tmp_path):
    """A workflow file its owner made read-only was replaced by a save (as the decisions
    files beside it are not)."""
    from flowclass.fsutil import WriteError
    from flowclass.workflow import Workflow
    from flowclass.workflow_file import save

    flow = tmp_path / "flow.json"
    save(Workflow(name="mine"), flow)
    flow.chmod(0o444)
    before = flow.read_bytes()
    with pytest.raises(WriteError, match="read-only"):
        save(Workflow(name="other"), flow)
    assert flow.read_bytes() == before and flow.stat().st_mode & 0o777 == 0o444
