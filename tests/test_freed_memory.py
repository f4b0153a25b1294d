"""Memory freed in worker threads goes back to the system before clustering's largest step."""

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nodes.lib.clustering.freed_memory import release_freed_memory


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux's")
def test_memory_freed_by_decoding_threads_is_handed_back():
    """As Embed does: threads make batches of 64 x 1,296 float32 (331 kB each, from
    glibc's thread arenas); 300 MB of them, then every other one is freed (the holes stay
    counted as resident until handed back)."""
    def batches(seed):
        rng = np.random.default_rng(seed)
        return [rng.random((64, 1296), dtype=np.float32) for _ in range(150)]

    with ThreadPoolExecutor(4) as pool:
        made = [b for part in pool.map(batches, range(8)) for b in part]
    assert sum(b.nbytes for b in made) > 300e6
    kept = made[::2]
    del made
    freed = resident_mb()
    assert release_freed_memory()
    assert resident_mb() < freed - 100
    assert all(b.shape == (64, 1296) for b in kept)  # what is still in use stays
