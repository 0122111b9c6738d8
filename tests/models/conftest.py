"""Fixtures for the modelling core: small samplers, simulated data."""

from __future__ import annotations

import os
from pathlib import Path

# PyTensor reads its flags at import: point its compile cache at the repo's var/ first.
_cache = Path(__file__).resolve().parents[2] / "var" / "cache" / "pytensor"
_cache.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={_cache}")

import pytest  # noqa: E402

from models.config import ModelConfig, SamplerSettings  # noqa: E402


@pytest.fixture
def quick_sampler() -> SamplerSettings:
    """Enough draws for stable means in tests, few enough to be quick."""
    return SamplerSettings(chains=2, tune=300, draws=300, seed=1, retries=0)


@pytest.fixture
def full_sampler() -> SamplerSettings:
    return ModelConfig().sampler
