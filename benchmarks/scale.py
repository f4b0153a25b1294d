"""The clustering workflow at 10,000, 30,000 and 100,000 images: time per node, peak memory,
cache growth.

Each size is a folder of augmented digits (benchmarks/augmented.py: 10 true classes), run
as ``flowclass run workflows/cluster_folder.json`` in a fresh process with an empty cache.
The embedder is raw pixels at 36 x 36 gray (1,296 values per image, about the 1,280 of
EfficientNet-Lite0), so that embedding does not hide what clustering costs; pass
``--embedder efficientnet_lite0`` for the real thing. ``--method exact`` forces today's
exact path for comparison (it needs n²/2 float64 values: 30,000 images take about 7 GB).

    python benchmarks/scale.py --sizes 10000 30000 100000 [--method auto|exact] [--export]
    python benchmarks/scale.py --sizes 2000 --embedder efficientnet_lite0 --scheduler local:1 local:2 ""

With several ``--scheduler`` values each size runs once per scheduler (Dask LocalCluster
``local:N``, ``tcp://HOST:8786``, or ``""`` for this process's threads), and the Embed time
of each is given as a speed-up over the first.

Prints a markdown table; benchmarks/README.md keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def run_once(n: int, data: Path, work: Path, method: str, embedder: str, export: bool,
             scheduler: str | None) -> dict:
    """One cold run in its own process; its figures."""
    cache, out = work / f"cache-{n}-{method}", work / f"out-{n}-{method}"
    for folder in (cache, out):
        shutil.rmtree(folder, ignore_errors=True)
    sets = [f"import.folder={data}", f"embed.backend={embedder}", "embed.pixel_size=36",
            "embed.grayscale=true", f"cluster.method={method}"]
    command = [sys.executable, "-m", "flowclass.cli", "run", str(ROOT / "workflows" / "cluster_folder.json"),
               "--out", str(out), "--cache", str(cache), "-q"]
    if not export:
        command += ["--node", "table"]  # everything but Export to Folders
    if scheduler:
        command += ["--scheduler", scheduler]
    for item in sets:
        command += ["--set", item]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    manifest = out / "run.json"
    nodes = json.loads(manifest.read_text())["nodes"] if manifest.exists() else {}
    return {"n": n, "method": method, "ok": done.returncode == 0, "seconds": seconds, "peak_mb": peak,
            "cache_mb": folder_bytes(cache) / 1e6,
            "nodes": {k: round(v["seconds"], 1) for k, v in nodes.items()},
            "chosen": nodes.get("cluster", {}).get("records", {}).get("method", ""),
            "error": "" if done.returncode == 0 else (done.stderr or done.stdout).strip()[-400:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--method", default="auto", choices=("auto", "exact", "nearest_neighbours"))
    parser.add_argument("--embedder", default="pixels")
    parser.add_argument("--export", action="store_true", help="also run Export to Folders")
    parser.add_argument("--scheduler", nargs="+", default=[None],
                        help="pass --scheduler to flowclass run (Dask); several: one run each")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "flowclass-scale"))
    args = parser.parse_args()
    from benchmarks.augmented import write_folder

    work = Path(args.work)
    print("| images | where | method (chosen) | whole run s | import | embed | distances | cluster | table | export | peak MB | cache MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    embed_seconds = {}
    if args.embedder == "efficientnet_lite0" and any(args.scheduler):
        from flowclass.cache import Cache
        from nodes.lib.embedders.efficientnet import EfficientNetLite0

        EfficientNetLite0(Cache().store_dir("models"))  # workers' model folder: export it untimed
    for n in args.sizes:
        data = write_folder(n, work / f"digits-{n}")
        for scheduler in args.scheduler:
            # peak RSS of children is a running maximum: measure each run in a fresh parent
            if len(args.sizes) > 1 or len(args.scheduler) > 1:
                one = [sys.executable, __file__, "--sizes", str(n), "--method", args.method,
                       "--embedder", args.embedder, "--work", str(work)] \
                    + (["--export"] if args.export else []) + (["--scheduler", scheduler] if scheduler else [])
                lines = subprocess.run(one, capture_output=True, text=True).stdout.splitlines()
                print(lines[-1], flush=True)
                embed_seconds[n, scheduler] = _embed_cell(lines[-1])
                continue
            fig = run_once(n, data, work, args.method, args.embedder, args.export, scheduler)
            t = fig["nodes"]
            cells = [t.get(k, "") for k in ("import", "embed", "distances", "cluster", "table", "export")]
            status = "" if fig["ok"] else f" FAILED: {fig['error']}"
            print(f"| {n:,} | {scheduler or 'threads'} | {fig['method']} ({fig['chosen']}) | {fig['seconds']:.1f} | "
                  + " | ".join(str(c) for c in cells)
                  + f" | {fig['peak_mb']:.0f} | {fig['cache_mb']:.0f} |{status}", flush=True)
    if len(args.scheduler) > 1:
        first = args.scheduler[0]
        for n in args.sizes:
            for scheduler in args.scheduler[1:]:
                a, b = embed_seconds.get((n, first)), embed_seconds.get((n, scheduler))
                if a and b:
                    print(f"{n:,} images: Embed on {scheduler or 'threads'} is {a / b:.2f}x as fast "
                          f"as on {first or 'threads'}")


def _embed_cell(row: str) -> float | None:
    """The Embed seconds of a printed table row."""
    try:
        return float(row.split("|")[6])
    except (IndexError, ValueError):
        return None

if __name__ == "__main__":
    main()
