"""JSON from files people share, read with a bound on nesting.

``json.loads`` recurses once per bracket, so a file of 100,000 nested brackets ends in a
``RecursionError`` (a crash, not an error message), and a document a little under Python's
limit would crash the code that walks it next. No FlowClass document nests deeply, so
anything deeper than :data:`MAX_DEPTH` is refused as a :class:`ValueError`, like any other
malformed JSON. So is a number of more digits than Python converts (4,300), which
``json.loads`` refuses with a ValueError that is no JSON error, advising a call to
``sys.set_int_max_str_digits``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MAX_DEPTH = 100


class Refused(ValueError):
    """Valid JSON that FlowClass does not read: a shared file's reason to be refused."""


class TooDeep(Refused):
    """A JSON document nested deeper than FlowClass ever writes."""


class TooLong(Refused):
    """A JSON number of more digits than Python converts to an integer."""


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing documents nested deeper than ``max_depth`` with :class:`TooDeep`
    and numbers too long to convert with :class:`TooLong`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {max_depth} levels deep") from None
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        raise TooLong(f"it holds a number of more than {sys.get_int_max_str_digits():,} digits") from None
    opening = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    if text.count(opening[0]) + text.count(opening[1]) <= max_depth:
        return value  # no deeper than its opening brackets: a journal's line is not walked
    pending = [(value, 1)]
    while pending:  # iterative: the check itself must not recurse
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > max_depth:
                    raise TooDeep(f"JSON nested more than {max_depth} levels deep")
                pending.append((child, depth + 1))
    return value
