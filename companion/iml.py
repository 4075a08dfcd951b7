"""Two-stage implicit maximum likelihood: learn the base distribution of a generator.

The model of :cite:`subakan2018learning` is an implicit generative model ``h ~ p_base(h)``,
``x = decode(h)``. Instead of fixing ``p_base`` to an isotropic Gaussian (as GANs and VAEs
do), the two-stage algorithm

1. fits an autoencoder by reconstruction, so that ``decode(encode(x)) ~= x``;
2. fits a flexible base distribution (a Gaussian mixture, or an HMM for sequences) to the
   codes ``encode(x)`` by maximum likelihood.

This module holds the algorithm: :class:`TwoStageModel`, which ties an autoencoder and a
base together, its fits (:func:`fit_autoencoder` for stage 1, :func:`fit_exact_mle` for the
joint maximum likelihood of an invertible map), :class:`Autoencoder`, an ordinary MLP
autoencoder for stage 1 when no density of ``x`` is needed, and :func:`released_kde_score`.
Its parts have a module each and are importable from here too:

* :mod:`companion.iml_invertible`: the invertible non-linearities, :class:`InvertiblePerceptron`
  (a decoder with an exact inverse and a log-det correction) and :class:`InvertibleLinear`;
* :mod:`companion.iml_bases`: the bases :class:`GaussianBase`, :class:`GMMBase` and :class:`HMMBase`.

Chapter: ``book/implicit_mle.md``; its experiments: ``companion/experiments/implicit_mle*.py``.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .checks import check_positive, check_positive_int, check_tensor
from .iml_bases import GaussianBase, GMMBase, HMMBase
from .iml_invertible import (
    DEFAULT_SLOPE,
    InvertibleLinear,
    InvertiblePerceptron,
    check_sigmoid_inv_constants,
    check_tanh_inv_constants,
    left_inverse,
    sigmoid_inv,
    sigmoid_inv_constants,
    sigmoid_inv_inverse,
    sigmoid_inv_log_derivative,
    tanh_inv,
    tanh_inv_constants,
    tanh_inv_inverse,
    tanh_inv_log_derivative,
)
from .metrics import parzen_log_likelihood
from .nets import MLP
from .train import Callback, History, adam, minibatches, minimize, progress_disabled, run_callback, train_loop

#: A base of a two-stage model (a GMMBase is a GaussianBase).
Base = Union[GaussianBase, HMMBase]

# the algorithm, then the parts it re-exports (the chapter and the other modules import them from here)
__all__ = [
    "Autoencoder", "TwoStageModel", "fit_autoencoder", "fit_exact_mle", "released_kde_score",
    "GMMBase", "GaussianBase", "HMMBase",
    "DEFAULT_SLOPE", "InvertibleLinear", "InvertiblePerceptron", "left_inverse",
    "check_sigmoid_inv_constants", "check_tanh_inv_constants",
    "sigmoid_inv", "sigmoid_inv_constants", "sigmoid_inv_inverse", "sigmoid_inv_log_derivative",
    "tanh_inv", "tanh_inv_constants", "tanh_inv_inverse", "tanh_inv_log_derivative",
]


# ----------------------------------------------------------------------------------------
# Stage 1: a plain MLP autoencoder and the fits
# ----------------------------------------------------------------------------------------


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
        check_tensor(x, "x", min_dim=2)
        if tuple(x.shape[1:]) != self.data_shape and tuple(x.shape[1:]) != (self.data_dim,):
            raise ValueError(f"x must have shape (batch, *{self.data_shape}); got {tuple(x.shape)}")
        return self.encoder(x.reshape(x.shape[0], self.data_dim))

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Data ``(batch, *data_shape)`` from codes ``(batch, latent_dim)``."""
        check_tensor(h, "h", shape=(None, None))
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
    autoencoder: nn.Module, data: torch.Tensor, *, n_steps: int = 2000, batch_size: int = 64, lr: float = 1e-3,
    optimizer: Optional[torch.optim.Optimizer] = None, generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None, progress: Optional[bool] = None, desc: str = "stage 1: autoencoder",
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
    check_tensor(data, "data", min_dim=2)
    check_positive(lr, "lr")

    def reconstruction(batch: torch.Tensor) -> Dict[str, torch.Tensor]:
        recon = autoencoder.decode(autoencoder.encode(batch))
        return {"reconstruction": (recon - batch).pow(2).flatten(1).sum(1).mean()}

    history = minimize(autoencoder, data, reconstruction, n_steps=int(n_steps),
                       batch_size=check_positive_int(batch_size, "batch_size"), lr=lr, optimizer=optimizer,
                       generator=generator, callback=callback, progress=progress, desc=desc)
    autoencoder.eval()
    return history


def fit_exact_mle(
    model: "TwoStageModel", data: torch.Tensor, *, n_steps: int = 1000, batch_size: int = 256, lr: float = 1e-2,
    optimizer: Optional[torch.optim.Optimizer] = None, generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None, progress: Optional[bool] = None, refit_base_every: int = 50,
) -> History:
    """Joint maximum likelihood of an invertible map and its base (eq. 7 of the paper).

    Adam ascends ``log p_base(encode(x)) + log_det_jacobian(x)`` in the map's parameters;
    every ``refit_base_every`` steps the base is refitted from scratch to the current codes
    (a fresh EM run for a :class:`GMMBase`, nothing to learn for a :class:`GaussianBase`).
    The refit targets the same objective, since the Jacobian term does not depend on the
    base, but EM from a new start may end at a worse local optimum, so the objective is not
    guaranteed to increase. (The base is refitted before the step's minibatch is drawn,
    hence a loop of its own.)

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
    check_tensor(data, "data", min_dim=2)
    refit_base_every = check_positive_int(refit_base_every, "refit_base_every")
    net = model.autoencoder
    optimizer = adam(net.parameters(), lr=lr) if optimizer is None else optimizer
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

    def __init__(self, autoencoder: nn.Module, base: Base) -> None:
        super().__init__()
        if not (hasattr(autoencoder, "encode") and hasattr(autoencoder, "decode")):
            raise TypeError("autoencoder must have encode and decode methods")
        if not all(hasattr(base, m) for m in ("fit", "log_prob", "sample")):
            raise TypeError("base must have fit, log_prob and sample methods")
        self.autoencoder = autoencoder
        self.base = base

    @property
    def sequential(self) -> bool:
        """Whether the base models sequences of codes (an HMM): the data are then ``(N, T, ...)`` sequences."""
        return bool(getattr(self.base, "is_sequential", False))

    def _check_data(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", min_dim=3 if self.sequential else 2)
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
        self, data: torch.Tensor, *, n_steps: int = 2000, batch_size: int = 64, lr: float = 1e-3,
        optimizer: Optional[torch.optim.Optimizer] = None, generator: Optional[torch.Generator] = None,
        callback: Optional[Callback] = None, progress: Optional[bool] = None,
    ) -> History:
        """Both stages: the autoencoder on ``data`` (chunks, for sequences), then the base on the codes."""
        self._check_data(data)
        flat = data.reshape(-1, *data.shape[2:]) if self.sequential else data
        history = fit_autoencoder(self.autoencoder, flat, n_steps=n_steps, batch_size=batch_size, lr=lr,
                                  optimizer=optimizer, generator=generator, callback=callback, progress=progress)
        self.fit_base(data)
        return history

    def fit_base(self, x: torch.Tensor) -> Base:
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
        of the surface. Off the surface (a test image, say), ``method="exact"`` scores ``x`` at
        ``decode(encode(x))`` (idempotent, but a layer-wise least-squares fit, not the nearest
        surface point); ``method="paper"`` takes its pre-activations from ``x`` itself, so it is
        not the surface density at that point either. Neither is a density of ``x`` in ``R^D``.

        ``method="exact"`` (the default) uses the volume ``sqrt(det(J^T J))`` of the decoder's
        Jacobian; ``method="paper"`` multiplies the layers' volume changes (our reading of the paper),
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
    check_tensor(samples, "samples", min_dim=2)
    return float(parzen_log_likelihood(samples, x, sigma)) + math.log(samples.shape[0])
