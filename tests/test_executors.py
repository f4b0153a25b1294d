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
