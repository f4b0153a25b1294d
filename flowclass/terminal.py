"""Text from outside, made safe to print on a terminal.

What ``flowclass`` prints holds names it did not choose: file names of a downloaded folder,
a stranger's workflow ids, labels, paths. A control character among them is an order to
the terminal (``ESC[2J`` clears the screen, ``ESC]52`` writes the clipboard), and a character
that reorders text (U+202E) disguises a name. Each is shown as its escape (``\\x1b``,
``\\u202e``) instead; line breaks between lines and tabs stay.
"""

from __future__ import annotations

import sys
import unicodedata
from typing import Container, TextIO

# control, format, line and paragraph separators, and lone surrogates (a name's bytes that are
# not UTF-8, b'caf\xe9', which no terminal can be sent)
ACTS = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# zero-width (non-)joiners: format characters, yet part of Persian, Indic and emoji spellings
JOINERS = frozenset("\u200c\u200d")


def say(text: object = "", file: TextIO | None = None) -> None:
    """Print one message (of any lines) as :func:`printable` makes it."""
    print(printable(str(text)), file=file or sys.stdout)


def printable(text: str, keep: Container[str] = "") -> str:
    """``text`` with every character a terminal would act on (but ``\\n``, ``\\t`` and those
    in ``keep``) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch in "\n\t" or ch in keep or unicodedata.category(ch) not in ACTS
                   else ch.encode("unicode_escape").decode("ascii") for ch in text)
