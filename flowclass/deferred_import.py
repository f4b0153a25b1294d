"""numpy imported when a run first uses it, not when a module names it.

A re-run served from the cache computes nothing, yet the node modules import numpy when
they load (the node library's convention, ``tests/test_startup.py``), and that import is
about a third of such a run's time. :func:`defer` puts a stand-in for numpy into
``sys.modules``: ``import numpy as np`` gives the stand-in, and the first name anyone reads
from it (``np.zeros``) imports numpy for real, once, under a lock; the stand-in then holds
numpy's names. An import of a numpy submodule before that (a C extension asking for
``numpy._core.multiarray``) imports numpy first and hands over the submodule numpy made,
so no module of numpy is ever made twice.

Why not :class:`importlib.util.LazyLoader`: an ``import numpy`` statement reads
``numpy.__spec__`` from the module in ``sys.modules`` (to see whether it is still being
imported), and a LazyLoader module runs its code on any read, ``__spec__`` included. The
first module that says ``import numpy as np`` therefore imports numpy at once, and a
re-run saves nothing (tested). Its module also makes a submodule imported first twice
(the import system finds the submodule gone, reads ``__path__``, which runs numpy, which
imports the submodule, then makes it again), and is not thread-safe on Python 3.11.

Only ``flowclass run`` defers (:func:`defer_for_run`), only when nothing has imported
numpy yet, and only while the process has one thread: :func:`settle` imports what is
waiting for real before a node runs (``Engine``), before the reports start their thread
and before a Dask client starts its own, so no two threads ever import numpy at once
(Python's import locks would then wait on each other).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_lock = threading.RLock()
_waiting: dict[str, "StandIn"] = {}  # module name -> its stand-in, until it is imported


class StandIn(types.ModuleType):
    """In ``sys.modules`` for a module not imported yet; reading a name imports it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_load(self), name)


def _load(stand_in: StandIn) -> types.ModuleType:
    with _lock:
        real = stand_in.__dict__.get("__deferred_module__")
        if real is None:
            name = stand_in.__name__
            _waiting.pop(name, None)
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            try:
                real = importlib.import_module(name)
            except BaseException:
                sys.modules.setdefault(name, stand_in)
                _waiting[name] = stand_in
                raise
            stand_in.__dict__.update(real.__dict__)  # later reads find the names directly
            stand_in.__dict__["__deferred_module__"] = real
        return real


class _Handover:  # an importlib loader (importlib.abc would cost a re-run more than numpy's deferral saves)
    """Hands a submodule the real import already made to an import that asked for it
    through the stand-in, and gives it back its own spec."""

    def __init__(self, module: types.ModuleType, spec: Any):
        self.module, self.spec = module, spec

    def create_module(self, spec: Any) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.spec


class _SubmoduleFinder:  # a meta path finder
    """First on ``sys.meta_path``: a submodule of a module still waiting imports it first."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        root = fullname.partition(".")[0]
        stand_in = _waiting.get(root)
        if stand_in is None or fullname == root:
            return None
        _load(stand_in)
        made = sys.modules.get(fullname)
        if made is None:  # not one the module imports itself: found the usual way
            return None
        spec = importlib.util.spec_from_loader(fullname, _Handover(made, made.__spec__),
                                               is_package=hasattr(made, "__path__"))
        made.__spec__ = spec  # what the import system takes for a module already there
        return spec


_FINDER = _SubmoduleFinder()


def defer(name: str) -> bool:
    """Put a stand-in for the top-level module ``name`` into ``sys.modules``; False (and
    nothing done) when it is imported already or not installed."""
    with _lock:
        if name in sys.modules or "." in name:
            return False
        spec = importlib.util.find_spec(name)
        if spec is None:
            return False
        stand_in = StandIn(name)
        stand_in.__spec__, stand_in.__loader__, stand_in.__package__ = spec, spec.loader, name
        if spec.submodule_search_locations is not None:
            stand_in.__path__ = list(spec.submodule_search_locations)
        if spec.origin:
            stand_in.__file__ = spec.origin
        _waiting[name] = stand_in
        sys.modules[name] = stand_in
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
        return True


def settle() -> None:
    """Import for real every module still waiting (cheap when none is)."""
    for stand_in in list(_waiting.values()):
        _load(stand_in)


def defer_for_run(argv: list[str]) -> None:
    """Defer numpy when the command line is ``flowclass run ...``: a re-run served from the
    cache then never imports it. And :mod:`inspect`, which :mod:`dataclasses` imports only
    to write a signature into a dataclass that has no docstring (FlowClass's all have one):
    with the ``ast``, ``dis`` and ``tokenize`` it imports, a tenth of the instructions of a
    re-run into a new ``--out`` (flowclass/new_out.py), which builds dataclasses but reads
    nothing of inspect's."""
    if argv[1:2] == ["run"]:
        defer("numpy")
        defer("inspect")


def waiting(name: str) -> bool:
    """Whether ``name`` has a stand-in that nothing has read a name from yet."""
    return name in _waiting
