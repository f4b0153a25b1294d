"""Zero-shot Classify with an open_clip model (seeded random weights: no download here)."""

from __future__ import annotations

import numpy as np
import pytest

from classify_helpers import run

CLIP = {"clip_model": "ViT-B-32", "clip_weights": "random"}


@pytest.mark.slow
def test_zero_shot_scores_are_clip_softmax_over_label_sentences(registry, shared_cache, tmp_path,
                                                                photos_dir):
    nodes = [("images", "import_images", {"folder": str(photos_dir)}),
             ("zero", "zero_shot_classify", {**CLIP, "labels": "cat\nrocket, coffee, cat",
                                             "top_k": 3}),
             ("embed", "embed", {"backend": "open_clip", **CLIP})]
    edges = [("images.images", "zero.images"), ("images.images", "embed.images")]
    result = run(registry, shared_cache, nodes, edges, tmp_path)
    assert result.ok, [o.error for o in result.failed]
    predicted = result.output("zero", "predictions")
    assert predicted.classes == ("cat", "rocket", "coffee") and len(predicted) == 5
    top = np.stack([predicted.columns[f"top{k}_score"] for k in (1, 2, 3)], axis=1)
    assert np.allclose(top.sum(axis=1), 1) and np.all(np.diff(top, axis=1) <= 0)
    assert any("random weights" in w for w in result.outcomes["zero"].warnings)
    # the same numbers from the Embed node's image vectors and the text tower by hand
    from nodes.lib.embedders.openclip import load_open_clip
    import torch

    clip = load_open_clip("ViT-B-32", "random")
    images = result.output("embed", "embeddings").vectors
    with torch.inference_mode():
        text = clip.model.encode_text(clip.tokenizer([f"a photo of {c}" for c in predicted.classes]))
    text = (text / text.norm(dim=-1, keepdim=True)).numpy()
    logits = float(clip.model.logit_scale.detach().exp()) * images @ text.T
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(np.sort(expected, axis=1)[:, ::-1], top, atol=1e-4)
    assert np.array_equal(np.array(predicted.classes)[expected.argmax(1)], predicted.labels)


def test_zero_shot_needs_two_labels_and_a_template(registry):
    from flowclass.validation import validate
    from classify_helpers import workflow

    wf = workflow(registry, [("images", "import_images", {"folder": "x"}),
                             ("zero", "zero_shot_classify", {"labels": "cat", "template": "a cat"})],
                  [("images.images", "zero.images")])
    assert sorted(p.field for p in validate(wf, registry) if p.node == "zero") == ["labels", "template"]


TEXT_PEAKS = """
import json
from nodes.lib.embedders.openclip import load_open_clip
from nodes.zeroshot import _text_vectors

def peak_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

clip = load_open_clip("ViT-B-32", "random")
few = _text_vectors(clip, [f"a photo of label {i}" for i in range(4)])
peaks = [peak_kb()]
many = _text_vectors(clip, [f"a photo of label {i}" for i in range(256)])
peaks.append(peak_kb())
print(json.dumps({"peaks": peaks, "same": bool(abs(many[:4] - few).max() < 1e-5), "rows": len(many)}))
"""


@pytest.mark.slow
def test_many_labels_are_encoded_a_batch_at_a_time(tmp_path):
    """Every label's sentence went through CLIP's text tower at once, about 1.85 MB of memory a
    label (500 labels: +0.94 GB, 2,000: +3.7 GB), so a shared workflow's 20,000 labels (300 KB of
    text) would need some 37 GB. Measured in a fresh process (VmHWM)."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run([sys.executable, "-c", TEXT_PEAKS], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"] == 256 and report["same"]
    assert report["peaks"][1] - report["peaks"][0] < 150_000, report["peaks"]
