"""What a status check costs while a folder is typed key by key, with and without its budget.

Each pause while typing Import Images' folder checks that prefix ("/", "/usr", ...): the
check takes the folder's fingerprint, a walk of everything under it. Prints, per prefix,
the check's time and state with the canvas's budget (flowclass.scanning.CHECK_FILES
entries, CHECK_SECONDS) and without it (as before the budget; cut off at --unbounded-max
seconds). Also the walk runs use now against os.walk on the same tree (runs
have no budget; the walk must not slow them down).

    python benchmarks/typing_checks.py [--prefixes / /usr /usr/share] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowclass.cache import Cache  # noqa: E402
from flowclass.engine import Engine  # noqa: E402
from flowclass.library import default_registry  # noqa: E402
from flowclass.scanning import CHECK_FILES, CHECK_SECONDS, ScanBudget, walk  # noqa: E402
from flowclass.workflow import Workflow  # noqa: E402
from flowclass.workflow_file import new_node  # noqa: E402


def check(engine: Engine, registry, folder: str, budget: ScanBudget | None, out: Path) -> tuple[float, str]:
    flow = Workflow(name="typing")
    flow = flow.with_node(new_node(flow, registry.get("import_images"), (0, 0), "photos")) \
        .with_params("photos", folder=folder)
    started = time.perf_counter()
    planned = engine.plan(flow, base_dir=out, out_dir=out, scan_budget=budget)["photos"]
    return time.perf_counter() - started, planned.note or planned.state


def walk_ratio(folder: str, repeat: int) -> tuple[float, float]:
    def timed(walker) -> float:
        started = time.perf_counter()
        for _ in walker(folder):
            pass
        return time.perf_counter() - started

    ours = statistics.median(timed(walk) for _ in range(repeat))
    theirs = statistics.median(timed(os.walk) for _ in range(repeat))
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", nargs="+", default=["/", "/usr", "/usr/share"])
    parser.add_argument("--unbounded-max", type=float, default=20.0,
                        help="seconds of walking after which the unbudgeted count stops")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    registry = default_registry()
    with tempfile.TemporaryDirectory() as tmp:
        engine, out = Engine(registry, Cache(Path(tmp) / "cache")), Path(tmp)
        check(engine, registry, args.prefixes[-1], ScanBudget(), out)  # imports, caches: not timed
        print(f"budget: {CHECK_FILES:,} entries or {CHECK_SECONDS:g} s per check; without it, the check "
              f"is cut at {args.unbounded_max:g} s (+)\n")
        print("| prefix | check with budget | entries looked at | check without budget | entries | ratio |")
        print("|---|---|---|---|---|---|")
        for prefix in args.prefixes:
            budget = ScanBudget()
            seconds, state = check(engine, registry, prefix, budget, out)
            unbounded = ScanBudget(files=10**12, seconds=args.unbounded_max)
            whole, whole_state = check(engine, registry, prefix, unbounded, out)
            cut = "+" if whole_state.startswith("not checked") else ""
            said = "not checked" if state.startswith("not checked") else state
            print(f"| `{prefix}` | {seconds:.3f} s ({said}) | {budget.visited:,} | {whole:.2f}{cut} s "
                  f"| {unbounded.visited:,}{cut} | {whole / seconds:.0f}{cut} |")
    tree = sorted(args.prefixes, key=len)[-1]
    ours, theirs = walk_ratio(tree, args.repeat)
    print(f"\nruns' walk of {tree}: flowclass.scanning.walk {ours:.3f} s, os.walk {theirs:.3f} s, "
          f"ratio {ours / theirs:.2f} (medians of {args.repeat})")


if __name__ == "__main__":
    main()
