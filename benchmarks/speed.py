"""Speed and memory of the core clustering job, measured as ratios in one run.

Prints, for ~600 digit PNGs (64 px, the folder Orange was measured on):

1. images/s of the Embed node end to end (decode + preprocess + model + cache) against the
   bare model forward on pre-decoded tensors, at the workflow's precision and batch size,
   one batch at a time on all the model's threads (target: ratio >= 0.95); and against the
   bare forward with batches side by side, one per core, as the node now runs them (what
   the node's own work costs): the median, quartiles and range of --embed-rounds rounds,
   the node and the bare forwards alternated, by wall time and by CPU time (which a loaded
   machine disturbs less), and the bare forward with onnxruntime's default options for scale;
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

Every scratch file (the digits, caches, output folders, each process's error output, the
Embed rows' caches) goes into one new folder, made in --workdir (default: the current
folder, not the system's temporary folder, where test runs delete thousands of files), and
nothing is deleted in it until every figure is measured. On this machine's disk (ext4
without a journal) creating a file near inodes freed in the last minute or more costs up to
0.5 ms instead of 10-20 us (benchmarks/README.md), which the new --out re-run's 600 copies
feel most; so the scratch folder's own removal comes last (--keep leaves it), followed by a
``sync`` (inodes freed while their inode table is not yet written back slow creates beside
them for minutes, not one: a run started next in the same folder would pay for them), and
300 files are created there at the start and at the end to show how the disk was doing.
The runs' processes start in an empty folder nothing writes to: ``python -m`` puts the
current folder on ``sys.path``, whose folders a re-run's witnesses check.

On a machine shared with other sessions the Embed ratios by wall time are noise (one run
beside test runs read 0.63 to 2.40 round by round): run it in an autogroup of its own with a
higher priority, where the others weigh little (as root: ``setsid sh -c 'echo -15 >
/proc/self/autogroup; exec nice -n -15 python benchmarks/speed.py --embed-only'``; plain
``nice`` acts only inside one's own autogroup), and read the quartiles it prints.

    python benchmarks/speed.py [--images-per-class 60] [--repeat 3] [--no-orange] [--workdir DIR] [--keep]
    python benchmarks/speed.py --embed-only [--models DIR] [--embed-rounds 9] [--workdir DIR] [--keep]
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
WALL: dict[str, list[float]] = {}  # what -> wall seconds of each process


def scratch_folder(workdir: Path | None) -> Path:
    """A new folder for every scratch file of this run, in ``workdir`` or the current folder."""
    parent = (workdir or Path.cwd()).resolve()
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"speed-scratch-{time.strftime('%Y%m%d-%H%M%S')}-", dir=parent))
    (scratch / "cwd").mkdir()  # where the runs' processes start: nothing is written there
    (scratch / "stderr").mkdir()
    return scratch


def timed_process(command: list[str], scratch: Path, what: str = "") -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (MB) and stdout of one process (its CPU seconds,
    which a loaded machine disturbs less than wall time, go into CPU[what]). Its error
    output goes to a file in the scratch folder, kept until the end (an unnamed temporary
    file would free an inode beside the next run's files)."""
    started = time.perf_counter()
    stderr = scratch / "stderr" / f"{sum(map(len, CPU.values()))}.txt"
    with open(stderr, "w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                                   env=ENVIRONMENT, cwd=scratch / "cwd")
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        CPU.setdefault(what, []).append(usage.ru_utime + usage.ru_stime)
        WALL.setdefault(what, []).append(seconds)
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


def node_throughput(folder: Path, models: Path, scratch: Path) -> tuple[float, float, list[str], int, str]:
    """(end-to-end images/s of the Embed node, CPU seconds per image of this process while it
    ran, the images' paths, the batch size, the precision) on a cache with no embeddings in
    a new folder of the scratch folder."""
    from flowclass.cache import Cache
    from flowclass.engine import Engine
    from flowclass.library import default_registry
    from flowclass.overrides import apply_overrides
    from flowclass.workflow_file import load

    registry = default_registry()
    work = Path(tempfile.mkdtemp(dir=scratch))
    cache = Cache(work / "cache")  # the outputs go beside it, never inside
    shutil.copytree(models, cache.store_dir("models"), dirs_exist_ok=True)
    workflow = apply_overrides(load(WORKFLOW, registry), registry, [f"import.folder={folder}"])
    engine = Engine(registry, cache)
    engine.run(workflow, out_dir=work / "o", targets=["import"], manifest=False)
    cpu = time.process_time()
    result = engine.run(workflow, out_dir=work / "o", targets=["embed"], manifest=False)
    cpu = time.process_time() - cpu
    paths = list(result.output("import", "images").paths)
    params = workflow.node("embed").params
    return (len(paths) / result.outcomes["embed"].seconds, cpu / len(paths), paths, params["batch_size"],
            params["precision"])


class Spinning:
    """The bare model one batch at a time on all its threads with onnxruntime's default
    session options, whose idle threads spin: the node's sessions turn spinning off (an
    Embed session has one thread a batch, where it changes nothing), and the target's
    reference keeps the node's options. Printed for scale only."""

    batches_at_once = 1

    def __init__(self, embedder) -> None:  # noqa: ANN001
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = embedder.threads
        self.session = ort.InferenceSession(str(embedder.onnx_file), options, providers=["CPUExecutionProvider"])

    def forward(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"images": batch})[0]


def file_creation(folder: Path, files: int = 300) -> float:
    """Seconds to create ``files`` empty files in a new folder inside ``folder`` (kept: the
    scratch folder goes at the very end). A re-run into a new --out creates 600: on this
    machine's disk 300 took 3 ms at some times and 75 to 150 ms at others (2026-12-07
    08:05-08:30, in a new folder under /tmp, while one under /var/tmp on the same disk took
    3 to 6 ms), which moves that re-run's figure more than FlowClass's own work does.
    Printed so that such a run is seen for what it is."""
    scratch = Path(tempfile.mkdtemp(dir=folder))
    started = time.perf_counter()
    for number in range(files):
        os.close(os.open(scratch / f"f{number}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    return time.perf_counter() - started


def prepared_models(tmp: Path) -> Path:
    """The models store of a cache where the int8 and float models are prepared."""
    from flowclass.cache import Cache
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    models = Cache(tmp / "models-cache").store_dir("models")
    EfficientNetLite0(models, precision="int8")  # exports and quantises once
    return models


def spread(values: list[float]) -> str:
    """Median, quartiles and range of ``values``, to two decimals."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"{median:.2f} (quartiles {q1:.2f}-{q3:.2f}, range {min(values):.2f}-{max(values):.2f})"


def embed_rows(folder: Path, models: Path, pairs: int, scratch: Path) -> list[str]:
    """The table's Embed rows from ``pairs`` rounds, each the node then the bare forwards or,
    every other round, the bare forwards then the node (a drift in the machine's state falls
    on both alike); each ratio is the median of the rounds' own ratios, shown with its
    quartiles and range. A first, untimed round warms everything up as the bare model's
    first batch does (the node's first run in a process also imports onnxruntime and
    starts its session, about 5 % of its time)."""
    from flowclass.userfiles.pictures import open_upright
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    _, _, paths, batch_size, precision = node_throughput(folder, models, scratch)
    one_at_a_time = EfficientNetLite0(models, precision=precision, side_by_side=False)
    bares = {"one": one_at_a_time, "side": EfficientNetLite0(models, precision=precision),
             "spinning": Spinning(one_at_a_time)}
    tensors = np.stack([one_at_a_time.preprocess(open_upright(p, one_at_a_time.draft_size)) for p in paths])
    rounds, loads = [], [os.getloadavg()[0]]
    for number in range(pairs):
        row: dict[str, tuple[float, float]] = {}
        for what in (["node", *bares] if number % 2 == 0 else [*reversed(bares), "node"]):
            if what == "node":
                row["node"] = node_throughput(folder, models, scratch)[:2]
            else:
                seconds, cpu = bare_forward(bares[what], tensors, batch_size)
                row[what] = (len(tensors) / seconds, cpu / len(tensors))
        rounds.append(row)
        loads.append(os.getloadavg()[0])
    speed = {what: float(np.median([row[what][0] for row in rounds])) for what in rounds[0]}
    cpu_ms = {what: 1000 * float(np.median([row[what][1] for row in rounds])) for what in rounds[0]}
    ratio = {what: [row["node"][0] / row[what][0] for row in rounds] for what in bares}
    by_cpu = {what: [row[what][1] / row["node"][1] for row in rounds] for what in bares}
    return [f"| Embed node end to end ({pairs} rounds, alternated with the bare forwards; load {min(loads):.1f}-"
            f"{max(loads):.1f}) | {speed['node']:.0f} images/s, {cpu_ms['node']:.2f} CPU ms an image |",
            f"| bare model forward (onnxruntime, pre-decoded, same precision, batch size and session options, "
            f"one batch at a time on all the model's threads) | {speed['one']:.0f} images/s, "
            f"{cpu_ms['one']:.2f} CPU ms an image |",
            f"| **ratio end-to-end / bare (target >= 0.95)**, median of the rounds | {spread(ratio['one'])} |",
            f"| the same by CPU time (the bare forward's CPU an image / the node's) | {spread(by_cpu['one'])} |",
            f"| bare model forward, batches side by side as Embed runs them | {speed['side']:.0f} images/s, "
            f"{cpu_ms['side']:.2f} CPU ms an image |",
            f"| ratio end-to-end / bare side by side (what decoding, the store and progress cost) | "
            f"{spread(ratio['side'])}; by CPU time {spread(by_cpu['side'])} |",
            f"| for scale: the bare forward one batch at a time with onnxruntime's default options (idle threads "
            f"spin), / it | {speed['spinning']:.0f} images/s, {cpu_ms['spinning']:.2f} CPU ms an image; "
            f"{spread(ratio['spinning'])} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-class", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (median shown)")
    parser.add_argument("--no-orange", action="store_true", help="leave Orange out (quicker)")
    parser.add_argument("--embed-only", action="store_true", help="only the Embed node against the bare model")
    parser.add_argument("--models", type=Path, help="with --embed-only: a models store where the int8 "
                        "model is prepared already (else it is prepared first, about a minute)")
    parser.add_argument("--embed-rounds", type=int, default=9, help="rounds of the Embed node against "
                        "the bare model, alternated (median and spread shown)")
    parser.add_argument("--workdir", type=Path, help="the folder to make the run's scratch folder in "
                        "(default: the current folder; not the system's temporary folder, where test "
                        "runs delete thousands of files). On this machine's disk, creating files near "
                        "thousands just deleted costs up to 0.5 ms each, which the new --out re-run's "
                        "600 copies feel most")
    parser.add_argument("--keep", action="store_true", help="leave the scratch folder at the end")
    args = parser.parse_args()
    scratch = scratch_folder(args.workdir)
    print(f"scratch folder: {scratch} (new; nothing in it is deleted until every figure is measured, "
          f"then it is {'kept' if args.keep else 'removed'})")
    try:
        measure(args, scratch)
    finally:
        if not args.keep:
            shutil.rmtree(scratch)
            # Inodes freed here slow down creating files beside them for a minute, and for
            # several while their inode table is not written back: write it back now
            os.sync()


def measure(args: argparse.Namespace, tmp: Path) -> None:
    flowclass = [sys.executable, "-m", "flowclass.cli"]
    folder = digits_folder(tmp / "digits", args.images_per_class)
    count = sum(1 for _ in folder.rglob("*.png"))
    created = file_creation(tmp)
    what = f"{args.embed_rounds} rounds" if args.embed_only else f"medians of {args.repeat} runs"
    print(f"{count} digit PNGs (64 px) in {args.images_per_class * 10 // 10} per class; "
          f"{os.cpu_count()} CPU cores; {what}; 300 new files in a new folder "
          f"there at the start: {1000 * created:.0f} ms; load average {os.getloadavg()[0]:.1f}\n")
    if args.embed_only:
        rows = embed_rows(folder, args.models or prepared_models(tmp), args.embed_rounds, tmp)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}\n")
        print("| measure | value |\n|---|---|\n" + "\n".join(rows))
        return

    def run(cache: Path, out: Path, what: str = "") -> tuple[float, float, str]:
        return timed_process(flowclass + ["run", str(WORKFLOW), "--quiet", "--cache", str(cache),
                                          "--out", str(out), "--set", f"import.folder={folder}"], tmp, what)

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
                                              "--folder", str(folder), "--n-clusters", "10"], tmp)
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
    rows = embed_rows(folder, models, args.embed_rounds, tmp)
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
    floor = timed_process([sys.executable, "-c", "import numpy"], tmp)[0]
    print(f"| for scale: a process that only imports numpy | {floor:.2f} s |")
    print("| each same --out; new --out re-run, wall (CPU) | " + "; ".join(
        f"{WALL['same'][i]:.2f} ({CPU['same'][i]:.2f}) s; {WALL['new'][i]:.2f} ({CPU['new'][i]:.2f}) s"
        for i in range(args.repeat)) + " |")
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
