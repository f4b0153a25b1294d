"""The executor seam: ctx.map runs module-level jobs in order, with progress and cancellation."""

import threading
import time

import pytest

from flowclass.context import RunContext
from flowclass.errors import Cancelled
from flowclass.executors import LocalExecutor, make_executor


def _slow_square(x):
    time.sleep(0.01 * (5 - x % 5))  # later items often finish first
    return x * x


def _context(**kw):
    return RunContext(node_id="n", base_dir=".", out_dir=".", store_dir=lambda name: name, **kw)


def test_map_returns_results_in_order_and_reports_each():
    seen = []
    ctx = _context(executor=LocalExecutor(workers=3))
    assert ctx.map(_slow_square, range(10), on_done=lambda i, r: seen.append((i, r))) == \
        [x * x for x in range(10)]
    assert sorted(seen) == [(x, x * x) for x in range(10)]


def test_map_without_executor_uses_local_threads():
    ctx = _context()
    assert ctx.map(_slow_square, [3, 1]) == [9, 1]
    assert ctx.remote is False


def test_map_stops_when_the_run_is_cancelled():
    cancel = threading.Event()

    def on_done(index, result):
        cancel.set()

    ctx = _context(executor=LocalExecutor(workers=1), cancel_event=cancel)
    with pytest.raises(Cancelled):
        ctx.map(_slow_square, range(50), on_done=on_done)


def test_bad_settings_name_what_was_expected(monkeypatch):
    with pytest.raises(ValueError, match="workers"):
        LocalExecutor(workers=0)
    monkeypatch.delenv("FLOWCLASS_SCHEDULER", raising=False)
    assert isinstance(make_executor(None), LocalExecutor)
    with pytest.raises(ValueError, match="not an address"):
        make_executor("somehost:8786")


class _ClusterLike(LocalExecutor):
    """Threads that say they are remote, so nodes send their batches through ``ctx.map``."""

    remote = True

    def __init__(self):
        super().__init__(workers=2)
        self.jobs = []

    def map(self, fn, items, **kw):
        self.jobs.append((fn.__name__, len(items)))
        return super().map(fn, items, **kw)


@pytest.mark.slow
def test_the_canvas_runs_hand_their_batches_to_its_executor(registry, tmp_path):
    import nodes.embed
    from classify_helpers import DIGITS_PIXELS, workflow
    from flowclass.cache import Cache
    from flowclass.engine import Engine
    from flowclass.ui.runner import RunController, _Finished

    executor = _ClusterLike()
    runner = RunController(Engine(registry, Cache(tmp_path / "cache")), on_change=lambda: None,
                           on_finished=lambda r, e: None, executor=executor)
    flow = workflow(registry, [("images", "sample_images", {"dataset": "digits", "max_per_label": 3}),
                               ("embed", "embed", DIGITS_PIXELS)], [("images.images", "embed.images")])
    runner.start(flow, base_dir=tmp_path, out_dir=tmp_path / "out")
    runner.thread.join(timeout=300)
    finished = [item for _, item in list(runner.queue.queue) if isinstance(item, _Finished)]
    assert finished and finished[0].result.ok, finished and finished[0].error
    assert (nodes.embed.embed_job.__name__, 1) in executor.jobs  # 30 images: one job of <=128
    assert executor.jobs[0][0] == "probe_job"  # the sample folder's files, probed first
    assert len(finished[0].result.output("embed", "embeddings")) == 30


class _Closable(LocalExecutor):
    def __init__(self, name):
        super().__init__(workers=1)
        self.address, self.closed = name, False

    def close(self):
        self.closed = True


def test_switching_keeps_a_running_runs_executor_open_until_it_ends():
    from flowclass.executors import ExecutorChoice

    made = {}

    def make(address):
        if address == "tcp://nowhere:1":
            raise ValueError("cannot reach the Dask scheduler at tcp://nowhere:1")
        made[address] = _Closable(address)
        return made[address]

    first = _Closable("first")
    choice = ExecutorChoice(first, make=make)
    with choice.use() as running:
        assert running is first
        choice.switch("local:2")
        assert choice.current is made["local:2"] and not first.closed  # a run still uses it
        with choice.use() as later:
            assert later is made["local:2"]
    assert first.closed  # its last run ended
    with pytest.raises(ValueError, match="tcp://nowhere:1"):
        choice.switch("tcp://nowhere:1")
    assert choice.current is made["local:2"] and not made["local:2"].closed  # nothing changed
    choice.switch("")  # back to this machine: the idle cluster is closed at once
    assert made["local:2"].closed and isinstance(choice.current, LocalExecutor)
    assert choice.describe()["address"] == "local threads"


@pytest.mark.parametrize("address, says", [
    ("tls://127.0.0.1:1", "tls:// needs TLS certificates"),
    ("inproc://x", "does not connect over inproc://"),
    ("ucx://host:1", "does not connect over ucx://"),
    ("tcp://", "needs a host and a port"),
    ("tcp://host:notaport", "needs a host and a port"),
    ("tcp://host:70000", "needs a host and a port"),
    ("10.0.0.5:8786", "not an address"),
])
def test_an_address_flowclass_cannot_use_says_what_is_supported(tmp_path, capsys, address, says):
    """These ended in tracebacks from inside Dask (TypeError, ValueError: not enough values)."""
    from flowclass.cli import main
    from tests.conftest import REPO

    code = main(["run", str(REPO / "workflows" / "cluster_folder.json"), "--out", str(tmp_path / "out"),
                 "--cache", str(tmp_path / "cache"), "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 2, err
    assert says in err and "Supported: tcp://HOST:PORT" in err and "local:N" in err, err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
