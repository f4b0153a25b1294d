"""Where ``import nodes`` looks when FlowClass runs as ``python -m flowclass.cli``.

Python puts the current folder first on the import path for ``python -m``, so a folder
named ``nodes`` in the current folder (say, inside a workflow bundle someone shared)
would be imported as FlowClass's node library, and its code would run. The ``flowclass``
command is not affected (its script's folder comes first). This keeps the node library
the one installed beside the ``flowclass`` package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME = str(Path(__file__).resolve().parent.parent)  # the folder holding flowclass/ and nodes/


def node_library_beside_flowclass() -> None:
    """Drop the current folder from the import path (unless FlowClass lives there) and put
    FlowClass's own folder first, before anything imports ``nodes``."""
    here = os.path.realpath(os.getcwd())

    def is_current_folder(entry: str) -> bool:
        return os.path.realpath(entry or ".") == here and here != HOME

    sys.path[:] = [entry for entry in sys.path if not is_current_folder(entry) and entry != HOME]
    sys.path.insert(0, HOME)
