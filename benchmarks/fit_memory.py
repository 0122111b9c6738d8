"""Does a long-lived process grow with every fit? Resident memory across repeated fits.

Fits the same data set N times in one process, dropping each posterior before the next,
and prints the resident set size after each fit, first as the service runs (in every fit,
unreachable cycles collected and freed memory handed back to the OS:
``models._internal.memory``) and then, as the baseline, without either. Each variant runs
in its own process. The ratio at the end is the growth per fit without to the growth with.

    .venv/bin/python benchmarks/fit_memory.py                      # forecastbench, 6 fits
    .venv/bin/python benchmarks/fit_memory.py --fits 10 --draws 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "forecastbench-supers-2024-07-21.csv"


def one_variant(path: Path, fits: int, draws: int, trim: bool) -> list[float]:
    from models._internal import memory
    from models.config import SamplerSettings
    from models.forecast_model import ForecastModel
    from models.history import read_forecasts_csv, to_forecast_data

    memory.ENABLED = trim
    data = to_forecast_data(read_forecasts_csv(path).latest_per_forecaster())
    model = ForecastModel()
    sizes = []
    for i in range(fits):
        post = model.fit(data, sampler=SamplerSettings(seed=i, draws=draws, tune=draws))
        del post  # as the fit worker drops it: no collection here (a fit makes its own)
        sizes.append(round(memory.resident_mib(), 1))
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--fits", type=int, default=6)
    ap.add_argument("--draws", type=int, default=500, help="draws and tuning steps per chain")
    ap.add_argument("--variant", choices=["trim", "no-trim"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        sizes = one_variant(args.data, args.fits, args.draws, args.variant == "trim")
        print(json.dumps(sizes))
        return
    growth = {}
    for variant in ("trim", "no-trim"):
        cmd = [sys.executable, __file__, "--variant", variant, "--data", str(args.data)]
        cmd += ["--fits", str(args.fits), "--draws", str(args.draws)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        sizes = json.loads(out.strip().splitlines()[-1])
        # Growth from the second fit on (the first one also loads libraries and data).
        growth[variant] = (sizes[-1] - sizes[1]) / max(1, len(sizes) - 2)
        print(f"{variant:>8}: RSS after each fit (MiB) {sizes}; {growth[variant]:+.1f} MiB a fit")
    ratio = growth["no-trim"] / growth["trim"] if growth["trim"] > 0 else float("inf")
    print(f"growth per fit without trimming / with it: {ratio:.1f}")


if __name__ == "__main__":
    main()
