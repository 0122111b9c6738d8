"""Freed memory goes back to the OS after fits (cycles collected, then glibc's malloc_trim)."""

from __future__ import annotations

import ctypes.util
import gc
import sys
import weakref

import pytest

from models._internal import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_is_asked_of_glibc_and_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The service runs on Debian (glibc): trimming must be available there.
    assert ctypes.util.find_library("c") is not None
    assert memory.release_free_memory() is True
    monkeypatch.setattr(memory, "ENABLED", False)
    assert memory.release_free_memory() is False


class _Node:
    """Two of these pointing at each other are freed only by the cyclic collector."""

    other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_release_frees_unreachable_cycles_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # A posterior (xarray's DataTree) is such a cycle: without a collection, dropping it
    # frees nothing, and trimming has nothing to hand back.
    gc.disable()
    try:
        monkeypatch.setattr(memory, "ENABLED", False)
        kept = _cycle()
        memory.release_free_memory()
        assert kept() is not None
        monkeypatch.setattr(memory, "ENABLED", True)
        memory.release_free_memory(collect=False)  # trimming alone, as at a fit's end
        assert kept() is not None
        memory.release_free_memory()
        assert kept() is None
    finally:
        gc.enable()
