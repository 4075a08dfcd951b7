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
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = [
    "ArgumentTypeError",
    "ArrayLike",
    "check_adam_betas",
    "check_choice",
    "check_float64_array",
    "check_in_interval",
    "check_int",
    "check_nonnegative",
    "check_nonnegative_int",
    "check_positive",
    "check_positive_int",
    "check_points",
    "check_probability",
    "check_real_array",
    "check_same_width",
    "check_seeds",
    "check_tensor",
]


#: What the numeric checks accept as an array: a tensor or a NumPy array.
ArrayLike = Union[np.ndarray, torch.Tensor]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that ``except ValueError`` also catches)."""


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _checked_int(value: object, name: str, minimum: int, wanted: str) -> int:
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be {wanted}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {wanted}; got {value!r}")
    return int(value)


def check_int(value: object, name: str, minimum: int) -> int:
    """``int(value)`` if it is an int ``>= minimum``; otherwise an error naming ``name``."""
    return _checked_int(value, name, minimum, f"an int >= {minimum}")


def check_positive_int(value: object, name: str) -> int:
    """``int(value)`` if it is an int ``>= 1``; otherwise an error naming ``name``."""
    return _checked_int(value, name, 1, "a positive int")


def check_nonnegative_int(value: object, name: str) -> int:
    """``int(value)`` if it is an int ``>= 0``; otherwise an error naming ``name``."""
    return _checked_int(value, name, 0, "a non-negative int")


def check_seeds(seeds: object, name: str = "seeds") -> Tuple[int, ...]:
    """``seeds`` as a tuple if it is a non-empty tuple or list of ints; otherwise a ``ValueError``
    naming ``name`` (the training seeds of an experiment's runs)."""
    if not isinstance(seeds, (tuple, list)) or not seeds or any(not _is_int(s) for s in seeds):
        raise ValueError(f"{name} must be a non-empty tuple of ints; got {seeds!r}")
    return tuple(int(s) for s in seeds)


def check_positive(value: object, name: str) -> float:
    """``float(value)`` if it is a finite real number ``> 0``; otherwise an error naming ``name``.

    A one-element tensor or array (a metric's output, say) counts as its number.
    """
    if (torch.is_tensor(value) and value.numel() == 1) or (isinstance(value, np.ndarray) and value.size == 1):
        value = value.item()
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


def check_in_interval(value: object, name: str, low: float, high: float) -> float:
    """``float(value)`` if it is a real number in ``[low, high]``; otherwise an error naming ``name``."""
    if not _is_real(value):
        raise ArgumentTypeError(f"{name} must be a number in [{low:g}, {high:g}]; got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]; got {value!r}")
    return float(value)


def check_adam_betas(value: object, name: str = "betas") -> Tuple[float, float]:
    """Adam's ``(beta_1, beta_2)`` as a tuple of floats if ``value`` is a pair of real numbers in ``[0, 1)``
    (a list is accepted: a configuration read from JSON holds one); otherwise an error naming ``name``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name} must be a pair (beta_1, beta_2) of numbers in [0, 1); got {value!r}")
    if not all(_is_real(beta) for beta in value):
        raise ArgumentTypeError(f"{name} must be a pair (beta_1, beta_2) of numbers in [0, 1); got {value!r}")
    if not all(0 <= beta < 1 for beta in value):
        raise ValueError(f"{name} must be a pair (beta_1, beta_2) of numbers in [0, 1); got {value!r}")
    return float(value[0]), float(value[1])


def check_tensor(
    value: object,
    name: str,
    shape: Optional[Sequence[Optional[int]]] = None,
    finite: bool = True,
    floating: bool = True,
    min_dim: int = 0,
) -> torch.Tensor:
    """``value`` if it is a tensor of ``shape`` (``None`` entries match any size) with at least
    ``min_dim`` dimensions, finite and floating-point as asked; otherwise a ``TypeError`` or
    ``ValueError`` naming ``name``."""
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {value.dtype}")
    if value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions; got shape {tuple(value.shape)}")
    if shape is not None:
        fits = value.dim() == len(shape) and all(s is None or s == v for s, v in zip(shape, value.shape))
        if not fits:
            wanted = ", ".join("*" if s is None else str(s) for s in shape)
            raise ValueError(f"{name} must have shape ({wanted}); got {tuple(value.shape)}")
    if finite and value.numel() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of the strings ``choices``; otherwise an error naming ``name``."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, one of {', '.join(choices)}; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_real_array(value: object, name: str) -> torch.Tensor:
    """``value``, a tensor or a NumPy array of real numbers, as a detached tensor (arrays are shared, not copied).

    Complex and boolean values are refused with a ``TypeError`` naming ``name``; nothing is
    said about shape or finiteness (the callers check what they need).
    """
    if isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers; got a NumPy array of dtype {value.dtype}")
        return torch.from_numpy(np.ascontiguousarray(value))
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray; got {type(value).__name__}")
    if value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers; got a tensor of dtype {value.dtype}")
    return value.detach()


def check_float64_array(value: object, name: str, ndim: Optional[int] = None) -> np.ndarray:
    """``value`` (tensor or array of real numbers) as a finite float64 NumPy array on the CPU.

    With ``ndim``, the array must have that many dimensions and at least one element.
    """
    array = check_real_array(value, name).cpu().to(torch.float64).numpy()
    if ndim is not None:
        if array.ndim != ndim:
            raise ValueError(f"{name} must have {ndim} dimension(s); got shape {array.shape}")
        if array.size == 0:
            raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def check_points(
    value: object, name: str, device: Optional[Union[str, torch.device]] = None, min_rows: int = 1
) -> torch.Tensor:
    """``value`` as a finite (N, d) tensor of ``N >= min_rows`` points; images (N, ...) are flattened per row.

    The result is float64 on ``device`` (default: the value's own), float32 on Apple's MPS,
    which has no float64.
    """
    tensor = check_real_array(value, name)
    if tensor.dim() < 2:
        raise ValueError(
            f"{name} must have shape (N, d) or (N, ...) (images are flattened per row); got shape "
            f"{tuple(tensor.shape)}. For 1-D data pass x.reshape(-1, 1)."
        )
    if tensor.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s); got shape {tuple(tensor.shape)}")
    flat = tensor.reshape(tensor.shape[0], -1)
    if flat.shape[1] == 0:
        raise ValueError(f"{name} has no dimensions per row; got shape {tuple(tensor.shape)}")
    device = flat.device if device is None else torch.device(device)
    flat = flat.to(device=device, dtype=torch.float32 if device.type == "mps" else torch.float64)
    return check_tensor(flat, name)


def check_same_width(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise a ``ValueError`` naming both unless the (N, d) ``a`` and (M, d) ``b`` share ``d``."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of dimensions per row; got "
            f"{a.shape[1]} and {b.shape[1]}"
        )
