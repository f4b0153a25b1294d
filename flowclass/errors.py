"""Errors as data: every problem names the node and field it concerns.

The CLI prints a problem as a sentence; the canvas uses ``node`` and ``field`` to
highlight the widget. One shape for both, as ComfyUI's structured validation errors.
A problem itself is a :class:`flowclass.problems.Problem`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .problems import Problem


class WorkflowInvalid(Exception):
    """A workflow that must not run; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head}{len(self.problems)} problem(s) in the workflow:\n{lines}")


class NodeError(Exception):
    """An error a node raises for its user: what went wrong, which field, and what to do.

    Nodes raise this for expected, explainable failures (a folder with no images, a
    missing weights file). The engine reports ``message``, ``field`` and ``hint`` as they are.
    """

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint


class FolderError(Exception):
    """A folder FlowClass writes into cannot be used as it is (its lock, its journal):
    ``message`` names the file, ``hint`` says what to do."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


class CodecError(ValueError):
    """A value that cannot be saved, or a file that does not hold a valid value
    (:mod:`flowclass.codec`; here so that catching it imports no codec)."""


class Cancelled(Exception):
    """Raised inside a node when the user asked the run to stop."""


def shown_value(value: Any, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters with its length said: a stranger's file may
    hold a value of megabytes, which a message would print whole (on a terminal, under a field)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 3]}... ({len(text):,} characters)"


class ParamValueError(ValueError):
    """A parameter value that does not meet its declaration."""

    def __init__(self, expected: str, got: Any):
        self.expected = expected
        self.got = got
        super().__init__(f"expected {expected}; got {shown_value(got)}")
