"""Hand freed memory back to the operating system after a fit.

A fit allocates and frees hundreds of megabytes from several sampler threads (1.2 GiB a
fold at 50,000 forecasts), and its posterior is a tree of objects that point at each other
(xarray's DataTree). Two things keep a long-lived process (the fit worker, a backtest over
many folds) from growing by about one posterior per fit although it keeps nothing alive:

- ``gc.collect()``: dropping a posterior's last reference frees nothing until Python's
  cyclic garbage collector runs, and in a process with a model compiled (600,000 tracked
  objects after a forecastbench fit) its full passes are rare. Without it, five 50k folds
  left the process at 1.2, 2.0, 2.0, 2.6 and 3.3 GiB; with it, 0.6 GiB after each of the
  two folds measured.
- ``malloc_trim(0)``: glibc keeps freed memory in its per-thread arenas; trimming returns
  it (measured 8 MiB a fit on forecastbench without it).

Capping glibc's arenas (``MALLOC_ARENA_MAX=2``) was measured too and bought nothing once
the cycles are collected (docs/performance.md, "Unreachable, not yet collected").

A collection is a pass over every object the collector tracks, and most of those belong to
compiled models, which live as long as the process. :func:`freeze_long_lived` (called once
per compilation, and by the API process when it swaps in a published fit after something
froze) moves everything alive then out of the collector's passes (``gc.freeze``), so that
the collection before each fit scans only what is newer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
from functools import cache

#: Off only to measure what collecting and trimming save (benchmarks/fit_memory.py).
ENABLED = True

_freezes = 0


@cache
def _malloc_trim():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


def release_free_memory(collect: bool = True) -> bool:
    """Free unreachable cycles, then hand freed heap memory back to the OS where the C
    library can; True if trimming was asked of it.

    The collection comes first: what it frees is what trimming can hand back. It is a full
    pass over every object the collector tracks that :func:`freeze_long_lived` has not
    frozen (3 ms after a forecastbench model is compiled and frozen, 600 ms unfrozen:
    benchmarks/collection_cost.py). A fit makes one before it samples and only trims at its
    end (``collect=False``): the next fit's pass frees what this one left.
    """
    if not ENABLED:
        return False
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def freeze_long_lived() -> int:
    """Exempt every object alive now from the cyclic collector's passes; the number frozen.

    For after a model is compiled (its graphs and functions live as long as the process,
    and they are most of what a full collection scans) and after the API process swaps in
    a newly published fit (which lives until the next one). Three steps:

    - ``gc.unfreeze()``: what an earlier call froze goes back to the collector, so cycles
      that died since (a posterior that was alive at the last compilation, then replaced)
      are freed now. A frozen cycle that dies is kept only until the next call.
    - ``gc.collect()``: garbage is freed, not frozen.
    - ``gc.freeze()``: the survivors move to the permanent generation.

    Not switched off by :data:`ENABLED`: it frees nothing less. It costs one full pass
    over every object, per compilation (which takes tens of seconds) and per fit the API
    process swaps in after something froze (0.6 s with one forecastbench model compiled).
    """
    global _freezes
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _freezes += 1
    return gc.get_freeze_count()


def freezes() -> int:
    """How often :func:`freeze_long_lived` has run in this process: an object kept since a
    value of this count may be frozen if the count has moved."""
    return _freezes


def resident_mib() -> float:
    """The process's resident memory now, in MiB (Linux; 0.0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
