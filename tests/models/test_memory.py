"""Freed memory goes back to the OS after fits (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from models._internal import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_is_asked_of_glibc_and_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The service runs on Debian (glibc): trimming must be available there.
    assert ctypes.util.find_library("c") is not None
    assert memory.release_free_memory() is True
    monkeypatch.setattr(memory, "ENABLED", False)
    assert memory.release_free_memory() is False
