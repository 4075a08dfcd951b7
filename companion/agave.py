"""AGAVE: the auxiliary guided autoregressive variational autoencoder (Lucas & Verbeek 2018).

A VAE whose decoder is a conditional PixelCNN ignores its latent variable when trained on the
ELBO alone (the *information preference* property). AGAVE adds a second, factorised decoder
that reconstructs an auxiliary image ``y`` (``x`` itself or a coarser copy) from
``f(z)``, and conditions the PixelCNN on ``f(z)``. With one shared encoder the training
objective (thesis eq. 3.13) is, per image,

    L(x) = E_q[log p(x | f(z))]  +  E_q[log p(y | f(z))]  -  lambda * KL(q(z|x) || p(z))
           primary (PixelCNN)       auxiliary (VAE)          regularisation

``lambda = 1`` treats ``x`` and ``y`` as two views generated independently from one ``z``;
``lambda = 2`` is the sum of the two ELBOs (of ``y`` and of ``x``) with a shared encoder;
larger values are valid but looser bounds that push ``q(z|x)`` towards the prior.

Gradients: by default the primary term's gradient flows through ``f(z)`` into the VAE
decoder and the encoder, because eq. 3.13 is one objective of all parameters and the thesis
trains the full model jointly (after pre-training both halves). ``detach_condition=True``
stops it there: the VAE half is then trained by the auxiliary and KL terms only and the
PixelCNN sees ``f(z)`` as a fixed input. Both are tested; the chapter compares them.

The model follows the density protocol of the book: :meth:`AGAVE.log_prob` is the
importance-weighted bound on ``log p(x)`` of the PixelCNN path (``log_prob_is_bound = True``),
:meth:`AGAVE.sample` draws ``z ~ p(z)`` and then ``x`` pixel by pixel. Images go in and come
out in ``[0, 1]`` on the lattice ``k / (n_levels - 1)`` (the package's one image scale); the
likelihoods inside, :class:`AuxiliaryImage` included, work in levels.

Chapter: ``book/agave.md``; its experiments: ``companion/experiments/agave.py``.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from . import distributed
from .checks import check_positive_int
from .likelihoods import discretized_logistic_log_prob, sum_except_batch
from .nets import ConvDecoder, ConvEncoder
from .pixelcnn import PixelCNN, image_levels
from .train import Callback, History, minimize
from .vae import gaussian_kl, importance_weighted_bound

__all__ = ["AGAVE", "AuxiliaryImage", "fit_agave"]


def _non_negative_float(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


class AuxiliaryImage:
    """The auxiliary image ``y = a(x)``: ``x`` made grey, smaller and/or coarser.

    Applied in that order: ``grayscale`` averages the colour channels; ``downsample = r``
    averages ``r x r`` blocks (and rounds back to levels); ``levels = b`` re-quantises the
    ``n_levels`` levels to ``b`` bins, ``y = floor((x + 1/2) b / n_levels)``. The defaults
    give ``y = x``.

    The factorised decoder outputs a logistic mean per value of ``y`` *in the levels of x*,
    so that ``f(z)`` is an image in the same units as ``x`` whatever ``b`` is. The
    probability of a coarse bin is the logistic mass over an interval of the ``x`` scale (a
    centred variant of thesis eq. 3.17; see :meth:`log_prob`), computed with a change of units.

    Args:
        shape: the shape ``(C, H, W)`` of ``x``.
        n_levels: the levels of ``x``.
        levels: the levels ``b`` of ``y`` (``2 <= b <= n_levels``; default ``n_levels``).
        downsample: the factor ``r`` (must divide ``H`` and ``W``; default 1).
        grayscale: average the channels (default ``False``).
    """

    def __init__(
        self,
        shape: Sequence[int],
        n_levels: int,
        levels: Optional[int] = None,
        downsample: int = 1,
        grayscale: bool = False,
    ) -> None:
        if len(tuple(shape)) != 3:
            raise ValueError(f"shape must be (C, H, W); got {tuple(shape)!r}")
        c, h, w = (check_positive_int(s, "shape entries") for s in shape)
        if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 2:
            raise ValueError(f"n_levels must be an int >= 2; got {n_levels!r}")
        levels = n_levels if levels is None else levels
        if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= n_levels:
            raise ValueError(f"levels must be an int in [2, n_levels={n_levels}]; got {levels!r}")
        downsample = check_positive_int(downsample, "downsample")
        if h % downsample or w % downsample:
            raise ValueError(f"downsample={downsample} must divide the image size {h}x{w}")
        if not isinstance(grayscale, bool):
            raise TypeError(f"grayscale must be a bool; got {type(grayscale).__name__}")
        self.x_shape = (c, h, w)
        self.n_levels = n_levels
        self.levels = levels
        self.downsample = downsample
        self.grayscale = grayscale
        self.shape = (1 if grayscale else c, h // downsample, w // downsample)

    def __repr__(self) -> str:
        return (f"AuxiliaryImage(shape={self.shape}, levels={self.levels}, "
                f"downsample={self.downsample}, grayscale={self.grayscale})")

    @property
    def is_identity(self) -> bool:
        """Whether ``y = x``."""
        return self.shape == self.x_shape and self.levels == self.n_levels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``y`` for images ``x`` in ``[0, 1]`` ``(batch, C, H, W)``: float levels ``0 .. levels - 1``
        (the scale of :meth:`log_prob`)."""
        y = image_levels(x, self.x_shape, self.n_levels)
        if self.grayscale:
            y = torch.round(y.mean(dim=1, keepdim=True))
        if self.downsample > 1:
            y = torch.round(F.avg_pool2d(y, self.downsample))
        if self.levels < self.n_levels:
            y = torch.floor((y + 0.5) * self.levels / self.n_levels)
        return y

    def log_prob(self, y_levels: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """``log p(y | mean, scale)`` per example, with ``mean`` and ``log_scale`` in levels of ``x``.

        A coarse bin ``k`` covers ``[k c - 1/2, (k + 1) c - 1/2)`` on the scale of ``x`` with
        ``c = n_levels / levels``, and the edge bins take the tails, so the probabilities sum to
        one; in units of coarse bins, centred on the integers, the logistic has mean
        ``(mean + 1/2) / c - 1/2`` and scale ``s / c``. Thesis eq. 3.17 uses ``[k c, (k + 1) c)``
        with ``c = 256 / b`` and no tails. The interval of bin ``k`` holds exactly the levels of
        ``x`` that :meth:`__call__` maps to ``k``, but when ``c`` is not an integer its ends fall
        inside fine bins, so ``p(y)`` is not the fine distribution grouped into coarse bins
        (17 levels to 4: ``c = 4.25``, bin 0 holds levels 0-3, whose fine bins end at 3.5, while
        its interval ends at 3.75).
        """
        c = self.n_levels / self.levels
        coarse_mean = (mean + 0.5) / c - 0.5
        coarse_log_scale = log_scale - math.log(c)
        return sum_except_batch(discretized_logistic_log_prob(y_levels, coarse_mean, coarse_log_scale, self.levels))


class AGAVE(nn.Module):
    """Shared encoder, factorised VAE decoder ``f(z)`` for ``y``, PixelCNN for ``x`` given ``f(z)``.

    Args:
        shape: the image shape ``(C, H, W)``.
        n_levels: levels of ``x`` (256 for 8-bit images, 17 for the book's digits).
        latent_dim: the dimension of ``z``.
        lam: the weight ``lambda`` of the KL term in the training objective (eq. 3.13).
        aux_weight: the weight of the auxiliary term (1 for AGAVE; 0 gives the plain VAE
            with a PixelCNN decoder of eq. 3.6, the model that collapses).
        aux_levels, aux_downsample, aux_grayscale: the auxiliary image (:class:`AuxiliaryImage`).
        channels: convolution channels of the encoder (the VAE decoder uses them reversed).
        pixelcnn_channels, n_blocks, kind, n_mixtures: the PixelCNN (:class:`~companion.pixelcnn.PixelCNN`).
        detach_condition: stop the primary term's gradient at ``f(z)`` (see the module docstring).

    Attributes:
        auxiliary_image: the :class:`AuxiliaryImage` that makes ``y`` from ``x``.
        aux_log_scale: the learned per-channel log-scales of the VAE decoder, in levels of ``x``.
    """

    log_prob_is_bound = True

    def __init__(
        self,
        shape: Sequence[int],
        n_levels: int = 256,
        latent_dim: int = 16,
        lam: float = 2.0,
        aux_weight: float = 1.0,
        aux_levels: Optional[int] = None,
        aux_downsample: int = 1,
        aux_grayscale: bool = False,
        channels: Sequence[int] = (32, 64),
        pixelcnn_channels: int = 64,
        n_blocks: int = 5,
        kind: str = "gated",
        n_mixtures: int = 3,
        detach_condition: bool = False,
    ) -> None:
        super().__init__()
        self.auxiliary_image = AuxiliaryImage(shape, n_levels, aux_levels, aux_downsample, aux_grayscale)
        self.shape = self.auxiliary_image.x_shape
        self.n_levels = n_levels
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.lam = lam
        self.aux_weight = aux_weight
        if not isinstance(detach_condition, bool):
            raise TypeError(f"detach_condition must be a bool; got {type(detach_condition).__name__}")
        self.detach_condition = detach_condition
        aux_shape = self.auxiliary_image.shape
        self.encoder = ConvEncoder(self.shape, 2 * latent_dim, channels)
        self.decoder = ConvDecoder(latent_dim, aux_shape, tuple(channels)[::-1])
        self.aux_log_scale = nn.Parameter(torch.zeros(aux_shape[0]))
        self.pixelcnn = PixelCNN(
            self.shape, n_levels, pixelcnn_channels, n_blocks, kind, n_mixtures=n_mixtures, cond_channels=aux_shape[0]
        )

    # -- the weights of eq. 3.13 -----------------------------------------------------------
    @property
    def lam(self) -> float:
        """``lambda``, the weight of the KL term in the training objective (``>= 0``)."""
        return self._lam

    @lam.setter
    def lam(self, value: float) -> None:
        self._lam = _non_negative_float(value, "lam")

    @property
    def aux_weight(self) -> float:
        """The weight of the auxiliary reconstruction term (1: AGAVE; 0: no auxiliary loss)."""
        return self._aux_weight

    @aux_weight.setter
    def aux_weight(self, value: float) -> None:
        self._aux_weight = _non_negative_float(value, "aux_weight")

    # -- the networks ----------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of ``q(z|x)``, each ``(batch, latent_dim)``, for images ``x`` in ``[0, 1]``."""
        levels = image_levels(x, self.shape, self.n_levels)
        mu, logvar = self.encoder(levels / (self.n_levels - 1)).chunk(2, dim=1)  # the lattice exactly
        return mu, logvar

    def auxiliary_mean(self, z: torch.Tensor) -> torch.Tensor:
        """``f(z)``: the logistic means of ``y`` in levels of ``x``, ``(batch, *aux_shape)``."""
        if not torch.is_tensor(z) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be a tensor of shape (batch, {self.latent_dim}); got {getattr(z, 'shape', z)!r}")
        return (self.n_levels - 1) * (self.decoder(z) + 0.5)

    def condition(self, f: torch.Tensor) -> torch.Tensor:
        """The PixelCNN's input from ``f(z)``: rescaled to about ``[0, 1]`` and upsampled to ``(H, W)``."""
        cond = f / (self.n_levels - 1)
        if self.auxiliary_image.downsample > 1:
            cond = F.interpolate(cond, size=self.shape[1:], mode="nearest")
        return cond.detach() if self.detach_condition else cond

    # -- the objective ---------------------------------------------------------------------
    def terms(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The three terms of eq. 3.13 per example (nats, shape ``(batch,)``), one draw ``z ~ q(z|x)``.

        Returns:
            ``{"primary_nll": -log p(x | f(z)), "auxiliary_nll": -log p(y | f(z)), "kl": KL(q(z|x) || p(z))}``.
        """
        mu, logvar = self.encode(x)
        # torchrun, sharded fit: this share's rows of the global batch's noise
        eps = distributed.batch_noise(torch.randn, mu.shape, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        f = self.auxiliary_mean(z)
        log_scale = self.aux_log_scale.view(-1, 1, 1).expand_as(f)
        auxiliary = self.auxiliary_image.log_prob(self.auxiliary_image(x), f, log_scale)
        primary = self.pixelcnn.log_prob(x, self.condition(f))
        return {"primary_nll": -primary, "auxiliary_nll": -auxiliary, "kl": gaussian_kl(mu, logvar)}

    def loss(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The training loss, minus eq. 3.13, and its three terms (batch means, nats per image).

        ``loss = primary_nll + aux_weight * auxiliary_nll + lam * kl``. Also returns
        ``bound = primary_nll + kl``, minus the ELBO of ``x`` under the PixelCNN path
        (a bound whatever ``lam`` is), which is what bits/dim are computed from.
        """
        t = {name: value.mean() for name, value in self.terms(x).items()}
        t["loss"] = t["primary_nll"] + self.aux_weight * t["auxiliary_nll"] + self.lam * t["kl"]
        t["bound"] = t["primary_nll"] + t["kl"]
        return {"loss": t.pop("loss"), **t}

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO of ``x`` (eq. 3.6 with this decoder), one draw per example: ``(batch,)``."""
        t = self.terms(x)
        return -(t["primary_nll"] + t["kl"])

    def log_prob(self, x: torch.Tensor, n_samples: int = 100, chunk_size: int = 16) -> torch.Tensor:
        """The importance-weighted bound on ``log p(x)`` (Burda et al. 2016), per example, in nats.

        ``log (1/K) sum_k p(x | f(z_k)) p(z_k) / q(z_k | x)`` with ``z_k ~ q(z|x)`` and
        ``K = n_samples``; ``chunk_size`` draws are evaluated at a time. It is at least the
        ELBO in expectation and tightens as ``K`` grows. Wrap in ``torch.no_grad()`` to evaluate.
        ``x``: images in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``.
        """
        n_samples = check_positive_int(n_samples, "n_samples")
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        mu, logvar = self.encode(x)

        def log_px_given_z(z: torch.Tensor, k: int) -> torch.Tensor:
            x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *self.shape)
            return self.pixelcnn.log_prob(x_rep, self.condition(self.auxiliary_mean(z))).view(k, x.shape[0])

        return importance_weighted_bound(mu, logvar, log_px_given_z, n_samples, chunk_size)

    # -- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, z: Optional[torch.Tensor] = None,
               return_auxiliary: bool = False) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Draw ``z ~ p(z)`` (or use the given ``z``), then ``x ~ p(x | f(z))`` pixel by pixel.

        Args:
            n: the number of images (``z.shape[0]`` when ``z`` is given).
            z: optional latents ``(n, latent_dim)``; repeat rows to get several ``x`` per ``f(z)``.
            return_auxiliary: also return ``f(z)`` as an image (clipped to ``[0, 1]``).

        Returns:
            Images ``(n, C, H, W)`` in ``[0, 1]`` on the lattice of ``x``, and ``f(z)`` if asked.
        """
        n = check_positive_int(n, "n")
        if z is None:
            z = torch.randn(n, self.latent_dim, device=self.aux_log_scale.device)
        elif z.shape[0] != n:
            raise ValueError(f"z has {z.shape[0]} rows but n={n}")
        f = self.auxiliary_mean(z)
        x = self.pixelcnn.sample(n, self.condition(f))
        return (x, self._as_image(f)) if return_auxiliary else x

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``f(mu(x))``: the VAE decoder's reconstruction of ``y`` at the posterior mean, as an image in ``[0, 1]``."""
        mu, _ = self.encode(x)
        return self._as_image(self.auxiliary_mean(mu))

    def _as_image(self, f: torch.Tensor) -> torch.Tensor:
        """``f(z)`` (logistic means in levels of ``x``) on the image scale, clipped to ``[0, 1]``."""
        return f.clamp(0, self.n_levels - 1) / (self.n_levels - 1)


def fit_agave(
    model: AGAVE,
    data: torch.Tensor,
    *,
    n_steps: int = 1000,
    batch_size: int = 32,
    lr: float = 2e-3,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    log_every: int = 10,
    desc: str = "AGAVE",
) -> History:
    """Train ``model`` on images ``data`` in ``[0, 1]`` on :meth:`AGAVE.loss`, jointly
    (:func:`companion.train.minimize`, Adam by default).

    Records per step the ``loss``, ``primary_nll``, ``auxiliary_nll``, ``kl`` and ``bound``
    (batch means, nats per image). The current ``model.lam`` and ``model.aux_weight`` are
    used, so a caller can change them between calls (experiment 4 removes the auxiliary loss).
    """
    if not isinstance(model, AGAVE):
        raise TypeError(f"model must be an AGAVE; got {type(model).__name__}")
    device = model.aux_log_scale.device
    image_levels(data, model.shape, model.n_levels, "data")  # checked once here, converted per batch
    data = data.to(device)
    # torchrun: DDP averages the gradients; without the auxiliary loss its decoder gets none
    loss = distributed.wrap(model, method="loss", find_unused_parameters=not model.aux_weight)

    def loss_fn(batch: torch.Tensor) -> Dict[str, torch.Tensor]:
        with distributed.autocast():
            return loss(batch)

    return minimize(model, data, loss_fn, n_steps=n_steps, batch_size=batch_size, lr=lr, optimizer=optimizer,
                    generator=generator, callback=callback, progress=progress, log_every=log_every, desc=desc,
                    shard=True)  # torchrun: this process's share of each batch
