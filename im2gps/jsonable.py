"""Writing numpy values and paths as plain JSON: the one home of JSON conversion.

:func:`json_default` for ``json.dump(..., default=...)``; :func:`json_safe` for
a strict document (numpy made plain, NaN and infinity as null).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["json_default", "json_safe"]


def json_default(value: Any) -> Any:
    """Plain JSON form of numpy scalars and arrays and of paths; TypeError otherwise."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_safe(value: Any) -> Any:
    """``value`` with numpy types made plain and NaN / infinity made None (JSON null)."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    return json_safe(json_default(value))
