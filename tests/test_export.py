"""Export safety: nothing of the user's is touched, re-runs converge, interruptions leave no halves."""

import hashlib
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from flowclass.context import RunContext
from flowclass.errors import NodeError
from nodes.datatypes import Embeddings, ImageSet, Labelling
from nodes.export import export_folders, save_table
from nodes.lib.results.label_folders import folder_names, safe_folder_name
from flowclass.userfiles import owned_folder as owned_folder_module
from flowclass.userfiles.owned_folder import JOURNAL


def ctx(tmp_path):
    return RunContext("export", tmp_path, tmp_path, lambda name: tmp_path / name)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def source(tmp_path):
    """Six real small images in a source folder, two of them sharing a file name."""
    import skimage.data

    root = tmp_path / "source"
    photo = skimage.data.astronaut()
    paths = []
    for i in range(6):
        folder = root / ("a" if i < 3 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        name = "same.png" if i in (0, 3) else f"img{i}.png"
        path = folder / name
        Image.fromarray(photo[i * 40:i * 40 + 64, :64]).save(path)
        paths.append(str(path))
    return root, paths


def labelling(root, paths, labels, scores=None):
    images = ImageSet(np.array(paths), np.array([""] * len(paths)), np.array([sha(p) for p in paths]),
                      np.full(len(paths), 64, dtype=np.int32), np.full(len(paths), 64, dtype=np.int32),
                      str(root))
    scores = np.linspace(0, 1, len(paths)) if scores is None else scores
    return Labelling(images, np.array(labels), np.asarray(scores, dtype=float), kind="cluster")


def export(tmp_path, labels, folder, mode="copy", table="csv+xlsx"):
    return export_folders(ctx(tmp_path), labels=labels, folder=str(folder), mode=mode, table=table)


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name != JOURNAL and not p.is_dir())


def test_labels_cannot_escape_the_export_folder():
    assert safe_folder_name("../x") == "_x"
    for bad in ("../x", "/", "", "..", ".", "a/../../b", "C:\\evil", "x\0y", " . "):
        name = safe_folder_name(bad)
        assert name and "/" not in name and "\\" not in name and name not in (".", "..")
        assert not name.startswith(".")
    assert safe_folder_name("CON") == "_CON" and safe_folder_name("lpt1.txt") == "_lpt1.txt"
    assert safe_folder_name("") == "unlabelled"
    names = folder_names(["a/b", "a_b", "Cat", "cat"])
    assert len({n.casefold() for n in names.values()}) == 4


def test_a_label_folder_never_holds_characters_that_act_instead_of_showing(tmp_path, source):
    """A label from a stranger's folder or label file made a folder of that name, characters
    that reverse text (U+202E, U+2066), C1 controls and line separators included: a file
    manager then showed ``cat\u202egpj.exe`` as *catexe.jpg*. Each becomes '_'; the joiners
    Persian words and emoji are spelled with stay."""
    root, paths = source
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    labels = labelling(root, paths, ["cat\u202egpj.exe", "a\x85b", "x\u2066y\u2069", "line\u2028break",
                                     persian, "\u200b"])
    out = tmp_path / "out"
    export(tmp_path, labels, out, table="csv")
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == sorted(["cat_gpj.exe", "a_b", "x_y_", "line_break", persian, "_"])
    assert all(name.isprintable() or set(name) & {"\u200c", "\u200d"} for name in folders)
    table = pd.read_csv(out / "images.csv", dtype=str)
    assert "cat\u202egpj.exe" in table["cluster"].tolist()  # the table keeps the label as it was


def test_an_exported_file_name_never_holds_characters_that_act_instead_of_showing(tmp_path, source):
    """Export to Folders copied a stranger's file name as it was: ``photo\u202egpj.exe`` lay in
    the label folder reading *photoexe.jpg* in a file manager. Such characters become '_' as in
    folder names; a file already named so is not overwritten (it gets ``(2)``), and the table
    keeps where each copy came from."""
    root, paths = source
    names = ["photo\u202egpj.exe", "photo_gpj.exe", "line\nfeed.png", "mi\u200cname.png"]
    for i, name in zip((1, 2, 4, 5), names):  # a/same.png and b/same.png stay
        renamed = os.path.join(os.path.dirname(paths[i]), name)
        os.rename(paths[i], renamed)
        paths[i] = renamed
    out = tmp_path / "out"
    export(tmp_path, labelling(root, paths, ["cat"] * len(paths)), out, table="csv")
    assert tree(out) == sorted(["cat/same.png", "cat/same (2).png", "cat/photo_gpj.exe", "cat/photo_gpj (2).exe",
                                "cat/line_feed.png", "cat/mi\u200cname.png", "images.csv"])
    table = pd.read_csv(out / "images.csv", dtype=str, keep_default_na=False)
    copies = dict(zip(table["source"], table["exported"]))
    assert {sha(p) for p in paths} == {sha(copies[p]) for p in paths}  # each copy is its own image
    assert os.path.basename(copies[paths[1]]) in ("photo_gpj.exe", "photo_gpj (2).exe")


def test_export_copies_into_label_folders_with_a_table(tmp_path, source):
    root, paths = source
    labels = labelling(root, paths, ["C1", "C1", "C2", "C1", "../evil", ""])
    out = tmp_path / "out"
    result = export(tmp_path, labels, out)["exported"]
    files = tree(out)
    assert "C1/same.png" in files and "C1/same (2).png" in files  # collision resolved, nothing lost
    assert len([f for f in files if f.endswith(".png")]) == 6
    assert all((out / f).resolve().is_relative_to(out.resolve()) for f in files)
    assert not (tmp_path / "evil").exists()
    for src, dst in zip(result["source"], result["exported"]):
        assert sha(src) == sha(dst)
    table = pd.read_csv(out / "images.csv")
    assert list(table.columns) == ["source", "exported", "folder_label", "cluster", "score"]
    assert len(pd.read_excel(out / "images.xlsx")) == 6
    assert sorted(os.listdir(root / "a")) == ["img1.png", "img2.png", "same.png"]  # sources untouched


def test_user_files_are_never_overwritten_moved_or_deleted(tmp_path, source):
    root, paths = source
    out = tmp_path / "out"
    (out / "C1").mkdir(parents=True)
    (out / "C1" / "same.png").write_bytes(b"the user's own file")
    (out / "images.csv").write_text("the user's table")
    labels = labelling(root, paths, ["C1"] * 6)
    context = ctx(tmp_path)
    export_folders(context, labels=labels, folder=str(out), mode="copy", table="csv+xlsx")
    assert (out / "images.csv").read_text() == "the user's table"  # the table went beside it
    assert len(pd.read_csv(out / "images (2).csv")) == 6
    assert any("images.csv is not FlowClass's" in w for w in context.warnings)
    (out / "images.csv").unlink()
    (out / "images (2).csv").unlink()
    export(tmp_path, labels, out)
    assert (out / "C1" / "same.png").read_bytes() == b"the user's own file"
    assert len([f for f in tree(out) if f.endswith(".png")]) == 7
    # the clustering changes: FlowClass's stale copies go, the user's file stays
    (out / "C1" / "img1.png").write_bytes(b"edited by the user")  # now it is the user's
    export(tmp_path, labelling(root, paths, ["C2"] * 6), out)
    assert (out / "C1" / "same.png").read_bytes() == b"the user's own file"
    assert (out / "C1" / "img1.png").read_bytes() == b"edited by the user"
    assert len(list((out / "C2").glob("*.png"))) == 6
    assert sorted(os.listdir(out / "C1")) == ["img1.png", "same.png"]


def test_a_rerun_gives_the_same_tree_not_duplicates(tmp_path, source):
    root, paths = source
    labels = labelling(root, paths, ["x", "y", "x", "y", "x", "y"])
    out = tmp_path / "out"
    export(tmp_path, labels, out)
    first = tree(out)
    mtimes = {f: (out / f).stat().st_mtime_ns for f in first if f.endswith(".png")}
    export(tmp_path, labels, out)
    assert tree(out) == first
    assert all((out / f).stat().st_mtime_ns == m for f, m in mtimes.items())  # not even rewritten


def test_an_interrupted_export_leaves_no_half_written_files(tmp_path, source, monkeypatch):
    root, paths = source
    labels = labelling(root, paths, ["C1"] * 6)
    out = tmp_path / "out"
    real_copy, copies = owned_folder_module.copy_new, []

    def flaky(src, dst):
        if len(copies) == 3:
            with open(dst, "wb") as half:
                half.write(open(src, "rb").read()[:100])  # the disk filled up mid-file
            raise OSError(28, "No space left on device")
        copies.append(src)
        return real_copy(src, dst)

    monkeypatch.setattr(owned_folder_module, "copy_new", flaky)
    with pytest.raises(NodeError, match=f"disk full while writing {out}/C1/"):
        export(tmp_path, labels, out)
    written = [f for f in tree(out) if f.endswith(".png")]
    assert len(written) == 3 and not [f for f in os.listdir(out / "C1") if "flowclass-tmp" in f]
    for f in written:
        Image.open(out / f).load()  # every file that exists is whole
    monkeypatch.setattr(owned_folder_module, "copy_new", real_copy)
    export(tmp_path, labels, out)
    assert len([f for f in tree(out) if f.endswith(".png")]) == 6  # finished, no duplicates


@pytest.mark.parametrize("mode", ["symlink", "hardlink"])
def test_link_modes(tmp_path, source, mode):
    root, paths = source
    out = tmp_path / "out"
    result = export(tmp_path, labelling(root, paths, ["C1"] * 6), out, mode=mode, table="none")
    for src, dst in zip(result["exported"]["source"], result["exported"]["exported"]):
        if mode == "symlink":
            assert os.path.islink(dst) and os.readlink(dst) == src
        else:
            assert os.stat(dst).st_ino == os.stat(src).st_ino
    assert not (out / "images.csv").exists()


def test_exporting_into_the_imported_folder_is_refused(tmp_path, source):
    root, paths = source
    with pytest.raises(NodeError) as info:
        export(tmp_path, labelling(root, paths, ["C1"] * 6), root / "clusters")
    assert info.value.field == "folder"
    assert not (root / "clusters").exists()


@pytest.mark.parametrize("ext", ["csv", "xlsx", "parquet"])
def test_save_table_formats_and_ownership(tmp_path, source, ext):
    root, paths = source
    labels = labelling(root, paths, ["C1", "C2"] * 3)
    vectors = np.arange(12, dtype=np.float32).reshape(6, 2)
    target = tmp_path / "out" / f"table.{ext}"
    save_table(ctx(tmp_path), data=labels.to_table(), embeddings=Embeddings(labels.images, vectors),
               path=str(target))
    read = {"csv": pd.read_csv, "xlsx": pd.read_excel, "parquet": pd.read_parquet}[ext]
    table = read(target)
    assert table["cluster"].tolist() == ["C1", "C2"] * 3
    assert table["e1"].tolist() == [1, 3, 5, 7, 9, 11]
    save_table(ctx(tmp_path), data=labels.to_table(), embeddings=None, path=str(target))  # ours: replaced
    assert "e0" not in read(target).columns
    mine = tmp_path / "out" / f"mine.{ext}"
    mine.write_bytes(b"precious")
    with pytest.raises(NodeError, match="not written by FlowClass"):
        save_table(ctx(tmp_path), data=labels.to_table(), embeddings=None, path=str(mine))
    assert mine.read_bytes() == b"precious"
