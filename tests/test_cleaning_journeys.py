"""Headless journeys of cleaning a collection, as README says to run them, on 1,800+ images.

The user's folder: scikit-learn's 1,797 digits in a subfolder per digit, 30 of them in a
wrong folder, plus copies (exact, under new names and formats; near: re-encoded,
brightened) filed in random folders. Decisions (accepted labels, a changed kept copy) are
written where the canvas writes them, beside the workflow, and a headless re-run shows
them. Then a classifier predicts a folder mixing digits and faces: the faces go to
``unfamiliar/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from flowclass.library import ready_workflows_dir
from nodes.lib.images.filestate import sha256_of_file
from tests.journey_helpers import familiar_and_foreign, flowclass_run, listing, messy_digits

pytestmark = pytest.mark.slow
WRONG = 30


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, str]]:
    """PHOTOS (the user's folder), the true digit of each moved image, copy -> original."""
    return messy_digits(tmp_path_factory.mktemp("user") / "PHOTOS", WRONG)


def test_clean_collection_finds_copies_and_wrong_labels_and_re_runs_the_decisions(
        photos, shared_cache, tmp_path):
    folder, moved, copies = photos
    before = listing(folder)
    workflow = tmp_path / "my_clean_collection.json"  # Save As: the user's copy
    shutil.copyfile(ready_workflows_dir() / "clean_collection.json", workflow)
    out = tmp_path / "OUT"
    flowclass_run(workflow, out, shared_cache.root, f"import.folder={folder}")

    duplicates = pd.read_csv(out / "duplicates.csv", dtype=str)
    assert list(duplicates.columns) == ["group", "path", "kind", "keep"]
    name = duplicates["path"].map(lambda p: Path(p).name)
    groups = {frozenset(g) for _, g in name.groupby(duplicates["group"])}
    found = {copy for copy, original in copies.items() if any({copy, original} <= g for g in groups)}
    exact = {c for k, c in enumerate(sorted(copies)) if k % 4 in (0, 1)}  # same pixels
    assert exact <= found and exact <= set(name[duplicates["kind"] == "exact"])
    assert found == set(copies), sorted(set(copies) - found)  # brightened ones too
    # and no group of look-alikes: two scans of one digit are not copies
    assert all(g & set(copies) for g in groups), [sorted(g) for g in groups if not g & set(copies)]
    assert (duplicates.groupby("group")["keep"].apply(lambda k: (k == "true").sum()) == 1).all()

    issues = pd.read_csv(out / "label_issues.csv", dtype={"label": str, "suggested": str})
    assert list(issues.columns) == ["path", "label", "suggested", "score", "flagged"]
    assert len(issues) == len(before) and issues["score"].is_monotonic_decreasing
    top = set(issues["path"].head(WRONG).map(lambda p: Path(p).name))
    assert len(top & set(moved)) >= 0.6 * WRONG  # 20 of 30 here (1.7 % wrong)
    outliers = pd.read_csv(out / "outliers.csv")
    assert list(outliers.columns) == ["path", "score", "flagged"] and len(outliers) == len(before)

    # decisions, written where the canvas writes them: beside the workflow
    from nodes.lib.cleaning.kept_copies import set_kept
    from nodes.lib.classify.label_overrides import set_label

    accepted = issues[issues["flagged"]].head(3)
    for path, suggested in zip(accepted["path"], accepted["suggested"]):
        set_label(tmp_path / "label-overrides.csv", sha256_of_file(path),
                  str(Path(path).relative_to(folder)), suggested)
    group = duplicates[duplicates["group"] == duplicates["group"].iloc[0]]
    chosen = group[group["keep"] == "false"]["path"].iloc[0]
    others = [(sha256_of_file(p), str(Path(p).relative_to(folder)))
              for p in group["path"] if p != chosen]
    set_kept(tmp_path / "duplicates-keep.csv", sha256_of_file(chosen),
             str(Path(chosen).relative_to(folder)), others)

    flowclass_run(workflow, out, shared_cache.root, f"import.folder={folder}")
    again = pd.read_csv(out / "label_issues.csv", dtype={"label": str}).set_index("path")
    for path, suggested in zip(accepted["path"], accepted["suggested"]):
        assert again.loc[path, "label"] == suggested
    kept = pd.read_csv(out / "duplicates.csv", dtype=str).set_index("path")["keep"]
    assert kept[chosen] == "true" and (kept[[p for p in group["path"] if p != chosen]] == "false").all()

    # the cleaned copy: one folder per label, one image per group, the accepted labels
    cleaned = {p.name: p.parent.name for p in (out / "cleaned").rglob("*") if p.is_file()
               and p.suffix != ".csv" and not p.name.startswith(".")}  # not its table, journal
    assert len(cleaned) == len(before) - int((kept == "false").sum())
    assert Path(chosen).name in cleaned
    for path, suggested in zip(accepted["path"], accepted["suggested"]):
        assert cleaned[Path(path).name] == suggested
    assert listing(folder) == before  # nothing in the user's folder moved or changed


def test_predict_puts_foreign_images_in_unfamiliar(photos, shared_cache, tmp_path):
    folder, moved, _ = photos
    mixed, faces = familiar_and_foreign(folder, tmp_path / "NEW")
    digits = [p for p in mixed.iterdir() if p.name not in faces]
    out = tmp_path / "OUT"
    shutil.copyfile(ready_workflows_dir() / "lobe_train_predict.json", tmp_path / "lobe.json")
    flowclass_run(tmp_path / "lobe.json", out, shared_cache.root, f"import.folder={folder}",
                  f"new.folder={mixed}")
    predictions = pd.read_csv(out / "predictions.csv")
    assert {"familiarity", "unfamiliar"} <= set(predictions.columns)
    written = pd.read_csv(out / "predictions.csv", dtype=str)["unfamiliar"]
    assert set(written) == {"true", "false"}  # as the issue's tables write booleans
    assert predictions["familiarity"].between(0, 1).all()
    unfamiliar = {p.name for p in (out / "by_prediction" / "unfamiliar").glob("*.png")}
    assert len(unfamiliar & faces) >= 0.9 * len(faces)
    assert len(unfamiliar - faces) <= 0.05 * len(digits)
