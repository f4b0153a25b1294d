"""How good the footer's "time left in all" is: real runs recorded, then replayed.

Run: python benchmarks/time_left.py [--record tests/timings]

Runs cluster_folder.json (EfficientNet int8) on 100 and then on 200 faces, each on a cache of
its own (the prepared model shared), and records every engine event with its time. Then
replays them through :class:`~flowclass.run_clock.RunClock`: the history learnt from the
100-face run predicts the 200-face run, and the prediction is printed beside what was left,
at the start and at each quarter of its run. ``--record`` keeps the two traces, which
tests/test_timings.py replays.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from flowclass.cache import PREPARED_VARIABLE, Cache
from flowclass.events import NodeEvent
from flowclass.engine import Engine
from flowclass.library import default_registry, ready_workflows_dir
from flowclass.run_clock import node_kinds
from flowclass.workflow_file import load


def record(folder: Path, faces: int, cache: Path, out: Path) -> dict:
    """A run of cluster_folder.json on the first ``faces`` faces: its events with their times."""
    registry = default_registry(())
    workflow = load(ready_workflows_dir() / "cluster_folder.json", registry) \
        .with_params("import", folder=str(folder)) \
        .with_params("cluster", n_clusters=2)
    events: list[list] = []
    start = time.monotonic()

    def on_event(event: NodeEvent) -> None:
        events.append([round(time.monotonic() - start, 4), event.node, str(event.state), event.done,
                       event.total, event.unit, event.message, event.seconds])

    Engine(registry, Cache(cache)).run(workflow, base_dir=folder.parent, out_dir=out, on_event=on_event)
    return {"workflow": "cluster_folder.json", "images": faces, "kinds": node_kinds(workflow, registry),
            "events": events}


def first_faces(source: Path, target: Path, count: int) -> Path:
    target.mkdir()
    for path in sorted(p for p in source.rglob("*") if p.is_file())[:count]:
        shutil.copyfile(path, target / path.name)
    return target


def main() -> None:
    from nodes.lib.images.sample_images import write_sample

    parser = argparse.ArgumentParser()
    parser.add_argument("--record", type=Path, help="folder to keep the traces in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault(PREPARED_VARIABLE, str(tmp / "prepared"))
        faces = write_sample("faces", tmp / "faces")
        record(first_faces(faces, tmp / "warm", 8), 8, tmp / "cache_warm", tmp / "out_warm")  # the model
        traces = {n: record(first_faces(faces, tmp / f"faces_{n}", n), n, tmp / f"cache_{n}", tmp / f"out_{n}")
                  for n in (100, 200)}
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        for n, trace in traces.items():
            (args.record / f"cluster_faces_{n}.json").write_text(json.dumps(trace, indent=0) + "\n")
    from tests.test_timings import predictions

    for moment, predicted, actual in predictions(traces[100], traces[200]):
        print(f"{moment:>28}: predicted {predicted:6.1f} s left, actually {actual:6.1f} s "
              f"(ratio {predicted / actual:.2f})")


if __name__ == "__main__":
    main()
