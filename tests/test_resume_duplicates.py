"""Find Duplicates keeps its comparisons: working copies, pixel hashes and pair verdicts
are stored as they are made, keyed by the images' content and the check's settings.

As for Embed and Classify Pixels (test_resume.py, test_resume_pixels.py): ``flowclass run``
of clean_collection.json killed with SIGKILL while Find Duplicates compares fine detail
resumes at the stored count and writes the same files, byte for byte, as a run never
interrupted; a Cancel keeps the verdicts made before it, and so does a Cancel while it
compares or aligns thumbnails (the coarse check before the fine one): the next run does
not compare again what was compared. Real images: edited copies of the sample photographs
(scikit-image's and scikit-learn's).
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from test_resume import files_of, finish, kill_when, start_run

from flowclass.errors import Cancelled
from flowclass.library import ready_workflows_dir

FINE = "comparing fine detail"
THUMBS, ALIGNING = "comparing thumbnails", "aligning thumbnails"


def kept_pairs(db: sqlite3.Connection, column: str = "verdicts") -> np.ndarray:
    """Every pair verdict (or alignment) in a duplicates store, as kept: a record each."""
    from nodes.lib.cleaning.kept_checks import ALIGNED, VERDICT

    try:
        rows = db.execute(f"SELECT {column} FROM pair_chunks").fetchall()
    except sqlite3.OperationalError:  # the table is not made yet
        rows = []
    return np.frombuffer(b"".join(made for made, in rows), VERDICT if column == "verdicts" else ALIGNED)


def kept_verdicts(cache_root: Path, fine_only: bool = True) -> int:
    """Pairs with a verdict in the cache's duplicates store (those the fine check gave, by default)."""
    path = cache_root / "stores" / "duplicates" / "checks.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        verdicts = kept_pairs(db)
    return len(np.unique(verdicts["pair"][~np.isnan(verdicts["fine"])] if fine_only else verdicts["pair"]))


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
def test_cancel_keeps_the_verdicts_and_the_next_run_reuses_them(tmp_path, monkeypatch):
    from nodes.lib.cleaning.kept_checks import VERDICT, KeptChecks

    monkeypatch.setattr("nodes.lib.cleaning.duplicates.cores", lambda: 2)  # fine checks in chunks, as on 2 cores or more

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
        assert db.execute("SELECT SUM(length(decoded)) FROM work_chunks").fetchone()[0] == len(paths)
        fine_kept = int(np.sum(~np.isnan(kept_pairs(db)["fine"])))  # the fifth's chunk, whole
        writes = sum(bool(np.any(~np.isnan(np.frombuffer(made, VERDICT)["fine"])))
                     for made, in db.execute("SELECT verdicts FROM pair_chunks"))
    assert writes == 1  # the chunk's fine verdicts in one write, not one per pair
    total = seen[0][1]
    assert 5 <= fine_kept < total
    seen.clear()
    resumed = _find(paths, kept, lambda done, total, unit, message: seen.append((done, total))
                    if message == FINE else None)
    assert seen[0] == (fine_kept, total)  # starts where the cancelled run stopped
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


def kept_coarse(cache: Path) -> tuple[int, int]:
    """What a duplicates store holds of the coarse check: best crops (one image cropped
    against one partner) and pairs settled or aligned (verdicts and alignments)."""
    with sqlite3.connect(cache / "checks.sqlite") as db:
        tables = {name for name, in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        crops = 0
        if "crops" in tables:
            from nodes.lib.cleaning.kept_checks import CROP

            crops = sum(len(made) for made, in db.execute("SELECT made FROM crops")) // CROP.itemsize
        pairs = len(kept_pairs(db)) + len(kept_pairs(db, "alignments"))
    return crops, pairs


class CountedCoarse:
    """Counts the coarse check's work, made in this process (not in worker processes): the
    entries (an image, a partner) whose best crop is looked for and the pairs aligned; with
    ``cancel`` given, calls it when the chunk of pairs number ``cancel_at`` is aligned."""

    def __init__(self, monkeypatch):
        import nodes.lib.cleaning.duplicates as dup

        self.entries, self.pairs, self.chunks, self.cancel, self.cancel_at = 0, 0, 0, None, 0
        best_crops, align_many = dup.best_crops, dup.align_many

        def counted_crops(views, targets):
            self.entries += len(targets)
            return best_crops(views, targets)

        def counted_align(works, pairs, *args, **kwargs):
            self.pairs, self.chunks = self.pairs + len(pairs), self.chunks + 1
            if self.cancel is not None and self.chunks == self.cancel_at:
                self.cancel()
            return align_many(works, pairs, *args, **kwargs)

        monkeypatch.setattr(dup, "best_crops", counted_crops)
        monkeypatch.setattr(dup, "align_many", counted_align)
        monkeypatch.setattr(dup, "cores", lambda: 1)
        monkeypatch.setattr(dup, "CROPS_CHUNK", 4)  # 30 images: several chunks of each stage
        monkeypatch.setattr(dup, "ALIGN_CHUNK", 8)

    def reset(self) -> tuple[int, int]:
        done, self.entries, self.pairs, self.chunks = (self.entries, self.pairs), 0, 0, 0
        return done


@pytest.mark.slow
@pytest.mark.parametrize("stage", [THUMBS, ALIGNING])
def test_a_cancel_while_comparing_or_aligning_thumbnails_keeps_what_was_compared(tmp_path, monkeypatch, stage):
    from nodes.lib.cleaning.kept_checks import KeptChecks

    paths = edited_photos(tmp_path, photos=6)
    counted = CountedCoarse(monkeypatch)
    totals: dict[str, int] = {}  # of each stage: the images or pairs it has to compare
    whole = _find(paths, progress=lambda done, total, unit, message: totals.__setitem__(message, total))
    entries, aligned = counted.reset()
    pairs = totals[ALIGNING]
    assert len(whole[0].index) == 5 * 6 and pairs > 50 and aligned >= 4 * 6

    def cancel_at_third_chunk(done, total, unit, message):
        if message == stage and done >= (8 if stage == THUMBS else 16):  # two chunks done
            raise Cancelled()

    cache = tmp_path / "store"
    cache.mkdir()
    kept = KeptChecks(cache)
    with pytest.raises(Cancelled):
        _find(paths, kept, cancel_at_third_chunk)
    counted.reset()
    crops, settled = kept_coarse(cache)
    if stage == THUMBS:  # the best crops of two chunks of images, no pair aligned yet
        assert 0 < crops < entries and settled == 0
    else:  # every best crop, and the pairs of two chunks of 8 settled or aligned
        assert (crops, settled) == (entries, 16)
    totals.clear()
    resumed = _find(paths, kept, lambda done, total, unit, message: totals.__setitem__(message, total))
    assert counted.entries == entries - crops  # no best crop looked for twice
    assert totals[ALIGNING] == pairs - settled  # no pair aligned twice
    assert counted.pairs < aligned if stage == ALIGNING else counted.pairs == aligned
    assert np.array_equal(resumed[0].group, whole[0].group) and np.array_equal(resumed[0].index, whole[0].index)
    assert np.array_equal(resumed[0].kind, whole[0].kind) and np.array_equal(resumed[0].keep, whole[0].keep)
    assert np.array_equal(resumed[1], whole[1], equal_nan=True)  # every score, exactly
    kept.close()


@pytest.mark.slow
def test_flowclass_run_resumes_find_duplicates_cancelled_while_aligning_and_writes_the_same_files(
        tmp_path, registry, monkeypatch):
    from flowclass.cache import Cache
    from flowclass.cli import main
    from flowclass.engine import Engine
    from flowclass.workflow_file import load

    edited_photos(tmp_path, photos=6)
    workflow = _clean_collection(tmp_path)
    sets = ["--set", f"import.folder={tmp_path / 'collection'}", "--set", "embed.backend=pixels"]
    out = tmp_path / "out"
    counted = CountedCoarse(monkeypatch)
    assert main(["run", str(workflow), "--out", str(out), "--cache", str(tmp_path / "cache_whole"), *sets]) == 0
    whole, (_, aligned) = files_of(out), counted.reset()
    shutil.rmtree(out)

    cancel = threading.Event()
    counted.cancel, counted.cancel_at = cancel.set, 3  # Cancel pressed while the third chunk is aligned
    flow = load(workflow, registry).with_params("import", folder=str(tmp_path / "collection")) \
        .with_params("embed", backend="pixels")
    result = Engine(registry, Cache(tmp_path / "cache")).run(flow, base_dir=tmp_path, out_dir=out, cancel=cancel)
    assert result.outcomes["duplicates"].state.value == "cancelled"
    _, settled = kept_coarse(tmp_path / "cache" / "stores" / "duplicates")
    assert settled == 2 * 8  # the pairs of the two chunks aligned before
    counted.cancel = None
    counted.reset()
    shutil.rmtree(out)

    assert main(["run", str(workflow), "--out", str(out), "--cache", str(tmp_path / "cache"), *sets]) == 0
    assert counted.entries == 0 and counted.pairs < aligned  # no best crop looked for again, fewer pairs aligned
    resumed = files_of(out)
    assert "duplicates.csv" in resumed and resumed["duplicates.csv"].count(b"\n") == 5 * 6 + 1
    assert resumed.keys() == whole.keys()
    assert [name for name in resumed if resumed[name] != whole[name]] == []  # bit for bit


def test_verdicts_kept_in_several_chunks_by_a_stopped_run_are_all_found_again(tmp_path):
    """Verdicts and alignments are appended a chunk at a time: a store reopened (as by a run
    after one killed) finds every chunk's pairs, a pair kept twice with its later answer,
    NaN and infinity to the bit, and nothing under other settings."""
    from nodes.lib.cleaning.kept_checks import KeptChecks
    from nodes.lib.cleaning.thumbnails import Alignment

    rng = np.random.default_rng(0)
    shas = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(40)]
    pairs = [(shas[i], shas[j]) for i in range(40) for j in range(i + 1, 40)][:300]
    scores = {pair: (float(rng.random()), float(rng.random())) for pair in pairs}
    scores[pairs[1]], scores[pairs[2]] = (0.25, float("nan")), (0.5, float("inf"))
    box = Alignment(0.75, 1, (0.125, 0.0, 1.0, 0.9990234375))
    kept = KeptChecks(tmp_path)
    for start in range(0, 300, 64):  # five chunks, as the coarse check keeps them
        kept.keep_verdicts("0.9:0.1", [(*p, *scores[p]) for p in pairs[start:start + 64]],
                           [(*pairs[start], box)])
    scores[pairs[0]] = (0.125, 0.0625)  # the fine check's later answer
    kept.keep_verdicts("0.9:0.1", [(*pairs[0], *scores[pairs[0]])])
    kept.close()  # as a killed run leaves it: what was written stays

    again = KeptChecks(tmp_path)
    found = again.verdicts("0.9:0.1", pairs + [(shas[1], shas[0])])  # the reversed pair was never kept
    assert found.keys() == set(pairs)
    assert np.array_equal(np.array([found[p] for p in pairs]), np.array([scores[p] for p in pairs]), equal_nan=True)
    assert again.alignments("0.9:0.1", pairs) == {pairs[start]: box for start in range(0, 300, 64)}
    assert again.any_alignments("0.9:0.1") and not again.any_alignments("0.8:0.1")
    assert again.verdicts("0.8:0.1", pairs) == {}
    again.close()


def test_verdicts_kept_by_keys_made_a_chunk_at_a_time_are_the_rows_kept_pair_by_pair(tmp_path):
    """Find Duplicates makes a chunk's pair keys from each image's half at once (a key per
    pair, made by the store, took 2 s of 640,000 pairs): the rows it keeps are those the
    store makes pair by pair, byte for byte, NaN and infinity included."""
    from nodes.lib.cleaning.duplicates import _Verdicts
    from nodes.lib.cleaning.kept_checks import KeptChecks
    from nodes.lib.cleaning.thumbnails import Alignment

    rng = np.random.default_rng(0)
    hashes = np.array([bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(40)])
    pairs = np.array([(i, j) for i in range(40) for j in range(i + 1, 40)])[rng.permutation(780)[:300]]
    scores = rng.random((300, 2))
    scores[1, 1], scores[2, 1] = np.nan, np.inf
    passed = [(5, Alignment(0.75, 1, (0.125, 0.0, 1.0, 0.9990234375))), (9, Alignment(0.5, 0, (0.0, 0.5, 63.5, 64.0)))]
    (tmp_path / "chunk").mkdir()
    (tmp_path / "pair").mkdir()
    by_chunk, by_pair = KeptChecks(tmp_path / "chunk"), KeptChecks(tmp_path / "pair")
    for start in range(0, 300, 64):
        at = np.arange(start, min(start + 64, 300))
        _Verdicts(by_chunk, hashes, "0.9:0.1").keep(pairs, scores, at, passed if start == 0 else ())
        by_pair.keep_verdicts("0.9:0.1", [(hashes[a], hashes[b], *scores[k]) for k, (a, b) in zip(at, pairs[at])],
                              [(hashes[pairs[k, 0]], hashes[pairs[k, 1]], found) for k, found in passed]
                              if start == 0 else [])
    rows = [kept._db.execute("SELECT * FROM pair_chunks ORDER BY rowid").fetchall() for kept in (by_chunk, by_pair)]
    assert len(rows[0]) == 5 and rows[0] == rows[1]
    assert by_chunk.verdicts("0.9:0.1", [(hashes[a], hashes[b]) for a, b in pairs[:3]])[(hashes[pairs[2, 0]],
                                                                                    hashes[pairs[2, 1]])][1] == np.inf
    by_chunk.close()
    by_pair.close()


def test_a_store_made_before_verdicts_were_kept_in_chunks_opens_and_its_old_rows_are_not_read(tmp_path):
    from nodes.lib.cleaning.kept_checks import VERSION, KeptChecks

    a, b = "ab" * 32, "cd" * 32
    with sqlite3.connect(tmp_path / "checks.sqlite") as db:  # the tables of a store made before
        db.execute("CREATE TABLE verdicts (version TEXT, first BLOB, second BLOB, coarse REAL, "
                   "fine REAL, PRIMARY KEY (version, first, second)) WITHOUT ROWID")
        db.execute("INSERT INTO verdicts VALUES (?, ?, ?, 0.5, 0.5)",
                   (f"{VERSION}:s", bytes.fromhex(a[:32]), bytes.fromhex(b[:32])))
    kept = KeptChecks(tmp_path)
    assert kept.verdicts("s", [(a, b)]) == {}  # made again, then kept the new way
    kept.keep_verdicts("s", [(a, b, 0.25, 0.125)])
    assert kept.verdicts("s", [(a, b)]) == {(a, b): (0.25, 0.125)}
    kept.close()


def test_working_copies_kept_in_several_chunks_by_a_stopped_run_are_all_found_again(tmp_path, monkeypatch):
    """Working copies are appended a chunk at a time: a store reopened (as by a run after one
    killed) finds every chunk's images to the bit, an image that cannot be decoded as None,
    an image kept twice with its later copy, and nothing kept under another version."""
    from nodes.lib.cleaning import kept_checks
    from nodes.lib.cleaning.kept_checks import KeptChecks
    from nodes.lib.cleaning.thumbnails import WORK

    rng = np.random.default_rng(0)
    shas = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(40)]
    works = {sha: rng.integers(0, 256, (WORK, WORK), dtype=np.uint8) for sha in shas}
    works[shas[3]] = None  # cannot be decoded
    kept = KeptChecks(tmp_path)
    for start in range(0, 40, 16):  # three chunks, as looking at images keeps them
        kept.keep_works([(sha, works[sha]) for sha in shas[start:start + 16]])
    works[shas[0]] = np.full((WORK, WORK), 7, dtype=np.uint8)  # kept again, later
    kept.keep_works([(shas[0], works[shas[0]])])
    kept.close()  # as a killed run leaves it: what was written stays

    again = KeptChecks(tmp_path)
    found = again.works(shas[5:] + shas[:5] + ["ab" * 32])  # the last was never kept
    assert found.keys() == set(shas)
    assert found[shas[3]] is None
    assert all(np.array_equal(found[sha], works[sha]) for sha in shas if sha != shas[3])
    assert again.works(shas[10:12]).keys() == set(shas[10:12])
    again.close()
    monkeypatch.setattr(kept_checks, "VERSION", "another")
    other = KeptChecks(tmp_path)
    assert other.works(shas) == {}
    other.close()
