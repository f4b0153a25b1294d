"""Decision files beside a workflow (label-overrides.csv, duplicates-keep.csv) from a stranger,
or cut by a crash: README promises that shared files cannot do harm, that a bad file is an
error naming it, and that every file FlowClass writes is whole or not written (kill -9).

- A stranger's label file names images by paths outside the collection (``..``, absolute,
  an image beside it), by formula text, with labels that climb out of the export folder and
  cells of every type: only the collection's own images are relabelled, the rest is warned
  about, and the cleaned copy stays in its folder with every label as a folder of its own.
- A decision file that is a folder (or a pipe), or too large to be one, stops the node naming
  it, and the canvas says the decision was not saved instead of failing silently.
- A file of many rows is applied in one pass (it was a scan of every image per row).
- ``flowclass``'s writer of decisions killed with SIGKILL at random moments leaves a file
  that parses and holds the decisions made before it, in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from classify_helpers import run
from nicegui import ui
from nicegui.testing import User
from PIL import Image

from flowclass.errors import NodeError
from nodes.datatypes import ImageSet
from nodes.lib.classify.label_overrides import apply_labels, read_label_file, set_label
from nodes.lib.cleaning.kept_copies import chosen, read_keep_file
from nodes.lib.images.filestate import sha256_of_file
from tests.conftest import REPO


def collection(folder: Path) -> list[Path]:
    """Six small noise images in two labelled folders, and one image outside, beside them."""
    rng = np.random.default_rng(3)
    paths = []
    for k in range(6):
        path = folder / "PHOTOS" / "ab"[k % 2] / f"i{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / "outside.png")
    return paths


@pytest.mark.slow
def test_a_strangers_label_file_relabels_only_the_collection_and_exports_inside(registry, cache, tmp_path):
    paths = collection(tmp_path)
    outside = tmp_path / "outside.png"
    (tmp_path / "label-overrides.csv").write_text(
        "sha256,path,label,notes\n"
        f",../../../../etc/passwd,=cmd|' /C calc'!A0,1\n"
        f",{outside},stolen,2.5\n"  # an image, but not one of the collection
        f"{sha256_of_file(outside)},,stolen too,\n"
        f",/etc/passwd,x,\n"
        f",a/../a/i0.png,../../escaped,\n"  # the collection's i0, by a roundabout path
        f",b/i1.png,'=HYPERLINK(\"http://attacker.example\"),\n"
        f"{sha256_of_file(paths[2])},,..,\n"
        f"12345,,numbers,\n", encoding="utf-8")
    nodes = [("import", "import_images", {"folder": str(tmp_path / "PHOTOS")}), ("labels", "label_overrides", {}),
             ("embed", "embed", {"backend": "pixels", "pixel_size": 8}), ("duplicates", "find_duplicates", {}),
             ("export", "export_folders", {"folder": "cleaned"})]  # clean_collection's cleaned copy
    out = tmp_path / "out"
    result = run(registry, cache, nodes, [("import.images", "labels.images"), ("labels.images", "embed.images"),
                                          ("embed.embeddings", "duplicates.embeddings"),
                                          ("duplicates.kept", "export.labels")], out, tmp_path)
    assert result.ok, [o.error for o in result.failed]
    images = result.output("labels", "images")
    labels = {Path(p).name: label for p, label in zip(images.paths, images.labels)}
    assert labels == {"i0.png": "../../escaped", "i1.png": '=HYPERLINK("http://attacker.example")',
                      "i2.png": "..", "i3.png": "b", "i4.png": "a", "i5.png": "b"}
    warned = " ".join(result.outcomes["labels"].warnings)
    assert "5 row(s) of" in warned and "match no image, e.g. ../../../../etc/passwd" in warned, warned
    made = [p for p in (out / "cleaned").rglob("*.png")]
    assert len(made) == 6 and all(p.resolve().is_relative_to((out / "cleaned").resolve()) for p in made)
    assert len({p.parent for p in made}) == 5  # every label a folder of its own, none above 'cleaned'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PHOTOS", "cache", "label-overrides.csv", "out",
                                                         "outside.png"]


@pytest.mark.parametrize("node, param, name", [("label_overrides", "file", "label-overrides.csv"),
                                               ("find_duplicates", "keep_file", "duplicates-keep.csv")])
def test_a_decision_file_that_is_a_folder_stops_the_node_naming_it(registry, cache, tmp_path, node, param, name):
    collection(tmp_path)
    (tmp_path / name).mkdir()
    nodes = [("import", "import_images", {"folder": str(tmp_path / "PHOTOS")}),
             ("embed", "embed", {"backend": "pixels", "pixel_size": 8}), ("decide", node, {})]
    port = "images" if node == "label_overrides" else "embeddings"
    source = "import.images" if node == "label_overrides" else "embed.embeddings"
    result = run(registry, cache, nodes, [("import.images", "embed.images"), (source, f"decide.{port}")],
                 tmp_path / "out", tmp_path)
    outcome = result.outcomes["decide"]
    assert outcome.state == "failed" and outcome.field == param, outcome.error
    assert str(tmp_path / name) in outcome.error and "not a file" in outcome.error
    with pytest.raises(NodeError, match="is not a file"):
        set_label(tmp_path / name, "", "a/i0.png", "b")  # what the canvas writes with
    assert (tmp_path / name).is_dir() and not list((tmp_path / name).iterdir())


def test_a_huge_decision_file_is_refused_naming_it_before_it_is_read(registry, cache, tmp_path):
    """A shared bundle's 'label file' of 300 MB (sparse: no disk used) would fill the memory
    read whole; it stops the node with its name and size before its fingerprint hashes it,
    and the canvas cannot write to it."""
    collection(tmp_path)
    with open(tmp_path / "label-overrides.csv", "wb") as huge:
        huge.write(b"sha256,path,label\n")
        huge.truncate(300 * 2**20)
    nodes = [("import", "import_images", {"folder": str(tmp_path / "PHOTOS")}), ("labels", "label_overrides", {})]
    result = run(registry, cache, nodes, [("import.images", "labels.images")], tmp_path / "out", tmp_path)
    outcome = result.outcomes["labels"]
    assert outcome.state == "failed" and outcome.field == "file"
    assert f"{tmp_path / 'label-overrides.csv'} is 300 MB" in outcome.error and "at most 256 MB" in outcome.error
    with pytest.raises(NodeError, match="is 300 MB"):
        set_label(tmp_path / "label-overrides.csv", "", "a/i0.png", "b")
    assert (tmp_path / "label-overrides.csv").stat().st_size == 300 * 2**20


@pytest.mark.parametrize("cell", ["x" * 2**20, '"' + "x\n" * 2**19 + '"'], ids=["one line", "many lines"])
def test_a_decision_file_with_a_huge_cell_is_refused_naming_row_and_column(tmp_path, cell):
    """A stranger's label file of one 256 MB cell took 1.3 GB to read: a row longer than any
    image's (a 1 MB cell here, on one line or on many inside quotes) is refused naming the
    file, the row, the column and the limit, before pandas reads the file."""
    path = tmp_path / "label-overrides.csv"
    path.write_text(f"path,label\na.png,cat\nb.png,{cell}\nc.png,dog\n", encoding="utf-8")
    for read in (read_label_file, read_keep_file):
        with pytest.raises(NodeError) as refused:
            read(path)
        assert f"{path}: row 3 (column 2, 'label') is longer than" in str(refused.value)
        assert "64 KiB" in str(refused.value)
    path.write_text(f"path,label\n{'d/' * 2000}a.png,{'long label ' * 100}\n", encoding="utf-8")
    assert read_label_file(path)["label"].tolist() == [("long label " * 100).strip()]


def test_a_decision_file_of_countless_empty_cells_is_refused_before_pandas_reads_it(tmp_path, monkeypatch):
    """Each cell costs pandas some 20 bytes even when empty, and a file only a byte (its comma):
    64 MB of commas took 1.4 GB and 23 s of CPU. A file of more cells than 3,000,000 images
    have is refused naming it and the limit, before pandas is asked."""
    path = tmp_path / "label-overrides.csv"
    path.write_text("path,label\n" + ",\n" * 8_000_000, encoding="utf-8")
    monkeypatch.setattr(pd, "read_csv", lambda *_, **__: pytest.fail("pandas read the file"))
    with pytest.raises(NodeError) as refused:
        read_label_file(path)
    assert f"{path}: it has some 16,000,003 cells" in str(refused.value) and "16,000,000 cells" in str(refused.value)


@pytest.mark.anyio
async def test_the_queue_says_a_decision_was_not_saved(user: User, tmp_path):
    from test_ui_cleaning import queue_context, synthetic_issues

    from nodes.viewers.cleaning_labels import label_queue

    issues = synthetic_issues(tmp_path, [True, True], [0.9, 0.8])

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, []))

    await user.open("/")
    await user.should_see("0 decided")
    (tmp_path / "label-overrides.csv").mkdir()  # made a folder meanwhile
    user.find(marker="accept-0").click()
    await user.should_see("Not saved: the label file")
    await user.should_see("0 decided · 2 flagged left")


def many(n: int) -> tuple[ImageSet, pd.DataFrame]:
    """``n`` images (every tenth a byte copy of the one before) and a label file naming each,
    by sha256 and by path in turn; a second row for image 0 later (it wins)."""
    hashes = np.array([f"{i - i % 10 // 9:064x}" for i in range(n)])
    paths = np.array([f"/p/{i % 7}/{i}.png" for i in range(n)])
    images = ImageSet(paths, np.array([str(i % 7) for i in range(n)]), hashes, np.full(n, 8, np.int32),
                      np.full(n, 8, np.int32), "/p")
    rows = [(hashes[i], "", f"L{i}") if i % 2 else ("", f"{i % 7}/{i}.png", f"L{i}") for i in range(n)]
    return images, pd.DataFrame(rows + [("", "0/0.png", "last")], columns=["sha256", "path", "label"])


def test_a_label_file_of_many_rows_is_applied_row_for_row(tmp_path):
    images, table = many(30_000)
    labelled, changed, unmatched, nameless = apply_labels(images, table, keep_unlisted=True)
    expected = [f"L{i}" for i in range(30_000)]
    for i in range(9, 30_000, 10):  # a byte copy takes the label of the later row naming its sha256
        expected[i - 1] = expected[i] = f"L{i}" if i % 2 else expected[i]
    expected[0] = "last"
    assert labelled.labels.tolist() == expected and not unmatched and not nameless
    choices, unmatched = chosen(images, table[["sha256", "path"]])
    assert choices[0] == 30_000 and len(choices) == 30_000 and not unmatched


WRITER = """
import sys
from pathlib import Path
from nodes.lib.classify.label_overrides import set_label
from nodes.lib.cleaning.kept_copies import set_kept
folder, start = Path(sys.argv[1]), int(sys.argv[2])
for k in range(start, start + 10_000):
    set_label(folder / "label-overrides.csv", f"{k:064x}", f"a/{k}.png", f"label {k}")
    set_kept(folder / "duplicates-keep.csv", f"{k:064x}", f"a/{k}.png", [])
    print(k, flush=True)
"""


@pytest.mark.slow
def test_decisions_killed_mid_write_leave_whole_files(tmp_path):
    """Each round, a process writes decisions (each rewrites the whole file, 2,000 rows and
    more) and is killed with SIGKILL at a random moment: both files parse, and hold the
    decisions made so far, in order, the last one perhaps not yet."""
    filler = pd.DataFrame({"sha256": [f"{k:064x}" for k in range(10**6, 10**6 + 2_000)],
                           "path": [f"b/{k}.png" for k in range(2_000)], "label": "filler"})
    from flowclass.safe_tables import write_csv

    write_csv(filler, tmp_path / "label-overrides.csv")
    write_csv(filler[["sha256", "path"]], tmp_path / "duplicates-keep.csv")
    rng = np.random.default_rng(0)
    labels_before: list[str] = []  # the decisions of the rounds before, as each file holds them
    keeps_before: list[str] = []
    for start in range(0, 40_000, 10_000):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(start)], stdout=subprocess.PIPE,
                                  text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert writer.stdout.readline()  # it has written once: pandas is loaded, writes go on
        time.sleep(rng.uniform(0.05, 0.6))  # a random moment among the writes
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=60)
        labels = read_label_file(tmp_path / "label-overrides.csv")["label"].tolist()
        keeps = read_keep_file(tmp_path / "duplicates-keep.csv")["path"].tolist()
        assert labels[:2_000] == ["filler"] * 2_000 and keeps[:2_000] == [f"b/{k}.png" for k in range(2_000)]
        made, kept = len(labels) - 2_000 - len(labels_before), len(keeps) - 2_000 - len(keeps_before)
        assert made >= 1 and kept in (made, made - 1)  # perhaps killed between a decision's two files
        assert labels[2_000:] == labels_before + [f"label {k}" for k in range(start, start + made)]
        assert keeps[2_000:] == keeps_before + [f"a/{k}.png" for k in range(start, start + kept)]
        labels_before, keeps_before = labels[2_000:], keeps[2_000:]


@pytest.mark.anyio
async def test_the_viewers_say_where_a_decision_file_outside_the_workflows_folder_is(user: User, tmp_path):
    """A shared workflow may name a decisions file in another folder (of another project, say):
    the queue and the duplicate groups name it whole instead of saying 'beside the workflow'."""
    from test_ui_cleaning import context, queue_context, synthetic_groups, synthetic_issues

    from nodes.viewers.cleaning_duplicates import duplicate_groups
    from nodes.viewers.cleaning_labels import label_queue

    elsewhere = tmp_path / "another project"
    issues, groups = synthetic_issues(tmp_path, [True], [0.9]), synthetic_groups(tmp_path, 2)

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, []))
        label_queue.show(issues, queue_context(tmp_path, [], input_path=lambda node, name: elsewhere / "labels.csv"))
        duplicate_groups.show(groups, context(tmp_path, [], input_path=lambda node, name: elsewhere / "keep.csv"))

    await user.open("/")
    await user.should_see("Corrections go to label-overrides.csv beside the workflow.")
    await user.should_see(f"Corrections go to {elsewhere / 'labels.csv'}, not beside the workflow.")
    await user.should_see(f"Choices go to {elsewhere / 'keep.csv'}, not beside the workflow.")
