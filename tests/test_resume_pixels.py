"""Classify Pixels keeps what it finished: each class map is stored as it is made.

As for Embed (test_resume.py): ``flowclass run`` killed with SIGKILL in the middle of
Classify Pixels resumes at the stored count and writes the same files, byte for byte, as
a run never interrupted; a Cancel (in the node, in the canvas, on a cluster) keeps the
maps made before it.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from nicegui.testing import User
from test_resume import OneWorkerCluster, files_of, finish, kill_when, noise_images, start_run
from ui_helpers import make_app, page_of, until

from flowclass.cache import Cache
from flowclass.context import RunContext
from flowclass.errors import Cancelled
from flowclass.library import ready_workflows_dir
from flowclass.workflow_file import load, save
from nodes.datatypes import ImageSet
from nodes.lib.classify.estimators import dump_estimator
from nodes.lib.pixels.features import FeatureSpec
from nodes.lib.pixels.model import make_estimator
from nodes.pixel_datatypes import PixelModel
from nodes.pixels import LABELLING, classify_pixels

PHOTOS = 18  # the built-in "photos" sample the Clashifier workflow classifies
SLOW = ("--set", "train.texture=true", "--set", "train.neighbourhood=true")  # about 1 s a photo


def stored_maps(cache_root: Path) -> int:
    """Class maps in the cache's store (0 before it exists)."""
    return sum(1 for _ in (cache_root / "stores" / "pixel_maps").glob("*/*.png"))


@functools.cache
def dark_or_light() -> PixelModel:
    """Nearest colour between two classes, dark and light: a real model, trained in a moment
    (saving it with skops takes longer: once per test session)."""
    rgb = np.array([[0, 0, 0], [40, 40, 40], [215, 215, 215], [255, 255, 255]], dtype=np.float32)
    estimator = make_estimator("nearest_centroid", seed=0, n_trees=1, max_depth=0)
    spec = FeatureSpec(rgb=True, lab=False)
    estimator.fit(rgb, np.array([0, 0, 1, 1]))
    return PixelModel(("dark", "light"), ("#000000", "#ffffff"), spec.to_dict(), "nearest_centroid",
                      dump_estimator(estimator))


class Run:
    """A node's run context that notes where labelling starts; ``cancel_when(event)`` says
    when Cancel is pressed."""

    def __init__(self, cache: Cache, cancel_when=lambda event: False, executor=None):
        self.start: int | None = None
        self.cancel = threading.Event()

        def emit(event) -> None:
            if event.message == LABELLING and self.start is None:
                self.start = event.done
            if cancel_when(event):
                self.cancel.set()

        self.ctx = RunContext("classify", Path("."), Path("."), cache.store_dir, emit=emit,
                              cancel_event=self.cancel, executor=executor)


def classify(run: Run, images: ImageSet) -> dict:
    return classify_pixels(run.ctx, model=dark_or_light(), images=images, unknown_below=0.0, colours="")


def test_cancel_keeps_the_finished_maps_and_the_next_run_starts_there(tmp_path, monkeypatch):
    import nodes.pixels

    images = noise_images(tmp_path / "pictures", 30)
    cache = Cache(tmp_path / "cache")
    first = Run(cache)
    label_one, calls = nodes.pixels._label_one, []

    def label_then_cancel(*args):  # Cancel is pressed while the 13th photo is labelled
        calls.append(1)
        if len(calls) == 13:
            first.cancel.set()
        return label_one(*args)

    monkeypatch.setattr(nodes.pixels, "_label_one", label_then_cancel)
    with pytest.raises(Cancelled):
        classify(first, images)
    assert stored_maps(cache.root) == 13  # the map under way when Cancel came is kept too
    monkeypatch.setattr(nodes.pixels, "_label_one", label_one)
    again = Run(cache)
    resumed = classify(again, images)
    assert (first.start, again.start) == (0, 13)
    whole = classify(Run(Cache(tmp_path / "other")), images)
    assert resumed["areas"].equals(whole["areas"])
    assert [Path(m).read_bytes() for m in resumed["maps"].maps] == \
        [Path(m).read_bytes() for m in whole["maps"].maps]


@pytest.mark.slow  # the quick loop has the test above, on the same code but for the jobs
def test_a_cancelled_cluster_run_keeps_the_maps_that_came_back(tmp_path, monkeypatch):
    import nodes.pixels

    monkeypatch.setattr(nodes.pixels, "CLUSTER_TASK_IMAGES", 5)
    images = noise_images(tmp_path / "pictures", 30)
    cache = Cache(tmp_path / "cache")
    with pytest.raises(Cancelled):  # Cancel as the first job comes back
        classify(Run(cache, lambda event: event.message == "on the cluster", OneWorkerCluster()), images)
    kept = stored_maps(cache.root)
    assert 5 <= kept < 30
    again = Run(cache)
    classify(again, images)
    assert again.start == kept


def _clashifier(tmp_path: Path) -> Path:
    """The Clashifier ready workflow with its data, in a folder of the test's own."""
    shutil.copytree(ready_workflows_dir() / "data" / "clashifier", tmp_path / "data" / "clashifier")
    workflow = tmp_path / "clashifier.json"
    shutil.copyfile(ready_workflows_dir() / "clashifier_regions.json", workflow)
    return workflow


def _run(workflow: Path, out: Path, cache_root: Path):
    return start_run(workflow, out, cache_root, SLOW)


@pytest.mark.slow
def test_a_killed_pixel_classification_resumes_where_it_stopped_and_gives_the_same_files(tmp_path):
    workflow = _clashifier(tmp_path)
    out, killed_cache = tmp_path / "out", tmp_path / "cache_killed"
    first = _run(workflow, out, killed_cache)
    # three photos classified: in the middle of the node
    kill_when(first, lambda: stored_maps(killed_cache) >= 3, "Classify Pixels never stored a map")
    kept = stored_maps(killed_cache)
    assert 3 <= kept < PHOTOS, kept

    whole = finish(_run(workflow, out, tmp_path / "cache_whole"))
    assert f"classify: {LABELLING} (0 / {PHOTOS} images)" in whole
    expected = files_of(out)
    shutil.rmtree(out)

    resumed = finish(_run(workflow, out, killed_cache))
    assert f"classify: {LABELLING} ({kept} / {PHOTOS} images)" in resumed, resumed
    assert stored_maps(killed_cache) == PHOTOS
    made = files_of(out)
    assert len(made) > 2 * PHOTOS  # class maps, side-by-side pictures, the area table and chart
    assert made.keys() == expected.keys()
    assert [name for name in made if made[name] != expected[name]] == []


@pytest.mark.slow
@pytest.mark.anyio
async def test_cancel_in_the_canvas_then_run_again_starts_where_it_stopped(user: User, registry, cache,
                                                                            tmp_path: Path) -> None:
    flow = _clashifier(tmp_path)
    save(load(flow, registry).with_params("train", texture=True, neighbourhood=True), flow)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    page.start_run(None)
    await until(lambda: stored_maps(cache.root) >= 3, timeout=300, what="three photos classified")
    user.find(marker="cancel-run").click()
    await until(lambda: not page.runner.running, timeout=60, what="the Cancel")
    assert "(cancelled)" in page.summary.text
    kept = stored_maps(cache.root)
    assert 3 <= kept < PHOTOS
    status = page.runner.status("classify")  # the node says what is kept
    assert (status.label, status.describe()["note"]) == ("partly done", f"{kept} of {PHOTOS} images kept")

    seen: list[str] = []
    page.start_run(None)
    while page.runner.running:
        message = page.runner.status("classify").message
        if message.startswith(LABELLING) and (not seen or seen[-1] != message):
            seen.append(message)
        await asyncio.sleep(0.05)
    assert " 0 failed" in page.summary.text and "(cancelled)" not in page.summary.text
    first = int(seen[0].split(": ")[1].split(" / ")[0].replace(",", ""))
    assert kept <= first < PHOTOS, (kept, seen)  # never counted from 0 again
    assert stored_maps(cache.root) == PHOTOS

    out = tmp_path / "flowclass-out" / "clashifier"
    resumed = files_of(out)
    shutil.rmtree(out)
    finish(start_run(flow, out, tmp_path / "cache_whole"))
    whole = files_of(out)
    assert resumed.keys() == whole.keys() and len(resumed) > 2 * PHOTOS
    assert [name for name in resumed if whole[name] != resumed[name]] == []
