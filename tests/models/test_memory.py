"""Freed memory goes back to the OS after fits (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models._internal import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_is_asked_of_glibc_and_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The service runs on Debian (glibc): trimming must be available there.
    assert ctypes.util.find_library("c") is not None
    assert memory.release_free_memory() is True
    monkeypatch.setattr(memory, "ENABLED", False)
    assert memory.release_free_memory() is False


# Counts the malloc arenas in use after six threads each allocate at the same time: the
# first malloc of a thread takes an arena of its own unless the cap is reached.
_COUNT_ARENAS = r"""
import ctypes, ctypes.util, os, sys, tempfile, threading
from models._internal import memory
cap = memory.limit_arenas(int(sys.argv[1])) if sys.argv[1] != "none" else None
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
barrier = threading.Barrier(6)
def allocate():
    libc.malloc(64)
    barrier.wait()  # all six alive at once: no thread hands its arena on
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
path = tempfile.mktemp()
fp = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
print(cap, open(path).read().count("<heap nr="))
os.unlink(path)
"""


def _arenas_after_six_threads(cap: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    root = Path(__file__).resolve().parents[2]
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | (env or {})
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_ARENAS, cap],
        cwd=root,
        env=environ,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the arena cap is glibc's")
def test_arena_cap_bounds_the_arenas_of_new_threads() -> None:
    # Without the cap, glibc gives each of the six threads an arena (it allows 8 a core).
    assert _arenas_after_six_threads("none") == ("None", 7)
    assert _arenas_after_six_threads("2") == ("2", 2)
    # An operator's MALLOC_ARENA_MAX is reported and kept.
    assert _arenas_after_six_threads("2", {"MALLOC_ARENA_MAX": "3"}) == ("3", 3)


def test_arena_cap_defaults_to_the_cores_and_is_set_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.os, "cpu_count", lambda: 1)
    assert memory.default_arena_cap() == 2
    monkeypatch.setattr(memory.os, "cpu_count", lambda: 6)
    assert memory.default_arena_cap() == 6
    monkeypatch.setattr(memory, "_arena_cap", 5)
    assert memory.limit_arenas(3) == 5
