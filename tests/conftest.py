"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

# PyTensor reads its flags at import: point its compile cache at the repo's var/ first, so
# that a second run of the suite does not pay for compiling the model again.
_CACHE = Path(__file__).resolve().parents[1] / "var" / "cache" / "pytensor"
_CACHE.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={_CACHE}")

import pytest  # noqa: E402

#: The shared data folder sits beside the repository (``/work/shared/data`` next to
#: ``/work/main``; in CI a copy of ``shared/`` beside the clone).
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real forecasting data (``shared/data`` beside the repository)."""
    folder = SHARED_DATA.resolve()
    if not folder.is_dir():
        pytest.fail(
            f"shared data folder not found at {folder}: tests expect a copy of shared/ "
            "(with data/*.csv) beside the repository checkout",
            pytrace=False,
        )
    return folder


@pytest.fixture
def sampled_settings(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, float]]:
    """Records ``(tune, draws, target_accept)`` of every ``nutpie.sample`` call, which still
    samples."""
    import nutpie

    calls: list[tuple[int, int, float]] = []
    real_sample = nutpie.sample

    def recording_sample(compiled, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((kwargs["tune"], kwargs["draws"], kwargs["target_accept"]))
        return real_sample(compiled, **kwargs)

    monkeypatch.setattr(nutpie, "sample", recording_sample)
    return calls
