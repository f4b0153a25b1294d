"""Zero-shot Classify: label images by text descriptions, with no training (CLIP).

Each label becomes a sentence (``"a photo of {label}"``); an open_clip model embeds the
sentences and the images in one space, and each image's scores are the softmax of its
scaled cosine similarities to the sentences, as in the CLIP paper. The image and text
towers come from one :func:`~nodes.lib.embedders.openclip.load_open_clip` call, so they
always match. Image vectors are remembered per image in the same store the Embed node
uses, so images embedded there with the same model are not embedded again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Choice, Float, Int, Text

from .datatypes import IMAGES, LABELS, ImageSet
from .lib.embedders import spec_id
from .lib.embedding_store import EmbeddingStore
from .lib.imaging import BadImage, open_rgb
from .lib.predictions import CONFIDENCES, predictions


def parse_labels(text: str) -> tuple[str, ...]:
    """Labels from text, one per line or separated by commas; duplicates dropped."""
    parts = [p.strip() for line in text.splitlines() for p in line.split(",")]
    return tuple(dict.fromkeys(p for p in parts if p))


def _check(params: dict[str, Any]):
    if len(parse_labels(params["labels"])) < 2:
        yield "labels", "give at least two labels, separated by commas or on separate lines"
    if "{label}" not in params["template"]:
        yield "template", "the template must contain {label}, e.g. 'a photo of {label}'"


def _image_vectors(ctx: Any, clip: Any, images: ImageSet, batch_size: int) -> tuple[np.ndarray, list[int]]:
    """L2-normalised image vectors of the images that decode, and their indices."""
    import torch

    store = EmbeddingStore(ctx.store_dir("embeddings"))
    model_id = spec_id(clip.spec)
    try:
        known = store.get_many(model_id, images.hashes.tolist())
        todo = [i for i, sha in enumerate(images.hashes.tolist()) if sha not in known]
        for start in range(0, len(todo), batch_size):
            batch, good = [], []
            for i in todo[start:start + batch_size]:
                try:
                    batch.append(clip.transform(open_rgb(images.paths[i])))
                    good.append(i)
                except BadImage as exc:
                    ctx.warn(f"{images.paths[i]} skipped: {exc}")
            if batch:
                with torch.inference_mode():
                    features = clip.model.encode_image(torch.stack(batch)).float()
                features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                fresh = [(images.hashes[i], v) for i, v in zip(good, features.numpy())]
                store.put_many(model_id, fresh)
                known.update(fresh)
            ctx.progress(len(images) - len(todo) + start + len(batch), len(images), unit="images")
    finally:
        store.close()
    kept = [i for i, sha in enumerate(images.hashes.tolist()) if sha in known]
    return np.stack([known[images.hashes[i]] for i in kept]) if kept else np.zeros((0, 1)), kept


def _text_vectors(clip: Any, sentences: list[str]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        features = clip.model.encode_text(clip.tokenizer(sentences)).float()
    return (features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).numpy()


def _logit_scale(clip: Any) -> float:
    scale = getattr(clip.model, "logit_scale", None)
    return float(scale.detach().exp()) if scale is not None else 100.0


@node(
    type="zero_shot_classify", title="Zero-shot Classify", category="Supervised",
    inputs=[Input("images", IMAGES)],
    outputs=[Output("predictions", LABELS, help="Best label, confidence and top-k scores per image.")],
    params=[
        Text(name="labels", default="cat, dog, person, building, landscape", multiline=True,
             help="The labels to choose from, separated by commas or one per line."),
        Text(name="template", default="a photo of {label}", allow_empty=False,
             help="The sentence each label is put into; {label} stands for the label."),
        Text(name="clip_model", default="ViT-B-32", allow_empty=False, help="open_clip model name."),
        Text(name="clip_weights", default="laion2b_s34b_b79k", allow_empty=False,
             help="A pretrained tag already in your cache, a path to a local weights file, or "
                  "'random' (untrained: tests a pipeline, gives meaningless labels)."),
        Int(name="top_k", default=3, min=1, max=1000, help="How many best labels to list per image."),
        Choice(name="confidence", default="probability", choices=CONFIDENCES,
               help="Probability of the best label, or best vs second best."),
        Float(name="uncertain_below", default=0.0, min=0.0, max=1.0, step=0.05,
              help="Predictions less confident than this get the label 'uncertain' (0: never)."),
        Int(name="batch_size", default=8, min=1, max=512, help="Images per model call."),
    ],
    check=_check,
)
def zero_shot_classify(ctx, *, images: ImageSet, labels, template, clip_model, clip_weights, top_k,
                       confidence, uncertain_below, batch_size):
    """Label images by describing the labels in words (CLIP); nothing to train."""
    from .lib.embedders.openclip import load_open_clip

    classes = parse_labels(labels)
    ctx.progress(0, len(images), unit="images", message="loading the model")
    clip = load_open_clip(clip_model, clip_weights, ctx.base_dir)
    ctx.record("embedder", clip.spec)
    if clip.spec["weights"] == "random":
        ctx.warn("the model has random weights: its labels are meaningless (for testing only)")
    vectors, kept = _image_vectors(ctx, clip, images, batch_size)
    if not kept:
        raise NodeError("none of the images could be read", hint="check the import")
    text = _text_vectors(clip, [template.replace("{label}", c) for c in classes])
    logits = _logit_scale(clip) * vectors @ text.T
    logits -= logits.max(axis=1, keepdims=True)
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    result = predictions(images.subset(kept), scores.astype(np.float64), classes, top_k=top_k,
                         confidence=confidence, uncertain_below=uncertain_below,
                         uncertain_label="uncertain")
    ctx.record("predicted", result.counts())
    return {"predictions": result}


NODES = [zero_shot_classify]
