"""Find Duplicates checks its candidate pairs in worker processes: the same copies, the
same scores to the last bit, whatever the number of workers. Real images: edited copies of
the sample photographs, and the shipped sample digits, whose look-alike scans pass the
coarse check and fail the fine one. Run from a thread while another thread lives, as the
canvas runs a node (the workers are forked from it)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from test_resume_duplicates import edited_photos


@pytest.mark.slow
def test_workers_give_the_serial_copies_and_scores(tmp_path, monkeypatch):
    from nodes.lib.cleaning import duplicates
    from nodes.lib.images.filestate import sha256_of_file
    from nodes.lib.images.sample_images import write_sample

    paths = edited_photos(tmp_path, photos=8)
    paths += sorted(write_sample("digits", tmp_path / "digits").rglob("*.png"))[:400]
    rows = np.stack([np.asarray(Image.open(p).convert("L").resize((16, 16)), np.float32).ravel() for p in paths])
    rows -= rows.mean(axis=0)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    for name in ("PREPARE_CHUNK", "CROPS_CHUNK", "ALIGN_CHUNK", "FINE_CHUNK"):  # many chunks for each worker
        monkeypatch.setattr(duplicates, name, 4)
    found = {}
    for workers in (1, 2):
        reports = []

        def find(workers=workers, reports=reports):
            found[workers] = duplicates.find_copies(
                [str(p) for p in paths], [sha256_of_file(p) for p in paths], rows, sizes=lambda path: 0,
                areas=[1] * len(paths), workers=workers,
                progress=lambda done, total, unit, message: reports.append((message, done, total)))

        # as in the canvas: the node runs in a thread of its own while other threads live
        with ThreadPoolExecutor(2) as threads:
            other = threading.Event()
            threads.submit(other.wait, 60)
            threads.submit(find).result(timeout=300)
            other.set()
        fine = [(done, total) for message, done, total in reports if message == "comparing fine detail"]
        assert fine[-1][0] == fine[-1][1] and [d for d, _ in fine] == sorted(d for d, _ in fine)
    (serial, serial_scores), (parallel, parallel_scores) = found[1], found[2]
    assert np.array_equal(serial.index, parallel.index) and np.array_equal(serial.group, parallel.group)
    assert np.array_equal(serial.keep, parallel.keep) and np.array_equal(serial.kind, parallel.kind)
    assert np.array_equal(serial_scores, parallel_scores, equal_nan=True)
    assert len(serial.index) == 8 * 5  # each photo with its four copies; no two sample digits
    checked = serial_scores[:, 3][np.isfinite(serial_scores[:, 3])]
    assert (checked > duplicates.DETAIL).sum() >= 5  # look-alikes went as far as the fine check


@pytest.mark.slow  # 3 s: the quick loop checks Find Duplicates elsewhere
@pytest.mark.parametrize("workers", [1, 2])
def test_find_duplicates_leaves_the_process_blas_threads_alone(tmp_path, monkeypatch, workers):
    """A BLAS thread limit is the whole process's: set while Find Duplicates checks pairs, it
    made Find Label Issues, run beside it by the engine, project its embeddings with one thread
    and write other bits into label_issues.csv than a run where the two did not overlap."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from nodes.lib.cleaning import duplicates
    from nodes.lib.images.filestate import sha256_of_file

    paths = edited_photos(tmp_path, photos=2)
    rows = np.stack([np.asarray(Image.open(p).convert("L").resize((16, 16)), np.float32).ravel() for p in paths])
    rows -= rows.mean(axis=0)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    seen = []
    monkeypatch.setattr(duplicates, "_near", lambda *args, **kwargs: seen.append(
        [pool["num_threads"] for pool in threadpool_info()]) or [])
    with threadpool_limits(2):  # what the process has, whatever this machine's cores
        duplicates.find_copies([str(p) for p in paths], [sha256_of_file(p) for p in paths], rows,
                               sizes=lambda path: 0, areas=[1] * len(paths), workers=workers)
    assert len(seen) == 1 and min(seen[0]) >= 2, seen  # (a library loaded meanwhile has its own default)


def test_fine_checks_go_group_by_group_in_their_order():
    """Pairs that connect the same images are fine-checked one after another (each worker
    then decodes a group's images once, while it keeps them), in their order within a group."""
    from nodes.lib.cleaning.duplicates import NO_ALIGNMENT, _by_group

    pairs = np.array([[0, 5], [1, 2], [2, 9], [3, 4], [5, 7], [6, 8], [7, 0], [8, 9]])
    passed = [(k, NO_ALIGNMENT) for k in range(7)]  # the last pair did not pass the coarse check
    assert [k for k, _ in _by_group(passed, pairs)] == [0, 4, 6, 1, 2, 3, 5]


def test_workers_are_forked_once_the_memory_threads_freed_is_given_back():
    """What a thread frees stays with the allocator's arena for that thread; Find Duplicates
    searches neighbours on threads beside its workers, and the next pool's fork found that
    memory still held (it counted in the 100,000-image run's peak). Freed by a thread, in a
    fresh process (the test suite's own arenas would blur it): 3,000 blocks of 64 KB among
    small ones kept; the pool's parent gives most of it back first."""
    import subprocess
    import sys

    script = """
import re, threading
from nodes.lib.cleaning.pair_pool import in_order

def resident_mb():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmRSS:\\s+(\\d+)", status.read()).group(1)) / 1024

kept = []

def allocate_and_free():
    blocks = []
    for _ in range(3_000):
        blocks.append(bytearray(64 * 1024))
        kept.append(bytearray(1_000))  # what pins the arena's freed blocks in place
    blocks.clear()

thread = threading.Thread(target=allocate_and_free)
thread.start()
thread.join()
before = resident_mb()
with in_order(abs, [-1, -2, -3, -4], 2) as results:
    assert list(results) == [1, 2, 3, 4]
    print(before, resident_mb())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    before, after = (float(v) for v in done.stdout.split())
    assert after < before - 100  # 190 MB of blocks freed: most of it given back


def test_workers_asked_to_keep_freed_memory_reuse_it_without_faulting_it_in_again():
    """Aligning makes and frees megabytes of arrays per chunk; by default glibc hands the
    heap's free top back and faults those pages in again for the next chunk (a fifth of
    aligning's CPU in the kernel). Ten arrays of 1.6 MB (aligning's size) made and freed five times in a worker:
    kept, the pages are faulted in about once; not kept, about every time. Run in a fresh
    process, as the pool forks the test's own."""
    import subprocess
    import sys

    script = """
import resource
import numpy as np
from nodes.lib.cleaning.pair_pool import in_order

def churn(_):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        arrays = [np.ones(200_000) for _ in range(10)]
        del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

for keep in (0, 64 << 20):
    with in_order(churn, [0, 1], 2, keep_freed=keep) as results:
        print(max(results))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    plain, kept = (int(v) for v in done.stdout.split())
    pages = 10 * 200_000 * 8 // 4096  # of the ten arrays
    assert plain > 4 * pages  # faulted in again each time
    assert kept < 1.5 * pages  # once
