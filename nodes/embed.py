"""Embed: one vector per image, from a pretrained network or from plain pixels/colours.

Images are decoded and preprocessed in worker threads while the model runs on the
previous batch, and vectors are remembered per image (by content hash and embedder), so
only new pictures cost anything. Images that fail to decode are skipped and listed.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import numpy as np

from flowclass.context import RunContext
from flowclass.cores import available_cores
from flowclass.errors import NodeError
from flowclass.fsutil import file_stamp
from flowclass.node import Input, Output, node
from flowclass.params import Bool, Choice, Int, Text
from flowclass.userfiles.pictures import BadImage, open_upright

from .datatypes import EMBEDDINGS, IMAGES, TABLE, Embeddings, ImageSet
from .images import skipped_table
from .lib.embedders import Embedder, spec_id
from .lib.embedders.openclip import weights_param
from .lib.embedders.store import EmbeddingStore

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor
    from pathlib import Path

    Task = Callable[[Embedder, list[str]], tuple[np.ndarray | None, list[str]]]  # _load_batch or Turns.embed

BACKENDS = ("efficientnet_lite0", "open_clip", "pixels", "colour_histogram")
NETWORKS = ("efficientnet_lite0", "open_clip")  # the backends that can run on a GPU
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("int8", "fp32")  # see lib.embedders.efficientnet


def make_embedder(ctx: RunContext, params: Mapping[str, Any]) -> Embedder:
    """Build the chosen backend; heavy imports happen here, only when embedding is needed."""
    backend = params["backend"]
    if backend in NETWORKS:
        from .lib.embedders.devices import resolve_device

        device = resolve_device(params.get("device", "auto"))
    if backend == "efficientnet_lite0":
        from .lib.embedders.efficientnet import EfficientNetLite0

        return EfficientNetLite0(ctx.store_dir("models"), device=device,
                                 precision=params.get("precision", "fp32"))
    if backend == "open_clip":
        from .lib.embedders.openclip import OpenClipEmbedder

        return OpenClipEmbedder(params["clip_model"], params["clip_weights"], ctx.base_dir, device)
    from .lib.embedders.classic import ColourHistogram, RawPixels

    if backend == "pixels":
        return RawPixels(params["pixel_size"], params["grayscale"], params["binarize"],
                         params["threshold"])
    return ColourHistogram(params["histogram_space"], params["histogram_bins"])


# The Embed parameters each backend reads: two Embed nodes make the same vectors when
# these agree (batch_size never changes a vector).
BACKEND_PARAMS = {
    "efficientnet_lite0": ("precision",),
    "open_clip": ("clip_model", "clip_weights"),
    "pixels": ("pixel_size", "grayscale", "binarize", "threshold"),
    "colour_histogram": ("histogram_space", "histogram_bins"),
}


def embedder_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The Embed parameters that decide the vectors: the backend and what it reads."""
    backend = params["backend"]
    settings = {"backend": backend, **{k: params[k] for k in BACKEND_PARAMS.get(backend, ())}}
    if backend == "pixels" and not settings["binarize"]:
        settings.pop("threshold")  # only a binarising embedder reads it
    return settings


def describe_settings(settings: Mapping[str, Any]) -> str:
    """``pixels (Pixel size (pixel_size) = 16, Grayscale (grayscale) = True)``: one line for
    messages, naming each setting as the Embed node's fields label it (and its --set key)."""
    rest = ", ".join(embed.param(k).named(v) for k, v in settings.items() if k != "backend")
    return f"{settings['backend']}" + (f" ({rest})" if rest else "")


def params_from_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Embed parameters that rebuild the embedder a spec describes (see each backend's spec)."""
    backend = spec.get("backend")
    pre = spec.get("preprocessing") or {}
    params: dict[str, Any] = {"backend": backend, "clip_model": "", "clip_weights": "",
                              "pixel_size": 16, "grayscale": True, "binarize": False,
                              "threshold": 128, "histogram_space": "hsv", "histogram_bins": 8}
    if backend == "pixels":
        params.update(pixel_size=pre["size"], grayscale=pre["grayscale"], binarize=pre["binarize"],
                      threshold=pre["threshold"] if pre.get("threshold") is not None else 128)
    elif backend == "colour_histogram":
        params.update(histogram_space=pre["space"], histogram_bins=pre["bins"])
    elif backend == "open_clip":
        params.update(clip_model=spec["model"], clip_weights=spec["weights"])
    elif backend == "efficientnet_lite0":  # int8 runs on a CPU, float16 on a GPU
        precision = spec.get("precision", "fp32")
        params["precision"] = "fp32" if precision == "fp32" else "int8"
        if precision != "fp32":  # the same vectors again: the same kind of device
            params["device"] = "cuda" if precision == "fp16" else "cpu"
    elif backend not in BACKENDS:
        raise ValueError(f"unknown embedder backend {backend!r}")
    return params


def preparing(ctx: RunContext, backend: str, precision: str = "fp32") -> str:
    """The first phase of an Embed run, as the canvas and the terminal show it."""
    if backend == "efficientnet_lite0":
        from .lib.embedders.efficientnet import model_path

        if not model_path(ctx.store_dir("models"), precision).exists():
            return "preparing the model (only on the first run)"
    return "loading the model" if backend in ("efficientnet_lite0", "open_clip") else "starting"


def _load_batch(embedder: Embedder, paths: list[str]) -> tuple[np.ndarray | None, list[str]]:
    """One batch, ready for the model: the stacked arrays of the images that decoded, and
    per image "" or the reason it could not be read. Runs in a worker thread.

    An embedder with ``preprocess_into`` and ``input_shape`` writes each image straight
    into its row of the batch: stacking afterwards was about a quarter of the CPU of making
    a batch ready (benchmarks/embed_overhead.py)."""
    errors: list[str] = []
    draft = getattr(embedder, "draft_size", None)
    fill = getattr(embedder, "preprocess_into", None)
    rows = np.empty((len(paths), *embedder.input_shape), dtype=np.float32) if fill else None
    arrays: list[np.ndarray] = []
    decoded = 0
    for path in paths:
        try:
            image = open_upright(path, draft)
            if rows is not None:
                fill(image, rows[decoded])
            else:
                arrays.append(embedder.preprocess(image))
            decoded += 1
            errors.append("")
        except BadImage as exc:
            errors.append(str(exc))
    if not decoded:
        return None, errors
    return (rows[:decoded] if rows is not None else np.stack(arrays)), errors


# Workers take turns at decoding while one batch's decoding, times the other workers, takes
# at most this share of a model run: their turns then fit into each other's model runs with
# room to spare. Near 1 they would not (photos: one wait cost 20 % of a 48-photo run).
SHORT_DECODING = 0.25


class Turns:
    """Workers running batches side by side decode one at a time while decoding is short
    against the model, each waiting for the other's decoding to end.

    Decoding small pictures is mostly Python (Pillow's plugins, the calls around its C),
    which holds the GIL: two workers decoding at once take turns at it many times per
    picture, each turn a thread woken, and on 600 digit PNGs a batch decoded beside the
    other worker's took 1.4-2.3x the wall time of one decoded alone, while the model, which
    does not hold the GIL, could have used the core (benchmarks/README.md). Waiting costs
    nothing while the workers' decoding fits well into a model run (SHORT_DECODING); where
    it does not (large photos, whose decoding is mostly C that lets the GIL go), the workers
    decode side by side as before. A wait lasts at most as long as a batch's decoding
    lasted: a worker stopped mid-decoding (a busy machine) holds the others no longer.
    Nothing here changes a vector: only when each batch is decoded."""

    def __init__(self, workers: int):
        import threading

        self.workers = workers
        self.lock = threading.Lock()
        self.decoding = 0.0  # seconds the last batch took to decode, 0 until one has
        self.model = 0.0  # and to run through the model

    def wait(self) -> float:
        """How long a worker may wait for another's decoding: 0 where it should not."""
        short = self.decoding * (self.workers - 1) <= self.model * SHORT_DECODING
        return self.decoding if self.decoding and short else 0.0

    def embed(self, embedder: Embedder, paths: list[str]) -> tuple[np.ndarray | None, list[str]]:
        """One batch decoded (in turn) and run through the model, in a worker thread: the
        vectors of the images that decoded, and per image "" or the reason it could not be read."""
        import time

        wait = self.wait()
        held = self.lock.acquire(timeout=wait) if wait else False
        started = time.perf_counter()
        try:
            stacked, errors = _load_batch(embedder, paths)
        finally:
            decoded = time.perf_counter()
            if held:
                self.lock.release()
        vectors = embedder.forward(stacked) if stacked is not None else None
        self.decoding, self.model = decoded - started, time.perf_counter() - decoded
        return vectors, errors

    def after_decoding(self) -> None:
        """Wait, as a worker would, until no worker is decoding: the node's own thread keeps
        a batch's vectors (SQLite, numpy) just as its worker decodes the next batch, and
        would take turns at the GIL with it."""
        wait = self.wait()
        if wait and self.lock.acquire(timeout=wait):
            self.lock.release()


def batch_bounds(count: int, batch_size: int, at_once: int = 1) -> list[tuple[int, int]]:
    """(start, stop) of each batch of ``count`` images: whole batches of ``batch_size``,
    except that where ``at_once`` batches run side by side, the images after the last full
    round of them are shared out evenly, one part per worker. The workers then finish
    together, instead of one running the last batch alone while the others wait (on 600
    digits in batches of 8 on 2 cores: half a batch, about 1 % of the node's time). A
    vector does not depend on the batch it is in, so this changes no bit
    (tests/test_embed.py)."""
    whole = count - count % (batch_size * at_once)
    bounds = [(start, min(start + batch_size, count)) for start in range(0, whole, batch_size)]
    parts = min(at_once, count - whole)
    cuts = [whole + (count - whole) * part // parts for part in range(parts + 1)] if parts else []
    return bounds + list(zip(cuts, cuts[1:]))


def _in_order(pool: ThreadPoolExecutor, task: Task, embedder: Embedder, paths: list[str],
              bounds: list[tuple[int, int]], depth: int) -> Iterator[tuple[np.ndarray | None, list[str]]]:
    """``task`` of each batch in order, with up to ``depth`` more under way while one is in use."""
    queued: list[Future] = []
    for start, stop in bounds:
        queued.append(pool.submit(task, embedder, paths[start:stop]))
        if len(queued) > depth:
            yield queued.pop(0).result()
    while queued:
        yield queued.pop(0).result()


Keep = Callable[[int, list[Any]], None]  # (index of a batch's first path, its vectors)


def compute_vectors(ctx: RunContext, embedder: Embedder, paths: list[str], batch_size: int,
                    done_before: int = 0, total: int | None = None, device: str = "auto",
                    keep: Keep | None = None) -> tuple[list[np.ndarray | None], list[str]]:
    """Vectors of ``paths`` (None where an image failed) and the failure reasons ("" if none).

    Decoding runs in worker threads, so the main thread never decodes. A model that runs
    batches side by side (``batches_at_once``, EfficientNet on a CPU) is run by the workers
    too, each decoding a batch and embedding it on its own core: no core waits for another,
    as one batch's threads do at every layer. Otherwise the workers decode a few batches
    ahead of the model, which this thread runs. On a cluster (``ctx.remote``)
    batches of paths go to the workers instead, which decode and embed them there, each on
    the ``device`` the node asked for (a worker's GPU can be used though this machine has none).
    ``keep`` is handed each batch's vectors as soon as they are made, before the run may be
    cancelled: what a Cancel, a crash or a kill stops is not lost.
    """
    total = len(paths) if total is None else total
    keep = keep or (lambda start, vectors: None)
    if ctx.remote:
        return _compute_on_cluster(ctx, embedder, paths, batch_size, done_before, total, device, keep)
    vectors: list[np.ndarray | None] = []
    errors: list[str] = []
    on_gpu = getattr(embedder, "device", "cpu") == "cuda"
    if on_gpu:  # a GPU eats big batches, and decoding needs every core to keep up
        from .lib.embedders.devices import GPU_MIN_BATCH

        batch_size = max(batch_size, GPU_MIN_BATCH)
    side_by_side = getattr(embedder, "batches_at_once", 1)
    turns = Turns(side_by_side) if side_by_side > 1 else None
    task: Task = turns.embed if turns else _load_batch
    workers = side_by_side if side_by_side > 1 else \
        available_cores() if on_gpu else min(4, available_cores())
    ctx.progress(done_before, total, unit="images", message="decoding the first images")
    from concurrent.futures import ThreadPoolExecutor  # imports logging: not for a re-run

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        bounds = batch_bounds(len(paths), batch_size, side_by_side)
        for result, batch_errors in _in_order(pool, task, embedder, paths, bounds, depth=workers + 1):
            if turns:
                turns.after_decoding()
            elif result is not None:
                result = embedder.forward(result)
            out = iter(result) if result is not None else iter(())
            batch = [None if error else np.asarray(next(out), dtype=np.float32) for error in batch_errors]
            keep(len(vectors), batch)
            vectors.extend(batch)
            errors.extend(batch_errors)
            ctx.progress(done_before + len(vectors), total, unit="images", message="embedding")
    finally:  # a Cancel waits for the batches under way, not for those queued behind them
        pool.shutdown(cancel_futures=True)
    return vectors, errors


CLUSTER_TASK_IMAGES = 128  # images per cluster job: few round trips, yet work for every worker


def _compute_on_cluster(ctx: RunContext, embedder: Embedder, paths: list[str], batch_size: int,
                        done_before: int, total: int, device: str, keep: Keep
                        ) -> tuple[list[np.ndarray | None], list[str]]:
    """``compute_vectors`` on the run's cluster: a job is a batch of paths and the
    parameters that rebuild the embedder (the images must be readable by the workers).
    Records the devices and runtimes the workers used."""
    # the node's device, unless the spec ties its vectors to one (int8: CPU)
    params = {"device": device, **params_from_spec(embedder.spec)}
    step = max(batch_size, CLUSTER_TASK_IMAGES)
    jobs = [(params, str(ctx.base_dir), paths[start:start + step], batch_size)
            for start in range(0, len(paths), step)]
    done = [done_before]

    def on_done(index: int, result: tuple[np.ndarray | None, list[str], dict[str, str]]) -> None:
        keep(index * step, _rows(*result[:2]))
        done[0] += len(result[1])
        ctx.progress(done[0], total, unit="images", message="on the cluster")

    vectors: list[np.ndarray | None] = []
    errors: list[str] = []
    used: dict[str, set[str]] = {"device": set(), "runtime": set()}
    for matrix, batch_errors, where in ctx.map(embed_job, jobs, on_done=on_done):
        vectors.extend(_rows(matrix, batch_errors))
        errors.extend(batch_errors)
        for key, value in where.items():
            used[key].add(value)
    for key, values in used.items():
        if values:  # one value, or the list when workers differ (some with a GPU, some without)
            ctx.record(key, values.pop() if len(values) == 1 else sorted(values))
    return vectors, errors


def _rows(matrix: np.ndarray | None, errors: list[str]) -> list[np.ndarray | None]:
    """A job's vectors one per path: None where the image failed (it has no row)."""
    rows = iter(matrix) if matrix is not None else iter(())
    return [None if error else next(rows) for error in errors]


_WORKER_EMBEDDERS: dict[str, Embedder] = {}  # per worker process: each model is built once


class _WorkerContext:
    """What ``make_embedder`` needs on a cluster worker: that machine's own model folder."""

    def __init__(self, base_dir: str):
        from flowclass.cache import Cache

        self.base_dir, self.store_dir = base_dir, Cache().store_dir


def embed_job(job: tuple[dict[str, Any], str, list[str], int]
              ) -> tuple[np.ndarray | None, list[str], dict[str, str]]:
    """A cluster job: decode and embed a batch of paths; (vectors of those that decoded,
    per path "" or why it failed, the device and runtime used). Runs on a worker, which
    resolves the node's ``device`` itself; the embedder is kept for later jobs."""
    params, base_dir, paths, batch_size = job
    key = json.dumps([params, base_dir], sort_keys=True)
    if key not in _WORKER_EMBEDDERS:
        try:
            _WORKER_EMBEDDERS[key] = make_embedder(_WorkerContext(base_dir), params)
        except NodeError as exc:  # say which machine, since the user's own may be fine
            import socket

            raise NodeError(f"on the cluster worker {socket.gethostname()}: {exc.message}",
                            field=exc.field, hint=exc.hint) from None
    embedder = _WORKER_EMBEDDERS[key]
    parts, errors = [], []
    for start in range(0, len(paths), batch_size):
        stacked, batch_errors = _load_batch(embedder, paths[start:start + batch_size])
        if stacked is not None:
            parts.append(np.asarray(embedder.forward(stacked), dtype=np.float32))
        errors.extend(batch_errors)
    where = {"device": getattr(embedder, "device", "cpu")}
    if hasattr(embedder, "runtime"):
        where["runtime"] = embedder.runtime
    return (np.concatenate(parts) if parts else None), errors, where


def _embed_fingerprint(ctx: RunContext, params: Mapping[str, Any]) -> str:
    """What the backend reads besides its inputs: the weights file (cheap stat, no torch),
    told to ``ctx.reads``."""
    if params["backend"] == "efficientnet_lite0":
        from .lib.embedders.efficientnet import weights_identity

        return weights_identity(ctx.reads)
    if params["backend"] == "open_clip":  # what it reads of open_clip's own store: not told
        weights = params["clip_weights"]
        path = os.path.join(str(ctx.base_dir), os.path.expanduser(weights))
        if os.path.isfile(path):
            return f"{path}:{file_stamp(path)}"
        return weights
    ctx.reads.all_told()  # pixels and colour histograms read nothing but their inputs
    return ""


CLIP = {"backend": ("open_clip",)}
PIXELS = {"backend": ("pixels",)}
HISTOGRAM = {"backend": ("colour_histogram",)}


@node(
    type="embed", title="Embed Images", category="Embedding",
    # v2: device; v3: precision, int8 for new nodes, float32 kept where a workflow had it
    version=3, migrations={1: lambda params: {"device": "auto", **params},
                           2: lambda params: {"precision": "fp32", **params}},
    inputs=[Input("images", IMAGES)],
    outputs=[Output("embeddings", EMBEDDINGS),
             Output("skipped", TABLE, help="Images that could not be decoded, with the reason.")],
    params=[
        Choice(name="backend", default="efficientnet_lite0", choices=BACKENDS,
               choice_titles={"efficientnet_lite0": "EfficientNet-Lite0, ImageNet (offline default)",
                              "open_clip": "open_clip (CLIP) model",
                              "pixels": "Raw pixels (resize, grayscale, binarise)",
                              "colour_histogram": "Colour histogram"},
               help="How images become vectors."),
        Int(name="batch_size", default=8, min=1, max=512,
            help="Images per model call; small batches are fastest on a CPU (on a GPU at "
                 "least 256 are used)."),
        Choice(name="device", default="auto", choices=DEVICES,
               shown_when={"backend": NETWORKS},
               choice_titles={"auto": "GPU when there is one, else CPU", "cpu": "CPU",
                              "cuda": "NVIDIA GPU (CUDA)"},
               help="Where the network runs; run.json records which was used."),
        Choice(name="precision", default="int8", choices=PRECISIONS,
               shown_when={"backend": ("efficientnet_lite0",)},
               choice_titles={"int8": "int8 on a CPU, float16 on a GPU (faster)",
                              "fp32": "float32 (exact)"},
               help="int8 runs about 2x faster on a CPU; its vectors keep a cosine of about "
                    "0.98 to the float32 ones, and clusters and accuracies stay as good "
                    "(benchmarks/int8.py)."),
        Text(name="clip_model", default="ViT-B-32", allow_empty=False, shown_when=CLIP,
             help="open_clip model name, e.g. ViT-B-32."),
        weights_param(shown_when=CLIP,
                      help="A pretrained tag already in your cache, a path to a local weights file, "
                           "or 'random' (untrained, for testing a pipeline only)."),
        Int(name="pixel_size", default=16, min=2, max=512, shown_when=PIXELS,
            help="Images are resized to N x N pixels."),
        Bool(name="grayscale", default=True, shown_when=PIXELS,
             help="Average the colour channels into one."),
        Bool(name="binarize", default=False, shown_when=PIXELS,
             help="Turn each pixel into 0 (dark) or 1 (light) at the threshold."),
        Int(name="threshold", default=128, min=0, max=255, shown_when=PIXELS,
            help="Gray level from which a pixel counts as light."),
        Choice(name="histogram_space", default="hsv", choices=("rgb", "hsv", "lab"),
               shown_when=HISTOGRAM, help="Colour space of the histogram."),
        Int(name="histogram_bins", default=8, min=2, max=32, shown_when=HISTOGRAM,
            help="Bins per colour channel (the vector has bins^3 entries)."),
    ],
    fingerprint=_embed_fingerprint,
    keeps_progress=True,  # vectors are stored batch by batch (embed_images)
)
def embed(ctx: RunContext, *, images: ImageSet, backend, batch_size, device, precision, clip_model, clip_weights,
          pixel_size, grayscale, binarize, threshold, histogram_space, histogram_bins):
    """Turn each image into a feature vector with a pretrained network, pixels or colours."""
    params = dict(backend=backend, device=device, precision=precision, clip_model=clip_model,
                  clip_weights=clip_weights,
                  pixel_size=pixel_size, grayscale=grayscale, binarize=binarize,
                  threshold=threshold, histogram_space=histogram_space,
                  histogram_bins=histogram_bins)
    # no count yet: what is already stored is looked up once the model is known (a resumed
    # run said 0 / N here, and then jumped to the kept count)
    ctx.progress(0, None, message=preparing(ctx, backend, precision))
    # on a cluster the workers run the model, each on the device asked for; this machine
    # only needs the embedder's description, so its own lack of a GPU is no error
    embedder = make_embedder(ctx, {**params, "device": "cpu"} if ctx.remote else params)
    ctx.record("embedder", embedder.spec)
    embeddings, skipped = embed_images(ctx, embedder, images, batch_size, device)
    if not ctx.remote:  # a cluster run records what its workers used
        ctx.record("device", getattr(embedder, "device", "cpu"))
        if hasattr(embedder, "runtime"):
            ctx.record("runtime", embedder.runtime)  # e.g. onnxruntime-cpu, torch-cuda
    return {"embeddings": embeddings, "skipped": skipped_table(skipped, ctx)}


def _prepare(ctx: RunContext, embedder: Embedder) -> None:
    """Start loading the model in the background (once), e.g. while the first batches decode."""
    if hasattr(embedder, "prepare") and not ctx.remote:
        embedder.prepare()


def _store(folder: Path, new: bool) -> Callable[[], EmbeddingStore]:
    """The embedding store, as a call that gives it. A new one is made in a thread
    meanwhile: making a database waits for the disk (12-24 ms at load 4, as long as the
    first batch's decoding and more), and only keeping the first vectors needs it, not
    decoding and embedding them."""
    if not new:
        store = EmbeddingStore(folder)
        return lambda: store
    from concurrent.futures import ThreadPoolExecutor

    making = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding-store")
    made = making.submit(EmbeddingStore, folder)
    making.shutdown(wait=False)  # its thread ends once the store is made
    return made.result


def _close_later(store: EmbeddingStore) -> None:
    """Close the store in a thread of its own. Closing a store's last connection copies its
    write-ahead log into the database and waits for the disk twice (15 ms of a 600-image
    run's 1.3 s, 2 ms of it CPU: benchmarks/README.md); every batch is committed already
    (a kill loses none), so the node need not wait. Not a daemon: the process waits for it."""
    import threading

    threading.Thread(target=store.close, name="embedding-store-close").start()


def embed_images(ctx: RunContext, embedder: Embedder, images: ImageSet, batch_size: int,
                 device: str = "auto") -> tuple[Embeddings, list[tuple[str, str]]]:
    """Embeddings of the images that decode, and (path, reason) of those that do not.

    Vectors are looked up per image (by content hash and embedder) first; only the
    others are computed, each distinct content once, and remembered batch by batch as they
    are made, so a run stopped half-way (Cancel, a crash, kill -9) is resumed by the next
    one where it stopped. The images left are then batched on from there (the stored ones
    are a prefix of whole batches), and a vector does not depend on the batch it is in, so
    the vectors are the same to the bit. ``device`` is the node's setting (auto, cpu, cuda), which
    cluster workers resolve for themselves.
    """
    model_id = spec_id(embedder.spec)
    hashes = images.hashes.tolist()
    folder = ctx.store_dir("embeddings")
    new_store = bool(hashes) and not EmbeddingStore.made(folder)  # a first run: every image is new
    if new_store:
        _prepare(ctx, embedder)  # the model loads while the store is made (the disk's waits)
    store = _store(folder, new_store)
    try:
        known = {} if new_store else store().get_many(model_id, hashes)
        todo: dict[str, str] = {}  # content hash -> a path with that content
        for path, sha in zip(images.paths.tolist(), hashes):
            if sha not in known:
                todo.setdefault(sha, path)
        failed: dict[str, str] = {}
        if todo:
            _prepare(ctx, embedder)
            shas = list(todo)

            def keep(start: int, batch: list[Any]) -> None:
                store().put_many(model_id, [(sha, v) for sha, v in zip(shas[start:start + len(batch)], batch)
                                            if v is not None])

            vectors, errors = compute_vectors(ctx, embedder, list(todo.values()), batch_size,
                                              len(known), len(known) + len(todo), device, keep)
            known.update((sha, v) for sha, v in zip(shas, vectors) if v is not None)
            failed = {sha: err for sha, err in zip(todo, errors) if err}
    finally:
        _close_later(store())
    skipped = [(path, failed[sha]) for path, sha in zip(images.paths.tolist(), hashes)
               if sha in failed]
    if skipped:
        ctx.warn(f"{len(skipped)} image(s) could not be decoded; see the 'skipped' output")
    kept = images.subset([i for i, sha in enumerate(hashes) if sha in known])
    matrix = np.stack([known[sha] for sha in kept.hashes.tolist()]) if len(kept) else \
        np.zeros((0, int(embedder.spec["dim"])), dtype=np.float32)
    return Embeddings(kept, matrix.astype(np.float32, copy=False), dict(embedder.spec)), skipped


NODES = [embed]
VIEWERS = ["nodes.viewers.maps"]  # 2-D maps of embeddings and labelled images
