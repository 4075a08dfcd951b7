"""Observation models ``log p(x | parameters)``: Bernoulli, Gaussian, discretized logistic.

The one implementation of each likelihood in the package (the VAE, the PixelCNN and the
method modules import it from here). Every ``*_log_prob`` returns *element-wise*
log-probabilities in nats with the shape of ``x``; sum them over an example with
:func:`sum_except_batch`. Parameters broadcast against ``x``.

Discrete data (the discretized logistic) is given as **levels**: a tensor (float or int)
holding integers ``0 .. n_levels - 1`` (for 8-bit images ``n_levels = 256``, and a pixel
value ``v`` in ``[0, 1]`` is the level ``round(v * (n_levels - 1))``). Means and log-scales
are in the same units (levels). The discretized logistic puts on level ``k`` the mass of a
logistic density on the bin ``[k - 1/2, k + 1/2]``; the two edge bins absorb the tails
(``(-inf, 1/2]`` and ``[n_levels - 3/2, inf)``), so the probabilities over the levels sum to
one for every mean and scale (Kingma et al. 2016; Salimans et al. 2017).

The *models* of discrete images (the PixelCNN, AGAVE, the VAE with this likelihood) take
images on the package's one scale, floats in ``[0, 1]`` with level ``k`` at
``k / (n_levels - 1)`` (:data:`companion.protocol.IMAGE_SCALE`), and turn them into levels at
their edge with :func:`unit_to_levels`.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch.nn import functional as F

from .checks import check_int

__all__ = [
    "bernoulli_log_prob",
    "discretized_logistic_log_prob",
    "discretized_logistic_mixture_log_prob",
    "gaussian_log_prob",
    "sample_discretized_logistic",
    "sample_discretized_logistic_mixture",
    "standard_normal_log_prob",
    "sum_except_batch",
    "unit_to_levels",
]

#: Log-scales of the discretized logistic are clamped to ``[MIN_LOG_SCALE, MAX_LOG_SCALE]`` so
#: that ``1 / scale`` stays finite and non-zero in float32 (scales of 1e-13 to 1e13 levels,
#: far beyond anything a model needs).
MIN_LOG_SCALE = -30.0
MAX_LOG_SCALE = 30.0

_LOG_2PI = math.log(2 * math.pi)


def _check_tensor(value: object, name: str) -> torch.Tensor:
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    return value


def _check_finite(value: torch.Tensor, name: str) -> None:
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def _check_broadcast(param: torch.Tensor, x: torch.Tensor, name: str, x_name: str = "x") -> None:
    try:
        shape = torch.broadcast_shapes(param.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape:
        raise ValueError(
            f"{name} of shape {tuple(param.shape)} must broadcast to the shape of {x_name} {tuple(x.shape)}"
        )


def _check_levels(x: torch.Tensor, n_levels: int, name: str = "x_levels") -> torch.Tensor:
    check_int(n_levels, "n_levels", 2)
    _check_tensor(x, name)
    if x.is_floating_point():
        _check_finite(x, name)
        if not torch.equal(x, torch.round(x)):
            raise ValueError(f"{name} must hold integer levels 0..{n_levels - 1}; it has non-integer values")
    elif x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must be a real tensor of integer levels; got dtype {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() > n_levels - 1):
        raise ValueError(
            f"{name} must lie in 0..{n_levels - 1}; got values in [{x.min().item()}, {x.max().item()}]"
        )
    return x


#: How far (in levels) ``x * (n_levels - 1)`` may lie from an integer and still count as on
#: the lattice: float32 rounding of ``k / (n_levels - 1)`` is far below it, a real grey value
#: between two levels far above it.
LATTICE_TOLERANCE = 1e-3


def unit_to_levels(x: torch.Tensor, n_levels: int, name: str = "x") -> torch.Tensor:
    """The levels ``0 .. n_levels - 1`` (a float tensor) of images in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``.

    This is the edge of every model of discrete images: ``companion.data.load`` returns
    level ``k`` as ``k / (n_levels - 1)``, and ``round(x (n_levels - 1))`` gives ``k`` back.

    Args:
        x: a real floating-point tensor with values ``k / (n_levels - 1)``.
        n_levels: the number of levels (>= 2).
        name: the argument's name, for the error messages.

    Raises:
        TypeError: if ``x`` is not a floating-point tensor (integer levels included).
        ValueError: for non-finite values, values outside ``[0, 1]`` (levels ``0 .. n_levels - 1``
            given where ``[0, 1]`` is expected, say) or values off the lattice.
    """
    check_int(n_levels, "n_levels", 2)
    _check_tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor in [0, 1] (level k at k / {n_levels - 1}); "
                        f"got dtype {x.dtype}")
    _check_finite(x, name)
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1] (level k of {n_levels} at k / {n_levels - 1}); got values in "
                         f"[{x.min().item():g}, {x.max().item():g}]: divide levels by {n_levels - 1}")
    scaled = x * (n_levels - 1)
    offset = torch.round(scaled) - scaled  # exact in floating point: the two are within 1e-3
    if x.numel() and offset.abs().max() > LATTICE_TOLERANCE:
        raise ValueError(f"{name} must lie on the lattice k / {n_levels - 1} of {n_levels} levels; it has values "
                         "between levels (quantise it with companion.data.to_levels first)")
    # exactly the integers k, with the gradient of x * (n_levels - 1): the book checks a
    # PixelCNN's causality by differentiating its output with respect to its input
    return scaled + offset.detach()


def sum_except_batch(values: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: ``(batch, ...) -> (batch,)``."""
    _check_tensor(values, "values")
    if values.dim() == 0:
        raise ValueError("values must have a batch dimension")
    return values.reshape(values.shape[0], -1).sum(dim=1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """Element-wise ``log N(z; 0, 1)``."""
    _check_tensor(z, "z")
    return -0.5 * (z.pow(2) + _LOG_2PI)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Element-wise ``x log p + (1 - x) log(1 - p)`` with ``p = sigmoid(logits)``.

    Computed from the logits (``x * logits - softplus(logits)``) so it is stable for any
    logit. ``x`` must lie in ``[0, 1]``; values in between are allowed, as is common
    practice for grey-level images. Note that for such continuous ``x`` this is *not* the
    log of a normalised density (it is a cross-entropy), so bounds built on it are not
    bounds on a likelihood of the continuous data.

    Raises:
        ValueError: if ``x`` is outside ``[0, 1]`` or non-finite, or shapes do not broadcast.
    """
    _check_tensor(x, "x")
    _check_tensor(logits, "logits")
    _check_finite(x, "x")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            "x must lie in [0, 1] for a Bernoulli likelihood; "
            f"got values in [{x.min().item():.4g}, {x.max().item():.4g}]"
        )
    _check_broadcast(logits, x, "logits")
    return x * logits - F.softplus(logits)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Element-wise ``log N(x; mean, exp(log_scale)^2)``.

    Args:
        x: the data (any real values).
        mean: the means (broadcast to ``x``).
        log_scale: the log standard deviations (broadcast to ``x``; a 0-d tensor gives an
            isotropic Gaussian).
    """
    for value, name in ((x, "x"), (mean, "mean"), (log_scale, "log_scale")):
        _check_tensor(value, name)
    _check_finite(x, "x")
    _check_broadcast(mean, x, "mean")
    _check_broadcast(log_scale, x, "log_scale")
    return -0.5 * ((x - mean) * torch.exp(-log_scale)).pow(2) - log_scale - 0.5 * _LOG_2PI


def _log_one_minus_exp(a: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(a))`` for ``a < 0``, accurate for ``a`` near 0 and far below it."""
    return torch.where(a > -math.log(2), torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


def _discretized_logistic(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, n_levels: int
) -> torch.Tensor:
    # With a = (x + 1/2 - mean)/s and b = (x - 1/2 - mean)/s, the mass of the bin is
    # sigmoid(a) - sigmoid(b) and (exact algebra)
    #   log(sigmoid(a) - sigmoid(b)) = logsigmoid(a) + logsigmoid(-b) + log(1 - exp(-(a - b))),
    # with a - b = 1/s. Each term is stable for any mean and scale, and the edge bins simply
    # drop a term: level 0 has mass sigmoid(a), the top level has mass sigmoid(-b).
    log_scale = log_scale.clamp(MIN_LOG_SCALE, MAX_LOG_SCALE)
    inv_scale = torch.exp(-log_scale)
    centred = x - mean
    upper = (centred + 0.5) * inv_scale
    lower = (centred - 0.5) * inv_scale
    not_top = (x < n_levels - 1).to(upper.dtype)
    not_bottom = (x > 0).to(upper.dtype)
    return (
        not_top * F.logsigmoid(upper)
        + not_bottom * F.logsigmoid(-lower)
        + not_top * not_bottom * _log_one_minus_exp(-inv_scale)
    )


def discretized_logistic_log_prob(
    x_levels: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, n_levels: int = 256
) -> torch.Tensor:
    """Element-wise log-probability of integer levels under a discretized logistic.

    ``P(k) = sigmoid((k + 1/2 - mean)/s) - sigmoid((k - 1/2 - mean)/s)`` for inner levels,
    ``P(0) = sigmoid((1/2 - mean)/s)`` and ``P(n_levels - 1) = 1 - sigmoid((n_levels - 3/2 - mean)/s)``
    at the edges, with ``s = exp(log_scale)``; the probabilities over ``0 .. n_levels - 1``
    sum to one for any ``mean`` and ``s``. Computed in log space, stable for extreme means
    and tiny scales (``log_scale`` is clamped to ``[MIN_LOG_SCALE, MAX_LOG_SCALE]``).

    Args:
        x_levels: integer levels ``0 .. n_levels - 1`` (float or integer dtype).
        mean: logistic locations, in levels (any real value; broadcast to ``x_levels``).
        log_scale: log of the logistic scales, in levels (broadcast to ``x_levels``).
        n_levels: the number of levels (256 for 8-bit data).

    Returns:
        A tensor of the shape of ``x_levels`` (dtype of ``mean``).

    Raises:
        ValueError: for levels that are not integers in range, non-finite values, or shapes
            that do not broadcast.
    """
    _check_levels(x_levels, n_levels)
    _check_tensor(mean, "mean")
    _check_tensor(log_scale, "log_scale")
    _check_broadcast(mean, x_levels, "mean", "x_levels")
    _check_broadcast(log_scale, x_levels, "log_scale", "x_levels")
    if torch.isnan(mean).any() or torch.isnan(log_scale).any():
        raise ValueError("mean and log_scale must not contain NaN")
    return _discretized_logistic(x_levels.to(mean.dtype), mean, log_scale, n_levels)


def discretized_logistic_mixture_log_prob(
    x_levels: torch.Tensor,
    logit_weights: torch.Tensor,
    means: torch.Tensor,
    log_scales: torch.Tensor,
    n_levels: int = 256,
) -> torch.Tensor:
    """Element-wise log-probability under a mixture of discretized logistics.

    ``P(k) = sum_j pi_j P_j(k)`` with ``pi = softmax(logit_weights)`` over the **last**
    dimension and ``P_j`` the discretized logistic of :func:`discretized_logistic_log_prob`.
    The mixture is per element; for a mixture shared across colour channels (PixelCNN++),
    sum the per-component log-probabilities over the channels first and combine with
    ``logsumexp`` yourself.

    Args:
        x_levels: integer levels, shape ``S``.
        logit_weights: unnormalised mixture log-weights, shape ``S + (K,)`` (or broadcastable to it).
        means: component locations in levels, shape ``S + (K,)``.
        log_scales: component log-scales in levels, shape ``S + (K,)``.
        n_levels: the number of levels.

    Returns:
        A tensor of shape ``S``.
    """
    _check_levels(x_levels, n_levels)
    for value, name in ((logit_weights, "logit_weights"), (means, "means"), (log_scales, "log_scales")):
        _check_tensor(value, name)
        if value.dim() < 1:
            raise ValueError(f"{name} needs a trailing mixture dimension")
    k = means.shape[-1]
    target = x_levels.unsqueeze(-1).expand(*x_levels.shape, k)
    for value, name in ((logit_weights, "logit_weights"), (means, "means"), (log_scales, "log_scales")):
        _check_broadcast(value, target, name, f"x_levels.unsqueeze(-1) with {k} components")
        if torch.isnan(value).any():
            raise ValueError(f"{name} must not contain NaN")
    log_weights = torch.log_softmax(logit_weights, dim=-1)
    component = _discretized_logistic(target.to(means.dtype), means, log_scales, n_levels)
    return torch.logsumexp(log_weights + component, dim=-1)


def sample_discretized_logistic(
    mean: torch.Tensor, log_scale: torch.Tensor, n_levels: int = 256, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Draw levels from the discretized logistic of :func:`discretized_logistic_log_prob`.

    A continuous logistic draw ``mean + s * logit(u)`` rounded to the nearest integer and
    clipped to ``0 .. n_levels - 1`` has exactly the discretized law (the clipping is the
    edge bins' absorption of the tails). Returns float levels of the broadcast shape.
    """
    _check_tensor(mean, "mean")
    _check_tensor(log_scale, "log_scale")
    check_int(n_levels, "n_levels", 2)
    shape = torch.broadcast_shapes(mean.shape, log_scale.shape)
    u = torch.rand(shape, generator=generator, dtype=mean.dtype, device=mean.device)
    u = u.clamp(1e-6, 1 - 1e-6)  # keep logit(u) finite in float32
    x = mean + torch.exp(log_scale.clamp(MIN_LOG_SCALE, MAX_LOG_SCALE)) * (torch.log(u) - torch.log1p(-u))
    return torch.round(x).clamp(0, n_levels - 1)


def sample_discretized_logistic_mixture(
    logit_weights: torch.Tensor,
    means: torch.Tensor,
    log_scales: torch.Tensor,
    n_levels: int = 256,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Draw levels from the mixture of :func:`discretized_logistic_mixture_log_prob`.

    Picks a component per element from ``softmax(logit_weights)`` (last dimension), then
    draws from that component. Returns float levels of shape ``means.shape[:-1]``.
    """
    for value, name in ((logit_weights, "logit_weights"), (means, "means"), (log_scales, "log_scales")):
        _check_tensor(value, name)
    shape = torch.broadcast_shapes(logit_weights.shape, means.shape, log_scales.shape)
    probs = torch.softmax(logit_weights.expand(shape), dim=-1).reshape(-1, shape[-1])
    index = torch.multinomial(probs, 1, generator=generator).view(*shape[:-1], 1)
    mean = torch.gather(means.expand(shape), -1, index).squeeze(-1)
    log_scale = torch.gather(log_scales.expand(shape), -1, index).squeeze(-1)
    return sample_discretized_logistic(mean, log_scale, n_levels, generator)
