"""Where an unsaved workflow's runs write: a new folder of its own, inside the allowed folders.

A workflow with no file yet (a new one, a ready workflow's copy after "Not now") has no
folder beside it for its outputs. They go to ``<first root>/flowclass-out/untitled-<date>-<time>-<4 hex>``:
inside the roots, so the canvas's own file dialogs can open it; new for each workflow, so
the next copy never writes over (or mixes with) the last one's results. The folder is made
by the first run that writes into it, so opening a tab leaves nothing on disk; without roots
(scripts, tests) too: a name in the temporary folder, not an empty folder made there for
every session that never runs.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path

from .browse import Roots

PARENT = "flowclass-out"
PREFIX = "untitled-"


def untitled_out_dir(roots: Roots | None) -> Path:
    """A folder name no earlier workflow used; without roots (scripts), one in the temporary
    folder, unguessable (8 random hex digits, as many as ``mkdtemp`` draws)."""
    if roots is None:
        return _unused(Path(tempfile.gettempdir()), "flowclass-untitled-", 4)
    return _unused(roots.roots[0] / PARENT, f"{PREFIX}{time.strftime('%Y-%m-%d-%H%M%S')}-", 2)


def _unused(parent: Path, prefix: str, random_bytes: int) -> Path:
    """``parent/<prefix><random hex>`` that does not exist yet (not made here)."""
    while True:
        folder = parent / f"{prefix}{secrets.token_hex(random_bytes)}"
        if not os.path.lexists(folder):
            return folder
