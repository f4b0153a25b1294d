"""Jobs of ``ctx.map`` on a Dask cluster: one already running, or a LocalCluster started here.

Only this module imports dask, and only when a run asks for a scheduler. Dask sends each
job (a module-level function and plain data) to a worker; when a worker dies, the
scheduler gives its jobs to another, so a run survives losing a machine. Losing the
scheduler itself fails the node that was waiting on it with :class:`ClusterLost` (a clear
message, no traceback), and every later one at once; the engine keeps what finished and
still writes run.json and skipped.csv.

Addresses: ``tcp://HOST:PORT`` and ``local`` / ``local:N`` (N capped at this machine's
cores, with a warning). Anything else (``tls://``, which needs certificates FlowClass does
not pass on, ``inproc://``, ``ucx://``...) is refused saying what is supported.

A LocalCluster's nannies set their workers' variables (``OMP_NUM_THREADS=1``...) in this
process's own environment before they spawn them, and leave them there (Dask says so). So
they are put back once the workers are up and when the cluster closes: otherwise everything
this process runs or starts afterwards (a model's threads, ``flowclass run`` from the
canvas's process) computes with one thread, and writes other bits than before.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

from .cores import available_cores
from .errors import Cancelled, NodeError

CONNECT_TIMEOUT_S = 10
CLOSE_TIMEOUT_S = 5
PROBE_TIMEOUT_S = 3  # a first knock on the scheduler's port, before Dask's client tries
_LOCAL = re.compile(r"^local(?::(\d+))?$")
_TCP = re.compile(r"^tcp://(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):(\d{1,5})/?$")
SUPPORTED = "tcp://HOST:PORT (where your Dask scheduler listens) or local:N (N worker processes here)"


def check_address(scheduler: str) -> None:
    """Refuse (ValueError saying what is supported) an address FlowClass cannot use."""
    if _LOCAL.match(scheduler):
        return
    match = _TCP.match(scheduler)
    if match and 1 <= int(match.group(2)) <= 65535:
        return
    scheme = scheduler.split("://", 1)[0] if "://" in scheduler else None
    if scheme == "tls":
        why = ("tls:// needs TLS certificates, which FlowClass does not pass on to Dask; reach "
               "the scheduler over tcp:// (through an SSH tunnel where the network is not trusted)")
    elif scheme is not None and scheme != "tcp":
        why = f"FlowClass does not connect over {scheme}://"
    elif scheme == "tcp":
        why = "it needs a host and a port from 1 to 65535, e.g. tcp://10.0.0.5:8786"
    else:
        why = "it is not an address"
    raise ValueError(f"scheduler {scheduler!r}: {why}. Supported: {SUPPORTED}.")


class ClusterLost(NodeError):
    """The Dask scheduler went away during a run: the node that waited on it fails with
    this message, and so does any later node that needs the cluster."""


class SchedulerUnreachable(ValueError):
    """The scheduler address could not be reached; nothing has run. Each front end adds how
    to work without it there (the command line's flag, the canvas's choice)."""


def unreachable(scheduler: str, why: str) -> SchedulerUnreachable:
    return SchedulerUnreachable(
        f"cannot reach the Dask scheduler at {scheduler} ({why}). Start one there (`dask scheduler` "
        f"and `dask worker {scheduler}`), or check the address and that its port is open to this "
        "machine.")


def nothing_listens(address: str, timeout: float) -> str | None:
    """Why nothing answers at a ``tcp://HOST:PORT`` address, found in at most ``timeout``
    seconds: a refused port or an unknown host answer at once, where Dask's client retries
    until its own timeout. None when something listens there."""
    parts = urlsplit(address)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        return None  # check_address refused it already
    port = parts.port
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"no host called {parts.hostname}"
    except ConnectionRefusedError:
        return f"nothing listens on port {port}"
    except TimeoutError:
        return f"no answer from port {port} within {timeout:g}s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


@contextmanager
def _environment_kept() -> Iterator[None]:
    """This process's environment as it was before the block, where Dask's nannies changed
    it for the workers they spawn (``distributed.nanny.pre-spawn-environ``)."""
    import dask

    names = {*dask.config.get("distributed.nanny.pre-spawn-environ", {}), "PYTHONHASHSEED"}
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


ONE_THREAD = {"OMP_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1, "MKL_NUM_THREADS": 1}


def _private_cluster(workers: int):
    """A LocalCluster only this process can use. Its scheduler and workers listen on
    127.0.0.1, which every user of the computer can reach, and whoever connects to them runs
    code as you (a client sends functions): so they speak TLS with certificates made for
    this cluster alone and held in this process and its workers' memory (Dask's
    ``Security.temporary()``), and their web pages (Dask's dashboard, which would show
    another user your file names) serve nothing.

    Each worker computes with one thread (one job at a time per core), told so after it
    starts (Dask's nanny ``environ``, and :class:`OneBlasThread` for the linear algebra
    loaded before that): told before it starts, Dask would set it in this process too,
    again at every worker it restarts."""
    import dask
    import distributed
    from distributed.security import Security

    before_start = {name: value for name, value in dask.config.get("distributed.nanny.pre-spawn-environ").items()
                    if name not in ONE_THREAD}
    after_start = {**dask.config.get("distributed.nanny.environ"), **ONE_THREAD}
    with _environment_kept(), dask.config.set({"distributed.scheduler.http.routes": [],
                                               "distributed.worker.http.routes": [],
                                               "distributed.nanny.pre-spawn-environ": before_start,
                                               "distributed.nanny.environ": after_start}):
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                        scheduler_kwargs={"dashboard": False},
                                        security=Security.temporary())


def one_blas_thread_plugin():
    """A worker plugin: the worker's linear algebra (loaded before its environment said one
    thread) limited to one thread, in every worker, those started later included."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class OneBlasThread(WorkerPlugin):
        name = "flowclass-one-blas-thread"

        def setup(self, worker) -> None:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)

    return OneBlasThread()


class DaskExecutor:
    """``tcp://HOST:PORT`` (or another Dask address) connects; ``local:N`` starts N worker
    processes on this machine (``local``: one per core)."""

    remote = True

    def __init__(self, scheduler: str, connect_timeout: float = CONNECT_TIMEOUT_S):
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ValueError(f"scheduler must be {SUPPORTED}, got {scheduler!r}")
        self.address = scheduler = scheduler.strip()
        check_address(scheduler)
        from distributed import Client

        self.cluster = None
        self.lost: str | None = None  # why the scheduler is gone, once it is
        self.warning: str | None = None  # for the front end to show once
        local = _LOCAL.match(scheduler)
        if local:
            workers = int(local.group(1)) if local.group(1) else None
            if workers is not None and workers < 1:
                raise ValueError(f"scheduler 'local:N' needs N of at least 1, got {scheduler!r}")
            cores = available_cores()
            if workers is not None and workers > cores:
                self.warning = (f"{scheduler} asks for {workers} worker processes, but this machine "
                                f"has {cores} core(s): starting {cores} (more would only compete "
                                "for the same cores)")
                workers = cores
            self.cluster = _private_cluster(workers or cores)
            self.client = Client(self.cluster)
            self.client.register_plugin(one_blas_thread_plugin())
            return
        why = nothing_listens(scheduler, min(PROBE_TIMEOUT_S, connect_timeout))
        if why is not None:  # said at once: Dask's client would retry for connect_timeout
            raise unreachable(scheduler, why)
        try:
            self.client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise unreachable(scheduler, f"no answer within {connect_timeout:g}s, "
                                         f"{type(exc).__name__}") from exc

    def _lost(self, exc: BaseException) -> ClusterLost:
        if self.lost is None:
            self.lost = (f"lost the Dask scheduler at {self.address} ({type(exc).__name__}). The "
                         "nodes that finished are kept in the cache: run again when the cluster is "
                         "back (only what is missing runs), or run on this machine")
        return ClusterLost(self.lost)

    def _is_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the scheduler is gone, not that a job failed."""
        import asyncio
        import concurrent.futures

        from distributed.client import FuturesCancelledError
        from distributed.comm.core import CommClosedError

        if isinstance(exc, (FuturesCancelledError, CommClosedError, asyncio.CancelledError,
                            concurrent.futures.CancelledError)):
            return True
        return getattr(self.client, "status", "running") not in ("running", "connecting")

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            on_done: Callable[[int, Any], None] | None = None,
            cancel: threading.Event | None = None) -> list[Any]:
        """Results of ``fn`` on each item, in order; ``on_done`` as each arrives here."""
        from distributed import wait

        if self.lost is not None:
            raise ClusterLost(self.lost)
        try:
            futures = self.client.map(fn, list(items), pure=False)
        except Exception as exc:
            raise self._lost(exc) from None
        pending = {future: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        try:
            while pending:
                try:
                    finished = wait(list(pending), timeout=0.5, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    finished = set()
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                for future in finished:
                    i = pending.pop(future)
                    results[i] = future.result()  # a job's own error is raised here
                    future.release()
                    if on_done is not None:
                        on_done(i, results[i])
        except BaseException as exc:
            lost = not isinstance(exc, (Cancelled, NodeError)) and self._is_lost(exc)
            try:
                self.client.cancel(list(pending))
            except Exception:  # a client whose scheduler is gone may refuse even that
                pass
            if lost:
                raise self._lost(exc) from None
            raise
        return results

    def describe(self) -> dict[str, Any]:
        """Where the jobs ran, for run.json: the scheduler and its workers now (None when
        it cannot say, e.g. once the scheduler is gone)."""
        try:
            workers: int | None = len(self.client.scheduler_info().get("workers", {}))
        except Exception:
            workers = None
        found: dict[str, Any] = {"address": self.address, "workers": workers}
        if self.lost is not None:
            found["lost"] = self.lost
        return found

    def close(self) -> None:
        try:
            self.client.close(timeout=CLOSE_TIMEOUT_S)
        except Exception:  # a lost scheduler: nothing left to close there
            pass
        if self.cluster is not None:
            with _environment_kept():  # a worker respawned since set them again
                self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

