"""Python's cyclic garbage collector set for a process that runs one workflow and ends.

A cold ``flowclass run`` imports pandas, SciPy, onnxruntime, matplotlib and scikit-learn:
some 200,000 objects that live until the process ends. CPython's full collections look
at every one of them: 4 during a cold run of ``cluster_folder.json`` (about 0.6 s of CPU,
measured with ``gc.callbacks`` on 2 shared cores), and the interpreter collects again
while it shuts down (about 1 s once SciPy and scikit-learn are loaded, against 0.1 s with
the objects frozen). Neither frees anything that matters to a process about to end.

So, for that process only (never the canvas's, never a test calling ``main()``): nothing
is collected until the engine starts (:func:`engine_starts`): a re-run answered from its
record (:mod:`flowclass.run_record`) imports some hundred modules, whose objects all stay,
and collected 47 times meanwhile (about 5 % of its time, measured with ``gc.callbacks``),
freeing nothing. Once the engine runs, a full collection waits for 100 middle ones instead
of 10 (young garbage is collected as before; a long run still collects in full from time
to time), and at the end everything
left is frozen (``gc.freeze``), so shutting down frees by reference counts alone. Such a
process also draws its pictures in a process of their own (:mod:`flowclass.report_process`).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

FULL_AFTER = 100  # middle collections before a full one (CPython's default: 10)
_active = False


def active() -> bool:
    """Whether this process was started for one run, which is going on."""
    return _active


@contextmanager
def one_run_process(this_process: bool) -> Iterator[None]:
    """While a process's one run goes on, and when it ends (nothing unless ``this_process``
    was started for that run)."""
    global _active
    if not this_process:
        yield
        return
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER)
    gc.disable()
    _active = True
    try:
        yield
    finally:
        _active = False
        gc.enable()
        gc.freeze()  # the process ends now: its shutdown need not look at these objects


def engine_starts() -> None:
    """Collect garbage again from now on: the engine runs nodes, which make some."""
    if _active:
        gc.enable()
