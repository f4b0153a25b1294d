"""A fully cached re-run must start fast: loading the node library imports no heavy library.

Convention for every node module (nodes/*.py, nodes/lib/*.py): at module level import only
the standard library, numpy, PIL and flowclass/nodes modules. pandas, scipy, scikit-learn,
scikit-image, torch, onnxruntime, open_clip and the like are imported inside the functions
that need them, so `flowclass run` on an unchanged workflow (every node cached) never pays
for them — the issue asks that a full cache hit does not even import torch.
"""

import json
import subprocess
import sys

HEAVY = ("pandas", "scipy", "sklearn", "skimage", "torch", "torchvision", "onnxruntime", "open_clip",
         "timm", "matplotlib", "skops", "umap", "nicegui")


def test_loading_the_registry_imports_no_heavy_library():
    script = (
        "import sys, json\n"
        "from flowclass.library import default_registry\n"
        "default_registry()\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    imported = json.loads(out.stdout)
    assert imported == [], (
        f"loading the node library imported {imported}; import them inside the functions that "
        "use them (see this test's docstring)")
