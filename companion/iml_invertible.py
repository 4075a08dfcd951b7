"""The invertible perceptron of two-stage implicit maximum likelihood, and its parts.

* the invertible non-linearities :func:`tanh_inv` and :func:`sigmoid_inv` (the original
  function where it is invertible, straight lines of slope ``c`` beyond, glued so that the
  function is C1) with their inverses, log-derivatives and constants, and the checks of a
  reader's constants;
* :class:`InvertiblePerceptron`, a one-hidden-layer decoder whose encoder is its layer-wise
  pseudo-inverse, with the log-det correction that turns a base density into a density of
  ``x`` (the rectangular volume ``sqrt(det(W^T W))`` of the paper, or the exact volume of
  the decoder's Jacobian);
* :class:`InvertibleLinear`, a square invertible map (the 2-D example of the chapter).

The two-stage model that uses them is :mod:`companion.iml` (which re-exports these names).
Chapter: ``book/implicit_mle.md``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .checks import check_positive, check_positive_int, check_tensor

__all__ = [
    "DEFAULT_SLOPE",
    "InvertibleLinear",
    "InvertiblePerceptron",
    "check_sigmoid_inv_constants",
    "check_tanh_inv_constants",
    "left_inverse",
    "sigmoid_inv",
    "sigmoid_inv_constants",
    "sigmoid_inv_inverse",
    "sigmoid_inv_log_derivative",
    "tanh_inv",
    "tanh_inv_constants",
    "tanh_inv_inverse",
    "tanh_inv_log_derivative",
]

#: The slope of the linear tails used in the paper.
DEFAULT_SLOPE = 0.01


def _check_slope(slope: object, upper: float, name: str) -> float:
    """``slope`` as a float if ``0 < slope < upper``, the largest slope of ``name``'s curve."""
    slope = check_positive(slope, "slope")
    if slope >= upper:
        raise ValueError(f"slope must be a number in (0, {upper}) for {name}; got {slope!r}")
    return slope


# ----------------------------------------------------------------------------------------
# Invertible non-linearities
# ----------------------------------------------------------------------------------------


def tanh_inv_constants(slope: float = DEFAULT_SLOPE) -> Tuple[float, float]:
    """Threshold ``t0`` and offset ``b`` of :func:`tanh_inv` for tail slope ``slope``.

    ``tanh_inv(t) = tanh(t)`` for ``|t| <= t0`` and ``slope * t + sign(t) * b`` beyond. The
    derivative matches at ``t0`` when ``1 - tanh(t0)**2 = slope``, so
    ``t0 = atanh(sqrt(1 - slope))``; the values match when ``b = sqrt(1 - slope) - slope * t0``.

    Raises:
        ValueError: unless ``0 < slope < 1`` (the largest slope of tanh is 1).
    """
    slope = _check_slope(slope, 1.0, "tanh_inv")
    y0 = math.sqrt(1.0 - slope)
    t0 = math.atanh(y0)
    return t0, y0 - slope * t0


def sigmoid_inv_constants(slope: float = DEFAULT_SLOPE) -> Tuple[float, float]:
    """Threshold ``t1`` and upper offset ``b`` of :func:`sigmoid_inv` for tail slope ``slope``.

    ``sigmoid_inv(t) = sigmoid(t)`` for ``|t| <= t1``, ``slope * t + b`` for ``t > t1`` and
    ``slope * t + 1 - b`` for ``t < -t1`` (the sigmoid is symmetric about ``(0, 1/2)``).
    The derivative ``s (1 - s)`` equals ``slope`` at ``s = (1 + sqrt(1 - 4 slope)) / 2``, so
    ``t1 = logit(s)`` and ``b = s - slope * t1``.

    Raises:
        ValueError: unless ``0 < slope < 1/4`` (the largest slope of the sigmoid is 1/4).
    """
    slope = _check_slope(slope, 0.25, "sigmoid_inv")
    s = 0.5 * (1.0 + math.sqrt(1.0 - 4.0 * slope))
    t1 = math.log(s / (1.0 - s))
    return t1, s - slope * t1


def tanh_inv(t: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """Invertible tanh: ``tanh`` in its invertible range, lines of slope ``slope`` beyond.

    The function is odd, strictly increasing (its derivative is at least ``slope``) and
    continuously differentiable; see :func:`tanh_inv_constants` for the glue points.

    Args:
        t: a floating-point tensor of any shape, finite.
        slope: the tail slope ``c`` in ``(0, 1)``.
    """
    check_tensor(t, "t")
    t0, b = tanh_inv_constants(slope)
    inside = torch.tanh(t.clamp(-t0, t0))  # the clamp keeps gradients of the unused branch finite
    tail = slope * t + torch.sign(t) * b
    return torch.where(t.abs() <= t0, inside, tail)


def tanh_inv_inverse(y: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """The inverse of :func:`tanh_inv`: ``atanh`` inside ``[-tanh(t0), tanh(t0)]``, lines beyond."""
    check_tensor(y, "y")
    t0, b = tanh_inv_constants(slope)
    y0 = math.tanh(t0)
    inside = torch.atanh(y.clamp(-y0, y0))
    tail = (y - torch.sign(y) * b) / slope
    return torch.where(y.abs() <= y0, inside, tail)


def tanh_inv_log_derivative(t: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """``log tanh_inv'(t)``: ``log(1 - tanh(t)**2)`` inside, ``log(slope)`` in the tails."""
    check_tensor(t, "t")
    t0, _ = tanh_inv_constants(slope)
    a = t.clamp(-t0, t0).abs()
    # log sech^2(a) = 2 log 2 - 2a - 2 log(1 + exp(-2a)), stable for every a
    inside = 2.0 * math.log(2.0) - 2.0 * a - 2.0 * torch.log1p(torch.exp(-2.0 * a))
    return torch.where(t.abs() <= t0, inside, torch.full_like(t, math.log(slope)))


def sigmoid_inv(t: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """Invertible sigmoid: ``sigmoid`` in its invertible range, lines of slope ``slope`` beyond.

    Strictly increasing and continuously differentiable; see :func:`sigmoid_inv_constants`.
    Its range is all of R, so pixel values 0 and 1 have finite pre-images.

    Args:
        t: a floating-point tensor of any shape, finite.
        slope: the tail slope ``c`` in ``(0, 1/4)``.
    """
    check_tensor(t, "t")
    t1, b = sigmoid_inv_constants(slope)
    inside = torch.sigmoid(t.clamp(-t1, t1))
    upper = slope * t + b
    lower = slope * t + (1.0 - b)
    return torch.where(t > t1, upper, torch.where(t < -t1, lower, inside))


def sigmoid_inv_inverse(y: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """The inverse of :func:`sigmoid_inv`: ``logit`` inside ``[1 - s1, s1]``, lines beyond."""
    check_tensor(y, "y")
    t1, b = sigmoid_inv_constants(slope)
    s1 = 1.0 / (1.0 + math.exp(-t1))
    inside = torch.logit(y.clamp(1.0 - s1, s1))
    upper = (y - b) / slope
    lower = (y - (1.0 - b)) / slope
    return torch.where(y > s1, upper, torch.where(y < 1.0 - s1, lower, inside))


def sigmoid_inv_log_derivative(t: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """``log sigmoid_inv'(t)``: ``log sigmoid(t) + log sigmoid(-t)`` inside, ``log(slope)`` beyond."""
    check_tensor(t, "t")
    t1, _ = sigmoid_inv_constants(slope)
    a = t.clamp(-t1, t1)
    inside = -nn.functional.softplus(a) - nn.functional.softplus(-a)
    return torch.where(t.abs() <= t1, inside, torch.full_like(t, math.log(slope)))


def _check_constants(kind: str, threshold: float, offset: float, slope: float, tol: float) -> bool:
    # Check the two defining conditions at the reader's numbers, not a stored answer: the
    # derivative of the curve equals the slope at the threshold, and the line meets the curve.
    for name, value in (("threshold", threshold), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
            raise TypeError(f"{name} must be a finite number; got {value!r}")
    t, b = float(threshold), float(offset)
    if kind == "tanh":
        value, derivative = math.tanh(t), 1.0 - math.tanh(t) ** 2
        curvature = -2.0 * value * derivative
    else:
        value = 1.0 / (1.0 + math.exp(-t))
        derivative = value * (1.0 - value)
        curvature = derivative * (1.0 - 2.0 * value)
    # the derivative's mismatch, as a distance along t (Newton step), so tol is relative to t as before
    ok_t = t > 0 and abs(derivative - slope) <= tol * max(1.0, t) * abs(curvature)
    ok_b = abs(slope * t + b - value) <= tol * max(1.0, abs(b))
    if ok_t and ok_b:
        print(f"Correct: the derivative of {kind} at the threshold is the slope {slope}, and the line meets the curve.")
    else:
        hints = []
        if not ok_t:
            hints.append(
                f"the threshold {t:.6f} is off: at the threshold (a positive number) the derivative "
                f"of {kind} must equal the slope"
            )
        if not ok_b:
            hints.append(f"the offset {b:.6f} is off: at the threshold the line must meet the curve")
        print("Not yet: " + "; ".join(hints) + ".")
    return ok_t and ok_b


def check_tanh_inv_constants(
    threshold: float, offset: float, slope: float = DEFAULT_SLOPE, tol: float = 1e-4
) -> bool:
    """Check a reader's threshold ``t0`` and offset ``b`` for :func:`tanh_inv` (prints a verdict).

    Returns:
        ``True`` when ``1 - tanh(t0)**2 = slope`` and ``slope * t0 + b = tanh(t0)``, to relative ``tol``.
    """
    return _check_constants("tanh", threshold, offset, _check_slope(slope, 1.0, "tanh_inv"), tol)


def check_sigmoid_inv_constants(
    threshold: float, offset: float, slope: float = DEFAULT_SLOPE, tol: float = 1e-4
) -> bool:
    """Check a reader's threshold ``t1`` and upper offset ``b`` for :func:`sigmoid_inv`.

    Returns:
        ``True`` when ``sigmoid'(t1) = slope`` (``t1 > 0``) and ``slope * t1 + b = sigmoid(t1)``, to relative ``tol``.
    """
    return _check_constants("sigmoid", threshold, offset, _check_slope(slope, 0.25, "sigmoid_inv"), tol)


# ----------------------------------------------------------------------------------------
# The invertible perceptron and the invertible linear map
# ----------------------------------------------------------------------------------------


def left_inverse(layer: nn.Linear, y: torch.Tensor) -> torch.Tensor:
    """``(W^T W)^{-1} W^T (y - b)`` for a tall linear layer: its exact inverse on its range.

    Raises:
        TypeError: if ``layer`` is not an ``nn.Linear`` with a bias.
        ValueError: if the layer is wide (more inputs than outputs: no left inverse), or ``y`` is not
            of shape ``(batch, out_features)``.
    """
    if not isinstance(layer, nn.Linear) or layer.bias is None:
        raise TypeError(f"layer must be an nn.Linear with a bias; got {layer!r}")
    if layer.in_features > layer.out_features:
        raise ValueError(f"layer must be tall (in_features <= out_features) to have a left inverse; "
                         f"got {layer.in_features} -> {layer.out_features}")
    check_tensor(y, "y", shape=(None, layer.out_features), finite=False)
    w = layer.weight  # (out, in)
    gram = w.T @ w
    rhs = (y - layer.bias) @ w  # rows are W^T (y - b)
    return torch.linalg.solve(gram, rhs.T).T


def _half_logdet_gram(w: torch.Tensor) -> torch.Tensor:
    """``log sqrt(det(W^T W))``: the volume factor of the tall linear map ``W``."""
    return 0.5 * torch.linalg.slogdet(w.T @ w)[1]


class InvertiblePerceptron(nn.Module):
    """One-hidden-layer decoder ``x = sigmoid_inv(W2 tanh_inv(W1 h + b1) + b2)`` and its inverse.

    The encoder applies the layers' left inverses, ``(W^T W)^{-1} W^T (y - b)``, and the
    inverse non-linearities, so ``encode(decode(h)) == h`` for every ``h`` (the weights are
    tall: ``latent_dim <= hidden_dim <= data_dim``). On data off the decoder's range the
    encoder gives a layer-wise least-squares pre-image, which stage 1 of the two-stage
    algorithm makes accurate by training on reconstruction.

    Args:
        latent_dim: ``K``, the size of ``h``.
        hidden_dim: the width of the hidden layer (``K <= hidden_dim <= data_dim``).
        data_dim: the size of a flattened ``x``.
        data_shape: the shape of one example (default ``(data_dim,)``); ``decode`` returns it.
        slope: the tail slope of both non-linearities.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_dim: int,
        data_dim: int,
        data_shape: Optional[Sequence[int]] = None,
        slope: float = DEFAULT_SLOPE,
    ) -> None:
        super().__init__()
        latent_dim = check_positive_int(latent_dim, "latent_dim")
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        data_dim = check_positive_int(data_dim, "data_dim")
        if not latent_dim <= hidden_dim <= data_dim:
            raise ValueError(
                "an invertible perceptron needs latent_dim <= hidden_dim <= data_dim; got "
                f"{latent_dim}, {hidden_dim}, {data_dim}"
            )
        data_shape = (data_dim,) if data_shape is None else tuple(int(s) for s in data_shape)
        if int(np.prod(data_shape)) != data_dim:
            raise ValueError(f"data_shape {data_shape} does not hold data_dim={data_dim} values")
        _check_slope(slope, 0.25, "sigmoid_inv")
        self.latent_dim, self.hidden_dim, self.data_dim = latent_dim, hidden_dim, data_dim
        self.data_shape = data_shape
        self.slope = float(slope)
        self.first = nn.Linear(latent_dim, hidden_dim)
        self.second = nn.Linear(hidden_dim, data_dim)
        for layer in (self.first, self.second):
            nn.init.orthogonal_(layer.weight)  # well-conditioned W^T W from the start
            nn.init.zeros_(layer.bias)

    def _check_codes(self, h: torch.Tensor) -> torch.Tensor:
        check_tensor(h, "h", shape=(None, None))
        if h.shape[1] != self.latent_dim:
            raise ValueError(f"h must have shape (batch, {self.latent_dim}); got {tuple(h.shape)}")
        return h

    def _flatten_data(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", min_dim=2)
        if tuple(x.shape[1:]) != self.data_shape and tuple(x.shape[1:]) != (self.data_dim,):
            raise ValueError(f"x must have shape (batch, *{self.data_shape}); got {tuple(x.shape)}")
        return x.reshape(x.shape[0], self.data_dim)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Map codes ``(batch, K)`` to data ``(batch, *data_shape)``."""
        self._check_codes(h)
        hidden = tanh_inv(self.first(h), self.slope)
        x = sigmoid_inv(self.second(hidden), self.slope)
        return x.reshape(h.shape[0], *self.data_shape)

    def inverse_path(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-activations ``z2``, ``z1`` met on the way back, and the code ``h``."""
        z2 = sigmoid_inv_inverse(self._flatten_data(x), self.slope)
        z1 = tanh_inv_inverse(left_inverse(self.second, z2), self.slope)
        h = left_inverse(self.first, z1)
        return z2, z1, h

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Map data ``(batch, *data_shape)`` to codes ``(batch, K)`` through the left inverses."""
        return self.inverse_path(x)[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``decode(encode(x))``."""
        return self.decode(self.encode(x))

    def log_det_jacobian(self, x: torch.Tensor, method: str = "paper", chunk_size: int = 256) -> torch.Tensor:
        """The correction ``c(x)`` in ``log p(x) = log p_base(encode(x)) + c(x)``, per example.

        ``method="paper"`` divides by the volume change of each layer along the encoder's
        path: ``sigmoid_inv'`` and ``tanh_inv'`` for the element-wise maps and
        ``sqrt(det(W^T W))`` for each tall linear map. ``method="exact"`` divides by the
        volume of the whole decoder's Jacobian ``J`` (``D x K``) at ``h = encode(x)``,
        ``sqrt(det(J^T J))``: the density of ``x`` on the K-dimensional surface the decoder
        draws. When ``K == hidden_dim == data_dim`` both equal ``log|det d encode / dx|``.

        Args:
            x: data of shape ``(batch, *data_shape)``.
            method: ``"paper"`` or ``"exact"``.
            chunk_size: examples per chunk for ``"exact"`` (it builds a ``D x K`` matrix each).
        """
        if method not in ("paper", "exact"):
            raise ValueError(f"method must be 'paper' or 'exact'; got {method!r}")
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        z2, z1, h = self.inverse_path(x)
        w1, w2 = self.first.weight, self.second.weight
        if method == "paper":
            log_volume = (
                sigmoid_inv_log_derivative(z2, self.slope).sum(1)
                + _half_logdet_gram(w2)
                + tanh_inv_log_derivative(z1, self.slope).sum(1)
                + _half_logdet_gram(w1)
            )
            return -log_volume
        pieces = []
        for hc in torch.split(h, chunk_size):
            a1 = self.first(hc)
            d1 = tanh_inv_log_derivative(a1, self.slope).exp()  # (n, H)
            a2 = self.second(tanh_inv(a1, self.slope))
            d2 = sigmoid_inv_log_derivative(a2, self.slope).exp()  # (n, D)
            # J = diag(d2) W2 diag(d1) W1, built without an (n, D, H) tensor
            jac = d2[:, :, None] * torch.einsum("dh,nh,hk->ndk", w2, d1, w1)
            pieces.append(0.5 * torch.linalg.slogdet(jac.transpose(1, 2) @ jac)[1])
        return -torch.cat(pieces)


class InvertibleLinear(nn.Module):
    """The square linear map ``x = W h + b`` of the 2-D example, with its exact inverse.

    Args:
        dim: the dimension of ``h`` and ``x``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.latent_dim = self.data_dim = check_positive_int(dim, "dim")
        self.data_shape = (self.data_dim,)
        self.weight = nn.Parameter(torch.eye(self.data_dim))
        self.bias = nn.Parameter(torch.zeros(self.data_dim))

    def _check(self, v: torch.Tensor, name: str) -> torch.Tensor:
        check_tensor(v, name, shape=(None, None))
        if v.shape[1] != self.data_dim:
            raise ValueError(f"{name} must have shape (batch, {self.data_dim}); got {tuple(v.shape)}")
        return v

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """``W h + b`` for each row of ``h``."""
        return self._check(h, "h") @ self.weight.T + self.bias

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``W^{-1} (x - b)`` for each row of ``x``."""
        return torch.linalg.solve(self.weight, (self._check(x, "x") - self.bias).T).T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``decode(encode(x))`` (equal to ``x``)."""
        return self.decode(self.encode(x))

    def log_det_jacobian(self, x: torch.Tensor, method: str = "paper") -> torch.Tensor:
        """``log|det W^{-1}|`` for every row of ``x`` (both methods agree for a square map)."""
        if method not in ("paper", "exact"):
            raise ValueError(f"method must be 'paper' or 'exact'; got {method!r}")
        self._check(x, "x")
        return (-torch.linalg.slogdet(self.weight)[1]).expand(x.shape[0])
