"""Where an unsaved workflow's runs write: a new folder of its own, inside the allowed folders.

A workflow with no file yet (a new one, a ready workflow's copy after "Not now") has no
folder beside it for its outputs. They go to ``<first root>/flowclass-out/untitled-<date>-<time>-<4 hex>``:
inside the roots, so the canvas's own file dialogs can open it; new for each workflow, so
the next copy never writes over (or mixes with) the last one's results. The folder is made
by the first run that writes into it, so opening a tab leaves nothing on disk.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path

from .browse import Roots

PARENT = "flowclass-out"
PREFIX = "untitled-"


def untitled_out_dir(roots: Roots | None) -> Path:
    """A folder name no earlier workflow used; without roots (scripts), a temporary folder."""
    if roots is None:
        return Path(tempfile.mkdtemp(prefix="flowclass-untitled-"))
    parent = roots.roots[0] / PARENT
    stamp = time.strftime("%Y-%m-%d-%H%M%S")
    while True:
        folder = parent / f"{PREFIX}{stamp}-{secrets.token_hex(2)}"
        if not folder.exists():
            return folder
