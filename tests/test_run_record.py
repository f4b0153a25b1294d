"""An unchanged re-run is answered from the run record, exactly as the engine would answer it,
and anything that changed, however small, leaves the run to the engine.

Each test runs the ready clustering workflow (pixel embeddings: cheap) on 100 real digit
images, changes one thing, runs again and checks, with a spy on the engine, who answered;
where the engine answered, the output folder must hold what a run on a new cache gives.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowclass import run_record
from flowclass.cache import Cache
from flowclass.cli import main
from flowclass.engine import Engine
from tests.conftest import REPO

CLUSTER = str(REPO / "workflows" / "cluster_folder.json")
BOOKKEEPING = {"run.json", ".flowclass-owned.jsonl"}


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """100 of the sample digits, 10 per class, in a folder of their own (never changed)."""
    from nodes.lib.images.sample_images import sample_folder

    full = sample_folder("digits", Path(os.environ["FLOWCLASS_PREPARED"]) / "samples")
    folder = tmp_path_factory.mktemp("source") / "digits"
    for label in sorted(os.listdir(full)):
        (folder / label).mkdir(parents=True)
        for name in sorted(os.listdir(full / label))[:10]:
            shutil.copyfile(full / label / name, folder / label / name)
    return folder


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    """One cache for the module: the pixel embeddings of the digits are made once."""
    return tmp_path_factory.mktemp("records") / "cache"


class Job:
    """One output folder run into again and again, with the engine's runs counted."""

    def __init__(self, folder: Path, out: Path, cache: Path, capsys, monkeypatch=None,
                 workflow: str = CLUSTER):
        self.folder, self.out, self.cache, self.capsys = folder, out, cache, capsys
        self.workflow = workflow
        self.engine_runs = 0
        if monkeypatch is None:
            return
        real = Engine.run

        def counted(engine, *args, **kwargs):
            if Path(kwargs["out_dir"]) == self.out:  # not a fresh run's for comparison
                self.engine_runs += 1
            return real(engine, *args, **kwargs)

        monkeypatch.setattr(Engine, "run", counted)

    def args(self, *extra: str) -> list[str]:
        return ["run", self.workflow, "--out", str(self.out), "--cache", str(self.cache),
                "--set", f"import.folder={self.folder}", "--set", "embed.backend=pixels", *extra]

    def run(self, *extra: str) -> tuple[int, str, str]:
        """Exit status, stdout and stderr of one ``flowclass run``."""
        self.capsys.readouterr()
        code = main(self.args(*extra))
        out, err = self.capsys.readouterr()
        return code, out, err

    def record(self) -> Path:
        return run_record._path(Cache(self.cache), self.out.resolve())

    def states(self) -> dict[str, str]:
        nodes = json.loads((self.out / "run.json").read_text())["nodes"]
        return {node: o["state"] for node, o in nodes.items()}


@pytest.fixture
def job(tmp_path, digits, cache_root, capsys, monkeypatch) -> Job:
    folder = tmp_path / "digits"
    shutil.copytree(digits, folder)
    made = Job(folder, tmp_path / "out", cache_root, capsys, monkeypatch)
    code, _, err = made.run()
    assert code == 0, err
    assert made.engine_runs == 1 and made.record().is_file()
    return made


def outputs(out: Path) -> dict[str, bytes]:
    """Every file a run wrote but its bookkeeping (workbooks left out: they hold a time),
    the output folder's own path in the tables written as <out>."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name not in BOOKKEEPING and path.suffix != ".xlsx":
            data = path.read_bytes()
            found[str(path.relative_to(out))] = data.replace(str(out).encode(), b"<out>") \
                if path.suffix == ".csv" else data
    return found


def workbooks(out: Path) -> dict[str, list[tuple[str, tuple, bytes]]]:
    """Each workbook's parts (name, date, content), the output folder's path written as <out>."""
    import zipfile

    found = {}
    for path in sorted(out.rglob("*.xlsx")):
        with zipfile.ZipFile(path) as book:
            found[str(path.relative_to(out))] = [
                (info.filename, info.date_time, book.read(info).replace(str(out).encode(), b"<out>"))
                for info in book.infolist()]
    return found


def fresh(job: Job, tmp_path: Path, *extra: str) -> dict[str, bytes]:
    """What a run of the same job on a new cache, into a new folder, writes."""
    other = Job(job.folder, tmp_path / "fresh-out", tmp_path / "fresh-cache", job.capsys)
    code, _, err = other.run(*extra)
    assert code == 0, err
    return outputs(other.out)


def without_times(text: str) -> str:
    return re.sub(r"\d+\.\d+s", "<t>", text)


def test_an_unchanged_rerun_is_answered_by_the_record_as_the_engine_answers_it(job):
    before = {p: p.stat().st_mtime_ns for p in job.out.rglob("*") if p.name != "run.json"}
    code, out, err = job.run()
    assert code == 0 and job.engine_runs == 1  # the record answered
    replayed = json.loads((job.out / "run.json").read_text())
    assert {p: p.stat().st_mtime_ns for p in job.out.rglob("*") if p.name != "run.json"} == before

    job.record().unlink()  # now the engine answers the same unchanged run
    code2, out2, err2 = job.run()
    assert code2 == 0 and job.engine_runs == 2
    by_engine = json.loads((job.out / "run.json").read_text())
    assert (without_times(out), without_times(err)) == (without_times(out2), without_times(err2))
    assert "ok: 6 node(s), 6 from cache" in out and "distances: made from its inputs" in err
    for manifest in (replayed, by_engine):
        del manifest["started"], manifest["seconds"], manifest["seal"], manifest["written"]  # times, file
        for node in manifest["nodes"].values():
            del node["seconds"]
    assert replayed == by_engine
    assert job.record().is_file()  # the engine's cached run recorded itself again


def heavy_imports(args: list[str], modules: tuple[str, ...]) -> tuple[int, list[str], str]:
    """The exit status of ``flowclass`` with ``args`` in a process of its own, which of
    ``modules`` it imported (not counting those only waiting to be), and its stdout."""
    script = ("import json, sys\n"
              "from flowclass import cli\n"
              "from flowclass.deferred_import import waiting\n"
              f"code = cli.main({args!r})\n"
              f"heavy = [m for m in {modules!r} if m in sys.modules and not waiting(m)]\n"
              "print(json.dumps([code, heavy]))\n")
    done = subprocess.run([sys.executable, "-c", script, "run"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    code, heavy = json.loads(done.stdout.splitlines()[-1])
    return code, heavy, done.stdout + done.stderr


def test_a_rerun_answered_by_the_record_imports_no_engine_networkx_numpy_pillow_or_other_family(job):
    code, heavy, said = heavy_imports(job.args("-q"), ("flowclass.engine", "networkx", "numpy", "pandas",
                                                       "PIL.Image", "nodes.cleaning"))
    assert (code, heavy) == (0, []), said
    assert "6 from cache" in said


def test_a_rerun_answered_by_the_record_says_each_node_cached_without_importing_tqdm(job):
    """Its lines go to a log (no bar is drawn there) as the engine's run writes them."""
    code, heavy, said = heavy_imports(job.args(), ("tqdm", "flowclass.engine"))
    assert (code, heavy) == (0, []), said
    assert all(f"{node:>12}: cached" in said for node in ("import", "embed", "export", "table")), said


def _image_swapped(job: Job) -> None:
    """One image's content becomes another digit's: the same count, the same names."""
    shutil.copyfile(job.folder / "7" / sorted(os.listdir(job.folder / "7"))[0],
                    job.folder / "1" / sorted(os.listdir(job.folder / "1"))[0])


def _image_added_and_removed(job: Job) -> None:
    """One image removed, another added: the count stays."""
    first = job.folder / "3" / sorted(os.listdir(job.folder / "3"))[0]
    shutil.copyfile(first, job.folder / "8" / "new_digit.png")
    first.unlink()


def _exported_image_deleted(job: Job) -> None:
    cluster = next(p for p in sorted((job.out / "clusters").iterdir()) if p.is_dir())
    next(cluster.iterdir()).unlink()


def _table_deleted(job: Job) -> None:
    (job.out / "clusters.csv").unlink()


def _picture_deleted(job: Job) -> None:
    (job.out / "dendrogram.png").unlink()


def _result_pruned(job: Job) -> None:
    assert main(["cache", "prune", "--cache", str(job.cache), "--cache-size", "1"]) == 0


def _record_damaged(job: Job) -> None:
    job.record().write_text('{"scheme": "flowclass-run-record-1", "out_dir": ')


CHANGES = {"an image's content changed": _image_swapped,
           "an image added and another removed": _image_added_and_removed,
           "an exported image deleted": _exported_image_deleted,
           "the saved table deleted": _table_deleted,
           "a picture deleted": _picture_deleted,
           "every cached result pruned": _result_pruned,
           "the record damaged": _record_damaged}


@pytest.mark.slow
@pytest.mark.parametrize("change", CHANGES)
def test_a_change_falls_through_to_the_engine_and_gives_a_fresh_runs_files(job, tmp_path, change):
    CHANGES[change](job)
    code, _, err = job.run()
    assert code == 0, err
    assert job.engine_runs == 2  # the engine ran it, not the record
    assert outputs(job.out) == fresh(job, tmp_path)
    assert job.record().is_file()  # and recorded it for the next re-run


@pytest.mark.slow
def test_a_changed_set_value_falls_through_and_an_edited_table_is_left_to_the_engine(job, tmp_path):
    code, _, err = job.run("--set", "cluster.n_clusters=4")
    assert code == 0 and job.engine_runs == 2, err
    assert job.states()["cluster"] == "done"
    assert sorted(p.name for p in (job.out / "clusters").iterdir() if p.is_dir()) == ["C1", "C2", "C3", "C4"]
    assert outputs(job.out) == fresh(job, tmp_path, "--set", "cluster.n_clusters=4")

    edited = job.out / "clusters.csv"
    edited.write_text(edited.read_text() + "mine,,,,,,\n")
    code, _, err = job.run("--set", "cluster.n_clusters=4")
    assert job.engine_runs == 3  # the engine, which keeps the user's edit and says so
    assert code == 1 and job.states()["table"] == "failed" and "was not written by FlowClass" in err
    assert edited.read_text().endswith("mine,,,,,,\n") and not job.record().exists()


@pytest.mark.slow
def test_a_new_flowclass_or_a_new_revision_of_a_node_type_falls_through(job, monkeypatch):
    import dataclasses

    monkeypatch.setattr(run_record, "__version__", "99.0")
    code, _, err = job.run()
    assert code == 0 and job.engine_runs == 2, err
    assert set(job.states().values()) == {"cached"}
    code, _, err = job.run()
    assert code == 0 and job.engine_runs == 2  # recorded as this FlowClass's

    import nodes.clustering as family  # the family's code changed: its node type's revision

    monkeypatch.setattr(family, "NODES", [dataclasses.replace(t, revision=t.revision + 1)
                                          if t.type == "hierarchical_clustering" else t for t in family.NODES])
    code, _, err = job.run()
    assert code == 0 and job.engine_runs == 3, err
    assert job.states() == {"import": "cached", "embed": "cached", "distances": "done",
                            "cluster": "done", "export": "done", "table": "done"}


@pytest.mark.slow
def test_named_nodes_and_a_foreign_run_json_fall_through(job):
    code, _, _ = job.run("--node", "cluster")
    assert code == 0 and job.engine_runs == 2
    assert not job.record().exists()  # a partial run records nothing
    code, _, _ = job.run()
    assert code == 0 and job.engine_runs == 3 and job.record().is_file()
    (job.out / "run.json").write_text('{"mine": true}')
    code, _, err = job.run()
    assert code == 2 and job.engine_runs == 4
    assert "was not written by FlowClass" in err


@pytest.mark.slow
def test_a_run_killed_midway_leaves_no_record_and_the_next_run_is_the_engines(job, tmp_path):
    record = job.record()
    args = [sys.executable, "-m", "flowclass.cli", *job.args("--set", "cluster.n_clusters=3")]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 120
    while record.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)  # the engine's run has started: it forgot the record
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not record.exists()
    code, _, err = job.run("--set", "cluster.n_clusters=3")
    assert code == 0 and job.engine_runs == 2, err
    assert outputs(job.out) == fresh(job, tmp_path, "--set", "cluster.n_clusters=3")


@pytest.mark.slow
def test_a_plugin_folder_leaves_the_rerun_to_the_engine(job):
    from tests.conftest import PLUGINS

    code, _, err = job.run("--plugins", str(PLUGINS))
    assert code == 0 and job.engine_runs == 2, err
    code, _, err = job.run("--plugins", str(PLUGINS))
    assert code == 0 and job.engine_runs == 3, err  # its node types could be anyone's


def test_only_built_in_families_make_a_partial_registry_and_theirs_are_the_full_ones():
    from flowclass.library import default_registry, families_of, families_registry

    full = default_registry()
    families = families_of(full, ["import_images", "embed", "hierarchical_clustering"])
    assert families == ["nodes.clustering", "nodes.embed", "nodes.images"]
    partial = families_registry(families)
    assert partial.get("embed") is full.get("embed") and partial.get("save_table") is None
    assert families_registry(families, entry_points=[["mine", "pkg.nodes", "pkg"]]) is None
    assert families_registry(["nodes.not_a_family"]) is None
    with_plugin = default_registry([Path(__file__).parent / "plugins"])
    assert families_of(with_plugin, ["embed", "toy.number"]) is None


def test_what_is_installed_is_read_again_once_a_folder_on_the_path_changes(tmp_path, monkeypatch):
    from flowclass import installed as installed_module
    from flowclass.installed import installed

    site = _old_folder(tmp_path / "site")
    monkeypatch.setattr(sys, "path", [str(site)])  # the packages found: those in site
    cache = Cache(tmp_path / "cache")
    first = installed(cache)
    assert not any(name == "toy" for name, *_ in first.entry_points)

    def unread():
        raise AssertionError("read again while nothing changed")

    monkeypatch.setattr(installed_module, "read_installed", unread)
    assert installed(cache) == first  # kept in the cache

    monkeypatch.undo()
    monkeypatch.setattr(sys, "path", [str(site)])
    dist = site / "toy_nodes-1.0.dist-info"  # what pip writes for a package with node modules
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[flowclass.nodes]\ntoy = toy_nodes.nodes\n")
    assert ["toy", "toy_nodes.nodes", "toy-nodes"] in installed(cache).entry_points


def test_the_platform_is_read_again_on_a_new_kernel(tmp_path, monkeypatch):
    from flowclass import installed as installed_module
    from flowclass.installed import Installed, installed

    monkeypatch.setattr(sys, "path", [str(_old_folder(tmp_path / "site"))])
    cache = Cache(tmp_path / "cache")
    first = installed(cache)
    assert first.platform.startswith(os.uname().sysname)
    monkeypatch.setattr(installed_module, "read_installed", lambda: Installed("not read", {}, []))
    assert installed(cache) == first  # kept
    real = os.uname()
    newer = type(real)((real.sysname, real.nodename, real.release + "-newer", real.version, real.machine))
    monkeypatch.setattr(os, "uname", lambda: newer)
    monkeypatch.setattr(installed_module, "read_installed", lambda: Installed("upgraded", {}, []))
    assert installed(cache).platform == "upgraded"


def test_the_first_rerun_after_a_cold_run_reads_no_package_metadata(tmp_path, digits, capsys, monkeypatch):
    """The cold run reads what is installed through the cache's memo for its run.json, so
    the re-run right after it finds it there (read again, the packages' metadata cost that
    re-run about a third of its time)."""
    from types import SimpleNamespace

    from flowclass import installed as installed_module

    # a folder on sys.path changed seconds ago (a test wrote beside the checkout) is not
    # remembered, an install may be under way: not what this test is about
    later = time.time_ns() + 3600 * 10**9
    monkeypatch.setattr(installed_module, "time", SimpleNamespace(time_ns=lambda: later))
    folder = tmp_path / "digits"
    shutil.copytree(digits, folder)
    job = Job(folder, tmp_path / "out", tmp_path / "cache", capsys, monkeypatch)
    code, _, err = job.run()
    assert code == 0 and job.engine_runs == 1, err
    cold = json.loads((job.out / "run.json").read_text())

    def unread():
        raise AssertionError("the packages' metadata read again")

    monkeypatch.setattr(installed_module, "read_installed", unread)
    code, out, err = job.run()
    assert code == 0 and job.engine_runs == 1, err  # the record answered
    again = json.loads((job.out / "run.json").read_text())
    assert (again["platform"], again["packages"]) == (cold["platform"], cold["packages"])


def _old_folder(folder: Path) -> Path:
    """A folder last changed an hour ago (what was read beside a newer one is not kept)."""
    folder.mkdir()
    long_ago = time.time() - 3600
    os.utime(folder, (long_ago, long_ago))
    return folder


@pytest.mark.slow
def test_a_rerun_into_a_new_out_starts_no_drawing_process(tmp_path, digits):
    """A run served from the cache draws nothing: the process that draws pictures during a
    cold run (flowclass/report_process.py) is not started, matplotlib not imported."""
    def argv(out):
        return ["flowclass", "run", CLUSTER, "-q", "--out", str(out), "--cache", str(tmp_path / "cache"),
                "--set", f"import.folder={digits}", "--set", "embed.backend=pixels"]

    script = ("import json, sys\n"
              "from flowclass import report_process\n"
              "started = []\n"
              "real = report_process.start\n"
              "report_process.start = lambda *a: started.append(1) or real(*a)\n"
              "sys.argv = {argv!r}\n"
              "from flowclass.cli import main\n"
              "print(json.dumps([main(), len(started), 'matplotlib' in sys.modules]))\n")
    found = []
    for out in ("out", "new-out"):
        done = subprocess.run([sys.executable, "-c", script.format(argv=argv(tmp_path / out))],
                              capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        found.append(json.loads(done.stdout.splitlines()[-1]))
    assert found == [[0, 1, False], [0, 0, False]]  # cold: drawn in its own process
    assert (tmp_path / "new-out" / "dendrogram.png").read_bytes() == (tmp_path / "out" / "dendrogram.png").read_bytes()


# --- a re-run into a new --out ------------------------------------------------------------

def _latest(job: Job) -> Path:
    return run_record._latest_path(Cache(job.cache), run_record.job_name(
        Path(CLUSTER).resolve(), [f"import.folder={job.folder}", "embed.backend=pixels"]))


def _elsewhere(job: Job, tmp_path: Path, name: str, monkeypatch) -> Job:
    """The same job into another output folder, its engine runs counted."""
    return Job(job.folder, tmp_path / name, job.cache, job.capsys, monkeypatch)


def manifest_without_times(out: Path) -> dict:
    manifest = json.loads((out / "run.json").read_text().replace(str(out), "<out>"))
    del manifest["started"], manifest["seconds"], manifest["skipped"]["stamp"], manifest["seal"], manifest["written"]
    for node in manifest["nodes"].values():
        del node["seconds"]
    return manifest


def test_an_unchanged_rerun_into_a_new_out_is_copied_from_the_cache_as_the_engine_copies_it(
        job, tmp_path, monkeypatch):
    new = _elsewhere(job, tmp_path, "new-out", monkeypatch)
    code, out, err = new.run()
    assert code == 0 and new.engine_runs == 0, err  # the record answered, the engine never ran
    assert outputs(new.out) == outputs(job.out)
    assert "saved in" in out and "dendrogram.png, map.png" in out
    assert set(new.states().values()) == {"cached"}

    _latest(job).unlink()  # now the engine answers the same run into a third folder
    by_engine = _elsewhere(job, tmp_path, "engine-out", monkeypatch)
    code2, out2, err2 = by_engine.run()
    assert code2 == 0 and by_engine.engine_runs == 1, err2
    assert outputs(by_engine.out) == outputs(new.out)
    assert workbooks(by_engine.out) == workbooks(new.out) and workbooks(new.out)
    assert manifest_without_times(by_engine.out) == manifest_without_times(new.out)
    assert without_times(out).replace(str(new.out), "<out>") == \
        without_times(out2).replace(str(by_engine.out), "<out>")
    assert without_times(err) == without_times(err2)

    code, out, _ = new.run()  # and the next re-run there is answered by that folder's record
    assert code == 0 and new.engine_runs == 0 and "saved in" not in out


def test_a_rerun_into_a_new_out_answered_by_the_record_imports_no_engine_networkx_or_pillow(job, tmp_path):
    code, heavy, said = heavy_imports(job.args("-q", "--out", str(tmp_path / "new-out")),
                                      ("flowclass.engine", "networkx", "PIL.Image", "matplotlib", "pandas"))
    assert (code, heavy) == (0, []), said
    assert outputs(tmp_path / "new-out") == outputs(job.out)


def _old_export_edited(job: Job) -> None:
    """An image the first run exported, changed in its folder: it is not copied from there."""
    cluster = next(p for p in sorted((job.out / "clusters").iterdir()) if p.is_dir())
    image = next(cluster.iterdir())
    image.write_bytes(image.read_bytes() + b"\0")


def _pictures_gone_from_the_cache(job: Job) -> None:
    from flowclass.report_store import SCHEME

    for folder in Cache(job.cache).root.rglob(SCHEME):
        shutil.rmtree(folder)


NEW_OUT_CHANGES = {"an image's content changed": _image_swapped,
                   "an image added and another removed": _image_added_and_removed,
                   "an exported image edited in the first folder": _old_export_edited,
                   "the first folder's table deleted": _table_deleted,
                   "the pictures gone from the cache": _pictures_gone_from_the_cache,
                   "every cached result pruned": _result_pruned}


@pytest.mark.slow
@pytest.mark.parametrize("change", NEW_OUT_CHANGES)
def test_a_change_before_a_rerun_into_a_new_out_falls_through_to_the_engine(job, tmp_path, monkeypatch, change):
    NEW_OUT_CHANGES[change](job)
    new = _elsewhere(job, tmp_path, "new-out", monkeypatch)
    code, _, err = new.run()
    assert code == 0 and new.engine_runs == 1, err  # the engine ran it, not the record
    assert outputs(new.out) == fresh(job, tmp_path)
    assert new.record().is_file()


@pytest.mark.slow
def test_a_set_value_or_a_node_revision_changed_before_a_rerun_into_a_new_out_falls_through(
        job, tmp_path, monkeypatch):
    import dataclasses

    new = _elsewhere(job, tmp_path, "four", monkeypatch)
    code, _, err = new.run("--set", "cluster.n_clusters=4")
    assert code == 0 and new.engine_runs == 1, err
    assert outputs(new.out) == fresh(job, tmp_path, "--set", "cluster.n_clusters=4")

    import nodes.clustering as family

    monkeypatch.setattr(family, "NODES", [dataclasses.replace(t, revision=t.revision + 1)
                                          if t.type == "hierarchical_clustering" else t for t in family.NODES])
    newer = _elsewhere(job, tmp_path, "newer", monkeypatch)
    code, _, err = newer.run()
    assert code == 0 and newer.engine_runs == 1, err
    assert newer.states()["cluster"] == "done"


def test_a_file_of_the_users_in_the_new_out_is_left_to_the_engine_and_kept(job, tmp_path, monkeypatch):
    new = _elsewhere(job, tmp_path, "new-out", monkeypatch)
    new.out.mkdir()
    (new.out / "clusters.csv").write_text("mine\n")
    code, _, err = new.run()
    assert new.engine_runs == 1  # the engine, which keeps the user's file and says so
    assert code == 1 and new.states()["table"] == "failed" and "was not written by FlowClass" in err
    assert (new.out / "clusters.csv").read_text() == "mine\n" and not new.record().exists()


@pytest.mark.slow
def test_a_rerun_into_a_new_out_killed_while_copying_leaves_no_half_file_and_no_record(job, tmp_path, monkeypatch):
    """Killed (SIGKILL) after its 30th file is put in place: nothing half-written is left
    under a final name, no record says the folder is done, and the next run finishes it."""
    from flowclass.fsutil import is_temp_name

    new = tmp_path / "new-out"
    script = ("import os, signal, sys\n"
              "real, count = os.link, [0]\n"
              "def link(*a, **k):\n"
              "    count[0] += 1\n"
              "    if count[0] > 30:\n"
              "        os.kill(os.getpid(), signal.SIGKILL)\n"
              "    return real(*a, **k)\n"
              "os.link = link\n"
              "from flowclass import cli\n"
              f"sys.exit(cli.main({job.args('-q', '--out', str(new))!r}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == -signal.SIGKILL, done.stderr
    copied = [p for p in new.rglob("*.png")]
    assert 0 < len(copied) < 100 and not (new / "run.json").exists()
    sources = {p.name: p.read_bytes() for p in job.out.rglob("*.png")}
    assert all(p.read_bytes() == sources[p.name] for p in copied)  # each one whole
    again = _elsewhere(job, tmp_path, "new-out", monkeypatch)
    assert not again.record().exists()
    code, _, err = again.run()
    assert code == 0, err
    assert outputs(new) == outputs(job.out)
    assert not [p for p in new.rglob("*") if is_temp_name(p.name)]  # the leftovers removed


@pytest.mark.slow
def test_a_workflow_file_edited_before_a_rerun_into_a_new_out_falls_through(job, tmp_path, monkeypatch):
    """The same file and --set values name the same job: its record is found, and the
    edited parameter's key tells it apart."""
    workflow = tmp_path / "mine.json"
    workflow.write_text(Path(CLUSTER).read_text())
    first = Job(job.folder, tmp_path / "first", job.cache, job.capsys, monkeypatch, workflow=str(workflow))
    code, _, err = first.run()
    assert code == 0 and first.engine_runs == 1, err
    document = json.loads(workflow.read_text())
    next(n for n in document["nodes"] if n["id"] == "cluster")["params"]["n_clusters"] = 4
    workflow.write_text(json.dumps(document))
    second = Job(job.folder, tmp_path / "second", job.cache, job.capsys, monkeypatch, workflow=str(workflow))
    code, _, err = second.run()
    assert code == 0 and second.engine_runs == 1, err
    assert sorted(p.name for p in (second.out / "clusters").iterdir() if p.is_dir()) == ["C1", "C2", "C3", "C4"]


def test_a_picture_of_the_users_in_the_new_out_is_kept_and_the_folder_not_recorded(job, tmp_path, monkeypatch):
    new = _elsewhere(job, tmp_path, "new-out", monkeypatch)
    new.out.mkdir()
    (new.out / "dendrogram.png").write_bytes(b"my own picture")
    code, _, err = new.run()
    assert code == 0 and new.engine_runs == 0, err  # the nodes are served; the picture is not saved
    assert (new.out / "dendrogram.png").read_bytes() == b"my own picture"
    assert "not saved: dendrogram.png" in err and "was not written by FlowClass" in err
    assert (new.out / "map.png").read_bytes() == (job.out / "map.png").read_bytes()
    assert not new.record().exists()  # so the next run checks it all again
