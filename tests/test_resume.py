"""A run stopped half-way keeps what it finished: embeddings are stored batch by batch.

The real thing, as a user meets it: ``flowclass run`` in a subprocess is killed with
SIGKILL in the middle of Embed; the next run starts its progress where the first
stopped and writes the same files, byte for byte, as a run that was never interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from flowclass.cache import Cache
from flowclass.context import RunContext
from flowclass.errors import Cancelled
from flowclass.executors import LocalExecutor
from flowclass.states import PROGRESS
from flowclass.library import ready_workflows_dir
from nodes.datatypes import ImageSet
from nodes.embed import embed_images
from nodes.lib.embedders.classic import RawPixels
from tests.conftest import REPO

FACES = 200  # skimage's lfw_subset, written by `flowclass sample`


def stored_vectors(cache_root: Path) -> int:
    """Rows in the cache's embedding store (0 before the store exists)."""
    path = cache_root / "stores" / "embeddings" / "embeddings.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not made yet
            return 0


def faces_in_two(faces: Path) -> tuple[str, ...]:
    """cluster_folder.json's settings for the faces: that folder, two clusters."""
    return ("--set", f"import.folder={faces}", "--set", "cluster.n_clusters=2")


def start_run(workflow: Path, out: Path, cache_root: Path, sets: tuple[str, ...] = ()) -> subprocess.Popen:
    """``flowclass run`` of ``workflow`` (with ``--set`` arguments ``sets``) in a process."""
    args = [sys.executable, "-m", "flowclass.cli", "run", str(workflow), "--out", str(out),
            "--cache", str(cache_root), *sets]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def kill_when(process: subprocess.Popen, stored: Callable[[], bool], never: str) -> None:
    """SIGKILL ``process`` as soon as ``stored()`` (what it keeps reached a count): a crash in
    the middle of a node. ``never`` is the failure's message if the process ends first."""
    deadline = time.monotonic() + 600
    while not stored():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, never
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    return output


BOOKKEEPING = {"run.json", ".flowclass-owned.jsonl"}  # times, inodes: a run's own history


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file a run wrote, but its bookkeeping; a workbook's parts but the one with the
    time it was written (docProps/core.xml)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if not path.is_file() or path.name in BOOKKEEPING:
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                found.update((f"{name}:{part}", book.read(part)) for part in book.namelist()
                             if part != "docProps/core.xml")
        else:
            found[name] = path.read_bytes()
    return found


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped_and_gives_the_same_files(tmp_path):
    from nodes.lib.images.sample_images import write_sample

    faces = write_sample("faces", tmp_path / "faces")
    workflow = tmp_path / "cluster.json"
    shutil.copyfile(ready_workflows_dir() / "cluster_folder.json", workflow)  # EfficientNet, batches of 8

    out, killed_cache = tmp_path / "out", tmp_path / "cache_killed"
    first = start_run(workflow, out, killed_cache, faces_in_two(faces))
    # three batches kept: now in the middle of Embed
    kill_when(first, lambda: stored_vectors(killed_cache) >= 24, "Embed never stored a batch")
    kept = stored_vectors(killed_cache)
    assert 24 <= kept < FACES, kept

    # an uninterrupted run into the same folder (the tables name it), on a cache of its own
    # (the prepared model is shared: $FLOWCLASS_PREPARED); its files are put aside
    whole = finish(start_run(workflow, out, tmp_path / "cache_whole", faces_in_two(faces)))
    assert f"decoding the first images (0 / {FACES} images)" in whole
    expected = files_of(out)
    shutil.rmtree(out)

    resumed = finish(start_run(workflow, out, killed_cache, faces_in_two(faces)))
    assert f"decoding the first images ({kept} / {FACES} images)" in resumed, resumed
    assert stored_vectors(killed_cache) == FACES
    made = files_of(out)
    assert len(made) > FACES  # the exported images, the tables and the pictures
    assert made.keys() == expected.keys()
    assert [name for name in made if made[name] != expected[name]] == []


class CancelledAfter(RawPixels):
    """Raw pixels, and Cancel is pressed while batch ``batches + 1`` is being embedded."""

    def __init__(self, batches: int, cancel: threading.Event):
        super().__init__(8, True, False, 128)
        self.batches, self.cancel = batches, cancel

    def forward(self, batch: np.ndarray) -> np.ndarray:
        self.batches -= 1
        if self.batches < 0:
            self.cancel.set()
        return super().forward(batch)


def context(cache: Cache, cancel: threading.Event, first_progress: list[int],
            after_cancel: list[int] | None = None) -> RunContext:
    """A node's run context that notes where each run's progress starts (and the progress
    told after a Cancel)."""
    def emit(event) -> None:
        if event.message == "decoding the first images":
            first_progress.append(event.done)
        if after_cancel is not None and cancel.is_set() and event.state == PROGRESS:
            after_cancel.append(event.done)

    return RunContext("embed", Path("."), Path("."), cache.store_dir, emit=emit, cancel_event=cancel)


def noise_images(folder: Path, count: int) -> ImageSet:
    """``count`` distinct 8x8 gray pictures."""
    from PIL import Image

    from nodes.lib.images.filestate import sha256_of_file

    folder.mkdir()
    paths, hashes = [], []
    for index, pixels in enumerate(np.random.default_rng(0).integers(0, 256, (count, 8, 8), dtype=np.uint8)):
        path = folder / f"{index:04d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
        hashes.append(sha256_of_file(path))
    sizes = np.full(count, 8)
    return ImageSet(np.array(paths), np.array([""] * count), np.array(hashes), sizes, sizes)


def test_cancel_keeps_the_finished_batches_and_the_next_run_starts_there(tmp_path):
    images = noise_images(tmp_path / "pictures", 100)
    cache, cancel, starts = Cache(tmp_path / "cache"), threading.Event(), []
    told: list[int] = []
    with pytest.raises(Cancelled):
        embed_images(context(cache, cancel, starts, told), CancelledAfter(5, cancel), images, batch_size=8)
    assert stored_vectors(cache.root) == 48  # six whole batches: the one under way when Cancel came too
    assert told == [48]  # its last progress says exactly what is kept (the canvas shows it on the node)
    resumed, _ = embed_images(context(cache, threading.Event(), starts), RawPixels(8, True, False, 128),
                              images, batch_size=8)
    assert starts == [0, 48]
    whole, _ = embed_images(context(Cache(tmp_path / "other"), threading.Event(), []),
                            RawPixels(8, True, False, 128), images, batch_size=8)
    assert resumed.vectors.tobytes() == whole.vectors.tobytes()
    assert list(resumed.images.paths) == list(whole.images.paths)


def test_a_resumed_embed_never_counts_from_0_while_it_gets_ready(tmp_path):
    """Run after a Cancel: every count Embed tells (the canvas shows them as ``k / N`` on the
    node) is at least what is kept. Its first phase, getting the model ready, comes before it
    has looked at what is stored, so it tells no count (it said 0 / 100 with 48 kept)."""
    from nodes.embed import embed

    images = noise_images(tmp_path / "pictures", 100)
    cache, cancel = Cache(tmp_path / "cache"), threading.Event()
    with pytest.raises(Cancelled):
        embed_images(context(cache, cancel, []), CancelledAfter(5, cancel), images, batch_size=8)
    kept = stored_vectors(cache.root)
    assert kept == 48
    told: list[tuple[str, int | None, int | None]] = []
    ctx = RunContext("embed", Path("."), Path("."), cache.store_dir, cancel_event=threading.Event(),
                     emit=lambda e: told.append((e.message, e.done, e.total)) if e.state == PROGRESS else None)
    embed.run(ctx, images=images, backend="pixels", batch_size=8, device="cpu", precision="fp32",
              clip_model="", clip_weights="", pixel_size=8, grayscale=True, binarize=False, threshold=128,
              histogram_space="hsv", histogram_bins=8)
    assert told[0][0] == "starting"  # the phase is still told
    counts = [(message, done) for message, done, total in told if total]
    assert counts[0] == ("decoding the first images", kept), told
    assert all(done >= kept for _, done in counts), told


class OneWorkerCluster(LocalExecutor):
    """Threads that say they are a cluster: nodes send their jobs through ``ctx.map``."""

    remote = True

    def __init__(self):
        super().__init__(workers=1)


def cluster_context(cache: Cache, cancel: threading.Event) -> RunContext:
    """A run on a cluster whose Cancel is pressed as the first job comes back."""
    def emit(event) -> None:
        if event.message == "on the cluster":
            cancel.set()

    return RunContext("node", Path("."), Path("."), cache.store_dir, emit=emit, cancel_event=cancel,
                      executor=OneWorkerCluster())


def test_a_cancelled_cluster_run_keeps_the_jobs_that_came_back(tmp_path, monkeypatch):
    import nodes.embed
    import nodes.images

    monkeypatch.setattr(nodes.images, "CLUSTER_TASK_FILES", 10)
    monkeypatch.setattr(nodes.embed, "CLUSTER_TASK_IMAGES", 8)
    images = noise_images(tmp_path / "pictures", 40)
    cache = Cache(tmp_path / "cache")
    with pytest.raises(Cancelled):
        nodes.images.read_images(cluster_context(cache, threading.Event()), tmp_path / "pictures",
                                 recursive=True, extensions=("png",), labels_from="subfolder", max_per_label=0)
    with sqlite3.connect(cache.store_dir("files") / "files.sqlite") as db:
        probed = db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    assert 10 <= probed < 40
    with pytest.raises(Cancelled):
        embed_images(cluster_context(cache, threading.Event()), RawPixels(8, True, False, 128), images, 8)
    assert 8 <= stored_vectors(cache.root) < 40


@pytest.mark.slow
def test_predict_on_images_keeps_what_a_cancel_stopped_and_resumes_there(registry, tmp_path, monkeypatch):
    """Predict embeds its images as the model's were, through Embed's store: a Cancel in the
    middle keeps the finished batches, and the next run starts there with the same predictions."""
    import nodes.embed
    from classify_helpers import digits_training, workflow

    from flowclass.engine import Engine

    nodes_, edges = digits_training(per_label=10)
    flow = workflow(registry, nodes_ + [("new", "sample_images", {"dataset": "digits", "max_per_label": 30}),
                                        ("predict", "predict", {})],
                    edges + [("new.images", "predict.images"), ("train.model", "predict.model")])
    make_embedder, cancel, starts = nodes.embed.make_embedder, threading.Event(), []

    def cancelled_in_predict(ctx, params):  # Cancel is pressed in Predict's sixth batch
        return CancelledAfter(5, cancel) if ctx.node_id == "predict" else make_embedder(ctx, params)

    def on_event(event) -> None:
        if event.node == "predict" and event.message == "decoding the first images":
            starts.append(event.done)

    cache = Cache(tmp_path / "cache")
    monkeypatch.setattr(nodes.embed, "make_embedder", cancelled_in_predict)
    first = Engine(registry, cache).run(flow, out_dir=tmp_path / "out", on_event=on_event, cancel=cancel)
    assert first.outcomes["predict"].state == "cancelled"
    monkeypatch.setattr(nodes.embed, "make_embedder", make_embedder)
    resumed = Engine(registry, cache).run(flow, out_dir=tmp_path / "out", on_event=on_event)
    assert resumed.ok
    assert starts[1] == starts[0] + 48 < 300  # six whole batches of 8 were kept
    whole = Engine(registry, Cache(tmp_path / "other")).run(flow, out_dir=tmp_path / "whole")
    mine, theirs = resumed.output("predict", "predictions"), whole.output("predict", "predictions")
    assert list(mine.labels) == list(theirs.labels) and mine.scores.tobytes() == theirs.scores.tobytes()
