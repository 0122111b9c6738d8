"""Fixtures for the service: the PyTensor cache under the repository's var/."""

from __future__ import annotations

import os
from pathlib import Path

# PyTensor reads its flags at import: point its compile cache at the repo's var/ first.
_cache = Path(__file__).resolve().parents[2] / "var" / "cache" / "pytensor"
_cache.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={_cache}")
