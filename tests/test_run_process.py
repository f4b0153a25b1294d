"""A process started for one `flowclass run` spares itself full garbage collections, and
its shutdown's (flowclass/run_process.py); a test or the canvas calling main() does not."""

import gc
import json
import os
import shutil
import subprocess
import sys

import pytest

from disk_helpers import sample_digits
from flowclass.cli import main
from flowclass.run_process import FULL_AFTER
from tests.conftest import REPO

CLUSTER = str(REPO / "workflows" / "cluster_folder.json")


def _quick_run(tmp_path) -> list[str]:
    """`flowclass run` of the Import node alone, on two sample digits per class."""
    return ["run", CLUSTER, "-q", "--node", "import", "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--set", "import.max_per_label=2"]


@pytest.mark.slow  # over a second; the quick loop keeps its 90 s budget
def test_a_process_started_for_one_run_freezes_what_is_left_when_it_ends(tmp_path):
    script = (
        "import gc, json, sys\n"
        f"sys.argv = ['flowclass'] + {_quick_run(tmp_path)!r}\n"
        "from flowclass.cli import main\n"
        "code = main()\n"
        "print(json.dumps([code, gc.get_freeze_count() > 0, gc.get_threshold()[2]]))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert json.loads(out.stdout.splitlines()[-1]) == [0, True, FULL_AFTER]
    assert (tmp_path / "out" / "run.json").is_file()


def test_main_called_with_arguments_leaves_the_collector_as_it_was(tmp_path):
    gc.unfreeze()  # as in a program that froze nothing (the test session freezes between tests)
    threshold = gc.get_threshold()
    assert main(_quick_run(tmp_path)) == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, 0)


def _importing_the_cli(first: str = "") -> list:
    """[collections while flowclass.cli was imported with `run` in argv, whether the collector
    runs after it] in a new process, having run ``first``."""
    script = "\n".join([
        "import gc, json, sys", first,
        "import flowclass",  # the package (the import system may collect while it finds it)
        "sys.argv, collections = ['flowclass', 'run'], []",
        "gc.callbacks.append(lambda phase, info: phase == 'start' and collections.append(info))",
        "import flowclass.cli",
        "print(json.dumps([len(collections), gc.isenabled()]))"])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_process_started_for_one_run_collects_nothing_while_the_cli_imports():
    """From the CLI's first line (about ten collections before main() had stopped them; one may
    come while its own bytecode loads); not in a process multiprocessing spawned, which imports
    the CLI again with its parent's argv."""
    (held, running), (spawned, running_there) = _importing_the_cli(), _importing_the_cli("import multiprocessing")
    assert (running, running_there) == (False, True)
    assert held <= 1 < spawned


@pytest.mark.slow
def test_main_called_with_arguments_collects_again_after_the_cli_held_the_collector(tmp_path):
    script = (
        "import gc, json, sys\n"
        "sys.argv = ['flowclass', 'run']\n"
        "from flowclass.cli import main\n"
        "held = gc.isenabled()\n"
        f"code = main({_quick_run(tmp_path)!r})\n"
        "print(json.dumps([held, code, gc.isenabled()]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [False, 0, True]


@pytest.mark.slow
def test_a_rerun_answered_from_its_record_collects_no_garbage_and_the_engine_collects_again(tmp_path):
    """The first run's engine collects as usual; the unchanged re-run, answered from its record
    without the engine, runs no collection at all."""
    argv = ["flowclass", "run", CLUSTER, "-q", "--out", str(tmp_path / "out"), "--cache",
            str(tmp_path / "cache"), "--set", f"import.folder={_user_folder(tmp_path)}",
            "--set", "cluster.n_clusters=4", "--set", "embed.backend=pixels"]
    script = (
        "import gc, json, sys\n"
        f"sys.argv = {argv!r}\n"
        "collections, in_engine = [], []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and collections.append(info))\n"
        "from flowclass import engine\n"
        "real = engine.Engine.run\n"
        "engine.Engine.run = lambda *a, **k: in_engine.append(gc.isenabled()) or real(*a, **k)\n"
        "from flowclass.cli import main\n"
        "before = len(collections)\n"
        "code = main()\n"
        "print(json.dumps([code, in_engine, len(collections) - before]))\n")
    found = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
        assert done.returncode == 0, done.stderr
        found.append(json.loads(done.stdout.splitlines()[-1]))
    (code, in_engine, _), again = found
    assert (code, in_engine) == (0, [True])  # the engine ran, collecting
    assert again == [0, [], 0]  # the record answered: no engine, no collection


# imported by preparing a model, by the sample sets, by nothing a cold run draws, or (matplotlib)
# only by the process that draws its pictures (flowclass/report_process.py)
NOT_ON_THE_COLD_PATH = ("sklearn", "onnxruntime.quantization", "onnx", "skimage", "torch", "matplotlib")


def _user_folder(tmp_path):
    """20 sample digits, 5 of each of 4 classes, in a user's folder."""
    everything = sample_digits()
    folder = tmp_path / "digits"
    for label in sorted(os.listdir(everything))[:4]:
        (folder / label).mkdir(parents=True)
        for name in sorted(os.listdir(everything / label))[:5]:
            shutil.copyfile(everything / label / name, folder / label / name)
    return folder


@pytest.mark.slow
def test_a_cold_run_imports_nothing_it_does_not_use(tmp_path):
    """The ready clustering workflow on a user's folder, model prepared, cache empty: its
    tables and pictures are made without scikit-learn, nothing prepares a model, and the
    pictures are drawn in a process of their own."""
    folder = _user_folder(tmp_path)
    out = tmp_path / "out"
    argv = ["flowclass", "run", CLUSTER, "-q", "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--set", f"import.folder={folder}", "--set", "cluster.n_clusters=4"]
    script = (
        "import json, sys\n"
        f"sys.argv = {argv!r}\n"
        "from flowclass.cli import main\n"
        "code = main()\n"
        f"print(json.dumps([code, sorted(m for m in {NOT_ON_THE_COLD_PATH!r} if m in sys.modules)]))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [0, []]
    assert (out / "map.png").is_file() and (out / "dendrogram.png").is_file()


@pytest.mark.slow
def test_pictures_are_drawn_after_the_run_when_the_drawing_process_dies(tmp_path):
    folder, out = _user_folder(tmp_path), tmp_path / "out"
    argv = ["flowclass", "run", CLUSTER, "-q", "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--set", f"import.folder={folder}", "--set", "cluster.n_clusters=4",
            "--set", "embed.backend=pixels"]
    script = (
        "import os, sys\n"
        "def die(*args):\n"
        "    os._exit(3)\n"
        f"sys.argv = {argv!r}\n"
        "from flowclass import report_process\n"
        "report_process.make = die  # the drawing process ends at its first picture\n"
        "from flowclass.cli import main\n"
        "print('exit', main(), 'matplotlib' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "exit 0 True" in result.stdout and "not saved" not in result.stderr
    assert "saved in" in result.stdout
    for name in ("dendrogram.png", "map.png"):
        assert (out / name).stat().st_size > 1000
