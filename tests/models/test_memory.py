"""Freed memory goes back to the OS after fits (cycles collected, then glibc's malloc_trim),
and compiled models stay out of the collections (frozen)."""

from __future__ import annotations

import ctypes.util
import gc
import sys
import weakref

import numpy as np
import pytest

from models import forecast_model as fm
from models._internal import memory
from models.config import ModelConfig
from models.simulate import simulate


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


def test_freezing_exempts_what_is_alive_until_the_next_freeze() -> None:
    # Compiled models live as long as the process: frozen, a fit's collection skips them.
    gc.disable()
    try:
        alive = _cycle()
        held = alive()  # alive when frozen, as a compiled model is
        assert memory.freeze_long_lived() == gc.get_freeze_count() > 0
        del held
        gc.collect()
        assert alive() is not None  # frozen: the collector's passes no longer see it
        after = _cycle()  # what fits make later is collected as before
        memory.release_free_memory()
        assert after() is None
        # The next compilation thaws first: a frozen cycle that died is freed then.
        memory.freeze_long_lived()
        assert alive() is None
    finally:
        gc.enable()


def test_a_compilation_freezes_and_a_cached_model_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(fm, "freeze_long_lived", lambda: calls.append(1) or 1)
    data, _ = simulate(
        np.random.default_rng(0), n_questions=6, n_forecasters=3, forecasts_per_question=2
    )
    structure = fm.ModelStructure.for_data(data)
    encoded = fm.encode(data, structure)
    cache = fm._CompiledModels()
    config = ModelConfig()
    cache.get(structure, config, encoded)
    assert calls == [1] and cache.compilations == 1
    cache.get(structure, config, encoded)
    assert calls == [1] and cache.compilations == 1
