"""Jobs of ``ctx.map`` on a Dask cluster: one already running, or a LocalCluster started here.

Only this module imports dask, and only when a run asks for a scheduler. Dask sends each
job (a module-level function and plain data) to a worker; when a worker dies, the
scheduler gives its jobs to another, so a run survives losing a machine.
"""

from __future__ import annotations

import re
import socket
import threading
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from .errors import Cancelled

CONNECT_TIMEOUT_S = 10
PROBE_TIMEOUT_S = 3  # a first knock on the scheduler's port, before Dask's client tries
DEFAULT_PORT = 8786
_LOCAL = re.compile(r"^local(?::(\d+))?$")


class SchedulerUnreachable(ValueError):
    """The scheduler address could not be reached; nothing has run. Each front end adds how
    to work without it there (the command line's flag, the canvas's choice)."""


def unreachable(scheduler: str, why: str) -> SchedulerUnreachable:
    return SchedulerUnreachable(
        f"cannot reach the Dask scheduler at {scheduler} ({why}). Start one there (`dask scheduler` "
        f"and `dask worker {scheduler}`), or check the address and that its port is open to this "
        "machine.")


def nothing_listens(address: str, timeout: float) -> str | None:
    """Why nothing answers at a ``tcp://`` or ``tls://`` address, found in at most ``timeout``
    seconds: a refused port or an unknown host answer at once, where Dask's client retries
    until its own timeout. None when something listens, or for another kind of address."""
    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        return None
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        return "its port is not a number"
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


class DaskExecutor:
    """``tcp://HOST:PORT`` (or another Dask address) connects; ``local:N`` starts N worker
    processes on this machine (``local``: one per core)."""

    remote = True

    def __init__(self, scheduler: str, connect_timeout: float = CONNECT_TIMEOUT_S):
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ValueError("scheduler must be 'local:N' or a Dask address such as "
                             f"tcp://HOST:8786, got {scheduler!r}")
        from distributed import Client, LocalCluster

        self.address = scheduler = scheduler.strip()
        self.cluster = None
        local = _LOCAL.match(scheduler)
        if local:
            workers = int(local.group(1)) if local.group(1) else None
            if workers is not None and workers < 1:
                raise ValueError(f"scheduler 'local:N' needs N of at least 1, got {scheduler!r}")
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                        processes=True, dashboard_address=None)
            self.client = Client(self.cluster)
            return
        if "://" not in scheduler:
            raise ValueError(f"scheduler {scheduler!r} is not an address: use tcp://HOST:8786 "
                             "(where your Dask scheduler listens) or local:N")
        why = nothing_listens(scheduler, min(PROBE_TIMEOUT_S, connect_timeout))
        if why is not None:  # said at once: Dask's client would retry for connect_timeout
            raise unreachable(scheduler, why)
        try:
            self.client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise unreachable(scheduler, f"no answer within {connect_timeout:g}s, "
                                         f"{type(exc).__name__}") from exc

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            on_done: Callable[[int, Any], None] | None = None,
            cancel: threading.Event | None = None) -> list[Any]:
        """Results of ``fn`` on each item, in order; ``on_done`` as each arrives here."""
        from distributed import wait

        futures = self.client.map(fn, list(items), pure=False)
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
        except BaseException:
            self.client.cancel(list(pending))
            raise
        return results

    def describe(self) -> dict[str, Any]:
        """Where the jobs ran, for run.json: the scheduler and its workers now."""
        return {"address": self.address, "workers": len(self.client.scheduler_info()["workers"])}

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

