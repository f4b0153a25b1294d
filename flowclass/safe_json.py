"""JSON from files people share, read with a bound on nesting.

``json.loads`` recurses once per bracket, so a file of 100,000 nested brackets ends in a
``RecursionError`` (a crash, not an error message), and a document a little under Python's
limit would crash the code that walks it next. No FlowClass document nests deeply, so
anything deeper than :data:`MAX_DEPTH` is refused as a :class:`ValueError`, like any other
malformed JSON. So is a number of more digits than Python converts (4,300), which
``json.loads`` refuses with a ValueError that is no JSON error, advising a call to
``sys.set_int_max_str_digits``. A document a person may have written or edited (``strict``:
a workflow) is refused too when a text holds half a UTF-16 surrogate pair (JSON's ``\\udce9``,
no character: no page, table or UTF-8 file holds it), or an object gives a key twice (Python
keeps the last, where a person or another program may read the first).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

MAX_DEPTH = 100


class Refused(ValueError):
    """Valid JSON that FlowClass does not read: a shared file's reason to be refused."""


class TooDeep(Refused):
    """A JSON document nested deeper than FlowClass ever writes."""


class TooLong(Refused):
    """A JSON number of more digits than Python converts to an integer."""


class NotText(Refused):
    """A JSON text holding a lone surrogate: an escape that names no character."""


class KeyTwice(Refused):
    """A JSON object that gives one key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict, :class:`KeyTwice` when a key comes twice."""
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise KeyTwice(f"the key {key!r} is given twice in one object; which one counts "
                               "would depend on the program reading it")
            seen.add(key)
    return found


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how JSON writes half a pair


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, strict: bool = False) -> Any:
    """``json.loads``, refusing documents nested deeper than ``max_depth`` with :class:`TooDeep`,
    numbers too long to convert with :class:`TooLong` and, when ``strict``, texts that are
    not Unicode with :class:`NotText` and keys given twice with :class:`KeyTwice`."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys if strict else None)
    except RecursionError:
        raise TooDeep(f"JSON nested more than {max_depth} levels deep") from None
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        raise TooLong(f"it holds a number of more than {sys.get_int_max_str_digits():,} digits") from None
    if strict and _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        _check_text(value)
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


def _check_text(value: Any) -> None:
    """:class:`NotText` naming where a key or text in ``value`` holds a lone surrogate (a real
    pair was joined into its character by the parser)."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:  # iterative, like the depth check
        item, where = pending.pop()
        if isinstance(item, dict):
            pending.extend((key, f"a key in {where}" if where else "a key") for key in item)
            pending.extend((child, f"{where}.{key}" if where else str(key)) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                half = item[exc.start].encode("unicode_escape").decode("ascii")
                raise NotText(f"{where or 'its text'} holds {half}, half of a UTF-16 surrogate pair, "
                              "which is no character (a name in another system's encoding?)") from None
