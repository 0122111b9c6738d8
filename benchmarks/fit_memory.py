"""Does a long-lived process grow with every fit? Resident memory across repeated fits.

Fits the same data set N times in one process, dropping each posterior before the next,
and prints the resident set size after each fit, in three variants, each in its own
process (``models._internal.memory``):

- ``default``: what the service does, freed memory handed back to the OS after every fit
  and glibc's arenas capped at one a core;
- ``uncapped``: trimming but glibc's own arena limit (``MALLOC_ARENA_MAX`` = 8 a core);
- ``neither``: the baseline, neither trimming nor the cap.

The ratio at the end is the baseline's growth per fit to the default's.

    .venv/bin/python benchmarks/fit_memory.py                      # forecastbench, 6 fits
    .venv/bin/python benchmarks/fit_memory.py --fits 10 --draws 1000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "forecastbench-supers-2024-07-21.csv"


VARIANTS = ("default", "uncapped", "neither")


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
        del post
        gc.collect()
        sizes.append(round(memory.resident_mib(), 1))
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--fits", type=int, default=6)
    ap.add_argument("--draws", type=int, default=500, help="draws and tuning steps per chain")
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        sizes = one_variant(args.data, args.fits, args.draws, args.variant != "neither")
        print(json.dumps(sizes))
        return
    growth = {}
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--variant", variant, "--data", str(args.data)]
        cmd += ["--fits", str(args.fits), "--draws", str(args.draws)]
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
        if variant != "default":  # glibc's own limit; the fit then leaves it as it is
            env["MALLOC_ARENA_MAX"] = str(8 * (os.cpu_count() or 1))
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        sizes = json.loads(out.strip().splitlines()[-1])
        # Growth from the second fit on (the first one also loads libraries and data).
        growth[variant] = (sizes[-1] - sizes[1]) / max(1, len(sizes) - 2)
        print(f"{variant:>8}: RSS after each fit (MiB) {sizes}; {growth[variant]:+.1f} MiB a fit")
    base = growth["neither"]
    ratio = base / growth["default"] if growth["default"] > 0 else float("inf")
    print(f"growth per fit with neither / the default: {ratio:.1f}")


if __name__ == "__main__":
    main()
