"""Unchanged re-runs against the cold run, this FlowClass against an earlier one, in one run.

For ``cluster_folder.json`` on 600 digit PNGs: a cold run (empty cache, model prepared) of
this checkout and of the earlier FlowClass (``--before``, a checkout of it, e.g.
``git archive <commit> | tar -x -C /tmp/before``), each on a cache of its own, then,
alternated, unchanged re-runs of each into the same ``--out`` and into a new one. Prints
each kind's median wall and CPU seconds (user + system of the process, less disturbed by
other work on the machine) and its share of this checkout's cold run, and apart those of
the first re-run of each kind after each cold run (the one ``speed.py`` times). Target (issue 18):
each re-run <= 3 % of cold. (One cache for both would make each re-run read the installed
packages' metadata again: the cache keeps what it read with the ``sys.path`` it was read
for, which alternates.)

    python benchmarks/reruns.py --before /tmp/before [--rounds 3] [--models STORE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from speed import digits_folder  # noqa: E402

ENVIRONMENT = {name: value for name, value in os.environ.items()
               if name not in ("PYTHONDONTWRITEBYTECODE", "FLOWCLASS_PREPARED", "PYTHONPATH")}


def timed_run(code: Path, cache: Path, out: Path, folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``flowclass run`` of the FlowClass checked out in ``code``."""
    args = [sys.executable, "-m", "flowclass.cli", "run", str(code / "workflows" / "cluster_folder.json"),
            "--quiet", "--cache", str(cache), "--out", str(out), "--set", f"import.folder={folder}"]
    started = time.perf_counter()
    process = subprocess.Popen(args, env={**ENVIRONMENT, "PYTHONPATH": str(code)}, cwd=code,
                               stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{args} failed")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout of the FlowClass to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="cold runs; 3 re-runs of each kind each")
    parser.add_argument("--images-per-class", type=int, default=60)
    parser.add_argument("--models", type=Path, help="a prepared models store to copy (default: "
                        "prepare one with a first run)")
    args = parser.parse_args()
    codes = {"this": REPO} if args.before is None else {"before": args.before.resolve(), "this": REPO}
    times: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = digits_folder(tmp / "digits", args.images_per_class)
        models = args.models
        if models is None:
            timed_run(REPO, tmp / "first-cache", tmp / "first-out", folder)  # prepares the model
            models = tmp / "first-cache" / "stores" / "models"
        from flowclass.cache import Cache

        for i in range(args.rounds):
            for name, code in codes.items():
                cache = tmp / f"cache{i}-{name}"
                shutil.copytree(models, Cache(cache).store_dir("models"), dirs_exist_ok=True)
                times.setdefault(f"cold, {name}", []).append(timed_run(code, cache, tmp / f"out{i}-{name}", folder))
            for k in range(3):
                for kind in ("same", "new"):
                    for name, code in codes.items():
                        out = tmp / f"out{i}-{name}" if kind == "same" else tmp / f"new{i}-{k}-{name}"
                        took = timed_run(code, tmp / f"cache{i}-{name}", out, folder)
                        times.setdefault(f"{kind} --out, {name}", []).append(took)
                        if k == 0:  # the re-run right after the cold run, as speed.py times it
                            times.setdefault(f"first {kind} --out after the cold run, {name}", []).append(took)
    cold_wall, cold_cpu = (statistics.median(t[n] for t in times["cold, this"]) for n in (0, 1))
    print(f"{args.images_per_class * 10} digit PNGs; {args.rounds} cold runs and {3 * args.rounds} re-runs of each kind, medians; load average "
          f"at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| run | wall | / cold | CPU | / cold |\n|---|---|---|---|---|")
    for what, found in times.items():
        wall, cpu = (statistics.median(t[n] for t in found) for n in (0, 1))
        print(f"| {what} | {wall:.3f} s | {100 * wall / cold_wall:.1f} % | {cpu:.3f} s | "
              f"{100 * cpu / cold_cpu:.1f} % |")


if __name__ == "__main__":
    main()
