"""What contentious questions cost per gradient: the model with and without the mixture.

The mixture (docs/model.md, "Contentious questions") computes every eligible question's
forecasts and outcome term twice, once per component. This script builds the model on
data of the backtest-scale shape (``backtest_scale.shaped_data``: 3-4 forecasts a question,
so nearly every question is eligible, and 4/5 of them resolved) with the default config and
with the mixture off (``noise_scale: 1``), compiles the log density and its gradient with
numba (the backend nutpie runs), and times both at the same point in this process. It
prints milliseconds per evaluation and the ratio on to off.

    .venv/bin/python benchmarks/contentious_cost.py                 # 5k and 50k forecasts
    .venv/bin/python benchmarks/contentious_cost.py --sizes 5000 --reps 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")


def gradient_ms(data, config, reps: int) -> float:  # type: ignore[no-untyped-def]
    """Median milliseconds of one log density + gradient evaluation."""
    import numpy as np
    import pytensor

    from models.forecast_model import ModelStructure, build_model, encode

    structure = ModelStructure.for_data(data)
    model = build_model(structure, config, encode(data, structure))
    point = model.initial_point()
    fn = pytensor.function(
        model.value_vars,
        [model.logp(), *pytensor.grad(model.logp(), model.value_vars)],
        mode="NUMBA",
        on_unused_input="ignore",
    )
    args = [point[v.name] for v in model.value_vars]
    fn(*args)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main() -> None:
    from backtest_scale import shaped_data

    from models.config import ModelConfig
    from models.dataset import ForecastData

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--reps", type=int, default=100)
    args = ap.parse_args()
    on = ModelConfig()
    off = ModelConfig.model_validate({"forecaster": {"contentious": {"noise_scale": 1.0}}})
    for n in args.sizes:
        data, _ = shaped_data(n)
        # One fold's view: a fifth of the questions without their outcomes.
        held = {q.id for q in data.questions[::5]}
        data = ForecastData(
            data.questions,
            data.forecasts,
            resolutions=tuple(r for r in data.resolutions if r.question_id not in held),
        )
        ms_off = gradient_ms(data, off, args.reps)
        ms_on = gradient_ms(data, on, args.reps)
        print(
            f"{n:6d} forecasts {len(data.questions):6d} questions | gradient with the mixture "
            f"{ms_on:.3f} ms, without {ms_off:.3f} ms | ratio on/off {ms_on / ms_off:.2f}"
        )


if __name__ == "__main__":
    main()
