"""Inverse autoregressive flow posteriors (companion.flows) and the IAF-VAE (companion.iaf_vae)."""

from __future__ import annotations

import math

import pytest
import torch

from companion.flows import IAFPosterior, IAFStep, MaskedLinear
from companion.iaf_vae import IAFVAE


def _perturb(module: torch.nn.Module) -> None:
    # away from the near-identity initialisation, so that the tests see a real transformation
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.5 * torch.randn_like(p))


def test_iaf_step_is_autoregressive_with_the_stated_log_det():
    torch.manual_seed(0)
    step = IAFStep(5, hidden=16, context_dim=3)
    _perturb(step)
    z, h = torch.randn(5), torch.randn(3)
    jac = torch.autograd.functional.jacobian(lambda v: step(v[None], h[None])[0][0], z)
    # output i depends on z_j only for j <= i: the Jacobian is lower triangular
    assert torch.allclose(jac.triu(diagonal=1), torch.zeros(5, 5))
    _, log_det = step(z[None], h[None])
    assert float(log_det.detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-5)


def test_iaf_posterior_log_q_is_the_change_of_variables():
    torch.manual_seed(1)
    post = IAFPosterior(4, context_dim=2, n_flows=3, hidden=12)
    _perturb(post)
    mu, logvar, h = torch.randn(1, 4), torch.randn(1, 4), torch.randn(1, 2)
    eps = torch.randn(1, 1, 4)
    with torch.no_grad():
        z, log_q = post(mu, logvar, eps, h)
    jac = torch.autograd.functional.jacobian(lambda e: post(mu, logvar, e[None, None], h)[0][0, 0], eps[0, 0])
    expected = float(torch.distributions.Normal(0, 1).log_prob(eps).sum() - torch.linalg.slogdet(jac)[1])
    assert float(log_q) == pytest.approx(expected, abs=1e-4)
    assert z.shape == (1, 1, 4)


def test_iaf_posterior_without_steps_is_the_gaussian():
    post = IAFPosterior(3, n_flows=0)
    mu, logvar, eps = torch.randn(2, 3), torch.randn(2, 3), torch.randn(5, 2, 3)
    z, log_q = post(mu, logvar, eps)
    gauss = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    assert torch.allclose(z, mu + torch.exp(0.5 * logvar) * eps)
    assert torch.allclose(log_q, gauss.log_prob(z).sum(-1), atol=1e-5)


def test_iaf_bad_input_is_refused():
    with pytest.raises(ValueError, match="dim"):
        IAFStep(0)
    with pytest.raises(ValueError, match="n_flows"):
        IAFPosterior(3, n_flows=-1)
    with pytest.raises(ValueError, match="mask"):
        MaskedLinear(3, 2, torch.ones(3, 2))
    step = IAFStep(3, context_dim=2)
    with pytest.raises(ValueError, match="h must"):
        step(torch.randn(4, 3))
    with pytest.raises(ValueError, match="z must"):
        step(torch.randn(4, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="eps"):
        IAFPosterior(3)(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="context_dim"):
        IAFVAE((1, 8, 8), context_dim=-1)


def test_iaf_vae_bound_and_training():
    from companion.data import load
    from companion.vae import fit_vae

    torch.manual_seed(0)
    x = load("digits", "train")[:256]  # in [0, 1], 17 levels
    model = IAFVAE((1, 8, 8), latent_dim=4, channels=(8, 16), n_levels=17, n_flows=2, flow_hidden=16, context_dim=4)
    history = fit_vae(model, x, n_steps=60, batch_size=32, lr=3e-3, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    with torch.no_grad():
        terms = model.elbo(x[:64], n_samples=8)
        iw = model.log_prob(x[:64], n_samples=8)
    assert terms.elbo.shape == iw.shape == (64,)
    assert torch.isfinite(iw).all()
    # the importance-weighted bound is at least the ELBO on average (up to Monte Carlo noise)
    assert float(iw.mean()) >= float(terms.elbo.mean()) - 0.5
    assert float(iw.mean()) / (64 * math.log(2)) > -math.log2(17) * 2  # not absurd
    assert model.sample(3).shape == (3, 1, 8, 8)
    assert model.reconstruct(x[:3]).shape == (3, 1, 8, 8)
