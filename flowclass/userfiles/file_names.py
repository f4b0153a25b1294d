"""Names that fit the file system's limit of 255 bytes, and their numbered variants."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

NAME_MAX = 255  # bytes in one name on ext4, XFS, btrfs, APFS, NTFS (UTF-16 units there)


def cut_to_bytes(text: str, limit: int) -> str:
    """The longest start of ``text`` whose encoding fits ``limit`` bytes (whole characters)."""
    while len(os.fsencode(text)) > limit:
        over = len(os.fsencode(text)) - limit
        text = text[:-max(1, over // 4)]
    return text


def numbered(rel: str, k: int, *, keep_suffix: bool = True) -> str:
    """``rel``, or for ``k`` > 1 ``stem (k).ext``; the name shortened to fit NAME_MAX.

    ``keep_suffix``: files keep their extension after the number; folders
    (``keep_suffix=False``) get it at the very end (``images.csv (2)``).
    """
    if k == 1 and len(os.fsencode(rel.rpartition("/")[2])) <= NAME_MAX:
        return rel  # the common case, taken for every file: no path objects
    path = PurePosixPath(rel)
    name = path.name
    stem, suffix = (path.stem, path.suffix) if keep_suffix else (name, "")
    tag = "" if k == 1 else f" ({k})"
    if len(os.fsencode(tag + suffix)) >= NAME_MAX:
        stem, suffix = name, ""
    stem = cut_to_bytes(stem, NAME_MAX - len(os.fsencode(tag + suffix)))
    new = stem + tag + suffix
    return new if path.parent == PurePosixPath(".") else str(path.parent / new)
