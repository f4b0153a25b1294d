"""Label Overrides: corrections in a file beside the workflow change the retrained model."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd

from classify_helpers import digits_training, run, workflow
from nodes.lib.classify.label_overrides import read_label_file, set_label


def _overridden_training(tmp_path, per_label=20, **override_params):
    nodes, edges = digits_training(per_label=per_label)
    nodes.insert(1, ("labels", "label_overrides", {"file": "fixes.csv", **override_params}))
    edges[0] = ("images.images", "labels.images")
    edges.append(("labels.images", "embed.images"))
    return nodes, edges


def test_overrides_change_the_retrained_model(registry, shared_cache, tmp_path):
    nodes, edges = _overridden_training(tmp_path)
    before = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    assert before.ok and before.outcomes["labels"].records["label_overrides"]["rows"] == 0
    images = before.output("labels", "images")
    sevens = np.flatnonzero(images.labels == "7")
    # relabel every 7 as "seven" (by content hash, as the canvas does) and drop one 1 (by path)
    for i in sevens:
        set_label(tmp_path / "fixes.csv", images.hashes[i], images.relpaths[i], "seven")
    one = images.relpaths[int(np.flatnonzero(images.labels == "1")[0])]
    with open(tmp_path / "fixes.csv", "a") as handle:
        handle.write(f",{one},\n")
    after = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    assert after.ok, [o.error for o in after.failed]
    assert after.outcomes["labels"].state == "done"  # the edited file re-ran the node
    assert after.outcomes["train"].state == "done"
    model = after.output("train", "model")
    assert "seven" in model.classes and "7" not in model.classes
    counts = after.output("train", "balance").set_index("class")["images"]
    assert counts["seven"] == 20 and counts["1"] == 19  # the 1 with an empty label is left out
    predicted = after.output("train", "validation")
    assert set(predicted.labels) <= set(model.classes)
    # the sample images are untouched: still read from where FlowClass wrote them
    samples = str(shared_cache.store_dir("samples"))
    assert all(p.startswith(samples) for p in images.paths)
    assert all(os.path.getsize(p) for p in images.paths)
    again = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    assert again.outcomes["train"].state == "cached"


def test_a_label_table_alone_labels_the_images(registry, shared_cache, tmp_path):
    nodes, edges = _overridden_training(tmp_path, keep_folder_labels=False)
    first = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    images = first.output("labels", "images")
    assert set(images.labels) == {""}  # no file yet: nothing is labelled
    assert first.outcomes["train"].state == "failed" and "2 classes" in first.outcomes["train"].error
    rows = [(p, "odd" if int(lab) % 2 else "even") for p, lab in
            zip(images.relpaths, first.output("images", "images").labels)]
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(tmp_path / "fixes.csv", index=False)
    second = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    assert second.ok, [o.error for o in second.failed]
    assert second.output("train", "model").classes == ("even", "odd")


def test_set_label_keeps_other_rows_and_columns(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("path,label,note\na.png,cat,checked\nb.png,dog,\n")
    set_label(path, "f" * 64, "b.png", "wolf")
    set_label(path, "f" * 64, "b.png", "fox")
    table = read_label_file(path)
    assert table[["path", "label", "note"]].values.tolist() == [["a.png", "cat", "checked"],
                                                                ["b.png", "fox", ""]]
    assert not [p for p in tmp_path.iterdir() if p.name != "labels.csv"]  # no temporary left


def test_a_broken_label_file_names_the_file(registry, shared_cache, tmp_path):
    (tmp_path / "fixes.csv").write_text("image;class\nx;y\n")
    nodes, edges = _overridden_training(tmp_path)
    outcome = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path).outcomes["labels"]
    assert outcome.state == "failed" and outcome.field == "file"
    assert "fixes.csv" in outcome.error and "needs 'label'" in outcome.error


def test_image_file_gives_one_image_to_predict(registry, shared_cache, tmp_path, photos_dir):
    shutil.copy(photos_dir / "animals" / "chelsea.jpg", tmp_path / "cat.jpg")
    result = run(registry, shared_cache, [("one", "image_file", {"file": "cat.jpg"})], [], tmp_path,
                 base_dir=tmp_path)
    images = result.output("one", "images")
    assert len(images) == 1 and images.paths[0] == str(tmp_path / "cat.jpg")
    assert (images.widths[0], images.heights[0]) == (451, 300)
    sample = run(registry, shared_cache, [("one", "image_file", {})], [], tmp_path / "s")
    assert sample.output("one", "images").paths[0].endswith("astronaut.png")
    (tmp_path / "bad.jpg").write_text("not a picture")
    bad = run(registry, shared_cache, [("one", "image_file", {"file": "bad.jpg"})], [], tmp_path,
              base_dir=tmp_path).outcomes["one"]
    assert bad.state == "failed" and "bad.jpg" in bad.error
    # or a whole folder (recursive, unlabelled): every image in it
    folder = run(registry, shared_cache, [("many", "image_file", {"folder": str(photos_dir)})], [],
                 tmp_path / "f").output("many", "images")
    assert sorted(os.path.basename(p) for p in folder.paths) == sorted(
        p.name for p in photos_dir.rglob("*.jpg"))
    assert len(folder) == 5 and set(folder.labels) == {""}
    from flowclass.validation import validate

    both = workflow(registry, [("x", "image_file", {"file": "cat.jpg", "folder": str(photos_dir)})], [])
    assert [(p.node, p.field) for p in validate(both, registry)] == [("x", "folder")]


def test_the_files_content_is_part_of_the_cache_key(registry, shared_cache, tmp_path):
    """A correction of the same size written within the same clock tick still re-runs the node."""
    nodes, edges = _overridden_training(tmp_path, per_label=5)
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("path,label\n0/a.png,seven\n")
    stamp = os.stat(fixes).st_mtime_ns
    first = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    fixes.write_text("path,label\n0/a.png,eight\n")  # same size
    os.utime(fixes, ns=(stamp, stamp))  # same modification time
    second = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    assert second.outcomes["labels"].state == "done"
    assert second.outcomes["labels"].key != first.outcomes["labels"].key


def test_rows_that_name_no_image_are_warned_about_by_line(registry, shared_cache, tmp_path):
    """A row with neither sha256 nor path (a half-filled line in a spreadsheet) was ignored
    without a word; it is warned about with its line number, and the other rows still apply."""
    nodes, edges = _overridden_training(tmp_path, per_label=5)
    first = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    images = first.output("labels", "images")
    one = images.relpaths[int(np.flatnonzero(images.labels == "1")[0])]
    (tmp_path / "fixes.csv").write_text(f"sha256,path,label\n,{one},uno\n,,seven\n , ,eight\n")
    result = run(registry, shared_cache, nodes, edges, tmp_path, base_dir=tmp_path)
    assert result.outcomes["labels"].state == "done"
    warnings = result.outcomes["labels"].warnings
    assert any("2 row(s)" in w and "fixes.csv" in w and "line 3" in w and "no sha256 or path" in w
               for w in warnings), warnings
    assert "uno" in set(result.output("labels", "images").labels)


def test_a_label_file_naming_a_column_twice_is_refused_naming_it(tmp_path):
    """``path,label,label``: pandas renamed the second 'label.1' and read the first, where a
    spreadsheet shows both and a person may read the second: the file is refused, naming the
    column. Names that differ only in case are distinct columns, as pandas reads them."""
    import pytest

    from flowclass.errors import NodeError

    (tmp_path / "twice.csv").write_text("path,label,label\na.png,cat,dog\n")
    with pytest.raises(NodeError) as refused:
        read_label_file(tmp_path / "twice.csv")
    assert "twice.csv" in refused.value.message and "'label' twice" in refused.value.message
    (tmp_path / "cased.csv").write_text("path,label,Label\na.png,cat,dog\n")
    assert read_label_file(tmp_path / "cased.csv")["label"].tolist() == ["cat"]


def test_a_label_file_with_rows_wider_than_its_header_is_refused_by_line(tmp_path):
    """pandas takes the leading cells of a first row longer than the header row as an index:
    ``a.png,cat,extra`` was read as path 'cat', label 'extra', and a 2 MB label file whose
    first row held 2,000,000 empty cells ran for more than five minutes (0.36 ms a cell, some
    GBs). A header of 100,000 columns (900 KB) took 300 MB. Each is refused at once, naming the
    file and the row; quoted commas are cells' text, not columns."""
    import pytest

    from flowclass.errors import NodeError

    cases = {"shifted.csv": ("path,label\na.png,cat,extra\n", "row 2 has 3 cells"),
             "commas.csv": ("path,label\n\na.png,b" + "," * 2_000_000 + "\n", "row 3 has more than"),
             "wide.csv": (",".join(f"c{i}" for i in range(100_000)) + "\n", "header row has more than")}
    for name, (text, said) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(NodeError) as refused:
            read_label_file(tmp_path / name)
        assert name in refused.value.message and said in refused.value.message, refused.value.message
    (tmp_path / "quoted.csv").write_text('path,label\n"a, b.png","cat, big"\nc.png,dog\n')
    assert read_label_file(tmp_path / "quoted.csv")[["path", "label"]].values.tolist() == [
        ["a, b.png", "cat, big"], ["c.png", "dog"]]
