"""Runs on a Dask cluster (two worker processes on this machine) give what a local run gives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from classify_helpers import DIGITS_PIXELS, workflow
from flowclass.cache import Cache
from flowclass.engine import Engine
from flowclass.executors import LocalExecutor
from nodes.lib.embedders.devices import cuda_available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    from flowclass.dask_executor import DaskExecutor

    with DaskExecutor("local:2") as executor:
        yield executor


@pytest.fixture(scope="module")
def new_digits(tmp_path_factory):
    """Digits the training samples do not hold (the end of sklearn's set), as PNG files."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = tmp_path_factory.mktemp("new-digits")
    for i in range(len(digits.images) - 24, len(digits.images)):
        pixels = (digits.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((32, 32)).save(folder / f"digit{i}.png")
    (folder / "broken.png").write_bytes(b"not a picture")
    return folder


def _workflow(registry, folder):
    nodes = [("train_images", "sample_images", {"dataset": "digits", "max_per_label": 6}),
             ("embed", "embed", {**DIGITS_PIXELS, "batch_size": 4}),
             ("distances", "distances", {}),
             ("cluster", "hierarchical_clustering", {"n_clusters": 5}),
             ("train", "train_classifier", {"model": "knn", "n_neighbors": 3}),
             ("new", "import_images", {"folder": str(folder)}),
             ("predict", "predict", {})]
    edges = [("train_images.images", "embed.images"), ("embed.embeddings", "distances.embeddings"),
             ("distances.distances", "cluster.distances"), ("embed.embeddings", "train.embeddings"),
             ("train.model", "predict.model"), ("new.images", "predict.images")]
    return workflow(registry, nodes, edges)


def _run(registry, folder, cache_dir, out, executor=None, on_event=None):
    return Engine(registry, Cache(cache_dir)).run(_workflow(registry, folder), out_dir=out,
                                                  base_dir=out, executor=executor,
                                                  on_event=on_event)


def _same_results(local, remote):
    assert local.ok and remote.ok, [o.error for o in local.failed + remote.failed]
    embedded = [r.output("embed", "embeddings") for r in (local, remote)]
    assert [_in_cache(p) for p in embedded[0].images.paths] == \
        [_in_cache(p) for p in embedded[1].images.paths]
    np.testing.assert_allclose(embedded[0].vectors, embedded[1].vectors, atol=1e-5)
    for node, port in (("cluster", "clusters"), ("predict", "predictions"),
                       ("predict", "skipped")):
        pd.testing.assert_frame_equal(_table(local.output(node, port)),
                                      _table(remote.output(node, port)))


def _in_cache(path):
    """A sample image's path inside its run's cache folder (each run has its own cache)."""
    return path.split("/stores/", 1)[-1]


def _table(value):
    table = value.to_table() if hasattr(value, "to_table") else value
    return table.map(lambda v: _in_cache(v) if isinstance(v, str) else v)


def test_a_cluster_run_equals_a_local_run(registry, new_digits, cluster, tmp_path):
    events = []
    local = _run(registry, new_digits, tmp_path / "cache-local", tmp_path / "out-local")
    remote = _run(registry, new_digits, tmp_path / "cache-remote", tmp_path / "out-remote",
                  executor=cluster, on_event=events.append)
    _same_results(local, remote)
    assert {"new", "embed", "predict"} <= {e.node for e in events if e.message == "on the cluster"}
    assert len(_table(remote.output("predict", "predictions"))) == 24  # broken.png: Import skips it
    pd.testing.assert_frame_equal(_table(local.output("new", "skipped")),
                                  _table(remote.output("new", "skipped")))  # probed on the cluster
    assert len(_table(remote.output("new", "skipped"))) == 1
    for port in ("hashes", "widths", "heights"):
        assert np.array_equal(getattr(local.output("new", "images"), port),
                              getattr(remote.output("new", "images"), port))
    again = _run(registry, new_digits, tmp_path / "cache-remote", tmp_path / "out-again",
                 executor=cluster)  # vectors came back into the client's store
    assert {o.state for o in again.outcomes.values()} == {"cached"}
    ran_on = {name: json.loads((tmp_path / name / "run.json").read_text())["scheduler"]
              for name in ("out-local", "out-remote")}
    assert ran_on["out-local"]["address"] == "local threads"
    assert ran_on["out-remote"] == {"address": "local:2", "workers": 2}
    assert remote.outcomes["embed"].records["device"] == "cpu"  # what the workers used


class _InProcessCluster(LocalExecutor):
    """Runs the cluster jobs here, yet tells nodes the work is remote, as a cluster does."""

    remote = True


def test_the_workers_resolve_the_device_the_node_asked_for(registry, new_digits, tmp_path):
    """The workers get the node's own `device` and resolve it on their machine: this one,
    with no GPU, refuses 'cuda' naming the worker and the field, before any image is embedded;
    'cpu' runs, and run.json says what the workers used."""
    flow = workflow(registry, [("new", "import_images", {"folder": str(new_digits)}),
                               ("embed", "embed", {"backend": "efficientnet_lite0",
                                                   "device": "cuda"})],
                    [("new.images", "embed.images")])
    engine = Engine(registry, Cache(tmp_path / "cache"))
    with _InProcessCluster(workers=1) as executor:
        result = engine.run(flow, out_dir=tmp_path / "out", base_dir=tmp_path, executor=executor)
    outcome = result.outcomes["embed"]
    if cuda_available():  # the workers here have the GPU
        assert outcome.state == "done" and outcome.records["device"] == "cuda"
        return
    assert outcome.state == "failed" and outcome.field == "device", outcome.error
    assert outcome.error.startswith(f"on the cluster worker {socket.gethostname()}:")
    assert "no CUDA GPU" in outcome.error


def test_a_worker_killed_mid_run_changes_nothing(registry, new_digits, cluster, tmp_path,
                                                 monkeypatch):
    import nodes.embed

    monkeypatch.setattr(nodes.embed, "CLUSTER_TASK_IMAGES", 1)  # many jobs, so some are in flight
    client = cluster.client
    killed = []
    stop = threading.Event()

    def kill_a_busy_worker():
        while not stop.is_set() and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                killed.extend(client.run(os.getpid, workers=busy[:1]).values())
                os.kill(killed[0], signal.SIGKILL)
            time.sleep(0.005)

    local = _run(registry, new_digits, tmp_path / "cache-local", tmp_path / "out-local")
    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        remote = _run(registry, new_digits, tmp_path / "cache-remote", tmp_path / "out-remote",
                      executor=cluster)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was busy to kill"
    _same_results(local, remote)
    client.wait_for_workers(2, timeout=60)  # the nanny brings it back for the next test
    from nodes.lib.embedders.devices import model_threads

    assert set(client.run(blas_threads).values()) == set(client.run(model_threads).values()) == {1}  # it too


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_scheduler():
    """A Dask scheduler and one worker in processes of their own, so a test may kill them."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                  "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--nthreads", "1", "--no-dashboard"], **quiet)
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        yield address, scheduler
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait(timeout=30)


def test_a_scheduler_killed_mid_run_is_a_clear_error_that_keeps_what_finished(
        registry, new_digits, own_scheduler, tmp_path, monkeypatch):
    import nodes.embed
    from flowclass.states import PROGRESS
    from flowclass.states import NodeState
    from flowclass.dask_executor import DaskExecutor

    monkeypatch.setattr(nodes.embed, "CLUSTER_TASK_IMAGES", 1)  # many jobs, so some are in flight
    address, scheduler = own_scheduler

    def kill_the_scheduler_once_embedding_is_under_way(event):
        if event.node == "embed" and event.state == PROGRESS and event.done and scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()

    out = tmp_path / "out"
    with DaskExecutor(address) as executor:
        result = _run(registry, new_digits, tmp_path / "cache", out, executor=executor,
                      on_event=kill_the_scheduler_once_embedding_is_under_way)
    assert scheduler.poll() is not None, "the scheduler was never killed"
    failed = {o.node: o for o in result.failed}
    assert "embed" in failed, {o.node: o.state for o in result.outcomes.values()}
    for outcome in failed.values():
        assert f"lost the Dask scheduler at {address}" in outcome.error, outcome.error
        assert outcome.traceback is None and "run again" in outcome.error
    finished = [o for o in result.outcomes.values() if o.state == NodeState.DONE]
    assert finished and all(result.cache.get(o.key) is not None for o in finished)  # kept
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["scheduler"]["address"] == address and "lost" in manifest["scheduler"]
    assert (out / "skipped.csv").exists()


def test_local_n_is_capped_at_the_cores_with_a_warning(monkeypatch):
    from flowclass import dask_executor

    monkeypatch.setattr(dask_executor, "available_cores", lambda: 1)
    with dask_executor.DaskExecutor("local:24") as executor:
        assert "local:24" in executor.warning and "1 core" in executor.warning
        assert len(executor.client.scheduler_info()["workers"]) == 1


def test_a_local_cluster_runs_no_code_for_another_user_of_the_computer(tmp_path):
    """Its scheduler listens on 127.0.0.1, which any user of the computer reaches: over plain
    TCP, a stranger's Client connected and ran functions as us in our workers. Now it speaks
    TLS with certificates of its own, and its web pages (the dashboard) serve nothing."""
    import urllib.error
    import urllib.request

    from distributed import Client

    from flowclass import dask_executor

    ran = tmp_path / "ran"
    with dask_executor.DaskExecutor("local:1") as executor:
        address = executor.cluster.scheduler_address
        workers = executor.client.scheduler_info()["workers"]
        assert address.startswith("tls://127.0.0.1:") and all(w.startswith("tls://127.0.0.1:") for w in workers)
        for url in (address, "tcp://" + address.split("://", 1)[1]):
            with pytest.raises(Exception):
                with Client(url, timeout=2) as stranger:
                    stranger.run(ran.touch)
        assert not ran.exists()
        page = f"http://127.0.0.1:{executor.cluster.scheduler.http_server.port}"
        for route in ("/info/main/workers.html", "/json/identity.json", "/status"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(page + route, timeout=5)
            assert refused.value.code == 404
        assert executor.client.submit(sum, [1, 2]).result() == 3  # the cluster works for us


def blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")


def test_a_local_cluster_leaves_this_process_environment_as_it_was(monkeypatch):
    """Dask's nannies set OMP_NUM_THREADS=1 (and more) here to pass it to their workers, and
    left it: afterwards ``flowclass run`` started from this process (as the tests start it
    after a Dask test) computed with one BLAS thread, and wrote other bits than the canvas."""
    from flowclass import dask_executor
    from flowclass.cores import available_cores
    from nodes.lib.embedders.devices import model_threads

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    environment = lambda: {k: v for k, v in os.environ.items() if k != "__DASK_PARENT_PID"}  # noqa: E731
    before = environment()  # but the mark Dask leaves for its process titles, read by no library
    with dask_executor.DaskExecutor("local:1") as executor:
        assert environment() == before
        assert set(executor.client.run(model_threads).values()) == {1}  # the workers have theirs
        assert set(executor.client.run(blas_threads).values()) == {1}
    assert environment() == before
    assert model_threads() == available_cores()


def test_an_unreachable_scheduler_stops_the_cli_before_any_work(tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run",
                           "workflows/cluster_folder.json", "--out", str(out), "--cache",
                           str(tmp_path / "cache"), "--scheduler", "tcp://127.0.0.1:1"],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 2, done.stderr
    assert "tcp://127.0.0.1:1" in done.stderr and "Start one there" in done.stderr
    assert "without --scheduler / FLOWCLASS_SCHEDULER" in done.stderr  # how to do without it
    assert not out.exists()  # no node ran, nothing written
    assert time.monotonic() - started < 60


def test_the_environment_variable_does_what_the_flag_does(tmp_path):
    env = {**os.environ, "FLOWCLASS_SCHEDULER": "tcp://127.0.0.1:1"}
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run",
                           "workflows/cluster_folder.json", "--out", str(tmp_path / "out"),
                           "--cache", str(tmp_path / "cache")], capture_output=True, text=True,
                          timeout=120, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 2 and "tcp://127.0.0.1:1" in done.stderr, done.stderr


def test_the_canvas_refuses_an_unreachable_scheduler_before_it_starts(tmp_path):
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "ui", "--no-browser",
                           "--port", "1", "--scheduler", "tcp://127.0.0.1:1"],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 2 and "tcp://127.0.0.1:1" in done.stderr, done.stderr


def test_classify_pixels_on_the_cluster_equals_a_local_run(registry, cluster, tmp_path,
                                                            monkeypatch):
    import shutil

    import nodes.pixels
    from sklearn.datasets import load_sample_images
    from test_pixels import LEGEND, TRAIN, flow, paint

    monkeypatch.setattr(nodes.pixels, "CLUSTER_TASK_IMAGES", 2)  # several jobs
    china, flower = sorted(load_sample_images().filenames)
    (tmp_path / "train").mkdir()
    shutil.copyfile(china, tmp_path / "train" / "china.jpg")
    paint(tmp_path / "masks" / "china.png", (640, 427), TRAIN)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        for source in (china, flower):
            shutil.copyfile(source, photos / f"{i}-{os.path.basename(source)}")
    flow_doc = flow(registry, [
        ("train_photos", "import_images", {"folder": str(tmp_path / "train")}),
        ("regions", "pixel_samples_mask", {"masks": str(tmp_path / "masks"), "legend": LEGEND}),
        ("train", "train_pixel_classifier", {"model": "nearest_centroid"}),
        ("photos", "import_images", {"folder": str(photos)}),
        ("classify", "classify_pixels", {"unknown_below": 0.5}),
    ], [("train_photos", "images", "regions", "images"), ("regions", "samples", "train", "samples"),
        ("train", "model", "classify", "model"), ("photos", "images", "classify", "images")])
    events = []
    results = [Engine(registry, Cache(tmp_path / f"cache-{name}")).run(
        flow_doc, out_dir=tmp_path / f"out-{name}", executor=executor, on_event=events.append)
        for name, executor in (("local", None), ("remote", cluster))]
    assert any(e.node == "classify" and e.message == "on the cluster" for e in events)
    assert all(r.ok for r in results), [o.error for r in results for o in r.failed]
    areas = [_table(r.output("classify", "areas")) for r in results]
    pd.testing.assert_frame_equal(areas[0], areas[1])
    maps = [r.output("classify", "maps").maps for r in results]
    assert len(maps[0]) == len(maps[1]) == 4
    for local, remote in zip(*maps):
        assert np.array_equal(np.asarray(Image.open(local)), np.asarray(Image.open(remote)))


def test_each_worker_runs_its_model_on_its_own_share_of_the_cores(cluster):
    """Dask gives a worker process OMP_NUM_THREADS=1 per job thread; a model there uses that,
    not every core of the machine (two workers would otherwise fight over all of them)."""
    from nodes.lib.embedders.devices import model_threads

    assert set(cluster.client.run(model_threads).values()) == {1}


def test_the_model_threads_follow_omp_num_threads(monkeypatch, shared_cache):
    from flowclass.cores import available_cores
    from nodes.lib.embedders.devices import model_threads
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert model_threads() == 3
    assert EfficientNetLite0(shared_cache.store_dir("models")).threads == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert model_threads() == available_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert model_threads() == available_cores()


def test_a_scheduler_address_where_nothing_listens_is_refused_at_once(monkeypatch):
    """A refused port or an unknown host is said without Dask's client: it retried for 10 s."""
    import distributed

    from flowclass.dask_executor import DaskExecutor, SchedulerUnreachable

    def no_client(*args, **kwargs):
        raise AssertionError("Dask's client was asked to connect (it waits out its timeout)")

    monkeypatch.setattr(distributed, "Client", no_client)
    with pytest.raises(SchedulerUnreachable, match="at tcp://127.0.0.1:1 .nothing listens on port 1.*Start one"):
        DaskExecutor("tcp://127.0.0.1:1")
    with pytest.raises(SchedulerUnreachable, match="no host called no-such-host.invalid"):
        DaskExecutor("tcp://no-such-host.invalid:8786")
