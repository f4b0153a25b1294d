"""Find Duplicates keeps its comparisons: working copies, pixel hashes and pair verdicts
are stored as they are made, keyed by the images' content and the check's settings.

As for Embed and Classify Pixels (test_resume.py, test_resume_pixels.py): ``flowclass run``
of clean_collection.json killed with SIGKILL while Find Duplicates compares fine detail
resumes at the stored count and writes the same files, byte for byte, as a run never
interrupted; a Cancel keeps the verdicts made before it. Real images: edited copies of
the sample photographs (scikit-image's and scikit-learn's).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from test_resume import files_of, finish, kill_when, start_run

from flowclass.errors import Cancelled
from flowclass.library import ready_workflows_dir

FINE = "comparing fine detail"


def kept_verdicts(cache_root: Path, fine_only: bool = True) -> int:
    """Pair verdicts in the cache's duplicates store (those the fine check gave, by default)."""
    path = cache_root / "stores" / "duplicates" / "checks.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        try:
            where = " WHERE fine IS NOT NULL" if fine_only else ""
            return db.execute(f"SELECT COUNT(*) FROM verdicts{where}").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not made yet
            return 0


def edited_photos(folder: Path, photos: int = 18) -> list[Path]:
    """The sample photographs in two labelled folders, each with four edited copies (JPEG,
    reduced, cropped, brightened) in the other folder."""
    from nodes.lib.images.sample_images import write_sample

    originals = sorted(write_sample("photos", folder / "originals").glob("*"))[:photos]
    for label in ("a", "b"):
        (folder / "collection" / label).mkdir(parents=True)
    written = []
    for k, path in enumerate(originals):
        photo = Image.open(path).convert("RGB")
        w, h = photo.size
        here, there = folder / "collection" / "ab"[k % 2], folder / "collection" / "ab"[1 - k % 2]
        edits = {"jpeg.jpg": photo, "small.png": photo.resize((w // 2, h // 2), Image.BICUBIC),
                 "cropped.png": photo.crop((w // 25, h // 30, w, h)),
                 "bright.png": ImageEnhance.Brightness(photo).enhance(1.2)}
        photo.save(here / f"{path.stem}.png")
        written.append(here / f"{path.stem}.png")
        for name, image in edits.items():
            image.save(there / f"{path.stem}_{name}", **({"quality": 85} if name.endswith("jpg") else {}))
            written.append(there / f"{path.stem}_{name}")
    return written


def _find(paths, kept=None, progress=lambda done, total, unit, message: None):
    from nodes.lib.cleaning.duplicates import find_copies
    from nodes.lib.images.filestate import sha256_of_file

    rows = np.stack([np.asarray(Image.open(p).convert("L").resize((16, 16)), np.float32).ravel() for p in paths])
    rows -= rows.mean(axis=0)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return find_copies([str(p) for p in paths], [sha256_of_file(p) for p in paths], rows, kept=kept,
                       sizes=lambda path: 0, areas=[1] * len(paths), progress=progress)


@pytest.mark.slow
def test_cancel_keeps_the_verdicts_and_the_next_run_reuses_them(tmp_path):
    from nodes.lib.cleaning.kept_checks import KeptChecks

    paths = edited_photos(tmp_path, photos=6)
    cache = tmp_path / "store"
    cache.mkdir()
    seen: list[tuple[int, int]] = []

    def cancel_at_fifth(done, total, unit, message):
        if message == FINE:
            seen.append((done, total))
            if done == 5:
                raise Cancelled()

    kept = KeptChecks(cache)
    with pytest.raises(Cancelled):
        _find(paths, kept, cancel_at_fifth)
    with sqlite3.connect(cache / "checks.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM works").fetchone()[0] == len(paths)
        assert db.execute("SELECT COUNT(*) FROM verdicts WHERE fine IS NOT NULL").fetchone()[0] == 5
    total = seen[0][1]
    seen.clear()
    resumed = _find(paths, kept, lambda done, total, unit, message: seen.append((done, total))
                    if message == FINE else None)
    assert seen[0] == (5, total)  # starts where the cancelled run stopped
    whole = _find(paths)  # nothing kept
    assert np.array_equal(resumed[0].group, whole[0].group) and np.array_equal(resumed[0].index, whole[0].index)
    assert np.array_equal(resumed[1], whole[1], equal_nan=True)  # every score, exactly
    assert len(whole[0].index) == 5 * 6  # each photo grouped with its four copies
    kept.close()


def _clean_collection(tmp_path: Path) -> Path:
    workflow = tmp_path / "clean.json"
    shutil.copyfile(ready_workflows_dir() / "clean_collection.json", workflow)
    return workflow


@pytest.mark.slow
def test_a_killed_find_duplicates_resumes_its_comparisons_and_gives_the_same_files(tmp_path):
    edited_photos(tmp_path)
    workflow = _clean_collection(tmp_path)
    sets = ("--set", f"import.folder={tmp_path / 'collection'}", "--set", "embed.backend=pixels")
    out, killed_cache = tmp_path / "out", tmp_path / "cache_killed"
    first = start_run(workflow, out, killed_cache, sets)
    kill_when(first, lambda: kept_verdicts(killed_cache) >= 10, "Find Duplicates never kept a verdict")
    kept = kept_verdicts(killed_cache)

    whole = finish(start_run(workflow, out, tmp_path / "cache_whole", sets))
    total = kept_verdicts(tmp_path / "cache_whole")
    assert 10 <= kept < total, (kept, total)
    assert f"duplicates: {FINE} (0 / {total} pairs)" in whole, whole
    expected = files_of(out)
    shutil.rmtree(out)

    resumed = finish(start_run(workflow, out, killed_cache, sets))
    assert f"duplicates: {FINE} ({kept} / {total} pairs)" in resumed, resumed
    images = 18 * 5
    assert f"duplicates: looking at images ({images} / {images} images)" in resumed, resumed  # none again
    assert kept_verdicts(killed_cache) == total
    assert kept_verdicts(killed_cache, fine_only=False) == kept_verdicts(tmp_path / "cache_whole", fine_only=False)
    made = files_of(out)
    assert "duplicates.csv" in made and made["duplicates.csv"].count(b"\n") > 18 * 5
    assert made.keys() == expected.keys()
    assert [name for name in made if made[name] != expected[name]] == []
