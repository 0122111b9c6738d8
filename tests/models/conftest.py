"""Fixtures for the modelling core: small samplers, simulated data."""

from __future__ import annotations

import pytest

from models.config import ModelConfig, SamplerSettings


@pytest.fixture
def quick_sampler() -> SamplerSettings:
    """Enough draws for stable means in tests, few enough to be quick."""
    return SamplerSettings(chains=2, tune=300, draws=300, seed=1, retries=0)


@pytest.fixture
def full_sampler() -> SamplerSettings:
    return ModelConfig().sampler
