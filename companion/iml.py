"""Two-stage implicit maximum likelihood: learn the base distribution of a generator.

The model of :cite:`subakan2018learning` is an implicit generative model ``h ~ p_base(h)``,
``x = decode(h)``. Instead of fixing ``p_base`` to an isotropic Gaussian (as GANs and VAEs
do), the two-stage algorithm

1. fits an autoencoder by reconstruction, so that ``decode(encode(x)) ~= x``;
2. fits a flexible base distribution (a Gaussian mixture, or an HMM for sequences) to the
   codes ``encode(x)`` by maximum likelihood.

This module holds the pieces:

* the invertible non-linearities :func:`tanh_inv` and :func:`sigmoid_inv` (the original
  function where it is invertible, straight lines of slope ``c`` beyond, glued so that the
  function is C1) with their inverses, log-derivatives and constants;
* :class:`InvertiblePerceptron`, a one-hidden-layer decoder whose encoder is its layer-wise
  pseudo-inverse, with the log-det correction that turns a base density into a density of
  ``x`` (the rectangular volume ``sqrt(det(W^T W))`` of the paper, or the exact volume of
  the decoder's Jacobian);
* :class:`Autoencoder`, an ordinary MLP autoencoder for stage 1 when no density of ``x`` is
  needed;
* the bases :class:`GaussianBase`, :class:`GMMBase` and :class:`HMMBase`;
* :class:`TwoStageModel`, which ties an autoencoder and a base together.

Chapter: ``book/implicit_mle.md``; its experiments: ``companion/experiments/implicit_mle.py``.
"""

from __future__ import annotations

import logging
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .checks import check_positive_int
from .train import (
    Callback,
    History,
    minibatches,
    minimize,
    progress_disabled,
    run_callback,
    train_loop,
)

__all__ = [
    "DEFAULT_SLOPE",
    "Autoencoder",
    "GMMBase",
    "GaussianBase",
    "HMMBase",
    "InvertibleLinear",
    "InvertiblePerceptron",
    "TwoStageModel",
    "check_sigmoid_inv_constants",
    "check_tanh_inv_constants",
    "fit_autoencoder",
    "fit_exact_mle",
    "released_kde_score",
    "sigmoid_inv",
    "sigmoid_inv_constants",
    "left_inverse",
    "sigmoid_inv_inverse",
    "sigmoid_inv_log_derivative",
    "tanh_inv",
    "tanh_inv_constants",
    "tanh_inv_inverse",
    "tanh_inv_log_derivative",
]

#: The slope of the linear tails used in the paper.
DEFAULT_SLOPE = 0.01


# ----------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------


def _check_tensor(
    value: object, name: str, dim: Optional[int] = None, min_dim: Optional[int] = None
) -> torch.Tensor:
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {value.dtype}")
    if dim is not None and value.dim() != dim:
        raise ValueError(f"{name} must have {dim} dimensions; got shape {tuple(value.shape)}")
    if min_dim is not None and value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions; got shape {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def _check_slope(slope: object, upper: float, name: str) -> float:
    if isinstance(slope, bool) or not isinstance(slope, (int, float)) or not 0.0 < float(slope) < upper:
        raise ValueError(f"slope must be a number in (0, {upper}) for {name}; got {slope!r}")
    return float(slope)


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
    _check_tensor(t, "t")
    t0, b = tanh_inv_constants(slope)
    inside = torch.tanh(t.clamp(-t0, t0))  # the clamp keeps gradients of the unused branch finite
    tail = slope * t + torch.sign(t) * b
    return torch.where(t.abs() <= t0, inside, tail)


def tanh_inv_inverse(y: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """The inverse of :func:`tanh_inv`: ``atanh`` inside ``[-tanh(t0), tanh(t0)]``, lines beyond."""
    _check_tensor(y, "y")
    t0, b = tanh_inv_constants(slope)
    y0 = math.tanh(t0)
    inside = torch.atanh(y.clamp(-y0, y0))
    tail = (y - torch.sign(y) * b) / slope
    return torch.where(y.abs() <= y0, inside, tail)


def tanh_inv_log_derivative(t: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """``log tanh_inv'(t)``: ``log(1 - tanh(t)**2)`` inside, ``log(slope)`` in the tails."""
    _check_tensor(t, "t")
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
    _check_tensor(t, "t")
    t1, b = sigmoid_inv_constants(slope)
    inside = torch.sigmoid(t.clamp(-t1, t1))
    upper = slope * t + b
    lower = slope * t + (1.0 - b)
    return torch.where(t > t1, upper, torch.where(t < -t1, lower, inside))


def sigmoid_inv_inverse(y: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """The inverse of :func:`sigmoid_inv`: ``logit`` inside ``[1 - s1, s1]``, lines beyond."""
    _check_tensor(y, "y")
    t1, b = sigmoid_inv_constants(slope)
    s1 = 1.0 / (1.0 + math.exp(-t1))
    inside = torch.logit(y.clamp(1.0 - s1, s1))
    upper = (y - b) / slope
    lower = (y - (1.0 - b)) / slope
    return torch.where(y > s1, upper, torch.where(y < 1.0 - s1, lower, inside))


def sigmoid_inv_log_derivative(t: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """``log sigmoid_inv'(t)``: ``log sigmoid(t) + log sigmoid(-t)`` inside, ``log(slope)`` beyond."""
    _check_tensor(t, "t")
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
# Stage-1 models: the invertible perceptron and a plain MLP autoencoder
# ----------------------------------------------------------------------------------------


def left_inverse(layer: nn.Linear, y: torch.Tensor) -> torch.Tensor:
    """``(W^T W)^{-1} W^T (y - b)`` for a tall linear layer: its exact inverse on its range."""
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
        _check_tensor(h, "h", dim=2)
        if h.shape[1] != self.latent_dim:
            raise ValueError(f"h must have shape (batch, {self.latent_dim}); got {tuple(h.shape)}")
        return h

    def _flatten_data(self, x: torch.Tensor) -> torch.Tensor:
        _check_tensor(x, "x", min_dim=2)
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
        _check_tensor(v, name, dim=2)
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


class Autoencoder(nn.Module):
    """A plain MLP autoencoder for stage 1 (no density of ``x``; use :class:`InvertiblePerceptron` for one).

    Args:
        data_shape: the shape of one example, for example ``(1, 8, 8)``.
        latent_dim: the size of the code.
        hidden: widths of the hidden layers of the encoder (the decoder mirrors them).
        output: ``"sigmoid"`` for data in [0, 1], ``"linear"`` for real-valued data.
    """

    def __init__(
        self, data_shape: Sequence[int], latent_dim: int, hidden: Sequence[int] = (128,), output: str = "sigmoid"
    ) -> None:
        super().__init__()
        from .nets import MLP

        if isinstance(data_shape, int):
            data_shape = (data_shape,)
        self.data_shape = tuple(int(s) for s in data_shape)
        if not self.data_shape or min(self.data_shape) < 1:
            raise ValueError(f"data_shape must be a non-empty shape of positive sizes; got {data_shape!r}")
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"output must be 'sigmoid' or 'linear'; got {output!r}")
        self.output = output
        self.data_dim = int(np.prod(self.data_shape))
        hidden = [int(w) for w in hidden]
        self.encoder = MLP(self.data_dim, self.latent_dim, hidden=hidden)
        self.decoder = MLP(self.latent_dim, self.data_dim, hidden=hidden[::-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, latent_dim)`` of data ``(batch, *data_shape)``."""
        _check_tensor(x, "x", min_dim=2)
        if tuple(x.shape[1:]) != self.data_shape and tuple(x.shape[1:]) != (self.data_dim,):
            raise ValueError(f"x must have shape (batch, *{self.data_shape}); got {tuple(x.shape)}")
        return self.encoder(x.reshape(x.shape[0], self.data_dim))

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Data ``(batch, *data_shape)`` from codes ``(batch, latent_dim)``."""
        _check_tensor(h, "h", dim=2)
        if h.shape[1] != self.latent_dim:
            raise ValueError(f"h must have shape (batch, {self.latent_dim}); got {tuple(h.shape)}")
        out = self.decoder(h)
        if self.output == "sigmoid":
            out = torch.sigmoid(out)
        return out.reshape(h.shape[0], *self.data_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction ``decode(encode(x))``."""
        return self.decode(self.encode(x))


def fit_autoencoder(
    autoencoder: nn.Module,
    data: torch.Tensor,
    *,
    n_steps: int = 2000,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    desc: str = "stage 1: autoencoder",
) -> History:
    """Stage 1: minimise the squared reconstruction error ``||decode(encode(x)) - x||^2``
    (:func:`companion.train.minimize`, Adam by default).

    Args:
        autoencoder: a module with ``encode`` and ``decode`` (left in eval mode).
        data: training data ``(N, *data_shape)``, on the autoencoder's device.
        n_steps, batch_size, lr, optimizer, generator, callback, progress, desc: the package's
            fit keywords.

    Returns:
        The :class:`~companion.train.History` with the per-example ``reconstruction`` error.
    """
    if not (hasattr(autoencoder, "encode") and hasattr(autoencoder, "decode")):
        raise TypeError("autoencoder must have encode and decode methods")
    _check_tensor(data, "data", min_dim=2)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr!r}")

    def reconstruction(batch: torch.Tensor) -> Dict[str, torch.Tensor]:
        recon = autoencoder.decode(autoencoder.encode(batch))
        return {"reconstruction": (recon - batch).pow(2).flatten(1).sum(1).mean()}

    history = minimize(autoencoder, data, reconstruction, n_steps=int(n_steps),
                       batch_size=check_positive_int(batch_size, "batch_size"), lr=lr, optimizer=optimizer,
                       generator=generator, callback=callback, progress=progress, desc=desc)
    autoencoder.eval()
    return history


def fit_exact_mle(
    model: "TwoStageModel",
    data: torch.Tensor,
    *,
    n_steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-2,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    refit_base_every: int = 50,
) -> History:
    """Joint maximum likelihood of an invertible map and its base (eq. 7 of the paper).

    Adam ascends ``log p_base(encode(x)) + log_det_jacobian(x)`` in the map's parameters;
    every ``refit_base_every`` steps the base is refitted to the current codes (EM for a
    :class:`GMMBase`, nothing to learn for a :class:`GaussianBase`): a coordinate ascent
    on the same objective, since the Jacobian term does not depend on the base. (The base
    is refitted before the step's minibatch is drawn, hence a loop of its own.)

    Args:
        model: a :class:`TwoStageModel` whose autoencoder has ``log_det_jacobian`` and whose
            base has a ``log_prob`` differentiable in its input.
        data: training data on the model's device.
        n_steps, batch_size, lr, optimizer, generator, callback, progress: the package's fit keywords.

    Returns:
        The :class:`~companion.train.History` of the mean log-likelihood ``log_lik``.
    """
    if not isinstance(model, TwoStageModel) or not hasattr(model.autoencoder, "log_det_jacobian"):
        raise TypeError("model must be a TwoStageModel with an invertible autoencoder (log_det_jacobian)")
    _check_tensor(data, "data", min_dim=2)
    refit_base_every = check_positive_int(refit_base_every, "refit_base_every")
    net = model.autoencoder
    optimizer = torch.optim.Adam(net.parameters(), lr=lr) if optimizer is None else optimizer
    batches = minibatches(data, check_positive_int(batch_size, "batch_size"), generator=generator)

    def step(i: int):
        if i % refit_base_every == 0:
            model.fit_base(data)
        batch = next(batches)
        log_lik = (model.base.log_prob(net.encode(batch)) + net.log_det_jacobian(batch)).mean()
        optimizer.zero_grad(set_to_none=True)
        (-log_lik).backward()
        optimizer.step()
        return {"log_lik": log_lik.detach(), **run_callback(callback, i)}

    history = train_loop(
        step,
        int(n_steps),
        desc="exact MLE",
        log_every=10,
        disable_progress=progress_disabled(progress),
        state={"net": net, "optimizer": optimizer, "batches": batches},
    )
    model.fit_base(data)
    return history


# ----------------------------------------------------------------------------------------
# Base distributions
# ----------------------------------------------------------------------------------------


class GaussianBase:
    """The usual fixed base: an isotropic standard normal ``N(0, I_K)``; ``fit`` learns nothing.

    It only records the dimension (and device) of the codes, so that it can stand in for a
    learned base in :class:`TwoStageModel`.
    """

    is_sequential = False
    log_prob_is_bound = False

    def __init__(self) -> None:
        self.dim: Optional[int] = None
        self.device = torch.device("cpu")

    def fit(self, codes: torch.Tensor) -> "GaussianBase":
        """Record the dimension of ``codes`` ``(N, K)``."""
        _check_tensor(codes, "codes", dim=2)
        self.dim, self.device = codes.shape[1], codes.device
        return self

    def _require_fit(self) -> int:
        if self.dim is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(codes) first")
        return self.dim

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """``log N(h; 0, I)`` per row of ``h`` ``(batch, K)``, in nats."""
        dim = self._require_fit()
        _check_tensor(h, "h", dim=2)
        if h.shape[1] != dim:
            raise ValueError(f"h must have shape (batch, {dim}); got {tuple(h.shape)}")
        return -0.5 * (h.pow(2).sum(1) + dim * math.log(2 * math.pi))

    def sample(self, n: int) -> torch.Tensor:
        """``n`` draws ``(n, K)``."""
        dim = self._require_fit()
        return torch.randn(check_positive_int(n, "n"), dim, device=self.device)


class GMMBase(GaussianBase):
    """A Gaussian mixture base fitted by EM (scikit-learn's ``GaussianMixture``).

    After ``fit`` the mixture is held as a ``torch.distributions`` object, so ``log_prob``
    is differentiable in ``h`` (which lets a map be trained through it, as in the 2-D
    example) and ``sample`` follows torch's seed.

    Args:
        n_components: the number of components.
        covariance_type: ``"full"``, ``"diag"``, ``"tied"`` or ``"spherical"``.
        reg_covar: added to the covariances' diagonals (keeps them invertible).
        max_iter: EM iterations.
        n_init: EM restarts (the best is kept).
        random_state: seed of EM's initialisation.
    """

    def __init__(
        self,
        n_components: int,
        covariance_type: str = "full",
        reg_covar: float = 1e-6,
        max_iter: int = 200,
        n_init: int = 1,
        random_state: Optional[int] = 0,
    ) -> None:
        super().__init__()
        self.n_components = check_positive_int(n_components, "n_components")
        if covariance_type not in ("full", "diag", "tied", "spherical"):
            raise ValueError(f"covariance_type must be 'full', 'diag', 'tied' or 'spherical'; got {covariance_type!r}")
        if not (isinstance(reg_covar, (int, float)) and reg_covar >= 0):
            raise ValueError(f"reg_covar must be a non-negative number; got {reg_covar!r}")
        self.covariance_type = covariance_type
        self.reg_covar = float(reg_covar)
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.n_init = check_positive_int(n_init, "n_init")
        self.random_state = random_state
        self.mixture = None  # the fitted sklearn model
        self.weights: Optional[torch.Tensor] = None
        self.means: Optional[torch.Tensor] = None
        self.covariances: Optional[torch.Tensor] = None  # (C, K, K) whatever the type

    def fit(self, codes: torch.Tensor, warm_start: bool = False) -> "GMMBase":
        """Fit the mixture to ``codes`` ``(N, K)`` by EM (``warm_start`` continues the last fit)."""
        from sklearn.mixture import GaussianMixture

        _check_tensor(codes, "codes", dim=2)
        if codes.shape[0] < self.n_components:
            raise ValueError(
                f"codes has {codes.shape[0]} rows; a {self.n_components}-component mixture needs at least as many"
            )
        data = codes.detach().cpu().double().numpy()
        if not (warm_start and self.mixture is not None):
            self.mixture = GaussianMixture(
                self.n_components, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                max_iter=self.max_iter, n_init=self.n_init, random_state=self.random_state,
                warm_start=warm_start,
            )
        self.mixture.fit(data)
        k = data.shape[1]
        cov = np.asarray(self.mixture.covariances_)
        if self.covariance_type == "diag":
            cov = np.stack([np.diag(c) for c in cov])
        elif self.covariance_type == "spherical":
            cov = np.stack([c * np.eye(k) for c in cov])
        elif self.covariance_type == "tied":
            cov = np.repeat(cov[None], self.n_components, axis=0)
        self.dim, self.device = k, codes.device
        self.weights = torch.as_tensor(self.mixture.weights_, dtype=codes.dtype, device=codes.device)
        self.means = torch.as_tensor(self.mixture.means_, dtype=codes.dtype, device=codes.device)
        self.covariances = torch.as_tensor(cov, dtype=codes.dtype, device=codes.device)
        self._scale_tril = torch.as_tensor(np.linalg.cholesky(cov), dtype=codes.dtype, device=codes.device)
        return self

    def distribution(self) -> torch.distributions.MixtureSameFamily:
        """The fitted mixture as a ``torch.distributions`` object."""
        self._require_fit()
        D = torch.distributions
        components = D.MultivariateNormal(self.means, scale_tril=self._scale_tril)
        return D.MixtureSameFamily(D.Categorical(probs=self.weights), components)

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """Mixture log-density per row of ``h`` ``(batch, K)`` (differentiable in ``h``)."""
        dim = self._require_fit()
        _check_tensor(h, "h", dim=2)
        if h.shape[1] != dim:
            raise ValueError(f"h must have shape (batch, {dim}); got {tuple(h.shape)}")
        dist = self.distribution()
        return dist.log_prob(h.to(self.means.dtype)).to(h.dtype)

    def sample(self, n: int, component: Optional[int] = None) -> torch.Tensor:
        """``n`` draws ``(n, K)``, from the whole mixture or from one ``component``."""
        self._require_fit()
        n = check_positive_int(n, "n")
        if component is None:
            return self.distribution().sample((n,))
        valid = isinstance(component, (int, np.integer)) and not isinstance(component, bool)
        if not (valid and 0 <= component < self.n_components):
            raise ValueError(f"component must be an int in [0, {self.n_components}); got {component!r}")
        gauss = torch.distributions.MultivariateNormal(
            self.means[component], scale_tril=self._scale_tril[component]
        )
        return gauss.sample((n,))


class HMMBase:
    """A hidden Markov model with Gaussian emissions as the base of a *sequence* of codes.

    Wraps hmmlearn's ``GaussianHMM`` (fitted by Baum-Welch). Codes come as ``(S, T, K)``
    (``S`` sequences of ``T`` codes) or as a list of ``(T_i, K)`` tensors.

    Args:
        n_states: the number of hidden states.
        covariance_type: ``"diag"``, ``"full"``, ``"spherical"`` or ``"tied"``.
        n_iter: Baum-Welch iterations.
        random_state: seed of the initialisation.
        min_covar: floor on the emission variances.
    """

    is_sequential = True
    log_prob_is_bound = False

    def __init__(
        self,
        n_states: int,
        covariance_type: str = "diag",
        n_iter: int = 50,
        random_state: Optional[int] = 0,
        min_covar: float = 1e-3,
    ) -> None:
        self.n_states = check_positive_int(n_states, "n_states")
        if covariance_type not in ("full", "diag", "tied", "spherical"):
            raise ValueError(f"covariance_type must be 'full', 'diag', 'tied' or 'spherical'; got {covariance_type!r}")
        self.covariance_type = covariance_type
        self.n_iter = check_positive_int(n_iter, "n_iter")
        self.random_state = random_state
        self.min_covar = float(min_covar)
        self.hmm = None
        self.dim: Optional[int] = None
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    @staticmethod
    def _as_sequences(
        codes: Union[torch.Tensor, Sequence[torch.Tensor]], name: str = "codes"
    ) -> List[torch.Tensor]:
        if torch.is_tensor(codes):
            _check_tensor(codes, name, dim=3)
            return list(codes)
        if not isinstance(codes, (list, tuple)) or not codes:
            raise TypeError(f"{name} must be a (S, T, K) tensor or a non-empty list of (T, K) tensors")
        for i, seq in enumerate(codes):
            _check_tensor(seq, f"{name}[{i}]", dim=2)
        if len({seq.shape[1] for seq in codes}) != 1:
            raise ValueError(f"every sequence in {name} must have the same code size K")
        return list(codes)

    def fit(self, codes: Union[torch.Tensor, Sequence[torch.Tensor]]) -> "HMMBase":
        """Fit the HMM to code sequences by Baum-Welch."""
        from hmmlearn.hmm import GaussianHMM

        seqs = self._as_sequences(codes)
        if sum(len(s) for s in seqs) < self.n_states:
            raise ValueError(f"the codes hold fewer frames than the {self.n_states} states")
        data = np.concatenate([s.detach().cpu().double().numpy() for s in seqs])
        lengths = [len(s) for s in seqs]
        self.hmm = GaussianHMM(
            n_components=self.n_states, covariance_type=self.covariance_type, n_iter=self.n_iter,
            random_state=self.random_state, min_covar=self.min_covar,
        )
        # Near convergence Baum-Welch's log-likelihood can drop by rounding error, which
        # hmmlearn reports as "Model is not converging"; keep that noise out of the book.
        logger = logging.getLogger("hmmlearn.base")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            self.hmm.fit(data, lengths)
        finally:
            logger.setLevel(level)
        self.dim, self.device, self.dtype = data.shape[1], seqs[0].device, seqs[0].dtype
        return self

    def _require_fit(self) -> int:
        if self.hmm is None:
            raise RuntimeError("HMMBase is not fitted yet: call fit(codes) first")
        return self.dim

    @property
    def transition_matrix(self) -> np.ndarray:
        """The fitted state-transition matrix ``A[i, j] = p(state_t+1 = j | state_t = i)``."""
        self._require_fit()
        return np.asarray(self.hmm.transmat_)

    def log_prob(self, codes: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """Log-likelihood of each code sequence (forward algorithm), a tensor ``(S,)``."""
        dim = self._require_fit()
        seqs = self._as_sequences(codes)
        if seqs[0].shape[1] != dim:
            raise ValueError(f"codes must have K={dim} columns; got {seqs[0].shape[1]}")
        scores = [self.hmm.score(s.detach().cpu().double().numpy()) for s in seqs]
        return torch.tensor(scores, dtype=seqs[0].dtype, device=seqs[0].device)

    def sample(self, n: int, length: int = 20, return_states: bool = False):
        """``n`` sequences of ``length`` codes, ``(n, length, K)`` (and their states ``(n, length)``)."""
        self._require_fit()
        n, length = check_positive_int(n, "n"), check_positive_int(length, "length")
        xs, zs = [], []
        for _ in range(n):
            seed = int(torch.randint(0, 2**31 - 1, ()).item())  # follows torch's seed
            x, z = self.hmm.sample(length, random_state=seed)
            xs.append(x)
            zs.append(z)
        codes = torch.as_tensor(np.stack(xs), dtype=self.dtype, device=self.device)
        if return_states:
            return codes, torch.as_tensor(np.stack(zs))
        return codes


# ----------------------------------------------------------------------------------------
# The two-stage model
# ----------------------------------------------------------------------------------------


class TwoStageModel(nn.Module):
    """An implicit generative model ``h ~ base``, ``x = autoencoder.decode(h)`` fitted in two stages.

    Stage 1 fits the autoencoder by reconstruction; stage 2 fits the base to the codes of
    the training data. With a sequential base (:class:`HMMBase`) the data are sequences
    ``(S, T, *chunk_shape)``: each chunk is encoded on its own and the base models the
    sequence of codes.

    Args:
        autoencoder: a module with ``encode(x) -> (N, K)`` and ``decode(h)``; with
            ``log_det_jacobian(x)`` (as :class:`InvertiblePerceptron`) ``log_prob`` is exact.
        base: :class:`GaussianBase`, :class:`GMMBase` or :class:`HMMBase` (or anything with
            ``fit``, ``log_prob`` and ``sample``).
    """

    #: the density on the decoder's surface (exact up to the log-determinant's approximation)
    log_prob_is_bound = False

    def __init__(self, autoencoder: nn.Module, base) -> None:
        super().__init__()
        if not (hasattr(autoencoder, "encode") and hasattr(autoencoder, "decode")):
            raise TypeError("autoencoder must have encode and decode methods")
        if not all(hasattr(base, m) for m in ("fit", "log_prob", "sample")):
            raise TypeError("base must have fit, log_prob and sample methods")
        self.autoencoder = autoencoder
        self.base = base

    @property
    def sequential(self) -> bool:
        return bool(getattr(self.base, "is_sequential", False))

    def _check_data(self, x: torch.Tensor) -> torch.Tensor:
        _check_tensor(x, "x", min_dim=3 if self.sequential else 2)
        return x

    @torch.no_grad()
    def encode_data(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Codes of ``x``: ``(N, K)``, or ``(S, T, K)`` for sequences."""
        self._check_data(x)
        self.autoencoder.eval()
        flat = x.reshape(-1, *x.shape[2:]) if self.sequential else x
        codes = torch.cat([self.autoencoder.encode(b) for b in torch.split(flat, batch_size)])
        return codes.reshape(x.shape[0], x.shape[1], -1) if self.sequential else codes

    def fit(
        self,
        data: torch.Tensor,
        *,
        n_steps: int = 2000,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: Optional[torch.optim.Optimizer] = None,
        generator: Optional[torch.Generator] = None,
        callback: Optional[Callback] = None,
        progress: Optional[bool] = None,
    ) -> History:
        """Both stages: the autoencoder on ``data`` (chunks, for sequences), then the base on the codes."""
        self._check_data(data)
        flat = data.reshape(-1, *data.shape[2:]) if self.sequential else data
        history = fit_autoencoder(self.autoencoder, flat, n_steps=n_steps, batch_size=batch_size, lr=lr,
                                  optimizer=optimizer, generator=generator, callback=callback, progress=progress)
        self.fit_base(data)
        return history

    def fit_base(self, x: torch.Tensor):
        """Stage 2 alone: fit the base to the codes of ``x``; returns the base."""
        return self.base.fit(self.encode_data(x))

    @torch.no_grad()
    def sample(self, n: int, length: Optional[int] = None) -> torch.Tensor:
        """``n`` draws ``decode(h)``, ``h ~ base`` (``(n, length, *chunk_shape)`` for sequences)."""
        if self.sequential:
            codes = self.base.sample(n, length=20 if length is None else length)
            out = self.autoencoder.decode(codes.reshape(-1, codes.shape[-1]))
            return out.reshape(codes.shape[0], codes.shape[1], *out.shape[1:])
        if length is not None:
            raise ValueError("length is only for sequential bases")
        return self.autoencoder.decode(self.base.sample(n))

    def log_prob_base(self, x: torch.Tensor) -> torch.Tensor:
        """``log p_base(encode(x))`` per example (per sequence for a sequential base)."""
        return self.base.log_prob(self.encode_data(x))

    def log_prob(self, x: torch.Tensor, method: str = "exact") -> torch.Tensor:
        """``log p_base(encode(x)) + log_det_jacobian(x)``: the implicit model's log-density.

        Needs an autoencoder with ``log_det_jacobian`` (:class:`InvertiblePerceptron`) and a
        non-sequential base. The density lives on the decoder's K-dimensional surface: it is
        a density with respect to the K-dimensional volume on that surface, exact at points
        of the surface. A point ``x`` off the surface (a test image, say) is scored at its
        projection ``decode(encode(x))``, so the value is not a density of ``x`` in ``R^D``.

        ``method="exact"`` (the default) uses the volume ``sqrt(det(J^T J))`` of the decoder's
        Jacobian; ``method="paper"`` multiplies the layers' volume changes as the paper does,
        which agrees with it only when ``K = H = D``.
        """
        if not hasattr(self.autoencoder, "log_det_jacobian"):
            raise TypeError(
                f"log_prob needs an invertible decoder with log_det_jacobian; {type(self.autoencoder).__name__} "
                "has none (use log_prob_base for the base term alone)"
            )
        if self.sequential:
            raise TypeError("log_prob is defined for non-sequential bases only")
        with torch.no_grad():
            return self.log_prob_base(x) + self.autoencoder.log_det_jacobian(x, method=method)


def released_kde_score(samples: torch.Tensor, x: torch.Tensor, sigma: float = 0.2) -> float:
    """A KDE score that sums the kernels instead of averaging them: a Parzen estimate without ``-log N``.

    A convention of some evaluation scripts, kept to show how much the convention moves the
    numbers; it is not a reconstruction of the IML paper's evaluation, whose text averages
    the kernels.

    It equals ``parzen_log_likelihood(samples, x, sigma) + log(len(samples))``; with 1,000
    samples it is ``log 1000 ~= 6.9`` nats above the standard estimate.
    """
    from .metrics import parzen_log_likelihood

    _check_tensor(samples, "samples", min_dim=2)
    return float(parzen_log_likelihood(samples, x, sigma)) + math.log(samples.shape[0])
