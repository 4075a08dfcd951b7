"""Summaries over several runs or models: the mean and spread over seeds, the Pareto front."""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

__all__ = ["mean_std", "pareto_front"]


def mean_std(values: Sequence[float]) -> Dict[str, float]:
    """The mean and the sample standard deviation (``ddof=1``) of repeated runs, e.g. over seeds.

    Returns ``{"mean": ..., "std": ...}`` (plain floats, JSON-friendly); one value has std 0.

    >>> mean_std([1.0, 2.0, 3.0])
    {'mean': 2.0, 'std': 1.0}
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of numbers; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"values must be finite; got {arr.tolist()}")
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0}


def pareto_front(points: Mapping[str, Tuple[float, float]]) -> List[str]:
    """The names whose ``(x, y)`` no other point beats on both (lower is better on both axes).

    A point is *dominated* when another one is at least as good on both coordinates and
    strictly better on one. Points with a NaN coordinate are left out.

    Args:
        points: ``name -> (x, y)``.

    Returns:
        The non-dominated names, sorted by ``x``.
    """
    if not isinstance(points, Mapping):
        raise TypeError(f"points must be a mapping name -> (x, y); got {type(points).__name__}")
    clean = {}
    for name, value in points.items():
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise ValueError(f"points[{name!r}] must be a pair (x, y); got {value!r}")
        x, y = float(value[0]), float(value[1])
        if math.isfinite(x) and math.isfinite(y):
            clean[name] = (x, y)
    front = [a for a, (xa, ya) in clean.items()
             if not any(xb <= xa and yb <= ya and (xb < xa or yb < ya) for b, (xb, yb) in clean.items() if b != a)]
    return sorted(front, key=lambda name: clean[name])
