"""Zero-shot Classify: label images by text descriptions, with no training (CLIP).

Each label becomes a sentence (``"a photo of {label}"``); an open_clip model embeds the
sentences and the images in one space, and each image's scores are the softmax of its
scaled cosine similarities to the sentences, as in the CLIP paper. The image and text
towers come from one :func:`~nodes.lib.embedders.openclip.load_open_clip` call, so they
always match. Image vectors come from the Embed node's own machinery (per-image store, decoding in
worker threads), so images embedded there with the same model are not embedded again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Choice, Float, Int, Text

from .datatypes import IMAGES, LABELS, ImageSet
from .embed import embed_images
from .lib.classify.predictions import CONFIDENCES, predictions
from .lib.embedders.openclip import weights_param


def parse_labels(text: str) -> tuple[str, ...]:
    """Labels from text, one per line or separated by commas; duplicates dropped."""
    parts = [p.strip() for line in text.splitlines() for p in line.split(",")]
    return tuple(dict.fromkeys(p for p in parts if p))


def _check(params: dict[str, Any]):
    if len(parse_labels(params["labels"])) < 2:
        yield "labels", "give at least two labels, separated by commas or on separate lines"
    if "{label}" not in params["template"]:
        yield "template", "the template must contain {label}, e.g. 'a photo of {label}'"


TEXT_BATCH = 32  # sentences through the text tower at once: some 1.85 MB of memory each


def _text_vectors(clip: Any, sentences: list[str]) -> np.ndarray:
    """The unit text vectors of ``sentences``, :data:`TEXT_BATCH` at a time: all at once, a
    shared workflow's 20,000 labels would have needed some 37 GB."""
    import torch

    with torch.inference_mode():
        features = torch.cat([clip.model.encode_text(clip.tokenizer(sentences[start:start + TEXT_BATCH])).float()
                              for start in range(0, len(sentences), TEXT_BATCH)])
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
        weights_param(help="A pretrained tag already in your cache, a path to a local weights file, "
                           "or 'random' (untrained: tests a pipeline, gives meaningless labels)."),
        Int(name="top_k", default=3, min=1, max=1000, help="How many best labels to list per image."),
        Choice(name="confidence", default="probability", choices=CONFIDENCES,
               help="Probability of the best label, or best vs second best."),
        Float(name="uncertain_below", default=0.0, min=0.0, max=1.0, step=0.05,
              help="Predictions less confident than this get the label 'uncertain' (0: never)."),
        Int(name="batch_size", default=8, min=1, max=512, help="Images per model call."),
    ],
    check=_check,
)
def zero_shot_classify(ctx: RunContext, *, images: ImageSet, labels, template, clip_model, clip_weights,
                       top_k, confidence, uncertain_below, batch_size):
    """Label images by describing the labels in words (CLIP); nothing to train."""
    from .lib.embedders.openclip import OpenClipEmbedder

    classes = parse_labels(labels)
    ctx.progress(0, len(images), unit="images", message="loading the model")
    embedder = OpenClipEmbedder(clip_model, clip_weights, ctx.base_dir)
    clip = embedder.clip
    ctx.record("embedder", clip.spec)
    if clip.spec["weights"] == "random":
        ctx.warn("the model has random weights: its labels are meaningless (for testing only)")
    embedded, _ = embed_images(ctx, embedder, images, batch_size)  # skips are warned about
    if not len(embedded):
        raise NodeError("none of the images could be read", hint="check the import")
    vectors = embedded.vectors
    text = _text_vectors(clip, [template.replace("{label}", c) for c in classes])
    logits = _logit_scale(clip) * vectors @ text.T
    logits -= logits.max(axis=1, keepdims=True)
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    result = predictions(embedded.images, scores.astype(np.float64), classes, top_k=top_k,
                         confidence=confidence, uncertain_below=uncertain_below,
                         uncertain_label="uncertain")
    ctx.record("predicted", result.counts())
    return {"predictions": result}


NODES = [zero_shot_classify]
