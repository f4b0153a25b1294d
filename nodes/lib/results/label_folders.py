"""Turning labels into folder names that cannot escape the export folder, and file names
into names that read as what they are."""

from __future__ import annotations

import re
import unicodedata

from flowclass.terminal import ACTS, JOINERS
from flowclass.userfiles.file_names import cut_to_bytes

# Names Windows refuses for files and folders, with or without an extension.
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
            *(f"LPT{i}" for i in range(1, 10))}
UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_LENGTH = 100  # characters
MAX_BYTES = 200  # encoded: leaves room for " (2)" within the 255-byte name limit


def visible(name: str) -> str:
    """``name`` with each character that acts instead of showing (as the terminal escapes them:
    controls, text-reversing and invisible format characters, line separators; the joiners
    stay) as '_': a label from a stranger's folder or label file must not make a folder whose
    name reads otherwise than it is (``cat\\u202egpj.exe``). An ordinary name stays as it is."""
    if name.isprintable():
        return name
    return "".join("_" if ch not in JOINERS and unicodedata.category(ch) in ACTS else ch for ch in name)


def safe_file_name(name: str) -> str:
    """The name an exported copy of the file ``name`` gets: a stranger's ``photo\\u202egpj.exe``
    would sit on the user's disk reading *photoexe.jpg*, so it becomes ``photo_gpj.exe``."""
    return visible(name)


def safe_folder_name(label: str) -> str:
    """A single, harmless path component for ``label``.

    Separators, characters that are illegal on some system and characters that act instead
    of showing (controls, text-reversing and invisible format characters) become '_';
    leading and trailing dots and spaces go (so '..', '.' and hidden names are impossible);
    empty labels become 'unlabelled'; reserved device names get a leading '_'.
    """
    name = visible(UNSAFE.sub("_", unicodedata.normalize("NFC", str(label)))).strip(" .")
    if not name:
        name = "unlabelled"
    if name.split(".")[0].upper() in RESERVED:
        name = "_" + name
    return cut_to_bytes(name[:MAX_LENGTH], MAX_BYTES).rstrip(" .") or "unlabelled"


def folder_names(labels: list[str]) -> dict[str, str]:
    """A distinct safe folder name for each distinct label, stable for the same labels.

    Two labels that would share a folder (``a/b`` and ``a_b``, or ``Cat`` and ``cat`` on a
    case-insensitive disk) get ``name (2)`` and so on, so classes are never mixed.
    """
    names: dict[str, str] = {}
    used: set[str] = set()
    for label in sorted(set(labels)):
        base = safe_folder_name(label)
        name, k = base, 2
        while name.casefold() in used:
            name = f"{base} ({k})"
            k += 1
        used.add(name.casefold())
        names[label] = name
    return names
