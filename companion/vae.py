"""The variational auto-encoder (Kingma & Welling 2014; Rezende et al. 2014) and its IWAE bound.

A :class:`VAE` has a standard normal prior ``p(z) = N(0, I)``, a Gaussian posterior
``q(z|x) = N(mu(x), diag(exp(logvar(x))))`` and a factorised likelihood ``p(x|z)``, one of

* ``"bernoulli"``: ``x`` in ``[0, 1]``; the decoder outputs logits. Grey levels in between
  are allowed (common practice), but then ``log p(x|z)`` is a cross-entropy, not the log of
  a normalised density, and the ELBO is not a bound on a likelihood of continuous data;
* ``"gaussian"``: ``x`` real; the decoder outputs means and a single learned scalar
  ``log_scale`` (an isotropic standard deviation) is shared by all pixels;
* ``"logistic"``: ``x`` holds discrete images in ``[0, 1]`` on the lattice ``k / (n_levels - 1)``
  (the package's one image scale, as :func:`companion.data.load` returns them), turned into
  levels ``k`` at the model's edge (:func:`companion.likelihoods.unit_to_levels`); the
  decoder outputs logistic locations in level units, with a single learned scalar
  ``log_scale`` (in levels); see :func:`companion.likelihoods.discretized_logistic_log_prob`.
  Means and draws come back on the lattice in ``[0, 1]``.

It implements the package's density protocol: :meth:`VAE.log_prob` is a Monte Carlo estimate of
the importance-weighted lower bound (``log_prob_is_bound = True``), :meth:`VAE.sample` draws
from the model.

The two objectives are kept apart: the **ELBO** ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` is a
lower bound on ``log p(x)`` (the number to report), the **training objective**
``E_q[log p(x|z)] - beta * KL`` is what :meth:`VAE.loss` maximises (``beta = 1`` makes them equal).

Chapter: ``book/preliminaries.md``; its experiments: ``companion/experiments/preliminaries.py``
(also used by the ELBO-surgery, AGAVE, ADE and comparison chapters).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from . import distributed
from .checks import check_int, check_positive_int, check_tensor
from .likelihoods import (
    bernoulli_log_prob,
    discretized_logistic_log_prob,
    gaussian_log_prob,
    sample_discretized_logistic,
    standard_normal_log_prob,
    sum_except_batch,
    unit_to_levels,
)
from .nets import MLP, ConvDecoder, ConvEncoder, check_shape
from .train import Callback, History, minimize

__all__ = ["ELBOTerms", "LIKELIHOODS", "VAE", "fit_vae", "gaussian_kl", "importance_weighted_bound"]

#: The likelihoods a :class:`VAE` knows.
LIKELIHOODS = ("bernoulli", "gaussian", "logistic")


class ELBOTerms(NamedTuple):
    """Per-example terms of the evidence lower bound, each a tensor of shape ``(batch,)``.

    Attributes:
        elbo: ``reconstruction - kl`` (always ``beta = 1``): a lower bound on ``log p(x)``.
        objective: ``reconstruction - beta * kl``: what training maximises.
        reconstruction: a Monte Carlo estimate of ``E_q(z|x)[log p(x|z)]``.
        kl: ``KL(q(z|x) || p(z))`` in closed form.
    """

    elbo: torch.Tensor
    objective: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per row: ``(batch, d) -> (batch,)``.

    The closed form ``1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)``.
    """
    if mu.shape != logvar.shape or mu.dim() != 2:
        raise ValueError(
            f"mu and logvar must both have shape (batch, latent_dim); got {tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def _default_networks(
    shape: Tuple[int, ...],
    latent_dim: int,
    architecture: str,
    hidden: Union[int, Sequence[int]],
    n_layers: Optional[int],
    channels: Sequence[int],
    activation: str,
) -> Tuple[nn.Module, nn.Module]:
    """The built-in encoder ``x -> (mu, logvar)`` and decoder ``z -> x``-shaped output."""
    if architecture == "mlp":
        n_features = math.prod(shape)
        encoder = nn.Sequential(nn.Flatten(), MLP(n_features, 2 * latent_dim, hidden, n_layers, activation))
        decoder = nn.Sequential(MLP(latent_dim, n_features, hidden, n_layers, activation), nn.Unflatten(1, shape))
        return encoder, decoder
    encoder = ConvEncoder(shape, 2 * latent_dim, channels, activation)
    decoder = ConvDecoder(latent_dim, shape, tuple(channels)[::-1], activation=activation)
    return encoder, decoder


def _check_vae_arguments(shape: Sequence[int], latent_dim: int, likelihood: str, architecture: str, n_levels: int,
                         encoder: Optional[nn.Module], decoder: Optional[nn.Module]) -> Tuple[int, ...]:
    """The checks of :class:`VAE`'s constructor; returns ``shape`` as a tuple."""
    shape = check_shape(shape)
    check_positive_int(latent_dim, "latent_dim")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}; got {likelihood!r}")
    if architecture not in ("mlp", "conv"):
        raise ValueError(f"architecture must be 'mlp' or 'conv'; got {architecture!r}")
    if architecture == "conv" and len(shape) != 3:
        raise ValueError(f"architecture='conv' needs an image shape (C, H, W); got shape={shape}")
    check_int(n_levels, "n_levels", 2)
    for module, name in ((encoder, "encoder"), (decoder, "decoder")):
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(f"{name} must be an nn.Module; got {type(module).__name__}")
    return shape


def _check_vae_input(x: torch.Tensor, shape: Tuple[int, ...], likelihood: str, n_levels: int) -> torch.Tensor:
    """``x`` if it is a finite float batch of ``shape`` on the scale of ``likelihood``."""
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"x must have shape (batch, {', '.join(map(str, shape))}); got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor; got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")
    if likelihood == "bernoulli" and x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError("x must lie in [0, 1] for a Bernoulli likelihood")
    if likelihood == "logistic":
        unit_to_levels(x, n_levels)  # on the lattice k / (n_levels - 1) of [0, 1]
    return x


def _encoder_input(x: torch.Tensor, likelihood: str, n_levels: int) -> torch.Tensor:
    """What the encoder sees: ``x``, or for the logistic likelihood its levels over ``n_levels - 1``
    (the lattice exactly, whatever the float rounding of ``x``)."""
    return unit_to_levels(x, n_levels) / (n_levels - 1) if likelihood == "logistic" else x


# -- the pixel likelihood p(x|z), given the decoder's output ``params`` -----------------------
def _pixel_log_likelihood(likelihood: str, x: torch.Tensor, params: torch.Tensor, log_scale: Optional[torch.Tensor],
                         n_levels: int) -> torch.Tensor:
    """``log p(x|z)`` per example under ``likelihood`` (see :meth:`VAE.log_likelihood`)."""
    if likelihood == "bernoulli":
        values = bernoulli_log_prob(x, params)
    elif likelihood == "gaussian":
        values = gaussian_log_prob(x, params, log_scale)
    else:
        values = discretized_logistic_log_prob(unit_to_levels(x, n_levels), params, log_scale, n_levels)
    return sum_except_batch(values)


def _pixel_likelihood_mean(likelihood: str, params: torch.Tensor, n_levels: int) -> torch.Tensor:
    """The "mean image" of ``p(x|z)`` (see :meth:`VAE.likelihood_mean`)."""
    if likelihood == "bernoulli":
        return torch.sigmoid(params)
    if likelihood == "gaussian":
        return params
    return params.clamp(0, n_levels - 1) / (n_levels - 1)


def _pixel_likelihood_sample(likelihood: str, params: torch.Tensor, log_scale: Optional[torch.Tensor],
                            n_levels: int) -> torch.Tensor:
    """A draw from ``p(x|z)`` (see :meth:`VAE.likelihood_sample`)."""
    if likelihood == "bernoulli":
        return torch.bernoulli(torch.sigmoid(params))
    if likelihood == "gaussian":
        return params + log_scale.exp() * torch.randn_like(params)
    return sample_discretized_logistic(params, log_scale.expand_as(params), n_levels) / (n_levels - 1)


class VAE(nn.Module):
    """A variational auto-encoder with MLP or convolutional encoder and decoder.

    Args:
        shape: the shape of one example, ``(d,)`` for vectors or ``(C, H, W)`` for images.
        latent_dim: the dimension of ``z``.
        likelihood: ``"bernoulli"``, ``"gaussian"`` or ``"logistic"`` (see the module docstring).
        architecture: ``"mlp"`` (any shape; examples are flattened) or ``"conv"`` (images only;
            :class:`~companion.nets.ConvEncoder` / :class:`~companion.nets.ConvDecoder`).
        hidden: MLP hidden width (``"mlp"``).
        n_layers: MLP hidden layers (``"mlp"``).
        channels: convolution channels of the encoder; the decoder uses them reversed (``"conv"``).
        activation: hidden activation.
        beta: the weight of the KL term in the training objective.
        n_levels: number of levels of the discretized logistic.
        init_log_scale: initial value of the learned ``log_scale`` (Gaussian: in data units;
            logistic: in levels; ignored for Bernoulli).
        encoder: a custom encoder ``(batch, *shape) -> (batch, 2 * latent_dim)`` (means, then
            log-variances) to use instead of the built-in one.
        decoder: a custom decoder ``(batch, latent_dim) -> (batch, *shape)`` (raw outputs, see
            :meth:`decode`) to use instead of the built-in one.

    Attributes:
        log_scale: the learned scalar log-scale of the likelihood (``None`` for Bernoulli).
    """

    log_prob_is_bound = True

    def __init__(
        self,
        shape: Sequence[int],
        latent_dim: int = 2,
        likelihood: str = "bernoulli",
        architecture: str = "mlp",
        hidden: Union[int, Sequence[int]] = 256,
        n_layers: Optional[int] = 2,
        channels: Sequence[int] = (32, 64),
        activation: str = "relu",
        beta: float = 1.0,
        n_levels: int = 256,
        init_log_scale: float = 0.0,
        encoder: Optional[nn.Module] = None,
        decoder: Optional[nn.Module] = None,
    ) -> None:
        super().__init__()
        self.shape = _check_vae_arguments(shape, latent_dim, likelihood, architecture, n_levels, encoder, decoder)
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.architecture = architecture
        self.n_levels = n_levels
        self.beta = beta  # validated by the property setter
        self.n_features = math.prod(self.shape)
        if encoder is None or decoder is None:
            default_encoder, default_decoder = _default_networks(self.shape, latent_dim, architecture, hidden,
                                                                 n_layers, channels, activation)
            encoder = default_encoder if encoder is None else encoder
            decoder = default_decoder if decoder is None else decoder
        self.encoder = encoder
        self.decoder = decoder
        if likelihood == "bernoulli":
            self.register_parameter("log_scale", None)
        else:
            self.log_scale = nn.Parameter(torch.tensor(float(init_log_scale)))

    # -- configuration ---------------------------------------------------------------------
    @property
    def beta(self) -> float:
        """The weight of the KL term in the training objective (``>= 0``)."""
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isinf(value):
            raise ValueError(f"beta must be a finite number >= 0; got {value!r}")
        self._beta = float(value)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # -- the two networks ------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The posterior parameters ``(mu, logvar)``, each of shape ``(batch, latent_dim)``."""
        _check_vae_input(x, self.shape, self.likelihood, self.n_levels)
        out = self.encoder(_encoder_input(x, self.likelihood, self.n_levels))
        if out.dim() != 2 or out.shape[1] != 2 * self.latent_dim:
            raise ValueError(f"the encoder must output (batch, {2 * self.latent_dim}); got {tuple(out.shape)}")
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The likelihood parameters for latents ``z`` of shape ``(batch, latent_dim)``.

        Returns a tensor of shape ``(batch, *shape)``: Bernoulli logits, Gaussian means, or
        logistic locations in levels. The scale (Gaussian/logistic) is :attr:`log_scale`.
        """
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}); got {tuple(z.shape)}")
        out = self.decoder(z)
        if tuple(out.shape) != (z.shape[0],) + self.shape:
            expected = ", ".join(map(str, self.shape))
            raise ValueError(f"the decoder must output (batch, {expected}); got {tuple(out.shape)}")
        if self.likelihood == "logistic":
            # An affine map (no squashing): out = 0 is the middle level, and locations beyond
            # the range are allowed (the edge bins absorb them).
            out = (self.n_levels - 1) * (out + 0.5)
        return out

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)`` per example, from decoder output ``params`` of the shape of ``x``."""
        return _pixel_log_likelihood(self.likelihood, x, params, self.log_scale, self.n_levels)

    def likelihood_mean(self, params: torch.Tensor) -> torch.Tensor:
        """The "mean image" of ``p(x|z)``: Bernoulli probabilities, Gaussian means, or the
        logistic locations clipped to ``[0, n_levels - 1]`` and divided by ``n_levels - 1`` (in ``[0, 1]``).

        For the discretized logistic this is the clamped *location*, not the mean of the
        discretized law: the edge bins, extended to infinity, pull that mean towards the
        middle of the range by an amount of the order of the scale.
        """
        return _pixel_likelihood_mean(self.likelihood, params, self.n_levels)

    def likelihood_sample(self, params: torch.Tensor) -> torch.Tensor:
        """A draw from ``p(x|z)`` given decoder output ``params``."""
        return _pixel_likelihood_sample(self.likelihood, params, self.log_scale, self.n_levels)

    # -- bounds ----------------------------------------------------------------------------
    def _posterior_samples(self, mu: torch.Tensor, logvar: torch.Tensor, n: int) -> torch.Tensor:
        """``n`` reparameterised draws per example: ``(n, batch, latent_dim)``."""
        # torchrun, sharded fit: this share's rows (dim 1) of the global batch's noise
        eps = distributed.batch_noise(torch.randn, (n, *mu.shape), batch_dim=1, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def elbo(self, x: torch.Tensor, n_samples: int = 1) -> ELBOTerms:
        """The ELBO terms per example, with ``n_samples`` posterior draws for the reconstruction.

        The KL term is the closed form :func:`gaussian_kl`; the reconstruction term
        ``E_q[log p(x|z)]`` is averaged over ``n_samples`` reparameterised draws.
        """
        check_positive_int(n_samples, "n_samples")
        mu, logvar = self.encode(x)
        z = self._posterior_samples(mu, logvar, n_samples)
        params = self.decode(z.reshape(-1, self.latent_dim))
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *self.shape)
        reconstruction = self.log_likelihood(x_rep, params).view(n_samples, -1).mean(dim=0)
        kl = gaussian_kl(mu, logvar)
        return ELBOTerms(reconstruction - kl, reconstruction - self.beta * kl, reconstruction, kl)

    def log_prob(self, x: torch.Tensor, n_samples: int = 100, chunk_size: Optional[int] = None) -> torch.Tensor:
        """One Monte Carlo draw of the importance-weighted bound (IWAE, Burda et al. 2016) on
        ``log p(x)``, per example.

        ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`` with ``z_k ~ q(z|x)``, ``K = n_samples``.
        Its expectation ``L_K`` is a lower bound for every ``K``; a single draw can exceed
        ``log p(x)``, by more than ``t`` nats with probability at most ``exp(-t)`` (Markov's
        inequality). The expectation equals the ELBO for ``K = 1`` and does not decrease as
        ``K`` grows. :func:`importance_weighted_bound` computes the estimate, with a
        ``logsumexp`` over the weights. The ``K`` draws are decoded ``chunk_size`` at a time
        (default: about 8192 decoded examples per chunk) to bound memory; the chunk size does
        not change the result for a given random state. Wrap the call in
        ``torch.no_grad()`` for evaluation (with gradients the graph of every chunk is kept).
        """
        check_positive_int(n_samples, "n_samples")
        mu, logvar = self.encode(x)
        batch = x.shape[0]
        if chunk_size is None:
            chunk_size = max(1, 8192 // max(batch, 1))
        check_positive_int(chunk_size, "chunk_size")
        # all the noise at once (small: K x batch x latent_dim), so the chunking changes the
        # memory use but not the numbers
        noise = torch.randn((n_samples,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device)

        def log_px_given_z(z: torch.Tensor, k: int) -> torch.Tensor:
            x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *self.shape)
            return self.log_likelihood(x_rep, self.decode(z)).view(k, batch)

        return importance_weighted_bound(mu, logvar, log_px_given_z, n_samples, chunk_size, noise=noise)

    def loss(self, x: torch.Tensor, n_samples: int = 1) -> torch.Tensor:
        """The training loss: minus the batch mean of ``reconstruction - beta * kl``."""
        return -self.elbo(x, n_samples).objective.mean()

    # -- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, mean: bool = False) -> torch.Tensor:
        """``n`` samples ``x ~ p(x|z), z ~ N(0, I)`` of shape ``(n, *shape)`` (no gradient).

        With ``mean=True`` returns the mean of ``p(x|z)`` instead of a draw (see
        :meth:`likelihood_mean`): smooth, "blurry" images rather than noisy ones.
        """
        check_positive_int(n, "n")
        z = torch.randn(n, self.latent_dim, device=self._device())
        params = self.decode(z)
        return self.likelihood_mean(params) if mean else self.likelihood_sample(params)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, mean: bool = True) -> torch.Tensor:
        """Decode the posterior mean of ``x`` (the mean image by default, a draw with ``mean=False``)."""
        mu, _ = self.encode(x)
        params = self.decode(mu)
        return self.likelihood_mean(params) if mean else self.likelihood_sample(params)


def importance_weighted_bound(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_px_given_z: Callable[[torch.Tensor, int], torch.Tensor],
    n_samples: int,
    chunk_size: int,
    noise: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """One Monte Carlo draw of the importance-weighted bound (IWAE, Burda et al. 2016) of a model
    with prior ``N(0, I)`` and Gaussian posterior ``N(mu, diag(exp(logvar)))``, per example, in
    nats: ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``, ``z_k ~ q(z|x)``, ``K = n_samples``,
    with the weights combined by a ``logsumexp``. Only its expectation is a lower bound on
    ``log p(x)``.

    The one implementation of the bound, shared by :class:`VAE` and
    :class:`companion.agave.AGAVE`, which differ only in ``log p(x|z)``.

    Args:
        mu, logvar: the posterior's parameters, ``(batch, latent_dim)``.
        log_px_given_z: ``log_px_given_z(z, k)`` with ``z`` of shape ``(k * batch, latent_dim)``
            (draw-major) returns ``log p(x|z)`` of shape ``(k, batch)``.
        n_samples, chunk_size: ``K``, and how many draws are decoded at a time (memory).
        noise: the standard normal draws ``(K, batch, latent_dim)``; given, the result does not
            depend on ``chunk_size``; ``None`` draws them chunk by chunk.

    Raises:
        TypeError, ValueError: if ``mu`` and ``logvar`` are not floating-point tensors of one shape
            ``(batch, latent_dim)``, ``n_samples`` or ``chunk_size`` is not a positive int, or ``noise``
            is not of shape ``(n_samples, batch, latent_dim)``.
    """
    check_tensor(mu, "mu", shape=(None, None), finite=False)
    check_tensor(logvar, "logvar", shape=tuple(mu.shape), finite=False)
    n_samples = check_positive_int(n_samples, "n_samples")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if noise is not None:
        check_tensor(noise, "noise", shape=(n_samples,) + tuple(mu.shape), finite=False)
    std = torch.exp(0.5 * logvar)
    log_weights = []
    for start in range(0, n_samples, chunk_size):
        k = min(chunk_size, n_samples - start)
        if noise is None:
            eps = torch.randn((k,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device)
        else:
            eps = noise[start : start + k]
        z = mu + std * eps
        log_pz = standard_normal_log_prob(z).sum(dim=-1)
        log_qz = (standard_normal_log_prob(eps) - 0.5 * logvar).sum(dim=-1)
        log_weights.append(log_px_given_z(z.reshape(-1, mu.shape[-1]), k) + log_pz - log_qz)
    return torch.logsumexp(torch.cat(log_weights, dim=0), dim=0) - math.log(n_samples)


def fit_vae(
    vae: VAE,
    data: torch.Tensor,
    *,
    n_steps: int = 2000,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: Optional[torch.optim.Optimizer] = None,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    n_samples: int = 1,
    log_every: int = 10,
    desc: str = "VAE",
) -> History:
    """Train ``vae`` on ``data`` for ``n_steps`` minibatch steps (:func:`companion.train.minimize`,
    Adam by default).

    Records per step the training ``loss`` (``-(reconstruction - beta kl)``), the ``elbo``
    (``beta = 1``, a bound on ``log p(x)``), the ``reconstruction`` and the ``kl`` (batch
    means, in nats per example).

    Args:
        vae: the model (trained in place; it is put in training mode).
        data: a tensor ``(N, *vae.shape)``; moved to the model's device.
        n_samples: posterior draws per example for the reconstruction term.
        callback: called as ``callback(step)`` after every step (for schedules, e.g. of
            ``vae.beta``, or an evaluation; a mapping it returns is recorded).
        n_steps, batch_size, lr, optimizer, generator, progress, log_every, desc: the
            package's fit keywords (see :func:`companion.train.minimize`).

    Returns:
        The :class:`~companion.train.History`.
    """
    if not isinstance(vae, VAE):
        raise TypeError(f"vae must be a VAE; got {type(vae).__name__}")
    _check_vae_input(data, vae.shape, vae.likelihood, vae.n_levels)
    elbo = distributed.wrap(vae, method="elbo")  # torchrun: DDP averages the gradients

    def negative_objective(batch: torch.Tensor) -> Dict[str, torch.Tensor]:
        with distributed.autocast():
            terms = elbo(batch, n_samples)
        return {"loss": -terms.objective.mean(), "elbo": terms.elbo.mean(),
                "reconstruction": terms.reconstruction.mean(), "kl": terms.kl.mean()}

    return minimize(vae, data.to(vae._device()), negative_objective, n_steps=n_steps, batch_size=batch_size, lr=lr,
                    optimizer=optimizer, generator=generator, callback=callback, progress=progress,
                    log_every=log_every, desc=desc, shard=True)  # torchrun: this process's share of each batch
