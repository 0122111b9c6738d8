"""Hand freed memory back to the operating system after a fit.

A fit allocates and frees hundreds of megabytes from several sampler threads (1.2 GiB a
fold at 50,000 forecasts). glibc's allocator keeps much of that freed memory in its
per-thread arenas, so a long-lived process (the fit worker, a backtest over many folds)
grows by about one posterior per fit although nothing is kept alive: measured 8 MiB a fit
on forecastbench, 2.8 -> 7.6 GiB over five 50k folds. ``malloc_trim(0)`` returns it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache

#: Off only to measure what trimming saves (benchmarks/fit_memory.py).
ENABLED = True


@cache
def _malloc_trim():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


def release_free_memory() -> bool:
    """Return freed heap memory to the OS where the C library can; True if it was asked."""
    trim = _malloc_trim()
    if trim is None or not ENABLED:
        return False
    trim(0)
    return True


def resident_mib() -> float:
    """The process's resident memory now, in MiB (Linux; 0.0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
