"""Nats per example to bits per dimension, with the dequantisation convention made explicit."""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import torch

from ..checks import check_int, check_positive, check_positive_int, check_real_array

__all__ = ["bits_per_dim", "continuous_to_discrete_nll"]

#: A negative log-likelihood per example: one number, or a tensor or array of them.
NLL = Union[float, torch.Tensor, np.ndarray]


def _check_nll(value: object, name: str) -> NLL:
    """A likelihood given as a number, tensor or array, NaN refused (infinities are legitimate NLLs)."""
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        if bool(torch.isnan(check_real_array(value, name)).any()):
            raise ValueError(f"{name} contains NaN")
        if isinstance(value, np.ndarray):
            return value.astype(np.float64)
        return value if value.is_floating_point() else value.to(torch.get_default_dtype())
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, a tensor or an array; got {type(value).__name__}")
    if math.isnan(value):
        raise ValueError(f"{name} is NaN")
    return float(value)


def bits_per_dim(nll_nats: NLL, n_dims: int) -> NLL:
    """Convert a negative log-likelihood in nats per example to bits per dimension.

    ``bits/dim = nll_nats / (n_dims * ln 2)``; floats give a float, tensors and arrays are
    converted elementwise.

    Which likelihood goes in matters. Image benchmarks (bits/dim on CIFAR-10, MNIST) report
    the *discrete* likelihood of 8-bit pixels, which a continuous model bounds by its density
    on dequantised data (pixels plus uniform noise) on the [0, 256) scale. A density fitted
    on data scaled to [0, 1] is 256**d times larger, so its NLL must first be shifted by
    ``d * log(256)`` nats: use :func:`continuous_to_discrete_nll` before this function. For
    instance the uniform density on [0, 1]^d has NLL 0 there, and 8 bits/dim as a model of
    8-bit images.

    Args:
        nll_nats: negative log-likelihood per example, in nats (a number, tensor or array).
        n_dims: number of dimensions of one example (for example 3 * 32 * 32).

    Raises:
        TypeError: for non-numeric inputs.
        ValueError: for ``n_dims < 1`` or a NaN likelihood.
    """
    nll = _check_nll(nll_nats, "nll_nats")
    n_dims = check_positive_int(n_dims, "n_dims")
    return nll / (n_dims * math.log(2.0))


def continuous_to_discrete_nll(
    nll_nats: NLL, n_dims: int, n_levels: int = 256, data_range: float = 1.0
) -> NLL:
    """Turn the NLL of a density on rescaled data into the NLL of the discrete data, in nats.

    Data with ``n_levels`` levels per dimension (256 for 8-bit images) rescaled to an
    interval of length ``data_range`` (1 for [0, 1], 2 for [-1, 1]) has bins of width
    ``data_range / n_levels``. A density ``p`` on that scale gives the discrete (dequantised)
    likelihood ``P(bin) ~ p * width**d``, so

        nll_discrete = nll_continuous + n_dims * log(n_levels / data_range).

    Feed the result to :func:`bits_per_dim`. Example: the uniform density on [0, 1]^d has
    continuous NLL 0, hence ``d * log 256`` nats, hence 8 bits/dim.

    Args:
        nll_nats: NLL per example of the density on the rescaled data, in nats.
        n_dims: dimensions per example.
        n_levels: number of discrete levels per dimension (>= 2).
        data_range: length of the interval the levels were rescaled to (> 0).
    """
    nll = _check_nll(nll_nats, "nll_nats")
    n_dims = check_positive_int(n_dims, "n_dims")
    n_levels = check_int(n_levels, "n_levels", 2)
    data_range = check_positive(data_range, "data_range")
    return nll + n_dims * math.log(n_levels / data_range)
