"""One vocabulary for what a node is doing or did, shared by the engine, run.json, the CLI and the canvas.

A :class:`NodeState` is a string enum, so it is written to run.json and sent to the canvas
as its plain value (``"done"``), and the canvas styles a node by it (``fc-state-done``).
"""

from __future__ import annotations

from enum import StrEnum


class NodeState(StrEnum):
    IDLE = "idle"            # not run yet (canvas only)
    PENDING = "pending"      # will run
    RUNNING = "running"
    CACHED = "cached"        # its result came from the cache
    DONE = "done"
    STALE = "stale"          # it had a result, but its cache key changed since (canvas only)
    FAILED = "failed"        # the node reported an error (the badge says "error")
    SKIPPED = "skipped"      # an upstream node failed
    CANCELLED = "cancelled"
    INVALID = "invalid"      # the workflow has a problem at this node, so it cannot run (canvas only)


#: States whose node has a result to show.
FINISHED = frozenset({NodeState.DONE, NodeState.CACHED})
#: What an event may report besides a state change: progress, or a warning (a skipped file).
PROGRESS = "progress"
WARNING = "warning"
#: What a node that is not cached (cache=False) says when it is served: it is made later.
DEFERRED = "made from its inputs when a later node needs it"
