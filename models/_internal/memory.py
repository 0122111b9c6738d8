"""Hand freed memory back to the operating system after a fit.

A fit allocates and frees hundreds of megabytes from several sampler threads (1.2 GiB a
fold at 50,000 forecasts). glibc's allocator keeps much of that freed memory in its
per-thread arenas, so a long-lived process (the fit worker, a backtest over many folds)
grows by about one posterior per fit although nothing is kept alive: measured 8 MiB a fit
on forecastbench, 2.8 -> 7.6 GiB over five 50k folds. ``malloc_trim(0)`` returns most of
it. What it cannot return stays in the arenas of the sampler's threads (glibc makes up to
eight per core): over five 50k folds at 500 + 500 draws the process still grew from 1.2 to
3.3 GiB with trimming, and held 0.6 GiB after each fold with the arenas capped at two.
:func:`limit_arenas` sets that cap (docs/performance.md, "It is not Python objects").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache

#: Off only to measure what trimming saves (benchmarks/fit_memory.py).
ENABLED = True


#: glibc's ``mallopt`` parameter for the number of arenas (``M_ARENA_MAX`` in malloc.h).
_M_ARENA_MAX = -8
_arena_cap: int | None = None


@cache
def _libc():  # type: ignore[no-untyped-def]
    """glibc, or None elsewhere (musl has neither malloc_trim nor the arena cap)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def release_free_memory() -> bool:
    """Return freed heap memory to the OS where the C library can; True if it was asked."""
    libc = _libc()
    if libc is None or not ENABLED:
        return False
    libc.malloc_trim(0)
    return True


def default_arena_cap() -> int:
    """One arena per core, two at least: what each of the sampler's threads can have alone."""
    return max(2, os.cpu_count() or 1)


def limit_arenas(arenas: int | None = None) -> int | None:
    """Cap glibc's malloc arenas for this process; the cap in force, None if there is none.

    Call it before the process starts threads (``helsinki``'s entry point does): glibc
    fixes its limit once a process has more than eight arenas, and a thread keeps the arena
    it has. An operator's ``MALLOC_ARENA_MAX`` wins (glibc has read it at start): it is
    reported and not changed. Later calls return the first call's cap.
    """
    global _arena_cap
    if _arena_cap is not None:
        return _arena_cap
    given = os.environ.get("MALLOC_ARENA_MAX", "").strip()
    if given.isdigit() and int(given) > 0:
        _arena_cap = int(given)
        return _arena_cap
    libc = _libc()
    cap = arenas or default_arena_cap()
    if libc is None or libc.mallopt(_M_ARENA_MAX, cap) != 1:
        return None
    _arena_cap = cap
    return cap


def resident_mib() -> float:
    """The process's resident memory now, in MiB (Linux; 0.0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
