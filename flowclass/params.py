"""Parameter declarations: a name, a default and a constraint, checked in one place.

As in scikit-learn's ``_parameter_constraints``, constraints are data: each parameter
validates a value, parses one from the command line (``--set node.param=value``) and
describes itself for the canvas inspector and ``flowclass nodes``. Every failure uses
one template: "expected <constraint>; got <value>".
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path as _Path
from typing import Any, ClassVar

from .errors import ParamValueError, shown_value
from .fsutil import expand_user


class _Required:
    """Marker for a parameter the user must give (it has no default)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, kw_only=True)
class Param:
    """Base of all parameter kinds; subclasses add their constraint."""

    name: str
    default: Any = REQUIRED
    title: str = ""
    help: str = ""
    # Show this parameter in the inspector only while another parameter has one of
    # these values, e.g. {"backend": ("open_clip",)}. It is still validated always.
    shown_when: dict[str, tuple[Any, ...]] | None = None

    kind: ClassVar[str] = "param"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    def named(self, value: Any) -> str:
        """``Top k (top_k) = 3``: the field as the canvas labels it, with the key that the
        command line's ``--set`` takes, for a message about the value."""
        return f"{self.label} ({self.name}) = {value}"

    def expected(self) -> str:
        """The constraint in words, for error messages."""
        raise NotImplementedError

    def validate(self, value: Any) -> Any:
        """Return ``value`` (normalised) or raise :class:`ParamValueError`."""
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        """Turn command-line text into a value, then validate it."""
        return self.validate(text)

    def describe(self) -> dict[str, Any]:
        """JSON-able description: what the inspector and ``flowclass nodes`` show."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "title": self.label,
            "help": self.help,
            "required": self.required,
            "expected": self.expected(),
        }
        if not self.required:
            out["default"] = self.default
        if self.shown_when:
            out["shown_when"] = {k: list(v) for k, v in self.shown_when.items()}
        return out

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"parameter name {self.name!r} must be a Python identifier")
        if not self.required:
            try:
                self.validate(self.default)
            except ParamValueError as exc:
                raise ValueError(f"default of parameter '{self.name}' is invalid: {exc}") from None


def _interval(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" >= {lo}"
    if lo is None:
        return f" <= {hi}"
    return f" in [{lo}, {hi}]"


@dataclass(frozen=True, kw_only=True)
class Int(Param):
    min: int | None = None
    max: int | None = None
    kind: ClassVar[str] = "int"

    def expected(self) -> str:
        return "an integer" + _interval(self.min, self.max)

    def validate(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamValueError(self.expected(), value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ParamValueError(self.expected(), value)
            value = int(value)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ParamValueError(self.expected(), value)
        return value

    def parse(self, text: str) -> int:
        try:
            number = int(text.strip())
        except ValueError:
            raise ParamValueError(self.expected(), text) from None
        return self.validate(number)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "min": self.min, "max": self.max}


@dataclass(frozen=True, kw_only=True)
class Float(Param):
    min: float | None = None
    max: float | None = None
    step: float | None = None
    kind: ClassVar[str] = "float"

    def expected(self) -> str:
        return "a number" + _interval(self.min, self.max)

    def validate(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamValueError(self.expected(), value)
        try:  # a whole number of JSON's may be too large for a float (OverflowError)
            value = float(value)
        except OverflowError:
            raise ParamValueError(self.expected(), value) from None
        if not math.isfinite(value):
            raise ParamValueError(self.expected(), value)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ParamValueError(self.expected(), value)
        return value

    def parse(self, text: str) -> float:
        try:
            number = float(text.strip())
        except ValueError:
            raise ParamValueError(self.expected(), text) from None
        return self.validate(number)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "min": self.min, "max": self.max, "step": self.step}


@dataclass(frozen=True, kw_only=True)
class Bool(Param):
    kind: ClassVar[str] = "bool"
    _WORDS: ClassVar[dict[str, bool]] = {
        "true": True, "yes": True, "on": True, "1": True,
        "false": False, "no": False, "off": False, "0": False,
    }

    def expected(self) -> str:
        return "true or false"

    def validate(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ParamValueError(self.expected(), value)
        return value

    def parse(self, text: str) -> bool:
        word = text.strip().lower()
        if word not in self._WORDS:
            raise ParamValueError(self.expected(), text)
        return self._WORDS[word]


@dataclass(frozen=True, kw_only=True)
class Choice(Param):
    choices: tuple[str, ...] = ()
    # Optional human titles for the choices, shown by the inspector.
    choice_titles: dict[str, str] = field(default_factory=dict)
    kind: ClassVar[str] = "choice"

    def expected(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def validate(self, value: Any) -> str:
        if value not in self.choices:
            raise ParamValueError(self.expected(), value)
        return value

    def parse(self, text: str) -> str:
        return self.validate(text.strip())

    def describe(self) -> dict[str, Any]:
        titles = [self.choice_titles.get(c, c) for c in self.choices]
        return {**super().describe(), "choices": list(self.choices), "choice_titles": titles}


@dataclass(frozen=True, kw_only=True)
class Text(Param):
    multiline: bool = False
    allow_empty: bool = True
    kind: ClassVar[str] = "text"

    def expected(self) -> str:
        return "text" if self.allow_empty else "non-empty text"

    def validate(self, value: Any) -> str:
        if not isinstance(value, str) or (not self.allow_empty and not value.strip()):
            raise ParamValueError(self.expected(), value)
        return value

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "multiline": self.multiline}


def absolute(value: str, base: _Path) -> str:
    """The one place a relative path is made absolute: against ``base``, with ``~`` expanded."""
    path = expand_user(value)
    if not path.is_absolute():
        path = _Path(base) / path
    return str(path.resolve())


@dataclass(frozen=True, kw_only=True)
class Path(Param):
    """A file or folder path.

    ``role="input"`` paths are read: a relative one resolves against the workflow file's
    folder, so a workflow can be shared together with its images. ``role="output"`` paths
    are written: a relative one resolves against the run's output folder (``--out``).
    ``target="any"`` takes a file or a folder. An empty path is refused unless the
    parameter is ``optional`` (then it means "not given"); a blank one always is. An input
    is checked to exist before a run unless ``missing_ok`` (the node copes without it).

    With ``names``, a value with no path separator that does not end in one of
    ``extensions`` is a name, not a path (open_clip's ``laion2b_s34b_b79k`` beside a local
    weights file): it is left as written and never looked up on disk. Anything else is a
    path like any other, so it is held to the canvas's folders like any other.
    """

    target: str = "folder"  # "folder", "file" or "any"
    role: str = "input"  # "input" or "output"
    extensions: tuple[str, ...] = ()
    optional: bool = False
    missing_ok: bool = False
    # the parameter that takes a folder, when this one takes only files: a folder given here
    # (no file extension) is refused with a pointer to it
    folder_goes_in: str = ""
    names: bool = False
    kind: ClassVar[str] = "path"

    def __post_init__(self) -> None:
        if self.target not in ("folder", "file", "any") or self.role not in ("input", "output"):
            raise ValueError(f"parameter '{self.name}': target must be folder|file|any, role input|output")
        if self.default == "" and not self.optional:
            raise ValueError(f"parameter '{self.name}': an empty default needs optional=True "
                             "(empty then means 'not given')")
        super().__post_init__()

    def expected(self) -> str:
        what = "a path to a file or folder" if self.target == "any" else f"a path to a {self.target}"
        if self.extensions:
            what += " ending in " + "/".join(self.extensions)
        return what + (" (or nothing)" if self.optional else "")

    def validate(self, value: Any) -> str:
        if not isinstance(value, str) or "\0" in value:
            raise ParamValueError(self.expected(), value)
        if not value and not self.optional:
            raise ParamValueError(self.expected() + ", not empty", value)
        if value and not value.strip():
            raise ParamValueError(self.expected() + ", not blank", value)
        if value and self.extensions and not self.is_name(value) \
                and not value.lower().endswith(tuple(self.extensions)):
            if self.folder_goes_in and not os.path.splitext(value.rstrip("/\\"))[1]:
                raise ParamValueError(f"{self.expected()}; a folder goes in '{self.folder_goes_in}' "
                                      "instead", value)
            raise ParamValueError(self.expected(), value)
        return value

    def is_name(self, value: str) -> bool:
        """Whether ``value`` is a name rather than a path (only with ``names``)."""
        return self.names and "/" not in value and os.sep not in value \
            and not value.lower().endswith(tuple(self.extensions))

    def resolve(self, value: str, base_dir: _Path, out_dir: _Path) -> str:
        """Absolute form of ``value``; empty stays empty ("not given"), a name as it is."""
        if not value or self.is_name(value):
            return value
        return absolute(value, base_dir if self.role == "input" else out_dir)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "target": self.target, "role": self.role,
                "extensions": list(self.extensions), "optional": self.optional, "names": self.names}


@dataclass(frozen=True, kw_only=True)
class List(Param):
    """A list of short texts, such as file extensions; saved as a JSON list.

    ``item`` is a regular expression each item must match in full, ``item_title`` says
    what an item is; with ``choices`` an item must also be one of them. On the command
    line and in the inspector the items are written comma-separated; ``lower`` and
    ``strip`` normalise each (``".JPG"`` -> ``"jpg"``).
    """

    item: str = r".+"
    item_title: str = "text"
    choices: tuple[str, ...] = ()
    min_items: int = 0
    max_items: int = 1_000  # a shared workflow's list of 200,000 items is no one's choice
    lower: bool = False
    strip: str = ""  # characters taken off both ends of each item
    kind: ClassVar[str] = "list"

    def expected(self) -> str:
        least = f" (at least {self.min_items})" if self.min_items else ""
        among = f" among {', '.join(self.choices)}" if self.choices else ""
        return f"a list of {self.item_title}s{among}{least}"

    def validate(self, value: Any) -> list[str]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ParamValueError(self.expected(), value)
        if len(value) > self.max_items:
            raise ParamValueError(f"{self.expected()}, at most {self.max_items:,} items", value)
        items: dict[str, None] = {}  # in order, each once
        for text in value:
            item = text.strip().strip(self.strip) if self.strip else text.strip()
            item = item.lower() if self.lower else item
            if not re.fullmatch(self.item, item):
                raise ParamValueError(f"{self.expected()}; {shown_value(text)} is not a {self.item_title}", value)
            if self.choices and item not in self.choices:
                raise ParamValueError(f"{self.expected()}; {shown_value(text)} is not one of them", value)
            items[item] = None
        if len(items) < self.min_items:
            raise ParamValueError(self.expected(), value)
        return list(items)

    def split(self, text: str) -> list[str]:
        """The items of comma- (or semicolon-) separated text, not yet validated."""
        return [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]

    def parse(self, text: str) -> list[str]:
        return self.validate(self.split(text))

    def as_text(self, value: Any) -> str:
        return ", ".join(value) if isinstance(value, (list, tuple)) else str(value)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "item": self.item, "item_title": self.item_title,
                "min_items": self.min_items, "max_items": self.max_items, "choices": list(self.choices)}
