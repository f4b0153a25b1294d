"""README: "Everything runs offline on your own computer ... no model is downloaded at run time."

A first run on a fresh machine, for real: no network at all (a network namespace of its own,
where not even a name resolves), an empty home folder and cache, so the default embedder's
model is prepared from the installed package, as on a user's first day.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # prepares the EfficientNet model from scratch (about 13 s of CPU)


def without_network() -> list[str]:
    """The command prefix that runs a process with no network; skips where that cannot be had."""
    unshare = shutil.which("unshare")
    if os.name != "posix" or os.geteuid() != 0 or unshare is None:
        pytest.skip("a process without network needs root and unshare")
    if subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace here")
    return [unshare, "-n"]


def test_a_first_run_embeds_with_no_network_and_an_empty_home(tmp_path):
    prefix = without_network()
    folder = tmp_path / "digits"
    folder.mkdir()
    data = load_digits()
    for i in range(12):
        Image.fromarray((data.images[i] * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    workflow = tmp_path / "embed.json"
    workflow.write_text(json.dumps({"schema_version": 1, "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder)}},
        {"id": "embed", "type": "embed", "params": {}},  # EfficientNet-Lite0, the default
        {"id": "table", "type": "save_table", "params": {"path": "skipped.xlsx"}}],
        "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "embed", "port": "images"}},
                  {"from": {"node": "embed", "port": "skipped"}, "to": {"node": "table", "port": "data"}}]}))
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(REPO)}  # no FLOWCLASS_PREPARED
    out = tmp_path / "out"
    command = [sys.executable, "-m", "flowclass.cli", "run", str(workflow), "--out", str(out), "-q"]
    done = subprocess.run([*prefix, *command], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    embed = json.loads((out / "run.json").read_text())["nodes"]["embed"]
    assert embed["state"] == "done" and embed["records"]["runtime"].startswith("onnxruntime")
    assert len(embed["records"]["embedder"]["weights_sha256"]) == 64
    assert (home / ".cache" / "flowclass").is_dir()  # the user's cache, made on the way
