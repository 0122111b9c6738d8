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


class SampledCalls(list[tuple[int, int, float]]):
    """``(tune, draws, target_accept)`` of every ``nutpie.sample`` call, in order, and in
    ``divergences`` the divergent transitions each call's draws had."""

    def __init__(self) -> None:
        super().__init__()
        self.divergences: list[int] = []

    def clear(self) -> None:
        """Forget the calls and their divergences alike."""
        super().clear()
        self.divergences.clear()


@pytest.fixture
def sampled_settings(monkeypatch: pytest.MonkeyPatch) -> SampledCalls:
    """Records ``(tune, draws, target_accept)`` of every ``nutpie.sample`` call, which still
    samples, and the divergences of its draws."""
    import numpy as np
    import nutpie

    calls = SampledCalls()
    real_sample = nutpie.sample

    def recording_sample(compiled, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((kwargs["tune"], kwargs["draws"], kwargs["target_accept"]))
        trace = real_sample(compiled, **kwargs)
        calls.divergences.append(int(np.asarray(trace["sample_stats"]["diverging"]).sum()))
        return trace

    monkeypatch.setattr(nutpie, "sample", recording_sample)
    return calls


#: Test files that take longest (whole 5-fold backtests, simulation-based calibration, fits
#: at the default sampler settings), longest first. They are collected first, so that
#: pytest-xdist (`make test` runs files in parallel, `--dist loadfile`) starts them at once
#: instead of leaving one to run alone at the end. Measured with `--durations=0`
#: (docs/operations.md, "Tests").
LONGEST_FIRST = (
    "tests/service/test_quality_target.py",  # 1,320 s on 2026-11-29
    "tests/models/test_forecast_model.py",  # 601 s
    "tests/models/test_recovery.py",  # 467 s
    "tests/service/test_cli_fit.py",  # 283 s
    "tests/models/test_topics.py",  # 275 s
    "tests/models/test_group_spreads.py",  # 272 s
    "tests/models/test_drift.py",  # 191 s
    "tests/service/test_cli_backtest.py",  # 172 s
    "tests/models/test_crowd_drift.py",  # 166 s
    "tests/models/test_contentious.py",  # 162 s
    "tests/e2e/test_dashboard.py",  # 150 s
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Moves the files of LONGEST_FIRST to the front, each file's tests kept together and in
    their order; the rest keep theirs."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    # A node id starts with the file's path from the root directory.
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))
