"""A cache file that reaches the largest size allowed (EFBIG: a ``ulimit -f``, FAT32's 4 GiB),
for real: the process's file size limit (``RLIMIT_FSIZE``, with SIGXFSZ ignored so that a
write fails instead of killing it) stops SQLite as such a disk would. SQLite tells it as a
"disk I/O error" with no file; it used to reach the user as an unexpected error."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from disk_helpers import digits_folder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_FSIZE on Windows")

LIMITED = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
"""


def _limited(code: str, limit: int, *args: str) -> subprocess.CompletedProcess:
    """``code`` run in a new Python whose files may not grow past ``limit`` bytes."""
    script = LIMITED.format(limit=limit) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)


def test_an_embedding_store_at_the_largest_file_allowed_is_told_as_efbig_naming_its_file(tmp_path):
    done = _limited("""
        import json, sys
        import numpy as np
        from pathlib import Path
        from flowclass.fsutil import write_error
        from nodes.lib.embedders.store import EmbeddingStore
        store = EmbeddingStore(Path(sys.argv[1]))
        vectors = ((f"{i:064x}", np.full(256, i, np.float32)) for i in range(400))
        try:
            store.put_many("pixels", vectors, chunk=20)
        except OSError as exc:
            print(json.dumps([exc.errno, exc.filename, str(write_error(exc, exc.filename))]))
        """, 200_000, str(tmp_path))
    assert done.returncode == 0, done.stderr
    code, filename, message = json.loads(done.stdout)
    assert code == errno.EFBIG
    assert Path(filename).name.startswith("embeddings.sqlite") and Path(filename).parent == tmp_path
    assert filename in message and "ulimit -f" in message and "write somewhere else" in message


@pytest.mark.slow  # a whole run in a process of its own: over a second
def test_a_run_whose_cache_files_reach_the_size_limit_says_which_file_and_what_to_do(tmp_path):
    """The cache's files stop growing: the run goes on without the cache with one warning
    that names the file; its temporary store stops too (the limit holds everywhere), and the
    node fails with that file named, not as an unexpected error."""
    folder = digits_folder(tmp_path, per_label=100, labels=("0", "1", "2"))
    workflow = tmp_path / "embed.json"
    workflow.write_text(json.dumps({"schema_version": 1, "name": "embed", "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder)}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels", "pixel_size": 32, "grayscale": True}}],
        "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "embed", "port": "images"}}]}))
    done = _limited("""
        import sys
        from flowclass.cli import main
        sys.exit(main(["run", sys.argv[1], "-q", "--out", sys.argv[2], "--cache", sys.argv[3]]))
        """, 600_000, str(workflow), str(tmp_path / "out"), str(tmp_path / "cache"))
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "unexpected error" not in output and "Traceback" not in output, output
    assert output.count("goes on without it") == 1 and str(tmp_path / "cache" / "stores") in output, output
    assert output.count("ulimit -f") == 2 and "--cache" in output, output
    assert "prune" not in output, output  # pruning makes no file smaller: not the way out
