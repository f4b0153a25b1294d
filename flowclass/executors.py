"""Where a node's many small jobs run: threads here, or a cluster (see ``dask_executor``).

A node hands a module-level function and a list of items to ``ctx.map``; the executor
runs them and gives the results back in order. The engine only carries the executor
from the front end to the nodes, so it knows nothing about clusters.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from .cores import available_cores
from .deferred_import import settle
from .errors import Cancelled

SCHEDULER_ENV = "FLOWCLASS_SCHEDULER"

OnDone = Callable[[int, Any], None]


class LocalExecutor:
    """Today's way: a pool of threads in this process (the default)."""

    remote = False  # nodes may keep faster in-process pipelines when work stays here
    address = "local threads"

    def __init__(self, workers: int | None = None):
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a whole number of at least 1, got {workers!r}")
        self.workers = workers or min(4, available_cores())

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            on_done: OnDone | None = None, cancel: threading.Event | None = None) -> list[Any]:
        """``[fn(item) for item in items]``, in parallel; ``on_done(index, result)`` is
        called in this thread as each finishes; a set ``cancel`` stops it (Cancelled)."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait  # imports logging

        results: list[Any] = [None] * len(items)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending = {pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                while pending:
                    finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    for future in finished:
                        index = pending.pop(future)
                        results[index] = future.result()
                        if on_done is not None:
                            on_done(index, results[index])
            finally:
                for future in pending:
                    future.cancel()
        return results

    def describe(self) -> dict[str, Any]:
        """Where the jobs ran, for run.json."""
        return {"address": self.address, "workers": self.workers}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def describe(executor: Any) -> dict[str, Any]:
    """Where an executor's jobs run, for run.json (no executor: local threads, as ctx.map does)."""
    executor = executor if executor is not None else LocalExecutor()
    if hasattr(executor, "describe"):
        return executor.describe()
    return {"address": getattr(executor, "address", type(executor).__name__)}


WITHOUT_SCHEDULER = "Or run without --scheduler / FLOWCLASS_SCHEDULER to work on this machine alone."


def make_executor(scheduler: str | None = None):
    """The executor a front end asked for: ``scheduler`` (a flag), else ``$FLOWCLASS_SCHEDULER``,
    else local threads. ``tcp://HOST:PORT`` connects to a Dask scheduler; ``local:N`` starts
    a Dask cluster of N worker processes on this machine. Raises ValueError (with what to do)
    when the scheduler cannot be reached, before any work starts."""
    scheduler = (scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV, "")).strip()
    if not scheduler:
        return LocalExecutor()
    settle()  # the client's threads may import: nothing waits to be imported then
    from .dask_executor import DaskExecutor  # dask is imported only when asked for

    return DaskExecutor(scheduler)


class ExecutorChoice:
    """Where the canvas's runs send their batches, switchable while it is open (Run on...).

    A run keeps the executor it started with (``use``); an executor that was switched away
    from is closed when its last run ends, so a cluster is never shut under a running job.
    """

    def __init__(self, executor: Any = None, make: Callable[[str], Any] = make_executor):
        self._current = executor if executor is not None else LocalExecutor()
        self._make = make
        self._lock = threading.Lock()
        self._runs: dict[int, int] = {}  # id(executor) -> runs using it now
        self._retired: list[Any] = []

    @property
    def current(self) -> Any:
        return self._current

    def describe(self) -> dict[str, Any]:
        return describe(self._current)

    @contextmanager
    def use(self) -> Iterator[Any]:
        """The executor for one run, kept open until the run ends."""
        with self._lock:
            executor = self._current
            self._runs[id(executor)] = self._runs.get(id(executor), 0) + 1
        try:
            yield executor
        finally:
            with self._lock:
                self._runs[id(executor)] -= 1
                idle = self._runs[id(executor)] == 0 and executor in self._retired
                if idle:
                    self._retired.remove(executor)
            if idle:
                executor.close()

    def switch(self, scheduler: str) -> None:
        """Send later runs to ``scheduler`` ('' for this machine's threads). Connects first:
        an unreachable address raises ValueError and changes nothing. Blocks while connecting."""
        new = self._make(scheduler) if scheduler.strip() else LocalExecutor()
        with self._lock:
            old, self._current = self._current, new
            busy = self._runs.get(id(old), 0) > 0
            if busy:
                self._retired.append(old)
        if not busy:
            old.close()

    def close(self) -> None:
        with self._lock:
            executors, self._retired = [self._current, *self._retired], []
        for executor in executors:
            executor.close()
