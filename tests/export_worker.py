"""Run Export to Folders in a process of its own, for tests that race or kill it.

``python tests/export_worker.py SOURCE OUT [LABELS]``: exports every file of SOURCE
(sorted) into OUT, labelling the i-th file ``C{i % LABELS}``. Warnings go to stderr, one
per line, as the CLI prints them; exit status 0 on success, 1 on a NodeError.
"""

import hashlib
import sys
from pathlib import Path

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from nodes.datatypes import ImageSet, Labelling
from nodes.export import export_folders


def labelling(source: Path, n_labels: int) -> Labelling:
    paths = sorted(str(p) for p in source.iterdir() if p.is_file())
    hashes = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]
    sizes = np.full(len(paths), 64, dtype=np.int32)
    images = ImageSet(np.array(paths), np.array([""] * len(paths)), np.array(hashes), sizes, sizes,
                      str(source))
    labels = np.array([f"C{i % n_labels}" for i in range(len(paths))])
    return Labelling(images, labels, np.linspace(0, 1, len(paths)), kind="cluster")


def main() -> int:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    n_labels = int(sys.argv[3]) if len(sys.argv) > 3 else 3

    def emit(event):
        if event.state == "warning":
            print(f"warning: {event.message}", file=sys.stderr, flush=True)

    ctx = RunContext("export", out.parent, out.parent, lambda name: out.parent / name, emit=emit)
    try:
        export_folders(ctx, labels=labelling(source, n_labels), folder=str(out), mode="copy",
                       table="csv")
    except NodeError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
