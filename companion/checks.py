"""Input checks shared by the whole package: one place, one wording of the error messages.

Each check returns the value it accepted (so ``self.n = check_positive_int(n, "n")`` reads as
one line) and raises ``TypeError``/``ValueError`` naming the argument and what was expected.
``bool`` is refused where an int is expected (``True`` is an ``int`` in Python, but never a
meaningful count); NumPy integers and floats are accepted where Python ones are.

A value of the wrong type raises :class:`ArgumentTypeError`, which is both a ``TypeError``
(what it is) and a ``ValueError`` (what these checks raised first), so code and tests that
catch either keep working.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

__all__ = [
    "ArgumentTypeError",
    "check_int",
    "check_nonnegative",
    "check_nonnegative_int",
    "check_positive",
    "check_positive_int",
    "check_probability",
    "check_tensor",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that ``except ValueError`` also catches)."""


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_int(value: object, name: str, minimum: int) -> int:
    """``int(value)`` if it is an int ``>= minimum``; otherwise an error naming ``name``."""
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be an int >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    """``int(value)`` if it is an int ``>= 1``; otherwise an error naming ``name``."""
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be a positive int; got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def check_nonnegative_int(value: object, name: str) -> int:
    """``int(value)`` if it is an int ``>= 0``; otherwise an error naming ``name``."""
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be a non-negative int; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int; got {value!r}")
    return int(value)


def check_positive(value: object, name: str) -> float:
    """``float(value)`` if it is a finite real number ``> 0``; otherwise an error naming ``name``."""
    if not _is_real(value):
        raise ArgumentTypeError(f"{name} must be a positive number; got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def check_nonnegative(value: object, name: str) -> float:
    """``float(value)`` if it is a finite real number ``>= 0``; otherwise an error naming ``name``."""
    if not _is_real(value):
        raise ArgumentTypeError(f"{name} must be a finite number >= 0; got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def check_probability(value: object, name: str) -> float:
    """``float(value)`` if it is a real number in ``[0, 1]``; otherwise an error naming ``name``."""
    if not _is_real(value):
        raise ArgumentTypeError(f"{name} must be a probability in [0, 1]; got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {value!r}")
    return float(value)


def check_tensor(
    value: object,
    name: str,
    shape: Optional[Sequence[Optional[int]]] = None,
    finite: bool = True,
    floating: bool = True,
    min_dim: Optional[int] = None,
) -> torch.Tensor:
    """``value`` if it is a tensor of ``shape`` (``None`` entries match any size) or of at least
    ``min_dim`` dimensions, finite and floating-point as asked; otherwise a ``TypeError`` or
    ``ValueError`` naming ``name``."""
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {value.dtype}")
    if shape is not None:
        fits = value.dim() == len(shape) and all(s is None or s == v for s, v in zip(shape, value.shape))
        if not fits:
            wanted = ", ".join("*" if s is None else str(s) for s in shape)
            raise ValueError(f"{name} must have shape ({wanted}); got {tuple(value.shape)}")
    if min_dim is not None and value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions; got shape {tuple(value.shape)}")
    if finite and value.numel() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value
