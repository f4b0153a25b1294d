"""Where a network runs: the CPU, or a CUDA GPU when one is there.

``auto`` picks CUDA when PyTorch sees a GPU and the CPU otherwise. On a machine with no
NVIDIA driver the check costs nothing (torch is not even imported). Vectors from either
device agree to about 1e-5 (TF32 is turned off), so they share the per-image store.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowclass.cores import available_cores
from flowclass.errors import NodeError

DEVICES = ("auto", "cpu", "cuda")
GPU_MIN_BATCH = 256  # a GPU wants big batches; a CPU is fastest with small ones


def model_threads() -> int:
    """The CPU threads a model may use: ``OMP_NUM_THREADS`` where it is set, else every core
    this process may use.

    A Dask worker's process has it set to 1 (each of the worker's threads runs one job), so
    N workers on one machine use N cores, not N times all of them.
    """
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return available_cores()


def nvidia_driver_present() -> bool:
    return Path("/proc/driver/nvidia").exists() or bool(os.environ.get("CUDA_VISIBLE_DEVICES"))


def cuda_available() -> bool:
    if not nvidia_driver_present():
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(requested: str) -> str:
    """``cpu`` or ``cuda``; asking for CUDA where there is none is an error on the field."""
    if requested == "cpu":
        return "cpu"
    available = cuda_available()
    if requested == "cuda" and not available:
        raise NodeError("device is 'cuda' but no CUDA GPU is usable here (no NVIDIA driver, or "
                        "PyTorch was built without CUDA)", field="device",
                        hint="choose 'auto' to use a GPU when there is one, or 'cpu'")
    return "cuda" if available else "cpu"


def torch_on(device: str) -> None:
    """Settings for exact float32 on a GPU (TF32 would change vectors by about 1e-3)."""
    if device == "cuda":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
