"""Hand memory that was freed back to the system before a large step.

glibc keeps memory freed in worker threads' arenas for reuse, and its resident size stays
counted: at 100,000 images Embed's decoding threads leave about 0.4 GB behind, which the
clustering step's peak then stacks on (benchmarks/README.md, scale.py). ``malloc_trim``
returns it. Elsewhere (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import sys


def release_freed_memory() -> bool:
    """Return freed heap memory to the system; True when glibc did so."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # when the clustering is large enough to need it
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))
