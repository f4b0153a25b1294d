"""Class names and their colours, written as text: ``water=#1f77b4, trees=green``.

The same notation serves two purposes: the *legend* of a mask (which painted colour
means which class) and the *display colours* of a class map. Entries are separated by
commas or new lines; a colour is ``#rgb``, ``#rrggbb`` or a CSS name (``green``). In a
legend one class may have several colours, and the name ``ignore`` marks a colour whose
pixels are not labelled (transparent pixels never are).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import ImageColor

RGB = tuple[int, int, int]
IGNORE = "ignore"
UNKNOWN = "unknown"
# Tableau 10: distinct colours for classes whose name is not a colour.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
UNKNOWN_COLOUR = "#000000"


class LegendError(ValueError):
    """A legend or colour list that cannot be read; the message says which entry."""


def parse_colour(text: str) -> RGB:
    """``#rgb``, ``#rrggbb`` or a CSS colour name as an (r, g, b) tuple."""
    try:
        rgb = ImageColor.getrgb(text.strip())
    except ValueError:
        raise LegendError(f"'{text.strip()}' is not a colour (use #rrggbb or a name like "
                          "'green')") from None
    return tuple(int(c) for c in rgb[:3])  # type: ignore[return-value]


def hex_colour(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def parse_pairs(text: str) -> list[tuple[str, RGB]]:
    """``name=colour`` entries in order; a clear error names a malformed entry."""
    pairs = []
    for entry in (e.strip() for e in re.split(r"[,\n]", text)):
        if not entry:
            continue
        name, sep, colour = entry.partition("=")
        if not sep or not name.strip() or not colour.strip():
            raise LegendError(f"'{entry}' should look like 'name=#rrggbb'")
        pairs.append((name.strip(), parse_colour(colour)))
    return pairs


@dataclass(frozen=True)
class Legend:
    """Which mask colour means which class; classes keep the order they are first named."""

    classes: tuple[str, ...]
    colour_class: dict[RGB, int]  # mask colour -> class index, -1 for "ignore"

    def class_colours(self) -> tuple[str, ...]:
        """Each class's first legend colour, which is how it is drawn by default."""
        first: dict[int, RGB] = {}
        for rgb, index in self.colour_class.items():
            if index >= 0:
                first.setdefault(index, rgb)
        return tuple(hex_colour(first[i]) for i in range(len(self.classes)))


def parse_legend(text: str) -> Legend:
    """The legend of ``text``; refused at its 255th class (a shared workflow's legend of
    200,000 classes was read whole, each looked up among those before it: minutes)."""
    pairs = parse_pairs(text)
    classes: dict[str, int] = {}  # name -> index, in the order first named
    colour_class: dict[RGB, int] = {}
    for name, rgb in pairs:
        if name.lower() == UNKNOWN:
            raise LegendError(f"'{UNKNOWN}' is reserved for pixels no class is sure of")
        if name.lower() == IGNORE:
            index = -1
        else:
            index = classes.setdefault(name, len(classes))
            if index == MAX_CLASSES:
                raise LegendError(f"'{name}' is a {MAX_CLASSES + 1}th class; at most {MAX_CLASSES} are supported")
        if colour_class.get(rgb, index) != index:
            raise LegendError(f"colour {hex_colour(rgb)} is given to two classes")
        colour_class[rgb] = index
    if len(classes) < 2:
        raise LegendError("a legend needs at least two classes, e.g. "
                          "'water=#1f77b4, land=#2ca02c'")
    return Legend(tuple(classes), colour_class)


MAX_CLASSES = 254  # a class map is a palette PNG: 256 values, 'unknown' among them


def default_colour(name: str, index: int) -> str:
    """A class called after a colour ('red', 'navy') is drawn in it; others get a palette."""
    try:
        return hex_colour(parse_colour(name.replace(" ", "")))
    except LegendError:
        return PALETTE[index % len(PALETTE)]


def display_colours(classes: tuple[str, ...], defaults: tuple[str, ...], overrides: str) -> tuple[str, ...]:
    """The colour of each class, then of ``unknown``, with the user's ``overrides`` applied."""
    chosen = dict(zip(classes, defaults))
    chosen[UNKNOWN] = UNKNOWN_COLOUR
    for name, rgb in parse_pairs(overrides):
        if name not in chosen:
            raise LegendError(f"no class called '{name}'; the classes are "
                              + ", ".join(classes + (UNKNOWN,)))
        chosen[name] = hex_colour(rgb)
    return tuple(chosen[name] for name in classes + (UNKNOWN,))


def with_colour(text: str, name: str, old: str, new: str) -> str:
    """The legend text with class ``name``'s colour ``old`` changed to ``new`` (the others kept)."""
    if parse_colour(new) in parse_legend(text).colour_class:
        raise LegendError(f"colour {hex_colour(parse_colour(new))} is already in the legend")
    entries = []
    for entry_name, rgb in parse_pairs(text):
        changed = entry_name == name and rgb == parse_colour(old)
        entries.append(f"{entry_name}={hex_colour(parse_colour(new)) if changed else hex_colour(rgb)}")
    return ", ".join(entries)


def followed_classes(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Which class of legend ``after`` each class of legend ``before`` became (both map a
    class to its colour), where another tab changed the legend meanwhile: the same name; else
    the new class of its colour (renamed); else the new class in its place in the legend, of a
    new name and a new colour (renamed and recoloured: a rename and a recolour keep a class's
    place, "+ class" adds at the end). A class that cannot be told (removed) is left out."""
    taken_colours = set(before.values())
    matched = {name: name for name in before if name in after}
    new = [name for name in after if name not in before]
    for name, colour in before.items():
        if name not in matched:
            renamed = next((n for n in new if after[n] == colour and n not in matched.values()), None)
            if renamed is not None:
                matched[name] = renamed
    places = list(after)
    for place, name in enumerate(before):
        if name in matched or place >= len(places):
            continue
        there = places[place]
        if there in new and there not in matched.values() and after[there] not in taken_colours:
            matched[name] = there
    return matched


def with_class(text: str, name: str) -> str:
    """The legend text with a new class ``name`` at its end, in a colour no entry has yet:
    the one its name says ('red'), else the first free palette colour."""
    name = name.strip()
    legend = parse_legend(text)
    if not name or re.search(r"[=,\n]", name):
        raise LegendError(f"'{name}' cannot be a class name: give a word without '=' or ','")
    if name.lower() in (IGNORE, UNKNOWN):
        raise LegendError(f"'{name}' is reserved; choose another name")
    if name in legend.classes:
        raise LegendError(f"there is a class called '{name}' already")
    taken = set(legend.colour_class)
    named = default_colour(name, 0)  # a colour's name ('red') gives that colour, else PALETTE[0]
    choices = ([named] if named != PALETTE[0] else []) + list(PALETTE)
    free = [c for c in choices if parse_colour(c) not in taken]
    if not free:
        raise LegendError("every palette colour is taken: give the class a colour in the Legend field")
    return f"{text.rstrip().rstrip(',')}, {name}={free[0]}"
