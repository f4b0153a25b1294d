"""Chunks of candidate pairs checked in worker processes, one per core.

The copy checks are numpy, SciPy and PIL work on one pair at a time, mostly in Python,
so one process uses one core; forked workers use them all. Forked, they read the parent's
arrays (the working copies: 400 MB at 100,000 images) without a copy: the parent does not
write them while the workers run, and the objects made before the fork are frozen out of
the workers' garbage collector, which would otherwise write to (and so copy) their pages.

A fork copies only the thread that forks: a lock another thread holds then stays held in
the worker. So everything a check runs is imported before the fork (no import lock is
taken in a worker), and a worker uses one BLAS thread, ignores Ctrl-C (the parent handles
it) and dies with the parent, by kill -9 too (its copy of the pool's pipe would keep it
waiting otherwise). Results come back in the order of the chunks, so what the parent makes
of them does not depend on the number of workers. Where no process can be had (no fork, a
limit on processes, a daemon process, one core) the chunks are checked here in turn.
Only a worker limits its BLAS threads: the limit is the whole process's, so set in the
parent it made nodes run beside this one (Find Label Issues' projection) compute with
one thread, and write other bits than a run where they did not overlap.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
from typing import Any, Callable, Iterator, Sequence

from flowclass.cores import available_cores as cores

_task: Callable[[Any], Any] | None = None  # in a worker: the check the parent forked it for


@contextlib.contextmanager
def in_order(task: Callable[[Any], Any], chunks: Sequence[Any], workers: int,
             needs: Sequence[str] = (), keep_freed: int = 0) -> Iterator[Iterator[Any]]:
    """``task(chunk)`` for each of ``chunks``, in their order, made by ``workers`` forked
    processes (here, with one worker or one chunk); ``needs``: the modules the task imports
    when it runs, imported before the fork. ``keep_freed``: bytes a worker's allocator keeps
    of what the task frees, for its next chunk (:func:`_keep_freed`). Leaving the ``with``
    ends the workers, whatever is left undone (Cancel)."""
    pool = _forked(task, min(workers, len(chunks)), needs, keep_freed)
    if pool is None:
        yield (task(chunk) for chunk in chunks)
        return
    with pool:  # terminates the workers on leaving
        yield pool.imap(_run, chunks)


def _forked(task: Callable[[Any], Any], workers: int, needs: Sequence[str], keep_freed: int = 0):
    import importlib
    import multiprocessing

    if (workers < 2 or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):
        return None
    for module in ("threadpoolctl", *needs):
        importlib.import_module(module)
    _give_back_freed()
    global _task
    _task = task
    gc.freeze()  # the workers' collector leaves the parent's objects (and their pages) alone
    try:
        return multiprocessing.get_context("fork").Pool(workers, initializer=_start,
                                                     initargs=(os.getpid(), keep_freed))
    except OSError:  # no process to be had: checked here
        return None
    finally:
        gc.unfreeze()
        _task = None  # the workers have their copy


def _give_back_freed() -> None:
    """Memory this process freed but its allocator kept, given back to the system before a
    fork (glibc's ``malloc_trim``; elsewhere nothing): glibc keeps what a thread frees in
    that thread's arena, and Find Duplicates' searches on threads beside the workers left
    it holding that at the next pool's start, counted in the run's peak."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _keep_freed(size: int) -> None:
    """glibc's allocator keeps up to ``size`` bytes of freed memory for reuse (elsewhere
    nothing). By default it hands the top of its heap back to the system once more than a
    few megabytes there are free, and serves blocks above its threshold by fresh mappings:
    a task that makes and frees megabytes of arrays per chunk then has every page of them
    faulted in again, chunk after chunk (aligning thumbnails: a fifth of its CPU time in the
    kernel). Set only in a worker, which ends with its pool."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(-1, size)  # M_TRIM_THRESHOLD: free memory at the heap's top kept up to this
    mallopt(-3, min(size // 2, 32 << 20))  # M_MMAP_THRESHOLD (32 MB at most): blocks below it from the heap


def _start(parent: int, keep_freed: int = 0) -> None:
    """In a worker: one BLAS thread, no Ctrl-C, an end with the parent however it ends, and
    freed memory kept for reuse up to ``keep_freed`` bytes."""
    import ctypes

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before that was set
        os._exit(0)
    if keep_freed:
        _keep_freed(keep_freed)


def _run(chunk: Any) -> Any:
    return _task(chunk)
