"""open_clip models, from a local weights file or the user's cache; never downloaded.

``weights`` is one of: a pretrained tag of the model (``laion2b_s34b_b79k``), looked up in
the Hugging Face / open_clip caches only; a path to a local weights file; or ``random``
(untrained weights, seeded, only useful to test a pipeline). A tag that is not cached is a
clear error that says how to get the file — FlowClass does not download at run time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flowclass.errors import NodeError
from flowclass.params import Path as PathParam
from flowclass.userfiles.pictures import BadImage

from . import file_sha256

if TYPE_CHECKING:
    from PIL import Image

PREPROCESSING_VERSION = 2


WEIGHTS_FILES = (".pt", ".pth", ".bin", ".safetensors")
# The longest side a picture may have, in its shorter sides: CLIP's preprocessing first scales
# the shorter side to 224 pixels, and a stranger's 1 x 100,000 PNG became 15 GB. No photo is
# this narrow (a full panorama is about 8:1); at 64:1 the scaled picture is under 10 MB.
MAX_ASPECT = 64


def weights_param(help: str, **options: Any) -> PathParam:
    """The ``clip_weights`` parameter of the nodes that load open_clip: a pretrained tag
    (a name) or a weights file (a path, held to the canvas's folders like any path)."""
    return PathParam(name="clip_weights", default="laion2b_s34b_b79k", target="file", role="input",
                     names=True, extensions=WEIGHTS_FILES, help=help, **options)


def looks_like_path(weights: str) -> bool:
    return not _WEIGHTS.is_name(weights)


_WEIGHTS = weights_param("")


def cached_weights_file(model: str, tag: str) -> str | None:
    """Where a pretrained tag's weights already lie on this machine, if anywhere."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(model, tag)
    if not cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise NodeError(f"open_clip has no pretrained tag '{tag}' for model '{model}' "
                        f"(tags: {known})", field="clip_weights")
    if cfg.get("file"):
        return cfg["file"] if os.path.isfile(cfg["file"]) else None
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(cfg["hf_hub"])
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str) and os.path.isfile(found):
                return found
        return None
    if cfg.get("url"):
        candidate = os.path.expanduser(os.path.join("~/.cache/clip", os.path.basename(cfg["url"])))
        return candidate if os.path.isfile(candidate) else None
    return None


@dataclass
class OpenClip:
    """A loaded open_clip model with its image transform, tokenizer and exact spec."""

    model: Any
    transform: Any
    tokenizer: Any
    spec: dict[str, Any]


def load_open_clip(model_name: str, weights: str, base_dir: Path | None = None) -> OpenClip:
    import open_clip
    import torch

    if model_name not in open_clip.list_models():
        raise NodeError(f"unknown open_clip model '{model_name}'", field="clip_model",
                        hint="e.g. ViT-B-32, ViT-B-16, RN50 (see open_clip.list_models())")
    weights = weights.strip()
    if weights == "random":
        pretrained, sha = None, "random-seed0"
    elif looks_like_path(weights):
        path = Path(weights).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise NodeError(f"weights file not found: {path}", field="clip_weights")
        pretrained, sha = str(path), file_sha256(str(path))
    else:
        pretrained = cached_weights_file(model_name, weights)
        if pretrained is None:
            raise NodeError(
                f"the weights of open_clip {model_name}/{weights} are not on this machine, and "
                "FlowClass does not download at run time", field="clip_weights",
                hint=f"download them once (e.g. python -c \"import open_clip; open_clip."
                f"create_model_and_transforms('{model_name}', pretrained='{weights}')\" on a "
                "machine with internet, then copy ~/.cache/huggingface), or give the path of a "
                "local weights file")
        sha = file_sha256(pretrained)
    try:
        with torch.random.fork_rng():  # seeded, so 'random' weights are the same every run
            torch.manual_seed(0)
            model, _, transform = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    except Exception as exc:
        raise NodeError(f"could not load open_clip {model_name} with weights '{weights}': {exc}",
                        field="clip_weights") from None
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    cfg = model.visual.preprocess_cfg if hasattr(model.visual, "preprocess_cfg") else {}
    spec = {
        "backend": "open_clip", "model": model_name,
        "weights": "random" if pretrained is None else (weights if not looks_like_path(weights)
                                                        else os.path.basename(pretrained)),
        "weights_sha256": sha,
        "preprocessing": {"version": PREPROCESSING_VERSION,
                          **{k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}},
        "normalised": True,
        "dim": int(model.visual.output_dim),
    }
    return OpenClip(model, transform, tokenizer, spec)


def _converts_after_resizing(transform: Any) -> bool:
    """Whether open_clip's image transform resizes (and crops) first, then makes the picture RGB."""
    from open_clip.transform import MaybeConvertMode

    steps = list(getattr(transform, "transforms", ()))
    converts = [at for at, step in enumerate(steps) if isinstance(step, MaybeConvertMode)]
    return len(converts) == 1 and converts[0] >= 1 and steps[converts[0]].mode == "RGB"


class OpenClipEmbedder:
    """Image embeddings of an open_clip model, L2-normalised (as CLIP compares them)."""

    def __init__(self, model_name: str, weights: str, base_dir: Path | None = None,
                 device: str = "cpu"):
        import torch

        from .devices import model_threads, torch_on

        torch.set_num_threads(model_threads())
        torch_on(device)
        self.device = device
        self.runtime = f"torch-{device}"
        self.clip = load_open_clip(model_name, weights, base_dir)
        self.clip.model.to(device)
        self.spec = self.clip.spec
        size = self.spec["preprocessing"].get("size", 224)
        # JPEGs may be decoded at a reduced scale that still covers the model's input
        self.draft_size = int(max(size) if isinstance(size, (list, tuple)) else size)
        # open_clip's transform makes the picture RGB after resizing it, as it does: then 8-bit
        # gray (a 1-bit picture's too) goes in as it is, the same numbers without the whole
        # picture in RGB (4 bytes a pixel to its 1)
        self.gray_resized = _converts_after_resizing(self.clip.transform)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        width, height = image.size
        if max(width, height) > MAX_ASPECT * min(width, height):  # BadImage: skipped with the reason
            raise BadImage(f"{width}x{height} pixels is too narrow for CLIP (at most {MAX_ASPECT}:1), whose "
                           f"preprocessing scales its shorter side to 224 pixels before cropping it")
        if image.mode != "L" or not self.gray_resized:
            image = image.convert("RGB")
        return self.clip.transform(image).numpy()

    def forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            features = self.clip.model.encode_image(torch.from_numpy(batch).to(self.device))
            features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return features.float().cpu().numpy()
