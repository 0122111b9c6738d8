"""Compiling the model when PyTensor's numba cache holds an entry that does not fit."""

from __future__ import annotations

import numpy as np
import nutpie
import pymc as pm
import pytensor
import pytest
from numba.core.errors import NumbaError, TypingError

from models.forecast_model import compile_nutpie


def _tiny_model() -> pm.Model:
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=np.array([0.4, 0.6, 0.5]))
    return model


def test_a_compile_that_fails_on_the_numba_cache_is_redone_without_it(monkeypatch, caplog):
    """A stale cache entry (numba's TypingError while the cache is on) costs a second
    compile without the cache, not the fit; the model compiled then samples."""
    real = nutpie.compile_pymc_model
    caches: list[bool] = []

    def stale_cache(model, **kwargs):  # type: ignore[no-untyped-def]
        caches.append(bool(pytensor.config.numba__cache))
        if pytensor.config.numba__cache:
            raise TypingError("Invalid use of type(CPUDispatcher(fused_elemwise_fn)) readonly")
        return real(model, **kwargs)

    monkeypatch.setattr(nutpie, "compile_pymc_model", stale_cache)
    assert pytensor.config.numba__cache
    with caplog.at_level("WARNING"):
        compiled = compile_nutpie(_tiny_model(), ["mu"])
    assert caches == [True, False]
    assert pytensor.config.numba__cache  # the flag is back on for everything else
    assert "without the cache" in caplog.text and "TypingError" in caplog.text
    trace = nutpie.sample(compiled, draws=200, tune=200, chains=2, seed=1, progress_bar=False)
    # The posterior of mu: Normal(1.5 / 4, 1 / sqrt(4)) = mean 0.375, sd 0.5.
    assert float(trace.posterior["mu"].mean()) == pytest.approx(0.375, abs=0.1)


def test_other_compile_errors_are_not_hidden(monkeypatch):
    """Only numba's errors with the cache on are retried: one without the cache, or any
    other error, reaches the caller."""
    calls: list[bool] = []

    def broken(model, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(bool(pytensor.config.numba__cache))
        raise NumbaError("typing failed")

    monkeypatch.setattr(nutpie, "compile_pymc_model", broken)
    with pytest.raises(NumbaError):
        compile_nutpie(_tiny_model(), ["mu"])
    assert calls == [True, False]  # retried once without the cache, then given up

    def wrong(model, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(bool(pytensor.config.numba__cache))
        raise ValueError("not a numba error")

    calls.clear()
    monkeypatch.setattr(nutpie, "compile_pymc_model", wrong)
    with pytest.raises(ValueError, match="not a numba error"):
        compile_nutpie(_tiny_model(), ["mu"])
    assert calls == [True]
