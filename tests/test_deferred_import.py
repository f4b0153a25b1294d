"""`flowclass run` imports numpy only when something uses it (flowclass/deferred_import.py):
a re-run served from the cache never does, and numpy works as usual once it is used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowclass.library import ready_workflows_dir

WORKFLOW = ready_workflows_dir() / "cluster_folder.json"


def python(script: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_cached_run_never_imports_numpy_and_a_cold_one_uses_it_as_usual(tmp_path):
    run = (f"['flowclass', 'run', {str(WORKFLOW)!r}, '--out', {str(tmp_path / 'out')!r}, '--cache', "
           f"{str(tmp_path / 'cache')!r}, '-q', '--set', 'embed.backend=pixels', '--set', "
           "'import.max_per_label=5', '--set', 'cluster.n_clusters=2']")
    script = ("import sys, json\n"
              f"sys.argv = {run}\n"
              "import flowclass.cli\n"
              "from flowclass import deferred_import\n"
              "code = flowclass.cli.main(sys.argv[1:])\n"
              "print(json.dumps({'code': code, 'waiting': deferred_import.waiting('numpy'), "
              "'core': 'numpy._core' in sys.modules}))\n")
    cold, cached = python(script), python(script)
    assert cold == {"code": 0, "waiting": False, "core": True}
    assert cached == {"code": 0, "waiting": True, "core": False}
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert {n["state"] for n in manifest["nodes"].values()} == {"cached"}
    # into a new --out, as the command runs it (main(): answered from the witnesses,
    # flowclass/new_out.py): the copies' dataclasses are built, and inspect, which
    # dataclasses import only to write a signature where a docstring is missing, waits
    # and nothing compiles a string (typing's forward references: the first compile readies
    # Python's syntax tree types, about 9 M instructions; see flowclass/fsutil.py), a module's
    # source aside (compiled where its cached bytecode is missing or stale)
    new = ("import builtins\ncompiled = []\nreal_compile = builtins.compile\n"
           "builtins.compile = lambda source, filename, *rest, **options: (filename == '<string>' and "
           "compiled.append(source)) or real_compile(source, filename, *rest, **options)\n" + script).replace(
        repr(str(tmp_path / "out")), repr(str(tmp_path / "new"))).replace("main(sys.argv[1:])", "main()").replace(
        "'core': 'numpy._core' in sys.modules", "'inspect': deferred_import.waiting('inspect'), "
        "'ast': 'ast' in sys.modules, 'witnesses': 'flowclass.run_record' not in sys.modules, 'compiled': compiled, "
        "'tempfile': 'tempfile' in sys.modules")  # its folder locks where its run lock is (folder_lock.py)
    assert python(new) == {"code": 0, "waiting": True, "inspect": True, "ast": False, "witnesses": True,
                           "compiled": [], "tempfile": False}
    copied = json.loads((tmp_path / "new" / "run.json").read_text())
    assert {n["state"] for n in copied["nodes"].values()} == {"cached"}
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(p.name for p in (tmp_path / "out").iterdir())


def test_a_submodule_imported_first_is_numpys_own_and_made_once():
    result = python(
        "import sys, json\n"
        "from flowclass.deferred_import import defer, waiting\n"
        "assert defer('numpy') and waiting('numpy')\n"
        "import numpy as np\n"
        "stand_in = np\n"
        "assert waiting('numpy') and 'numpy._core' not in sys.modules\n"
        "import numpy.linalg\n"  # a submodule before any name was read
        "from numpy._core import multiarray\n"
        "real = sys.modules['numpy']\n"
        "print(json.dumps({'waiting': waiting('numpy'), 'same_linalg': real.linalg is sys.modules['numpy.linalg'] "
        "is stand_in.linalg, 'same_core': multiarray is real._core.multiarray, "
        "'spec': sys.modules['numpy.linalg'].__spec__.name, 'works': float(stand_in.linalg.det(np.eye(3)))}))\n")
    assert result == {"waiting": False, "same_linalg": True, "same_core": True, "spec": "numpy.linalg",
                      "works": 1.0}


def test_the_standard_lazy_loader_would_import_numpy_at_the_first_import_statement():
    """Why flowclass/deferred_import.py is not importlib.util.LazyLoader (see its docstring)."""
    result = python(
        "import sys, json, importlib.util\n"
        "spec = importlib.util.find_spec('numpy')\n"
        "spec.loader = importlib.util.LazyLoader(spec.loader)\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['numpy'] = module\n"
        "spec.loader.exec_module(module)\n"
        "import numpy as np\n"
        "print(json.dumps('numpy._core' in sys.modules))\n")
    assert result is True


def test_threads_reading_numpy_at_once_all_get_it():
    result = python(
        "import json, threading\n"
        "from flowclass.deferred_import import defer\n"
        "defer('numpy')\n"
        "import numpy as np\n"
        "sums, start = [], threading.Barrier(8)\n"
        "def work():\n"
        "    start.wait()\n"
        "    sums.append(float(np.ones(10).sum()))\n"
        "threads = [threading.Thread(target=work) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(json.dumps(sums))\n")
    assert result == [10.0] * 8


def test_only_flowclass_run_defers():
    result = python(
        "import sys, json\n"
        "sys.argv = ['flowclass', 'nodes']\n"
        "import flowclass.cli\n"
        "from flowclass import deferred_import\n"
        "print(json.dumps(deferred_import.waiting('numpy')))\n")
    assert result is False
