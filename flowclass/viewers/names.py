"""Names from outside, shown on the page as what they are.

Labels come from folder names, label files and shared model files; file names from whoever
made them. A character among them may act instead of showing: U+202E reverses the text
after it, so a card's *labelled cat\\u202egpj.exe · suggested dog* read *labelled catgod
detseggus · exe.jpg*. Viewers show such names through :func:`shown`, which writes those
characters as their escapes, as the terminal does (:mod:`flowclass.terminal`); the
zero-width joiners Persian words and emoji are spelled with stay.
"""

from __future__ import annotations

from ..terminal import JOINERS, printable


def shown(name: object) -> str:
    """``name`` as text to show: controls and characters that reorder or hide text escaped."""
    return printable(str(name), keep=JOINERS)
