"""Pictures drawn in a process of their own while a ``flowclass run`` process runs its nodes.

Drawing with matplotlib holds Python's GIL nearly all the time. In a thread of the run's
process it took the GIL at each system call of the node running meanwhile and kept it for
up to the switch interval (5 ms), so the 600 file copies of ``cluster_folder``'s export
waited about as long as the pictures took to draw, and the thread's import of matplotlib
waited on the clustering's import of SciPy. A process has a GIL of its own. It is forked
as the run starts, while the run's process has one thread (a fork copies no lock that
another thread holds then), and imports what drawing needs on the core that the run's
single-threaded start leaves idle; then it draws each node's reports from the cache as the
thread did (:meth:`flowclass.reports.Reports._make_from_cache`), into the same folders.

Only in a process started for one run (:mod:`flowclass.run_process`) on Linux, where
forking is the usual way; elsewhere, and if the process cannot be had or dies, the
reports are drawn as before (a thread, or after the run).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from typing import Any

_forked_with: Any = None  # in the drawing process: the Reports it was forked from


def start(reports: Any, needs: tuple[str, ...]) -> Any:
    """The drawing process (a ProcessPoolExecutor of one), forked now and importing
    ``needs``; None where none is forked."""
    global _forked_with
    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _forked_with = reports
    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_one_core, initargs=(os.getpid(),))
        pool.submit(import_all, needs)  # forks the process now
    except OSError:  # no process to be had (a limit on processes): a thread draws
        return None
    finally:
        _forked_with = None  # the drawing process has its copy
    return pool


def _one_core(parent: int | None = None) -> None:
    """In the drawing process: one thread for linear algebra (numpy is imported after this;
    the run's nodes use the other cores), Ctrl-C left to the run, which ends this process
    (no second traceback from here), and an end with the run's process however it ends."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent(parent)


def _end_with_parent(parent: int | None) -> None:
    """Killed when the run's process dies, by kill -9 too: the pool's pipe to it is held
    open by this process as well, so it would never see its end, and would keep the run's
    output pipe open (a caller reading it till its end waits forever)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:  # it died before that was set
        os._exit(0)


def make(node: str, key: str, keys: dict[str, str]) -> str | None:
    """In the drawing process: ``node``'s reports into the cache, ``keys`` being every
    finished node's result key; why they could not be made, or None."""
    reports = _forked_with
    reports._keys = dict(keys)
    reports._make_from_cache(node, key)
    return reports._problems.pop(node, None)


def import_all(modules: tuple[str, ...]) -> None:
    """Import what the reports will need (ahead of the nodes that make them)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # the drawing itself will say what is missing
