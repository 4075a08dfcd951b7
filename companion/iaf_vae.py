"""A VAE whose posterior is an inverse autoregressive flow (IAF-VAE; Kingma et al. 2016).

The encoder outputs, besides the Gaussian's ``(mu, logvar)``, a context vector ``h``; the
posterior draw is ``z = IAF(mu + sigma * eps; h)`` (:class:`companion.flows.IAFPosterior`)
with an exact ``log q(z | x)``. Prior, decoder and likelihoods are those of
:class:`companion.vae.VAE`, so it trains with :func:`companion.vae.fit_vae` and reports the
importance-weighted bound through the same ``log_prob``. The KL term is no longer in closed
form: :meth:`IAFVAE.elbo` reports its one-sample Monte Carlo estimate
``log q(z | x) - log p(z)``.

The AGAVE chapter uses it as the VAE baseline of the thesis' Fig. 3.2 and Table 3.1 (the
"VAE-IAF" of their rows), at the book's small scale.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch

from .checks import check_positive_int
from .flows import IAFPosterior
from .likelihoods import standard_normal_log_prob
from .nets import ConvDecoder, ConvEncoder
from .vae import VAE, ELBOTerms, _check_vae_input, _encoder_input

__all__ = ["IAFVAE"]


class IAFVAE(VAE):
    """A convolutional VAE with an IAF posterior of ``n_flows`` steps.

    Args:
        shape: the image shape ``(C, H, W)``.
        latent_dim: the dimension of ``z``.
        likelihood: as for :class:`~companion.vae.VAE` (``"logistic"`` for discrete images in ``[0, 1]``).
        channels: the encoder's convolution channels (the decoder uses them reversed).
        n_levels: levels of the discretized logistic.
        n_flows: the number of IAF steps (0 gives a plain Gaussian posterior).
        flow_hidden: the width of each step's MADE.
        context_dim: the size of the context ``h`` the encoder passes to the flow.
        beta: the KL weight of the training objective.
    """

    def __init__(
        self,
        shape: Sequence[int],
        latent_dim: int = 16,
        likelihood: str = "logistic",
        channels: Sequence[int] = (16, 32),
        n_levels: int = 256,
        n_flows: int = 2,
        flow_hidden: int = 64,
        context_dim: int = 16,
        beta: float = 1.0,
    ) -> None:
        if isinstance(context_dim, bool) or not isinstance(context_dim, int) or context_dim < 0:
            raise ValueError(f"context_dim must be an int >= 0; got {context_dim!r}")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int; got {latent_dim!r}")
        if len(tuple(shape)) != 3:
            raise ValueError(f"shape must be an image shape (C, H, W); got {tuple(shape)!r}")
        encoder = ConvEncoder(shape, 2 * latent_dim + context_dim, channels, "relu")
        decoder = ConvDecoder(latent_dim, shape, tuple(channels)[::-1], activation="relu")
        super().__init__(shape, latent_dim, likelihood=likelihood, architecture="conv", channels=channels,
                         n_levels=n_levels, beta=beta, encoder=encoder, decoder=decoder)
        self.context_dim = context_dim
        self.posterior = IAFPosterior(latent_dim, context_dim, n_flows, flow_hidden)

    def encode_all(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """``(mu, logvar, h)``: the Gaussian's parameters and the flow's context (``None`` if ``context_dim = 0``)."""
        _check_vae_input(x, self.shape, self.likelihood, self.n_levels)
        out = self.encoder(_encoder_input(x, self.likelihood, self.n_levels))
        d = self.latent_dim
        return out[:, :d], out[:, d:2 * d], (out[:, 2 * d:] if self.context_dim else None)

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The parameters ``(mu, logvar)`` of the Gaussian the flow starts from (not of ``q`` itself)."""
        mu, logvar, _ = self.encode_all(x)
        return mu, logvar

    def posterior_samples(self, x: torch.Tensor, n: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """``n`` draws ``z ~ q(z | x)`` per example, ``(n, batch, latent_dim)``, and their ``log q``, ``(n, batch)``."""
        check_positive_int(n, "n")
        mu, logvar, h = self.encode_all(x)
        eps = torch.randn((n,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device)
        return self.posterior(mu, logvar, eps, h)

    def elbo(self, x: torch.Tensor, n_samples: int = 1) -> ELBOTerms:
        """The ELBO terms per example; ``kl`` is the Monte Carlo estimate ``mean(log q(z|x) - log p(z))``."""
        check_positive_int(n_samples, "n_samples")
        z, log_q = self.posterior_samples(x, n_samples)
        params = self.decode(z.reshape(-1, self.latent_dim))
        x_rep = x.unsqueeze(0).expand(n_samples, *x.shape).reshape(-1, *self.shape)
        reconstruction = self.log_likelihood(x_rep, params).view(n_samples, -1).mean(dim=0)
        kl = (log_q - standard_normal_log_prob(z).sum(dim=-1)).mean(dim=0)
        return ELBOTerms(reconstruction - kl, reconstruction - self.beta * kl, reconstruction, kl)

    def log_prob(self, x: torch.Tensor, n_samples: int = 100, chunk_size: Optional[int] = None) -> torch.Tensor:
        """The importance-weighted bound on ``log p(x)`` with ``K = n_samples`` draws of the IAF posterior."""
        check_positive_int(n_samples, "n_samples")
        batch = x.shape[0]
        chunk_size = (
            max(1, 8192 // max(batch, 1)) if chunk_size is None else check_positive_int(chunk_size, "chunk_size")
        )
        mu, logvar, h = self.encode_all(x)
        log_weights = []
        for start in range(0, n_samples, chunk_size):
            k = min(chunk_size, n_samples - start)
            eps = torch.randn((k,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device)
            z, log_q = self.posterior(mu, logvar, eps, h)
            params = self.decode(z.reshape(-1, self.latent_dim))
            x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *self.shape)
            log_px_z = self.log_likelihood(x_rep, params).view(k, batch)
            log_weights.append(log_px_z + standard_normal_log_prob(z).sum(dim=-1) - log_q)
        return torch.logsumexp(torch.cat(log_weights, dim=0), dim=0) - math.log(n_samples)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, mean: bool = True) -> torch.Tensor:
        """Decode the flow applied to the Gaussian's mean (``eps = 0``)."""
        mu, logvar, h = self.encode_all(x)
        z, _ = self.posterior(mu, logvar, torch.zeros_like(mu)[None], h)
        params = self.decode(z[0])
        return self.likelihood_mean(params) if mean else self.likelihood_sample(params)
