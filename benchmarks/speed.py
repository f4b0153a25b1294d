"""Speed and memory of the core clustering job, measured as ratios in one run.

Prints, for ~600 digit PNGs (64 px, the folder Orange was measured on):

1. images/s of the Embed node end to end (decode + preprocess + model + cache) against the
   bare model forward on pre-decoded tensors, at the workflow's precision and batch size,
   one batch at a time on all the model's threads (target: ratio >= 0.95); and against the
   bare forward with batches side by side, one per core, as the node now runs them (what
   the node's own work costs);
2. wall time of the whole `flowclass run workflows/cluster_folder.json` process cold (empty
   cache, model prepared), its first-ever run (the ONNX model is exported and quantised
   too), and an unchanged re-run into the same --out and into a new one (target: each
   <= 3 % of cold), with each process's peak memory;
3. the same job in Orange3 + Image Analytics (SqueezeNet, cosine, Ward, 10 clusters),
   each Orange run right after a FlowClass cold run, when an Orange virtualenv is there
   (target: FlowClass >= 10x faster pair by pair, ARI at least Orange's). Set
   ORANGE_PYTHON or create /work/orange-venv (benchmarks/ORANGE.md).

Every process runs with its modules' bytecode written and reused, as an installed
FlowClass has it (pip compiles it): PYTHONDONTWRITEBYTECODE is left out of their environment.

    python benchmarks/speed.py [--images-per-class 60] [--repeat 3] [--no-orange] [--workdir DIR]
    python benchmarks/speed.py --embed-only [--models DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "workflows" / "cluster_folder.json"
ORANGE = os.environ.get("ORANGE_PYTHON", "/work/orange-venv/bin/python")
# bytecode written once and reused, as an installed package has it
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def digits_folder(target: Path, per_class: int) -> Path:
    from nodes.lib.images.sample_images import write_sample

    everything = write_sample("digits", target.parent / "all-digits")
    for label in sorted(os.listdir(everything)):
        (target / label).mkdir(parents=True)
        for name in sorted(os.listdir(everything / label))[:per_class]:
            shutil.copyfile(everything / label / name, target / label / name)
    return target


CPU: dict[str, list[float]] = {}  # what -> CPU seconds (user + system) of each process


def timed_process(command: list[str], what: str = "") -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (MB) and stdout of one process (its CPU seconds,
    which a loaded machine disturbs less than wall time, go into CPU[what])."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                                   env=ENVIRONMENT)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        CPU.setdefault(what, []).append(usage.ru_utime + usage.ru_stime)
        if status != 0:
            errors.seek(0)
            raise RuntimeError(f"{command} failed: {output}{errors.read()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def bare_forward(embedder, tensors: np.ndarray, batch_size: int) -> tuple[float, float]:  # noqa: ANN001
    """(seconds, CPU seconds of the process) of the model alone on pre-decoded, pre-stacked
    tensors, after a warm-up batch: one batch after another, or (``embedder.batches_at_once``
    > 1) that many threads each giving it every n-th batch, as the Embed node's workers do."""
    import threading

    at_once = embedder.batches_at_once
    starts = list(range(0, len(tensors), batch_size))

    def run(mine: list[int]) -> None:
        for start in mine:
            embedder.forward(tensors[start:start + batch_size])

    run(starts[:at_once])  # warm up (each thread's first run allocates)
    threads = [threading.Thread(target=run, args=(starts[k::at_once],)) for k in range(at_once)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, time.process_time() - cpu


def embed_throughput(folder: Path, models: Path) -> tuple[float, float, float]:
    """(end-to-end images/s of the Embed node, bare forward images/s at the same precision
    and batch size with all the model's threads on one batch at a time, the same with
    batches side by side as the node runs them) on the same images."""
    from flowclass.cache import Cache
    from flowclass.engine import Engine
    from flowclass.library import default_registry
    from flowclass.overrides import apply_overrides
    from flowclass.workflow_file import load
    from nodes.lib.embedders.efficientnet import EfficientNetLite0
    from flowclass.userfiles.pictures import open_rgb

    registry = default_registry()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp) / "cache")  # the outputs go beside it, never inside
        shutil.copytree(models, cache.store_dir("models"), dirs_exist_ok=True)
        workflow = apply_overrides(load(WORKFLOW, registry), registry, [f"import.folder={folder}"])
        engine = Engine(registry, cache)
        engine.run(workflow, out_dir=Path(tmp) / "o", targets=["import"], manifest=False)
        result = engine.run(workflow, out_dir=Path(tmp) / "o", targets=["embed"], manifest=False)
        images = result.output("import", "images")
        end_to_end = len(images) / result.outcomes["embed"].seconds
        batch_size = workflow.node("embed").params["batch_size"]
    precision = workflow.node("embed").params["precision"]
    one_at_a_time = EfficientNetLite0(models, precision=precision, side_by_side=False)
    side_by_side = EfficientNetLite0(models, precision=precision)
    tensors = np.stack([one_at_a_time.preprocess(open_rgb(p)) for p in images.paths])
    return (end_to_end, len(tensors) / bare_forward(one_at_a_time, tensors, batch_size)[0],
            len(tensors) / bare_forward(side_by_side, tensors, batch_size)[0])


def file_creation(folder: Path, files: int = 300) -> float:
    """Seconds to create ``files`` empty files in a new folder inside ``folder``. A re-run into
    a new --out creates 600: on this machine's disk 300 took 3 ms at some times and 75 to 150
    ms at others (2026-12-07 08:05-08:30, in a new folder under /tmp, while one under /var/tmp
    on the same disk took 3 to 6 ms), which moves that re-run's figure more than FlowClass's
    own work does. Printed so that such a run is seen for what it is."""
    scratch = Path(tempfile.mkdtemp(dir=folder))
    started = time.perf_counter()
    for number in range(files):
        os.close(os.open(scratch / f"f{number}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    seconds = time.perf_counter() - started
    shutil.rmtree(scratch)
    return seconds


def prepared_models(tmp: Path) -> Path:
    """The models store of a cache where the int8 and float models are prepared."""
    from flowclass.cache import Cache
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    models = Cache(tmp / "models-cache").store_dir("models")
    EfficientNetLite0(models, precision="int8")  # exports and quantises once
    return models


def embed_rows(folder: Path, models: Path, repeat: int) -> list[str]:
    """The table's Embed rows: each repeat measures the node and both bare forwards back to
    back, and each ratio is the median of the repeats' own ratios. A first, untimed round
    warms both up as the bare model's first batch does (the node's first run in a process
    also imports onnxruntime, about 5 % of its time)."""
    embed_throughput(folder, models)
    pairs = [embed_throughput(folder, models) for _ in range(repeat)]
    ratio = float(np.median([e / b for e, b, _ in pairs]))
    ratio_side = float(np.median([e / b for e, _, b in pairs]))
    e2e, bare, bare_side = (float(np.median([p[i] for p in pairs])) for i in range(3))
    return [f"| Embed node end to end | {e2e:.0f} images/s |",
            f"| bare model forward (onnxruntime, pre-decoded, same precision and batch size, one "
            f"batch at a time on all the model's threads) | {bare:.0f} images/s |",
            f"| ratio end-to-end / bare (target >= 0.95) | {ratio:.2f} |",
            f"| bare model forward, batches side by side as Embed runs them | {bare_side:.0f} images/s |",
            f"| ratio end-to-end / bare side by side (what decoding, the store and progress cost) | "
            f"{ratio_side:.2f} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-class", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (median shown)")
    parser.add_argument("--no-orange", action="store_true", help="leave Orange out (quicker)")
    parser.add_argument("--embed-only", action="store_true", help="only the Embed node against the bare model")
    parser.add_argument("--models", type=Path, help="with --embed-only: a models store where the int8 "
                        "model is prepared already (else it is prepared first, about a minute)")
    parser.add_argument("--workdir", type=Path, help="the folder to make the runs' scratch folder in "
                        "(default: the system's temporary folder). On this machine's disk, creating "
                        "files in a folder where thousands were just deleted (a test run's /tmp) costs "
                        "up to 0.5 ms each, which the new --out re-run's 600 copies feel most")
    args = parser.parse_args()
    flowclass = [sys.executable, "-m", "flowclass.cli"]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        folder = digits_folder(tmp / "digits", args.images_per_class)
        count = sum(1 for _ in folder.rglob("*.png"))
        print(f"{count} digit PNGs (64 px) in {args.images_per_class * 10 // 10} per class; "
              f"{os.cpu_count()} CPU cores; medians of {args.repeat} runs\n")
        if args.embed_only:
            rows = embed_rows(folder, args.models or prepared_models(tmp), args.repeat)
            print(f"load average at the end: {os.getloadavg()[0]:.1f}\n")
            print("| measure | value |\n|---|---|\n" + "\n".join(rows))
            return

        def run(cache: Path, out: Path, what: str = "") -> tuple[float, float, str]:
            return timed_process(flowclass + ["run", str(WORKFLOW), "--quiet", "--cache", str(cache),
                                              "--out", str(out), "--set", f"import.folder={folder}"], what)

        first, first_mb, _ = run(tmp / "first-cache", tmp / "first-out")
        models = tmp / "first-cache" / "stores" / "models"
        orange_there = Path(ORANGE).exists() and not args.no_orange
        cold, cold_mb, rerun, rerun_mb, fresh, fresh_mb, engine_rerun, ari = [], [], [], [], [], [], [], 0.0
        orange = []
        for i in range(args.repeat):
            cache = tmp / f"cache{i}"
            from flowclass.cache import Cache

            shutil.copytree(models, Cache(cache).store_dir("models"), dirs_exist_ok=True)
            seconds, mb, _ = run(cache, tmp / f"out{i}", "cold")
            cold.append(seconds)
            cold_mb.append(mb)
            if orange_there:  # right after: the pair sees the same machine
                seconds, mb, out = timed_process([ORANGE, str(REPO / "benchmarks" / "orange_baseline.py"),
                                                  "--folder", str(folder), "--n-clusters", "10"])
                orange.append((seconds, mb, json.loads(out.strip().splitlines()[-1])))
            seconds, mb, _ = run(cache, tmp / f"out{i}", "same")
            rerun.append(seconds)
            rerun_mb.append(mb)
            engine_rerun.append(json.loads((tmp / f"out{i}" / "run.json").read_text())["seconds"])
            seconds, mb, _ = run(cache, tmp / f"new-out{i}", "new")
            fresh.append(seconds)
            fresh_mb.append(mb)
            table = pd.read_csv(tmp / f"out{i}" / "clusters.csv")
            ari = adjusted_rand_score(table["folder_label"], table["cluster"])
        rows = embed_rows(folder, models, args.repeat)
        cold_s, rerun_s, fresh_s = float(np.median(cold)), float(np.median(rerun)), float(np.median(fresh))

        print(f"load average at the end: {os.getloadavg()[0]:.1f}\n")
        print("| measure | value |\n|---|---|")
        print("\n".join(rows))
        print(f"| first-ever run (exports and quantises the model) | {first:.2f} s, peak {first_mb:.0f} MB |")
        print(f"| cold run (empty cache, model prepared) | {cold_s:.2f} s, peak {max(cold_mb):.0f} MB |")
        print(f"| unchanged re-run, same --out | {rerun_s:.2f} s, peak {max(rerun_mb):.0f} MB |")
        print(f"| unchanged re-run, new --out (the export, the table and the pictures copied) | "
              f"{fresh_s:.2f} s, peak {max(fresh_mb):.0f} MB |")
        print(f"| re-run / cold, whole process, same --out; new --out (target <= 3 %) | "
              f"{100 * rerun_s / cold_s:.1f} %; {100 * fresh_s / cold_s:.1f} % |")
        cpu = {what: float(np.median(CPU[what])) for what in ("cold", "same", "new")}
        print(f"| the same by CPU time (user + system, less disturbed by the load): cold; same; new "
              f"| {cpu['cold']:.2f} s; {cpu['same']:.2f} s ({100 * cpu['same'] / cpu['cold']:.1f} %); "
              f"{cpu['new']:.2f} s ({100 * cpu['new'] / cpu['cold']:.1f} %) |")
        engine_s = float(np.median(engine_rerun))
        print(f"| re-run inside the engine (run.json 'seconds'), / cold | {engine_s:.3f} s, "
              f"{100 * engine_s / cold_s:.1f} % |")
        floor = timed_process([sys.executable, "-c", "import numpy"])[0]
        print(f"| for scale: a process that only imports numpy | {floor:.2f} s |")
        print(f"| for scale: 300 new files in a new folder beside the outputs | {1000 * file_creation(tmp):.0f} ms |")
        print(f"| ARI of the clusters vs digit labels | {ari:.3f} |")

        if orange:
            orange_s = float(np.median([o[0] for o in orange]))
            speedups = [o[0] / c for o, c in zip(orange, cold)]
            print(f"| Orange3 + Image Analytics, same job, whole process | {orange_s:.2f} s, "
                  f"peak {max(o[1] for o in orange):.0f} MB |")
            print(f"| Orange ARI (SqueezeNet, cosine, Ward) | {orange[0][2]['ari']:.3f} |")
            print(f"| FlowClass cold speed-up over Orange, pair by pair (target >= 10x) | "
                  f"{np.median(speedups):.1f}x (min {min(speedups):.1f}x, max {max(speedups):.1f}x) |")
        else:
            why = "--no-orange" if args.no_orange else f"no {ORANGE}; see benchmarks/ORANGE.md"
            print(f"\n(Orange not measured: {why})")


if __name__ == "__main__":
    main()
