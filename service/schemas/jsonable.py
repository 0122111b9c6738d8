"""Values made fit for JSON: NaN and infinities become null, other objects their text."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts and that strict JSON parsers read."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
