"""A VAE whose posterior is a normalising flow on top of the encoder's Gaussian (ELBO surgery, Fig. 1).

The chapter asks whether a richer posterior family closes the gap between the aggregate
posterior q(z) and the prior: :class:`FlowPosteriorVAE` is the shared
:class:`companion.vae.VAE` with a Real-NVP shared by all examples applied to its Gaussian
posterior. The terms of eq. 5 for it are :func:`companion.surgery.average_kl_flow`,
:func:`companion.surgery.marginal_kl_mc_flow` and (unchanged by the flow)
:func:`companion.surgery.mutual_information`.

Chapter: ``book/elbo_surgery.md``; its experiments: ``companion/experiments/elbo_surgery_marginal_kl.py``.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from .surgery import LOG_2PI, standard_normal_log_prob

__all__ = ["FlowPosteriorVAE"]


class FlowPosteriorVAE(nn.Module):
    """A VAE whose posterior is a Real-NVP shared by all examples applied to the encoder's Gaussian.

    z = g(u), u ~ N(mu(x), diag(exp(logvar(x)))), with ``vae`` supplying the encoder, the
    decoder and the likelihood, and ``flow`` (a :class:`companion.flows.RealNVP` on
    ``(latent_dim,)``; its ``forward`` direction is g) the bijection. By the change of
    variables log q(z|x) = log N(u; mu, s^2) - log|det dg/du|, so the ELBO

        E_q[log p(x|z)] + E_q[log p(z) - log q(z|x)]

    has a single-sample reparameterised estimate. Without ActNorm and with its last layers
    at zero, a fresh RealNVP is the identity: training starts from a Gaussian-posterior VAE.
    """

    log_prob_is_bound = True

    def __init__(self, vae: nn.Module, flow: nn.Module) -> None:
        super().__init__()
        if not all(hasattr(vae, m) for m in ("encode", "decode", "log_likelihood", "sample")):
            raise TypeError("vae must be a companion.vae.VAE (encode, decode, log_likelihood, sample)")
        if not callable(flow):
            raise TypeError("flow must be a module mapping u to (z, log|det dz/du|)")
        self.vae, self.flow = vae, flow

    def elbo(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-example ``(elbo, reconstruction, kl)`` from one posterior draw each (the KL by Monte Carlo)."""
        mu, logvar = self.vae.encode(x)
        eps = torch.randn_like(mu)
        u = mu + torch.exp(0.5 * logvar) * eps
        z, logdet = self.flow(u)
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1) - logdet
        kl = log_q - standard_normal_log_prob(z)
        reconstruction = self.vae.log_likelihood(x, self.vae.decode(z))
        return reconstruction - kl, reconstruction, kl

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The single-sample ELBO per example (a stochastic lower bound on log p(x)).

        Training by :func:`companion.train.fit_likelihood` maximises it, as for any model."""
        return self.elbo(x)[0]

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` samples: prior latents decoded by the VAE (the flow belongs to the posterior only)."""
        return self.vae.sample(n)
